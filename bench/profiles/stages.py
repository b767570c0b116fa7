"""One-off probe (issue 17): optimize_image's CPU per image split by sub-step, and cheaper prototypes.

A scratch copy of optimize_image's path for a plain RGB JPEG (what social-media flyers are), each sub-step
timed with time.thread_time(); prototypes of cheaper equivalents, each checked against today's output (max
and mean absolute pixel difference of the decoded JPEGs, and whether the look-alike pHash changes).

    PYTHONPATH=. python -m bench.profiles.stages [--rounds 5] [--json out.json]

Run it with MALLOC_TRIM_THRESHOLD_=65536 to see what a Dask worker sees (its nanny sets that).

Since issue 17's optimizer change, "today" is the optimizer as it was (OPTIMIZER_VERSION "1", scikit-image's
formulation) and "package optimize_image" the package's current one, both in the same run: before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import time
from collections import defaultdict

import cv2
import imageio.v3 as iio
import numpy as np
import scipy.ndimage as ndi
from PIL import Image, ImageFilter, ImageOps
from skimage import exposure, filters, util

from bench.profiles.images import images
from daskparse import optimize as opt
from daskparse.lookalike import perceptual_hash, thumbnail_jpeg
from daskparse.optimize import optimize_image

cv2.setNumThreads(0)  # OpenCV's own thread pool would hide CPU from thread_time (and compete with Dask's threads)
cv2.ocl.setUseOpenCL(False)

BOX = (1200, 800)
QUALITY = 95


class Clock:
    def __init__(self):
        self.ms: dict[str, float] = {}
        self._t = time.thread_time()

    def lap(self, name: str) -> None:
        now = time.thread_time()
        self.ms[name] = self.ms.get(name, 0.0) + 1000 * (now - self._t)
        self._t = now


def _decode_resize(data: bytes, clock: Clock, resample: str = "pillow-lanczos") -> Image.Image:
    """Today's steps up to the resized RGB image (a plain RGB JPEG: no flattening, no strips).

    ``resample``: today's "pillow-lanczos", or "pillow-bicubic", "cv2-area" for the final resize."""
    kind = opt._raster_type(data)
    img, plan = opt._plan(data, kind, max(BOX), min(BOX))
    clock.lap("open+plan")
    opt._load(img, kind)
    clock.lap("decode")
    orientation = opt._orientation(img)
    if resample == "pillow-lanczos" or plan.target == img.size:
        rgb = opt._downscale(img, plan, orientation)
    elif resample == "pillow-bicubic":
        rgb = img.resize(plan.target, Image.Resampling.BICUBIC)
    elif resample == "cv2-area":
        rgb = Image.fromarray(cv2.resize(np.asarray(img), plan.target, interpolation=cv2.INTER_AREA))
    else:
        raise ValueError(resample)
    clock.lap("resize")
    return rgb


def today(data: bytes, clock: Clock) -> tuple[bytes, int | None, bytes]:
    """optimize_image for an RGB JPEG, step by step (same calls, same order)."""
    rgb = _decode_resize(data, clock)
    arr = np.asarray(rgb)
    clock.lap("to numpy")
    image = util.img_as_float32(arr)
    clock.lap("to float32")
    step = math.ceil(math.sqrt(image.shape[0] * image.shape[1] / opt._STRETCH_SAMPLES))
    low, high = np.percentile(image[::step, ::step], opt._STRETCH_PERCENTILES)
    clock.lap("stretch: percentiles")
    if high - low >= 1 / 255:
        image = exposure.rescale_intensity(image, in_range=(float(low), float(high)), out_range=(0.0, 1.0))
    clock.lap("stretch: rescale")
    sharp = filters.unsharp_mask(image, radius=opt._SHARPEN_RADIUS, amount=opt._SHARPEN_AMOUNT, channel_axis=2)
    clock.lap("unsharp")
    pixels = util.img_as_ubyte(sharp)
    clock.lap("to uint8")
    jpeg = iio.imwrite("<bytes>", pixels, extension=".jpg", quality=QUALITY)
    clock.lap("encode (imageio)")
    gray = Image.fromarray(pixels).convert("L")
    clock.lap("fp: gray")
    phash = perceptual_hash(gray)
    clock.lap("fp: phash")
    thumb = thumbnail_jpeg(gray)
    clock.lap("fp: thumbnail")
    return jpeg, phash, thumb


