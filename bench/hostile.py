"""Hostile sources (issue 12): what they add to a run's peak memory, and how long each takes to end.

Two ``daskparse.parse_images`` runs as a user makes them (local extractor, no client: each starts and closes its
own default 2 x 10 LocalCluster; no cache), on the same sample flyers served by the loopback image server:

- **without**: the flyers alone;
- **with**: the flyers and every hostile image and download below.

Hostile sources (everything on 127.0.0.1; nothing is forwarded anywhere):
- decoder bombs of a few bytes (``daskparse.testing.hostile_images``): an animated WebP and an APNG on a
  9400x9400 canvas, a GIF whose logical screen is 9400x9400, a 42 MP RGBA PNG, ...;
- hostile downloads: a 302 carrying a 120 MB body, a 302 whose gzip body inflates to 150 MB, headers trickled
  one byte per 0.4 s, a body trickled 1 KiB per 0.3 s, three redirects each answered after 1.5 s;
- a scraped source list whose lines must be refused without a connection: ``simplecache::`` and ``blockcache::``
  chains to the image server, ``/``, ``../``, ``~``, ``**`` globs, ``local://`` (``github://`` only in the tests,
  which prove no file system is even created for it). It is expanded on
  its own, untrusted (``expand_sources``): the runs allow private hosts (the image server is on 127.0.0.1), and
  that flag also trusts lists, which would walk ``/``.

Memory: ``bench.stress.MemorySampler`` (this process: client, scheduler, nannies, image server; and each
worker process). Target: the hostile sources add at most 100 MB to the run's peak (sum of per-process peaks).
Time: each hostile source alone through ``pipeline.process_source`` in this process, one after another: the
seconds until its outcome, and the outcome's kind. The whole-fetch deadline is ``READ_TIMEOUT_S`` in both.
"""

from __future__ import annotations

import gzip
import io
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLYERS = sorted((ROOT / "data" / "flyers").glob("*.jpg"))
FLYER_COUNT, QUICK_FLYER_COUNT = 6, 2
READ_TIMEOUT_S = 5.0
TARGET_ADDED_MB = 100
MIB = 1 << 20


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def hostile_sources(server, folder: Path) -> dict[str, str]:
    """name -> source, served by ``server``; the list lines are written to a list in ``folder``."""
    from daskparse.testing.hostile_images import HOSTILE_IMAGES

    sources = {f"bomb: {name}": server.add(f"/bomb/{name}", build()) for name, build in HOSTILE_IMAGES.items()}
    server.add("/small.jpg", _jpeg(), content_type="image/jpeg")  # where the redirects point
    moved = (("Location", "/small.jpg"),)
    sources["302 with a 120 MB body"] = server.add("/big-redirect", b"r" * MIB, repeat=120, status=302, headers=moved)
    sources["302 with a gzip body of 150 MB inflated"] = server.add(
        "/gzip-redirect", gzip.compress(b"\0" * MIB, 9), repeat=150, status=302,
        headers=moved + (("Content-Encoding", "gzip"),))
    sources["headers trickled"] = server.add("/stall.jpg", _jpeg(), content_type="image/jpeg", trickle_head_seconds=0.4)
    sources["body trickled"] = server.add("/slow.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 65532, content_type="image/jpeg",
                                          trickle_seconds=0.3)
    for hop in range(3):
        server.add(f"/hop/{hop}", b"", status=302, delay_seconds=1.5,
                   headers=(("Location", f"/hop/{hop + 1}" if hop < 2 else "/small.jpg"),))
    sources["three slow hops"] = server.url("/hop/0")
    base = server.url("/small.jpg")
    lines = {"list: simplecache:: chain": f"simplecache::{base}", "list: blockcache:: chain": f"blockcache::{base}",
             "list: /": "/", "list: ../": "../outside.jpg", "list: ~": "~/.ssh/id_rsa", "list: ** glob": "**/*.jpg",
             "list: local://": "local:///etc/passwd"}  # no github:// here: code that followed it would leave loopback
    listing = folder / "scraped.txt"
    listing.write_text("\n".join(lines.values()) + "\n")
    sources.update({name: line for name, line in lines.items()})
    sources["list"] = str(listing)
    return sources


def _run(sources: list[str]) -> tuple[dict, object, float]:
    import daskparse
    from bench.stress import MemorySampler

    with MemorySampler() as memory:
        started = time.perf_counter()
        result = daskparse.parse_images(sources, extractor="local", allow_private_hosts=True, use_cache=False,
                                        read_timeout=READ_TIMEOUT_S, reference_date="2026-11-01")
        wall = time.perf_counter() - started
    return memory.summary(), result, wall


