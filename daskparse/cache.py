"""The result cache: per-image outcomes in Parquet files on any fsspec location, found again three ways.

A source's outcome is looked up, in order, by
1. the MD5 of its cleaned URL (before downloading: a re-signed CDN link is a hit),
2. the SHA-256 of its bytes (before the model: the same file under another URL is a hit),
3. its look-alike (before the model: a repost resized, recompressed, re-encoded or lightly cropped
   is a hit). The optimized image's 64-bit pHash picks candidates within ``phash_distance`` bits; a
   candidate counts only if its stored 128 px thumbnail, aligned for a crop of up to ~8% a side,
   correlates with this image at ``min_similarity`` or more (band-pass, so shared backgrounds and card
   shapes do not count, text does). The hash alone cannot tell a light crop (up to 28 bits away) from
   a distinct flyer of the same layout (10 bits away) on generated flyers; the thumbnail check can.
   It cannot tell a venue's reused design with only the date changed: turn the level off for those.

Layout under the cache URL (the user's cache folder by default, ``settings.default_cache``; ``memory://`` in
tests; no local disk assumed)::

    v1/<variant>/<md5 of the partition's cleaned URLs>.parquet   one file per partition, moved into place
    v1/<variant>/m-<md5 of the merged files' names>.parquet      small files merged by ``compact``
    v1/<variant>/.<name>.<epoch ms>.<random>.tmp                 being written; never read
    v1/.last-prune                                               when the automatic prune last ran

``variant`` is a short hash of everything a result depends on (extractor, model, prompt version,
optimizer settings): a run only sees its own variant, so changing any of them recomputes without a flush.
The index is the key columns of the variant's files (read with column projection, once per run);
an entry is read from its one file when it is looked up (matched by URL key and time stored).

Compaction: a Gemini run writes one file per image, and every file is a round trip for the next run's
index and hits. ``compact`` (at the end of a run, and from ``prune``) merges a variant's small files once
there are ``COMPACT_MIN_FILES`` of them: it reads them whole, drops expired rows, moves the merged file
into place, and only then deletes the sources it read, each only if unchanged since it was listed. A
source that vanished while being read (another compaction took it) aborts that merge, so two at once
never lose an entry (at worst both keep a copy). A reader whose index lists a merged-away file gets a miss.

Time: a result lives ``ttl`` (7 days), a permanent per-image error ``error_ttl`` (1 day); transient errors,
a spent quota and unexpected failures are never stored. Each row keeps when it expires as written, so a
prune needs no settings; a reader with a shorter ttl also ignores older rows. Files only ever appear by a
move, so a reader sees a whole file or none; a file that does not parse is skipped with a warning.
Two runs writing at once write different files (or the same content to the same name).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import posixpath
import re
import threading
import time
import uuid
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from daskparse.errors import RunError
from daskparse.lookalike import decode_gray as _decode_gray
from daskparse.lookalike import hamming as _hamming
from daskparse.lookalike import similarity
from daskparse.lookalike import thumbnail_pixels as _thumbnail_pixels
from daskparse.shows import strip_controls_in
from daskparse.storage import atomic_write

logger = logging.getLogger("daskparse.cache")

LAYOUT = "v1"
DAY = 86400.0
DEFAULT_TTL = 7 * DAY
DEFAULT_ERROR_TTL = 1 * DAY
# Candidate radius in bits and the thumbnail check, from bench/cache.py (100 generated flyers, 233 reposts,
# 4,950 distinct pairs): within 16 bits are 99.1% of reposts (crops reach 28) and 0.6% of distinct pairs
# (the nearest is 10 bits away). Reposts' similarity is >= 0.906, distinct flyers' <= 0.697.
DEFAULT_PHASH_DISTANCE = 16
DEFAULT_MIN_SIMILARITY = 0.85
MAX_CANDIDATES = 3  # thumbnails compared per look-up, nearest hash first (a repost is nearly always the first)
TEMP_MAX_AGE = 3600.0  # a temp file older than this was left by a writer that died
AUTO_PRUNE_EVERY = DAY
_READ_THREADS = 8  # index files are read concurrently: on an object store each is a round trip
_PART_CACHE_SIZE = 128  # part files kept per process for look-ups
_PART_CACHE_ROWS = 16_384  # and at most this many rows (~80 MB of thumbnails): merged files hold hundreds each
# Compaction (see the module docstring). Below this many small files, merging costs more round trips
# (read each, write one, delete each) than it saves a run's index load.
COMPACT_MIN_FILES = 16
COMPACT_SMALL_BYTES = 1 << 20  # a file under this (~200 entries) is small: merged again with newer ones
COMPACT_TARGET_BYTES = 4 << 20  # inputs per merged file (~800 entries): a hit reads its whole file, keep it one GET
_MERGED_PREFIX = "m-"

SCHEMA = pa.schema([
    ("url_md5", pa.string()),
    ("sha256", pa.string()),
    ("phash", pa.uint64()),
    ("stored_at", pa.timestamp("ms", tz="UTC")),
    ("expires_at", pa.timestamp("ms", tz="UTC")),
    ("status", pa.string()),  # "shows" | "no_shows" | "error"
    ("shows_json", pa.string()),  # the ShowFields dicts, without provenance
    ("error_stage", pa.string()),
    ("error_kind", pa.string()),
    ("error_message", pa.string()),
    ("extractor", pa.string()),
    ("usage_json", pa.string()),
    ("source", pa.string()),
    ("cleaned_url", pa.string()),
    ("thumbnail", pa.binary()),
])
KEY_COLUMNS = ["url_md5", "sha256", "phash", "stored_at", "expires_at", "status"]
_REQUIRED_COLUMNS = ("url_md5", "stored_at", "expires_at", "status")  # sha256 and phash may be null (errors)
STATUSES = ("shows", "no_shows", "error")
PROVENANCE = ("source", "cleaned_url", "image_sha256", "extractor")
LEVELS = ("url", "sha256", "phash")
# Errors that say nothing lasting about the image: retried next run whatever their ``transient`` flag.
# A refused private address says what this run allowed, not what the image is.
_NEVER_STORED_KINDS = {"gemini.quota_exhausted", "fetch.private_address"}
_ENTRY_NAME = re.compile(r"^(m-)?[0-9a-f]{32}\.parquet$")  # what store_partition and compaction name files
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<ms>\d+)\.[0-9a-f]+\.tmp$")


class CacheError(RunError):
    """The cache location cannot be used (not writable, unknown protocol): the run stops with this message."""


def url_key(cleaned_url: str) -> str:
    return hashlib.md5(cleaned_url.encode()).hexdigest()


def cache_variant(**parts) -> str:
    """A short, stable hash of what a result depends on, e.g.
    ``cache_variant(extractor="gemini", model=..., prompt=PROMPT_VERSION, max_size=(1200, 800), quality=95)``."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def error_is_cacheable(error: dict) -> bool:
    """Only a per-image error known to be permanent (the pipeline sets ``error["transient"]``)."""
    kind = error.get("kind") or ""
    return error.get("transient") is False and kind not in _NEVER_STORED_KINDS and not kind.endswith(".unexpected")


