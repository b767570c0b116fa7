"""The types a worker returns (daskparse.outcome) and Gemini usage (daskparse.usage)."""

import pickle

from daskparse.errors import ErrorRecord
from daskparse.outcome import CacheMatch, Outcome, PartitionResult, show_records
from daskparse.usage import USAGE_STATS_KEYS, Usage, camel_case


def test_usage_adds_up_and_is_spelt_in_camel_case_only_where_written_out():
    one = Usage(requests=2, retries=1, rate_limited=1, input_tokens=1300, image_tokens=1032, output_tokens=90)
    total = Usage.sum([one, Usage(requests=1, input_tokens=1300, thoughts_tokens=40), Usage()])
    assert total == Usage(requests=3, retries=1, rate_limited=1, input_tokens=2600, image_tokens=1032,
                          output_tokens=90, thoughts_tokens=40)
    assert total.stats() == {"requests": 3, "retries": 1, "rateLimited": 1, "inputTokens": 2600,
                             "imageTokens": 1032, "outputTokens": 90, "thoughtsTokens": 40, "batchRequests": 0}
    assert tuple(total.stats()) == USAGE_STATS_KEYS
    assert Usage.from_stats(total.stats()) == total


def test_usage_read_back_ignores_what_it_does_not_know_and_nothing_is_no_usage():
    # a cache file written by a later version may count more; an older one may count less
    assert Usage.from_stats({"requests": 1, "cachedTokens": 7}) == Usage(requests=1)
    assert Usage.from_stats({}) == Usage() == Usage.from_stats(None)
    assert not Usage() and Usage(retries=1)


def test_camel_case_is_how_stats_json_spells_a_name():
    assert [camel_case(name) for name in ("in_flight", "rpm", "requests_in_window")] == [
        "inFlight", "rpm", "requestsInWindow"]


def test_an_outcome_has_shows_none_or_an_error():
    records = show_records([{"title": "Trivia"}], "a.jpg?sig=1", "a.jpg", "ab" * 32, "local")
    assert records == [{"title": "Trivia", "source": "a.jpg?sig=1", "cleaned_url": "a.jpg",
                        "image_sha256": "ab" * 32, "extractor": "local"}]
    assert Outcome("a.jpg", "a.jpg", shows=records).status == "shows"
    assert Outcome("a.jpg", "a.jpg").status == "no_shows"
    error = ErrorRecord("a.jpg", "a.jpg", "fetch", "fetch.not_found", "HTTP 404")
    assert Outcome("a.jpg", "a.jpg", error=error).status == "error"
    assert error.row() == {"source": "a.jpg", "cleaned_url": "a.jpg", "stage": "fetch", "kind": "fetch.not_found",
                           "message": "HTTP 404"}  # the errors table's columns: not whether it may pass


def test_a_partition_result_travels_between_processes_whole():
    match = CacheMatch("phash", 1.0, 2.0, "b.jpg", saved_call=True, usage=Usage(requests=1), distance=3,
                       similarity=0.93)
    result = PartitionResult([Outcome("a.jpg", "a.jpg", seconds={"cache": 0.01}, cache=match)], fatal="refused key")
    assert pickle.loads(pickle.dumps(result)) == result
    assert PartitionResult(not_reached=True).outcomes == []
