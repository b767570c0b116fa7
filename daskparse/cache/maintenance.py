"""Keeping the cache in shape: stats, prune, clear (the ``python -m daskparse cache ...`` commands) and compaction.

Compaction: a Gemini run writes one file per image, and every file is a round trip for the next run's
index and hits. ``compact`` (at the end of a run, and from ``prune``) merges a variant's small files once
there are ``COMPACT_MIN_FILES`` of them: it reads them whole, drops expired rows, moves the merged file
into place, and only then deletes the sources it read, each only if unchanged since it was listed. A
source that vanished while being read (another compaction took it) aborts that merge, so two at once
never lose an entry (at worst both keep a copy). A reader whose index lists a merged-away file gets a miss.

Each row keeps when it expires as written, so a prune needs no settings. Temporary files older than
``TEMP_MAX_AGE`` were left by a writer that died.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daskparse.cache.files import (DAY, READ_THREADS, epoch_ms, filesystem, iso_time, list_files, read_key_tables,
                                   read_table, remove_file, unparseable, usable_rows, variant_folders, write_table)
from daskparse.cache.keys import ENTRY_NAME, LAYOUT, TEMP_NAME, is_part, merged_name
from daskparse.storage import atomic_write

logger = logging.getLogger("daskparse.cache")  # one name for the whole package, as when it was one module

TEMP_MAX_AGE = 3600.0  # a temp file older than this was left by a writer that died
AUTO_PRUNE_EVERY = DAY
# Compaction (see the module docstring). Below this many small files, merging costs more round trips
# (read each, write one, delete each) than it saves a run's index load.
COMPACT_MIN_FILES = 16
COMPACT_SMALL_BYTES = 1 << 20  # a file under this (~200 entries) is small: merged again with newer ones
COMPACT_TARGET_BYTES = 4 << 20  # inputs per merged file (~800 entries): a hit reads its whole file, keep it one GET


def cache_stats(url: str | None = None, now: float | None = None) -> dict:
    """Entries, live and expired, by status and variant; bytes; leftover temp and unreadable files."""
    fs, root = filesystem(url)
    now_ms = epoch_ms(time.time() if now is None else now)
    totals: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    variants: dict[str, dict] = {}
    stored_range: list[int] = []
    for variant, folder in variant_folders(fs, root):
        files = list_files(fs, folder, detail=True)
        parts = [f for f in files if is_part(posixpath.basename(f["name"]))]
        tables = read_key_tables(fs, [f["name"] for f in parts])
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
                      tempFiles=sum(1 for f in files if TEMP_NAME.match(posixpath.basename(f["name"]))))
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
        "oldest": iso_time(min(stored_range) / 1000) if stored_range else None,
        "newest": iso_time(max(stored_range) / 1000) if stored_range else None,
    }


def prune(url: str | None = None, now: float | None = None) -> dict:
    """Drop expired entries (delete or rewrite their files), unreadable files and temp files over an hour old."""
    return _prune(url, time.time() if now is None else now, rewrite=True)


def clear(url: str | None = None) -> dict:
    """Remove every cache file under ``url``: only files that are recognisably the cache's own (entry files named
    by their hash, temporary files, the prune marker) inside its ``v1`` folder, then the folders left empty.
    Anything else found there is left alone and counted in ``keptFiles``: ``--cache .`` or a ``v1/`` of
    someone else's never loses a file."""
    fs, root = filesystem(url)
    folder = posixpath.join(root, LAYOUT)
    removed = kept = 0
    if not fs.exists(folder):
        return {"url": url, "removedFiles": 0, "keptFiles": 0}
    for path in sorted(fs.find(folder)):
        relative = posixpath.relpath(path, folder).split("/")
        name = relative[-1]
        own = (len(relative) == 2 and (ENTRY_NAME.match(name) or TEMP_NAME.match(name))) or (
            len(relative) == 1 and (name == ".last-prune" or TEMP_NAME.match(name)))
        if own:
            remove_file(fs, path)
            removed += 1
        else:
            kept += 1
    for directory in [f for _, f in variant_folders(fs, root)] + [folder]:
        with contextlib.suppress(OSError):  # left in place when it still holds something not ours
            if not fs.ls(directory):
                fs.rmdir(directory)
    if kept:
        logger.warning("cache clear left %d files under %s that are not the cache's own", kept, folder)
    return {"url": url, "removedFiles": removed, "keptFiles": kept}