@dataclass(frozen=True)
class CacheHit:
    """A stored outcome found for a source; ``outcome()`` dresses it as the pipeline's outcome dict."""

    level: str  # "url", "sha256" or "phash"
    status: str
    shows: list[dict]  # ShowFields dicts
    error: dict | None  # stage, kind, message
    extractor: str | None
    image_sha256: str | None
    usage: dict
    stored_at: float
    expires_at: float
    matched_source: str
    distance: int | None = None  # pHash bits, level "phash" only
    similarity: float | None = None

    @property
    def saves_call(self) -> bool:
        """Whether the stored result took an extractor call (a fetch or decode error did not)."""
        return self.error is None or self.error["stage"] not in ("fetch", "decode", "input")

    def outcome(self, source: str, cleaned_url: str, image_sha256: str | None = None) -> dict:
        sha = image_sha256 or self.image_sha256
        shows = [{**show, "source": source, "cleaned_url": cleaned_url, "image_sha256": sha,
                  "extractor": self.extractor} for show in self.shows]
        error = None if self.error is None else {"source": source, "cleaned_url": cleaned_url, **self.error,
                                                 "transient": False}
        cache = {"level": self.level, "storedAt": _iso(self.stored_at), "expiresAt": _iso(self.expires_at),
                 "matchedSource": self.matched_source, "savedCall": self.saves_call,
                 "usage": self.usage}  # what the saved call cost when it was made (the run reports the savings)
        if self.level == "phash":
            cache.update(distance=self.distance, similarity=round(self.similarity, 4))
        return {"source": source, "cleaned_url": cleaned_url, "shows": shows, "error": error, "seconds": {},
                "usage": {}, "extractor": self.extractor, "image_sha256": sha, "cache": cache}


@dataclass
class _Index:
    """Key columns of every live row of one variant, as numpy arrays (small enough to ship to workers)."""

    parts: list[str] = field(default_factory=list)  # file names inside the variant folder
    part: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    url: np.ndarray = field(default_factory=lambda: np.empty(0, "S32"))  # hex MD5 of the cleaned URL
    phash: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    has_phash: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    stored: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # ms
    expires: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # ms
    error: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    # Sorted keys (newest first among equals) and the rows they belong to, for binary search.
    url_sorted: np.ndarray = field(default_factory=lambda: np.empty(0, "S32"))
    url_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    sha_sorted: np.ndarray = field(default_factory=lambda: np.empty(0, "S64"))
    sha_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.part)


