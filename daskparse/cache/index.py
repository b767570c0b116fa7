"""A variant's index (as fsspec's cache_metadata): the key columns of every live row, merged from all its files.

Read once per run with column projection (``KEY_COLUMNS`` only: no thumbnails, no shows), concurrently, and kept as
numpy arrays, small enough to ship to the workers with the ``ResultCache``. Expired rows are left out as it is
built; an entry itself is read from its one file when it is looked up.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from daskparse.cache.files import epoch_ms, list_files, read_key_tables
from daskparse.cache.keys import is_part


@dataclass
class Index:
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


def read_index(fs, folder: str, now: float) -> Index:
    """The index of the variant folder ``folder``: every entry file listed, its key columns read, merged."""
    names = [posixpath.basename(p) for p in list_files(fs, folder) if is_part(posixpath.basename(p))]
    tables = read_key_tables(fs, [posixpath.join(folder, n) for n in names])
    return _build_index(names, tables, now)


def _build_index(names: list[str], tables: list[pa.Table | None], now: float) -> Index:
    kept = [(i, t) for i, t in enumerate(tables) if t is not None and len(t)]
    if not kept:
        return Index(parts=list(names))
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
    live = expires > epoch_ms(now)  # expired rows are left out of the index at once
    keep = np.flatnonzero(live)
    index = Index(parts=list(names), part=part[keep], url=url[keep], phash=phash[keep],
                  has_phash=has_phash[keep], stored=stored[keep], expires=expires[keep], error=error[keep])
    sha = sha[keep]
    index.url_rows = np.lexsort((-index.stored, index.url))
    index.url_sorted = index.url[index.url_rows]
    with_sha = np.flatnonzero(sha != b"")
    index.sha_rows = with_sha[np.lexsort((-index.stored[with_sha], sha[with_sha]))]
    index.sha_sorted = sha[index.sha_rows]
    return index
