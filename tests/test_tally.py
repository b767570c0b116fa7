"""RunTally: a run's outcomes folded as partitions end, its progress, and the result built from it."""

import dataclasses
import re
import threading
from pathlib import Path

import pandas as pd
import pytest

import daskparse.tally as tally_module
from daskparse.errors import ErrorRecord
from daskparse.outcome import CacheMatch, Outcome
from daskparse.settings import load_settings
from daskparse.shows import SHOW_COLUMNS, SHOW_DTYPES
from daskparse.tally import RunTally, gate_stats
from daskparse.usage import Usage


def _outcome(n: int, shows: int = 1, *, error: str | None = None, level: str | None = None) -> Outcome:
    source = f"https://example.org/{n}.jpg"
    records = [{"title": f"Show {n}.{i}", "kind": "trivia", "venue": f"Venue {n}", "weekday": "Thursday",
                "start_time": "19:00", "source": source, "cleaned_url": source, "image_sha256": f"{n:064x}",
                "extractor": "gemini"} for i in range(0 if error else shows)]
    return Outcome(source, source, shows=records, seconds={} if level else {"fetch": 0.5},
                   usage=Usage(requests=1, input_tokens=1000, output_tokens=100), extractor="gemini",
                   error=None if error is None else ErrorRecord(source, source, "fetch", error, "HTTP 404"),
                   cache=None if level is None else CacheMatch(level, 0.0, 0.0, source, saved_call=True))


@pytest.fixture
def gemini_settings():
    return load_settings(extractor="gemini", gemini_api_key="k" * 39)


def test_progress_counts_each_partition_as_it_ends(gemini_settings):
    seen = []
    tally = RunTally(4, gemini_settings, seen.append)
    tally.notify()
    tally.add([_outcome(1, shows=2), _outcome(2, error="fetch.not_found")])
    tally.add([_outcome(3, level="url")])
    assert [(p.done, p.failed, p.shows, p.cache_hits) for p in seen] == [(0, 0, 0, 0), (2, 1, 2, 0), (3, 1, 3, 1)]
    last = seen[-1]
    assert (last.total, last.requests, last.input_tokens, last.output_tokens) == (4, 3, 3000, 300)
    assert last.estimated_cost_usd == gemini_settings.estimated_cost(3000, 300) > 0
    assert last.rate > 0 and last.eta == pytest.approx((4 - 3) / last.rate)
    assert seen[0].eta is None


def test_input_errors_count_in_progress_from_the_first_call_and_leave_the_stats_as_they_were(gemini_settings,
                                                                                            monkeypatch):
    """Errors met before the run (a missing file) reached only the result, not the dashboard page's error list."""
    monkeypatch.setattr(tally_module, "LATEST_ERRORS", 3)
    missing = [ErrorRecord(f"/no/{n}.jpg", "", "inputs", "inputs.not_found", "no such file") for n in (1, 2)]
    seen = []
    tally = RunTally(3, gemini_settings, seen.append, input_errors=missing)
    tally.notify()
    first = seen[0]
    assert [row[0] for row in first.latest_errors] == ["/no/1.jpg", "/no/2.jpg"]
    assert (first.total, first.done, first.failed, first.rate, first.eta) == (5, 2, 2, 0.0, None)
    tally.add([_outcome(1, error="fetch.not_found"), _outcome(2)])
    assert [row[0] for row in seen[-1].latest_errors] == ["/no/1.jpg", "/no/2.jpg", "https://example.org/1.jpg"]
    tally.add([_outcome(3, error="decode.corrupt")])
    last = seen[-1]
    assert [row[0] for row in last.latest_errors] == ["/no/2.jpg", "https://example.org/1.jpg",
                                                      "https://example.org/3.jpg"]  # the last 3, oldest first
    # the rate counts what the run answered, not the errors known before it began
    assert last.rate == 3 / last.elapsed
    stats = tally.result(missing, wall=1.0, dashboard=None).stats
    assert (last.total, last.done, last.failed) == (stats["totalImages"], stats["totalImages"], stats["errors"])
    untold = RunTally(3, gemini_settings)  # as before: the same stats, whether or not progress counted them
    untold.add([_outcome(1, error="fetch.not_found"), _outcome(2)])
    untold.add([_outcome(3, error="decode.corrupt")])
    assert untold.result(missing, wall=1.0, dashboard=None).stats == stats


