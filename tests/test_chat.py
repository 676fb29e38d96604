"""rag chat: follow-up rewriting and slash commands with fakes, then the real thing in a
pseudo-terminal (pexpect), as a person uses it: typing, Ctrl-C, Up arrow, Ctrl-D.

The pty tests run the installed ``rag`` console script against the sample corpus index;
the one with the embedded model takes a few minutes on 2 cores (each answer ~10-60 s
when the machine is busy), so its timeouts are generous but bounded.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from conftest import RAG_BIN, RealIndex
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


# -- in a real terminal --------------------------------------------------------------------

PROMPT = "rag> "
ANSWER_TIMEOUT = 240  # one answer; the embedded model on 2 busy cores
LOAD_TIMEOUT = 180
ROWS, COLUMNS = 40, 400
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_ESCAPE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78])")
_COLOUR = re.compile(r"^(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])$")


class Terminal:
    """What a person sees: the pty's output fed, as it arrives, to a terminal emulator (pyte)
    of the pty's size, and kept raw (for the styles pyte does not keep, such as dim)."""

    def __init__(self, transcript: Path) -> None:
        import pyte

        self.screen = pyte.Screen(COLUMNS, ROWS)
        self._stream = pyte.Stream(self.screen)
        self._log = transcript.open("w", encoding="utf-8")
        self.raw = ""

    def write(self, data: str) -> None:
        self.raw += data
        self._stream.feed(data)
        self._log.write(data)

    def flush(self) -> None:
        self._log.flush()

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def after(self, typed: str) -> str:
        """The screen below the last prompt line where TYPED was entered, up to the next prompt."""
        lines, prompt = self.lines(), PROMPT.rstrip()  # the screen keeps no trailing blanks
        start = max(i for i, line in enumerate(lines) if line.startswith(prompt) and typed in line)
        below = lines[start + 1 :]
        end = next((i for i, line in enumerate(below) if line.startswith(prompt)), len(below))
        return "\n".join(below[:end]).strip()


def styles_drawn_with(raw: str, word: str) -> list[set[str]]:
    """For each time WORD was written to the terminal, the SGR parameters then in force."""
    found: list[set[str]] = []
    active: set[str] = set()
    pos = 0
    for m in _ESCAPE.finditer(raw + "\x1b[m"):
        found += [set(active)] * raw[pos : m.start()].count(word)
        sgr = _SGR.fullmatch(m.group())
        if sgr:
            params = [p for p in sgr.group(1).split(";") if p] or ["0"]
            active = set() if "0" in params else active | set(params)
        pos = m.end()
    return found


def colour_codes(raw: str) -> set[str]:
    return {p for m in _SGR.finditer(raw) for p in m.group(1).split(";") if _COLOUR.match(p)}


def _child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_")) and k != "NO_COLOR"}
    if os.environ.get("RAG_CACHE_DIR"):
        env["RAG_CACHE_DIR"] = os.environ["RAG_CACHE_DIR"]  # where the assembled model lives
    env.update(RAG_DATA_DIR=str(tmp_path / "data"), LC_ALL="C.UTF-8", LANG="C.UTF-8", TERM="xterm",
               ANONYMIZED_TELEMETRY="False", RAG_THREADS=os.environ.get("RAG_THREADS", "1"), **extra)
    return env


def spawn(command: str, args: list[str], tmp_path: Path, **env: str) -> tuple[pexpect.spawn, Terminal]:
    child = pexpect.spawn(command, args, env=_child_env(tmp_path, **env), cwd=str(tmp_path), encoding="utf-8",
                          timeout=ANSWER_TIMEOUT, dimensions=(ROWS, COLUMNS),
                          codec_errors="strict")  # any mangled UTF-8 on the way out fails the test
    terminal = Terminal(tmp_path / "transcript.txt")
    child.logfile_read = terminal
    return child, terminal


def spawn_chat(real_index: RealIndex, tmp_path: Path, *args: str) -> tuple[pexpect.spawn, Terminal]:
    return spawn(str(RAG_BIN), ["chat", "--index", str(real_index.settings.index_dir), *args], tmp_path)  # type: ignore[attr-defined]


def ask(child: pexpect.spawn, question: str) -> str:
    """Type QUESTION, wait for the next prompt, return what was printed in between."""
    child.sendline(question)
    child.expect_exact(PROMPT)
    return child.before


