"""Fetch: one source to its bytes, bounded in size, time and redirects.

http(s) goes through a pooled ``requests`` session (one per worker thread, see ``http_session``);
anything else through fsspec. The body is streamed and cut off at ``max_bytes``: an oversized download is
never buffered whole. The first bytes are checked for an image signature, so an HTML error page served
with status 200 is refused before the rest of it is read.

Redirects are followed here, not by ``requests`` (which reads every redirect's body whole, even with
``allow_redirects=False``): each redirect response is closed unread, its Location must be http(s), and every
hop counts against ``max_redirects`` and passes the address guard. One deadline, ``read_timeout``, covers the
whole fetch: connecting, headers, every hop and the body. Socket timeouts bound only one read each (a server
trickling its headers a byte at a time never trips one), so a timer shuts the fetch's sockets down when the
deadline passes (``_Deadline``).

Sources are URLs scraped from public groups, so by default a download may only reach public addresses:
every connection (the first and each redirect's) resolves its host itself, refuses loopback, link-local
(cloud metadata at 169.254.169.254), private and reserved addresses before a packet is sent, and then
connects to the address it checked, so a name that resolves differently a moment later (DNS rebinding)
changes nothing. ``allow_private_hosts`` turns this off. Behind an HTTP proxy the proxy connects for us:
then each hop's host is checked before the proxy is asked for it (the proxy resolves the name again itself).
"""

from __future__ import annotations

import http.client
import ipaddress
import mmap
import os
import re
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Sequence, TypeAlias
from urllib.parse import urljoin, urlsplit

import fsspec
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from daskparse.errors import SourceError
from daskparse.imagetypes import sniff
from daskparse.options import FetchLimits
from daskparse.sources import Source

CHUNK_BYTES = 64 * 1024
USER_AGENT = "daskparse/0.1 (+flyer parser)"


class PrivateAddressError(Exception):
    """A host resolved to an address downloads may not reach. Not an OSError: urllib3 must not retry or wrap it."""


# Public addresses that answer as a cloud's metadata or control service inside its networks (169.254.169.254,
# AWS's fd00:ec2::254 and Alibaba's 100.100.100.200 are refused as link-local, private, not globally routable).
_CLOUD_METADATA = {ipaddress.ip_address("168.63.129.16"),  # Azure's wire server
                   ipaddress.ip_address("192.0.0.192")}  # Oracle Cloud's instance metadata
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix: the gateway sends to the last 32 bits


def refused_address(address: str) -> str | None:
    """Why downloads may not reach this IP address ("loopback", "link-local", "private", ...), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is not part of it
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return refused_address(str(ip.ipv4_mapped))  # ::ffff:127.0.0.1 is loopback
        # IPv6 that carries an IPv4 address the packets end up at: 127.0.0.1 inside 6to4 is still loopback
        for how, embedded in _embedded_ipv4(ip):
            reason = refused_address(str(embedded))
            if reason:
                return f"{reason} ({how} {embedded})"
        if ip in _NAT64:
            return None  # what the gateway reaches is the IPv4 address just judged public
    if ip in _CLOUD_METADATA:
        return "cloud metadata"
    for name in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None if ip.is_global else "not globally routable"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    if ip.sixtofour is not None:
        return [("6to4 of", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    if ip in _NAT64:
        return [("NAT64 of", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))]
    return []


def public_addresses(host: str, port: int) -> list[tuple]:  # getaddrinfo's tuples
    """``getaddrinfo`` for ``host``, refused whole if any address is not public (a name with one private
    address among public ones is as dangerous as one with only private addresses)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        assert isinstance(sockaddr[0], str)  # an IPv4 or IPv6 address: a stream socket's families
        reason = refused_address(sockaddr[0])
        if reason:
            raise PrivateAddressError(f"{host} resolves to {sockaddr[0]} ({reason}); "
                                      "use --allow-private-hosts to fetch from such addresses")
    return infos


