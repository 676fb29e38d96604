"""Ingest speed, memory and index size on corpora of 1k, 10k and 100k distinct paragraphs.

    python bench/ingest.py [--sizes 1000,10000] [--embed SPEC] [--files-per-corpus N]
                           [--out bench/out] [--profile] [--keep]

Corpora are made from the 95 paragraphs of examples/corpus/*.txt (Arabic, Chinese and
English), each copy perturbed so no two paragraphs are identical: a few words (or, for
unspaced Chinese, a few characters) of another paragraph in the same script are inserted
at a space, and the paragraph's serial number is appended as words in its own script
("(ref. one two three)", "(رقم واحد اثنان)", "（编号一二三）"). Paragraphs go ~50 to a
.txt file, separated by blank lines, so the SPEC 2 paragraph rule gives exactly N
paragraphs (checked against the ingest report).

Each size runs in a fresh subprocess, so peak RSS (ru_maxrss) is that size's own:

1. load the embedder and embed 8 texts to warm it up ("model load s", not counted below);
2. first ingest: ``rag.ingest.ingest([corpus], Settings(store=StoreSettings(index_dir=tmp), models=ModelSettings(embed=SPEC)))``;
3. raw embedding: the same chunk texts, in the pipeline's order (smallest file first), in
   batches of rag.ingest.MAX_BATCH, through the same loaded embedder's ``embed_passages``.
   The pipeline's own batches are sized to take ~0.5 s each (so Ctrl-C gets through), so
   their cost against big batches counts as overhead. Overhead = (ingest s - raw embed s)
   / raw embed s, by wall clock and by process CPU time;
4. unchanged re-ingest in the same process (models loaded, modules imported);

then, after the child exits, an unchanged re-ingest through the CLI in another fresh
process (``rag ingest CORPUS --index ... --json``: what a user waits for, Python start-up
and `import chromadb` included), and the index size on disk (allocated blocks, like ``du``).

During the first ingest the benchmark also times every ``embed_passages`` call the
pipeline makes ("embedding s in ingest"); the remainder ("rest of ingest s": reading,
chunking, Chroma writes, `import chromadb`) over it is the pipeline overhead measured at
the same moments. Prefer it to the two-pass figure: on this 2-core VM the same embedding
pass varies by about +-10% from run to run even when idle, which is the size of the
effect being measured (the two-pass overhead came out at -10% .. +19%).

Targets (issue): overhead <= 15% over raw embedding; unchanged re-ingest of 10k
paragraphs < 2 s; peak RSS at 100k < 2 GiB.

The machine's load average is printed before each size: other processes on a 2-core
machine inflate the wall-clock times 2-7x (seen: `use` at 35 paragraphs/s under a load
of ~5 and 230/s idle).

How long it takes, measured on 2 cores (AMD EPYC VM) with nothing else running; each size
embeds everything twice (ingest, then the raw pass):

    embed             paragraphs/s   1k       10k       100k (estimate)
    e5*0.7+use*0.3    ~14            ~2.5 min ~25 min   ~4.5 h
    use               ~200-230       ~20 s    ~1.6 min  ~25 min

The 100k estimate adds Chroma's write cost, which grows with the collection (~1.3 ms per
chunk at 10k, ~3 ms at 30k, 512-896 dims). Under load (other jobs on the cores) multiply
by 2-4: 1k with the default embedder took 4 min at a load of ~4-7. Results are merged
into ``OUT/ingest.json`` (one row per embedder and size; the latest run wins).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import math
import os
import platform
import pstats
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "corpus"
PER_FILE = 50

_NUMBER_WORDS = {
    "latin": "zero one two three four five six seven eight nine".split(),
    "arabic": "صفر واحد اثنان ثلاثة أربعة خمسة ستة سبعة ثمانية تسعة".split(),
    "cjk": list("零一二三四五六七八九"),
}


# -- corpus -------------------------------------------------------------------------------
def _script(text: str) -> str:
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    arabic = sum(1 for ch in text if "\u0600" <= ch <= "\u06ff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return max((cjk, "cjk"), (arabic, "arabic"), (latin, "latin"))[1]


def _serial(i: int, script: str) -> str:
    words = _NUMBER_WORDS[script]
    digits = [words[int(d)] for d in str(i)]
    if script == "cjk":
        return "（编号" + "".join(digits) + "）"
    if script == "arabic":
        return " (رقم " + " ".join(digits) + ")"
    return " (ref. " + " ".join(digits) + ")"


def sample_paragraphs() -> list[str]:
    """The 95 paragraphs of the sample corpus, by the same reader ingest uses."""
    from rag.documents import read_document

    texts = [p.text for f in sorted(SAMPLE.glob("*.txt")) for p in read_document(f, f.name).paragraphs]
    if not texts:
        raise SystemExit(f"no paragraphs in {SAMPLE}")
    return texts


def perturbed(n: int) -> list[str]:
    """N distinct paragraphs, deterministic: sample paragraph i % 95, round r = i // 95."""
    base = sample_paragraphs()
    scripts = [_script(t) for t in base]
    same: dict[str, list[int]] = {}
    for k, s in enumerate(scripts):
        same.setdefault(s, []).append(k)
    out: list[str] = []
    for i in range(n):
        k, r = i % len(base), i // len(base)
        text, script = base[k], scripts[k]
        group = same[script]
        donor = base[group[(group.index(k) + 1 + r) % len(group)]]
        tokens = donor.split()
        if len(tokens) >= 8:
            start = (r * 3) % (len(tokens) - 4)
            snippet = " ".join(tokens[start : start + 3 + r % 3])
        else:  # unspaced (Chinese) text: take characters instead of words
            chars = "".join(donor.split())
            start = (r * 5) % max(1, len(chars) - 10)
            snippet = chars[start : start + 6 + r % 4]
        spaces = [m.start() for m in re.finditer(" ", text)]
        if spaces:
            at = spaces[(r * 7) % len(spaces)]
            text = f"{text[:at]} {snippet}{text[at:]}"
        else:
            at = len(text) // 3
            while at < len(text) and text[at] == "\n":
                at += 1
            text = text[:at] + snippet + text[at:]
        out.append(text + _serial(i, script))
    if len(set(out)) != n:
        raise AssertionError("perturbed paragraphs are not all distinct")
    return out


