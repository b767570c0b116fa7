"""Result cache: reposts found by the look-alike level, wrong merges, and the cache's size on disk.

- Reposts: generated flyers (a third photographed), each first posted as a JPEG and stored in a
  ResultCache, then reposted 1-4 times: resized (0.5-0.9x), recompressed (JPEG q40-70), cropped
  (0-4% per side), re-encoded as PNG or WebP, or resized+cropped+recompressed together. Every image goes
  through ``optimize_image`` as in a run; each repost is looked up with ``lookup_phash``. Served = found
  and matched to its own original; wrongly merged = found and matched to another flyer. All distinct
  pairs are also compared directly (hash distance, then the thumbnail check within the radius), so the
  radius and similarity threshold are read off distributions, not one run.
- Size: bytes on disk for 1,000 stored outcomes (partitions of 13, as a 20-thread local-OCR run of 1,000
  images writes them), the time to load the index and to look up each level.
- Repeat run (``repeat_run``): 1,000 distinct images (--quick: 100) through ``parse_images(extractor="gemini")``
  cold against the loopback Gemini server with realistic latency, then re-signed and all cached: wall
  times, speed-up, calls counted on the server, hits by level. Also the cache that Gemini run leaves (one
  file per image), its index load time, and both again after ``ResultCache.compact()``.
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

from daskparse.cache import DEFAULT_MIN_SIMILARITY, DEFAULT_PHASH_DISTANCE, ResultCache, cache_stats
from daskparse.lookalike import decode_gray, similarity, thumbnail_pixels
from daskparse.optimize import optimize_image
from daskparse.outcome import Outcome
from daskparse.usage import Usage

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


def _outcome(seed: int, image, shows: list[dict]) -> Outcome:
    url = f"https://cdn.example.org/flyers/{seed}.jpg"
    return Outcome(url, url, shows=shows, extractor="local", image_sha256=f"{seed:064x}", phash=image.phash,
                   thumbnail=image.thumbnail)


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
    grays = {s["seed"]: decode_gray(s["original"].jpeg) for s in sets}
    thumbs = {s["seed"]: thumbnail_pixels(s["original"].thumbnail) for s in sets}
    own_distance, own_similarity, kind_of = [], [], []
    for s in sets:
        for kind, image in s["reposts"]:
            own_distance.append(_bits(image.phash, s["original"].phash))
            own_similarity.append(similarity(thumbs[s["seed"]], decode_gray(image.jpeg)))
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
        outcomes.append(Outcome(url, url, shows=shows[i % len(shows)], usage=Usage(requests=1), extractor="gemini",
                                image_sha256=f"{i:064x}", phash=image.phash, thumbnail=image.thumbnail))
    with tempfile.TemporaryDirectory() as folder:
        cache = ResultCache(folder, variant="size")
        started = time.perf_counter()
        for start in range(0, images, partition):
            cache.store_partition(outcomes[start:start + partition])
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


def _distinct_images(count: int) -> list[bytes]:
    """``count`` distinct JPEGs: 40 generated flyers (900x1200), each copy with its own few pixels changed."""
    from daskparse.testing.flyers import make_flyer

    bases = [np.asarray(make_flyer(seed, reference_date=REFERENCE, size=(900, 1200)).image) for seed in range(40)]
    images = []
    for i in range(count):
        pixels = bases[i % len(bases)].copy()
        pixels[:2, :8] = np.frombuffer(i.to_bytes(48, "big"), np.uint8).reshape(2, 8, 3)
        images.append(_encode(Image.fromarray(pixels), "JPEG", quality=90))
    return images


def _index_load_s(folder: str, variant: str, rounds: int = 3) -> float:
    """Median seconds for a run's ``load_index`` (no writability probe, no daily prune: the index read alone)."""
    seconds = []
    for _ in range(rounds):
        cache = ResultCache(folder, variant=variant)
        started = time.perf_counter()
        cache.load_index(check_writable=False, auto_prune=False)
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds), 3)


