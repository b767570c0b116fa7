"""The daily quota across runs (issue 18): a per-day 429 is stored beside the cache, and the next runs make no Gemini
call until it resets at midnight Pacific time. End to end with the real google-genai client against the loopback
GeminiServer, on a real LocalCluster and real cache folders (local and memory://)."""

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import daskparse
from daskparse import cluster, quota
from daskparse.cli import build_parser
from daskparse.settings import load_settings
from daskparse.testing.gemini_server import GeminiServer
from conftest import GEMINI_KEY, cluster_client

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
PATHS = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:3]]
MODEL = "gemini-2.5-flash"
UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


def parse(server, client, cache, paths=PATHS, **options):
    messages = []
    result = daskparse.parse_images(paths, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                    gemini_base_url=server.base_url, gemini_api_version="v1beta", timeout=10,
                                    reference_date=TRUTH["reference_date"], cache=str(cache),
                                    log=lambda message, level: messages.append((level, message)), **options)
    return result, messages


def errors_said(messages):
    return [message for level, message in messages if level == "ERROR"]


# ---------------------------------------------------------------- when the quota resets

@pytest.mark.parametrize("seen, resets", [
    ("2026-12-04T07:59:00", "2026-12-04T08:00:00"),  # 23:59 PST: a minute later
    ("2026-12-04T08:00:00", "2026-12-05T08:00:00"),  # 00:00 PST: a new day has begun, the next one ends it
    ("2026-07-01T06:59:59", "2026-07-01T07:00:00"),  # 23:59:59 PDT
    ("2026-07-01T07:00:00", "2026-07-02T07:00:00"),  # 00:00 PDT
    # 2026-03-08, clocks go forward at 2 a.m.: the day is 23 hours, and midnight after it is PDT (07:00 UTC)
    ("2026-03-08T08:00:00", "2026-03-09T07:00:00"),
    ("2026-03-08T07:59:00", "2026-03-08T08:00:00"),  # 23:59 PST the day before: its midnight is still PST
    # 2026-11-01, clocks go back at 2 a.m.: a 25-hour day, midnight after it is PST (08:00 UTC)
    ("2026-11-01T07:00:00", "2026-11-02T08:00:00"),
    ("2026-11-01T09:30:00", "2026-11-02T08:00:00"),  # 01:30 PST, the second 1:30 of the day
])
def test_the_quota_resets_at_the_next_midnight_pacific_time_across_dst(seen, resets):
    assert quota.resets_after(at(seen)) == at(resets)
    assert quota.resets_after(at(seen)).astimezone(quota.PACIFIC).time() == dt.time(0)


def test_the_reset_is_said_in_pacific_time_and_utc():
    state = quota.QuotaState(model=MODEL, reason="r", seen=at("2026-07-01T12:00:00"),
                             spent_until=quota.resets_after(at("2026-07-01T12:00:00")))
    assert state.resets() == "2026-07-02 00:00 PDT (07:00 UTC)"


# ---------------------------------------------------------------- the stored state

@pytest.mark.parametrize("where", ["folder", "memory"])
def test_a_stored_state_is_read_until_its_reset_and_then_not(where, tmp_path):
    cache = str(tmp_path / "cache") if where == "folder" else f"memory://quota-{tmp_path.name}"
    seen = at("2026-12-03T20:00:00")  # 12:00 PST
    assert quota.read(cache, MODEL, now=seen) is None  # nothing stored
    stored = quota.record(cache, MODEL, "a per-day 429", seen=seen)
    assert stored.spent_until == at("2026-12-04T08:00:00")
    found = quota.read(cache, MODEL, now=at("2026-12-04T07:59:59"))
    assert found == stored and found.reason == "a per-day 429"
    assert quota.read(cache, "gemini-2.5-pro", now=seen) is None  # the quota is the model's
    assert quota.read(cache, MODEL, now=at("2026-12-04T08:00:00")) is None  # reset
    quota.clear(cache, MODEL)
    assert quota.read(cache, MODEL, now=seen) is None
    quota.clear(cache, MODEL)  # nothing to clear: no error


