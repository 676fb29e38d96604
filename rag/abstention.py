"""When an answer is no answer: the checks behind "not in the documents".

The embedded model rarely says it cannot answer. Asked about something the documents
do not hold, it restates the question as if it were the answer ("This capacity is
stated in the first source."), or answers "how much did Siemens invest" with a
sentence that names no amount. The citation check (rag.citations) cannot catch these:
they state no number a source lacks. So after the citations are checked, an answer is
also held to what the question asked for:

- ``drop_refusals``: the sentences where the model says the sources lack something are
  not an answer; what is left may be (a two-part question answered in part). Nothing
  left is a refusal (``says_not_found`` is the whole-answer test the baseline uses);
- ``drop_source_talk``: a sentence that only talks about the sources ("This information
  is stated in source 1.") is not part of the answer either, when the answer has others;
- ``asks_for_amount`` / ``states_amount``: a question that asks only for an amount is
  answered only by a sentence that gives one (digits or a number word);
- ``adds_nothing``: an answer whose every word is the question's own words, or talk
  about the sources, tells the user nothing;
- ``names_a_deputy``: asked who holds a post (the mayor, the head of the delegation), the
  model names the deputy the passage mentions ("Cai Yunge, deputy mayor"): that is
  someone else, so the documents do not say who holds the post.
"""

from __future__ import annotations

import re

from rag.citations import split_sentences
from rag.lang import normalize, tokenize
from rag.prompts import CANNOT_ANSWER

# How the model says "not in the sources" in its own words instead of the exact
# CANNOT_ANSWER token. Checked in the answer's first sentence only, so an answer that
# states a fact and then notes what is missing still counts as an answer.
REFUSALS = (
    "not in the documents", "not in the sources", "do not contain", "does not contain",
    "do not mention", "does not mention", "do not provide", "does not provide",
    "do not specify", "does not specify", "do not state", "does not state",
    "no information", "not mentioned", "not specified", "not provided", "cannot answer",
    "do not indicate", "does not indicate", "no mention",
    "لا توجد معلومات", "لا تتوفر معلومات", "لا تحتوي", "لا تذكر", "لا يذكر", "لم يذكر", "لم تذكر",
    "لم يتم ذكر", "غير مذكور", "لا تتضمن", "لا يتضمن", "لا يمكن الإجابة", "لا يشير", "لا تشير", "لم يشر", "لم تشر",
    "沒有提到", "没有提到", "未提及", "沒有提及", "没有提及", "沒有相關", "没有相关", "無法回答", "无法回答",
    "未提供", "沒有提供", "没有提供", "沒有說明", "没有说明", "未說明", "未说明", "不包含", "沒有指出", "没有指出",
)

# Questions that ask for an amount: a count, a sum, a share. Only these words, and only
# when the question asks nothing else (see asks_for_amount): "which carmaker ..., and
# how many vehicles" may be answered in part.
_AMOUNT_EN = re.compile(
    r"\bhow (?:many|much)\b|\bwhat\b[^?]{0,40}?\b(?:percentage|share|proportion|amount|number|capacity|total|value)\b",
    re.IGNORECASE,
)
# Arabic patterns are folded like the text they are matched against (بأي -> باي).
_AMOUNT_AR = re.compile(normalize(r"(?:^|\s)(?:كم|بكم|ما (?:حجم|قيمة|نسبة|عدد|مقدار)|بأي نسبة|ما هي نسبة)(?:\s|$)"))
_AMOUNT_ZH = re.compile(r"多少|幾[成個家台臺輛人天年]|几[成个家台辆人天年]|比例|百分之幾|百分之几")
# A second thing asked beside the amount, which an answer may give alone.
_OTHER_ASK = re.compile(
    r"\b(?:which|who|where|when|what (?:city|company|companies|country|countries|date|day|year))\b"
    + normalize(r"|(?:^|\s)(?:من هو|من هي|أي|أين|متى|ما اسم)(?:\s|$)") + "|哪|誰|谁|什麼時候|什么时候|何時|何时",
    re.IGNORECASE,
)
# Number words, for answers that spell an amount out ("eight member states").
_NUMBER_WORDS = frozenset(normalize(w) for w in (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds "
    "thousand thousands million millions billion billions dozen dozens half quarter twice double "
    "واحد واحدة اثنان اثنين اثنتان اثنتين ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة ثمان ثماني ثمانية "
    "تسع تسعة عشر عشرة عشرون عشرين ثلاثون ثلاثين أربعون أربعين خمسون خمسين مائة مئة مئات ألف آلاف ألفا "
    "مليون ملايين مليار مليارات نصف ربع ثلث ضعف"
).split())
_CJK_NUMERALS = re.compile("[一二三四五六七八九十百千万萬亿億兩两半]")
# Talk about the sources rather than about the question's subject.
_META = re.compile(
    r"(?:(?:\b(?:as )?(?:stated|mentioned|shown|given|described|provided) (?:in|by) (?:the )?(?:\w+ )?sources?"
    r"|\baccording to (?:the )?(?:\w+ )?sources?|\b(?:this|the) information\b|\bsources?"
    r"|(?:(?:وفقا|وفقاً|حسب|كما ورد في|كما جاء في|كما هو مذكور في)\s*)?\w*(?:مصدر|مصادر)\w*"
    r"|根[據据]|來源|来源|資料|资料)(?:\s*\d+)?)",
    re.IGNORECASE,
)
_CITED = re.compile(r"\s*\[\d+\]")
# Posts, and the qualifiers that make a post someone else's, per language. Arabic is
# folded like the text it is matched against (ترأس -> تراس).
_POST = {
    "en": (r"\b(?:mayor|governor|chair|chairman|chairwoman|president|head|headed|led|director|minister|"
           r"secretary|chief|leader)\b", r"\b(?:deputy|vice|assistant|acting|former)[ -](?:\w+ )?"),
    "ar": (normalize(r"(?:رئيس|ترأس|يرأس|رئاسة|محافظ|عمدة|وزير|مدير|أمين|قاد|يقود)"), normalize(r"(?:نائب|مساعد)\s+(?:ال)?")),
    "zh": (r"市長|市长|省長|省长|主席|董事長|董事长|部長|部长|書記|书记|局長|局长|總裁|总裁|團長|团长|負責人|负责人|領導|领导|率領|率领|帶隊|带队",
           r"副"),
}