def write_corpus(folder: Path, n: int, files: int) -> None:
    """N paragraphs in FILES text files, blank-line separated, at least 2 per file (a
    file with one multi-line paragraph would be read as one paragraph per line)."""
    if n < 2 * files:
        raise SystemExit(f"{n} paragraphs cannot fill {files} files with at least 2 each")
    paragraphs = perturbed(n)
    folder.mkdir(parents=True)
    for j in range(files):
        part = paragraphs[j * n // files : (j + 1) * n // files]
        (folder / f"doc_{j:05d}.txt").write_text("\n\n".join(part) + "\n", encoding="utf-8")


# -- measuring ----------------------------------------------------------------------------
def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def disk_bytes(folder: Path) -> int:
    """Allocated bytes under FOLDER, as ``du`` counts them."""
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def pipeline_groups(corpus: Path, max_chars: int) -> list[list[str]]:
    """The chunk texts ingest embeds, in its order (see rag.ingest), cut into MAX_BATCH."""
    from rag.chunks import chunk_paragraphs
    from rag.documents import read_document
    from rag.ingest import MAX_BATCH
    from rag.sources import find_sources

    sources, _ = find_sources([corpus])
    files = []
    for source in sources:
        chunks = chunk_paragraphs(read_document(source.path, source.relpath).paragraphs, max_chars)
        files.append((len(chunks), source.relpath, [c.text for c in chunks]))
    texts = [t for _, _, file_texts in sorted(files) for t in file_texts]
    return [texts[i : i + MAX_BATCH] for i in range(0, len(texts), MAX_BATCH)]


def child(args: argparse.Namespace) -> None:
    """One size, in its own process: warm-up, first ingest, raw embedding, re-ingest."""
    from rag.config import ModelSettings, Settings, StoreSettings
    from rag.embeddings import load_embedder
    from rag.ingest import ingest

    corpus, n, files = args.corpus, args.size, args.files
    settings = Settings(store=StoreSettings(index_dir=args.index), models=ModelSettings(embed=args.embed))
    res: dict[str, object] = {"size": n, "files": files, "embed": args.embed}

    t = time.perf_counter()
    embedder = load_embedder(args.embed, settings.models.threads)
    embedder.embed_passages(sample_paragraphs()[:8])
    res["model_load_s"] = time.perf_counter() - t
    res["embedder"] = embedder.id

    started = time.perf_counter()
    shown = [0.0]

    def progress(done: int, total: int) -> None:  # called after every ~0.5 s batch: print every 10 s
        spent = time.perf_counter() - started
        if done == total or spent - shown[0] >= 10:
            shown[0] = spent
            print(f"  [{n}] {done}/{total} chunks, {spent:.0f} s", file=sys.stderr, flush=True)

    # Time the embedder's calls inside the ingest too (an instance attribute shadows the
    # method of the very object ingest gets from load_embedder's cache): embedding vs the
    # rest of the pipeline, measured at the same moments, so contention cancels out.
    inside = {"wall": 0.0, "cpu": 0.0}
    embed = embedder.embed_passages

    def timed_embed(texts: list[str]):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), _cpu()
        try:
            return embed(texts)
        finally:
            inside["wall"] += time.perf_counter() - t0
            inside["cpu"] += _cpu() - c0

    embedder.embed_passages = timed_embed  # type: ignore[method-assign]
    res["load_before_ingest"] = os.getloadavg()
    profiler = cProfile.Profile() if args.profile else None
    t, c = time.perf_counter(), _cpu()
    if profiler:
        profiler.enable()
    report = ingest([corpus], settings, progress=progress)
    if profiler:
        profiler.disable()
    res["ingest_s"], res["ingest_cpu_s"] = time.perf_counter() - t, _cpu() - c
    embedder.embed_passages = embed  # type: ignore[method-assign]
    res["embed_in_ingest_s"], res["embed_in_ingest_cpu_s"] = inside["wall"], inside["cpu"]
    if report.paragraphs != n or report.added != files or report.skipped:
        raise AssertionError(f"expected {n} paragraphs in {files} added files, got {report}")
    res["paragraphs"], res["chunks"] = report.paragraphs, report.chunks

    res["load_before_raw"] = os.getloadavg()
    t = time.perf_counter()
    groups = pipeline_groups(corpus, settings.store.max_chars)
    res["parse_s"] = time.perf_counter() - t
    if sum(map(len, groups)) != report.chunks:
        raise AssertionError(f"{sum(map(len, groups))} chunk texts, ingest made {report.chunks}")
    res["groups"] = len(groups)
    t, c = time.perf_counter(), _cpu()
    for texts in groups:
        embedder.embed_passages(texts)
    res["raw_embed_s"], res["raw_embed_cpu_s"] = time.perf_counter() - t, _cpu() - c

    t = time.perf_counter()
    again = ingest([corpus], settings)
    res["reingest_s"] = time.perf_counter() - t
    if again.unchanged != files or again.added or again.updated or again.removed:
        raise AssertionError(f"re-ingest of an unchanged corpus changed something: {again}")

    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.result.write_text(json.dumps(res))
    if profiler:
        path = args.out / f"ingest-{n}.prof"
        profiler.dump_stats(path)
        print(f"\nprofile of the first ingest ({path}), top by cumulative time:", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(20)


def run_size(args: argparse.Namespace, n: int) -> dict[str, object]:
    files = args.files_per_corpus or max(1, math.ceil(n / PER_FILE))
    tmp = Path(tempfile.mkdtemp(prefix=f"rag-bench-{n}-"))
    try:
        corpus, index, result = tmp / "corpus", tmp / "index", tmp / "result.json"
        write_corpus(corpus, n, files)
        load = os.getloadavg()
        print(f"size {n}: {files} files in {corpus}; load average before: "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr, flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--corpus", str(corpus),
               "--index", str(index), "--embed", args.embed, "--size", str(n), "--files", str(files),
               "--result", str(result), "--out", str(args.out)] + (["--profile"] if args.profile else [])
        subprocess.run(cmd, check=True)
        res = json.loads(result.read_text())
        res["load_before"] = load

        # What a user waits for: `rag ingest` in a fresh process on an unchanged corpus.
        rag = Path(sys.executable).with_name("rag")
        t, c = time.perf_counter(), _children_cpu()
        out = subprocess.run([str(rag), "ingest", str(corpus), "--index", str(index), "--embed", args.embed,
                              "--json"], check=True, capture_output=True, text=True)
        res["reingest_cli_s"], res["reingest_cli_cpu_s"] = time.perf_counter() - t, _children_cpu() - c
        cli = json.loads(out.stdout)
        if cli["unchanged"] != files or cli["added"] or cli["updated"]:
            raise AssertionError(f"CLI re-ingest changed something: {cli}")
        res["index_mib"] = disk_bytes(index) / 2**20
        res["corpus_mib"] = disk_bytes(corpus) / 2**20
        res["paragraphs_per_s"] = n / res["ingest_s"]
        res["raw_paragraphs_per_s"] = n / res["raw_embed_s"]
        res["overhead"] = (res["ingest_s"] - res["raw_embed_s"]) / res["raw_embed_s"]
        res["overhead_cpu"] = (res["ingest_cpu_s"] - res["raw_embed_cpu_s"]) / res["raw_embed_cpu_s"]
        res["rest_s"] = res["ingest_s"] - res["embed_in_ingest_s"]
        res["overhead_inside"] = res["rest_s"] / res["embed_in_ingest_s"]
        return res
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# -- report -------------------------------------------------------------------------------
def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "memory": mem, "python": platform.python_version()}


