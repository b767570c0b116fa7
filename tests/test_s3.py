"""Object storage (issue 19): the cache and the outputs on a real S3 protocol server (moto's, on 127.0.0.1)."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import fsspec
import pandas as pd
from distributed import Client

import daskparse

from cache_entries import VARIANT, entry
from conftest import GEMINI_KEY
from daskparse.cache import DAY, ResultCache, cache_stats, prune
from daskparse.cli import main
from daskparse.testing.gemini_server import GeminiServer, Latency
from daskparse.testing.s3_server import free_port

TESTS = Path(__file__).resolve().parent
DATA = TESTS.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
T0 = 1_800_000_000.0  # an injected clock's start (2027)
PATHS = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:3]]
CALLS = ":generateContent"


def run_cli(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "daskparse", "run", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=240)


# --- the cache's upkeep in the bucket -----------------------------------------------------------------------------

def store_elsewhere(url: str, now: float, numbers) -> None:
    """``cache_entries.store`` in another process, as a run's workers or another machine write: its own S3
    client, so nothing this process has listed knows of those files."""
    subprocess.run([sys.executable, str(TESTS / "cache_entries.py"), url, repr(now), *map(str, numbers)],
                   check=True, timeout=120, env=os.environ)


IMAGES = 4  # results in the upkeep test's cache (and one error)


def test_compaction_stats_prune_and_clear_in_the_bucket_see_what_other_processes_wrote(s3_bucket, capsys):
    """A long-lived client (a notebook, a run's client before its end-of-run compaction) has listed the cache
    before other processes wrote to it: its stats, compaction and prune still see every file."""
    url = f"s3://{s3_bucket}/cache"
    folder = f"{s3_bucket}/cache/v1/{VARIANT}"
    run = ResultCache(url, variant=VARIANT, clock=lambda: T0)
    run.store_partition([entry(0)])  # an earlier run's entry
    run.load_index(auto_prune=False)  # a run's client lists the cache at its start
    assert cache_stats(url, now=T0)["files"] == 1
    store_elsewhere(url, T0, [*range(1, IMAGES), -500])  # its workers write an entry file each
    # a partition run again in this process (the in-process fallback of a lost cluster) finds what a worker stored
    stored = run.lookup_stored(["https://cdn.example.org/flyers/1.jpg"])
    assert stored is not None and [hit.image_sha256 for hit in stored] == [f"{1:064x}"]
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False)  # sees the bucket as it is
    written = s3.ls(folder, detail=True)
    stats = cache_stats(url, now=T0)
    assert (stats["files"], stats["entries"], stats["live"], stats["tempFiles"]) == (IMAGES + 1,) * 3 + (0,)
    assert stats["byStatus"] == {"no_shows": IMAGES, "error": 1}
    assert stats["bytes"] == sum(f["size"] for f in written) > 0

    compacted = run.compact(min_files=2)  # as at the run's end (its threshold lowered): what its workers wrote
    assert (compacted["filesBefore"], compacted["filesMerged"], compacted["filesWritten"]) == (
        IMAGES + 1, IMAGES + 1, 1)
    assert [f["name"].rsplit("/", 1)[1][:2] for f in s3.ls(folder, detail=True)] == ["m-"]

    later = T0 + 2 * DAY  # the error has expired, the results have not
    s3.pipe_file(f"{folder}/.x.parquet.{int((later - 7200) * 1000)}.abc123.tmp", b"a dead writer's")
    s3.pipe_file(f"{folder}/.y.parquet.{int((later - 60) * 1000)}.def456.tmp", b"being written")
    pruned = prune(url, now=later)
    assert (pruned["filesRewritten"], pruned["entriesRemoved"], pruned["entriesKept"], pruned["tempFilesRemoved"]) == (
        1, 1, IMAGES, 1)
    stats = cache_stats(url, now=later)
    assert (stats["files"], stats["entries"], stats["expired"], stats["tempFiles"]) == (1, IMAGES, 0, 1)
    reader = ResultCache(url, variant=VARIANT, clock=lambda: later).load_index(auto_prune=False)
    assert all(reader.lookup_url(f"https://cdn.example.org/flyers/{n}.jpg") for n in range(IMAGES))
    assert reader.lookup_url("https://cdn.example.org/flyers/500.jpg") is None

    assert main(["cache", "stats", "--cache", url]) == 0  # `python -m daskparse cache ...` on the bucket
    assert json.loads(capsys.readouterr().out)["entries"] == IMAGES
    assert main(["cache", "clear", "--cache", url]) == 0
    assert json.loads(capsys.readouterr().out)["removedFiles"] == 2  # the merged file and the young temp file
    assert s3.find(s3_bucket) == [] and cache_stats(url)["entries"] == 0


# --- workers that share only the bucket ---------------------------------------------------------------------------

def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cache_files_under(folder: Path) -> list[Path]:
    """Anything there the cache could have written: entry files, their temporary names, the prune marker."""
    return [path for path in folder.rglob("*") if path.suffix in (".parquet", ".tmp") or path.name == ".last-prune"
            or (path.is_dir() and path.name == "v1")]


def test_workers_that_share_only_the_bucket_serve_each_other_and_the_next_run_from_it(s3_server, s3_bucket, tmp_path):
    """`dask scheduler` and two `dask worker` processes started by hand, each in its own directory with its own
    TMPDIR and HOME (so its own default cache folder): the bucket is all they share. Gemini is the loopback server."""
    env = {**os.environ, **s3_server}
    env.pop("DASKPARSE_CACHE", None)
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    log = open(tmp_path / "cluster.log", "wb")
    (tmp_path / "scheduler").mkdir()
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                   "--no-dashboard"], cwd=tmp_path / "scheduler", env=env, stdout=log, stderr=log)]
    homes = {name: tmp_path / f"worker-{name}" for name in "ab"}
    for name, home in homes.items():
        (home / "tmp").mkdir(parents=True)
        # no nanny: one Python start-up a worker, not two. daskparse is imported as the worker starts (from
        # PYTHONPATH when it is not installed), not by its first task
        processes.append(subprocess.Popen(
            [dask, "worker", address, "--name", name, "--nworkers", "1", "--nthreads", "2", "--no-nanny",
             "--no-dashboard", "--local-directory", str(home / "dask"), "--preload", "daskparse.worker"],
            cwd=home, stdout=log, stderr=log,
            env={**env, "TMPDIR": str(home / "tmp"), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}))
    try:
        with GeminiServer(api_key=GEMINI_KEY) as gemini, Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            common = ["--scheduler", address, "--cache", f"s3://{s3_bucket}/cache", "--reference-date",
                      TRUTH["reference_date"]]
            cli_env = {**env, "GEMINI_API_KEY": GEMINI_KEY, "GOOGLE_GEMINI_BASE_URL": gemini.base_url}
            first = run_cli(*PATHS, *common, "--output", f"s3://{s3_bucket}/out", env=cli_env, cwd=tmp_path)
            assert first.returncode == 0, first.stderr
            assert gemini.count(CALLS) == len(PATHS)
            s3 = fsspec.filesystem("s3")
            written = {path.rsplit("/", 1)[1] for path in s3.ls(f"{s3_bucket}/out")}
            assert {"shows.parquet", "errors.parquet", "outcomes.parquet", "stats.json"} <= written
            with s3.open(f"{s3_bucket}/out/shows.parquet") as file:
                first_shows = pd.read_parquet(file)
            assert set(first_shows["source"]) == set(PATHS)
            executed = client.run(lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count))
            assert sorted(name for name, count in executed.values() if count) == ["a", "b"]  # both ran partitions

            stop(processes[1])  # worker a goes: b alone answers the next run, from what a and b stored
            while len(client.scheduler_info()["workers"]) > 1:
                time.sleep(0.05)
            copies = []  # the same bytes under other names: looked up on the worker (by SHA-256), not the client
            for path in map(Path, PATHS):
                copies.append(tmp_path / "copies" / path.name)
                copies[-1].parent.mkdir(exist_ok=True)
                copies[-1].write_bytes(path.read_bytes())
            # through the Python API on the same cluster: a second command line would only add its start-up
            second = daskparse.parse_images(list(map(str, copies)), extractor="gemini", client=client,
                                            gemini_api_key=GEMINI_KEY, gemini_base_url=gemini.base_url,
                                            cache=f"s3://{s3_bucket}/cache", reference_date=TRUTH["reference_date"])
            assert gemini.count(CALLS) == len(PATHS)  # no call: every image came from the bucket
            assert second.stats["cacheHitsByLevel"]["sha256"] == len(PATHS) and len(second.shows) == len(first_shows)
            [(name, count)] = client.run(lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count)
                                         ).values()
            assert name == "b" and count > dict(executed.values())["b"]  # b looked them up
        for home in homes.values():
            assert cache_files_under(home) == []
        assert cache_files_under(tmp_path) == []
    finally:
        for process in processes[:0:-1] + processes[:1]:  # the workers first: a worker waits on a scheduler gone
            stop(process)
        log.close()


# --- two runs at once on one bucket -------------------------------------------------------------------------------

def test_two_runs_at_once_on_one_bucket_lose_nothing_and_a_run_on_a_held_output_is_turned_away(
        s3_bucket, capsys):
    """Two runs share the bucket's cache at once, on one cluster: overlapping and distinct images, different outputs.
    A run on an output another run holds is turned away (exit 4) before it starts."""
    from distributed import LocalCluster

    from daskparse.schedule import output_lock

    flyers = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:4]]
    runs = {"a": flyers[:3], "b": flyers[1:]}  # two images in both, one of each alone
    cache = f"s3://{s3_bucket}/cache"
    results = {}
    with GeminiServer(api_key=GEMINI_KEY, latency=0.3) as gemini, \
            LocalCluster(n_workers=1, threads_per_worker=4, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:

        def run(paths):
            return daskparse.parse_images(paths, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                          gemini_base_url=gemini.base_url, cache=cache,
                                          reference_date=TRUTH["reference_date"])

        def run_and_save(name):
            results[name] = run(runs[name])
            results[name].save(f"s3://{s3_bucket}/{name}")

        threads = [threading.Thread(target=run_and_save, args=(name,)) for name in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        calls = gemini.count(CALLS)
        assert len(flyers) <= calls <= sum(map(len, runs.values()))  # an image both had may have been asked twice
        s3 = fsspec.filesystem("s3")
        for name, paths in runs.items():
            with s3.open(f"{s3_bucket}/{name}/outcomes.parquet") as file:
                outcomes = pd.read_parquet(file)
            assert sorted(outcomes["source"]) == sorted(paths) and set(outcomes["status"]) == {"shows"}, name
        stats = cache_stats(cache)
        assert stats["live"] >= len(flyers) and stats["tempFiles"] == 0 and stats["unreadableFiles"] == 0
        third = run(flyers)
        assert third.stats["cacheHits"] == len(flyers) and gemini.count(CALLS) == calls  # every image was kept

    with output_lock(f"s3://{s3_bucket}/a"):  # a run still at work on output a
        assert main(["run", flyers[0], "--extractor", "local", "--cache", cache, "--output",
                     f"s3://{s3_bucket}/a"]) == 4  # EXIT_LOCKED, before anything is read or written
    assert "another run holds the lock" in capsys.readouterr().err


# --- a run killed mid-way --------------------------------------------------------------------------------------------

def test_a_run_killed_with_sigkill_resumes_from_the_bucket_and_repeats_no_stored_call(s3_server, s3_bucket, tmp_path):
    """test_pipeline_cache's SIGKILL test with the cache in the bucket; the resume runs in this process."""
    from distributed import LocalCluster

    from test_pipeline_cache import _cli, _kill_at_call

    # ten: room for calls after the fifth, as a kill may land late
    flyers = [str(path) for path in sorted((DATA / "flyers").glob("*.jpg"))[:10]]
    cache = f"s3://{s3_bucket}/cache"
    with GeminiServer(api_key=GEMINI_KEY, latency=0.4) as gemini:
        command, env = _cli(["run", *flyers, "--output", str(tmp_path / "out"), "--workers", "1", "--threads", "2",
                             "--concurrency", "2", "--cache", cache], tmp_path, GEMINI_API_KEY=GEMINI_KEY,
                            GOOGLE_GEMINI_BASE_URL=gemini.base_url, **s3_server)
        # two calls at a time, 0.4 s each: at the fifth, the first two were answered (and stored) 0.4 s ago
        killed_after = _kill_at_call(command, env, tmp_path, gemini, 5)
        assert killed_after < len(flyers)
        stored = cache_stats(cache)["live"]
        assert 0 < stored <= killed_after
        assert not (tmp_path / "out" / "shows.parquet").exists()

        gemini.reset()
        gemini.latency = Latency.fixed(0)  # the latency was for the kill to land mid-run; the resume needs none
        with LocalCluster(n_workers=1, threads_per_worker=4, processes=False, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            resumed = daskparse.parse_images(flyers, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                             gemini_base_url=gemini.base_url, cache=cache)
        assert gemini.count(CALLS) == len(flyers) - stored  # exactly the images with no stored result
        assert resumed.stats["totalImages"] == len(flyers) and resumed.stats["errors"] == 0
        assert resumed.stats["cacheHits"] == stored


def test_the_index_and_look_ups_read_each_file_in_one_request(moto_s3, s3_bucket):
    """No listing cache (files.filesystem): opening a file asks the store its size first, a HEAD before each GET;
    a cache file is small (a merged one ~4 MB) and read whole anyway, in one GET."""
    url = f"s3://{s3_bucket}/cache"
    writer = ResultCache(url, variant=VARIANT, clock=lambda: T0)
    for n in range(3):
        writer.store_partition([entry(n)])
    mark = moto_s3.log_mark()
    reader = ResultCache(url, variant=VARIANT, clock=lambda: T0).load_index(check_writable=False, auto_prune=False)
    hits = reader.lookup_urls([f"https://cdn.example.org/flyers/{n}.jpg" for n in range(3)])
    assert all(hit is not None for hit in hits)
    assert moto_s3.request_counts(mark) == {"GET": 1 + 3 + 3, "total": 7}  # the listing, each file's keys, its rows
