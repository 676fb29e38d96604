"""Where a citation is checked: markers -> retrieved paragraphs, verified.

Citations are the program's job, not the model's (SPEC 4). The model may write ``[2]``,
``Source 2``, ``【2】``, a marker out of range, or nothing. Here every answer sentence is
checked against the sources it was given:

- a marker must name a source that was retrieved for this question;
- the source must support the sentence: every number in the sentence (after digit
  normalisation, or by value: 837億 is 83.7 billion) appears in the cited paragraph (a
  number the question itself gives may instead appear elsewhere in the paragraph's
  document: "this year" in an article dated 2021 answers a question about 2021), and
  the sentence is close enough to
  the source's text (multilingual embedding similarity, so a Chinese sentence can be
  supported by an Arabic paragraph);
- a sentence with no valid marker is re-pointed to the source that supports it best;
- a sentence whose numbers appear in no source is dropped (the weak local model moves
  figures between entities);
- each citation's ``quote`` is an exact substring of the cited paragraph.

Markers are renumbered 1..n in order of first use. An answer left with no supported
sentence has no citations, and the caller abstains.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from rag.lang import normalize, normalize_digits
from rag.types import Citation, Hit

# [1] [1, 2] [1][2] 【1】 (1) Source 1 / Sources 1 / المصدر 1 / 来源 1 / 資料 1
_MARKER = re.compile(
    r"\[\s*(\d{1,2}(?:\s*[,،、;]\s*\d{1,2})*)\s*\]"
    r"|【\s*(\d{1,2})\s*】"
    r"|\(\s*(?:source\s*)?(\d{1,2})\s*\)"
    r"|\b(?:sources?|passage|doc(?:ument)?)\s*#?\s*(\d{1,2})\b"
    r"|(?:المصدر|مصدر|المقطع)\s*(\d{1,2})"
    r"|(?:來源|来源|資料|资料|文獻|文献)\s*(\d{1,2})",
    re.IGNORECASE,
)
# A sentence ends at CJK/Arabic/!? punctuation, or at a full stop followed by a space or the
# end (so "83.7" stays whole), or at a line end.
_CLOSERS = r"\"'”’»)\]」』"
_SENTENCE = re.compile(rf".+?(?:[。！？؟!?]+[{_CLOSERS}]*|\.+[{_CLOSERS}]*(?=\s|$)|\n|$)")
# A number, and the magnitude word after it if any. A figure moved across languages changes
# its digits (83.7 مليار = 83.7 billion = 837億), so each number also counts by its value.
_MAGNITUDE = {
    "thousand": 3, "million": 6, "billion": 9, "trillion": 12,
    "千": 3, "万": 4, "萬": 4, "百万": 6, "百萬": 6, "亿": 8, "億": 8,
    "ألف": 3, "آلاف": 3, "الف": 3, "مليون": 6, "ملايين": 6, "مليار": 9, "مليارات": 9,
}
_NUMBER = re.compile(
    r"(\d+(?:\.\d+)?)(?:\s?(" + "|".join(sorted(map(re.escape, _MAGNITUDE), key=len, reverse=True)) + r"))?",
    re.IGNORECASE,
)

# After a number: it is a percentage (not "percentage points", not a bare "percentage").
_PERCENT = re.compile(r"\s?(?:%|٪|﹪|percent\b|per cent\b|في المائة|في المئة|بالمائة|بالمئة)", re.IGNORECASE)

DEFAULT_SUPPORT_FLOOR = 0.60
"""Minimum answer-sentence/source similarity to count as support (tuned on eval/dev)."""


@dataclass(frozen=True)
class Source:
    """A retrieved paragraph as shown to the model: marker n is ``sources[n-1]``.

    ``quote`` is the part of the paragraph that was shown (an exact substring), and
    ``vector`` its embedding, used to judge whether an answer sentence follows from it.
    ``context_numbers`` are the question's own numbers that the paragraph's document
    states somewhere: an answer may repeat them without the paragraph stating them.
    """

    hit: Hit
    quote: str
    vector: np.ndarray
    context_numbers: frozenset[str] = frozenset()


def split_sentences(text: str) -> list[str]:
    """Sentences in Arabic, Chinese or English, each keeping its end punctuation."""
    return [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]


def figures(text: str) -> set[frozenset[str]]:
    """Each number in TEXT as the forms it may take in a source: its digits (Arabic-Indic
    folded, thousands separators dropped) and, after a magnitude word, its value. A
    percentage is only a percentage ("5.2%"): a claimed 5.2% is not supported by a
    source's 5.2 billion."""
    found: set[frozenset[str]] = set()
    for match in _NUMBER.finditer(normalize_digits(text)):
        digits, magnitude = match.groups()
        if _PERCENT.match(match.string, match.end()):
            found.add(frozenset({_plain(Decimal(digits)) + "%"}))
            continue
        forms = {_plain(Decimal(digits))}
        if magnitude:
            forms.add(_plain(Decimal(digits).scaleb(_MAGNITUDE[magnitude.lower()])))
        found.add(frozenset(forms))
    return found


def numbers(text: str) -> set[str]:
    """Every form of every number in TEXT: what a source can be checked against. A
    source's percentage also counts as its bare number (a claim may drop the sign)."""
    forms = set().union(*figures(text))
    return forms | {f.removesuffix("%") for f in forms}


