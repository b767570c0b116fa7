"""One-off probe (issue 17): py-spy on daskparse's worker processes during a Gemini run.

A 2x10 LocalCluster (the issue's layout) and the loopback Gemini server (bench/loopback.py, in its own
process, answering after ~0.5 s); N distinct realistic flyers (bench/profiles/images.py, each stamped with
its index); ``py-spy record`` attached to each worker and to this process (client + scheduler) for the
run; then the samples are summed by where they are spent (bench/profiles/spy_top.py).

    PYTHONPATH=. python -m bench.profiles.worker_spy [--images 120] [--out /tmp/scratch/prof17-spy] [--native]

py-spy: pip install --target /tmp/scratch/pyspy py-spy (the PYSPY variable overrides the path).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.loopback import API_KEY, loopback_server
from bench.profiles.images import images
from daskparse.cluster import environ_restored

PYSPY = os.environ.get("PYSPY", "/tmp/scratch/pyspy/bin/py-spy")
REFERENCE_DATE = dt.date(2026, 11, 1)


def distinct_files(count: int, folder: Path) -> list[str]:
    bases = [np.asarray(Image.open(io.BytesIO(d)).convert("RGB")) for d in images()]
    paths = []
    for index in range(count):
        pixels = bases[index % len(bases)].copy()
        for bit in range(16):
            pixels[:4, 4 * bit:4 * bit + 4] = 255 if index >> bit & 1 else 0
        path = folder / f"stamped-{index:04d}.jpg"
        if not path.exists():
            Image.fromarray(pixels).save(path, "JPEG", quality=88)
        paths.append(str(path))
    return paths


def _warm() -> int:
    import google.genai  # noqa: F401

    import daskparse.extract.gemini  # noqa: F401
    import daskparse.pipeline  # noqa: F401

    return os.getpid()


def _cpu() -> tuple[float, float]:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user, t.system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--out", default="/tmp/scratch/prof17-spy")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--no-spy", action="store_true", help="no py-spy: the workers' CPU without its overhead")
    parser.add_argument("--malloc", action="store_true",
                        help="workers spawned with MALLOC_MMAP_THRESHOLD_ and MALLOC_TOP_PAD_ of 64 MiB beside "
                             "Dask's MALLOC_TRIM_THRESHOLD_ (see faults.sh)")
    parser.add_argument("--repeat", type=int, default=1, help="with --no-spy: alternate plain and --malloc runs")
    parser.add_argument("--profile-off", action="store_true",
                        help="with --repeat: alternate --malloc with --malloc and Dask's worker profiler off")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path("/tmp/scratch/prof17-images/stamped")
    folder.mkdir(parents=True, exist_ok=True)
    paths = distinct_files(args.images, folder)

    if args.no_spy and args.repeat > 1:
        for _ in range(args.repeat):
            for malloc, profile in ((False, True), (True, True)) if not args.profile_off else ((True, True), (True, False)):
                args.malloc, args.dask_profile = malloc, profile
                once(args, paths, out)
        return
    once(args, paths, out)


def once(args, paths, out) -> None:
    import dask
    from distributed import Client, LocalCluster

    import daskparse

    profile = getattr(args, "dask_profile", True)
    report: dict = {"images": len(paths), "load_average_before": os.getloadavg(), "malloc": args.malloc,
                    "dask_profiler": profile,
                    "py-spy": not args.no_spy}
    environ = {}
    if args.malloc:
        environ = {"distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 64 * 2**20,
                   "distributed.nanny.pre-spawn-environ.MALLOC_TOP_PAD_": 64 * 2**20}
    if not profile:  # Dask's statistical profiler samples every worker thread every 10 ms
        environ["distributed.worker.profile.enabled"] = False
    with loopback_server((args.latency, 0.3)) as server, environ_restored(), dask.config.set(environ):
        cluster = LocalCluster(n_workers=2, threads_per_worker=10, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        try:
            pids = client.run(_warm)
            spies = []
            for who, pid in [*((f"worker-{p}", p) for p in pids.values()), ("main", os.getpid())]:
                command = [PYSPY, "record", "--pid", str(pid), "--format", "speedscope", "--rate", "200",
                           "-o", str(out / f"{who}.speedscope.json"), "--duration", "600"]
                if args.native:
                    command.append("--native")
                if args.no_spy:
                    continue
                spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            time.sleep(2)  # py-spy attached
            worker_before, main_before = client.run(_cpu), _cpu()
            started = time.perf_counter()
            result = daskparse.parse_images(
                paths, extractor="gemini", client=client, gemini_api_key=API_KEY, gemini_base_url=server.base_url,
                gemini_api_version="v1beta", timeout=30, workers=2, threads=20, reference_date=REFERENCE_DATE,
                use_cache=False)
            seconds = time.perf_counter() - started
            worker_after, main_after = client.run(_cpu), _cpu()
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                spy.wait(60)
        finally:
            client.close()
            cluster.close()
    n = len(paths)
    report.update({
        "seconds": round(seconds, 2),
        "images_per_min": round(60 * n / seconds),
        "errors": result.stats["errors"],
        "stage_seconds": result.stats["stageSeconds"],
        "worker_cpu_ms_per_image": {
            "user": round(1000 * sum(worker_after[w][0] - worker_before[w][0] for w in pids) / n, 1),
            "system": round(1000 * sum(worker_after[w][1] - worker_before[w][1] for w in pids) / n, 1)},
        "main_cpu_ms_per_image": {"user": round(1000 * (main_after[0] - main_before[0]) / n, 1),
                                  "system": round(1000 * (main_after[1] - main_before[1]) / n, 1)},
        "load_average_after": os.getloadavg(),
        "note": "py-spy sampling at 200 Hz adds its own overhead to the profiled processes' CPU",
    })
    name = "run.json" if not args.no_spy else f"run-nospy-{'malloc' if args.malloc else 'plain'}-{int(time.time())}.json"
    (out / name).write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
