"""The cache's files on any fsspec location: the schema, reading and writing whole files, listing, times.

Files only ever appear by a move (``daskparse.storage.atomic_write``), so a reader sees a whole file or none; a file
that does not parse is skipped with a warning, and rows lacking a key column are left out.
"""

from __future__ import annotations

import logging
import posixpath
import time
from concurrent.futures import ThreadPoolExecutor

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from daskparse.cache.keys import LAYOUT
from daskparse.errors import RunError
from daskparse.storage import atomic_write, is_object_store, probe_writable, read_whole

logger = logging.getLogger("daskparse.cache")  # one name for the whole package, as when it was one module

DAY = 86400.0
READ_THREADS = 8  # index files are read concurrently: on an object store each is a round trip

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


class CacheError(RunError):
    """The cache location cannot be used (not writable, unknown protocol): the run stops with this message."""


def absolute_url(url: str) -> str:
    """A relative local path made absolute (as the client sees it); any other URL unchanged."""
    fs, root = filesystem(url)
    if "file" not in fs.protocol:
        return url
    return fs.unstrip_protocol(root) if url.startswith("file:") else root


def filesystem(url: str | None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The cache's file system and folder; no ``url``: the default cache (the user's cache folder)."""
    if url is None:
        from daskparse.settings import default_cache

        url = default_cache()
    try:
        # No listing cache: s3fs (gcsfs, adlfs) keep a folder's first listing for good and answer info() from it
        # (a file written since is "a directory"), so a client that had listed the cache missed what its workers
        # and other machines wrote after (stats, compaction, a partition's stored results). Opening a file then
        # asks its size first (a HEAD): read_table reads an object-store file whole instead (one GET)
        fs, root = fsspec.core.url_to_fs(url, use_listings_cache=False)
    except (ValueError, ImportError) as error:
        raise CacheError(f"cache location {url!r} cannot be used: {error}") from None
    return fs, root.rstrip("/") or "/"


def check_writable(fs, folder: str, url: str) -> None:
    """Write and remove a probe file in ``folder``; a CacheError saying why when that fails (no credentials, no
    such bucket, access denied...: ``daskparse.storage.probe_writable``)."""
    probe_writable(fs, folder, url, "--cache", CacheError)


def list_files(fs, folder: str, detail: bool = False) -> list:
    """``fs.ls``, with a missing folder listed as empty."""
    try:
        return fs.ls(folder, detail=detail)
    except FileNotFoundError:
        return []


def variant_folders(fs, root: str) -> list[tuple[str, str]]:
    """(variant, path) of every variant folder under the cache's layout folder."""
    return [(posixpath.basename(f["name"]), f["name"])
            for f in list_files(fs, posixpath.join(root, LAYOUT), detail=True) if f["type"] == "directory"]


def write_table(fs, folder: str, name: str, table: pa.Table, now_ms: int) -> str:
    """``table`` as ``folder/name``, whole or not at all; the temporary name carries the cache's clock (prune
    reads it)."""
    return atomic_write(fs, folder, name, lambda file: pq.write_table(table, file, compression="zstd"),
                        stamp_ms=now_ms, durable=False)  # a cache: see atomic_write


def remove_file(fs, path: str) -> None:
    """Remove a file that another run may have removed already."""
    try:
        fs.rm(path)
    except FileNotFoundError:  # another run removed it first
        pass


def read_table(fs, path: str, columns: list[str] | None = None, quiet: bool = False,
               keep_unusable: bool = False, warn_unusable: bool = True) -> pa.Table | None:
    """A cache file's rows (``columns`` only, when given); None when it is gone or cannot be read.

    Rows that parse but lack a key (a null URL key, stored time, expiry or status: a foreign or damaged
    writer) are left out, with a warning unless ``quiet`` or not ``warn_unusable`` (the index load warns; the
    look-ups that read the file again do not); ``keep_unusable`` keeps them (for ``prune``)."""
    try:
        if is_object_store(fs):  # small (a merged file ~4 MB), read whole anyway: one GET, where an open is a HEAD too
            table = pq.read_table(pa.BufferReader(read_whole(fs, path)), columns=columns)
        else:  # a local (or memory) file: only the columns asked for are read
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
    usable = usable_rows(table)
    unusable = len(table) - pc.sum(usable).as_py() if len(table) else 0
    if unusable:
        if warn_unusable and not quiet:
            logger.warning("skipping %d of %d entries of the cache file %s: a key column is empty "
                           "(`python -m daskparse cache prune` removes them)", unusable, len(table), path)
        table = table.filter(usable)
    return table


def usable_rows(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Which rows a reader can use: every key column a lookup or expiry check reads is set, the status known."""
    usable = pa.array([True] * len(table))
    for name in _REQUIRED_COLUMNS:
        if name in table.column_names:
            usable = pc.and_(usable, pc.is_valid(table[name]))
    if "status" in table.column_names:
        usable = pc.and_(usable, pc.fill_null(pc.is_in(table["status"], pa.array(STATUSES)), False))
    return usable


def unparseable(fs, path: str) -> bool:
    """Whether a file is there but is not Parquet (torn or foreign); False for a network error."""
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


def read_key_tables(fs, paths: list[str], quiet: bool = False, keep_unusable: bool = False) -> list[pa.Table | None]:
    """The key columns of each file (``read_table``), read concurrently."""
    if not paths:
        return []
    with ThreadPoolExecutor(min(READ_THREADS, len(paths))) as pool:
        return list(pool.map(lambda p: read_table(fs, p, KEY_COLUMNS, quiet, keep_unusable=keep_unusable), paths))


def read_part_rows(fs, path: str, quiet: bool = False) -> list[dict] | None:
    """Every usable row of one file as a dict, its times in epoch ms; None when the file cannot be read."""
    table = read_table(fs, path, quiet=quiet, warn_unusable=False)
    if table is None:
        return None
    rows = table.to_pylist()
    for row in rows:  # timestamps as epoch ms, like the index
        row["stored_at"] = epoch_ms(row["stored_at"].timestamp())
        row["expires_at"] = epoch_ms(row["expires_at"].timestamp())
    return rows


def epoch_ms(seconds: float) -> int:
    """Epoch seconds as whole milliseconds (the index's unit)."""
    return int(round(seconds * 1000))


def iso_time(seconds: float) -> str:
    """Epoch seconds as UTC ISO 8601 text with milliseconds ("2026-11-28T20:00:00.000Z")."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"
