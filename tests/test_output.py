"""The output folder: each run's sightings appended to a Parquet dataset, and the merged view, through fsspec."""

import datetime as dt
import uuid

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daskparse.output import SIGHTING_COLUMNS, VIEW, VIEW_COLUMNS, VIEW_SCHEMA, write_shows
from daskparse.shows import as_text, show_id, shows_frame

DAY1 = dt.datetime(2026, 11, 5, 18, 0, tzinfo=dt.timezone.utc)
DAY2 = DAY1 + dt.timedelta(days=1)
KARAOKE = {"title": "Karaoke Night", "kind": "karaoke", "venue": "The Rusty Anchor", "weekday": "Wednesday",
           "start_time": "22:00", "extractor": "local"}
TRIVIA = {"title": "Pub Quiz", "kind": "trivia", "venue": "Half Moon Saloon", "date": "2026-11-13",
          "start_time": "19:30", "extractor": "local"}


def seen_on(name, *shows):
    return [{**show, "source": name, "cleaned_url": f"https://example.org/{name}", "image_sha256": name * 8}
            for show in shows]


@pytest.fixture(params=["local", "memory"])
def output(request, tmp_path):
    return str(tmp_path / "out") if request.param == "local" else f"memory://daskparse-output-{uuid.uuid4().hex}/out"


def view_of(output):
    return pd.read_parquet(f"{output}/{VIEW}").set_index("show_id")


def test_runs_append_sightings_and_the_view_holds_each_show_once(output):
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    # run 1: the karaoke night on two flyers (only the second names the host), and a quiz
    first = write_shows(fs, root, shows_frame(seen_on("a", KARAOKE, TRIVIA) + seen_on("b", {**KARAOKE, "performer": "DJ Mo"})),
                        now=DAY1)
    view = view_of(output)
    assert list(view.reset_index().columns) == VIEW_COLUMNS
    assert sorted(view.index) == sorted({show_id(KARAOKE), show_id(TRIVIA)})
    karaoke = view.loc[show_id(KARAOKE)]
    assert list(karaoke["sources"]) == ["https://example.org/a", "https://example.org/b"]
    assert karaoke["performer"] == "DJ Mo"  # of one run's rows, the fullest
    # run 2, the next day: the same karaoke night on a third flyer, worded otherwise; the quiz not seen
    write_shows(fs, root, shows_frame(seen_on("c", {**KARAOKE, "title": "KARAOKE!"})), now=DAY2)
    view = view_of(output)
    assert len(view) == 2
    karaoke, trivia = view.loc[show_id(KARAOKE)], view.loc[show_id(TRIVIA)]
    assert karaoke["title"] == "KARAOKE!" and karaoke["performer"] == "DJ Mo"  # as last seen; a gap filled
    assert karaoke["source"] == "c" and len(karaoke["sources"]) == 3
    assert (karaoke["first_seen"], karaoke["last_seen"]) == (pd.Timestamp(DAY1), pd.Timestamp(DAY2))
    assert (trivia["first_seen"], trivia["last_seen"]) == (pd.Timestamp(DAY1), pd.Timestamp(DAY1))
    # a run without shows adds no file and keeps the view
    assert set(write_shows(fs, root, shows_frame([]), now=DAY2 + dt.timedelta(hours=1))) == {"shows"}
    pd.testing.assert_frame_equal(view_of(output), view)

    history = pd.read_parquet(f"{output}/shows")  # the dataset, hive-partitioned by run date
    assert len(history) == 4 and set(SIGHTING_COLUMNS) <= set(history.columns)
    assert sorted(history["run_date"].astype(str).unique()) == [f"{DAY1.astimezone():%Y-%m-%d}",
                                                               f"{DAY2.astimezone():%Y-%m-%d}"]
    assert history["run_id"].nunique() == 2 and first["run"].endswith(".parquet")
    assert not [path for path in fs.find(root) if path.rsplit("/", 1)[-1].startswith(".")]  # no temporary files


