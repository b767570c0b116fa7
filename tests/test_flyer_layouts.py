"""The layout-aware reader on the shapes real flyers take (issue 14), from OCR-like boxes.

Every flyer here is written for the test (wording of our own): two columns, a title over two lines, a
tour whose rows wrap, a line-up of venues with day labels in their own column, a series, a range, two
shows a night, and things that are not flyers at all.
"""

import datetime as dt

import pytest

from daskparse.extract.flyer_text import parse_flyer, read_when
from daskparse.extract.layout import Piece, read_rows

from test_flyer_text import box_lines

REF = dt.date(2026, 11, 20)  # a Friday


def shows_of(rows, tilt=0.0, reference=REF):
    return [s.model_dump() for s in parse_flyer(box_lines(rows, tilt), reference_date=reference)]


def picked(shows, *fields):
    return [tuple(s[f] for f in fields) for s in shows]


# A two-column flyer: the title and its band on the left in big type, the when and where on the right.
TWO_COLUMNS = [
    ("Tue | 01.12", 560, 60, 900, 130),
    ("7-10PM", 600, 140, 860, 200),
    ("SWING", 80, 200, 380, 300),
    ("Copper Kettle Lounge", 520, 230, 980, 300),
    ("NIGHT", 90, 310, 370, 410),
    ("88 Alder Way", 600, 320, 860, 370),
    ("The", 150, 420, 300, 500),
    ("Bellweather Sisters", 60, 510, 400, 590),
    ("Tacoma, WA 98402", 560, 380, 900, 440),
    ("Follow us @copperkettle", 540, 660, 960, 710),
]


@pytest.mark.parametrize("tilt", [0.0, 2.5, -2.5])
def test_two_columns_are_read_apart_and_a_band_below_the_title_is_the_performer(tilt):
    [show] = shows_of(TWO_COLUMNS, tilt)
    assert show["title"] == "SWING NIGHT"
    assert show["performer"] == "The Bellweather Sisters"
    assert show["venue"] == "Copper Kettle Lounge"
    assert (show["street"], show["city"], show["state"], show["zip"]) == ("88 Alder Way", "Tacoma", "WA", "98402")
    # a dotted month.day after a weekday is a date, not 1:12
    assert (show["date"], show["weekday"], show["start_time"], show["end_time"]) == (
        "2027-01-12", "Tuesday", "19:00", "22:00")


def test_a_title_over_two_lines_is_one_title_and_a_small_aside_does_not_break_it():
    rows = [
        ("PUB", 100, 50, 400, 200),
        ("Win!", 600, 120, 660, 140),  # a small sticker beside the title
        ("QUIZ", 100, 210, 420, 360),
        ("with Quizmaster Ondine", 100, 380, 500, 430),
        ("Every Wednesday", 120, 450, 480, 500),
        ("8 PM", 200, 505, 320, 550),
        ("The Lantern Room", 90, 570, 520, 630),
        ("1402 Vine St", 150, 640, 450, 680),
        ("Cincinnati, OH 45202", 120, 690, 480, 730),
    ]
    [show] = shows_of(rows)
    assert (show["title"], show["kind"], show["performer"]) == ("PUB QUIZ", "trivia", "Quizmaster Ondine")
    assert (show["weekday"], show["recurrence"], show["date"], show["start_time"]) == ("Wednesday", "weekly", None, "20:00")
    assert show["venue"] == "The Lantern Room"


def test_a_tour_gives_each_row_its_own_venue_and_address_even_when_rows_wrap():
    rows = [
        ("GRAVEL", 80, 40, 500, 140), ("ROAD", 80, 150, 460, 250), ("REVUE", 80, 260, 480, 360),
        ("spinning: DJ Marigold", 80, 380, 560, 430),
        ("THU JAN 7 · Old Pike", 80, 460, 460, 500),
        ("Roadhouse · 9PM", 80, 505, 400, 545),
        ("77 Quarry Rd, Easton, PA 18042", 80, 550, 560, 590),
        ("FRI JAN 8 · Harbor Light Tavern · 10PM", 80, 610, 700, 650),
        ("410 Canal St, Easton, PA 18042", 80, 655, 560, 695),
        ("SAT JAN 9 · Moose Lodge 2210 · 8PM", 80, 715, 680, 755),
        ("1550 Ferry St, Lafayette, IN 47901", 80, 760, 600, 800),
        ("Book us: (555) 010-4477", 80, 830, 460, 870),
    ]
    shows = shows_of(rows, reference=dt.date(2026, 12, 1))
    assert picked(shows, "date", "venue", "street", "city", "start_time") == [
        ("2027-01-07", "Old Pike Roadhouse", "77 Quarry Rd", "Easton", "21:00"),
        ("2027-01-08", "Harbor Light Tavern", "410 Canal St", "Easton", "22:00"),
        ("2027-01-09", "Moose Lodge 2210", "1550 Ferry St", "Lafayette", "20:00"),
    ]
    assert {s["title"] for s in shows} == {"GRAVEL ROAD REVUE"}
    assert {s["performer"] for s in shows} == {"DJ Marigold"}


