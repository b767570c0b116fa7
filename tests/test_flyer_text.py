import datetime as dt

import pytest

from daskparse.extract.flyer_text import TextLine, parse_flyer
from daskparse.shows import ShowFields
from daskparse.testing.flyers import make_flyer
from daskparse.testing.scoring import SCORED_FIELDS, score

REF = dt.date(2026, 11, 20)  # a Friday

SINGLE = [
    "KARAOKE NIGHT",
    "hosted by DJ Sparkle",
    "Thursday, Dec 10 · 9PM",
    "Free entry!",
    "The Rusty Anchor",
    "1234 Main St, Austin, TX 78701",
    "21+",
    "@rustyanchor",
]
SINGLE_EXPECTED = {
    "title": "KARAOKE NIGHT", "kind": "karaoke", "performer": "DJ Sparkle", "venue": "The Rusty Anchor",
    "address": "1234 Main St, Austin, TX 78701", "street": "1234 Main St", "city": "Austin", "state": "TX",
    "zip": "78701", "date": "2026-12-10", "weekday": "Thursday", "recurrence": None,
    "start_time": "21:00", "end_time": None, "date_note": None,
}

LINEUP = [
    "BLUE DOOR TAVERN",
    "WEEKLY EVENTS",
    "MON  Trivia w/ Quizmaster Dan  7PM",
    "TUE  Karaoke  9PM-1AM",
    "FRI  Live Music: The Night Owls  8PM",
    "2207 E 6th St",
    "Austin, TX 78702",
    "No cover",
]


def dumps(shows: list[ShowFields]) -> list[dict]:
    return [s.model_dump() for s in shows]


def test_single_show_flyer():
    assert dumps(parse_flyer(SINGLE, reference_date=REF)) == [SINGLE_EXPECTED]


def test_lineup_flyer_gives_one_weekly_show_per_row():
    shows = dumps(parse_flyer(LINEUP, reference_date=REF))
    shared = {"venue": "BLUE DOOR TAVERN", "address": "2207 E 6th St, Austin, TX 78702", "street": "2207 E 6th St",
              "city": "Austin", "state": "TX", "zip": "78702", "date": None, "recurrence": "weekly", "date_note": None}
    assert shows == [
        {**shared, "title": "Trivia", "kind": "trivia", "performer": "Quizmaster Dan", "weekday": "Monday",
         "start_time": "19:00", "end_time": None},
        {**shared, "title": "Karaoke", "kind": "karaoke", "performer": None, "weekday": "Tuesday",
         "start_time": "21:00", "end_time": "01:00"},
        {**shared, "title": "Live Music", "kind": "live music", "performer": "The Night Owls", "weekday": "Friday",
         "start_time": "20:00", "end_time": None},
    ]


def test_lineup_venue_from_this_week_at_heading():
    lines = ["THIS WEEK AT MICKEY'S PUB", "Wed · Bingo · 7pm", "Sat · DJ Night with DJ Nova · 10pm-2am",
             "1532 W Division St, Chicago, IL 60622"]
    shows = parse_flyer(lines, reference_date=REF)
    assert [(s.venue, s.weekday, s.kind, s.start_time, s.end_time) for s in shows] == [
        ("MICKEY'S PUB", "Wednesday", "bingo", "19:00", None),
        ("MICKEY'S PUB", "Saturday", "dj", "22:00", "02:00"),
    ]


