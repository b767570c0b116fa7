"""A run's view of the cache (as fsspec's cached.py): look-ups at three levels, and writing a partition's outcomes.

A source's outcome is looked up, in order, by its URL key (before downloading), its bytes' SHA-256 (before the
model), and its look-alike (``daskparse.lookalike``: a hash within ``phash_distance`` bits whose stored thumbnail
correlates at ``min_similarity`` or more). A result lives ``ttl``, a permanent per-image error ``error_ttl``;
transient errors, a spent quota and unexpected failures are never stored.
"""

from __future__ import annotations

import json
import logging
import posixpath
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import fsspec
import numpy as np
import pyarrow as pa

from daskparse.cache.files import (DAY, READ_THREADS, SCHEMA, absolute_url, epoch_ms, filesystem,
                                   read_part_rows, write_table)
from daskparse.cache.index import Index, read_index
from daskparse.cache.keys import LAYOUT, check_variant, partition_name, url_key
from daskparse.cache.files import check_writable as require_writable  # load_index's flags have the plain names
from daskparse.cache.maintenance import COMPACT_MIN_FILES, compact_folder
from daskparse.cache.maintenance import auto_prune as prune_if_due
from daskparse.errors import ErrorRecord
from daskparse.lookalike import decode_gray, hamming, similarity, thumbnail_pixels
from daskparse.outcome import CacheMatch, Outcome, show_records
from daskparse.shows import PROVENANCE_COLUMNS, strip_controls_in
from daskparse.usage import Usage

logger = logging.getLogger("daskparse.cache")  # one name for the whole package, as when it was one module

DEFAULT_TTL = 7 * DAY
DEFAULT_ERROR_TTL = 1 * DAY
# Candidate radius in bits and the thumbnail check, from bench/cache.py (100 generated flyers, 233 reposts,
# 4,950 distinct pairs): within 16 bits are 99.1% of reposts (crops reach 28) and 0.6% of distinct pairs
# (the nearest is 10 bits away). Reposts' similarity is >= 0.906, distinct flyers' <= 0.697.
DEFAULT_PHASH_DISTANCE = 16
DEFAULT_MIN_SIMILARITY = 0.85
MAX_CANDIDATES = 3  # thumbnails compared per look-up, nearest hash first (a repost is nearly always the first)
_PART_CACHE_SIZE = 128  # part files kept per process for look-ups
_PART_CACHE_ROWS = 16_384  # and at most this many rows (~80 MB of thumbnails): merged files hold hundreds each
PROVENANCE = tuple(PROVENANCE_COLUMNS)  # not stored with a show: the row has them
LEVELS = ("url", "sha256", "phash")
# Errors that say nothing lasting about the image: retried next run whatever their ``transient`` flag.
# A refused private address says what this run allowed, not what the image is.
_NEVER_STORED_KINDS = {"gemini.quota_exhausted", "fetch.private_address"}


def error_is_cacheable(error: ErrorRecord) -> bool:
    """Only a per-image error known to be permanent (the worker sets ``error.transient``)."""
    return not error.transient and error.kind not in _NEVER_STORED_KINDS and not error.kind.endswith(".unexpected")