HEADER = ("| size | files | chunks | load avg before (1/5/15 min) | model load s | first ingest s | paragraphs/s "
          "| raw embed s | raw paragraphs/s | overhead % (wall) | overhead % (CPU) "
          "| embedding s in ingest | rest of ingest s | rest / embedding % | re-ingest s (in process) "
          "| re-ingest s (fresh `rag ingest`) | peak RSS MiB | index MiB |")


def row(r: dict[str, object]) -> str:
    load = " ".join(f"{x:.2f}" for x in r["load_before"])
    return (f"| {r['size']} | {r['files']} | {r['chunks']} | {load} | {r['model_load_s']:.1f} | {r['ingest_s']:.1f} "
            f"| {r['paragraphs_per_s']:.1f} | {r['raw_embed_s']:.1f} | {r['raw_paragraphs_per_s']:.1f} "
            f"| {100 * r['overhead']:.1f} | {100 * r['overhead_cpu']:.1f} | {r['embed_in_ingest_s']:.1f} "
            f"| {r['rest_s']:.1f} | {100 * r['overhead_inside']:.1f} | {r['reingest_s']:.2f} "
            f"| {r['reingest_cli_s']:.2f} (CPU {r['reingest_cli_cpu_s']:.2f}) | {r['peak_rss_mib']:.0f} | {r['index_mib']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated paragraph counts")
    ap.add_argument("--embed", default=None, help="embedder spec (default: rag.config.DEFAULT_EMBED)")
    ap.add_argument("--files-per-corpus", type=int, default=None,
                    help=f"files per corpus (default: one per {PER_FILE} paragraphs)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--profile", action="store_true", help="cProfile the first ingest; write OUT/ingest-SIZE.prof")
    ap.add_argument("--keep", action="store_true", help="keep the temporary corpus and index")
    # internal: one size in a child process
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--files", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.embed is None:
        from rag.config import DEFAULT_EMBED

        args.embed = DEFAULT_EMBED
    if args.child:
        child(args)
        return

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        r = run_size(args, n)
        r.update(command=command, date=date, machine=info)
        rows.append(r)
        print(f"  done {n}: {row(r)}", file=sys.stderr, flush=True)

    print(f"command: {command}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}, {info['memory']} RAM, Python {info['python']}")
    print(f"date:    {date}")
    print(f"embed:   {args.embed} ({rows[0]['embedder'] if rows else '?'})\n")
    print(HEADER)
    print("|" + "---|" * HEADER.count(" |"))
    for r in rows:
        print(row(r))

    path = args.out / "ingest.json"
    try:
        kept = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        kept = []
    fresh = {(r["embed"], r["size"]) for r in rows}
    merged = [r for r in kept if (r["embed"], r["size"]) not in fresh] + rows
    merged.sort(key=lambda r: (r["embed"], r["size"]))
    path.write_text(json.dumps({"rows": merged}, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
