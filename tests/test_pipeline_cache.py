"""The result cache in whole runs: the loopback Gemini server counts every call the cache did not save."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import fsspec
import pytest
from distributed import Client, LocalCluster
from PIL import Image

import daskparse
from daskparse.cache import cache_stats
from conftest import GEMINI_KEY, cluster_client
from daskparse.testing.gemini_server import GeminiServer, Latency
from daskparse.testing.image_server import ImageServer

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
KEY = GEMINI_KEY
NAMES = sorted(TRUTH["flyers"])[:6]
PATHS = [str(DATA / "flyers" / name) for name in NAMES]
CALLS = ":generateContent"


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


@pytest.fixture
def images():
    """The sample flyers over HTTP on 127.0.0.1, each under its own path."""
    with ImageServer() as images:
        for name in NAMES:
            images.add(f"/flyers/{name}", (DATA / "flyers" / name).read_bytes(), content_type="image/jpeg")
        yield images


def parse(gemini_server, client, sources=PATHS, **options):
    return daskparse.parse_images(sources, extractor="gemini", client=client, gemini_api_key=KEY,
                                  gemini_base_url=gemini_server.base_url, gemini_api_version="v1beta", timeout=10,
                                  reference_date=TRUTH["reference_date"], **options)


def _rows(result):
    """The shows as comparable records, provenance included."""
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in result.shows.to_dict("records"))


def test_a_second_run_makes_no_call_and_returns_the_same_shows(gemini_server, client):
    first = parse(gemini_server, client)
    assert gemini_server.count(CALLS) == len(PATHS) and first.stats["cacheHits"] == 0
    second = parse(gemini_server, client)
    assert gemini_server.count(CALLS) == len(PATHS)  # not one more
    assert _rows(second) == _rows(first)
    assert second.stats["cacheHits"] == len(PATHS) and second.stats["cacheHitsByLevel"]["url"] == len(PATHS)
    assert second.stats["callsSaved"] == len(PATHS) and second.stats["cacheHitRate"] == 1.0
    assert second.stats["requests"] == 0 and second.stats["dashboard"] is None  # no cluster was needed
    assert set(second.outcomes["cached"]) == {"url"}
    # what the cache saved, in money: the calls it answered at what they cost the first run
    assert first.stats["costPerImageUSD"] == pytest.approx(first.stats["estimatedCostUSD"] / len(PATHS), abs=1e-6)
    assert second.stats["cacheSavingsUSD"] == pytest.approx(first.stats["estimatedCostUSD"], abs=1e-5)
    assert second.stats["estimatedCostUSD"] == 0 and "the cache saved ~$" in second.summary()
    assert "per 1,000 images" in first.summary()


def test_re_signed_urls_make_no_call_and_no_download(gemini_server, client, images):
    signed = [images.url(f"/flyers/{n}") + "?oh=00abc&oe=6789ABCD&_nc_ohc=x1" for n in NAMES]
    resigned = [images.url(f"/flyers/{n}") + "?_nc_ohc=y2&oe=7000FFFF&oh=99def" for n in NAMES]
    first = parse(gemini_server, client, signed)
    downloads = sum(images.hits.values())
    second = parse(gemini_server, client, resigned)
    assert gemini_server.count(CALLS) == len(NAMES) and sum(images.hits.values()) == downloads
    assert set(second.shows["source"]) == set(resigned)  # the rows name the links this run was given
    assert len(second.shows) == len(first.shows)


def test_the_same_bytes_elsewhere_and_a_resized_repost_make_no_call(gemini_server, client, images):
    first = parse(gemini_server, client, PATHS[:2])
    venue = dict(zip(first.shows["source"], first.shows["venue"]))
    copy = images.add("/copy-of-first.jpg", Path(PATHS[0]).read_bytes(), content_type="image/jpeg")
    picture = Image.open(PATHS[1]).convert("RGB")
    smaller = picture.resize((picture.width * 4 // 5, picture.height * 4 // 5))
    buffer = io.BytesIO()
    smaller.save(buffer, "JPEG", quality=70)
    repost = images.add("/repost.jpg", buffer.getvalue(), content_type="image/jpeg")
    second = parse(gemini_server, client, [copy, repost])
    assert gemini_server.count(CALLS) == 2
    assert dict(zip(second.outcomes["source"], second.outcomes["cached"])) == {copy: "sha256", repost: "phash"}
    assert set(second.shows.loc[second.shows["source"] == repost, "venue"]) == {venue[PATHS[1]]}
    third = parse(gemini_server, client, [copy, repost])  # the aliases were stored: now both are URL hits
    assert gemini_server.count(CALLS) == 2 and set(third.outcomes["cached"]) == {"url"}


def test_a_changed_model_calls_again_and_the_old_results_stay(gemini_server, client):
    parse(gemini_server, client, PATHS[:3])
    parse(gemini_server, client, PATHS[:3], model="gemini-2.5-flash-lite")
    assert gemini_server.count(CALLS) == 6
    parse(gemini_server, client, PATHS[:3])
    parse(gemini_server, client, PATHS[:3], model="gemini-2.5-flash-lite")
    assert gemini_server.count(CALLS) == 6


def test_a_shorter_ttl_recomputes_older_results_and_no_cache_ignores_it(gemini_server, client):
    parse(gemini_server, client, PATHS[:2])
    time.sleep(1.2)
    again = parse(gemini_server, client, PATHS[:2], cache_ttl="1s")
    assert gemini_server.count(CALLS) == 4 and again.stats["cacheHits"] == 0
    parse(gemini_server, client, PATHS[:2], use_cache=False)
    assert gemini_server.count(CALLS) == 6


def test_permanent_errors_are_cached_and_transient_ones_are_retried(gemini_server, client, images):
    gone = images.add("/gone.jpg", status=404)
    broken = images.add("/broken.jpg", status=503)
    first = parse(gemini_server, client, [gone, broken, PATHS[0]])
    assert dict(zip(first.errors["source"], first.errors["kind"])) == {gone: "fetch.not_found",
                                                                       broken: "fetch.server_error"}
    messages = []
    second = parse(gemini_server, client, [gone, broken, PATHS[0]], log=lambda m, level: messages.append((level, m)))
    assert [m for level, m in messages if level == "WARNING" and gone in m]  # a cached error still warns
    assert images.hits["/gone.jpg"] == 1 and images.hits["/broken.jpg"] == 2
    assert dict(zip(second.errors["source"], second.errors["kind"])) == dict(zip(first.errors["source"],
                                                                                 first.errors["kind"]))
    assert second.stats["cacheHits"] == 2 and second.stats["callsSaved"] == 1  # the 404 never cost a call
    assert gemini_server.count(CALLS) == 1


def test_two_runs_at_once_on_one_cache(gemini_server, client):
    results = {}

    def run(name, paths):
        results[name] = parse(gemini_server, client, paths)

    threads = [threading.Thread(target=run, args=(n, p)) for n, p in (("a", PATHS), ("b", PATHS[::-1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert {n: len(r.outcomes) for n, r in results.items()} == {"a": len(PATHS), "b": len(PATHS)}
    calls = gemini_server.count(CALLS)
    assert len(PATHS) <= calls <= 2 * len(PATHS)
    stats = cache_stats(os.environ["DASKPARSE_CACHE"])
    assert stats["unreadableFiles"] == 0 and stats["tempFiles"] == 0 and stats["live"] >= len(PATHS)
    third = parse(gemini_server, client)
    assert gemini_server.count(CALLS) == calls and third.stats["cacheHits"] == len(PATHS)
    assert _rows(third) == _rows(results["a"])


def test_a_memory_url_works_with_workers_in_this_process(gemini_server):
    location = f"memory://daskparse-{uuid.uuid4().hex}"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        first = parse(gemini_server, client, PATHS[:3], cache=location)
        second = parse(gemini_server, client, PATHS[:3], cache=location)
    assert gemini_server.count(CALLS) == 3 and second.stats["cacheHits"] == 3 and _rows(first) == _rows(second)
    assert fsspec.filesystem("memory").find(location.removeprefix("memory://"))  # it really was stored there
    fsspec.filesystem("memory").rm(location.removeprefix("memory://"), recursive=True)


def _cli(args, cwd, **env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(env_extra)
    return [sys.executable, "-m", "daskparse", *args], env


def _kill_at_call(command, env, cwd, gemini_server, calls: int) -> int:
    """Start ``command`` and SIGKILL it, its scheduler and its worker processes at once (its own session: like a
    crash) when the server has seen ``calls`` calls; the calls seen by then."""
    process = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while gemini_server.count(CALLS) < calls and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    killed_after = gemini_server.count(CALLS)
    assert calls <= killed_after, process.stderr.read().decode()[-2000:]
    return killed_after


def test_a_run_killed_with_sigkill_resumes_and_repeats_no_stored_call(tmp_path):
    flyers = sorted((DATA / "flyers").glob("*.jpg"))[:16]
    with GeminiServer(api_key=KEY, latency=0.4) as gemini_server:
        command, env = _cli(["run", *map(str, flyers), "--output", str(tmp_path / "out"), "--workers", "1",
                             "--threads", "4", "--concurrency", "4", "--cache", str(tmp_path / "cache")],
                            tmp_path, GEMINI_API_KEY=KEY, GOOGLE_GEMINI_BASE_URL=gemini_server.base_url)
        killed_after = _kill_at_call(command, env, tmp_path, gemini_server, 6)
        assert killed_after < len(flyers)
        stored = cache_stats(str(tmp_path / "cache"))["live"]
        assert 0 < stored <= killed_after
        assert not (tmp_path / "out" / "shows.parquet").exists()

        gemini_server.reset()
        gemini_server.latency = Latency.fixed(0)  # the latency was for the kill to land mid-run; the resume needs none
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        assert gemini_server.count(CALLS) == len(flyers) - stored  # exactly the images with no stored result
        stats = json.loads((tmp_path / "out" / "stats.json").read_text())
        assert stats["totalImages"] == len(flyers) and stats["errors"] == 0 and stats["cacheHits"] == stored


def test_cache_commands(tmp_path, capsys):
    from daskparse.cli import main

    location = str(tmp_path / "cache")
    command, env = _cli(["run", *PATHS[:2], "--extractor", "local", "--workers", "1", "--threads", "2",
                         "--cache", location, "--output", str(tmp_path / "out"),
                         "--reference-date", TRUTH["reference_date"]], tmp_path)
    assert subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=240).returncode == 0
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0 and "2 from the cache" in again.stdout

    command, env = _cli(["cache", "stats", "--cache", location], tmp_path)  # `python -m daskparse cache` as typed
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == cache_stats(location)

    def cache(*args):  # the same command line in this process: a Python start-up each was most of the test's time
        assert main(["cache", *args, "--cache", location]) == 0
        return json.loads(capsys.readouterr().out)

    stats = cache("stats")
    assert stats["live"] == 2 and stats["files"] >= 1 and stats["bytes"] > 0 and stats["byStatus"] == {"shows": 2}
    assert cache("prune")["entriesKept"] == 2
    assert cache("clear")["removedFiles"] >= 1
    assert cache("stats")["entries"] == 0


def test_a_run_that_wrote_many_small_files_merges_them(gemini_server, client):
    flyers = [str(p) for p in sorted((DATA / "flyers").glob("*.jpg"))[:20]]  # a Gemini run writes a file per image
    parse(gemini_server, client, flyers)
    stats = cache_stats(os.environ["DASKPARSE_CACHE"])
    assert stats["live"] == len(flyers) and stats["files"] < 4 and stats["tempFiles"] == 0
    again = parse(gemini_server, client, flyers)
    assert gemini_server.count(CALLS) == len(flyers) and again.stats["cacheHits"] == len(flyers)


def test_a_cached_result_takes_this_runs_year_not_the_year_it_was_read(gemini_server, client):
    """Issue 15: a run with another reference date was answered with the year of the day the cache was filled."""
    from daskparse.optimize import optimize_image
    from daskparse.shows import as_text

    path = PATHS[0]
    shows = [{"title": "Trivia", "kind": "trivia", "venue": "The Lantern", "address": "512 Elm St, Denver, CO 80202",
              "date": "11-28", "weekday": None, "start_time": "20:00"},
             {"title": "Tuesday Night Karaoke", "kind": "karaoke", "venue": "The Lantern",
              "address": "512 Elm St, Denver, CO 80202", "date": "01-05", "weekday": "Tue", "start_time": "21:00"}]
    gemini_server.set_answer(optimize_image((DATA / "flyers" / NAMES[0]).read_bytes()).jpeg,
                             {"is_flyer": True, "shows": shows})

    def dates(reference, **options):
        result = daskparse.parse_images([path], extractor="gemini", client=client, gemini_api_key=KEY,
                                        gemini_base_url=gemini_server.base_url, gemini_api_version="v1beta",
                                        timeout=10, reference_date=reference, **options)
        shows = as_text(result.shows)
        return sorted(zip(shows["date"], shows["weekday"]))

    assert dates("2026-11-01") == [("2026-11-28", "Saturday"), ("2027-01-05", "Tuesday")]
    cached = dates("2027-06-01")
    assert gemini_server.count(CALLS) == 1  # the second run was answered from the cache
    assert cached == dates("2027-06-01", use_cache=False) == [("2027-01-05", "Tuesday"), ("2027-11-28", "Sunday")]
