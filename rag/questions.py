"""What counts as a question: the one check ``ask``, ``chat`` and ``batch`` make before any
model runs.

    question_problem("؟")          -> "the question has no letters or digits: '؟'"
    question_problem("Who ...?")   -> None
    checked_question("  Who?\\n")  -> "Who?"   (raises UsageError for a problem)

Why refuse rather than answer: retrieval always returns the closest passages, so an empty
or punctuation-only question gets a cited "answer" that is noise, and an over-long one
fails late, after the embedders and the model have spent their time on it.

The length limit comes from the model's context: the embedded model has 4,096 tokens
(rag.llms ``n_ctx``). The answer prompt without the question is at most ~1,000 tokens (the
system text and an evidence budget counted by rag.lang.reading_length) and the answer up
to 400 (``AnswerSettings.max_tokens``, doubled across documents); a 2,000-character
question costs 365 tokens in English, 856 in Arabic, 1,385 in Chinese, so prompt and answer
stay inside the context. A real question is far shorter (the longest in eval/ has 157
characters).

``spans_documents`` tells a question that asks across the collection (lists,
comparisons, "each", two questions in one) from one that asks for one fact, by the
function words of its language; rag.answer answers the former per document.
"""

from __future__ import annotations

import re
import unicodedata

from rag.errors import UsageError
from rag.lang import detect_language, normalize

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


# Words that make a question ask across the collection rather than for one fact: a set of
# documents ("which articles"), a comparison, a distribution over several subjects ("each",
# "respectively"), or a second question joined to the first. Closed-class words of each
# language, not phrasings of any one question.
_ACROSS = {
    "en": re.compile(
        r"\b(?:which|what) (?:articles|documents|texts|reports|sources|files)\b|\bcompare|\bcomparison\b"
        r"|\bboth\b|\beach\b|\brespectively\b|\ball (?:the|of)\b|\bevery\b|\bversus\b|\bvs\.?\b"
        r"|\bwhich (?:is|was|came|drew|has|had) (?:\w+ )?(?:more|less|larger|smaller|bigger|first|earlier|later|older|higher|lower)\b"
        r"|,? and (?:how|what|which|when|where|who|whom|whose|in what)\b"
        r"|\b[A-Z][\w'’-]*,?\s+(?:and|or)\s+(?-i:[A-Z])", re.IGNORECASE),
    "zh": re.compile(r"哪些(?:文章|文件|報導|报道)|分別|分别|各自|各[是有造為为]|比較|比较|兩者|两者|哪一?個更|哪个更|還是|还是"
                     r"|[？?].+[？?]|[，,](?:又|以及|並且|并且)"),
    "ar": re.compile(normalize(r"(?:^|\s)(?:كل من|كلا|كلتا|جميع|قارن|مقارنة|أيهما|أيهم|على التوالي)(?:\s|$)"
                               r"|(?:المقالات|المستندات|الوثائق)\s"
                               r"|[،,]\s*و(?:كم|ما|ماذا|متى|أين|من|في أي|أي|هل|كيف)(?:\s|$)")),
}


def spans_documents(question: str) -> bool:
    """Whether QUESTION asks across documents (lists, comparisons, "each", two questions in
    one), so its answer is made per document that holds a part (rag.answer)."""
    pattern = _ACROSS[detect_language(question)]
    text = normalize(question) if detect_language(question) == "ar" else question
    return bool(pattern.search(text))
