#!/usr/bin/env python3
"""Check evaluation sets against the documents they ask about.

A question file is only as good as its gold paragraphs and facts: a span one line off, a
fact that the cited paragraph never states, or a fact that the question itself already
contains makes `rag eval` score the wrong thing without any error. This script reads each
set the way `rag` reads the corpus (``rag.documents.read_document``, so the SPEC 2
paragraph rule and line spans are the program's own) and matches facts the way
``rag eval`` does (``rag.lang.normalize``).

Usage (from the repository root, with ``rag`` importable)::

    python eval/wiki/check.py                 # every eval/wiki/*.jsonl and eval/*.jsonl
    python eval/wiki/check.py eval/wiki/multi.jsonl --translations
    python eval/wiki/check.py some.jsonl --corpus path/to/corpus

A set's corpus is the ``corpus/`` folder beside it (``eval/wiki/corpus``), else
``examples/corpus`` (the corpus of ``eval/dev.jsonl`` and ``eval/heldout.jsonl``). Each
problem is printed as ``FILE:LINE: ID: what is wrong``; the exit code is 1 when there is
any. ``--translations`` also lists, per fact, the variants that do not occur in the gold
text (the renderings in other languages and scripts that only an answer can contain).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere: use this checkout's rag
    sys.path.insert(0, str(REPO))

from rag.documents import read_document  # noqa: E402
from rag.errors import DocumentError  # noqa: E402
from rag.lang import detect_language, normalize  # noqa: E402
from rag.types import Document  # noqa: E402

FIELDS = ("id", "question", "language", "kind", "gold", "facts")
GOLD_FIELDS = ("file", "paragraph", "start_line", "end_line")
LANGUAGES = ("ar", "zh", "en")
KINDS = ("same-language", "cross-language", "multi-document", "unanswerable")
MAX_FACTS = 3
# <set>-<lang>-NN (eval/README.md), with more parts allowed, e.g. wiki-x-zh-en-01 for a
# Chinese question about an English file: the first language part is the question's.
ID_PATTERN = re.compile(r"^[a-z]+(?:-[a-z]+)*-\d{2,}$")
# A question in one of the three languages must have each fact in its script, unless the
# fact is script-neutral (a number, a date in digits): otherwise no answer written in the
# question's language can match it.
SCRIPTS = {
    "ar": re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]"),
    "zh": re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"),
    "en": re.compile("[A-Za-z\u00c0-\u024f]"),
}
LETTER = re.compile(r"[^\W\d_]")
# Chinese questions use full-width punctuation (eval/README.md).
ASCII_PUNCTUATION = re.compile(r"[?,!:;()]")


@dataclass
class Problem:
    path: Path
    line: int
    id: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.id}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    # Worth a second look but not wrong by themselves; they don't fail the check.
    notes: list[Problem] = field(default_factory=list)
    # (file, id, fact's first variant) -> variants absent from the gold text
    translations: list[tuple[Path, str, list[str]]] = field(default_factory=list)
    counts: dict[Path, collections.Counter] = field(default_factory=dict)


@cache
def simplified_forms() -> dict[str, str]:
    """Each character of OpenCC's traditional -> simplified table (the package rag.lang
    reads) -> all the forms it lists, itself included where it is also a simplified
    character (沈 -> 沈沉). rag.lang folds to the first form only, which for a few
    characters is a rare one (勣 -> 𪟝, where writers use 绩 or keep 勣), so a fact is
    checked against every listed form."""
    text = (resources.files("opencc_purepy") / "dicts" / "TSCharacters.txt").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        source, _, targets = line.partition("\t")
        forms = "".join(f for f in targets.split() if len(f) == 1)
        if len(source) == 1 and forms:
            table[source] = forms
    return table


def _traditional_only(char: str) -> bool:
    forms = simplified_forms().get(char)
    return forms is not None and char not in forms


def has_simplified(variant: str, fact: list[str]) -> bool:
    """True when ``variant`` has no traditional-only character, or the fact also lists it
    written in simplified characters (eval/README.md: both scripts are accepted variants,
    for a matcher that does not fold Chinese)."""
    if not any(_traditional_only(c) for c in variant):
        return True
    table = simplified_forms()
    return any(
        len(other) == len(variant)
        and all(o == c or o in table.get(c, "") for o, c in zip(other, variant))
        and not any(_traditional_only(o) for o in other)
        for other in fact
    )


def corpus_for(path: Path) -> Path:
    """The folder whose files a set's ``gold`` names are relative to."""
    beside = path.parent / "corpus"
    return beside if beside.is_dir() else REPO / "examples" / "corpus"


def load_corpus(folder: Path) -> dict[str, Document]:
    """Every document under ``folder``, keyed by its path relative to it (as in ``gold``)."""
    docs = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = file.relative_to(folder).as_posix()
        docs[name] = read_document(file, name)
    return docs


def file_languages(doc: Document) -> set[str]:
    """The languages a document is written in, paragraph by paragraph: a bilingual file
    (English paragraphs each followed by their Chinese version) has two, and a question
    in either of them is same-language (eval/README.md, kinds)."""
    return {detect_language(p.text) for p in doc.paragraphs}


