"""Files written whole or not at all, on any fsspec filesystem: the output folder's and the cache's; and the one
check of a location before a run writes there (``check_location``), whose failures say what is wrong in one line.
"""

from __future__ import annotations

import io
import os
import posixpath
import time
import uuid
from typing import IO, Any, Callable, Iterator
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from daskparse.errors import RunError

# Where a folder is only a key prefix: it needs no making, and makedirs there would CREATE a missing bucket
# (s3fs and gcsfs do), which must exist before a run: a typo would otherwise leave a new bucket behind.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
# botocore's error codes (ClientError.response["Error"]["Code"]) that mean "these credentials may not do this"
ACCESS_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                           "InvalidToken", "ExpiredToken", "AllAccessDisabled", "AccountProblem"})
NO_BUCKET = frozenset({"NoSuchBucket"})


def atomic_write(fs, folder: str, name: str, write: Callable[[IO[bytes]], Any], *, stamp_ms: int | None = None,
                 durable: bool = True) -> str:
    """``write(file)`` into ``folder/name`` through a temporary name in the same folder, then a move: a reader sees
    the whole file or none of it. Makes the folder; returns the final URL.

    On an object store an upload is already whole or nothing to readers, and a move is a copy and a delete: the
    file is written in memory and put under its name at once (1 request, where the move took 9 on S3).

    The temporary name, ``.<name>.<epoch ms>.<random>.tmp``, is hidden from readers and says when the write began
    (``stamp_ms``, the writer's own clock; now by default), so a prune can tell a dead writer's leftover from a
    write in progress. ``durable``: on a local disk the file is flushed to the disk (fsync) before the move:
    otherwise a power cut soon after can leave the new name pointing at an empty file (the rename reaches the disk
    first). The cache does without: it writes a file per partition (per image on a Gemini run), and a file a
    power cut emptied is unreadable, which the cache skips and prunes like any other.
    """
    final = posixpath.join(folder, name)
    if is_object_store(fs):  # written in memory first: a write that fails half way uploads nothing
        buffer = io.BytesIO()
        write(buffer)
        fs.pipe_file(final, buffer.getvalue())
        return fs.unstrip_protocol(final)
    stamp = int(time.time() * 1000) if stamp_ms is None else stamp_ms
    temporary = posixpath.join(folder, f".{name}.{stamp}.{uuid.uuid4().hex[:12]}.tmp")
    make_folder(fs, folder)
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


