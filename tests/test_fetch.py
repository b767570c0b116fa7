import contextlib
import datetime as dt
import gzip
import socket
import ssl
import struct
import threading
import time

import fsspec
import pytest

import daskparse.fetch as fetch_module
from conftest import jpeg_bytes
from daskparse.errors import SourceError
from daskparse.fetch import FetchLimits, fetch_bytes, refused_address
from daskparse.sources import expand_sources
from daskparse.testing.image_server import ImageServer

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


def test_a_redirect_is_closed_unread(image_server):
    """requests read each redirect's body whole (a 302 carrying 120 MB was read into memory): the server sees
    the connection closed after what the kernel buffers took, not the whole 32 MiB."""
    image = jpeg_bytes()
    image_server.add("/a.jpg", image)
    image_server.add("/moved", b"r" * 2**20, repeat=32, status=302, headers=(("Location", "/a.jpg"),))
    # the same for a small gzip body that inflates to 64 MiB: never read, never inflated
    image_server.add("/zipped", gzip.compress(b"\0" * 2**20), repeat=64, status=302,
                     headers=(("Location", "/moved"), ("Content-Encoding", "gzip")))
    assert fetch(image_server.url("/zipped")) == image
    assert image_server.wait_done("/moved")
    assert image_server.sent["/moved"] < 16 * 2**20


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_of_every_kind_and_form_are_followed(image_server, status):
    image = jpeg_bytes()
    image_server.add("/img/a.jpg", image)
    forms = {"/absolute": image_server.url("/img/a.jpg"), "/scheme-relative": f"//127.0.0.1:{image_server.port}/img/a.jpg",
             "/root-relative": "/img/a.jpg", "/img/relative": "a.jpg", "/img/sub/dot-dot": "../a.jpg"}
    for path, location in forms.items():
        image_server.add(path, b"moved", status=status, headers=(("Location", location),))
        assert fetch(image_server.url(path)) == image, location
    assert image_server.hits["/img/a.jpg"] == len(forms)


def test_redirects_fetch_does_not_follow(image_server):
    """A Location that is not http(s) has a kind of its own, and is never fetched; no Location, or more
    redirects than allowed, keep theirs."""
    for location in ("ftp://127.0.0.1:21/a.jpg", "file:///etc/passwd", "javascript:alert(1)", "https://", "http://[::1"):
        assert kind_of(image_server.add("/odd", status=302, headers=(("Location", location),))) == "fetch.bad_redirect"
    assert kind_of(image_server.add("/nowhere", status=302)) == "fetch.http_error"
    image_server.add("/a.jpg", jpeg_bytes())
    once = image_server.add("/once", status=302, headers=(("Location", "/a.jpg"),))
    no_redirects = FetchLimits(connect_timeout=2, read_timeout=2, max_redirects=0, allow_private_hosts=True)
    assert kind_of(once, no_redirects) == "fetch.too_many_redirects"
    assert fetch(image_server.url("/a.jpg"), no_redirects) == jpeg_bytes()
    assert image_server.hits["/a.jpg"] == 1


def test_headers_trickled_byte_by_byte_are_cut_off_at_the_deadline(image_server):
    """A byte every 0.4 s never trips a socket timeout: the header trickle held a 2 s fetch for 26 s."""
    stall = image_server.add("/stall.jpg", jpeg_bytes(), trickle_head_seconds=0.4)
    limits = FetchLimits(connect_timeout=2, read_timeout=2, allow_private_hosts=True)
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        fetch(stall, limits)
    assert caught.value.kind == "fetch.timeout" and caught.value.transient
    assert time.monotonic() - started < 2 + 1.5
    # the next fetch on this thread (its pool) is not hurt by the connection shut down under the last one
    assert fetch(image_server.add("/a.jpg", jpeg_bytes()), limits) == jpeg_bytes()


def test_one_deadline_covers_every_redirect(image_server):
    """Each hop answers within the socket timeout, but the three of them take longer than the deadline."""
    for hop in (1, 2, 3):
        image_server.add(f"/hop{hop}", status=302, delay_seconds=1.5, headers=(("Location", f"/hop{hop + 1}"),))
    image_server.add("/hop4", jpeg_bytes())
    limits = FetchLimits(connect_timeout=2, read_timeout=2, allow_private_hosts=True)
    started = time.monotonic()
    assert kind_of(image_server.url("/hop1"), limits) == "fetch.timeout"
    assert time.monotonic() - started < 2 + 1.5
    assert image_server.hits["/hop2"] == 1 and image_server.hits["/hop3"] == 0