@dataclass(frozen=True)
class CacheHit:
    """A stored outcome found for a source; ``outcome()`` makes it that source's :class:`Outcome`."""

    level: str  # "url", "sha256" or "phash"
    status: str
    shows: list[dict]  # ShowFields dicts
    error: dict | None  # stage, kind, message
    extractor: str | None
    image_sha256: str | None
    usage: Usage
    stored_at: float
    expires_at: float
    matched_source: str
    distance: int | None = None  # pHash bits, level "phash" only
    similarity: float | None = None

    @property
    def saves_call(self) -> bool:
        """Whether the stored result took an extractor call (a fetch or decode error did not)."""
        return self.error is None or self.error["stage"] not in ("fetch", "decode", "input")

    def outcome(self, source: str, cleaned_url: str, image_sha256: str | None = None) -> Outcome:
        sha = image_sha256 or self.image_sha256
        error = None if self.error is None else ErrorRecord(source, cleaned_url, **self.error)
        match = CacheMatch(level=self.level, stored_at=self.stored_at, expires_at=self.expires_at,
                           matched_source=self.matched_source, saved_call=self.saves_call, usage=self.usage,
                           distance=self.distance,
                           similarity=None if self.similarity is None else round(self.similarity, 4))
        return Outcome(source, cleaned_url, shows=show_records(self.shows, source, cleaned_url, sha, self.extractor),
                       error=error, extractor=self.extractor, image_sha256=sha, cache=match)


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
        self.url = absolute_url(url)  # workers elsewhere must find the same folder, whatever their directory
        self.variant = check_variant(variant)
        self.ttl = float(ttl)
        self.error_ttl = float(error_ttl)
        self.phash_distance = phash_distance  # None: the look-alike level is off
        self.min_similarity = min_similarity
        self.extractor = extractor  # when set, results another extractor produced (a fallback) are not stored
        self.clock = clock
        self._index = Index()
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
        return filesystem(self.url)[0]

    @property
    def folder(self) -> str:
        return posixpath.join(filesystem(self.url)[1], LAYOUT, self.variant)

    def __len__(self) -> int:
        return len(self._index)

    # --- the index -------------------------------------------------------------------------------------

    def load_index(self, *, check_writable: bool = True, auto_prune: bool = True) -> "ResultCache":
        """Read the key columns of this variant's files; make sure the location is writable; prune if due.

        Raises CacheError when the location cannot be created or written.
        """
        fs, folder = self.fs, self.folder
        if check_writable:
            require_writable(fs, folder, self.url)
        now = self.clock()
        if auto_prune:
            prune_if_due(self.url, now)
        self._index = read_index(fs, folder, now)
        with self._parts_lock:
            self._part_rows.clear()
            self._part_rows_count = 0
        logger.info("cache %s variant %s: %d entries in %d files", self.url, self.variant, len(self._index),
                    len(self._index.parts))
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
        starts = np.searchsorted(index.url_sorted, keys, side="left")  # empty keys: empty arrays
        stops = np.searchsorted(index.url_sorted, keys, side="right")
        hits: list[CacheHit | None] = [None] * len(keys)
        wanted = [i for i, (a, b) in enumerate(zip(starts, stops)) if b > a]
        for begin in range(0, len(wanted), _PART_CACHE_SIZE // 2):
            chunk = wanted[begin: begin + _PART_CACHE_SIZE // 2]
            names = {index.parts[index.part[row]] for i in chunk for row in index.url_rows[starts[i]:stops[i]]}
            with self._parts_lock:
                missing = [name for name in names if name not in self._part_rows]
            if missing:
                with ThreadPoolExecutor(min(READ_THREADS, len(missing))) as pool:
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
        now_ms = epoch_ms(self.clock())
        distance = hamming(index.phash, phash)
        live = (index.expires > now_ms) & (now_ms - index.stored < epoch_ms(self.ttl))
        near = index.has_phash & ~index.error & live & (distance <= self.phash_distance)
        rows = np.flatnonzero(near)
        if not len(rows):
            return None
        rows = rows[np.lexsort((-index.stored[rows], distance[rows]))][:MAX_CANDIDATES]
        query = decode_gray(jpeg)
        for row in rows:
            found = self._read_row(int(row), "phash", int(index.phash[row]))
            if found is None or found["thumbnail"] is None:
                continue
            score = similarity(thumbnail_pixels(found["thumbnail"]), query)
            if score >= self.min_similarity:
                return self._hit(found, "phash", distance=int(distance[row]), similarity=score)
        return None

    def _first_live(self, sorted_keys: np.ndarray, rows: np.ndarray, key: bytes, level: str,
                    column: str | None) -> CacheHit | None:
        index = self._index
        now_ms = epoch_ms(self.clock())
        start = int(np.searchsorted(sorted_keys, key, side="left"))
        stop = int(np.searchsorted(sorted_keys, key, side="right"))
        for row in rows[start:stop]:  # newest first
            ttl = self.error_ttl if index.error[row] else self.ttl
            if index.expires[row] <= now_ms or now_ms - index.stored[row] >= epoch_ms(ttl):
                continue
            found = self._read_row(row, column, key.decode() if column else None)
            if found is not None and self._row_live(found, now_ms):
                return self._hit(found, level)
        return None

    def _row_live(self, row: dict, now_ms: int) -> bool:
        ttl = self.error_ttl if row["status"] == "error" else self.ttl
        return row["expires_at"] > now_ms and now_ms - row["stored_at"] < epoch_ms(ttl)

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
        rows = read_part_rows(self.fs, posixpath.join(self.folder, name))
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
                        usage=Usage.from_stats(json.loads(row["usage_json"] or "{}")),
                        stored_at=row["stored_at"] / 1000,
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
        rows = read_part_rows(self.fs, posixpath.join(self.folder, f"{partition_name(urls)}.parquet"), quiet=True)
        by_url = {row["url_md5"]: row for row in rows or ()}
        now_ms = epoch_ms(self.clock())
        found = [by_url.get(url_key(url)) for url in cleaned_urls]
        if not all(row is not None and self._row_live(row, now_ms) for row in found):
            return None
        return [self._hit(row, "url") for row in found if row is not None]  # all of them, checked above

    # --- writing ---------------------------------------------------------------------------------------

    def store_partition(self, outcomes: Iterable[Outcome]) -> str | None:
        """Write one partition's storable outcomes as one Parquet file, atomically; return its URL (None: nothing).

        Stored: computed results, permanent errors (see ``error_is_cacheable``), and sources served by the
        sha256 or phash level (so their URL is a level-1 hit next time; they keep the original's expiry).
        Skipped: level-1 hits, transient errors, results of another extractor than ``extractor``.
        A failed write is logged, not raised: the partition's results are worth more than their cache entry.
        """
        now_ms = epoch_ms(self.clock())
        rows: dict[str, dict] = {}
        for outcome in outcomes:
            row = self._row(outcome, now_ms)
            if row is not None:
                rows.setdefault(row["url_md5"], row)
        if not rows:
            return None
        name = partition_name(sorted(r["cleaned_url"] for r in rows.values()))
        table = pa.Table.from_pylist(sorted(rows.values(), key=lambda r: r["url_md5"]), schema=SCHEMA)
        try:
            return write_table(self.fs, self.folder, f"{name}.parquet", table, now_ms)
        except Exception as error:  # noqa: BLE001 - a full disk or a lost bucket must not lose the results
            logger.warning("could not write cache file for %d images to %s: %s: %s",
                           len(rows), self.url, type(error).__name__, error)
            return None

    def _row(self, outcome: Outcome, now_ms: int) -> dict | None:
        hit, error = outcome.cache, outcome.error
        if not outcome.cleaned_url or (hit is not None and hit.level == "url"):
            return None
        if error is not None and not error_is_cacheable(error):
            return None
        if error is None and self.extractor and outcome.extractor not in (None, self.extractor):
            return None
        if hit is not None:  # an alias expires with the entry it was found through: reposts never renew it
            stored_ms, expires_ms = epoch_ms(hit.stored_at), epoch_ms(hit.expires_at)
        else:
            stored_ms = now_ms
            expires_ms = now_ms + epoch_ms(self.error_ttl if error else self.ttl)
        shows = [{k: v for k, v in show.items() if k not in PROVENANCE_COLUMNS} for show in outcome.shows]
        # A hash without its thumbnail can never match, yet would take one of the MAX_CANDIDATES places
        # (a look-alike hit is stored with its hash but without a thumbnail): index neither.
        phash = outcome.phash if outcome.thumbnail is not None else None
        return {
            "url_md5": url_key(outcome.cleaned_url),
            "sha256": outcome.image_sha256,
            "phash": phash if error is None else None,
            "stored_at": stored_ms,
            "expires_at": expires_ms,
            "status": "error" if error else "shows" if shows else "no_shows",
            "shows_json": json.dumps(shows, ensure_ascii=False, separators=(",", ":")),
            "error_stage": error and error.stage,
            "error_kind": error and error.kind,
            "error_message": error and error.message,
            "extractor": outcome.extractor,
            # camelCase as stats.json, the spelling files written before this type kept; counts of 0 left out
            "usage_json": json.dumps({k: v for k, v in outcome.usage.stats().items() if v}, separators=(",", ":")),
            "source": outcome.source,
            "cleaned_url": outcome.cleaned_url,
            "thumbnail": outcome.thumbnail if error is None and phash is not None else None,
        }

    # --- compaction ------------------------------------------------------------------------------------

    def compact(self, *, min_files: int = COMPACT_MIN_FILES) -> dict:
        """Merge this variant's small files (under ``COMPACT_SMALL_BYTES``) when there are ``min_files`` or more.

        Safe beside readers, writers and other compactions (see ``daskparse.cache.maintenance``). Expired rows are
        dropped; the others keep their times. This object's index is not reloaded: ``load_index()`` sees
        the merged files. Returns counts: files before and after, files merged and written, entries kept
        and dropped, merges aborted (a source vanished), sources kept (changed since listed), seconds.
        """
        started = time.perf_counter()
        result: dict[str, Any] = compact_folder(self.fs, self.folder, epoch_ms(self.clock()), min_files)
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
