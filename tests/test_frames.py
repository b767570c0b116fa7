"""daskparse.parse_frame: a table of posts in, its shows out, every show row keeping its post's columns."""

import json
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pytest

import daskparse
from daskparse.optimize import optimize_image
from daskparse.shows import as_text
from conftest import GEMINI_KEY, cluster_client

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = sorted(json.loads((DATA / "truth.json").read_text())["flyers"])[:3]
PATHS = [str(DATA / "flyers" / name) for name in NAMES]
PLACE = {"venue": "The Lantern", "address": "512 Elm St, Denver, CO 80202"}


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


@pytest.fixture
def answers(gemini_server):
    """The first image: trivia on "Nov 28" (no year, no weekday); the second: two shows; the third: none."""
    jpegs = [optimize_image(Path(path).read_bytes()).jpeg for path in PATHS]
    gemini_server.set_answer(jpegs[0], {"is_flyer": True, "shows": [
        {"title": "Trivia", "kind": "trivia", **PLACE, "date": "11-28", "start_time": "20:00"}]})
    gemini_server.set_answer(jpegs[1], {"is_flyer": True, "shows": [
        {"title": "Karaoke", "kind": "karaoke", **PLACE, "date": None, "weekday": "Thu", "recurrence": "weekly",
         "start_time": "21:00"},
        {"title": "Bingo", "kind": "bingo", **PLACE, "date": "12-05", "weekday": "Sat", "start_time": "19:00"}]})
    gemini_server.set_not_flyer(jpegs[2])
    return gemini_server


def parse(frame, gemini_server, client, **options):
    return daskparse.parse_frame(frame, client=client, extractor="gemini", gemini_api_key=GEMINI_KEY,
                                 gemini_base_url=gemini_server.base_url, gemini_api_version="v1beta", timeout=10,
                                 **options)


POSTS = pd.DataFrame({
    "post_id": [101, 102, 103, 104, 105, 106],
    "group": ["austin-gigs"] * 3 + ["denver-nights"] * 3,
    "posted_at": pd.to_datetime(["2026-11-25 18:30", "2026-12-01 09:00", "2026-11-26", "2026-11-27", None,
                                 "2026-11-29"], format="ISO8601"),
    "image_url": [PATHS[0], PATHS[0], PATHS[1], PATHS[2], None, "/no/such/flyer.jpg"],
    "title": ["a post's own title"] * 6,
})


def test_every_show_keeps_its_posts_columns_and_the_posting_day_gives_the_year(answers, client):
    result = parse(POSTS, answers, client, posted="posted_at")
    shows = result.shows.sort_values(["post_id", "start_time"]).reset_index(drop=True)
    # the post's columns first, a clashing one renamed; the repost (102) has the shows of its image too
    assert list(shows.columns[:5]) == ["post_id", "group", "posted_at", "image_url", "title_post"]
    assert list(shows["post_id"]) == [101, 102, 103, 103]
    assert list(shows["title"]) == ["Trivia", "Trivia", "Bingo", "Karaoke"]
    # "Nov 28" posted on 2026-11-25 is three days later, for the repost too (its first posting day);
    # "Sat Dec 5" posted on 2026-11-26 is that Saturday; a weekly show has no date
    assert list(as_text(shows)["date"].fillna("")) == ["2026-11-28", "2026-11-28", "2026-12-05", ""]
    assert answers.count(":generateContent") == 3  # one call per distinct image, not per post


def test_rows_that_fail_are_error_rows_with_their_posts_columns(answers, client):
    result = parse(POSTS, answers, client, posted="posted_at")
    errors = result.errors.sort_values("post_id")
    assert dict(zip(errors["post_id"], errors["kind"])) == {105: "inputs.missing_url", 106: "inputs.not_found"}
    outcomes = result.outcomes.set_index("post_id")["status"]
    assert outcomes[104] == "no_shows" and outcomes[101] == outcomes[102] == "shows"
    assert result.stats["rows"] == 6 and result.stats["rowsWithoutUrl"] == 1


def test_without_a_posted_column_the_run_reference_date_applies(answers, client):
    result = parse(POSTS[["post_id", "image_url"]].head(1), answers, client, reference_date="2026-12-03")
    assert list(as_text(result.shows)["date"]) == ["2027-11-28"]  # the next Nov 28 from the run's day


def test_a_dask_dataframe_comes_back_as_one_joined_lazily(answers, client):
    posts = dd.from_pandas(POSTS.drop(columns="title"), npartitions=2)
    result = parse(posts, answers, client, posted="posted_at")
    assert isinstance(result.shows, dd.DataFrame)
    shows = result.shows.compute().sort_values(["post_id", "start_time"])
    assert list(shows["post_id"]) == [101, 102, 103, 103]
    assert list(shows.columns[:4]) == ["post_id", "group", "posted_at", "image_url"]


def test_an_empty_table_gives_empty_tables_with_the_posts_columns(answers, client):
    result = parse(POSTS.iloc[:0], answers, client, posted="posted_at")
    assert result.shows.empty and result.errors.empty
    assert {"post_id", "group", "title_post", "show_id", "venue"} <= set(result.shows.columns)
    assert answers.count(":generateContent") == 0


def test_a_missing_column_is_named():
    with pytest.raises(KeyError, match="no column 'url'"):
        daskparse.parse_frame(POSTS, url="url")
