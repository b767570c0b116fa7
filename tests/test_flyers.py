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
from daskparse.testing.flyers import (
    FONT_SETS,
    LAYOUTS,
    VENUES,
    make_flyer,
    photo_variant,
    write_sample_set,
)

REFERENCE = dt.date(2026, 11, 1)
DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = (960, 720)  # keeps renders quick; the text still fits the same way
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DAY_WORDS = {day: re.compile(rf"\b({day}|{day[:3]})\b", re.IGNORECASE) for day in WEEKDAYS}
PREFIXES = ("hosted by", "with ", "feat.", "featuring", "w/")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def check_show(show: dict, reference: dt.date) -> None:
    assert list(show) == [c for c in FIELD_COLUMNS if c != "date_note"]  # date_note: a run's remark
    ShowFields(**show)  # validates kind, state and zip lengths
    assert show["kind"] in KINDS
    assert show["title"] and show["venue"] and show["address"]
    assert show["address"] == f"{show['street']}, {show['city']}, {show['state']} {show['zip']}"
    assert re.fullmatch(r"[A-Z]{2}", show["state"]) and re.fullmatch(r"\d{5}", show["zip"])
    assert show["weekday"] in WEEKDAYS
    assert HHMM.match(show["start_time"])
    assert show["end_time"] is None or HHMM.match(show["end_time"])
    assert not show["performer"] or not show["performer"].lower().startswith(PREFIXES)
    if show["date"] is None:
        assert show["recurrence"] == "weekly"
    else:
        date = dt.date.fromisoformat(show["date"])
        assert show["recurrence"] is None
        assert reference <= date <= reference + dt.timedelta(days=90)
        assert WEEKDAYS[date.weekday()] == show["weekday"]


def check_printed(flyer) -> None:
    """The truth is what is printed: titles, performers and venues appear verbatim, and any weekday
    printed on a single-show flyer is the show's weekday."""
    text = "\n".join(flyer.lines)
    for show in flyer.shows:
        assert show["title"] in text and show["venue"] in flyer.lines
        assert show["performer"] is None or show["performer"] in text
        street, city_line = show["street"], show["address"][len(show["street"]) + 2:]
        assert show["address"] in flyer.lines or [street, city_line] == flyer.lines[flyer.lines.index(street):][:2]
    if len(flyer.shows) == 1:
        show = flyer.shows[0]
        printed = {day for day, pattern in DAY_WORDS.items() if pattern.search(text)}
        assert printed <= {show["weekday"]}
        if show["date"]:
            assert re.search(rf"\b0?{dt.date.fromisoformat(show['date']).day}(st|nd|rd|th)?\b", text)
        if "noon" in text.lower():
            assert show["start_time"] == "12:00"
        shown = re.search(r"Show (\d+)", text)
        if shown:  # "Doors 7 / Show 8": the show starts at the show time, in the evening
            assert show["start_time"] == f"{int(shown.group(1)) + 12:02d}:00"


@pytest.mark.parametrize("photo", [False, True])
def test_same_seed_same_pixels_and_truth(photo):
    a = make_flyer(11, reference_date=REFERENCE, photo=photo, size=SMALL)
    b = make_flyer(11, reference_date=REFERENCE, photo=photo, size=SMALL)
    assert a.image.mode == "RGB" and a.image.size == SMALL
    assert np.array_equal(pixels(a.image), pixels(b.image))
    assert (a.shows, a.lines, a.layout, a.boxes) == (b.shows, b.lines, b.layout, b.boxes)


def test_different_seeds_differ():
    flyers = [make_flyer(seed, reference_date=REFERENCE, size=SMALL) for seed in range(4)]
    assert len({json.dumps(f.shows) for f in flyers}) == 4


