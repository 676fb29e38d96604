"""Figures by value, number words on the source side only, ordinals across scripts."""

from __future__ import annotations

import pytest

from rag.numbers import chinese_numeral, claimed_figures, ordinals, stated_figures, unsupported


@pytest.mark.parametrize(("claim", "stated", "backed"), [
    ("$675 million", "總投資達6.75億美元", True),  # the same value in another unit
    ("6.75 مليار دولار", "總投資達6.75億美元", False),  # off by ten: 6.75 billion is not 6.75億
    ("83.7 billion yuan", "استثمار 83.7 مليار يوان", True),
    ("837億元", "83.7 billion yuan", True),
    ("6.75", "6.75億美元", True),  # bare digits copied from the source
    ("5.2%", "5.2 مليار يوان", False),  # a percentage needs a percentage
    ("grew 15", "grew 15%", True),  # a claim may drop the sign
    ("٦٣٬٠٠٠ سيارة", "more than 63,000 vehicles", True),  # Arabic-Indic digits and separators
    ("3 days", "訪問三天", True),  # a Chinese numeral in the source
    ("8 member states", "eight member states", True),  # a number word in the source
    ("ثلاثة أيام", "3 days", True),  # a word in the claim is no figure to check
    ("2024年10月17日", "من 17 إلى 18 أكتوبر 2024", True),  # a month by its name
    ("October 17, 2024", "2024年10月17日", True),
    ("2024年11月9日", "من 17 إلى 18 أكتوبر 2024", False),
])
def test_a_claimed_figure_is_backed_by_its_value(claim: str, stated: str, backed: bool) -> None:
    assert (not unsupported(claimed_figures(claim), stated_figures(stated))) is backed


def test_number_words_are_not_claims() -> None:
    assert claimed_figures("one of eight forums, three days") == []


@pytest.mark.parametrize(("run", "value"), [
    ("三", 3), ("十一", 11), ("二十五", 25), ("三百", 300), ("一萬二千", 12000), ("两千零五", 2005), ("万", None),
])
def test_chinese_numerals(run: str, value: int | None) -> None:
    assert chinese_numeral(run) == value


@pytest.mark.parametrize(("text", "found"), [
    ("the 11th forum", {11}), ("the eleventh forum", {11}), ("第十一屆論壇", {11}), ("第10届", {10}),
    ("المنتدى العاشر", {10}), ("الدورة الحادية عشرة", {11}), ("الدورة الثالثة عشرة", {13}),
    ("the forum", set()),
])
def test_ordinals_in_three_scripts(text: str, found: set[int]) -> None:
    assert ordinals(text) == found
