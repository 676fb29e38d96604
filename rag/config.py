"""Settings resolved once per command: defaults < RAG_* environment < flags.

Typer reads the environment for each flag (``envvar=``), so this module only holds the
resolved values and their defaults; everything below the CLI takes a Settings object
instead of reading globals, which is also how tests inject their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_INDEX = Path(".rag")
DEFAULT_EMBED = "e5*0.7+use*0.3"
DEFAULT_LLM = "local"
DEFAULT_TOP_K = 5
DEFAULT_MAX_CHARS = 700


@dataclass(frozen=True)
class Settings:
    """Where the index lives and which models shape and read it."""

    index_dir: Path = DEFAULT_INDEX
    chroma_url: str | None = None
    embed: str | None = None  # None: ingest uses DEFAULT_EMBED, questions use what built the index
    llm: str = DEFAULT_LLM
    top_k: int = DEFAULT_TOP_K
    max_chars: int = DEFAULT_MAX_CHARS
    threads: int | None = None

    @property
    def chunking(self) -> str:
        """Recorded in the index: chunks made under other settings would not match."""
        return f"paragraph-v1:max_chars={self.max_chars}"