def _shape(row: object) -> str | None:
    """What is wrong with a row's JSON shape, or None: exact fields in the format's order,
    the right types, known language and kind."""
    if not isinstance(row, dict):
        return "not a JSON object"
    if tuple(row) != FIELDS:
        return f"fields must be exactly {', '.join(FIELDS)} in that order, got {', '.join(row)}"
    if not all(isinstance(row[k], str) and row[k].strip() for k in ("id", "question", "language", "kind")):
        return "id, question, language and kind must be non-empty strings"
    if row["language"] not in LANGUAGES:
        return f"language {row['language']!r} is not one of {', '.join(LANGUAGES)}"
    if row["kind"] not in KINDS:
        return f"kind {row['kind']!r} is not one of {', '.join(KINDS)}"
    if not isinstance(row["gold"], list) or not all(
        isinstance(g, dict) and tuple(g) == GOLD_FIELDS and isinstance(g["file"], str)
        and all(isinstance(g[k], int) and not isinstance(g[k], bool) for k in GOLD_FIELDS[1:])
        for g in row["gold"]
    ):
        return f"gold must be a list of {{{', '.join(GOLD_FIELDS)}}} with integer numbers"
    if not isinstance(row["facts"], list) or not all(
        isinstance(f, list) and f and all(isinstance(v, str) and v.strip() for v in f) for f in row["facts"]
    ):
        return "facts must be a list of non-empty lists of non-empty strings"
    return None


def _contains(text: str, variants: list[str]) -> bool:
    """``rag eval``'s fact match: a normalised variant is a substring of the normalised text."""
    folded = normalize(text)
    return any(normalize(v) in folded for v in variants)


def check_row(row: dict, docs: dict[str, Document]) -> tuple[list[str], list[str], list[list[str]]]:
    """Problems and notes of one well-shaped row, and per fact the variants absent from
    its gold text."""
    problems: list[str] = []
    notes: list[str] = []
    qid, question, language, kind = row["id"], row["question"], row["language"], row["kind"]
    gold, facts = row["gold"], row["facts"]

    id_languages = [part for part in qid.split("-")[1:-1] if part in LANGUAGES]
    if not ID_PATTERN.match(qid) or not id_languages:
        problems.append("id must look like <set>-<lang>-NN")
    elif id_languages[0] != language:
        problems.append(f"id says {id_languages[0]} but language is {language}")
    detected = detect_language(question)
    if detected != language:
        problems.append(f"question reads as {detected}, not {language}")
    if language == "zh" and ASCII_PUNCTUATION.search(question):
        problems.append("Chinese question has ASCII punctuation (use full-width ？，！：；（）)")

    if kind == "unanswerable":
        if gold or facts:
            problems.append("unanswerable questions have empty gold and facts")
        return problems, notes, []
    if not gold:
        problems.append(f"{kind} question has no gold paragraph")
    if not 1 <= len(facts) <= MAX_FACTS:
        problems.append(f"answerable questions have 1-{MAX_FACTS} facts, this one has {len(facts)}")

    # Gold spans: the paragraph exists and its lines are the ones rag cites.
    by_file: dict[str, list[str]] = collections.defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for g in gold:
        doc = docs.get(g["file"])
        where = f"{g['file']} ¶{g['paragraph']}"
        if doc is None:
            problems.append(f"gold file {g['file']} is not in the corpus")
            continue
        if (g["file"], g["paragraph"]) in seen:
            problems.append(f"gold lists {where} twice")
        seen.add((g["file"], g["paragraph"]))
        if not 1 <= g["paragraph"] <= len(doc.paragraphs):
            problems.append(f"{where} does not exist ({g['file']} has {len(doc.paragraphs)} paragraphs)")
            continue
        p = doc.paragraphs[g["paragraph"] - 1]
        if (g["start_line"], g["end_line"]) != (p.start_line, p.end_line):
            problems.append(f"{where} is lines {p.start_line}-{p.end_line}, gold says {g['start_line']}-{g['end_line']}")
        by_file[g["file"]].append(p.text)
    if problems:
        return problems, notes, []

    # Kind against the gold files' languages (eval/README.md, kinds, in their order).
    files = list(by_file)
    if kind == "multi-document" and len(files) < 2:
        problems.append("multi-document question has gold in only one file")
    if kind in ("same-language", "cross-language"):
        same = all(language in file_languages(docs[f]) for f in files)
        if same != (kind == "same-language"):
            langs = ", ".join(f"{f}: {'/'.join(sorted(file_languages(docs[f])))}" for f in files)
            problems.append(f"kind {kind} but the question is {language} and the gold files are {langs}")

    # Facts: stated by the gold text, not given away by the question, matchable in the answer's script.
    combined = "\n".join(t for texts in by_file.values() for t in texts)
    absent: list[list[str]] = []
    for fact in facts:
        if not _contains(combined, fact):
            problems.append(f"no variant of fact {fact[0]!r} occurs in the gold paragraphs")
        if _contains(question, fact):
            problems.append(f"fact {fact[0]!r} already occurs in the question")
        neutral = any(not LETTER.search(v) for v in fact)
        if not neutral and not any(SCRIPTS[language].search(v) for v in fact):
            problems.append(f"fact {fact[0]!r} has no variant in the question's script ({language})")
        # An answer in Chinese may be written in either script; in Arabic or English it
        # quotes a Chinese name as the source spells it, if at all.
        missing_simplified = [v for v in fact if language == "zh" and not has_simplified(v, fact)]
        if missing_simplified:
            problems.append(f"fact {fact[0]!r}: add the simplified form of {', '.join(missing_simplified)}")
        absent.append([v for v in fact if not _contains(combined, [v])])

    # Multi-document: every gold file holds a part. One file holding every fact is only a
    # note: "which carmaker appears in both articles" needs the other file to pick the name.
    if kind == "multi-document" and len(files) >= 2:
        for f in files:
            text = "\n".join(by_file[f])
            held = [fact for fact in facts if _contains(text, fact)]
            if not held:
                problems.append(f"gold file {f} states none of the facts")
            elif len(held) == len(facts):
                notes.append(f"gold file {f} alone states every fact: check that the question needs the other files")
    return problems, notes, absent


