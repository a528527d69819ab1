#!/usr/bin/env bash
# Every GPU row this project has, in one call on a lent GPU machine (about 5 minutes on an H100;
# at most 8): training throughput (course template, single-trial loop with and without
# torch.compile and CUDA graphs), population throughput for K = 1..256 with memory and evaluation
# cost per member, and the MNIST-feature evaluation on 10,000 samples.
#
#   bash bench/gpu_check.sh --prepare   # here: copy MNIST's .gz files (11.5 MB) into .gpu/ (git-ignored)
#   bash bench/gpu_check.sh             # there: device run with carry [".gpu"]; logs to $OUT when set
#   bash bench/gpu_check.sh --dry-run   # here or in CI: the same scripts on CPU at their tiny sizes
#
# The GPU machine has PyTorch, torchvision, numpy, scipy, PyYAML and Pillow, but not Ray, MLflow,
# Optuna or pytorch-fid, and no network: only gan_core's training and metrics run there. The
# Inception weights (95.7 MB) exceed one call's 64 MiB, so Inception FID is scored on CPU from
# samples instead (docs/RESULTS.md says how).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
case "$mode" in
  --prepare)
    src="${GAN_DATA_DIR:-$(cd .. && pwd)/shared/data}/MNIST/raw"
    mkdir -p .gpu/data/MNIST/raw
    cp "$src"/*.gz .gpu/data/MNIST/raw/
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    du -sh .gpu
    exit 0 ;;
  --dry-run) ;;
  full) ;;
  *) echo "usage: bash bench/gpu_check.sh [--prepare | --dry-run]" >&2; exit 2 ;;
esac

PY=${PYTHON:-$(command -v python3)}
[ -x .venv/bin/python ] && [ "$mode" = --dry-run ] && PY=${PYTHON:-.venv/bin/python}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export GAN_CACHE_DIR="${GAN_CACHE_DIR:-$(mktemp -d)}"
if [ -d .gpu/data ]; then export GAN_DATA_DIR="$PWD/.gpu/data"; fi
log=${OUT:-$(mktemp -d)}/gpu_check.log

run() {  # one step: its command, its output, its wall time; a failing step is reported, not fatal
  echo "=== $* ===" | tee -a "$log"
  local start=$SECONDS
  "$@" 2>&1 | tee -a "$log" || echo "step failed: $*" | tee -a "$log"
  echo "=== $(( SECONDS - start )) s ===" | tee -a "$log"
}

if [ "$mode" = --dry-run ]; then
  device=cpu; tiny=(--tiny)
else
  device=cuda; tiny=()
  nvidia-smi -L | tee -a "$log" || true
fi
run "$PY" -c "import torch, gan_core; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'); print('gan_core', gan_core.METHODS)"
run "$PY" bench/train_throughput.py --devices "$device" --batch-sizes 64,256 "${tiny[@]}"
run "$PY" bench/population.py --devices "$device" "${tiny[@]}" \
    $([ "$mode" = --dry-run ] || echo --steps 100 --sizes 1,4,16,64,256)
# Inception's weights do not fit in a call to the GPU machine; the dry run (CPU, CI) has them
run "$PY" bench/eval_throughput.py --devices "$device" --inception-samples "$([ "$mode" = --dry-run ] && echo 8 || echo 0)" "${tiny[@]}"
echo "gpu_check: done ($mode); log at $log"
