"""Which chat questions are rewritten from the conversation, and which are searched as typed.

The questions below were written for this test (not taken from the rule's examples), about
the sample corpus, as a person would type them in each language: complete questions that
name their subject, and follow-ups that only make sense after an earlier answer. The rule
is general (rag.followups docstring); these lists check it does what it claims and would
catch a change that breaks one language.
"""

from __future__ import annotations

import pytest

from conftest import REPO
from rag.followups import depends_on_conversation

STANDALONE = {
    "en": [
        "How many SCO companies have set up in Chongqing?",
        "When was the 10th foundry forum held in Ningbo?",
        "Which countries did the Liaoning delegation visit in October 2023?",
        "How many vehicles were exported through Horgos in 2024?",
        "What is the theme of the Horgos car export summit?",
        "Who is the secretary-general of the SCO?",
        "Are there any electric vehicle plants in Henan?",
        "Which company that builds heavy trucks entered the Russian market?",
        "Which firm built the Horgos port, and when did it open?",
    ],
    "ar": [
        "كم شركة من دول منظمة شنغهاي للتعاون استقرت في تشونغتشينغ؟",
        "متى عقد المنتدى العاشر لصناعة المسابك؟",
        "ما الدول التي زارها وفد لياونينغ؟",
        "من هو الأمين العام لمنظمة شنغهاي للتعاون؟",
        "هل هناك مصانع للسيارات الكهربائية في خنان؟",
        "كم سيارة صدرت عبر هورجوس في عام 2024؟",
        "ما موضوع قمة تصدير السيارات في هورجوس؟",
        "وفد لياونينغ زار أي دول؟",
        "ما عاصمة مقاطعة خنان وكم عدد سكانها؟",
    ],
    "zh": [
        "目前有多少家上合組織國家的企業在重慶落戶？",
        "第十屆鑄造論壇在哪裡舉行？",
        "遼寧代表團訪問了哪些國家？",
        "霍爾果斯汽車出口峰會的主題是什麼？",
        "上合組織秘書長是誰？",
        "河南有沒有電動車工廠？",
        "重慶的GDP是多少？",
        "領工云這家公司是在哪裡成立的？",
        "上汽紅巖哪一年進入俄羅斯市場？當時賣了多少台車？",
    ],
}

FOLLOW_UPS = {
    "en": [
        "and how many days did they spend in Russia?",
        "How many days did they spend there?",
        "When was it held?",
        "Who chaired it?",
        "What about Henan?",
        "Why?",
        "And in 2023?",
        "Which companies did the delegation visit there?",
        "How much was invested in them?",
        "Where is its headquarters?",
        "What did he say at the forum?",
    ],
    "ar": [
        "وكم يوماً بقي هناك؟",
        "كم يوماً قضى الوفد هناك؟",
        "متى عقد؟",
        "من ترأسه؟",
        "وماذا عن خنان؟",
        "كم عدد المشاركين فيها؟",
        "لماذا؟",
        "وفي عام 2023؟",
        "ما عاصمتها؟",
        "وهل زارها الوفد؟",
        "كم تبلغ قيمة استثماراتهم؟",
    ],
    "zh": [
        "那是哪一天舉行的？",
        "他們在俄羅斯待了幾天？",
        "俄羅斯呢？",
        "哪一天舉行的？",
        "有多少人參加？",
        "當地有多少家企業？",
        "為什麼？",
        "還有哪些國家？",
        "這個論壇是誰主辦的？",
        "它的總部在哪裡？",
        "其中有多少家是汽車企業？",
    ],
}


@pytest.mark.parametrize(("language", "question"), [(lang, q) for lang, qs in STANDALONE.items() for q in qs])
def test_a_question_that_names_its_subject_is_searched_as_typed(language: str, question: str) -> None:
    assert not depends_on_conversation(question)


@pytest.mark.parametrize(("language", "question"), [(lang, q) for lang, qs in FOLLOW_UPS.items() for q in qs])
def test_a_follow_up_is_rewritten(language: str, question: str) -> None:
    assert depends_on_conversation(question)


def test_the_rewrite_prompt_examples_count_as_follow_ups() -> None:
    """The three follow-ups prompts/rewrite.txt shows the model are what the rule sends it."""
    text = (REPO / "prompts" / "rewrite.txt").read_text(encoding="utf-8")
    shown = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Last question:")]
    examples = [q for q in shown if q != "{question}"]
    assert len(examples) == 3
    assert all(depends_on_conversation(q) for q in examples), examples
