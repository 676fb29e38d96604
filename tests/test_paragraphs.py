"""SPEC 2 paragraph rule: hand-checked values on the sample corpus, edge cases, and a
property that holds for any text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_CORPUS, SAMPLE_PARAGRAPHS
from rag.documents import read_document
from rag.paragraphs import normalize_newlines, split_paragraphs


def _paragraphs(name: str):
    return read_document(SAMPLE_CORPUS / name, name).paragraphs


def _spans(text: str) -> list[tuple[int, int]]:
    return [(p.start_line, p.end_line) for p in split_paragraphs("f.txt", text)]


# -- the sample corpus, counted by hand with `cat -n` ------------------------------------


def test_spec_examples() -> None:
    p26 = _paragraphs("003_3e9024b6c632520f.txt")[25]
    assert (p26.number, p26.start_line, p26.end_line) == (26, 55, 55)
    assert p26.text.startswith("For instance, in the first half of this year, Chang'an Auto")
    assert p26.location() == "¶26 (line 55)"
    p3 = _paragraphs("000_0f425e83b5bd7ec2.txt")[2]
    assert (p3.number, p3.start_line, p3.end_line) == (3, 3, 3)
    assert p3.text.startswith("يتمتع الحزام الاقتصادي")


@pytest.mark.parametrize(("name", "count"), sorted(SAMPLE_PARAGRAPHS.items()))
def test_paragraph_counts_per_file(name: str, count: int) -> None:
    paragraphs = _paragraphs(name)
    assert len(paragraphs) == count
    assert [p.number for p in paragraphs] == list(range(1, count + 1))


def test_blank_separated_file_by_hand() -> None:
    """003 separates paragraphs with blank lines; its first paragraph is three lines
    (title, breadcrumb, headline), ¶38 is two lines, the last one runs to the end."""
    ps = _paragraphs("003_3e9024b6c632520f.txt")
    spans = {p.number: (p.start_line, p.end_line) for p in ps}
    assert spans[1] == (1, 3)
    assert spans[2] == (5, 5)
    assert spans[4] == (10, 10)  # two blank lines (8, 9) before it
    assert spans[6] == (15, 15)  # "image.png"
    assert ps[5].text == "image.png"
    assert spans[38] == (79, 80)
    assert spans[39] == (82, 82)
    assert spans[55] == (114, 119)
    assert ps[0].text.splitlines()[0] == "媒體聚焦"
    assert ps[0].location() == "¶1 (lines 1-3)"


def test_one_paragraph_per_line_files_by_hand() -> None:
    """000, 001 and 004 have no blank line at all: paragraph n is line n, including the
    last line of 000 which has no final newline."""
    for name, last in (("000_0f425e83b5bd7ec2.txt", 21), ("001_2284b7fc3385c695.txt", 9),
                       ("004_19d5bed1d5b90f32.txt", 5)):
        ps = _paragraphs(name)
        assert [(p.start_line, p.end_line) for p in ps] == [(n, n) for n in range(1, last + 1)]
    last = _paragraphs("000_0f425e83b5bd7ec2.txt")[-1]
    assert last.text.endswith("للقضايا المشتركة التي تهم الشركات.")  # the file has no final newline
    assert _paragraphs("001_2284b7fc3385c695.txt")[0].text.startswith("12 نوفمبر 2024/")


def test_trailing_blank_lines_do_not_separate() -> None:
    """002 is five text lines followed by 14 blank lines: no blank line stands *between*
    two text lines, so each line is its own paragraph (not one five-line paragraph)."""
    ps = _paragraphs("002_cd0030e963fe94eb.txt")
    assert [(p.start_line, p.end_line) for p in ps] == [(n, n) for n in range(1, 6)]
    raw = (SAMPLE_CORPUS / "002_cd0030e963fe94eb.txt").read_text("utf-8").split("\n")
    assert [p.text for p in ps] == raw[:5]


def test_paragraph_text_is_the_files_lines() -> None:
    for name in SAMPLE_PARAGRAPHS:
        lines = normalize_newlines((SAMPLE_CORPUS / name).read_text("utf-8")).split("\n")
        for p in _paragraphs(name):
            assert p.file == name
            assert "\n".join(lines[p.start_line - 1 : p.end_line]) == p.text


# -- edge cases ------------------------------------------------------------------------


def test_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffFirst line\n\nSecond".encode())
    ps = read_document(path, "bom.txt").paragraphs
    assert [p.text for p in ps] == ["First line", "Second"]
    assert [(p.start_line, p.end_line) for p in ps] == [(1, 1), (3, 3)]
    assert normalize_newlines("\ufeffx") == "x"
    assert normalize_newlines("a\ufeffb") == "a\ufeffb"  # only a leading BOM is a BOM


def test_crlf_and_lone_cr(tmp_path: Path) -> None:
    assert normalize_newlines("a\r\nb\rc\n\r\nd") == "a\nb\nc\n\nd"
    (tmp_path / "crlf.txt").write_bytes(b"one\r\ntwo\r\n\r\nthree\r\n")
    (tmp_path / "cr.txt").write_bytes(b"one\rtwo\r\rthree\r")
    for name in ("crlf.txt", "cr.txt"):
        ps = read_document(tmp_path / name, name).paragraphs
        assert [(p.text, p.start_line, p.end_line) for p in ps] == [("one\ntwo", 1, 2), ("three", 4, 4)]
        assert all("\r" not in p.text for p in ps)


def test_leading_and_trailing_blank_lines() -> None:
    text = "\n\n  \nalpha\nbeta\n\ngamma\n\n\n"
    ps = split_paragraphs("f.txt", text)
    assert [(p.number, p.start_line, p.end_line, p.text) for p in ps] == [
        (1, 4, 5, "alpha\nbeta"),
        (2, 7, 7, "gamma"),
    ]


def test_leading_blank_lines_alone_do_not_separate() -> None:
    assert _spans("\n\nalpha\nbeta\n") == [(3, 3), (4, 4)]


def test_whitespace_only_lines_are_blank() -> None:
    assert _spans("alpha\n \t \u3000\nbeta\ngamma") == [(1, 1), (3, 4)]
    ps = split_paragraphs("f.txt", "alpha\n   \nbeta")
    assert [p.text for p in ps] == ["alpha", "beta"]


def test_single_line() -> None:
    ps = split_paragraphs("f.txt", "just one line")
    assert [(p.number, p.start_line, p.end_line, p.text) for p in ps] == [(1, 1, 1, "just one line")]
    assert _spans("just one line\n") == [(1, 1)]


def test_multiple_blank_lines_between_paragraphs() -> None:
    assert _spans("a\n\n\n\nb\nc\n\n\nd") == [(1, 1), (5, 6), (9, 9)]


def test_no_blank_line_means_one_paragraph_per_line() -> None:
    ps = split_paragraphs("f.txt", "first\nsecond\nthird")
    assert [(p.number, p.start_line, p.text) for p in ps] == [(1, 1, "first"), (2, 2, "second"), (3, 3, "third")]


def test_empty_and_blank_text_has_no_paragraphs() -> None:
    assert split_paragraphs("f.txt", "") == []
    assert split_paragraphs("f.txt", "\n \n\t\n") == []


def test_lines_keep_their_own_whitespace() -> None:
    """Paragraph text is the file's lines as they are, so quotes can be found again."""
    ps = split_paragraphs("f.txt", "  indented line \n\nnext")
    assert ps[0].text == "  indented line "


