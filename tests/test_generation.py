"""The answer step: the JSON reply, parsed and streamed; the model's confidence in it."""

from __future__ import annotations

import json

import pytest

from rag.evidence import Evidence, Sentence
from rag.generation import AnswerStream, answer_schema, choice_confidence, generate, messages, parse
from rag.llms import Piece
from rag.types import Chunk, Hit, Paragraph


def evidence_of(*texts: str) -> Evidence:
    sentences, hits = [], []
    for n, text in enumerate(texts, start=1):
        hit = Hit(Chunk(f"f{n}.txt::1::0", Paragraph(f"f{n}.txt", 1, 1, 1, text), 0, text), 0.5)
        hits.append(hit)
        sentences.append(Sentence(n, hit, 0, len(text), 0.5))
    return Evidence(tuple(sentences), tuple(hits))


@pytest.mark.parametrize(("reply", "parsed"), [
    ('{"evidence": [2, 1], "answer": "About 12,000."}', ([([2, 1], "About 12,000.")], True)),
    ('Sure! {"evidence": [3], "answer": "Lyon"} Hope this helps.', ([([3], "Lyon")], True)),
    ('{"evidence": [1], "answer": "cut off by the token lim', ([([1], "cut off by the token lim")], False)),
    ('{"evidence": [0], "answer": ""}', ([([0], "")], True)),
    ('{"evidence": [1], "answer": "a \\"quoted\\" word\\u00e9"}', ([([1], 'a "quoted" wordé')], True)),
    ("The answer is 40 companies [1].", ([([], "The answer is 40 companies [1].")], False)),
    ('{"parts": [{"evidence": [1], "answer": "A."}, {"evidence": [4, 5], "answer": "B."}]}',
     ([([1], "A."), ([4, 5], "B.")], True)),
    ('{"parts": [{"evidence": [1], "answer": "A."}, {"evidence": [4], "answer": "B is cut',
     ([([1], "A."), ([4], "B is cut")], False)),
])
def test_any_reply_parses(reply: str, parsed: tuple[list[tuple[list[int], str]], bool]) -> None:
    assert parse(reply) == parsed


def test_the_answer_streams_without_the_json_around_it() -> None:
    reply = '{"evidence": [1, 2], "answer": "Près de \\"12\\u00a0000\\" visiteurs.\\nFin"} trailing'
    for size in (1, 2, 3, 7, len(reply)):  # escapes split across pieces at every place
        stream = AnswerStream()
        shown = "".join(stream.feed(reply[i : i + size]) for i in range(0, len(reply), size))
        assert shown == 'Près de "12\u00a0000" visiteurs.\nFin'
        assert stream.closed


def test_a_reply_that_is_not_json_streams_as_it_is() -> None:
    stream = AnswerStream()
    assert stream.feed("Forty ") + stream.feed("companies.") == "Forty companies."


def test_confidence_is_read_where_the_evidence_list_opens() -> None:
    pieces = [Piece('{"'), Piece("evidence"), Piece('":'), Piece(" ["),
              Piece("2", {"2": -0.5, "1": -1.5, "]": -2.0, "hello": -3.0}), Piece("], "),
              Piece('"answer": "x"}')]
    p_none, p_choice = choice_confidence(pieces)
    total = sum(map(__import__("math").exp, (-0.5, -1.5, -2.0)))
    assert p_none == pytest.approx(__import__("math").exp(-2.0) / total)
    assert p_choice == pytest.approx(__import__("math").exp(-0.5) / total)
    assert choice_confidence([Piece('{"evidence": ['), Piece("1")]) == (None, None)  # no log-probabilities


def test_the_schema_allows_only_the_sentences_shown_and_none() -> None:
    schema = answer_schema(3)
    assert schema["properties"]["evidence"]["items"]["enum"] == [0, 1, 2, 3]  # 0: none of them
    assert list(schema["properties"]) == ["evidence", "answer"]  # evidence is written first
    parts = answer_schema(3, parts=4)["properties"]["parts"]
    assert parts["maxItems"] == 4 and parts["items"] == schema


def test_every_part_streams_on_a_line_of_its_own() -> None:
    reply = '{"parts": [{"evidence": [1], "answer": "Tunis 1956."}, {"evidence": [3], "answer": "Amman 1946."}]}'
    for size in (1, 4, len(reply)):
        stream = AnswerStream(parts=True)
        shown = "".join(stream.feed(reply[i : i + size]) for i in range(0, len(reply), size))
        assert shown == "Tunis 1956.\nAmman 1946." and not stream.closed


def test_the_system_prompt_is_the_same_for_every_question() -> None:
    a = messages("How many?", "en", evidence_of("One."))
    b = messages("كم عدد؟", "ar", evidence_of("Two.", "Three."))
    assert a[0] == b[0]  # so llama.cpp reuses its cached reading of it
    assert "[1] Two." in b[1]["content"] and "[2] Three." in b[1]["content"] and "Arabic" in b[1]["content"]


class Constrained:
    id = "fake-constrained"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def stream_json(self, chat, schema, *, max_tokens):  # type: ignore[no-untyped-def]
        assert schema == answer_schema(2)
        for i in range(0, len(self.reply), 3):
            yield Piece(self.reply[i : i + 3])


class Plain:
    id = "fake-plain"

    def stream(self, chat, **kwargs):  # type: ignore[no-untyped-def]
        assert "JSON" in chat[0]["content"]  # the same JSON is asked for in the prompt
        yield json.dumps({"evidence": [2, 7], "answer": "Two."})


def test_generate_streams_the_answer_and_keeps_only_numbers_shown() -> None:
    shown: list[str] = []
    reply = generate(Constrained('{"evidence": [2], "answer": "Two then."}'), "q?", "en",
                     evidence_of("One.", "Two."), on_token=shown.append)
    assert "".join(shown) == "Two then." and len(shown) > 1
    assert reply.evidence == (2,) and reply.structured and reply.first_token_ms is not None
    plain = generate(Plain(), "q?", "en", evidence_of("One.", "Two."))
    assert plain.evidence == (2,)  # 7 was never shown
    assert generate(Constrained('{"evidence": [0], "answer": "Made up."}'), "q?", "en",
                    evidence_of("One.", "Two.")).parts == ()  # "none of them" named first: no answer
