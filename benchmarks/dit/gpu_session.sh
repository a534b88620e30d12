#!/usr/bin/env bash
# The one GPU session behind the token-reduction and step-caching numbers in docs/benchmarks.md:
# train the DiT, then every GPU measurement. Needs the training set from
# `python -m benchmarks.dit.data .dit_data/train32.npy --count 12000` and OUT set to a folder.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SECONDS_TRAIN=${SECONDS_TRAIN:-260}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m benchmarks.dit.train .dit_data/train32.npy /tmp/dit32.safetensors --seconds "$SECONDS_TRAIN" --batch 256
# two shards: the way back caps files at 16 MiB (merged into one file afterwards)
python3 - <<'PY'
import os
from safetensors import safe_open
from safetensors.torch import save_file
out = os.environ.get("OUT", "/tmp/out")
with safe_open("/tmp/dit32.safetensors", "pt") as fh:
    meta, keys = fh.metadata(), list(fh.keys())
    tensors = {k: fh.get_tensor(k) for k in keys}
half = len(keys) // 2
for i, part in enumerate((keys[:half], keys[half:])):
    save_file({k: tensors[k] for k in part}, f"{out}/dit32-{i}.safetensors", metadata=meta)
PY
python3 -m benchmarks.step_cache /tmp/dit32.safetensors --samples 256 --steps 50 --json "$OUT/step_cache.json"
python3 -m benchmarks.tokens dit-fidelity /tmp/dit32.safetensors .dit_data/train32.npy --samples 64 --json "$OUT/dit_fidelity.json"
python3 -m benchmarks.tokens vit-speed --batch 64,128,256 --rs 0,8,16 --iters 20 --timm --json "$OUT/vit_speed.json"
python3 -m benchmarks.tokens timm-check --json "$OUT/timm_check.json"
