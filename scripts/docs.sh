#!/usr/bin/env bash
# Build the docs site into site/ with mkdocs (strict: any warning fails the build), after making sure the
# venv has the `docs` extra. The model zoo, the configuration reference and the benchmark pages are
# generated during the build (scripts/docs_pages.py); the examples in examples/ are executed.
#   bash scripts/docs.sh           build site/
#   bash scripts/docs.sh serve     build and serve at http://127.0.0.1:8000, rebuilding on changes
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
if ! .venv/bin/python -c "import mkdocs, material, mkdocstrings_handlers.python, mkdocs_gen_files, mkdocs_gallery" \
  >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${EXTRAS:-test},docs]"
fi
# the examples train tiny models: keep them on one thread each and off the GPU, like the tests
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MPLBACKEND=Agg NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true
if [ "${1:-build}" = serve ]; then
  exec .venv/bin/mkdocs serve
fi
[ "${1:-}" = build ] && shift
exec .venv/bin/mkdocs build --strict "$@"
