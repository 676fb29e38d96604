"""Errors a person sees: each names what is at fault and what to do.

    RagError(message, hint)
     ├── UsageError          a bad setting or argument (exit code 2)
     ├── DocumentError       one file could not be read; ingest skips it and goes on
     ├── IndexError_         the index is missing, locked, or built with other settings
     ├── ModelError          a model could not be loaded or a model server failed
     └── StoreError          the Chroma store (embedded or server) failed

The CLI catches only RagError, prints ``Type: message`` plus the hint, and exits 1
(2 for UsageError). Modules that own a dependency translate its exceptions into these.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: a message naming the file, line or setting at fault, plus a hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(RagError):
    """Bad usage: an unknown option value, an unreadable input file for batch."""

    exit_code = 2


class DocumentError(RagError):
    """One document can't be read; the caller records it as skipped and continues."""


class IndexError_(RagError):  # noqa: N801 - trailing underscore avoids shadowing the builtin
    """The index is missing, locked by another ingest, or built with other settings."""


class ModelError(RagError):
    """A model failed to load, or a model server is down, slow, or answered garbage."""


class StoreError(RagError):
    """The Chroma store failed (server down, disk full, corrupt files)."""


class OutputError(RagError):
    """A result file could not be written (disk full, no permission); what it already holds is kept."""


def cause_unless_it_shows(exc: BaseException, secret: str | None) -> BaseException | None:
    """EXC, to chain with ``raise ... from``, or None when its traceback would show SECRET.

    A server may echo the API key in its error reply, and --debug prints every chained
    exception: then the masked message of the error raised is all a person gets to see.
    """
    import traceback

    return None if secret and secret in "".join(traceback.format_exception(exc)) else exc