@pytest.mark.parametrize("fonts, seeds", [("tuning", range(0, 60)), ("eval", range(1000, 1060))])
def test_truth_is_consistent_and_printed(fonts, seeds):
    layouts = set()
    for seed in seeds:
        flyer = make_flyer(seed, reference_date=REFERENCE, fonts=fonts, size=SMALL)
        layouts.add(flyer.layout)
        assert flyer.shows and flyer.lines
        for show in flyer.shows:
            check_show(show, REFERENCE)
        check_printed(flyer)
        if flyer.layout.startswith("lineup"):
            assert len(flyer.shows) >= 2
            assert all(s["recurrence"] == "weekly" and s["date"] is None for s in flyer.shows)
            assert len({s["weekday"] for s in flyer.shows}) == len(flyer.shows)
            assert len({(s["venue"], s["address"]) for s in flyer.shows}) == 1
        else:
            assert len(flyer.shows) == 1
    assert set(layouts) == set(LAYOUTS)


def test_year_is_inferred_past_new_year():
    """A December reference date puts some undated ("Jan 8") shows in the next year."""
    reference = dt.date(2026, 12, 20)
    years = set()
    for seed in range(40):
        flyer = make_flyer(seed, reference_date=reference, family="single", size=SMALL)
        check_show(flyer.shows[0], reference)
        if flyer.shows[0]["date"]:
            years.add(flyer.shows[0]["date"][:4])
    assert years == {"2026", "2027"}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_keeps_text_inside_and_apart(layout):
    for size in [(1080, 1350), (1600, 1000)]:
        flyer = make_flyer(5, reference_date=REFERENCE, layout=layout, size=size)
        assert flyer.layout == layout
        assert len(flyer.boxes) == len(flyer.lines)
        width, height = size
        for left, top, right, bottom in flyer.boxes:
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
        ordered = sorted(flyer.boxes, key=lambda b: b[1])
        assert ordered == flyer.boxes  # lines are listed top to bottom
        for upper, lower in zip(ordered, ordered[1:]):
            assert upper[3] <= lower[1]  # no two lines overlap


def test_text_is_large_enough_after_downscaling():
    """The smallest line stays legible once the image is fit inside 1200x800 (as the optimizer does)."""
    for seed in range(12):
        flyer = make_flyer(seed, reference_date=REFERENCE)
        scale = min(1200 / flyer.image.width, 800 / flyer.image.height, 1.0)
        assert min(b[3] - b[1] for b in flyer.boxes) * scale >= 20


def test_photo_variant_differs_from_clean_and_keeps_truth():
    clean = make_flyer(3, reference_date=REFERENCE, size=SMALL)
    photo = make_flyer(3, reference_date=REFERENCE, size=SMALL, photo=True)
    assert (photo.shows, photo.lines, photo.photo, clean.photo) == (clean.shows, clean.lines, True, False)
    assert photo.image.size == clean.image.size and photo.image.mode == "RGB"
    assert np.abs(pixels(photo.image) - pixels(clean.image)).mean() > 10


def test_photo_variant_is_seeded():
    clean = make_flyer(4, reference_date=REFERENCE, size=SMALL).image
    a = photo_variant(clean, np.random.default_rng(1))
    b = photo_variant(clean, np.random.default_rng(1))
    c = photo_variant(clean, np.random.default_rng(2))
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(c))


def test_font_sets_are_disjoint_and_change_only_the_look():
    tuning = set(FONT_SETS["tuning"]["display"] + FONT_SETS["tuning"]["body"])
    evaluation = set(FONT_SETS["eval"]["display"] + FONT_SETS["eval"]["body"])
    assert not tuning & evaluation
    a = make_flyer(8, reference_date=REFERENCE, size=SMALL, fonts="tuning")
    b = make_flyer(8, reference_date=REFERENCE, size=SMALL, fonts="eval")
    assert a.shows == b.shows
    assert not np.array_equal(pixels(a.image), pixels(b.image))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        make_flyer(1, reference_date=REFERENCE, fonts="comic")
    with pytest.raises(ValueError):
        make_flyer(1, reference_date=REFERENCE, layout="diagonal")
    with pytest.raises(ValueError):
        make_flyer(1, reference_date=REFERENCE, family="poster")


def test_venues_are_varied_us_addresses():
    assert len(VENUES) >= 40
    assert len({v.state for v in VENUES}) >= 20
    for venue in VENUES:
        assert re.fullmatch(r"\d+ [\w ]+ (St|Ave|Blvd|Rd|Dr)( NW)?", venue.street), venue.street
        assert re.fullmatch(r"\d{5}", venue.zip) and re.fullmatch(r"[A-Z]{2}", venue.state)


