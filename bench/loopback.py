"""The loopback Gemini server in a spawned process, for benchmarks: its CPU never shares a GIL with the client.

    with loopback_server((median_s, sigma), rpm=1800, fault_rates={...}) as server:
        run(..., gemini_base_url=server.base_url, gemini_api_key=API_KEY)
        log = server.finish()      # ServerLog: every generateContent arrival, every answer, the server's CPU
"""

from __future__ import annotations

import multiprocessing
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

API_KEY = "bench-key"
SERVER_SEED = 2026


@dataclass
class ServerLog:
    arrivals: list[tuple[float, int | None, str | None, str | None]]  # (monotonic, status, outcome, image sha256)
    answers: list[tuple[str | None, float]]  # (image sha256, monotonic) when each 200 answer was made
    cpu_seconds: float  # the server process's CPU time over the run

    def accepted(self) -> list[float]:
        return sorted(t for t, status, *_ in self.arrivals if status == 200)

    def count(self, status: int) -> int:
        return sum(1 for _, s, *_ in self.arrivals if s == status)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, status, outcome, _ in self.arrivals:
            counts[f"{status} {outcome}"] += 1
        return dict(counts)

    @property
    def image_shas(self) -> set[str]:
        return {sha for *_, sha in self.arrivals if sha}

    def spans(self) -> list[tuple[float, float]]:
        """(arrival, answered) of each 200 answer, matched by image in arrival order."""
        made: dict[str | None, deque[float]] = defaultdict(deque)
        for sha, at in sorted(self.answers, key=lambda a: a[1]):
            made[sha].append(at)
        return [(at, made[sha].popleft()) for at, status, _, sha in sorted(self.arrivals, key=lambda a: a[0])
                if status == 200 and made[sha]]

    @property
    def in_flight_seconds(self) -> float:
        return sum(end - start for start, end in self.spans())


def _serve(conn, options: dict) -> None:
    """Child process: one GeminiServer until the parent asks for its log."""
    from http.server import ThreadingHTTPServer

    from daskparse.testing.gemini_server import GeminiServer, Latency

    # socketserver listens with a backlog of 5: 20 clients connecting at once overflow it, the kernel falls
    # back to SYN cookies and now and then answers a request with a reset (seen here: "Connection reset by
    # peer", TcpExt SyncookiesFailed). The extractor would retry such a call after a backoff, which a
    # benchmark must not measure. Only this child process's class attribute changes.
    ThreadingHTTPServer.request_queue_size = 128
    answers: list[tuple[str | None, float]] = []

    def note_answer(call):  # runs after the latency sleep, just before the answer goes out
        answers.append((call.image_sha256s[0] if call.image_sha256s else None, time.monotonic()))
        return None  # the server's own answer, fitted to the request's schema

    latency = options.pop("latency")
    server = GeminiServer(api_key=API_KEY, latency=Latency(*latency), **{"seed": SERVER_SEED, **options})
    server.set_default_answer(note_answer)
    with server:
        cpu = time.process_time()
        conn.send(server.base_url)
        conn.recv()
        records = [(r.time, r.status, r.outcome, r.image_sha256s[0] if r.image_sha256s else None)
                   for r in server.requests if r.path.split("?")[0].endswith(":generateContent")]
        conn.send((records, list(answers), time.process_time() - cpu))


class LoopbackServer:
    """A GeminiServer in a spawned process: ``base_url`` while it runs, ``finish()`` for its log."""

    def __init__(self, latency: tuple[float, float], **options: Any):
        context = multiprocessing.get_context("spawn")  # the parent has Dask threads: never fork it
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, {"latency": latency, **options}),
                                        daemon=True, name="gemini-server")
        self._process.start()
        if not self._conn.poll(60):
            self._process.kill()
            raise RuntimeError("the loopback Gemini server did not start within 60 s")
        self.base_url: str = self._conn.recv()

    def cpu_seconds(self) -> float:
        import psutil

        times = psutil.Process(self._process.pid).cpu_times()
        return times.user + times.system

    def finish(self) -> ServerLog:
        self._conn.send("stop")
        records, answers, cpu = self._conn.recv()
        self._process.join(30)
        return ServerLog(records, answers, cpu)

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


@contextmanager
def loopback_server(latency: tuple[float, float], **options: Any) -> Iterator[LoopbackServer]:
    """``latency``: (median seconds, lognormal sigma); ``options``: any GeminiServer keyword (rpm, seed, ...)."""
    server = LoopbackServer(latency, **options)
    try:
        yield server
    finally:
        server.kill()