def _time_each(hostile: dict[str, str]) -> list[dict]:
    """Each hostile source alone through every stage in this process: its kind and seconds to its outcome."""
    from daskparse.extract.local import LocalExtractor
    from daskparse.pipeline import process_source
    from daskparse.settings import load_settings
    from daskparse.sources import expand_sources

    settings = load_settings(extractor="local", allow_private_hosts=True, read_timeout=READ_TIMEOUT_S)
    extractor = LocalExtractor()
    extractor.extract(_jpeg())  # the OCR engine's cold start (~1 s) is not a hostile source's doing
    rows = []
    for name, source in hostile.items():
        if name == "list" or name.startswith("list: "):
            continue
        (item,), _ = expand_sources([source])
        started = time.perf_counter()
        outcome = process_source(item, settings, extractor)
        seconds = time.perf_counter() - started
        error = outcome.error
        rows.append({"source": name, "seconds": round(seconds, 2),
                     "outcome": error.kind if error else f"{len(outcome.shows)} shows"})
    return rows


def run(quick: bool) -> dict:
    from daskparse.cluster import environ_restored
    from daskparse.sources import expand_sources
    from daskparse.testing.image_server import ImageServer

    flyers = FLYERS[: QUICK_FLYER_COUNT if quick else FLYER_COUNT]
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp, ImageServer() as server, environ_restored():
        good = [server.add(f"/flyers/{path.name}", path.read_bytes(), content_type="image/jpeg") for path in flyers]
        hostile = hostile_sources(server, Path(tmp))
        runs = {}
        downloads = [s for name, s in hostile.items() if name != "list" and not name.startswith("list: ")]
        for label, sources in (("without", good), ("with", good + downloads)):
            memory, result, wall = _run(sources)
            kinds = dict(zip(result.errors["source"], result.errors["kind"]))
            runs[label] = {"memory": memory, "wall_s": round(wall, 1), "stats": {
                k: result.stats.get(k) for k in ("totalImages", "imagesWithShows", "errors", "shows", "errorKinds")},
                "good_failed": [s for s in good if s in kinds], "kinds": kinds}
        each = _time_each(hostile)
        started = time.perf_counter()
        found, list_errors = expand_sources([hostile["list"]])  # untrusted, as a scraped list is by default
        list_seconds = time.perf_counter() - started
    list_kinds = {error.source: error.kind for error in list_errors}
    refused = {name: list_kinds.get(line, "(no error row)") for name, line in hostile.items() if name.startswith("list: ")}
    added = round(runs["with"]["memory"]["sum_of_peaks_mb"] - runs["without"]["memory"]["sum_of_peaks_mb"], 1)
    added_sampled = round(runs["with"]["memory"]["sampled_peak_total_mb"]
                          - runs["without"]["memory"]["sampled_peak_total_mb"], 1)
    rows = [{"run": label, "sources": r["stats"]["totalImages"], "wall_s": r["wall_s"],
             "client_peak_mb": r["memory"]["client_peak_mb"],
             "worker_peaks_mb": "/".join(str(p) for p in r["memory"]["worker_peaks_mb"]),
             "sum_of_peaks_mb": r["memory"]["sum_of_peaks_mb"], "sampled_peak_total_mb": r["memory"]["sampled_peak_total_mb"],
             "shows": r["stats"]["shows"], "errors": r["stats"]["errors"]} for label, r in runs.items()]
    met = added <= TARGET_ADDED_MB and not runs["with"]["good_failed"]
    notes = [f"hostile sources added {added} MB to the sum of per-process peaks ({added_sampled} MB to the sampled "
             f"peak of the sum); target <= {TARGET_ADDED_MB} MB with every flyer still read: {'met' if met else 'MISSED'}",
             f"{len(flyers)} sample flyers over http; local extractor; default 2x10 LocalCluster per run; "
             f"read_timeout {READ_TIMEOUT_S} s; no cache",
             f"scraped list expanded in {list_seconds * 1000:.1f} ms, {len(found)} sources; refused lines: "
             + "; ".join(f"{name[6:]}: {kind}" for name, kind in refused.items()),
             "each hostile source alone (seconds to its outcome, kind):"]
    notes += [f"  {row['source']}: {row['seconds']} s, {row['outcome']}" for row in each]
    return {"rows": rows, "notes": notes, "runs": runs, "each": each, "added_mb": added,
            "added_sampled_mb": added_sampled, "refused_list_lines": refused, "target": "met" if met else "MISSED"}
