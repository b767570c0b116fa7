"""CPU per image and images per minute on 2 cores (issue 17): daskparse beside the plain pool a user would write.

The issue's scenario, in one process run:

- 600 distinct social-media-size JPEGs (120 with --quick), sizes 1080x1350, 1080x1080, 1200x628 in rotation:
  photographed flyers (``make_flyer(..., photo=True, size=...)``) with per-image sensor-like noise so that
  JPEG quality 90 gives ~150-250 KB (the mean is reported). Made before timing, read from disk paths.
- the loopback Gemini server in its own process answering after a FIXED 500 ms, no quota (a fresh server,
  same seed, per run);
- (a) the plain pool: ``ThreadPoolExecutor(20)``, each task reads the file, opens it with Pillow's
  ``draft("RGB", target)`` (libjpeg's DCT scaling, never below the target), fits it in 1200x800 (long side x
  short side, as daskparse does, so both send the same number of pixels), ``ImageOps.autocontrast``,
  ``ImageFilter.UnsharpMask``, JPEG 95, then google-genai's ``generate_content`` with daskparse's request
  shape (bench/gemini_throughput.py ``genai_call``);
- (b) daskparse: ``parse_images(paths, extractor="gemini", client=..., use_cache=False, rpm=1e6)`` on the 2x10
  LocalCluster of processes a default run starts (``cluster_client``: daskparse's worker environment and Dask
  configuration), started and warmed before timing; the gate's limit set out of reach (quota not binding), calls
  in flight as the gate allows by default (rate x latency, at most 256).

Measured for both: images per minute over the makespan, the ratio daskparse / pool, and CPU ms per image
over every process of the run: psutil ``cpu_times`` (user and system apart) of this process (the client; for
daskparse also the scheduler and both nannies, which LocalCluster runs here) and of each child process (the
workers) before and after; the loopback server's CPU is the stand-in for Google and reported apart.

Then, single-threaded in this process with ``time.thread_time()`` on a sample of the images, daskparse's
stages in the order ``process_source`` and ``optimize_image`` run them (optimize's own private steps, so the
package is not touched; the JPEG is checked equal to ``optimize_image``'s): fetch (``fetch_bytes`` + SHA-256),
decode (sniff, header plan with draft, load), resize (EXIF orientation, ``_downscale``), enhance (stretch +
unsharp: level tables, OpenCV's blur, in place), encode (Pillow JPEG), fingerprint (gray once, perceptual
hash + thumbnail); then the real
``GeminiExtractor.extract`` with its process gate, split at the SDK's ``BaseApiClient.request``: request build
(everything before it: Part, token estimate, retry policy, the SDK's request conversion), call (inside it:
httpx, the JSON body with its base64 image, the answer's bytes and JSON; waiting costs no CPU), response parse
(after it: the SDK's response types, GeminiShows validation, normalisation). And the gate round trip:
``RateGate.slot()`` acquire + release in a tight loop in one task on the running cluster, per call (wall,
the task thread's CPU, and every process's CPU).

Last, the limit-bound case with the same kind of images: the gate and the server's quota both at the issue's
rate (30 requests/s: full 1,800 per 60 s window over 3 minutes of work = 5,400 images; --quick 300 per 10 s
window over 40 s of work = 1,200 images), share of the limit used while sending = (accepted - 1) / (limit x
(last accepted - first accepted) / window), and over the whole run = accepted / (limit x run time / window), and
the 429s the server answered. Then the same quota with calls, not CPU, the bound: 96 px images and the server
answering after 2 s (Gemini's usual latency), where 1,800 a minute need ~60 calls in flight: the share of the limit
used and the gate's in-flight limit and latency at the end. Targets are the issue's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.gemini_throughput import genai_call
from bench.loopback import API_KEY, SERVER_SEED, loopback_server

from daskparse.cluster import environ_restored

IMAGES_FULL, IMAGES_QUICK = 600, 120
SIZES = ((1080, 1350), (1080, 1080), (1200, 628))
# Noise sigma per size so that JPEG 90 of a photographed flyer lands near 200 KB (measured: ~190-250 KB).
NOISE_SIGMA = {(1080, 1350): 3.0, (1080, 1080): 3.5, (1200, 628): 6.0}
BASES_PER_SIZE = 4
SOURCE_QUALITY = 90
LATENCY_S = 0.5  # fixed: Latency(0.5, 0.0)
SLOW_LATENCY_S = 2.0  # Gemini Flash's usual 1.5-3 s: 1,800 a minute then need 60 calls in flight
SLOTS = 20
WORKERS, THREADS_PER_WORKER = 2, 10
FIT = (1200, 800)  # long side, short side
OUT_QUALITY = 95
TIMEOUT_S = 30
NOT_BINDING_RPM = 1_000_000
REFERENCE_DATE = dt.date(2026, 11, 1)
STAGE_SAMPLE_FULL, STAGE_SAMPLE_QUICK = 120, 30
GATE_CALLS_FULL, GATE_CALLS_QUICK = 2000, 300
# limit-bound: (requests per window, window seconds, seconds of work at that rate)
LIMIT_FULL, LIMIT_QUICK = (1800, 60.0, 180.0), (300, 10.0, 40.0)

TARGET_IMAGES_PER_MIN = 1800
TARGET_CPU_MS = 66.0
TARGET_LIMIT_SHARE = 0.995


# ------------------------------------------------------------------ images

@dataclass
class Images:
    paths: list[str]
    mean_kb: float
    min_kb: float
    max_kb: float


def make_images(count: int, folder: Path) -> Images:
    """``count`` distinct photographed flyers, sizes in rotation, noise from a shared bank at a per-image offset
    and the image's index stamped in 16 black/white squares (so no two files or optimized images are equal)."""
    import numpy as np
    from PIL import Image

    from daskparse.testing.flyers import make_flyer

    bases = {size: [np.asarray(make_flyer(seed, reference_date=REFERENCE_DATE, photo=True, size=size)
                               .image.convert("RGB"), np.int16) for seed in range(1, BASES_PER_SIZE + 1)]
             for size in SIZES}
    rng = np.random.default_rng(SERVER_SEED)
    margin = 64
    bank = rng.normal(0.0, 1.0, (max(h for _, h in SIZES) + margin, max(w for w, _ in SIZES) + margin, 3))
    bank = bank.astype(np.float32)
    paths, sizes = [], []
    for index in range(count):
        size = SIZES[index % len(SIZES)]
        base = bases[size][(index // len(SIZES)) % BASES_PER_SIZE]
        dy, dx = (index * 7919) % margin, (index * 104729 // 7) % margin
        noise = bank[dy:dy + size[1], dx:dx + size[0]] * NOISE_SIGMA[size]
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        for bit in range(16):  # 8x8 squares: they survive the fit to 800-1200 px and JPEG
            pixels[8:16, 8 + 8 * bit:16 + 8 * bit] = 255 if index >> bit & 1 else 0
        path = folder / f"social-{index:05d}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", quality=SOURCE_QUALITY)
        paths.append(str(path))
        sizes.append(path.stat().st_size / 1000)
    return Images(paths, round(statistics.mean(sizes), 1), round(min(sizes), 1), round(max(sizes), 1))


# ------------------------------------------------------------------ CPU over a process tree

def _tree(server: int) -> dict[int, tuple[str, float, float]]:
    """pid -> (role, user s, system s) for this process and every descendant; the server's role is "server"."""
    import psutil

    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # gone between listing and reading
            continue
        role = ("this process" if proc.pid == me.pid else "server" if proc.pid == server
                else "other child processes")  # e.g. multiprocessing's resource tracker
        out[proc.pid] = (role, times.user, times.system)
    return out


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (every process, all cores)."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


class TreeCpu:
    """CPU of this process and its children between enter and exit, by role; the loopback server (the stand-in
    for Google) apart. Also the cores the rest of the machine used meanwhile: other jobs competing for the CPU."""

    def __init__(self, server: int, roles: dict[int, str] | None = None):
        self.server, self.roles = server, roles or {}

    def __enter__(self) -> "TreeCpu":
        self.load_before = _load()  # this run's own threads raise the load it ends with
        self._before = _tree(self.server)
        self._busy = _machine_busy()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        busy = _machine_busy() - self._busy
        after = _tree(self.server)
        self.by_pid = {}
        for pid, (role, user, system) in after.items():
            _, user0, system0 = self._before.get(pid, (role, 0.0, 0.0))  # a process started meanwhile: all of it
            self.by_pid[pid] = (self.roles.get(pid, role), user - user0, system - system0)
        ours = sum(u + s for _, u, s in self.by_pid.values())
        self.contention = {"machine_busy_cores": round(busy / self.wall, 2), "this_run_cores": round(ours / self.wall, 2),
                           "other_jobs_cores": round(max(0.0, busy - ours) / self.wall, 2)}

    def per_image_ms(self, count: int) -> dict:
        """{"user", "system", "total", "by_process": {role: {"user", "system"}}} in ms per image, server left out."""
        by_role: dict[str, list[float]] = {}
        for role, user, system in self.by_pid.values():
            if role == "server":
                continue
            sums = by_role.setdefault(role, [0.0, 0.0])
            sums[0] += user
            sums[1] += system
        user = sum(u for u, _ in by_role.values())
        system = sum(s for _, s in by_role.values())
        return {"user": _ms(user, count), "system": _ms(system, count), "total": _ms(user + system, count),
                "by_process": {role: {"user": _ms(u, count), "system": _ms(s, count)}
                               for role, (u, s) in sorted(by_role.items()) if u + s > 0}}


def _ms(seconds: float, count: int) -> float:
    return round(1000 * seconds / max(1, count), 1)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------ (a) the plain pool

def pool_task(base_url: str) -> Callable[[str], None]:
    """The ~30 lines a user would write: Pillow draft + fit + autocontrast + unsharp + JPEG 95, then the SDK."""
    from PIL import Image, ImageFilter, ImageOps

    call = genai_call(base_url)

    def per_path(path: str) -> None:
        img = Image.open(io.BytesIO(Path(path).read_bytes()))
        w, h = img.size
        scale = min(1.0, max(FIT) / max(w, h), min(FIT) / min(w, h))
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
        img.draft("RGB", target)  # libjpeg scales by 1/2..1/8 while decoding, never below the target
        img = img.convert("RGB")
        if img.size != target:
            img = img.resize(target, Image.Resampling.LANCZOS)
        img = ImageOps.autocontrast(img, cutoff=0.5)
        img = img.filter(ImageFilter.UnsharpMask(radius=1.5, percent=100, threshold=0))
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=OUT_QUALITY)
        call(buffer.getvalue())

    return per_path


def run_pool(paths: list[str]) -> dict:
    with loopback_server((LATENCY_S, 0.0)) as server:
        task = pool_task(server.base_url)
        with ThreadPoolExecutor(SLOTS) as pool:
            with TreeCpu(server._process.pid) as cpu:
                list(pool.map(task, paths))
        log = server.finish()
    return _run_summary("plain pool: ThreadPoolExecutor(20) + Pillow + google-genai", paths, cpu, log)


def _run_summary(name: str, paths: list[str], cpu: TreeCpu, log) -> dict:
    return {
        "run": name, "images": len(paths), "makespan_s": round(cpu.wall, 2),
        "images_per_min": round(60 * len(paths) / cpu.wall, 1),
        "cpu_ms_per_image": cpu.per_image_ms(len(paths)),
        "server_cpu_ms_per_request": _ms(log.cpu_seconds, len(log.arrivals)),
        "server_statuses": log.statuses(), "distinct_images_sent": len(log.image_shas),
        "load_average_before": cpu.load_before, "load_average_after": _load(), "cores_used": cpu.contention,
    }


# ------------------------------------------------------------------ (b) daskparse

def _warm_worker() -> int:
    """Imports a first task would pay for: part of start-up, not of the run."""
    import google.genai  # noqa: F401

    import daskparse.extract.gemini  # noqa: F401
    import daskparse.pipeline  # noqa: F401

    return os.getpid()


@contextmanager
def local_cluster() -> Iterator[tuple[Any, dict[int, str]]]:
    """The 2x10 LocalCluster of processes a default run starts (``daskparse.cluster.cluster_client``: its worker
    environment and Dask configuration), warmed, and the role of each worker pid."""
    from daskparse.cluster import cluster_client
    from daskparse.settings import Settings

    settings = Settings(workers=WORKERS, threads=WORKERS * THREADS_PER_WORKER, dashboard_address="127.0.0.1:0")
    with environ_restored(), cluster_client(settings) as client:
        pids = client.run(_warm_worker)
        roles = {pid: f"worker {i + 1}" for i, pid in enumerate(sorted(pids.values()))}
        yield client, roles


def _parse(paths: list[str], client, base_url: str, **options: Any):
    import daskparse

    return daskparse.parse_images(
        paths, extractor="gemini", client=client, gemini_api_key=API_KEY, gemini_base_url=base_url,
        gemini_api_version="v1beta", timeout=TIMEOUT_S, reference_date=REFERENCE_DATE, use_cache=False,
        workers=WORKERS, threads=WORKERS * THREADS_PER_WORKER, **options)


def run_daskparse(paths: list[str], gate_calls: int) -> tuple[dict, dict]:
    """parse_images on a fresh warmed cluster, quota out of reach; then the gate round trip on that cluster."""
    with loopback_server((LATENCY_S, 0.0)) as server, local_cluster() as (client, roles):
        roles[os.getpid()] = "this process (client, scheduler, 2 nannies)"
        with TreeCpu(server._process.pid, roles) as cpu:
            result = _parse(paths, client, server.base_url, rpm=NOT_BINDING_RPM)
        gate = gate_round_trip(client, server._process.pid, roles, gate_calls)
        log = server.finish()
    summary = _run_summary("daskparse: parse_images on a 2x10 LocalCluster, no cache", paths, cpu, log)
    summary["errors"], summary["retries"] = int(result.stats["errors"]), int(result.stats["retries"])
    summary["stage_seconds"] = result.stats["stageSeconds"]
    return summary, gate


def _hammer(name: str, calls: int) -> dict:
    """In a task: ``calls`` acquire + release round trips, back to back; wall and thread CPU per call."""
    from daskparse.gate import RateGate

    gate = RateGate.on_worker(name)
    with gate.slot():  # the first one binds and warms the connection
        pass
    walls, cpu = [], time.thread_time()
    for _ in range(calls):
        began = time.perf_counter()
        with gate.slot():
            pass
        walls.append(time.perf_counter() - began)
    return {"walls": walls, "thread_cpu_s": time.thread_time() - cpu}


def gate_round_trip(client, server_pid: int, roles: dict[int, str], calls: int) -> dict:
    from daskparse.gate import RateGate

    name = "cpu-per-image-bench"
    RateGate.install(client, name=name, rpm=1e9, concurrency=100_000, burst=1_000_000, window=60.0)
    with TreeCpu(server_pid, roles) as cpu:
        out = client.submit(_hammer, name, calls, pure=False).result()
    walls = sorted(out["walls"])
    return {
        "calls": calls, "wall_p50_ms": round(1000 * walls[len(walls) // 2], 2),
        "wall_p99_ms": round(1000 * walls[int(len(walls) * 0.99)], 2),
        "task_thread_cpu_ms_per_call": _ms(out["thread_cpu_s"], calls),
        "all_processes_cpu_ms_per_call": cpu.per_image_ms(calls),
    }


# ------------------------------------------------------------------ stages, single-threaded

STAGES = ("fetch", "decode", "resize", "enhance", "encode", "fingerprint", "request build", "call", "response parse")


class _Split:
    """Wraps the SDK's ``BaseApiClient.request`` to note the calling thread's CPU clock on entry and exit."""

    def __init__(self, api_client):
        self.inner, self.enter, self.exit = api_client.request, 0.0, 0.0
        api_client.request = self

    def __call__(self, *args, **kwargs):
        self.enter = time.thread_time()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.exit = time.thread_time()


def stage_cpu(paths: list[str]) -> dict:
    """CPU ms per image of each stage, one thread, in the order process_source and optimize_image run them."""
    import numpy as np
    from PIL import Image

    from daskparse import optimize as opt
    from daskparse.extract.gemini import GeminiExtractor
    from daskparse.fetch import fetch_bytes
    from daskparse.lookalike import perceptual_hash, thumbnail_jpeg
    from daskparse.settings import load_settings
    from daskparse.sources import _local_source

    long_side, short_side = max(FIT), min(FIT)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    with loopback_server((LATENCY_S, 0.0)) as server:
        settings = load_settings(extractor="gemini", gemini_api_key=API_KEY, gemini_base_url=server.base_url,
                                 gemini_api_version="v1beta", timeout=TIMEOUT_S, use_cache=False)
        limits = settings.fetch_limits()
        extractor = GeminiExtractor(settings.gemini_options())  # its ProcessGate: no cluster round trip here
        split = _Split(extractor._client._api_client)
        same = True
        for index, path in enumerate(paths):
            clock = [time.thread_time()]

            def mark(stage: str) -> None:
                now = time.thread_time()
                samples[stage].append(now - clock[0])
                clock[0] = now

            data = fetch_bytes(_local_source(path), limits)
            hashlib.sha256(data).hexdigest()
            mark("fetch")
            kind = opt._raster_type(data)
            img, plan = opt._plan(data, kind, long_side, short_side)
            opt._load(img, kind)
            orientation = opt._orientation(img)
            mark("decode")
            rgb = opt._downscale(img, plan, orientation)
            mark("resize")
            pixels = opt._enhance(np.asarray(rgb), "stretch")
            mark("enhance")
            out = Image.fromarray(pixels)
            jpeg = opt._jpeg(out, OUT_QUALITY)
            mark("encode")
            gray = out.convert("L")
            _ = perceptual_hash(gray), thumbnail_jpeg(gray)
            mark("fingerprint")
            started = clock[0]
            extractor.extract(jpeg)
            ended = time.thread_time()
            samples["request build"].append(split.enter - started)
            samples["call"].append(split.exit - split.enter)
            samples["response parse"].append(ended - split.exit)
            if index < 3:  # the steps above are optimize_image's, in its order
                same &= jpeg == opt.optimize_image(data, max_size=FIT, quality=OUT_QUALITY).jpeg
        server.finish()
    per_stage = {stage: {"median": round(1000 * statistics.median(s), 2), "mean": round(1000 * statistics.mean(s), 2)}
                 for stage, s in samples.items()}
    return {"images": len(paths), "ms_per_image": per_stage, "same_jpeg_as_optimize_image": same,
            "sum_of_means_ms": round(sum(v["mean"] for v in per_stage.values()), 1)}


# ------------------------------------------------------------------ limit-bound

def make_small_images(count: int, folder: Path) -> list[str]:
    """``count`` distinct 96x96 noise JPEGs: next to no CPU each, so a run of them is bound by calls in flight."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(SERVER_SEED + 1)
    paths = []
    for index in range(count):
        path = folder / f"small-{index:05d}.jpg"
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def limit_bound(paths: list[str], limit: int, window: float, latency: float = LATENCY_S) -> dict:
    """parse_images with the gate and the server's quota at ``limit`` per ``window`` s, default concurrency, the
    server answering after ``latency`` s."""
    with loopback_server((latency, 0.0), rpm=limit, minute_seconds=window) as server, \
            local_cluster() as (client, roles):
        roles[os.getpid()] = "this process (client, scheduler, 2 nannies)"
        with TreeCpu(server._process.pid, roles) as cpu:
            result = _parse(paths, client, server.base_url, rpm=limit, gate_window=window)
        log = server.finish()
    accepted = log.accepted()
    allowed = limit * cpu.wall / window
    # while there was work to send: from the first accepted request to the last (the run's start-up before its
    # first image is ready and the last answer's latency are not the gate's to use)
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    sending_share = round((len(accepted) - 1) / (limit * span / window), 4) if span > 0 else None
    return {
        "images": len(paths), "limit_per_window": limit, "window_s": window, "latency_s": latency,
        "wall_s": round(cpu.wall, 1), "gate": result.stats.get("gate", {}),
        "requests": len(log.arrivals), "accepted": len(accepted),
        "share_of_limit": round(len(accepted) / allowed, 4),
        "share_of_limit_while_sending": sending_share, "sending_s": round(span, 2),
        "rate_limited_429": log.count(429),
        "image_errors": int(result.stats["errors"]),
        "images_per_min": round(60 * len(paths) / cpu.wall, 1),
        "cpu_ms_per_image": cpu.per_image_ms(len(paths)),
        "load_average_before": cpu.load_before, "load_average_after": _load(), "cores_used": cpu.contention,
    }


# ------------------------------------------------------------------ the benchmark

def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _row(part: str, measure: str, value: Any, target: str = "", verdict: str = "") -> dict:
    return {"part": part, "measure": measure, "value": value, "target": target, "verdict": verdict}


def run(quick: bool) -> dict:
    count = IMAGES_QUICK if quick else IMAGES_FULL
    limit, window, work_s = LIMIT_QUICK if quick else LIMIT_FULL
    limit_images = int(limit * work_s / window)
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="cpu-per-image-") as folder:
        made = time.perf_counter()
        images = make_images(max(count, limit_images), Path(folder))
        prepare_s = round(time.perf_counter() - made, 1)
        paths = images.paths[:count]
        pool = run_pool(paths)
        dask, gate = run_daskparse(paths, GATE_CALLS_QUICK if quick else GATE_CALLS_FULL)
        stages = stage_cpu(paths[:STAGE_SAMPLE_QUICK if quick else STAGE_SAMPLE_FULL])
        bound = limit_bound(images.paths[:limit_images], limit, window)
        # calls in flight, not CPU, the bound: tiny images, Gemini at its usual latency, the same quota
        slow = limit_bound(make_small_images(limit_images, Path(folder)), limit, window, SLOW_LATENCY_S)
    speed_ratio = round(dask["images_per_min"] / pool["images_per_min"], 3)
    cpu_ratio = round(dask["cpu_ms_per_image"]["total"] / pool["cpu_ms_per_image"]["total"], 3)
    rows = []
    for part, r in (("daskparse", dask), ("pool", pool)):
        c = r["cpu_ms_per_image"]
        rows.append(_row(part, "images per minute (makespan)", r["images_per_min"], f">= {TARGET_IMAGES_PER_MIN}",
                         _verdict(r["images_per_min"] >= TARGET_IMAGES_PER_MIN) if part == "daskparse" else ""))
        rows.append(_row(part, "CPU ms per image, all processes (user + system)",
                         f"{c['total']} ({c['user']} + {c['system']})", f"<= {TARGET_CPU_MS:g}",
                         _verdict(c["total"] <= TARGET_CPU_MS) if part == "daskparse" else ""))
        for role, t in c["by_process"].items():
            rows.append(_row(part, f"  {role}: user + system ms", f"{t['user']} + {t['system']}"))
    rows.append(_row("daskparse / pool", "images per minute ratio", speed_ratio, ">= 1", _verdict(speed_ratio >= 1)))
    rows.append(_row("daskparse / pool", "CPU per image ratio", cpu_ratio, "<= 1", _verdict(cpu_ratio <= 1)))
    for stage, ms in stages["ms_per_image"].items():
        rows.append(_row("stage (1 thread)", f"{stage} ms, median / mean", f"{ms['median']} / {ms['mean']}"))
    rows.append(_row("stage (1 thread)", "gate round trip: wall p50 / p99 ms", f"{gate['wall_p50_ms']} / "
                     f"{gate['wall_p99_ms']}"))
    rows.append(_row("stage (1 thread)", "gate round trip: task thread CPU ms", gate["task_thread_cpu_ms_per_call"]))
    rows.append(_row("stage (1 thread)", "gate round trip: all processes CPU ms",
                     gate["all_processes_cpu_ms_per_call"]["total"]))
    for name, part in (("limit-bound", bound), (f"latency-bound ({SLOW_LATENCY_S:g} s calls, 96 px images)", slow)):
        rows.append(_row(name, f"share of the limit ({limit} per {window:g} s, {limit_images} images) while sending",
                         part["share_of_limit_while_sending"], f">= {TARGET_LIMIT_SHARE}",
                         _verdict((part["share_of_limit_while_sending"] or 0) >= TARGET_LIMIT_SHARE)))
        rows.append(_row(name, "share of the limit over the whole run (start-up and the last answer included)",
                         part["share_of_limit"]))
        rows.append(_row(name, "images per minute", part["images_per_min"]))
    rows.append(_row("limit-bound", "429s answered by the server", bound["rate_limited_429"], "0",
                     _verdict(bound["rate_limited_429"] == 0)))
    rows.append(_row("limit-bound", "CPU ms per image, all processes", bound["cpu_ms_per_image"]["total"]))
    rows.append(_row(f"latency-bound ({SLOW_LATENCY_S:g} s calls, 96 px images)",
                     "429s; the gate's in-flight limit and latency at the end",
                     f"{slow['rate_limited_429']}; {slow['gate'].get('inFlightLimit')}; {slow['gate'].get('latency')} s"))
    notes = [
        f"{count} distinct JPEGs ({', '.join(f'{w}x{h}' for w, h in SIZES)} in rotation), photographed flyers "
        f"with noise, JPEG {SOURCE_QUALITY}: mean {images.mean_kb} KB (min {images.min_kb}, max {images.max_kb}); "
        f"read from disk paths; made in {prepare_s} s before timing ({len(images.paths)} made in all).",
        f"loopback Gemini server in its own process, fixed {LATENCY_S * 1000:.0f} ms answers, fresh per run; no quota "
        f"for the first two runs (daskparse's gate at rpm {NOT_BINDING_RPM:,}, calls in flight as it allows by "
        "default); the pool has 20 threads.",
        f"every image sent once: pool {pool['distinct_images_sent']}, daskparse {dask['distinct_images_sent']} "
        f"distinct images of {count}; daskparse errors {dask['errors']}, retries {dask['retries']}.",
        f"CPU per image excludes the loopback server (pool {pool['server_cpu_ms_per_request']} ms, daskparse "
        f"{dask['server_cpu_ms_per_request']} ms per request). daskparse's 'this process' holds the client, the "
        "scheduler and both nannies (LocalCluster runs them here).",
        f"stages: {stages['images']} images, one thread, time.thread_time(); sum of means "
        f"{stages['sum_of_means_ms']} ms; the steps give optimize_image's JPEG: {stages['same_jpeg_as_optimize_image']}.",
        f"limit-bound: {bound['accepted']} accepted of {bound['requests']} requests in {bound['wall_s']} s "
        f"({bound['images_per_min']} images/min), share = accepted / (limit x wall / window).",
        "cores busy during each run, this run's processes (server included) / other jobs on the machine: "
        + ", ".join(f"{name} {r['cores_used']['this_run_cores']} / {r['cores_used']['other_jobs_cores']}"
                    for name, r in (("pool", pool), ("daskparse", dask), ("limit-bound", bound))) + ".",
        f"load average (1 min) at the start of each run: pool {pool['load_average_before'][0]}, daskparse "
        f"{dask['load_average_before'][0]}, limit-bound {bound['load_average_before'][0]}; before the benchmark "
        f"{load_before}, after {_load()} on {os.cpu_count()} cpus. A run's own 20+ threads raise the load while it "
        "runs; a figure taken at load > 2.5 is indicative only.",
    ]
    return {
        "rows": rows, "notes": notes,
        "targets": {"images_per_min": TARGET_IMAGES_PER_MIN, "cpu_ms_per_image_all_processes": TARGET_CPU_MS,
                    "ratio_images_per_min_vs_pool": ">= 1", "ratio_cpu_vs_pool": "<= 1",
                    "limit_share": TARGET_LIMIT_SHARE, "limit_429s": 0},
        "verdicts": {
            "images_per_min": _verdict(dask["images_per_min"] >= TARGET_IMAGES_PER_MIN),
            "cpu_ms_per_image": _verdict(dask["cpu_ms_per_image"]["total"] <= TARGET_CPU_MS),
            "not_slower_than_pool": _verdict(speed_ratio >= 1), "not_more_cpu_than_pool": _verdict(cpu_ratio <= 1),
            "limit_share": _verdict((bound["share_of_limit_while_sending"] or 0) >= TARGET_LIMIT_SHARE),
            "limit_429s": _verdict(bound["rate_limited_429"] == 0),
            "latency_bound_limit_share": _verdict((slow["share_of_limit_while_sending"] or 0) >= TARGET_LIMIT_SHARE),
        },
        "images": {"count": count, "mean_kb": images.mean_kb, "min_kb": images.min_kb, "max_kb": images.max_kb,
                   "prepare_s": prepare_s, "served_from": "disk paths"},
        "ratio_images_per_min_daskparse_over_pool": speed_ratio, "ratio_cpu_daskparse_over_pool": cpu_ratio,
        "daskparse": dask, "pool": pool, "stages": stages, "gate_round_trip": gate, "limit_bound": bound,
        "latency_bound": slow,
        "load_average_before": load_before,
    }