class _Deadline:
    """One deadline for a whole fetch, kept by a timer that shuts the fetch's sockets down when it passes.

    Each connection the fetch opens or reuses registers its socket here (``_Watched``) while the fetch runs on
    this thread. The timer shuts down a duplicate of it (``os.dup``): one fd of the same connection, so the
    blocked read returns at once, whatever it waits for (a TLS handshake, headers, a body); and one that is ours
    alone, closed when the fetch ends, so a late timer never touches an fd number reused by another file.
    """

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._ended = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.name = "daskparse-fetch-deadline"

    def left(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        try:
            duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:  # already closed
            return
        with self._lock:
            if not (self._ended or self.expired):
                self._sockets.append(duplicate)
                return
            expired = self.expired
        if expired:
            _shut_down(duplicate)
        duplicate.close()

    def _expire(self) -> None:
        with self._lock:
            if self._ended:
                return
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)

    def __enter__(self) -> "_Deadline":
        _running.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        _running.deadline = None
        self._timer.cancel()
        with self._lock:
            self._ended = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


_running = threading.local()  # .deadline: the _Deadline of the fetch running on this thread


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already shut or reset
        pass


def _watch(sock: socket.socket) -> None:
    deadline = getattr(_running, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


if TYPE_CHECKING:  # the mixins below go before urllib3's connection classes, whose methods they extend
    _Connection: TypeAlias = HTTPConnection
else:
    _Connection = object


class _Watched(_Connection):
    """Connection mixin: its socket is watched by the deadline of the fetch using it (see ``_Deadline``)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before TLS: a handshake trickled byte by byte is cut off too
        return sock

    def request(self, *args, **kwargs):
        if self.sock is not None:  # a pooled connection, reused by this fetch
            _watch(self.sock)
        return super().request(*args, **kwargs)


class _PublicOnly(_Connection):
    """Connection mixin: the address guard (see the module docstring)."""

    _dns_host: str  # urllib3's, set by its host setter: the name (or here the address) it connects to

    def _new_conn(self) -> socket.socket:
        """Connect to an address ``public_addresses`` checked, not to whatever the name resolves to next."""
        name = self._dns_host
        try:
            infos = public_addresses(name, self.port)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        try:
            for i, address in enumerate(addresses):
                self._dns_host = address  # urllib3 connects to _dns_host; TLS still checks self.host
                try:
                    return super()._new_conn()
                except NewConnectionError:
                    if i == len(addresses) - 1:
                        raise
        finally:
            self._dns_host = name
        raise NewConnectionError(self, f"no address for {name}")


class _WatchedConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _PublicOnlyConnection(_PublicOnly, _Watched, HTTPConnection):
    pass


class _PublicOnlyHTTPSConnection(_PublicOnly, _Watched, HTTPSConnection):
    pass  # TLS still verifies the certificate against the host name


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _PublicOnlyPool(HTTPConnectionPool):
    ConnectionCls = _PublicOnlyConnection


class _PublicOnlyHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicOnlyHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    pools = _WATCHED_POOLS

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pools)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            # the proxy may be on a private address (a company's): the deadline watches it, the guard does not
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


class _PublicOnlyAdapter(_WatchedAdapter):
    pools = {"http": _PublicOnlyPool, "https": _PublicOnlyHTTPSPool}


class _Session(requests.Session):
    def get_redirect_target(self, resp: requests.Response) -> None:
        """None: requests follows no redirect, and reads no redirect's body (it does even with
        ``allow_redirects=False``, to prepare ``Response.next``); ``_fetch_http`` follows them itself."""
        return None


_sessions = threading.local()


def http_session(pool_size: int = 32, *, allow_private_hosts: bool = False) -> requests.Session:
    """A per-thread session (requests.Session is not documented as thread-safe) with a connection pool."""
    name = "any_host" if allow_private_hosts else "public_only"
    session = getattr(_sessions, name, None)
    if session is None:
        session = _Session()
        adapter_class = _WatchedAdapter if allow_private_hosts else _PublicOnlyAdapter
        adapter = adapter_class(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "image/*,*/*;q=0.5"
        setattr(_sessions, name, session)
    return session


def fetch_bytes(source: Source, limits: FetchLimits = FetchLimits()) -> bytes:
    """The bytes of one image source; raises SourceError (``fetch.*`` / ``decode.not_an_image``)."""
    if source.scheme == "http":
        return _fetch_http(source.source, limits)
    if source.scheme == "file":  # its path, not its cleaned URL: fsspec would open "my%20flyer.jpg" as written
        return _fetch_fsspec(source.path, limits, opener=open)
    return _fetch_fsspec(source.source, limits)


def _fetch_http(url: str, limits: FetchLimits) -> bytes:
    with _Deadline(limits.read_timeout) as deadline:
        try:
            data = _follow_redirects(url, limits, deadline)
        except Exception as error:
            if not deadline.expired or getattr(error, "kind", None) == "fetch.timeout":
                raise
            data = None  # the timer shut the connection down: whatever broke as a result, the deadline is why
        if deadline.expired:  # also a body without a length, cut by the timer: it ends like a whole one
            raise SourceError("fetch.timeout", f"no whole answer within {limits.read_timeout:g} s", transient=True)
        assert data is not None  # only a fetch the deadline cut has none, and that raised just above
        return data


def _follow_redirects(url: str, limits: FetchLimits, deadline: _Deadline) -> bytes:
    session = http_session(allow_private_hosts=limits.allow_private_hosts)
    connect_timeout = limits.connect_timeout
    try:
        for _hop in range(limits.max_redirects + 1):  # the first request, then one per redirect followed
            if not limits.allow_private_hosts:
                _check_proxied_host(session, url)
            left = deadline.left()
            if left <= 0:
                raise SourceError("fetch.timeout", "the redirects took too long", transient=True)
            connect_timeout = min(limits.connect_timeout, left)
            with session.get(url, stream=True, allow_redirects=False, timeout=(connect_timeout, left)) as response:
                if not response.is_redirect:  # a 301, 302, 303, 307 or 308 with a Location
                    return _read_body(response, limits, deadline)
                location = response.headers["Location"]
            # leaving the block closed the redirect unread: its body may be anything, of any size
            url = _redirect_url(url, location)
        raise SourceError("fetch.too_many_redirects", f"more than {limits.max_redirects} redirects")
    except PrivateAddressError as error:
        raise SourceError("fetch.private_address", str(error)) from None
    except socket.gaierror:
        raise SourceError("fetch.connection_failed", f"name not found: {urlsplit(url).hostname}",
                          transient=True) from None
    except urllib3_exceptions.ReadTimeoutError:  # raised by read1 itself, not wrapped by requests
        raise SourceError("fetch.timeout", f"{_where(url)} stopped sending", transient=True) from None
    except (urllib3_exceptions.ProtocolError, urllib3_exceptions.DecodeError) as error:
        raise SourceError("fetch.connection_failed", _plain(error, url, connect_timeout), transient=True) from None
    except requests.ConnectTimeout as error:  # before Timeout: it is one
        raise SourceError("fetch.timeout", _plain(error, url, connect_timeout), transient=True) from None
    except requests.Timeout:
        raise SourceError("fetch.timeout", f"{_where(url)} did not answer in time", transient=True) from None
    except requests.ConnectionError as error:
        raise SourceError("fetch.connection_failed", _plain(error, url, connect_timeout), transient=True) from None
    except requests.RequestException as error:
        raise SourceError("fetch.failed", _plain(error, url, connect_timeout)) from None
    except (urllib3_exceptions.HTTPError, http.client.HTTPException, OSError) as error:  # e.g. TLS cut mid-body
        raise SourceError("fetch.connection_failed", _plain(error, url, connect_timeout), transient=True) from None


def _check_proxied_host(session: requests.Session, url: str) -> None:
    """Behind a proxy no connection of ours reaches the host, so check it before the proxy is asked for it."""
    if session.trust_env and requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)):
        parts = urlsplit(url)
        public_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def _redirect_url(current: str, location: str) -> str:
    """The absolute URL a redirect's Location names (it may be relative), if it is one fetch may follow."""
    # http.client decodes headers as latin-1; servers send UTF-8 (requests' get_redirect_target does the same)
    location = location.encode("latin-1", "replace").decode("utf-8", "replace").strip()
    try:
        url = requests.utils.requote_uri(urljoin(current, location))
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0  # port: may raise
    except ValueError:  # a port out of range, an unclosed IPv6 bracket
        valid = False
    if not valid:
        raise SourceError("fetch.bad_redirect", f"a redirect to {_clip(_scrubbed(location))!r}: only http(s) URLs are followed")
    return url


