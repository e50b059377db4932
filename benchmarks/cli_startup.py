"""How long `dualbranch --help` takes, and what `import dualbranch.cli` loads, against an earlier source tree.

    .venv/bin/python benchmarks/cli_startup.py [--before /tmp/base/src] [--repeats 15]

Each command is a fresh process (``python -m dualbranch.cli --help``, as the ``dualbranch`` script runs
it), timed from start to exit; the commands are alternated (before, after, ``import torch`` alone) so a
change in the machine's load falls on all of them. Prints the median, minimum and maximum, and the heavy
modules each tree's ``import dualbranch.cli`` loads; writes ``benchmarks/results/cli_startup.json``
with the machine (:func:`dualbranch.bench.machine_info`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from dualbranch.bench import machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cli_startup.json"
HEAVY = ("torch", "lightning", "torchmetrics", "matplotlib", "scipy", "sklearn")
_MODULES = "import json, sys, dualbranch.cli; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def _seconds(command: list[str], source: Path | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(source)} if source else dict(os.environ)
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def _heavy(source: Path) -> list[str]:
    result = subprocess.run([sys.executable, "-c", _MODULES], env={**os.environ, "PYTHONPATH": str(source)},
                            capture_output=True, text=True, check=True)  # fmt: skip
    return sorted(set(json.loads(result.stdout)) & set(HEAVY))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the source tree (its src folder) to compare with")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    trees = {"after": ROOT / "src", **({"before": args.before} if args.before else {})}
    help_command = [sys.executable, "-m", "dualbranch.cli", "--help"]
    times: dict[str, list[float]] = {name: [] for name in [*trees, "import torch"]}
    for _ in range(args.repeats):
        for name, source in trees.items():
            times[name].append(_seconds(help_command, source))
        times["import torch"].append(_seconds([sys.executable, "-c", "import torch"], None))
    result = {
        "command": "python -m dualbranch.cli --help (the dualbranch script), a fresh process each time",
        "repeats": args.repeats,
        "seconds": {
            name: {"median": round(statistics.median(v), 3), "min": round(min(v), 3), "max": round(max(v), 3)}
            for name, v in times.items()
        },
        "import_dualbranch_cli_loads": {name: _heavy(source) for name, source in trees.items()},
        "machine": machine_info(),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
