"""Where abstention is decided: "not in the documents" from general signals.

The small model answers almost every question it is asked, moving a neighbouring fact
onto whatever the question named (another company's export figure, another edition's
date, another city's official). No list of phrasings catches that; what catches it
follows from what an answer must be: the thing the question is about is in the text
the answer cites. The signals, each general:

- **subject** (``missing_subject``): the question's names, numbers and ordinals must be
  found in the cited sentences' documents, after rag.lang's normalisation (digits,
  Arabic letter variants, traditional/simplified Chinese). A term in a script the cited
  document does not use at all (an English name asked of an Arabic article) cannot be
  matched by spelling; for those the other signals decide. Numbers and ordinals are
  compared by value, so they are checked across scripts too (11th = 第十一 = الحادي عشر).
- **model**: the model named no evidence sentence, or its probability for naming none
  (``Reply.p_none``, from the token log-probabilities) is above ``Settings.answer.abstain_p_none``.
- **retrieval**: the best cited sentence is not close enough to the question
  (``abstain_support``), or nothing retrieved is (``abstain_retrieval``).
- **figures**: every answer sentence stated a figure no evidence sentence backs
  (rag.citations dropped them all).

Thresholds live in ``Settings.answer`` (rag.config), chosen on eval/dev.jsonl and the
wiki set together (eval/README.md), and reported on eval/heldout.jsonl.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rag.config import AnswerSettings
from rag.lang import detect_language, tokenize
from rag.numbers import claimed_figures, ordinals

NOT_FOUND = {
    "en": "The documents do not contain the answer to this question.",
    "ar": "لا تحتوي المستندات على إجابة لهذا السؤال.",
    "zh": "文件中沒有這個問題的答案。",
}

# Capitalised words that begin questions or name nothing.
_NOT_NAMES = frozenset(
    "what which who whom whose when where why how is are was were do does did can could "
    "the a an in on at of for and or to from by with according".split()
)
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ0-9'’.-]*")
_SCRIPTS = {
    "latin": re.compile(r"[a-zà-öø-ÿ]"),
    "arabic": re.compile(r"[\u0600-\u06ff]"),
    "cjk": re.compile(r"[\u3400-\u9fff]"),
}
_ZH_ORDINAL = "〇一二三四五六七八九"
_AR_ORDINAL_FORMS = {
    1: ("الأول", "الأولى"), 2: ("الثاني", "الثانية"), 3: ("الثالث", "الثالثة"), 4: ("الرابع", "الرابعة"),
    5: ("الخامس", "الخامسة"), 6: ("السادس", "السادسة"), 7: ("السابع", "السابعة"), 8: ("الثامن", "الثامنة"),
    9: ("التاسع", "التاسعة"), 10: ("العاشر", "العاشرة"),
}
_EN_ORDINAL = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


@dataclass(frozen=True)
class Term:
    """Something the question is about, and the spellings any one of which a document
    holding it would contain."""

    text: str
    spellings: tuple[str, ...]


@dataclass(frozen=True)
class Signals:
    """What the answer stage saw, for one question; ``decide`` weighs it."""

    named_none: bool
    p_none: float | None
    p_choice: float | None
    retrieval: float
    support: float
    missing_subject: tuple[str, ...]
    figures_dropped: bool


@dataclass(frozen=True)
class Decision:
    """Whether to abstain, and which signal decided (shown by ``--verbose``)."""

    abstain: bool
    reason: str = ""


def decide(signals: Signals, thresholds: AnswerSettings) -> Decision:
    """Abstain when any signal says the cited text does not hold the answer."""
    if signals.figures_dropped:
        return Decision(True, "the answer stated a figure no evidence sentence states")
    if signals.named_none:
        return Decision(True, "no evidence sentence states the answer")
    if signals.missing_subject:
        return Decision(True, f"the cited documents never mention {', '.join(signals.missing_subject)}")
    if signals.p_none is not None and signals.p_none > thresholds.abstain_p_none:
        return Decision(True, f"the model's confidence that no sentence answers is {signals.p_none:.2f}")
    if signals.support < thresholds.abstain_support:
        return Decision(True, f"the cited sentences are far from the question (similarity {signals.support:.2f})")
    if signals.retrieval < thresholds.abstain_retrieval:
        return Decision(True, f"nothing retrieved is close to the question (similarity {signals.retrieval:.2f})")
    return Decision(False)


def subject_terms(question: str) -> list[Term]:
    """The question's names, numbers and ordinals.

    Names are found where the script marks them: capitalised Latin words (not the
    question word that opens an English question) and any Latin word in an Arabic or
    Chinese question. Arabic and Chinese names have no such mark; their check is the
    model's and the retrieval's (module docstring).
    """
    terms: list[Term] = []
    latin_question = detect_language(question) == "en"
    words = _LATIN_WORD.findall(question)
    for i, word in enumerate(words):
        word = re.sub(r"['’]s$", "", word).strip("'’.-")
        if not word or word.lower() in _NOT_NAMES or word.isdigit():
            continue
        if latin_question and not (word[0].isupper() or any(ch.isdigit() for ch in word)):
            continue
        if latin_question and i == 0:
            continue
        terms.append(Term(word, (word,)))
    seen_values = set()
    for value in sorted(ordinals(question)):
        seen_values.add(value)
        terms.append(Term(f"#{value}", _ordinal_spellings(value)))
    for figure in claimed_figures(question):
        if figure.percent or figure.digits in seen_values:
            continue
        text = format(figure.digits.normalize(), "f")
        terms.append(Term(text, (text,)))
    return terms


def _ordinal_spellings(value: int) -> tuple[str, ...]:
    suffix = "th" if 10 <= value % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")
    # Not the bare digits: "10" stands in any document for any ten things.
    spellings = [f"{value}{suffix}", f"第{value}"]
    if value < 100:
        tens, ones = divmod(value, 10)
        zh = ("" if tens == 0 else ("十" if tens == 1 else _ZH_ORDINAL[tens] + "十")) + (_ZH_ORDINAL[ones] if ones else "")
        spellings.append(f"第{zh}")
    if value < len(_EN_ORDINAL):
        spellings.append(_EN_ORDINAL[value])
    if value in _AR_ORDINAL_FORMS:
        spellings.extend(_AR_ORDINAL_FORMS[value])
    elif 10 < value < 20 and value - 10 in _AR_ORDINAL_FORMS:
        masculine, feminine = _AR_ORDINAL_FORMS[value - 10] if value != 11 else ("الحادي", "الحادية")
        spellings.extend((f"{masculine} عشر", f"{feminine} عشرة"))
    return tuple(spellings)


def missing_subject(terms: list[Term], files: list[str], holds: Callable[[str], frozenset[str]]) -> tuple[str, ...]:
    """The TERMS that no one of FILES holds in any spelling (HOLDS(file) is a file's
    keyword terms, rag.keywords), leaving out a name in a script one of FILES does not use
    (that one may name it in its own script)."""
    checkable, found = _matched(terms, files, holds)
    return tuple(t.text for t in checkable if t not in found)


def about_subject(terms: list[Term], files: list[str], holds: Callable[[str], frozenset[str]]) -> bool:
    """Whether FILES hold at least one of TERMS, or none of TERMS can be checked in them:
    what each part of an answer across documents must meet (the part about Tunisia need
    not name Jordan, but a part that names neither is padding)."""
    checkable, found = _matched(terms, files, holds)
    return bool(found) or not checkable


def _matched(terms: list[Term], files: list[str], holds: Callable[[str], frozenset[str]]) -> tuple[list[Term], list[Term]]:
    """(the TERMS FILES can be checked for, those of them FILES hold)."""
    if not files:
        return [], []
    held = [holds(f) for f in files]
    scripts = [{name for name, pattern in _SCRIPTS.items() if any(pattern.match(t) for t in h)} for h in held]
    checkable, found = [], []
    for term in terms:
        script = next((name for name, pattern in _SCRIPTS.items() if pattern.search(term.text.lower())), None)
        if script is not None and any(script not in used for used in scripts):
            continue  # a cited document may hold it in another script: left to the other signals
        checkable.append(term)
        if any(_contains(h, spelling) for h in held for spelling in term.spellings):
            found.append(term)
    return checkable, found


def _contains(held: frozenset[str], phrase: str) -> bool:
    """Whether HELD has every token of PHRASE, Latin letters compared without their accents:
    a name typed without them (Beyonce, Delbruck) is the one the document spells with them
    (Beyoncé, Delbrück), and the keyword tokens keep accents."""
    tokens = [_unaccented(t) for t in tokenize(phrase)]
    folded = _unaccented_set(held)
    return bool(tokens) and all(t in folded for t in tokens)


def _unaccented(token: str) -> str:
    if not _SCRIPTS["latin"].search(token):
        return token
    return "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))


@lru_cache(maxsize=64)
def _unaccented_set(held: frozenset[str]) -> frozenset[str]:
    return frozenset(_unaccented(t) for t in held)