# -- property: for any text ------------------------------------------------------------

LINE_CHARS = st.sampled_from(list("ab c\t\u3000中ع") + ["\ufeff"])
TEXTS = st.lists(st.text(LINE_CHARS, max_size=6), max_size=14).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_paragraph_rule_property(text: str) -> None:
    lines = text.split("\n")
    blank = [not line.strip() for line in lines]
    ps = split_paragraphs("f.txt", text)

    assert [p.number for p in ps] == list(range(1, len(ps) + 1))
    for p in ps:
        assert 1 <= p.start_line <= p.end_line <= len(lines)
        assert "\n".join(lines[p.start_line - 1 : p.end_line]) == p.text
        assert not any(blank[p.start_line - 1 : p.end_line])
    for a, b in zip(ps, ps[1:]):
        assert a.end_line < b.start_line  # in order, non-overlapping
    # Every non-blank line belongs to exactly one paragraph.
    covered = sorted(n for p in ps for n in range(p.start_line, p.end_line + 1))
    assert covered == [i + 1 for i, b in enumerate(blank) if not b]

    text_lines = [i for i, b in enumerate(blank) if not b]
    separated = any(
        any(blank[i + 1 : j]) for i, j in zip(text_lines, text_lines[1:])
    )
    if separated:  # maximal runs: a paragraph is bounded by blank lines or the ends
        for p in ps:
            assert p.start_line == 1 or blank[p.start_line - 2]
            assert p.end_line == len(lines) or blank[p.end_line]
    else:
        assert all(p.start_line == p.end_line for p in ps)