def check_sample_set(root: Path) -> dict:
    truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    reference = dt.date.fromisoformat(truth["reference_date"])
    listed = set(truth["flyers"])
    on_disk = {p.name for p in (root / "flyers").iterdir()}
    assert listed == on_disk
    for name, entry in truth["flyers"].items():
        assert entry["layout"] in LAYOUTS and entry["layout"] in name
        assert entry["photo"] == ("-photo" in name)
        with Image.open(root / "flyers" / name) as image:
            assert image.mode == entry["mode"] and list(image.size) == entry["size"]
        for show in entry["shows"]:
            check_show(show, reference)
    return truth


def test_write_sample_set_writes_what_truth_lists(tmp_path):
    path = write_sample_set(tmp_path, count=6, seed=7, reference_date=REFERENCE, photo_share=0.5)
    assert path == tmp_path / "truth.json"
    truth = check_sample_set(tmp_path)
    assert (truth["seed"], truth["reference_date"]) == (7, "2026-11-01")
    entries = truth["flyers"].values()
    assert sum(e["photo"] for e in entries) == 3
    assert {e["mode"] for e in entries} == {"RGB", "RGBA", "P", "L"}
    assert any(e["layout"].startswith("lineup") for e in entries)


def test_cli_writes_a_sample_set(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "daskparse.testing.flyers", "--out", str(tmp_path), "--count", "2",
         "--seed", "3", "--reference-date", "2026-12-01"],
        capture_output=True, text=True, check=True,
    )
    assert Path(result.stdout.strip()) == tmp_path / "truth.json"
    assert check_sample_set(tmp_path)["reference_date"] == "2026-12-01"


def test_committed_sample_set_matches_its_truth():
    truth = check_sample_set(DATA)
    images = list((DATA / "flyers").iterdir())
    assert 30 <= len(images) <= 40
    assert sum(p.stat().st_size for p in images) <= 10 * 1024 * 1024
    entries = list(truth["flyers"].values())
    assert 0.3 <= sum(e["photo"] for e in entries) / len(entries) <= 0.5
    assert {"RGBA", "P", "L"} <= {e["mode"] for e in entries}


def test_held_out_flyers_use_fonts_and_layouts_the_samples_do_not():
    from daskparse.testing.flyers import HELD_OUT_LAYOUTS

    tuning = set(FONT_SETS["tuning"]["display"] + FONT_SETS["tuning"]["body"])
    assert not tuning & set(FONT_SETS["held_out"]["display"] + FONT_SETS["held_out"]["body"])
    assert not set(HELD_OUT_LAYOUTS) & set(LAYOUTS)
    layouts = set()
    for seed in range(700_000, 700_030):
        flyer = make_flyer(seed, reference_date=REFERENCE, held_out=True, size=SMALL)
        layouts.add(flyer.layout)
        for show in flyer.shows:
            check_show(show, REFERENCE)
        check_printed(flyer)
    assert set(HELD_OUT_LAYOUTS) <= layouts and layouts & set(LAYOUTS)
    # without held_out, a seed draws what it always drew
    assert make_flyer(5, reference_date=REFERENCE, size=SMALL).layout in LAYOUTS


@pytest.mark.parametrize("layout", ["single-right", "lineup-timefirst"])
def test_held_out_layouts_keep_text_inside_and_apart(layout):
    flyer = make_flyer(5, reference_date=REFERENCE, layout=layout, size=(1080, 1350), fonts="held_out")
    assert flyer.layout == layout
    for upper, lower in zip(flyer.boxes, flyer.boxes[1:]):
        assert upper[3] <= lower[1]
    for left, top, right, bottom in flyer.boxes:
        assert 0 <= left < right <= 1080 and 0 <= top < bottom <= 1350
    if layout == "lineup-timefirst":
        rows = [line for line in flyer.lines if any(line.upper().startswith(d[:3].upper()) for d in WEEKDAYS)]
        assert rows and all(re.match(r"\S+\W+\d", row) for row in rows)  # the time right after the day
