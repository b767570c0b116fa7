"""Fetch: one source to its bytes, bounded in size, time and redirects.

http(s) goes through a pooled ``requests`` session (one per worker process, see ``http_session``);
anything else through fsspec. The body is streamed and cut off at ``max_bytes``: an oversized download is
never buffered whole. The first bytes are checked for an image signature, so an HTML error page served
with status 200 is refused before the rest of it is read.

Sources are URLs scraped from public groups, so by default a download may only reach public addresses:
every connection (the first and each redirect's) resolves its host itself, refuses loopback, link-local
(cloud metadata at 169.254.169.254), private and reserved addresses before a packet is sent, and then
connects to the address it checked, so a name that resolves differently a moment later (DNS rebinding)
changes nothing. ``allow_private_hosts`` turns this off. Behind an HTTP proxy the proxy connects for us:
then only the URL's own host is checked, before the request.
"""

from __future__ import annotations

import ipaddress
import mmap
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import fsspec
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import NameResolutionError, NewConnectionError

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
    allow_private_hosts: bool = False  # loopback, link-local and private addresses too (see the module docstring)


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


def public_addresses(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for ``host``, refused whole if any address is not public (a name with one private
    address among public ones is as dangerous as one with only private addresses)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        reason = refused_address(sockaddr[0])
        if reason:
            raise PrivateAddressError(f"{host} resolves to {sockaddr[0]} ({reason}); "
                                      "use --allow-private-hosts to fetch from such addresses")
    return infos


class _PublicOnlyConnection(HTTPConnection):
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


class _PublicOnlyHTTPSConnection(HTTPSConnection):
    _new_conn = _PublicOnlyConnection._new_conn  # TLS still verifies the certificate against the host name


class _PublicOnlyPool(HTTPConnectionPool):
    ConnectionCls = _PublicOnlyConnection


class _PublicOnlyHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicOnlyHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicOnlyPool, "https": _PublicOnlyHTTPSPool}


_sessions = threading.local()


def http_session(pool_size: int = 32, *, allow_private_hosts: bool = False) -> requests.Session:
    """A per-thread session (requests.Session is not documented as thread-safe) with a connection pool."""
    name = "any_host" if allow_private_hosts else "public_only"
    session = getattr(_sessions, name, None)
    if session is None:
        session = requests.Session()
        adapter_class = HTTPAdapter if allow_private_hosts else _PublicOnlyAdapter
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
    return _fetch_fsspec(source.cleaned_url if source.scheme == "file" else source.source, limits)


def _fetch_http(url: str, limits: FetchLimits) -> bytes:
    session = http_session(allow_private_hosts=limits.allow_private_hosts)
    session.max_redirects = limits.max_redirects
    deadline = time.monotonic() + limits.read_timeout
    try:
        if not limits.allow_private_hosts and session.trust_env and requests.utils.get_environ_proxies(url):
            parts = urlsplit(url)  # the proxy makes the connection: check the URL's own host now
            public_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        with session.get(url, stream=True, timeout=(limits.connect_timeout, limits.read_timeout)) as response:
            _check_status(response)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise SourceError("fetch.too_large", f"{int(declared):,} bytes declared; the limit is {limits.max_bytes:,}")
            # read1: whatever one recv brings (at most a chunk), so the deadline is checked as bytes trickle
            # in; iter_content would wait for a whole 64 KiB chunk, ~30 s at 1 KiB per 0.5 s
            chunks = iter(lambda: response.raw.read1(CHUNK_BYTES, decode_content=True), b"")
            return _read_bounded(chunks, limits.max_bytes, deadline)
    except PrivateAddressError as error:
        raise SourceError("fetch.private_address", str(error)) from None
    except socket.gaierror:
        raise SourceError("fetch.connection_failed", f"cannot resolve {urlsplit(url).hostname}", transient=True) from None
    except urllib3_exceptions.ReadTimeoutError:  # raised by read1 itself, not wrapped by requests
        raise SourceError("fetch.timeout", "the server stopped sending", transient=True) from None
    except (urllib3_exceptions.ProtocolError, urllib3_exceptions.DecodeError) as error:
        raise SourceError("fetch.connection_failed", _short(error), transient=True) from None
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
