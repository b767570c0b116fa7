"""A real HTTP server on 127.0.0.1 that serves images and misbehaves on request (tests, bench, notebooks).

    with ImageServer() as server:
        server.add("/a.jpg", jpeg_bytes)
        server.add("/gone", status=410)
        server.add("/slow.jpg", jpeg_bytes, trickle_seconds=0.5)   # one small chunk every 0.5 s
        url = server.url("/a.jpg")

Paths starting with ``/redirect/N`` redirect N times before landing on ``/redirect/0`` (a 200 image when one
is registered there); ``/loop`` redirects to itself. Every request is counted in ``hits``.
"""

from __future__ import annotations

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


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server whose listen backlog takes a burst of 20+ clients connecting at once.

    The standard library's backlog of 5 overflows when 20 worker threads connect together, and the
    clients then see connections reset: a fault of the test server, not of the code under test.
    """

    daemon_threads = True
    request_queue_size = 128


class ImageServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = urlsplit(self.path).path
                with server._lock:
                    server.hits[path] += 1
                server._answer(self, path)

        self._httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes = b"", **route) -> str:
        self.routes[path] = Route(body=body, **route)
        return self.url(path)

    def _answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        if path == "/loop":
            return self._redirect(handler, "/loop")
        if path.startswith("/redirect/") and path != "/redirect/0":
            remaining = int(path.rsplit("/", 1)[1])
            return self._redirect(handler, f"/redirect/{remaining - 1}")
        route = self.routes.get(path) or Route(b"not found", 404, "text/plain")
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
        length = route.declared_length if route.declared_length is not None else len(route.body)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        try:
            if route.trickle_seconds:
                for start in range(0, len(route.body), 1024):
                    handler.wfile.write(route.body[start:start + 1024])
                    handler.wfile.flush()
                    time.sleep(route.trickle_seconds)
            else:
                handler.wfile.write(route.body)
        except OSError:
            pass

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