def package(data: bytes, clock: Clock) -> tuple[bytes, int | None, bytes]:
    """The package's optimize_image as it is now, in one lap (issue 17 built "fast float32" into it)."""
    result = optimize_image(data, max_size=BOX, quality=QUALITY)
    clock.lap("optimize_image")
    return result.jpeg, result.phash, result.thumbnail


def _stretch_lut(arr: np.ndarray) -> np.ndarray | None:
    """Today's stretch as a 256-entry float32 table: the same float32 values, looked up instead of computed."""
    step = math.ceil(math.sqrt(arr.shape[0] * arr.shape[1] / opt._STRETCH_SAMPLES))
    sample = util.img_as_float32(arr[::step, ::step])  # exactly the values today's percentile sees
    low, high = np.percentile(sample, opt._STRETCH_PERCENTILES)
    levels = util.img_as_float32(np.arange(256, dtype=np.uint8))
    if high - low < 1 / 255:
        return levels
    return exposure.rescale_intensity(levels, in_range=(float(low), float(high)), out_range=(0.0, 1.0))


def _fingerprints(pixels_or_img, clock: Clock, small_first: bool) -> tuple[int | None, bytes]:
    img = pixels_or_img if isinstance(pixels_or_img, Image.Image) else Image.fromarray(pixels_or_img)
    gray = img if img.mode == "L" else img.convert("L")
    clock.lap("fp: gray")
    if small_first:  # one reduction of the big image; the hash from the 128 px thumbnail
        small = gray.resize((128, 128), Image.Resampling.BOX)
        clock.lap("fp: thumbnail")
        phash = perceptual_hash(small)
        clock.lap("fp: phash")
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=90)
        clock.lap("fp: thumbnail")
        return phash, buffer.getvalue()
    phash = perceptual_hash(gray)
    clock.lap("fp: phash")
    thumb = thumbnail_jpeg(gray)
    clock.lap("fp: thumbnail")
    return phash, thumb


