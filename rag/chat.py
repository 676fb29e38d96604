"""``rag chat``: the REPL. History, follow-ups, slash commands; answers through Assistant.ask.

    run_chat(assistant)           the loop: readline prompt, history file, Ctrl-C / Ctrl-D
      Chat.handle(line)           one line: a slash command or a question
        Chat.standalone(q)        follow-up -> standalone question (prompts/rewrite.txt)
        Assistant.ask(...)        streamed to the terminal, then the checked answer + citations

Follow-ups. "and how many went to Russia?" means nothing to retrieval on its own, so when
there is a conversation the LLM rewrites the new question into a standalone one in the
same language, from the last ``MAX_TURNS`` turns. The small embedded model sometimes
answers instead of rewriting, switches language or echoes an earlier question, so a
rewrite is used only if it passes ``plausible_rewrite``; otherwise the question goes on as
typed. ``--llm none`` has no model, hence no rewriting. The rewritten question is what is
searched and answered; ``/sources`` and ``--verbose`` show it.

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
import re
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import data_dir
from rag.errors import RagError
from rag.lang import detect_language, normalize
from rag.prompts import CANNOT_ANSWER, render
from rag.render import answer_text, citation_line

if TYPE_CHECKING:
    from rag.answer import Assistant
    from rag.llms import LLM
    from rag.types import Answer, Hit

PROMPT = "rag> "
HISTORY_FILE = "chat_history"
HISTORY_LENGTH = 1000
MAX_TURNS = 3  # turns shown to the rewriter: enough for "and there?", short enough to stay fast
HISTORY_ANSWER_CHARS = 300  # per answer in the rewrite prompt; prompt length is the speed lever
REWRITE_MAX_TOKENS = 80  # ~60 is typical; Arabic needs more tokens per word
MIN_KEPT_OVERLAP = 0.5  # share of the question's character bigrams a rewrite must keep
LANGUAGE_NAMES = {"ar": "Arabic", "zh": "Chinese", "en": "English"}
SEPARATOR = "─" * 12 + " checked answer " + "─" * 12
SHOWN_UNCITED = 3  # /sources after an answer without citations: the closest paragraphs
_MARKERS = re.compile(r"\s*\[\d+\]")
_LABEL = re.compile(r"^\s*(?:rewritten(?:\s*\([^)]*\))?|standalone question|question)\s*[:：]\s*", re.I)

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


@dataclass(frozen=True)
class Turn:
    """One exchange as the rewriter sees it: the standalone question and the answer text."""

    question: str
    answer: str


def rewrite_question(llm: LLM, turns: list[Turn], question: str) -> str:
    """The standalone form of QUESTION given the conversation, or QUESTION itself.

    Usage: ``rewrite_question(llm, [Turn("Which countries did ...?", "Germany, ...")],
    "and how many days in Russia?")`` -> "How many days did ... spend in Russia?".
    """
    if not turns:
        return question
    history = "\n".join(f"Q: {t.question}\nA: {_one_line(t.answer)[:HISTORY_ANSWER_CHARS]}" for t in turns)
    language = detect_language(question)
    prompt = render("rewrite", history=history, question=question, language=LANGUAGE_NAMES[language])
    reply = "".join(
        llm.stream([{"role": "user", "content": prompt}], max_tokens=REWRITE_MAX_TOKENS, temperature=0.0, stop=["\n"])
    )
    candidate = _LABEL.sub("", reply.strip().split("\n")[0]).strip().strip("\"'“”«»「」")
    return candidate if plausible_rewrite(candidate, question, turns) else question


def plausible_rewrite(candidate: str, question: str, turns: list[Turn]) -> bool:
    """Whether CANDIDATE can stand in for QUESTION.

    Refused: empty; absurdly long; in another language than the question (the answer's
    language follows the question searched); a copy of an earlier question (the model
    repeats history); or keeping under half of the question's character bigrams (the model
    answered, or chatted, instead of rewriting). Bigrams, not words, because Arabic glues
    clitics to words ("ومن حضرها" -> "من حضر") and Chinese has no spaces.
    """
    if not candidate or len(candidate) > 2 * len(question) + 120:
        return False
    if detect_language(candidate) != detect_language(question):
        return False
    folded = _fold(candidate)
    if folded != _fold(question) and any(folded == _fold(t.question) for t in turns):
        return False
    wanted = _bigrams(question)
    return not wanted or len(wanted & _bigrams(candidate)) / len(wanted) >= MIN_KEPT_OVERLAP


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", normalize(text))


def _bigrams(text: str) -> set[str]:
    folded = _fold(text)
    return {folded[i : i + 2] for i in range(len(folded) - 1)}


def _one_line(text: str) -> str:
    return " ".join(_MARKERS.sub("", text).split())


class _HitRecorder:
    """Stands in for the Assistant's retriever and keeps what it returned for the current
    question, so /sources can print whole paragraphs without searching again."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.hits: list[Hit] = []

    def retrieve(self, question: str, k: int) -> Any:
        got = self._inner.retrieve(question, k)
        self.hits.extend(got.hits)
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Outcome(Enum):
    DONE = "done"
    STOPPED = "stopped"  # Ctrl-C stopped an answer
    QUIT = "quit"


