"""Object storage (issue 19): the cache and the outputs on a real S3 protocol server (moto's, on 127.0.0.1)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import fsspec
import pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
PATHS = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:3]]


def run_cli(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "daskparse", "run", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def test_a_run_writes_its_outputs_and_cache_to_the_bucket_and_the_next_run_is_answered_from_it(
        s3_server, s3_bucket, tmp_path):
    env = {**os.environ, **s3_server}
    env.pop("DASKPARSE_CACHE", None)
    common = [*PATHS, "--extractor", "local", "--workers", "1", "--threads", "2",
              "--cache", f"s3://{s3_bucket}/cache", "--reference-date", TRUTH["reference_date"]]
    first = run_cli(*common, "--output", f"s3://{s3_bucket}/out", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    s3 = fsspec.filesystem("s3")
    written = {path.rsplit("/", 1)[1] for path in s3.ls(f"{s3_bucket}/out")}
    assert {"shows.parquet", "errors.parquet", "outcomes.parquet", "stats.json"} <= written
    with s3.open(f"{s3_bucket}/out/shows.parquet") as file:
        shows = pd.read_parquet(file)
    assert set(shows["source"]) == set(PATHS)
    assert s3.find(f"{s3_bucket}/cache")  # the cache's files are in the bucket, not on this disk
    assert not (tmp_path / "cache").exists()
    second = run_cli(*common, "--output", f"s3://{s3_bucket}/again", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    stats = json.loads(s3.cat_file(f"{s3_bucket}/again/stats.json"))
    assert stats["cacheHits"] == len(PATHS) and stats["totalImages"] == len(PATHS)


# --- the cache's upkeep in the bucket -----------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent


def store_elsewhere(url: str, now: float, numbers, errors=()) -> None:
    """One entry file per number (a result; an error for those in ``errors``) written by another process, as a
    run's workers or another machine write them: its own S3 client, so nothing this process has listed knows."""
    script = ("import sys; sys.path.insert(0, sys.argv[1])\n"
              "from test_cache import Clock, _cache, _error, _outcome\n"
              "cache = _cache(sys.argv[2], Clock(float(sys.argv[3])))\n"
              "for n in map(int, sys.argv[4].split()):\n"
              "    cache.store_partition([_outcome(n)])\n"
              "for n in map(int, sys.argv[5].split()):\n"
              "    cache.store_partition([_outcome(n, error=_error('fetch.not_found', transient=False))])\n")
    subprocess.run([sys.executable, "-c", script, str(TESTS), url, repr(now), " ".join(map(str, numbers)),
                    " ".join(map(str, errors))], check=True, timeout=120, env=os.environ)


def test_compaction_stats_prune_and_clear_in_the_bucket_see_what_other_processes_wrote(s3_bucket, capsys):
    """A long-lived client (a notebook, a run's client before its end-of-run compaction) has listed the cache
    before other processes wrote to it: its stats, compaction and prune still see every file."""
    from daskparse.cache import COMPACT_MIN_FILES, DAY, ResultCache, cache_stats, clear, prune
    from daskparse.cli import main

    from test_cache import T0, Clock, _outcome

    url = f"s3://{s3_bucket}/cache"
    run = ResultCache(url, variant="v1test", clock=Clock(T0))
    run.store_partition([_outcome(0)])  # an earlier run's entry
    run.load_index(auto_prune=False)  # a run's client lists the cache at its start
    assert cache_stats(url, now=T0)["files"] == 1
    store_elsewhere(url, T0, range(1, COMPACT_MIN_FILES), errors=[500])  # its workers write an entry file each
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False)  # sees the bucket as it is
    written = s3.ls(f"{s3_bucket}/cache/v1/v1test", detail=True)
    stats = cache_stats(url, now=T0)
    assert (stats["files"], stats["entries"], stats["live"], stats["tempFiles"]) == (COMPACT_MIN_FILES + 1,) * 3 + (0,)
    assert stats["byStatus"] == {"no_shows": COMPACT_MIN_FILES, "error": 1}
    assert stats["bytes"] == sum(f["size"] for f in written) > 0

    compacted = run.compact_if_needed()  # the run's end: it merges what its workers wrote
    assert (compacted["filesBefore"], compacted["filesMerged"], compacted["filesWritten"]) == (
        COMPACT_MIN_FILES + 1, COMPACT_MIN_FILES + 1, 1)
    assert [f["name"].rsplit("/", 1)[1][:2] for f in s3.ls(f"{s3_bucket}/cache/v1/v1test", detail=True)] == ["m-"]

    later = T0 + 2 * DAY  # the error has expired, the results have not
    folder = f"{s3_bucket}/cache/v1/v1test"
    s3.pipe_file(f"{folder}/.x.parquet.{int((later - 7200) * 1000)}.abc123.tmp", b"a dead writer's")
    s3.pipe_file(f"{folder}/.y.parquet.{int((later - 60) * 1000)}.def456.tmp", b"being written")
    pruned = prune(url, now=later)
    assert (pruned["filesRewritten"], pruned["entriesRemoved"], pruned["entriesKept"], pruned["tempFilesRemoved"]) == (
        1, 1, COMPACT_MIN_FILES, 1)
    stats = cache_stats(url, now=later)
    assert (stats["files"], stats["entries"], stats["expired"], stats["tempFiles"]) == (1, COMPACT_MIN_FILES, 0, 1)
    reader = ResultCache(url, variant="v1test", clock=Clock(later)).load_index(auto_prune=False)
    assert all(reader.lookup_url(f"https://cdn.example.org/flyers/{n}.jpg") for n in range(COMPACT_MIN_FILES))
    assert reader.lookup_url("https://cdn.example.org/flyers/500.jpg") is None

    assert main(["cache", "stats", "--cache", url]) == 0  # `python -m daskparse cache ...` on the bucket
    assert json.loads(capsys.readouterr().out)["entries"] == COMPACT_MIN_FILES
    assert main(["cache", "clear", "--cache", url]) == 0
    assert json.loads(capsys.readouterr().out)["removedFiles"] == 2  # the merged file and the young temp file
    assert s3.find(s3_bucket) == [] and cache_stats(url)["entries"] == 0
