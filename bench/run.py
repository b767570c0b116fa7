"""Run daskparse's benchmarks: ``.venv/bin/python bench/run.py [--quick] [--only NAME[,NAME]] [--out PATH]``.

Each benchmark is a module with ``run(quick: bool) -> dict``. Its dict may hold ``"rows"`` (a list of
flat dicts, printed as a table) and ``"notes"`` (a list of strings, printed under it); everything
else goes to the JSON file only. The JSON holds the machine's facts, then each benchmark's result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: make `bench` and `daskparse` importable
    sys.path.insert(0, str(ROOT))

# name -> module; modules are imported only when their benchmark runs. Add a benchmark here.
BENCHMARKS: dict[str, str] = {
    "optimizer": "bench.optimizer",
    "sample_run": "bench.sample_run",
    "gemini_throughput": "bench.gemini_throughput",
    "cache": "bench.cache",
    "rate_gate": "bench.rate_gate",
    "accuracy": "bench.accuracy",
    "stress": "bench.stress",
    "hostile": "bench.hostile",
    "cost": "bench.cost",
    "cpu_per_image": "bench.cpu_per_image",
    "batch": "bench.batch",
    "s3": "bench.s3",
}

PACKAGES = [
    "daskparse", "numpy", "scipy", "scikit-image", "pillow", "imageio", "pyvips", "pyvips-binary",
    "dask", "distributed", "pandas", "rapidocr", "onnxruntime",
]  # fmt: skip


def machine_facts() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        # other work on the machine moves wall-clock figures: a load well above cpu_count makes them noise
        "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        # set on some processors for old OpenBLAS builds; they slow a current numpy, so record them
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def format_table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs and few rounds (about a minute each)")
    parser.add_argument("--only", help=f"comma-separated names from: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json", help="JSON file to write")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    report = {"machine": machine_facts(), "quick": args.quick, "benchmarks": {}}
    failed = False
    for name in names:
        print(f"== {name} ({'quick' if args.quick else 'full'})", flush=True)
        started = time.perf_counter()
        try:
            result = importlib.import_module(BENCHMARKS[name]).run(quick=args.quick)
        except Exception:
            failed = True
            result = {"error": traceback.format_exc()}
            print(result["error"], file=sys.stderr)
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        report["benchmarks"][name] = result
        if result.get("rows"):
            print(format_table(result["rows"]))
        for note in result.get("notes", []):
            print(f"  {note}")
        load = result["load_average_after"][0]
        print(f"  ({result['seconds']} s; load average {load} on {os.cpu_count()} cpus)\n", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