# A real Assistant over the real index, with a model whose words are scripted (passed in
# through Assistant's llm parameter): the second sentence claims what no document says, so
# the checks withdraw it after it has streamed.
SCRIPTED_CHAT = """
import sys, time
from pathlib import Path
from rag.answer import Assistant
from rag.chat import run_chat
from rag.config import Settings

class Scripted:
    id = "scripted"
    def stream(self, messages, *, max_tokens=512, temperature=0.0, stop=None):
        reply = sys.argv[2]
        for i in range(0, len(reply), 6):
            time.sleep(0.03)
            yield reply[i : i + 6]

run_chat(Assistant(Settings(index_dir=Path(sys.argv[1])), llm=Scripted()))
"""
CHECKED = "About 40 companies from the SCO footprint have set up in Chongqing."
WITHDRAWN = "They invested 9,999 billion dollars on Mars."
QUESTION = "How many SCO companies have set up in Chongqing?"


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_the_answer_is_shown_once_and_nothing_withdrawn_stays(real_index: RealIndex, tmp_path: Path,
                                                              no_color: bool) -> None:
    import sys

    index = str(real_index.settings.index_dir)  # type: ignore[attr-defined]
    env = {"NO_COLOR": "1"} if no_color else {}
    child, terminal = spawn(sys.executable, ["-c", SCRIPTED_CHAT, index, f"{CHECKED[:-1]} [1]. {WITHDRAWN[:-1]} [1]."],
                            tmp_path, **env)
    try:
        child.expect_exact(PROMPT, timeout=LOAD_TIMEOUT)
        child.sendline(QUESTION)
        child.expect_exact("Mars", timeout=60)  # the withdrawn sentence, while it streams...
        child.expect_exact("not checked yet", timeout=10)
        assert "Mars" in terminal.after(QUESTION)  # ...is on screen, under the status line,
        drawn = styles_drawn_with(terminal.raw, "Mars")
        assert drawn and all("2" in styles for styles in drawn)  # and only ever drawn dim
        child.expect_exact(PROMPT, timeout=60)

        shown = terminal.after(QUESTION)
        assert shown == f"{CHECKED} [1]\n\n[1] 003_3e9024b6c632520f.txt ¶24 (line 51)", shown
        assert "Mars" not in "\n".join(terminal.lines()) and "checked" not in shown
        checked = terminal.raw.rsplit("not checked yet", 1)[-1]  # after the draft's last frame
        markers = styles_drawn_with(checked, "[1]")
        assert markers and all("1" in styles for styles in markers)  # citation markers stand out (bold)...
        codes = colour_codes(terminal.raw)
        assert (codes == set()) if no_color else ("36" in codes)  # ...in colour unless NO_COLOR says no
        child.sendeof()
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_piped_chat_gets_only_the_checked_answer(real_index: RealIndex, tmp_path: Path) -> None:
    import subprocess
    import sys

    index = str(real_index.settings.index_dir)  # type: ignore[attr-defined]
    run = subprocess.run([sys.executable, "-c", SCRIPTED_CHAT, index, f"{CHECKED[:-1]} [1]. {WITHDRAWN[:-1]} [1]."],
                         input=f"{QUESTION}\n", capture_output=True, text=True, encoding="utf-8",
                         env=_child_env(tmp_path), cwd=tmp_path, timeout=LOAD_TIMEOUT)
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout
    assert f"{CHECKED} [1]\n\n[1] 003_3e9024b6c632520f.txt ¶24 (line 51)\n" in run.stdout
    assert "Mars" not in run.stdout


def test_ask_on_a_terminal_shows_the_answer_once(real_index: RealIndex, tmp_path: Path) -> None:
    """rag ask prints no rule and no second copy: the checked answer, once, with its citation."""
    index = str(real_index.settings.index_dir)  # type: ignore[attr-defined]
    child, terminal = spawn(str(RAG_BIN), ["ask", "--index", index, "--llm", "none", QUESTION], tmp_path)
    child.expect(pexpect.EOF, timeout=LOAD_TIMEOUT)
    child.close()
    assert child.exitstatus == 0
    screen = "\n".join(terminal.lines()).strip()
    assert screen.count("So far, some 40 companies") == 2  # the answer, and the quote under its citation
    assert "[1] 003_3e9024b6c632520f.txt ¶24 (line 51)" in screen and "─" not in screen
    assert "searching" not in screen  # the status line went with the draft
    assert "36" in colour_codes(terminal.raw)


