"""Citations are the sentences the model named, held to what the answer says."""

from __future__ import annotations

from rag.citations import Cited, check, cite
from rag.evidence import Evidence, Sentence
from rag.generation import Part, Reply
from rag.types import Chunk, Hit, Paragraph

PARAGRAPHS = {
    ("003.txt", 24): "So far, some 40 companies from the SCO footprint set up in Chongqing. "
                     "They entail a total investment of $675 million.",
    ("003.txt", 25): "目前,上合組織成員國在重慶設立企業約40家。總投資達6.75億美元。",
    ("003.txt", 2): "Digital-rich Chongqing spurs SCO ties for common prosperity",
    ("001.txt", 2): "وتحتوي المقاطعة على مايزيد عن 600 شركة عاملة في قطاع صناعة السيارات.",
    ("001.txt", 3): "باعت شركات خنان 840 ألف سيارة، بزيادة قدرها 87.7٪.",
}


def evidence() -> Evidence:
    sentences, hits = [], []
    for (file, number), text in PARAGRAPHS.items():
        hit = Hit(Chunk(f"{file}::{number}::0", Paragraph(file, number, number, number, text), 0, text), 0.5)
        hits.append(hit)
        from rag.sentences import sentence_spans

        for a, b in sentence_spans(text):
            sentences.append(Sentence(len(sentences) + 1, hit, a, b, 0.7))
    return Evidence(tuple(sentences), tuple(hits))


EV = evidence()
# 1: 40 companies (¶24)  2: $675 million (¶24)  3: 约40家 (¶25)  4: 6.75億 (¶25)  5: headline (¶2)  6: 600 (001 ¶2)
# 7: 840 ألف, 87.7٪ (001 ¶3)


def reply(numbers: tuple[int, ...], answer: str, structured: bool = True) -> Reply:
    return Reply((Part(numbers, answer),), None, structured, "")


def cited(question: str, r: Reply) -> Cited:
    return cite(check(question, r, EV))


def test_named_sentences_become_citations_with_exact_quotes() -> None:
    got = cited("How much was invested?", reply((2,), "A total of $675 million was invested."))
    assert got.text == "A total of $675 million was invested. [1]"
    (c,) = got.citations
    assert (c.file, c.paragraph, c.quote) == ("003.txt", 24, "They entail a total investment of $675 million.")
    assert c.quote in PARAGRAPHS[("003.txt", 24)]


def test_a_figure_stated_in_another_unit_and_language_is_backed() -> None:
    got = cited("投資多少？", reply((4,), "總投資為675 million美元。"))
    assert got.citations and got.citations[0].paragraph == 25


def test_a_figure_off_by_ten_is_dropped() -> None:
    got = cited("كم الاستثمار؟", reply((4,), "بلغ الاستثمار 6.75 مليار دولار."))
    assert got.text == "" and got.citations == [] and got.parts[0].dropped


def test_a_figure_another_evidence_sentence_backs_brings_it_in() -> None:
    got = cited("كم شركة؟", reply((5,), "600 شركة عاملة في قطاع صناعة السيارات."))
    assert [(c.file, c.paragraph) for c in got.citations] == [("001.txt", 2)]  # the headline shares nothing


def test_named_sentences_the_answer_does_not_rest_on_are_not_cited() -> None:
    got = cited("How much investment?", reply((2, 5, 4), "Total investment of $675 million."))
    assert [(c.paragraph, c.marker) for c in got.citations] == [(24, 1), (25, 2)]
    assert got.text == "Total investment of $675 million. [1] [2]"


def test_a_named_sentence_repeating_only_what_the_figure_backer_says_is_not_cited() -> None:
    got = cited("How many SCO companies are in Chongqing?", reply((5, 1), "40 SCO companies in Chongqing."))
    assert [c.paragraph for c in got.citations] == [24]  # the headline adds no word ¶24 lacks
    kept = cited("How many, and what drives SCO ties?", reply((1, 5), "40 companies; digital-rich spurs ties."))
    assert [c.paragraph for c in kept.citations] == [24, 2]  # here the headline states a part


def test_a_figure_the_question_gives_may_be_repeated() -> None:
    got = cited("Did 40 companies set up there in 2021?", reply((1,), "Yes, 40 companies set up in 2021."))
    assert got.citations and not got.parts[0].dropped


def test_two_sentences_of_one_paragraph_are_one_citation() -> None:
    got = cited("How many and how much?", reply((1, 2), "Some 40 companies invested $675 million."))
    (c,) = got.citations
    assert c.quote == PARAGRAPHS[("003.txt", 24)]


def test_each_answer_sentence_gets_the_marker_of_what_it_rests_on() -> None:
    got = cited("?", reply((6, 2), "Henan has 600 car companies. Chongqing drew $675 million."))
    assert got.text == "Henan has 600 car companies. [1] Chongqing drew $675 million. [2]"


def test_markers_the_model_writes_itself_are_replaced() -> None:
    got = cited("?", reply((2,), "It was $675 million [3] (Source 1)."))
    assert got.text == "It was $675 million. [1]"


def test_a_plain_text_reply_rests_on_the_sentence_sharing_its_figures() -> None:
    got = cited("?", reply((), "The investment was $675 million.", structured=False))
    assert [c.paragraph for c in got.citations] == [24]
    assert cited("?", reply((), "Nothing here matches.", structured=False)).citations == []


def test_a_structured_reply_naming_nothing_cites_nothing() -> None:
    got = cited("?", reply((), ""))
    assert got.citations == [] and got.text == ""


def test_one_sentence_brought_in_backs_every_figure_it_states() -> None:
    got = cited("How many in 2024?", reply((5,), "In 2024 they sold 840,000 vehicles, up 87.7%."))
    assert [(c.file, c.paragraph) for c in got.citations] == [("001.txt", 3)]


def test_parts_of_an_answer_share_one_numbering_of_markers() -> None:
    r = Reply((Part((6,), "Henan: 600 car companies."), Part((2, 4), "Chongqing: $675 million.")), None, True, "")
    got = cite(check("?", r, EV), "\n")
    assert got.text == "Henan: 600 car companies. [1]\nChongqing: $675 million. [2] [3]"
    assert [(c.marker, c.file, c.paragraph) for c in got.citations] == [
        (1, "001.txt", 2), (2, "003.txt", 24), (3, "003.txt", 25)]
