"""The log of what was asked: every ``rag ask`` and ``rag chat`` answer, in SQLite.

    Recorder.for_assistant(assistant, "ask")   appends one row per answer (cli.py passes it in)
    latest(path, n, search)                     newest first, for ``rag logs``
    log_path()                                  <data dir>/logs.db (``rag logs path``)

As people know it from simonw/llm's ``llm logs``: on by default, ``--no-log`` or
``RAG_LOG=0`` turns it off, ``rag logs -q TERM`` searches question and answer text.

Why it can't lose or break anything:

- One transaction per answer (``BEGIN IMMEDIATE`` ... ``COMMIT``) in WAL mode, so a
  process killed mid-write leaves the log as it was before that answer or after it,
  never half a row (SQLite's journal guarantees it; ``tests/test_logs.py`` SIGKILLs
  a writer and checks the file). ``synchronous=NORMAL`` is durable against a killed
  process; only a power cut can lose the last few answers, never the file.
- A log that can't be written (read-only or missing folder, full disk, a file that
  isn't a database, one from a newer rag) costs that entry and one line on stderr,
  never the answer: the answer is printed before it is logged.
- The schema is versioned with ``PRAGMA user_version``; ``_MIGRATIONS`` lists each
  step, applied once, in order. A newer schema than this rag knows is left untouched.

Search folds text the way keyword search does (``rag.lang.normalize``: case, Arabic
letter variants and digits, traditional to simplified Chinese), so ``-q 重庆`` finds an
answer that says 重慶. The folded question and answer are stored with each row
(``folded``): folding at read time took 4.3 s to scan 10,000 rows for a word none
holds, the stored column 36 ms. A change to the folding would refold them in a migration.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import data_dir
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.answer import Assistant
    from rag.types import Answer

LOG_FILE = "logs.db"
BUSY_MS = 5000  # two rag processes logging at once: the second waits for the first's commit

_MIGRATIONS = [
    """
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        datetime_utc TEXT NOT NULL,
        command TEXT NOT NULL,
        conversation TEXT,
        question TEXT NOT NULL,
        asked TEXT NOT NULL,
        answer TEXT NOT NULL,
        abstained INTEGER NOT NULL,
        language TEXT NOT NULL,
        citations_json TEXT NOT NULL,
        timings_json TEXT NOT NULL,
        model TEXT NOT NULL,
        index_location TEXT NOT NULL,
        error TEXT,
        folded TEXT NOT NULL
    )
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)


def log_path() -> Path:
    """Where the log lives: ``<data dir>/logs.db`` (RAG_DATA_DIR moves the data dir)."""
    return data_dir() / LOG_FILE


@dataclass(frozen=True)
class Entry:
    """One logged answer. ``question`` is what was searched and answered (a chat follow-up
    as rewritten into a standalone question); ``asked`` is what the person typed.
    ``conversation`` groups the answers of one ``rag chat`` session (None for ``ask``)."""

    id: int
    datetime_utc: str
    command: str
    conversation: str | None
    question: str
    asked: str
    answer: str
    abstained: bool
    language: str
    citations: list[dict[str, Any]]
    timings_ms: dict[str, float]
    model: str
    index: str
    error: str | None


