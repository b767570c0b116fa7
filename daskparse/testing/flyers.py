"""Synthetic event flyers with ground truth, for the sample set, the tests and the accuracy benchmark.

Everything is drawn with Pillow from the DejaVu/STIX fonts inside the matplotlib wheel, so a fresh machine
renders the same pixels. One integer seed decides a whole flyer (content, fonts, colours, layout, photo
effects): ``make_flyer(seed, ...)`` is a pure function of its arguments.

The content follows the "Flyer content" spec shared with the flyer-text parser: single-show flyers
(title, performer, when, venue, address, decoration) and weekly line-ups (venue header, heading, one row
per weekday, address). Ground truth is what a careful reader would copy off the flyer, normalised:
ISO date (year inferred as the next occurrence on/after ``reference_date`` when not printed), full weekday
name, recurrence ``"weekly"`` or None, 24 h ``HH:MM`` times, title/performer/venue exactly as printed
(case included, without a "hosted by"/"with"/"feat." prefix), the address as one line joined with ", ".

Font sets are named so the benchmark can render with fonts the parser was never tuned on:
``fonts="tuning"`` (DejaVu upright), ``"eval"`` (STIX and slanted DejaVu), ``"held_out"`` (``"eval"`` plus
Computer Modern and DejaVu Mono Bold Oblique), ``"all"`` (tuning and eval). ``make_flyer(..., held_out=True)``
draws the accuracy benchmark's flyers: held-out fonts, and half of them in layouts no sample uses
(HELD_OUT_LAYOUTS); without it a seed renders exactly as it always did.

CLI: ``python -m daskparse.testing.flyers --out data --count 36 --seed 2026 --reference-date 2026-11-01``
"""

from __future__ import annotations

import argparse
import colorsys
import datetime as dt
import functools
import html
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from daskparse.shows import WEEKDAYS, ShowFields

__all__ = [
    "FONT_SETS",
    "HELD_OUT_LAYOUTS",
    "LAYOUTS",
    "VENUES",
    "Flyer",
    "Venue",
    "make_flyer",
    "ocr_noise",
    "photo_variant",
    "tagged_addresses",
    "write_sample_set",
]


@dataclass
class Flyer:
    """A rendered flyer and what a careful human would read off it."""

    image: Image.Image  # RGB
    shows: list[dict]  # ShowFields dicts (all keys, None where absent)
    lines: list[str]  # text lines as drawn, top to bottom
    layout: str
    photo: bool
    # One (left, top, right, bottom) box per line, in the clean render's pixels (before any photo effect).
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Content tables
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Venue:
    name: str
    street: str
    city: str
    state: str
    zip: str

    @property
    def address(self) -> str:
        return f"{self.street}, {self.city}, {self.state} {self.zip}"

    @property
    def city_line(self) -> str:
        return f"{self.city}, {self.state} {self.zip}"

    @property
    def handle(self) -> str:
        words = [w for w in self.name.replace("&", "and").split() if w.lower() != "the"]
        return "@" + "".join(c for c in "".join(words).lower() if c.isalnum())


# Invented venues at plausible street addresses (real cities with matching ZIP codes).
VENUES: tuple[Venue, ...] = (
    Venue("The Rusty Anchor", "418 Harbor Ave", "Portland", "ME", "04101"),
    Venue("Blue Door Tavern", "2207 E 6th St", "Austin", "TX", "78702"),
    Venue("Mickey's Pub", "1532 W Division St", "Chicago", "IL", "60622"),
    Venue("The Copper Kettle", "77 Elm St", "Burlington", "VT", "05401"),
    Venue("Lucky Horseshoe Saloon", "1340 Fremont St", "Las Vegas", "NV", "89101"),
    Venue("The Velvet Lounge", "915 U St NW", "Washington", "DC", "20001"),
    Venue("Hank's Honky Tonk", "1808 Charlotte Ave", "Nashville", "TN", "37203"),
    Venue("The Gilded Goose", "2390 Peachtree Rd", "Atlanta", "GA", "30305"),
    Venue("Salty Dog Bar & Grill", "88 Ocean Dr", "Miami Beach", "FL", "33139"),
    Venue("The Red Lantern", "1620 E Pike St", "Seattle", "WA", "98122"),
    Venue("Brick House Tap", "2718 Larimer St", "Denver", "CO", "80205"),
    Venue("Stumbling Goat Taphouse", "511 Tacoma Ave", "Tacoma", "WA", "98403"),
    Venue("The Wandering Ox", "1401 N Mills Ave", "Orlando", "FL", "32803"),
    Venue("Dusty Boots Cantina", "2150 N Oracle Rd", "Tucson", "AZ", "85705"),
    Venue("Harbor Lights Pub", "64 Water St", "Mystic", "CT", "06355"),
    Venue("Neon Moose", "3301 Grand Ave", "Des Moines", "IA", "50312"),
    Venue("The Tipsy Otter", "1025 Chapala St", "Santa Barbara", "CA", "93101"),
    Venue("Old Mill Alehouse", "250 Mill St", "Reno", "NV", "89501"),
    Venue("Foxglove Social Club", "1809 Magazine St", "New Orleans", "LA", "70130"),
    Venue("Riverbend Taproom", "615 Riverside Ave", "Jacksonville", "FL", "32204"),
    Venue("The Crooked Fiddle", "23 Haywood St", "Asheville", "NC", "28801"),
    Venue("Half Moon Saloon", "1407 W Lake St", "Minneapolis", "MN", "55408"),
    Venue("Starlight Lanes & Lounge", "4800 Sunset Blvd", "Los Angeles", "CA", "90027"),
    Venue("The Iron Skillet", "1120 Central Ave", "Albuquerque", "NM", "87102"),
    Venue("Pickled Pelican", "301 W Bay St", "Savannah", "GA", "31401"),
    Venue("Boondocks Roadhouse", "8801 Fairview Ave", "Boise", "ID", "83704"),
    Venue("The Lost Compass", "142 Front St", "Wilmington", "NC", "28401"),
    Venue("Magnolia Room", "2716 Elm St", "Dallas", "TX", "75226"),
    Venue("Thirsty Scholar", "1250 Pearl St", "Boulder", "CO", "80302"),
    Venue("Union Hall Bar", "522 Union Ave", "Memphis", "TN", "38103"),
    Venue("The Bent Spoke", "3418 Hawthorne Blvd", "Portland", "OR", "97214"),
    Venue("Cedar & Smoke", "909 Walnut St", "Kansas City", "MO", "64106"),
    Venue("Jolly Roger Pub", "290 Atlantic Ave", "Boston", "MA", "02110"),
    Venue("Sunset Grille", "1511 Gulf Blvd", "Clearwater", "FL", "33767"),
    Venue("Green Lantern Tavern", "417 State St", "Madison", "WI", "53703"),
    Venue("The Prairie Dog", "1905 N 27th St", "Lincoln", "NE", "68503"),
    Venue("Buckeye Tap", "1580 N High St", "Columbus", "OH", "43201"),
    Venue("Kettle Black Bar", "5130 Butler St", "Pittsburgh", "PA", "15201"),
    Venue("Wild Rose Saloon", "214 E Main St", "Bozeman", "MT", "59715"),
    Venue("Hilltop Lounge", "2840 University Ave", "San Diego", "CA", "92104"),
    Venue("The Anchor & Oar", "180 Main St", "Annapolis", "MD", "21401"),
    Venue("Lone Star Icehouse", "4802 Washington Ave", "Houston", "TX", "77007"),
    Venue("Moonshine Hollow", "1820 W Broad St", "Richmond", "VA", "23220"),
    Venue("Gravel Road Tavern", "7012 Old Cheney Rd", "Lincoln", "NE", "68516"),
)

