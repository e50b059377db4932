#!/usr/bin/env bash
# braindecode interop: build (once) a venv where braindecode imports, install dualbranch into it, and run
# the tests marked `braindecode` there (a dualbranch signal model trained inside braindecode's
# EEGClassifier, and in scikit-learn's cross_val_score).
#
# Why a venv of its own: braindecode imports torchaudio, and PyPI's torchaudio must match torch's release
# exactly. This project's .venv keeps torch 2.13 (no torchaudio of that release on PyPI), so braindecode
# cannot import there. torch 2.9.1 + torchaudio 2.9.* is a pair PyPI has for Python 3.11 on x86_64 and
# aarch64; on x86_64 it is the CUDA build (about 7 GB; it runs on the CPU too).
#
#   bash scripts/braindecode_env.sh                 build if needed, then run the tests
#   bash scripts/braindecode_env.sh --build-only    build if needed, no tests
#   bash scripts/braindecode_env.sh -- -k cross_val extra pytest arguments after --
#
#   BRAINDECODE_VENV  where the venv lives (default: ~/.cache/dualbranch/venv-braindecode, outside the
#                     tree so git and the wheel check never see it); reused when it exists and imports
#   PYTHON            interpreter to build the venv with (default: python3, ≥3.10)
#   TORCH_PAIR        the torch release to pin (default: 2.9.1); TORCHAUDIO / TORCHVISION follow it
#   REBUILD=1         remove the venv and build it again
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${BRAINDECODE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dualbranch/venv-braindecode}
python=${PYTHON:-python3}
torch_version=${TORCH_PAIR:-2.9.1}
# torchvision's release that goes with torch's: 2.9 -> 0.24, 2.10 -> 0.25, ...
minor=${torch_version#2.}
minor=${minor%%.*}
torchvision=${TORCHVISION:-0.$((minor + 15)).*}
torchaudio=${TORCHAUDIO:-2.${minor}.*}

build_only=0
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --) shift; pytest_args=("$@"); break ;;
    *) echo "braindecode_env: unknown argument $1 (see the comments at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

t0=$SECONDS
phase() { echo "braindecode_env: [$((SECONDS - t0))s] $*"; }
imports() { "$venv/bin/python" -c "import torch, torchaudio, braindecode, skorch, dualbranch" >/dev/null 2>&1; }

if [ "${REBUILD:-0}" = 1 ]; then
  rm -rf "$venv"
fi
if [ -x "$venv/bin/python" ] && imports; then
  phase "reusing $venv"
else
  phase "building $venv (torch $torch_version, torchaudio $torchaudio, torchvision $torchvision)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  constraints="$venv/constraints.txt"
  # every later install keeps this pair: braindecode's own `torch` requirement would otherwise pull
  # the newest torch, with which the pinned torchaudio does not load
  printf 'torch==%s\ntorchaudio==%s\ntorchvision==%s\n' "$torch_version" "$torchaudio" "$torchvision" >"$constraints"
  pip=("$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -c "$constraints")
  # torch with torchvision first, then torchaudio: one resolver run with all three was seen to fail
  # where two succeed (the machine notes' recipe)
  "${pip[@]}" "torch==$torch_version" "torchvision==$torchvision"
  "${pip[@]}" "torch==$torch_version" "torchaudio==$torchaudio"
  # dualbranch (editable: the tests import it from this tree) with braindecode and pytest
  "${pip[@]}" -e "$root[braindecode]"
  if ! imports; then
    "$venv/bin/python" -c "import torch, torchaudio, braindecode, skorch, dualbranch" || true
    echo "braindecode_env: the venv was built but does not import (the error is above)" >&2
    exit 1
  fi
  phase "built"
fi
"$venv/bin/python" -c "import torch, torchaudio, braindecode, skorch; print('braindecode_env: torch', torch.__version__, \
'torchaudio', torchaudio.__version__, 'braindecode', braindecode.__version__, 'skorch', skorch.__version__)"
phase "venv size $(du -sh "$venv" 2>/dev/null | cut -f1)"
if [ "$build_only" = 1 ]; then
  exit 0
fi
# -m braindecode overrides pyproject's addopts (which deselect the marker); no cache folder in the tree
phase "running the braindecode tests"
"$venv/bin/python" -m pytest -p no:cacheprovider -m braindecode tests/test_braindecode_interop.py "${pytest_args[@]}"
phase "done"
