"""What counts as a question: the one check ``ask``, ``chat`` and ``batch`` make before any
model runs.

    question_problem("؟")          -> "the question has no letters or digits: '؟'"
    question_problem("Who ...?")   -> None
    checked_question("  Who?\\n")  -> "Who?"   (raises UsageError for a problem)

Why refuse rather than answer: retrieval always returns the closest passages, so an empty
or punctuation-only question gets a cited "answer" that is noise, and an over-long one
fails late, after the embedders and the model have spent their time on it.

The length limit comes from the model's context: the embedded model has 4,096 tokens
(rag.llms ``n_ctx``). Measured with its tokenizer, the answer prompt without the question
takes 505 tokens with English sources and 1,513 with Chinese ones (3 sources of 420
characters), and the answer up to 200 (rag.answer ``MAX_TOKENS``); a 2,000-character
question costs 365 tokens in English, 856 in Arabic, 1,385 in Chinese, so prompt and answer
together stay under 3,100 tokens. A real question is far shorter (the longest in eval/ has
157 characters).
"""

from __future__ import annotations

import unicodedata

from rag.errors import UsageError

MAX_QUESTION_CHARS = 2000
_SHOWN = 20  # characters of a wordless question quoted back


def question_problem(text: str) -> str | None:
    """Why TEXT cannot be asked, in one line, or None when it can.

    Refused: empty or whitespace only; no letter or digit at all (``"?"``, ``"؟"``,
    ``"？"``, ``"..."``: punctuation and symbols carry no subject to search for); longer
    than ``MAX_QUESTION_CHARS`` once stripped.
    """
    question = text.strip()
    if not question:
        return "the question is empty"
    if not any(unicodedata.category(ch)[0] in "LN" for ch in question):
        shown = question if len(question) <= _SHOWN else question[:_SHOWN] + "…"
        return f"the question has no letters or digits: {shown!r}"
    if len(question) > MAX_QUESTION_CHARS:
        return (f"the question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,} "
                "(ask about one thing at a time)")
    return None


def checked_question(text: str) -> str:
    """TEXT stripped, or a UsageError (exit code 2) saying why it cannot be asked."""
    problem = question_problem(text)
    if problem:
        raise UsageError(problem)
    return text.strip()
