"""The result cache on object storage (issue 19): the loopback S3 server beside the same cache on local disk.

moto's S3 server runs on 127.0.0.1 in its own process (``daskparse.testing.s3_server.moto_server``, as the test
suite starts it); every figure is taken on both locations in this process, on the same data, round by round in
turn, and reported as medians, p95 and the ratio s3/local. Requests are counted from the server's access log.

- Operations (``operations``): ``images`` synthetic outcomes (1,000; --quick 200) with the pHash and thumbnail
  of optimized generated flyers, stored as a local-OCR run writes them (partitions of 13) and as a Gemini run
  does (one file per image); the writability probe a run starts with; the index load of both layouts (the key
  columns of N files; s3fs's listing cache emptied first, as in a new process); look-ups by URL key, SHA-256 and
  look-alike on a freshly unpickled cache (as a worker receives it: each look-up reads its file) and again on
  the same cache (the file held in memory); the client's ``lookup_urls`` of every image at once.
- Warm repeat run (``warm_run``): ``images`` distinct URLs (1,000; --quick 100) on the loopback image server.
  The cache is filled once, cheaply: a cold ``parse_images(extractor="gemini")`` against the loopback Gemini
  server with zero latency, cache on local disk (the run compacts its files at its end). Its files are then
  laid out twice: as the run left them (compacted) and split back into one file per image (as the workers wrote
  them before the compaction), and each layout is copied to the bucket. The warm run re-signs every URL
  (``?oh=a`` -> ``b``, dropped by URL cleaning): all level-1 hits, answered on the client without a cluster.
"""

from __future__ import annotations

import io
import os
import pickle
import posixpath
import shutil
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import fsspec
import numpy as np

from daskparse.cache import ResultCache, cache_stats
from daskparse.cache.files import check_writable, list_files, read_table, write_table
from daskparse.cache.keys import LAYOUT, is_part, partition_name
from daskparse.outcome import Outcome
from daskparse.testing.s3_server import MotoServer, moto_server
from daskparse.usage import Usage

from bench.cache import REFERENCE, _distinct_images

PARTITION = 13  # images per cache file in a 20-thread local-OCR run of 1,000 images (as bench/cache.py)


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """``values`` in os.environ (botocore reads the endpoint and credentials there), restored on exit."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def s3fs_instance() -> fsspec.AbstractFileSystem:
    """The s3fs instance the cache uses (fsspec caches one per set of options)."""
    return fsspec.filesystem("s3")


def forget_listings() -> None:
    """Empty s3fs's listing cache: each measured index load lists the bucket, as a new process does."""
    s3fs_instance().invalidate_cache()


def summary(seconds: list[float]) -> dict:
    """Median and p95 in milliseconds, and the count."""
    return {"median_ms": round(1000 * statistics.median(seconds), 3),
            "p95_ms": round(1000 * float(np.percentile(seconds, 95)), 3), "n": len(seconds)}


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# --- operations ------------------------------------------------------------------------------------------


def _fingerprints(count: int = 20) -> list:
    """Optimized generated flyers: their pHash and thumbnail make the stored rows as large as a run's."""
    from daskparse.optimize import optimize_image
    from daskparse.testing.flyers import make_flyer

    images = []
    for seed in range(count):
        buffer = io.BytesIO()
        make_flyer(seed, reference_date=REFERENCE, photo=seed % 3 == 0).image.save(buffer, "JPEG", quality=90)
        images.append(optimize_image(buffer.getvalue()))
    return images


def _outcomes(images: int, fingerprints: list) -> list[Outcome]:
    from daskparse.testing.flyers import make_flyer

    shows = [make_flyer(seed, reference_date=REFERENCE).shows for seed in range(len(fingerprints))]
    outcomes = []
    for i in range(images):
        image = fingerprints[i % len(fingerprints)]
        url = f"https://cdn.example.org/p/{i}.jpg"
        outcomes.append(Outcome(url, url, shows=shows[i % len(shows)], usage=Usage(requests=1), extractor="gemini",
                                image_sha256=f"{i:064x}", phash=image.phash, thumbnail=image.thumbnail))
    return outcomes


