"""``rag chat``: the REPL. History, follow-ups, slash commands; answers through Assistant.ask.

    run_chat(assistant)           the loop: readline prompt, history file, Ctrl-C / Ctrl-D
      Chat.handle(line)           one line: a slash command or a question
        question_problem(q)       empty, wordless or over-long: refused, no model call
        Chat.standalone(q)        a follow-up -> standalone question (rag.followups)
        Assistant.ask(...)        a dim draft streams, then the checked answer replaces it (rag.display)

Follow-ups. "and how many went to Russia?" means nothing to retrieval on its own, so when
there is a conversation and the question depends on it (rag.followups.depends_on_conversation)
the LLM rewrites it into a standalone one; a question that names its subject is searched as
typed. ``--llm none`` has no model, hence no rewriting. The question searched is what is
answered; ``/sources`` and ``--verbose`` show it.

Keys. Ctrl-C while an answer is being made stops it and returns to the prompt (the models
stay loaded; the abandoned llama-cpp generator is simply dropped). Ctrl-C at the prompt
right after that, or twice in a row at the prompt, leaves; so does Ctrl-D or ``/quit``.

History. Lines typed are kept with ``readline`` in ``<data dir>/chat_history`` (mode
0600: questions can be private), where the data dir is ``platformdirs.user_data_dir("rag")``
or ``RAG_DATA_DIR``; each line is appended as it is entered, so a killed session loses
nothing. Up/Down recall lines from earlier sessions.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import data_dir
from rag.display import SEARCHING, Draft, Screen
from rag.errors import RagError
from rag.followups import MAX_TURNS, Turn, depends_on_conversation, rewrite_question
from rag.questions import question_problem
from rag.render import citation_line

if TYPE_CHECKING:
    from rag.answer import Assistant
    from rag.types import Answer, Hit

PROMPT = "rag> "
HISTORY_FILE = "chat_history"
HISTORY_LENGTH = 1000
SHOWN_UNCITED = 3  # /sources after an answer without citations: the closest paragraphs
REWRITING = "… rewriting the follow-up with the conversation"

HELP = """\
Ask a question in Arabic, Chinese or English; follow-up questions are understood in context.
  /sources   the last answer's cited paragraphs in full, and the question as searched
  /reset     forget the conversation (follow-ups start afresh)
  /help      this text
  /quit      leave (also Ctrl-D, or Ctrl-C twice)
Ctrl-C while an answer is being written stops it. Up/Down recall earlier questions."""
HELP_NO_LLM = "With --llm none answers are extracted, and follow-ups are not rewritten: ask complete questions."


def history_path() -> Path:
    return data_dir() / HISTORY_FILE


class Outcome(Enum):
    DONE = "done"
    STOPPED = "stopped"  # Ctrl-C stopped an answer
    QUIT = "quit"


class Chat:
    """One conversation over a loaded Assistant; shows everything on ``screen`` (stdout by default)."""

    def __init__(self, assistant: Assistant, *, verbose: bool = False,
                 screen: Screen | None = None, history: Path | None = None,
                 on_answer: Callable[[Answer, str], None] | None = None) -> None:
        self.assistant = assistant
        self.on_answer = on_answer  # (answer, question as typed): the log of what was asked
        self.verbose = verbose
        self.history = history or history_path()
        self.screen = screen or Screen()
        self.write = self.screen.write
        self.turns: deque[Turn] = deque(maxlen=MAX_TURNS)
        self.last: Answer | None = None
        self.last_asked = ""
        self.last_hits: list[Hit] = []

    def handle(self, line: str) -> Outcome:
        """Run one input line: a slash command or a question."""
        text = line.strip()
        if text.startswith("/"):
            return self.command(text)
        return self.ask(text)

    def command(self, text: str) -> Outcome:
        name = text.split()[0].lower()
        if name in ("/quit", "/exit", "/q"):
            return Outcome.QUIT
        if name == "/help":
            extra = f"\n{HELP_NO_LLM}" if self.assistant.llm is None else ""
            self.write(f"{HELP}{extra}\nHistory file: {self.history}\n")
        elif name == "/reset":
            self.turns.clear()
            self.last, self.last_asked, self.last_hits = None, "", []
            self.write("(conversation cleared)\n")
        elif name == "/sources":
            self.write(self.sources_text() + "\n")
        else:
            self.write(f"unknown command {name}; /help lists the commands\n")
        return Outcome.DONE

    def standalone(self, question: str, draft: Draft | None = None) -> str:
        """The question to search for: rewritten from the conversation only when it depends on
        it (and there is a model to rewrite with); DRAFT's status line says so meanwhile."""
        if self.assistant.llm is None or not self.turns or not depends_on_conversation(question):
            return question
        if draft is not None:
            draft.status(REWRITING)
        searched = rewrite_question(self.assistant.llm, list(self.turns), question)
        if draft is not None:
            draft.status(SEARCHING)
        return searched

    def ask(self, question: str) -> Outcome:
        """Refuse an unaskable question; else rewrite if needed, stream a draft, show the checked answer."""
        problem = question_problem(question)
        if problem:
            self.write(f"{problem}: type a question, or /help\n")
            return Outcome.DONE
        try:
            with self.screen.drafting() as draft:
                searched = self.standalone(question, draft)
                if self.verbose and searched != question:
                    self.write(f"(searching for: {searched})\n")
                result = self.assistant.ask(searched, on_token=draft.add)
                answer = result.answer
        except KeyboardInterrupt:
            self.write("(stopped)\n")
            return Outcome.STOPPED
        except RagError as exc:  # a model server down, say: this question fails, the chat goes on
            self.write(f"error: {exc}\n")
            return Outcome.DONE
        self.screen.show_answer(answer, quotes=False)
        if self.verbose and answer.timings_ms:
            self.write(_timings_line(answer.timings_ms) + "\n")
        self.last, self.last_asked, self.last_hits = answer, question, result.hits
        if self.on_answer:
            self.on_answer(answer, question)
        if not answer.error:
            self.turns.append(Turn(searched, answer.answer))
        return Outcome.DONE

    def sources_text(self) -> str:
        """The question as searched, then each citation with its whole paragraph."""
        if self.last is None:
            return "no answer yet: ask a question first"
        lines = [f"searched as: {self.last.question}"]
        if self.last.question != self.last_asked:
            lines.append(f"you asked:   {self.last_asked}")
        paragraphs = {(h.chunk.file, h.chunk.paragraph.page, h.chunk.paragraph.cited_number): h.chunk.paragraph
                      for h in self.last_hits}
        for c in self.last.citations:
            p = paragraphs.get((c.file, c.page, c.paragraph))
            lines += ["", citation_line(c), p.text if p else c.quote]
        if not self.last.citations:
            closest = list(paragraphs.values())[:SHOWN_UNCITED]
            lines.append("(the answer cites no paragraph" + ("; the closest retrieved were:)" if closest else ")"))
            for p in closest:
                lines += ["", f"{p.file} {p.location()}", p.text]
        return "\n".join(lines)


