"""Result cache: reposts found by the look-alike level, wrong merges, and the cache's size on disk.

- Reposts: generated flyers (a third photographed), each first posted as a JPEG and stored in a
  ResultCache, then reposted 1-4 times: resized (0.5-0.9x), recompressed (JPEG q40-70), cropped
  (0-4% per side), re-encoded as PNG or WebP, or resized+cropped+recompressed together. Every image goes
  through ``optimize_image`` as in a run; each repost is looked up with ``lookup_phash``. Served = found
  and matched to its own original; wrongly merged = found and matched to another flyer. All distinct
  pairs are also compared directly (hash distance, then the thumbnail check within the radius), so the
  radius and similarity threshold are read off distributions, not one run.
- Size: bytes on disk for 1,000 stored outcomes (partitions of 13, as a 20-thread run of 1,000 images
  writes them), the time to load the index and to look up each level.
- ``repeat_run``: 1,000 images cold vs cached through the pipeline against the loopback image server;
  called separately once the pipeline uses the cache (see its docstring).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

from daskparse.cache import (DEFAULT_MIN_SIMILARITY, DEFAULT_PHASH_DISTANCE, ResultCache, _decode_gray,
                             _thumbnail_pixels, cache_stats, similarity)
from daskparse.optimize import optimize_image

REFERENCE = dt.date(2026, 11, 1)
KINDS = ("resize", "recompress", "crop", "png", "webp", "resize+crop+q")
RADII = (6, 8, 10, 12, 14, 16, 18, 20)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def repost(image: Image.Image, kind: str, rng: np.random.Generator) -> bytes:
    """One repost of ``image`` as another user might upload it."""
    w, h = image.size

    def crop(img, most=0.04):
        l, t, r, b = rng.uniform(0, most, 4)
        return img.crop((round(w * l), round(h * t), round(w * (1 - r)), round(h * (1 - b))))

    def resize(img, low=0.5, high=0.9):
        s = rng.uniform(low, high)
        return img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)

    if kind == "resize":
        return _encode(resize(image), "JPEG", quality=85)
    if kind == "recompress":
        return _encode(image, "JPEG", quality=int(rng.integers(40, 71)))
    if kind == "crop":
        return _encode(crop(image), "JPEG", quality=85)
    if kind == "png":
        return _encode(image, "PNG")
    if kind == "webp":
        return _encode(image, "WEBP", quality=int(rng.integers(60, 86)))
    if kind == "resize+crop+q":
        return _encode(resize(crop(image, 0.03), 0.6, 0.9), "JPEG", quality=int(rng.integers(50, 76)))
    raise ValueError(kind)


def _flyer_set(seed: int) -> dict:
    """A flyer's first post and its reposts, all optimized (runs in a worker process)."""
    from daskparse.testing.flyers import make_flyer

    flyer = make_flyer(seed, reference_date=REFERENCE, photo=seed % 3 == 0)
    rng = np.random.default_rng(10_000 + seed)
    original = optimize_image(_encode(flyer.image, "JPEG", quality=90))
    kinds = rng.choice(KINDS, size=int(rng.integers(1, 5)), replace=False)
    reposts = [(str(kind), optimize_image(repost(flyer.image, str(kind), rng))) for kind in kinds]
    return {"seed": seed, "shows": flyer.shows, "original": original, "reposts": reposts}


def _outcome(seed: int, image, shows: list[dict]) -> dict:
    url = f"https://cdn.example.org/flyers/{seed}.jpg"
    return {"source": url, "cleaned_url": url, "shows": shows, "error": None, "seconds": {}, "usage": {},
            "extractor": "local", "image_sha256": f"{seed:064x}", "phash": image.phash, "thumbnail": image.thumbnail}


def _pct(values, q) -> float:
    return round(float(np.percentile(values, q)), 3) if len(values) else float("nan")


