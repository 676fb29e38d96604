"""A text file's bytes -> its text, and the name of the encoding it was in.

In order, each step certain before the next one guesses:

1. a byte-order mark says UTF-16 or UTF-32 (Notepad's "Unicode" is UTF-16 LE);
2. NUL bytes with no mark: a binary file (image, executable, archive), refused;
3. valid UTF-8 (plain ASCII included, a UTF-8 mark allowed) is UTF-8: nothing short or
   ASCII is ever guessed at;
4. bytes that are *mostly* UTF-8 (its multi-byte sequences outnumber the bytes that fit
   none) are a damaged UTF-8 file: refused, naming the line of the first bad byte;
5. anything else goes to charset-normalizer, and its answer is taken only when it also
   recognised a language in the decoded text (its ``coherence``): that tells cp1256
   Arabic or Big5 Chinese from the look-alike decodings a short text allows (a Big5 line
   decodes as valid Shift-JIS too). Otherwise the file is refused with the command that
   converts it.

Newlines are normalised afterwards by ``rag.paragraphs.normalize_newlines``.
"""

from __future__ import annotations

import codecs
import shlex
import unicodedata
from pathlib import PurePosixPath

from rag.errors import DocumentError

SNIFF_BYTES = 8192
"""How much of the file is looked at for NUL bytes (binary formats have them early)."""

_BOMS = [  # UTF-32 first: its little-endian mark begins with UTF-16's. (A UTF-8 mark is
    # read by the UTF-8 step and dropped with the newlines, so bad bytes keep their offsets.)
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
]



def _convert(name: str) -> str:
    """The one line that says how to make NAME readable."""
    path = PurePosixPath(name)
    out = path.with_name(f"{path.stem}.utf8{path.suffix}")
    return (f"convert it to UTF-8, e.g. `iconv -f ENCODING -t UTF-8 {shlex.quote(name)} > {shlex.quote(str(out))}` "
            "(ENCODING: CP1256 for Arabic, BIG5 or GB18030 for Chinese, ...)")


def decode(name: str, data: bytes) -> tuple[str, str]:
    """The text of NAME's bytes and the encoding it was read in; DocumentError if it
    is not text or its encoding can't be told with confidence."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            not_it = f"{name}: starts with a {encoding.upper()} byte-order mark but is not {encoding.upper()} text"
            try:
                text = data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                raise DocumentError(f"{not_it} (byte {len(bom) + exc.start}); re-save it as UTF-8") from exc
            if not _looks_like_text(text):
                raise DocumentError(f"{not_it} (a binary file?)")
            return text, encoding
    if b"\x00" in data[:SNIFF_BYTES]:
        raise DocumentError(f"{name}: binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        line, byte = _where(data, exc.start)
    if _mostly_utf8(data):
        raise DocumentError(f"{name}: not valid UTF-8 at line {line} (byte {byte}); "
                            "fix that byte or re-save the file as UTF-8")
    encoding = _detect(data)
    if encoding is None:
        raise DocumentError(f"{name}: not UTF-8 (from line {line}, byte {byte}) and in no encoding that can "
                            f"be told with confidence; {_convert(name)}")
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:  # the detector samples the file; a later part may not fit
        line, byte = _where(data, exc.start)
        raise DocumentError(f"{name}: looks like {encoding} but is not (line {line}, byte {byte}); "
                            f"{_convert(name)}") from exc


def _where(data: bytes, offset: int) -> tuple[int, int]:
    """(line, byte) of OFFSET, counting CRLF and lone CR as line ends, as SPEC 2 does."""
    before = data[:offset]
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1, offset


def _mostly_utf8(data: bytes) -> bool:
    """Whether the bytes that are not ASCII are mostly valid UTF-8 sequences: then the
    others are damage, not another encoding. (One stray byte in ASCII text counts too:
    no encoding can be recognised from one byte, and where it is matters more.)"""
    text = data.decode("utf-8", errors="surrogateescape")
    bad = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return good >= bad or bad == 1


def _looks_like_text(text: str) -> bool:
    """Whether TEXT's start has no more than a trace of what text never holds (control,
    unassigned and private-use characters): random bytes after a byte-order mark often
    decode as valid UTF-16, but as a spray of such characters."""
    sample = text[:SNIFF_BYTES]
    odd = sum(1 for ch in sample if ch not in "\t\n\r\f" and unicodedata.category(ch) in ("Cc", "Cn", "Co"))
    return odd <= len(sample) // 100


def _detect(data: bytes) -> str | None:
    """charset-normalizer's encoding, when it also recognised a language in the result."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.coherence <= 0:
        return None
    return codecs.lookup(best.encoding).name
