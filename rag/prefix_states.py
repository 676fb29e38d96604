"""A local model's state after reading a prompt prefix, kept on disk between processes.

    store = PrefixStates(cache_dir() / "llama-prefix")
    saved = store.load(identity, tokens)        # SavedPrefix, or None: read the prefix again
    store.save(identity, tokens, state, seed)

llama.cpp reuses the cached prefix of the previous prompt within one process, so a system
prompt that never changes is read once per process; this keeps that work for the *first*
question of the next process too (``rag ask`` is one question a process). The caller (the
llama-cpp backend in rag.llms) turns a SavedPrefix into llama-cpp's own state object; this
module holds only bytes and tokens, so it needs no llama_cpp.

One file per (model identity, prefix tokens), named by their SHA-256, in npz form (no
pickle: a file in the cache folder is read as data, never run). It is written atomically
(``rag.files.atomic_write``), and the folder is kept under BUDGET_BYTES by removing the
least recently used files (``load`` refreshes a file's mtime). A file that is unreadable,
cut short or made for other tokens counts as absent, and the next ``save`` replaces it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.files import UNREADABLE, atomic_write, read_arrays

FORMAT = "rag-prefix-state-v1"
# The embedded 1.5B model's state after its ~140-token system prompt is ~4 MB (a 7B model's
# about twice that), so this keeps every system prompt rag uses, in each answer language.
BUDGET_BYTES = 64 << 20


@dataclass(frozen=True)
class SavedPrefix:
    """What a process needs to continue from a prefix another process read."""

    tokens: list[int]
    state: bytes  # llama.cpp's context state (the KV cache of the prefix), as it returned it
    seed: int


class PrefixStates:
    """The prefix states in FOLDER; reads and writes never raise (a miss costs only time)."""

    def __init__(self, folder: Path, budget: int = BUDGET_BYTES) -> None:
        self.folder = folder
        self.budget = budget

    def path(self, identity: str, tokens: list[int]) -> Path:
        digest = hashlib.sha256(f"{FORMAT}\0{identity}\0".encode())
        digest.update(np.asarray(tokens, np.int32).tobytes())
        return self.folder / f"{digest.hexdigest()[:32]}.npz"

    def load(self, identity: str, tokens: list[int]) -> SavedPrefix | None:
        """The state saved for exactly these TOKENS of this model, or None."""
        path = self.path(identity, tokens)
        try:
            with read_arrays(path) as saved:
                if (str(saved["format"]) != FORMAT or str(saved["identity"]) != identity
                        or saved["tokens"].tolist() != tokens):
                    return None
                found = SavedPrefix(tokens, saved["state"].tobytes(), int(saved["seed"]))
            os.utime(path)  # recently used: the last to be evicted
        except UNREADABLE:
            return None  # missing, cut short or foreign: the prefix is read again
        return found

    def save(self, identity: str, tokens: list[int], state: bytes, seed: int) -> Path | None:
        """Keep STATE for TOKENS, then trim the folder to the budget; None if not kept."""
        if len(state) > self.budget:
            return None
        path = self.path(identity, tokens)
        try:
            with atomic_write(path, binary=True) as out:
                np.savez(out, format=np.array(FORMAT), identity=np.array(identity),
                         tokens=np.asarray(tokens, np.int32), state=np.frombuffer(state, np.uint8),
                         seed=np.array(seed, np.int64))
        except OSError:
            return None  # a read-only or full cache folder: answers go on, only slower
        self._trim(keep=path)
        return path

    def _trim(self, keep: Path) -> None:
        """Remove the least recently used files until the folder is within the budget."""
        files = []
        for p in self.folder.glob("*.npz"):
            try:
                st = p.stat()
            except OSError:
                continue  # removed meanwhile by another process
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.budget:
                break
            if p != keep:
                p.unlink(missing_ok=True)
                total -= size
