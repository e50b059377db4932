#!/usr/bin/env bash
# The performance table of docs/deployment.md (benchmarks/speed_vs_timm.py) with timm beside dualbranch.
#
# timm needs torchvision, and PyPI's torchvision does not load beside this project's torch 2.13 CPU
# wheel, so the comparison runs in the venv of scripts/braindecode_env.sh (torch 2.9.1 + torchvision
# 0.24.1, built once, outside the tree), with timm and the deploy extra (ONNX Runtime, OpenVINO, NNCF)
# added on first use. The versions are printed in the table's machine line.
#
#   bash scripts/speed_vs_timm.sh [--threads N] [--repeats 7] [--quick] [--models ...]
#   bash scripts/speed_vs_timm.sh --processes --models crossvit_9_240 --batches 32   # one process per engine
#
# BRAINDECODE_VENV picks another venv (each venv holds an editable install of the tree that built it).
# Building it installs from the machine's local wheels (nothing is downloaded here), takes a few minutes
# and about 7.7 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/braindecode_env.sh --build-only
venv=${BRAINDECODE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dualbranch/venv-braindecode}
if ! "$venv/bin/python" -c "import timm, openvino, nncf, onnxruntime" >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -c "$venv/constraints.txt" \
    -e ".[braindecode,deploy]" "timm>=1.0"
fi
exec "$venv/bin/python" benchmarks/speed_vs_timm.py "$@"
