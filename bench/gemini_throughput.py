"""Gemini extractor throughput (issue 3): daskparse on a 2x10 LocalCluster beside a bare ThreadPoolExecutor(20).

200 distinct optimized flyer JPEGs (60 with --quick) against the loopback Gemini server answering after a
lognormal latency (median 1.5 s, sigma 0.3), no quotas, 20 requests in flight. Runs, in one process:

- the baseline: ``ThreadPoolExecutor(20)`` calling google-genai's ``generate_content`` directly with the
  JPEG bytes daskparse sends (the pipeline re-optimizes each file; the baseline gets that output, made
  before timing, and the server's log confirms both runs sent the same images);
- daskparse: ``parse_images(..., client=...)`` on a LocalCluster of 2 processes x 10 threads started just
  before; timed with and without the cluster's start-up (start, client, worker imports);
- diagnostics: the same ThreadPoolExecutor(20) doing what a daskparse task does per image (read the file,
  ``optimize_image``, then the call), which separates the cost of the stages from the cost of Dask; daskparse
  again with workers spawned without Dask's MALLOC_TRIM_THRESHOLD_; and the partitioning alone, simulated on
  the baseline's server latencies as if CPU were free.

Each run gets a fresh server process with the same seed, so every run draws the same latencies in arrival
order; the server lives in its own process so its CPU never shares a GIL with the clients. The server's
log gives each request's arrival and the moment its answer was made (a default-answer hook), hence the
time in flight. Utilization = sum of time in flight / (20 slots x makespan); ideal = that sum / 20.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.loopback import API_KEY, SERVER_SEED, ServerLog, loopback_server

from daskparse.cluster import environ_restored

IMAGES_FULL, IMAGES_QUICK = 200, 60
SLOTS = 20  # requests in flight: 20 pool threads, or 2 workers x 10 threads
WORKERS, THREADS_PER_WORKER = 2, 10
LATENCY_MEDIAN_S, LATENCY_SIGMA = 1.5, 0.3
MODEL = "gemini-2.5-flash"
TIMEOUT_S = 30
REFERENCE_DATE = dt.date(2026, 11, 1)
BASE_FLYER_SEEDS = (1, 2, 3, 4, 5, 6)
TARGET_RATIO = 1.10


# ------------------------------------------------------------------ images

@dataclass
class Images:
    paths: list[str]  # optimized flyer JPEGs on disk (what daskparse reads)
    payloads: list[bytes]  # optimize_image(file).jpeg: exactly what daskparse sends
    optimize_cpu_ms: float  # median CPU time of one optimize_image of such a file


def make_images(count: int, folder: Path) -> Images:
    """``count`` distinct optimized flyers: a few rendered flyers, each copy stamped with its index in 16 pixels."""
    import numpy as np
    from PIL import Image

    from daskparse.optimize import optimize_image
    from daskparse.testing.flyers import make_flyer

    bases = []
    for seed in BASE_FLYER_SEEDS:
        buffer = io.BytesIO()
        make_flyer(seed, reference_date=REFERENCE_DATE).image.save(buffer, "JPEG", quality=90)
        bases.append(np.asarray(Image.open(io.BytesIO(optimize_image(buffer.getvalue()).jpeg)).convert("RGB")))
    paths, payloads, cpu = [], [], []
    for index in range(count):
        pixels = bases[index % len(bases)].copy()
        for bit in range(16):  # a 4x4 black or white square per bit: survives sharpening and JPEG
            pixels[:4, 4 * bit:4 * bit + 4] = 255 if index >> bit & 1 else 0
        path = folder / f"flyer-{index:04d}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", quality=95)
        started = time.process_time()
        payloads.append(optimize_image(path.read_bytes(), max_size=(1200, 800), quality=95).jpeg)
        cpu.append(time.process_time() - started)
        paths.append(str(path))
    if len({hashlib.sha256(p).digest() for p in payloads}) != count:
        raise RuntimeError("the stamped flyers are not all distinct after optimize_image")
    return Images(paths, payloads, 1000 * statistics.median(cpu))


# ------------------------------------------------------------------ the runs

def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Run:
    name: str
    images: int
    makespan: float
    log: ServerLog
    busy_seconds: float  # time the 20 slots spent on an image (client side)
    extra: dict = field(default_factory=dict)

    def row(self, baseline: float | None) -> dict:
        in_flight = self.log.in_flight_seconds
        return {
            "run": self.name,
            "images": self.images,
            "makespan_s": round(self.makespan, 2),
            "utilization": round(in_flight / (SLOTS * self.makespan), 3),
            "busy": round(self.busy_seconds / (SLOTS * self.makespan), 3),
            "req_per_s": round(len(self.log.spans()) / self.makespan, 2),
            "ideal_s": round(in_flight / SLOTS, 2),
            "ratio_vs_baseline": round(self.makespan / baseline, 3) if baseline else 1.0,
        }


def genai_call(base_url: str) -> Callable[[bytes], tuple[float, float]]:
    """One shared google-genai client; a call returns its (start, end) on the monotonic clock."""
    from google import genai
    from google.genai import types

    from daskparse.extract.gemini import SYSTEM_INSTRUCTION, USER_PROMPT, GeminiShows

    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(
        base_url=base_url, api_version="v1beta", timeout=TIMEOUT_S * 1000,
        retry_options=types.HttpRetryOptions(attempts=1)))
    # The extractor's request: same schema, system instruction and output budget, so the same bytes go out.
    config = types.GenerateContentConfig(system_instruction=SYSTEM_INSTRUCTION, temperature=0.0,
                                         max_output_tokens=4096, response_mime_type="application/json",
                                         response_schema=GeminiShows)

    def call(jpeg: bytes) -> tuple[float, float]:
        started = time.monotonic()
        response = client.models.generate_content(
            model=MODEL, contents=[types.Part.from_bytes(data=jpeg, mime_type="image/jpeg"), USER_PROMPT],
            config=config)
        if not response.text:
            raise RuntimeError("empty answer from the loopback server")
        return started, time.monotonic()

    return call


def same_stage_call(base_url: str) -> Callable[[str], tuple[float, float]]:
    """What a daskparse task does per image, without Dask: read the file, optimize it, call."""
    from daskparse.optimize import optimize_image

    call = genai_call(base_url)

    def per_path(path: str) -> tuple[float, float]:
        started = time.monotonic()
        jpeg = optimize_image(Path(path).read_bytes(), max_size=(1200, 800), quality=95).jpeg
        return started, call(jpeg)[1]

    return per_path


def run_pool(name: str, work: list, make_call: Callable[[str], Callable]) -> Run:
    """``ThreadPoolExecutor(20)`` over ``work``; ``make_call(base_url)(item)`` returns its busy (start, end)."""
    with loopback_server((LATENCY_MEDIAN_S, LATENCY_SIGMA)) as server:
        per_item = make_call(server.base_url)
        cpu = cpu_times()
        with ThreadPoolExecutor(SLOTS) as pool:
            started = time.perf_counter()
            spans = list(pool.map(per_item, work))
            makespan = time.perf_counter() - started
        cpu = _ms_per(cpu, cpu_times(), len(work))
        log = server.finish()
    return Run(name, len(work), makespan, log, sum(end - start for start, end in spans),
               {"client_cpu_ms_per_image": cpu, "load_average_after": _load(),
                "server_cpu_ms_per_request": round(1000 * log.cpu_seconds / max(1, len(log.arrivals)), 1)})


def _warm_worker() -> int:
    """Imports a first task would pay for; part of start-up, not of the computation."""
    import google.genai  # noqa: F401

    import daskparse.extract.gemini  # noqa: F401
    import daskparse.pipeline  # noqa: F401

    return os.getpid()


def cpu_times() -> tuple[float, float]:
    """(user, system) CPU seconds of this process, all threads."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user, times.system


