#!/usr/bin/env bash
# Set up .venv with dualbranch (editable) and its test tools. Safe to run again: it only adds what is missing.
#   PYTHON      interpreter to build the venv with (default: python3, ≥3.10)
#   TORCH_SPEC  how to install PyTorch if the venv has none (default: torch==2.13.0, the CPU build
#               this project's machines keep on local disk; elsewhere e.g. "torch" or a CUDA build)
#   EXTRAS      optional dependency groups to install (default: test)
set -euo pipefail
cd "$(dirname "$0")/.."

# The default dataset, Fashion-MNIST, comes from Debian's dataset-fashion-mnist package. Without it
# (not root, no apt) the default run falls back to scikit-learn's digits.
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null \
  && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "setup: could not install dataset-fashion-mnist; the default run will use scikit-learn's digits" >&2
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  "${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
fi
"${pip[@]}" -e ".[${EXTRAS:-test}]"
