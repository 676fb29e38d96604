"""Sweep the answer-side evidence settings on an evaluation set, replaying generations.

    python bench/tune_answer.py --index .rag [--evalset eval/dev.jsonl] [--floors 0.5,0.6,0.7]

The LLM's output depends only on its prompt, so each prompt is generated once with the
real model and cached in bench/out/generations.json; every setting after that replays
from the cache and re-runs retrieval, citation checking and abstention. Prints the
SPEC 5 metrics per setting. This is how citations.DEFAULT_SUPPORT_FLOOR and
answer.Tuning.min_similarity were chosen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from rag import evaluate as ev
from rag.answer import Assistant, Tuning
from rag.config import Settings
from rag.llms import LLM, load_llm

CACHE = Path("bench/out/generations.json")


class ReplayLLM:
    """Wraps the real LLM; answers a prompt it has seen from the cache."""

    def __init__(self, real: LLM, cache: dict[str, str]) -> None:
        self.id = real.id
        self._real = real
        self._cache = cache

    def stream(self, messages: list[dict[str, str]], **kw: object) -> Iterator[str]:
        key = hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()
        if key not in self._cache:
            self._cache[key] = "".join(self._real.stream(messages, **kw))  # type: ignore[arg-type]
        yield self._cache[key]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path(".rag"))
    ap.add_argument("--evalset", type=Path, default=Path("eval/dev.jsonl"))
    ap.add_argument("--floors", default="0.5,0.55,0.6,0.65,0.7")
    ap.add_argument("--min-sims", default="0.0")
    args = ap.parse_args()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    questions = ev.load_questions(args.evalset)
    real = load_llm("local")
    assert real is not None
    llm = ReplayLLM(real, cache)
    for min_sim in [float(x) for x in args.min_sims.split(",")]:
        for floor in [float(x) for x in args.floors.split(",")]:
            assistant = Assistant(Settings(index_dir=args.index), Tuning(min_similarity=min_sim, support_floor=floor), llm=llm)
            rows = ev.run(questions, lambda q: (assistant.ask(q.question, qid=q.id), None))
            CACHE.write_text(json.dumps(cache, ensure_ascii=False))
            m = ev.aggregate(rows)
            kinds = {k: ev.aggregate([r for r in rows if r.kind == k])["correctness"] for k in ev.KINDS[:3]}
            print(f"min_sim={min_sim} floor={floor}: correct {m['correctness']} cite_hit {m['citation_hit']} "
                  f"cite_prec {m['citation_precision']} abstain_ok {m['abstention_accuracy']} "
                  f"false_abst {m['false_abstention']} | " + " ".join(f"{k}={v}" for k, v in kinds.items()), flush=True)


if __name__ == "__main__":
    main()
