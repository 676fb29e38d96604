"""Where the model answers: numbered evidence -> {"evidence": [n, ...], "answer": "..."}.

The model first names the sentences it answers from (or none), then writes the answer.
The order matters: the choice of evidence is made before the model has a sentence of
its own to defend, and it is the choice that becomes the citations (rag.citations), so a
quote can never be made up.

The output is constrained to ``answer_schema`` where the backend can (a llama.cpp
grammar for local and gguf: models, ``response_format`` for OpenAI-compatible servers);
otherwise the prompt asks for the same JSON and ``parse`` reads plain text, tolerating
what small models do to JSON (prose around it, a missing closing quote).

The answer streams: ``AnswerStream`` follows the JSON as it is written and passes the
characters of the answer string on as they arrive, so a person sees words at once and
never sees the JSON.

The model's confidence in its choice against "none" is read from the token
log-probabilities where the backend reports them (``p_none``): at the first character of
the evidence list, the probability it gave to closing the list empty.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.evidence import Evidence
from rag.llms import LLM, Piece
from rag.prompts import render

LANGUAGE_NAMES = {"ar": "Arabic", "zh": "Chinese", "en": "English"}
MAX_EVIDENCE = 4  # sentences the model may name: a short answer rests on few
NONE = 0  # the evidence number that means "none of the sentences states the answer"

TokenSink = Callable[[str], None]


@dataclass(frozen=True)
class Part:
    """One part of an answer: the evidence numbers it rests on (in the model's order) and
    its text. A single-fact answer has one part; an answer across documents one per
    document that holds a part."""

    evidence: tuple[int, ...]
    answer: str


@dataclass(frozen=True)
class Reply:
    """What the model answered, part by part, and ``p_none``, its probability that no
    sentence answers (None when the backend reports no log-probabilities). ``structured``
    is False when the reply was not the JSON asked for and ``parse`` had to guess."""

    parts: tuple[Part, ...]
    p_none: float | None
    structured: bool
    raw: str
    first_token_ms: float | None = None
    p_choice: float | None = None  # its probability for the first number it did name

    @property
    def evidence(self) -> tuple[int, ...]:
        """Every evidence number named, in order of first naming."""
        return tuple(dict.fromkeys(n for part in self.parts for n in part.evidence))

    @property
    def answer(self) -> str:
        return "\n".join(part.answer for part in self.parts if part.answer)


def answer_schema(sentences: int, parts: int = 1) -> dict[str, Any]:
    """The JSON the model must write: evidence numbers first, from those shown, then the
    answer; with PARTS > 1, a list of such parts, one per document that holds a part.

    Number 0 is "none of them": an explicit choice the model can weigh like any other (it
    all but never closes the list empty), so its probability is the model's own
    confidence that the evidence does not answer (``choice_confidence``)."""
    part = {
        "type": "object",
        "properties": {
            "evidence": {
                "type": "array",
                "items": {"type": "integer", "enum": list(range(0, sentences + 1))},
                "maxItems": min(MAX_EVIDENCE, max(sentences, 1)),
            },
            "answer": {"type": "string"},
        },
        "required": ["evidence", "answer"],
        "additionalProperties": False,
    }
    if parts <= 1:
        return part
    return {"type": "object", "properties": {"parts": {"type": "array", "items": part, "minItems": 1,
                                                        "maxItems": parts}},
            "required": ["parts"], "additionalProperties": False}


def messages(question: str, language: str, evidence: Evidence, parts: int = 1) -> list[dict[str, str]]:
    """The chat: a system prompt that never changes (llama.cpp reuses its cached reading
    from one question to the next), then the evidence and the question."""
    blocks = []
    for k, group in enumerate(evidence.groups(), start=1):
        lines = "\n".join(f"[{s.number}] {_fence(s.text)}" for s in group)
        blocks.append(render("evidence_group", document=str(k), sentences=lines))
    template = "answer_user" if parts <= 1 else "answer_user_parts"
    return [
        {"role": "system", "content": render("answer_system")},
        {"role": "user", "content": render(template, evidence="\n\n".join(blocks), question=question,
                                           language=LANGUAGE_NAMES[language])},
    ]


def generate(llm: LLM, question: str, language: str, evidence: Evidence, *,
             on_token: TokenSink | None = None, max_tokens: int = 200, parts: int = 1) -> Reply:
    """Ask LLM for the structured answer (in up to PARTS parts), streaming the answer text
    to ON_TOKEN (parts on lines of their own)."""
    chat = messages(question, language, evidence, parts)
    schema = answer_schema(len(evidence.sentences), parts)
    started = time.perf_counter()
    stream = AnswerStream(parts=parts > 1)
    first: float | None = None
    pieces: list[Piece] = []
    for piece in _pieces(llm, chat, schema, max_tokens):
        pieces.append(piece)
        shown = stream.feed(piece.text)
        if shown:
            if first is None:
                first = round((time.perf_counter() - started) * 1000, 1)
            if on_token:
                on_token(shown)
        if stream.closed:
            break
    raw = "".join(p.text for p in pieces)
    if stream.closed and not raw.rstrip().endswith("}"):
        raw += "}"  # generation stopped at the answer's closing quote: only the brace was left
    found, structured = parse(raw)
    kept = []
    for numbers, answer in found:
        if numbers[:1] == [NONE]:
            continue  # "none of them" first: whatever followed is not an answer
        kept.append(Part(tuple(dict.fromkeys(n for n in numbers if evidence.numbered(n))), answer))
    none, choice = choice_confidence(pieces)
    return Reply(tuple(kept), none, structured, raw, first, choice)


def _pieces(llm: LLM, chat: list[dict[str, str]], schema: dict[str, Any], max_tokens: int) -> Iterator[Piece]:
    constrained = getattr(llm, "stream_json", None)
    if constrained is not None:
        yield from constrained(chat, schema, max_tokens=max_tokens)
    else:
        for text in llm.stream(chat, max_tokens=max_tokens, temperature=0.0):
            yield Piece(text)


_EVIDENCE = re.compile(r'"evidence"\s*:\s*\[([^\]]*)\]?')
_ANSWER = re.compile(r'"answer"\s*:\s*"((?:[^"\\]|\\.)*)"?', re.S)


def parse(text: str) -> tuple[list[tuple[list[int], str]], bool]:
    """The (evidence numbers, answer) of each part, and whether TEXT was the JSON asked
    for, from any reply.

    JSON first (one part, or ``{"parts": [...]}``); then the fields by pattern, pairing each
    evidence list with the answer after it (prose around the object, a reply cut off by the
    token limit); then, for a reply that is not JSON at all, the whole text as one answer
    with no evidence named (rag.citations then finds the sentences it rests on).
    """
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        try:
            obj = json.loads(text[start : end + 1])
            found = [_part(p) for p in (obj["parts"] if isinstance(obj.get("parts"), list) else [obj])]
            if all(p is not None for p in found):
                return [p for p in found if p is not None], True
        except (ValueError, AttributeError, TypeError):
            pass
    evidence, answers = list(_EVIDENCE.finditer(text)), list(_ANSWER.finditer(text))
    if evidence or answers:
        found = []
        for i, numbers in enumerate(evidence or [None]):
            answer = next((a for a in answers if numbers is None or a.start() > numbers.start()), None)
            if i + 1 < len(evidence) and answer is not None and answer.start() > evidence[i + 1].start():
                answer = None
            found.append(([int(n) for n in re.findall(r"\d+", numbers.group(1))] if numbers else [],
                          _unescape(answer.group(1)).strip() if answer else ""))
        return found, False
    return [([], text.strip())], False


def _part(obj: Any) -> tuple[list[int], str] | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("answer", ""), str):
        return None
    numbers = [int(n) for n in obj.get("evidence", []) if isinstance(n, int | str) and str(n).isdigit()]
    return numbers, str(obj.get("answer", "")).strip()


def _unescape(body: str) -> str:
    try:
        return str(json.loads(f'"{body}"'))
    except ValueError:
        return body.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


class AnswerStream:
    """Follows a JSON reply as it streams and returns the answer strings' new characters.

    Usage: ``s = AnswerStream(); shown = s.feed(piece)`` for each piece; ``s.closed`` once
    the (single) answer string has ended, so the rest of the reply can be dropped. With
    ``parts=True`` every answer string is passed on, each after a line break but the
    first, and the reply runs to its end. A reply that turns out not to be JSON (it starts
    with a letter) is passed on as it is.
    """

    _OPEN = re.compile(r'"answer"\s*:\s*"')

    def __init__(self, parts: bool = False) -> None:
        self._parts = parts
        self._text = ""
        self._at: int | None = None  # where the current answer string's body starts in _text
        self._done = 0  # characters of that body already handled
        self._answers = 0
        self.closed = False
        self._plain: bool | None = None

    def feed(self, piece: str) -> str:
        self._text += piece
        if self._plain is None and self._text.strip():
            self._plain = not self._text.lstrip().startswith("{")
        if self._plain:
            return piece
        out: list[str] = []
        while not self.closed:
            if self._at is None:
                found = self._OPEN.search(self._text, self._done)
                if not found:
                    break
                self._at, self._done = found.end(), found.end()
                if self._answers:
                    out.append("\n")
                self._answers += 1
            if not self._body(out):
                break  # the string goes on in a later piece
            self._at = None
            self.closed = not self._parts
        return "".join(out)

    def _body(self, out: list[str]) -> bool:
        """Pass on the answer string's characters that have arrived; True once it ended."""
        text, i = self._text, self._done
        while i < len(text):
            ch = text[i]
            if ch == '"':
                self._done = i + 1
                return True
            if ch == "\\":
                if i + 1 >= len(text):
                    break  # the escape's second half is still to come
                code = text[i + 1]
                if code == "u":
                    if i + 6 > len(text):
                        break
                    try:
                        out.append(chr(int(text[i + 2 : i + 6], 16)))
                    except ValueError:
                        pass
                    i += 6
                    continue
                out.append({"n": "\n", "t": "\t", "r": "", "b": "", "f": ""}.get(code, code))
                i += 2
                continue
            out.append(ch)
            i += 1
        self._done = i
        return False


def choice_confidence(pieces: list[Piece]) -> tuple[float | None, float | None]:
    """(p_none, p_choice) at the position right after ``"evidence": [``: the probability
    the model gave to "none" (0, or closing the list empty), and to the token it did write
    there, each against all the tokens it could have written there.

    Read from the piece at that position: its alternatives are the tokens the model could
    have written there. (None, None) when the backend reported no log-probabilities.
    """
    text = ""
    for piece in pieces:
        if re.search(r'"evidence"\s*:\s*\[\s*$', text):
            if not piece.alternatives:
                return None, None
            empty = some = 0.0
            for token, logprob in piece.alternatives.items():
                head = re.match(r"\s*(\]|\d+)", token)
                if head is None:
                    continue
                if head.group(1) in ("]", str(NONE)):
                    empty += float(np.exp(logprob))
                else:
                    some += float(np.exp(logprob))
            total = empty + some
            if total <= 0:
                return None, None
            chosen = float(np.exp(piece.alternatives.get(piece.text, -np.inf)))
            return empty / total, min(chosen / total, 1.0)
        text += piece.text
    return None, None


def _fence(text: str) -> str:
    """Keep a sentence on its line and from passing for a numbered item of its own."""
    return " ".join(text.split())
