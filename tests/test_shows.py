"""show_id: one show, one id, whichever flyer or run it comes from; the frame's columns and types."""

import datetime as dt

import pandas as pd
import pyarrow as pa

from daskparse.shows import SHOW_COLUMNS, ShowFields, as_text, show_id, shows_frame, with_show_types

KARAOKE = {"title": "Karaoke Night", "kind": "karaoke", "venue": "The Rusty Anchor", "weekday": "Wednesday",
           "start_time": "22:00", "city": "Portland", "image_sha256": "a" * 64}


def test_two_flyers_of_one_show_get_one_id():
    other_flyer = {"title": "WEDNESDAY KARAOKE w/ DJ Mo", "performer": "DJ Mo", "kind": "karaoke",
                   "venue": "RUSTY ANCHOR!", "weekday": "wednesday", "start_time": "22:00", "image_sha256": "b" * 64}
    assert show_id(other_flyer) == show_id(KARAOKE)
    assert show_id({**KARAOKE, "venue": "Cedar & Smoke"}) == show_id({**KARAOKE, "venue": "cedar and smoke"})
    assert show_id({**KARAOKE, "venue": "Café Olé"}) == show_id({**KARAOKE, "venue": "CAFE OLE"})


def test_another_place_time_day_or_kind_is_another_show():
    ids = {show_id(KARAOKE), show_id({**KARAOKE, "venue": "Brick House Tap"}),
           show_id({**KARAOKE, "start_time": "21:00"}), show_id({**KARAOKE, "weekday": "Thursday"}),
           show_id({**KARAOKE, "kind": "trivia"}), show_id({**KARAOKE, "date": "2026-12-02"})}
    assert len(ids) == 6


def test_a_show_without_a_venue_is_placed_by_its_address_then_title_then_image():
    no_venue = {**KARAOKE, "venue": None, "street": "12 Main St"}
    assert show_id(no_venue) == show_id({**no_venue, "title": "Other"}) != show_id({**no_venue, "street": "14 Main St"})
    bare = {**KARAOKE, "venue": None}
    assert show_id(bare) != show_id({**bare, "title": "Bingo"})
    nothing = {"kind": "other", "image_sha256": "c" * 64}
    assert show_id(nothing) != show_id({**nothing, "image_sha256": "d" * 64})  # unrelated bare rows stay apart


def test_shows_frame_derives_show_id():
    frame = shows_frame([KARAOKE, {**KARAOKE, "title": "Karaoke"}])
    assert list(frame.columns) == SHOW_COLUMNS and SHOW_COLUMNS[0] == "show_id"
    assert frame["show_id"].tolist() == [show_id(KARAOKE)] * 2 and len(show_id(KARAOKE)) == 16


def test_show_fields_drop_terminal_escapes_and_control_and_format_characters():
    show = ShowFields(
        title="\x1b[31mKaraoke\x1b[0m Night",  # the whole colour sequence goes, not only its ESC
        performer="DJ \u202eomS\u202c",  # a right-to-left override
        venue="\x1b]8;;https://evil.example/\x1b\\Rusty Anchor\x1b]8;;\x1b\\",  # an OSC 8 link around the name
        address="12 Main St\r\nAustin\tTX",
        street="12\u200b Main\ufeff St\x07",  # zero-width space, BOM, BEL
        city="Austin\x9b2J",  # an 8-bit CSI (erase the screen)
        recurrence="weekly\x1b]0;owned\x07",  # a window title
        weekday="Thursday\x1b[",  # a sequence cut short
        kind="karaoke",
    )
    assert show.model_dump(exclude_none=True) == {
        "title": "Karaoke Night", "kind": "karaoke", "performer": "DJ omS", "venue": "Rusty Anchor",
        "address": "12 Main St  Austin TX", "street": "12 Main St", "city": "Austin", "recurrence": "weekly",
        "weekday": "Thursday"}
    assert ShowFields(title="Café Olé \U0001F3A4 ½ price", venue="Zürich Tap").title == "Café Olé \U0001F3A4 ½ price"


