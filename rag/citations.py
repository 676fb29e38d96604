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
  share the answer's figures or words and others share nothing, the others go (the small
  model names a headline or a neighbour beside the sentence it answers from).
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
class Cited:
    """The checked answer: its text with ``[n]`` markers, the citations, the evidence
    sentences cited, and the answer sentences dropped for a figure no evidence states."""

    text: str
    citations: list[Citation]
    sentences: list[Sentence]
    dropped: list[str]


def cite(question: str, reply: Reply, evidence: Evidence) -> Cited:
    """Turn REPLY's evidence numbers into citations and hold its answer to them."""
    parts = [s for s in (MARKER.sub("", part).strip() for part in split_sentences(reply.answer)) if s]
    chosen = [s for n in reply.evidence if (s := evidence.numbered(n)) is not None]
    if not chosen and parts and not reply.structured:
        chosen = _resting_on(" ".join(parts), evidence)
    given = claimed_figures(question)
    kept: list[str] = []
    dropped: list[str] = []
    for part in parts:
        claims = [c for c in claimed_figures(part) if not any(c.supported_by(g) for g in given)]
        missing = unsupported(claims, [f for s in chosen for f in stated_figures(s.text)])
        if missing:
            backers = _backing(missing, evidence, chosen)
            if backers is None:
                dropped.append(part)
                continue
            chosen.extend(backers)
        kept.append(part)
    if not kept:
        return Cited("", [], chosen, dropped)
    return _marked(kept, _rested_on(" ".join(kept), chosen), dropped)


def _rested_on(answer: str, chosen: list[Sentence]) -> list[Sentence]:
    """CHOSEN without the sentences that share nothing with ANSWER, when others do."""
    shares = [_share(answer, s) for s in chosen]
    if not any(backed or shared for backed, shared in shares):
        return chosen  # nothing to tell them apart by (an answer in another script): keep all
    return [s for s, (backed, shared) in zip(chosen, shares, strict=True) if backed or shared]


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


def _marked(parts: list[str], chosen: list[Sentence], dropped: list[str]) -> Cited:
    """Place each cited sentence's marker after the answer sentence it shares most with
    (the last one on a tie) and build one Citation per cited paragraph."""
    chosen = list(dict.fromkeys(chosen))
    keys = [(s.paragraph.file, s.paragraph.number) for s in chosen]
    markers: dict[tuple[str, int], int] = {}
    after: list[list[int]] = [[] for _ in parts]
    part_words = [set(tokenize(p)) for p in parts]
    part_figures = [claimed_figures(p) for p in parts]
    for sentence, key in zip(chosen, keys, strict=True):
        stated = stated_figures(sentence.text)
        words = set(tokenize(sentence.text))
        scores = [(sum(1 for f in figs if not unsupported([f], stated)), len(w & words), i)
                  for i, (figs, w) in enumerate(zip(part_figures, part_words, strict=True))]
        target = max(scores)[2] if max(scores)[:2] != (0, 0) else len(parts) - 1
        marker = markers.setdefault(key, len(markers) + 1)
        if marker not in after[target]:
            after[target].append(marker)
    text = " ".join(part + "".join(f" [{m}]" for m in sorted(marks)) if marks else part
                    for part, marks in zip(parts, after, strict=True))
    citations = []
    for key, marker in markers.items():
        group = [s for s, k in zip(chosen, keys, strict=True) if k == key]
        p = group[0].paragraph
        start, end = min(s.start for s in group), max(s.end for s in group)
        citations.append(Citation.of(marker, p, p.text[start:end]))
    return Cited(text, citations, chosen, dropped)
