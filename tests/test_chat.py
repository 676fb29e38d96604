"""rag chat: follow-up rewriting and slash commands, with a scripted model and assistant.
The real thing in a pseudo-terminal is in test_chat_terminal.py."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.chat import Chat, Outcome
from rag.display import Screen
from rag.followups import Turn, plausible_rewrite, rewrite_question
from rag.prompts import load
from rag.types import Answer, Chunk, Citation, Hit, Paragraph

# -- fakes: the real interfaces, scripted --------------------------------------------------


@dataclass
class FakeLLM:
    """Replies from a script and records every prompt it was given."""

    replies: list[str]
    id: str = "fake-llm"
    prompts: list[str] = field(default_factory=list)

    def stream(self, messages, *, max_tokens=512, temperature=0.0, stop=None):
        self.prompts.append(messages[-1]["content"])
        reply = self.replies.pop(0)
        yield from (reply[i : i + 4] for i in range(0, len(reply), 4))


PARAGRAPH = Paragraph("004_19d5bed1d5b90f32.txt", 4, 4, 4, "أمضى الوفد الفترة من الـ 16 إلى الـ 19 في روسيا، بما في ذلك اجتماعات.")


@dataclass
class Asked:
    """What Assistant.ask returns, as far as a chat reads it."""

    answer: Answer
    hits: list[Hit]


@dataclass
class FakeAssistant:
    """Answers every question with one citation to PARAGRAPH, streaming ``pieces`` first."""

    llm: FakeLLM | None
    pieces: list[str] = field(default_factory=lambda: ["The delegation ", "stayed four days [1]."])
    interrupt_after: int | None = None  # raise KeyboardInterrupt after this many pieces
    asked: list[str] = field(default_factory=list)

    def ask(self, question, *, qid=None, on_token=None):
        self.asked.append(question)
        for n, piece in enumerate(self.pieces):
            if self.interrupt_after is not None and n == self.interrupt_after:
                raise KeyboardInterrupt
            if on_token:
                on_token(piece)
        quote = "أمضى الوفد الفترة من الـ 16 إلى الـ 19 في روسيا"
        return Asked(Answer(qid, question, "The delegation stayed from the 16th to the 19th [1].", False, "en",
                            [Citation(1, PARAGRAPH.file, 4, 4, 4, quote)]),
                     [Hit(Chunk("c4", PARAGRAPH, 0, PARAGRAPH.text), 0.9)])


class Shown(io.StringIO):
    """What a Chat wrote to a plain (not terminal) screen, as a pipe would receive it."""

    def text(self) -> str:
        return self.getvalue()

    def clear(self) -> None:
        self.seek(0)
        self.truncate()


def make_chat(assistant: FakeAssistant, *, verbose: bool = False) -> tuple[Chat, Shown]:
    out = Shown()
    chat = Chat(assistant, verbose=verbose, screen=Screen(out, terminal=False), history=Path("history"))  # type: ignore[arg-type]
    return chat, out


# -- rewriting and commands ----------------------------------------------------------------


def test_the_rewrite_prompt_declares_its_placeholders() -> None:
    text = load("rewrite")
    for name in ("{history}", "{question}", "{language}"):
        assert name in text


def test_follow_up_is_rewritten_from_the_conversation_and_the_rewrite_is_asked() -> None:
    rewritten = "How many days did the Liaoning delegation spend in Russia?"
    llm = FakeLLM([rewritten])
    assistant = FakeAssistant(llm)
    chat, out = make_chat(assistant)

    chat.handle("Which countries did the Liaoning delegation visit?")
    assert llm.prompts == []  # nothing to resolve yet: no model call
    chat.handle("and how many days did they spend in Russia?")

    assert assistant.asked[-1] == rewritten
    prompt = llm.prompts[0]
    assert "Which countries did the Liaoning delegation visit?" in prompt
    assert "The delegation stayed from the 16th to the 19th." in prompt  # the answer, markers dropped
    assert "and how many days did they spend in Russia?" in prompt and "English" in prompt

    out.clear()
    chat.handle("/sources")
    shown = out.text()
    assert f"searched as: {rewritten}" in shown
    assert "you asked:   and how many days did they spend in Russia?" in shown
    assert "[1] 004_19d5bed1d5b90f32.txt ¶4 (line 4)" in shown
    assert PARAGRAPH.text in shown  # the whole paragraph, not just the quote


def test_verbose_shows_the_rewritten_question() -> None:
    assistant = FakeAssistant(FakeLLM(["Where is the Liaoning delegation from?"]))
    chat, out = make_chat(assistant, verbose=True)
    chat.handle("Which countries did the Liaoning delegation visit?")
    chat.handle("where is it from?")
    assert "(searching for: Where is the Liaoning delegation from?)" in out.text()


def test_verbose_timings_name_no_first_token_when_no_model_wrote_one() -> None:
    class Timed(FakeAssistant):
        def ask(self, question, *, qid=None, on_token=None):
            asked = super().ask(question, qid=qid, on_token=on_token)
            asked.answer.timings_ms = {"retrieve": 12.0, "generate": 1.0, "total": 1500.0}  # --llm none: no first token
            return asked

    chat, out = make_chat(Timed(None, pieces=[]), verbose=True)
    chat.handle("Which countries did the Liaoning delegation visit?")
    assert out.text().endswith("(retrieve 12 ms, total 1.5 s)\n")


TURNS = [Turn("ما الدول التي زارها وفد لياونينغ؟", "زار الوفد ألمانيا والسعودية وروسيا.")]


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        ("", "empty"),
        ("كم يوماً قضى وفد لياونينغ في روسيا؟ " * 8, "absurdly long"),
        ("How many days did the delegation spend in Russia?", "another language"),
        ("ما الدول التي زارها وفد لياونينغ؟", "a copy of the earlier question"),
        ("أنا هنا لمساعدتك. كيف يمكنني مساعدتك اليوم؟", "chat instead of a rewrite"),
    ],
)
def test_an_implausible_rewrite_falls_back_to_the_question(candidate: str, why: str) -> None:
    question = "وكم يوماً قضى في روسيا؟"
    assert not plausible_rewrite(candidate, question, TURNS), why
    assert rewrite_question(FakeLLM([candidate]), TURNS, question) == question


def test_a_good_rewrite_is_kept_and_its_label_stripped() -> None:
    question = "وكم يوماً قضى في روسيا؟"
    good = "كم يوماً قضى وفد لياونينغ في روسيا؟"
    assert rewrite_question(FakeLLM([f"Rewritten: {good}\nextra line"]), TURNS, question) == good


def test_reset_forgets_the_conversation() -> None:
    llm = FakeLLM([])
    chat, out = make_chat(FakeAssistant(llm))
    chat.handle("Which countries did the Liaoning delegation visit?")
    assert chat.handle("/reset") is Outcome.DONE
    chat.handle("and Russia?")
    assert llm.prompts == []  # no conversation, so nothing to rewrite
    out.clear()
    chat.handle("/sources")
    assert "searched as: and Russia?" in out.text()


def test_without_a_model_there_is_no_rewrite_and_help_says_so() -> None:
    assistant = FakeAssistant(None, pieces=[])
    chat, out = make_chat(assistant)
    chat.handle("Which countries did the Liaoning delegation visit?")
    chat.handle("and Russia?")
    assert assistant.asked[-1] == "and Russia?"
    out.clear()
    chat.handle("/help")
    assert "--llm none" in out.text() and "not rewritten" in out.text()


def test_ctrl_c_during_the_answer_stops_it_and_keeps_the_conversation() -> None:
    assistant = FakeAssistant(None, interrupt_after=1)
    chat, out = make_chat(assistant)
    assert chat.handle("Which countries did the Liaoning delegation visit?") is Outcome.STOPPED
    assert out.text() == "(stopped)\n"  # not a terminal: the unchecked draft never streamed
    assert not chat.turns and chat.last is None  # a stopped answer is not part of the conversation
    assistant.interrupt_after = None
    assert chat.handle("Which countries did the Liaoning delegation visit?") is Outcome.DONE
    assert chat.last is not None


def test_a_failing_question_is_reported_and_the_chat_goes_on() -> None:
    from rag.errors import ModelError

    class Down(FakeAssistant):
        def ask(self, question, *, qid=None, on_token=None):
            raise ModelError("cannot reach the model server at http://127.0.0.1:9/v1", "is the server running?")

    chat, out = make_chat(Down(None))
    assert chat.handle("Which countries did the Liaoning delegation visit?") is Outcome.DONE
    assert "error: cannot reach the model server at http://127.0.0.1:9/v1" in out.text()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Which countries did the Liaoning delegation visit?", "How many SCO companies have set up in Chongqing?"),
        ("ما الدول التي زارها وفد لياونينغ؟", "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟"),
        ("遼寧代表團訪問了哪些國家？", "目前有多少家上合組織國家的企業在重慶落戶？"),
    ],
)
def test_a_question_that_names_its_subject_is_searched_as_typed_in_a_conversation(first: str, second: str) -> None:
    llm = FakeLLM(["a rewrite nobody asked for"])
    assistant = FakeAssistant(llm)
    chat, _ = make_chat(assistant)
    chat.handle(first)
    chat.handle(second)
    assert llm.prompts == []  # no rewrite: no model call before the answer
    assert assistant.asked == [first, second]


@pytest.mark.parametrize("line", ["", "   ", "؟", "?", "？", "...", "x" * 2001])
def test_an_unaskable_question_is_refused_in_one_line_without_a_model_call(line: str) -> None:
    llm = FakeLLM([])
    assistant = FakeAssistant(llm)
    chat, out = make_chat(assistant)
    chat.handle("Which countries did the Liaoning delegation visit?")  # a conversation: a rewrite could be due
    out.clear()
    assert chat.handle(line) is Outcome.DONE
    assert assistant.asked == ["Which countries did the Liaoning delegation visit?"] and llm.prompts == []
    shown = out.text()
    assert shown.count("\n") == 1 and shown.startswith("the question ")
    assert ("2,001 characters" in shown) if len(line) > 100 else ("empty" in shown or "no letters" in shown)


@pytest.mark.parametrize("line", ["/quit", "/exit", " /QUIT "])
def test_quit(line: str) -> None:
    chat, _ = make_chat(FakeAssistant(None))
    assert chat.handle(line) is Outcome.QUIT


def test_unknown_command_is_named() -> None:
    chat, out = make_chat(FakeAssistant(None))
    assert chat.handle("/frobnicate now") is Outcome.DONE
    assert "unknown command /frobnicate" in out.text()