def check_file(path: Path, docs: dict[str, Document], report: Report,
               ids: dict[str, Path], questions: dict[str, Path]) -> None:
    """Check every line of one set; ``ids``/``questions`` carry what earlier files used."""
    counts = report.counts.setdefault(path, collections.Counter())
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.problems.append(Problem(path, 0, "-", f"not UTF-8: {exc}"))
        return
    if text and not text.endswith("\n"):
        report.problems.append(Problem(path, text.count("\n") + 1, "-", "the last line has no newline"))
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), start=1):
        if not line.strip():
            report.problems.append(Problem(path, n, "-", "blank line"))
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            report.problems.append(Problem(path, n, "-", f"not JSON: {exc}"))
            continue
        qid = row.get("id", "-") if isinstance(row, dict) else "-"
        if re.search(r"\\u(?!00[0-1][0-9a-fA-F])[0-9a-fA-F]{4}", line):
            report.problems.append(Problem(path, n, qid, "non-ASCII characters must be written as themselves, not \\u escapes"))
        shape = _shape(row)
        if shape:
            report.problems.append(Problem(path, n, qid, shape))
            continue
        if qid in ids:
            report.problems.append(Problem(path, n, qid, f"id already used in {ids[qid]}"))
        ids.setdefault(qid, path)
        key = normalize(row["question"])
        if key in questions:
            report.problems.append(Problem(path, n, qid, f"the same question is already in {questions[key]}"))
        questions.setdefault(key, path)
        counts[(row["language"], row["kind"])] += 1
        problems, notes, absent = check_row(row, docs)
        report.problems.extend(Problem(path, n, qid, p) for p in problems)
        report.notes.extend(Problem(path, n, qid, f"note: {p}") for p in notes)
        for fact in absent:
            if fact:
                report.translations.append((path, qid, fact))


def default_sets() -> list[Path]:
    """Every set this repository has: eval/wiki/*.jsonl (including files added later,
    such as cross.jsonl) and eval/*.jsonl."""
    return sorted((REPO / "eval" / "wiki").glob("*.jsonl")) + sorted((REPO / "eval").glob("*.jsonl"))


def run(paths: list[Path], corpus: Path | None = None) -> Report:
    """Check the given sets, each against its corpus; ids and questions must be unique
    across all of them, because a batch or eval run keys its output by id."""
    report = Report()
    ids: dict[str, Path] = {}
    questions: dict[str, Path] = {}
    corpora: dict[Path, dict[str, Document]] = {}
    for path in paths:
        folder = corpus or corpus_for(path)
        if folder not in corpora:
            try:
                corpora[folder] = load_corpus(folder)
            except DocumentError as exc:
                report.problems.append(Problem(path, 0, "-", f"corpus {folder}: {exc}"))
                continue
        check_file(path, corpora[folder], report, ids, questions)
    return report


def _rel(path: Path) -> Path:
    try:
        return path.resolve().relative_to(REPO)
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", type=Path, help="JSONL sets (default: every set in eval/)")
    parser.add_argument("--corpus", type=Path, help="corpus folder for all the given sets")
    parser.add_argument("--translations", action="store_true",
                        help="list each fact's variants that do not occur in its gold text")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.sets] or default_sets()
    missing = [p for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(map(str, missing))}")
    report = run(paths, args.corpus.resolve() if args.corpus else None)
    for problem in report.problems + report.notes:
        problem.path = _rel(problem.path)
        print(problem)
    if args.translations:
        for path, qid, variants in report.translations:
            print(f"{_rel(path)}: {qid}: translations: {' | '.join(variants)}")
    for path, counts in report.counts.items():
        total = sum(counts.values())
        detail = ", ".join(f"{lang} {kind} {n}" for (lang, kind), n in sorted(counts.items()))
        print(f"{_rel(path)}: {total} questions ({detail})", file=sys.stderr)
    print(f"{len(report.problems)} problems, {len(report.notes)} notes in {len(paths)} files", file=sys.stderr)
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
