"""Fetch: one source to its bytes, bounded in size, time and redirects.

http(s) goes through a pooled ``requests`` session (one per worker process, see ``http_session``);
anything else through fsspec. The body is streamed and cut off at ``max_bytes``: an oversized download is
never buffered whole. The first bytes are checked for an image signature, so an HTML error page served
with status 200 is refused before the rest of it is read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import fsspec
import requests
from requests.adapters import HTTPAdapter

from daskparse.errors import SourceError
from daskparse.imagetypes import sniff
from daskparse.sources import Source

CHUNK_BYTES = 64 * 1024
USER_AGENT = "daskparse/0.1 (+flyer parser)"


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0  # the whole download, not one socket read: a trickling server is cut off
    max_bytes: int = 25 * 1024 * 1024
    max_redirects: int = 5


_sessions = threading.local()


def http_session(pool_size: int = 32) -> requests.Session:
    """A per-thread session (requests.Session is not documented as thread-safe) with a connection pool."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "image/*,*/*;q=0.5"
        _sessions.session = session
    return session


def fetch_bytes(source: Source, limits: FetchLimits = FetchLimits()) -> bytes:
    """The bytes of one image source; raises SourceError (``fetch.*`` / ``decode.not_an_image``)."""
    if source.scheme == "http":
        return _fetch_http(source.source, limits)
    return _fetch_fsspec(source.cleaned_url if source.scheme == "file" else source.source, limits)


def _fetch_http(url: str, limits: FetchLimits) -> bytes:
    session = http_session()
    session.max_redirects = limits.max_redirects
    deadline = time.monotonic() + limits.read_timeout
    try:
        with session.get(url, stream=True, timeout=(limits.connect_timeout, limits.read_timeout)) as response:
            _check_status(response)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise SourceError("fetch.too_large", f"{int(declared):,} bytes declared; the limit is {limits.max_bytes:,}")
            return _read_bounded(response.iter_content(CHUNK_BYTES), limits.max_bytes, deadline)
    except requests.TooManyRedirects:
        raise SourceError("fetch.too_many_redirects", f"more than {limits.max_redirects} redirects") from None
    except requests.Timeout:
        raise SourceError("fetch.timeout", "the server did not answer in time", transient=True) from None
    except requests.ConnectionError as error:
        raise SourceError("fetch.connection_failed", _short(error), transient=True) from None
    except requests.RequestException as error:
        raise SourceError("fetch.failed", _short(error)) from None


def _check_status(response: requests.Response) -> None:
    status = response.status_code
    if status in (404, 410):
        raise SourceError("fetch.not_found", f"HTTP {status}")
    if status == 429 or status >= 500:
        raise SourceError("fetch.server_error", f"HTTP {status}", transient=True)
    if status >= 400:
        raise SourceError("fetch.http_error", f"HTTP {status}")
    if status >= 300:  # a redirect requests did not follow (no Location header)
        raise SourceError("fetch.http_error", f"HTTP {status} without a usable redirect")


def _read_bounded(chunks, max_bytes: int, deadline: float) -> bytes:
    body = bytearray()
    for chunk in chunks:
        if not body and chunk:
            _check_signature(chunk)
        body += chunk
        if len(body) > max_bytes:
            raise SourceError("fetch.too_large", f"more than {max_bytes:,} bytes; download stopped")
        if time.monotonic() > deadline:
            raise SourceError("fetch.timeout", "the download took too long", transient=True)
    if not body:
        raise SourceError("decode.not_an_image", "the response was empty")
    return bytes(body)


def _check_signature(head: bytes) -> None:
    if sniff(head) is None:
        raise SourceError("decode.not_an_image", "the content is not an image (its first bytes match no image format)")


def _fetch_fsspec(url: str, limits: FetchLimits) -> bytes:
    try:
        with fsspec.open(url, "rb") as file:
            deadline = time.monotonic() + limits.read_timeout
            return _read_bounded(iter(lambda: file.read(CHUNK_BYTES), b""), limits.max_bytes, deadline)
    except FileNotFoundError:
        raise SourceError("fetch.not_found", "no such file") from None
    except IsADirectoryError:
        raise SourceError("fetch.not_found", "a directory, not a file") from None
    except PermissionError:
        raise SourceError("fetch.permission_denied", "permission denied") from None
    except OSError as error:
        raise SourceError("fetch.failed", _short(error)) from None


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