# Single-show titles per kind. "{Weekday}" is filled with the show's weekday; a title naming a day
# ("Throwback Thursday") is only used for shows on that day.
TITLES: dict[str, tuple[str, ...]] = {
    "karaoke": ("Karaoke Night", "Karaoke Party", "Sing It Loud Karaoke", "Rock Star Karaoke",
                "{Weekday} Night Karaoke"),
    "trivia": ("Trivia Night", "Pub Quiz", "Team Trivia", "Trivia {Weekday}", "Brainiac Trivia", "Quiz Night"),
    "live music": ("Live Music", "Jazz & Blues Night", "Acoustic Sessions", "Bluegrass Jam",
                   "Live on the Patio", "Blues Jam", "Rock Night Live"),
    "comedy": ("Comedy Showcase", "Stand-Up Comedy", "Comedy Night", "Laugh Riot Comedy", "{Weekday} Night Comedy"),
    "open mic": ("Open Mic Night", "Open Mic", "Songwriter Open Mic", "Poetry & Open Mic"),
    "dj": ("DJ Night", "Dance Party", "80s Dance Party", "Latin Dance Night", "Throwback Thursday"),
    "bingo": ("Bingo Bash", "Drag Bingo", "Music Bingo", "Bingo Night", "Bingo {Weekday}"),
    "other": ("Board Game Night", "Pool Tournament", "Paint & Sip", "Darts League Night", "Cornhole Tournament"),
}

# Shorter titles for line-up rows.
ROW_TITLES: dict[str, tuple[str, ...]] = {
    "karaoke": ("Karaoke", "Karaoke Night"),
    "trivia": ("Trivia", "Pub Quiz", "Team Trivia"),
    "live music": ("Live Music", "Acoustic Jam", "Blues Jam"),
    "comedy": ("Comedy Night", "Stand-Up Comedy"),
    "open mic": ("Open Mic",),
    "dj": ("Dance Party", "DJ Night", "Latin Dance Party"),
    "bingo": ("Bingo", "Drag Bingo", "Music Bingo"),
    "other": ("Pool League", "Game Night", "Darts"),
}

PERFORMERS: dict[str, tuple[str, ...]] = {
    "karaoke": ("DJ Sparkle", "KJ Mike", "Karaoke Kate", "DJ Marcus", "Tony B", "Lena Cruz"),
    "trivia": ("Quizmaster Dan", "Trivia Tom", "Jenna Park", "Professor Pete", "Captain Quiz"),
    "live music": ("The Night Owls", "Maria Lopez", "Brass Tacks", "Velvet Static", "The Hollow Pines",
                   "Sam Whitaker Trio", "Delta Rose", "The Midnight Ramblers", "Big Earl Jackson", "The Copper Tones"),
    "comedy": ("Joe Rizzo", "Tasha Green", "Mike Delgado", "Priya Nair", "Danny Brooks"),
    "open mic": ("Ray Dalton", "Ava Sinclair", "Jordan Hale", "Marcus Lee"),
    "dj": ("DJ Nova", "DJ Kilowatt", "DJ Rosa Rey", "DJ Spin City", "DJ Mellow Mike"),
    "bingo": ("Miss Penny Lane", "Ginger Snap", "Bingo Barb", "Uncle Frank"),
    "other": ("Coach Riley", "Nina Alvarez"),
}

# Prefixes a performer line may carry; "" prints the name alone (only for names that say what they are).
PREFIXES: dict[str, tuple[str, ...]] = {
    "karaoke": ("hosted by", "with", ""),
    "trivia": ("hosted by", "with", ""),
    "live music": ("with", "feat.", "featuring", ""),
    "comedy": ("feat.", "featuring", "hosted by", "with"),
    "open mic": ("hosted by", "with"),
    "dj": ("with", "feat.", ""),
    "bingo": ("hosted by", "with"),
    "other": ("hosted by", "with"),
}
_SELF_DESCRIBING = ("DJ ", "KJ ", "Quizmaster ", "Captain ", "Trivia ")

DECORATIONS: tuple[str, ...] = (
    "Free entry!", "21+", "No cover", "Drink specials", "$3 drafts", "Happy hour specials",
    "All ages welcome", "Food & drink specials", "Bring your friends!", "No cover · 21+",
)
KIND_DECORATIONS: dict[str, tuple[str, ...]] = {
    "trivia": ("Prizes!", "Prizes for top teams"),
    "bingo": ("Prizes!", "Cash prizes!"),
    "karaoke": ("Prizes!", "Sign up at the bar"),
    "open mic": ("Sign up at the bar",),
    "other": ("Prizes!",),
}
LINEUP_HEADINGS = ("WEEKLY EVENTS", "THIS WEEK AT {VENUE}", "Every week", "WEEKLY LINEUP", "What's On")

# Typical start times (minutes after midnight) per kind.
START_TIMES: dict[str, tuple[int, ...]] = {
    "karaoke": (1200, 1260, 1290, 1320),
    "trivia": (1080, 1140, 1170, 1200),
    "live music": (1140, 1200, 1230, 1260, 1320),
    "comedy": (1140, 1170, 1200, 1260),
    "open mic": (1080, 1140, 1170, 1200),
    "dj": (1260, 1320),
    "bingo": (720, 840, 1080, 1140),
    "other": (1080, 1140, 1200),
}

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

# ---------------------------------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------------------------------

# Display fonts set titles and venue headers, body fonts the rest. The two named sets share no file.
FONT_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "tuning": {
        "display": ("DejaVuSans-Bold", "DejaVuSerif-Bold", "DejaVuSansMono-Bold"),
        "body": ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "DejaVuSans-Oblique"),
    },
    "eval": {
        "display": ("STIXGeneralBol", "DejaVuSerif-BoldItalic", "DejaVuSans-BoldOblique", "STIXGeneralBolIta"),
        "body": ("STIXGeneral", "STIXGeneralItalic", "DejaVuSerif-Italic", "DejaVuSansMono-Oblique"),
    },
}
FONT_SETS["all"] = {role: FONT_SETS["tuning"][role] + FONT_SETS["eval"][role] for role in ("display", "body")}
# For the accuracy benchmark: "eval" plus faces no other set uses (TeX's Computer Modern, the last DejaVu face).
FONT_SETS["held_out"] = {
    "display": FONT_SETS["eval"]["display"] + ("cmb10", "DejaVuSansMono-BoldOblique"),
    "body": FONT_SETS["eval"]["body"] + ("cmr10", "cmss10", "cmtt10"),
}
# Computer Modern in matplotlib's wheel has no middle dot and draws "|" as a dash: such flyers print "-".
_CM_SEPARATORS = str.maketrans({"\u00b7": "-", "|": "-"})


@functools.cache
def _font_dir() -> Path:
    import matplotlib  # in the "test" extra; only the generator needs it

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=512)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_font_dir() / f"{name}.ttf"), px)


