"""Cluster faults, end to end: a worker killed mid-run, a worker that keeps dying, a cluster that cannot start,
a scheduler that cannot be reached or dies mid-run. Nothing is lost and no stored image is sent twice."""

import hashlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pyarrow.parquet as pq
import pytest

import daskparse
import daskparse.cluster as cluster
import daskparse.pipeline as pipeline
from conftest import GEMINI_KEY, cluster_client, noise_jpeg
from daskparse.optimize import optimize_image
from daskparse.settings import load_settings
from daskparse.sources import expand_sources
from daskparse.testing.gemini_server import GeminiServer

REFERENCE_DATE = "2025-06-01"


@pytest.fixture(scope="module")
def client():
    # one thread per worker: each worker holds few results, so a kill lands between known calls
    with cluster_client(workers=2, threads=1) as client:
        yield client


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for seed in range(10):
        path = folder / f"flyer-{seed}.jpg"
        path.write_bytes(noise_jpeg(160, 120, seed=seed))
        paths.append(str(path))
    return paths


def sent_sha(path):
    """What Gemini receives for ``path`` (the optimized JPEG), as the server records it."""
    return hashlib.sha256(optimize_image(Path(path).read_bytes()).jpeg).hexdigest()


def parse(server, paths, client=None, **options):
    return daskparse.parse_images(paths, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                  gemini_base_url=server.base_url, gemini_api_version="v1beta", timeout=10,
                                  reference_date=REFERENCE_DATE, **options)


def requests_per_image(server):
    return Counter(sha for record in server.requests if record.path.endswith(":generateContent")
                   for sha in record.image_sha256s)


