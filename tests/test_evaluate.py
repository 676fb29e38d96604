"""`rag eval` as a person runs it: no first-token time where no model ran, and a line per
question on a terminal while it works."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pexpect
import pyte
import pytest
from typer.testing import CliRunner

from conftest import RAG_BIN, REPO, RealIndex
from rag import evaluate as ev
from rag.cli import app


def _rows(*timings: dict) -> list[ev.Row]:
    return [ev.Row(f"q{i}", "en", "same-language", True, timings_ms=t) for i, t in enumerate(timings)]


def test_medians_skip_a_stage_that_did_not_run() -> None:
    rows = _rows({"total": 10.0, "first_token": 4.0}, {"total": 30.0}, {"total": 20.0, "first_token": None},
                 {"total": 40.0, "first_token": 8.0})
    latency = ev.aggregate(rows)["latency_ms_median"]
    assert latency == {"first_token": 6.0, "total": 25.0}
    overall = next(line for line in ev.markdown(ev.report(rows)).splitlines() if line.startswith("| overall |"))
    assert overall.endswith("| 25.0 | 6.0 |")
    assert ev.aggregate(_rows({"total": 1.0}))["latency_ms_median"] == {"total": 1.0}


def _few_questions(tmp_path: Path, n: int = 3) -> Path:
    lines = (REPO / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_eval_without_a_model_reports_no_first_token(real_index: RealIndex, tmp_path: Path) -> None:
    index = str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, ["eval", str(_few_questions(tmp_path)), "--llm", "none", "--index", index,
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "few.json").read_text(encoding="utf-8"))
    assert "first_token" not in report["overall"]["latency_ms_median"]
    assert report["overall"]["latency_ms_median"]["total"] > 0
    assert all("first_token" not in q["timings_ms"] for q in report["questions"])
    overall = next(line for line in result.stdout.splitlines() if line.startswith("| overall |"))
    assert overall.endswith("| – |")  # the table's first-token column says "none", not 0.0


def test_eval_on_a_terminal_shows_a_line_per_question(real_index: RealIndex, tmp_path: Path) -> None:
    index = str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(TERM="xterm", LC_ALL="C.UTF-8", RAG_THREADS=os.environ.get("RAG_THREADS", "1"))
    child = pexpect.spawn(str(RAG_BIN), ["eval", str(_few_questions(tmp_path)), "--llm", "none", "--index", index,
                                         "--out", str(tmp_path / "out")],
                          env=env, cwd=str(tmp_path), encoding="utf-8", timeout=180, dimensions=(40, 200),
                          use_poll=True)
    screen = pyte.Screen(200, 40)
    stream = pyte.Stream(screen)
    child.expect_exact("1/3 dev-ar-01 (ar, same-language): ")  # while the run goes on, not only at its end
    stream.feed(child.before + child.after)
    child.expect(pexpect.EOF)
    stream.feed(child.before)
    child.close()
    assert child.exitstatus == 0
    shown = [line.rstrip() for line in screen.display]
    progress = [line for line in shown if line[:2] in ("1/", "2/", "3/")]
    assert [line.split(" (")[0] for line in progress] == ["1/3 dev-ar-01", "2/3 dev-ar-02", "3/3 dev-ar-03"], shown
    assert all(line.endswith(" s") and ("answered in" in line or "abstained in" in line) for line in progress)
    assert not any("━" in line for line in shown)  # the bar itself is gone at the end


def test_a_sets_index_is_named_for_where_its_corpus_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a" / "corpus").mkdir(parents=True)
    (tmp_path / "b" / "corpus").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    here = ev.Target("wiki", [], Path("a/corpus"))
    same = ev.Target("wiki", [], tmp_path / "a" / "corpus")
    other = ev.Target("wiki", [], Path("b/corpus"))
    assert here.index_name() == same.index_name()
    assert here.index_name() != other.index_name()
    assert here.index_name().startswith("wiki-")
