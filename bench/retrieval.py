"""Retrieval quality on evaluation sets, per question kind and per language pair.

    python bench/retrieval.py --index IX eval/dev.jsonl eval/heldout.jsonl --rows rows.json
    python bench/retrieval.py --index IX-WIKI eval/wiki/cross.jsonl eval/wiki/qa.jsonl --against old.json
    python bench/retrieval.py --corpus examples/corpus --embed e5 eval/dev.jsonl   # a temporary index

Runs ``Retriever.retrieve`` (no LLM) on every answerable question and prints hit@5, hit@3
and MRR (over the top k) by kind and by question language -> gold paragraph language: the
answer stage shows evidence from the top ~5 passages, so both cut-offs matter. ``--rows``
keeps one JSON row per question (its rank and retrieved paragraphs) so that a change in a
table can be traced to the questions it moved; ``--against`` prints those moves against
an earlier rows file. ``--option NAME=VALUE`` sets a Retriever keyword argument (a number),
to compare settings on the same index. ``--simplified`` asks the Chinese questions in
simplified characters (OpenCC t2s): the corpora are traditional, and a user may type either.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from rag.chunks import chunk_id
from rag.config import ModelSettings, Settings, StoreSettings
from rag.embeddings import load_embedder
from rag.evaluate import Question, load_questions
from rag.index import Index, open_index
from rag.lang import detect_language
from rag.retrieval import Retriever


def gold_pair(index: Index, q: Question) -> str:
    """'zh->ar': the question's language and its gold paragraphs' language(s)."""
    found = index.chunks_with_vectors([chunk_id(f, p, 0) for f, p in sorted(q.gold)])
    return f"{q.language}->" + "+".join(sorted({detect_language(c.text) for c, _ in found}))


def run(index: Index, retriever: Retriever, questions: list[Question], k: int) -> list[dict[str, Any]]:
    rows = []
    for q in questions:
        got = retriever.retrieve(q.question, k)
        keys = [(h.chunk.file, h.chunk.paragraph.number) for h in got.hits]
        rank = next((i for i, key in enumerate(keys, 1) if key in q.gold), None)
        rows.append({
            "id": q.id, "language": q.language, "kind": q.kind, "pair": gold_pair(index, q),
            "question": q.question, "gold": sorted(q.gold), "rank": rank, "ms": round(got.ms, 1),
            "hits": [{"file": h.chunk.file, "paragraph": h.chunk.paragraph.number, "score": round(h.score, 4),
                      "via": list(h.via)} for h in got.hits],
        })
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        pair = "multi" if r["kind"] == "multi-document" else "pair"
        for g in ("all", f"kind {r['kind']}", f"{pair} {r['pair']}"):
            groups[g].append(r)
    lines = [f"{'group':28} {'n':>4} {'hit@5':>6} {'hit@3':>6} {'MRR':>5}"]
    for g, rs in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        hit5 = sum(r["rank"] is not None and r["rank"] <= 5 for r in rs) / len(rs)
        hit3 = sum(r["rank"] is not None and r["rank"] <= 3 for r in rs) / len(rs)
        mrr = sum(1 / r["rank"] for r in rs if r["rank"]) / len(rs)
        lines.append(f"{g:28} {len(rs):>4} {hit5:>6.0%} {hit3:>6.0%} {mrr:>5.2f}")
    return "\n".join(lines)


def moves(rows: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[str]:
    old = {r["id"]: r["rank"] for r in before}
    out = []
    for r in rows:
        if r["id"] in old and old[r["id"]] != r["rank"]:
            out.append(f"{r['id']:18} {r['pair']:10} rank {old[r['id']]} -> {r['rank']}  {r['question']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("evalsets", type=Path, nargs="+")
    ap.add_argument("--index", type=Path, help="an index built with `rag ingest --index IX CORPUS`")
    ap.add_argument("--corpus", type=Path, help="instead of --index: build a temporary index of this folder")
    ap.add_argument("--embed", default=None, help="embedder for --corpus (default: rag's)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--rows", type=Path, help="write one JSON row per question here")
    ap.add_argument("--against", type=Path, help="print questions whose rank differs from this rows file")
    ap.add_argument("--option", action="append", default=[], help="Retriever keyword argument NAME=VALUE")
    ap.add_argument("--simplified", action="store_true", help="ask Chinese questions in simplified characters")
    args = ap.parse_args()
    if (args.index is None) == (args.corpus is None):
        ap.error("give --index or --corpus")
    questions = [q for path in args.evalsets for q in load_questions(path) if q.answerable]
    if args.simplified:
        from opencc_purepy import OpenCC

        t2s = OpenCC("t2s")
        questions = [replace(q, question=t2s.convert(q.question)) if q.language == "zh" else q for q in questions]
    options = {name: float(value) for name, _, value in (o.partition("=") for o in args.option)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus is not None:
            from rag.ingest import ingest

            settings = Settings(store=StoreSettings(index_dir=Path(tmp)), models=ModelSettings(embed=args.embed))
            ingest([args.corpus], settings)
            index_dir = Path(tmp)
        else:
            index_dir = args.index
        index = open_index(index_dir, None)
        retriever = Retriever(index, load_embedder(index.embed_spec),
                              keyword_cache=None if args.corpus else StoreSettings(index_dir=index_dir).keyword_cache,
                              **options)
        retriever.retrieve("warm-up", args.k)  # model load and keyword index are not per-question costs
        rows = run(index, retriever, questions, args.k)
    ms = statistics.median(r["ms"] for r in rows)
    print(f"{' + '.join(map(str, args.evalsets))}: {len(rows)} answerable questions on {index_dir}, "
          f"{index.embed_spec}, options {options or 'default'}; retrieval median {ms:.0f} ms/question")
    print(table(rows))
    if args.against:
        print("\nrank changes against", args.against)
        print("\n".join(moves(rows, json.loads(args.against.read_text(encoding="utf-8")))) or "(none)")
    if args.rows:
        args.rows.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
