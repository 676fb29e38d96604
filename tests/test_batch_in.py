"""``rag.batch_in``'s question readers, by property: hostile question files never stop a batch.

Each example is a file of valid question lines mixed with malformed ones (not JSON, JSON that
is not an object, no question, bytes that are not UTF-8, NUL bytes, very long or deeply nested
lines, RTL and CJK text, blank lines). The properties, for .jsonl, .csv and .txt:

- reading raises nothing (only the documented UsageError for a CSV whose header is unusable);
- every valid line becomes one question, its text intact, with the id the rule gives it;
- every malformed line becomes exactly one error entry that names its own line;
- no neighbour of a bad line is lost, and the ids in the plan are unique.

(Writing every entry and reading it back by ``--resume`` is tests/test_batch_out.py's.)

Pure parsing, no models: the whole file runs in a few seconds.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.batch import plan_batch
from rag.batch_in import Item, read_questions
from rag.errors import UsageError

PROPERTY = settings(
    max_examples=60,
    deadline=None,  # a 136 kB line takes a while to build; the time limit is the file's, ~10 s
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIELD_LIMIT = csv.field_size_limit()  # 131072: a longer CSV field is a csv.Error

# Any character UTF-8 can carry (so no lone surrogates), bar the BOM the reader drops at the start.
CHARS = st.characters(codec="utf-8", exclude_characters="\ufeff")
SAMPLES = [
    "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟",   # Arabic, RTL
    "\u202eRTL override\u202c then \u200fmark",             # bidi controls
    "有多少家上合組織國家的企業已經落戶重慶？",                    # CJK
    "𠀋𡈽 astral CJK and emoji 🙂",
    "e\u0301 combining, ﷺ ligature, שלום Hebrew",
    "NUL\x00inside a question",
    "separators \x85 \u2028 \u2029 \x0b \x0c inside",
    'quotes " and \' and , and ; and \t tab',
    "  padded on both sides  ",
]
LONG_SIZES = [4_000, FIELD_LIMIT + 5_000]  # the second is over the csv module's field limit


def _long(seed: str, size: int) -> str:
    return (seed * (size // len(seed) + 1))[:size]


TEXT = st.one_of(
    st.text(CHARS, min_size=1, max_size=40),
    st.sampled_from(SAMPLES),
    st.builds(_long, st.sampled_from(["长", "ب ", "x", "word "]), st.sampled_from(LONG_SIZES)),
).filter(lambda t: t.strip() != "")

BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\x80abc", b"\xf8\x88\x80\x80\x80"]
BLANKS = [b"", b" ", b"\t", b"   \t  "]


@dataclass(frozen=True)
class Line:
    """One physical line (or, in CSV, one row that may span lines) and what it must become."""

    data: bytes
    question: str | None = None  # valid: the question as read (stripped); None: malformed
    id: str | None = None  # valid: the id as given (None: the rule's line-N / line number)
    blank: bool = False

    def __repr__(self) -> str:  # a 130 kB line would bury a failure report
        data = self.data if len(self.data) <= 80 else self.data[:60] + b"...%d bytes" % len(self.data)
        return f"Line({data!r}, question={(self.question or '')[:40]!r}, id={self.id!r}, blank={self.blank})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # noqa: ANN001 - how hypothesis shows it
        printer.text(repr(self))

    @property
    def lines(self) -> int:
        return self.data.count(b"\n") + 1


# -- building lines ---------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Text that stays on one physical line (the readers split on \\n after \\r -> \\n)."""
    return text.replace("\r", " ").replace("\n", " ")


def _insert(data: bytes, bad: bytes, at: int) -> bytes:
    """BAD inserted into DATA at a character boundary (so the rest stays valid UTF-8)."""
    text = data.decode("utf-8")
    cut = at % (len(text) + 1)
    return text[:cut].encode() + bad + text[cut:].encode()


