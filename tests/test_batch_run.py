"""Batch mode end to end: worker processes, the real google-genai client, the loopback server's Batch and Files
APIs (its jobs advance on a short clock), the ledger and the cache on disk."""

import hashlib
import json
import time
from pathlib import Path

import pytest

import daskparse
from conftest import GEMINI_KEY, cluster_client
from daskparse.batch import BatchLedger
from daskparse.optimize import optimize_image
from daskparse.pipeline import result_variant
from daskparse.settings import load_settings
from daskparse.testing.gemini_batches import BatchClock
from daskparse.testing.gemini_server import GeminiServer

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
PATHS = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:6]]


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


@pytest.fixture
def server():
    with GeminiServer(api_key=GEMINI_KEY, batch_pending_seconds=0.1, batch_running_seconds=0.2) as server:
        yield server


def parse(server, client, tmp_path, paths=PATHS, **options):
    return daskparse.parse_images(paths, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                  gemini_base_url=server.base_url, timeout=10, cache=str(tmp_path / "cache"),
                                  batch_poll=0.1, reference_date=TRUTH["reference_date"], **options)


def ledger(tmp_path, **options):
    settings = load_settings(extractor="gemini", gemini_api_key=GEMINI_KEY, cache=str(tmp_path / "cache"), **options)
    return BatchLedger(settings.cache, result_variant(settings))


def venue(path):
    return f"Venue {hashlib.sha256(optimize_image(Path(path).read_bytes()).jpeg).hexdigest()[:8]}"


def test_a_batch_run_sends_one_job_waits_for_it_and_prices_it_at_the_batch_price(server, client, tmp_path):
    result = parse(server, client, tmp_path, mode="batch")
    assert server.count(":generateContent") == 0 and server.count(":batchGenerateContent") == 1
    [job] = server.batch_jobs
    assert job.request_count == len(PATHS) and job.input_file is None  # small: inline
    assert result.errors.empty and set(result.shows["source"]) == set(PATHS)
    for path in PATHS:  # each answer went back to its own image (the server names the image it read)
        assert set(result.shows.loc[result.shows["source"] == path, "venue"]) == {venue(path)}
    stats = result.stats
    assert stats["requests"] == stats["batchRequests"] == len(PATHS) and stats["batchPending"] == 0
    assert stats["batch"] == {"jobsCreated": 1, "requests": len(PATHS), "jobsCollected": 1,
                              "jobStates": {"succeeded": 1}, "pending": 0}
    online_price = load_settings(extractor="local").estimated_cost(stats["inputTokens"], stats["outputTokens"],
                                                                   stats["thoughtsTokens"])
    assert stats["estimatedCostUSD"] == pytest.approx(online_price * 0.5, abs=2e-6)
    assert ledger(tmp_path).records() == []
    again = parse(server, client, tmp_path)  # online now: every answer is in the cache
    assert again.stats["cacheHits"] == len(PATHS) and again.stats["requests"] == 0
    assert server.count(":generateContent") == 0 and len(server.batch_jobs) == 1


