"""rag as llama-index components (rag/llama_index.py), over the real sample-corpus index.

The paragraph numbers asserted here were checked by hand, not produced by rag: in
examples/corpus/003_3e9024b6c632520f.txt (`python -m rag.paragraphs` and `grep -n`),
paragraph 24 is line 51, "... entailing a total investment of $675 million.", and
paragraph 25 is line 53, its Chinese version ("...總投資達6.75億美元。"). The answers
of the query engine come from the embedded model (~15 s on 2 cores); the LLM adapter is
tested with scripted llama-index LLMs, inside a real Assistant over the real index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata
from llama_index.core.llms import MockLLM
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from pydantic import PrivateAttr

from conftest import SAMPLE_CORPUS, RealIndex
from rag.errors import ModelError
from rag.llama_index import LlamaIndexLLM, RagQueryEngine, RagRetriever

QUESTION = "How much investment is involved in Chongqing companies expanding into SCO countries?"
GOLD_FILE = "003_3e9024b6c632520f.txt"
LINES = (SAMPLE_CORPUS / GOLD_FILE).read_text("utf-8").split("\n")  # the file as an editor shows it


def _settings(real_index: RealIndex, llm: str) -> Any:
    from dataclasses import replace

    settings = real_index.settings
    return replace(settings, models=replace(settings.models, llm=llm))  # type: ignore[attr-defined]


def _assert_node_is_in_its_file(node: Any) -> None:
    """A node's text can be found by opening its file at its lines."""
    m = node.metadata
    lines = (SAMPLE_CORPUS / m["file"]).read_text("utf-8").split("\n")
    assert node.text and node.text in "\n".join(lines[m["start_line"] - 1 : m["end_line"]]), m


# -- the retriever --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "paragraph", "line"),
    [(QUESTION, 24, 51), ("重慶企業向上合組織國家擴張涉及多少投資？", 25, 53)],
)
def test_retriever_nodes_carry_file_paragraph_lines_and_exact_text(
    real_index: RealIndex, question: str, paragraph: int, line: int
) -> None:
    nodes = RagRetriever.from_settings(_settings(real_index, "none")).retrieve(question)
    assert len(nodes) == 5  # --top-k default
    gold = [n for n in nodes if (n.node.metadata["file"], n.node.metadata["paragraph"]) == (GOLD_FILE, paragraph)]
    assert gold, [(n.node.metadata["file"], n.node.metadata["paragraph"]) for n in nodes]
    node = gold[0].node
    assert node.node_id == f"{GOLD_FILE}::{paragraph}::0"  # the chunk id: stable across re-ingests
    assert node.text == LINES[line - 1]  # the paragraph is that one line, exactly
    assert (node.metadata["start_line"], node.metadata["end_line"]) == (line, line)
    assert node.metadata["location"] == f"¶{paragraph} (line {line})"
    assert node.ref_doc_id == GOLD_FILE
    assert "page" not in node.metadata  # set for PDFs only
    for n in nodes:
        _assert_node_is_in_its_file(n.node)
        assert isinstance(n.score, float)


def test_a_llama_index_retriever_query_engine_runs_on_rag_retrieval(real_index: RealIndex) -> None:
    """llama-index's own RetrieverQueryEngine over RagRetriever. MockLLM echoes the prompt
    its synthesizer built, which shows what an LLM would be shown for each node."""
    engine = RetrieverQueryEngine.from_args(RagRetriever.from_settings(_settings(real_index, "none")), llm=MockLLM())
    response = engine.query(QUESTION)
    cited = [(n.node.metadata["file"], n.node.metadata["paragraph"]) for n in response.source_nodes]
    assert (GOLD_FILE, 24) in cited
    prompt = str(response)
    assert f"file: {GOLD_FILE}\nlocation: ¶24 (line 51)\n\n{LINES[50]}" in prompt
    assert "via:" not in prompt and "start_line" not in prompt  # bookkeeping stays out of the prompt


# -- the query engine, with the embedded model ----------------------------------------------


def test_query_engine_source_nodes_are_the_verified_citations(real_index: RealIndex) -> None:
    from rag.answer import Assistant

    response = RagQueryEngine(Assistant(_settings(real_index, "local"))).query(QUESTION)
    assert response.metadata and response.metadata["abstained"] is False, response
    assert "675" in (response.response or "")
    cited = {(n.node.metadata["file"], n.node.metadata["paragraph"], n.node.metadata["start_line"])
             for n in response.source_nodes}
    assert (GOLD_FILE, 24, 51) in cited, cited
    for n in response.source_nodes:
        assert f"[{n.node.metadata['marker']}]" in (response.response or "")  # one node per marker
        _assert_node_is_in_its_file(n.node)  # the quote is exact


# -- the adapter, with scripted llama-index LLMs --------------------------------------------


