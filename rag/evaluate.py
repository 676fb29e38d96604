"""The SPEC 5 metrics over an evaluation set (format: eval/README.md).

Per question: retrieval hit@k and reciprocal rank on the gold paragraphs, answer
correctness (every required fact present, one accepted variant each, compared after
rag.lang.normalize folds digits, separators and Arabic letter variants), citation hit
and precision, abstention, latency. Aggregated overall and by language and kind.

Answers come from an Assistant (``run``), or from any SPEC 4 JSONL file (``score``
with ``answers``), so other systems' output can be scored the same way.

The named evaluation sets, each with the corpus its gold paragraphs cite, are listed in
``eval/sets.json`` (``load_sets``): ``rag eval`` runs and reports each separately.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import OutputError, RagError, UsageError
from rag.lang import normalize
from rag.lines import read_jsonl
from rag.types import Answer, Citation

KINDS = ("same-language", "cross-language", "multi-document", "unanswerable")
SETS_FILE = Path(__file__).resolve().parent.parent / "eval" / "sets.json"


@dataclass(frozen=True)
class EvalSet:
    """A named evaluation set: its question files and the corpus their gold cites."""

    name: str
    questions: tuple[Path, ...]
    corpus: Path
    about: str = ""

    def load(self) -> list[Question]:
        return [q for path in self.questions if path.exists() for q in load_questions(path)]


@dataclass(frozen=True)
class Target:
    """What one ``rag eval`` argument names: a set (with its corpus, indexed apart from the
    user's own index) or a question file (answered over ``--index``)."""

    name: str
    questions: list[Question]
    corpus: Path | None

    def index_name(self) -> str:
        """The folder name of this set's own index: the set's name and a digest of where its
        corpus is. Two checkouts (or a set whose corpus moved) sharing one cache would
        otherwise sync one index from two folders, and each run would retrieve the other
        folder's copies of the same files."""
        where = str(self.corpus.resolve()) if self.corpus else ""
        return f"{self.name}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def resolve(names: list[str], sets: dict[str, EvalSet]) -> list[Target]:
    """The targets NAMES give, set names or question files; none given means every set."""
    targets = []
    for name in names or list(sets):
        if name in sets:
            targets.append(Target(name, sets[name].load(), sets[name].corpus))
        elif name.endswith(".jsonl") or Path(name).is_file():
            targets.append(Target(Path(name).stem, load_questions(Path(name)), None))
        else:
            raise UsageError(f"unknown evaluation set {name!r}", f"name one of {', '.join(sets)}, or a .jsonl file")
    return targets


def load_sets(path: Path = SETS_FILE) -> dict[str, EvalSet]:
    """The sets listed in PATH (paths in it are relative to its folder)."""
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: EvalSet(name, tuple(path.parent / q for q in spec["questions"]), path.parent / spec["corpus"],
                          spec.get("about", ""))
            for name, spec in listed.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read the evaluation sets in {path}: {exc}") from exc


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    language: str
    kind: str
    gold: frozenset[tuple[str, int]]
    facts: tuple[tuple[str, ...], ...]

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


@dataclass
class Row:
    """One scored question."""

    id: str
    language: str
    kind: str
    answerable: bool
    retrieved: list[tuple[str, int]] = field(default_factory=list)
    hit: bool | None = None
    rr: float | None = None
    correct: bool | None = None
    missing_facts: list[str] = field(default_factory=list)
    citation_hit: bool | None = None
    citation_precision: float | None = None
    document_hit: float | None = None  # share of the gold documents some citation points into
    abstained: bool = False
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # why it abstained or not: the signals weighed
    cited: list[tuple[str, int]] = field(default_factory=list)  # (file, paragraph) of each citation


def load_questions(path: Path) -> list[Question]:
    """Read an eval JSONL file; a malformed line is a usage error naming the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read evaluation set {path}: {exc.strerror}") from exc
    questions = []
    for line in read_jsonl(data):
        try:
            if line.error:
                raise ValueError(line.error)
            d = line.value
            questions.append(Question(
                d["id"], d["question"], d["language"], d["kind"],
                frozenset((g["file"], int(g["paragraph"])) for g in d["gold"]),
                tuple(tuple(v) for v in d["facts"]),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{line.number}: not an evaluation question ({exc})") from exc
    return questions


def fact_present(answer: str, variants: Iterable[str]) -> bool:
    text = normalize(answer)
    return any(normalize(v) in text for v in variants)


@dataclass(frozen=True)
class Answered:
    """An answer; when known, the (file, paragraph) keys retrieved for it, in rank order;
    and details worth keeping per question (what the abstention decision weighed)."""

    answer: Answer
    retrieved: list[tuple[str, int]] | None = None
    details: dict[str, Any] = field(default_factory=dict)


def score(q: Question, answered: Answered) -> Row:
    answer, retrieved = answered.answer, answered.retrieved
    row = Row(q.id, q.language, q.kind, q.answerable, abstained=answer.abstained, error=answer.error,
              timings_ms=answer.timings_ms, answer=answer.answer, details=answered.details,
              cited=[_cited(c) for c in answer.citations])
    if retrieved is not None and q.answerable:
        row.retrieved = retrieved
        ranks = [i for i, key in enumerate(retrieved, start=1) if key in q.gold]
        row.hit = bool(ranks)
        row.rr = 1.0 / ranks[0] if ranks else 0.0
    if q.answerable:
        row.missing_facts = [f[0] for f in q.facts if answer.abstained or not fact_present(answer.answer, f)]
        row.correct = not answer.abstained and not answer.error and not row.missing_facts
        good = [_cited(c) in q.gold for c in answer.citations]
        row.citation_hit = any(good)
        row.citation_precision = sum(good) / len(good) if good else 0.0
        gold_files = {f for f, _ in q.gold}
        row.document_hit = len(gold_files & {c.file for c in answer.citations if _cited(c) in q.gold}) / len(gold_files)
    return row


def _cited(c: Citation) -> tuple[str, int]:
    return (c.file, c.paragraph)


def _mean(values: list[Any]) -> float | None:
    values = [float(v) for v in values if v is not None]
    return round(statistics.fmean(values), 3) if values else None


def aggregate(rows: list[Row]) -> dict[str, Any]:
    """Metrics for a group of rows (SPEC 5 names)."""
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    timings: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for stage, ms in r.timings_ms.items():
            if ms is not None:  # a stage that did not run (no model: no first token) has no time
                timings[stage].append(ms)
    return {
        "questions": len(rows),
        "hit_at_k": _mean([r.hit for r in answerable]),
        "mrr": _mean([r.rr for r in answerable]),
        "correctness": _mean([r.correct for r in answerable]),
        "citation_hit": _mean([r.citation_hit for r in answerable]),
        "citation_precision": _mean([r.citation_precision for r in answerable]),
        "document_hit": _mean([r.document_hit for r in answerable if r.kind == "multi-document"]),
        "abstention_accuracy": _mean([r.abstained for r in unanswerable]),
        "false_abstention": _mean([r.abstained for r in answerable]),
        "errors": sum(1 for r in rows if r.error),
        "latency_ms_median": {s: round(statistics.median(v), 1) for s, v in sorted(timings.items())},
    }


def report(rows: list[Row]) -> dict[str, Any]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[f"language={r.language}"].append(r)
        groups[f"kind={r.kind}"].append(r)
    return {
        "overall": aggregate(rows),
        "groups": {name: aggregate(group) for name, group in sorted(groups.items())},
        "questions": [asdict(r) for r in rows],
    }


COLUMNS = ["questions", "hit_at_k", "mrr", "correctness", "citation_hit", "citation_precision",
           "document_hit", "abstention_accuracy", "false_abstention"]


def _cell(v: Any) -> str:
    return "–" if v is None else (f"{v:.0%}" if isinstance(v, float) else str(v))


def markdown(rep: dict[str, Any], title: str = "rag eval") -> str:
    """A readable table: one row overall, one per language and kind."""
    lines = [f"## {title}", "", "| group | " + " | ".join(COLUMNS) + " | median total ms | median first token ms |",
             "|" + "---|" * (len(COLUMNS) + 3)]
    for name, m in [("overall", rep["overall"]), *rep["groups"].items()]:
        lat = m["latency_ms_median"]
        lines.append(f"| {name} | " + " | ".join(_cell(m[c]) for c in COLUMNS)
                     + f" | {lat.get('total', '–')} | {lat.get('first_token', '–')} |")
    return "\n".join(lines) + "\n"


def run(questions: list[Question], answer: Callable[[Question], Answered],
        progress: Callable[[int, int], None] | None = None) -> list[Row]:
    """Answer and score every question; a question whose answering fails (a model server
    down, say) is scored as an error and the run goes on."""
    rows = []
    for i, q in enumerate(questions, start=1):
        try:
            got = answer(q)
        except RagError as exc:
            got = Answered(Answer(q.id, q.question, "", False, q.language, error=exc.message))
        rows.append(score(q, got))
        if progress:
            progress(i, len(questions))
    return rows


def write_reports(out: Path, name: str, rep: dict[str, Any], table: str) -> list[Path]:
    """OUT/NAME.json and OUT/NAME.md. The caller prints the table first, so a full disk
    or a read-only folder costs the files, not the scores."""
    paths = [out / f"{name}.json", out / f"{name}.md"]
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths[0].write_text(json.dumps(rep, ensure_ascii=False, indent=1), encoding="utf-8")
        paths[1].write_text(table, encoding="utf-8")
        return paths
    except OSError as exc:
        raise OutputError(f"cannot write the reports in {out}: {exc.strerror or exc}",
                          "the table above holds the scores; choose another --out") from exc


def compare_markdown(ours: dict[str, Any], baseline: dict[str, Any], title: str) -> str:
    """Both systems side by side, overall and per kind, with the ratio of median latencies."""
    lines = [f"## {title}", "", "| metric | group | rag | llama-index baseline |", "|---|---|---|---|"]
    groups = ["overall", *(f"kind={k}" for k in KINDS)]
    for metric in COLUMNS[1:]:
        for g in groups:
            a = ours["overall"] if g == "overall" else ours["groups"].get(g, {})
            b = baseline["overall"] if g == "overall" else baseline["groups"].get(g, {})
            if a.get(metric) is None and b.get(metric) is None:
                continue
            lines.append(f"| {metric} | {g} | {_cell(a.get(metric))} | {_cell(b.get(metric))} |")
    a_ms = ours["overall"]["latency_ms_median"].get("total")
    b_ms = baseline["overall"]["latency_ms_median"].get("total")
    lines.append(f"| median total ms | overall | {a_ms} | {b_ms} |")
    if a_ms and b_ms:
        lines.append(f"| latency ratio (baseline / rag) | overall | 1 | {b_ms / a_ms:.2f} |")
    return "\n".join(lines) + "\n"


def read_answers(path: Path) -> dict[str, Answer]:
    """SPEC 4 answer objects by id, from a JSONL file (another system's output)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read answers file {path}: {exc.strerror or exc}") from exc
    answers = {}
    for line in read_jsonl(data):
        try:
            if line.error:
                raise ValueError(line.error)
            d = line.value
            d["citations"] = [Citation(**c) for c in d.get("citations") or []]
            answers[str(d["id"])] = Answer(**d)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{path}:{line.number}: not a SPEC 4 answer object ({exc})") from exc
    return answers