@pytest.mark.parametrize("when, date, weekday, recurrence, start, end", [
    ("FRI 12/11  8-11pm", "2026-12-11", "Friday", None, "20:00", "23:00"),
    ("Every Wednesday 7:30 PM", None, "Wednesday", "weekly", "19:30", None),
    ("Sat Dec 12 | Doors 7 / Show 8", "2026-12-12", "Saturday", None, "20:00", None),
    ("December 4th, 2027 at 9 p.m.", "2027-12-04", "Saturday", None, "21:00", None),
    ("Sundays at noon", None, "Sunday", "weekly", "12:00", None),
    ("Jan 8 · 9PM-1AM", "2027-01-08", "Friday", None, "21:00", "01:00"),
])
def test_when_line_variants(when, date, weekday, recurrence, start, end):
    lines = ["Trivia Night", "with Quizmaster Dan", when, "Mickey's Pub", "1532 W Division St",
             "Chicago, IL 60622"]
    (show,) = parse_flyer(lines, reference_date=REF)
    assert (show.date, show.weekday, show.recurrence, show.start_time, show.end_time) == (
        date, weekday, recurrence, start, end)
    assert (show.venue, show.street, show.city, show.zip) == ("Mickey's Pub", "1532 W Division St", "Chicago", "60622")
    assert (show.kind, show.performer) == ("trivia", "Quizmaster Dan")


def test_title_naming_a_weekday_is_still_the_title():
    lines = ["Trivia Tuesday", "Every Tuesday · 7PM", "Neon Moose", "3301 Grand Ave, Des Moines, IA 50312"]
    (show,) = parse_flyer(lines, reference_date=REF)
    assert (show.title, show.kind, show.weekday, show.recurrence, show.venue) == (
        "Trivia Tuesday", "trivia", "Tuesday", "weekly", "Neon Moose")


def test_performer_without_prefix_between_title_and_time():
    lines = ["Live Music", "The Night Owls", "Sat Dec 12 · 8PM", "Magnolia Room", "2716 Elm St, Dallas, TX 75226"]
    (show,) = parse_flyer(lines, reference_date=REF)
    assert (show.performer, show.venue, show.kind) == ("The Night Owls", "Magnolia Room", "live music")


@pytest.mark.parametrize("noisy", [
    # OCR dropped spaces
    ["KARAOKE NIGHT", "hosted by DJ Sparkle", "Thursday,Dec10-9PM", "The Rusty Anchor", "1234MainSt,Austin,TX78701"],
    # the middle dot read as ":" or "." and O/0, l/1 confusions
    ["KARAOKE NIGHT", "hosted by DJ Sparkle", "Thursday, Dec l0 : 9PM", "The Rusty Anchor",
     "1234 Main St, Austin, TX 787O1"],
    ["KARAOKE NIGHT", "hosted by DJ Sparkle", "Thursday, Dec 10. 9PM", "The Rusty Anchor",
     "1234 Main St, Austin, TX 78701"],
    # the "when" line split in two, the address split in two, decoration all around
    ["21+", "KARAOKE NIGHT", "hosted by DJ Sparkle", "Thursday, Dec 10", "9PM", "Drink specials", "The Rusty Anchor",
     "1234 Main St", "Austin, TX 78701", "Prizes!", "@rustyanchor", "No cover · 21+"],
])
def test_single_show_survives_ocr_noise(noisy):
    (show,) = parse_flyer(noisy, reference_date=REF)
    expected = {k: SINGLE_EXPECTED[k] for k in ("title", "kind", "performer", "venue", "street", "city", "state",
                                                 "zip", "date", "weekday", "start_time")}
    assert {k: getattr(show, k) for k in expected} == expected


def test_lineup_survives_ocr_noise():
    noisy = ["BLUE DOOR TAVERN", "WEEKLY EVENTS", "MON - Trivia w/ Quizmaster Dan - 7PM", "TUE.Karaoke.9PM-lAM",
             "FRI: Live Music: The Night Owls : 8PM", "2207 E 6th St,Austin,TX 78702"]
    shows = parse_flyer(noisy, reference_date=REF)
    assert [(s.weekday, s.title, s.kind, s.performer, s.start_time, s.end_time) for s in shows] == [
        ("Monday", "Trivia", "trivia", "Quizmaster Dan", "19:00", None),
        ("Tuesday", "Karaoke", "karaoke", None, "21:00", "01:00"),
        ("Friday", "Live Music", "live music", "The Night Owls", "20:00", None),
    ]
    assert {(s.venue, s.street, s.zip) for s in shows} == {("BLUE DOOR TAVERN", "2207 E 6th St", "78702")}