def _timings_line(t: dict[str, float]) -> str:
    """``--verbose``: where the time went; no first token when no model wrote one."""
    first = f", first token {t['first_token'] / 1000:.1f} s" if "first_token" in t else ""
    return f"(retrieve {t.get('retrieve', 0):.0f} ms{first}, total {t.get('total', 0) / 1000:.1f} s)"


def run_chat(assistant: Assistant, *, verbose: bool = False, history: Path | None = None,
             on_answer: Callable[[Answer, str], None] | None = None) -> None:
    """The interactive loop, until /quit, Ctrl-D, or Ctrl-C twice at the prompt.

    Usage: ``run_chat(Assistant(settings), verbose=True)``.
    """
    # Ctrl-C is how a chat stops an answer. A parent that ignores SIGINT (nohup, some IDE
    # shells and test runners) passes that on, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    chat = Chat(assistant, verbose=verbose, history=history, on_answer=on_answer)
    model = assistant.llm.id if assistant.llm is not None else "none (extractive answers)"
    chat.write(f"ready: model {model}. Ask a question; /help for commands, Ctrl-D to leave.\n")
    with _line_history(chat.history) as remember:
        interrupted = False
        while True:
            try:
                line = input(PROMPT)
            except EOFError:
                chat.write("\n")
                return
            except KeyboardInterrupt:
                if interrupted:
                    chat.write("\n")
                    return
                chat.write("\n(press Ctrl-C again or Ctrl-D to leave)\n")
                interrupted = True
                continue
            remember(line)
            try:
                outcome = chat.handle(line)
            except KeyboardInterrupt:  # landed outside the answer, e.g. while printing
                chat.write("\n(stopped)\n")
                outcome = Outcome.STOPPED
            if outcome is Outcome.QUIT:
                return
            interrupted = outcome is Outcome.STOPPED
            if interrupted:
                chat.write("(Ctrl-C again to leave)\n")


@contextmanager
def _line_history(path: Path) -> Iterator[Callable[[str], None]]:
    """Line editing with history kept in PATH; yields a function that saves one line.

    Without ``readline`` (Windows) input still works, without editing or history. A history
    file that cannot be written costs the history, never the chat.
    """
    try:
        import readline
    except ImportError:  # pragma: no cover - not on the platforms we test
        yield lambda line: None
        return
    readline.set_history_length(HISTORY_LENGTH)
    readline.set_auto_history(False)  # we add lines ourselves: no blanks, no repeats
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
        readline.read_history_file(path)
        if readline.get_current_history_length() >= HISTORY_LENGTH:
            readline.write_history_file(path)  # trim the file to the last HISTORY_LENGTH lines
        usable = True
    except OSError:
        usable = False

    def remember(line: str) -> None:
        nonlocal usable
        line = line.strip()
        n = readline.get_current_history_length()
        if not line or (n and readline.get_history_item(n) == line):
            return
        readline.add_history(line)
        if usable:
            try:
                readline.append_history_file(1, path)
            except OSError:
                usable = False

    try:
        yield remember
    finally:
        readline.clear_history()
