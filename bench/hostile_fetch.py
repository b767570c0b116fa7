"""Hostile downloads (issue 12, item 4): the memory one fetch adds and the time it takes to end.

Each case is one ``fetch_bytes`` call in a fresh child process, against the loopback image server in this
process (127.0.0.1 only; nothing is forwarded anywhere):

- redirect 120 MB body: a 302 whose body is 120 MB (1 MiB x 120), then a small JPEG
- redirect gzip bomb: a 302 with a ~150 KB gzip body (150 gzip members of 1 MiB of zeros) that inflates to 150 MB
- headers trickled: the status line and headers one byte every 0.4 s (deadline 2 s)
- body trickled: 64 KiB of body, 1 KiB every 0.3 s (deadline 2 s)
- slow hops: three redirects, each answered after 1.5 s (deadline 2 s)
- plain image: the baseline

Memory: the child's peak RSS (ru_maxrss) after the fetch minus its peak before it (after imports and a warm-up
fetch). Time: from the call to its return or error. ``sent_mb``: the body bytes the server got into the socket
on the case's first path (a redirect body read whole shows its full size; one closed unread shows at most what
the kernel buffers take).

    PYTHONPATH=. python bench/hostile_fetch.py                    # this checkout's fetch
    PYTHONPATH=. python bench/hostile_fetch.py --code /work/main  # another checkout's (before/after)

Prints one JSON object: {"code": ..., "cases": {name: {"outcome", "seconds", "peak_added_mb", "sent_mb"}}}.
The script is run by path (not ``-m``) so that the children import ``daskparse.fetch`` from ``--code``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEADLINE_S = 2.0
CHILD_TIMEOUT_S = 180  # the old code holds a header trickle for ~30 s: far under this
MIB = 1 << 20


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _cases(server) -> dict[str, tuple[str, str]]:
    """case -> (url, first path), on the running server."""
    image = _jpeg()
    server.add("/a.jpg", image, content_type="image/jpeg")
    moved = (("Location", "/a.jpg"),)
    server.add("/big-redirect", b"r" * MIB, repeat=120, status=302, headers=moved)
    server.add("/gzip-redirect", gzip.compress(b"\0" * MIB, 9), repeat=150, status=302,
               headers=moved + (("Content-Encoding", "gzip"),))
    server.add("/stall.jpg", image, content_type="image/jpeg", trickle_head_seconds=0.4)
    server.add("/slow.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 65532, content_type="image/jpeg", trickle_seconds=0.3)
    server.add("/hop1", status=302, delay_seconds=1.5, headers=(("Location", "/hop2"),))
    server.add("/hop2", status=302, delay_seconds=1.5, headers=(("Location", "/hop3"),))
    server.add("/hop3", status=302, delay_seconds=1.5, headers=moved)
    paths = {"plain image": "/a.jpg", "redirect 120 MB body": "/big-redirect", "redirect gzip bomb": "/gzip-redirect",
             "headers trickled": "/stall.jpg", "body trickled": "/slow.jpg", "slow hops": "/hop1"}
    return {name: (server.url(path), path) for name, path in paths.items()}


def _child(url: str, warm_url: str) -> None:
    from daskparse.errors import SourceError
    from daskparse.fetch import FetchLimits, fetch_bytes
    from daskparse.sources import Source

    limits = FetchLimits(connect_timeout=2, read_timeout=DEADLINE_S, max_bytes=25 * MIB, allow_private_hosts=True)
    fetch_bytes(Source(warm_url, warm_url, "http"), limits)  # imports, pools, TLS context: not the case's cost
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    try:
        outcome = f"{len(fetch_bytes(Source(url, url, 'http'), limits))} bytes"
    except SourceError as error:
        outcome = error.kind
    seconds = time.monotonic() - started
    added_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB on Linux
    print(json.dumps({"outcome": outcome, "seconds": round(seconds, 2), "peak_added_mb": round(added_kib / 1024, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", default=str(Path(__file__).resolve().parents[1]),
                        help="the checkout whose daskparse.fetch the children import (default: this one)")
    parser.add_argument("--child", nargs=2, metavar=("URL", "WARM_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(*args.child)

    from daskparse.testing.image_server import ImageServer

    environment = {**os.environ, "PYTHONPATH": args.code}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        environment.pop(name, None)  # straight to 127.0.0.1, never through a proxy
    results = {}
    with ImageServer() as server:
        cases = _cases(server)
        for name, (url, path) in cases.items():
            child = subprocess.run([sys.executable, __file__, "--child", url, cases["plain image"][0]],
                                   env=environment, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
            if child.returncode:
                raise SystemExit(f"{name}: the child failed\n{child.stderr}")
            server.wait_done(path, server.hits[path], timeout=30)  # the server's count of bytes sent is final
            results[name] = {**json.loads(child.stdout.strip().splitlines()[-1]),
                             "sent_mb": round(server.sent[path] / MIB, 1)}
    print(json.dumps({"code": args.code, "deadline_s": DEADLINE_S, "cases": results}, indent=2))


if __name__ == "__main__":
    main()
