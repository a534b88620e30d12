#!/usr/bin/env bash
# The one GPU session behind the token-reduction and step-caching numbers in docs/benchmarks.md:
# train the DiT (once, with its training set, into the cache root), then every GPU measurement.
# Needs OUT set to a folder.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# trains the DiT once into the cache root (benchmarks.dit.train.bench_weights), reused afterwards
python3 -c "from benchmarks.dit.train import bench_weights; print(bench_weights())"
python3 -m benchmarks.step_cache --samples 256 --steps 50 --json "$OUT/step_cache.json"
python3 -m benchmarks.tokens dit-fidelity --samples 64 --json "$OUT/dit_fidelity.json"
python3 -m benchmarks.tokens vit-speed --batch 64,128,256 --rs 0,8,16 --iters 20 --timm --json "$OUT/vit_speed.json"
python3 -m benchmarks.tokens timm-check --json "$OUT/timm_check.json"   # a check, not a quoted number
