"""Which shard library for ``dualbranch data pack`` + streaming ``fit``: pack and read speed, local and S3.

    PYTHONPATH=src python benchmarks/shard_formats.py PHOTOS [--n 5000] [--repeats 3] [--shard-mb 100]
        [--workers 0 1 2] [--decode-limit 2000] [--also litdata=/path/to/other/venv/bin/python]

``PHOTOS`` is a folder from ``benchmarks/make_photo_folder.py`` (its ``train/`` is used). Needs, in the
Python that runs it: torch, Pillow, ``litdata`` (``pip install --no-deps litdata`` plus its other
requirements, since its declared torchvision does not load beside the CPU torch), ``webdataset``,
``datasets``, ``moto[server]``, ``boto3`` and ``s3fs``. For each contender (litdata, webdataset,
Hugging Face parquet streamed as an ``IterableDataset``, Hugging Face ``save_to_disk`` arrow opened
map-style) it packs the first ``--n`` photos' JPEG bytes + label into shards of about ``--shard-mb``
(pack time and size, ``--repeats`` times), uploads them to a moto S3 server it starts on 127.0.0.1,
and reads one shuffled epoch back (raw bytes + label; and decoded with PIL, the first
``--decode-limit`` samples) with each ``--workers`` count of DataLoader workers, from local disk and
from ``s3://`` with the custom endpoint. Every pack and read runs in a fresh process; contenders are
alternated within each round (order rotated every round) and the medians reported. ``--also
FMT=PYTHON`` adds a contender that runs format FMT under another interpreter (e.g. litdata in a venv
with its declared torch + torchvision). Then runs ``shard_features.py`` for each contender (shuffle,
exactly-once split over 2 ranks x 2 workers, resume, random access). Prints JSON and writes
benchmarks/results/shard_formats.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import shard_libs as libs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BUCKET = "shards"


# ------------------------------------------------------------------ jobs run in a fresh process each
def job_pack(job: dict) -> dict:
    items = libs.list_folder(Path(job["folder"]), job["n"])
    result = libs.pack(job["fmt"], items, Path(job["out"]), job["shard_bytes"])
    result["samples"] = len(items)
    return result


def _read_once(fmt: str, location: str, workers: int, decode: bool, limit: int, s3: libs.S3 | None) -> dict:
    cache = tempfile.mkdtemp(prefix="shard-cache-")  # litdata's chunk cache: fresh, so S3 reads go to S3
    try:
        start = time.perf_counter()
        dataset = libs.open_reader(fmt, location, shuffle=True, seed=0, s3=s3, cache_dir=cache)
        loader = libs.loader(fmt, dataset, workers, decode=decode, shuffle=True, seed=0)
        samples, first, last, payload, marks = 0, None, start, 0, []
        for batch in loader:
            last = time.perf_counter()
            first = last - start if first is None else first
            samples += len(batch)
            marks.append((samples, last))
            payload += sum(len(s[1]) for s in batch) if not decode else 0
            if limit and samples >= limit:
                break
        # throughput counts up to the last sample; what the epoch's end adds (workers winding down, and
        # datasets' 5 s sleep after interleaved parquet shards) is reported on its own
        end = time.perf_counter()
        seconds, epoch_end_s = last - start, (end - last if not limit else None)
        del loader  # shuts the workers down before the next measurement
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "samples": samples,
        "seconds": seconds,
        "steady_samples_per_s": steady_rate(marks),
        "first_batch_s": first,
        "epoch_end_s": epoch_end_s,
        "payload_bytes": payload,
    }


def steady_rate(marks: list[tuple[int, float]]) -> float | None:
    """Samples/s between the batches that reach 20 % and 80 % of the samples (no start-up or wind-down)."""
    if len(marks) < 3:
        return None
    total = marks[-1][0]
    lo = next(m for m in marks if m[0] >= 0.2 * total)
    hi = next(m for m in marks if m[0] >= 0.8 * total)
    return (hi[0] - lo[0]) / (hi[1] - lo[1]) if hi[1] > lo[1] else None


def job_read(job: dict) -> dict:
    """One shuffled epoch (raw) and ``decode_limit`` decoded samples, for each worker count."""
    s3 = libs.S3(job["endpoint"]) if job.get("endpoint") else None
    out = {}
    for decode in (False, True):
        for workers in job["workers"]:
            limit = job["decode_limit"] if decode else 0
            key = f"{'decode' if decode else 'raw'}/w{workers}"
            try:
                out[key] = _read_once(job["fmt"], job["location"], workers, decode, limit, s3)
            except Exception as error:  # a library that cannot do this read: recorded, not fatal
                out[key] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    return out


def job_versions(job: dict) -> dict:
    from importlib.metadata import version

    import torch

    package = {"litdata": "litdata", "webdataset": "webdataset"}.get(job["fmt"], "datasets")
    return {"python": sys.executable, "torch": torch.__version__, package: version(package)}


JOBS = {"pack": job_pack, "read": job_read, "versions": job_versions}


def run_job(python: str, job: dict, timeout: float = 600) -> dict:
    """Run one job in a fresh ``python`` process (its JSON is the last line of its output)."""
    env = dict(os.environ, PYTHONPATH=f"{Path(__file__).parent}{os.pathsep}{ROOT / 'src'}")
    try:
        proc = subprocess.run(
            [python, __file__, "--job", json.dumps(job)], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result in {timeout:.0f} s (hung)"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------ S3 server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's S3 server on 127.0.0.1 (in memory; it goes away with the process)."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    server = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return server, endpoint
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("moto_server did not start")


# ------------------------------------------------------------------------------------ the benchmark
def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def rotated(names: list[str], round_index: int) -> list[str]:
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def benchmark(args: argparse.Namespace) -> dict:
    contenders = {fmt: (fmt, sys.executable) for fmt in args.formats}
    for spec in args.also:
        fmt, python = spec.split("=", 1)
        contenders[f"{fmt}@{Path(python).parents[1].name}"] = (fmt, python)
    names = list(contenders)
    work = Path(tempfile.mkdtemp(prefix="shard-formats-", dir=args.work))
    folder = args.photos / "train"
    server, endpoint = start_moto()
    s3 = libs.S3(endpoint)
    result: dict = {"contenders": {}, "pack": {}, "read": {}, "errors": []}
    try:
        for name, (fmt, python) in contenders.items():
            result["contenders"][name] = run_job(python, {"kind": "versions", "fmt": fmt}, 300) | {"format": fmt}
            result["contenders"][name]["python"] = python
        packs: dict[str, list[dict]] = {name: [] for name in names}
        for r in range(args.repeats):
            for name in rotated(names, r):
                fmt, python = contenders[name]
                out = work / f"{name}-{r}"
                job = {"kind": "pack", "fmt": fmt, "folder": str(folder), "n": args.n, "out": str(out)}
                job["shard_bytes"] = args.shard_bytes
                packs[name].append(run_job(python, job))
                if r > 0:
                    shutil.rmtree(out, ignore_errors=True)
                print(f"pack {name} round {r}: {packs[name][-1]}", file=sys.stderr, flush=True)
        locations = {}
        for name in names:
            good = [p for p in packs[name] if "error" not in p]
            if not good:
                result["errors"].append({name: packs[name]})
                continue
            result["pack"][name] = {
                "seconds": summary([p["seconds"] for p in good]),
                "samples_per_s": statistics.median(p["samples"] / p["seconds"] for p in good),
                "files": good[0]["files"],
                "bytes": good[0]["bytes"],
                "samples": good[0]["samples"],
            }
            local = work / f"{name}-0"
            locations[name] = {"local": str(local), "s3": libs.upload(local, s3, BUCKET, name)}
        samples: dict = {}
        for r in range(args.repeats):
            for where in ("local", "s3"):
                for name in rotated(list(locations), r):
                    fmt, python = contenders[name]
                    job = {
                        "kind": "read",
                        "fmt": fmt,
                        "location": locations[name][where],
                        "endpoint": endpoint if where == "s3" else None,
                        "workers": args.workers,
                        "decode_limit": args.decode_limit,
                    }
                    measured = run_job(python, job)
                    print(f"read {name} {where} round {r}: {measured}", file=sys.stderr, flush=True)
                    if "error" in measured:
                        result["errors"].append({f"{name}/{where}": measured})
                        continue
                    for key, value in measured.items():
                        samples.setdefault((name, where, key), []).append(value)
        for (name, where, key), values in samples.items():
            ok = [v for v in values if "error" not in v]
            entry: dict = {"errors": [v["error"] for v in values if "error" in v][:1]}
            if ok:
                entry |= {
                    "samples_per_s": summary([v["samples"] / v["seconds"] for v in ok]),
                    "first_batch_s": statistics.median(v["first_batch_s"] or 0.0 for v in ok),
                    "epoch_end_s": statistics.median(v["epoch_end_s"] or 0.0 for v in ok),
                    "steady_samples_per_s": statistics.median(v["steady_samples_per_s"] or 0.0 for v in ok),
                    "samples": ok[0]["samples"],
                }
            result["read"].setdefault(name, {}).setdefault(where, {})[key] = entry
        if not args.no_features:
            features = Path(__file__).with_name("shard_features.py")
            for name, (fmt, python) in contenders.items():
                env = dict(os.environ, PYTHONPATH=f"{Path(__file__).parent}{os.pathsep}{ROOT / 'src'}")
                cmd = [python, str(features), str(args.photos), "--format", fmt, "--endpoint", endpoint]
                cmd += ["--work", str(work / f"features-{name}")]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
                lines = [line for line in proc.stdout.splitlines() if line.strip()]
                try:
                    result.setdefault("features", {})[name] = json.loads("\n".join(lines))
                except json.JSONDecodeError:
                    result.setdefault("features", {})[name] = {"error": proc.stderr.strip().splitlines()[-3:]}
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    return result


def table(result: dict, workers: list[int]) -> list[str]:
    """Markdown: pack time and size, then read samples/s per location, mode and workers (medians; each cell
    is whole-read / steady-state, the second leaving out start-up and the epoch's end)."""
    cols = [f"{where} {mode} w{w}" for where in ("local", "s3") for mode in ("raw", "decode") for w in workers]
    lines = ["| contender | pack s | MB | files | " + " | ".join(cols) + " |", "|---" * (4 + len(cols)) + "|"]
    for name, pack in result["pack"].items():
        cells = []
        for where in ("local", "s3"):
            for mode in ("raw", "decode"):
                for w in workers:
                    entry = result["read"].get(name, {}).get(where, {}).get(f"{mode}/w{w}", {})
                    ok = "samples_per_s" in entry
                    cells.append(
                        f"{entry['samples_per_s']['median']:.0f} / {entry['steady_samples_per_s']:.0f}"
                        if ok
                        else "fail"
                    )
        head = f"| {name} | {pack['seconds']['median']:.1f} | {pack['bytes'] / 1e6:.0f} | {pack['files']} | "
        lines.append(head + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="?", type=Path)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=5000, help="photos to pack (from PHOTOS/train)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-mb", type=float, default=100.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--decode-limit", type=int, default=2000)
    parser.add_argument("--formats", nargs="+", default=list(libs.FORMATS), choices=libs.FORMATS)
    parser.add_argument("--also", nargs="*", default=[], metavar="FMT=PYTHON")
    parser.add_argument("--no-features", action="store_true", help="skip shard_features.py")
    parser.add_argument("--work", default=None, help="folder for the shards (default: the system temp)")
    parser.add_argument("--out", type=Path, default=RESULTS / "shard_formats.json")
    args = parser.parse_args(argv)
    if args.job:
        job = json.loads(args.job)
        print(json.dumps(JOBS[job.pop("kind")](job)))
        return 0
    if args.photos is None or not (args.photos / "train").is_dir():
        parser.error("PHOTOS must be a folder with train/<class>/*.jpg (benchmarks/make_photo_folder.py makes one)")
    args.shard_bytes = int(args.shard_mb * 1e6)
    from dualbranch.bench import machine_info

    machine = machine_info()
    result = benchmark(args)
    result = {"machine": machine, "settings": {k: v for k, v in vars(args).items() if k not in ("job", "out")}} | result
    result["settings"] |= {"photos": str(args.photos), "machine_load_after": list(os.getloadavg())}
    result["table"] = table(result, args.workers)
    text = json.dumps(result, indent=2, default=str)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