# ---------------------------------------------------------------------------------------------------
# Dates and times as printed
# ---------------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _hhmm(minutes: int | None) -> str | None:
    if minutes is None:
        return None
    hours, mins = divmod(minutes % 1440, 60)
    return f"{hours:02d}:{mins:02d}"


@dataclass
class _When:
    """When a show happens, and how its time is printed."""

    weekday: str
    date: dt.date | None  # None for recurring shows
    start: int  # minutes after midnight
    end: int | None  # may be past 1440 (after midnight)
    doors: bool = False  # printed as "Doors 7 / Show 8"; start is the show time


def _clock(minutes: int, suffix: str, *, meridiem: bool = True) -> str:
    hours, mins = divmod(minutes % 1440, 60)
    h12 = hours % 12 or 12
    text = f"{h12}" if mins == 0 else f"{h12}:{mins:02d}"
    if not meridiem:
        return text
    mer = "AM" if hours < 12 else "PM"
    if suffix == "p.m.":
        return f"{text} {mer[0].lower()}.m."
    return text + suffix.replace("PM", mer).replace("pm", mer.lower())


def _time_text(rng: np.random.Generator, when: _When, *, compact: bool = False) -> str:
    """The time part of a "when" line: "9PM", "8-11pm", "9PM-1AM", "Doors 7 / Show 8", "noon"...

    ``compact`` (line-up rows) keeps to the short forms, as the rows must fit one line.
    """
    suffix = _pick(rng, ("PM", "pm") if compact else ("PM", " PM", "pm", "p.m.", "PM"))
    if when.doors:
        doors = when.start - 60
        if rng.random() < 0.5:
            return f"Doors {_clock(doors, suffix, meridiem=False)} / Show {_clock(when.start, suffix, meridiem=False)}"
        return f"Doors {_clock(doors, suffix)} / Show {_clock(when.start, suffix)}"
    if when.end is None:
        if when.start == 720 and rng.random() < 0.7:
            return _pick(rng, ("noon", "Noon"))
        text = _clock(when.start, suffix)
        if not compact and rng.random() < 0.12:
            text += _pick(rng, (" 'til close", " till late"))
        return text
    same_half = (when.start < 720) == (when.end < 720) and when.end < 1440
    if same_half and suffix != "p.m." and rng.random() < 0.6:
        # "8-11pm": the meridiem printed once, after the end time.
        return f"{_clock(when.start, suffix, meridiem=False)}-{_clock(when.end, suffix)}"
    joiner = "-" if compact else _pick(rng, ("-", " - ", " to ", "–"))
    return f"{_clock(when.start, suffix)}{joiner}{_clock(when.end, suffix)}"


def _date_lines(rng: np.random.Generator, when: _When) -> list[str]:
    """The printed "when" line(s) of a single-show flyer (one or two lines)."""
    wd = when.weekday
    wd3 = wd[:3]
    if when.date is None:  # recurring
        style = int(rng.integers(6))
        time = _time_text(rng, when)
        if style == 0:
            return [f"Every {wd} {time}"]
        if style == 1 and not when.doors:
            joiner = "from" if any(c in time for c in "-–") or " to " in time else "at"
            return [f"{wd}s {joiner} {time}"]
        if style == 2:
            return [f"Every {wd} · {time}"]
        if style == 3:
            return [f"{wd.upper()}S {time.upper()}"]
        if style == 4:
            return [f"Every {wd}", time]
        return [f"Every {wd3} | {time}"]
    d = when.date
    mon, month = MONTHS[d.month - 1][:3], MONTHS[d.month - 1]
    time = _time_text(rng, when)
    style = int(rng.integers(7))
    if style == 0:
        return [f"{wd}, {mon} {d.day} · {time}"]
    if style == 1:
        numeric = f"{d.month}/{d.day:02d}" if rng.random() < 0.5 else f"{d.month}/{d.day}"
        return [f"{wd3.upper()} {numeric}  {time}"]
    if style == 2:
        return [f"{wd3} {mon} {d.day} | {time}"]
    if style == 3 and not when.doors:
        return [f"{month} {_ordinal(d.day)}, {d.year} {_pick(rng, ('at', '@'))} {time}"]
    if style == 4:
        return [f"{wd}, {month} {d.day}", time]
    if style == 5:
        return [f"{wd3}, {d.month}/{d.day}/{d.year % 100:02d} · {time}"]
    return [f"{wd.upper()} {month.upper()} {d.day}", time.upper()]


# ---------------------------------------------------------------------------------------------------
# Content: text items and ground truth
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Item:
    """One text line to draw."""

    text: str
    role: str  # title | performer | when | venue | address | deco | heading | row
    group: int  # lines of one group sit close together
    rel: float  # size relative to the title
    font: str = "body"  # "display" or "body"
    cells: tuple[str, str, str] | None = None  # line-up row columns (day, what, time)


@dataclass
class _Content:
    items: list[_Item]
    shows: list[dict]


def _truth(**fields) -> dict:
    """A validated ShowFields dict with every key present."""
    return ShowFields(**fields).model_dump()


def _place_fields(venue: Venue, printed_name: str) -> dict:
    return dict(venue=printed_name, address=venue.address, street=venue.street, city=venue.city,
                state=venue.state, zip=venue.zip)


def _pick_when(rng: np.random.Generator, kind: str, reference: dt.date, *, recurring: bool,
               weekday: str | None = None) -> _When:
    start = int(_pick(rng, START_TIMES[kind]))
    end = None
    doors = kind in ("live music", "comedy") and start >= 1140 and start % 60 == 0 and rng.random() < 0.35
    if not doors and rng.random() < 0.4:
        end = start + int(_pick(rng, (120, 150, 180, 240)))
        if end > 1440 + 120:
            end = 1440 + 120
        if end % 60 and end > 1440:
            end -= end % 60
    if recurring:
        weekday = weekday or _pick(rng, WEEKDAYS)
        return _When(weekday=weekday, date=None, start=start, end=end, doors=doors)
    date = reference + dt.timedelta(days=int(rng.integers(0, 76)))
    return _When(weekday=WEEKDAYS[date.weekday()], date=date, start=start, end=end, doors=doors)


def _title_for(rng: np.random.Generator, kind: str, weekday: str) -> str:
    options = [t for t in TITLES[kind] if "Thursday" not in t or weekday == "Thursday"]
    return _pick(rng, options).replace("{Weekday}", weekday)


def _performer_line(rng: np.random.Generator, kind: str, name: str, upper: bool) -> str:
    prefixes = [p for p in PREFIXES[kind] if p or kind == "live music" or name.startswith(_SELF_DESCRIBING)]
    prefix = _pick(rng, prefixes)
    if prefix and rng.random() < 0.3:
        prefix = prefix[0].upper() + prefix[1:]
    line = f"{prefix} {name}".strip()
    return line.upper() if upper else line


def _decorations(rng: np.random.Generator, kind: str, venue: Venue, count: int) -> list[str]:
    pool = list(DECORATIONS) + list(KIND_DECORATIONS.get(kind, ())) + [venue.handle]
    chosen: list[str] = []
    while len(chosen) < count:
        deco = _pick(rng, pool)
        if deco not in chosen and not any("21+" in deco and "21+" in c for c in chosen):
            chosen.append(deco)
    return chosen