def auto_prune(url: str, now: float) -> None:
    """At most once a day per cache: delete whole expired files and stale temp files (no rewrites).

    No compaction here: it reads whole files, too slow for the start of a run; a run compacts what it
    wrote at its end (``ResultCache.compact_if_needed``), and ``prune`` compacts every variant."""
    fs, root = filesystem(url)
    marker = posixpath.join(root, LAYOUT, ".last-prune")
    try:
        if fs.exists(marker) and now - float(fs.cat_file(marker).decode() or 0) < AUTO_PRUNE_EVERY:
            return
    except (OSError, ValueError):
        pass
    result = _prune(url, now, rewrite=False)
    try:  # through a temporary name and a move: a symbolic link planted at the marker is replaced, not followed
        atomic_write(fs, posixpath.dirname(marker), posixpath.basename(marker),
                     lambda file: file.write(repr(now).encode()), stamp_ms=epoch_ms(now), durable=False)
    except OSError as error:
        logger.warning("could not record the cache prune time at %s: %s", marker, error)
    if result["filesDeleted"] or result["tempFilesRemoved"]:
        logger.info("cache pruned: %s", result)


def _prune(url: str | None, now: float, *, rewrite: bool) -> dict:
    fs, root = filesystem(url)
    now_ms = epoch_ms(now)
    result = Counter(filesDeleted=0, filesRewritten=0, entriesRemoved=0, entriesKept=0, tempFilesRemoved=0,
                     unreadableFilesRemoved=0)
    for _variant, folder in variant_folders(fs, root):
        paths = []
        for path in list_files(fs, folder):
            name = posixpath.basename(path)
            temp = TEMP_NAME.match(name)
            if temp and now_ms - int(temp["ms"]) > epoch_ms(TEMP_MAX_AGE):
                remove_file(fs, path)
                result["tempFilesRemoved"] += 1
            elif is_part(name):
                paths.append(path)
        for path, table in zip(paths, read_key_tables(fs, paths, quiet=True, keep_unusable=True)):
            if table is None:
                if rewrite and unparseable(fs, path):  # not a network hiccup: the file itself is bad
                    remove_file(fs, path)
                    result["unreadableFilesRemoved"] += 1
                continue
            unusable = ~np.asarray(usable_rows(table), dtype=bool)
            expired = table["expires_at"].cast(pa.int64()).fill_null(0).to_numpy() <= now_ms
            dropped = expired | unusable  # an entry no reader can use is as good as expired
            removed = 0
            if dropped.all():
                remove_file(fs, path)
                result["filesDeleted" if not unusable.all() else "unreadableFilesRemoved"] += 1
                removed = len(dropped)
            elif dropped.any() and rewrite:  # the automatic prune leaves partly expired files to this one
                whole = read_table(fs, path, keep_unusable=True)
                if whole is not None and len(whole) == len(dropped):
                    write_table(fs, posixpath.dirname(path), posixpath.basename(path),
                                whole.filter(pa.array(~dropped)), now_ms)
                    result["filesRewritten"] += 1
                    removed = int(dropped.sum())
            result["entriesRemoved"] += removed
            result["entriesKept"] += len(dropped) - removed
        if rewrite:  # after the pass above, so its counts stay about expiry; merging drops nothing more
            merged = compact_folder(fs, folder, now_ms, COMPACT_MIN_FILES)
            result.update(filesMerged=merged["filesMerged"], mergedFilesWritten=merged["filesWritten"])
    return {"url": url, **result}


def compact_folder(fs, folder: str, now_ms: int, min_files: int) -> Counter:
    """Merge the small part files of one variant folder in batches of up to ``COMPACT_TARGET_BYTES``."""
    listed = {posixpath.basename(f["name"]): f for f in list_files(fs, folder, detail=True)
              if f.get("type") == "file" and is_part(posixpath.basename(f["name"]))}
    result = Counter(filesBefore=len(listed), filesAfter=len(listed), filesMerged=0, filesWritten=0,
                     entriesKept=0, entriesDropped=0, mergesAborted=0, sourcesKept=0)
    small = sorted(name for name, f in listed.items() if int(f.get("size") or 0) < COMPACT_SMALL_BYTES)
    if len(small) < max(2, min_files):
        return result
    batches: list[list[str]] = []
    batch: list[str] = []
    batch_bytes = 0
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
    with ThreadPoolExecutor(min(READ_THREADS, len(paths))) as pool:
        tables = list(pool.map(lambda p: read_table(fs, p, quiet=True), paths))
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
        name = merged_name(sources)
        write_table(fs, folder, name, table, now_ms)  # raises before any source is touched
        result["filesWritten"] += 1
        result["filesAfter"] += 0 if name in listed else 1
    # Only files still as listed: one rewritten since (a re-run partition, a prune) holds rows not merged here.
    # (A rewrite between this listing and the delete is not seen: fsspec has no conditional delete.)
    now_listed = {posixpath.basename(f["name"]): f for f in list_files(fs, folder, detail=True)}
    for name in sources:
        if name not in now_listed:  # another compaction merged it too
            result["filesAfter"] -= 1
        elif _signature(now_listed[name]) == _signature(listed[name]):
            remove_file(fs, posixpath.join(folder, name))
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