def test_no_wait_submits_and_ends_and_the_next_run_in_any_mode_collects(server, client, tmp_path):
    server.batch_clock = BatchClock(pending_seconds=0.1, running_seconds=4.0)
    first = parse(server, client, tmp_path, mode="batch", wait=False)
    assert first.stats["batchPending"] == len(PATHS) and first.shows.empty and first.errors.empty
    assert first.stats["batch"]["jobsCreated"] == 1 and first.stats["batch"]["jobStates"] == {"pending": 1}
    [record] = ledger(tmp_path).records()
    assert record.job == server.batch_jobs[0].name and len(record.items) == len(PATHS)
    # a second run while the job is pending: nothing is sent again, online or in another job
    second = parse(server, client, tmp_path, paths=PATHS[:3])
    assert second.stats["batchPending"] == 3 and second.stats["requests"] == 0 and second.shows.empty
    third = parse(server, client, tmp_path, paths=PATHS[:2], mode="batch", wait=False)
    assert third.stats["batchPending"] == 2 and len(server.batch_jobs) == 1
    deadline = time.monotonic() + 30
    while server.batch_jobs[0].state != "BATCH_STATE_SUCCEEDED" and time.monotonic() < deadline:
        time.sleep(0.1)
    server.batch_clock = BatchClock(pending_seconds=0.1, running_seconds=0.1)
    # the cron run after: collects the finished job (its answers are this run's rows too), sends a new image
    new = tmp_path / "new.jpg"
    new.write_bytes(sorted((DATA / "flyers").glob("*.jpg"))[10].read_bytes())
    fourth = parse(server, client, tmp_path, paths=[str(new)], mode="batch")
    assert set(fourth.shows["source"]) == set(PATHS) | {str(new)}
    assert fourth.stats["batch"]["jobsCollected"] == 2 and len(server.batch_jobs) == 2
    assert server.count(":generateContent") == 0 and ledger(tmp_path).records() == []


def test_a_create_whose_reply_was_lost_is_found_by_name_and_never_made_twice(server, client, tmp_path):
    server.add_batch_fault("lost_reply")  # the job is made, the connection drops before the reply
    result = parse(server, client, tmp_path, mode="batch")
    assert len(server.batch_jobs) == 1 and server.count(":batchGenerateContent") == 1
    assert result.errors.empty and set(result.shows["source"]) == set(PATHS)


def test_a_failed_job_gives_error_rows_and_the_next_run_sends_its_images_again(server, client, tmp_path):
    server.add_batch_fault("failed")
    first = parse(server, client, tmp_path, mode="batch")
    assert set(first.errors["kind"]) == {"gemini.batch_failed"} and len(first.errors) == len(PATHS)
    assert first.stats["batch"]["jobStates"] == {"failed": 1} and ledger(tmp_path).records() == []
    second = parse(server, client, tmp_path, mode="batch")  # transient errors are not cached: sent again
    assert second.errors.empty and len(server.batch_jobs) == 2 and set(second.shows["source"]) == set(PATHS)


def test_above_the_inline_limit_the_requests_go_as_an_uploaded_file_and_a_bad_answer_is_one_error_row(
        server, client, tmp_path):
    broken = optimize_image(Path(PATHS[1]).read_bytes()).jpeg
    server.add_batch_error(broken, code=13, message="Internal error encountered.")
    result = parse(server, client, tmp_path, mode="batch", batch_inline_bytes=1000)
    [job] = server.batch_jobs
    assert job.input_file is not None and job.output_file is not None  # through the Files API both ways
    [error] = result.errors.itertuples()
    assert error.source == PATHS[1] and error.kind == "gemini.batch_request_failed" and "13" in error.message
    assert set(result.shows["source"]) == set(PATHS) - {PATHS[1]}
    for path in set(PATHS) - {PATHS[1]}:
        assert set(result.shows.loc[result.shows["source"] == path, "venue"]) == {venue(path)}


def test_an_empty_batch_run_and_a_run_of_cache_hits_create_no_job(server, client, tmp_path):
    empty = parse(server, client, tmp_path, paths=[], mode="batch")
    assert empty.stats["totalImages"] == 0 and empty.stats["batch"]["jobsCreated"] == 0
    parse(server, client, tmp_path, mode="batch")
    hits = parse(server, client, tmp_path, mode="batch")
    assert hits.stats["cacheHits"] == len(PATHS) and len(server.batch_jobs) == 1


