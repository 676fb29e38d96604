"""The quality gate: ``rag eval`` with the embedded default on dev and on the wiki set.

Runs the real pipeline (default embedder, embedded LLM, real indexes of the sample corpus
and of eval/wiki/corpus) through the CLI, reads the reports it writes, and fails when a
metric falls past its floor. The floors sit two to three questions under the figures
measured when they were set (docs/quality.md has the commands and the full tables); raise
them as the system improves. Held-out questions are not gated: they are reported, so
overfitting to dev shows, not tuned against.

The wiki set is gated in two runs: its same-language, near-miss and multi-document
questions with the model, and its 120 cross-language questions with ``--llm none``
(retrieval and extractive answers), which keeps the gate's time inside CI's budget while
every question of the set is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, RealIndex
from rag import evaluate as ev
from rag.cli import app

EVAL = REPO / "eval"
WIKI = EVAL / "wiki"

# Measured 2026-12-02 (2-core VM), `python bench/answers.py` over these sets (docs/quality.md):
# dev: hit@5 95%, correctness 46% (18/39), citation hit 80%, precision 69%, abstention 33% (4/12),
# false abstention 8% (3/39). wiki same-language + near-miss + multi-document (109): correctness 60%,
# citation hit 86%, precision 78%, abstention 31%, false abstention 8%. wiki cross-language with
# --llm none (120): hit@5 92%, correctness 50%.
DEV = {"hit_at_k": (0.88, None), "correctness": (0.38, None), "citation_hit": (0.72, None),
       "citation_precision": (0.60, None), "abstention_accuracy": (0.16, None), "false_abstention": (None, 0.18)}
WIKI_MODEL = {"hit_at_k": (0.95, None), "correctness": (0.54, None), "citation_hit": (0.80, None),
              "citation_precision": (0.70, None), "abstention_accuracy": (0.22, None),
              "false_abstention": (None, 0.16)}
WIKI_CROSS = {"hit_at_k": (0.88, None), "correctness": (0.44, None)}


@pytest.fixture(scope="module")
def wiki_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rag.config import DEFAULT_EMBED, ModelSettings, Settings, StoreSettings
    from rag.ingest import ingest

    folder = tmp_path_factory.mktemp("wiki_index") / "index"
    ingest([WIKI / "corpus"], Settings(store=StoreSettings(index_dir=folder), models=ModelSettings(embed=DEFAULT_EMBED)))
    return folder


def _eval(files: list[Path], index: Path, out: Path, *extra: str) -> dict:
    """``rag eval FILES`` over INDEX; the metrics of all their questions together."""
    result = CliRunner().invoke(app, ["eval", *map(str, files), "--index", str(index), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    rows = []
    for f in files:
        report = json.loads((out / f"{f.stem}.json").read_text(encoding="utf-8"))
        assert report["overall"]["errors"] == 0
        assert (out / f"{f.stem}.md").read_text(encoding="utf-8").startswith("## rag eval")
        rows += [ev.Row(**q) for q in report["questions"]]
    assert len(rows) == sum(len(ev.load_questions(f)) for f in files)
    return ev.aggregate(rows)


def _check(metrics: dict, bounds: dict) -> None:
    failed = {m: metrics[m] for m, (floor, ceiling) in bounds.items()
              if (floor is not None and metrics[m] < floor) or (ceiling is not None and metrics[m] > ceiling)}
    assert not failed, f"past their bounds: {failed}; all: {metrics}"


def test_dev_set_quality_stays_above_the_floors(real_index: RealIndex, tmp_path: Path) -> None:
    _check(_eval([EVAL / "dev.jsonl"], real_index.settings.store.index_dir, tmp_path), DEV)  # type: ignore[attr-defined]


def test_wiki_set_quality_stays_above_the_floors(wiki_index: Path, tmp_path: Path) -> None:
    files = [WIKI / "qa.jsonl", WIKI / "near-miss.jsonl", WIKI / "multi.jsonl"]
    _check(_eval(files, wiki_index, tmp_path), WIKI_MODEL)


def test_wiki_cross_language_questions_find_and_quote_their_passage(wiki_index: Path, tmp_path: Path) -> None:
    _check(_eval([WIKI / "cross.jsonl"], wiki_index, tmp_path, "--llm", "none"), WIKI_CROSS)