def _read_body(response: requests.Response, limits: FetchLimits, deadline: _Deadline) -> bytes:
    _check_status(response)
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise SourceError("fetch.too_large", f"{int(declared):,} bytes declared; the limit is {limits.max_bytes:,}")
    # read1: whatever one recv brings (at most a chunk), so the deadline is checked as bytes trickle
    # in; iter_content would wait for a whole 64 KiB chunk, ~30 s at 1 KiB per 0.5 s
    chunks = iter(lambda: response.raw.read1(CHUNK_BYTES, decode_content=True), b"")
    return _read_bounded(chunks, limits.max_bytes, deadline.at)


def _check_status(response: requests.Response) -> None:
    status = response.status_code
    if status in (404, 410):
        raise SourceError("fetch.not_found", f"HTTP {status}")
    if status == 429 or status >= 500:
        raise SourceError("fetch.server_error", f"HTTP {status}", transient=True)
    if status >= 400:
        raise SourceError("fetch.http_error", f"HTTP {status}")
    if status >= 300:  # a redirect fetch cannot follow (no Location header), or a 300 or 304
        raise SourceError("fetch.http_error", f"HTTP {status} without a usable redirect")


def _read_bounded(chunks, max_bytes: int, deadline: float) -> bytes:
    # The body gathers in an anonymous mapping of its own, not on the malloc heap: unmapped at the end, it
    # hands every page back to the kernel at once. A heap buffer stopped at max_bytes (25 MB) stayed with the
    # worker: glibc raises its mmap threshold to the size of the first such buffer freed, so the next ones
    # are carved from its per-thread arenas and kept there (worker RSS ~+25 MB per too-large download,
    # BENCHMARKS.md, stress). Only the pages written are ever touched.
    with mmap.mmap(-1, max(1, max_bytes)) as body:
        size = 0
        for chunk in chunks:
            if not size and chunk:
                _check_signature(chunk)
            if size + len(chunk) > max_bytes:
                raise SourceError("fetch.too_large", f"more than {max_bytes:,} bytes; download stopped")
            body[size:size + len(chunk)] = chunk
            size += len(chunk)
            if time.monotonic() > deadline:
                raise SourceError("fetch.timeout", "the download took too long", transient=True)
        if not size:
            raise SourceError("decode.not_an_image", "the response was empty")
        return body[:size]


