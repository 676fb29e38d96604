"""Retrieval quality per embedder and keyword weight on an evaluation set.

    python bench/retrieval.py [--evalset eval/dev.jsonl] [--corpus examples/corpus]
    python bench/retrieval.py --embedders e5*0.7+use*0.3 --weights 0.1 --gates 0.5 --simplified

Builds one temporary index per embedder (e5, use, e5+use) over the corpus and prints
hit@5 and MRR per question kind and per question-language -> document-language pair,
for several keyword (BM25) weights. This is how the default embedder and keyword weight
were chosen; the figures are in the issue notes and eval/README.md. ``--simplified`` asks
the Chinese questions in simplified characters (OpenCC t2s): the corpus is traditional,
and a user may type either.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from rag.config import Settings
from rag.embeddings import load_embedder
from rag.evaluate import load_questions
from rag.index import open_index
from rag.ingest import ingest
from rag.lang import detect_language
from rag.retrieval import Retriever


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evalset", type=Path, default=Path("eval/dev.jsonl"))
    ap.add_argument("--corpus", type=Path, default=Path("examples/corpus"))
    ap.add_argument("--embedders", default="e5,use,e5+use,e5*0.7+use*0.3")
    ap.add_argument("--weights", default="0,0.05,0.1,0.2,0.4")
    ap.add_argument("--gates", default="0.3,0.5")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--simplified", action="store_true", help="ask Chinese questions in simplified characters")
    args = ap.parse_args()
    questions = [q for q in load_questions(args.evalset) if q.answerable]
    if args.simplified:
        from opencc_purepy import OpenCC

        t2s = OpenCC("t2s")
        questions = [replace(q, question=t2s.convert(q.question)) if q.language == "zh" else q for q in questions]
    doc_lang = {p.name: detect_language(p.read_text(encoding="utf-8")[:2000]) for p in args.corpus.iterdir()}
    print(f"{len(questions)} answerable questions, hit@{args.k} / MRR")
    for spec in args.embedders.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(index_dir=Path(tmp), embed=spec)
            ingest([args.corpus], settings)
            index = open_index(settings.index_dir, None)
            for w, gate in [(float(w), float(g)) for w in args.weights.split(",") for g in args.gates.split(",")]:
                retriever = Retriever(index, load_embedder(spec), keyword_weight=w, keyword_gate=gate)
                groups: dict[str, list[tuple[bool, float]]] = defaultdict(list)
                for q in questions:
                    keys = [(h.chunk.file, h.chunk.paragraph.number) for h in retriever.retrieve(q.question, args.k).hits]
                    ranks = [i for i, key in enumerate(keys, 1) if key in q.gold]
                    result = (bool(ranks), 1 / ranks[0] if ranks else 0.0)
                    langs = "+".join(sorted({doc_lang[f] for f, _ in q.gold}))
                    for g in ("all", q.kind, f"{q.language}->{langs}"):
                        groups[g].append(result)
                cells = [f"{g}: {sum(h for h, _ in v) / len(v):.0%}/{sum(r for _, r in v) / len(v):.2f} (n={len(v)})"
                         for g, v in sorted(groups.items())]
                print(f"{spec:16} w={w:<4} gate={gate:<4} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
