"""An answer on screen, shown once: the streamed draft marked unchecked, then the checked answer.

    screen = Screen()                                  # stdout; detects a terminal
    with screen.drafting() as draft:                   # a dim draft under a status line
        answer = assistant.ask(question, on_token=draft.add)
    screen.show_answer(answer)                         # the draft is gone; this replaces it

Why. The model's words stream as they come, but the answer a person may trust is the one
after the checks (rag.citations, rag.abstention), which can drop a sentence, a figure or
the whole answer. Printed one after the other, a withdrawn sentence stays on screen looking
exactly like a checked one. So on a terminal the draft is dim, under a status line saying it
is not checked yet, and it is erased (rich's transient ``Live``) before the checked answer,
with its citation markers in colour, takes its place; Ctrl-C or an error erases it too.

Elsewhere (a pipe, a file, ``TERM=dumb``) nothing streams: only the checked answer is
written, as the plain text of rag.render, without escape codes, so scripts read what the
terminal shows. Colour follows rich's detection: ``NO_COLOR`` turns colour off (dim and
bold stay: they mark, they do not colour), ``FORCE_COLOR`` on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, Group
from rich.text import Text

from rag.render import answer_text, citation_line

if TYPE_CHECKING:
    from rich.live import Live

    from rag.types import Answer

MARKER = "bold cyan"
FILE = "green"
DRAFT = "dim"
STATUS = "dim italic"
ABSTAINED = "yellow"
ERROR = "bold red"
SEARCHING = "… searching the documents"
WRITING = "… writing: not checked yet"


class Draft:
    """The streamed text of one answer; ``add`` is the ``on_token`` of Assistant.ask.

    Holds back what may be the start of the model's "not in the documents" sentinel: the
    checked answer says that in the question's language, and the sentinel never shows.
    """

    def __init__(self, live: Live | None) -> None:
        self._live = live
        self._shown: list[str] = []
        self._status = SEARCHING

    @property
    def text(self) -> str:
        """What has been shown so far."""
        return "".join(self._shown)

    def status(self, text: str) -> None:
        """Say what is happening under the draft (terminal only)."""
        self._status = text
        self._refresh()

    def add(self, piece: str) -> None:
        self._shown.append(piece)
        self._status = WRITING
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            body = Text(self.text, style=DRAFT)
            self._live.update(Group(body, Text(self._status, style=STATUS)) if self.text else
                              Text(self._status, style=STATUS), refresh=True)


class Screen:
    """Where answers and chat messages go: a live terminal, or plain text (module docstring).

    ``file`` defaults to stdout (looked up at each write, so a redirected stdout is used);
    ``terminal`` to whether it is a real, capable terminal (a tty, not ``TERM=dumb``). Tests
    pass a buffer and say which they want.
    """

    def __init__(self, file: TextIO | None = None, *, terminal: bool | None = None) -> None:
        self.console = Console(file=file, force_terminal=terminal, highlight=False, markup=False, emoji=False,
                               soft_wrap=True)
        if terminal is None:
            isatty = getattr(file or sys.stdout, "isatty", None)
            terminal = bool(isatty and isatty()) and self.console.is_terminal and not self.console.is_dumb_terminal
        self.terminal = terminal

    def write(self, text: str) -> None:
        """Plain text as given: chat messages, status, errors."""
        self.console.out(text, end="", highlight=False)

    @contextmanager
    def drafting(self) -> Iterator[Draft]:
        """A draft shown while the block runs and erased when it ends, however it ends."""
        if not self.terminal:
            yield Draft(None)
            return
        from rich.live import Live

        live = Live(Text(SEARCHING, style=STATUS), console=self.console, auto_refresh=False, transient=True,
                    redirect_stdout=False, redirect_stderr=False)
        live.start(refresh=True)
        try:
            yield Draft(live)
        finally:
            # Empty before stopping: Live re-renders on stop with overflow visible, and a draft
            # taller than the terminal would scroll out of reach of the erase.
            live.update(Text(""), refresh=True)
            live.stop()

    def show_answer(self, answer: Answer, *, quotes: bool = True) -> None:
        """The checked answer and its citations: in colour on a terminal, else rag.render's text."""
        if not self.terminal:
            self.write(answer_text(answer, quotes=quotes) + "\n")
            return
        self.console.print(styled_answer(answer, quotes=quotes), soft_wrap=True)


def styled_answer(answer: Answer, *, quotes: bool = True) -> Text:
    """rag.render.answer_text with colour: markers and cited files stand out, an abstention
    reads as one, an error as an error. The words are answer_text's, character for character."""
    plain = answer_text(answer, quotes=quotes)
    if answer.error:
        return Text(plain, style=ERROR)
    text = Text(plain)
    body_end = len(answer.answer)
    if answer.abstained:
        text.stylize(ABSTAINED, 0, body_end)
    text.highlight_regex(r"\[\d+\]", MARKER)
    offset = body_end
    for c in answer.citations:
        line = citation_line(c)
        at = plain.find(line, offset)
        if at < 0:
            continue
        head = f"[{c.marker}] {c.file}"
        if line.startswith(head):
            text.stylize(FILE, at + len(head) - len(c.file), at + len(head))
        offset = at + len(line)
    return text