def _address_items(venue: Venue, group: int, *, two_lines: bool) -> list[_Item]:
    if two_lines:
        return [_Item(venue.street, "address", group, 0.4), _Item(venue.city_line, "address", group, 0.4)]
    return [_Item(venue.address, "address", group, 0.4)]


def _single_content(rng: np.random.Generator, reference: dt.date, *, narrow: bool) -> _Content:
    kind = _pick(rng, ("karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other",
                       "karaoke", "trivia", "live music"))
    venue = _pick(rng, VENUES)
    recurring = rng.random() < 0.35
    when = _pick_when(rng, kind, reference, recurring=recurring)
    title = _title_for(rng, kind, when.weekday)
    if rng.random() < 0.5:
        title = title.upper()
    performer = None
    if kind == "dj" or rng.random() < (0.3 if kind == "other" else 0.75):
        performer = _pick(rng, PERFORMERS[kind])
    upper_performer = rng.random() < 0.2
    venue_name = venue.name.upper() if rng.random() < 0.4 else venue.name

    items = [_Item(title, "title", 0, 1.0, "display")]
    if performer:
        line = _performer_line(rng, kind, performer, upper_performer)
        performer = performer.upper() if upper_performer else performer
        items.append(_Item(line, "performer", 0, 0.55))
    items += [_Item(text, "when", 1, 0.5) for text in _date_lines(rng, when)]
    decos = _decorations(rng, kind, venue, int(_pick(rng, (0, 1, 1, 2))))
    if decos and rng.random() < 0.4:  # a decoration between the time and the venue
        items.append(_Item(decos.pop(0), "deco", 2, 0.34))
    items.append(_Item(venue_name, "venue", 3, 0.5, "display" if rng.random() < 0.5 else "body"))
    items += _address_items(venue, 3, two_lines=narrow or rng.random() < 0.3)
    items += [_Item(text, "deco", 4, 0.34) for text in decos]

    show = _truth(title=title, kind=kind, performer=performer, **_place_fields(venue, venue_name),
                  date=when.date.isoformat() if when.date else None, weekday=when.weekday,
                  recurrence=None if when.date else "weekly", start_time=_hhmm(when.start),
                  end_time=_hhmm(when.end))
    return _Content(items, [show])


def _row_day(weekday: str, style: int) -> str:
    return (weekday[:3].upper(), weekday[:3], weekday.upper(), f"{weekday}s", f"{weekday[:3].upper()}.")[style]


def _lineup_content(rng: np.random.Generator, reference: dt.date, *, narrow: bool,
                    time_first: bool = False) -> _Content:
    venue = _pick(rng, VENUES)
    count = int(_pick(rng, (2, 3, 3, 4, 4, 5)))
    days = sorted(rng.choice(7, size=count, replace=False).tolist())
    kinds = list(rng.choice(list(ROW_TITLES), size=count, replace=False))
    venue_name = venue.name.upper() if rng.random() < 0.6 else venue.name
    heading = _pick(rng, LINEUP_HEADINGS).replace("{VENUE}", venue.name.upper())
    day_style = int(_pick(rng, (0, 1, 4) if narrow else (0, 1, 2, 3, 4)))
    sep = _pick(rng, ("  ", " · ", " | ", "  "))

    items = [_Item(venue_name, "venue", 0, 1.0, "display"), _Item(heading, "heading", 1, 0.5)]
    shows = []
    for day, kind in zip(days, kinds):
        kind = str(kind)
        weekday = WEEKDAYS[day]
        when = _pick_when(rng, kind, reference, recurring=True, weekday=weekday)
        when.doors = False
        title = _pick(rng, ROW_TITLES[kind])
        performer = None
        if not narrow and (kind == "dj" or rng.random() < 0.55):  # a narrow flyer has no room
            performer = _pick(rng, PERFORMERS[kind])
        what = title
        if performer and kind == "live music" and rng.random() < 0.6:
            what += f": {performer}"
        elif performer:
            what += f" {_pick(rng, ('w/', 'with'))} {performer}"
        time = _time_text(rng, when, compact=True)
        label = _row_day(weekday, day_style)
        cells = (label, time, what) if time_first else (label, what, time)
        items.append(_Item(sep.join(cells), "row", 2, 0.42, cells=cells))
        shows.append(_truth(title=title, kind=kind, performer=performer, **_place_fields(venue, venue_name),
                            date=None, weekday=weekday, recurrence="weekly", start_time=_hhmm(when.start),
                            end_time=_hhmm(when.end)))
    items += _address_items(venue, 3, two_lines=narrow or rng.random() < 0.3)
    if rng.random() < 0.5:
        items += [_Item(text, "deco", 4, 0.34) for text in _decorations(rng, "other", venue, 1)]
    return _Content(items, shows)


# ---------------------------------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------------------------------

RGB = tuple[int, int, int]


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _luminance(color: RGB) -> float:
    """WCAG relative luminance."""
    channels = [c / 255 for c in color]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: RGB, b: RGB) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _text_color(rng: np.random.Generator, surfaces: list[RGB], *, minimum: float = 7.0) -> RGB:
    """A random colour that reads well (WCAG contrast >= minimum) on every surface colour."""
    light_surface = np.mean([_luminance(s) for s in surfaces]) > 0.18
    for _ in range(200):
        hue, sat = rng.random(), rng.uniform(0.0, 0.9)
        value = rng.uniform(0.0, 0.45) if light_surface else rng.uniform(0.88, 1.0)
        color = _hsv(hue, sat if rng.random() < 0.7 else 0.0, value)
        if all(_contrast(color, s) >= minimum for s in surfaces):
            return color
    return max(((0, 0, 0), (255, 255, 255)), key=lambda c: min(_contrast(c, s) for s in surfaces))


@dataclass
class _Style:
    background: tuple[RGB, RGB]
    gradient: str  # solid | vertical | diagonal | radial
    display_font: str
    body_font: str
    colors: dict[str, RGB]  # per role
    panel: RGB | None = None  # card layout: the text panel; banner layout: the title band
    shadow: RGB | None = None  # drop shadow (and outline on big lines) for text on dark backgrounds
    accents: list[RGB] = field(default_factory=list)
    plain_roles: tuple[str, ...] = ()  # roles drawn without shadow (the banner's title sits on its band)


def _background(rng: np.random.Generator) -> tuple[RGB, RGB]:
    theme = _pick(rng, ("dark", "dark", "light", "vivid"))
    hue = rng.random()
    shift = rng.uniform(-0.12, 0.12)
    if theme == "dark":
        s, v = rng.uniform(0.4, 0.95), rng.uniform(0.08, 0.28)
        return _hsv(hue, s, v), _hsv(hue + shift, s, rng.uniform(0.05, 0.3))
    if theme == "light":
        s, v = rng.uniform(0.03, 0.3), rng.uniform(0.9, 1.0)
        return _hsv(hue, s, v), _hsv(hue + shift, rng.uniform(0.03, 0.3), v)
    # vivid: a saturated mid-tone; keep only those white or black text can read on
    while True:
        s, v = rng.uniform(0.7, 1.0), rng.uniform(0.45, 0.75)
        pair = _hsv(hue, s, v), _hsv(hue + shift / 2, s, v * rng.uniform(0.85, 1.0))
        if max(min(_contrast(c, p) for p in pair) for c in ((0, 0, 0), (255, 255, 255))) >= 5.0:
            return pair
        hue = rng.random()