def repeat_run(quick: bool = False, images: int = 1000) -> dict:
    """``images`` distinct URLs on the loopback image server through ``parse_images(extractor="gemini")``:
    cold against the loopback Gemini server (lognormal latency, median 1.5 s, sigma 0.3; in its own
    process), then again with every URL re-signed (``?oh=a`` -> ``?oh=b``, dropped by URL cleaning), so
    the warm run's hits are level-1 hits and it needs no cluster. Every run is ``parse_images`` without a
    client, as a user calls it (the cold run starts and closes a 2x10 LocalCluster, counted in its wall).
    The warm run is measured on the cache as the cold run left it (one file per image unless the pipeline
    compacts at the end of a run), then again after ``ResultCache.compact()``. Gemini calls are counted
    on the server, a fresh one per run.
    """
    import daskparse
    from bench.loopback import API_KEY, loopback_server
    from daskparse.cluster import environ_restored
    from bench.rate_gate import LATENCY_MEDIAN_S, LATENCY_SIGMA
    from daskparse.testing.image_server import ImageServer

    images = 100 if quick else images
    runs: dict[str, dict] = {}
    size: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="cache-bench-") as tmp, ImageServer() as images_server:
        cache_url = os.path.join(tmp, "cache")
        for i, data in enumerate(_distinct_images(images)):
            images_server.add(f"/f/{i}.jpg", data)

        def parse(label: str, signature: str) -> None:
            sources = [images_server.url(f"/f/{i}.jpg") + f"?oh={signature}" for i in range(images)]
            with loopback_server((LATENCY_MEDIAN_S, LATENCY_SIGMA)) as server, environ_restored():
                started = time.perf_counter()
                result = daskparse.parse_images(sources, extractor="gemini", gemini_api_key=API_KEY,
                                                gemini_base_url=server.base_url, gemini_api_version="v1beta",
                                                cache=cache_url, reference_date=REFERENCE,
                                                allow_private_hosts=True)  # the image server is on 127.0.0.1
                wall = time.perf_counter() - started
                log = server.finish()
            stats = result.stats
            runs[label] = {"wall_s": round(wall, 3), "parse_wall_s": stats["wallSeconds"],
                           "gemini_calls": len(log.arrivals), "gemini_200": log.count(200),
                           "cacheHits": stats["cacheHits"], "cacheHitsByLevel": stats["cacheHitsByLevel"],
                           "errors": int(stats["errors"]), "shows": int(stats["shows"])}

        def measure(label: str) -> str:
            stats = cache_stats(cache_url)
            (variant, _), = stats["variants"].items()
            size[label] = {"files": stats["files"], "entries": stats["entries"], "bytes": stats["bytes"],
                           "index_load_s": _index_load_s(cache_url, variant)}
            return variant

        parse("cold", "a")
        variant = measure("after the cold run")
        parse("warm", "b")
        started = time.perf_counter()
        compaction = ResultCache(cache_url, variant=variant).compact()
        compaction["wall_s"] = round(time.perf_counter() - started, 3)
        measure("after compaction")
        parse("warm, compacted", "c")
    cold = runs["cold"]["wall_s"]
    for label, figures in runs.items():
        figures["speedup"] = round(cold / figures["wall_s"], 1)
    return {"images": images, "latency": (LATENCY_MEDIAN_S, LATENCY_SIGMA), "runs": runs, "size": size,
            "compaction": compaction}


def run(quick: bool) -> dict:
    result = reposts_benchmark(30 if quick else 100)
    size = size_benchmark(result.pop("sets"))
    repeat = repeat_run(quick)
    rows = [{"case": "reposts served by the look-alike level", "value": f"{100 * result['served_share']:.1f}%",
             "target": ">= 95%", "detail": f"{result['reposts']} reposts of {result['flyers']} flyers"},
            {"case": "distinct flyers wrongly merged", "value": result["wrongly_merged"], "target": "0",
             "detail": f"look-ups; {result['distinct_distance']['pairs']} pairs checked directly below"},
            {"case": "cache size per 1,000 images", "value": f"{size['bytes'] / 1e6:.2f} MB",
             "target": "", "detail": f"{size['files']} files, {size['bytes_per_image']} B/image"},
            {"case": "index load (1,000 entries)", "value": f"{size['index_load_s']:.3f} s", "target": "",
             "detail": f"look-up ms (url, sha256, phash): {size['lookup_ms']}"}]
    n = repeat["images"]
    for label, figures in repeat["runs"].items():
        hits = figures["cacheHitsByLevel"]
        rows.append({"case": f"repeat run of {n:,} images: {label}", "value": f"{figures['wall_s']:.2f} s",
                     "target": ">= 50x" if label != "cold" else "",
                     "detail": (f"speed-up {figures['speedup']}x; " if label != "cold" else "")
                     + f"{figures['gemini_calls']} Gemini calls; hits url/sha256/phash "
                       f"{hits['url']}/{hits['sha256']}/{hits['phash']}; {figures['errors']} errors"})
    for label, figures in repeat["size"].items():
        rows.append({"case": f"Gemini run's cache, {label}", "value": f"{figures['bytes'] / 1e6:.2f} MB",
                     "target": "", "detail": f"{figures['files']} files, {figures['entries']} entries; "
                                             f"index load {figures['index_load_s']:.3f} s"})
    compaction = repeat["compaction"]
    notes = [f"radius {DEFAULT_PHASH_DISTANCE} bits, similarity >= {DEFAULT_MIN_SIMILARITY} (the defaults)",
             f"served by kind: {result['served_by_kind']}",
             f"repost pHash distance: {result['repost_distance']}",
             f"repost similarity: {result['repost_similarity']}",
             f"distinct pairs pHash distance: {result['distinct_distance']}",
             f"repeat run: parse_images(extractor='gemini') with no client (the cold run starts a 2x10 LocalCluster, "
             f"counted); loopback Gemini lognormal(median {repeat['latency'][0]} s, sigma {repeat['latency'][1]}) in "
             f"its own process; warm runs re-sign every URL (?oh=a -> b, c); parse_images' own wallSeconds: "
             + ", ".join(f"{label} {figures['parse_wall_s']} s" for label, figures in repeat["runs"].items()),
             f"compaction of the Gemini run's cache: {compaction['filesMerged']} files merged into "
             f"{compaction['filesWritten']} in {compaction['wall_s']} s ({compaction})",
             "sweep (pHash radius alone vs with the thumbnail check):"]
    from bench.run import format_table

    notes += format_table(result["sweep"]).splitlines()
    return {"rows": rows, "notes": notes, "reposts": result, "size": size, "repeat_run": repeat}
