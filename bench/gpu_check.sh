#!/usr/bin/env bash
# One command on an H100/H200: the bf16 matmul ceiling of the GPU, then
# BERT-Large pretraining (seq 128) and SQuAD fine-tuning (seq 384) as sequences/s and MFU,
# then serving: BERT-Base exports at 128 tokens, float16 with and without XLA, batch 1 p50
# and batch 128 throughput, next to published anchors; figures it had no time for are listed.
# At most 8 minutes, no network (a missing .venv is built with make, which does need it).
#   bench/gpu_check.sh [--gpu_pretraining_batch=64 --gpu_squad_batch=32 ...]
#   bench/gpu_check.sh --preset=tiny --gpu_steps=2 --gpu_matmul_size=256   # CPU smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  make .venv/.installed
fi
# The workloads time-box their parts: the training parts end by about 330 s into `gpu`
# (--gpu_deadline_s), serving figures start only 30 s or more before 465 s into the run
# (--serving_deadline_s); timeout is the hard stop at 8 minutes.
# Flags given to this script come last, so they override these.
exec timeout --kill-after=15 480 .venv/bin/python -m bench gpu serving \
  --gpu_deadline_s=330 --serving_deadline_s=465 \
  --precisions=float16 --serving_xla=off,on --seq_length=128 --serving_batches=128 \
  --noserving_real_lengths --noserving_tokenizers --skip_keras_hub "$@"