def test_a_lineup_of_venues_with_day_labels_in_their_own_column():
    rows = [("Lantern & Lark", 60, 40, 600, 120), ("Entertainment", 60, 130, 600, 200),
            ("WHERE TO FIND US", 60, 220, 400, 260)]
    days = [("TUE", "Karaoke @ The Salt Barn · 9PM", "12 Dock St, Mystic, CT 06355"),
            ("THU", "Trivia ● Foundry Hall ● 7:30pm", "300 Mill Rd, Groton, CT 06340"),
            ("SAT", "Bingo | Cedar Tap | 2pm", "5 Elm Ave, Noank, CT 06340")]
    for i, (day, what, where) in enumerate(days):
        y = 280 + i * 110
        rows += [(day, 60, y + 20, 130, y + 55), (what, 150, y, 640, y + 40), (where, 150, y + 45, 600, y + 80)]
    shows = shows_of(rows)
    assert picked(shows, "weekday", "title", "venue", "street", "start_time") == [
        ("Tuesday", "Karaoke", "The Salt Barn", "12 Dock St", "21:00"),
        ("Thursday", "Trivia", "Foundry Hall", "300 Mill Rd", "19:30"),
        ("Saturday", "Bingo", "Cedar Tap", "5 Elm Ave", "14:00"),
    ]
    assert {s["performer"] for s in shows} == {"Lantern & Lark Entertainment"}
    assert {s["recurrence"] for s in shows} == {"weekly"}


SINGLE_PLACE = [("Paint & Sip", 80, 40, 600, 200), ("led by Rosalind Obi", 100, 210, 560, 260)]
WHERE = [("Fennel Street Studio", 80, 500, 600, 560), ("19 Fennel St", 160, 570, 500, 610),
         ("Portland, ME 04101", 140, 620, 520, 660)]


@pytest.mark.parametrize("when_rows, expected", [
    ([("Jan 9, 16 & 23", 100, 300, 560, 360), ("6 PM", 200, 370, 400, 420)],
     [("2027-01-09", "18:00"), ("2027-01-16", "18:00"), ("2027-01-23", "18:00")]),
    ([("December 30 -", 100, 300, 560, 360), ("January 1, 2027", 100, 365, 560, 420), ("1:00 PM", 200, 430, 400, 480)],
     [("2026-12-30", "13:00"), ("2026-12-31", "13:00"), ("2027-01-01", "13:00")]),
    ([("3 nights! FEB 4 - 6", 100, 300, 560, 360), ("7 p.m.", 200, 370, 400, 420)],
     [("2027-02-04", "19:00"), ("2027-02-05", "19:00"), ("2027-02-06", "19:00")]),
    ([("SAT DEC 12", 100, 300, 560, 360), ("5PM AND 8:30PM SHOWS", 60, 370, 620, 420)],
     [("2026-12-12", "17:00"), ("2026-12-12", "20:30")]),
    ([("Sunday, December 6th", 100, 300, 560, 360), ("Doors 6 / Show 7", 150, 370, 500, 420)],
     [("2026-12-06", "19:00")]),
    ([("WEDNESDAY, JANUARY 6TH", 60, 280, 620, 320), ("WEDNESDAY, JANUARY 13TH", 60, 325, 620, 365),
      ("11AMTO2PM", 150, 380, 500, 420)],
     [("2027-01-06", "11:00"), ("2027-01-13", "11:00")]),
], ids=["series", "range-over-new-year", "nights-range", "two-shows", "doors-show", "dates-one-per-line"])
def test_one_show_per_date_and_per_start_time(when_rows, expected):
    shows = shows_of(SINGLE_PLACE + when_rows + WHERE)
    assert picked(shows, "date", "start_time") == expected
    assert {(s["title"], s["performer"], s["venue"], s["zip"]) for s in shows} == {
        ("Paint & Sip", "Rosalind Obi", "Fennel Street Studio", "04101")}