def _check_signature(head: bytes) -> None:
    if sniff(head) is None:
        raise SourceError("decode.not_an_image", "the content is not an image (its first bytes match no image format)")


def _fetch_fsspec(url: str, limits: FetchLimits, opener=fsspec.open) -> bytes:
    """``url`` read through fsspec, or a local path through ``opener=open`` (no URL parsing: a "::" or a "#"
    in a file's name is part of it)."""
    try:
        with opener(url, "rb") as file:
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
    return _clip(_scrubbed(str(error)) or type(error).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


# A message for the user, not a traceback (issue 15): requests and urllib3 put their pool and connection reprs
# in their messages ("HTTPConnectionPool(host=..., port=...): Max retries exceeded ... <urllib3.connection
# .HTTPConnection object at 0x7f...>"). What went wrong is further down the chain of causes: say that.

def _plain(error: BaseException, url: str, connect_timeout: float) -> str:
    """What went wrong with a connection, in words: "connection refused by 127.0.0.1:8080"."""
    causes = _causes(error)
    host, port = _peer(url, causes)
    proxied = any(isinstance(cause, (urllib3_exceptions.ProxyError, requests.exceptions.ProxyError))
                  for cause in causes)
    return ("through the proxy: " if proxied else "") + _what_happened(causes, host, port, connect_timeout)


def _what_happened(causes: list[BaseException], host: str, port: int | str, connect_timeout: float) -> str:
    def first(*types):
        return next((cause for cause in causes if isinstance(cause, types)), None)

    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if first(NameResolutionError, socket.gaierror):
        return f"name not found: {host}"
    if found := first(ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} is not trusted ({found.verify_message or found.reason})"
    if found := first(ssl.SSLError):  # reason: OpenSSL's code, WRONG_VERSION_NUMBER for a server without TLS
        reason = (found.reason or found.strerror or "no reason given").replace("_", " ").lower()
        return f"TLS failed with {where} ({reason})"
    if first(ConnectionRefusedError):
        return f"connection refused by {where}"
    if first(http.client.RemoteDisconnected):  # before ConnectionResetError: it is one
        return f"{where} closed the connection without answering"
    if first(ConnectionResetError, BrokenPipeError):
        return f"connection reset by {where}"
    if first(http.client.IncompleteRead, urllib3_exceptions.IncompleteRead):
        return f"{where} closed the connection before the whole answer arrived"
    if first(requests.ConnectTimeout) or any(isinstance(cause, ConnectTimeoutError)
                                              and not isinstance(cause, NewConnectionError) for cause in causes):
        return f"timed out after {connect_timeout:g} s connecting to {where}"
    if first(http.client.HTTPException, urllib3_exceptions.HeaderParsingError):  # a status line like "SSH-2.0"
        return f"{where} did not answer in HTTP"
    if first(urllib3_exceptions.DecodeError):
        return f"{where} sent a body that could not be decompressed"
    found = first(OSError)
    if found is not None and found.errno and not isinstance(found, (requests.RequestException,
                                                                   urllib3_exceptions.HTTPError)):
        return f"{os.strerror(found.errno).lower()} ({where})"  # "network is unreachable", "no route to host"
    return _short(causes[-1])


def _causes(error: BaseException) -> list[BaseException]:
    """The error and all it wraps (urllib3's reason, __cause__, __context__, exceptions in args), outermost first."""
    found: list[BaseException] = []
    waiting = [error]
    while waiting:
        cause = waiting.pop(0)
        if any(cause is seen for seen in found):
            continue
        found.append(cause)
        inner = [getattr(cause, "reason", None), cause.__cause__, cause.__context__, *cause.args]
        waiting += [item for item in inner if isinstance(item, BaseException)]
    return found


def _peer(url: str, causes: Sequence[BaseException] = ()) -> tuple[str, int | str]:
    """Host and port of the connection that failed: the proxy's when it was the proxy, else the URL's."""
    for cause in causes:
        connection = getattr(cause, "conn", None)  # urllib3's NewConnectionError and its kin
        peer_host, peer_port = getattr(connection, "host", None), getattr(connection, "port", None)
        if peer_host and peer_port:
            return peer_host, peer_port
    parts = urlsplit(url)
    port: int | str
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # out of range: the request failed on it
        port = "?"
    return parts.hostname or "", port


def _where(url: str) -> str:
    host, port = _peer(url)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_REPRS = re.compile(r"<[^<>]*? object at 0x[0-9a-fA-F]+>|\b\w+(?:Pool|Connection)\(host='([^']*)', port=(\d+)\)")


def _scrubbed(text: str) -> str:
    """No object reprs or addresses in a message, whatever library wrote it (the fallback of ``_plain``)."""
    return _REPRS.sub(lambda match: f"{match[1]}:{match[2]}" if match[1] is not None else "a connection", text)
