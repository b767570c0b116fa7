"""daskparse.dates: a date printed without a year gets its year per run, agreeing with a printed weekday."""

import datetime as dt

import pytest

from daskparse.dates import printed, resolve, resolve_show
from daskparse.extract.flyer_text import parse_flyer, read_flyer
from daskparse.normalise import normalise_show, parse_date


@pytest.mark.parametrize("date, weekday, reference, expected", [
    # the cases: a flyer seen a few days late is about the recent past, not next year
    ("--11-28", "Saturday", "2026-12-03", ("2026-11-28", "Saturday")),
    ("--01-05", "Tuesday", "2027-06-01", ("2027-01-05", "Tuesday")),
    # a weekday ahead: the coming one
    ("--12-05", "Saturday", "2026-12-03", ("2026-12-05", "Saturday")),
    ("--01-01", "Friday", "2026-12-03", ("2027-01-01", "Friday")),
    # no weekday printed: the next such day on or after the reference (the product's definition)
    ("--11-28", None, "2026-12-03", ("2027-11-28", "Sunday")),
    ("--12-04", None, "2026-11-20", ("2026-12-04", "Friday")),
    ("--02-29", None, "2026-11-20", ("2028-02-29", "Tuesday")),
    # a year printed is kept
    ("2026-12-04", None, "2030-01-01", ("2026-12-04", "Friday")),
])
def test_a_year_is_given_that_agrees_with_the_printed_weekday(date, weekday, reference, expected):
    resolved, day, note = resolve(date, weekday, dt.date.fromisoformat(reference))
    assert (resolved, day) == expected and note is None


def test_no_date_is_invented_when_no_year_agrees_with_the_weekday():
    resolved, weekday, note = resolve("--12-06", "Saturday", dt.date(2026, 11, 20))  # a Sunday this year
    assert resolved is None and weekday == "Saturday"
    assert note == "the flyer prints Saturday Dec 6: Dec 6 is not a Saturday in the year around 2026-11-20"


def test_a_printed_year_that_contradicts_the_weekday_is_kept_and_noted():
    resolved, weekday, note = resolve("2028-01-05", "Tuesday", dt.date(2027, 6, 1))
    assert (resolved, weekday) == ("2028-01-05", "Wednesday")
    assert note == "the flyer prints Tuesday, but 2028-01-05 is a Wednesday"


def test_resolving_is_idempotent_and_leaves_undated_shows_alone():
    reference = dt.date(2026, 12, 3)
    once = resolve_show({"title": "Quiz", "date": "--11-28", "weekday": "Saturday"}, reference)
    assert resolve_show(once, reference) == once == {"title": "Quiz", "date": "2026-11-28", "weekday": "Saturday",
                                                      "date_note": None}
    weekly = {"title": "Karaoke", "date": None, "weekday": "Thursday", "recurrence": "weekly"}
    assert resolve_show(weekly, reference) == weekly


def test_the_stored_form_has_a_year_only_when_printed():
    assert printed(dt.date(2026, 11, 28), True) == "2026-11-28"
    assert printed(dt.date(2026, 11, 28), False) == "--11-28"
    assert parse_date("Sat Nov 28") == "--11-28"
    assert parse_date("November 28, 2026") == "2026-11-28"
    assert parse_date("11-28") == "--11-28" and parse_date("--02-29") == "--02-29"
    assert parse_date("Nov 28", dt.date(2026, 12, 3)) == "2027-11-28"


def test_normalising_keeps_the_printed_weekday_for_the_run_to_check():
    show = normalise_show({"title": "Tuesday Night Karaoke", "date": "Tue Jan 5", "venue": "Bar"})
    assert (show.date, show.weekday) == ("--01-05", "Tuesday")
    resolved = normalise_show({"title": "Tuesday Night Karaoke", "date": "Jan 5", "weekday": "Tue", "venue": "Bar"},
                              reference_date=dt.date(2027, 6, 1))
    assert (resolved.date, resolved.weekday, resolved.date_note) == ("2027-01-05", "Tuesday", None)


LINES = ["TRIVIA NIGHT", "SAT NOV 28 · 8PM", "THE LANTERN", "512 ELM ST, DENVER, CO 80202"]


def test_the_reader_reports_dates_as_printed_and_resolves_them_only_when_asked():
    stored = read_flyer(LINES, reference_date=dt.date(2026, 12, 3))
    assert [(s.date, s.weekday) for s in stored] == [("--11-28", "Saturday")]
    # the same flyer read on another day: the stored form does not move
    assert read_flyer(LINES, reference_date=dt.date(2027, 6, 1)) == stored
    assert [(s.date, s.weekday) for s in parse_flyer(LINES, reference_date=dt.date(2026, 12, 3))] == \
        [("2026-11-28", "Saturday")]


def test_a_series_lists_the_same_dates_whatever_day_it_is_read():
    lines = ["OPEN MIC", "TUESDAYS IN DECEMBER 7PM", "THE LANTERN", "512 ELM ST, DENVER, CO 80202"]
    early = parse_flyer(lines, reference_date=dt.date(2026, 11, 20))
    late = parse_flyer(lines, reference_date=dt.date(2026, 12, 10))
    assert [s.date for s in early] == [s.date for s in late] == \
        ["2026-12-01", "2026-12-08", "2026-12-15", "2026-12-22", "2026-12-29"]