def test_store_hours_receipts_and_chats_are_not_flyers():
    hours = [("Marigold Bakery", 80, 40, 600, 140), ("HOURS", 200, 160, 420, 210), ("Mon - Fri", 150, 230, 450, 270),
             ("7 am - 6 pm", 150, 275, 450, 315), ("Sat", 150, 330, 250, 370), ("8 am - 4 pm", 150, 375, 450, 415),
             ("210 Birch Ave, Dayton, OH 45402", 80, 450, 600, 490)]
    receipt = [("QUIK STOP MARKET", 80, 40, 600, 100), ("88 Lowell Rd, Akron, OH 44305", 80, 110, 600, 150),
               ("12/04/2026 19:42", 80, 160, 400, 200), ("Coffee 2.49", 80, 210, 400, 250),
               ("Bagel 3.25", 80, 260, 400, 300), ("TOTAL 5.74", 80, 310, 400, 350), ("Thank you!", 80, 360, 400, 400)]
    chat = [("Dana", 40, 40 + i * 60, 140, 70 + i * 60) if i % 2 == 0 else
            ("see you at 8pm at Rosie's, 14 Oak St, Akron, OH 44305", 40, 40 + i * 60, 640, 70 + i * 60)
            for i in range(8)] + [("Fri 7:41 PM", 250, 540, 400, 565)]
    menu = [("Juniper Kitchen & Bar", 80, 40, 600, 120), ("Fish Tacos 8.5", 60, 150, 300, 190),
            ("Salmon Plate 24.5", 360, 150, 640, 190), ("Iced Tea 3.25", 60, 200, 300, 240),
            ("Happy hour Sundays 3-6pm", 80, 260, 600, 300), ("74 Elm Pl, Greenville, SC 29601", 80, 320, 600, 360)]
    for rows in (hours, receipt, chat, menu):
        assert shows_of(rows) == []


def test_a_time_alone_or_a_title_alone_is_no_show():
    assert shows_of([("KARAOKE", 80, 40, 600, 200), ("9PM", 200, 220, 400, 280)]) == []
    assert shows_of([("KARAOKE", 80, 40, 600, 200), ("The Dock", 100, 220, 500, 280),
                     ("5 Pier Rd, Erie, PA 16507", 80, 290, 600, 330)]) == []


def test_read_when_cuts_dates_weekdays_and_times_out():
    when, rest = read_when("Every Friday in January · 8PM · Bingo", dt.date(2026, 11, 20))
    assert [d.isoformat() for d in when.dates] == ["2027-01-01", "2027-01-08", "2027-01-15", "2027-01-22", "2027-01-29"]
    assert when.starts == [("20:00", None)]
    assert "Bingo" in rest and "8PM" not in rest


def test_columns_part_at_a_wide_gutter_but_not_a_tables_cells():
    def piece(text, x0, y0, x1, y1):
        return Piece(text, y0, y1, x0, x1)

    two_columns = [piece("BIG", 0, 0, 300, 200), piece("TITLE", 0, 210, 300, 400),
                   piece("Fri 9PM", 500, 50, 800, 100), piece("The Venue", 500, 260, 800, 310)]
    assert [r.text for r in read_rows(two_columns)] == ["BIG", "TITLE", "Fri 9PM", "The Venue"]
    # a line-up's table: a narrow day, a wide what, a narrow time, cell beside cell
    table = [piece(t, x0, y, x1, y + 40) for y, cells in ((0, ("MON", "Trivia Night", "7PM")), (60, ("TUE", "Bingo", "8PM")))
             for (x0, x1), t in zip(((0, 80), (200, 520), (640, 720)), cells, strict=True)]
    assert [r.text for r in read_rows(table)] == ["MON  Trivia Night  7PM", "TUE  Bingo  8PM"]
    # two records set side by side: alike cells (venue beside venue) under a centred heading are two columns
    records = [piece("TOUR DATES", 250, 0, 650, 80)] + [
        piece(t, x, y, x + 380, y + 40) for y, cells in ((120, ("Fri Dec 4 - 9pm", "Sat Dec 5 - 8pm")),
                                                          (170, ("Pine Hall", "Cedar Room")),
                                                          (220, ("14 Spruce Ln, Bend, OR", "400 Elk Dr, Salem, OR")))
        for x, t in zip((0, 520), cells, strict=True)]
    assert [r.text for r in read_rows(records)] == [
        "TOUR DATES", "Fri Dec 4 - 9pm", "Pine Hall", "14 Spruce Ln, Bend, OR", "Sat Dec 5 - 8pm", "Cedar Room",
        "400 Elk Dr, Salem, OR"]