class Counted:
    """Per-operation times and S3 request counts, by (operation, location)."""

    def __init__(self, server: MotoServer):
        self.server = server
        self.seconds: dict[tuple[str, str], list[float]] = {}
        self.requests: dict[tuple[str, str], dict[str, int]] = {}

    def measure(self, operation: str, location: str, calls: list[Callable[[], object]],
                before_each: Callable[[], None] | None = None) -> None:
        mark = self.server.log_mark()
        seconds = self.seconds.setdefault((operation, location), [])
        for call in calls:
            if before_each is not None:
                before_each()
            seconds.append(timed(call))
        if location == "s3":
            counts = self.server.request_counts(mark)
            total = self.requests.setdefault((operation, location), {})
            for method, n in counts.items():
                total[method] = total.get(method, 0) + n
            total["calls"] = total.get("calls", 0) + len(calls)

    def rows(self) -> list[dict]:
        rows = []
        for operation in dict.fromkeys(op for op, _ in self.seconds):
            local, s3 = summary(self.seconds[(operation, "local")]), summary(self.seconds[(operation, "s3")])
            requests = self.requests.get((operation, "s3"), {})
            per_call = round(requests.get("total", 0) / requests["calls"], 1) if requests.get("calls") else None
            rows.append({"operation": operation, "n": s3["n"],
                         "local_median_ms": local["median_ms"], "local_p95_ms": local["p95_ms"],
                         "s3_median_ms": s3["median_ms"], "s3_p95_ms": s3["p95_ms"],
                         "ratio_median": round(s3["median_ms"] / local["median_ms"], 1) if local["median_ms"] else None,
                         "s3_requests_per_call": per_call})
        return rows