def test_the_state_is_one_json_file_per_model_beside_the_cache_and_written_whole(tmp_path):
    cache = tmp_path / "cache"
    quota.record(str(cache), "tunedModels/my-model", "r")
    [written] = (cache / "quota").iterdir()  # no temporary file left behind
    assert written.name == "tunedModels_my-model.json"
    assert set(json.loads(written.read_text())) == {"model", "reason", "seen", "spent_until"}


def test_an_unreadable_state_is_said_and_ignored(tmp_path, caplog):
    cache = tmp_path / "cache"
    (cache / "quota").mkdir(parents=True)
    (cache / "quota" / f"{MODEL}.json").write_text("{not json")
    assert quota.read(str(cache), MODEL) is None
    assert "cannot be read" in caplog.text
    (cache / "quota" / f"{MODEL}.json").write_text(json.dumps({"model": MODEL, "reason": "r",
                                                               "seen": "2026-12-03T20:00:00",  # no time zone
                                                               "spent_until": "2099-01-01T08:00:00"}))
    assert quota.read(str(cache), MODEL) is None


def test_the_wait_setting_comes_from_the_flag_the_environment_and_is_off_by_default():
    assert load_settings(environ={}).quota_wait is False
    assert load_settings(environ={"DASKPARSE_QUOTA_WAIT": "1"}).quota_wait is True
    assert build_parser().parse_args(["run", "--wait-for-quota"]).quota_wait is True


# ---------------------------------------------------------------- runs

def test_a_per_day_429_is_stored_and_the_next_run_makes_no_call_until_the_reset(client, tmp_path):
    cache = tmp_path / "cache"
    with GeminiServer(api_key=GEMINI_KEY, rpd=2, day_seconds=600) as server:
        first, said = parse(server, client, cache)
        calls = server.count(":generateContent")
        assert server.rate_limited["rpd"] >= 1 and calls >= 3  # two answered, then the per-day 429
        assert first.stats["gate"]["closed"] and (first.errors["kind"] == "gemini.quota_exhausted").sum() == 1
        stored = quota.read(str(cache), MODEL)
        assert stored is not None and stored.spent_until.astimezone(quota.PACIFIC).time() == dt.time(0)
        assert first.stats["quotaResetsAt"] == stored.spent_until.isoformat()
        assert len([m for m in errors_said(said) if "daily quota" in m]) == 1

        second, said = parse(server, client, cache)
        assert server.count(":generateContent") == calls  # not one call
        assert second.stats["requests"] == 0 and second.stats["quotaResetsAt"] == stored.spent_until.isoformat()
        # the two answered images come from the cache; the other is a row again, not cached
        assert len(second.shows["source"].unique()) == 2 and second.stats["cacheHits"] == 2
        assert list(second.errors["kind"]) == ["gemini.quota_exhausted"]
        assert all("used up until" in message for message in second.errors["message"])
        [line] = [m for m in errors_said(said) if "daily quota" in m]  # one line, with when it resets
        assert stored.resets() in line
        assert second.stats["gate"]["closed"] and second.stats["gate"]["granted"] == first.stats["gate"]["granted"]

        third, _ = parse(server, client, cache, fallback="local")  # with the fallback: read here, still no call
        assert server.count(":generateContent") == calls
        assert third.errors.empty and third.stats["fellBackToLocal"] == 1
        assert set(third.shows.loc[third.shows["extractor"] == "local", "source"]) == set(first.errors["source"])

        # the reset has passed (a state stored a day ago): the next run calls again, and nothing is stored
        quota.record(str(cache), MODEL, "yesterday's", seen=quota.utc_now() - dt.timedelta(days=1, hours=1))
        server.reset()  # the server's day is over too
        fourth, _ = parse(server, client, cache)
        # the image not answered yet is called for and answered; no quota met, none stored
        assert server.count(":generateContent", status=200) == server.count(":generateContent") == 1
        assert fourth.errors.empty and len(fourth.shows["source"].unique()) == len(PATHS)
        assert "quotaResetsAt" not in fourth.stats and quota.read(str(cache), MODEL) is None


