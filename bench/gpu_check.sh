#!/usr/bin/env bash
# Every GPU-only check of the project in one command, for a lent GPU machine (no network there).
#
#   make gpu-wheels              # here: the wheels the GPU image lacks, into .whl/ (about 14 MB)
#   bash bench/gpu_check.sh      # there, with .whl carried; at most 9.5 minutes (timeout_s 600)
#
# It installs .whl/ into /tmp/site (ahead of the image's packages), then runs the GPU tests
# (CUDA graphs, the Triton split-K kernel compiled for real, mamba-ssm's kernels under the
# MambaInLlama and Llamba students, both end to end on the slot engine), then
# bench/mamba_models.py (Llamba first, then the hybrids) and bench/engine.py. Logs go to $OUT (the
# device tool's folder) or ./gpu-check; each step has its own time limit so one hang cannot eat the
# machine's lease; a missing piece (no CUDA, no mamba-ssm, a missing test file) fails its step, and
# the script exits 1 when any step failed.
set -uo pipefail
out=${OUT:-gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu_check: installing .whl/ failed"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# mamba-ssm built without its CUDA extension imports only beside a stand-in for it (the backend
# then scans Mamba-1 prompts in torch and says so); a real build is left alone.
if ! python3 -c "import selective_scan_cuda" 2> /dev/null; then
  mkdir -p /tmp/site && echo "# stand-in: mamba-ssm without its CUDA extension" > /tmp/site/selective_scan_cuda.py
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
status=0
step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $out/NAME.log, remember a failure
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc"
  [ "$rc" -eq 0 ] || status=1
}
step gpu 10 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step kernels 30 python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'
from harness.generation.models.mamba_kernels import load_kernels; k = load_kernels()
print('mamba-ssm kernels loaded; causal-conv1d:', k.conv_update is not None)"
step tests 150 python3 -m pytest -q -p no:cacheprovider tests/test_decode_attention.py tests/test_top_p.py \
  tests/test_engine.py tests/test_llamba.py tests/test_mamba_in_llama.py tests/test_backend_hf.py \
  tests/test_backend_llamba.py::test_tiny_llamba_end_to_end_on_auto \
  tests/test_backend_mamba_in_llama.py
# Llamba first: the newest kernel path. The engine bench in two parts, so a slow HF compile cannot
# cost the Mamba numbers.
step llamba 60 python3 bench/mamba_models.py --models llamba
step mamba_models 100 python3 bench/mamba_models.py --models hybrid-mamba1 pure-mamba1 hybrid-mamba2 pure-mamba2
step engine_mamba 110 python3 bench/engine.py --models mamba
step engine_llama 120 python3 bench/engine.py --models llama
exit $status