def reposts_benchmark(count: int) -> dict:
    with ProcessPoolExecutor(2) as pool:
        sets = list(pool.map(_flyer_set, range(count)))
    with tempfile.TemporaryDirectory() as folder:
        cache = ResultCache(folder, variant="bench").load_index()
        cache.store_partition([_outcome(s["seed"], s["original"], s["shows"]) for s in sets])
        cache.load_index()
        served = wrong = 0
        by_kind: dict[str, list[int]] = {}
        lookup_seconds = []
        for s in sets:
            for kind, image in s["reposts"]:
                started = time.perf_counter()
                hit = cache.lookup_phash(image.phash, image.jpeg)
                lookup_seconds.append(time.perf_counter() - started)
                own = hit is not None and hit.matched_source.endswith(f"/{s['seed']}.jpg")
                served += own
                wrong += hit is not None and not own
                by_kind.setdefault(kind, []).append(int(own))
    total = sum(len(s["reposts"]) for s in sets)

    # Distributions: each repost against its own original; every distinct pair of originals.
    grays = {s["seed"]: _decode_gray(s["original"].jpeg) for s in sets}
    thumbs = {s["seed"]: _thumbnail_pixels(s["original"].thumbnail) for s in sets}
    own_distance, own_similarity, kind_of = [], [], []
    for s in sets:
        for kind, image in s["reposts"]:
            own_distance.append(_bits(image.phash, s["original"].phash))
            own_similarity.append(similarity(thumbs[s["seed"]], _decode_gray(image.jpeg)))
            kind_of.append(kind)
    pair_distance, pair_similarity = [], []
    for a, b in itertools.combinations(sets, 2):
        d = _bits(a["original"].phash, b["original"].phash)
        pair_distance.append(d)
        # a lookup compares the query's pixels with a stored thumbnail: either one may be the stored one
        pair_similarity.append(max(similarity(thumbs[a["seed"]], grays[b["seed"]]),
                                   similarity(thumbs[b["seed"]], grays[a["seed"]]))
                               if d <= max(RADII) else float("nan"))
    own_distance, own_similarity = np.array(own_distance), np.array(own_similarity)
    pair_distance, pair_similarity = np.array(pair_distance), np.array(pair_similarity)

    rows = []
    for radius in RADII:
        near = pair_distance <= radius
        rows.append({
            "radius_bits": radius,
            "reposts_in_radius_%": round(100 * float((own_distance <= radius).mean()), 1),
            "distinct_pairs_in_radius": int(near.sum()),
            "served_with_check_%": round(100 * float(((own_distance <= radius)
                                                        & (own_similarity >= DEFAULT_MIN_SIMILARITY)).mean()), 1),
            "distinct_pairs_passing_check": int((near & (pair_similarity >= DEFAULT_MIN_SIMILARITY)).sum()),
            "max_distinct_similarity": round(float(np.nanmax(pair_similarity[near])), 3) if near.any() else None,
        })
    kinds = {kind: {"served_%": round(100 * statistics.mean(v), 1), "n": len(v)} for kind, v in sorted(by_kind.items())}
    distance_by_kind = {kind: int(own_distance[[k == kind for k in kind_of]].max()) for kind in sorted(set(kind_of))}
    similarity_by_kind = {kind: round(float(own_similarity[[k == kind for k in kind_of]].min()), 3)
                          for kind in sorted(set(kind_of))}
    return {
        "flyers": count,
        "reposts": total,
        "served_share": round(served / total, 4),
        "wrongly_merged": wrong,
        "served_by_kind": kinds,
        "repost_distance": {"max": int(own_distance.max()), "p99": _pct(own_distance, 99),
                            "p95": _pct(own_distance, 95),
                            "max_by_kind": distance_by_kind},
        "repost_similarity": {"min": round(float(own_similarity.min()), 3), "p1": _pct(own_similarity, 1),
                              "min_by_kind": similarity_by_kind},
        "distinct_distance": {"min": int(pair_distance.min()), "p1": _pct(pair_distance, 1),
                              "median": _pct(pair_distance, 50), "pairs": len(pair_distance)},
        "phash_lookup_ms_median": round(1000 * statistics.median(lookup_seconds), 2),
        "sweep": rows,
        "sets": sets,
    }


def _bits(a: int | None, b: int | None) -> int:
    return 64 if a is None or b is None else (a ^ b).bit_count()


def size_benchmark(sets: list[dict], images: int = 1000, partition: int = 13) -> dict:
    """Bytes for ``images`` stored outcomes, written as a run writes them; index load and look-up times."""
    fingerprints = [img for s in sets for img in [s["original"], *(r for _, r in s["reposts"])]]
    shows = [s["shows"] for s in sets]
    outcomes = []
    for i in range(images):
        image = fingerprints[i % len(fingerprints)]
        url = f"https://cdn.example.org/p/{i}.jpg?oh=sig"
        outcomes.append({"source": url, "cleaned_url": url, "shows": shows[i % len(shows)], "error": None,
                         "seconds": {}, "usage": {"requests": 1}, "extractor": "gemini",
                         "image_sha256": f"{i:064x}", "phash": image.phash, "thumbnail": image.thumbnail})
    with tempfile.TemporaryDirectory() as folder:
        cache = ResultCache(folder, variant="size")
        started = time.perf_counter()
        for start in range(0, images, partition):
            cache.store_partition([dict(o) for o in outcomes[start:start + partition]])
        write = time.perf_counter() - started
        on_disk = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files)
        started = time.perf_counter()
        cache.load_index(auto_prune=False)
        load = time.perf_counter() - started
        timings = {}
        probe = fingerprints[0]
        for name, call in (("url", lambda i: cache.lookup_url(f"https://cdn.example.org/p/{i}.jpg?oh=sig")),
                           ("sha256", lambda i: cache.lookup_sha256(f"{i:064x}")),
                           ("phash", lambda i: cache.lookup_phash(probe.phash, probe.jpeg))):
            started = time.perf_counter()
            found = sum(call(i) is not None for i in range(0, images, 10))
            timings[name] = (round(1000 * (time.perf_counter() - started) / len(range(0, images, 10)), 2), found)
        stats = cache_stats(folder)
    return {"images": images, "files": stats["files"], "bytes": on_disk, "bytes_per_image": round(on_disk / images),
            "write_s": round(write, 2), "index_load_s": round(load, 3), "lookup_ms": timings}