def _pil_jpeg(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def _encoded(pixels: np.ndarray, clock: Clock, small_fp: bool) -> tuple[bytes, int | None, bytes]:
    """The prototypes' common end: Pillow's JPEG encoder, then the fingerprints."""
    out = Image.fromarray(pixels)
    jpeg = _pil_jpeg(out)
    clock.lap("encode (Pillow)")
    phash, thumb = _fingerprints(out, clock, small_fp)
    return jpeg, phash, thumb


def lean_float32(data: bytes, clock: Clock, small_fp: bool = False) -> tuple[bytes, int | None, bytes]:
    """Same arithmetic as today, fewer and reused buffers: table-lookup stretch, one 2-D gaussian call on the
    contiguous HxWx3 array (sigma 0 across channels), unsharp in place, Pillow's encoder without imageio."""
    rgb = _decode_resize(data, clock)
    arr = np.asarray(rgb)
    clock.lap("to numpy")
    lut = _stretch_lut(arr)
    clock.lap("stretch: percentiles")
    image = lut[arr]  # float32, today's stretched values exactly
    clock.lap("stretch: rescale")
    blurred = ndi.gaussian_filter(image, (opt._SHARPEN_RADIUS, opt._SHARPEN_RADIUS, 0), mode="reflect")
    np.subtract(image, blurred, out=blurred)
    blurred *= opt._SHARPEN_AMOUNT
    blurred += image
    np.clip(blurred, 0.0, 1.0, out=blurred)
    clock.lap("unsharp")
    pixels = util.img_as_ubyte(blurred)
    clock.lap("to uint8")
    return _encoded(pixels, clock, small_fp)


def pillow_uint8(data: bytes, clock: Clock, small_fp: bool = False) -> tuple[bytes, int | None, bytes]:
    """All uint8 in Pillow: the stretch as a 256-level point table, Pillow's UnsharpMask (box-approximated
    gaussian, radius 1.5, 100 %, threshold 0), Pillow's JPEG encoder."""
    rgb = _decode_resize(data, clock)
    arr = np.asarray(rgb)
    clock.lap("to numpy")
    lut = _stretch_lut(arr)
    table = np.clip(np.rint(lut * 255), 0, 255).astype(np.uint8).tolist() * 3
    clock.lap("stretch: percentiles")
    img = rgb.point(table)
    clock.lap("stretch: rescale")
    img = img.filter(ImageFilter.UnsharpMask(radius=opt._SHARPEN_RADIUS, percent=100, threshold=0))
    clock.lap("unsharp")
    jpeg = _pil_jpeg(img)
    clock.lap("encode (Pillow)")
    phash, thumb = _fingerprints(img, clock, small_fp)
    return jpeg, phash, thumb


def pillow_luma(data: bytes, clock: Clock, small_fp: bool = False) -> tuple[bytes, int | None, bytes]:
    """uint8 Pillow, sharpening luminance only: stretch table, to YCbCr, UnsharpMask on Y, JPEG written from
    YCbCr directly (the encoder would convert to YCbCr anyway); fingerprints from Y."""
    rgb = _decode_resize(data, clock)
    arr = np.asarray(rgb)
    clock.lap("to numpy")
    lut = _stretch_lut(arr)
    table = np.clip(np.rint(lut * 255), 0, 255).astype(np.uint8).tolist() * 3
    clock.lap("stretch: percentiles")
    img = rgb.point(table)
    clock.lap("stretch: rescale")
    y, cb, cr = img.convert("YCbCr").split()
    y = y.filter(ImageFilter.UnsharpMask(radius=opt._SHARPEN_RADIUS, percent=100, threshold=0))
    ycc = Image.merge("YCbCr", (y, cb, cr))
    clock.lap("unsharp")
    jpeg = _pil_jpeg(ycc)
    clock.lap("encode (Pillow)")
    phash, thumb = _fingerprints(y, clock, small_fp)
    return jpeg, phash, thumb


def _percentiles_from_counts(arr: np.ndarray) -> tuple[float, float]:
    """Today's 0.5/99.5 percentiles of the strided float sample, from a 256-bin count of the uint8 sample:
    np.percentile's linear interpolation between the two order statistics, without sorting 600k floats."""
    step = math.ceil(math.sqrt(arr.shape[0] * arr.shape[1] / opt._STRETCH_SAMPLES))
    counts = np.bincount(arr[::step, ::step].ravel(), minlength=256)
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    levels = util.img_as_float32(np.arange(256, dtype=np.uint8)).astype(np.float64)
    out = []
    for q in opt._STRETCH_PERCENTILES:
        position = q / 100 * (n - 1)
        below = math.floor(position)
        a = levels[np.searchsorted(cumulative, below, side="right")]
        b = levels[np.searchsorted(cumulative, below + 1, side="right")]
        out.append(a + (b - a) * (position - below))
    return out[0], out[1]


def _fast_lut(arr: np.ndarray) -> np.ndarray:
    low, high = _percentiles_from_counts(arr)
    levels = util.img_as_float32(np.arange(256, dtype=np.uint8))
    if high - low < 1 / 255:
        return levels
    return exposure.rescale_intensity(levels, in_range=(float(low), float(high)), out_range=(0.0, 1.0))


_KSIZE = 2 * int(4.0 * opt._SHARPEN_RADIUS + 0.5) + 1  # scipy's truncate=4.0: 13 taps at sigma 1.5


def fast_float32(data: bytes, clock: Clock, resample: str = "pillow-lanczos") -> tuple[bytes, int | None, bytes]:
    """Today's arithmetic, cheap: percentiles from a 256-bin count, stretch by table (np.take), OpenCV's
    float32 Gaussian (13 taps, sigma 1.5, reflect border as scipy's 'reflect'), unsharp and the uint8
    conversion in place in one buffer, Pillow's encoder, fingerprints on a 128 px gray thumbnail."""
    rgb = _decode_resize(data, clock, resample)
    arr = np.asarray(rgb)
    clock.lap("to numpy")
    lut = _fast_lut(arr)
    clock.lap("stretch: percentiles")
    image = np.take(lut, arr)
    clock.lap("stretch: rescale")
    blurred = cv2.GaussianBlur(image, (_KSIZE, _KSIZE), opt._SHARPEN_RADIUS, borderType=cv2.BORDER_REFLECT)
    np.subtract(image, blurred, out=blurred)
    blurred *= opt._SHARPEN_AMOUNT
    blurred += image
    np.clip(blurred, 0.0, 1.0, out=blurred)
    clock.lap("unsharp")
    blurred *= 255
    np.rint(blurred, out=blurred)
    pixels = blurred.astype(np.uint8)
    clock.lap("to uint8")
    return _encoded(pixels, clock, True)


def cv2_uint8(data: bytes, clock: Clock) -> tuple[bytes, int | None, bytes]:
    """All uint8 in OpenCV: the stretch by cv2.LUT, Gaussian on uint8 (fixed point), unsharp as
    addWeighted(2, -1) with saturation; Pillow's encoder; fingerprints on a 128 px gray thumbnail."""
    rgb = _decode_resize(data, clock)
    arr = np.asarray(rgb)
    clock.lap("to numpy")
    table = np.clip(np.rint(_fast_lut(arr) * 255), 0, 255).astype(np.uint8)
    clock.lap("stretch: percentiles")
    image = cv2.LUT(arr, table)
    clock.lap("stretch: rescale")
    blurred = cv2.GaussianBlur(image, (_KSIZE, _KSIZE), opt._SHARPEN_RADIUS, borderType=cv2.BORDER_REFLECT)
    pixels = cv2.addWeighted(image, 1 + opt._SHARPEN_AMOUNT, blurred, -opt._SHARPEN_AMOUNT, 0)
    clock.lap("unsharp")
    return _encoded(pixels, clock, True)


def vips_pipeline(data: bytes, clock: Clock) -> tuple[bytes, int | None, bytes]:
    """libvips (if importable: PYTHONPATH=/tmp/scratch/pyvips after pip install --target of pyvips pyvips-binary):
    decode, lanczos3 resize to today's size, the same stretch table (maplut), Gaussian sigma 1.5 on float,
    unsharp 2x - blur, JPEG Q95; fingerprints on a 128 px gray thumbnail (Pillow). libvips works in its own
    threads even at concurrency 1: only process CPU counts it (thread_time misses it)."""
    import pyvips

    img = pyvips.Image.new_from_buffer(data, "", access="sequential")
    kind = opt._raster_type(data)
    target = opt._fit((img.width, img.height), max(BOX), min(BOX))
    clock.lap("open+plan")
    if target != (img.width, img.height):
        img = img.resize(target[0] / img.width, vscale=target[1] / img.height, kernel="lanczos3")
    arr = np.ndarray(buffer=img.write_to_memory(), dtype=np.uint8, shape=(img.height, img.width, img.bands))
    clock.lap("decode+resize (vips, fused)")
    lut = _fast_lut(arr)
    clock.lap("stretch: percentiles")
    image = pyvips.Image.new_from_array(np.take(lut, arr))
    clock.lap("stretch: rescale")
    blurred = image.gaussblur(opt._SHARPEN_RADIUS, precision="float", min_ampl=0.001)
    sharp = ((image * 2 - blurred) * 255).rint().cast("uchar")  # cast clips
    jpeg = sharp.jpegsave_buffer(Q=QUALITY)
    clock.lap("unsharp+encode (vips, fused)")
    pixels = np.ndarray(buffer=sharp.write_to_memory(), dtype=np.uint8, shape=(sharp.height, sharp.width, 3))
    phash, thumb = _fingerprints(pixels, clock, True)
    del kind
    return jpeg, phash, thumb


def pillow_reference(data: bytes, clock: Clock) -> tuple[bytes, int | None, bytes]:
    """The issue's plain-pool pipeline: draft, fit 1200x800, autocontrast, UnsharpMask, JPEG 95 (no fingerprints)."""
    img = Image.open(io.BytesIO(data))
    box = (max(BOX), min(BOX)) if img.width >= img.height else (min(BOX), max(BOX))
    img.draft("RGB", box)
    clock.lap("open+plan")
    img = ImageOps.exif_transpose(img).convert("RGB")
    clock.lap("decode")
    img.thumbnail(box, Image.Resampling.LANCZOS)
    clock.lap("resize")
    img = ImageOps.autocontrast(img, cutoff=0.5)
    clock.lap("stretch: rescale")
    img = img.filter(ImageFilter.UnsharpMask(radius=1.5, percent=100, threshold=0))
    clock.lap("unsharp")
    jpeg = _pil_jpeg(img)
    clock.lap("encode (Pillow)")
    return jpeg, None, b""


PIPELINES = {
    "today": today,
    "package optimize_image": package,
    "lean float32": lean_float32,
    "lean float32 + small fp": lambda d, c: lean_float32(d, c, True),
    "pillow uint8 + small fp": lambda d, c: pillow_uint8(d, c, True),
    "pillow luma + small fp": lambda d, c: pillow_luma(d, c, True),
    "fast float32 (cv2 blur) + small fp": fast_float32,
    "fast float32, bicubic resize": lambda d, c: fast_float32(d, c, "pillow-bicubic"),
    "fast float32, cv2 area resize": lambda d, c: fast_float32(d, c, "cv2-area"),
    "cv2 uint8 + small fp": cv2_uint8,
    "pillow reference (no fp)": pillow_reference,
}
try:
    import pyvips

    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    PIPELINES["libvips (fused) + small fp"] = vips_pipeline
except ImportError:
    pass


def _difference(a: bytes, b: bytes) -> tuple[int, float]:
    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), np.int16)
    if x.shape != y.shape:
        return -1, float("nan")
    d = np.abs(x - y)
    return int(d.max()), float(d.mean()), float((d > 0).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    parser.add_argument("--only", help="comma-separated pipeline names (for perf stat on one of them); 'today' always runs")
    parser.add_argument("--loop", type=int, default=0, help="just run --only's pipelines this many rounds, no report")
    args = parser.parse_args()
    if args.only:
        keep = {"today", *args.only.split(",")}
        for name in list(PIPELINES):
            if name not in keep:
                del PIPELINES[name]
    if args.loop:
        files = images()
        for _ in range(args.loop):
            for name, fn in PIPELINES.items():
                if name != "today" or args.only in (None, "today"):
                    for data in files:
                        fn(data, Clock())
        return
    files = images()
    # sanity: the scratch copy is the old optimize_image, which the package's differs from by JPEG noise only
    for data in files:
        ref = optimize_image(data, max_size=BOX, quality=QUALITY)
        jpeg, phash, thumb = today(data, Clock())
        assert phash == ref.phash and _difference(jpeg, ref.jpeg)[0] <= 8, "scratch copy drifted from optimize_image"
    outputs = {name: [fn(d, Clock()) for d in files] for name, fn in PIPELINES.items()}
    per_stage: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in PIPELINES}
    totals: dict[str, list[float]] = defaultdict(list)
    process_ms: dict[str, float] = defaultdict(float)  # cross-check: the process's CPU, every thread
    load = [os.getloadavg()]
    for _ in range(args.rounds):
        for name, fn in PIPELINES.items():  # interleaved: background load hits all alike
            started = time.process_time()
            for data in files:
                clock = Clock()
                fn(data, clock)
                for stage, ms in clock.ms.items():
                    per_stage[name][stage].append(ms)
                totals[name].append(sum(clock.ms.values()))
            process_ms[name] += 1000 * (time.process_time() - started)
    load.append(os.getloadavg())
    n = len(files)
    report = {"images": n, "rounds": args.rounds, "load_average": [[round(x, 2) for x in l] for l in load],
              "environ MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"), "pipelines": {}}
    for name in PIPELINES:
        diffs = [_difference(a[0], b[0]) for a, b in zip(outputs["today"], outputs[name])]
        phash_changed = sum(a[1] != b[1] for a, b in zip(outputs["today"], outputs[name]))
        phash_bits = [bin((a[1] or 0) ^ (b[1] or 0)).count("1") for a, b in zip(outputs["today"], outputs[name])]
        stages = {s: round(statistics.mean(v) * len(v) / (n * args.rounds), 2) for s, v in per_stage[name].items()}
        report["pipelines"][name] = {
            "cpu_ms_per_image_mean": round(statistics.mean(totals[name]), 1),
            "cpu_ms_per_image_median": round(statistics.median(totals[name]), 1),
            "process_cpu_ms_per_image": round(process_ms[name] / (n * args.rounds), 1),
            "stages_ms": stages,
            "max_abs_diff": max(d[0] for d in diffs),
            "mean_abs_diff": round(statistics.mean(d[1] for d in diffs), 4),
            "pixels_differing": round(statistics.mean(d[2] for d in diffs), 4),
            "phash_changed": f"{phash_changed}/{n}",
            "phash_bits_changed_max": max(phash_bits),
            "thumbnail_identical": f"{sum(a[2] == b[2] for a, b in zip(outputs['today'], outputs[name]))}/{n}",
            "jpeg_kb_mean": round(statistics.mean(len(o[0]) for o in outputs[name]) / 1024, 1),
        }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
