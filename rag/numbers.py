"""Where numbers are read: figures with their magnitude, number words, ordinals.

An answer moves figures between languages and units (837億 = 83.7 مليار = 83.7
billion), and the small model gets the unit wrong by a factor of ten (6.75億 is 675
million, not 6.75 billion). So a figure is read with the magnitude word after it and
compared by value; a percentage only matches a percentage.

The two sides of a check are read differently on purpose. A *claim* (a number the
answer states) is read strictly: digits only, so a stray "one" in an answer is no
figure. A *source* is read generously: digits, and also number words and Chinese
numerals ("三天", "eight member states", "ثلاثة أيام"), because refusing an answer that
writes 3 for a source's 三 would be a false abstention, while accepting a claim whose
value only a number word states costs nothing.

Ordinals ("11th", 第十一屆, الحادية عشرة) are read to their value too: a question about
the 11th forum is about something a document about the 10th forum does not hold,
whatever script either is written in (see rag.abstention).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from rag.lang import normalize, normalize_digits

MAGNITUDE = {
    "thousand": 3, "million": 6, "billion": 9, "trillion": 12,
    "千": 3, "万": 4, "萬": 4, "百万": 6, "百萬": 6, "亿": 8, "億": 8,
    "ألف": 3, "آلاف": 3, "الف": 3, "مليون": 6, "ملايين": 6, "مليار": 9, "مليارات": 9,
}
_NUMBER = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s?(" + "|".join(sorted(map(re.escape, MAGNITUDE), key=len, reverse=True)) + r"))?",
    re.IGNORECASE,
)
# After a number: it is a percentage (not "percentage points", not a bare "percentage").
_PERCENT = re.compile(r"\s?(?:%|٪|﹪|percent\b|per cent\b|في المائة|في المئة|بالمائة|بالمئة)", re.IGNORECASE)

_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
               "六": 6, "七": 7, "八": 8, "九": 9}
_CJK_UNITS = {"十": 10, "百": 100, "千": 1000}
_CJK_BIG = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_CJK_NUMERAL = re.compile("[零〇一二两兩三四五六七八九十百千万萬亿億]+")

_EN_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_EN_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                  "ninety": 90, "hundred": 100, "dozen": 12})
_AR_WORDS = {normalize(w): v for w, v in (
    ("واحد", 1), ("واحدة", 1), ("اثنان", 2), ("اثنين", 2), ("اثنتان", 2), ("اثنتين", 2), ("ثلاث", 3),
    ("ثلاثة", 3), ("أربع", 4), ("أربعة", 4), ("خمس", 5), ("خمسة", 5), ("ست", 6), ("ستة", 6), ("سبع", 7),
    ("سبعة", 7), ("ثمان", 8), ("ثماني", 8), ("ثمانية", 8), ("تسع", 9), ("تسعة", 9), ("عشر", 10), ("عشرة", 10),
    ("عشرون", 20), ("عشرين", 20), ("ثلاثون", 30), ("ثلاثين", 30), ("أربعون", 40), ("أربعين", 40),
    ("خمسون", 50), ("خمسين", 50), ("مائة", 100), ("مئة", 100),
)}
# Month names, so a date moved across languages keeps its month: 10月17日 is backed by
# "17 أكتوبر" and "October 17". Both Arabic naming systems are in use.
_MONTHS = {normalize(w): i for i, names in enumerate((
    ("january", "jan", "يناير", "كانون الثاني"), ("february", "feb", "فبراير", "شباط"), ("march", "mar", "مارس", "آذار"),
    ("april", "apr", "أبريل", "ابريل", "نيسان"), ("may", "مايو", "أيار"), ("june", "jun", "يونيو", "يونيه", "حزيران"),
    ("july", "jul", "يوليو", "يوليه", "تموز"), ("august", "aug", "أغسطس", "آب"),
    ("september", "sep", "sept", "سبتمبر", "أيلول"), ("october", "oct", "أكتوبر", "تشرين الأول"),
    ("november", "nov", "نوفمبر", "تشرين الثاني"), ("december", "dec", "ديسمبر", "كانون الأول"),
), start=1) for w in names}
_EN_ORDINALS = {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}
# Arabic ordinals, masculine and feminine, folded as rag.lang.normalize folds text.
_AR_ORDINALS = {normalize(w): v for w, v in (
    ("الأول", 1), ("الأولى", 1), ("الثاني", 2), ("الثانية", 2), ("الثالث", 3), ("الثالثة", 3),
    ("الرابع", 4), ("الرابعة", 4), ("الخامس", 5), ("الخامسة", 5), ("السادس", 6), ("السادسة", 6),
    ("السابع", 7), ("السابعة", 7), ("الثامن", 8), ("الثامنة", 8), ("التاسع", 9), ("التاسعة", 9),
    ("العاشر", 10), ("العاشرة", 10), ("الحادي", 1), ("الحادية", 1),
)}
_AR_TEEN = (normalize("عشر"), normalize("عشرة"))
_ORDINAL_EN = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b|\b(" + "|".join(_EN_ORDINALS) + r")\b", re.IGNORECASE)
_ORDINAL_ZH = re.compile(r"第\s*(\d+|[零〇一二两兩三四五六七八九十百千]+)")


@dataclass(frozen=True)
class Figure:
    """One number as written: ``digits`` as they stand, ``value`` with the magnitude word
    applied (6.75億: digits 6.75, value 675000000), and whether it is a percentage."""

    digits: Decimal
    value: Decimal
    percent: bool = False
    scaled: bool = False

    def supported_by(self, stated: Figure) -> bool:
        """Whether a source's figure STATED backs this claimed figure.

        A percentage needs a percentage of the same value. A figure with a magnitude word
        needs the same value (6.75 billion is not backed by 6.75億). A bare figure is backed
        by the same digits (the unit may be a word the check does not read: "6.75 yuan")
        or the same value, and by a source's percentage of those digits.
        """
        if self.percent:
            return stated.percent and stated.value == self.value
        if self.scaled:
            return not stated.percent and stated.value == self.value
        return stated.digits == self.digits or stated.value == self.value


def claimed_figures(text: str) -> list[Figure]:
    """The figures TEXT states in digits (Arabic-Indic folded, separators dropped)."""
    found = []
    for match in _NUMBER.finditer(normalize_digits(text)):
        digits, magnitude = match.groups()
        try:
            number = Decimal(digits)
        except InvalidOperation:  # pragma: no cover - the pattern only matches decimals
            continue
        if _PERCENT.match(match.string, match.end()):
            found.append(Figure(number, number, percent=True))
        elif magnitude:
            found.append(Figure(number, number.scaleb(MAGNITUDE[magnitude.lower()]), scaled=True))
        else:
            found.append(Figure(number, number))
    return found


def stated_figures(text: str) -> list[Figure]:
    """The figures a source states: its digits, plus number words, Chinese numerals and the
    numbers of the months it names."""
    found = claimed_figures(text)
    folded = normalize(text)
    for name, month in _MONTHS.items():
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", folded):
            found.append(Figure(Decimal(month), Decimal(month)))
    for run in _CJK_NUMERAL.findall(text):
        value = chinese_numeral(run)
        if value is not None:
            found.append(Figure(Decimal(value), Decimal(value)))
    for word in re.findall(r"\w+", normalize(text)):
        value = _EN_WORDS.get(word, _AR_WORDS.get(word.removeprefix("و"), _AR_WORDS.get(word)))
        if value is not None:
            found.append(Figure(Decimal(value), Decimal(value)))
    return found


def unsupported(claims: list[Figure], stated: list[Figure]) -> list[Figure]:
    """The claimed figures no stated figure backs."""
    return [c for c in claims if not any(c.supported_by(s) for s in stated)]


def chinese_numeral(run: str) -> int | None:
    """三 -> 3, 十一 -> 11, 二十五 -> 25, 三百 -> 300, 一萬二千 -> 12000; None if RUN is not
    a numeral (a lone 万 or 千)."""
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in _CJK_DIGITS:
            digit = _CJK_DIGITS[ch]
        elif ch in _CJK_UNITS:
            section += (1 if digit is None else digit) * _CJK_UNITS[ch]
            digit = None
        elif ch in _CJK_BIG:
            if digit is None and section == 0:
                return None
            total += (section + (digit or 0)) * _CJK_BIG[ch]
            section, digit = 0, None
    if digit is None and section == 0 and total == 0:
        return None if run[0] not in "零〇" else 0
    return total + section + (digit or 0)


def ordinals(text: str) -> set[int]:
    """The ordinal values TEXT states: 11th / eleventh, 第十一 / 第11, العاشر / الحادي عشر."""
    found: set[int] = set()
    folded = normalize_digits(text)
    for digits, word in _ORDINAL_EN.findall(folded):
        found.add(int(digits) if digits else _EN_ORDINALS[word.lower()])
    for numeral in _ORDINAL_ZH.findall(folded):
        value = int(numeral) if numeral.isdigit() else chinese_numeral(numeral)
        if value is not None:
            found.add(value)
    words = re.findall(r"\w+", normalize(text))
    for i, word in enumerate(words):
        value = _AR_ORDINALS.get(word)
        if value is None:
            continue
        teen = i + 1 < len(words) and words[i + 1] in _AR_TEEN
        if value < 10 and teen:
            found.add(value + 10)
        elif not word.startswith(normalize("الحادي")):
            found.add(value)
    return found


def values(text: str) -> set[Decimal]:
    """Every value a source states, as figures and as ordinals: what a question's
    number or ordinal is looked for among."""
    figures = stated_figures(text)
    return {f.value for f in figures} | {f.digits for f in figures} | {Decimal(v) for v in ordinals(text)}
