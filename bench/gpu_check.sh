#!/usr/bin/env bash
# One command on an H100/H200: the bf16 matmul ceiling of the GPU, then
# BERT-Large pretraining (seq 128) and SQuAD fine-tuning (seq 384) as sequences/s and MFU.
# At most 8 minutes, no network (a missing .venv is built with make, which does need it).
#   bench/gpu_check.sh [--gpu_pretraining_batch=64 --gpu_squad_batch=32 ...]
#   bench/gpu_check.sh --preset=tiny --gpu_steps=2 --gpu_matmul_size=256   # CPU smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  make .venv/.installed
fi
# The workload time-boxes its parts; timeout is the hard stop at 8 minutes.
exec timeout --kill-after=15 480 .venv/bin/python -m bench gpu "$@"
