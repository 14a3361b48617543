#!/bin/bash
# The one prepared command for a lent GPU machine: degradation's four arms at the long recipe, figures to $OUT.
#   here first:  python benchmarks/pack_images.py pack ../shared/datasets/cifar10-jpg .gpu_data/cifar10-jpg.pack
#   then the device tool's run: command "bash benchmarks/gpu_session.sh", carry [".gpu_data"], timeout_s 580.
# Arguments go to benchmarks/gpu_long.py (e.g. --epochs 2 for a short check that the path works there).
# PY names the Python (default python3, the one holding PyTorch there), PACK the pack, CONVZOO_CIFAR10_JPG
# where it is unpacked (kept for the next call on a warm machine).
set -euo pipefail
: "${OUT:?OUT must name the folder for the figures (the device tool sets it)}"
py=${PY:-python3}
export PYTHONPATH="$PWD" CONVZOO_CIFAR10_JPG="${CONVZOO_CIFAR10_JPG:-/tmp/cifar10-jpg}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  "$py" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
            "cuda", torch.cuda.is_available())'; } >"$OUT/machine.txt"
[ -d "$CONVZOO_CIFAR10_JPG" ] || "$py" benchmarks/pack_images.py unpack "${PACK:-.gpu_data/cifar10-jpg.pack}" \
    "$CONVZOO_CIFAR10_JPG"
status=0
"$py" benchmarks/gpu_long.py --json "$OUT/gpu_long.json" --verbose "$@" >"$OUT/gpu_long.log" 2>&1 || status=$?
grep -v '^ *epoch [0-9.]*/[0-9.]* step ' "$OUT/gpu_long.log" | tail -n 60
exit "$status"