def run_and_kill(client, server, paths, cache_folder, after_requests):
    """Run ``paths`` in a thread; once the server has seen ``after_requests`` calls, note which sources are stored
    in the cache and SIGKILL one worker process (its nanny starts a new one). Returns the result and that set."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=parse(server, paths, client)))
    thread.start()
    while server.count(":generateContent") < after_requests and thread.is_alive():
        time.sleep(0.02)
    pid = next(iter(client.run(os.getpid).values()))
    stored_before = set()
    for file in Path(cache_folder).rglob("*.parquet"):  # written only by a move: every file listed is whole
        stored_before.update(pq.read_table(file, columns=["source"])["source"].to_pylist())
    os.kill(pid, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive()
    return box["result"], stored_before


def assert_each_source_once(result, paths):
    assert sorted(result.outcomes["source"]) == sorted(paths)
    assert set(result.outcomes["status"]) <= {"shows", "no_shows", "error"}


def test_a_killed_worker_loses_no_image_and_sends_no_stored_image_again(client, images, own_cache):
    with GeminiServer(api_key=GEMINI_KEY, latency=0.4) as server:
        result, stored_before = run_and_kill(client, server, images, own_cache, after_requests=5)
        sent = requests_per_image(server)
    assert_each_source_once(result, images)
    assert set(result.shows["source"]) == set(images)  # the killed worker's calls were run again
    assert stored_before  # the kill landed after some results were stored...
    assert len(stored_before) < len(images)  # ...and before the end
    # A stored image's result lived on as a future on the dead worker: the scheduler would run it again.
    assert {path: sent[sent_sha(path)] for path in stored_before} == {path: 1 for path in stored_before}
    # at most the calls in flight on the killed worker again: its one thread's partition of 2 images (10 images on
    # 2 threads, 4 partitions per thread), whose calls overlap; every answer that came back was stored at once
    assert sum(sent.values()) <= len(images) + 2
    client.wait_for_workers(2, timeout=60)


def test_a_worker_that_keeps_dying_leaves_error_rows_not_a_crash(client, images, own_cache):
    # allowed-failures (default 3) set to 0 on the running scheduler: the first death gives up on the task,
    # as the fourth would, without killing a worker four times.
    allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    try:
        client.wait_for_workers(2, timeout=60)
        with GeminiServer(api_key=GEMINI_KEY, latency=0.5) as server:
            result, _ = run_and_kill(client, server, images, own_cache, after_requests=3)
    finally:
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", allowed))
        client.wait_for_workers(2, timeout=60)
    assert_each_source_once(result, images)
    died = result.errors[result.errors["kind"] == "run.worker_died"]
    assert 1 <= len(died) == len(result.errors)  # the task in flight on the killed worker
    assert set(died["stage"]) == {"run"}
    assert set(result.shows["source"]) == set(images) - set(died["source"])


def test_a_partition_run_again_finds_its_stored_result(images, own_cache):
    """The window the client cannot close: a worker dies after storing, before its result is received."""
    sources, _ = expand_sources(images[:1])
    with GeminiServer(api_key=GEMINI_KEY) as server:
        settings = load_settings(extractor="gemini", gemini_api_key=GEMINI_KEY, gemini_base_url=server.base_url,
                                 gemini_api_version="v1beta", timeout=10, reference_date=REFERENCE_DATE)
        reference_date = settings.run_reference_date()
        cache = pipeline.open_cache(settings)  # read before anything is stored, as on the client
        first = pipeline.process_partition(sources, settings, reference_date, pickle.loads(pickle.dumps(cache)))
        # the same view shipped again, as a rescheduled task gets it: its index knows nothing of the first's file
        again = pipeline.process_partition(sources, settings, reference_date, pickle.loads(pickle.dumps(cache)))
        assert server.count(":generateContent") == 1
    assert [o.shows for o in again.outcomes] == [o.shows for o in first.outcomes] and first.outcomes[0].shows
    assert again.outcomes[0].usage == first.outcomes[0].usage and first.outcomes[0].usage.requests == 1
    assert again.outcomes[0].cache is None  # counted once, as computed


def closed_port():
    with socket.socket() as sock:  # bound, never listening: a connection is refused
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def same_shows(result, expected):
    key = ["source", "venue", "date"]
    frame = lambda r: r.shows.sort_values(key).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(frame(result), frame(expected))


@pytest.fixture(scope="module")
def expected(client, images):
    """The shows of a normal run on the cluster, to compare each fallback with."""
    with GeminiServer(api_key=GEMINI_KEY) as server:
        return parse(server, images[:4], client, use_cache=False)


def warnings_of(messages):
    return [message for level, message in messages if level == "WARNING"]


def test_an_unreachable_scheduler_falls_back_to_this_process(expected, images, gemini_server):
    address = f"tcp://127.0.0.1:{closed_port()}"
    messages = []
    result = parse(gemini_server, images[:4], scheduler=address, scheduler_timeout=2, use_cache=False,
                   log=lambda message, level: messages.append((level, message)))
    same_shows(result, expected)
    [warning] = warnings_of(messages)
    assert address in warning and "Timed out trying to connect" in warning and "in this process" in warning
    assert "gate" in result.stats  # the in-process cluster kept the rate gate
    # its dashboard listens on 127.0.0.1 only: the link must say so, not the machine's address
    assert urlsplit(result.stats["dashboard"]).hostname == "127.0.0.1"


def test_a_cluster_that_cannot_start_falls_back_to_threads(expected, images, gemini_server, monkeypatch):
    class NoCluster:  # the one mock: no real way to make LocalCluster fail on demand here without breaking the host
        def __init__(self, *args, **kwargs):
            raise OSError("no cluster for you")

    monkeypatch.setattr(cluster, "LocalCluster", NoCluster)
    messages = []
    result = parse(gemini_server, images[:4], use_cache=False,
                   log=lambda message, level: messages.append((level, message)))
    same_shows(result, expected)
    [warning] = warnings_of(messages)
    assert "LocalCluster" in warning and "OSError: no cluster for you" in warning and "in this process" in warning


def test_a_scheduler_that_dies_mid_run_leaves_the_rest_to_the_fallback(expected, images, tmp_path):
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    log = open(tmp_path / "cluster.log", "wb")
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
                                  str(scheduler_file), *common], stdout=log, stderr=log)
    worker = None
    try:
        while not scheduler_file.exists():
            time.sleep(0.05)
        worker = subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
                                   "--nthreads", "1", *common], stdout=log, stderr=log)
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout="30s") as probe:
            probe.wait_for_workers(1, timeout=60)
            address = probe.scheduler.address
        messages = []
        with GeminiServer(api_key=GEMINI_KEY, latency=0.5) as server:
            box = {}
            thread = threading.Thread(target=lambda: box.update(result=parse(
                server, images[:4], scheduler=address, use_cache=False,
                log=lambda message, level: messages.append((level, message)))))
            thread.start()
            while server.count(":generateContent") < 2 and thread.is_alive():
                time.sleep(0.02)
            scheduler.kill()
            thread.join(120)
            assert not thread.is_alive()
        result = box["result"]
        assert_each_source_once(result, images[:4])
        same_shows(result, expected)
        [warning] = warnings_of(messages)
        assert "lost mid-run" in warning and "in this process" in warning
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.kill()
                process.wait(20)
        log.close()