def test_a_kind_line_over_a_band_in_huge_type_is_the_title_and_the_band_the_act():
    rows = [("COUNTRY NIGHT", 150, 40, 450, 90), ("Rusty", 80, 110, 560, 260), ("Spurs", 80, 270, 560, 420),
            ("SAT DEC 19 · 9PM", 100, 440, 520, 490), ("The Hitching Post", 90, 510, 540, 570),
            ("61 Ranch Rd, Amarillo, TX 79101", 60, 580, 580, 620)]
    [show] = shows_of(rows)
    assert (show["title"], show["kind"], show["performer"], show["venue"]) == (
        "COUNTRY NIGHT", "live music", "Rusty Spurs", "The Hitching Post")


def test_a_tour_header_in_one_type_parts_the_title_from_the_act_below_it():
    rows = [("Harvest Tour", 60, 40, 700, 160), ("The Lamplighters", 60, 180, 560, 280),
            ("Dec 4 Pine Hall | 8PM", 60, 300, 600, 350), ("14 Spruce Ln, Bend, OR 97701", 150, 355, 600, 395),
            ("Dec 5 Cedar Room | 9PM", 60, 410, 600, 460), ("400 Elk Dr, Salem, OR 97301", 150, 465, 600, 505)]
    shows = shows_of(rows)
    assert picked(shows, "title", "performer", "venue", "date") == [
        ("Harvest Tour", "The Lamplighters", "Pine Hall", "2026-12-04"),
        ("Harvest Tour", "The Lamplighters", "Cedar Room", "2026-12-05")]


def test_calendar_tiles_a_post_location_line_and_a_slash_range():
    tiles = [("SOUL SUPPER", 60, 40, 700, 160), ("featuring The Larkspurs", 60, 180, 600, 230)]
    for x, (day, number, month) in zip((80, 220, 360), (("FRI", "18", "DEC"), ("FRI", "25", "DEC"), ("FRI", "1", "JAN")),
                                       strict=True):
        tiles += [(day, x, 260, x + 60, 290), (number, x - 5, 295, x + 65, 350), (month, x, 355, x + 60, 385)]
    tiles += [("Doors 7:30 pm · Show 8 pm", 60, 400, 560, 450), ("at Saltmarsh Tavern", 60, 470, 400, 520),
              ("62 Wharf Street", 60, 525, 330, 565), ("Portsmouth, NH 03801", 60, 570, 360, 610)]
    assert picked(shows_of(tiles), "date", "start_time", "venue") == [
        ("2026-12-18", "20:00", "Saltmarsh Tavern"), ("2026-12-25", "20:00", "Saltmarsh Tavern"),
        ("2027-01-01", "20:00", "Saltmarsh Tavern")]

    post = [("saltmarshtavern · 2h", 70, 10, 360, 40), ("Portsmouth, NH", 70, 42, 260, 70),
            ("OPEN MIC", 60, 120, 600, 240), ("1/6 - 1/8", 200, 260, 420, 310), ("7 PM", 240, 320, 360, 360),
            ("Saltmarsh Tavern", 60, 400, 400, 450), ("62 Wharf Street", 60, 455, 330, 495),
            ("Portsmouth, NH 03801", 60, 500, 360, 540), ("1,204 likes", 10, 600, 160, 630)]
    shows = shows_of(post)
    assert picked(shows, "date", "start_time", "title", "street") == [
        (d, "19:00", "OPEN MIC", "62 Wharf Street") for d in ("2027-01-06", "2027-01-07", "2027-01-08")]


def test_a_title_that_starts_with_a_weekday_over_a_dated_line_is_one_show_not_a_lineup():
    rows = [("Tuesday Night Karaoke", 90, 180, 700, 245), ("with Tony B", 90, 250, 310, 300),
            ("Tue Jan 5 | 9PM 'til close", 92, 400, 530, 450), ("Green Lantern Tavern", 92, 550, 490, 600),
            ("417 State St", 90, 605, 330, 645), ("Madison, WI 53703", 90, 655, 440, 700)]
    [show] = shows_of(rows)
    assert (show["title"], show["performer"], show["venue"], show["date"], show["start_time"], show["recurrence"]) == (
        "Tuesday Night Karaoke", "Tony B", "Green Lantern Tavern", "2027-01-05", "21:00", None)
