"""The wide flyer generator (issue 14): layouts of flyers posted in social-media groups, with truth."""

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daskparse.shows import FIELD_COLUMNS, KINDS, WEEKDAYS, ShowFields
from daskparse.testing import flyers
from daskparse.testing.flyers import (
    HELD_OUT_SOCIAL_FRAMES,
    HELD_OUT_WIDE_TEMPLATES,
    LINE_ROLES,
    SOCIAL_FRAMES,
    WIDE_LAYOUTS,
    WIDE_TEMPLATES,
    make_flyer,
    wide_flyer,
    wide_set,
    write_wide_set,
)

REFERENCE = dt.date(2026, 11, 1)
DATA = Path(__file__).resolve().parents[1] / "data"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def check_show(show: dict) -> None:
    assert list(show) == [c for c in FIELD_COLUMNS if c != "date_note"]  # date_note: a run's remark
    ShowFields(**show)
    assert show["kind"] in KINDS and show["title"] and show["venue"] and show["street"] and show["city"]
    assert re.fullmatch(r"[A-Z]{2}", show["state"])
    assert show["zip"] is None or re.fullmatch(r"\d{5}", show["zip"])
    assert show["address"] == f"{show['street']}, {show['city']}, {show['state']}" + (
        f" {show['zip']}" if show["zip"] else "")
    assert show["weekday"] in WEEKDAYS
    assert HHMM.match(show["start_time"]) and (show["end_time"] is None or HHMM.match(show["end_time"]))
    assert not show["performer"] or not show["performer"].lower().startswith(("hosted by", "with ", "feat", "w/"))
    if show["date"] is None:
        assert show["recurrence"] == "weekly"
    else:
        date = dt.date.fromisoformat(show["date"])
        assert show["recurrence"] is None and WEEKDAYS[date.weekday()] == show["weekday"]
        assert REFERENCE <= date <= REFERENCE + dt.timedelta(days=130)


def check_drawn(flyer) -> None:
    """What the truth says is what is drawn: every title, venue, performer, street, city and ZIP appears in the
    lines (a title or venue set over several lines reads whole when they are joined), the lines have a role
    and a box inside the image, no two boxes overlap, and the smallest line stays legible in what the extractor
    reads: the image as optimize_image fits it (long side 1200, short side 800)."""
    assert len(flyer.lines) == len(flyer.boxes) == len(flyer.roles)
    assert set(flyer.roles) <= set(LINE_ROLES)
    text = flat(" ".join(flyer.lines))
    shown = flat(" ".join(line for line, role in zip(flyer.lines, flyer.roles) if role != "frame"))
    for show in flyer.shows:
        check_show(show)
        for key in ("title", "venue", "performer", "street", "city", "zip"):
            assert show[key] is None or flat(show[key]) in shown, (key, show[key], flyer.lines)
    width, height = flyer.image.size
    for left, top, right, bottom in flyer.boxes:
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
    for i, a in enumerate(flyer.boxes):
        for b in flyer.boxes[i + 1:]:
            assert not (a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1), (a, b)
    scale = min(1200 / max(width, height), 800 / min(width, height), 1.0)
    assert min(b[3] - b[1] for b in flyer.boxes) * scale >= 22
    assert text


def check_layout(flyer) -> None:
    """Each group's shows have the shape the group promises."""
    shows = flyer.shows
    one = lambda key: len({s[key] for s in shows}) == 1  # noqa: E731
    if flyer.layout in ("single-dated", "single-weekly"):
        assert len(shows) == 1 and (shows[0]["date"] is None) == (flyer.layout == "single-weekly")
    elif flyer.layout == "lineup":  # one venue, one address, a row a day
        assert len(shows) >= 2 and one("venue") and one("address")
        assert len({s["date"] or s["weekday"] for s in shows}) == len(shows)
    elif flyer.layout in ("tour", "lineup-venues"):  # every row its own venue and address
        assert len(shows) >= 2 and len({s["venue"] for s in shows}) == len({s["address"] for s in shows}) == len(shows)
        if flyer.layout == "tour":
            assert one("title") and one("performer") and one("kind") and shows[0]["performer"]
    elif flyer.layout in ("series", "range"):  # one show, several dates
        assert len(shows) >= 2 and one("title") and one("venue") and one("start_time")
        dates = [dt.date.fromisoformat(s["date"]) for s in shows]
        assert dates == sorted(set(dates))
        if flyer.layout == "range":
            assert all((b - a).days == 1 for a, b in zip(dates, dates[1:]))
    elif flyer.layout == "two-shows":
        assert len(shows) == 2 and one("date") and one("venue") and shows[0]["start_time"] < shows[1]["start_time"]
    else:
        assert flyer.layout == "social" and "frame" in flyer.roles and len(shows) >= 1