def test_a_run_stopped_before_its_view_is_merged_by_the_next(output):
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    write_shows(fs, root, shows_frame(seen_on("a", KARAOKE)), now=DAY1)
    before = fs.cat(f"{root}/{VIEW}")
    write_shows(fs, root, shows_frame(seen_on("b", TRIVIA)), now=DAY2)
    fs.pipe(f"{root}/{VIEW}", before)  # as if that run had stopped between its sightings and its view
    assert show_id(TRIVIA) not in view_of(output).index
    write_shows(fs, root, shows_frame([]), now=DAY2 + dt.timedelta(hours=1))
    assert sorted(view_of(output).index) == sorted([show_id(KARAOKE), show_id(TRIVIA)])


def test_a_shows_parquet_of_an_earlier_version_is_rebuilt_from_the_dataset(tmp_path):
    output = str(tmp_path / "out")
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    write_shows(fs, root, shows_frame(seen_on("a", KARAOKE)), now=DAY1)
    shows_frame(seen_on("x", TRIVIA)).drop(columns="show_id").to_parquet(tmp_path / "out" / VIEW)  # the old layout
    write_shows(fs, root, shows_frame(seen_on("b", KARAOKE)), now=DAY2)
    view = view_of(output)
    assert list(view.index) == [show_id(KARAOKE)] and len(view.iloc[0]["sources"]) == 2


@pytest.mark.parametrize("torn", [b"", b"PAR1\x00\x00 cut short by a power cut"])
def test_a_torn_view_is_rebuilt_from_the_sightings_with_one_warning(output, torn, caplog):
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    write_shows(fs, root, shows_frame(seen_on("a", KARAOKE)), now=DAY1)
    write_shows(fs, root, shows_frame(seen_on("b", TRIVIA)), now=DAY2)
    fs.pipe(f"{root}/{VIEW}", torn)
    with caplog.at_level("WARNING", logger="daskparse"):
        write_shows(fs, root, shows_frame([]), now=DAY2 + dt.timedelta(hours=1))
    assert sorted(view_of(output).index) == sorted([show_id(KARAOKE), show_id(TRIVIA)])
    assert view_of(output).loc[show_id(KARAOKE), "first_seen"] == pd.Timestamp(DAY1)  # the whole dataset was read
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "rebuilding" in warnings[0].getMessage()


def test_an_unreadable_sightings_file_is_skipped_with_a_warning(output, caplog):
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    written = write_shows(fs, root, shows_frame(seen_on("a", KARAOKE)), now=DAY1)
    torn = f"{root}/shows/run_date={DAY1.astimezone():%Y-%m-%d}/part-torn.parquet"
    fs.pipe(torn, b"PAR1 not really")
    fs.rm(f"{root}/{VIEW}")
    with caplog.at_level("WARNING", logger="daskparse"):
        write_shows(fs, root, shows_frame(seen_on("b", TRIVIA)), now=DAY2)
    assert sorted(view_of(output).index) == sorted([show_id(KARAOKE), show_id(TRIVIA)])
    assert [r.getMessage() for r in caplog.records if "part-torn" in r.getMessage()], written


def test_local_writes_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    """A power cut cannot be staged here: what is checked is that the file is fsynced before it is renamed."""
    import os

    events = []
    real_fsync, real_mv = os.fsync, fsspec.implementations.local.LocalFileSystem.mv
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "mv",
                        lambda self, *a, **k: (events.append("mv"), real_mv(self, *a, **k))[1])
    fs, root = fsspec.core.url_to_fs(str(tmp_path / "out"))
    fs.makedirs(root, exist_ok=True)
    write_shows(fs, root, shows_frame(seen_on("a", KARAOKE)), now=DAY1)
    assert events == ["fsync", "mv", "fsync", "mv"]  # the sightings file, then the view


