"""Language detection and the keyword tokenizer for Arabic, Chinese and English.

Keyword search needs text that compares equal when a reader would call it equal:
Arabic loses diacritics and tatweel and folds alef/ya/ta-marbuta variants,
Arabic-Indic digits become ASCII, traditional Chinese characters fold to simplified
(a question typed as 重庆 must find a document written 重慶), and Chinese (which has no
spaces) is cut into character bigrams, because a plain ``\\w+`` pattern makes a whole
Chinese sentence one token and gives Chinese no hits.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources

ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
TATWEEL = "\u0640"
_DIGITS = {**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)}}
_FOLD_DIGITS = str.maketrans(_DIGITS)
_FOLD = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي", **_DIGITS}
)
_DIGIT_SEPARATORS = re.compile(r"(?<=\d)[,\u066c\u060c'](?=\d{3})")
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile("[A-Za-z]")
# CJK runs first; the word alternative excludes CJK so "2021年" or "SCO成立" split into a
# number/word and a CJK run (one \w+ token would hide the Chinese from keyword search).
_TOKEN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", re.UNICODE
)
# Arabic clitics and the article: stripped so "والسيارات" matches "سيارات".
_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_EN_STOP = frozenset(
    "a an the of in on at to for and or is are was were be been by with from as that this "
    "what which who whom when where why how did does do it its into about than then".split()
)
# Folded like the tokens they are compared with (على -> علي), or they would never match.
_AR_STOP = frozenset(
    w.translate(_FOLD) for w in "في من على الى ان عن مع هذا هذه ذلك التي الذي ما ماذا هل كم متى اين كيف او و".split()
)


def detect_language(text: str) -> str:
    """'ar', 'zh' or 'en' by which script has most letters; English when unsure."""
    ar = len(_ARABIC.findall(text))
    zh = len(_CJK.findall(text))
    en = len(_LATIN.findall(text))
    # A Chinese character carries about a word, an Arabic or Latin letter a fraction.
    scores = {"ar": ar, "zh": zh * 3, "en": en}
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > 0 else "en"


def reading_length(text: str) -> int:
    """Length in "Latin-letter units": a Chinese character costs a model's tokenizer about
    as much as three Latin letters (Qwen: ~1.3 characters a token against ~4 for English,
    ~2.7 for Arabic), so a budget counted this way holds the prompt's size, and so its
    reading time, about even across languages."""
    return len(text) + 2 * len(_CJK.findall(text))


def normalize_digits(text: str) -> str:
    """Arabic-Indic and Persian digits to ASCII, and drop thousands separators."""
    return _DIGIT_SEPARATORS.sub("", text.translate(_FOLD_DIGITS))



@cache
def _traditional_to_simplified() -> dict[int, str]:
    """OpenCC's character table (TSCharacters: one traditional character -> its simplified
    forms, the usual one first), read once. Character by character, not OpenCC's phrase
    conversion: matching needs the same folding for a word wherever it stands, and a
    table lookup costs nothing at 100k paragraphs."""
    table: dict[int, str] = {}
    text = (resources.files("opencc_purepy") / "dicts" / "TSCharacters.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        source, _, targets = line.partition("\t")
        forms = targets.split()
        if len(source) == 1 and forms:
            table[ord(source)] = forms[0]
    return table


def fold_chinese(text: str) -> str:
    """Traditional Chinese characters as simplified ones; any other text unchanged."""
    return text.translate(_traditional_to_simplified()) if _CJK.search(text) else text


def normalize(text: str) -> str:
    """Fold text for matching: NFKC, lower case, Arabic folding, ASCII digits, simplified
    Chinese characters."""
    text = fold_chinese(unicodedata.normalize("NFKC", text).lower())
    text = ARABIC_DIACRITICS.sub("", text).replace(TATWEEL, "")
    return _DIGIT_SEPARATORS.sub("", text.translate(_FOLD))


def _arabic_stem(token: str) -> str:
    for prefix in _AR_PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 2:
            return token[len(prefix):]
    return token


def tokenize(text: str) -> list[str]:
    """Keyword tokens: folded words, light-stemmed Arabic, Chinese character bigrams."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(normalize(text)):
        word = match.group()
        if _CJK.match(word):
            if len(word) == 1:
                tokens.append(word)
            tokens.extend(word[i : i + 2] for i in range(len(word) - 1))
        elif _ARABIC.match(word):
            if word not in _AR_STOP:
                tokens.append(_arabic_stem(word))
        elif word not in _EN_STOP:
            tokens.append(word)
    return tokens
