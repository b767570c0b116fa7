"""A real HTTP server on 127.0.0.1 that serves images and misbehaves on request (tests, bench, notebooks).

    with ImageServer() as server:
        server.add("/a.jpg", jpeg_bytes)
        server.add("/gone", status=410)
        server.add("/slow.jpg", jpeg_bytes, trickle_seconds=0.5)   # one small chunk every 0.5 s
        server.add("/stall.jpg", jpeg_bytes, trickle_head_seconds=0.4)  # even the headers, one byte at a time
        server.add("/moved", b"x" * 1024, repeat=40_000, status=302, headers=(("Location", "/a.jpg"),))
        url = server.url("/a.jpg")

Paths starting with ``/redirect/N`` redirect N times before landing on ``/redirect/0`` (a 200 image when one
is registered there); ``/loop`` redirects to itself. Every request is counted in ``hits``, the body bytes
written per path in ``sent`` (``done`` counts answers finished or cut off by the client: wait with
``wait_done``), and the request targets as received in ``targets``. Sent an absolute URI
(``GET http://public.test/a.jpg``), the server answers it from its own routes as if it were an HTTP proxy,
and never forwards anything anywhere. ``ImageServer(tls=context)`` serves https with a server-side SSLContext.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: tuple[tuple[str, str], ...] = ()
    trickle_seconds: float = 0.0  # pause between 1 KiB chunks
    declared_length: int | None = None  # a Content-Length that may lie
    endless: bool = False  # stream chunks of `body` forever (for size limits)
    repeat: int = 1  # send `body` this many times: a large body without holding it in memory
    delay_seconds: float = 0.0  # wait this long before answering (a slow redirect hop)
    trickle_head_seconds: float = 0.0  # the status line and headers one byte at a time, pausing this long


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server whose listen backlog takes a burst of 20+ clients connecting at once.

    The standard library's backlog of 5 overflows when 20 worker threads connect together, and the
    clients then see connections reset: a fault of the test server, not of the code under test.
    """

    daemon_threads = True
    request_queue_size = 128


class ImageServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # body bytes written (taken by the kernel), per path
        self.done: Counter[str] = Counter()  # answers finished or cut off, per path
        self.targets: list[str] = []  # request targets as received: a path, or an absolute URI (a proxy's)
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def handle(self):
                try:
                    super().handle()
                except OSError:  # a client hung up mid-answer, or closed one unread (its kernel resets the connection)
                    pass

            def do_GET(self):
                path = urlsplit(self.path).path
                with server._lock:
                    server.hits[path] += 1
                    server.targets.append(self.path)
                try:
                    server._answer(self, path)
                finally:
                    with server._done:
                        server.done[path] += 1
                        server._done.notify_all()

        self._httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:  # the handshake happens in the handler's thread, on its first read
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes = b"", **route) -> str:
        self.routes[path] = Route(body=body, **route)
        return self.url(path)

    def wait_done(self, path: str, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until ``count`` answers on ``path`` have finished (or been cut off by the client)."""
        with self._done:
            return self._done.wait_for(lambda: self.done[path] >= count, timeout)

    def _answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        if path == "/loop":
            return self._redirect(handler, "/loop")
        if path.startswith("/redirect/") and path != "/redirect/0":
            remaining = int(path.rsplit("/", 1)[1])
            return self._redirect(handler, f"/redirect/{remaining - 1}")
        route = self.routes.get(path) or Route(b"not found", 404, "text/plain")
        if route.delay_seconds:
            time.sleep(route.delay_seconds)
        if route.trickle_head_seconds:
            return self._trickle_head(handler, route)
        handler.send_response(route.status)
        handler.send_header("Content-Type", route.content_type)
        for name, value in route.headers:
            handler.send_header(name, value)
        if route.endless:
            handler.send_header("Connection", "close")
            handler.end_headers()
            try:
                while True:
                    handler.wfile.write(route.body or b"\xff" * 65536)
            except OSError:  # the client hung up, as it should
                return
        length = route.declared_length if route.declared_length is not None else len(route.body) * route.repeat
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        try:
            if route.trickle_seconds:
                for start in range(0, len(route.body), 1024):
                    handler.wfile.write(route.body[start:start + 1024])
                    handler.wfile.flush()
                    self._count(path, min(1024, len(route.body) - start))
                    time.sleep(route.trickle_seconds)
            else:
                for _ in range(route.repeat):
                    handler.wfile.write(route.body)
                    self._count(path, len(route.body))
        except OSError:  # the client hung up
            handler.close_connection = True

    def _trickle_head(self, handler: BaseHTTPRequestHandler, route: Route) -> None:
        head = [f"HTTP/1.1 {route.status} {handler.responses.get(route.status, ('',))[0]}",
                f"Content-Type: {route.content_type}", f"Content-Length: {len(route.body) * route.repeat}",
                *(f"{name}: {value}" for name, value in route.headers)]
        handler.close_connection = True
        try:
            for byte in ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"):
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(route.trickle_head_seconds)
            for _ in range(route.repeat):
                handler.wfile.write(route.body)
        except OSError:  # the client hung up
            pass

    def _count(self, path: str, size: int) -> None:
        with self._lock:
            self.sent[path] += size

    @staticmethod
    def _redirect(handler: BaseHTTPRequestHandler, location: str) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def start(self) -> "ImageServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "ImageServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