def write_as_an_earlier_version(fs, root, records, now):
    """What the version before typed dates wrote: every show column text ("2026-11-13", "22:00"), no venue_key."""
    text = as_text(shows_frame(records)).drop(columns="venue_key")
    seen_at = pd.Timestamp(now).tz_convert("UTC")
    folder = f"{root}/shows/run_date={now.astimezone():%Y-%m-%d}"
    fs.makedirs(folder, exist_ok=True)
    with fs.open(f"{folder}/part-{now:%Y%m%dT%H%M%SZ}-0ld0ld00.parquet", "wb") as file:
        text.assign(run_id="old-run", seen_at=seen_at).to_parquet(file, index=False)
    view = text.assign(first_seen=seen_at, last_seen=seen_at, sources=[[url] for url in text["cleaned_url"]])
    old_schema = pa.schema([(name, pa.string()) for name in text.columns]
                           + [(field.name, field.type) for field in VIEW_SCHEMA if field.name in view.columns
                              and field.name not in text.columns])
    with fs.open(f"{root}/{VIEW}", "wb") as file:
        view.to_parquet(file, index=False, schema=old_schema)


def test_an_output_written_with_text_dates_still_merges_and_is_typed_from_then_on(output):
    """Issue 15: dates and times are typed now; a user's out/ from last week held them as text."""
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    unresolved = {**TRIVIA, "venue": "Brick House", "date": "--11-28"}  # a year-less date left as printed
    write_as_an_earlier_version(fs, root, seen_on("a", KARAOKE, TRIVIA, unresolved), DAY1)
    assert pq.read_schema(fs.open(f"{root}/{VIEW}")).field("date").type == pa.string()
    write_shows(fs, root, shows_frame(seen_on("b", {**TRIVIA, "venue": "HALF MOON SALOON"})), now=DAY2)
    view = view_of(output)
    assert len(view) == 3 and list(view.reset_index().columns) == VIEW_COLUMNS
    trivia = view.loc[show_id(TRIVIA)]
    assert list(trivia["sources"]) == ["https://example.org/a", "https://example.org/b"]
    assert (trivia["date"], trivia["start_time"]) == (dt.date(2026, 11, 13), dt.time(19, 30))
    assert trivia["first_seen"] == pd.Timestamp(DAY1) and trivia["venue_key"] == "halfmoonsaloon"
    assert pd.isna(view.loc[show_id(unresolved), "date"]) and view.loc[show_id(KARAOKE), "venue_key"] == "rustyanchor"
    assert view[view["date"] >= dt.date(2026, 11, 1)].index.tolist() == [show_id(TRIVIA)]
    # the old sightings file was rewritten typed: the whole dataset reads with one schema
    history = pd.read_parquet(f"{output}/shows")
    assert len(history) == 4 and history["date"].dtype == pd.ArrowDtype(pa.date32())
    assert sorted(history["date"].dropna().tolist()) == [dt.date(2026, 11, 13)] * 2
    assert history["venue_key"].notna().all()
    assert not [path for path in fs.find(root) if path.rsplit("/", 1)[-1].startswith(".")]  # no temporary files


def test_the_view_is_sorted_by_date_then_weekday_time_and_venue_missing_last(output):
    """Issue 15: shows.parquet was sorted by when each show was first seen, then by its hash."""
    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    shows = [
        {**TRIVIA, "venue": "Zed's", "date": "2026-11-13", "start_time": "19:30"},
        {**TRIVIA, "venue": "alpha bar", "date": "2026-11-13", "start_time": "19:30"},
        {**TRIVIA, "venue": "Alpha Bar", "date": "2026-11-13", "start_time": None, "kind": "bingo"},
        {**TRIVIA, "venue": "Mid", "date": "2026-11-12", "start_time": "23:00"},
        {**KARAOKE, "venue": "Weekly", "weekday": "Friday", "start_time": "20:00"},
        {**KARAOKE, "venue": "Weekly", "weekday": "monday", "start_time": "21:00"},
        {**KARAOKE, "venue": None, "weekday": None, "street": "1 Main St", "start_time": "18:00"},
    ]
    write_shows(fs, root, shows_frame(seen_on("a", *shows[:3])), now=DAY1)
    write_shows(fs, root, shows_frame(seen_on("b", *shows[3:])), now=DAY2)  # seen later, yet sorted first
    view = pd.read_parquet(f"{output}/{VIEW}")
    assert view["show_id"].tolist() == [show_id(shows[i]) for i in (3, 1, 0, 2, 5, 4, 6)]