def test_a_jsonl_line_is_the_request_the_sdk_sends_inline(server):
    """The file path builds its lines with the SDK's own converter (a private function, pinned here): the same
    request, image and all, as ``batches.create`` sends inline."""
    from daskparse.extract.gemini_batch import BatchApi, BatchRequest
    from daskparse.testing.gemini_server import _elide_images

    settings = load_settings(extractor="gemini", gemini_api_key=GEMINI_KEY, gemini_base_url=server.base_url)
    image = BatchRequest("k" * 64, optimize_image(Path(PATHS[0]).read_bytes()).jpeg)
    BatchApi(settings.gemini_options()).create("inline", [image])
    [inline] = server.requests[-1].body["batch"]["inputConfig"]["requests"]["requests"]
    BatchApi(settings.gemini_options(), inline_bytes=1).create("file", [image])
    [uploaded] = [file for file in server.files if file.display_name == "file"]
    [line] = [json.loads(line) for line in uploaded.data.splitlines()]
    assert line["key"] == inline["metadata"]["key"] == "k" * 64
    assert _elide_images(line["request"]) == inline["request"]
    assert "responseSchema" in inline["request"]["generationConfig"]  # the schema reaches a batch request


@pytest.mark.parametrize("fallback", ["none", "local"])
def test_the_spend_cap_holds_a_batch_jobs_requests(server, client, tmp_path, fallback):
    """Each request reserves the most it can cost at the batch price (input and the whole output budget): 3 of
    these fit under $0.009 (~$0.0028 each); the rest are budget_reached rows, or read locally."""
    result = parse(server, client, tmp_path, mode="batch", max_cost=0.009, fallback=fallback)
    [job] = server.batch_jobs
    assert job.request_count == 3
    assert result.stats["estimatedCostUSD"] <= 0.009 and result.stats["batchRequests"] == 3
    by_source = result.outcomes.set_index("source")
    if fallback == "none":
        assert sorted(result.errors["kind"]) == ["gemini.budget_reached"] * 3
    else:
        assert result.errors.empty and (by_source["status"] != "error").all()
        assert (result.shows["extractor"] == "local").sum() > 0 and result.stats["fellBackToLocal"] == 3


@pytest.mark.parametrize("moment", ["created", "waiting"])
def test_a_run_killed_once_its_job_exists_is_followed_by_one_that_attaches_to_it(server, tmp_path, moment):
    """`python -m daskparse run --mode batch` SIGKILLed as soon as the server has its job (its reply may not have
    reached the run: the ledger's record may be unnamed) or once the run waits (the record named): the rerun
    creates no second job, sends nothing online, and answers every image from the first job."""
    import os
    import signal
    import subprocess
    import sys

    server.batch_clock = BatchClock(pending_seconds=0.1, running_seconds=4.0)
    env = {**os.environ, "GEMINI_API_KEY": GEMINI_KEY, "GOOGLE_GEMINI_BASE_URL": server.base_url,
           "DASKPARSE_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "daskparse", "run", *PATHS, "--mode", "batch", "--batch-poll", "0.2",
               "--workers", "1", "--threads", "2", "--output", str(tmp_path / "out"),
               "--reference-date", TRUTH["reference_date"]]
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        def reached() -> bool:
            if moment == "created":
                return bool(server.batch_jobs)
            return any(record.job for record in ledger(tmp_path).records())

        while not reached() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reached() and first.poll() is None
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
    [record] = ledger(tmp_path).records()  # written before the create: a killed run leaves it behind
    assert record.job in (None, server.batch_jobs[0].name) and (moment == "created" or record.job)
    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert len(server.batch_jobs) == 1 and server.count(":generateContent") == 0
    assert stats["batch"]["jobsCreated"] == 0 and stats["batch"]["jobsCollected"] == 1
    assert stats["totalImages"] == len(PATHS) and stats["errors"] == 0 and stats["batchPending"] == 0


def test_a_job_refused_with_a_429_is_created_again_while_the_run_waits_and_fails_without_waiting(
        server, client, tmp_path):
    server.add_batch_fault("exhausted")  # the first create: 429 RESOURCE_EXHAUSTED, no job made
    result = parse(server, client, tmp_path, mode="batch")
    assert server.count(":batchGenerateContent") == 2 and len(server.batch_jobs) == 1
    assert result.errors.empty and set(result.shows["source"]) == set(PATHS)
    server.add_batch_fault("exhausted")
    later = parse(server, client, tmp_path / "other", mode="batch", wait=False)  # nothing to wait in: error rows
    assert set(later.errors["kind"]) == {"gemini.batch_create_failed"} and len(later.errors) == len(PATHS)
    assert later.stats["batchPending"] == 0 and ledger(tmp_path / "other").records() == []


