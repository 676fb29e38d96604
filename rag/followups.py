"""Follow-up questions in a chat: whether one depends on the conversation, and its
standalone rewrite.

    depends_on_conversation("and how many went to Russia?")    -> True
    depends_on_conversation("Who chairs CDI?")                  -> False
    rewrite_question(llm, turns, "وكم يوماً بقي هناك؟")          -> "كم يوماً بقي وفد شنغهاي في فرنسا؟"

Why decide first. The rewrite is a model call (seconds), and the small embedded model
rewrites a complete question badly: it swaps a company name or drops the second half of
a two-part question. So a question is rewritten only when it cannot be understood alone,
and one that names its subject is searched exactly as typed.

The rule (``depends_on_conversation``), the same shape in the three languages, on text
folded by rag.lang.normalize (traditional Chinese as simplified, Arabic letter variants):

1. It opens elliptically: "and…", "what about…", "also…"; Arabic و/ف glued to a question
   word ("وكم…", "فمتى…") or "ماذا عن…"; Chinese 那/那么/还有/另外/至于/而… at the start,
   or a question ending in 呢 with no question word ("俄罗斯呢？": "what about Russia?").
2. It has no subject of its own: fewer than two content words ("Why?", "How many?",
   "متى عقد؟", "哪一天举行的？"; Chinese counted as two characters a word, since
   Chinese and Arabic drop the pronoun a follow-up would otherwise carry).
3. Its first clause refers to something it does not name: a pronoun or deictic
   ("it", "they", "there", "هناك", "ذلك", "زارها", "它", "这个", "当时"). Only the first
   clause, because a later one refers back inside the question ("Which firm built the
   port, and when did it open?"); and not where the language resolves it on the spot:
   English existential "there is/are", "that" after a content word (a relative clause),
   "its/her/their" after a capitalised name ("Where will Henan concentrate its push?");
   Arabic "هو/هي" after a question word ("من هو…", a copula), a pronoun after a relative
   pronoun ("التي زارها": resumptive), "هناك" after "هل/كم" (existential); Chinese a
   demonstrative after a named thing in the same clause ("领工云这家公司").

Measured on the 135 questions of eval/ (dev, heldout, wiki: all standalone), it rewrites
0 of 45 English, 4 of 45 Arabic (three attached pronouns whose name comes first, as in
"حصلت تونس على استقلالها", and "كم عدد الدروز؟" with one content word) and 1 of 45 Chinese ("這篇重慶報導…", which does point outside); it catches all
33 follow-ups of tests/test_followups.py (11 a language, written for the purpose), and
passes its 27 standalone questions. A missed follow-up is searched as typed, as before.

The rewrite itself: the LLM rewrites the new question into a standalone one in the same
language, from the last ``MAX_TURNS`` turns. The small embedded model sometimes answers
instead of rewriting, switches language or echoes an earlier question, so a rewrite is
used only if it passes ``plausible_rewrite``; otherwise the question goes on as typed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from rag.lang import detect_language, normalize
from rag.prompts import render

if TYPE_CHECKING:
    from rag.llms import LLM

MAX_TURNS = 3  # turns shown to the rewriter: enough for "and there?", short enough to stay fast
HISTORY_ANSWER_CHARS = 300  # per answer in the rewrite prompt; prompt length is the speed lever
REWRITE_MAX_TOKENS = 80  # ~60 is typical; Arabic needs more tokens per word
MIN_KEPT_OVERLAP = 0.5  # share of the question's character bigrams a rewrite must keep
MIN_CONTENT_WORDS = 2  # fewer, and the question has no subject of its own
LANGUAGE_NAMES = {"ar": "Arabic", "zh": "Chinese", "en": "English"}
_MARKERS = re.compile(r"\s*\[\d+\]")
_LABEL = re.compile(r"^\s*(?:rewritten(?:\s*\([^)]*\))?|standalone question|question)\s*[:：]\s*", re.I)

# -- the word lists (plain spelling; folded with rag.lang.normalize before use) -------------

_EN_OPENERS = ("and", "but", "also", "so", "then", "or", "plus", "what about", "how about", "what else")
_EN_REFERENCES = ("it its itself they them their theirs themselves he him his she her hers this these those "
                  "there that then such same former latter")
_EN_POSSESSIVES = frozenset(("its", "his", "her", "their"))
_EN_BE = "is are was were be been being will would 's"
_EN_FUNCTION = ("a an the of in on at to for and or but is are was were be been by with from as that this what "
                "which who whom whose when where why how did does do done it its into about than then "
                "many much else also more other others so very there any some can could will would should "
                "has have had not no yes please tell me us know happen happened")

_AR_QUESTION = "كم متى أين هل من ما ماذا كيف لماذا أي بكم لمن"
_AR_OPENERS = ("ماذا عن", "وماذا عن", "أيضا", "وأيضا", "كذلك", "وكذلك")
_AR_REFERENCES = ("هناك هنالك هنا ذلك تلك هذا هذه هؤلاء أولئك هو هي هم هما هن حينها حينذاك آنذاك عندئذ "
                  "نفسه نفسها نفسهم فيه منه عنه له به إليه عليه معه عنده لديه")
_AR_SUFFIXES = ("ها", "هم", "هما", "هن")  # attached pronouns: "زارها" (visited it), "عاصمتها" (its capital)
_AR_RELATIVES = "الذي التي الذين اللذين اللتين اللواتي اللاتي"
_AR_FUNCTION = ("في من على إلى أن عن مع هذا هذه ذلك التي الذي ما ماذا هل كم متى أين كيف أو و لماذا أي بكم "
                "لمن هو هي هم هناك هنا كان كانت تم يكون أيضا كذلك عدد بعد قبل")

_ZH_OPENERS = ("那", "还有", "另外", "此外", "至于", "而", "又", "同样")
_ZH_REFERENCES = ("它们", "他们", "她们", "它", "他", "她", "这", "那", "其", "该", "此", "当地", "当时", "上述",
                  "对方", "双方", "同年", "同期")
_ZH_NOT_REFERENCES = ("其他", "其它", "尤其", "极其", "其实", "应该", "因此", "如此", "彼此", "那么")
_ZH_QUESTION = ("什么", "多少", "几", "哪", "谁", "怎么", "如何", "为什么", "为何", "是否", "吗", "何")
_ZH_FUNCTION = set("什么多少几哪谁怎如何为吗呢吧啊了的是有在和与及也都又还就被把对从到给之于个些一这那其它他她们该此时地里请问")

_CLAUSE_END = re.compile(r"[?,;:!\u061f\u060c\u061b\u3001\u3002]")  # after NFKC: ？→?, ，→, ；→;
_EN_ASKING = "(?:what|which|who|whom|whose|when|where|why|how|did|does|do|is|are|was|were)"
_WORD = re.compile(r"[^\W_]+")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@cache
def _folded(words: str | tuple[str, ...]) -> frozenset[str]:
    items = words.split() if isinstance(words, str) else words
    return frozenset(normalize(w) for w in items)


def depends_on_conversation(question: str) -> bool:
    """Whether QUESTION needs the conversation to be understood (module docstring, rules 1-3)."""
    text = normalize(question).strip()
    language = detect_language(text)
    if language == "zh":
        return _zh_elliptic(text) or _zh_few_content(text) or _zh_refers(_first_clause(text))
    words = _WORD.findall(text)
    if language == "ar":
        return (_ar_elliptic(text, words) or _few_content(words, _AR_FUNCTION, _AR_REFERENCES)
                or _ar_refers(_first_clause(text)))
    cased = unicodedata.normalize("NFKC", question).strip()  # English names are told by their capital
    return _en_elliptic(text) or _few_content(words, _EN_FUNCTION, _EN_REFERENCES) or _en_refers(_first_clause(cased))


def _first_clause(text: str) -> str:
    """TEXT up to the first clause break: punctuation, or a conjunction before a question
    word ("…, and when did it open?", "…وكم عدد سكانها؟")."""
    return _CLAUSE_END.split(_clause_join().split(text, maxsplit=1)[0], maxsplit=1)[0]


@cache
def _clause_join() -> re.Pattern[str]:
    arabic = "|".join(sorted(_folded(_AR_QUESTION), key=len, reverse=True))
    return re.compile(rf"\b(?:and|but|or)\s+(?={_EN_ASKING}\b)|\s[وف](?=(?:{arabic})(?:\s|$))", re.I)


def _few_content(words: list[str], function: str, references: str) -> bool:
    """Rule 2: fewer than MIN_CONTENT_WORDS words that are neither function words nor references."""
    stop = _folded(function) | _folded(references)
    return sum(1 for w in words if w not in stop) < MIN_CONTENT_WORDS


def _en_elliptic(text: str) -> bool:
    return any(re.match(rf"{re.escape(o)}\b", text) for o in _folded(_EN_OPENERS))


def _en_refers(clause: str) -> bool:
    cased = re.findall(r"[^\W\d_][\w'-]*", clause)
    words = [w.lower() for w in cased]
    refs, be, function = _folded(_EN_REFERENCES), _folded(_EN_BE), _folded(_EN_FUNCTION)
    for i, w in enumerate(words):
        if w not in refs:
            continue
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if w == "there" and (before in be or after in be):
            continue  # "are there", "there were": existential
        if w == "that" and before and before not in function:
            continue  # "the firm that built", "said that": a relative clause or a complement
        if w in _EN_POSSESSIVES and any(c[0].isupper() for c in cased[1:i]):
            continue  # "Where will Henan concentrate its push": a name before it owns it
        return True
    return False


def _ar_elliptic(text: str, words: list[str]) -> bool:
    if any(text.startswith(o) for o in _folded(_AR_OPENERS)):
        return True
    first = words[0] if words else ""
    return first[:1] in ("و", "ف") and first[1:] in _folded(_AR_FUNCTION)  # "وكم…", "وفي عام…"


def _ar_refers(clause: str) -> bool:
    words = _WORD.findall(clause)
    refs, questions, relatives = _folded(_AR_REFERENCES), _folded(_AR_QUESTION), _folded(_AR_RELATIVES)
    for i, w in enumerate(words):
        before = words[i - 1] if i else ""
        bare = w[1:] if w[:1] in ("و", "ف") and w[1:] in refs else w
        if bare in refs:
            if bare in _folded("هو هي هم") and before in questions:
                continue  # "من هو", "ما هي": a copula
            if bare in _folded("هناك هنالك") and (not before or before in questions):
                continue  # "هل هناك", "كم هناك من": existential
            return True
        if len(w) >= 4 and w.endswith(_AR_SUFFIXES) and not w.startswith("ال") and not relatives & set(words[:i]):
            return True  # an attached pronoun, unless a relative pronoun before it makes it resumptive
    return False


def _zh_elliptic(text: str) -> bool:
    if text.startswith(tuple(_folded(_ZH_OPENERS))):
        return True
    return text.rstrip("?").endswith("呢") and not any(q in text for q in _folded(_ZH_QUESTION))


def _zh_few_content(text: str) -> bool:
    """Rule 2 for Chinese: content characters, two to a word; a Latin word or a number is one word."""
    content = sum(1 for ch in _HAN.findall(text) if ch not in _ZH_FUNCTION)
    return content + 2 * len(_WORD.findall(_HAN.sub(" ", text))) < 2 * MIN_CONTENT_WORDS


def _zh_refers(clause: str) -> bool:
    masked = clause
    for w in _folded(_ZH_NOT_REFERENCES):
        masked = masked.replace(w, "\0" * len(w))
    for ref in _folded(_ZH_REFERENCES):
        at = masked.find(ref)
        if at >= 0 and all(ch in _ZH_FUNCTION for ch in _HAN.findall(clause[:at])):
            return True  # nothing named before it in its clause: it points outside the question
    return False


# -- the rewrite ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One exchange as the rewriter sees it: the standalone question and the answer text."""

    question: str
    answer: str