def operations(server: MotoServer, tmp: str, bucket: str, images: int, rounds: int) -> dict:
    """Store, index load and look-ups on local disk and on the bucket; see the module's docstring."""
    fingerprints = _fingerprints()
    outcomes = _outcomes(images, fingerprints)
    roots = {"local": os.path.join(tmp, "ops"), "s3": f"s3://{bucket}/ops"}
    counted = Counted(server)

    # store: a local-OCR run's partitions, then a Gemini run's one file per image, location after location
    caches = {(loc, layout): ResultCache(root, variant=layout)
              for loc, root in roots.items() for layout in ("parts13", "perimage")}
    chunks = [outcomes[i:i + PARTITION] for i in range(0, images, PARTITION)]
    for loc in roots:
        counted.measure(f"store a partition of {PARTITION}", loc,
                        [lambda c=chunk, cache=caches[(loc, "parts13")]: cache.store_partition(c) for chunk in chunks])
    for loc in roots:
        counted.measure("store one image (Gemini run)", loc,
                        [lambda o=outcome, cache=caches[(loc, "perimage")]: cache.store_partition([o])
                         for outcome in outcomes])
    for loc in roots:
        fs = caches[(loc, "parts13")].fs
        folder = posixpath.join(caches[(loc, "parts13")].folder, "probe")
        counted.measure("writability probe (run start)", loc,
                        [lambda: check_writable(fs, folder, "bench") for _ in range(rounds * 3)])

    # index load: the key columns of every file, listing included
    files = {}
    for layout in ("parts13", "perimage"):
        files[layout] = len([p for p in list_files(caches[("local", layout)].fs, caches[("local", layout)].folder)
                             if is_part(posixpath.basename(p))])
        for _ in range(rounds):
            for loc in roots:
                cache = caches[(loc, layout)]
                counted.measure(f"load index, {files[layout]} files", loc,
                                [lambda c=cache: c.load_index(check_writable=False, auto_prune=False)],
                                before_each=forget_listings)

    # look-ups on the parts13 layout: a sample spread over every file
    sample = list(range(0, images, max(1, images // 100)))
    loaded = {loc: caches[(loc, "parts13")].load_index(check_writable=False, auto_prune=False) for loc in roots}
    probe = fingerprints[0]
    levels: dict[str, Callable[[ResultCache, int], object]] = {
        "url": lambda cache, i: cache.lookup_url(f"https://cdn.example.org/p/{i}.jpg"),
        "sha256": lambda cache, i: cache.lookup_sha256(f"{i:064x}"),
        "look-alike": lambda cache, i: cache.lookup_phash(probe.phash, probe.jpeg),
    }
    found: dict[str, int] = {}
    for level, lookup in levels.items():
        for loc in roots:
            frozen = pickle.dumps(loaded[loc])
            received: dict[str, ResultCache] = {}
            # a worker's first look-up in a file: a freshly unpickled cache holds no file in memory
            counted.measure(f"look-up by {level}, file read", loc,
                            [lambda i=i: lookup(received["cache"], i) for i in sample],
                            before_each=lambda: received.update(cache=pickle.loads(frozen)))
            # the same look-ups once untimed first: every file of the sample is then in memory
            found[f"{level} {loc}"] = sum(lookup(loaded[loc], i) is not None for i in sample)
            counted.measure(f"look-up by {level}, file in memory", loc,
                            [lambda i=i: lookup(loaded[loc], i) for i in sample])
    urls = [f"https://cdn.example.org/p/{i}.jpg" for i in range(images)]
    for _ in range(rounds):
        for loc in roots:
            frozen = pickle.dumps(loaded[loc])
            counted.measure(f"lookup_urls of all {images} (client, run start)", loc,
                            [lambda f=frozen: pickle.loads(f).lookup_urls(urls)])
    return {"images": images, "files": files, "lookup_sample": len(sample), "hits_in_sample": found,
            "rows": counted.rows(),
            "seconds": {f"{op} | {loc}": [round(s, 5) for s in v] for (op, loc), v in counted.seconds.items()},
            "requests": {f"{op} | {loc}": v for (op, loc), v in counted.requests.items()}}


# --- warm repeat run -------------------------------------------------------------------------------------


def _variant_folder(root: str) -> str:
    (variant, _), = cache_stats(root)["variants"].items()
    return posixpath.join(root, LAYOUT, variant)


def split_per_image(compacted: str, split: str) -> int:
    """A copy of the cache at ``compacted`` with every entry in a file of its own (as a Gemini run's workers write
    them, before the run's compaction); returns the file count."""
    shutil.copytree(compacted, split)
    fs = fsspec.filesystem("file")
    folder = _variant_folder(split)
    count = 0
    for path in list_files(fs, folder):
        if not is_part(posixpath.basename(path)):
            continue
        table = read_table(fs, path)
        assert table is not None, path
        fs.rm(path)
        for row in range(len(table)):
            one = table.slice(row, 1)
            name = partition_name([one["cleaned_url"][0].as_py()]) + ".parquet"
            write_table(fs, folder, name, one, int(time.time() * 1000))
            count += 1
    return count


def warm_run(server: MotoServer, tmp: str, bucket: str, images: int, rounds: int) -> dict:
    """Fill the cache once (cold, local, loopback Gemini with zero latency), then time warm runs local vs S3."""
    import daskparse
    from bench.loopback import API_KEY, loopback_server
    from daskparse.cluster import environ_restored
    from daskparse.testing.image_server import ImageServer

    compacted, split = os.path.join(tmp, "warm-compacted"), os.path.join(tmp, "warm-split")
    with ImageServer() as images_server:
        for i, data in enumerate(_distinct_images(images)):
            images_server.add(f"/f/{i}.jpg", data)

        def parse(cache: str, signature: str) -> dict:
            sources = [images_server.url(f"/f/{i}.jpg") + f"?oh={signature}" for i in range(images)]
            with loopback_server((0.0, 0.0)) as gemini, environ_restored():
                mark = server.log_mark()
                started = time.perf_counter()
                result = daskparse.parse_images(sources, extractor="gemini", gemini_api_key=API_KEY,
                                                gemini_base_url=gemini.base_url, gemini_api_version="v1beta",
                                                cache=cache, reference_date=REFERENCE,
                                                allow_private_hosts=True)  # the image server is on 127.0.0.1
                wall = time.perf_counter() - started
                log = gemini.finish()
            stats = result.stats
            return {"wall_s": round(wall, 3), "images_per_min": round(60 * images / wall),
                    "parse_wall_s": stats["wallSeconds"], "gemini_calls": len(log.arrivals),
                    "cacheHits": stats["cacheHits"], "cacheHitsByLevel": stats["cacheHitsByLevel"],
                    "errors": int(stats["errors"]), "shows": int(stats["shows"]),
                    "s3_requests": server.request_counts(mark)}

        cold = parse(compacted, "a")
        compacted_files = cache_stats(compacted)["files"]
        split_files = split_per_image(compacted, split)
        s3 = s3fs_instance()
        for name, local in (("compacted", compacted), ("split", split)):
            s3.put(local, f"{bucket}/warm-{name}", recursive=True)
        forget_listings()
        caches = {("local", "split"): split, ("s3", "split"): f"s3://{bucket}/warm-split",
                  ("local", "compacted"): compacted, ("s3", "compacted"): f"s3://{bucket}/warm-compacted"}
        assert cache_stats(caches[("s3", "split")])["files"] == split_files, "the copy to the bucket is incomplete"
        runs: dict[str, list[dict]] = {}
        for _ in range(rounds):
            for (loc, layout), cache in caches.items():
                forget_listings()  # a new process lists the bucket: no listing left from the round before
                runs.setdefault(f"{loc} | {layout}", []).append(parse(cache, "b"))
    return {"images": images, "fill": cold, "files": {"compacted": compacted_files, "split": split_files},
            "runs": runs}


def _median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def run(quick: bool) -> dict:
    images_ops, images_warm, rounds = (200, 100, 3) if quick else (1000, 1000, 5)
    warm_rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp, \
            moto_server(Path(tmp) / "moto") as server, environ(server.env):
        fsspec.filesystem("s3").clear_instance_cache()  # an instance made before holds another endpoint
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        s3fs_instance().mkdir(bucket)
        ops = operations(server, tmp, bucket, images_ops, rounds)
        warm = warm_run(server, tmp, bucket, images_warm, warm_rounds)
    rows = list(ops["rows"])
    for layout in ("split", "compacted"):
        local, s3 = _median_run(warm["runs"][f"local | {layout}"]), _median_run(warm["runs"][f"s3 | {layout}"])
        files = warm["files"][layout]
        rows.append({"operation": f"warm run of {warm['images']:,} images, {files} files",
                     "n": len(warm["runs"][f"s3 | {layout}"]),
                     "local_median_ms": round(1000 * local["wall_s"]), "s3_median_ms": round(1000 * s3["wall_s"]),
                     "ratio_median": round(s3["wall_s"] / local["wall_s"], 1),
                     "s3_requests_per_call": s3["s3_requests"]["total"]})
    fill = warm["fill"]
    notes = [f"operations on {ops['images']} stored images; files: {ops['files']}; look-ups on a sample of "
             f"{ops['lookup_sample']} keys spread over every file; hits in the sample: {ops['hits_in_sample']}",
             "'file read': the look-up on a freshly unpickled cache (as a worker receives it), so it reads its file; "
             "'file in memory': the same cache again; index loads and warm runs start with s3fs's listing cache "
             "emptied (as a new process)",
             f"cache filled by a cold parse_images(extractor='gemini') against the loopback Gemini server with zero "
             f"latency, cache on local disk: {fill['wall_s']} s, {fill['gemini_calls']} calls, {fill['errors']} "
             f"errors; then copied to the bucket, compacted ({warm['files']['compacted']} files, as the run left it) "
             f"and split back into one file per image ({warm['files']['split']} files)"]
    for key, runs in warm["runs"].items():
        median = _median_run(runs)
        notes.append(f"warm {key}: wall {[r['wall_s'] for r in runs]} s; median {median['images_per_min']:,} "
                     f"images/min; hits {median['cacheHits']} {median['cacheHitsByLevel']}; "
                     f"{median['gemini_calls']} Gemini calls; S3 requests {median['s3_requests']}")
    return {"rows": rows, "notes": notes, "operations": ops, "warm_run": warm}
