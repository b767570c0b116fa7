"""show_id: one show, one id, whichever flyer or run it comes from."""

from daskparse.shows import SHOW_COLUMNS, ShowFields, show_id, shows_frame

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
