#!/usr/bin/env bash
# Issue 22's GPU target on a lent GPU machine (the `device` tool): training images/s of crossvit_9_240 and
# crossvit_18_240, batch 256, bf16-mixed, fed by the streaming photo path, against timm's step on
# synthetic tensors on the same GPU in the same call (benchmarks/gpu_photo_throughput.py).
#
#   here:  bash scripts/gpu_benchmark.sh --wheels     # the packages the GPU image lacks, into .whl/ (~10 MB)
#   there: bash scripts/gpu_benchmark.sh              # run with carry [".whl"]; JSON into $OUT
#
# The GPU image has PyTorch, timm, Lightning, OpenCV and pyarrow; simplejpeg, albumentations (and what it
# needs: albucore, pydantic, ...) travel as wheels. The photos are generated there (20,000 JPEGs around
# 400×300, benchmarks/make_photo_folder.py, 16 processes).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--wheels" ]; then
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    simplejpeg==1.9.0 albumentations==2.0.8 albucore==0.0.24 stringzilla==5.3.2 simsimd==6.5.16 \
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  du -sh .whl
  exit 0
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 benchmarks/make_photo_folder.py /tmp/photos --n-train 20000 --n-val 100 --workers "$(nproc)" | tail -1
python3 benchmarks/gpu_photo_throughput.py /tmp/photos --output "$out/gpu_photo_throughput.json" "$@"
