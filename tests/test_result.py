import pandas as pd

from daskparse.result import ParseResult
from daskparse.settings import load_settings
from daskparse.shows import shows_frame
from daskparse.outcome import Outcome
from daskparse.tally import RunTally
from daskparse.usage import Usage


def test_the_summary_counts_in_words_that_agree_with_the_number():
    """Issue 15: a one-image run printed "1 images: ... 1 errors; 1 shows"."""
    empty = pd.DataFrame()
    one = ParseResult(empty, empty, empty, {"totalImages": 1, "imagesWithShows": 1, "imagesWithoutShows": 0,
                                            "errors": 1, "shows": 1, "wallSeconds": 2.0, "averageTimePerImage": 900,
                                            "extractor": "local"})
    assert one.summary().startswith("1 image: 1 with shows, 0 without, 1 error; 1 show in 2.0 s")
    many = ParseResult(empty, empty, empty, {"totalImages": 3, "errors": 0, "shows": 2})
    assert many.summary().startswith("3 images: 0 with shows, 0 without, 0 errors; 2 shows in")


def _gemini_run(model: str, usage: dict) -> ParseResult:
    source = "https://example.org/1.jpg"
    tally = RunTally(1, load_settings(extractor="gemini", gemini_api_key="k" * 39, model=model))
    tally.add([Outcome(source, source, seconds={"extract": 1.0}, usage=Usage.from_stats(usage), extractor="gemini")])
    return tally.result([], 1.0, None)


def test_a_gemini_runs_summary_gives_its_cost_or_says_it_is_unknown():
    """Issue 15: the summary line left out the cost of a Gemini run whose model has no price."""
    unknown = _gemini_run("gemini-9-ultra", {"requests": 1, "inputTokens": 1000, "outputTokens": 100}).summary()
    assert "Gemini cost unknown: no price for gemini-9-ultra" in unknown
    priced = _gemini_run("gemini-2.5-flash", {"requests": 1, "inputTokens": 1000, "outputTokens": 100}).summary()
    assert "; Gemini ~$0.0006, $0.55 per 1,000 images" in priced
    assert "; Gemini ~$0.0000" in _gemini_run("gemini-2.5-flash", {}).summary()  # nothing sent: it cost nothing
    local = ParseResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {"extractor": "local", "totalImages": 1})
    assert "Gemini" not in local.summary()


def test_a_stopped_runs_summary_counts_in_words_too():
    stopped = ParseResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {"stopped": True, "notReached": 1})
    assert stopped.summary().endswith("stopped early: 1 image not started (the next run does them)")


def test_the_table_prints_typed_dates_and_times_as_text():
    shows = shows_frame([{"title": "Karaoke", "venue": "Blue Door", "date": "2026-11-28", "weekday": "Saturday",
                          "start_time": "21:30"}, {"title": "Quiz", "weekday": "Monday"}])
    table = ParseResult(shows, pd.DataFrame(), pd.DataFrame(), {}).table().splitlines()
    assert table[1].split()[:3] == ["Saturday", "2026-11-28", "21:30"] and "<NA>" not in "".join(table)