def test_an_online_run_with_nothing_pending_leaves_no_trace_of_batch_mode(server, client, tmp_path):
    result = parse(server, client, tmp_path, paths=PATHS[:2])
    assert result.stats["batch"]["jobsCreated"] == 0 and result.stats["batchPending"] == 0
    assert not (tmp_path / "cache" / "batches").exists() and server.count(":batchGenerateContent") == 0


def test_answers_map_back_by_position_when_the_metadata_echo_is_missing(server, client, tmp_path):
    server.batch_echo_metadata = False  # reported to happen: the inline results come without their keys
    result = parse(server, client, tmp_path, mode="batch")
    assert result.errors.empty
    for path in PATHS:
        assert set(result.shows.loc[result.shows["source"] == path, "venue"]) == {venue(path)}


def test_answers_collected_from_an_earlier_runs_job_are_not_spent_from_this_runs_cap(server, client, tmp_path):
    """An earlier run's batch job paid for its answers under that run's cap: an online run that collects them
    starts its own budget from nothing (its gate's spend, and ``stats["budget"]``, count only its own call)."""
    parse(server, client, tmp_path, mode="batch", wait=False)
    deadline = time.monotonic() + 30
    while server.batch_jobs[0].state != "BATCH_STATE_SUCCEEDED" and time.monotonic() < deadline:
        time.sleep(0.05)
    new = tmp_path / "new.jpg"
    new.write_bytes(sorted((DATA / "flyers").glob("*.jpg"))[10].read_bytes())
    result = parse(server, client, tmp_path, paths=[str(new)], max_cost=1.0)
    assert set(result.shows["source"]) == set(PATHS) | {str(new)}  # the collected answers are its rows too
    assert server.count(":generateContent") == 1
    [own] = result.outcomes[result.outcomes["source"] == str(new)].to_dict("records")
    own_cost = load_settings(extractor="local").estimated_cost(own["input_tokens"], own["output_tokens"],
                                                               own["thoughts_tokens"])
    assert result.stats["gate"]["spent"] == pytest.approx(own_cost, abs=2e-6)
    assert result.stats["budget"]["spentUSD"] == pytest.approx(own_cost, abs=2e-6)


def test_a_batch_run_that_waits_for_an_earlier_runs_job_spends_only_on_its_own(server, client, tmp_path):
    """The earlier run's job was paid for under that run's cap: a batch run that waits for it (its images are this
    run's too) counts only its own job in ``stats["budget"]["spentUSD"]``, at the batch price."""
    server.batch_clock = BatchClock(pending_seconds=0.1, running_seconds=2.0)
    parse(server, client, tmp_path, paths=PATHS[:3], mode="batch", wait=False)
    server.batch_clock = BatchClock(pending_seconds=0.1, running_seconds=0.2)
    new = tmp_path / "new.jpg"
    new.write_bytes(sorted((DATA / "flyers").glob("*.jpg"))[10].read_bytes())
    result = parse(server, client, tmp_path, paths=[*PATHS[:3], str(new)], mode="batch", max_cost=1.0)
    assert set(result.shows["source"]) == set(PATHS[:3]) | {str(new)} and len(server.batch_jobs) == 2
    [own] = result.outcomes[result.outcomes["source"] == str(new)].to_dict("records")
    own_cost = load_settings(extractor="local").estimated_cost(own["input_tokens"], own["output_tokens"],
                                                               own["thoughts_tokens"], batch=True)
    assert result.stats["budget"]["spentUSD"] == pytest.approx(own_cost, abs=2e-6)