def test_a_tls_handshake_trickled_is_cut_off_at_the_deadline():
    """A server that sends a TLS record header announcing 16 KiB, then a byte every 0.3 s (for 12 s at most):
    the handshake waits for the record. The connect timeout (10 s) bounded it; the deadline (2 s) must."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        with connection:
            try:
                connection.sendall(b"\x16\x03\x03\x40\x00")
                for _ in range(40):
                    if stop.wait(0.3):
                        break
                    connection.sendall(b"\0")
            except OSError:  # the client hung up
                pass

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    limits = FetchLimits(connect_timeout=10, read_timeout=2, allow_private_hosts=True)
    started = time.monotonic()
    try:
        assert kind_of(f"https://127.0.0.1:{listener.getsockname()[1]}/a.jpg", limits) == "fetch.timeout"
        assert time.monotonic() - started < 2 + 1.5
    finally:
        stop.set()
        server.join(15)
        listener.close()


def test_deadline_timers_end_with_their_fetch(image_server):
    url = image_server.add("/a.jpg", jpeg_bytes())
    for _ in range(20):
        fetch(url)
    for thread in threading.enumerate():
        if thread.name == "daskparse-fetch-deadline":
            thread.join(5)
            assert not thread.is_alive()


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


def _public_for_the_test(monkeypatch, is_public):
    """Let the guard treat what ``is_public(host, port)`` names as public, without resolving it; the rest is
    checked for real."""
    checked = fetch_module.public_addresses

    def guard(host, port):
        if is_public(host, port):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return checked(host, port)

    monkeypatch.setattr(fetch_module, "public_addresses", guard)


@pytest.fixture
def through_a_loopback_proxy(monkeypatch):
    """An ImageServer as the HTTP proxy: it answers absolute-URI requests from its own routes and forwards
    nothing. Only loopback names may be resolved meanwhile, so a made-up public name can never reach a resolver."""
    with ImageServer() as proxy:
        for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.setenv("http_proxy", proxy.url(""))
        resolve = socket.getaddrinfo

        def loopback_only(host, *args, **kwargs):
            assert host in ("127.0.0.1", "localhost", "::1"), f"{host} was looked up"
            return resolve(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
        yield proxy


def test_behind_a_proxy_every_redirect_is_checked_before_the_proxy_is_asked(through_a_loopback_proxy, monkeypatch):
    """public.test -> 302 -> localhost (cloud metadata's stand-in): refused before the proxy sees the second
    request. A redirect to another public name is followed through the proxy."""
    proxy = through_a_loopback_proxy
    _public_for_the_test(monkeypatch, lambda host, port: host.endswith("public.test"))
    proxy.add("/flyer.png", status=302, headers=(("Location", f"http://localhost:{proxy.port}/latest/meta-data/iam/"),))
    proxy.add("/latest/meta-data/iam/", jpeg_bytes())
    refuse = FetchLimits(connect_timeout=2, read_timeout=2)
    assert kind_of("http://public.test/flyer.png", refuse) == "fetch.private_address"
    assert proxy.targets == ["http://public.test/flyer.png"]

    proxy.add("/moved.jpg", status=302, headers=(("Location", "http://cdn.public.test/a.jpg"),))
    proxy.add("/a.jpg", jpeg_bytes())
    assert fetch("http://public.test/moved.jpg", refuse) == jpeg_bytes()
    assert proxy.targets[1:] == ["http://public.test/moved.jpg", "http://cdn.public.test/a.jpg"]

    # the deadline holds through the proxy's connection too
    proxy.add("/stall.jpg", jpeg_bytes(), trickle_head_seconds=0.4)
    started = time.monotonic()
    assert kind_of("http://public.test/stall.jpg", refuse) == "fetch.timeout"
    assert time.monotonic() - started < 2 + 1.5


@pytest.fixture(scope="module")
def tls_server_context(tmp_path_factory):
    """A certificate for 127.0.0.1 signed by a CA of the test's own: (server SSLContext, CA bundle path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)

    def certificate(name, key, issuer, issuer_key, ca):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                            critical=True)
        else:
            builder = (builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                             critical=False)
                       .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                      critical=False))
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daskparse test CA")])
    ca = certificate("daskparse test CA", ca_key, ca_name, ca_key, ca=True)
    leaf = certificate("127.0.0.1", key, ca_name, ca_key, ca=False)
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                                        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    return context, str(folder / "ca.pem")