def test_dates_and_times_are_typed_so_a_frame_filters_and_sorts_by_them():
    """Issue 15: date, start_time and end_time were strings."""
    frame = shows_frame([{**KARAOKE, "date": "2026-12-02", "start_time": "22:00", "end_time": "01:30"},
                         {**KARAOKE, "date": "2026-11-28", "start_time": "9:05"},
                         {**KARAOKE, "date": None, "start_time": None}])
    assert frame["date"].dtype == pd.ArrowDtype(pa.date32())
    assert frame["start_time"].dtype == frame["end_time"].dtype == pd.ArrowDtype(pa.time64("us"))
    assert frame["date"].tolist()[:2] == [dt.date(2026, 12, 2), dt.date(2026, 11, 28)]
    assert frame["start_time"].tolist()[:2] == [dt.time(22, 0), dt.time(9, 5)] and frame["date"].isna().tolist()[2]
    # what users write: a date today or later, a Timestamp's date; sorting puts missing last
    on = frame[frame["date"] >= dt.date(2026, 12, 1)]
    assert on["end_time"].tolist() == [dt.time(1, 30)]
    assert (frame["date"] >= pd.Timestamp("2026-11-30").date()).tolist()[:2] == [True, False]
    assert frame[frame["date"] >= dt.date.today()].shape[1] == len(SHOW_COLUMNS)  # no error, whatever today is
    assert frame.sort_values("date")["date"].astype("string").tolist() == ["2026-11-28", "2026-12-02", pd.NA]
    assert frame.sort_values("start_time")["start_time"].tolist()[:2] == [dt.time(9, 5), dt.time(22, 0)]


def test_a_date_or_time_that_is_not_one_becomes_missing_never_an_error():
    """A year-less "--11-28" no year was found for, a day that does not exist, text an extractor left."""
    values = ["--11-28", "2026-02-30", "Dec 4", "", "2026-1-5", None]
    frame = shows_frame([{**KARAOKE, "date": value, "start_time": value} for value in values]
                        + [{**KARAOKE, "start_time": clock} for clock in ("9PM", "24:00", "21:60", "7")])
    assert frame["date"].isna().all() and frame["start_time"].isna().all()
    assert frame["show_id"][0] == show_id({**KARAOKE, "date": "--11-28", "start_time": "--11-28"})  # as recorded


def test_as_text_gives_back_what_the_records_held():
    records = [{**KARAOKE, "date": "2026-12-02", "start_time": "22:00", "end_time": "01:30"}, KARAOKE]
    text = as_text(shows_frame(records))
    assert text[["date", "start_time", "end_time"]].fillna("").values.tolist() == [["2026-12-02", "22:00", "01:30"],
                                                                                  ["", "22:00", ""]]
    assert text.to_string()  # the CLI's table


def test_with_show_types_reads_a_frame_of_text_as_an_earlier_version_wrote_it():
    old = as_text(shows_frame([{**KARAOKE, "date": "2026-12-02", "venue": "THE BLUE DOOR"}])).drop(columns="venue_key")
    typed = with_show_types(old.assign(run_id="r1"))
    assert typed["date"].tolist() == [dt.date(2026, 12, 2)] and typed["start_time"].tolist() == [dt.time(22, 0)]
    assert typed["venue_key"].tolist() == ["bluedoor"] and typed["run_id"].tolist() == ["r1"]
    assert dict(typed[SHOW_COLUMNS].dtypes) == dict(shows_frame([]).dtypes)


def test_venue_key_groups_one_venue_however_it_is_printed():
    """Issue 15: venue keeps the printed case (30 venues, 26 once lower-cased)."""
    printed = ["THE BLUE DOOR", "Blue Door", "the blue door!", "Blue-Door", "Café Olé", "CAFE OLE", "Cedar & Smoke",
               "cedar and smoke", None]
    frame = shows_frame([{**KARAOKE, "venue": venue} for venue in printed])
    assert list(frame.columns) == SHOW_COLUMNS and SHOW_COLUMNS[-1] == "venue_key"
    assert frame["venue_key"].tolist()[:-1] == ["bluedoor"] * 4 + ["cafeole"] * 2 + ["cedarandsmoke"] * 2
    assert frame["venue_key"].isna().tolist()[-1]
    assert frame.groupby("venue_key").size().to_dict() == {"bluedoor": 4, "cafeole": 2, "cedarandsmoke": 2}
    assert shows_frame([{**KARAOKE, "venue": "Theatre X"}])["venue_key"].tolist() == ["theatrex"]  # not a "The"
