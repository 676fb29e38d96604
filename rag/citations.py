"""Where a citation is checked: the sentences the model named -> verified Citations.

Citations are the program's job (SPEC 4). The model names evidence sentences by number
(rag.generation); each named sentence is a slice of a retrieved paragraph, so the quote
is exact by construction and the citation points at a passage that was retrieved. What
is left to check is that the answer says nothing those sentences do not:

- every figure the answer states must be backed, by value, by a cited sentence
  (rag.numbers: 675 million is backed by 6.75億, 6.75 billion is not). A figure that
  another evidence sentence backs brings that sentence in as a citation (the model named
  too few); one no evidence sentence backs drops its answer sentence, since the small
  model moves a nearby passage's figures onto whatever was asked about. A figure the
  question itself gives may be repeated: it is the question's, not a claim.
- a named sentence the answer does not rest on is not cited: when some named sentences
  share the answer's figures or words and others share nothing, or only words a
  figure-backing sentence shares too, the others go (the small model names a headline or
  a neighbour beside the sentence it answers from).
- a reply that named no sentence but wrote an answer (plain text from a backend that
  cannot be held to the JSON) is matched to the evidence sentences that share its
  figures or most of its words.

Markers are numbered per cited paragraph, in order of first use, and placed after the
answer sentence each cited sentence shares most with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.evidence import Evidence, Sentence
from rag.generation import Reply
from rag.lang import tokenize
from rag.numbers import Figure, claimed_figures, stated_figures, unsupported
from rag.sentences import split_sentences
from rag.types import Citation

# What a model writes when it cites anyway: [1] [1, 2] 【1】 (Source 1) المصدر 1 来源 1.
MARKER = re.compile(
    r"\s*(?:\[\s*\d{1,2}(?:\s*[,،、;]\s*\d{1,2})*\s*\]|【\s*\d{1,2}\s*】"
    r"|\(\s*(?:source\s*)?\d{1,2}\s*\)|\b(?:sources?|passage)\s*#?\s*\d{1,2}\b"
    r"|(?:المصدر|مصدر)\s*\d{1,2}|(?:來源|来源|資料|资料)\s*\d{1,2})",
    re.IGNORECASE,
)
MIN_SHARED_WORDS = 2  # words an uncited answer must share with a sentence to rest on it


@dataclass(frozen=True)
class Checked:
    """One answer part held to its evidence: the answer sentences kept, the evidence
    sentences they rest on, and the answer sentences dropped for a figure no evidence states."""

    kept: list[str]
    sentences: list[Sentence]
    dropped: list[str]


@dataclass(frozen=True)
class Cited:
    """The checked answer: its text with ``[n]`` markers, the citations, and the parts it
    was made of."""

    text: str
    citations: list[Citation]
    parts: list[Checked]

    @property
    def sentences(self) -> list[Sentence]:
        return list(dict.fromkeys(s for part in self.parts for s in part.sentences))


def check(question: str, reply: Reply, evidence: Evidence) -> list[Checked]:
    """Each part of REPLY with its named evidence sentences, held to them (module docstring)."""
    given = claimed_figures(question)
    checked = []
    for part in reply.parts:
        answer = [s for s in (MARKER.sub("", x).strip() for x in split_sentences(part.answer)) if s]
        chosen = [s for n in part.evidence if (s := evidence.numbered(n)) is not None]
        if not chosen and answer and not reply.structured:
            chosen = _resting_on(" ".join(answer), evidence)
        kept: list[str] = []
        dropped: list[str] = []
        for sentence in answer:
            claims = [c for c in claimed_figures(sentence) if not any(c.supported_by(g) for g in given)]
            missing = unsupported(claims, [f for s in chosen for f in stated_figures(s.text)])
            if missing:
                backers = _backing(missing, evidence, chosen)
                if backers is None:
                    dropped.append(sentence)
                    continue
                chosen.extend(backers)
            kept.append(sentence)
        checked.append(Checked(kept, _rested_on(" ".join(kept), chosen) if kept else chosen, dropped))
    return checked


def cite(parts: list[Checked], separator: str = " ") -> Cited:
    """The answer text with markers, and one Citation per cited paragraph, numbered in order
    of first use across PARTS (a part with nothing kept is left out)."""
    markers: dict[tuple[str, int], int] = {}
    groups: dict[tuple[str, int], list[Sentence]] = {}
    texts = []
    for part in parts:
        if part.kept and part.sentences:
            texts.append(_marked(part.kept, part.sentences, markers, groups))
    citations = []
    for key, marker in markers.items():
        group = groups[key]
        p = group[0].paragraph
        start, end = min(s.start for s in group), max(s.end for s in group)
        citations.append(Citation.of(marker, p, p.text[start:end]))
    return Cited(separator.join(texts), citations, parts)


def _rested_on(answer: str, chosen: list[Sentence]) -> list[Sentence]:
    """CHOSEN without the sentences ANSWER does not rest on, when others it does.

    A sentence that shares nothing goes. So does one that backs none of the answer's
    figures when others back them, unless it shares a word they do not: the small model
    names a sentence that merely repeats the question's subject (a headline, or planted
    text) beside the one that states the figure, and that citation supports nothing."""
    shares = [_share(answer, s) for s in chosen]
    if not any(backed or shared for backed, shared in shares):
        return chosen  # nothing to tell them apart by (an answer in another script): keep all
    words = set(tokenize(answer))
    common = [words & set(tokenize(s.text)) for s in chosen]
    covered = set().union(*(c for c, (backed, _) in zip(common, shares, strict=True) if backed))
    return [s for s, c, (backed, _) in zip(chosen, common, shares, strict=True)
            if backed or (c and not (covered and c <= covered))]


def _share(answer: str, sentence: Sentence) -> tuple[int, int]:
    """(figures of ANSWER that SENTENCE backs, content words they share)."""
    stated = stated_figures(sentence.text)
    backed = sum(1 for f in claimed_figures(answer) if not unsupported([f], stated))
    return backed, len(set(tokenize(answer)) & set(tokenize(sentence.text)))


def _backing(claims: list[Figure], evidence: Evidence, chosen: list[Sentence]) -> list[Sentence] | None:
    """Further evidence sentences that back every one of CLAIMS, or None if some claim
    has none."""
    found: list[Sentence] = []
    for claim in claims:
        if any(not unsupported([claim], stated_figures(s.text)) for s in found):
            continue  # a sentence already brought in backs this one too
        backer = next((s for s in evidence.sentences if s not in chosen
                       and not unsupported([claim], stated_figures(s.text))), None)
        if backer is None:
            return None
        found.append(backer)
    return found


def _resting_on(answer: str, evidence: Evidence) -> list[Sentence]:
    """The evidence sentence an uncited answer rests on: the one sharing its figures, else
    the one sharing most of its words (at least MIN_SHARED_WORDS)."""
    best = max(evidence.sentences, key=lambda s: _share(answer, s), default=None)
    if best is None:
        return []
    backed, shared = _share(answer, best)
    return [best] if backed or shared >= MIN_SHARED_WORDS else []


def _marked(parts: list[str], chosen: list[Sentence], markers: dict[tuple[str, int], int],
            groups: dict[tuple[str, int], list[Sentence]]) -> str:
    """PARTS joined, each cited sentence's marker after the answer sentence it shares most
    with (the last one on a tie). MARKERS and GROUPS collect the paragraphs cited, shared by
    the parts of one answer."""
    after: list[list[int]] = [[] for _ in parts]
    for sentence in dict.fromkeys(chosen):
        key = (sentence.paragraph.file, sentence.paragraph.number)
        scores = [(*_share(part, sentence), i) for i, part in enumerate(parts)]
        target = max(scores)[2] if max(scores)[:2] != (0, 0) else len(parts) - 1
        marker = markers.setdefault(key, len(markers) + 1)
        groups.setdefault(key, []).append(sentence)
        if marker not in after[target]:
            after[target].append(marker)
    return " ".join(part + "".join(f" [{m}]" for m in sorted(marks)) if marks else part
                    for part, marks in zip(parts, after, strict=True))
