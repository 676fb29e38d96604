"""When a checked answer is still no answer (rag.abstention), on the kinds of replies the
embedded model gives to questions the documents cannot answer."""

from __future__ import annotations

import pytest

from rag.abstention import (
    adds_nothing,
    drop_refusals,
    drop_source_talk,
    asks_for_amount,
    is_no_answer,
    names_a_deputy,
    says_not_found,
    states_amount,
)


@pytest.mark.parametrize(("question", "amount"), [
    ("How many member states does the SCO have?", True),
    ("What annual production capacity will the complex have?", True),
    ("كم استثمرت شركة سيمنز في مركز التمكين؟", True),
    ("بأي نسبة نمت صادرات الشركة؟", True),
    ("目前大約有多少家企業在重慶落戶？", True),
    ("重慶的GDP裡，數字經濟大概佔幾成？", True),
    # an amount beside another thing asked: a part of the answer is still an answer
    ("Which carmaker appears in both articles, and how many vehicles did it export?", False),
    ("上汽紅巖是什麼時候進入俄羅斯的？當時交了多少台車？", False),
    ("في أي أيام زار الوفد روسيا، وكم جرارا سلمته الشركة؟", False),
    ("Who chairs CDI?", False),
    ("ما اسم المسؤول الذي ترأس الوفد؟", False),
])
def test_questions_that_ask_only_for_an_amount(question: str, amount: bool) -> None:
    assert asks_for_amount(question) is amount


@pytest.mark.parametrize(("text", "amount"), [
    ("The SCO has eight member states [1].", True),
    ("تضم المنظمة ثمانية أعضاء [1].", True),
    ("وثلاثة مراقبين [1].", True),
    ("有四十家企業 [1]。", True),
    ("It rose by ٢٥ points [1].", True),
    ("Siemens invested in the centre for years [1].", False),  # the [1] is no amount
    ("شركة سيمنز استثمرت في مركز التمكين لمدة سنوات [1].", False),
])
def test_answers_that_state_an_amount(text: str, amount: bool) -> None:
    assert states_amount(text) is amount


def test_an_answer_that_only_restates_the_question_adds_nothing() -> None:
    q = "What annual production capacity will the Huajin-Aramco complex in Panjin have?"
    assert adds_nothing(q, "This capacity is stated in the first source [1].")
    assert adds_nothing(q, "According to source 1, the Huajin-Aramco complex in Panjin will have annual production capacity.")
    assert not adds_nothing(q, "The complex will refine 15 million tons of crude a year [1].")
    assert adds_nothing("من يرأس الشركة؟", "يرأس الشركة، وفقاً للمصدر [1].")
    assert not adds_nothing("من يرأس الشركة؟", "يرأس الشركة يو ياو [1].")


@pytest.mark.parametrize(("question", "answer", "deputy"), [
    ("Who is the mayor of Chongqing?", "The mayor of Chongqing is Cai Yunge, deputy mayor of Chongqing [1].", True),
    ("ما اسم المسؤول الذي ترأس الوفد؟", "ترأس الوفد نوروف، نائب رئيس مجلس الاتحاد [1].", True),
    ("重慶市長是誰？", "重慶市人民政府副市長蔡允革 [1]。", True),
    # the deputy asked about, a deputy of something else, or no post asked about
    ("Who is the deputy mayor of Chongqing?", "Cai Yunge is deputy mayor of Chongqing [1].", False),
    ("Who led the delegation?", "Li Lecheng led it, with the deputy of the firm [1].", False),
    ("من هو المسؤول الذي دعا إلى التعاون؟", "شيو هايدونج، نائب كبير المهندسين [1].", False),
    ("Who chairs CDI?", "Yu Yao, chairman of CDI [1].", False),
])
def test_a_deputy_named_for_the_post_asked_about(question: str, answer: str, deputy: bool) -> None:
    assert names_a_deputy(question, answer) is deputy


def test_is_no_answer_combines_the_checks() -> None:
    assert is_no_answer("How much did Siemens invest in the centre?", "Siemens invested in the centre for years [1].")
    assert not is_no_answer("How much did Siemens invest in the centre?", "Siemens invested 2 billion euros [1].")
    assert not is_no_answer("Who chairs CDI?", "Yu Yao chairs CDI [1].")
    assert is_no_answer("Who chairs CDI?", "CDI is chaired, as stated in the sources [1].")
    assert is_no_answer("Who is the mayor?", "Cai Yunge, deputy mayor [1].")


def test_refusals_in_the_model_s_own_words() -> None:
    assert says_not_found("NOT_IN_DOCUMENTS")
    assert says_not_found("The sources do not mention the mayor. Cai Yunge is deputy mayor.")
    assert says_not_found("文件中沒有提到這個數字。")
    assert not says_not_found("The mayor is Cai Yunge. Other posts are not mentioned.")


def test_refusal_sentences_are_dropped_and_the_found_part_kept() -> None:
    text = "Henan's car exports were not provided in the sources. Chongqing's trade reached 50.9 billion yuan [1]."
    assert drop_refusals(text) == "Chongqing's trade reached 50.9 billion yuan [1]."
    assert drop_refusals("文件中沒有提到這個數字。") == ""
    assert drop_refusals("لا تحتوي المصادر على الإجابة.") == ""
    assert drop_refusals("المصدران لا يشيران إلى أي سيارة. BYD تنتج سيارات [1].") == "BYD تنتج سيارات [1]."
    assert drop_refusals("The forum met in Ningbo [1].") == "The forum met in Ningbo [1]."


@pytest.mark.parametrize(("question", "reply", "kept"), [
    ("How much investment is involved in Chongqing companies expanding into SCO countries?",
     "The total investment is $675 million [1]. This information is stated in source.",
     "The total investment is $675 million [1]."),
    ("Where will Henan concentrate its push to expand complete-vehicle production?",
     "In Zhengzhou and the airport area [1]. This is stated in the first source [1].",
     "In Zhengzhou and the airport area [1]."),
    ("كم شركة تعمل في قطاع السيارات؟", "هناك 600 شركة [1]. وفقاً للمصدر 1.", "هناك 600 شركة [1]."),
    # no talk about the sources: a sentence made of the question's words may be the answer
    ("Which drew more participants, Horgos or Ningbo?", "Horgos. It drew 200 participants [1].",
     "Horgos. It drew 200 participants [1]."),
    # nothing but talk about the sources: left whole, for is_no_answer to refuse
    ("Who chairs CDI?", "This is stated in source 2.", "This is stated in source 2."),
])
def test_sentences_that_only_talk_about_the_sources_are_dropped(question: str, reply: str, kept: str) -> None:
    assert drop_source_talk(question, reply) == kept


def test_an_answer_that_only_talks_about_the_sources_still_abstains() -> None:
    assert is_no_answer("Who chairs CDI?", drop_source_talk("Who chairs CDI?", "This is stated in source 2."))