@st.composite
def jsonl_line(draw: st.DrawFn, n: int) -> Line:
    kind = draw(st.sampled_from(["valid", "valid", "valid", "blank", "not-json", "not-object",
                                 "no-question", "bad-id", "not-utf8", "nul", "long", "nested"]))
    qid = f"q{n}"
    if kind == "valid":
        text = draw(TEXT)
        obj: dict[str, object] = {"question": text}
        id_form = draw(st.sampled_from(["none", "empty", "str", "padded", "int"]))
        given = None
        if id_form == "empty":
            obj["id"] = ""
        elif id_form in ("str", "padded"):
            obj["id"], given = (qid if id_form == "str" else f"  {qid}\t"), qid
        elif id_form == "int":
            obj["id"], given = 10_000 + n, str(10_000 + n)
        if draw(st.booleans()):  # an eval set's other keys are ignored
            obj = {"language": "ar", **obj, "gold": [{"file": "a.txt", "paragraph": 1}], "facts": [["x"]]}
        return Line(json.dumps(obj, ensure_ascii=draw(st.booleans())).encode(), text.strip(), given)
    if kind == "blank":
        return Line(draw(st.sampled_from(BLANKS)), blank=True)
    if kind == "not-json":
        text = draw(st.one_of(
            st.sampled_from(['{"question": "unterminated', "{'question': 'single quotes'}", "question: plain",
                             '{"question": "trailing comma",}', "{", "}", "NaNx", '{"id": 1 "question": "x"}',
                             "{\"question\": \"كم\"", "？「問題」", '"question"']),
            st.text(CHARS, min_size=1, max_size=60).map(_one_line),
        ))
        if not text.strip() or _parses(text):
            text = "{{" + text  # never the start of valid JSON
        return Line(text.encode())
    if kind == "not-object":
        value = draw(st.one_of(st.lists(st.text(max_size=5), max_size=3), st.integers(), st.floats(allow_nan=False),
                               st.text(max_size=10), st.none(), st.booleans()))
        return Line(json.dumps(value).encode())
    if kind == "no-question":
        obj = draw(st.sampled_from([{}, {"question": ""}, {"question": "   \t"}, {"question": None},
                                    {"question": 5}, {"question": ["a list"]}, {"question": {"q": "x"}},
                                    {"Question": "wrong key"}]))
        if draw(st.booleans()):
            obj = {"id": qid, **obj}
        return Line(json.dumps(obj).encode())
    if kind == "bad-id":
        bad = draw(st.sampled_from([True, False, 1.5, [1], {"a": 1}]))
        return Line(json.dumps({"id": bad, "question": draw(TEXT)}).encode())
    if kind == "not-utf8":
        where = draw(st.sampled_from(["question", "id", "outside", "only"]))
        bad = draw(st.sampled_from(BAD_BYTES))
        if where == "only":
            return Line(bad * draw(st.integers(1, 3)))
        if where == "outside":
            return Line(bad + json.dumps({"id": qid, "question": "fine"}).encode())
        text = _one_line(draw(st.text(CHARS, max_size=20)))
        spoiled = _insert(text.encode(), bad, draw(st.integers(0, 40)))
        spoiled = spoiled.replace(b'"', b"'").replace(b"\\", b"/")  # stays inside its JSON string
        if where == "question":
            return Line(b'{"id": "%s", "question": "%s"}' % (qid.encode(), spoiled))
        return Line(b'{"id": "%s", "question": "fine"}' % spoiled)
    if kind == "nul":
        return Line(draw(st.sampled_from([b"\x00", b"\x00\x00\x00", b'{"question": "a\x00b"}',
                                          b'{"question":\x00 "x"}', b'\x00{"question": "x"}'])))
    if kind == "long":
        return Line(("{" + _long(draw(st.sampled_from(["x", "长", "ب"])), draw(st.sampled_from(LONG_SIZES)))).encode())
    # nested: deeper than the json module's recursion limit
    depth = draw(st.sampled_from([10_000, 100_000]))
    opener = draw(st.sampled_from(["[", '{"a":']))
    return Line((opener * depth).encode())


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


@st.composite
def txt_line(draw: st.DrawFn, n: int) -> Line:
    kind = draw(st.sampled_from(["valid", "valid", "valid", "blank", "not-utf8"]))
    if kind == "blank":
        return Line(draw(st.sampled_from(BLANKS)), blank=True)
    text = _one_line(draw(TEXT))
    if not text.strip():
        text = "x" + text
    if kind == "valid":
        return Line(text.encode(), text.strip())
    return Line(_insert(text.encode(), draw(st.sampled_from(BAD_BYTES)), draw(st.integers(0, 50))))


CSV_HEADERS = [("id", "question"), ("question", "id", "note"), (" ID ", "Question")]


