"""daskparse.testing.s3_server: moto's S3 server on 127.0.0.1, and the request counts bench/s3.py reports."""

import socket

import fsspec
import pytest

from daskparse.testing.s3_server import moto_server


def test_the_server_counts_the_requests_that_reached_it_and_is_gone_after_the_block(tmp_path, monkeypatch):
    with moto_server(tmp_path) as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir("bucket-a")
        mark = server.log_mark()
        fs.pipe_file("bucket-a/key", b"body")
        assert fs.cat_file("bucket-a/key") == b"body"
        requests = [(r.method, r.path, r.status) for r in server.requests_since(mark)]
        counts = server.request_counts(mark)
        port = int(server.endpoint.rsplit(":", 1)[1])
    assert ("PUT", "/bucket-a/key", 200) in requests
    assert not any(path == "/bucket-a" and method == "PUT" for method, path, _ in requests)  # before the mark
    assert counts["total"] == len(requests) and counts["PUT"] == 1 and counts["GET"] >= 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
