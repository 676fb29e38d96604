"""rag chat and rag ask in a pseudo-terminal (pexpect), as a person uses them: typing,
Ctrl-C, Up arrow, Ctrl-D, and what the screen shows (read through the pyte emulator).

These run the installed ``rag`` console script against the sample corpus index; the one
with the embedded model takes a few minutes on 2 cores (each answer ~10-60 s when the
machine is busy), so its timeouts are generous but bounded.
"""

from __future__ import annotations

import os
import re
import weakref
from pathlib import Path

import pexpect
import pytest

from conftest import RAG_BIN, RealIndex

# -- the terminal, as pyte draws it ------------------------------------------------------

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
        weakref.finalize(self, self._log.close)  # closed with the terminal: an open file is a ResourceWarning
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
                          timeout=ANSWER_TIMEOUT, dimensions=(ROWS, COLUMNS), use_poll=True,
                          codec_errors="strict")  # any mangled UTF-8 on the way out fails the test
    terminal = Terminal(tmp_path / "transcript.txt")
    child.logfile_read = terminal
    return child, terminal


def spawn_chat(real_index: RealIndex, tmp_path: Path, *args: str) -> tuple[pexpect.spawn, Terminal]:
    return spawn(str(RAG_BIN), ["chat", "--index", str(real_index.settings.store.index_dir), *args], tmp_path)  # type: ignore[attr-defined]


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
from rag.config import Settings, StoreSettings

class Scripted:
    id = "scripted"
    def stream(self, messages, *, max_tokens=512, temperature=0.0, stop=None):
        reply = sys.argv[2]
        for i in range(0, len(reply), 6):
            time.sleep(0.03)
            yield reply[i : i + 6]

run_chat(Assistant(Settings(store=StoreSettings(index_dir=Path(sys.argv[1]))), llm=Scripted()))
"""
CHECKED = "About 40 companies from the SCO footprint have set up in Chongqing."
WITHDRAWN = "They invested 9,999 billion dollars on Mars."
QUESTION = "How many SCO companies have set up in Chongqing?"


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_the_answer_is_shown_once_and_nothing_withdrawn_stays(real_index: RealIndex, tmp_path: Path,
                                                              no_color: bool) -> None:
    import sys

    index = str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]
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

    index = str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]
    run = subprocess.run([sys.executable, "-c", SCRIPTED_CHAT, index, f"{CHECKED[:-1]} [1]. {WITHDRAWN[:-1]} [1]."],
                         input=f"{QUESTION}\n", capture_output=True, text=True, encoding="utf-8",
                         env=_child_env(tmp_path), cwd=tmp_path, timeout=LOAD_TIMEOUT)
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout
    assert f"{CHECKED} [1]\n\n[1] 003_3e9024b6c632520f.txt ¶24 (line 51)\n" in run.stdout
    assert "Mars" not in run.stdout


def test_ask_on_a_terminal_shows_the_answer_once(real_index: RealIndex, tmp_path: Path) -> None:
    """rag ask prints no rule and no second copy: the checked answer, once, with its citation."""
    index = str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]
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