def test_the_result_holds_every_outcome_show_and_error_across_packs(gemini_settings, monkeypatch):
    monkeypatch.setattr(tally_module, "PACK_EVERY", 3)  # shows are packed into Arrow several times
    tally = RunTally(7, gemini_settings)
    partitions = [[_outcome(1, 2), _outcome(2, 0)], [_outcome(3, 3), _outcome(4, error="decode.corrupt")],
                  [_outcome(5, 1, level="sha256"), _outcome(6, 2)]]
    for partition in partitions:
        tally.add(partition)
    bad_line = ErrorRecord("ftp://x", "ftp://x", "inputs", "inputs.unsupported_scheme", "no")
    result = tally.result([bad_line], wall=2.0, dashboard=None)
    expected = [show for partition in partitions for outcome in partition for show in outcome.shows]
    assert list(result.shows.columns) == SHOW_COLUMNS
    assert dict(result.shows.dtypes) == SHOW_DTYPES  # through Arrow and back: dates and times still typed
    assert result.shows["title"].tolist() == [show["title"] for show in expected]  # order kept across packs
    assert result.shows["date"].isna().all()
    assert result.outcomes["status"].tolist() == ["error", "shows", "no_shows", "shows", "error", "shows", "shows"]
    assert result.outcomes["cached"].tolist()[5] == "sha256"
    assert result.errors["kind"].tolist() == ["inputs.unsupported_scheme", "decode.corrupt"]
    stats = result.stats
    assert (stats["totalImages"], stats["errors"], stats["shows"], stats["cacheHits"]) == (7, 2, 8, 1)
    assert stats["requests"] == 6 and stats["stageSeconds"]["fetch"] == 2.5
    assert stats["averageTimePerImage"] == round(1000 * 2.0 / 5, 1)  # the cache hit was not computed here


def test_a_run_with_no_shows_has_the_empty_shows_frame(gemini_settings):
    tally = RunTally(1, gemini_settings)
    tally.add([_outcome(1, 0)])
    shows = tally.result([], wall=1.0, dashboard=None).shows
    assert shows.empty and list(shows.columns) == SHOW_COLUMNS


def test_the_result_follows_the_order_the_sources_were_given_in(gemini_settings):
    tally = RunTally(4, gemini_settings)
    for partition in ([_outcome(3, 2)], [_outcome(1, error="fetch.not_found")], [_outcome(4, 1), _outcome(2, 1)]):
        tally.add(partition)  # partitions end in any order
    given = [f"https://example.org/{n}.jpg" for n in (1, 2, 3, 4)]
    result = tally.result([], wall=1.0, dashboard=None, order=given)
    assert result.outcomes["source"].tolist() == given
    assert result.shows["title"].tolist() == ["Show 2.0", "Show 3.0", "Show 3.1", "Show 4.0"]
    assert result.errors["source"].tolist() == [given[0]]


def test_cost_per_image_and_the_caches_savings_in_money(gemini_settings):
    tally = RunTally(4, gemini_settings)
    computed = [_outcome(n) for n in (1, 2)]
    paid = Usage(requests=1, input_tokens=1000, output_tokens=100, thoughts_tokens=300)
    for outcome in computed:
        outcome.usage = paid
    hits = [_outcome(n, level="url") for n in (3, 4)]
    for hit in hits:
        hit.usage = Usage()  # a hit makes no call this run
        hit.cache = dataclasses.replace(hit.cache, usage=paid)
    tally.add(computed + hits)
    stats = tally.result([], 1.0, None).stats
    per_image = (1000 * 0.30 + 400 * 2.50) / 1e6  # thoughts billed as output
    assert stats["thoughtsTokens"] == 600 and stats["outputTokens"] == 200
    assert stats["estimatedCostUSD"] == pytest.approx(2 * per_image)
    assert stats["costPerImageUSD"] == pytest.approx(per_image) and stats["costPer1000ImagesUSD"] == pytest.approx(
        1000 * per_image, abs=1e-4)
    assert stats["cacheSavingsUSD"] == pytest.approx(2 * per_image)
    outcomes = tally.result([], 1.0, None).outcomes.set_index("source")
    assert outcomes["thoughts_tokens"].tolist() == [300, 300, 0, 0] and outcomes["requests"].sum() == 2
    # a run answered wholly from the cache prices its savings at what the saved calls cost when made
    only_hits = RunTally(2, gemini_settings)
    only_hits.add(hits)
    stats = only_hits.result([], 1.0, None).stats
    assert stats["costPerImageUSD"] is None and stats["cacheSavingsUSD"] == pytest.approx(2 * per_image)
    assert "per 1,000 images" not in only_hits.result([], 1.0, None).summary()
    assert "cache saved" in only_hits.result([], 1.0, None).summary()


