"""A real S3 protocol server on 127.0.0.1 (moto's, ``python -m moto.server``) in a process of its own, for the
tests (``tests/conftest.py``'s ``s3_server``) and the benchmarks (``bench/s3.py``).

    with moto_server(folder) as server:        # folder: its working directory and its request log
        os.environ.update(server.env)          # fake credentials and AWS_ENDPOINT_URL: botocore (under s3fs) reads them
        ...
        mark = server.log_mark()
        ...                                    # requests from any process that reached the server
        server.requests_since(mark)            # -> [S3Request(method="GET", path="/bucket/key?...", status=200), ...]

Nothing leaves 127.0.0.1: the endpoint is the only place a request can go.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# werkzeug's access log line: 127.0.0.1 - - [date] "GET /b/k HTTP/1.1" 200 -   (colour codes stripped first)
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class S3Request:
    """One request the server answered, from its access log."""

    method: str
    path: str  # with the query string
    status: int


@dataclass
class MotoServer:
    """A running server: the environment a client needs (``env``) and its access log."""

    env: dict[str, str]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    def log_mark(self) -> int:
        """A position in the access log; ``requests_since(mark)`` reads what came after it."""
        return self.log_path.stat().st_size

    def requests_since(self, mark: int = 0) -> list[S3Request]:
        with open(self.log_path, "rb") as log:
            log.seek(mark)
            text = _COLOUR.sub("", log.read().decode("utf-8", "replace"))
        return [S3Request(m[1], m[2], int(m[3])) for m in _ACCESS.finditer(text)]

    def request_counts(self, mark: int = 0) -> dict[str, int]:
        """Requests since ``mark`` by method (GET, PUT, HEAD, DELETE, POST), and "total"."""
        counts = Counter(request.method for request in self.requests_since(mark))
        return {**dict(sorted(counts.items())), "total": sum(counts.values())}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server(folder: Path | str, start_timeout: float = 60.0) -> Iterator[MotoServer]:
    """Start moto's S3 server on a free port of 127.0.0.1 with ``folder`` as its directory; stop it on exit."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "moto.log"
    log = open(log_path, "wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=log, cwd=folder)
    try:
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"moto's server exited: {log_path.read_text()[-2000:]}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError(f"moto's server did not start within {start_timeout:.0f} s")
        yield MotoServer(env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                              "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                              "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"},
                         log_path=log_path)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
