"""eval/wiki/check.py: the repository's question sets pass it, and each kind of mistake
in a set is reported (a checker that passes everything would also pass these sets)."""

from __future__ import annotations

import collections
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import REPO

_spec = importlib.util.spec_from_file_location("eval_check", REPO / "eval" / "wiki" / "check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules["eval_check"] = check  # dataclasses look their module up while the class is made
_spec.loader.exec_module(check)


def test_repository_sets_have_no_problems() -> None:
    paths = check.default_sets()
    assert REPO / "eval" / "wiki" / "qa.jsonl" in paths and REPO / "eval" / "dev.jsonl" in paths
    report = check.run(paths)
    assert [str(p) for p in report.problems] == []


def _counts(name: str) -> collections.Counter:
    rows = [json.loads(line) for line in (REPO / "eval" / "wiki" / name).read_text(encoding="utf-8").splitlines()]
    return collections.Counter((r["language"], r["kind"]) for r in rows)


def test_near_miss_and_multi_document_sets_have_their_sizes() -> None:
    near, multi = _counts("near-miss.jsonl"), _counts("multi.jsonl")
    for lang in ("ar", "zh", "en"):
        assert near[(lang, "unanswerable")] >= 6
        assert multi[(lang, "multi-document")] >= 4
    assert set(k for _, k in near) == {"unanswerable"} and set(k for _, k in multi) == {"multi-document"}


# -- a small corpus and one good row, then one mistake at a time --------------------------

EN = "Alpha was founded in 1901 by Ann Lee.\n\nAlpha has 300 members.\n"
ZH = "貝塔於1950年在臺灣成立。\n"


def _gold(file: str, paragraph: int, line: int) -> dict:
    return {"file": file, "paragraph": paragraph, "start_line": line, "end_line": line}


GOOD = {
    "id": "t-en-01", "question": "When was Alpha founded, and where was Beta founded?", "language": "en",
    "kind": "multi-document", "gold": [_gold("a.txt", 1, 1), _gold("b.txt", 1, 1)],
    "facts": [["1901"], ["Taiwan", "臺灣", "台湾"]],
}


def _problems(tmp_path: Path, *rows: dict | str) -> list[str]:
    (tmp_path / "corpus").mkdir(exist_ok=True)
    (tmp_path / "corpus" / "a.txt").write_text(EN, encoding="utf-8")
    (tmp_path / "corpus" / "b.txt").write_text(ZH, encoding="utf-8")
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert check.corpus_for(path) == tmp_path / "corpus"
    return [p.message for p in check.run([path]).problems]


def test_a_good_row_passes(tmp_path: Path) -> None:
    assert _problems(tmp_path, GOOD) == []
    assert _problems(tmp_path, {**GOOD, "id": "t-en-zh-01"}) == []  # question language first


def _with(**changes: object) -> dict:
    return {**GOOD, **changes}


BAD = {
    "span one line off": (_with(gold=[_gold("a.txt", 2, 4), _gold("b.txt", 1, 1)]), "is lines 3-3, gold says 4-4"),
    "no such paragraph": (_with(gold=[_gold("a.txt", 3, 5), _gold("b.txt", 1, 1)]), "does not exist"),
    "no such file": (_with(gold=[_gold("c.txt", 1, 1), _gold("b.txt", 1, 1)]), "not in the corpus"),
    "fact not in gold": (_with(facts=[["1902"], ["Taiwan", "臺灣", "台湾"]]), "no variant of fact '1902'"),
    "fact in question": (_with(question="Was Alpha founded in 1901, and where was Beta founded?"),
                         "already occurs in the question"),
    "multi in one file": (_with(gold=[_gold("a.txt", 1, 1), _gold("a.txt", 2, 3)], facts=[["1901"], ["300"]]),
                          "gold in only one file"),
    "a gold file states nothing": (_with(facts=[["1901"], ["Ann Lee"]]), "b.txt states none of the facts"),
    "unanswerable with facts": (_with(kind="unanswerable", gold=[]), "empty gold and facts"),
    "same-language across scripts": (_with(kind="same-language"), "kind same-language but"),
    "cross-language in one script": (_with(kind="cross-language", gold=[_gold("a.txt", 1, 1)], facts=[["1901"]]),
                                     "kind cross-language but"),
    "fact not in the question's script": (_with(facts=[["1901"], ["臺灣", "台湾"]]), "no variant in the question's script"),
    "fields out of order": ({k: GOOD[k] for k in ("question", "id", "language", "kind", "gold", "facts")},
                            "fields must be exactly"),
    "unknown kind": (_with(kind="same-document"), "kind 'same-document' is not one of"),
    "id for another language": (_with(id="t-zh-01"), "id says zh but language is en"),
    "id whose first language is another": (_with(id="t-zh-en-01"), "id says zh but language is en"),
    "id without a language": (_with(id="t-01"), "id must look like"),
    "question in another language": (_with(language="zh", id="t-zh-01"), "question reads as en, not zh"),
    "four facts": (_with(facts=[["1901"], ["Taiwan", "臺灣", "台湾"], ["Alpha"], ["Ann"]]), "1-3 facts"),
    "escaped non-ASCII": (json.dumps(GOOD), "not \\u escapes"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_mistake_is_reported(tmp_path: Path, case: str) -> None:
    row, expected = BAD[case]
    problems = _problems(tmp_path, row)
    assert any(expected in p for p in problems), problems


ZH_QUESTION = _with(id="t-zh-01", language="zh", question="Alpha何時成立？Beta在哪裡成立？")


def test_chinese_fact_needs_its_simplified_form_for_a_chinese_question(tmp_path: Path) -> None:
    assert _problems(tmp_path, ZH_QUESTION) == []
    problems = _problems(tmp_path, {**ZH_QUESTION, "facts": [["1901"], ["Taiwan", "臺灣"]]})
    assert problems == ["fact 'Taiwan': add the simplified form of 臺灣"]
    # An English answer quotes a Chinese name as the source spells it, if at all.
    assert _problems(tmp_path, _with(facts=[["1901"], ["Taiwan", "臺灣"]])) == []


def test_chinese_question_with_ascii_punctuation(tmp_path: Path) -> None:
    row = _with(id="t-zh-01", language="zh", kind="cross-language", question="Alpha是哪一年成立的?",
                gold=[_gold("a.txt", 1, 1)], facts=[["1901"]])
    assert any("ASCII punctuation" in p for p in _problems(tmp_path, row))


def test_ids_and_questions_are_unique_across_lines(tmp_path: Path) -> None:
    same_id = _with(question="Where was Beta founded, and when was Alpha founded?")
    same_question = _with(id="t-en-02")
    problems = _problems(tmp_path, GOOD, same_id, same_question)
    assert problems == [f"id already used in {tmp_path / 'set.jsonl'}",
                        f"the same question is already in {tmp_path / 'set.jsonl'}"]


def test_a_rare_simplified_form_is_not_required(tmp_path: Path) -> None:
    """OpenCC lists 勣 -> 𪟝 first and 绩 second; a fact with 绩 has its simplified form."""
    assert check.has_simplified("李勣", ["李勣", "李绩"])
    assert not check.has_simplified("李勣", ["李勣"])
    assert check.has_simplified("沈阳", ["沈阳"])  # 沈 is simplified as well as traditional