class Chat:
    """One conversation over a loaded Assistant; writes everything through ``write``."""

    def __init__(self, assistant: Assistant, *, verbose: bool = False,
                 write: Callable[[str], None] | None = None, history: Path | None = None,
                 on_answer: Callable[[Answer, str], None] | None = None) -> None:
        self.assistant = assistant
        self.on_answer = on_answer  # (answer, question as typed): the log of what was asked
        self.verbose = verbose
        self.history = history or history_path()
        self.write = write or _write_stdout
        self.turns: deque[Turn] = deque(maxlen=MAX_TURNS)
        self.last: Answer | None = None
        self.last_asked = ""
        self.last_hits: list[Hit] = []
        self._recorder = _HitRecorder(assistant.retriever)
        assistant.retriever = self._recorder  # type: ignore[assignment]

    def handle(self, line: str) -> Outcome:
        """Run one input line: a slash command or a question."""
        text = line.strip()
        if not text:
            return Outcome.DONE
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

    def standalone(self, question: str) -> str:
        """The question to search for: rewritten from the conversation when there is one."""
        if self.assistant.llm is None or not self.turns:
            return question
        return rewrite_question(self.assistant.llm, list(self.turns), question)

    def ask(self, question: str) -> Outcome:
        """Rewrite if needed, stream the answer, then print the checked answer and citations."""
        streamed: list[str] = []
        held: list[str] = []

        def show(piece: str) -> None:
            # Hold back what may be the model's "not in the documents" sentinel: the
            # checked answer below says that in the question's language.
            held.append(piece)
            if not CANNOT_ANSWER.startswith("".join(held).strip()):
                streamed.extend(held)
                self.write("".join(held))
                held.clear()

        try:
            searched = self.standalone(question)
            if self.verbose and searched != question:
                self.write(f"(searching for: {searched})\n")
            self._recorder.hits = []
            answer = self.assistant.ask(searched, on_token=show)
        except KeyboardInterrupt:
            self.write("\n(stopped)\n" if streamed else "(stopped)\n")
            return Outcome.STOPPED
        except RagError as exc:  # a model server down, say: this question fails, the chat goes on
            self.write(("\n" if streamed else "") + f"error: {exc}\n")
            return Outcome.DONE
        if streamed:
            self.write(f"\n{SEPARATOR}\n")
        self.write(answer_text(answer, quotes=False) + "\n")
        if self.verbose and answer.timings_ms:
            t = answer.timings_ms
            self.write(f"(retrieve {t.get('retrieve', 0):.0f} ms, first token {t.get('first_token', 0) / 1000:.1f} s, "
                       f"total {t.get('total', 0) / 1000:.1f} s)\n")
        self.last, self.last_asked, self.last_hits = answer, question, list(self._recorder.hits)
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


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


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