def _style(rng: np.random.Generator, layout: str, fonts: str) -> _Style:
    font_set = FONT_SETS[fonts]
    background = _background(rng)
    gradient = _pick(rng, ("solid", "vertical", "diagonal", "radial"))
    panel = None
    surface = list(background)
    title_surface = surface
    if layout == "single-card":
        panel = _hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.93, 1.0)) if rng.random() < 0.7 \
            else _hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.06, 0.16))
        surface = title_surface = [panel]
    elif layout == "single-banner":
        panel = _hsv(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.35, 0.9))
        title_surface = [panel]
    main = _text_color(rng, surface)
    colors = {role: main for role in ("performer", "when", "venue", "address", "deco", "heading", "row")}
    colors["title"] = _text_color(rng, title_surface)
    if rng.random() < 0.6:
        colors["venue"] = colors["heading"] = _text_color(rng, surface)
    if rng.random() < 0.5:
        colors["when"] = _text_color(rng, surface)
    dark_surface = np.mean([_luminance(s) for s in surface]) < 0.18
    shadow = (0, 0, 0) if dark_surface and rng.random() < 0.4 else None
    accents = [_hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)) for _ in range(3)]
    return _Style(background, gradient, _pick(rng, font_set["display"]), _pick(rng, font_set["body"]),
                  colors, panel, shadow, accents, plain_roles=("title",) if layout == "single-banner" else ())


