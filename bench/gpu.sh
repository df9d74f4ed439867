#!/usr/bin/env bash
# The one-GPU check (bench/gpu.py says what it runs and why it fits in 8 minutes on one
# H100/H200): prints one JSON line on stdout, logs on stderr; on a GPU at full scale it
# also writes bench/results/gpu.json. Offline: nothing is downloaded.
#   bench/gpu.sh                 # full scale (llm-jp-3-3.7b's shape), one GPU
#   bench/gpu.sh --tiny          # the same code at a toy scale, CPU, seconds
#   bench/gpu.sh --workdir DIR   # scratch for the three 7.6 GB models (default: $TMPDIR)
# WASURENAI_PEAK_TFLOPS overrides the device's peak (bf16 dense TFLOP/s) for MFU.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python=python
if [[ -x .venv/bin/python ]]; then
    python=.venv/bin/python
fi
exec "$python" -m bench.gpu "$@"
