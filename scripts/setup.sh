#!/usr/bin/env bash
# Set up .venv with dualbranch (editable) and its test tools. Safe to run again: it only adds what is missing.
#   PYTHON      interpreter to build the venv with (default: python3, ≥3.10)
#   TORCH_SPEC  how to install PyTorch if the venv has none (default: torch==2.13.0, the CPU build
#               this project's machines keep on local disk; elsewhere e.g. "torch" or a CUDA build)
#   EXTRAS      optional dependency groups to install (default: test)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  "${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
fi
"${pip[@]}" -e ".[${EXTRAS:-test}]"