@pytest.mark.parametrize("held_out", [False, True])
def test_truth_is_what_is_drawn_in_every_layout(held_out):
    seeds = range(0, 3 * len(WIDE_LAYOUTS))
    for flyer in wide_set(seeds, reference_date=REFERENCE, held_out=held_out):
        assert flyer.held_out == held_out
        check_drawn(flyer)
        check_layout(flyer)


def test_every_layout_is_produced_and_chosen_at_random():
    assert [f.layout for f in wide_set(range(len(WIDE_LAYOUTS)), reference_date=REFERENCE)] == list(WIDE_LAYOUTS)
    drawn = {wide_flyer(seed, reference_date=REFERENCE).layout for seed in range(60)}
    assert drawn == set(WIDE_LAYOUTS)


@pytest.mark.parametrize("photo", [False, True])
def test_same_seed_same_pixels_and_truth(photo):
    a = wide_flyer(21, reference_date=REFERENCE, layout="tour", photo=photo)
    b = wide_flyer(21, reference_date=REFERENCE, layout="tour", photo=photo)
    assert np.array_equal(pixels(a.image), pixels(b.image))
    assert (a.shows, a.lines, a.roles, a.boxes, a.template) == (b.shows, b.lines, b.roles, b.boxes, b.template)
    c = wide_flyer(22, reference_date=REFERENCE, layout="tour", photo=photo)
    assert c.shows != a.shows


def test_make_flyer_family_wide_is_wide_flyer():
    a = make_flyer(5, reference_date=REFERENCE, family="wide", layout="series", held_out=True)
    b = wide_flyer(5, reference_date=REFERENCE, layout="series", held_out=True)
    assert (a.shows, a.lines, a.layout, a.template) == (b.shows, b.lines, b.layout, b.template)
    assert np.array_equal(pixels(a.image), pixels(b.image))


def test_old_flyers_are_drawn_as_before():
    """The committed sample set's truth is still what make_flyer draws for those seeds (the wide generator
    has its own random stream), and old flyers now name their lines' roles."""
    truth = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))
    reference = dt.date.fromisoformat(truth["reference_date"])
    for name in list(truth["flyers"])[:6]:
        entry = truth["flyers"][name]
        flyer = make_flyer(truth["seed"] * 1000 + int(name[:3]), reference_date=reference, layout=entry["layout"],
                           fonts=truth["fonts"])
        assert (flyer.shows, flyer.lines, list(flyer.image.size)) == (entry["shows"], entry["lines"], entry["size"])
        assert len(flyer.roles) == len(flyer.lines) and set(flyer.roles) <= set(LINE_ROLES)
        assert (flyer.template, flyer.held_out) == (flyer.layout, False)


def test_photo_variant_keeps_the_truth():
    for layout in ("social", "lineup-venues"):
        clean = wide_flyer(3, reference_date=REFERENCE, layout=layout)
        photo = wide_flyer(3, reference_date=REFERENCE, layout=layout, photo=True)
        assert (photo.shows, photo.lines, photo.boxes, photo.photo) == (clean.shows, clean.lines, clean.boxes, True)
        assert photo.image.size == clean.image.size and photo.image.mode == "RGB"
        assert np.abs(pixels(photo.image) - pixels(clean.image)).mean() > 10