def rewrite_question(llm: LLM, turns: list[Turn], question: str) -> str:
    """The standalone form of QUESTION given the conversation, or QUESTION itself.

    Usage: ``rewrite_question(llm, [Turn("Which countries did ...?", "Germany, ...")],
    "and how many days in Russia?")`` -> "How many days did ... spend in Russia?".
    """
    if not turns:
        return question
    history = "\n".join(f"Q: {t.question}\nA: {_one_line(t.answer)[:HISTORY_ANSWER_CHARS]}" for t in turns)
    language = detect_language(question)
    prompt = render("rewrite", history=history, question=question, language=LANGUAGE_NAMES[language])
    reply = "".join(
        llm.stream([{"role": "user", "content": prompt}], max_tokens=REWRITE_MAX_TOKENS, temperature=0.0, stop=["\n"])
    )
    candidate = _LABEL.sub("", reply.strip().split("\n")[0]).strip().strip("\"'“”«»「」")
    return candidate if plausible_rewrite(candidate, question, turns) else question


def plausible_rewrite(candidate: str, question: str, turns: list[Turn]) -> bool:
    """Whether CANDIDATE can stand in for QUESTION.

    Refused: empty; absurdly long; in another language than the question (the answer's
    language follows the question searched); a copy of an earlier question (the model
    repeats history); or keeping under half of the question's character bigrams (the model
    answered, or chatted, instead of rewriting). Bigrams, not words, because Arabic glues
    clitics to words ("ومن حضرها" -> "من حضر") and Chinese has no spaces.
    """
    if not candidate or len(candidate) > 2 * len(question) + 120:
        return False
    if detect_language(candidate) != detect_language(question):
        return False
    folded = _fold(candidate)
    if folded != _fold(question) and any(folded == _fold(t.question) for t in turns):
        return False
    wanted = _bigrams(question)
    return not wanted or len(wanted & _bigrams(candidate)) / len(wanted) >= MIN_KEPT_OVERLAP


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", normalize(text))


def _bigrams(text: str) -> set[str]:
    folded = _fold(text)
    return {folded[i : i + 2] for i in range(len(folded) - 1)}


def _one_line(text: str) -> str:
    return " ".join(_MARKERS.sub("", text).split())
