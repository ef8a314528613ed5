#!/usr/bin/env bash
# GPU readiness, in under 10 minutes on one GPU (run it where a GPU is lent):
#   bash bench/gpu_check.sh            # PYTHON=... to pick the interpreter that has CUDA torch
# 1. the CUDA tests (tests/test_cuda.py; skipped on machines without CUDA),
# 2. bench/throughput.py --device cuda (DCGAN 64 px, on random JPEGs written here),
# 3. bench/gpu_speed.py: StyleGAN2 paper256 s/kimg at 256 px against the published V100 figure,
#    fp16 and bf16 training for 1 kimg, and --compile against eager.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export GANVAS_CACHE=${GANVAS_CACHE:-$(mktemp -d)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
work=$(mktemp -d)
"$PYTHON" - "$work/jpgs" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
folder = Path(sys.argv[1]); folder.mkdir(parents=True)
rng = np.random.default_rng(0)
for i in range(1000):
    Image.fromarray(rng.integers(0, 255, (256, 256, 3), np.uint8)).save(folder / f"{i}.jpg")
PY
echo "== CUDA tests"
timeout 180 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_cuda.py
echo "== throughput, DCGAN 64 px"
timeout 150 "$PYTHON" bench/throughput.py --device cuda --data "$work/jpgs"
echo "== StyleGAN2 paper256, fp16/bf16, --compile"
timeout 240 "$PYTHON" bench/gpu_speed.py --device cuda --images "$work/jpgs"
