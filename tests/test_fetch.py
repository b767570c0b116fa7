import fsspec
import pytest

from conftest import jpeg_bytes
from daskparse.errors import SourceError
from daskparse.fetch import FetchLimits, fetch_bytes, refused_address
from daskparse.sources import expand_sources

# the test servers listen on 127.0.0.1: let downloads reach it (the guard itself is tested at the end)
LIMITS = FetchLimits(connect_timeout=2, read_timeout=2, max_bytes=200_000, max_redirects=5, allow_private_hosts=True)


def fetch(url, limits=LIMITS):
    (source,), _ = expand_sources([url])
    return fetch_bytes(source, limits)


def kind_of(url, limits=LIMITS):
    with pytest.raises(SourceError) as caught:
        fetch(url, limits)
    return caught.value.kind


def test_fetches_an_image_over_http_and_follows_a_few_redirects(image_server):
    image = jpeg_bytes()
    assert fetch(image_server.add("/a.jpg", image, content_type="image/jpeg")) == image
    image_server.add("/redirect/0", image)
    assert fetch(image_server.url("/redirect/5")) == image


def test_http_failures_have_stable_kinds(image_server):
    image = jpeg_bytes()
    assert kind_of(image_server.url("/missing.jpg")) == "fetch.not_found"
    assert kind_of(image_server.add("/gone.jpg", status=410)) == "fetch.not_found"
    assert kind_of(image_server.add("/boom.jpg", status=500)) == "fetch.server_error"
    assert kind_of(image_server.add("/denied.jpg", status=403)) == "fetch.http_error"
    assert kind_of(image_server.url("/loop")) == "fetch.too_many_redirects"
    image_server.add("/redirect/0", image)
    assert kind_of(image_server.url("/redirect/6")) == "fetch.too_many_redirects"
    assert kind_of(image_server.add("/page.jpg", b"<!doctype html><html>login</html>", content_type="image/jpeg")) \
        == "decode.not_an_image"
    assert kind_of(image_server.add("/empty.jpg", b"")) == "decode.not_an_image"
    assert kind_of("http://127.0.0.1:9/closed.jpg") == "fetch.connection_failed"


def test_transient_failures_are_marked_transient(image_server):
    with pytest.raises(SourceError) as caught:
        fetch(image_server.add("/boom.jpg", status=503))
    assert caught.value.transient
    with pytest.raises(SourceError) as caught:
        fetch(image_server.url("/missing.jpg"))
    assert not caught.value.transient


def test_size_limit_stops_the_download_while_streaming(image_server):
    # declared too large: refused before reading
    assert kind_of(image_server.add("/big.jpg", jpeg_bytes(), declared_length=10**9)) == "fetch.too_large"
    # no honest length, an endless body: cut off at the limit, not buffered whole
    endless = image_server.add("/endless.jpg", b"\xff\xd8\xff" + b"\0" * 65533, endless=True)
    assert kind_of(endless) == "fetch.too_large"


def test_a_trickling_server_hits_the_whole_download_deadline(image_server):
    """1 KiB every 0.3 s never trips a socket timeout; the 1 s deadline must still end it, not the ~20 s a
    64 KiB chunk would take to fill (the bound below is loose on purpose: it tells one from the other)."""
    import time

    slow = image_server.add("/slow.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 65536, trickle_seconds=0.3)
    limits = FetchLimits(connect_timeout=2, read_timeout=1.0, max_bytes=10**7, allow_private_hosts=True)
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        fetch(slow, limits)
    assert caught.value.kind == "fetch.timeout" and caught.value.transient
    assert time.monotonic() - started < 8


def test_local_and_fsspec_sources(tmp_path):
    image = jpeg_bytes()
    (tmp_path / "a.jpg").write_bytes(image)
    assert fetch(str(tmp_path / "a.jpg")) == image
    (tmp_path / "page.jpg").write_text("<html>nope</html>")
    assert kind_of(str(tmp_path / "page.jpg")) == "decode.not_an_image"
    fsspec.filesystem("memory").pipe("/fetch/a.jpg", image)
    assert fetch("memory://fetch/a.jpg") == image
    assert kind_of("memory://fetch/none.jpg") == "fetch.not_found"
    (tmp_path / "huge.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 300_000)
    assert kind_of(str(tmp_path / "huge.jpg")) == "fetch.too_large"


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"), ("10.0.0.8", "private"),
    ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"), ("0.0.0.0", "private"),
    ("224.0.0.251", "multicast"), ("100.64.0.1", "not globally routable"),
    ("93.184.216.34", None), ("2606:4700:4700::1111", None),
    # cloud metadata and control endpoints on public addresses: Azure's wire server, Oracle Cloud's metadata
    ("168.63.129.16", "cloud metadata"), ("192.0.0.192", "cloud metadata"), ("::ffff:192.0.0.192", "cloud metadata"),
    # IPv6 carrying a private IPv4 address: 6to4, Teredo (server or client, the client's bits inverted), NAT64
    ("2002:7f00:1::", "loopback (6to4 of 127.0.0.1)"), ("2002:a9fe:a9fe::1", "link-local (6to4 of 169.254.169.254)"),
    ("2002:a00:1::", "private (6to4 of 10.0.0.1)"), ("2002:a83f:8110::", "cloud metadata (6to4 of 168.63.129.16)"),
    ("2001:0:a9fe:a9fe::5db8:d822", "link-local (Teredo server 169.254.169.254)"),
    ("2001:0:5db8:d822::80ff:fffe", "loopback (Teredo client 127.0.0.1)"),
    ("64:ff9b::7f00:1", "loopback (NAT64 of 127.0.0.1)"), ("64:ff9b::a9fe:a9fe", "link-local (NAT64 of 169.254.169.254)"),
    ("64:ff9b::5db8:d822", None),  # NAT64 of a public address reaches just that address (DNS64 networks)
])
def test_which_addresses_downloads_may_reach(address, reason):
    """The guard as a function: nothing is sent anywhere."""
    assert refused_address(address) == reason


def test_private_hosts_are_refused_before_any_request_and_allowed_on_request(image_server):
    image = image_server.add("/a.jpg", jpeg_bytes(), content_type="image/jpeg")
    refuse = FetchLimits(connect_timeout=2, read_timeout=2, max_bytes=200_000)
    assert kind_of(image, refuse) == "fetch.private_address"
    assert kind_of(image.replace("127.0.0.1", "localhost"), refuse) == "fetch.private_address"
    assert image_server.hits["/a.jpg"] == 0  # refused before connecting
    assert fetch(image) == jpeg_bytes()  # LIMITS allow private hosts


def test_a_redirect_is_checked_like_the_first_request(image_server, monkeypatch):
    """Every connection is checked, a redirect's too. Here the first server's port counts as public, and its
    redirect to a second loopback server is refused before that server sees a request."""
    import socket

    import daskparse.fetch as fetch_module
    from daskparse.testing.image_server import ImageServer

    checked = fetch_module.public_addresses

    def first_server_is_public(host, port):
        if port == image_server.port:
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return checked(host, port)

    monkeypatch.setattr(fetch_module, "public_addresses", first_server_is_public)
    refuse = FetchLimits(connect_timeout=2, read_timeout=2, max_bytes=200_000)
    with ImageServer() as target:
        target.add("/a.jpg", jpeg_bytes())
        image_server.add("/moved.jpg", status=302, headers=(("Location", target.url("/a.jpg")),))
        assert kind_of(image_server.url("/moved.jpg"), refuse) == "fetch.private_address"
        assert image_server.hits["/moved.jpg"] == 1 and target.hits["/a.jpg"] == 0