def is_object_store(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` keeps keys in buckets (S3, GCS, Azure): folders are key prefixes there."""
    return bool(protocols(fs) & OBJECT_STORES)


def is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is s3fs: S3 or an S3-compatible store (``AWS_ENDPOINT_URL``)."""
    return bool(protocols(fs) & {"s3", "s3a"})


def protocols(fs: fsspec.AbstractFileSystem) -> set[str]:
    """The names ``fs`` answers to ("s3", "s3a"; "file", "local")."""
    return {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)


def read_whole(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """A small object's bytes in one GET. s3fs first asks an object's size (a HEAD) to fetch a big one in
    concurrent ranges; one range at a time it does not ask."""
    if is_s3(fs):
        return fs.cat_file(path, max_concurrency=1)
    return fs.cat_file(path)


def make_folder(fs: fsspec.AbstractFileSystem, folder: str) -> None:
    """``fs.makedirs(folder)``, except on an object store, where a folder needs none and makedirs would create a
    missing bucket: there, the first write into a missing bucket fails instead (``check_location`` says so)."""
    if not is_object_store(fs):
        fs.makedirs(folder, exist_ok=True)


def check_object_stores(locations: list[tuple[str, str]], *, write: bool = True) -> None:
    """``check_location`` of each (url, flag) that is on an object store (or names an unknown protocol), in order.
    Local ones are left to their own checks (the output's lock, the cache's index load): probing one would make
    its folder, which a run that then fails on another location should not leave behind."""
    for url, what in locations:
        try:
            remote = is_object_store(fsspec.core.url_to_fs(url)[0])
        except (ValueError, ImportError):
            remote = True  # check_location says why it cannot be used
        if remote:
            check_location(url, what, write=write)


def check_location(url: str, what: str = "--output", *, write: bool = True) -> None:
    """Make sure ``url`` can be used before anything is written there: a probe file written and removed
    (``write``), or its folder listed (not ``write``: ``cache stats`` only reads). A failure is one RunError line
    naming ``what`` (the flag it came from) and the cause: no credentials, no such bucket, access denied, endpoint
    unreachable, or the error itself.

    >>> check_location("s3://no-such-bucket/out", "--output")  # doctest: +SKIP
    RunError: --output s3://no-such-bucket/out: the bucket no-such-bucket does not exist; create it first ...
    """
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as error:
        raise RunError(f"{what} {url} cannot be used: {error}") from None
    if write:
        probe_writable(fs, root.rstrip("/") or "/", url, what)
        return
    try:
        fs.ls(root)
    except Exception as error:  # noqa: BLE001 - botocore's and s3fs's failures, said in a line
        problem = location_problem(error, root, url, what)
        if problem is not None or not isinstance(error, FileNotFoundError):  # a missing folder is an empty one
            raise RunError(problem or f"{what} {url} cannot be read ({type(error).__name__}: {error})") from None


def probe_writable(fs: fsspec.AbstractFileSystem, folder: str, url: str, what: str,
                   error_type: type[RunError] = RunError) -> None:
    """Write and remove a probe file in ``folder`` (made first, unless on an object store: ``make_folder``); an
    ``error_type`` with one line saying why when that fails."""
    probe = posixpath.join(folder, f".probe.{uuid.uuid4().hex}.tmp")
    try:
        make_folder(fs, folder)
        fs.pipe_file(probe, b"")
        fs.rm(probe)
    except Exception as error:  # noqa: BLE001 - PermissionError, read-only bucket, bad credentials...
        problem = location_problem(error, folder, url, what)
        raise error_type(problem or f"{what} {url} is not writable ({type(error).__name__}: {error}); "
                         f"give another with {what} URL") from None


def location_problem(error: BaseException, path: str, url: str, what: str) -> str | None:
    """What ``error`` (met at ``path``, in or under ``url``, on its file system) says is wrong, in one line; None when it is
    none of the object-store failures a user can fix by name. botocore is looked at by its class and error code,
    through the chain s3fs wraps it in (a FileNotFoundError or PermissionError caused by a ClientError)."""
    bucket = path.lstrip("/").split("/", 1)[0]
    for cause in _chain(error):
        names = {kind.__name__ for kind in type(cause).__mro__}
        if names & {"NoCredentialsError", "PartialCredentialsError"}:
            return (f"{what} {url}: no credentials for it: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                    "AWS_PROFILE naming a profile of ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE)")
        if "EndpointConnectionError" in names or "ConnectTimeoutError" in names:
            endpoint = _endpoint(getattr(cause, "kwargs", {}).get("endpoint_url"))
            return f"{what} {url}: cannot reach the endpoint {endpoint}: is it up, and is AWS_ENDPOINT_URL right?"
        code = str(getattr(cause, "response", {}).get("Error", {}).get("Code", ""))
        if code in NO_BUCKET:
            return f"{what} {url}: the bucket {bucket} does not exist; create it first (daskparse never creates one)"
        if code in ACCESS_DENIED:
            return f"{what}: access denied to {url} for these credentials ({code})"  # the user's URL, not the probe's
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes, the outermost first (each once)."""
    seen = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _endpoint(address: str | None) -> str:
    """An endpoint URL without its path (botocore names the object's URL): "http://127.0.0.1:9000"."""
    if not address:
        return "(AWS_ENDPOINT_URL or the region's)"
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else address