def test_held_out_split_has_its_own_wording_templates_and_frames():
    tuning, held = flyers._TUNING_WORDS, flyers._HELD_OUT_WORDS

    def entries(words, name):
        value = getattr(words, name)
        if isinstance(value, dict):
            return {x for values in value.values() for x in values}
        if name == "band_words":
            return set(value[0]) | set(value[1])
        return set(value)

    for name in ("venue_adjectives", "venue_nouns", "venue_types", "venue_owners", "street_names", "units", "cities",
                 "titles", "tour_titles", "first_names", "last_names", "dj_names", "companies", "band_words",
                 "drag_names", "drinks", "notes", "sponsors", "lineup_headings", "guide_headings", "tour_headings",
                 "captions", "group_names", "comments", "weekly_forms"):
        assert not entries(tuning, name) & entries(held, name), name
    assert not set(WIDE_TEMPLATES) & set(HELD_OUT_WIDE_TEMPLATES) and not set(SOCIAL_FRAMES) & set(HELD_OUT_SOCIAL_FRAMES)

    seeds = range(0, 4 * len(WIDE_LAYOUTS))
    tuned = wide_set(seeds, reference_date=REFERENCE)
    measured = wide_set(seeds, reference_date=REFERENCE, held_out=True)
    templates = {f.template.split("/")[-1] for f in tuned}
    assert templates <= set(WIDE_TEMPLATES)
    assert {f.template.split("/")[0] for f in tuned if f.layout == "social"} <= set(SOCIAL_FRAMES)
    held_templates = {f.template.split("/")[-1] for f in measured}
    assert set(HELD_OUT_WIDE_TEMPLATES) <= held_templates and held_templates & set(WIDE_TEMPLATES)
    frames = {f.template.split("/")[0] for f in measured if f.layout == "social"}
    frames |= {wide_flyer(s, reference_date=REFERENCE, layout="social", held_out=True).template.split("/")[0]
               for s in range(6)}
    assert set(HELD_OUT_SOCIAL_FRAMES) <= frames
    tuned_venues = {s["venue"].lower() for f in tuned for s in f.shows}
    assert not tuned_venues & {s["venue"].lower() for f in measured for s in f.shows}


def test_titles_over_lines_and_decorative_type():
    """Titles are set over two or three lines ("QUIZ" / "NIGHT" reads "QUIZ NIGHT"), the truth holds them
    whole, and the display effects are all in use."""
    split = 0
    effects = set()
    for seed in range(40):
        flyer = wide_flyer(seed, reference_date=REFERENCE, layout=("single-dated", "single-weekly")[seed % 2])
        titles = [line for line, role in zip(flyer.lines, flyer.roles) if role == "title"]
        assert flat(" ".join(titles)) == flat(flyer.shows[0]["title"])
        split += len(titles) > 1
    assert split >= 10
    rng = np.random.default_rng(0)
    ctx = flyers._Ctx(rng, flyers._TUNING_WORDS, REFERENCE, False, 14.0, False)
    for _ in range(60):
        effects |= {item.effect for item in flyers._title_items(ctx, "Quiz Night")}
    assert effects == set(flyers.TITLE_EFFECTS)


def test_series_ranges_and_two_shows_are_one_show_per_date_or_time():
    month_phrase = 0
    for seed in range(30):
        flyer = wide_flyer(seed, reference_date=REFERENCE, layout=("series", "range", "two-shows")[seed % 3])
        text = " ".join(flyer.lines)
        phrase = re.search(r"(?:Every|Each|All \w+, every) (\w+?)S? (?:in|of) (\w+)|(\w+)s (?:in|all through) (\w+)",
                           text, re.IGNORECASE)
        if flyer.layout == "series" and phrase:  # "Every Friday in January": every such date of the month
            month_phrase += 1
            weekday = (phrase.group(1) or phrase.group(3)).title()
            month = flyers.MONTHS.index((phrase.group(2) or phrase.group(4)).title()) + 1
            dates = {dt.date.fromisoformat(s["date"]) for s in flyer.shows}
            first = min(dates).replace(day=1)
            every = {first + dt.timedelta(days=i) for i in range(31)}
            assert dates == {d for d in every if d.month == month and WEEKDAYS[d.weekday()] == weekday}
        if flyer.layout == "two-shows":
            assert len({s["start_time"] for s in flyer.shows}) == 2 and all(s["end_time"] is None for s in flyer.shows)
    assert month_phrase >= 1


