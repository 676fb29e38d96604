"""Check eval/wiki/cross.jsonl line by line; print each problem and exit 1 if there is any.

    python eval/wiki/check_cross.py [eval/wiki/cross.jsonl] [--corpus eval/wiki/corpus]

The cross-language questions are hand translations of eval/wiki/qa.jsonl, so the checks
are the ones eval/README.md lists for the project's own set, adapted to translation:

- every line is a JSON object with the eval fields, kind ``cross-language``, and an id
  ``wiki-x-<question language>-<document language>-NN`` that agrees with ``language`` and
  with the gold file's language (which differs from the question's);
- every gold span is the paragraph ``rag.paragraphs`` finds at that number;
- every fact has at least one variant that the gold paragraph states (matched the way
  ``rag eval`` matches answers): the translations beside it are renderings of that one;
- every fact has a variant an answer in the question's language can use: in its script,
  or digits only; and for a Chinese question each traditional variant has its simplified
  form listed too;
- no fact variant already appears in the question, so repeating the question can't pass;
- ids and questions are unique.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from rag.evaluate import fact_present
from rag.lang import detect_language, fold_chinese, normalize
from rag.paragraphs import split_paragraphs

ID = re.compile(r"^wiki-x-(ar|en|zh)-(ar|en|zh)-\d\d$")
SCRIPT = {"ar": re.compile("[\u0600-\u06ff]"), "zh": re.compile("[\u3400-\u9fff]"), "en": re.compile("[A-Za-z]")}
DIGITS_ONLY = re.compile(r"^[\d.,\s٫]+$")


def check(path: Path, corpus: Path) -> list[str]:
    problems: list[str] = []
    ids: set[str] = set()
    questions: set[str] = set()
    paragraphs: dict[str, dict[int, tuple[int, int, str]]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            d = json.loads(line)
            qid, question, language, kind = d["id"], d["question"], d["language"], d["kind"]
            gold, facts = d["gold"], d["facts"]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}: not an eval question ({exc})")
            continue
        where = f"{where} {qid}"
        if qid in ids:
            problems.append(f"{where}: duplicate id")
        if question in questions:
            problems.append(f"{where}: duplicate question")
        ids.add(qid)
        questions.add(question)
        m = ID.match(qid)
        if kind != "cross-language":
            problems.append(f"{where}: kind {kind!r}, not 'cross-language'")
        if not m or m.group(1) != language or m.group(1) == m.group(2):
            problems.append(f"{where}: id does not say <question language>-<other document language>")
        if detect_language(question) != language:
            problems.append(f"{where}: question reads as {detect_language(question)}, not {language}")
        if not gold or not facts:
            problems.append(f"{where}: a cross-language question needs gold paragraphs and facts")
            continue
        texts = []
        for g in gold:
            if g["file"] not in paragraphs:
                text = (corpus / g["file"]).read_text(encoding="utf-8")
                paragraphs[g["file"]] = {p.number: (p.start_line, p.end_line, p.text)
                                         for p in split_paragraphs(g["file"], text)}
            found = paragraphs[g["file"]].get(g["paragraph"])
            if found is None or found[:2] != (g["start_line"], g["end_line"]):
                problems.append(f"{where}: gold {g} is not a paragraph of {g['file']} (rag.paragraphs: {found and found[:2]})")
                continue
            texts.append(found[2])
            doc_language = detect_language(found[2])
            if m and doc_language != m.group(2):
                problems.append(f"{where}: gold {g['file']} ¶{g['paragraph']} is {doc_language}, the id says {m.group(2)}")
        evidence = "\n".join(texts)
        for fact in facts:
            if not fact_present(evidence, fact):
                problems.append(f"{where}: no variant of {fact} is in the gold paragraphs")
            if not any(SCRIPT[language].search(v) or DIGITS_ONLY.match(v) for v in fact):
                problems.append(f"{where}: {fact} has no variant in the question's script ({language})")
            if language == "zh":
                for v in fact:
                    if SCRIPT["zh"].search(v) and fold_chinese(v) not in fact:
                        problems.append(f"{where}: {v!r} needs its simplified form {fold_chinese(v)!r} beside it")
            for v in fact:
                if normalize(v) in normalize(question):
                    problems.append(f"{where}: fact variant {v!r} is already in the question")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path, nargs="?", default=Path(__file__).with_name("cross.jsonl"))
    ap.add_argument("--corpus", type=Path, default=Path(__file__).with_name("corpus"))
    args = ap.parse_args()
    problems = check(args.path, args.corpus)
    for p in problems:
        print(p)
    rows = [json.loads(line) for line in args.path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{len(rows)} questions, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