def _ms_per(before: tuple[float, float], after: tuple[float, float], count: int) -> dict:
    user, system = (round(1000 * (late - early) / count, 1) for early, late in zip(before, after))
    return {"user": user, "system": system}


def _summed(per_worker: dict) -> tuple[float, float]:
    return tuple(map(sum, zip(*per_worker.values())))


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def run_daskparse(paths: list[str], name: str = "daskparse 2x10", worker_malloc_trim: bool = True) -> tuple[Run, Run]:
    """parse_images on a fresh 2x10 LocalCluster: (computation only, with the cluster's start-up).

    ``worker_malloc_trim=False`` drops the MALLOC_TRIM_THRESHOLD_=65536 that Dask's nannies give workers by
    default (setting it turns off glibc's adaptive mmap threshold, so every large numpy array is a fresh mmap).
    """
    import dask
    from distributed import Client, LocalCluster, get_task_stream

    import daskparse
    from daskparse.pipeline import partition_size
    from daskparse.settings import load_settings

    settings = load_settings()  # what parse_images reads partitions_per_thread from

    config = {} if worker_malloc_trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with loopback_server((LATENCY_MEDIAN_S, LATENCY_SIGMA)) as server, environ_restored(), dask.config.set(config):
        started = time.perf_counter()
        cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=THREADS_PER_WORKER, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
        try:
            client.run(_warm_worker)
            ready = time.perf_counter()
            worker_cpu = client.run(cpu_times)
            main_cpu = cpu_times()
            submitted = time.time()
            with get_task_stream(client) as stream:
                result = daskparse.parse_images(
                    paths, extractor="gemini", client=client, gemini_api_key=API_KEY,
                    gemini_base_url=server.base_url, gemini_api_version="v1beta", timeout=TIMEOUT_S,
                    workers=WORKERS, threads=WORKERS * THREADS_PER_WORKER, reference_date=REFERENCE_DATE,
                    use_cache=False)  # every image computed: this measures the pipeline, not the cache
            done = time.perf_counter()
            main_cpu = _ms_per(main_cpu, cpu_times(), len(paths))
            worker_after = client.run(cpu_times)
            worker_cpu = _ms_per(_summed(worker_cpu), _summed(worker_after), len(paths))
            tasks = stream.data
            worker_rss = sorted(round(rss / 2**20) for rss in client.run(_rss).values())
        finally:
            client.close()
            cluster.close()
        closed = time.perf_counter()
        log = server.finish()
    if result.stats["errors"] or result.stats["retries"]:
        raise RuntimeError(f"daskparse failed or retried images: {result.stats['errorKinds']}, "
                           f"{result.stats['retries']} retries")
    stages = result.stats["stageSeconds"]
    # One partition is a heavy task (the stages) and a no-op alias (the bag's output key): per partition index,
    # the earliest start and the latest stop of the tasks named after process_partition.
    partitions: dict = {}
    for task in tasks:
        key = task["key"]
        if isinstance(key, tuple) and "process_partition" in str(key[0]):
            for span in task["startstops"]:
                if span["action"] == "compute":
                    start, stop = partitions.get(key[1], (span["start"], span["stop"]))
                    partitions[key[1]] = (min(start, span["start"]), max(stop, span["stop"]))
    spans = sorted(partitions.values())
    extra = {
        "load_average_after": _load(),
        "startup_s": round(ready - started, 2),
        "shutdown_s": round(closed - done, 2),
        "stage_seconds": stages,
        "partitions": len(spans),
        "images_per_partition": partition_size(len(paths), SLOTS, settings.partitions_per_thread),
        "partition_median_s": round(statistics.median(b - a for a, b in spans), 2),
        "first_partition_after_s": round(spans[0][0] - submitted, 3),
        # the tail: from the last partition's start to the last partition's end, fewer than 20 slots busy
        "last_start_to_end_s": round(max(b for _, b in spans) - spans[-1][0], 2),
        "partitions_running_mean": round(sum(b - a for a, b in spans) / (done - ready), 1),
        "worker_rss_mb_after": worker_rss,
        "worker_cpu_ms_per_image": worker_cpu,
        "scheduler_and_client_cpu_ms_per_image": main_cpu,
        "server_cpu_ms_per_request": round(1000 * log.cpu_seconds / max(1, len(log.arrivals)), 1),
        # what the extract stage spent outside the server's in-flight time: the SDK, the GIL, the wire
        "extract_overhead_ms_per_image": round(1000 * (stages["extract"] - log.in_flight_seconds) / len(paths), 1),
    }
    busy = sum(stages.values())
    compute_only = Run(f"{name}, computation only", len(paths), done - ready, log, busy, extra)
    with_startup = Run(f"{name}, incl. cluster start-up", len(paths), done - started, log, busy)
    return compute_only, with_startup


