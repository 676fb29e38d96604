"""Prompt templates live in ``prompts/*.txt``; this module loads and checks them.

Each template declares its ``{placeholders}``; loading fails at once if a file uses a
placeholder the code does not fill (or misses one it needs), instead of failing on the
first question. A literal brace in a template (a JSON example) is written
doubled, ``{{`` and ``}}``, as in ``str.format``.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from rag.errors import RagError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

PLACEHOLDERS: dict[str, set[str]] = {
    "answer_system": set(),
    "answer_user": {"evidence", "question", "language"},
    "answer_user_parts": {"evidence", "question", "language"},
    "evidence_group": {"document", "sentences"},
    "rewrite": {"history", "question", "language"},
}


@cache
def load(name: str) -> str:
    """The template ``prompts/NAME.txt``, checked against its declared placeholders."""
    path = PROMPTS_DIR / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RagError(f"prompt template {path} cannot be read: {exc.strerror}") from exc
    used = {field for _, field, _, _ in string.Formatter().parse(text) if field}
    expected = PLACEHOLDERS[name]
    if used != expected:
        raise RagError(
            f"prompt template {path} uses placeholders {sorted(used)}, expected {sorted(expected)}"
        )
    return text


def render(name: str, **values: str) -> str:
    return load(name).format(**values)
