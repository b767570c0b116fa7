"""One-off probe (issue 17): N Gemini calls at once through one GeminiExtractor, with the extractor's connection
limits and with httpx's defaults (100 connections, 20 kept alive), against the in-process loopback server with a
fixed latency. Beyond 100 calls in flight the defaults queue calls inside httpx: a second wave of latency.

    PYTHONPATH=. python -m bench.profiles.sdk_inflight [--calls 120] [--latency 1.0]

Prints wall seconds per burst (two bursts: the second reuses the kept-alive connections) and the load average.
Wall time on a loaded 2-core machine is indicative only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import threading
import time


def _jpeg(n: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1200, 800), (n % 256, (7 * n) % 256, (13 * n) % 256)).save(out, "JPEG", quality=90)
    return out.getvalue()


def burst_seconds(default_limits: bool, calls: int, latency: float) -> list[float]:
    from daskparse.extract import gemini
    from daskparse.testing.gemini_server import GeminiServer

    key = "test-key-not-secret-0123456789"
    original = gemini._connection_limits
    if default_limits:
        gemini._connection_limits = lambda: None
    try:
        images = [_jpeg(n) for n in range(calls)]
        with GeminiServer(api_key=key, min_deadline_seconds=None, latency=latency) as server:
            # a timeout of its own: a fresh client, not one shared with the other variant
            extractor = gemini.GeminiExtractor(
                gemini.GeminiOptions(api_key=key, base_url=server.base_url, api_version="v1beta",
                                     timeout=30 + default_limits),
                gate=gemini.ProcessGate(concurrency=calls))
            walls = []
            for _ in range(2):
                threads = [threading.Thread(target=extractor.extract, args=(image,)) for image in images]
                started = time.monotonic()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                walls.append(round(time.monotonic() - started, 2))
                time.sleep(0.5)
            return walls
    finally:
        gemini._connection_limits = original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=120)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    from daskparse.extract.gemini import MAX_CONNECTIONS

    report = {"calls": args.calls, "latency_s": args.latency, "load_average_before": os.getloadavg()}
    report["wall_s_per_burst"] = {
        f"extractor's limits ({MAX_CONNECTIONS})":
            burst_seconds(False, args.calls, args.latency),
        "httpx defaults (100, keepalive 20)": burst_seconds(True, args.calls, args.latency),
    }
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