def test_small_print_is_there_and_is_no_show():
    """Prices, phone numbers, URLs and handles, rules and sponsors are drawn (role "deco"), and a social post's
    caption, hashtags and timestamp (role "frame"); none of them names a show's venue."""
    kinds = set()
    for flyer in wide_set(range(3 * len(WIDE_LAYOUTS)), reference_date=REFERENCE):
        small = [flat(line) for line, role in zip(flyer.lines, flyer.roles) if role in ("deco", "frame")]
        for line in small:
            kinds |= {name for name, pattern in (("price", r"\$\d"), ("phone", r"555[-.]0\d\d"), ("url", r"\.com|@\w"),
                                                 ("hashtag", r"#\w"), ("rule", r"21\+|no cover|free"),
                                                 ("timestamp", r"\b\d+h\b|\d:\d\d [ap]m|just now|\d hrs|\b1d\b"))
                      if re.search(pattern, line)}
            assert not any(flat(s["venue"]) in line for s in flyer.shows)
    assert kinds == {"price", "phone", "url", "hashtag", "rule", "timestamp"}


def test_glyphs_a_face_lacks_are_replaced():
    assert flyers._printable("MON \u00b7 7PM | Trivia \u2022 Bar", "cmr10") == "MON - 7PM - Trivia - Bar"
    assert flyers._printable("MON \u00b7 7PM | Trivia", "DejaVuSans") == "MON \u00b7 7PM | Trivia"
    flyer = wide_flyer(2, reference_date=REFERENCE, layout="tour", fonts="held_out", held_out=True)
    check_drawn(flyer)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        wide_flyer(1, reference_date=REFERENCE, layout="single-centered")
    with pytest.raises(ValueError):
        wide_flyer(1, reference_date=REFERENCE, template="diagonal")
    with pytest.raises(ValueError):
        wide_flyer(1, reference_date=REFERENCE, fonts="comic")


def test_write_wide_set_and_cli(tmp_path):
    path = write_wide_set(tmp_path / "a", count=len(WIDE_LAYOUTS), seed=3, reference_date=REFERENCE, photo_share=0.3)
    truth = json.loads(path.read_text(encoding="utf-8"))
    assert (truth["generator"], truth["held_out"], truth["seed"]) == ("wide", False, 3)
    assert {p.name for p in (tmp_path / "a" / "flyers").iterdir()} == set(truth["flyers"])
    assert {e["layout"] for e in truth["flyers"].values()} == set(WIDE_LAYOUTS)
    assert sum(e["photo"] for e in truth["flyers"].values()) == 3
    for name, entry in truth["flyers"].items():
        assert entry["layout"] in name and len(entry["lines"]) == len(entry["roles"]) == len(entry["boxes"])
        with Image.open(tmp_path / "a" / "flyers" / name) as image:
            assert list(image.size) == entry["size"]
        for show in entry["shows"]:
            check_show(show)
    result = subprocess.run([sys.executable, "-m", "daskparse.testing.flyers", "--out", str(tmp_path / "b"), "--wide",
                             "--held-out", "--count", "2", "--seed", "4"], capture_output=True, text=True, check=True)
    truth = json.loads(Path(result.stdout.strip()).read_text(encoding="utf-8"))
    assert truth["held_out"] is True and len(truth["flyers"]) == 2


def test_dates_after_new_year_take_the_next_year():
    """A December reference date: "Jan 8" and "every Friday in January" are next year's (the next occurrence)."""
    reference = dt.date(2026, 12, 20)
    years = set()
    for flyer in wide_set(range(2 * len(WIDE_LAYOUTS)), reference_date=reference):
        for show in flyer.shows:
            if show["date"]:
                date = dt.date.fromisoformat(show["date"])
                assert reference <= date <= reference + dt.timedelta(days=130)
                assert WEEKDAYS[date.weekday()] == show["weekday"]
                years.add(date.year)
    assert years == {2026, 2027}