def test_https_downloads_pass_the_address_guard(tls_server_context, monkeypatch):
    """With the guard on (the default), an https download failed with a TypeError (its connection's _new_conn
    was borrowed from the http class). Here the TLS server's port counts as public."""
    context, ca_bundle = tls_server_context
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    with ImageServer(tls=context) as server:
        _public_for_the_test(monkeypatch, lambda host, port: port == server.port)
        server.add("/a.jpg", jpeg_bytes())
        moved = server.add("/moved", b"m" * 2**20, repeat=16, status=302, headers=(("Location", "/a.jpg"),))
        guarded = FetchLimits(connect_timeout=2, read_timeout=2)
        assert fetch(moved, guarded) == jpeg_bytes()
        assert server.wait_done("/moved") and server.sent["/moved"] < 8 * 2**20
        stall = server.add("/stall.jpg", jpeg_bytes(), trickle_head_seconds=0.4)
        started = time.monotonic()
        assert kind_of(stall, guarded) == "fetch.timeout"
        assert time.monotonic() - started < 2 + 1.5


# Messages (issue 15): what went wrong in words, no urllib3 pool or connection reprs, no object addresses.
LEAKS = ("0x", "Pool(", "Connection(", "object at", "Max retries", "Caused by", "Errno")


def message_of(url, limits=LIMITS):
    with pytest.raises(SourceError) as caught:
        fetch(url, limits)
    text = str(caught.value)
    assert not any(leak in text for leak in LEAKS), text
    return caught.value.kind, text.split(": ", 1)[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def raw_server(answer):
    """A loopback TCP server that reads the request and then does ``answer(connection)``: a misbehaving peer."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                connection.recv(65536)
                answer(connection)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def _reset(connection):
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST


def test_a_refused_connection_is_said_in_plain_words():
    port = _closed_port()
    for scheme in ("http", "https"):
        assert message_of(f"{scheme}://127.0.0.1:{port}/a.jpg") == \
            ("fetch.connection_failed", f"connection refused by 127.0.0.1:{port}")


def test_a_connect_timeout_is_said_in_plain_words():
    """A listener whose accept queue is full: Linux drops the SYNs, so connecting times out on 127.0.0.1."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            limits = FetchLimits(connect_timeout=0.5, read_timeout=5, allow_private_hosts=True)
            assert message_of(f"http://127.0.0.1:{port}/a.jpg", limits) == \
                ("fetch.timeout", f"timed out after 0.5 s connecting to 127.0.0.1:{port}")
        finally:
            for filler in fillers:
                filler.close()


def test_a_name_not_found_is_said_in_plain_words(monkeypatch):
    """The resolver is the one part replaced: a lookup must not leave this machine (it would reach a DNS server)."""
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    for limits in (LIMITS, FetchLimits(connect_timeout=2, read_timeout=2)):  # the guard off, then on
        assert message_of("http://flyers.test/a.jpg", limits) == \
            ("fetch.connection_failed", "name not found: flyers.test")


def test_peers_that_misbehave_are_said_in_plain_words():
    answers = {
        "closed the connection without answering": lambda connection: None,
        "connection reset by": _reset,
        "closed the connection before the whole answer arrived": lambda connection: connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n\xff\xd8\xff\xe0" + b"\0" * 100),
        "did not answer in HTTP": lambda connection: connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        "sent a body that could not be decompressed": lambda connection: connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n" + b"x" * 20),
    }
    for words, answer in answers.items():
        with raw_server(answer) as port:
            kind, message = message_of(f"http://127.0.0.1:{port}/a.jpg")
        assert kind == "fetch.connection_failed" and words in message and f"127.0.0.1:{port}" in message, message
    with raw_server(lambda connection: connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")) as port:
        assert message_of(f"https://127.0.0.1:{port}/a.jpg") == \
            ("fetch.connection_failed", f"TLS failed with 127.0.0.1:{port} (wrong version number)")


def test_an_untrusted_certificate_is_said_in_plain_words(tls_server_context, monkeypatch):
    context, _ = tls_server_context  # signed by the test's own CA, which this fetch does not trust
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with ImageServer(tls=context) as server:
        kind, message = message_of(server.add("/a.jpg", jpeg_bytes()))
    assert kind == "fetch.connection_failed"
    assert message.startswith(f"the TLS certificate of 127.0.0.1:{server.port} is not trusted ("), message
