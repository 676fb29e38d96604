"""rag.prefix_states: prompt-prefix states on disk, written whole, bounded, and never an error.

The bytes here stand in for llama.cpp's state; tests/test_llms.py runs the real model
through two processes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rag.prefix_states import PrefixStates

MODEL = "model.gguf|1117320768|1|n_ctx=4096|llama_cpp=0.3.36"
TOKENS = [151644, 8948, 198, 2610, 4226]


def test_a_saved_state_comes_back_for_the_same_model_and_tokens(tmp_path: Path) -> None:
    store = PrefixStates(tmp_path)
    state = os.urandom(5000)
    path = store.save(MODEL, TOKENS, state, seed=42)
    assert path is not None and path.parent == tmp_path
    saved = PrefixStates(tmp_path).load(MODEL, TOKENS)  # as another process would open it
    assert saved is not None
    assert (saved.tokens, saved.state, saved.seed) == (TOKENS, state, 42)


@pytest.mark.parametrize(("model", "tokens"), [
    (MODEL.replace("n_ctx=4096", "n_ctx=2048"), TOKENS),  # another context size: another file
    (MODEL, TOKENS[:-1]),  # a shorter prefix
    (MODEL, [*TOKENS[:-1], 13]),  # another last token
])
def test_another_model_or_other_tokens_find_nothing(tmp_path: Path, model: str, tokens: list[int]) -> None:
    store = PrefixStates(tmp_path)
    store.save(MODEL, TOKENS, b"state", seed=1)
    assert store.load(model, tokens) is None


def test_a_file_holding_other_tokens_under_the_name_is_ignored(tmp_path: Path) -> None:
    store = PrefixStates(tmp_path)
    theirs = store.save(MODEL, [1, 2, 3], b"theirs", seed=1)
    assert theirs is not None
    theirs.rename(store.path(MODEL, TOKENS))  # same name, other content: a hash collision, say
    assert store.load(MODEL, TOKENS) is None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped byte"])
def test_an_unreadable_file_is_ignored_and_the_next_save_replaces_it(tmp_path: Path, damage: str) -> None:
    store = PrefixStates(tmp_path)
    state = os.urandom(20000)
    path = store.save(MODEL, TOKENS, state, seed=7)
    assert path is not None
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all" * 10)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # inside the state bytes: the zip checksum catches it
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    assert store.load(MODEL, TOKENS) is None
    assert store.save(MODEL, TOKENS, state, seed=7) == path
    again = store.load(MODEL, TOKENS)
    assert again is not None and again.state == state


def test_the_folder_is_kept_within_its_budget_dropping_the_least_recently_used(tmp_path: Path) -> None:
    one = 40_000
    store = PrefixStates(tmp_path, budget=int(3.5 * one))
    paths = []
    for i in range(3):
        path = store.save(MODEL, [i], bytes(one), seed=0)
        assert path is not None
        os.utime(path, (1000 + i, 1000 + i))  # written in order 0, 1, 2
        paths.append(path)
    assert store.load(MODEL, [0]) is not None  # 0 is used again: now 1 is the oldest
    store.save(MODEL, [3], bytes(one), seed=0)
    kept = sorted(tmp_path.glob("*.npz"))
    assert not paths[1].exists()
    assert paths[0].exists() and paths[2].exists() and len(kept) == 3
    assert sum(p.stat().st_size for p in kept) <= store.budget


def test_a_state_bigger_than_the_budget_is_not_kept(tmp_path: Path) -> None:
    store = PrefixStates(tmp_path, budget=1000)
    assert store.save(MODEL, TOKENS, bytes(2000), seed=0) is None
    assert not list(tmp_path.iterdir())


def test_a_folder_that_cannot_be_written_costs_only_the_saving(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    store = PrefixStates(blocker / "llama-prefix")
    assert store.save(MODEL, TOKENS, b"state", seed=0) is None
    assert store.load(MODEL, TOKENS) is None


def test_nothing_but_arrays_is_read_back(tmp_path: Path) -> None:
    """The file is npz without pickled objects: a crafted file cannot run code when read."""
    path = PrefixStates(tmp_path).save(MODEL, TOKENS, b"state", seed=0)
    assert path is not None
    with np.load(path, allow_pickle=False) as saved:
        assert sorted(saved.files) == ["format", "identity", "seed", "state", "tokens"]
