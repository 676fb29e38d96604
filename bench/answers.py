"""Answer-stage experiments: run eval sets through the real pipeline, replaying the model.

The model's replies are cached by prompt (text and token log-probabilities), so a change
after generation (citations, abstention, thresholds) is measured on every question in
seconds, and a change to evidence or prompts regenerates only the prompts it changed.
Every run keeps its per-question rows, so a change in a figure can be traced to questions.

    python bench/answers.py --set dev=eval/dev.jsonl@/tmp/ix-dev \\
        --set wiki=eval/wiki/qa.jsonl,eval/wiki/near-miss.jsonl@/tmp/ix-wiki \\
        --cache /tmp/replies.json --out /tmp/run-a.json [--answer abstain_p_none=0.3 ...]

``--answer`` overrides fields of ``rag.config.AnswerSettings``; ``--llm none`` measures
the extractive path.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag import evaluate as ev
from rag.answer import Assistant
from rag.config import AnswerSettings, Settings, StoreSettings
from rag.llms import Piece, load_llm


class CachedLLM:
    """An LLM whose constrained replies are read from, or added to, a JSON cache."""

    def __init__(self, inner: Any, path: Path) -> None:
        self._inner, self._path = inner, path
        self.id = inner.id
        self.cache: dict[str, list[list[Any]]] = json.loads(path.read_text()) if path.exists() else {}
        self.misses = 0

    def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        return self._inner.stream(messages, **kwargs)

    def stream_json(self, messages: list[dict[str, str]], schema: dict[str, Any], **kwargs: Any) -> Iterator[Piece]:
        key = hashlib.sha256(json.dumps([messages, schema, kwargs], ensure_ascii=False, sort_keys=True)
                             .encode()).hexdigest()
        if key not in self.cache:
            self.misses += 1
            self.cache[key] = [[p.text, p.alternatives] for p in self._inner.stream_json(messages, schema, **kwargs)]
            self.save()
        for text, alternatives in self.cache[key]:
            yield Piece(text, alternatives)

    def save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.cache, ensure_ascii=False))
        tmp.replace(self._path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, help="NAME=FILE[,FILE...]@INDEX")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--llm", default="local")
    parser.add_argument("--answer", action="append", default=[], help="FIELD=VALUE of AnswerSettings")
    parser.add_argument("--only", default="", help="comma-separated question ids")
    args = parser.parse_args()

    fields = {f.name: f.type for f in dataclasses.fields(AnswerSettings)}
    overrides = {}
    for item in args.answer:
        name, _, value = item.partition("=")
        overrides[name] = (float if "float" in str(fields[name]) else int)(value)
    answer_settings = dataclasses.replace(AnswerSettings(), **overrides)
    only = set(filter(None, args.only.split(",")))
    llm = None if args.llm == "none" else CachedLLM(load_llm(args.llm), args.cache)
    out: dict[str, Any] = {"answer_settings": dataclasses.asdict(answer_settings), "sets": {}}
    for spec in args.set:
        name, _, rest = spec.partition("=")
        files, _, index = rest.partition("@")
        questions = [q for f in files.split(",") for q in ev.load_questions(Path(f)) if not only or q.id in only]
        assistant = Assistant(Settings(store=StoreSettings(index_dir=Path(index)), answer=answer_settings), llm=llm)

        def answer(q: ev.Question) -> ev.Answered:
            result = assistant.ask(q.question, qid=q.id)
            return ev.Answered(result.answer, [(h.chunk.file, h.chunk.paragraph.number) for h in result.hits],
                               result.details())

        rows = ev.run(questions, answer, lambda i, n: print(f"\r{name}: {i}/{n}", end="", file=sys.stderr))
        print(file=sys.stderr)
        rep = ev.report(rows)
        out["sets"][name] = rep
        print(ev.markdown(rep, name), flush=True)
        args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1))  # after each set: a long run is kept
    if llm is not None:
        print(f"model calls not in the cache: {llm.misses}", file=sys.stderr)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