def test_chat_in_a_terminal_with_the_local_model(real_index: RealIndex, tmp_path: Path) -> None:
    child, terminal = spawn_chat(real_index, tmp_path, "--llm", "local", "--verbose")
    try:
        child.expect_exact("loading index and models", timeout=30)  # the status line comes first
        child.expect_exact("ready: model local:", timeout=LOAD_TIMEOUT)
        child.expect_exact(PROMPT, timeout=30)

        # 1. a question: a draft streams, then the checked answer with its citations replaces it
        question = "Which countries did the Liaoning delegation visit?"
        ask(child, question)
        first = terminal.after(question)
        assert "004_19d5bed1d5b90f32.txt ¶" in first or "do not contain" in first, first
        assert "not checked yet" not in first

        # 2. a follow-up is rewritten with the conversation (shown by --verbose and /sources)
        follow_up = "and how many days did they spend in Russia?"
        ask(child, follow_up)
        searched = re.search(r"\(searching for: (.+?)\)\n", terminal.after(follow_up))
        assert searched and "Liaoning" in searched.group(1), terminal.after(follow_up)
        sources = ask(child, "/sources")
        assert f"searched as: {searched.group(1)}" in sources
        assert "you asked:   and how many days did they spend in Russia?" in sources
        assert "004_19d5bed1d5b90f32.txt" in sources and "روسيا" in sources  # whole Arabic paragraph, intact

        # 3. Ctrl-C while the answer is being written: stopped, the draft gone, back at the prompt
        child.sendline("/reset")
        child.expect_exact(PROMPT)
        chinese = "遼寧代表團在俄羅斯出席了哪兩座城市之間新直飛航線的開航儀式？請詳細說明。"
        child.sendline(chinese)
        child.expect_exact("開航儀式？請詳細說明。\r\n", timeout=30)  # Chinese echoed back whole
        child.expect_exact("not checked yet", timeout=ANSWER_TIMEOUT)  # the first words are streaming
        child.sendintr()
        child.expect_exact("(stopped)", timeout=30)
        child.expect_exact(PROMPT, timeout=10)
        assert terminal.after(chinese) == "(stopped)\n(Ctrl-C again to leave)"  # no unchecked words left

        # 4. the models are still loaded: an Arabic question is answered from the Arabic file
        arabic = "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟"
        assert "loading" not in ask(child, arabic)
        shown = terminal.after(arabic)
        assert "001_2284b7fc3385c695.txt ¶" in shown or "لا تحتوي المستندات" in shown, shown

        child.sendline("/quit")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_history_survives_sessions_and_keys_behave(real_index: RealIndex, tmp_path: Path) -> None:
    """Extractive mode (no LLM) keeps this fast; the keys and the history are the point."""
    question = "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟"
    child, terminal = spawn_chat(real_index, tmp_path, "--llm", "none")
    try:
        child.expect_exact(PROMPT, timeout=LOAD_TIMEOUT)
        ask(child, question)
        assert "001_2284b7fc3385c695.txt ¶2 (line 2)" in terminal.after(question)
        child.sendline("/help")
        child.expect_exact("follow-ups are not rewritten")
        child.expect_exact(PROMPT)
        child.sendeof()  # Ctrl-D leaves
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = tmp_path / "data" / "chat_history"
    assert question in history.read_text(encoding="utf-8").splitlines()
    assert history.stat().st_mode & 0o777 == 0o600  # questions can be private

    child, terminal = spawn_chat(real_index, tmp_path, "--llm", "none")
    try:
        child.expect_exact(PROMPT, timeout=LOAD_TIMEOUT)
        child.send("\x1b[A\x1b[A")  # Up twice: /help, then the question from the last session
        child.expect_exact(question, timeout=10)  # readline redraws it intact
        child.send("\r")
        child.expect_exact(PROMPT)
        assert "001_2284b7fc3385c695.txt ¶2 (line 2)" in terminal.after(question)
        child.sendintr()  # Ctrl-C at the prompt: a hint, not an exit
        child.expect_exact("Ctrl-C again or Ctrl-D to leave", timeout=10)
        child.sendintr()
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 0
