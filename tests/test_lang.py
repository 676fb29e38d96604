"""Language detection and the keyword tokenizer (Arabic folding, Chinese bigrams and\ntraditional -> simplified folding, digits)."""

from __future__ import annotations

import pytest

from conftest import SAMPLE_CORPUS
from rag.documents import read_document
from rag.lang import detect_language, fold_chinese, normalize, normalize_digits, tokenize


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("كم عدد السيارات التي صدرتها الصين في عام 2023؟", "ar"),
        ("長安汽車今年上半年出口了多少輛汽車?", "zh"),
        ("长安汽车今年上半年出口了多少辆汽车？", "zh"),
        ("How many cars did Chang'an Auto export in the first half of the year?", "en"),
        # Mixed: the question's own script wins over a foreign name or acronym in it.
        ("كم سيارة صدرت شركة BYD إلى روسيا؟", "ar"),
        ("SCO成立于哪一年?", "zh"),
        ("重慶數字經濟佔GDP多少?", "zh"),
        ("Where is Horgos (霍尔果斯) port?", "en"),
        ("Who chairs the جمعية مصنعي السيارات in Xinjiang and why does it matter?", "en"),
        ("", "en"),
        ("2024 ... 42?", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_detect_language_on_the_corpus() -> None:
    p = {name: read_document(SAMPLE_CORPUS / name, name).paragraphs
         for name in ("000_0f425e83b5bd7ec2.txt", "003_3e9024b6c632520f.txt")}
    assert all(detect_language(x.text) == "ar" for x in p["000_0f425e83b5bd7ec2.txt"])
    bilingual = p["003_3e9024b6c632520f.txt"]
    assert detect_language(bilingual[25].text) == "en"  # ¶26, line 55
    assert detect_language(bilingual[26].text) == "zh"  # ¶27, its Chinese twin


# -- Chinese -------------------------------------------------------------------------


def test_chinese_becomes_bigrams() -> None:
    assert tokenize("重慶數字經濟") == ["重庆", "庆数", "数字", "字经", "经济"]  # folded to simplified
    assert tokenize("車") == ["车"]
    assert tokenize("中歐班列 開通") == ["中欧", "欧班", "班列", "开通"]


def test_traditional_and_simplified_chinese_compare_equal() -> None:
    assert tokenize("重慶兩江新區") == tokenize("重庆两江新区")
    assert normalize("長安汽車累計出口汽車6.3萬多輛") == "长安汽车累计出口汽车6.3万多辆"
    assert fold_chinese("臺灣 Taiwan تايوان") == "台湾 Taiwan تايوان"  # only the Chinese changes
    assert fold_chinese("No Chinese here.") == "No Chinese here."
    passage = set(tokenize(read_document(SAMPLE_CORPUS / "003_3e9024b6c632520f.txt", "003").paragraphs[26].text))
    for term in ("长安汽车", "上半年", "累计出口"):  # simplified query terms, a traditional document
        assert set(tokenize(term)) <= passage, term


def test_chinese_query_term_matches_a_passage() -> None:
    passage = read_document(SAMPLE_CORPUS / "003_3e9024b6c632520f.txt", "003").paragraphs[26].text
    assert passage.startswith("今年上半年,長安汽車")
    passage_tokens = set(tokenize(passage))
    for term in ("長安汽車", "上半年", "出口"):
        assert set(tokenize(term)) <= passage_tokens, term
    assert not set(tokenize("比亞迪")) & passage_tokens  # a company the passage never names


def test_chinese_next_to_digits_and_latin_is_still_segmented() -> None:
    """A date or acronym glued to Chinese must not swallow the Chinese into one token."""
    assert tokenize("2021年8月7日中國日報") == ["2021", "年", "8", "月", "7", "日中", "中国", "国日", "日报"]
    assert tokenize("SCO成立于2001年") == ["sco", "成立", "立于", "2001", "年"]
    passage = set(tokenize("2021年8月7日中國日報記者 鄧蕊、譚英姿報道"))
    assert set(tokenize("日報記者")) <= passage


# -- Arabic --------------------------------------------------------------------------


def test_arabic_diacritics_and_tatweel_are_ignored() -> None:
    assert tokenize("السَّيَّارَاتُ") == tokenize("السيارات") == ["سيارات"]
    assert tokenize("سيـــارات") == ["سيارات"]
    assert normalize("مُحَمَّد") == "محمد"


def test_arabic_letter_variants_fold() -> None:
    assert tokenize("أحمد") == tokenize("إحمد") == tokenize("آحمد") == tokenize("احمد") == ["احمد"]
    assert tokenize("مدينة") == tokenize("مدينه")  # ta marbuta
    assert tokenize("مستشفى") == tokenize("مستشفي")  # alef maqsura
    assert normalize("ٱلصين") == normalize("الصين")  # alef wasla


def test_arabic_article_and_clitics_are_stripped() -> None:
    assert tokenize("السيارات") == tokenize("سيارات") == tokenize("والسيارات") == tokenize("بالسيارات")
    assert tokenize("للصين") == tokenize("الصين") == ["صين"]
    assert tokenize("الى") == []  # a stop word, not "ى"
    assert tokenize("ال") == ["ال"]  # too short to strip


def test_arabic_stop_words_are_dropped_in_any_spelling() -> None:
    assert tokenize("في من على إلى متى هل") == []
    assert tokenize("على الحدود") == ["حدود"]


def test_arabic_query_matches_corpus_passage() -> None:
    passage = read_document(SAMPLE_CORPUS / "000_0f425e83b5bd7ec2.txt", "000").paragraphs[0].text
    passage_tokens = set(tokenize(passage))
    query = "أين عُقدت قمة صادرات السيارات الصينية؟"
    wanted = set(tokenize(query))
    assert {"عقدت", "قمه", "صادرات", "سيارات", "صينيه"} <= wanted
    assert wanted <= passage_tokens


# -- digits --------------------------------------------------------------------------


def test_arabic_indic_digits_equal_ascii() -> None:
    assert tokenize("٢٠٢٤") == tokenize("2024") == ["2024"]
    assert tokenize("۲۰۲۴") == ["2024"]  # Persian digits
    assert normalize_digits("١٢٣٬٤٥٦ و ٧٨") == "123456 و 78"
    assert normalize_digits("12,500 cars") == "12500 cars"
    assert normalize_digits("3.5") == "3.5"
    assert tokenize("صدّرت ١٢٬٥٠٠ سيارة") == tokenize("صدرت 12,500 سيارة")


def test_english_tokens() -> None:
    assert tokenize("What did the SCO TEMP platform do in 2016?") == ["sco", "temp", "platform", "2016"]
    assert tokenize("Chang'an Auto") == ["chang", "auto"]  # 'an' is a stop word
    assert tokenize("ＡＢＣ１２３") == ["abc123"]  # NFKC folds full-width forms