def simulated_makespan(durations: list[float], per_task: int, slots: int = SLOTS) -> float:
    """Makespan of ``durations`` run in order, ``per_task`` one after another per task, tasks taken FIFO by
    ``slots`` threads: the cost of the partitioning alone, as if CPU were free."""
    import heapq

    tasks = [sum(durations[i:i + per_task]) for i in range(0, len(durations), per_task)]
    free = [0.0] * slots
    for task in tasks:
        heapq.heappush(free, heapq.heappop(free) + task)
    return max(free)


# ------------------------------------------------------------------ the benchmark

def run(quick: bool) -> dict:
    count = IMAGES_QUICK if quick else IMAGES_FULL
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="gemini-throughput-") as folder:
        prepared = time.perf_counter()
        images = make_images(count, Path(folder))
        prepare_s = time.perf_counter() - prepared
        baseline = run_pool("ThreadPoolExecutor(20) + SDK (baseline)", images.payloads, genai_call)
        compute_only, with_startup = run_daskparse(images.paths)
        same_stages = run_pool("ThreadPoolExecutor(20) + read/optimize/SDK (diagnostic)", images.paths,
                               same_stage_call)
        no_trim, _ = run_daskparse(images.paths, "daskparse 2x10 without MALLOC_TRIM_THRESHOLD_ (diagnostic)",
                                   worker_malloc_trim=False)
    payload_shas = {hashlib.sha256(p).hexdigest() for p in images.payloads}
    same_images = payload_shas == baseline.log.image_shas == compute_only.log.image_shas == no_trim.log.image_shas
    runs = [compute_only, with_startup, baseline, same_stages, no_trim]
    rows = [r.row(baseline.makespan) for r in runs]
    ratio = rows[0]["ratio_vs_baseline"]
    dask_extra, trim_extra = compute_only.extra, no_trim.extra
    workers, main = dask_extra["worker_cpu_ms_per_image"], dask_extra["scheduler_and_client_cpu_ms_per_image"]
    cpu_per_image_ms = sum(workers.values()) + sum(main.values()) + dask_extra["server_cpu_ms_per_request"]
    latencies = [end - start for start, end in baseline.log.spans()]  # in arrival order, as the server drew them
    per_partition = dask_extra["images_per_partition"]
    simulated = {per_task: round(simulated_makespan(latencies, per_task), 2) for per_task in sorted({1, per_partition})}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    notes = [
        f"{count} distinct optimized flyer JPEGs; loopback Gemini server in its own process, latency lognormal "
        f"(median {LATENCY_MEDIAN_S} s, sigma {LATENCY_SIGMA}), seed {SERVER_SEED}, fresh per run so each run "
        f"draws the same latencies; no quotas; {SLOTS} in flight; every run sent the same images: {same_images}.",
        "makespan: wall time of the run (daskparse: the parse_images call; 'incl. start-up' adds LocalCluster, "
        f"Client and worker imports, {dask_extra['startup_s']} s; closing took {dask_extra['shutdown_s']} s more, "
        "not counted). utilization = server-side time in flight / (20 x makespan); busy = client-side time per "
        "image (daskparse: fetch+optimize+extract) / (20 x makespan); ideal_s = time in flight / 20.",
        f"ratio (daskparse computation only / baseline) = {ratio}, target <= {TARGET_RATIO}: "
        f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}; with start-up {rows[1]['ratio_vs_baseline']}; "
        f"the same stages in a plain pool (no Dask) {rows[3]['ratio_vs_baseline']}.",
        f"CPU per image: optimize_image of these files {images.optimize_cpu_ms:.0f} ms alone; the baseline's "
        f"SDK call {baseline.extra['client_cpu_ms_per_image']} ms; daskparse workers {workers} ms + "
        f"scheduler/client {main} ms + server {dask_extra['server_cpu_ms_per_request']} ms = {cpu_per_image_ms:.0f} "
        f"ms, i.e. >= {count * cpu_per_image_ms / 1000 / cores:.1f} s on {cores} cores against an ideal of "
        f"{rows[0]['ideal_s']} s: the run is CPU-bound, not latency-bound.",
        f"workers without MALLOC_TRIM_THRESHOLD_: {trim_extra['worker_cpu_ms_per_image']} ms CPU per image "
        f"(with it: {workers}); makespan {rows[4]['makespan_s']} s.",
        f"daskparse: {dask_extra['partitions']} partitions of {dask_extra['images_per_partition']} images (median "
        f"{dask_extra['partition_median_s']} s, {dask_extra['partitions_running_mean']} running on average, "
        f"{dask_extra['last_start_to_end_s']} s from the last start to the end); the "
        f"extract stage took {dask_extra['extract_overhead_ms_per_image']} ms per image beyond the server's time "
        "in flight (SDK work and waiting for the GIL / a core).",
        f"partitioning alone, simulated on the baseline's server latencies with free CPU (images per task: "
        f"makespan s): {simulated}.",
        f"load average before {load_before}, after {_load()} on {os.cpu_count()} cpus: other work on the machine "
        "slows the CPU-bound runs most and moves every figure.",
    ]
    return {
        "rows": rows,
        "notes": notes,
        "same_images": same_images,
        "prepare_s": round(prepare_s, 1),
        "optimize_cpu_ms": round(images.optimize_cpu_ms, 1),
        "simulated_makespan_by_images_per_task": simulated,
        "details": {r.name: {**r.extra, "server_statuses": r.log.statuses()} for r in runs},
        "load_average_before": load_before,
    }