def test_batch_runs_leave_the_daily_quota_alone(client, tmp_path):
    cache = tmp_path / "cache"
    quota.record(str(cache), MODEL, "a per-day 429")
    with GeminiServer(api_key=GEMINI_KEY, batch_pending_seconds=0.1, batch_running_seconds=0.2) as server:
        result, said = parse(server, client, cache, paths=PATHS[:2], mode="batch", batch_poll=0.1)
    assert result.errors.empty and len(result.shows["source"].unique()) == 2
    assert "quotaResetsAt" not in result.stats and not [m for m in errors_said(said) if "daily quota" in m]


def store(cache, spent_until):
    """A state whose reset is ``spent_until``, as ``quota.record`` writes it (which computes the reset from now)."""
    state = quota.QuotaState(model=MODEL, reason="a per-day 429", seen=quota.utc_now(), spent_until=spent_until)
    folder = Path(cache) / quota.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODEL}.json").write_text(state.model_dump_json())


def test_with_wait_for_quota_the_run_waits_for_the_reset_then_calls(client, tmp_path):
    cache = tmp_path / "cache"
    soon = quota.utc_now() + dt.timedelta(seconds=0.5)
    store(cache, soon)  # a reset a moment away: the run waits for it instead of falling back
    with GeminiServer(api_key=GEMINI_KEY) as server:
        result, said = parse(server, client, cache, paths=PATHS[:2], quota_wait=True)
        assert server.count(":generateContent") == 2
    assert quota.utc_now() >= soon
    assert result.errors.empty and "quotaResetsAt" not in result.stats
    assert any("waiting until it resets" in message for level, message in said if level == "WARNING")


def test_a_stop_ends_the_wait_for_the_quota_and_the_run_starts_nothing(client, tmp_path):
    cache = tmp_path / "cache"
    quota.record(str(cache), MODEL, "a per-day 429")  # resets at the next midnight: hours away
    stop = threading.Event()
    with GeminiServer(api_key=GEMINI_KEY) as server:
        def stop_once_waiting(message, level):
            if "waiting until it resets" in message:
                stop.set()  # as SIGINT/SIGTERM set the CLI's stop event

        result = daskparse.parse_images(PATHS[:2], extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                        gemini_base_url=server.base_url, gemini_api_version="v1beta", timeout=10,
                                        cache=str(cache), quota_wait=True, stop=stop, log=stop_once_waiting)
        assert server.count(":generateContent") == 0
    assert result.stats["stopped"] and result.stats["notReached"] == 2


def test_a_run_without_a_cluster_closes_its_own_gate_from_the_start(tmp_path, monkeypatch):
    class NoCluster:  # the one mock, as in test_cluster_start: LocalCluster cannot be made to fail on demand
        def __init__(self, *args, **kwargs):
            raise OSError("no cluster for you")

    monkeypatch.setattr(cluster, "LocalCluster", NoCluster)
    cache = tmp_path / "cache"
    quota.record(str(cache), MODEL, "a per-day 429")
    with GeminiServer(api_key=GEMINI_KEY) as server:
        result, _ = parse(server, None, cache, paths=PATHS[:2], threads=2)
        assert server.count(":generateContent") == 0
    assert "clusterFallback" in result.stats and "gate" not in result.stats  # it ran in this process's threads
    assert list(result.errors["kind"]) == ["gemini.quota_exhausted"] * 2


def test_a_cron_run_a_new_process_finds_the_spent_quota_and_exits_0_without_a_call(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    state = quota.record(str(cache), MODEL, "a per-day 429")
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    with GeminiServer(api_key=GEMINI_KEY) as server:
        env.update(GEMINI_API_KEY=GEMINI_KEY, GOOGLE_GEMINI_BASE_URL=server.base_url)
        done = subprocess.run([sys.executable, "-m", "daskparse", "run", *PATHS[:2], "--output", str(out),
                               "--cache", str(cache), "--workers", "1", "--threads", "2", "--fallback", "local"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert server.count(":generateContent") == 0
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "daily quota" in line]  # the one ERROR line
    assert "ERROR" in line and state.resets() in line
    stats = json.loads((out / "stats.json").read_text())
    assert stats["quotaResetsAt"] == state.spent_until.isoformat() and stats["fellBackToLocal"] == 2
