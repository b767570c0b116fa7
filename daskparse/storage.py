"""Files written whole or not at all, on any fsspec filesystem: the output folder's and the cache's."""

from __future__ import annotations

import os
import posixpath
import time
import uuid
from typing import IO, Any, Callable

from fsspec.implementations.local import LocalFileSystem


def atomic_write(fs, folder: str, name: str, write: Callable[[IO[bytes]], Any], *, stamp_ms: int | None = None,
                 durable: bool = True) -> str:
    """``write(file)`` into ``folder/name`` through a temporary name in the same folder, then a move: a reader sees
    the whole file or none of it. Makes the folder; returns the final URL.

    The temporary name, ``.<name>.<epoch ms>.<random>.tmp``, is hidden from readers and says when the write began
    (``stamp_ms``, the writer's own clock; now by default), so a prune can tell a dead writer's leftover from a
    write in progress. ``durable``: on a local disk the file is flushed to the disk (fsync) before the move:
    otherwise a power cut soon after can leave the new name pointing at an empty file (the rename reaches the disk
    first). The cache does without: it writes a file per partition (per image on a Gemini run), and a file a
    power cut emptied is unreadable, which the cache skips and prunes like any other.
    """
    final = posixpath.join(folder, name)
    stamp = int(time.time() * 1000) if stamp_ms is None else stamp_ms
    temporary = posixpath.join(folder, f".{name}.{stamp}.{uuid.uuid4().hex[:12]}.tmp")
    fs.makedirs(folder, exist_ok=True)
    try:
        with fs.open(temporary, "wb") as file:
            write(file)
            if durable and isinstance(fs, LocalFileSystem):
                file.flush()
                os.fsync(file.fileno())
        fs.mv(temporary, final)
    finally:
        if fs.exists(temporary):
            try:
                fs.rm(temporary)
            except FileNotFoundError:  # another process's clean-up took it first
                pass
    return fs.unstrip_protocol(final)