def _coarse_grid(size: tuple[int, int], step: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (ys, xs) of a grid one ``step`` apart: smooth fields are computed there, then
    resized to full size, which is much cheaper than per pixel and looks the same."""
    width, height = size
    ys = np.linspace(0, height, max(height // step, 2), dtype=np.float32)[:, None]
    xs = np.linspace(0, width, max(width // step, 2), dtype=np.float32)[None, :]
    return ys, xs


def _smooth_field(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(values.astype(np.float32), "F").resize(size, Image.BILINEAR))


def _paint_background(size: tuple[int, int], style: _Style, rng: np.random.Generator) -> Image.Image:
    width, height = size
    ys, xs = _coarse_grid(size)
    if style.gradient == "solid":
        t = np.zeros((ys.size, xs.size), np.float32)
    elif style.gradient == "vertical":
        t = np.broadcast_to(ys / height, (ys.size, xs.size))
    elif style.gradient == "diagonal":
        angle = rng.uniform(0, 2 * math.pi)
        proj = xs * math.cos(angle) + ys * math.sin(angle)
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    else:
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        dist = np.hypot(xs - cx, ys - cy)
        t = dist / dist.max()
    a, b = (np.array(c, np.float32) for c in style.background)
    pixels = a * (1 - t[..., None]) + b * t[..., None]
    coarse = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
    return coarse.resize(size, Image.BILINEAR)


# ---------------------------------------------------------------------------------------------------
# Layout and drawing
# ---------------------------------------------------------------------------------------------------

SINGLE_LAYOUTS = ("single-centered", "single-left", "single-banner", "single-card")
LINEUP_LAYOUTS = ("lineup", "lineup-columns")
LAYOUTS = SINGLE_LAYOUTS + LINEUP_LAYOUTS
# Only drawn with held_out=True (the accuracy benchmark): right-aligned text with a bar on the right, and
# line-up rows with the time before the event ("MON · 7PM · Trivia").
HELD_OUT_SINGLE_LAYOUTS = ("single-right",)
HELD_OUT_LINEUP_LAYOUTS = ("lineup-timefirst",)
HELD_OUT_LAYOUTS = HELD_OUT_SINGLE_LAYOUTS + HELD_OUT_LINEUP_LAYOUTS

PORTRAIT_SIZES = ((1080, 1350), (1000, 1400), (1200, 1600), (1275, 1650), (1500, 2000), (1650, 2200), (1800, 2400))
LANDSCAPE_SIZES = ((1500, 1000), (1600, 1000), (1800, 1200), (2000, 1250), (2400, 1600), (1280, 960), (2048, 1536))

# Downscaled (fit inside 1200x800, as the optimizer does) body text is at least this many pixels tall.
MIN_TEXT_PX = 28


@dataclass
class _Placed:
    item: _Item
    font: ImageFont.FreeTypeFont
    x: float
    y: float
    width: float
    height: float
    stroke: int
    columns: tuple[float, float, float] | None = None  # x of day, what, right edge of time


def _stroke_for(px: int, style: _Style, item: _Item) -> int:
    outlined = style.shadow and item.role in ("title", "venue") and item.role not in style.plain_roles
    return max(1, round(px * 0.04)) if outlined else 0


def _item_font(item: _Item, style: _Style, px: int) -> ImageFont.FreeTypeFont:
    return _font(style.display_font if item.font == "display" else style.body_font, max(px, 6))


def _row_columns(rows: list[_Item], style: _Style, px: int) -> tuple[list[float], float]:
    """Column widths (day, what, time) and the gap for the column layout of line-up rows."""
    font = _item_font(rows[0], style, px)
    widths = [max(font.getlength(r.cells[i]) for r in rows) for i in range(3)]
    return widths, px * 0.9


def _fits(item: _Item, style: _Style, px: int, box_width: float) -> bool:
    font = _item_font(item, style, px)
    return font.getlength(item.text) + 2 * _stroke_for(px, style, item) <= box_width


def _sizes(items: list[_Item], style: _Style, title_px: float, min_px: float, box_width: float,
           columns: bool) -> list[int]:
    """Font size per item: the title (rel 1) fitted to the width first, then rel x that size (at least
    min_px, shrunk to fit the width), so the title stays the largest line."""
    def fitted(item: _Item, px: float) -> int:
        px = int(px)
        while px > 8 and not _fits(item, style, px, box_width):
            px = int(px * 0.95)
        return px

    base = min(fitted(item, title_px) for item in items if item.rel >= 1.0)
    sizes = [fitted(item, title_px if item.rel >= 1.0 else max(item.rel * base, min_px)) for item in items]
    rows = [i for i, item in enumerate(items) if item.role == "row"]
    if rows:
        px = min(sizes[i] for i in rows)
        if columns:
            while px > 8:
                widths, gap = _row_columns([items[i] for i in rows], style, px)
                if sum(widths) + 2 * gap <= box_width:
                    break
                px = int(px * 0.95)
        for i in rows:
            sizes[i] = px
    return sizes


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def _layout(items: list[_Item], style: _Style, box: tuple[float, float, float, float], min_px: float, *,
            align: str, columns: bool, top: bool) -> list[_Placed]:
    """Fit the items into the box (shrinking the title size until everything fits) and place them."""
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    title_px = box_h * 0.2
    for _ in range(200):
        sizes = _sizes(items, style, title_px, min_px, box_w, columns)
        fonts_ = [_item_font(item, style, px) for item, px in zip(items, sizes)]
        heights = [_line_height(f) for f in fonts_]
        gaps = []
        for prev, nxt, hp, hn in zip(items, items[1:], heights, heights[1:]):
            within = 0.4 if prev.role == "row" else 0.22
            gaps.append(within * max(hp, hn) if prev.group == nxt.group else 0.5 * max(hp, hn) + 0.4 * min_px)
        total = sum(heights) + sum(gaps)
        if total <= box_h:
            break
        title_px *= 0.94
        if title_px < 1.6 * min_px:
            min_px *= 0.95
    # Some spare room goes to the gaps between groups; the rest above and below ("top": below only).
    spare = max(box_h - total, 0)
    between = [i for i, (a, b) in enumerate(zip(items, items[1:])) if a.group != b.group]
    share = min(spare * 0.5, len(between) * min_px * 2.0)
    for i in between:
        gaps[i] += share / max(len(between), 1)
    y = y0 if top else y0 + (spare - share) / 2
    rows = [item for item in items if item.role == "row"]
    row_block = None
    if rows:
        row_px = sizes[items.index(rows[0])]
        if columns:
            widths, gap = _row_columns(rows, style, row_px)
            row_width = sum(widths) + 2 * gap
            row_block = (widths, gap)
        else:
            row_font = _item_font(rows[0], style, row_px)
            row_width = max(row_font.getlength(r.text) for r in rows)
        row_x = (x0 + x1 - row_width) / 2 if align == "center" else x1 - row_width if align == "right" else x0
    placed = []
    for i, (item, px, font, height) in enumerate(zip(items, sizes, fonts_, heights)):
        stroke = _stroke_for(px, style, item)
        if item.role == "row":
            if row_block:
                widths, gap = row_block
                cols = (row_x, row_x + widths[0] + gap, row_x + row_width)
                placed.append(_Placed(item, font, row_x, y, row_width, height, stroke, cols))
            else:
                placed.append(_Placed(item, font, row_x, y, font.getlength(item.text), height, stroke))
        else:
            width = font.getlength(item.text) + 2 * stroke
            x = (x0 + x1 - width) / 2 if align == "center" else x1 - width if align == "right" else x0
            placed.append(_Placed(item, font, x, y, width, height, stroke))
        y += height + (gaps[i] if i < len(gaps) else 0)
    return placed


def _draw_text(draw: ImageDraw.ImageDraw, p: _Placed, style: _Style) -> None:
    color = style.colors[p.item.role]
    pieces = [(p.x + p.stroke, p.item.text, "la")]
    if p.columns:
        day, what, time = p.item.cells
        pieces = [(p.columns[0], day, "la"), (p.columns[1], what, "la"), (p.columns[2], time, "ra")]
    for x, text, anchor in pieces:
        if style.shadow is not None and p.item.role not in style.plain_roles:
            offset = max(2, round(p.font.size * 0.06))
            draw.text((x + offset, p.y + offset), text, font=p.font, fill=style.shadow, anchor=anchor)
        draw.text((x, p.y), text, font=p.font, fill=color, anchor=anchor,
                  stroke_width=p.stroke, stroke_fill=style.shadow if p.stroke else None)


def _text_boxes(placed: list[_Placed], pad: float) -> list[tuple[float, float, float, float]]:
    return [(p.x - pad, p.y - pad, p.x + p.width + pad, p.y + p.height + pad) for p in placed]


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _star(cx: float, cy: float, r: float, turn: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = turn + k * math.pi / 5
        points.append((cx + radius * math.sin(angle), cy - radius * math.cos(angle)))
    return points


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int],
                 keep_clear: list[tuple[float, float, float, float]], style: _Style) -> None:
    """Simple decorative shapes (circles, rings, stars, triangles, confetti) that never touch text."""
    width, height = size
    unit = min(width, height)
    wanted = int(rng.integers(3, 14))
    drawn = 0
    for _ in range(wanted * 30):
        if drawn >= wanted:
            break
        shape = _pick(rng, ("circle", "ring", "star", "triangle", "confetti", "confetti"))
        r = unit * (rng.uniform(0.008, 0.02) if shape == "confetti" else rng.uniform(0.03, 0.12))
        cx, cy = rng.uniform(-0.05, 1.05) * width, rng.uniform(-0.05, 1.05) * height
        bbox = (cx - r, cy - r, cx + r, cy + r)
        if any(_overlaps(bbox, box) for box in keep_clear):
            continue
        color = _pick(rng, style.accents)
        if shape == "circle":
            draw.ellipse(bbox, fill=color)
        elif shape == "ring":
            draw.ellipse(bbox, outline=color, width=max(2, int(r * 0.18)))
        elif shape == "star":
            draw.polygon(_star(cx, cy, r, rng.uniform(0, math.pi)), fill=color)
        elif shape == "triangle":
            turn = rng.uniform(0, 2 * math.pi)
            draw.polygon([(cx + r * math.cos(turn + k * 2.094), cy + r * math.sin(turn + k * 2.094)) for k in range(3)],
                         fill=color)
        else:
            turn = rng.uniform(0, math.pi)
            dx, dy = r * math.cos(turn), r * math.sin(turn)
            draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=color, width=max(2, int(r * 0.6)))
        drawn += 1


def _downscale_factor(size: tuple[int, int]) -> float:
    """How many original pixels make one pixel once the image is fit inside 1200x800."""
    width, height = size
    return max(width / 1200, height / 800, 1.0)


def _render(rng: np.random.Generator, content: _Content, layout: str, size: tuple[int, int],
            fonts: str) -> tuple[Image.Image, list[_Placed]]:
    style = _style(rng, layout, fonts)
    if style.body_font.startswith("cm") or style.display_font.startswith("cm"):
        for item in content.items:
            item.text = item.text.translate(_CM_SEPARATORS)
            if item.cells:
                item.cells = tuple(cell.translate(_CM_SEPARATORS) for cell in item.cells)
    width, height = size
    image = _paint_background(size, style, rng)
    draw = ImageDraw.Draw(image)
    min_px = MIN_TEXT_PX * _downscale_factor(size)
    margin_x, margin_y = width * rng.uniform(0.07, 0.1), height * rng.uniform(0.06, 0.09)
    if layout == "single-card":
        margin_x, margin_y = width * 0.13, height * 0.11
    if layout in ("single-left", "single-right"):
        margin_x = width * 0.12
    box = (margin_x, margin_y, width - margin_x, height - margin_y)
    align = {"single-left": "left", "single-right": "right"}.get(layout, "center")
    if layout == "single-banner":  # the title sits on its own band: keep the next line clear of it
        content.items[0].group = -1
    if layout == "lineup-columns":  # columns are drawn apart; the line reads as cells two spaces apart
        for item in content.items:
            if item.cells:
                item.text = "  ".join(item.cells)
    placed = _layout(content.items, style, box, min_px, align=align, columns=layout == "lineup-columns",
                     top=layout == "single-banner")
    pad = 0.02 * min(width, height)
    clear = _text_boxes(placed, pad)

    if layout == "single-card":
        top, bottom = min(b[1] for b in clear) - pad, max(b[3] for b in clear) + pad
        card = (width * 0.07, top, width * 0.93, bottom)
        _draw_shapes(draw, rng, size, clear + [card], style)
        draw.rounded_rectangle(card, radius=int(min(width, height) * 0.03), fill=style.panel)
    elif layout == "single-banner":
        title = placed[0]
        band = (0, title.y - pad * 1.5, width, title.y + title.height + pad * 1.5)
        _draw_shapes(draw, rng, size, clear + [band], style)
        draw.rectangle(band, fill=style.panel)
    elif layout in ("single-left", "single-right"):
        bar_x = width * 0.06 if layout == "single-left" else width * (1 - 0.06 - 0.015)
        bar = (bar_x, placed[0].y, bar_x + width * 0.015, placed[-1].y + placed[-1].height)
        _draw_shapes(draw, rng, size, clear + [(bar[0] - pad, bar[1], bar[2] + pad, bar[3])], style)
        draw.rectangle(bar, fill=style.accents[0])
    else:
        _draw_shapes(draw, rng, size, clear, style)
        if layout.startswith("lineup") and rng.random() < 0.6:
            rows = [p for p in placed if p.item.role == "row"]
            y = rows[0].y - pad * 0.8
            draw.line([(box[0], y), (box[2], y)], fill=style.colors["heading"], width=max(2, int(pad * 0.2)))
    for p in placed:
        _draw_text(draw, p, style)
    return image, placed


# ---------------------------------------------------------------------------------------------------
# Photo-like variant
# ---------------------------------------------------------------------------------------------------


def _perspective_coefficients(dest: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """Coefficients for Image.transform(PERSPECTIVE): they map output (dest) points to input (src) points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dest, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return tuple(np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist())


SURFACES: tuple[RGB, ...] = ((196, 160, 118), (120, 86, 58), (210, 208, 200), (90, 92, 96), (232, 226, 214), (60, 50, 44))


def photo_variant(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The flyer as if photographed on a wall: tilt and keystone, uneven light, blur, noise, JPEG again.

    Output has the input's size; the flyer keeps about 85-95% of it, so a reader can still read it.
    """
    clean = image.convert("RGB")
    width, height = clean.size
    unit = _downscale_factor(clean.size)

    # Surface behind the flyer: a colour with soft blotches.
    base = np.array(_pick(rng, SURFACES), np.float32) * rng.uniform(0.9, 1.1)
    blotches = rng.normal(0, 10, (9, 12)).astype(np.float32)
    blotches = np.asarray(Image.fromarray(blotches, "F").resize((width // 8, height // 8), Image.BICUBIC))
    surface = np.clip(base + blotches[..., None], 0, 255).astype(np.uint8)
    canvas = Image.fromarray(surface, "RGB").resize(clean.size, Image.BILINEAR)

    # Where the flyer's corners land: shrunk, rotated a few degrees, each corner nudged (keystone).
    scale = rng.uniform(0.86, 0.95)
    angle = math.radians(rng.uniform(-3.0, 3.0))
    cx, cy = width / 2 + rng.uniform(-0.02, 0.02) * width, height / 2 + rng.uniform(-0.02, 0.02) * height
    src = np.array([(0, 0), (width, 0), (width, height), (0, height)], float)
    dest = []
    for x, y in src:
        dx, dy = (x - width / 2) * scale, (y - height / 2) * scale
        rx = dx * math.cos(angle) - dy * math.sin(angle)
        ry = dx * math.sin(angle) + dy * math.cos(angle)
        dest.append((cx + rx + rng.uniform(-0.015, 0.015) * width, cy + ry + rng.uniform(-0.015, 0.015) * height))
    coeffs = _perspective_coefficients(np.array(dest), src)
    warped = clean.transform(clean.size, Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    mask = Image.new("L", clean.size, 0)
    ImageDraw.Draw(mask).polygon(dest, fill=255)
    small = (width // 4, height // 4)  # the shadow is soft: blur it small
    shadow = mask.resize(small, Image.BILINEAR).filter(ImageFilter.GaussianBlur(1.5 * unit)).resize(clean.size)
    canvas = Image.composite(Image.new("RGB", clean.size, (20, 20, 20)), canvas,
                             shadow.point(lambda v: int(v * 0.5)))
    canvas.paste(warped, (0, 0), mask)

    # Uneven light: a brightness ramp in a random direction plus a soft warm/cool cast.
    ys, xs = _coarse_grid(clean.size)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = xs / width * math.cos(direction) + ys / height * math.sin(direction)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = 1.0 - rng.uniform(0.15, 0.4) * ramp
    if rng.random() < 0.5:  # a soft hot spot, as from a lamp
        hx, hy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        spread = rng.uniform(0.25, 0.45) * max(width, height)
        light += rng.uniform(0.05, 0.15) * np.exp(-((xs - hx) ** 2 + (ys - hy) ** 2) / (2 * spread**2))
    cast = np.array([rng.uniform(0.94, 1.06) for _ in range(3)], np.float32)
    pixels = np.asarray(canvas, np.float32) * _smooth_field(light, clean.size)[..., None] * cast
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2) * unit))
    sigma = np.float32(rng.uniform(2.0, 6.0))
    noisy = np.asarray(out, np.float32) + sigma * rng.standard_normal((height, width, 1), dtype=np.float32)
    out = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")

    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=int(rng.integers(55, 86)))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


# ---------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------


def make_flyer(seed: int, *, reference_date: dt.date, family: str | None = None, photo: bool = False,
               fonts: str | None = None, size: tuple[int, int] | None = None, layout: str | None = None,
               held_out: bool = False) -> Flyer:
    """Render one flyer; the same arguments always give the same pixels and truth.

    ``family`` is "single" or "lineup" (random when None); ``layout`` picks one of LAYOUTS or
    HELD_OUT_LAYOUTS (and implies the family). The photo variant is the clean flyer of the same seed,
    photographed. ``held_out``: fonts default to "held_out" and, unless ``layout`` is given, half the
    flyers take a HELD_OUT_LAYOUTS layout (for the accuracy benchmark: nothing the parser was tuned on).
    """
    fonts = fonts or ("held_out" if held_out else "tuning")
    if fonts not in FONT_SETS:
        raise ValueError(f"fonts must be one of {sorted(FONT_SETS)}, not {fonts!r}")
    if layout is not None:
        if layout not in LAYOUTS + HELD_OUT_LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS + HELD_OUT_LAYOUTS}, not {layout!r}")
        family = "lineup" if layout in LINEUP_LAYOUTS + HELD_OUT_LINEUP_LAYOUTS else "single"
    if family not in (None, "single", "lineup"):
        raise ValueError(f"family must be 'single' or 'lineup', not {family!r}")
    rng = np.random.default_rng(seed)
    family = family or ("lineup" if rng.random() < 0.3 else "single")
    if layout is None and held_out and rng.random() < 0.5:
        layout = _pick(rng, HELD_OUT_LINEUP_LAYOUTS if family == "lineup" else HELD_OUT_SINGLE_LAYOUTS)
    layout = layout or _pick(rng, LINEUP_LAYOUTS if family == "lineup" else SINGLE_LAYOUTS)
    if size is None:
        portrait = rng.random() < (0.4 if family == "lineup" else 0.6)
        size = _pick(rng, PORTRAIT_SIZES if portrait else LANDSCAPE_SIZES)
    size = (int(size[0]), int(size[1]))
    narrow = size[0] / size[1] < 0.9  # portrait: little width per line
    if family == "lineup":
        content = _lineup_content(rng, reference_date, narrow=narrow, time_first=layout == "lineup-timefirst")
    else:
        content = _single_content(rng, reference_date, narrow=narrow and rng.random() < 0.5)
    image, placed = _render(rng, content, layout, size, fonts)
    if photo:
        image = photo_variant(image, rng)
    boxes = [(math.floor(p.x), math.floor(p.y), math.ceil(p.x + p.width), math.ceil(p.y + p.height)) for p in placed]
    return Flyer(image=image, shows=content.shows, lines=[p.item.text for p in placed], layout=layout,
                 photo=photo, boxes=boxes)


# ---------------------------------------------------------------------------------------------------
# Typed text: a tagged address corpus and OCR-style noise
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaggedAddress:
    text: str
    street: str | None
    city: str | None
    state: str | None
    zip: str | None


def tagged_addresses(path) -> list[TaggedAddress]:
    """Addresses of a usaddress-style tagged XML file (tests/data/us50_addresses_tagged.xml) with the
    components daskparse.normalise.parse_address should return: the street is every token usaddress
    calls part of a street (house number to unit, as printed), the city the PlaceName tokens."""
    from daskparse.normalise import _STREET_LABELS

    out = []
    for element in ET.parse(path).getroot():
        # the file escapes "&" twice ("&amp;#38;"): undo the second escape
        tokens = [(child.tag, html.unescape(child.text or "")) for child in element]
        text = "".join(html.unescape(child.text or "") + (child.tail or "") for child in element)
        street = " ".join(t.strip(",") for label, t in tokens if label in _STREET_LABELS) or None
        city = " ".join(t.strip(",") for label, t in tokens if label == "PlaceName") or None
        state = next((t.strip(",.") for label, t in tokens if label == "StateName"), None)
        zip_code = next((t[:5] for label, t in tokens if label == "ZipCode"), None)
        out.append(TaggedAddress(text, street, city, state, zip_code))
    return out


OCR_NOISE_KINDS = ("spaces", "lookalikes", "separator")


def ocr_noise(text: str, rng: np.random.Generator, kinds=OCR_NOISE_KINDS) -> str:
    """``text`` as rapidocr misreads flyer print (each kind applied once, where the text allows):

    - "spaces": the space after commas, between a house number and the street, and before a ZIP dropped
      ("1234MainSt,Austin,TX78701" in the real misreads), each with probability 1/2 (at least one);
    - "lookalikes": digits 0 and 1 inside numbers of two or more digits read as O and l, each with
      probability 1/3 (at least one); a lone "1" read as "l" ("Suite l") is beyond any reader;
    - "separator": the comma after the street printed as a middle dot, which OCR reads as "-", ":" or ".".
    """
    if "separator" in kinds and text.count(", ") >= 2:  # street, city, state: the first comma ends the street
        text = text.replace(", ", _pick(rng, (" - ", " : ", ". ", " . ", "-", ":")), 1)
    if "spaces" in kinds:
        seams = [m.start() for m in re.finditer(r"(?<=,) |(?<=\b[A-Z]{2}) (?=\d{5}\b)", text)]
        number_seam = re.match(r"\d+( )[A-Za-z]", text)  # "1234 Main" -> "1234Main"
        if number_seam:
            seams.append(number_seam.start(1))
        seams = sorted(set(seams))
        if seams:
            drop = {i for i in seams if rng.random() < 0.5} or {_pick(rng, seams)}
            text = "".join(c for i, c in enumerate(text) if i not in drop)
    if "lookalikes" in kinds:
        spots = [m.start() + i for m in re.finditer(r"\d{2,}", text) for i, c in enumerate(m.group()) if c in "01"]
        if spots:
            swap = {i for i in spots if rng.random() < 1 / 3} or {_pick(rng, spots)}
            text = "".join({"0": "O", "1": "l"}[c] if i in swap else c for i, c in enumerate(text))
    return text


def _save(image: Image.Image, path: Path, mode: str) -> None:
    if mode == "RGBA":  # transparent rounded corners, as exported from a design tool
        alpha = Image.new("L", image.size, 0)
        radius = int(min(image.size) * 0.05)
        ImageDraw.Draw(alpha).rounded_rectangle((0, 0, image.size[0] - 1, image.size[1] - 1), radius, fill=255)
        rgba = image.convert("RGBA")
        rgba.putalpha(alpha)
        rgba.save(path, "PNG", optimize=True)
    elif mode == "P":
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(path, "PNG", optimize=True)
    elif mode == "L":
        image.convert("L").save(path, "JPEG", quality=85)
    else:
        image.save(path, "JPEG", quality=85)


def write_sample_set(out_dir, *, count: int, seed: int, reference_date: dt.date, photo_share: float = 0.4,
                     fonts: str = "tuning") -> Path:
    """Write ``count`` flyers to ``out_dir/flyers`` and their truth to ``out_dir/truth.json``; return its path.

    One in three flyers is a line-up; layouts take turns. Images are JPEG except one RGBA PNG, one palette PNG
    (both clean renders) and one grayscale JPEG (a photo), so readers see some variety of files. Images named
    like ours (``NNN-...``) that this run did not write are removed, so the folder matches the truth file.
    """
    out = Path(out_dir)
    images = out / "flyers"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = set(rng.choice(count, size=round(count * photo_share), replace=False).tolist())
    clean = [i for i in range(count) if i not in photos]
    modes = {i: "RGB" for i in range(count)}
    if len(clean) >= 2:
        modes[clean[len(clean) // 3]] = "RGBA"
        modes[clean[2 * len(clean) // 3]] = "P"
    if photos:
        modes[sorted(photos)[len(photos) // 2]] = "L"
    truth = {"reference_date": reference_date.isoformat(), "seed": seed, "fonts": fonts, "flyers": {}}
    for i in range(count):
        # Every third flyer is a line-up; layouts take turns so a small set still shows each one.
        layout = LINEUP_LAYOUTS[(i // 3) % 2] if i % 3 == 2 else SINGLE_LAYOUTS[(i - i // 3) % len(SINGLE_LAYOUTS)]
        flyer = make_flyer(seed * 1000 + i, reference_date=reference_date, layout=layout, photo=i in photos,
                           fonts=fonts)
        ext = "png" if modes[i] in ("RGBA", "P") else "jpg"
        name = f"{i:03d}-{flyer.layout}{'-photo' if flyer.photo else ''}.{ext}"
        _save(flyer.image, images / name, modes[i])
        truth["flyers"][name] = {"layout": flyer.layout, "photo": flyer.photo, "mode": modes[i],
                                 "size": list(flyer.image.size), "shows": flyer.shows, "lines": flyer.lines}
    for stale in images.glob("[0-9][0-9][0-9]-*"):  # images of an earlier, larger run
        if stale.name not in truth["flyers"]:
            stale.unlink()
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a sample set of synthetic flyers with ground truth.")
    parser.add_argument("--out", type=Path, required=True, help="directory for flyers/ and truth.json")
    parser.add_argument("--count", type=int, default=36)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reference-date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 1))
    parser.add_argument("--photo-share", type=float, default=0.4)
    parser.add_argument("--fonts", choices=sorted(FONT_SETS), default="tuning")
    args = parser.parse_args(argv)
    path = write_sample_set(args.out, count=args.count, seed=args.seed, reference_date=args.reference_date,
                            photo_share=args.photo_share, fonts=args.fonts)
    print(path)


if __name__ == "__main__":
    main()
