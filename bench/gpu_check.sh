#!/usr/bin/env bash
# Every GPU-only check of the project in one command, for a lent GPU machine (no network there).
#
#   make gpu-wheels              # here: the wheels the GPU image lacks, into .whl/ (about 14 MB)
#   bash bench/gpu_check.sh      # there, with .whl carried; at most 9.5 minutes (timeout_s 600)
#
# It installs .whl/ into /tmp/site (ahead of the image's packages), then runs the GPU tests
# (CUDA graphs, the Triton split-K kernel compiled for real, mamba-ssm's kernels), then
# bench/engine.py and bench/mamba_models.py. Logs go to $OUT (the device tool's folder) or
# ./gpu-check; each step has its own time limit so one hang cannot eat the machine's lease.
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
step tests 150 python3 -m pytest -q -p no:cacheprovider tests/test_decode_attention.py tests/test_top_p.py \
  tests/test_engine.py \
  tests/test_mamba_in_llama.py tests/test_backend_mamba.py tests/test_backend_hf.py
# Two parts, so a slow HF compile cannot cost the Mamba numbers.
step engine_mamba 120 python3 bench/engine.py --models mamba
step engine_llama 190 python3 bench/engine.py --models llama
step mamba_models 110 python3 bench/mamba_models.py
exit $status
