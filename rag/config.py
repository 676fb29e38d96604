"""Settings resolved once per command: defaults < RAG_* environment < flags.

Typer reads the environment for each flag (``envvar=``), so this module only holds the
resolved values and their defaults; everything below the CLI takes a Settings object
instead of reading globals, which is also how tests inject their own.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_INDEX = Path(".rag")
DEFAULT_EMBED = "e5*0.7+use*0.3"
DEFAULT_LLM = "local"
DEFAULT_TOP_K = 5
DEFAULT_MAX_CHARS = 700


def cache_dir() -> Path:
    """Where rag keeps what it can rebuild (the assembled LLM, keyword indexes of servers):
    ``platformdirs.user_cache_dir("rag")``, or RAG_CACHE_DIR when set."""
    import platformdirs

    return Path(os.environ.get("RAG_CACHE_DIR") or platformdirs.user_cache_dir("rag"))


def data_dir() -> Path:
    """Where rag keeps what a person would miss if it were deleted (the chat history, the
    log of answers): ``platformdirs.user_data_dir("rag")``, or RAG_DATA_DIR when set."""
    import platformdirs

    return Path(os.environ.get("RAG_DATA_DIR") or platformdirs.user_data_dir("rag"))


def env_threads() -> int | None:
    """RAG_THREADS, when set: the thread count for the embedders and the local LLM (None: one
    per core). A second busy process slows threads = cores down badly, so a user sharing the
    machine (or a test run beside another) sets it lower."""
    value = os.environ.get("RAG_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@dataclass(frozen=True)
class Settings:
    """Where the index lives and which models shape and read it."""

    index_dir: Path = DEFAULT_INDEX
    chroma_url: str | None = None
    embed: str | None = None  # None: ingest uses DEFAULT_EMBED, questions use what built the index
    llm: str = DEFAULT_LLM
    top_k: int = DEFAULT_TOP_K
    max_chars: int = DEFAULT_MAX_CHARS
    threads: int | None = field(default_factory=lambda: env_threads())

    @property
    def chunking(self) -> str:
        """Recorded in the index: chunks made under other settings would not match."""
        return f"paragraph-v1:max_chars={self.max_chars}"

    @property
    def keyword_cache(self) -> Path:
        """Where the keyword index is kept between processes (see rag.keywords): beside an
        embedded store, or in the cache directory, per server URL, for a Chroma server."""
        if not self.chroma_url:
            return self.index_dir / "keywords.npz"
        return cache_dir() / "keywords" / f"{hashlib.sha256(self.chroma_url.encode()).hexdigest()[:16]}.npz"
