"""Paragraph -> chunks: short paragraphs stay whole; long ones split at sentence ends into
exact slices that all cite their paragraph."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_CORPUS
from rag.chunks import chunk_id, chunk_paragraph, chunk_paragraphs
from rag.documents import read_document
from rag.types import Paragraph

SENTENCE_ENDS = ".!?。！？؟…\"'”’»)]」』"


def _para(text: str, number: int = 7, file: str = "dir/f.txt") -> Paragraph:
    return Paragraph(file, number, 10, 12, text)


def _sample_lines(name: str) -> list[str]:
    return [p.text for p in read_document(SAMPLE_CORPUS / name, name).paragraphs]


def assert_exact_cover(paragraph: Paragraph, chunks, max_chars: int) -> None:
    """Chunks are consecutive slices of the paragraph, separated only by whitespace,
    covering every non-space character in order, none longer than max_chars."""
    text = paragraph.text
    pos = 0
    for part, chunk in enumerate(chunks):
        assert chunk.paragraph == paragraph
        assert chunk.part == part
        assert chunk.id == chunk_id(paragraph.file, paragraph.number, part)
        assert chunk.file == paragraph.file
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= max_chars
        at = text.find(chunk.text, pos)
        assert at >= 0, "chunk is not a slice of its paragraph"
        assert text[pos:at].strip() == "", "non-space text skipped between chunks"
        pos = at + len(chunk.text)
    assert text[pos:].strip() == ""


def test_short_paragraph_is_one_chunk() -> None:
    p = _para("A short paragraph. Two sentences.")
    chunks = chunk_paragraph(p)
    assert len(chunks) == 1
    assert chunks[0].id == "dir/f.txt::7::0"
    assert chunks[0].text == p.text
    assert chunks[0].paragraph is p and chunks[0].part == 0


def test_paragraph_of_exactly_max_chars_is_not_split() -> None:
    p = _para("x" * 50)
    assert [c.text for c in chunk_paragraph(p, 50)] == ["x" * 50]
    assert len(chunk_paragraph(_para("x" * 51), 50)) == 2


def _long_paragraphs() -> dict[str, tuple[Paragraph, int]]:
    """Real sentences from the corpus glued into long paragraphs, with a max_chars for
    each (Chinese packs more per character, so it gets a smaller limit)."""
    lines = _sample_lines("003_3e9024b6c632520f.txt")
    english = [t for t in lines if t[:1].isascii() and t[:1].isalpha()]
    chinese = [t for t in lines if "\u4e00" <= t[:1] <= "\u9fff" and t.endswith("。")]
    arabic = [t for t in _sample_lines("000_0f425e83b5bd7ec2.txt") if t.endswith(".")]
    return {
        "en": (_para(" ".join(english[4:12]), 1, "en.txt"), 700),
        "zh": (_para("".join(chinese), 2, "zh.txt"), 250),
        "ar": (_para(" ".join(arabic), 3, "ar.txt"), 700),
    }


def test_long_paragraphs_split_at_sentence_ends() -> None:
    for lang, (p, max_chars) in _long_paragraphs().items():
        assert len(p.text) > 2 * max_chars, lang
        chunks = chunk_paragraph(p, max_chars)
        assert len(chunks) >= 3, lang
        assert_exact_cover(p, chunks, max_chars)
        for c in chunks[:-1]:  # every sentence here is shorter than max_chars
            assert c.text[-1] in SENTENCE_ENDS, (lang, c.text[-20:])
        # Chunks are filled: two neighbours together would not have fitted.
        for a, b in zip(chunks, chunks[1:]):
            assert len(a.text) + len(b.text) > max_chars, lang


def test_arabic_question_mark_and_comma() -> None:
    text = "ما هو أكبر ميناء؟ " * 30 + "النهاية."
    p = _para(text)
    chunks = chunk_paragraph(p, 100)
    assert_exact_cover(p, chunks, 100)
    assert all(c.text.endswith("؟") for c in chunks[:-1])


def test_chinese_without_spaces() -> None:
    text = "重慶是連接亞太地區的獨特紐帶。" * 40
    p = _para(text)
    chunks = chunk_paragraph(p, 100)
    assert len(chunks) >= 6
    assert_exact_cover(p, chunks, 100)
    assert all(c.text.endswith("。") for c in chunks)


def test_one_unbreakable_run_is_cut_at_the_limit() -> None:
    p = _para("https://example.com/" + "a" * 250)
    chunks = chunk_paragraph(p, 100)
    assert [len(c.text) for c in chunks] == [100, 100, 70]
    assert "".join(c.text for c in chunks) == p.text


def test_long_sentence_is_cut_at_a_space() -> None:
    words = ["word%02d" % i for i in range(60)]
    p = _para(" ".join(words))  # one sentence, no end mark
    chunks = chunk_paragraph(p, 50)
    assert_exact_cover(p, chunks, 50)
    for c in chunks:  # whole words only
        assert all(w in words for w in c.text.split())


def test_decimal_points_are_not_sentence_ends() -> None:
    p = _para("Exports rose 3.5 percent to 12.75 billion yuan in 2021 and kept rising " * 3)
    chunks = chunk_paragraph(p, 80)
    assert_exact_cover(p, chunks, 80)
    assert not any(c.text.endswith((" 3.", " 12.")) for c in chunks)


def test_ids_are_stable_and_unique_over_the_corpus() -> None:
    paragraphs = [p for name in sorted(x.name for x in SAMPLE_CORPUS.iterdir())
                  for p in read_document(SAMPLE_CORPUS / name, name).paragraphs]
    first = chunk_paragraphs(paragraphs, 200)
    second = chunk_paragraphs(paragraphs, 200)
    assert first == second
    ids = [c.id for c in first]
    assert len(ids) == len(set(ids))
    assert len(first) > len(paragraphs)  # some paragraphs needed several chunks at 200
    for p in paragraphs:
        mine = [c for c in first if c.paragraph == p]
        assert_exact_cover(p, mine, 200)
    # In document order: paragraphs as given, parts counting up within each.
    order = [(paragraphs.index(c.paragraph), c.part) for c in first]
    assert order == sorted(order)


CHUNK_TEXT = st.text(st.sampled_from(list("ab .。؟!\n中ع\u00a0") + ["”"]), min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(CHUNK_TEXT, st.integers(min_value=1, max_value=60))
def test_chunking_property(text: str, max_chars: int) -> None:
    p = _para(text)
    chunks = chunk_paragraph(p, max_chars)
    assert_exact_cover(p, chunks, max_chars)
    if text.strip():
        assert chunks
    if len(text.strip()) <= max_chars and text.strip():
        assert [c.text for c in chunks] == [text.strip()]
