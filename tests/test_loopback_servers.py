"""The test servers take a burst of clients connecting at once (20 worker threads do), without resets."""

import socket
import threading

import pytest

from daskparse.testing.gemini_server import GeminiServer
from daskparse.testing.image_server import ImageServer


def _answered_after_a_burst(httpd, port, path, clients=60):
    httpd.shutdown()  # stop accepting: every connection must wait in the listen backlog
    sockets = []
    for _ in range(clients):
        sock = socket.socket()
        sock.settimeout(0.3)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            pass
        sockets.append(sock)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    answered = 0
    for sock in sockets:
        try:
            sock.settimeout(5)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answered += sock.recv(16).startswith(b"HTTP/1.")
        except OSError:
            pass
        finally:
            sock.close()
    return answered


@pytest.mark.parametrize("make", [ImageServer, lambda: GeminiServer(api_key="k")], ids=["image", "gemini"])
def test_a_burst_of_60_connections_is_served(make):
    with make() as server:
        assert _answered_after_a_burst(server._httpd, server.port, "/anything") == 60
