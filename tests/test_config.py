"""rag.config thread counts: --threads > RAG_THREADS > the per-component defaults, from the
command line down to the Settings each command builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.answer
import rag.ingest
from conftest import REPO, SAMPLE_CORPUS
from rag import config
from rag.cli import app
from rag.config import ModelSettings, Settings, Threads, resolve, usable_cores


def resolve_threads(flag: int | None = None) -> Threads:
    return resolve({"models.threads": flag}).models.threads
from rag.errors import RagError, UsageError


@pytest.fixture
def distinct_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults that differ per component, so a swapped field shows."""
    monkeypatch.setattr(config, "DEFAULT_THREADS", {
        "e5": lambda cores: cores + 10, "use": lambda cores: cores + 20,
        "generate": lambda cores: cores + 30, "prompt": lambda cores: cores + 40,
    })
    monkeypatch.delenv("RAG_THREADS", raising=False)


def test_defaults_come_per_component_from_the_one_table(distinct_defaults: None) -> None:
    cores = usable_cores()
    threads = resolve_threads()
    assert (threads.e5, threads.use, threads.generate, threads.prompt) == (cores + 10, cores + 20, cores + 30, cores + 40)
    assert str(cores) in threads.source
    assert ModelSettings().threads == threads


def test_todays_defaults_leave_generation_one_core_and_give_the_rest_every_core(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_THREADS", raising=False)
    cores = usable_cores()
    got = resolve_threads()
    assert (got.e5, got.use, got.prompt) == (cores, cores, cores)
    assert got.generate == max(1, cores - 1)


def test_a_default_never_goes_below_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_THREADS", raising=False)
    monkeypatch.setitem(config.DEFAULT_THREADS, "generate", lambda cores: cores - 99)
    assert resolve_threads().generate == 1


def test_rag_threads_overrides_every_default(distinct_defaults: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_THREADS", " 3 ")
    assert resolve_threads() == Threads(3, 3, 3, 3)
    assert resolve_threads().source == "RAG_THREADS"


def test_the_flag_overrides_rag_threads(distinct_defaults: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_THREADS", "3")
    assert resolve_threads(5) == Threads(5, 5, 5, 5)
    assert resolve_threads(5).source == "--threads"


def test_empty_rag_threads_means_the_defaults(distinct_defaults: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_THREADS", "")
    assert resolve_threads().e5 == usable_cores() + 10


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_rag_threads_is_a_usage_error_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RAG_THREADS", value)
    with pytest.raises(UsageError, match=f"RAG_THREADS .*{value!r}"):
        resolve_threads()


def test_equal_counts_are_equal_settings_whoever_chose_them() -> None:
    assert Threads.same(2, "--threads") == Threads.same(2, "RAG_THREADS")
    assert hash(Threads.same(2, "a")) == hash(Threads.same(2, "b"))


# --- the commands that load models pass the counts on ---------------------------------------


class _Stop(RagError):
    """Raised by the recorders once they have seen the Settings: no model is loaded."""


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The Settings each command hands to ingest or to the Assistant."""
    got: list[Settings] = []

    def record(*args: object, **kwargs: object) -> None:
        got.append(next(a for a in (*args, *kwargs.values()) if isinstance(a, Settings)))
        raise _Stop("recorded")

    monkeypatch.setattr(rag.ingest, "ingest", record)
    monkeypatch.setattr(rag.answer, "Assistant", record)
    return got


def _command(name: str, tmp_path: Path) -> list[str]:
    questions = tmp_path / "q.txt"
    questions.write_text("Where was the forum held?\n", encoding="utf-8")
    return {
        "ingest": ["ingest", str(SAMPLE_CORPUS)],
        "ask": ["ask", "Where was the forum held?"],
        "chat": ["chat"],
        "batch": ["batch", str(questions), "-o", str(tmp_path / "a.jsonl")],
        "eval": ["eval", str(REPO / "eval" / "dev.jsonl"), "--out", str(tmp_path / "report")],
    }[name]


COMMANDS = ["ingest", "ask", "chat", "batch", "eval"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("flag", "env", "expected"), [(None, "2", 2), ("3", "2", 3), ("3", None, 3)])
def test_each_command_takes_threads_from_the_flag_then_the_environment(
    seen: list[Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    command: str, flag: str | None, env: str | None, expected: int,
) -> None:
    if env is None:
        monkeypatch.delenv("RAG_THREADS", raising=False)
    else:
        monkeypatch.setenv("RAG_THREADS", env)
    args = _command(command, tmp_path) + (["--threads", flag] if flag else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and seen, result.output
    assert seen[0].models.threads == Threads.same(expected, "")


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_says_a_bad_rag_threads_in_one_line(
    seen: list[Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
) -> None:
    monkeypatch.setenv("RAG_THREADS", "many")
    result = CliRunner().invoke(app, _command(command, tmp_path))
    assert result.exit_code == 2 and not seen
    assert "Error: RAG_THREADS must be a whole number" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_threads_below_one_are_refused_by_the_flag(seen: list[Settings], tmp_path: Path, command: str) -> None:
    result = CliRunner().invoke(app, _command(command, tmp_path) + ["--threads", "0"])
    assert result.exit_code == 2 and not seen


def test_status_says_which_thread_counts_are_in_use(
    fake_embedder: object, settings: Settings, distinct_defaults: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.ingest import ingest

    ingest([SAMPLE_CORPUS], settings, embedder=fake_embedder)  # type: ignore[arg-type]
    cores = usable_cores()
    text = CliRunner().invoke(app, ["status", "--index", str(settings.store.index_dir)])
    assert text.exit_code == 0, text.output
    assert (f"threads:    e5 {cores + 10}, use {cores + 20}, llm generate {cores + 30}, "
            f"llm prompt {cores + 40} (defaults for {cores} core") in text.output
    monkeypatch.setenv("RAG_THREADS", "1")
    as_json = CliRunner().invoke(app, ["status", "--json", "--index", str(settings.store.index_dir)])
    assert json.loads(as_json.stdout)["threads"] == {"e5": 1, "use": 1, "generate": 1, "prompt": 1,
                                                     "source": "RAG_THREADS"}


# --- every setting: defaults < profile < environment < flags ---------------------------------


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "profile.toml"
    monkeypatch.setenv("RAG_PROFILE", str(path))
    return path


def test_each_layer_overrides_the_one_below(profile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile.write_text('log = false\n[models]\nllm = "none"\n[retrieval]\ntop_k = 7\n'
                       '[answer]\nabstain_p_none = 0.2\n', encoding="utf-8")
    monkeypatch.setenv("RAG_TOP_K", "9")
    got = resolve({"models.llm": "gguf:/m.gguf"})
    assert got.models.llm == "gguf:/m.gguf"  # flag over profile
    assert got.retrieval.top_k == 9  # environment over profile
    assert (got.log, got.answer.abstain_p_none) == (False, 0.2)  # profile over defaults
    assert got.store.index_dir == Path(".rag") and got.answer.max_tokens == 200  # defaults


def test_each_value_says_where_it_came_from(profile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.config import explain

    profile.write_text('[models]\nllm = "none"\nthreads = 3\n', encoding="utf-8")
    monkeypatch.setenv("RAG_CHROMA_URL", "http://db:8000")
    rows = {s.key: s for s in explain({"retrieval.top_k": 4})}
    assert rows["models.llm"].source == f"profile {profile}"
    assert rows["models.threads"].value == Threads.same(3, "") and rows["models.threads"].value.source == f"profile {profile}"
    assert (rows["store.chroma_url"].source, rows["store.chroma_url"].value) == ("RAG_CHROMA_URL", "http://db:8000")
    assert rows["retrieval.top_k"].source == "flag"
    assert rows["store.index_dir"].source == "default"


@pytest.mark.parametrize(("text", "message"), [
    ("[retrieval]\ntopk = 3\n", "'retrieval.topk', which is not a setting"),
    ("[retrieval]\ntop_k = 0\n", "retrieval.top_k in the profile .* must be a whole number from 1 to 50, not 0"),
    ("[models]\nllm = 3\n", "models.llm in the profile .* must be text"),
    ("log = 'perhaps'\n", "log in the profile .* must be on or off"),
    ("[models\n", "cannot read the profile"),
])
def test_a_wrong_profile_is_one_usage_error_naming_the_file(profile: Path, text: str, message: str) -> None:
    profile.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        resolve()


def test_a_named_profile_that_is_missing_is_an_error_and_the_user_one_is_optional(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_PROFILE", str(tmp_path / "nowhere.toml"))
    with pytest.raises(UsageError, match="RAG_PROFILE names .*nowhere.toml"):
        resolve()
    monkeypatch.delenv("RAG_PROFILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert resolve().models.llm == "local"
    (tmp_path / "config" / "rag").mkdir(parents=True)
    (tmp_path / "config" / "rag" / "profile.toml").write_text('[models]\nllm = "none"\n', encoding="utf-8")
    assert resolve().models.llm == "none"


@pytest.mark.parametrize(("env", "value", "message"), [
    ("RAG_TOP_K", "many", "RAG_TOP_K must be a whole number from 1 to 50, not 'many'"),
    ("RAG_LOG", "sometimes", "RAG_LOG must be on or off"),
    ("RAG_LLM_TIMEOUT", "-1", "RAG_LLM_TIMEOUT must not be negative"),
])
def test_a_bad_variable_is_a_usage_error_naming_it(monkeypatch: pytest.MonkeyPatch, env: str, value: str,
                                                   message: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(UsageError, match=message):
        resolve()


def test_every_setting_has_a_default_and_a_description() -> None:
    from rag.config import explain

    rows = explain()
    assert {s.key.partition(".")[0] for s in rows} >= {"store", "models", "retrieval", "answer", "batch"}
    assert all(len(s.help) > 20 for s in rows), [s.key for s in rows if len(s.help) <= 20]
    assert all(s.source == "default" for s in rows)


def test_the_openai_variables_reach_the_model_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    models = resolve().models
    assert (models.base_url, models.api_key) == ("http://127.0.0.1:9/v1", "sk-secret")
    assert "sk-secret" not in repr(models)


def test_rag_settings_shows_values_and_sources_but_never_the_key(
        profile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile.write_text("[retrieval]\ntop_k = 7\n", encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("RAG_LLM", "none")
    result = CliRunner().invoke(app, ["settings", "--embed", "use"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"profile: {profile}"
    assert any(line.split() == ["retrieval.top_k", "7", "(profile", f"{profile})"] for line in lines), lines
    assert any(line.split() == ["models.llm", "none", "(RAG_LLM)"] for line in lines)
    assert any(line.split() == ["models.embed", "use", "(flag)"] for line in lines)
    assert "sk-secret" not in result.output
    as_json = json.loads(CliRunner().invoke(app, ["settings", "--json"]).stdout)
    keys = {s["key"]: s for s in as_json["settings"]}
    assert keys["models.api_key"]["value"] == "(set)" and keys["models.llm"]["env"] == "RAG_LLM"


def test_the_environment_still_sets_a_commands_index(fake_embedder: object, settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.ingest import ingest

    ingest([SAMPLE_CORPUS], settings, embedder=fake_embedder)  # type: ignore[arg-type]
    monkeypatch.setenv("RAG_INDEX", str(settings.store.index_dir))
    result = CliRunner().invoke(app, ["ls", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["files"]) == 5
