"""The one sentence splitter: spans that are exact slices, in three scripts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rag.sentences import sentence_spans, split_sentences


def test_sentences_split_in_three_scripts() -> None:
    text = "Chongqing grew 3.5% in 2021. It hosts 40 firms! 重慶有40家企業。還有更多？ هل هذا صحيح؟ نعم."
    assert split_sentences(text) == [
        "Chongqing grew 3.5% in 2021.", "It hosts 40 firms!", "重慶有40家企業。", "還有更多？",
        "هل هذا صحيح؟", "نعم.",
    ]


def test_a_decimal_or_a_domain_does_not_end_a_sentence() -> None:
    assert split_sentences("It rose 83.7 billion, see example.com for more. Next.") == [
        "It rose 83.7 billion, see example.com for more.", "Next.",
    ]


def test_a_line_break_ends_a_sentence() -> None:
    assert split_sentences("Title line\nBody sentence one. Two") == ["Title line", "Body sentence one.", "Two"]


def test_a_long_sentence_is_cut_after_a_clause_mark() -> None:
    text = "، ".join(["جملة طويلة جدا عن صناعة السيارات"] * 12) + "."
    spans = sentence_spans(text, max_chars=120)
    assert len(spans) > 1
    assert all(b - a <= 120 for a, b in spans)
    assert all(text[a:b].endswith("،") for a, b in spans[:-1])  # cut after the clause mark


@given(st.text(alphabet=st.sampled_from("ab 。.！?؟،,\n3"), max_size=300), st.sampled_from([0, 20, 50]))
def test_spans_are_ordered_stripped_slices_covering_every_letter(text: str, limit: int) -> None:
    spans = sentence_spans(text, max_chars=limit)
    assert all(a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))
    assert all(text[a:b] == text[a:b].strip() for a, b in spans)
    covered = "".join(text[a:b] for a, b in spans)
    assert sorted(c for c in covered if not c.isspace()) == sorted(c for c in text if not c.isspace())
