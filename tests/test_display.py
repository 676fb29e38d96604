"""rag.display without a terminal: what a pipe receives, and the coloured answer's words."""

from __future__ import annotations

import io

import pytest

from rag.display import ABSTAINED, FILE, MARKER, Screen, styled_answer
from rag.render import answer_text
from rag.types import Answer, Citation

CITED = Answer("q1", "How many?", "About 40 companies [1], in Chongqing [2].", False, "en", [
    Citation(1, "003_3e9024b6c632520f.txt", 24, 51, 51, "some 40 companies"),
    Citation(2, "notes [draft].txt", 3, 5, 7, "in Chongqing"),
])
ABSTAINING = Answer("q2", "Who is the mayor?", "The documents do not contain the answer to this question.", True, "en")
FAILED = Answer("q3", "Who?", "", False, "en", error="cannot reach the model server")


@pytest.mark.parametrize("answer", [CITED, ABSTAINING, FAILED], ids=["cited", "abstained", "error"])
@pytest.mark.parametrize("quotes", [True, False])
def test_the_coloured_answer_has_the_plain_answers_words(answer: Answer, quotes: bool) -> None:
    assert styled_answer(answer, quotes=quotes).plain == answer_text(answer, quotes=quotes)


def test_markers_and_cited_files_are_styled() -> None:
    text = styled_answer(CITED)
    styled = {(text.plain[s.start:s.end], str(s.style)) for s in text.spans}
    assert ("[1]", MARKER) in styled and ("[2]", MARKER) in styled
    assert ("003_3e9024b6c632520f.txt", FILE) in styled
    assert ("notes [draft].txt", FILE) in styled  # a file name is data, never markup
    abstained = styled_answer(ABSTAINING)
    assert {(abstained.plain[s.start:s.end], str(s.style)) for s in abstained.spans} == {(ABSTAINING.answer, ABSTAINED)}


def test_a_pipe_gets_the_checked_answer_only_as_plain_text() -> None:
    out = io.StringIO()
    screen = Screen(out, terminal=False)
    with screen.drafting() as draft:
        draft.status("… searching")
        for piece in ("About 40 ", "companies [1]. A made-up ", "figure [2]."):
            draft.add(piece)
    screen.show_answer(CITED)
    assert out.getvalue() == answer_text(CITED) + "\n"


def test_a_stdout_that_is_not_a_terminal_is_not_treated_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.setenv("FORCE_COLOR", "1")  # colour forced on still gives a pipe no live draft
    assert Screen().terminal is False