def occurrences(text: str) -> Counter[str]:
    """How many times TEXT states each number (by its digits)."""
    return Counter(_plain(Decimal(digits)) for digits, _ in _NUMBER.findall(normalize_digits(text)))


def covered(claims: set[frozenset[str]], stated: set[str]) -> bool:
    """Whether every number claimed appears, in one of its forms, among the numbers stated."""
    return all(forms & stated for forms in claims)


def _plain(value: Decimal) -> str:
    """3.50 -> "3.5", 8.37E+10 -> "83700000000": one spelling per value."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its markers, and the source numbers they named."""
    found: list[int] = []

    def take(match: re.Match[str]) -> str:
        digits = next(g for g in match.groups() if g)
        found.extend(int(d) for d in re.findall(r"\d+", digits))
        return ""

    clean = _MARKER.sub(take, sentence)
    clean = re.sub(r"\s+([.!?。！？؟,،])", r"\1", clean)
    return re.sub(r"\s{2,}", " ", clean).strip(), found


def _best_quote(sentence: str, source: Source) -> str:
    """The sentence of the shown text that shares most with the answer sentence."""
    wanted = figures(sentence)
    words = set(normalize(sentence).split())
    candidates = split_sentences(source.quote) or [source.quote]

    def overlap(candidate: str) -> tuple[int, int]:
        stated = numbers(candidate)
        return sum(1 for forms in wanted if forms & stated), len(words & set(normalize(candidate).split()))

    best = max(candidates, key=overlap)
    paragraph = source.hit.chunk.paragraph.text
    return best if best in paragraph else source.quote


def _pair(wanted: set[frozenset[str]], stated: list[set[str]], given: list[frozenset[str]], sims: list[float],
          floor: float) -> list[int]:
    """Two sources that between them state every number of a sentence no single source
    covers (a multi-document answer: "from 16 to 19 ..., and 500 tractors"), each close
    enough to the sentence and each giving, in its own paragraph, a number the other
    lacks (a number only repeated from the question is no share of the answer); the
    closest pair."""
    full = [s | g for s, g in zip(stated, given, strict=True)]

    def shares(i: int, j: int) -> bool:
        return any(forms & stated[i] and not forms & full[j] for forms in wanted)

    pairs = [
        (sims[i] + sims[j], [i, j])
        for i in range(len(sims)) for j in range(i + 1, len(sims))
        if min(sims[i], sims[j]) >= floor and covered(wanted, full[i] | full[j])
        and shares(i, j) and shares(j, i)
    ]
    return max(pairs)[1] if pairs else []


def attach_citations(
    answer: str,
    sources: list[Source],
    embed: Callable[[list[str]], np.ndarray],
    support_floor: float = DEFAULT_SUPPORT_FLOOR,
    question: str = "",
) -> tuple[str, list[Citation]]:
    """Check and repair the model's citations; return the answer text and citations.

    ``embed`` maps sentences to normalised vectors comparable with ``Source.vector``.
    A number of the QUESTION that a sentence repeats needs only the source's document
    (``Source.context_numbers``); stated more often than the question states it, it is
    also a claim ("10 sub-forums at the 10th forum"), and the paragraph must state it.
    """
    asked = occurrences(question)
    sentences = [_markers(s) for s in split_sentences(answer)]
    sentences = [(s, m) for s, m in sentences if s]
    if not sentences or not sources:
        return " ".join(s for s, _ in sentences), []
    vectors = embed([s for s, _ in sentences])
    stated = [numbers(src.hit.chunk.paragraph.text) for src in sources]
    order: dict[int, int] = {}  # source index -> new marker
    quotes: dict[int, str] = {}
    out: list[str] = []
    for (sentence, named), vec in zip(sentences, vectors, strict=True):
        wanted = figures(sentence)
        again = {n for n, times in occurrences(sentence).items() if times > asked[n]}
        source_numbers = [n | (src.context_numbers - again) for n, src in zip(stated, sources, strict=True)]
        if not covered(wanted, set().union(*source_numbers)):
            continue  # a figure no source states: never pass it on
        sims = [float(vec @ src.vector) for src in sources]
        ok = [i for i in range(len(sources)) if covered(wanted, source_numbers[i]) and sims[i] >= support_floor]
        chosen = [n - 1 for n in dict.fromkeys(named) if 0 < n <= len(sources) and n - 1 in ok]
        if not chosen and ok:
            chosen = [max(ok, key=sims.__getitem__)]
        if not chosen and wanted:
            chosen = _pair(wanted, stated, [src.context_numbers - again for src in sources], sims, support_floor)
        marks = []
        for i in chosen:
            if i not in order:
                order[i] = len(order) + 1
                quotes[i] = _best_quote(sentence, sources[i])
            marks.append(f"[{order[i]}]")
        out.append(sentence + (" " + "".join(marks) if marks else ""))
    citations = []
    for i, marker in sorted(order.items(), key=lambda kv: kv[1]):
        p = sources[i].hit.chunk.paragraph
        citations.append(Citation.of(marker, p, quotes[i]))
    return " ".join(out), citations
