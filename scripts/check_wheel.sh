#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh venv, and run the command line from a folder
# outside the source tree: what a user gets from `pip install dualbranch`. Any failure fails the script.
#   PYTHON      interpreter to build the venv with (default: python3)
#   TORCH_SPEC  how to install PyTorch first (default: torch==2.13.0, the CPU build on this project's
#               machines' local disk; the wheel's own `torch` requirement would otherwise pull a CUDA build)
#   TMPDIR      where to put the temporary folder (default: /dev/shm when it has 4 GiB free, else /tmp)
#   KEEP_TMP=1  keep the temporary folder (wheel, venv, run) for a look afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}

# The fresh venv is about 1.1 GiB in 25,000 files: in a RAM-backed folder, when there is room, installing
# and removing it takes a fraction of the time on disk.
base=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && ! grep -qs ' /dev/shm [^ ]* [^ ]*noexec' /proc/mounts \
  && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')" -gt $((4 * 1024 * 1024)) ] 2>/dev/null; then
  base=/dev/shm
fi
tmp=$(mktemp -d "$base/dualbranch-wheel.XXXXXX")
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo "check_wheel: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
t0=$SECONDS
phase() { echo "check_wheel: [$((SECONDS - t0))s] $*"; }

# 1. Build from a clean copy of what git would ship (tracked files and untracked ones it does not ignore),
#    so a stale build/ folder cannot put modules that were since deleted or never committed into the wheel.
phase "building the wheel"
mkdir "$tmp/tree" "$tmp/dist"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$tmp/tree"
else
  tar --exclude=.venv --exclude=build --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$tmp/tree"
fi
builder=$python
[ -x "$root/.venv/bin/python" ] && builder=$root/.venv/bin/python
"$builder" -m pip wheel --quiet --disable-pip-version-check --no-deps "$tmp/tree" -w "$tmp/dist"
wheel=$(ls "$tmp"/dist/dualbranch-*.whl)

# 2. The wheel carries every module and every built-in YAML config of the package.
phase "checking the wheel's contents: $(basename "$wheel")"
"$python" - "$wheel" "$tmp/tree/src" <<'EOF'
import sys, zipfile
from pathlib import Path

wheel, src = sys.argv[1], Path(sys.argv[2])
names = set(zipfile.ZipFile(wheel).namelist())
wanted = sorted(
    p.relative_to(src).as_posix()
    for p in (src / "dualbranch").rglob("*")
    if p.is_file() and p.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in p.parts
)
missing = [n for n in wanted if n not in names]
configs = [n for n in names if n.startswith("dualbranch/configs/") and n.endswith((".yaml", ".yml"))]
if missing or not configs:
    print("check_wheel: the wheel lacks:", *missing or ["dualbranch/configs/*.yaml"], sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"check_wheel: wheel has all {len(wanted)} package files, {len(configs)} configs: "
      + ", ".join(sorted(Path(n).name for n in configs)))
EOF

# 3. A fresh venv (no system site-packages: a dependency the wheel forgets to declare must fail here).
#    PyTorch first from local disk; the rest of the wheel's dependencies come from the index, held to
#    the versions the dev venv has when there is one (their wheels are then in pip's cache).
phase "installing ${TORCH_SPEC:-torch==2.13.0} and the wheel into a fresh venv"
"$python" -m venv "$tmp/venv"
# --no-compile: no .pyc for torch's thousands of files; the filter drops pip's
# notes about index folders this machine lacks.
venv_pip() {
  "$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
venv_pip "${TORCH_SPEC:-torch==2.13.0}"
constraints=()
if [ -x "$root/.venv/bin/python" ]; then
  "$root/.venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null \
    | grep -v -e ' @ ' -e '^-e ' -e '^torch==' -e '^dualbranch' >"$tmp/constraints.txt" || true
  constraints=(-c "$tmp/constraints.txt")
fi
venv_pip "${constraints[@]}" "$wheel"

# 4. Run it from a folder outside the source tree, with nothing pointing back at the checkout.
phase "running the installed command line"
mkdir "$tmp/work"
cd "$tmp/work"
export PYTHONNOUSERSITE=1 MPLBACKEND=Agg
unset PYTHONPATH
bin=$tmp/venv/bin
where=$("$bin/python" -c "import dualbranch; print(dualbranch.__file__)")
case $where in
  "$tmp/venv/"*) ;;
  *) echo "check_wheel: dualbranch was imported from $where, not from the fresh venv" >&2; exit 1 ;;
esac
"$bin/dualbranch" models >"$tmp/models.txt"
echo "check_wheel: dualbranch models listed $(wc -l <"$tmp/models.txt") lines"
phase "dualbranch fit (digits, 1 epoch, 64 samples)"
"$bin/dualbranch" fit data.name=digits optim.epochs=1 data.limit_train=64 data.limit_eval=64 \
  trainer.progress_bar=false output.root="$tmp/runs"
if [ -z "$(find "$tmp/runs" -type f -print -quit 2>/dev/null)" ]; then
  echo "check_wheel: dualbranch fit wrote nothing under output.root ($tmp/runs)" >&2
  exit 1
fi
phase "done: the installed wheel works"
