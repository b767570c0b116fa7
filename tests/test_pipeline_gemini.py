"""Whole runs with the Gemini extractor: worker processes, the real google-genai client, the loopback server."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import daskparse
from daskparse import pipeline
from daskparse.gate import RateGate
from daskparse.optimize import optimize_image
from daskparse.settings import load_settings
from daskparse.sources import expand_sources
from daskparse.testing.gemini_server import GeminiServer
from conftest import GEMINI_KEY, cluster_client

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
KEY = GEMINI_KEY
NAMES = sorted(TRUTH["flyers"])[:8]
PATHS = [str(DATA / "flyers" / name) for name in NAMES]


def optimized_sha(path):
    return hashlib.sha256(optimize_image(Path(path).read_bytes()).jpeg).hexdigest()


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


def parse(gemini_server, client, paths=PATHS, **options):
    options.setdefault("gemini_api_key", KEY)
    return daskparse.parse_images(paths, extractor="gemini", client=client,
                                  gemini_base_url=gemini_server.base_url, gemini_api_version="v1beta",
                                  timeout=10, reference_date=TRUTH["reference_date"], **options)


def test_every_image_goes_through_gemini_once(gemini_server, client):
    result = parse(gemini_server, client)
    assert gemini_server.count(":generateContent") == len(PATHS)
    assert set(result.shows["source"]) == set(PATHS)
    for path in PATHS:  # the server's answer names the image it received: each row belongs to its image
        venues = set(result.shows.loc[result.shows["source"] == path, "venue"])
        assert venues == {f"Venue {optimized_sha(path)[:8]}"}
    assert (result.shows["extractor"] == "gemini").all()
    stats = result.stats
    assert stats["requests"] == len(PATHS) and stats["retries"] == 0 and stats["rateLimited"] == 0
    assert stats["imageTokens"] >= 258 * len(PATHS) and stats["outputTokens"] > 0
    assert stats["estimatedCostUSD"] > 0


def test_faults_end_as_their_outcomes_and_the_run_goes_on(gemini_server, client):
    blocked, bad, down, flaky, limited = PATHS[:5]
    gemini_server.add_fault("safety", image=optimized_sha(blocked))
    gemini_server.add_fault("malformed_json", image=optimized_sha(bad), times=2)
    gemini_server.add_fault("unavailable", image=optimized_sha(down), times=5)
    gemini_server.add_fault("drop", image=optimized_sha(flaky))
    gemini_server.add_fault("rate_limit", image=optimized_sha(limited), seconds=0.5)
    result = parse(gemini_server, client, max_retries=1)
    kinds = dict(zip(result.errors["source"], result.errors["kind"]))
    assert kinds == {blocked: "gemini.blocked", bad: "gemini.bad_output", down: "gemini.unavailable"}
    assert {flaky, limited} | set(PATHS[5:]) == set(result.shows["source"])
    stats = result.stats
    assert stats["rateLimited"] == 1
    # bad: 2 calls; down: 2 (1 retry); flaky: 2; limited: 2; blocked: 1; the rest 1 each
    assert stats["requests"] == gemini_server.count(":generateContent") == 9 + len(PATHS) - 5


def test_daily_quota_falls_back_to_local_or_becomes_errors(gemini_server, client):
    gemini_server.add_fault("daily_quota", times=100)
    result = parse(gemini_server, client, paths=PATHS[:3], fallback="local")
    assert result.errors.empty
    assert set(result.shows["extractor"]) == {"local"} and set(result.shows["source"]) == set(PATHS[:3])
    assert result.stats["fellBackToLocal"] == 3
    messages = []
    result = daskparse.parse_images(PATHS[:3], extractor="gemini", client=client, gemini_api_key=KEY,
                                    gemini_base_url=gemini_server.base_url, timeout=10, fallback="none",
                                    log=lambda m, level: messages.append((level, m)))
    assert set(result.errors["kind"]) == {"gemini.quota_exhausted"} and len(result.errors) == 3
    assert sum("daily quota" in m for level, m in messages if level == "ERROR") == 1


def _cli(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "daskparse", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def test_a_bad_key_stops_the_run_with_one_message(gemini_server, tmp_path):
    done = _cli([*PATHS[:4], "--output", str(tmp_path / "out"), "--workers", "1", "--threads", "2"],
                {"GEMINI_API_KEY": "wrong-key-123456", "GOOGLE_GEMINI_BASE_URL": gemini_server.base_url}, tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("API key") == 1 and "wrong-key-123456" not in done.stderr
    assert gemini_server.count(":generateContent") <= 2  # the run stopped instead of failing every image


def test_on_one_client_each_run_sends_its_own_key_and_owns_its_refusal(gemini_server, client):
    """Workers kept the extractor by the settings' JSON, which masks the key: on one client a run with key A then
    one with key B sent A, and a refused key stuck to the extractor, failing later runs with the right key."""
    wrong = dict(gemini_api_key="wrong-key-123456", use_cache=False)
    assert parse(gemini_server, client, paths=PATHS[:2], use_cache=False).errors.empty  # the right key first
    with pytest.raises(daskparse.pipeline.RunError, match="API key"):
        parse(gemini_server, client, paths=PATHS[2:4], **wrong)  # then a wrong one: refused, not served with the right
    result = parse(gemini_server, client, paths=PATHS[4:6], use_cache=False)  # right again: not the refusal
    assert result.errors.empty and set(result.shows["source"]) == set(PATHS[4:6])
    outcomes = [r.outcome for r in gemini_server.requests if r.path.split("?")[0].endswith(":generateContent")]
    assert outcomes[:2] == ["ok", "ok"] and outcomes[-2:] == ["ok", "ok"] and set(outcomes[2:-2]) == {"auth"}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_key_never_appears_in_any_artefact_even_at_debug(gemini_server, tmp_path, log_format):
    """Environment-only configuration (GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL), DEBUG logs, every output file."""
    gemini_server.add_fault("unavailable")
    gemini_server.add_fault("invalid")
    done = _cli([*PATHS[:4], "/no/such/flyer.jpg", "--output", str(tmp_path / "out"), "--workers", "1",
                 "--threads", "2", "--log-level", "DEBUG", "--timeout", "10", "--cache", str(tmp_path / "cache"),
                 "--log-format", log_format],
                {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": gemini_server.base_url}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert gemini_server.count(":generateContent") >= 4  # the key was really used
    assert "DEBUG" in done.stderr  # debug logging was really on
    if log_format == "json":  # for log collectors: every line of stderr is one JSON object, the summary with stats
        lines = [json.loads(line) for line in done.stderr.splitlines()]
        assert {"time", "level", "logger", "message"} <= set(lines[0])
        summary = [line for line in lines if line["message"].startswith("5 images: ")]
        assert len(summary) == 1 and summary[0]["stats"]["totalImages"] == 5
        assert any(line["level"] == "WARNING" and "inputs.not_found" in line["message"] for line in lines)
    artefacts = {"stdout": done.stdout, "stderr": done.stderr}
    for path in [*(tmp_path / "out").rglob("*"), *(tmp_path / "cache").rglob("*")]:  # outputs and the cache
        if path.is_file():  # Parquet is compressed: search its values, not its bytes
            artefacts[str(path)] = (str(pd.read_parquet(path).to_dict("records")) if path.suffix == ".parquet"
                                    else path.read_bytes().decode("latin-1"))
    assert len(artefacts) >= 6 and any(name.endswith(".parquet") and "cache" in name for name in artefacts)
    for name, text in artefacts.items():
        assert KEY not in text, name
        assert KEY[:12] not in text, name


def test_progress_reports_each_partition_up_to_the_whole_run(gemini_server, client):
    seen = []
    result = parse(gemini_server, client, progress=seen.append)
    assert seen[0].done == 0 and seen[0].total == len(PATHS)
    assert [p.done for p in seen] == sorted(p.done for p in seen) and seen[-1].done == len(PATHS)
    assert seen[-1].shows == len(result.shows) and seen[-1].requests == result.stats["requests"]
    assert seen[-1].estimated_cost_usd == result.stats["estimatedCostUSD"] > 0


def test_a_cluster_daskparse_starts_keeps_short_debug_logs(gemini_server):
    """Dask's debugging logs (profiles, transitions, messages) grow a run's memory until they fill: a cluster
    daskparse starts keeps ``debug_log_length`` entries of each, scheduler and workers alike."""
    from distributed import default_client

    lengths = []

    def look(progress):
        if progress.done and not lengths:
            client = default_client()  # the run's own client: its cluster is up until the last partition is in
            lengths.append(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_log.maxlen))
            lengths.extend(client.run(lambda dask_worker: dask_worker.profile_history.maxlen).values())

    result = parse(gemini_server, None, paths=PATHS[:2], workers=2, threads=2, debug_log_length=50, progress=look)
    assert len(result.shows) and lengths == [50, 50, 50]


def test_a_run_rides_out_a_429_storm_and_a_burst_of_5xx_and_dropped_connections(gemini_server, client):
    """Faults served to whichever requests come next, across both worker processes: every image still ends
    as its shows, each 429 pauses the gate and is counted, each other fault is one retry."""
    storm = {"rate_limit": 6, "exhausted": 2, "unavailable": 4, "internal": 2, "deadline": 2, "drop": 2, "reset": 2}
    for kind, times in storm.items():
        gemini_server.add_fault(kind, times=times, **({"seconds": 0.2} if kind == "rate_limit" else {}))
    before = RateGate.install(client).metrics()["rate_limited"]  # the gate outlives runs: earlier tests' 429s
    result = parse(gemini_server, client, max_retries=20)
    assert result.errors.empty and set(result.shows["source"]) == set(PATHS)
    stats = result.stats
    assert stats["rateLimited"] == 8 and stats["retries"] == sum(storm.values())
    assert stats["requests"] == gemini_server.count(":generateContent") == len(PATHS) + sum(storm.values())
    assert stats["gate"]["rateLimited"] - before == 8  # each 429 reached the cluster-wide gate


def test_the_daily_quota_running_out_mid_run_hands_the_rest_to_the_fallback():
    with GeminiServer(api_key=KEY, rpd=3) as server, cluster_client() as own:
        result = parse(server, own, fallback="local")
    assert result.errors.empty and set(result.shows["source"]) == set(PATHS)
    by_extractor = result.shows.groupby("extractor")["source"].nunique().to_dict()
    assert by_extractor == {"gemini": 3, "local": len(PATHS) - 3}
    assert result.stats["fellBackToLocal"] == len(PATHS) - 3
    answered = [r for r in server.requests if r.path.split("?")[0].endswith(":generateContent") and r.status == 200]
    assert len(answered) == 3


def test_a_stop_event_ends_the_run_with_what_was_done(client):
    stop = threading.Event()
    with GeminiServer(api_key=KEY, latency=1.0) as server:
        box = {}
        thread = threading.Thread(target=lambda: box.update(result=parse(server, client, stop=stop)))
        thread.start()
        while server.count(":generateContent") < 1 and thread.is_alive():
            time.sleep(0.02)
        stop.set()
        thread.join(120)
        sent = server.count(":generateContent")
    result = box["result"]
    done = set(result.outcomes["source"])
    assert result.stats["stopped"] and result.stats["notReached"] == len(PATHS) - len(done) >= 1
    assert len(done) == sent >= 1 and set(result.shows["source"]) == done  # what was sent was finished and kept
    assert "stopped early" in result.summary()
    already = daskparse.parse_images(PATHS, extractor="local", stop=stop)  # set before the start: no cluster at all
    assert already.stats["notReached"] == len(PATHS) and already.outcomes.empty and already.stats["dashboard"] is None


def test_a_stop_flag_that_cannot_be_read_does_not_fail_the_partition(gemini_server):
    class Unreadable:  # a stand-in for a Dask Event whose scheduler went away: there is no such scheduler to stop here
        def is_set(self):
            raise OSError("Timed out trying to connect")

    settings = load_settings(extractor="gemini", gemini_api_key=KEY, gemini_base_url=gemini_server.base_url,
                             gemini_api_version="v1beta", timeout=10, reference_date=TRUTH["reference_date"])
    sources, _ = expand_sources(PATHS[:1])
    [outcome] = pipeline.process_partition(sources, settings, settings.run_reference_date(), None,
                                           Unreadable()).outcomes
    assert outcome.error is None and outcome.shows