class ScriptedLLM(CustomLLM):
    """Streams a fixed list of pieces; records the messages and options it was given."""

    _pieces: list[str] = PrivateAttr()
    _fail: Exception | None = PrivateAttr(default=None)
    _cumulative: bool = PrivateAttr(default=False)
    _calls: list[tuple[list[ChatMessage], dict[str, Any]]] = PrivateAttr(default_factory=list)

    def __init__(self, pieces: list[str], fail: Exception | None = None, cumulative: bool = False) -> None:
        super().__init__()
        self._pieces, self._fail, self._cumulative = pieces, fail, cumulative

    @property
    def calls(self) -> list[tuple[list[ChatMessage], dict[str, Any]]]:
        return self._calls

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted")

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stream_chat(self, messages: Any, **kwargs: Any) -> Iterator[ChatResponse]:  # type: ignore[override]
        self._calls.append((list(messages), kwargs))
        text = ""
        for piece in self._pieces:
            text += piece
            yield ChatResponse(message=ChatMessage(role="assistant", content=text),
                               delta=None if self._cumulative else piece)
        if self._fail is not None:
            raise self._fail


MESSAGES = [{"role": "system", "content": "Answer from the sources."}, {"role": "user", "content": "¿Qué? 重慶"}]


def test_adapter_passes_roles_and_options_and_names_the_model() -> None:
    inner = ScriptedLLM(["Four ", "days [1]."])
    llm = LlamaIndexLLM(inner)
    assert "".join(llm.stream(MESSAGES, max_tokens=80, temperature=0.0)) == "Four days [1]."
    messages, options = inner.calls[0]
    assert [(m.role.value, m.content) for m in messages] == [(m["role"], m["content"]) for m in MESSAGES]
    assert options == {"max_tokens": 80, "temperature": 0.0}
    assert llm.id == "llama-index:scripted"

    quiet = ScriptedLLM(["ok"])
    assert "".join(LlamaIndexLLM(quiet, forward_options=False).stream(MESSAGES)) == "ok"
    assert quiet.calls[0][1] == {}


@pytest.mark.parametrize(
    ("pieces", "stop", "expected"),
    [
        (["How many days in Rus", "sia?\nQ: and then"], ["\n"], "How many days in Russia?"),
        (["abc<", "/s", ">def"], ["</s>"], "abc"),  # a stop split across three pieces
        (["a<", "b"], ["</s>"], "a<b"),  # a held-back tail that did not become a stop
        (["\nat once"], ["\n"], ""),
        (["no stop here"], [], "no stop here"),
    ],
)
def test_adapter_applies_stop_sequences_itself(pieces: list[str], stop: list[str], expected: str) -> None:
    assert "".join(LlamaIndexLLM(ScriptedLLM(pieces)).stream(MESSAGES, stop=stop)) == expected


def test_adapter_reads_cumulative_content_when_an_integration_sends_no_delta() -> None:
    assert "".join(LlamaIndexLLM(ScriptedLLM(["Fo", "ur da", "ys"], cumulative=True)).stream(MESSAGES)) == "Four days"


def test_adapter_turns_the_llms_failure_into_a_model_error() -> None:
    llm = LlamaIndexLLM(ScriptedLLM(["partial "], fail=ConnectionError("server at http://127.0.0.1:9 refused")))
    got: list[str] = []
    with pytest.raises(ModelError, match=r"llama-index:scripted failed: ConnectionError: server at http://127.0.0.1:9"):
        for piece in llm.stream(MESSAGES):
            got.append(piece)
    assert got == ["partial "]  # what came before the failure was streamed


def test_adapter_over_llama_index_mock_llm() -> None:
    """llama-index's own MockLLM (a CustomLLM: stream_chat -> messages_to_prompt ->
    stream_complete) echoes the prompt it was given: every message reaches it."""
    text = "".join(LlamaIndexLLM(MockLLM()).stream(MESSAGES))
    assert "Answer from the sources." in text and "¿Qué? 重慶" in text


def test_assistant_answers_through_a_llama_index_llm(real_index: RealIndex) -> None:
    """Assistant(settings, llm=LlamaIndexLLM(...)): real retrieval and real citation checks
    on what the llama-index LLM streamed. Whatever passage its marker [3] names, the
    citation must land on a paragraph that states the $675 million: ¶24, or ¶25, its
    Chinese version (6.75億美元)."""
    from rag.answer import Assistant
    from rag.config import AnswerSettings

    inner = ScriptedLLM(["More than 30 Chongqing-based companies expanded to SCO countries, ",
                         "entailing a total investment of $675 million [3]."])
    answer = Assistant(_settings(real_index, "none"), llm=LlamaIndexLLM(inner)).ask(QUESTION).answer
    assert not answer.abstained, answer
    cited = {(c.file, c.paragraph, c.start_line) for c in answer.citations}
    assert cited and cited <= {(GOLD_FILE, 24, 51), (GOLD_FILE, 25, 53)}, answer
    messages, options = inner.calls[0]
    assert [m.role.value for m in messages] == ["system", "user"]
    assert QUESTION in (messages[1].content or "") and LINES[50][:60] in (messages[1].content or "")
    assert options == {"max_tokens": AnswerSettings().max_tokens, "temperature": 0.0}