class ResultCache:
    """One run's view of the cache: one variant, its index, its time-to-live rules.

    Build it on the client, call ``load_index()`` once, send it to the workers (it pickles without
    its file handles), look up with ``lookup_url`` / ``lookup_sha256`` / ``lookup_phash`` and write each
    partition's computed outcomes with ``store_partition``. Thread-safe.
    """

    def __init__(self, url: str, *, variant: str, ttl: float = DEFAULT_TTL,
                 error_ttl: float = DEFAULT_ERROR_TTL, phash_distance: int | None = DEFAULT_PHASH_DISTANCE,
                 min_similarity: float = DEFAULT_MIN_SIMILARITY, extractor: str | None = None,
                 clock: Callable[[], float] = time.time):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", variant):
            raise ValueError(f"variant must be a short file-name-safe token, not {variant!r}")
        self.url = absolute_url(url)  # workers elsewhere must find the same folder, whatever their directory
        self.variant = variant
        self.ttl = float(ttl)
        self.error_ttl = float(error_ttl)
        self.phash_distance = phash_distance  # None: the look-alike level is off
        self.min_similarity = min_similarity
        self.extractor = extractor  # when set, results another extractor produced (a fallback) are not stored
        self.clock = clock
        self._index = _Index()
        self._local_state()

    def _local_state(self) -> None:
        self._parts_lock = threading.Lock()
        # file name -> its rows by URL key (None: gone or unreadable), least recently used first
        self._part_rows: OrderedDict[str, dict[str, list[dict]] | None] = OrderedDict()
        self._part_rows_count = 0

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_parts_lock"], state["_part_rows"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local_state()

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return _filesystem(self.url)[0]

    @property
    def folder(self) -> str:
        return posixpath.join(_filesystem(self.url)[1], LAYOUT, self.variant)

    def __len__(self) -> int:
        return len(self._index)

    # --- the index -------------------------------------------------------------------------------------

    def load_index(self, *, check_writable: bool = True, auto_prune: bool = True) -> "ResultCache":
        """Read the key columns of this variant's files; make sure the location is writable; prune if due.

        Raises CacheError when the location cannot be created or written.
        """
        fs, folder = self.fs, self.folder
        if check_writable:
            _check_writable(fs, folder, self.url)
        now = self.clock()
        if auto_prune:
            _auto_prune(self.url, now)
        names = [posixpath.basename(p) for p in _list(fs, folder) if _is_part(posixpath.basename(p))]
        tables = _read_key_tables(fs, [posixpath.join(folder, n) for n in names])
        self._index = _build_index(names, tables, now)
        with self._parts_lock:
            self._part_rows.clear()
            self._part_rows_count = 0
        logger.info("cache %s variant %s: %d entries in %d files", self.url, self.variant, len(self._index), len(names))
        return self

    # --- look-ups --------------------------------------------------------------------------------------

    def lookup_url(self, cleaned_url: str) -> CacheHit | None:
        """Level 1: the newest live entry stored under this cleaned URL (before downloading)."""
        key = url_key(cleaned_url).encode()
        return self._first_live(self._index.url_sorted, self._index.url_rows, key, "url", None)

    def lookup_urls(self, cleaned_urls: list[str]) -> list[CacheHit | None]:
        """Level 1 for many URLs at once (the client does this before any work is sent out): the files
        holding candidates are read concurrently, a bounded number at a time, instead of one after another."""
        index = self._index
        keys = [url_key(url).encode() for url in cleaned_urls]
        starts = np.searchsorted(index.url_sorted, keys, side="left") if keys else []
        stops = np.searchsorted(index.url_sorted, keys, side="right") if keys else []
        hits: list[CacheHit | None] = [None] * len(keys)
        wanted = [i for i, (a, b) in enumerate(zip(starts, stops)) if b > a]
        for begin in range(0, len(wanted), _PART_CACHE_SIZE // 2):
            chunk = wanted[begin: begin + _PART_CACHE_SIZE // 2]
            names = {index.parts[index.part[row]] for i in chunk for row in index.url_rows[starts[i]:stops[i]]}
            with self._parts_lock:
                missing = [name for name in names if name not in self._part_rows]
            if missing:
                with ThreadPoolExecutor(min(_READ_THREADS, len(missing))) as pool:
                    for name in missing:
                        pool.submit(self._part, name)
            for i in chunk:
                hits[i] = self.lookup_url(cleaned_urls[i])
        return hits

    def lookup_sha256(self, sha256: str) -> CacheHit | None:
        """Level 2: the newest live entry for these exact bytes, whatever URL they came from."""
        if not sha256:
            return None
        key = sha256.lower().encode()
        return self._first_live(self._index.sha_sorted, self._index.sha_rows, key, "sha256", "sha256")

    def lookup_phash(self, phash: int | None, jpeg: bytes | None) -> CacheHit | None:
        """Level 3: a look-alike: a stored image within ``phash_distance`` bits whose thumbnail matches ``jpeg``.

        ``jpeg`` is this source's optimized image (its pixels are aligned with the stored thumbnail).
        Errors are never matched at this level: only a result ("shows" or "no_shows") of a similar image.
        """
        index = self._index
        if self.phash_distance is None or phash is None or not jpeg or not len(index):
            return None
        now_ms = _ms(self.clock())
        distance = _hamming(index.phash, phash)
        live = (index.expires > now_ms) & (now_ms - index.stored < _ms(self.ttl))
        near = index.has_phash & ~index.error & live & (distance <= self.phash_distance)
        rows = np.flatnonzero(near)
        if not len(rows):
            return None
        rows = rows[np.lexsort((-index.stored[rows], distance[rows]))][:MAX_CANDIDATES]
        query = _decode_gray(jpeg)
        for row in rows:
            found = self._read_row(row, "phash", int(index.phash[row]))
            if found is None or found["thumbnail"] is None:
                continue
            score = similarity(_thumbnail_pixels(found["thumbnail"]), query)
            if score >= self.min_similarity:
                return self._hit(found, "phash", distance=int(distance[row]), similarity=score)
        return None

    def _first_live(self, sorted_keys: np.ndarray, rows: np.ndarray, key: bytes, level: str,
                    column: str | None) -> CacheHit | None:
        index = self._index
        now_ms = _ms(self.clock())
        start = int(np.searchsorted(sorted_keys, key, side="left"))
        stop = int(np.searchsorted(sorted_keys, key, side="right"))
        for row in rows[start:stop]:  # newest first
            ttl = self.error_ttl if index.error[row] else self.ttl
            if index.expires[row] <= now_ms or now_ms - index.stored[row] >= _ms(ttl):
                continue
            found = self._read_row(row, column, key.decode() if column else None)
            if found is not None and self._row_live(found, now_ms):
                return self._hit(found, level)
        return None

    def _row_live(self, row: dict, now_ms: int) -> bool:
        ttl = self.error_ttl if row["status"] == "error" else self.ttl
        return row["expires_at"] > now_ms and now_ms - row["stored_at"] < _ms(ttl)

    def _read_row(self, row: int, column: str | None, value) -> dict | None:
        """Index row ``row`` read from its file: the entry for the same URL stored at the same time, still
        holding ``column == value``; None when the file was rewritten, merged away or removed since the index
        was read. (A merged file may hold several entries of one URL: the time tells them apart.)"""
        by_url = self._part(self._index.parts[self._index.part[row]])
        stored = int(self._index.stored[row])
        for found in (by_url or {}).get(self._index.url[row].decode(), ()):
            if found["stored_at"] == stored and (column is None or found[column] == value):
                return found
        return None

    def _part(self, name: str) -> dict[str, list[dict]] | None:
        with self._parts_lock:
            if name in self._part_rows:
                self._part_rows.move_to_end(name)
                return self._part_rows[name]
        rows = _read_part_rows(self.fs, posixpath.join(self.folder, name))
        by_url: dict[str, list[dict]] | None = None
        if rows is not None:
            by_url = {}
            for found in rows:
                by_url.setdefault(found["url_md5"], []).append(found)
        with self._parts_lock:
            if name not in self._part_rows:
                self._part_rows[name] = by_url
                self._part_rows_count += len(rows or ())
            while len(self._part_rows) > 1 and (len(self._part_rows) > _PART_CACHE_SIZE
                                                or self._part_rows_count > _PART_CACHE_ROWS):
                _, evicted = self._part_rows.popitem(last=False)
                self._part_rows_count -= sum(map(len, (evicted or {}).values()))
        return by_url

    def _hit(self, row: dict, level: str, **match) -> CacheHit:
        error = None
        if row["status"] == "error":
            error = {"stage": row["error_stage"], "kind": row["error_kind"], "message": row["error_message"]}
        # stored before fields lost their control characters (or by another writer): never replayed to a terminal
        shows = [strip_controls_in(show) for show in json.loads(row["shows_json"] or "[]")]
        return CacheHit(level=level, status=row["status"], shows=shows, error=error,
                        extractor=row["extractor"], image_sha256=row["sha256"],
                        usage=json.loads(row["usage_json"] or "{}"), stored_at=row["stored_at"] / 1000,
                        expires_at=row["expires_at"] / 1000, matched_source=row["source"], **match)

    def lookup_stored(self, cleaned_urls: list[str]) -> list[CacheHit] | None:
        """The live entries ``store_partition`` wrote for exactly these URLs, read from their one file (its name
        derives from them), not from the index; None unless every URL has one.

        For a partition run again after its worker died: the index was read before this run stored anything.
        A single read (a miss is one failed open), so a worker can afford it before each partition.
        """
        urls = sorted(set(cleaned_urls))
        if not urls:
            return None
        rows = _read_part_rows(self.fs, posixpath.join(self.folder, f"{_partition_name(urls)}.parquet"), quiet=True)
        by_url = {row["url_md5"]: row for row in rows or ()}
        now_ms = _ms(self.clock())
        found = [by_url.get(url_key(url)) for url in cleaned_urls]
        if not all(row is not None and self._row_live(row, now_ms) for row in found):
            return None
        return [self._hit(row, "url") for row in found]

    # --- writing ---------------------------------------------------------------------------------------

    def store_partition(self, outcomes: Iterable[dict]) -> str | None:
        """Write one partition's storable outcomes as one Parquet file, atomically; return its URL (None: nothing).

        Stored: computed results, permanent errors (see ``error_is_cacheable``), and sources served by the
        sha256 or phash level (so their URL is a level-1 hit next time; they keep the original's expiry).
        Skipped: level-1 hits, transient errors, results of another extractor than ``extractor``.
        The ``thumbnail`` key, there only for the cache, is removed from each outcome.
        A failed write is logged, not raised: the partition's results are worth more than their cache entry.
        """
        now_ms = _ms(self.clock())
        rows: dict[str, dict] = {}
        for outcome in outcomes:
            thumbnail = outcome.pop("thumbnail", None)
            row = self._row(outcome, thumbnail, now_ms)
            if row is not None:
                rows.setdefault(row["url_md5"], row)
        if not rows:
            return None
        name = _partition_name(sorted(r["cleaned_url"] for r in rows.values()))
        table = pa.Table.from_pylist(sorted(rows.values(), key=lambda r: r["url_md5"]), schema=SCHEMA)
        try:
            return _write_table(self.fs, self.folder, f"{name}.parquet", table, now_ms)
        except Exception as error:  # noqa: BLE001 - a full disk or a lost bucket must not lose the results
            logger.warning("could not write cache file for %d images to %s: %s: %s",
                           len(rows), self.url, type(error).__name__, error)
            return None

    def _row(self, outcome: dict, thumbnail: bytes | None, now_ms: int) -> dict | None:
        if "fatal" in outcome or not outcome.get("cleaned_url"):
            return None
        hit, error = outcome.get("cache"), outcome.get("error")
        if hit and hit.get("level") == "url":
            return None
        if error is not None and not error_is_cacheable(error):
            return None
        if error is None and self.extractor and outcome.get("extractor") not in (None, self.extractor):
            return None
        if hit:  # an alias: expires with the entry it was found through, so a chain of reposts never renews it
            stored_ms, expires_ms = _ms_from_iso(hit["storedAt"]), _ms_from_iso(hit["expiresAt"])
        else:
            stored_ms = now_ms
            expires_ms = now_ms + _ms(self.error_ttl if error else self.ttl)
        shows = [{k: v for k, v in show.items() if k not in PROVENANCE} for show in outcome.get("shows") or []]
        # A hash without its thumbnail can never match, yet would take one of the MAX_CANDIDATES places
        # (a look-alike hit is stored with its hash but without a thumbnail): index neither.
        phash = outcome.get("phash") if thumbnail is not None else None
        return {
            "url_md5": url_key(outcome["cleaned_url"]),
            "sha256": outcome.get("image_sha256"),
            "phash": phash if error is None else None,
            "stored_at": stored_ms,
            "expires_at": expires_ms,
            "status": "error" if error else "shows" if shows else "no_shows",
            "shows_json": json.dumps(shows, ensure_ascii=False, separators=(",", ":")),
            "error_stage": error and error.get("stage"),
            "error_kind": error and error.get("kind"),
            "error_message": error and error.get("message"),
            "extractor": outcome.get("extractor"),
            "usage_json": json.dumps(outcome.get("usage") or {}, separators=(",", ":")),
            "source": outcome.get("source"),
            "cleaned_url": outcome["cleaned_url"],
            "thumbnail": thumbnail if error is None and phash is not None else None,
        }

    # --- compaction ------------------------------------------------------------------------------------

    def compact(self, *, min_files: int = COMPACT_MIN_FILES) -> dict:
        """Merge this variant's small files (under ``COMPACT_SMALL_BYTES``) when there are ``min_files`` or more.

        Safe beside readers, writers and other compactions (see the module docstring). Expired rows are
        dropped; the others keep their times. This object's index is not reloaded: ``load_index()`` sees
        the merged files. Returns counts: files before and after, files merged and written, entries kept
        and dropped, merges aborted (a source vanished), sources kept (changed since listed), seconds.
        """
        started = time.perf_counter()
        result = _compact_folder(self.fs, self.folder, _ms(self.clock()), min_files)
        result["seconds"] = round(time.perf_counter() - started, 3)
        if result["filesMerged"]:
            logger.info("cache %s variant %s compacted: %s", self.url, self.variant, result)
        return {"url": self.url, "variant": self.variant, **result}

    def compact_if_needed(self) -> dict:
        """``compact()`` at the default threshold, for the end of a run: one listing when there is nothing to
        merge; never raises (a failed compaction costs only round trips next run), ``{"error": ...}`` instead."""
        try:
            return self.compact()
        except Exception as error:  # noqa: BLE001 - the run's results are done; the cache stays valid as it is
            logger.warning("could not compact the cache at %s: %s: %s", self.url, type(error).__name__, error)
            return {"url": self.url, "variant": self.variant, "error": f"{type(error).__name__}: {error}"}


# --- maintenance: stats, prune, clear (the ``python -m daskparse cache ...`` commands) ------------------


def cache_stats(url: str | None = None, now: float | None = None) -> dict:
    """Entries, live and expired, by status and variant; bytes; leftover temp and unreadable files."""
    fs, root = _filesystem(url)
    now_ms = _ms(time.time() if now is None else now)
    totals = Counter()
    by_status, variants = Counter(), {}
    stored_range: list[int] = []
    for variant, folder in _variant_folders(fs, root):
        files = _list(fs, folder, detail=True)
        parts = [f for f in files if _is_part(posixpath.basename(f["name"]))]
        tables = _read_key_tables(fs, [f["name"] for f in parts])
        entries = live = 0
        for table in tables:
            if table is None:
                totals["unreadableFiles"] += 1
                continue
            expires = table["expires_at"].cast(pa.int64()).to_numpy()
            entries += len(expires)
            live += int((expires > now_ms).sum())
            by_status.update(table["status"].to_pylist())
            stored = table["stored_at"].cast(pa.int64()).to_numpy()
            if len(stored):
                stored_range += [int(stored.min()), int(stored.max())]
        size = sum(int(f.get("size") or 0) for f in parts)
        variants[variant] = {"files": len(parts), "entries": entries, "live": live, "bytes": size}
        totals.update(files=len(parts), entries=entries, live=live, bytes=size,
                      tempFiles=sum(1 for f in files if _TEMP_NAME.match(posixpath.basename(f["name"]))))
    return {
        "url": url,
        "variants": variants,
        "files": totals["files"],
        "entries": totals["entries"],
        "live": totals["live"],
        "expired": totals["entries"] - totals["live"],
        "byStatus": dict(by_status),
        "bytes": totals["bytes"],
        "tempFiles": totals["tempFiles"],
        "unreadableFiles": totals["unreadableFiles"],
        "oldest": _iso(min(stored_range) / 1000) if stored_range else None,
        "newest": _iso(max(stored_range) / 1000) if stored_range else None,
    }


def prune(url: str | None = None, now: float | None = None) -> dict:
    """Drop expired entries (delete or rewrite their files), unreadable files and temp files over an hour old."""
    return _prune(url, time.time() if now is None else now, rewrite=True)


def clear(url: str | None = None) -> dict:
    """Remove every cache file under ``url``: only files that are recognisably the cache's own (entry files named
    by their hash, temporary files, the prune marker) inside its ``v1`` folder, then the folders left empty.
    Anything else found there is left alone and counted in ``keptFiles``: ``--cache .`` or a ``v1/`` of
    someone else's never loses a file."""
    fs, root = _filesystem(url)
    folder = posixpath.join(root, LAYOUT)
    removed = kept = 0
    if not fs.exists(folder):
        return {"url": url, "removedFiles": 0, "keptFiles": 0}
    for path in sorted(fs.find(folder)):
        relative = posixpath.relpath(path, folder).split("/")
        name = relative[-1]
        own = (len(relative) == 2 and (_ENTRY_NAME.match(name) or _TEMP_NAME.match(name))) or (
            len(relative) == 1 and (name == ".last-prune" or _TEMP_NAME.match(name)))
        if own:
            _remove(fs, path)
            removed += 1
        else:
            kept += 1
    for directory in [f for _, f in _variant_folders(fs, root)] + [folder]:
        with contextlib.suppress(OSError):  # left in place when it still holds something not ours
            if not fs.ls(directory):
                fs.rmdir(directory)
    if kept:
        logger.warning("cache clear left %d files under %s that are not the cache's own", kept, folder)
    return {"url": url, "removedFiles": removed, "keptFiles": kept}


def _auto_prune(url: str, now: float) -> None:
    """At most once a day per cache: delete whole expired files and stale temp files (no rewrites).

    No compaction here: it reads whole files, too slow for the start of a run; a run compacts what it
    wrote at its end (``ResultCache.compact_if_needed``), and ``prune`` compacts every variant."""
    fs, root = _filesystem(url)
    marker = posixpath.join(root, LAYOUT, ".last-prune")
    try:
        if fs.exists(marker) and now - float(fs.cat_file(marker).decode() or 0) < AUTO_PRUNE_EVERY:
            return
    except (OSError, ValueError):
        pass
    result = _prune(url, now, rewrite=False)
    try:  # through a temporary name and a move: a symbolic link planted at the marker is replaced, not followed
        atomic_write(fs, posixpath.dirname(marker), posixpath.basename(marker),
                     lambda file: file.write(repr(now).encode()), stamp_ms=_ms(now))
    except OSError as error:
        logger.warning("could not record the cache prune time at %s: %s", marker, error)
    if result["filesDeleted"] or result["tempFilesRemoved"]:
        logger.info("cache pruned: %s", result)


def _prune(url: str | None, now: float, *, rewrite: bool) -> dict:
    fs, root = _filesystem(url)
    now_ms = _ms(now)
    result = Counter(filesDeleted=0, filesRewritten=0, entriesRemoved=0, entriesKept=0, tempFilesRemoved=0,
                     unreadableFilesRemoved=0)
    for _variant, folder in _variant_folders(fs, root):
        paths = []
        for path in _list(fs, folder):
            name = posixpath.basename(path)
            temp = _TEMP_NAME.match(name)
            if temp and now_ms - int(temp["ms"]) > _ms(TEMP_MAX_AGE):
                _remove(fs, path)
                result["tempFilesRemoved"] += 1
            elif _is_part(name):
                paths.append(path)
        for path, table in zip(paths, _read_key_tables(fs, paths, quiet=True, keep_unusable=True)):
            if table is None:
                if rewrite and _unparseable(fs, path):  # not a network hiccup: the file itself is bad
                    _remove(fs, path)
                    result["unreadableFilesRemoved"] += 1
                continue
            unusable = ~np.asarray(_usable(table), dtype=bool)
            expired = table["expires_at"].cast(pa.int64()).fill_null(0).to_numpy() <= now_ms
            dropped = expired | unusable  # an entry no reader can use is as good as expired
            removed = 0
            if dropped.all():
                _remove(fs, path)
                result["filesDeleted" if not unusable.all() else "unreadableFilesRemoved"] += 1
                removed = len(dropped)
            elif dropped.any() and rewrite:  # the automatic prune leaves partly expired files to this one
                whole = _read_table(fs, path, keep_unusable=True)
                if whole is not None and len(whole) == len(dropped):
                    _write_table(fs, posixpath.dirname(path), posixpath.basename(path),
                                  whole.filter(pa.array(~dropped)), now_ms)
                    result["filesRewritten"] += 1
                    removed = int(dropped.sum())
            result["entriesRemoved"] += removed
            result["entriesKept"] += len(dropped) - removed
        if rewrite:  # after the pass above, so its counts stay about expiry; merging drops nothing more
            merged = _compact_folder(fs, folder, now_ms, COMPACT_MIN_FILES)
            result.update(filesMerged=merged["filesMerged"], mergedFilesWritten=merged["filesWritten"])
    return {"url": url, **result}


def _compact_folder(fs, folder: str, now_ms: int, min_files: int) -> Counter:
    """Merge the small part files of one variant folder in batches of up to ``COMPACT_TARGET_BYTES``."""
    listed = {posixpath.basename(f["name"]): f for f in _list(fs, folder, detail=True)
              if f.get("type") == "file" and _is_part(posixpath.basename(f["name"]))}
    result = Counter(filesBefore=len(listed), filesAfter=len(listed), filesMerged=0, filesWritten=0,
                     entriesKept=0, entriesDropped=0, mergesAborted=0, sourcesKept=0)
    small = sorted(name for name, f in listed.items() if int(f.get("size") or 0) < COMPACT_SMALL_BYTES)
    if len(small) < max(2, min_files):
        return result
    batches, batch, batch_bytes = [], [], 0
    for name in small:  # by name: two compactions of one listing make the same batches, hence the same names
        size = int(listed[name].get("size") or 0)
        if batch and batch_bytes + size > COMPACT_TARGET_BYTES:
            batches.append(batch)
            batch, batch_bytes = [], 0
        batch.append(name)
        batch_bytes += size
    batches.append(batch)
    for batch in batches:
        if len(batch) > 1:
            _merge(fs, folder, batch, listed, now_ms, result)
    return result


def _merge(fs, folder: str, names: list[str], listed: dict[str, dict], now_ms: int, result: Counter) -> None:
    """Write the live rows of ``names`` as one file, then delete those of them unchanged since ``listed``."""
    paths = [posixpath.join(folder, name) for name in names]
    with ThreadPoolExecutor(min(_READ_THREADS, len(paths))) as pool:
        tables = list(pool.map(lambda p: _read_table(fs, p, quiet=True), paths))
    sources, read = [], []
    for name, path, table in zip(names, paths, tables):
        if table is None:
            if not fs.exists(path):  # vanished: another compaction or a prune has it; deleting ours could lose it
                result["mergesAborted"] += 1
                return
            continue  # there but unreadable: left for ``prune``
        sources.append(name)
        read.append(table)
    if len(sources) < 2:
        return
    table = pa.concat_tables(read)
    table = table.filter(pc.greater(table["expires_at"].cast(pa.int64()), pa.scalar(now_ms, pa.int64())))
    # The same entry twice (two compactions that overlapped both kept a copy) is kept once.
    seen, first = set(), []
    for i, key in enumerate(zip(table["url_md5"].to_pylist(), table["stored_at"].cast(pa.int64()).to_pylist(),
                                table["sha256"].to_pylist())):
        if key not in seen:
            seen.add(key)
            first.append(i)
    table = table.take(pa.array(first, pa.int64())).sort_by([("url_md5", "ascending"), ("stored_at", "ascending")])
    dropped = sum(len(t) for t in read) - len(table)
    if len(table):
        name = _MERGED_PREFIX + hashlib.md5("\n".join(sources).encode()).hexdigest() + ".parquet"
        _write_table(fs, folder, name, table, now_ms)  # raises before any source is touched
        result["filesWritten"] += 1
        result["filesAfter"] += 0 if name in listed else 1
    # Only files still as listed: one rewritten since (a re-run partition, a prune) holds rows not merged here.
    # (A rewrite between this listing and the delete is not seen: fsspec has no conditional delete.)
    now_listed = {posixpath.basename(f["name"]): f for f in _list(fs, folder, detail=True)}
    for name in sources:
        if name not in now_listed:  # another compaction merged it too
            result["filesAfter"] -= 1
        elif _signature(now_listed[name]) == _signature(listed[name]):
            _remove(fs, posixpath.join(folder, name))
            result["filesMerged"] += 1
            result["filesAfter"] -= 1
        else:
            result["sourcesKept"] += 1
    result["entriesKept"] += len(table)
    result["entriesDropped"] += dropped


def _signature(entry: dict) -> tuple:
    """What a listing says about one file's version: size and whatever times, inode or ETag the backend gives."""
    return tuple(str(entry.get(key)) for key in ("size", "mtime", "created", "ino", "ETag", "etag", "LastModified",
                                                  "generation", "md5Hash"))


# --- files -----------------------------------------------------------------------------------------------


def absolute_url(url: str) -> str:
    """A relative local path made absolute (as the client sees it); any other URL unchanged."""
    fs, root = _filesystem(url)
    if "file" not in fs.protocol:
        return url
    return fs.unstrip_protocol(root) if url.startswith("file:") else root


def _filesystem(url: str | None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The cache's file system and folder; no ``url``: the default cache (the user's cache folder)."""
    if url is None:
        from daskparse.settings import default_cache

        url = default_cache()
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as error:
        raise CacheError(f"cache location {url!r} cannot be used: {error}") from None
    return fs, root.rstrip("/") or "/"


def _check_writable(fs, folder: str, url: str) -> None:
    probe = posixpath.join(folder, f".probe.{uuid.uuid4().hex}.tmp")
    try:
        fs.makedirs(folder, exist_ok=True)
        fs.pipe_file(probe, b"")
        fs.rm(probe)
    except Exception as error:  # noqa: BLE001 - PermissionError, read-only bucket, bad credentials...
        raise CacheError(f"the cache location {url} is not writable ({type(error).__name__}: {error}); "
                         "give another with --cache URL") from None


def _list(fs, folder: str, detail: bool = False) -> list:
    try:
        return fs.ls(folder, detail=detail)
    except FileNotFoundError:
        return []


def _variant_folders(fs, root: str) -> list[tuple[str, str]]:
    return [(posixpath.basename(f["name"]), f["name"])
            for f in _list(fs, posixpath.join(root, LAYOUT), detail=True) if f["type"] == "directory"]


def _is_part(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith(".")


def _write_table(fs, folder: str, name: str, table: pa.Table, now_ms: int) -> str:
    """``table`` as ``folder/name``, whole or not at all; the temporary name carries the cache's clock (prune
    reads it)."""
    return atomic_write(fs, folder, name, lambda file: pq.write_table(table, file, compression="zstd"),
                        stamp_ms=now_ms)


def _remove(fs, path: str) -> None:
    try:
        fs.rm(path)
    except FileNotFoundError:  # another run removed it first
        pass


def _read_table(fs, path: str, columns: list[str] | None = None, quiet: bool = False,
                keep_unusable: bool = False, warn_unusable: bool = True) -> pa.Table | None:
    """A cache file's rows (``columns`` only, when given); None when it is gone or cannot be read.

    Rows that parse but lack a key (a null URL key, stored time, expiry or status: a foreign or damaged
    writer) are left out, with a warning unless ``quiet`` or not ``warn_unusable`` (the index load warns; the
    look-ups that read the file again do not); ``keep_unusable`` keeps them (for ``prune``)."""
    try:
        with fs.open(path, "rb") as file:
            table = pq.read_table(file, columns=columns)
        table = table.cast(SCHEMA if columns is None else pa.schema([SCHEMA.field(c) for c in columns]))
    except FileNotFoundError:  # pruned or replaced since it was listed
        return None
    except Exception as error:  # noqa: BLE001 - a torn or foreign file: skip it, never crash a run
        if not quiet:
            logger.warning("skipping unreadable cache file %s: %s: %s", path, type(error).__name__, error)
        return None
    if keep_unusable:
        return table
    usable = _usable(table)
    unusable = len(table) - pc.sum(usable).as_py() if len(table) else 0
    if unusable:
        if warn_unusable and not quiet:
            logger.warning("skipping %d of %d entries of the cache file %s: a key column is empty "
                           "(`python -m daskparse cache prune` removes them)", unusable, len(table), path)
        table = table.filter(usable)
    return table


def _usable(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Which rows a reader can use: every key column a lookup or expiry check reads is set, the status known."""
    usable = pa.array([True] * len(table))
    for name in _REQUIRED_COLUMNS:
        if name in table.column_names:
            usable = pc.and_(usable, pc.is_valid(table[name]))
    if "status" in table.column_names:
        usable = pc.and_(usable, pc.fill_null(pc.is_in(table["status"], pa.array(STATUSES)), False))
    return usable


def _unparseable(fs, path: str) -> bool:
    try:
        with fs.open(path, "rb") as file:
            pq.read_metadata(file)
        return False
    except FileNotFoundError:
        return False
    except OSError as error:  # pyarrow's ArrowInvalid is a ValueError; an OSError may be the network
        return "parquet" in str(error).lower()
    except Exception:  # noqa: BLE001
        return True


def _read_key_tables(fs, paths: list[str], quiet: bool = False, keep_unusable: bool = False) -> list[pa.Table | None]:
    if not paths:
        return []
    with ThreadPoolExecutor(min(_READ_THREADS, len(paths))) as pool:
        return list(pool.map(lambda p: _read_table(fs, p, KEY_COLUMNS, quiet, keep_unusable=keep_unusable), paths))


def _partition_name(sorted_urls: list[str]) -> str:
    """A partition file's name: the same URLs stored again (a re-run task) replace the same file."""
    return hashlib.md5("\n".join(sorted_urls).encode()).hexdigest()


def _read_part_rows(fs, path: str, quiet: bool = False) -> list[dict] | None:
    table = _read_table(fs, path, quiet=quiet, warn_unusable=False)
    if table is None:
        return None
    rows = table.to_pylist()
    for row in rows:  # timestamps as epoch ms, like the index
        row["stored_at"] = _ms(row["stored_at"].timestamp())
        row["expires_at"] = _ms(row["expires_at"].timestamp())
    return rows


def _build_index(names: list[str], tables: list[pa.Table | None], now: float) -> _Index:
    kept = [(i, t) for i, t in enumerate(tables) if t is not None and len(t)]
    if not kept:
        return _Index(parts=list(names))
    part = np.concatenate([np.full(len(t), i, np.int32) for i, t in kept])
    table = pa.concat_tables([t for _, t in kept])
    url = np.array(table["url_md5"].to_pylist(), dtype="S32")
    sha = np.array([s or "" for s in table["sha256"].to_pylist()], dtype="S64")
    phash_column = table["phash"]
    has_phash = ~np.asarray(phash_column.is_null().to_numpy(zero_copy_only=False))
    phash = phash_column.fill_null(0).to_numpy().astype(np.uint64)
    stored = table["stored_at"].cast(pa.int64()).to_numpy().astype(np.int64)
    expires = table["expires_at"].cast(pa.int64()).to_numpy().astype(np.int64)
    error = np.array([s == "error" for s in table["status"].to_pylist()], dtype=bool)
    live = expires > _ms(now)  # expired rows are left out of the index at once
    keep = np.flatnonzero(live)
    index = _Index(parts=list(names), part=part[keep], url=url[keep], phash=phash[keep],
                   has_phash=has_phash[keep], stored=stored[keep], expires=expires[keep], error=error[keep])
    sha = sha[keep]
    index.url_rows = np.lexsort((-index.stored, index.url))
    index.url_sorted = index.url[index.url_rows]
    with_sha = np.flatnonzero(sha != b"")
    index.sha_rows = with_sha[np.lexsort((-index.stored[with_sha], sha[with_sha]))]
    index.sha_sorted = sha[index.sha_rows]
    return index


# --- small helpers -----------------------------------------------------------------------------------------


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


def _ms_from_iso(text: str) -> int:
    import datetime as dt

    return _ms(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
