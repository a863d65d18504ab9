#!/usr/bin/env bash
# A few minutes on a GPU machine: JAX on the GPU vs the twin on CUDA (train/eval throughput,
# seed and Criteo-like configs, batch 4096 and 65536), the DLRM-DCNv2-shaped config at batch
# 65536 (JAX only), then the parity quick run with JAX on the GPU. Needs a CUDA build of jaxlib and torch (not the CPU pins of the README set-up).
#
#   bash benchmarks/accelerator.sh [OUT_DIR]      # default benchmarks/results/accelerator
#
# Writes OUT_DIR/throughput.md, OUT_DIR/dlrm_dcnv2.md and OUT_DIR/parity.txt; exits non-zero if no GPU is visible to
# either framework (the project never depends on one: CI and every test run on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/accelerator}"
mkdir -p "$out"
python - <<'PY'
import sys, jax, torch
gpu = [d for d in jax.devices() if d.platform == "gpu"]
print("jax devices:", jax.devices(), "| torch cuda:", torch.cuda.is_available())
if not gpu or not torch.cuda.is_available():
    sys.exit("accelerator.sh: no GPU visible to jax and torch (install the CUDA builds)")
PY
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
# implementations 1 (jax-scan), 0 (jax per-step) and 3 (twin eager) of benchmarks/throughput.py
timeout 420 python benchmarks/throughput.py --configs seed,criteo --batches 4096,65536 \
    --impls 1,0,3 --torch-device cuda --out "$out/throughput.md"
# the MLPerf DLRM-DCNv2 shape at its batch (samples/s on this one device; MLPerf's HugeCTR
# figure is about 1.8M samples/s per H200 on 8 H200s)
timeout 300 python benchmarks/throughput.py --configs dlrm-dcnv2 --batches 65536 --impls 1,0 \
    --out "$out/dlrm_dcnv2.md"
timeout 240 python -m parity --quick | tee "$out/parity.txt"
echo "wrote $out/throughput.md, $out/dlrm_dcnv2.md and $out/parity.txt"
