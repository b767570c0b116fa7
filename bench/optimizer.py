"""Optimizer throughput: daskparse.optimize against a Pillow-only and a libvips pipeline.

Photo-like JPEGs (soft colour fields, shapes with edges, surface texture, sensor grain, so their
sizes are a phone's: ~0.7 MB at 2048x1536, ~2.8 MB at 4000x3000) are written to a temp dir and
read back. Every pipeline turns each into a JPEG of quality 95 fitting 1200x800 (long x short side),
in the same process, on the same bytes, from a thread pool of 1 and of 2 (a worker's threads on
this 2-core machine). Rounds interleave the pipelines, so background load hits all alike; each
figure is the median of the rounds.

- daskparse: ``optimize_image`` (Pillow draft decode, LANCZOS resize, percentile stretch and unsharp
  mask: scikit-image's arithmetic by 256-entry tables and OpenCV's float32 blur, Pillow JPEG).
- pillow: draft + ``thumbnail`` LANCZOS + ``UnsharpMask`` + ``autocontrast`` + JPEG 95.
- libvips: ``thumbnail_buffer`` (shrink-on-load) + ``sharpen`` + JPEG 95, no contrast step;
  libvips' own concurrency set to 1 and its operation cache off, so the pool alone decides how
  many cores are busy and a repeated input is really processed again.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from daskparse.optimize import optimize_image

SIZES = [(2048, 1536), (4000, 3000)]
BOX = (1200, 800)  # long side, short side
QUALITY = 95


def photo_jpeg(size: tuple[int, int], seed: int) -> bytes:
    """A photo-like JPEG: its entropy (and so decode cost and file size) is a real photo's."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = Image.fromarray(_smooth_noise(rng, w, h, cell=max(w, h) // 4, channels=3))  # sky, walls
    draw = ImageDraw.Draw(img)
    for _ in range(40):  # objects with edges
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.02, 0.15) * w
        box = [x - r, y - r * rng.uniform(0.3, 1.0), x + r, y + r]
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    pixels = np.asarray(img.filter(ImageFilter.GaussianBlur(w / 1500)), dtype=np.float32)
    pixels += (_smooth_noise(rng, w, h, cell=6, channels=1)[..., None] - 128.0) * 0.25  # texture
    pixels += rng.normal(0, 3.5, pixels.shape).astype(np.float32)  # grain
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _smooth_noise(rng: np.random.Generator, w: int, h: int, cell: int, channels: int) -> np.ndarray:
    coarse = rng.integers(0, 256, (h // cell + 2, w // cell + 2, channels), dtype=np.uint8)
    if channels == 1:
        coarse = coarse[..., 0]
    big = Image.fromarray(coarse).resize((w + 2 * cell, h + 2 * cell), Image.Resampling.BICUBIC)
    return np.asarray(big)[:h, :w]


def _box_for(size: tuple[int, int]) -> tuple[int, int]:
    long_side, short_side = BOX
    return (long_side, short_side) if size[0] >= size[1] else (short_side, long_side)


def daskparse_pipeline(data: bytes) -> bytes:
    return optimize_image(data, max_size=BOX, quality=QUALITY).jpeg


def pillow_pipeline(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data))
    box = _box_for(img.size)
    img.draft("RGB", box)
    img = ImageOps.exif_transpose(img).convert("RGB")
    img.thumbnail(box, Image.Resampling.LANCZOS)
    img = img.filter(ImageFilter.UnsharpMask(radius=1.5, percent=100, threshold=0))
    img = ImageOps.autocontrast(img, cutoff=0.5)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def libvips_pipeline(data: bytes) -> bytes:
    import pyvips

    header = pyvips.Image.new_from_buffer(data, "")  # reads the header only
    width, height = _box_for((header.width, header.height))
    img = pyvips.Image.thumbnail_buffer(data, width, height=height, size="down")
    return img.sharpen(sigma=1.5).jpegsave_buffer(Q=QUALITY)


def _pipelines(quick: bool) -> dict:
    import pyvips

    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    pipelines = {"daskparse": daskparse_pipeline, "pillow": pillow_pipeline, "libvips": libvips_pipeline}
    if not quick:
        pipelines["daskparse-clahe"] = lambda data: optimize_image(data, max_size=BOX, contrast="clahe").jpeg
    return pipelines


def _timed_round(pool: ThreadPoolExecutor, fn, work: list[bytes]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (all threads of this process) to run ``fn`` over ``work``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in pool.map(fn, work):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def run(quick: bool) -> dict:
    images_per_size, rounds, per_round = (2, 3, 4) if quick else (3, 5, 8)
    pipelines = _pipelines(quick)
    rows, inputs, outputs = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-optimizer-") as tmp:
        for size in SIZES:
            label = f"{size[0]}x{size[1]}"
            paths = []
            for seed in range(images_per_size):
                path = Path(tmp) / f"photo-{label}-{seed}.jpg"
                path.write_bytes(photo_jpeg(size, seed))
                paths.append(path)
            images = [p.read_bytes() for p in paths]
            inputs[label] = {"count": len(images), "mean_mb": round(statistics.mean(map(len, images)) / 1e6, 2)}
            outputs[label] = {
                name: {"size": Image.open(io.BytesIO(out := fn(images[0]))).size, "kb": round(len(out) / 1e3)}
                for name, fn in pipelines.items()
            }
            work = [images[i % len(images)] for i in range(per_round)]
            for threads in (1, 2):
                seconds = {name: [] for name in pipelines}
                cpu_seconds = {name: [] for name in pipelines}
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    for name, fn in pipelines.items():  # warm up: imports, first-call set-up
                        _timed_round(pool, fn, work[:threads])
                    for _ in range(rounds):
                        for name, fn in pipelines.items():
                            wall, cpu = _timed_round(pool, fn, work)
                            seconds[name].append(wall)
                            cpu_seconds[name].append(cpu)
                rate = {name: per_round / statistics.median(s) for name, s in seconds.items()}
                for name in pipelines:
                    versus = name.startswith("daskparse")
                    rows.append(
                        {
                            "input": label,
                            "threads": threads,
                            "pipeline": name,
                            "images_per_s": round(rate[name], 2),
                            "ms_per_image": round(1000 * threads / rate[name]),  # wall time of one image
                            "cpu_ms_per_image": round(1000 * statistics.median(cpu_seconds[name]) / per_round),
                            "daskparse/pillow": round(rate[name] / rate["pillow"], 2) if versus else None,
                            "daskparse/libvips": round(rate[name] / rate["libvips"], 2) if versus else None,
                        }
                    )
    scaling = {
        f"{r1['input']} {r1['pipeline']}": round(r2["images_per_s"] / r1["images_per_s"], 2)
        for r1 in rows
        for r2 in rows
        if r1["threads"] == 1 and r2["threads"] == 2 and (r1["input"], r1["pipeline"]) == (r2["input"], r2["pipeline"])
    }
    return {
        "rows": rows,
        "inputs": inputs,
        "outputs": outputs,
        "two_thread_speedup": scaling,
        "settings": {"box": BOX, "quality": QUALITY, "rounds": rounds, "images_per_round": per_round},
        "notes": [
            "ratios are throughput daskparse / baseline: below 1 means daskparse is slower",
            "ms_per_image = threads / images_per_s (wall time of one image while the pool is busy)",
            "cpu_ms_per_image: CPU time of the whole process per image, the figure least moved by other load",
            "2-thread speed-up: " + ", ".join(f"{k} {v}x" for k, v in scaling.items()),
            "inputs: " + ", ".join(f"{k} {v['count']} JPEGs ~{v['mean_mb']} MB" for k, v in inputs.items()),
        ],
    }
