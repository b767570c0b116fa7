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


def test_a_long_lived_process_sees_cache_files_another_client_wrote_since_it_last_listed(s3_bucket):
    """s3fs keeps each folder's listing: a kernel that listed the cache once would not see a file another machine
    wrote since (the second client here: an s3fs instance of its own)."""
    from daskparse.cache import ResultCache, cache_stats
    from daskparse.errors import ErrorRecord
    from daskparse.outcome import Outcome

    other = fsspec.filesystem("s3", skip_instance_cache=True)
    cache = f"s3://{s3_bucket}/cache"
    gone = ErrorRecord("u", "u", "fetch", "fetch.not_found", "HTTP 404", transient=False)
    written = ResultCache(f"memory://{s3_bucket}", variant="v").store_partition([Outcome("u", "u", error=gone)])
    entry = fsspec.open(written, "rb").open().read()
    other.pipe_file(f"{s3_bucket}/cache/v1/v/{'a' * 32}.parquet", entry)
    assert cache_stats(cache)["files"] == 1
    other.pipe_file(f"{s3_bucket}/cache/v1/v/{'b' * 32}.parquet", entry)
    assert cache_stats(cache)["files"] == 2