def box_lines(rows: list[tuple[str, float, float, float, float]], tilt_deg: float = 0.0) -> list[TextLine]:
    """TextLines from (text, x0, y0, x1, y1), as OCR reports them, optionally tilted about the origin."""
    import math

    t = math.radians(tilt_deg)
    out = []
    for text, x0, y0, x1, y1 in rows:
        dy0, dy1 = x0 * math.sin(t), x1 * math.sin(t)
        out.append(TextLine(text, (x0, y0 + min(dy0, dy1), x1, y1 + max(dy0, dy1)), 0.98, angle=tilt_deg))
    return out


def test_boxes_on_one_baseline_form_one_row_even_when_tilted():
    # A line-up drawn in three columns comes back from OCR as three boxes per row, on a tilted photo.
    rows = [("HALF MOON SALOON", 100, 40, 700, 120), ("WEEKLY LINEUP", 250, 150, 550, 190)]
    for i, (day, what, time) in enumerate([("MON", "Pub Quiz w/ Trivia Tom", "7pm"), ("WED", "Karaoke", "9pm"),
                                           ("SAT", "Blues Jam", "8:30pm")]):
        y = 220 + i * 45
        rows += [(day, 80, y, 150, y + 32), (what, 190, y, 520, y + 32), (time, 640, y, 720, y + 32)]
    rows += [("1407 W Lake St", 250, 380, 550, 415), ("Minneapolis, MN 55408", 220, 425, 580, 460)]
    for tilt in (0.0, 3.0, -3.0):
        shows = parse_flyer(box_lines(rows, tilt), reference_date=REF)
        assert [(s.weekday, s.title, s.start_time) for s in shows] == [
            ("Monday", "Pub Quiz", "19:00"), ("Wednesday", "Karaoke", "21:00"), ("Saturday", "Blues Jam", "20:30")]
        assert shows[0].performer == "Trivia Tom" and shows[0].venue == "HALF MOON SALOON"


def test_biggest_text_is_the_title_whatever_the_order():
    # OCR order is not reading order; the tallest line is the title even when a decoration comes first.
    rows = [
        ("All ages welcome", 300, 20, 500, 45),
        ("The Copper Kettle", 200, 520, 600, 570),
        ("Comedy Night", 150, 80, 650, 190),
        ("feat. Tasha Green", 250, 220, 550, 260),
        ("77 Elm St, Burlington, VT 05401", 180, 590, 620, 625),
        ("Sat, 12/12/26 · 8PM", 250, 300, 550, 340),
    ]
    (show,) = parse_flyer(box_lines(rows), reference_date=REF)
    assert (show.title, show.performer, show.venue, show.date, show.start_time) == (
        "Comedy Night", "Tasha Green", "The Copper Kettle", "2026-12-12", "20:00")


@pytest.mark.parametrize("lines", [
    [],
    [""],
    ["Free entry!", "21+", "@rustyanchor", "No cover"],
    ["The Rusty Anchor", "1234 Main St, Austin, TX 78701"],  # a venue sign, no show
    ["STOP", "ONE WAY"],
    ["Karaoke Night"],  # no when, no where
])
def test_no_show_gives_empty_list(lines):
    assert parse_flyer(lines, reference_date=REF) == []


def test_generated_flyer_lines_parse_exactly():
    """The generator's own lines (both families, every layout) give back its ground truth."""
    reference = dt.date(2026, 11, 1)
    predicted, truth = {}, {}
    for seed in range(150):
        flyer = make_flyer(seed, reference_date=reference, family="lineup" if seed % 3 == 2 else "single",
                           size=(320, 240))
        predicted[seed] = dumps(parse_flyer(flyer.lines, reference_date=reference))
        truth[seed] = flyer.shows
    report = score(predicted, truth)
    assert report.shows_predicted == report.shows_expected
    assert report.show_accuracy == 1.0
    assert all(report.f1[f] == 1.0 for f in SCORED_FIELDS)