def repeat_run(quick: bool = False, images: int = 1000) -> dict:
    """A run of ``images`` URLs on the loopback image server cold, then again with the cache warm.

    Needs the pipeline to use ``Settings.cache`` (the lead's integration); until then the second run
    reports 0 cache hits and no speed-up. Each URL serves distinct bytes (40 base flyers, each image
    with its own few pixels changed), with a signature query parameter that changes between the runs,
    so the warm run's hits are level-1 (cleaned URL) hits.
    """
    import daskparse
    from daskparse.testing.flyers import make_flyer
    from daskparse.testing.image_server import ImageServer

    images = 100 if quick else images
    bases = [np.asarray(make_flyer(seed, reference_date=REFERENCE, size=(900, 1200)).image) for seed in range(40)]
    timings = {}
    with tempfile.TemporaryDirectory() as folder, ImageServer() as server:
        for i in range(images):
            pixels = bases[i % len(bases)].copy()
            pixels[:2, :8] = np.frombuffer(i.to_bytes(48, "big"), np.uint8).reshape(2, 8, 3)
            server.add(f"/f/{i}.jpg", _encode(Image.fromarray(pixels), "JPEG", quality=90))
        for label, signature in (("cold", "a"), ("cached", "b")):
            sources = [server.url(f"/f/{i}.jpg") + f"?oh={signature}" for i in range(images)]
            started = time.perf_counter()
            result = daskparse.parse_images(sources, extractor="local", cache=os.path.join(folder, "cache"),
                                            reference_date=REFERENCE)
            timings[label] = (time.perf_counter() - started, result.stats)
    cold_seconds = timings["cold"][0]
    cached_stats = {k: timings["cached"][1].get(k)
                    for k in ("cacheHits", "cacheHitsByLevel", "cacheHitRate", "callsSaved")}
    return {"rows": [{"run": label, "images": images, "wall_s": round(t, 1), "cacheHits": s.get("cacheHits"),
                      "speedup": round(cold_seconds / t, 1)} for label, (t, s) in timings.items()],
            "notes": [f"cached run stats: {cached_stats}"]}


def run(quick: bool) -> dict:
    result = reposts_benchmark(30 if quick else 100)
    size = size_benchmark(result.pop("sets"))
    rows = [{"case": "reposts served by the look-alike level", "value": f"{100 * result['served_share']:.1f}%",
             "target": ">= 95%", "detail": f"{result['reposts']} reposts of {result['flyers']} flyers"},
            {"case": "distinct flyers wrongly merged", "value": result["wrongly_merged"], "target": "0",
             "detail": f"look-ups; {result['distinct_distance']['pairs']} pairs checked directly below"},
            {"case": "cache size per 1,000 images", "value": f"{size['bytes'] / 1e6:.2f} MB",
             "target": "", "detail": f"{size['files']} files, {size['bytes_per_image']} B/image"},
            {"case": "index load (1,000 entries)", "value": f"{size['index_load_s']:.3f} s", "target": "",
             "detail": f"look-up ms (url, sha256, phash): {size['lookup_ms']}"}]
    notes = [f"radius {DEFAULT_PHASH_DISTANCE} bits, similarity >= {DEFAULT_MIN_SIMILARITY} (the defaults)",
             f"served by kind: {result['served_by_kind']}",
             f"repost pHash distance: {result['repost_distance']}",
             f"repost similarity: {result['repost_similarity']}",
             f"distinct pairs pHash distance: {result['distinct_distance']}",
             "sweep (pHash radius alone vs with the thumbnail check):"]
    from bench.run import format_table

    notes += format_table(result["sweep"]).splitlines()
    return {"rows": rows, "notes": notes, "reposts": result, "size": size}