def _csv_row(cells: list[str]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue().removesuffix("\n").encode()


def _cells(header: tuple[str, ...], qid: str, question: str) -> list[str]:
    names = [h.strip().lower() for h in header]
    return [{"id": qid, "question": question}.get(name, "extra") for name in names]


@st.composite
def csv_line(draw: st.DrawFn, n: int, header: tuple[str, ...]) -> Line:
    kind = draw(st.sampled_from(["valid", "valid", "valid", "blank", "no-question", "not-utf8", "long"]))
    qid = f"q{n}"
    if kind == "valid":
        text = draw(TEXT).replace("\r", "\n")  # CR is read as a line end, even inside quotes (SPEC 2)
        if len(text) > FIELD_LIMIT - 10:
            text = text[: FIELD_LIMIT - 10]
        if not text.strip():
            text = "x" + text
        given = draw(st.sampled_from([qid, ""]))
        return Line(_csv_row(_cells(header, given, text)), text.strip(), given or None)
    if kind == "blank":
        return Line(draw(st.sampled_from([b"", b",", b" , ", b"   ", b'""'])), blank=True)
    if kind == "no-question":
        if header[0].strip().lower() == "id" and draw(st.booleans()):
            return Line(qid.encode())  # the row stops before the question column
        return Line(_csv_row(_cells(header, qid, draw(st.sampled_from(["", "  ", "\t"])))))
    if kind == "not-utf8":
        text = _one_line(draw(st.text(st.characters(codec="utf-8", exclude_characters='\ufeff",'), max_size=20)))
        spoiled = _insert(text.encode(), draw(st.sampled_from(BAD_BYTES)), draw(st.integers(0, 40)))
        if draw(st.booleans()):
            cells = _cells(header, qid, "QUESTION").copy()
            row = ",".join(cells).encode().replace(b"QUESTION", b"q" + spoiled)
        else:
            row = ",".join(_cells(header, "ID", "fine")).encode().replace(b"ID", b"i" + spoiled)
        return Line(row)
    # long: one unquoted field over the csv module's limit
    body = _long(draw(st.sampled_from(["x", "长", "ب"])), FIELD_LIMIT + draw(st.integers(1, 5_000)))
    return Line(",".join(_cells(header, qid, body)).encode())


@st.composite
def lines_of(draw: st.DrawFn, maker) -> list[Line]:  # noqa: ANN001
    """1-12 lines, each drawn knowing its position (for fresh ids)."""
    return [draw(maker(i)) for i in range(draw(st.integers(1, 12)))]


def _file(lines: list[Line], header: bytes | None = None, crlf: bool = False) -> tuple[bytes, list[int]]:
    """The file's bytes and the physical line each Line starts on."""
    starts, parts, at = [], [], 1
    if header is not None:
        parts.append(header)
        at += header.count(b"\n") + 1
    for line in lines:
        starts.append(at)
        parts.append(line.data)
        at += line.lines
    sep = b"\r\n" if crlf else b"\n"
    return sep.join(p.replace(b"\n", sep) if crlf else p for p in parts) + sep, starts


# -- the properties ---------------------------------------------------------------------------


def check(items: list[Item], lines: list[Line], starts: list[int], derived) -> None:  # noqa: ANN001
    """The reader's promises, for lines whose ids never repeat."""
    by_line: dict[int, list[Item]] = {}
    for item in items:
        by_line.setdefault(item.line, []).append(item)
    expected_lines = {s for s, line in zip(starts, lines, strict=True) if not line.blank}
    assert set(by_line) == expected_lines, "an entry for a blank line, or a line lost"
    for start, line in zip(starts, lines, strict=True):
        if line.blank:
            continue
        [item] = by_line[start]  # exactly one entry per line: no neighbour swallowed or split
        if line.question is not None:
            assert item.error is None, (line.data[:120], item.error)
            assert item.question == line.question
            assert item.id == (line.id if line.id is not None else derived(start))
        else:
            assert item.error is not None and item.error.startswith(f"line {start}: "), (line.data[:120], item)
            assert len(item.question) <= 200
        item.question.encode("utf-8")  # no lone surrogates: every entry can be written out
        item.id.encode("utf-8")
    ids = [i.id for i in items]
    assert len(ids) == len(set(ids)), "ids in the plan repeat"


def _plan(tmp_path: Path, suffix: str, data: bytes) -> list[Item]:
    path = tmp_path / f"questions{suffix}"
    path.write_bytes(data)
    return plan_batch(path, tmp_path / "answers.jsonl").items


@PROPERTY
@given(lines=lines_of(jsonl_line), bom=st.booleans(), crlf=st.booleans())
def test_jsonl_every_line_is_a_question_or_one_error_naming_it(tmp_path: Path, lines: list[Line],
                                                               bom: bool, crlf: bool) -> None:
    data, starts = _file(lines, crlf=crlf)
    items = _plan(tmp_path, ".jsonl", (b"\xef\xbb\xbf" if bom else b"") + data)
    check(items, lines, starts, lambda n: f"line-{n}")


@PROPERTY
@given(lines=lines_of(txt_line), bom=st.booleans(), crlf=st.booleans())
def test_txt_ids_are_line_n_and_only_undecodable_lines_fail(tmp_path: Path, lines: list[Line],
                                                                  bom: bool, crlf: bool) -> None:
    data, starts = _file(lines, crlf=crlf)
    items = _plan(tmp_path, ".txt", (b"\xef\xbb\xbf" if bom else b"") + data)
    check(items, lines, starts, lambda n: f"line-{n}")


@st.composite
def csv_file(draw: st.DrawFn) -> tuple[tuple[str, ...], list[Line]]:
    header = draw(st.sampled_from(CSV_HEADERS))
    count = draw(st.integers(1, 10))
    return header, [draw(csv_line(i, header)) for i in range(count)]


@PROPERTY
@given(spec=csv_file(), bom=st.booleans())
def test_csv_rows_spanning_lines_keep_their_neighbours_and_line_numbers(
    tmp_path: Path, spec: tuple[tuple[str, ...], list[Line]], bom: bool
) -> None:
    header, lines = spec
    data, starts = _file(lines, header=",".join(header).encode())
    items = _plan(tmp_path, ".csv", (b"\xef\xbb\xbf" if bom else b"") + data)
    check(items, lines, starts, lambda n: f"line-{n}")


# Ids drawn from a small pool that includes the rule's own "line-N" forms, so explicit ids
# collide with each other, with derived ids and with the ids of error entries.
ID_POOL = st.sampled_from(["a", "1", 1, "line-1", "line-2", "line-3", "line-4", " line-2 ", "", None])


@st.composite
def colliding_jsonl(draw: st.DrawFn) -> list[tuple[bytes, str | None]]:
    """(line, the id it is answered under if answered; None for a malformed line)."""
    out: list[tuple[bytes, str | None]] = []
    for n in range(1, draw(st.integers(1, 10)) + 1):
        kind = draw(st.sampled_from(["q", "q", "q", "bad", "noq", "blank"]))
        qid = draw(ID_POOL)
        obj = {} if qid is None else {"id": qid}
        if kind == "q":
            out.append((json.dumps({**obj, "question": draw(TEXT)}).encode(), str(qid or "").strip() or f"line-{n}"))
        elif kind == "noq":
            out.append((json.dumps(obj).encode(), None))
        elif kind == "bad":
            out.append((draw(st.sampled_from([b"not json", b"[1]", b"\xff", b"[" * 5000])), None))
        else:
            out.append((b"", None))
    return out


@PROPERTY
@given(rows=colliding_jsonl())
def test_ids_stay_unique_whatever_ids_the_file_uses(tmp_path: Path, rows: list[tuple[bytes, str | None]]) -> None:
    items = _plan(tmp_path, ".jsonl", b"\n".join(r for r, _ in rows) + b"\n")
    ids = [i.id for i in items]
    assert len(ids) == len(set(ids)), [(i.id, i.line, i.error) for i in items]
    assert [i.line for i in items] == [n for n, (r, _) in enumerate(rows, start=1) if r]  # one entry a line
    for at, item in enumerate(items):
        raw, wanted = rows[item.line - 1]
        assert item.error is None or item.error.startswith(f"line {item.line}: ")
        if wanted is not None:  # a good question is answered under its id unless an earlier entry has it
            if wanted in ids[:at]:
                assert item.error is not None and f"duplicate id {wanted!r}" in item.error
            else:
                assert item.error is None and item.id == wanted
        else:  # a malformed line keeps its own reason, not "duplicate" of an id the program made
            assert item.error is not None
            assert "duplicate" not in item.error or _parses(raw.decode("utf-8", "replace")), item.error


@PROPERTY
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".jsonl", ".txt", ".csv"]))
def test_arbitrary_bytes_never_raise_beyond_a_usage_error_for_a_csv_header(tmp_path: Path, data: bytes,
                                                                          suffix: str) -> None:
    path = tmp_path / f"questions{suffix}"
    path.write_bytes(data)
    try:
        items = read_questions(path)
    except UsageError as exc:
        assert suffix == ".csv" and "line 1" in exc.message  # the header row, named
        return
    nlines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    assert all(1 <= i.line <= nlines for i in items)
    assert all(i.error is None or i.error.startswith(f"line {i.line}: ") for i in items)
    ids = [i.id for i in items]
    assert len(ids) == len(set(ids))


def test_read_questions_reports_duplicates_by_line(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("id,question\nx,first\ny,second\nx,third\n,fourth\n", encoding="utf-8")
    items = read_questions(path)
    assert [(i.id, i.error) for i in items] == [
        ("x", None), ("y", None), ("line-4", "line 4: duplicate id 'x' (first at line 2)"), ("line-5", None),
    ]


def test_txt_ids_name_the_line_as_the_readme_says(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_bytes("first?\r\n\r\n  second?  \n".encode() + b"\xff third\n" + "fourth\u2028still fourth?\n".encode())
    items = read_questions(path)
    assert [(i.id, i.question, i.error) for i in items] == [
        ("line-1", "first?", None),
        ("line-3", "second?", None),
        ("line-4", "\ufffd third", "line 4: not UTF-8 text"),
        ("line-5", "fourth\u2028still fourth?", None),  # U+2028 is not a line end
    ]