class LogError(RagError):
    """The log could not be opened, read or written; the message names the file and why."""


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open PATH in WAL mode with its schema brought up to SCHEMA_VERSION.

    ``create=False`` (reading) never makes a file or folder. A newer schema is refused
    and left as it is: its columns may mean something this version does not know.
    """
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"{path.resolve().as_uri()}?mode={'rwc' if create else 'ro'}"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise LogError(f"cannot open the log {path}: {exc}") from exc
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LogError(f"the log {path} has schema version {version}; this rag writes {SCHEMA_VERSION}: "
                           "a newer rag made it", "use that rag, or move the file aside to start a new log")
        if create:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            _migrate(conn, version)
    except sqlite3.Error as exc:
        conn.close()
        raise LogError(f"cannot use the log {path}: {exc}", "move the file aside to start a new log") from exc
    except LogError:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply each migration past VERSION in its own transaction, re-reading the version
    inside it so two processes creating the log at once apply each step once."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < target:
                conn.execute(_MIGRATIONS[target - 1])
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # already rolled back by SQLite; the error below says why
            raise


def append(path: Path, answer: Answer, *, asked: str, command: str, model: str, index: str,
           conversation: str | None = None) -> int:
    """Append ANSWER as one row in one transaction; returns its id. LogError if it can't."""
    from rag.lang import normalize

    row = (
        datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        command, conversation, answer.question, asked, answer.answer, int(answer.abstained), answer.language,
        json.dumps([asdict(c) for c in answer.citations], ensure_ascii=False),
        json.dumps(answer.timings_ms), model, index, answer.error,
        normalize("\n".join((answer.question, asked, answer.answer))),
    )
    conn = _connect(path, create=True)
    try:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "INSERT INTO answers (datetime_utc, command, conversation, question, asked, answer, abstained, "
            "language, citations_json, timings_json, model, index_location, error, folded) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        conn.execute("COMMIT")
        return int(cur.lastrowid or 0)
    except sqlite3.Error as exc:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite rolled back itself (an I/O error does); the journal keeps the file whole
        raise LogError(f"cannot write the log {path}: {exc}") from exc
    finally:
        conn.close()


def latest(path: Path, n: int = 10, search: str | None = None) -> list[Entry]:
    """The N newest entries (all when N is 0), newest first. SEARCH keeps those whose
    question, typed question or answer holds every word of it, folded (see above)."""
    if not path.exists():
        return []
    from rag.lang import normalize

    words = [normalize(w) for w in (search or "").split()]
    where = " WHERE " + " AND ".join(["instr(folded, ?) > 0"] * len(words)) if words else ""
    conn = _connect(path, create=False)
    try:
        limit = " LIMIT ?" if n > 0 else ""
        rows = conn.execute(
            "SELECT id, datetime_utc, command, conversation, question, asked, answer, abstained, language, "
            f"citations_json, timings_json, model, index_location, error FROM answers{where} ORDER BY id DESC{limit}",
            [*words, n] if n > 0 else words,
        ).fetchall()
    except sqlite3.Error as exc:
        raise LogError(f"cannot read the log {path}: {exc}") from exc
    finally:
        conn.close()
    return [
        Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], json.loads(r[9]), json.loads(r[10]),
              r[11], r[12], r[13])
        for r in rows
    ]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Recorder:
    """Appends each answer of one ``rag ask`` or ``rag chat`` session to the log.

    Called as ``recorder(answer, asked)`` after the answer is shown. A failure to log
    writes one line through ``warn`` (stderr) and is otherwise swallowed: the log is a
    convenience, the answer is the product.
    """

    def __init__(self, command: str, model: str, index: str, *, path: Path | None = None,
                 warn: Callable[[str], None] = _stderr) -> None:
        self.command = command
        self.model = model
        self.index = index
        self.path = path or log_path()
        self.warn = warn
        self.conversation = uuid.uuid4().hex if command == "chat" else None

    @classmethod
    def for_assistant(cls, assistant: Assistant, command: str, **kwargs: Any) -> Recorder:
        """A recorder naming ASSISTANT's model and index (a server URL, or the index folder)."""
        s = assistant.settings
        model = assistant.llm.id if assistant.llm is not None else "none"
        return cls(command, model, s.store.chroma_url or str(s.store.index_dir.resolve()), **kwargs)

    def __call__(self, answer: Answer, asked: str | None = None) -> None:
        try:
            append(self.path, answer, asked=answer.question if asked is None else asked, command=self.command,
                   model=self.model, index=self.index, conversation=self.conversation)
        except (LogError, sqlite3.Error, OSError) as exc:  # sqlite3/OSError: closing a broken file
            self.warn(f"rag: this answer was not logged: {getattr(exc, 'message', exc)} "
                      "(--no-log or RAG_LOG=0 turns the log off)")
