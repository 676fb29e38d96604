"""rag.llms' OpenAI-compatible backend: against llama-cpp-python's own server on the
embedded model (the real thing), and through the openai client with an httpx2
MockTransport for what a real server won't do on demand (junk chunks, mid-stream errors,
timeouts, echoed keys)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from conftest import CHAT_QUESTION, EVIDENCE_SCHEMA, NUMBERED_QUESTION, free_port, stop_process
from rag.errors import ModelError
from rag.llms import OpenAILLM, load_llm

SERVER_KEY = "sekret-test-key"
SERVER_MODEL = "qwen-embedded"
# `python -m llama_cpp.server`, loading the model as rag does (rag.llms.plain_weight_buffers:
# no AMX weight buffers, which crash every prompt on some CPUs).
SERVER_MAIN = ("import runpy, sys; from rag.llms import plain_weight_buffers; sys.argv[0] = 'llama_cpp.server'\n"
               "with plain_weight_buffers(): runpy.run_module('llama_cpp.server', run_name='__main__')")


@pytest.fixture(scope="session")
def llama_server(embedded_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the embedded model; yields its /v1 URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    command = [
        sys.executable, "-c", SERVER_MAIN, "--model", str(embedded_model),
        "--model_alias", SERVER_MODEL, "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--api_key", SERVER_KEY,
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"{base_url}/models"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        stop_process(server)


def _answers(url: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {SERVER_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


# --- OpenAI-compatible backend against a real server -------------------------------------


def test_openai_backend_streams_from_a_real_server(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    llm = load_llm(f"openai:{SERVER_MODEL}")
    assert llm is not None and llm.id == f"openai:{SERVER_MODEL}"

    pieces = list(llm.stream(CHAT_QUESTION, max_tokens=16, stop=["\n\n"]))

    assert len(pieces) > 1
    assert "".join(pieces).strip()
    assert load_llm(f"openai:{SERVER_MODEL}") is llm


def test_openai_backend_is_held_to_a_schema_by_a_real_server(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    llm = load_llm(f"openai:{SERVER_MODEL}")
    reply = json.loads("".join(p.text for p in llm.stream_json(NUMBERED_QUESTION, EVIDENCE_SCHEMA, max_tokens=40)))  # type: ignore[union-attr]
    assert set(reply) == {"evidence", "answer"} and set(reply["evidence"]) <= {1, 2}


def test_wrong_key_is_refused_without_showing_either_key(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key-4711")
    llm = load_llm(f"openai:{SERVER_MODEL}")
    assert llm is not None

    with pytest.raises(ModelError, match="refused the API key") as caught:
        list(llm.stream(CHAT_QUESTION, max_tokens=4))

    shown = f"{caught.value} {caught.value!r}"
    assert "OPENAI_API_KEY" in shown
    assert "wrong-key-4711" not in shown and SERVER_KEY not in shown


def test_dead_server_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs no key
    llm = load_llm("openai:whatever")
    assert llm is not None

    with pytest.raises(ModelError, match="cannot reach the model server") as caught:
        list(llm.stream(CHAT_QUESTION, max_tokens=4))

    assert url in caught.value.message
    assert "OPENAI_BASE_URL" in (caught.value.hint or "")


# --- OpenAI-compatible backend: what a real server won't do on demand --------------------

MOCK_KEY = "sk-mock-secret-123"


def mock_llm(handler: Callable[[httpx2.Request], httpx2.Response]) -> OpenAILLM:
    client = openai.OpenAI(
        base_url="http://mock.test/v1",
        api_key=MOCK_KEY,
        max_retries=0,
        timeout=7.0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return OpenAILLM("mock-model", client)


def sse(*events: object) -> Callable[[httpx2.Request], httpx2.Response]:
    body = "".join(
        f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n" for event in events
    )
    return lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body.encode()
    )


def chunk(choices: list[dict[str, object]]) -> dict[str, object]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": choices}  # fmt: skip


def delta(**fields: object) -> dict[str, object]:
    return {"index": 0, "delta": fields, "finish_reason": None}


def test_a_server_that_refuses_response_format_is_asked_in_plain_text() -> None:
    asked: list[dict[str, object]] = []
    text = '{"evidence": [1], "answer": "Blue."}'

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        asked.append(body)
        if "response_format" in body:
            return httpx2.Response(400, json={"error": {"message": "response_format is not supported"}})
        return sse(chunk([delta(content=text[:9])]), chunk([delta(content=text[9:])]), "[DONE]")(request)

    llm = mock_llm(handler)
    assert "".join(p.text for p in llm.stream_json(NUMBERED_QUESTION, EVIDENCE_SCHEMA)) == text
    assert [("response_format" in a, "logprobs" in a) for a in asked] == [
        (True, True), (True, False), (True, False), (False, False)]
    asked.clear()
    assert "".join(p.text for p in llm.stream_json(NUMBERED_QUESTION, EVIDENCE_SCHEMA)) == text
    assert len(asked) == 1  # it remembers what the server takes


def test_token_log_probabilities_from_a_server_become_alternatives() -> None:
    tokens = [{"token": t, "logprob": -0.1, "top_logprobs": [{"token": t, "logprob": -0.1}, {"token": "]", "logprob": -3.0}]}
              for t in ('{"evidence": [', "1")]
    llm = mock_llm(sse(chunk([{**delta(content='{"evidence": [1'), "logprobs": {"content": tokens}}]), "[DONE]"))
    pieces = list(llm.stream_json(NUMBERED_QUESTION, EVIDENCE_SCHEMA))
    assert [p.text for p in pieces] == ['{"evidence": [', "1"]
    assert pieces[1].alternatives == {"1": -0.1, "]": -3.0}


def test_chunks_without_text_are_skipped() -> None:
    llm = mock_llm(
        sse(
            chunk([delta(role="assistant")]),
            chunk([delta(content=None)]),
            chunk([delta(content="Hel")]),
            chunk([]),
            chunk([delta(content="")]),
            chunk([delta(content="lo")]),
            {"unexpected": True},
            chunk([{"index": 0, "delta": None, "finish_reason": "stop"}]),
            "[DONE]",
        )
    )
    assert list(llm.stream(CHAT_QUESTION)) == ["Hel", "lo"]


def test_error_sent_inside_the_stream_is_a_model_error() -> None:
    llm = mock_llm(sse(chunk([delta(content="Hi")]), {"error": {"message": "out of memory"}}))
    pieces = llm.stream(CHAT_QUESTION)
    assert next(pieces) == "Hi"
    with pytest.raises(ModelError, match="out of memory"):
        next(pieces)


def test_malformed_stream_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="malformed stream"):
        list(mock_llm(sse("this is not json")).stream(CHAT_QUESTION))


def test_timeout_names_the_limit() -> None:
    def stall(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    with pytest.raises(ModelError, match=r"did not answer within 7\.0 s"):
        list(mock_llm(stall).stream(CHAT_QUESTION))


def test_unknown_model_is_named() -> None:
    def missing(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(404, json={"error": {"message": "model not found"}})

    with pytest.raises(ModelError, match="no model 'mock-model'"):
        list(mock_llm(missing).stream(CHAT_QUESTION))


@pytest.mark.parametrize("status", [401, 500])
def test_key_echoed_by_the_server_is_never_shown(status: int) -> None:
    def echo(request: httpx2.Request) -> httpx2.Response:
        message = f"Incorrect API key provided: {MOCK_KEY}"
        return httpx2.Response(status, json={"error": {"message": message}})

    with pytest.raises(ModelError, match=f"HTTP {status}") as caught:
        list(mock_llm(echo).stream(CHAT_QUESTION))
    assert MOCK_KEY not in f"{caught.value} {caught.value!r}"
