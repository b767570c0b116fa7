"""The invariant at scale (issue 7): every distinct source ends exactly once as shows, no-shows or an error row.

For each size (1,000 and 5,000 sources; --quick: 200 and 1,000), one ``daskparse.parse_images(extractor="gemini")``
call as a user makes it (no client: it starts and closes its own 2 x 10 LocalCluster, counted in the wall time):

- sources: tiny distinct JPEGs on the loopback image server (``ImageServer``, in this process), and 5% hostile
  or broken inputs (at least one of each kind in ``HOSTILE``), each of which must become one error row of its
  stable kind (README's "Error kinds"). Malformed lines come through a ``.txt`` source list that also repeats
  some good URLs, and a few good URLs are given twice: exact duplicates must not be counted twice.
- Gemini: the loopback server in its own process (``bench.loopback.loopback_server``), small lognormal latency,
  ~5% of requests drawn as random faults over ``GEMINI_FAULTS``; the gate's rpm set so high it never binds.
- memory: this process's peak RSS (VmHWM, reset at the start of each run; it holds the client, the scheduler,
  the nannies and the image server) and each worker process's (its VmHWM, polled from /proc while it lives),
  plus the peak of their sum (sampled). Target: peak flat from the small to the large size, under 1.5 GB.
- checks: every distinct source exactly once in ``outcomes``; an ``errors`` row for every error outcome and none
  for the others; each hostile input's kind as expected; good images may only fail with a ``gemini.*`` kind (a
  fault that is not retried: 400, SAFETY, blocked); images fetched twice, or answered twice by Gemini, are
  counted (work done twice, e.g. a task recomputed after a lost worker).
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import random
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SIZES, QUICK_SIZES = (1000, 5000), (200, 1000)
HOSTILE_SHARE = 0.05
DUPLICATE_SHARE = 0.005  # good URLs given a second time, exactly
LIST_REPEATS = 10  # good URLs named again inside the .txt source list
SEED = 7
REFERENCE_DATE = dt.date(2026, 11, 1)
LATENCY = (0.1, 0.3)  # lognormal median 0.1 s: the CPU, not the latency, sets the pace
GATE_RPM = 100_000  # never binds: the gate's own behaviour is bench/rate_gate's subject
TIMEOUT_S, MAX_RETRIES = 10, 3
HANG_S = 1200  # a run longer than this dumps every thread's stack to stderr: a hang is a finding
MEMORY_LIMIT_MB = 1500
FLAT_RATIO = 1.2  # "flat": the large run's peak at most this much above the small run's
SAMPLE_S = 0.1

# ~5% of Gemini requests get a random fault. Left out: "daily_quota" (a spent daily quota ends every call for
# the rest of the run: a different test) and "permission" (a 403 means a bad key, which stops the run by design).
GEMINI_FAULTS = ("internal", "unavailable", "deadline", "invalid", "rate_limit", "exhausted", "slow", "drop",
                 "reset", "malformed_json", "max_tokens", "safety", "blocked")
FAULT_SHARE = 0.05
FAULT_RATES = {kind: FAULT_SHARE / len(GEMINI_FAULTS) for kind in GEMINI_FAULTS}

# hostile input -> the error kind it must end as (README.md, "Error kinds")
HOSTILE = {
    "http 404": "fetch.not_found",
    "http 410": "fetch.not_found",
    "http 500": "fetch.server_error",
    "html page": "decode.not_an_image",
    "text file": "decode.not_an_image",
    "0 bytes": "decode.not_an_image",
    "truncated jpeg": "decode.corrupt",
    "corrupt png": "decode.corrupt",
    "svg": "decode.unsupported_format",
    "pixel bomb 30000x30000": "decode.too_many_pixels",
    "endless download": "fetch.too_large",
    "trickling server": "fetch.timeout",
    "redirect loop": "fetch.too_many_redirects",
    "ftp: url": "inputs.unsupported_scheme",
    "javascript: url": "inputs.unsupported_scheme",
    "malformed list line": "inputs.invalid_source",
    # issue 12: headers trickled byte by byte, a redirect out of http(s), files of a few bytes declaring
    # gigabytes of pixels (daskparse.testing.hostile_images; bench/hostile measures their cost to a run)
    "headers trickled": "fetch.timeout",
    "redirect to ftp:": "fetch.bad_redirect",
    **{f"bomb {name}": "decode.too_many_pixels" for name in ("animated.webp", "animated.apng", "screen.gif",
                                                             "rgba-42mp.png", "progressive.jpg")},
}


# ------------------------------------------------------------------ inputs

def _png_header_only(width: int, height: int) -> bytes:
    """A ~100-byte PNG declaring ``width`` x ``height``: a decompression bomb if anything allocates it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def _broken_images() -> dict[str, bytes]:
    import io

    from PIL import Image

    noise = Image.effect_noise((400, 300), 64).convert("RGB")
    jpeg, png = io.BytesIO(), io.BytesIO()
    noise.save(jpeg, "JPEG", quality=90)
    noise.save(png, "PNG")
    corrupt = bytearray(png.getvalue())
    corrupt[len(corrupt) // 2] ^= 0xFF  # one flipped byte inside the compressed pixels
    return {"truncated": jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "corrupt_png": bytes(corrupt),
            "bomb": _png_header_only(30000, 30000)}


def _hostile_source(name: str, index: int, server, broken: dict[str, bytes]) -> str:
    """One distinct source of kind ``name`` (routes are per index: each is its own distinct source)."""
    path = f"/bad/{index}"
    if name == "http 404":
        return server.url(f"{path}/missing.jpg")  # nothing registered: the server's 404
    if name == "http 410":
        return server.add(f"{path}.jpg", b"gone", status=410, content_type="text/plain")
    if name == "http 500":
        return server.add(f"{path}.jpg", b"oops", status=500, content_type="text/plain")
    if name == "html page":
        return server.add(f"{path}.jpg", b"<!DOCTYPE html><html><body>Log in to see this photo</body></html>",
                          content_type="text/html")
    if name == "text file":
        return server.add(f"{path}.jpg", b"Karaoke Thursday 9PM at the Rusty Anchor", content_type="text/plain")
    if name == "0 bytes":
        return server.add(f"{path}.jpg", b"", content_type="image/jpeg")
    if name == "truncated jpeg":
        return server.add(f"{path}.jpg", broken["truncated"], content_type="image/jpeg")
    if name == "corrupt png":
        return server.add(f"{path}.png", broken["corrupt_png"], content_type="image/png")
    if name == "svg":
        return server.add(f"{path}.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                          content_type="image/svg+xml")
    if name == "pixel bomb 30000x30000":
        return server.add(f"{path}.png", broken["bomb"], content_type="image/png")
    if name == "endless download":
        # a JPEG signature first: a body that is no image is refused on its first bytes, before any size limit
        return server.add(f"{path}.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 65532, content_type="image/jpeg", endless=True)
    if name == "trickling server":
        # 64 KiB at 1 KiB/s: over the 30 s whole-fetch deadline, a chunk arriving every second (no socket
        # timeout): cut off at the deadline (bench/hostile times it alone)
        return server.add(f"{path}.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 65532, content_type="image/jpeg",
                          trickle_seconds=1.0)
    if name == "headers trickled":
        return server.add(f"{path}.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 1024, content_type="image/jpeg",
                          trickle_head_seconds=1.0)
    if name == "redirect to ftp:":
        return server.add(f"{path}.jpg", b"", status=302, headers=(("Location", f"ftp://127.0.0.1:21/{index}.jpg"),))
    if name.startswith("bomb "):
        from daskparse.testing.hostile_images import HOSTILE_IMAGES

        return server.add(f"{path}/{name[5:]}", HOSTILE_IMAGES[name[5:]]())
    if name == "redirect loop":
        return server.url(f"/loop?n={index}")  # /loop redirects to itself; the query keeps the source distinct
    if name == "ftp: url":
        return f"ftp://127.0.0.1:21/flyers/{index}.jpg"  # refused by daskparse.sources: never fetched
    if name == "javascript: url":
        return f"javascript:alert({index})"
    if name == "malformed list line":  # whitespace inside, or an http URL with no host, by turns
        return f"flyer {index} tonight.jpg" if index // len(HOSTILE) % 2 == 0 else f"http:///no-host/{index}.jpg"
    raise ValueError(name)


@dataclass
class Plan:
    sources: list[str]  # what parse_images is given
    good: list[str]  # distinct good image URLs
    hostile: dict[str, tuple[str, str]] = field(default_factory=dict)  # source -> (hostile name, expected kind)
    entries: int = 0  # entries as given, list lines included, duplicates included

    @property
    def distinct(self) -> set[str]:
        return set(self.good) | set(self.hostile)


def build_sources(count: int, server, folder: Path) -> Plan:
    """``count`` distinct sources, 5% of them hostile (at least one of each kind), served by ``server``."""
    from bench.rate_gate import tiny_jpegs

    hostile_count = max(len(HOSTILE), round(HOSTILE_SHARE * count))
    good_count = count - hostile_count
    good = []
    for index, path in enumerate(tiny_jpegs(good_count, folder / "jpegs")):
        good.append(server.add(f"/img/{index}.jpg", Path(path).read_bytes(), content_type="image/jpeg"))
    plan = Plan(sources=[], good=good)
    broken = _broken_images()
    names = list(HOSTILE)
    list_lines = []
    for index in range(hostile_count):
        name = names[index % len(names)]
        source = _hostile_source(name, index, server, broken)
        plan.hostile[source] = (name, HOSTILE[name])
        (list_lines if name == "malformed list line" else plan.sources).append(source)
    rng = random.Random(SEED)
    duplicates = rng.sample(good, max(1, round(DUPLICATE_SHARE * count)))
    plan.sources += good + duplicates
    rng.shuffle(plan.sources)  # hostile inputs spread through the run, not bunched at one end
    list_lines += rng.sample(good, LIST_REPEATS)  # named directly too: the same source, once
    rng.shuffle(list_lines)
    listing = folder / "scraped-links.txt"
    listing.write_text("# links scraped from a group\n" + "\n".join(list_lines) + "\n", encoding="utf-8")
    plan.sources.append(str(listing))
    plan.entries = len(plan.sources) - 1 + len(list_lines)
    return plan


# ------------------------------------------------------------------ memory

def _status_kb(pid: int | str, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class MemorySampler:
    """This process's peak RSS over a run, each new child process's, and the peak of their sum.

    This process: VmHWM, reset at the start (``clear_refs`` 5), read at the end. Children (the workers the
    nannies spawn) live only as long as the run's cluster, so their VmHWM is polled while they live: the last
    reading misses at most ``SAMPLE_S`` before the process exits. Children that were there before the run (the
    Gemini server) and multiprocessing's resource tracker are not counted.
    """

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self._before = {child.pid for child in self._me.children(recursive=True)}
        self.children: dict[int, int] = {}  # pid -> peak kB
        self._skipped: set[int] = set()
        self.peak_total_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def __enter__(self) -> "MemorySampler":
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.reset = True
        except OSError:
            self.reset = False  # then VmHWM is the process's lifetime peak: an upper bound
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.own_kb = _status_kb("self", "VmHWM")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_S)

    def _sample(self) -> None:
        import psutil

        total = _status_kb("self", "VmRSS") or 0
        try:
            children = self._me.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            pid = child.pid
            if pid in self._before or pid in self._skipped:
                continue
            if pid not in self.children:
                try:
                    if "resource_tracker" in " ".join(child.cmdline()):
                        self._skipped.add(pid)
                        continue
                except psutil.Error:
                    continue
            peak, rss = _status_kb(pid, "VmHWM"), _status_kb(pid, "VmRSS")
            if peak is not None:
                self.children[pid] = max(self.children.get(pid, 0), peak)
            total += rss or 0
        self.peak_total_kb = max(self.peak_total_kb, total)

    def summary(self) -> dict:
        workers = sorted(self.children.values(), reverse=True)
        return {"client_peak_mb": _mb(self.own_kb), "client_peak_reset": self.reset,
                "worker_processes": len(workers), "worker_peaks_mb": [_mb(kb) for kb in workers],
                "sum_of_peaks_mb": _mb((self.own_kb or 0) + sum(workers)),
                "sampled_peak_total_mb": _mb(self.peak_total_kb)}


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# ------------------------------------------------------------------ the run and its checks

def check(plan: Plan, result) -> dict:
    """The invariant and the hostile inputs' kinds; ``violations`` lists every breach (empty when it holds)."""
    outcomes, errors = result.outcomes, result.errors
    distinct = plan.distinct
    seen = Counter(outcomes["source"])
    statuses = Counter(outcomes["status"])
    error_rows = Counter(errors["source"])
    errored = set(outcomes.loc[outcomes["status"] == "error", "source"])
    kind_of = dict(zip(errors["source"], errors["kind"]))
    violations = []

    def breach(what: str, items) -> None:
        items = sorted(items, key=str)
        if items:
            violations.append(f"{what}: {len(items)} (e.g. {items[:3]})")

    breach("sources lost (no outcome)", distinct - set(seen))
    breach("sources with more than one outcome", [(s, n) for s, n in seen.items() if n > 1])
    breach("outcomes for sources never given", set(seen) - distinct)
    breach("outcomes of another status", [s for s in statuses if s not in ("shows", "no_shows", "error")])
    breach("error outcomes without an error row", errored - set(error_rows))
    breach("error rows without an error outcome", set(error_rows) - errored)
    breach("sources with more than one error row", [(s, n) for s, n in error_rows.items() if n > 1])
    breach("hostile inputs not an error", [s for s in plan.hostile if s not in errored])
    wrong_kind = [(s, want, kind_of.get(s)) for s, (_, want) in plan.hostile.items()
                  if s in kind_of and kind_of[s] != want]
    breach("hostile inputs of the wrong kind", wrong_kind)
    good_errors = Counter(kind_of[s] for s in plan.good if s in kind_of)
    breach("good images failing with a non-Gemini kind", [k for k in good_errors if not k.startswith("gemini.")])
    by_name: dict[str, Counter] = {}
    for source, (name, _) in plan.hostile.items():
        by_name.setdefault(name, Counter())[kind_of.get(source, "(no error row)")] += 1
    stats = result.stats
    if stats.get("totalImages") != len(distinct):
        violations.append(f"stats totalImages {stats.get('totalImages')} != {len(distinct)} distinct sources")
    return {"violations": violations, "statuses": dict(statuses), "outcome_rows": len(outcomes),
            "error_rows": len(errors), "hostile_kinds": {n: dict(c) for n, c in by_name.items()},
            "good_image_error_kinds": dict(good_errors), "error_kinds": dict(Counter(errors["kind"]))}


def stress_run(count: int) -> dict:
    import daskparse
    from bench.loopback import API_KEY, loopback_server
    from daskparse.cluster import environ_restored
    from daskparse.testing.image_server import ImageServer

    with tempfile.TemporaryDirectory(prefix="stress-bench-") as tmp, ImageServer() as images:
        plan = build_sources(count, images, Path(tmp))
        with loopback_server(LATENCY, fault_rates=FAULT_RATES) as gemini, environ_restored():
            faulthandler.dump_traceback_later(HANG_S, exit=False, file=sys.stderr)
            try:
                with MemorySampler() as memory:
                    started = time.perf_counter()
                    result = daskparse.parse_images(
                        plan.sources, extractor="gemini", gemini_api_key=API_KEY, gemini_base_url=gemini.base_url,
                        gemini_api_version="v1beta", allow_private_hosts=True,  # the image server is on 127.0.0.1
                        use_cache=False, timeout=TIMEOUT_S, max_retries=MAX_RETRIES, rpm=GATE_RPM,
                        reference_date=REFERENCE_DATE)
                    wall = time.perf_counter() - started
            finally:
                faulthandler.cancel_dump_traceback_later()
            log = gemini.finish()
        hits = dict(images.hits)
    generate = log.arrivals  # generateContent requests only
    answered = Counter(sha for _, status, outcome, sha in generate if status == 200 and outcome in ("ok", None))
    faults = Counter(outcome for _, _, outcome, _ in generate if outcome in FAULT_RATES)
    fetched_twice = sum(1 for path, n in hits.items() if path.startswith("/img/") and n > 1)
    return {
        "sources": len(plan.distinct), "entries_given": plan.entries, "good": len(plan.good),
        "hostile": len(plan.hostile), "wall_s": round(wall, 1), "parse_wall_s": result.stats.get("wallSeconds"),
        "memory": memory.summary(),
        "gemini": {"requests": len(generate), "faults": sum(faults.values()),
                   "fault_share": round(sum(faults.values()) / max(1, len(generate)), 4),
                   "faults_by_kind": dict(sorted(faults.items())),
                   "images_answered_twice": sum(1 for n in answered.values() if n > 1)},
        "good_images_fetched_twice": fetched_twice,
        "check": check(plan, result),
        "stats": {k: result.stats.get(k) for k in ("totalImages", "imagesWithShows", "imagesWithoutShows", "errors",
                                                    "shows", "errorKinds")},
    }


def run(quick: bool) -> dict:
    runs = [stress_run(count) for count in (QUICK_SIZES if quick else SIZES)]
    rows = []
    for r in runs:
        memory, check_ = r["memory"], r["check"]
        rows.append({
            "sources": r["sources"], "hostile": r["hostile"], "wall_s": r["wall_s"],
            "client_peak_mb": memory["client_peak_mb"],
            "worker_peaks_mb": "/".join(str(p) for p in memory["worker_peaks_mb"]),
            "peak_total_mb": memory["sampled_peak_total_mb"], "sum_of_peaks_mb": memory["sum_of_peaks_mb"],
            "gemini_requests": r["gemini"]["requests"], "gemini_faults": r["gemini"]["faults"],
            "error_rows": check_["error_rows"],
            "invariant": "met" if not check_["violations"] else "MISSED",
        })
    small, large = runs[0]["memory"], runs[-1]["memory"]
    ratio = round(large["sum_of_peaks_mb"] / small["sum_of_peaks_mb"], 2)
    sampled_ratio = round(large["sampled_peak_total_mb"] / small["sampled_peak_total_mb"], 2)
    memory_met = ratio <= FLAT_RATIO and large["sum_of_peaks_mb"] < MEMORY_LIMIT_MB
    notes = [f"peak memory {runs[-1]['sources']:,} / {runs[0]['sources']:,} sources: {ratio}x (sum of per-process "
             f"peaks; sampled peak of the sum {sampled_ratio}x); largest {large['sum_of_peaks_mb']} MB; target flat "
             f"(<= {FLAT_RATIO}x) and < {MEMORY_LIMIT_MB} MB: {'met' if memory_met else 'MISSED'}"]
    for r in runs:
        violations = r["check"]["violations"]
        notes.append(f"{r['sources']:,} sources: invariant {'met' if not violations else 'MISSED: ' + '; '.join(violations)}")
        notes.append(f"  statuses {r['check']['statuses']}; {r['entries_given']:,} entries given (duplicates and "
                     f"list lines included); {r['memory']['worker_processes']} worker processes seen")
        notes.append("  hostile kinds: " + "; ".join(f"{name}: {kinds}" for name, kinds in r["check"]["hostile_kinds"].items()))
        notes.append(f"  good images' error kinds: {r['check']['good_image_error_kinds']}; Gemini faults served: "
                     f"{r['gemini']['faults_by_kind']} ({100 * r['gemini']['fault_share']:.1f}% of requests)")
        notes.append(f"  work done twice: {r['good_images_fetched_twice']} good images fetched twice, "
                     f"{r['gemini']['images_answered_twice']} answered twice by Gemini")
    notes.append(f"parse_images(extractor='gemini') with no client (its own 2x10 LocalCluster, counted in wall_s); "
                 f"Gemini loopback in its own process, lognormal latency median {LATENCY[0]} s sigma {LATENCY[1]}, "
                 f"{100 * FAULT_SHARE:.0f}% random faults over {', '.join(GEMINI_FAULTS)}; timeout {TIMEOUT_S} s, "
                 f"max_retries {MAX_RETRIES}, gate rpm {GATE_RPM:,}; client_peak_mb is this process (client, "
                 f"scheduler, nannies, image server)")
    return {"rows": rows, "notes": notes, "runs": runs, "peak_ratio": ratio, "sampled_peak_ratio": sampled_ratio,
            "memory_target": "met" if memory_met else "MISSED"}