README = Path(__file__).resolve().parent.parent / "README.md"
CAMEL_CASE = re.compile(r"[a-z][a-zA-Z0-9]*")
NAMED_PARTS = ("cacheHitsByLevel", "stageSeconds", "gate", "batch", "budget")  # objects whose keys are names


def _every_stats_key(gemini_settings, tmp_path) -> dict:
    """One stats object with every key a run can have: a local run's, a Gemini run's (all from RunTally),
    a stopped run's (the pipeline adds stopped and notReached) and the gate's metrics (the pipeline adds them)."""
    from daskparse import parse_frame, parse_images
    from daskparse.batch import BatchSession
    from daskparse.gate import RateGateExtension

    local = RunTally(1, load_settings(extractor="local"))
    local.add([_outcome(1)])
    gemini = RunTally(1, gemini_settings)
    gemini.add([_outcome(1, error="fetch.not_found")])
    stop = threading.Event()
    stop.set()  # stopped before it starts: nothing is computed, no cluster is started
    flyer = tmp_path / "flyer.jpg"
    flyer.write_bytes(b"\xff\xd8\xff not read")
    stopped = parse_images([str(flyer)], extractor="local", stop=stop).stats
    assert stopped["stopped"] is True and stopped["notReached"] == 1
    posts = pd.DataFrame({"image_url": [str(flyer), None]})
    from_frame = parse_frame(posts, extractor="local", stop=stop).stats  # parse_frame adds rows, rowsWithoutUrl
    assert from_frame["rows"] == 2 and from_frame["rowsWithoutUrl"] == 1
    # the pipeline adds clusterFallback only when its cluster could not be had (tests/test_cluster_start.py)
    return {**local.result([], 1.0, None).stats, **gemini.result([], 1.0, None).stats, **stopped, **from_frame,
            "gate": gate_stats(RateGateExtension().metrics()), "clusterFallback": "why",
            # the pipeline adds the batch jobs' to every Gemini run (tests/test_batch_run.py)
            "batchPending": 0, "batch": BatchSession(None, None, None, model="m", job_bytes=1).stats(0),
            # and quotaResetsAt to a run that met or found a spent daily quota (tests/test_quota.py)
            "quotaResetsAt": "2026-12-04T08:00:00+00:00"}


def _readme_stats_table() -> dict[str, str]:
    """The Run stats table of README.md: key -> the rest of its row."""
    section = README.read_text().split("### Run stats", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {re.match(r"\| `([^`]+)`", row).group(1): row for row in rows}


def test_every_stats_key_is_camel_case_and_documented_with_its_unit_in_the_readme(gemini_settings, tmp_path):
    """Issue 15: stats.json mixed camelCase and snake_case (the gate's in_flight, paused_for...), and its units
    were nowhere (averageTimePerImage is in ms, stageSeconds thread time)."""
    stats = _every_stats_key(gemini_settings, tmp_path)
    keys = list(stats) + [f"{part}.{key}" for part in NAMED_PARTS for key in stats[part]]
    assert [key for key in keys if not CAMEL_CASE.fullmatch(key.rsplit(".", 1)[-1])] == []
    table = _readme_stats_table()
    assert sorted(set(stats) - set(table)) == []
    assert sorted(set(table) - set(stats)) == []  # nothing documented that no run writes
    for part in NAMED_PARTS:  # the keys of an object in its row
        assert [key for key in stats[part] if f"`{key}`" not in table[part]] == [], part
    units = {key: row.split("|")[2].strip() for key, row in table.items()}
    assert units["averageTimePerImage"] == "milliseconds" and units["stageSeconds"] == "thread-seconds"
    assert all(units.values())


def test_the_gates_metrics_go_into_stats_in_camel_case():
    assert gate_stats({"in_flight": 2, "current_rpm": 600.0, "rpm": 1800, "requests_in_window": 3}) == {
        "inFlight": 2, "currentRpm": 600.0, "rpm": 1800, "requestsInWindow": 3}


def test_a_gemini_runs_stats_name_its_model():
    tally = RunTally(1, load_settings(extractor="gemini", gemini_api_key="k" * 39, model="models/gemini-9-ultra"))
    tally.add([_outcome(1)])
    stats = tally.result([], 1.0, None).stats
    assert stats["model"] == "gemini-9-ultra" and stats["estimatedCostUSD"] is None
    assert "model" not in RunTally(1, load_settings(extractor="local")).result([], 1.0, None).stats
