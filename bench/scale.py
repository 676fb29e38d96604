"""Question-time speed at scale: retrieval and answer latency over 10k-100k paragraphs.

    python bench/scale.py --size 10000 [--embed SPEC] [--server] [--ttft 15]
                          [--concurrent 4] [--out bench/out]

For one corpus size (the perturbed sample-corpus paragraphs of bench/ingest.py) and one
store (embedded ``PersistentClient``, or with ``--server`` a real ``chroma run`` on
127.0.0.1 started and stopped here) it prints one markdown row:

* ingest s and peak RSS of ``rag ingest`` run as a user runs it (a fresh process; its
  max RSS from ``getrusage(RUSAGE_CHILDREN)``), and the index size on disk. The corpus
  and index are kept under OUT/scale/ and reused: a second run re-ingests unchanged
  files (fast) and then says so in the "ingest" column;
* keyword index build s (the first question after an ingest builds and saves it) and the
  first question's retrieval ms in a later process (which loads it);
* retrieval ms p50/p95 over the eval/dev + eval/heldout questions, two rounds, first
  question excluded (it loads the keyword index);
* ``ask --llm none`` ms p50/p95 (retrieval + sentence selection + citation check);
* with ``--ttft N``: the embedded LLM's time to first token and total, median over the
  first N dev questions;
* with ``--concurrent N``: N ``rag ask --llm none --json`` processes started at once
  against the same index; how many succeeded and the slowest wall time.

Targets (issues): retrieval median <= 150 ms at 10k, p95 <= 300 ms at 100k; median time
to first token <= 8 s; several concurrent asks against one Chroma server all succeed.
Results are merged into OUT/scale.json (the latest run per size/store/embedder wins).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAG = Path(sys.executable).with_name("rag")
CHROMA = Path(sys.executable).with_name("chroma")


def _ingest_bench():  # type: ignore[no-untyped-def]
    """bench/ingest.py, for its corpus builder (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("chroma run did not answer in 60 s")


def disk_mib(folder: Path) -> float:
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) / 2**20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--embed", default=None, help="embedder spec (default: rag.config.DEFAULT_EMBED)")
    ap.add_argument("--server", action="store_true", help="use a real `chroma run` server instead of the embedded store")
    ap.add_argument("--ttft", type=int, default=0, help="also time the embedded LLM on this many dev questions")
    ap.add_argument("--concurrent", type=int, default=0, help="also start this many `rag ask` processes at once")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()

    from rag.config import DEFAULT_EMBED, ModelSettings, Settings, StoreSettings

    embed = args.embed or DEFAULT_EMBED
    store = "server" if args.server else "embedded"
    work = args.out / "scale"
    corpus = work / f"corpus-{args.size}"
    if not corpus.exists():
        _ingest_bench().write_corpus(corpus, args.size, max(2, args.size // 50))
    tag = f"{args.size}-{embed.replace('*', 'x').replace('+', '_')}-{store}"
    index_dir = work / f"index-{tag}"
    server = None
    url = None
    if args.server:
        server, url = start_server(work / f"chroma-{tag}")
    try:
        flags = ["--index", str(index_dir), "--embed", embed] + (["--chroma-url", url] if url else [])
        started = time.perf_counter()
        done = subprocess.run([str(RAG), "ingest", str(corpus), *flags, "--json"], capture_output=True, text=True)
        ingest_s = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"rag ingest failed: {done.stderr.strip()}")
        report = json.loads(done.stdout)
        rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        fresh = report["added"] > 0
        size_mib = disk_mib(work / f"chroma-{tag}" if args.server else index_dir)

        from rag import evaluate as ev
        from rag.answer import Assistant

        settings = Settings(store=StoreSettings(index_dir=index_dir, chroma_url=url), models=ModelSettings(embed=embed, llm="none"))
        questions = ev.load_questions(ROOT / "eval" / "dev.jsonl") + ev.load_questions(ROOT / "eval" / "heldout.jsonl")
        settings.store.keyword_cache.unlink(missing_ok=True)  # time the build, as the first ask after an ingest pays it
        t = time.perf_counter()
        Assistant(settings).retriever.keywords
        build_s = time.perf_counter() - t
        assistant = Assistant(settings)  # a later process: loads the saved keyword index
        t = time.perf_counter()
        assistant.retriever.retrieve(questions[0].question, settings.retrieval.top_k)
        first_s = time.perf_counter() - t
        retrieval = [assistant.retriever.retrieve(q.question, settings.retrieval.top_k).ms
                     for _ in range(2) for q in questions[1:]]
        asks = [assistant.ask(q.question).answer.timings_ms["total"] for q in questions[1:]]
        row: dict[str, object] = {
            "size": args.size, "store": store, "embed": embed,
            "paragraphs": report["paragraphs"], "chunks": report["chunks"],
            "ingest_s": round(ingest_s, 1), "ingest": "first" if fresh else "unchanged re-ingest",
            "peak_rss_mib": round(rss_mib), "index_mib": round(size_mib, 1),
            "keyword_index_build_s": round(build_s, 2), "first_question_ms": round(first_s * 1000, 1),
            "retrieval_ms_p50": pct(retrieval, 0.5), "retrieval_ms_p95": pct(retrieval, 0.95),
            "ask_none_ms_p50": pct(asks, 0.5), "ask_none_ms_p95": pct(asks, 0.95),
            "load_avg": round(os.getloadavg()[0], 2),
        }
        if args.ttft:
            local = Assistant(replace(settings, models=replace(settings.models, llm="local")))
            timed = [local.ask(q.question).answer.timings_ms for q in questions[: args.ttft]]
            firsts = [t["first_token"] for t in timed if t.get("first_token")]
            row["ttft_ms_median"] = round(statistics.median(firsts), 1) if firsts else None
            row["local_total_ms_median"] = round(statistics.median(t["total"] for t in timed), 1)
        if args.concurrent:
            cmd = [str(RAG), "ask", "How many SCO companies are in Chongqing?", *flags, "--llm", "none", "--json"]
            t = time.perf_counter()
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(args.concurrent)]
            results = [p.communicate() + (p.returncode,) for p in procs]
            ok = sum(1 for out, _, rc in results if rc == 0 and json.loads(out).get("citations"))
            row["concurrent_ok"] = f"{ok}/{args.concurrent}"
            row["concurrent_wall_s"] = round(time.perf_counter() - t, 1)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)

    results_file = args.out / "scale.json"
    rows = json.loads(results_file.read_text()) if results_file.exists() else []
    rows = [r for r in rows if (r["size"], r["store"], r["embed"]) != (args.size, store, embed)] + [row]
    results_file.write_text(json.dumps(rows, indent=1))
    print("| " + " | ".join(row) + " |")
    print("|" + "---|" * len(row))
    print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
