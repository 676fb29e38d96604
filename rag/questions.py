"""What counts as a question: the one check ``ask``, ``chat`` and ``batch`` make before any
model runs.

    question_problem("؟")          -> "the question has no letters or digits: '؟'"
    question_problem("Who ...?")   -> None
    checked_question("  Who?\\n")  -> "Who?"   (raises UsageError for a problem)

Why refuse rather than answer: retrieval always returns the closest passages, so an empty
or punctuation-only question gets a cited "answer" that is noise, and an over-long one
fails late, after the embedders and the model have spent their time on it.

The length limit comes from the model's context: the embedded model has 4,096 tokens
(rag.llms ``n_ctx``), of which the answer prompt with its sources takes ~1,000 and the
answer up to 200 (rag.answer ``MAX_TOKENS``). A Chinese character costs the Qwen tokenizer
up to a token, so 2,000 characters leave room in every language, and a real question
is far shorter (the longest in eval/ is under 200).
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
