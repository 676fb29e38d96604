"""Text files in the encodings people have: UTF-16/32 with a byte-order mark, cp1256
Arabic and Big5 Chinese (the sample corpus's own text, encoded), damaged UTF-8 and
files no encoding can be told for; binaries stay binaries."""

from __future__ import annotations

import codecs
import gzip
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samples import arabic_text, chinese_text
from rag.decoding import decode
from rag.documents import read_document
from rag.errors import DocumentError
from rag.paragraphs import split_paragraphs


def _refusal(data: bytes, name: str = "f.txt") -> str:
    with pytest.raises(DocumentError) as info:
        decode(name, data)
    return info.value.message


@pytest.mark.parametrize(("codec", "named"), [
    ("utf-16", "utf-16le"),  # Python writes the mark in the machine's order, as Notepad does (LE)
    ("utf-16-be", "utf-16be"),
    ("utf-32", "utf-32le"),
    ("utf-32-be", "utf-32be"),
])
def test_utf16_and_utf32_with_a_mark_are_text(tmp_path: Path, codec: str, named: str) -> None:
    text = "Notes\r\n\r\nصادرات السيارات 2024\r\n重慶 數字經濟\r\n"
    data = text.encode(codec)
    if codec.endswith("-be"):
        data = ("\ufeff" + text).encode(codec)
    assert b"\x00" in data  # what used to make it "binary"
    path = tmp_path / "notepad.txt"
    path.write_bytes(data)
    doc = read_document(path, "notepad.txt")
    assert doc.encoding == named
    assert [(p.number, p.start_line, p.end_line, p.text) for p in doc.paragraphs] == [
        (1, 1, 1, "Notes"), (2, 3, 4, "صادرات السيارات 2024\n重慶 數字經濟")]


def test_cp1256_arabic_is_read_and_named(tmp_path: Path) -> None:
    text = arabic_text()
    path = tmp_path / "arabic.txt"
    path.write_bytes(text.encode("cp1256"))
    doc = read_document(path, "arabic.txt")
    assert doc.encoding == "cp1256"
    assert [p.text for p in doc.paragraphs] == text.rstrip("\n").split("\n")  # no blank lines: one per line
    assert doc.paragraphs[0].text.startswith("عُقدت قمة صادرات السيارات الصينية 2024")


def test_big5_chinese_is_read_and_named(tmp_path: Path) -> None:
    text = chinese_text()
    path = tmp_path / "chinese.txt"
    path.write_bytes(text.encode("big5"))
    doc = read_document(path, "chinese.txt")
    assert doc.encoding == "big5"
    assert [p.text for p in doc.paragraphs] == text.rstrip("\n").split("\n\n")
    assert doc.paragraphs[1].text == "重慶憑借數字經濟動力與上合組織共謀繁榮"
    assert (doc.paragraphs[1].start_line, doc.paragraphs[1].end_line) == (3, 3)


@pytest.mark.parametrize(("text", "codec"), [
    ("重慶憑借數字經濟動力與上合組織共謀繁榮", "big5"),  # also valid Shift-JIS: which one is it?
    ("قمة صادرات السيارات", "cp1256"),
    ("first\nsecond \u201cquoted\u201d\n", "cp1252"),
])
def test_too_little_text_to_tell_is_refused_with_how_to_convert(text: str, codec: str) -> None:
    message = _refusal(text.encode(codec), "short notes.txt")
    assert message.startswith("short notes.txt: not UTF-8 (from line ")
    assert "iconv -f ENCODING -t UTF-8 'short notes.txt' > 'short notes.utf8.txt'" in message
    assert "CP1256" in message and "BIG5" in message
    assert "\n" not in message  # one line


def test_one_bad_byte_in_utf8_says_where() -> None:
    data = "سطر أول\nالسطر الثاني فيه خطأ: ".encode() + b"\xff" + " ثم يكمل\n".encode()
    offset = data.index(b"\xff")
    assert _refusal(data) == (f"f.txt: not valid UTF-8 at line 2 (byte {offset}); "
                              "fix that byte or re-save the file as UTF-8")
    assert "line 3 (byte 12)" in _refusal(b"one\r\ntwo\rcaf\xe9 three")  # CRLF and CR end lines: 5 + 4 + 3


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = zlib.compress(b"\x00\xff\x00\x00" * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data", [
    _png(),
    b"\x7fELF\x02\x01\x01" + bytes(9) + bytes(random.Random(3).randbytes(400)),
    gzip.compress("plain text, compressed".encode() * 50, mtime=0),
    bytes(b for b in random.Random(1).randbytes(4096) if b),  # noise with no NUL byte at all
    bytes(b for b in random.Random(2).randbytes(300) if b),
    b"\xff\xfe" + bytes(b | 0xD8 for b in random.Random(4).randbytes(64)),  # a UTF-16 mark, then no UTF-16
])
def test_binaries_stay_refused(data: bytes) -> None:
    message = _refusal(data, "image.txt")
    assert message.startswith("image.txt: ")
    assert any(w in message for w in ("binary", "not UTF-8", "not valid", "not UTF-16LE"))


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_utf8_text_is_never_guessed_at(text: str) -> None:
    """Short or ASCII, any UTF-8 text reads as itself, named utf-8."""
    assert decode("f.txt", text.encode()) == (text, "utf-8")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_text_or_one_clear_refusal(data: bytes) -> None:
    try:
        text, encoding = decode("f.txt", data)
    except DocumentError as exc:
        assert exc.message.startswith("f.txt: ") and "\n" not in exc.message
        return
    marks = {"utf-16le": codecs.BOM_UTF16_LE, "utf-16be": codecs.BOM_UTF16_BE,
             "utf-32le": codecs.BOM_UTF32_LE, "utf-32be": codecs.BOM_UTF32_BE}
    assert marks.get(encoding, b"") + text.encode(encoding) == data  # nothing lost or invented
    split_paragraphs("f.txt", text)