def says_not_found(text: str) -> bool:
    """Whether the model's answer is a refusal: the CANNOT_ANSWER token anywhere, or a
    refusal phrase (REFUSALS) in its first sentence."""
    if CANNOT_ANSWER in text:
        return True
    first = (split_sentences(text) or [""])[0].casefold()
    return any(phrase in first for phrase in REFUSALS)


def drop_refusals(text: str) -> str:
    """TEXT without its sentences that say the sources lack something: what is left is
    what the model did find ("X is not stated. Y grew 15% [2]." keeps the second part)."""
    kept = [s for s in split_sentences(text) if not any(p in s.casefold() for p in REFUSALS)]
    return " ".join(kept)


def drop_source_talk(question: str, text: str) -> str:
    """TEXT without its sentences that talk about the sources and say nothing else ("The
    total is $675 million [1]. This information is stated in source." keeps the first).
    Only sentences that mention the sources go: "Horgos." may be the whole answer to a
    question that names Horgos. An answer that is all such talk is returned whole, for
    ``is_no_answer`` to judge."""
    kept = [s for s in split_sentences(text) if not (_META.search(_CITED.sub("", s)) and adds_nothing(question, s))]
    return " ".join(kept) if kept else text


def asks_for_amount(question: str) -> bool:
    """Whether QUESTION asks for an amount and for nothing else."""
    q = normalize(question)
    asks = bool(_AMOUNT_EN.search(q) or _AMOUNT_AR.search(q) or _AMOUNT_ZH.search(q))
    return asks and not _OTHER_ASK.search(q)


def states_amount(text: str) -> bool:
    """Whether TEXT gives an amount: a digit, a CJK numeral or a number word (citation
    markers aside)."""
    folded = normalize(_CITED.sub("", text))
    if re.search(r"\d", folded) or _CJK_NUMERALS.search(folded):
        return True
    return any(word.removeprefix("و") in _NUMBER_WORDS or word in _NUMBER_WORDS for word in re.findall(r"\w+", folded))


def adds_nothing(question: str, answer: str) -> bool:
    """Whether every content word of ANSWER is already in QUESTION, once talk about the
    sources is set aside: the answer only restates what was asked."""
    said = {_stem(t) for t in tokenize(_META.sub(" ", _CITED.sub("", answer)))}
    return not (said - {_stem(t) for t in tokenize(question)})


def _stem(token: str) -> str:
    """English words compared by their first five letters (chairs, chaired, chairman)."""
    return token[:5] if token.isascii() and token.isalpha() else token


def names_a_deputy(question: str, answer: str) -> bool:
    """Whether QUESTION asks about a post and ANSWER names only its deputy (or an assistant,
    or a former holder) where the question named no such qualifier."""
    q, a = normalize(question), normalize(answer)
    for post, qualifier in _POST.values():
        if re.search(post, q) and not re.search(qualifier, q) and re.search(qualifier + post, a):
            return True
    return False


def is_no_answer(question: str, answer: str) -> bool:
    """Whether a checked, cited ANSWER still fails to answer QUESTION (see module doc)."""
    if names_a_deputy(question, answer):
        return True
    if asks_for_amount(question) and not states_amount(answer):
        return True
    return adds_nothing(question, answer)
