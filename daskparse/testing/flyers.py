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

The wide generator (issue 14) draws the layouts of flyers posted in social-media groups, so an extractor can
be developed and measured on more than the family above: ``wide_flyer(seed, ...)``, also
``make_flyer(seed, family="wide", ...)``, and ``wide_set(seeds, ...)`` for a labelled set. ``Flyer.layout`` is
the group (WIDE_LAYOUTS), for per-layout reporting:

- "single-dated", "single-weekly": one show; the title often over two or three lines of display type, in two
  sizes or colours, with a shadow, stroke, hollow outline or extrusion; a performer "with"/"hosted by"/
  "presented by"/"featuring" or billed alone (a band, a DJ, a company); "Doors 7 / Show 8", "8PM to 12AM".
- "lineup": a venue's week, one row per weekday (or per date of one week), the venue's one address at the
  bottom; rows on one or two lines; either mixed kinds (a title per row) or one kind under one title, with
  a host for the whole line-up (every row's performer) or one per row.
- "lineup-venues": a guide to the week under a large heading that is no title: each row its own show,
  venue and address, over two to four lines.
- "tour": one host (a trivia company, a KJ, a comedian, a band, a DJ) at several venues, each row its own
  weekday or date, venue, address and time, over two to four lines, with "·", "|", "•", "/", "-" (and, held
  out, "—" and "~") between day, venue and time; on a landscape flyer the rows stand side by side.
- "series": several dates of one show, one show per date: "Jan 9, 16 & 23", "Every Friday in January"
  (every such date of that month), or one date per line.
- "range": one show per day of "November 30 - December 2, 2026", "Fri-Sun, Dec 4-6", "Thu Dec 3 thru ...".
- "two-shows": two shows one night: "7PM & 9:30PM SHOWS", "Shows at 7 & 9:30pm", "Early show ... Late show".
- "social": one of the first five drawn inside a post: a phone screenshot (status bar clock, group name,
  poster, timestamp, caption with hashtags and @handles, like and comment counts) or a desktop photo view
  (the flyer on the left, the post beside it). None of that is a show, though "Posted 3:14 PM" is a time.

Every wide flyer carries small print that is no show: drink prices ("$5 WELLS"), phone numbers, URLs and
handles, "21+", "No cover", "Free entry", reservation lines, sponsors. Truth follows the product's field
definitions (title whole and as printed, however many lines it takes; street/city/state/zip per show; a zip
may be left unprinted, then None). ``Flyer.roles`` names each line (LINE_ROLES), ``Flyer.template`` how it
was drawn. Text is at least MIN_TEXT_PX high in the image optimize_image makes (long side 1200, short side
800; the older layouts assume a literal 1200x800 box), on contrast as the older layouts ensure.

Held-out split of the wide generator (``held_out=True``), so a benchmark measures on flyers the parser was
not tuned on: its own wording (venue name parts, streets, cities, titles, hosts, bands, small print,
captions, headings; no entry shared with the tuning wording), fonts "held_out", some formats only it prints
("Nov. 9 (Mon)", "Monday the 9th of November", "Bend OR 97701", "street · city", "—" and "~" separators,
"starring"), and for half its flyers a template no tuning flyer uses (HELD_OUT_WIDE_TEMPLATES: "halves", a
title panel beside or above the rest; "boxed", right-aligned in a frame, rows as columns) and, for "social",
a frame none uses (HELD_OUT_SOCIAL_FRAMES: "desktop"). Tuning flyers use WIDE_TEMPLATES ("stack", "leftbar",
"band", "card"), the "phone" frame and fonts "tuning". Old seeds and layouts render exactly as before: the
wide generator has its own random stream.

CLI: ``python -m daskparse.testing.flyers --out data --count 36 --seed 2026 --reference-date 2026-11-01``;
``--wide [--held-out]`` writes a set of wide flyers instead.
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
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from daskparse.shows import KINDS, WEEKDAYS, ShowFields

__all__ = [
    "FONT_SETS",
    "HELD_OUT_LAYOUTS",
    "HELD_OUT_SOCIAL_FRAMES",
    "HELD_OUT_WIDE_TEMPLATES",
    "LAYOUTS",
    "LINE_ROLES",
    "SOCIAL_FRAMES",
    "VENUES",
    "WIDE_LAYOUTS",
    "WIDE_TEMPLATES",
    "Flyer",
    "Venue",
    "hsv",
    "load_font",
    "make_flyer",
    "ocr_noise",
    "ordinal",
    "photo_variant",
    "pick",
    "tagged_addresses",
    "text_color",
    "wide_flyer",
    "wide_set",
    "write_sample_set",
    "write_wide_set",
]


@dataclass
class Flyer:
    """A rendered flyer and what a careful human would read off it."""

    image: Image.Image  # RGB
    shows: list[dict]  # ShowFields dicts (all keys, None where absent)
    lines: list[str]  # text lines as drawn, in reading order (top to bottom, a left panel before a right one)
    layout: str  # the group to report by: a template of LAYOUTS, or one of WIDE_LAYOUTS
    photo: bool
    # One (left, top, right, bottom) box per line, in the clean render's pixels (before any photo effect).
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # what each line is: one of LINE_ROLES
    template: str = ""  # how it is drawn (the wide generator: WIDE_TEMPLATES, "frame/template" for "social")
    held_out: bool = False


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
def load_font(name: str, px: int) -> ImageFont.FreeTypeFont:
    """A TrueType font of matplotlib's (FONT_SETS names them) at a pixel size, cached."""
    return ImageFont.truetype(str(_font_dir() / f"{name}.ttf"), px)


# ---------------------------------------------------------------------------------------------------
# Dates and times as printed
# ---------------------------------------------------------------------------------------------------


def pick(rng: np.random.Generator, seq):
    """One item of a sequence, drawn from the generator (so a seed gives the same flyer)."""
    return seq[int(rng.integers(len(seq)))]


def ordinal(day: int) -> str:
    """4 -> "4th", 22 -> "22nd"."""
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
    suffix = pick(rng, ("PM", "pm") if compact else ("PM", " PM", "pm", "p.m.", "PM"))
    if when.doors:
        doors = when.start - 60
        if rng.random() < 0.5:
            return f"Doors {_clock(doors, suffix, meridiem=False)} / Show {_clock(when.start, suffix, meridiem=False)}"
        return f"Doors {_clock(doors, suffix)} / Show {_clock(when.start, suffix)}"
    if when.end is None:
        if when.start == 720 and rng.random() < 0.7:
            return pick(rng, ("noon", "Noon"))
        text = _clock(when.start, suffix)
        if not compact and rng.random() < 0.12:
            text += pick(rng, (" 'til close", " till late"))
        return text
    same_half = (when.start < 720) == (when.end < 720) and when.end < 1440
    if same_half and suffix != "p.m." and rng.random() < 0.6:
        # "8-11pm": the meridiem printed once, after the end time.
        return f"{_clock(when.start, suffix, meridiem=False)}-{_clock(when.end, suffix)}"
    joiner = "-" if compact else pick(rng, ("-", " - ", " to ", "–"))
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
        return [f"{month} {ordinal(d.day)}, {d.year} {pick(rng, ('at', '@'))} {time}"]
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
    return ShowFields(**fields).model_dump(exclude={"date_note"})  # a run's remark, not something a flyer prints


def _place_fields(venue: Venue, printed_name: str) -> dict:
    return dict(venue=printed_name, address=venue.address, street=venue.street, city=venue.city,
                state=venue.state, zip=venue.zip)


def _pick_when(rng: np.random.Generator, kind: str, reference: dt.date, *, recurring: bool,
               weekday: str | None = None) -> _When:
    start = int(pick(rng, START_TIMES[kind]))
    end = None
    doors = kind in ("live music", "comedy") and start >= 1140 and start % 60 == 0 and rng.random() < 0.35
    if not doors and rng.random() < 0.4:
        end = start + int(pick(rng, (120, 150, 180, 240)))
        if end > 1440 + 120:
            end = 1440 + 120
        if end % 60 and end > 1440:
            end -= end % 60
    if recurring:
        weekday = weekday or pick(rng, WEEKDAYS)
        return _When(weekday=weekday, date=None, start=start, end=end, doors=doors)
    date = reference + dt.timedelta(days=int(rng.integers(0, 76)))
    return _When(weekday=WEEKDAYS[date.weekday()], date=date, start=start, end=end, doors=doors)


def _title_for(rng: np.random.Generator, kind: str, weekday: str) -> str:
    options = [t for t in TITLES[kind] if "Thursday" not in t or weekday == "Thursday"]
    return pick(rng, options).replace("{Weekday}", weekday)


def _performer_line(rng: np.random.Generator, kind: str, name: str, upper: bool) -> str:
    prefixes = [p for p in PREFIXES[kind] if p or kind == "live music" or name.startswith(_SELF_DESCRIBING)]
    prefix = pick(rng, prefixes)
    if prefix and rng.random() < 0.3:
        prefix = prefix[0].upper() + prefix[1:]
    line = f"{prefix} {name}".strip()
    return line.upper() if upper else line


def _decorations(rng: np.random.Generator, kind: str, venue: Venue, count: int) -> list[str]:
    pool = list(DECORATIONS) + list(KIND_DECORATIONS.get(kind, ())) + [venue.handle]
    chosen: list[str] = []
    while len(chosen) < count:
        deco = pick(rng, pool)
        if deco not in chosen and not any("21+" in deco and "21+" in c for c in chosen):
            chosen.append(deco)
    return chosen


def _address_items(venue: Venue, group: int, *, two_lines: bool) -> list[_Item]:
    if two_lines:
        return [_Item(venue.street, "address", group, 0.4), _Item(venue.city_line, "address", group, 0.4)]
    return [_Item(venue.address, "address", group, 0.4)]


def _single_content(rng: np.random.Generator, reference: dt.date, *, narrow: bool) -> _Content:
    kind = pick(rng, ("karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other",
                      "karaoke", "trivia", "live music"))
    venue = pick(rng, VENUES)
    recurring = rng.random() < 0.35
    when = _pick_when(rng, kind, reference, recurring=recurring)
    title = _title_for(rng, kind, when.weekday)
    if rng.random() < 0.5:
        title = title.upper()
    performer = None
    if kind == "dj" or rng.random() < (0.3 if kind == "other" else 0.75):
        performer = pick(rng, PERFORMERS[kind])
    upper_performer = rng.random() < 0.2
    venue_name = venue.name.upper() if rng.random() < 0.4 else venue.name

    items = [_Item(title, "title", 0, 1.0, "display")]
    if performer:
        line = _performer_line(rng, kind, performer, upper_performer)
        performer = performer.upper() if upper_performer else performer
        items.append(_Item(line, "performer", 0, 0.55))
    items += [_Item(text, "when", 1, 0.5) for text in _date_lines(rng, when)]
    decos = _decorations(rng, kind, venue, int(pick(rng, (0, 1, 1, 2))))
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
    venue = pick(rng, VENUES)
    count = int(pick(rng, (2, 3, 3, 4, 4, 5)))
    days = sorted(rng.choice(7, size=count, replace=False).tolist())
    kinds = list(rng.choice(list(ROW_TITLES), size=count, replace=False))
    venue_name = venue.name.upper() if rng.random() < 0.6 else venue.name
    heading = pick(rng, LINEUP_HEADINGS).replace("{VENUE}", venue.name.upper())
    day_style = int(pick(rng, (0, 1, 4) if narrow else (0, 1, 2, 3, 4)))
    sep = pick(rng, ("  ", " · ", " | ", "  "))

    items = [_Item(venue_name, "venue", 0, 1.0, "display"), _Item(heading, "heading", 1, 0.5)]
    shows = []
    for day, kind in zip(days, kinds):
        kind = str(kind)
        weekday = WEEKDAYS[day]
        when = _pick_when(rng, kind, reference, recurring=True, weekday=weekday)
        when.doors = False
        title = pick(rng, ROW_TITLES[kind])
        performer = None
        if not narrow and (kind == "dj" or rng.random() < 0.55):  # a narrow flyer has no room
            performer = pick(rng, PERFORMERS[kind])
        what = title
        if performer and kind == "live music" and rng.random() < 0.6:
            what += f": {performer}"
        elif performer:
            what += f" {pick(rng, ('w/', 'with'))} {performer}"
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


def hsv(h: float, s: float, v: float) -> RGB:
    """An RGB colour from hue (wrapping), saturation and value in 0..1."""
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


def text_color(rng: np.random.Generator, surfaces: list[RGB], *, minimum: float = 7.0) -> RGB:
    """A random colour that reads well (WCAG contrast >= minimum) on every surface colour."""
    light_surface = np.mean([_luminance(s) for s in surfaces]) > 0.18
    for _ in range(200):
        hue, sat = rng.random(), rng.uniform(0.0, 0.9)
        value = rng.uniform(0.0, 0.45) if light_surface else rng.uniform(0.88, 1.0)
        color = hsv(hue, sat if rng.random() < 0.7 else 0.0, value)
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


class _Painted(Protocol):
    """What the background and the shapes read of a style: both the sample set's and the wide set's have it."""

    background: tuple[RGB, RGB]
    gradient: str
    accents: list[RGB]


def _background(rng: np.random.Generator) -> tuple[RGB, RGB]:
    theme = pick(rng, ("dark", "dark", "light", "vivid"))
    hue = rng.random()
    shift = rng.uniform(-0.12, 0.12)
    if theme == "dark":
        s, v = rng.uniform(0.4, 0.95), rng.uniform(0.08, 0.28)
        return hsv(hue, s, v), hsv(hue + shift, s, rng.uniform(0.05, 0.3))
    if theme == "light":
        s, v = rng.uniform(0.03, 0.3), rng.uniform(0.9, 1.0)
        return hsv(hue, s, v), hsv(hue + shift, rng.uniform(0.03, 0.3), v)
    # vivid: a saturated mid-tone; keep only those white or black text can read on
    while True:
        s, v = rng.uniform(0.7, 1.0), rng.uniform(0.45, 0.75)
        pair = hsv(hue, s, v), hsv(hue + shift / 2, s, v * rng.uniform(0.85, 1.0))
        if max(min(_contrast(c, p) for p in pair) for c in ((0, 0, 0), (255, 255, 255))) >= 5.0:
            return pair
        hue = rng.random()


def _style(rng: np.random.Generator, layout: str, fonts: str) -> _Style:
    font_set = FONT_SETS[fonts]
    background = _background(rng)
    gradient = pick(rng, ("solid", "vertical", "diagonal", "radial"))
    panel = None
    surface = list(background)
    title_surface = surface
    if layout == "single-card":
        panel = hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.93, 1.0)) if rng.random() < 0.7 \
            else hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.06, 0.16))
        surface = title_surface = [panel]
    elif layout == "single-banner":
        panel = hsv(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.35, 0.9))
        title_surface = [panel]
    main = text_color(rng, surface)
    colors = {role: main for role in ("performer", "when", "venue", "address", "deco", "heading", "row")}
    colors["title"] = text_color(rng, title_surface)
    if rng.random() < 0.6:
        colors["venue"] = colors["heading"] = text_color(rng, surface)
    if rng.random() < 0.5:
        colors["when"] = text_color(rng, surface)
    dark_surface = np.mean([_luminance(s) for s in surface]) < 0.18
    shadow = (0, 0, 0) if dark_surface and rng.random() < 0.4 else None
    accents = [hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)) for _ in range(3)]
    return _Style(background, gradient, pick(rng, font_set["display"]), pick(rng, font_set["body"]),
                  colors, panel, shadow, accents, plain_roles=("title",) if layout == "single-banner" else ())


def _coarse_grid(size: tuple[int, int], step: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (ys, xs) of a grid one ``step`` apart: smooth fields are computed there, then
    resized to full size, which is much cheaper than per pixel and looks the same."""
    width, height = size
    ys = np.linspace(0, height, max(height // step, 2), dtype=np.float32)[:, None]
    xs = np.linspace(0, width, max(width // step, 2), dtype=np.float32)[None, :]
    return ys, xs


def _smooth_field(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(values.astype(np.float32), "F").resize(size, Image.Resampling.BILINEAR))


def _paint_background(size: tuple[int, int], style: _Painted, rng: np.random.Generator) -> Image.Image:
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
    return coarse.resize(size, Image.Resampling.BILINEAR)


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
    return load_font(style.display_font if item.font == "display" else style.body_font, max(px, 6))


def _row_cells(item: _Item) -> tuple[str, str, str]:
    assert item.cells is not None  # only line-up rows are set as columns, and every row has its cells
    return item.cells


def _row_columns(rows: list[_Item], style: _Style, px: int) -> tuple[list[float], float]:
    """Column widths (day, what, time) and the gap for the column layout of line-up rows."""
    font = _item_font(rows[0], style, px)
    widths = [max(font.getlength(_row_cells(r)[i]) for r in rows) for i in range(3)]
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
        day, what, time = _row_cells(p.item)
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
                 keep_clear: list[tuple[float, float, float, float]], style: _Painted) -> None:
    """Simple decorative shapes (circles, rings, stars, triangles, confetti) that never touch text."""
    width, height = size
    unit = min(width, height)
    wanted = int(rng.integers(3, 14))
    drawn = 0
    for _ in range(wanted * 30):
        if drawn >= wanted:
            break
        shape = pick(rng, ("circle", "ring", "star", "triangle", "confetti", "confetti"))
        r = unit * (rng.uniform(0.008, 0.02) if shape == "confetti" else rng.uniform(0.03, 0.12))
        cx, cy = rng.uniform(-0.05, 1.05) * width, rng.uniform(-0.05, 1.05) * height
        bbox = (cx - r, cy - r, cx + r, cy + r)
        if any(_overlaps(bbox, box) for box in keep_clear):
            continue
        color = pick(rng, style.accents)
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
                day, what, time = (cell.translate(_CM_SEPARATORS) for cell in item.cells)
                item.cells = (day, what, time)
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
    base = np.array(pick(rng, SURFACES), np.float32) * rng.uniform(0.9, 1.1)
    blotches = rng.normal(0, 10, (9, 12)).astype(np.float32)
    blotches = np.asarray(Image.fromarray(blotches, "F").resize((width // 8, height // 8), Image.Resampling.BICUBIC))
    surface = np.clip(base + blotches[..., None], 0, 255).astype(np.uint8)
    canvas = Image.fromarray(surface, "RGB").resize(clean.size, Image.Resampling.BILINEAR)

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
    warped = clean.transform(clean.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    mask = Image.new("L", clean.size, 0)
    ImageDraw.Draw(mask).polygon(dest, fill=255)
    small = (width // 4, height // 4)  # the shadow is soft: blur it small
    shadow = (mask.resize(small, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(1.5 * unit))
              .resize(clean.size))
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
    ``family="wide"`` draws ``wide_flyer(seed, ...)`` instead (``layout`` then one of WIDE_LAYOUTS).
    """
    if family == "wide":
        return wide_flyer(seed, reference_date=reference_date, layout=layout, photo=photo, fonts=fonts, size=size,
                          held_out=held_out)
    fonts = fonts or ("held_out" if held_out else "tuning")
    if fonts not in FONT_SETS:
        raise ValueError(f"fonts must be one of {sorted(FONT_SETS)}, not {fonts!r}")
    if layout is not None:
        if layout not in LAYOUTS + HELD_OUT_LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS + HELD_OUT_LAYOUTS}, not {layout!r}")
        family = "lineup" if layout in LINEUP_LAYOUTS + HELD_OUT_LINEUP_LAYOUTS else "single"
    if family not in (None, "single", "lineup"):
        raise ValueError(f"family must be 'single', 'lineup' or 'wide', not {family!r}")
    rng = np.random.default_rng(seed)
    family = family or ("lineup" if rng.random() < 0.3 else "single")
    if layout is None and held_out and rng.random() < 0.5:
        layout = pick(rng, HELD_OUT_LINEUP_LAYOUTS if family == "lineup" else HELD_OUT_SINGLE_LAYOUTS)
    layout = layout or pick(rng, LINEUP_LAYOUTS if family == "lineup" else SINGLE_LAYOUTS)
    if size is None:
        portrait = rng.random() < (0.4 if family == "lineup" else 0.6)
        size = pick(rng, PORTRAIT_SIZES if portrait else LANDSCAPE_SIZES)
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
                 photo=photo, boxes=boxes, roles=[p.item.role for p in placed], template=layout, held_out=held_out)


# ---------------------------------------------------------------------------------------------------
# Wide generator (issue 14): wording. The tuning and the held-out split share no entry, so a parser tuned
# on WIDE tuning flyers meets new venue names, streets, cities, titles, hosts and small print when it is
# measured on held-out ones.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    """The wording of one split of the wide generator."""

    venue_adjectives: tuple[str, ...]
    venue_nouns: tuple[str, ...]
    venue_types: tuple[str, ...]
    venue_owners: tuple[str, ...]  # "Rosie's" + a venue type
    street_names: tuple[str, ...]  # "Broadway" takes no street type
    street_types: tuple[str, ...]
    units: tuple[str, ...]
    cities: tuple[tuple[str, str, str], ...]  # city, state, a ZIP code of that city
    titles: dict[str, tuple[str, ...]]  # per kind; "{Weekday}" is the show's weekday
    tour_titles: dict[str, tuple[str, ...]]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    dj_names: tuple[str, ...]  # after "DJ "
    companies: dict[str, tuple[str, ...]]  # hosts that are a company (trivia, karaoke, bingo)
    band_words: tuple[tuple[str, ...], tuple[str, ...]]  # "The" + adjective + plural noun
    drag_names: tuple[str, ...]
    drinks: tuple[str, ...]
    notes: tuple[str, ...]  # house rules and small print
    sponsors: tuple[str, ...]
    lineup_headings: tuple[str, ...]
    guide_headings: tuple[str, ...]  # a line-up of several venues ("lineup-venues")
    tour_headings: tuple[str, ...]
    captions: tuple[str, ...]
    group_names: tuple[str, ...]  # "{City}" is the flyer's city
    comments: tuple[str, ...]
    separators: tuple[str, ...]  # between day, venue and time in a row
    weekly_forms: tuple[str, ...]  # "{Weekday}" / "{Wd}" / "{WEEKDAY}"
    area_codes: tuple[str, ...]


_TUNING_WORDS = _Words(
    venue_adjectives=("Copper", "Salty", "Crooked", "Lucky", "Golden", "Silver", "Thirsty", "Howling", "Dapper",
                      "Hidden", "Lazy", "Jolly", "Little", "Black", "Iron", "Stone", "Rusty", "Drowsy"),
    venue_nouns=("Fox", "Walrus", "Pelican", "Badger", "Raven", "Mule", "Otter", "Heron", "Bison", "Lantern",
                 "Barrel", "Anvil", "Compass", "Saddle", "Acorn", "Thistle", "Hound", "Falcon", "Trout", "Goat"),
    venue_types=("Tavern", "Pub", "Taproom", "Bar & Grill", "Saloon", "Lounge", "Brewing Co.", "Ale House",
                 "Social Club", "Bar"),
    venue_owners=("Murphy's", "Rosie's", "Big Al's", "Sully's", "Dot's", "Frankie's", "Nell's"),
    street_names=("Main", "Oak", "Maple", "Pine", "Cedar", "Market", "Commerce", "Washington", "Lincoln",
                  "Jefferson", "Park", "Lake", "Hill", "River", "Church", "Mill", "Spring", "Chestnut", "Walnut",
                  "1st", "2nd", "3rd", "5th", "7th", "12th", "Broadway"),
    street_types=("St", "St", "Ave", "Ave", "Blvd", "Rd", "Dr", "Street", "Avenue", "Ln", "Pkwy"),
    units=("Ste 3", "#104", "Suite 110"),
    cities=(("Springfield", "MO", "65806"), ("Tulsa", "OK", "74103"), ("Lawrence", "KS", "66044"),
            ("Spokane", "WA", "99201"), ("Fresno", "CA", "93721"), ("Lexington", "KY", "40507"),
            ("Chattanooga", "TN", "37402"), ("Greenville", "SC", "29601"), ("Eugene", "OR", "97401"),
            ("Missoula", "MT", "59802"), ("Duluth", "MN", "55802"), ("Ann Arbor", "MI", "48104"),
            ("Akron", "OH", "44308"), ("Kalamazoo", "MI", "49007"), ("Ames", "IA", "50010"),
            ("Birmingham", "AL", "35203"), ("Baton Rouge", "LA", "70802"), ("Iowa City", "IA", "52240"),
            ("Fargo", "ND", "58102"), ("Flagstaff", "AZ", "86001"), ("Athens", "GA", "30601"),
            ("Provo", "UT", "84601"), ("Portsmouth", "NH", "03801"), ("Providence", "RI", "02903"),
            ("New Haven", "CT", "06510"), ("Albany", "NY", "12207"), ("Roanoke", "VA", "24011"),
            ("Raleigh", "NC", "27601"), ("Tallahassee", "FL", "32301"), ("Macon", "GA", "31201")),
    titles={
        "karaoke": ("Karaoke Night", "Karaoke Madness", "Mic Drop Karaoke", "Superstar Karaoke", "Karaoke Jam",
                    "{Weekday} Karaoke"),
        "trivia": ("Trivia Night", "Pub Trivia", "Quiz Night", "Brain Games", "Trivia Throwdown", "Music Trivia",
                   "{Weekday} Trivia"),
        "live music": ("Live Music", "Live Band Night", "Blues Night", "Jazz Night", "Acoustic Night",
                       "Rock & Roll Night", "Country Night"),
        "comedy": ("Comedy Night", "Stand-Up Night", "Comedy Showcase", "Laugh Night", "Improv Night"),
        "open mic": ("Open Mic", "Open Mic Night", "Open Mic & Jam", "Unplugged Open Mic"),
        "dj": ("Dance Party", "DJ Night", "Retro Dance Party", "Glow Party", "Salsa Night"),
        "bingo": ("Bingo Night", "Drag Bingo", "Music Bingo", "Bingo Bonanza"),
        "other": ("Game Night", "Pool Tournament", "Darts Night", "Cornhole League", "Paint Night"),
    },
    tour_titles={
        "karaoke": ("Karaoke Crawl", "Karaoke on the Go"),
        "trivia": ("Trivia Tour", "Quiz Crawl"),
        "live music": ("Hometown Tour", "Live Across Town"),
        "comedy": ("Comedy Tour", "Laughs on the Road"),
        "dj": ("Dance Tour", "Bass Tour"),
        "bingo": ("Bingo Tour",),
        "open mic": ("Open Mic Tour",),
        "other": ("League Night Tour",),
    },
    first_names=("Jake", "Maria", "Dev", "Kelsey", "Marcus", "Tina", "Rob", "Alana", "Chris", "Nadia", "Omar",
                 "Becca", "Luis", "Hannah"),
    last_names=("Holloway", "Reyes", "Patel", "Brennan", "Okafor", "Lindqvist", "Ferreira", "Thornton",
                "Whitfield", "Nakamura", "Garza", "Pruitt"),
    dj_names=("Pulse", "Nimbus", "Voltage", "Spinz", "Lux", "Rampage", "Maestro", "Flash"),
    companies={
        "trivia": ("Smarty Pants Trivia", "Brainstorm Trivia", "Quiz Wizards", "Trivia Titans", "Big Brain Quiz Co."),
        "karaoke": ("Mic Check Karaoke", "Star Search Karaoke Co."),
        "bingo": ("Bingo Buddies",),
    },
    band_words=(("Electric", "Restless", "Faded", "Lonesome", "Dusty", "Rolling", "Neon"),
                ("Ravens", "Sparks", "Drifters", "Outlaws", "Satellites", "Strangers", "Wolves", "Pilots")),
    drag_names=("Miss Tiara Sparkle", "Lady Glitterbomb", "Auntie Sequin"),
    drinks=("$5 WELLS", "$3 domestic drafts", "$4 shots", "$6 house margaritas", "2-for-1 wells", "$2 off craft pints",
            "$10 pitchers", "$1 tacos"),
    notes=("21+", "21 & over", "No cover", "Free entry", "Free to play", "All ages", "Teams up to 6",
           "Prizes for top 3 teams", "Food & drink specials", "Reservations recommended"),
    sponsors=("Hoppy Trails Brewing", "Northstar Cider", "Lone Pine Distillery", "Sunburst Seltzer"),
    lineup_headings=("THIS WEEK", "WEEKLY LINEUP", "EVERY WEEK", "What's On", "WEEKLY EVENTS"),
    guide_headings=("THIS WEEK AROUND TOWN", "Where to Go This Week", "NIGHTLIFE GUIDE", "Out & About"),
    tour_headings=("CATCH US AT", "THIS WEEK'S STOPS", "FIND US HERE", "Locations"),
    captions=("Who's in?? Tag your crew!", "Come hang out with us!", "This is going to be a good one.",
              "Bring your friends!", "Save the date!", "Don't miss it!", "Come early for a good seat."),
    group_names=("{City} Nightlife", "{City} Events & Happenings", "Things To Do in {City}"),
    comments=("Count me in!", "We'll be there!", "So fun last time", "Who's going?"),
    separators=(" · ", " | ", " - ", " • ", " / "),
    weekly_forms=("Every {Weekday}", "{Weekday}s", "{WEEKDAY}S", "Every {Wd}", "{Weekday} Nights"),
    area_codes=("417", "918", "402", "509", "559", "859", "423", "864", "541"),
)

_HELD_OUT_WORDS = _Words(
    venue_adjectives=("Rowdy", "Sleepy", "Brass", "Northern", "Gentle", "Stubborn", "Painted", "Burly", "Merry",
                      "Hollow", "Twisted", "Humble", "Scarlet", "Wobbly"),
    venue_nouns=("Moose", "Beaver", "Magpie", "Tortoise", "Coyote", "Porcupine", "Sparrow", "Lobster", "Yak",
                 "Penguin", "Cricket", "Mallard", "Stag", "Tugboat", "Windmill"),
    venue_types=("Beer Garden", "Icehouse", "Cantina", "Roadhouse", "Public House", "Tap & Kitchen", "Brewpub",
                 "Music Hall"),
    venue_owners=("Gus's", "Maggie's", "Duffy's", "Lou's", "Hattie's"),
    street_names=("Magnolia", "Sycamore", "Poplar", "Willow", "Canal", "Depot", "Railroad", "Franklin", "Madison",
                  "Monroe", "Grant", "Center", "Academy", "Orchard", "Laurel", "4th", "6th", "9th", "14th", "21st"),
    street_types=("St", "Ave", "Way", "Ct", "Pl", "Hwy", "Road", "Boulevard", "Pike", "Drive"),
    units=("Suite 200", "Unit B"),
    cities=(("Bend", "OR", "97701"), ("Olympia", "WA", "98501"), ("Sacramento", "CA", "95814"),
            ("Las Cruces", "NM", "88001"), ("El Paso", "TX", "79901"), ("San Antonio", "TX", "78205"),
            ("Lubbock", "TX", "79401"), ("Joplin", "MO", "64801"), ("Rapid City", "SD", "57701"),
            ("Bismarck", "ND", "58501"), ("Rochester", "MN", "55902"), ("Green Bay", "WI", "54301"),
            ("Peoria", "IL", "61602"), ("Fort Wayne", "IN", "46802"), ("Dubuque", "IA", "52001"),
            ("Terre Haute", "IN", "47807"), ("Waco", "TX", "76701"), ("Oshkosh", "WI", "54901"),
            ("Lynchburg", "VA", "24504"), ("Frederick", "MD", "21701"), ("Lancaster", "PA", "17602"),
            ("Syracuse", "NY", "13202"), ("Worcester", "MA", "01608"), ("Bangor", "ME", "04401"),
            ("Anchorage", "AK", "99501"), ("Mobile", "AL", "36602"), ("Salt Lake City", "UT", "84101")),
    titles={
        "karaoke": ("Karaoke Takeover", "Sing Your Heart Out", "Karaoke Royale", "Late Night Karaoke",
                    "Big Mic Karaoke"),
        "trivia": ("Bar Quiz", "Think Tank Trivia", "Trivia Showdown", "Know It All Quiz", "Movie Trivia"),
        "live music": ("Songwriter Showcase", "Funk Night", "Soul Revue", "Americana Night", "Swing Night"),
        "comedy": ("Comedy Jam", "Punchline Live", "The Comedy Hour", "Roast Battle", "Laughs on Tap"),
        "open mic": ("Open Stage", "Poetry Slam", "Open Jam Night", "Mic Night"),
        "dj": ("Disco Inferno", "Disco Fever", "Neon Nights", "2000s Dance Party", "Vinyl Night"),
        "bingo": ("Bingo Blast", "Bad Bingo", "Bingo & Brews", "Bingo Loco"),
        "other": ("Chess Club", "Axe Throwing Night", "Board Game Bash", "Craft Night"),
    },
    tour_titles={
        "karaoke": ("Karaoke Roadshow",),
        "trivia": ("Quiz Circuit", "The Trivia Trail"),
        "live music": ("Spring Tour", "Back Roads Tour"),
        "comedy": ("The Punchline Tour", "Stand-Up Across Town"),
        "dj": ("Night Moves Tour",),
        "bingo": ("Bingo Circuit",),
        "open mic": ("Open Stage Tour",),
        "other": ("Game Night Circuit",),
    },
    first_names=("Wendell", "Imani", "Teddy", "Rosa", "Hector", "Priscilla", "Benji", "Farah", "Quinn", "Lucille"),
    last_names=("Okonkwo", "Vasquez", "Lindgren", "Drummond", "Achebe", "Fairweather", "Ito", "Mendez",
                "Sorensen", "Blackwood"),
    dj_names=("Static", "Vibez", "Blackout", "Groove", "Tempo", "Karma"),
    companies={
        "trivia": ("Nerd Herd Trivia", "Brain Trust Quiz", "Sharp Minds Trivia", "The Quiz Bus", "Noggin Trivia"),
        "karaoke": ("Loud Mouth Karaoke",),
        "bingo": ("Blackout Bingo Co.",),
    },
    band_words=(("Cosmic", "Savage", "Gilded", "Crimson", "Stray", "Wandering"),
                ("Mavericks", "Comets", "Hummingbirds", "Vandals", "Cowboys", "Echoes")),
    drag_names=("Madame Rhinestone", "Dolly Disco", "Miss Candi Apple"),
    drinks=("$4 well drinks", "$5 mimosas", "$7 pint + shot", "$3 tallboys", "$8 cocktail of the month",
            "Half-price wings", "$12 buckets"),
    notes=("18+ w/ ID", "Free admission", "No cover charge", "Everyone welcome", "Max 5 per team",
           "Cash prizes", "Kitchen open late", "Walk-ins welcome"),
    sponsors=("Red Barn Brewing", "Two Rivers Spirits", "Blue Heron Seltzer"),
    lineup_headings=("ON TAP THIS WEEK", "The Weekly Rundown", "OUR WEEK", "Coming Up"),
    guide_headings=("YOUR WEEK OUT", "Best Bets This Week", "AROUND THE CITY"),
    tour_headings=("WHERE TO FIND US", "ON THE ROAD", "Stops"),
    captions=("You coming? Let us know below!", "Best night of the week, hands down.", "Spread the word!",
              "Cannot wait for this one!", "Who wants to team up?"),
    group_names=("{City} Bar Scene", "What's Happening {City}"),
    comments=("Yesss", "See you there", "Saving a seat for you"),
    separators=(" · ", " | ", " - ", " • ", " / ", " — ", " ~ "),
    weekly_forms=("Each {Weekday}", "Weekly on {Weekday}s", "Every week on {Wd}", "{WEEKDAY} NIGHTS"),
    area_codes=("541", "360", "916", "575", "915", "210", "806", "785"),
)


# ---------------------------------------------------------------------------------------------------
# Wide generator: content (text lines and truth)
# ---------------------------------------------------------------------------------------------------

# Groups of the wide generator: Flyer.layout, for per-layout reporting.
WIDE_LAYOUTS = ("single-dated", "single-weekly", "lineup", "lineup-venues", "tour", "series", "range",
                "two-shows", "social")
# Templates (how the lines are drawn): WIDE_TEMPLATES for tuning; HELD_OUT_WIDE_TEMPLATES only with held_out.
WIDE_TEMPLATES = ("stack", "leftbar", "band", "card")
HELD_OUT_WIDE_TEMPLATES = ("halves", "boxed")
SOCIAL_FRAMES = ("phone",)
HELD_OUT_SOCIAL_FRAMES = ("desktop",)
# What each drawn line is (Flyer.roles), for a labeller: "row" holds several fields of a line-up or tour row,
# "deco" is small print that is no show (prices, phone numbers, URLs, rules, sponsors), "frame" the social
# post around a flyer (app chrome, caption, hashtags, timestamp, reactions).
LINE_ROLES = ("title", "performer", "when", "venue", "address", "row", "heading", "deco", "frame")
TITLE_EFFECTS = ("plain", "plain", "shadow", "stroke", "outline", "extrude")

SQUARE_SIZES = ((1080, 1080), (1200, 1200), (1500, 1500))
PHONE_SIZES = ((1080, 1440), (1125, 1500), (1170, 1560), (1242, 1656))
DESKTOP_SIZES = ((1920, 1080), (1800, 1000), (2048, 1152))
_WIDE_STREAM = 14  # mixed into the seed: a wide flyer's random stream is not an old flyer's


@dataclass(frozen=True)
class _Place:
    name: str
    street: str
    city: str
    state: str
    zip: str | None  # not every flyer prints one

    @property
    def address(self) -> str:
        return f"{self.street}, {self.city_line}"

    @property
    def city_line(self) -> str:
        return f"{self.city}, {self.state}" + (f" {self.zip}" if self.zip else "")

    @property
    def slug(self) -> str:
        words = [w for w in self.name.replace("&", "and").split() if w.lower() != "the"]
        return "".join(c for c in "".join(words).lower() if c.isalnum())

    def fields(self, printed_name: str) -> dict:
        return dict(venue=printed_name, address=self.address, street=self.street, city=self.city,
                    state=self.state, zip=self.zip)


@dataclass
class _WItem:
    """One text line of a wide flyer."""

    text: str
    role: str  # one of LINE_ROLES
    group: int  # lines of one group sit close together
    rel: float = 0.42  # size relative to the title
    font: str = "body"  # display | body | ui | ui-bold
    effect: str = "plain"  # one of TITLE_EFFECTS
    wrap: str | None = None  # how a line too long for the width may break: address | sep | words
    optional: bool = False  # small print dropped first when the flyer runs out of room
    region: str = "main"  # head: the title block (a band or panel in some templates)
    color: str | None = None  # a colour of the style other than the role's ("title2": a title's second colour)
    same: str | None = None  # lines sharing a key share one size (the rows of a line-up)
    cells: tuple[str, ...] | None = None  # a row's cells, for templates that set rows as columns


@dataclass
class _WContent:
    items: list[_WItem]
    shows: list[dict]


@dataclass
class _Ctx:
    """What every wide content builder needs: the random stream, the split's words and the room."""

    rng: np.random.Generator
    words: _Words
    reference: dt.date
    held_out: bool
    room: float  # about how many body lines fit, at the minimum size
    narrow: bool  # portrait: little width per line
    grid: bool = False  # landscape: rows of a tour or guide stand side by side (see _grid_columns)

    def pick(self, seq):
        return pick(self.rng, seq)

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


_WIDE_KINDS = ("karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other",
               "karaoke", "trivia", "live music")


def _wide_place(ctx: _Ctx, *, city: tuple[str, str, str] | None = None, taken: Set[str] = frozenset()) -> _Place:
    w = ctx.words
    while True:
        form = int(ctx.rng.integers(5))
        adj, noun, kind = ctx.pick(w.venue_adjectives), ctx.pick(w.venue_nouns), ctx.pick(w.venue_types)
        if form == 0:
            name = f"The {adj} {noun}"
        elif form == 1:
            name = f"{adj} {noun} {kind}"
        elif form == 2:
            name = f"{ctx.pick(w.venue_owners)} {kind}"
        elif form == 3:
            other = ctx.pick([n for n in w.venue_nouns if n != noun])
            name = f"The {noun} & {other}"
        else:
            name = f"{noun} {kind}"
        if name not in taken:
            break
    digits = int(pick(ctx.rng, (1, 2, 3, 3, 4, 4)))
    number = str(int(ctx.rng.integers(10 ** (digits - 1), 10**digits)))
    street_name = ctx.pick(w.street_names)
    if street_name == "Broadway":
        street = f"{number} {street_name}"
    else:
        direction = ctx.pick(("", "", "", "N ", "S ", "E ", "W "))
        street = f"{number} {direction}{street_name} {ctx.pick(w.street_types)}"
    if ctx.chance(0.08):
        street += f" {ctx.pick(w.units)}"
    city_name, state, zip_code = city or ctx.pick(w.cities)
    return _Place(name, street, city_name, state, None if ctx.chance(0.08) else zip_code)


def _person(ctx: _Ctx) -> str:
    return f"{ctx.pick(ctx.words.first_names)} {ctx.pick(ctx.words.last_names)}"


def _billed(ctx: _Ctx, kind: str) -> tuple[str, bool]:
    """A performer or host for ``kind`` and whether the name alone says what it is (a band, a DJ, a company)."""
    w = ctx.words
    roll = ctx.rng.random()
    if kind in w.companies and roll < 0.4:
        return ctx.pick(w.companies[kind]), True
    if kind == "dj" or (kind == "karaoke" and roll < 0.6):
        return f"{ctx.pick(('DJ', 'DJ', 'KJ') if kind == 'karaoke' else ('DJ',))} {ctx.pick(w.dj_names)}", True
    if kind == "live music":
        if roll < 0.6:
            return f"The {ctx.pick(w.band_words[0])} {ctx.pick(w.band_words[1])}", True
        return f"{_person(ctx)}{ctx.pick(('', ' Trio', ' Band'))}", roll > 0.8
    if kind == "bingo" and roll < 0.6:
        return ctx.pick(w.drag_names), False
    if kind == "trivia" and roll < 0.6:
        return f"Quizmaster {ctx.pick(w.first_names)}", True
    return _person(ctx), False


_PERFORMER_PREFIXES = ("with", "hosted by", "featuring", "feat.", "w/", "presented by")


def _billing_line(ctx: _Ctx, kind: str, name: str, self_describing: bool) -> tuple[str, str]:
    """The printed performer line and the name as printed in it."""
    prefixes = {"live music": ("with", "featuring", "feat.", ""), "comedy": ("featuring", "starring", "with"),
                "dj": ("with", "", "featuring")}.get(kind, ("hosted by", "with", "w/", "presented by"))
    worded = [p for p in prefixes if p != "starring" or ctx.held_out]  # "starring": held-out wording only
    prefix = ctx.pick([p for p in worded if p or self_describing] or ["with"])
    if prefix and ctx.chance(0.3):
        prefix = prefix[0].upper() + prefix[1:]
    line = f"{prefix} {name}".strip()
    if ctx.chance(0.3):
        return line.upper(), name.upper()
    return line, name


def _wide_title(ctx: _Ctx, kind: str, weekday: str | None, *, tour: bool = False) -> str:
    pool = ctx.words.tour_titles[kind] + ctx.words.titles[kind] if tour else ctx.words.titles[kind]
    options = [t for t in pool if "{Weekday}" not in t or weekday]
    title = ctx.pick(options).replace("{Weekday}", weekday or "")
    return title.upper() if ctx.chance(0.55) else title


def _title_items(ctx: _Ctx, title: str, *, group: int = 0, region: str = "head") -> list[_WItem]:
    """The title as one to three lines of display type: split at words ("QUIZ" / "NIGHT"), at times in two
    sizes or two colours, with one decorative effect (shadow, stroke, outline, extrusion)."""
    words = title.split()
    lines = [title]
    breaks = [k for k in range(1, len(words)) if words[k - 1] != "&" and words[k] != "&"]
    if breaks and ctx.chance(0.6):
        if len(breaks) >= 2 and ctx.chance(0.25):
            a, b = breaks[0], breaks[-1]
            lines = [" ".join(words[:a]), " ".join(words[a:b]), " ".join(words[b:])]
        else:
            k = min(breaks, key=lambda k: abs(len(" ".join(words[:k])) - len(" ".join(words[k:]))))
            lines = [" ".join(words[:k]), " ".join(words[k:])]
    effect = ctx.pick(TITLE_EFFECTS)
    rels = [1.0] * len(lines)
    if len(lines) > 1 and ctx.chance(0.4):  # mixed sizes: the shortest line smaller ("THE" / "COMEDY" / "HOUR")
        small = min(range(len(lines)), key=lambda i: len(lines[i]))
        rels[small] = float(ctx.pick((0.5, 0.6, 0.7)))
    two_colours = len(lines) > 1 and ctx.chance(0.4)
    return [_WItem(line, "title", group, rel, "display", effect, wrap="words", region=region,
                   color="title2" if two_colours and i % 2 else None) for i, (line, rel) in enumerate(zip(lines, rels))]


def _mon(month: str, *, dot: bool = False) -> str:
    return month[:3] + ("." if dot and len(month) > 3 else "")


def _date_text(ctx: _Ctx, date: dt.date, *, form: int | None = None, year: bool = False) -> str:
    """A date as flyers print it, with its weekday most of the time."""
    wd, month = WEEKDAYS[date.weekday()], MONTHS[date.month - 1]
    d = date.day
    forms = [f"{wd}, {month} {d}", f"{wd[:3]}, {_mon(month)} {d}", f"{wd[:3].upper()} {date.month}/{d}",
             f"{wd[:3]} {_mon(month, dot=True)} {ordinal(d)}", f"{wd.upper()} {month.upper()} {d}",
             f"{month} {ordinal(d)}", f"{wd} {date.month}/{d}"]
    if ctx.held_out:
        forms += [f"{_mon(month, dot=True)} {d} ({wd[:3]})", f"{wd[:3].upper()} {_mon(month).upper()} {d:02d}",
                  f"{wd} the {ordinal(d)} of {month}"]
    text = forms[form % len(forms)] if form is not None else ctx.pick(forms)
    if year and "/" not in text and "(" not in text:
        text += f", {date.year}"
    return text


def _weekday_text(weekday: str, *, form: int) -> str:
    return (weekday, weekday[:3].upper(), f"{weekday}s", weekday.upper(), weekday[:3], f"{weekday.upper()}S")[form % 6]


def _wide_time(ctx: _Ctx, when: _When, *, compact: bool = False) -> str:
    if not when.doors and when.end is None and ctx.chance(0.15):  # "8:00 PM": minutes printed though zero
        hours, mins = divmod(when.start % 1440, 60)
        return f"{hours % 12 or 12}:{mins:02d} {'AM' if hours < 12 else 'PM'}"
    return _time_text(ctx.rng, when, compact=compact)


def _tag(kind: str) -> str:
    return "gamenight" if kind == "other" else kind.replace(" ", "") + "night"


def _deco_texts(ctx: _Ctx, kind: str, place: _Place, count: int) -> list[str]:
    """Small print that is no show: drink prices, phone numbers, URLs, rules, reservations, sponsors."""
    w = ctx.words
    chosen: list[str] = []
    for _ in range(count * 6):
        if len(chosen) >= count:
            break
        what = int(ctx.rng.integers(8))
        if what == 0:
            text = ctx.pick(w.drinks)
            if ctx.chance(0.4):
                text = f"{text} {ctx.pick(('·', '|', '&'))} {ctx.pick(w.drinks)}"
        elif what == 1:
            text = ctx.pick(w.notes)
        elif what in (2, 3):
            area, line = ctx.pick(w.area_codes), int(ctx.rng.integers(100, 200))
            phone = ctx.pick((f"({area}) 555-0{line}", f"{area}-555-0{line}", f"{area}.555.0{line}"))
            text = ctx.pick((phone, f"Call {phone}", f"Reservations: {phone}", f"Book a table: {phone}",
                             f"Info {phone}"))
        elif what == 4:
            text = ctx.pick((f"www.{place.slug}.com", f"{place.slug}.com", f"facebook.com/{place.slug}",
                             f"IG @{place.slug}", f"@{place.slug}"))
        elif what == 5:
            text = f"{ctx.pick(('Sponsored by', 'Prizes courtesy of', 'Thanks to'))} {ctx.pick(w.sponsors)}"
        elif what == 6:
            text = ctx.pick(("Happy hour specials", "Drink specials all night", "Kitchen open late",
                             "Bring your friends!", "Prizes!"))
        else:
            text = f"#{_tag(kind)} #{place.city.replace(' ', '').lower()}"
        first = re.sub(r"\W", "", text.split()[0].lower())
        if text not in chosen and not any(first == re.sub(r"\W", "", c.split()[0].lower()) for c in chosen):
            chosen.append(text)
    return chosen


def _deco_items(ctx: _Ctx, kind: str, place: _Place, group: int, count: int) -> list[_WItem]:
    return [_WItem(text, "deco", group, 0.32, wrap="sep", optional=True)
            for text in _deco_texts(ctx, kind, place, count)]


def _address_lines(ctx: _Ctx, place: _Place, *, two: bool) -> list[str]:
    city_line = place.city_line
    if ctx.held_out and ctx.chance(0.3):  # "Bend OR 97701": no comma
        city_line = city_line.replace(",", "")
    if two:
        return [place.street, city_line]
    return [f"{place.street}{ctx.pick((', ', ', ', ' · ') if ctx.held_out else (', ',))}{city_line}"]


def _place_items(ctx: _Ctx, place: _Place, group: int, *, two: bool | None = None,
                   same: str | None = None) -> list[_WItem]:
    two = ctx.narrow or ctx.chance(0.35) if two is None else two
    return [_WItem(text, "address", group, 0.34, wrap="address", same=same)
            for text in _address_lines(ctx, place, two=two)]


def _venue_item(ctx: _Ctx, name: str, group: int, *, prefix: bool = True) -> _WItem:
    text = name
    if prefix and ctx.chance(0.2):
        at = ctx.pick(("at", "@", "Live at"))
        text = f"{at.upper() if name.isupper() else at} {name}"
    return _WItem(text, "venue", group, 0.5, "display" if ctx.chance(0.5) else "body", wrap="words")


def _printed_name(ctx: _Ctx, name: str, p_upper: float = 0.35) -> str:
    return name.upper() if ctx.chance(p_upper) else name


def _show(kind: str, title: str, performer: str | None, place: _Place, venue: str, date: dt.date | None,
          weekday: str, start: int, end: int | None) -> dict:
    return _truth(title=title, kind=kind, performer=performer, **place.fields(venue),
                  date=date.isoformat() if date else None, weekday=weekday,
                  recurrence=None if date else "weekly", start_time=_hhmm(start), end_time=_hhmm(end))


def _weekly_lines(ctx: _Ctx, weekday: str, time: str) -> list[str]:
    form = ctx.pick(ctx.words.weekly_forms)
    day = form.replace("{Weekday}", weekday).replace("{WEEKDAY}", weekday.upper()).replace("{Wd}", weekday[:3])
    if ctx.chance(0.4):
        return [day, time]
    return [f"{day}{ctx.pick(ctx.words.separators)}{time}" if ctx.chance(0.7) else f"{day} {time}"]


def _head(ctx: _Ctx, kind: str, title: str, performer: tuple[str, bool] | None) -> tuple[list[_WItem], str | None]:
    """Title lines and the performer line under them; returns the items and the performer as printed."""
    items = _title_items(ctx, title)
    printed = None
    if performer:
        line, printed = _billing_line(ctx, kind, *performer)
        items.append(_WItem(line, "performer", 0, 0.5, "display" if ctx.chance(0.3) else "body", region="head",
                            wrap="words"))
    return items, printed


def _single(ctx: _Ctx, *, dated: bool, compact: bool = False) -> _WContent:
    kind = ctx.pick(_WIDE_KINDS)
    place = _wide_place(ctx)
    when = _pick_when(ctx.rng, kind, ctx.reference, recurring=not dated)
    title = _wide_title(ctx, kind, when.weekday)
    billed = _billed(ctx, kind) if kind == "dj" or ctx.chance(0.7) else None
    items, performer = _head(ctx, kind, title, billed)
    if dated:
        assert when.date is not None  # picked with recurring=False
        date_text = _date_text(ctx, when.date, year=ctx.chance(0.15))
        time = _wide_time(ctx, when)
        if ctx.chance(0.5) and not when.doors:
            when_lines = [f"{date_text}{ctx.pick(ctx.words.separators)}{time}"]
        else:
            when_lines = [date_text, time]
    else:
        when_lines = _weekly_lines(ctx, when.weekday, _wide_time(ctx, when))
    items += [_WItem(text, "when", 1, 0.46, "display" if ctx.chance(0.3) else "body", wrap="sep")
              for text in when_lines]
    venue = _printed_name(ctx, place.name)
    items.append(_venue_item(ctx, venue, 2))
    items += _place_items(ctx, place, 2)
    items += _deco_items(ctx, kind, place, 3, int(ctx.pick((0, 1, 2) if compact else (1, 2, 2, 3))))
    return _WContent(items, [_show(kind, title, performer, place, venue, when.date, when.weekday, when.start,
                                   when.end)])


def _two_shows(ctx: _Ctx, *, compact: bool = False) -> _WContent:
    """Two shows one night: "7PM & 9:30PM SHOWS", "Early show 7 · Late show 9:30"."""
    kind = ctx.pick(("comedy", "comedy", "live music", "live music", "other"))
    place = _wide_place(ctx)
    first = int(ctx.pick((1080, 1110, 1140, 1170, 1200)))
    second = first + int(ctx.pick((120, 150, 180)))
    dated = ctx.chance(0.85)
    when = _pick_when(ctx.rng, kind, ctx.reference, recurring=not dated)
    title = _wide_title(ctx, kind, when.weekday)
    billed = _billed(ctx, kind) if ctx.chance(0.8) else None
    items, performer = _head(ctx, kind, title, billed)
    suffix = ctx.pick(("PM", "pm", " PM"))
    a, b = _clock(first, suffix), _clock(second, suffix)
    bare = _clock(first, suffix, meridiem=False)
    forms = [f"{a} & {b} SHOWS", f"Shows at {bare} & {b}",
             f"Early show {a}{ctx.pick(ctx.words.separators)}Late show {b}", f"Two shows: {a} and {b}", f"{a} + {b}"]
    times = ctx.pick(forms)
    # when.date is set exactly when the shows are dated (picked with recurring=not dated)
    day = _date_text(ctx, when.date) if when.date is not None else ctx.pick(("Every ", "")) + f"{when.weekday}s"
    if day.startswith("Every ") and day.endswith("s"):
        day = day[:-1]
    items += [_WItem(day, "when", 1, 0.46, wrap="sep"), _WItem(times, "when", 1, 0.46, wrap="sep")]
    venue = _printed_name(ctx, place.name)
    items.append(_venue_item(ctx, venue, 2))
    items += _place_items(ctx, place, 2)
    items += _deco_items(ctx, kind, place, 3, int(ctx.pick((0, 1) if compact else (1, 2, 2))))
    shows = [_show(kind, title, performer, place, venue, when.date, when.weekday, start, None)
             for start in (first, second)]
    return _WContent(items, shows)


def _series_dates(ctx: _Ctx) -> tuple[list[dt.date], list[str]]:
    """Dates of one show and how they are printed: a list ("Jan 9, 16 & 23"), a month phrase ("every Friday in
    January": every such date of that month), or one date per line."""
    weekday = int(ctx.rng.integers(7))
    form = int(ctx.pick((0, 0, 1, 2, 2)))
    if form == 1:
        first_of_month = (ctx.reference.replace(day=1) + dt.timedelta(days=32 * int(ctx.pick((1, 2))))).replace(day=1)
        dates = [first_of_month + dt.timedelta(days=i) for i in range(31)]
        dates = [d for d in dates if d.month == first_of_month.month and d.weekday() == weekday]
        wd, month = WEEKDAYS[weekday], MONTHS[first_of_month.month - 1]
        text = ctx.pick((f"Every {wd} in {month}", f"Every {wd.upper()} in {month.upper()}", f"{wd}s in {month}",
                         f"All {month}, every {wd}") if not ctx.held_out else
                        (f"Every {wd} in {month}", f"{wd}s all through {month}", f"Each {wd} of {month}"))
        return dates, [text]
    start = ctx.reference + dt.timedelta(days=int(ctx.rng.integers(2, 40)))
    start += dt.timedelta(days=(weekday - start.weekday()) % 7)
    count = int(ctx.pick((2, 3, 3, 4)))
    dates = [start + dt.timedelta(days=7 * i) for i in range(count)]
    if ctx.chance(0.2):  # not always weekly: "Jan 9, 14 & 27"
        gaps = [int(ctx.rng.integers(2, 13)) for _ in range(count - 1)]
        dates = [start + dt.timedelta(days=sum(gaps[:i])) for i in range(count)]
    if form == 2:
        style = int(ctx.rng.integers(7))
        return dates, [_date_text(ctx, d, form=style) for d in dates]
    same_month = len({d.month for d in dates}) == 1
    joiner = ctx.pick((", ", ", ", " · ", " / ") if ctx.held_out else (", ", ", ", " · "))
    last_joiner = ctx.pick((" & ", joiner, " and "))
    if same_month:
        mon = ctx.pick((_mon(MONTHS[dates[0].month - 1]), MONTHS[dates[0].month - 1]))
        days = [str(d.day) for d in dates]
        text = f"{mon} {joiner.join(days[:-1])}{last_joiner}{days[-1]}"
    else:
        parts = [f"{_mon(MONTHS[d.month - 1])} {d.day}" for d in dates]
        text = f"{joiner.join(parts[:-1])}{last_joiner}{parts[-1]}"
    if len({d.weekday() for d in dates}) == 1 and ctx.chance(0.5):
        text = f"{WEEKDAYS[dates[0].weekday()]}s{ctx.pick((': ', ' · ', ' | '))}{text}"
    return dates, [text]


def _series(ctx: _Ctx, *, compact: bool = False) -> _WContent:
    kind = ctx.pick(_WIDE_KINDS)
    place = _wide_place(ctx)
    when = _pick_when(ctx.rng, kind, ctx.reference, recurring=False)
    dates, date_lines = _series_dates(ctx)
    if compact and len(date_lines) > 3:
        dates, date_lines = dates[:3], date_lines[:3]
    title = _wide_title(ctx, kind, None)
    billed = _billed(ctx, kind) if kind == "dj" or ctx.chance(0.6) else None
    items, performer = _head(ctx, kind, title, billed)
    time = _wide_time(ctx, when)
    items += [_WItem(text, "when", 1, 0.44, wrap="sep", same="dates") for text in date_lines]
    prefixed = not when.doors and ctx.chance(0.3)
    items.append(_WItem(f"{ctx.pick(('Starts', 'at', 'All shows'))} {time}" if prefixed else time, "when", 1, 0.46))
    venue = _printed_name(ctx, place.name)
    items.append(_venue_item(ctx, venue, 2))
    items += _place_items(ctx, place, 2)
    items += _deco_items(ctx, kind, place, 3, int(ctx.pick((0, 1) if compact else (1, 2))))
    shows = [_show(kind, title, performer, place, venue, d, WEEKDAYS[d.weekday()], when.start, when.end)
             for d in dates]
    return _WContent(items, shows)


def _range_text(ctx: _Ctx, first: dt.date, last: dt.date) -> str:
    m1, m2 = MONTHS[first.month - 1], MONTHS[last.month - 1]
    w1, w2 = WEEKDAYS[first.weekday()], WEEKDAYS[last.weekday()]
    dash = ctx.pick((" - ", "-", " – ", " to ") if ctx.held_out else (" - ", "-", " – "))
    forms = [f"{m1} {first.day}{dash}{m2} {last.day}, {last.year}",
             f"{w1[:3]} {_mon(m1)} {first.day} thru {w2[:3]} {_mon(m2)} {last.day}",
             f"{m1.upper()} {first.day}{dash}{m2.upper()} {last.day}"]
    if first.month == last.month:
        forms += [f"{_mon(m1)} {first.day}-{last.day}", f"{w1[:3]}-{w2[:3]}, {_mon(m1)} {first.day}-{last.day}",
                  f"{m1} {ordinal(first.day)}{dash}{ordinal(last.day)}"]
    return ctx.pick(forms)


def _date_range(ctx: _Ctx, *, compact: bool = False) -> _WContent:
    """One show every day of a range: "November 30 - December 2, 2026" is three shows."""
    kind = ctx.pick(("comedy", "live music", "other", "karaoke", "dj", "trivia"))
    place = _wide_place(ctx)
    when = _pick_when(ctx.rng, kind, ctx.reference, recurring=False)
    days = int(ctx.pick((2, 3, 3, 4)))
    first = ctx.reference + dt.timedelta(days=int(ctx.rng.integers(2, 60)))
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    title = _wide_title(ctx, kind, None)
    billed = _billed(ctx, kind) if ctx.chance(0.6) else None
    items, performer = _head(ctx, kind, title, billed)
    time = _wide_time(ctx, when)
    items.append(_WItem(_range_text(ctx, dates[0], dates[-1]), "when", 1, 0.46, wrap="sep"))
    items.append(_WItem(ctx.pick((time, f"{time} nightly", f"Nightly at {time}", f"{time} each night")), "when", 1,
                        0.44))
    venue = _printed_name(ctx, place.name)
    items.append(_venue_item(ctx, venue, 2))
    items += _place_items(ctx, place, 2)
    items += _deco_items(ctx, kind, place, 3, int(ctx.pick((0, 1) if compact else (1, 2))))
    shows = [_show(kind, title, performer, place, venue, d, WEEKDAYS[d.weekday()], when.start, when.end)
             for d in dates]
    return _WContent(items, shows)


def _venue_header(ctx: _Ctx, name: str, *, region: str = "head") -> list[_WItem]:
    """A venue name set big, over two lines when it is long ("COPPER FOX" / "BAR & GRILL")."""
    words = name.split()
    effect = ctx.pick(TITLE_EFFECTS)
    lines = [name]
    # Break before the venue type ("COPPER FOX" / "BAR & GRILL"), else between words, never next to "&".
    types = [t for t in ctx.words.venue_types if name.lower().endswith(" " + t.lower())]
    breaks = [len(words) - len(types[0].split())] if types else \
        [k for k in range(1, len(words)) if "&" not in (words[k - 1], words[k])]
    if len(words) >= 3 and breaks and breaks[0] > 0 and ctx.chance(0.5):
        k = breaks[0] if types else min(breaks, key=lambda k: abs(len(" ".join(words[:k])) - len(" ".join(words[k:]))))
        lines = [" ".join(words[:k]), " ".join(words[k:])]
    rels = [1.0] if len(lines) == 1 else [0.5, 1.0] if lines[0].lower() == "the" else [1.0, float(ctx.pick((1.0, 0.6)))]
    return [_WItem(line, "venue", 0, rel, "display", effect, wrap="words", region=region)
            for line, rel in zip(lines, rels)]


def _grid_columns(rows: int, *, wide: bool = False) -> int:
    """How many columns a landscape flyer sets ``rows`` row blocks in (three only on a wide one)."""
    return min(rows, 3 if wide and rows != 4 else 2)


def _row_count(ctx: _Ctx, fixed: float, per_row: float, wanted: tuple[int, ...]) -> int:
    count = int(ctx.pick(wanted))
    while count > 2 and fixed + -(-count // (_grid_columns(count) if ctx.grid else 1)) * per_row * (
            1.3 if ctx.grid else 1.0) > ctx.room:
        count -= 1
    return count


def _lineup(ctx: _Ctx) -> _WContent:
    """A venue's line-up: rows by weekday (or dates of one week), the venue's one address at the bottom."""
    place = _wide_place(ctx)
    venue = _printed_name(ctx, place.name, 0.6)
    single_kind = ctx.chance(0.35)
    dated = ctx.chance(0.25)
    two_line_rows = ctx.narrow and ctx.chance(0.5) or ctx.chance(0.2)
    sep = ctx.pick(ctx.words.separators)
    kind0 = ctx.pick(_WIDE_KINDS)
    items = _venue_header(ctx, venue)
    title0 = None
    host = None
    if single_kind:
        title0 = _wide_title(ctx, kind0, None)
        items = _title_items(ctx, title0) + [_WItem(venue, "venue", 0, 0.6, "display", wrap="words", region="head")]
        if ctx.chance(0.6):
            billed = _billed(ctx, kind0)
            line, host = _billing_line(ctx, kind0, *billed)
            items.append(_WItem(line, "performer", 1, 0.46, wrap="words"))
    if not single_kind or ctx.chance(0.5):
        items.append(_WItem(ctx.pick(ctx.words.lineup_headings), "heading", 1, 0.5, "display"))
    fixed = 6.5 + (1.2 if host else 0)
    count = _row_count(ctx, fixed, 2.3 if two_line_rows else 1.15,
                       (3, 4, 4, 5, 6) if not single_kind else (3, 4, 5, 6, 7))
    days = sorted(ctx.rng.choice(7, size=count, replace=False).tolist())
    kinds = [kind0] * count if single_kind else [str(k) for k in ctx.rng.choice(list(KINDS), size=count,
                                                                                 replace=False)]
    monday = ctx.reference + dt.timedelta(days=(7 - ctx.reference.weekday()) % 7 + 7 * int(ctx.rng.integers(0, 4)))
    day_form = int(ctx.rng.integers(6))
    date_form = int(ctx.pick((1, 2, 6)))
    shows = []
    for i, (day, kind) in enumerate(zip(days, kinds)):
        weekday = WEEKDAYS[day]
        date = monday + dt.timedelta(days=day) if dated else None
        when = _pick_when(ctx.rng, kind, ctx.reference, recurring=True, weekday=weekday)
        when.doors = False
        day_text = _date_text(ctx, date, form=date_form) if date else _weekday_text(weekday, form=day_form)
        time = _time_text(ctx.rng, when, compact=True)
        if single_kind:
            assert title0 is not None  # a single-kind line-up picked its title above
            title, performer = title0, host
            row_performer = None
            if not host and ctx.chance(0.3):
                name, _ = _billed(ctx, kind)
                row_performer = name
                performer = name
            what = f"w/ {row_performer}" if row_performer else None
        else:
            title = ctx.pick(ctx.words.titles[kind])
            title = title.replace("{Weekday}", weekday)
            performer = None
            what = title
            if ctx.chance(0.35):
                performer, _ = _billed(ctx, kind)
                what = f"{title}{ctx.pick((' w/ ', ' with ', ': '))}{performer}"
        cells = (day_text, what, time) if what else (day_text, time)
        if two_line_rows:
            rest = sep.join(cells[1:])
            items += [_WItem(day_text, "when", 10 + i, 0.42, same="day"),
                      _WItem(rest, "row", 10 + i, 0.4, wrap="sep", same="row")]
        else:
            items.append(_WItem(sep.join(cells), "row", 2, 0.4, wrap="sep", same="row", cells=cells))
        shows.append(_show(kind, title, performer, place, venue, date, weekday, when.start, when.end))
    items += _place_items(ctx, place, 40)
    items += _deco_items(ctx, kind0, place, 41, int(ctx.pick((0, 1, 2))))
    return _WContent(items, shows)


def _row_items(ctx: _Ctx, index: int, structure: int, sep: str, day: str, venue: str, time: str, place: _Place,
               what: str | None) -> list[_WItem]:
    """The lines of one tour or guide row: day, venue, time (and what) on one to three lines, then the address."""
    g = 10 + index
    two_address = ctx.chance(0.6 if ctx.narrow else 0.35)  # a line too long still breaks after the street
    if structure == 0:  # "MON · The Copper Fox · 7PM" / address
        first = [day, what, venue, time] if what else [day, venue, time]
        lines = [_WItem(sep.join(x for x in first if x), "row", g, 0.4, wrap="sep", same="row")]
    elif structure == 1:  # "MONDAY · 7PM" / venue / address
        lines = [_WItem(sep.join([day, time]), "when", g, 0.4, same="row")]
        if what:
            lines.append(_WItem(what, "row", g, 0.38, wrap="words", same="what"))
        lines.append(_WItem(venue, "venue", g, 0.42, "display", wrap="words", same="venue"))
    elif structure == 2:  # venue / "Mon · 7PM" / address
        lines = [_WItem(venue, "venue", g, 0.42, "display", wrap="words", same="venue"),
                 _WItem(sep.join([x for x in (day, what, time) if x]), "row", g, 0.38, wrap="sep", same="row")]
    else:  # "MONDAY" / "The Copper Fox · 7PM" / address
        lines = [_WItem(day, "when", g, 0.4, same="day"),
                 _WItem(sep.join([x for x in (what, venue, time) if x]), "row", g, 0.4, wrap="sep", same="row")]
    return lines + _place_items(ctx, place, g, two=two_address, same="rowaddress")


def _tour(ctx: _Ctx) -> _WContent:
    """One host (a trivia company, a KJ, a comedian, a band, a DJ) at several venues, each row its own
    day or date, venue, address and time; the host is every show's performer."""
    kind = ctx.pick(("trivia", "trivia", "karaoke", "comedy", "dj", "live music", "bingo"))
    billed = _billed(ctx, kind)
    title = _wide_title(ctx, kind, None, tour=True)
    items, performer = _head(ctx, kind, title, billed)
    if ctx.chance(0.5):
        items.append(_WItem(ctx.pick(ctx.words.tour_headings), "heading", 1, 0.44, "display"))
    weekly = ctx.chance(0.5)  # a weekly round stays in one town; dated stops may travel
    structure = int(ctx.pick((0, 1, 2, 3)))
    # Lines a row takes: its own (a one-line row breaks once on a narrow flyer), the address, the gap.
    per_row = (1.6 if structure == 0 and ctx.narrow else 1.0 if structure == 0 else 2.0) + \
        (1.6 if ctx.narrow else 1.35) + 0.6
    count = _row_count(ctx, 3.5 + len(items), per_row, (2, 3, 3, 4, 4, 5))  # head lines, gaps, small print
    city = ctx.pick(ctx.words.cities) if weekly or ctx.chance(0.4) else None
    sep = ctx.pick(ctx.words.separators)
    same_time = ctx.chance(0.6)
    base = _pick_when(ctx.rng, kind, ctx.reference, recurring=weekly)
    base.doors = False
    if weekly:
        days = sorted(ctx.rng.choice(7, size=count, replace=False).tolist())
        dates: list[dt.date | None] = [None] * count
    else:
        first = ctx.reference + dt.timedelta(days=int(ctx.rng.integers(1, 45)))
        gaps = [0] + [int(ctx.rng.integers(1, 4)) for _ in range(count - 1)]
        stops = [first + dt.timedelta(days=sum(gaps[:i + 1])) for i in range(count)]
        days = [d.weekday() for d in stops]
        dates = list(stops)
    day_form, date_form = int(ctx.rng.integers(6)), int(ctx.pick((1, 2, 4, 6)))
    taken: set[str] = set()
    shows = []
    for i, (day, date) in enumerate(zip(days, dates)):
        place = _wide_place(ctx, city=city, taken=taken)
        taken.add(place.name)
        when = base if same_time else _pick_when(ctx.rng, kind, ctx.reference, recurring=True)
        when.doors = False
        weekday = WEEKDAYS[day]
        day_text = _date_text(ctx, date, form=date_form) if date else _weekday_text(weekday, form=day_form)
        venue = _printed_name(ctx, place.name, 0.25)
        items += _row_items(ctx, i, structure, sep, day_text, venue, _time_text(ctx.rng, when, compact=True), place,
                            None)
        shows.append(_show(kind, title, performer, place, venue, date, weekday, when.start, when.end))
    # The host's own small print: its site and handle are the host's, its hashtags the tour's city.
    host = _Place(billed[0], place.street, place.city, place.state, place.zip)
    items += _deco_items(ctx, kind, host, 60, int(ctx.pick((0, 1, 1, 2))))
    return _WContent(items, shows)


def _lineup_venues(ctx: _Ctx) -> _WContent:
    """A guide to the week: each row its own show, venue and address (a line-up of several venues)."""
    heading = ctx.pick(ctx.words.guide_headings)
    items = [_WItem(line.text, "heading", 0, line.rel, "display", line.effect, wrap="words", region="head",
                    color=line.color) for line in _title_items(ctx, heading)]
    weekly = ctx.chance(0.5)
    structure = int(ctx.pick((0, 1, 2)))
    per_row = {0: 2.0 if ctx.narrow else 1.6, 1: 3.0, 2: 2.2}[structure] + (1.6 if ctx.narrow else 1.35) + 0.6
    count = _row_count(ctx, 3.5 + len(items), per_row, (2, 3, 3, 4, 4))
    city = ctx.pick(ctx.words.cities) if ctx.chance(0.7) else None
    sep = ctx.pick(ctx.words.separators)
    kinds = [str(k) for k in ctx.rng.choice(list(KINDS), size=count, replace=True)]
    if weekly:
        days = sorted(ctx.rng.choice(7, size=count, replace=False).tolist())
        dates: list[dt.date | None] = [None] * count
    else:
        first = ctx.reference + dt.timedelta(days=int(ctx.rng.integers(1, 45)))
        stops = [first + dt.timedelta(days=i) for i in sorted(ctx.rng.choice(7, size=count, replace=False).tolist())]
        days = [d.weekday() for d in stops]
        dates = list(stops)
    day_form, date_form = int(ctx.rng.integers(6)), int(ctx.pick((1, 2, 6)))
    taken: set[str] = set()
    shows = []
    for i, (day, date, kind) in enumerate(zip(days, dates, kinds)):
        place = _wide_place(ctx, city=city, taken=taken)
        taken.add(place.name)
        weekday = WEEKDAYS[day]
        when = _pick_when(ctx.rng, kind, ctx.reference, recurring=True, weekday=weekday)
        when.doors = False
        title = _wide_title(ctx, kind, weekday)
        performer = None
        what = title
        if ctx.chance(0.4):
            performer, _ = _billed(ctx, kind)
            what = f"{title} w/ {performer}"
        day_text = _date_text(ctx, date, form=date_form) if date else _weekday_text(weekday, form=day_form)
        venue = _printed_name(ctx, place.name, 0.25)
        items += _row_items(ctx, i, structure, sep, day_text, venue, _time_text(ctx.rng, when, compact=True), place,
                            what)
        shows.append(_show(kind, title, performer, place, venue, date, weekday, when.start, when.end))
    if ctx.chance(0.5):
        items.append(_WItem(ctx.pick(ctx.words.notes), "deco", 60, 0.32, optional=True))
    return _WContent(items, shows)


# ---------------------------------------------------------------------------------------------------
# Wide generator: drawing (templates, decorative type, social frames)
# ---------------------------------------------------------------------------------------------------


@dataclass
class _WStyle:
    background: tuple[RGB, RGB]
    gradient: str
    display_font: str
    body_font: str
    colors: dict[str, RGB]  # per role; "title2" a title's second colour; "head" other lines on the head surface
    surface: RGB  # what the text of the main region sits on (hollow "outline" letters are filled with it)
    head_surface: RGB
    head_panel: RGB | None  # band / halves: the title block's panel
    panel: RGB | None  # card / boxed: the text panel
    effect_colors: dict[str, RGB]  # per colour key: the stroke, shadow or extrusion colour
    accents: list[RGB] = field(default_factory=list)


def _mean_color(colors: list[RGB]) -> RGB:
    r, g, b = (round(sum(c[i] for c in colors) / len(colors)) for i in range(3))
    return r, g, b


def _effect_color(rng: np.random.Generator, text: RGB) -> RGB:
    """A stroke or shadow colour that stands apart from the letters: black or white, tinted a little."""
    base = (0, 0, 0) if _luminance(text) > 0.25 else (255, 255, 255)
    tint = hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.4, 1.0))
    r, g, b = (round(x * 0.65 + t * 0.35) for x, t in zip(base, tint))
    color = (r, g, b)
    return color if _contrast(color, text) >= 3.0 else base


def _wide_style(rng: np.random.Generator, template: str, fonts: str) -> _WStyle:
    font_set = FONT_SETS[fonts]
    background = _background(rng)
    gradient = pick(rng, ("solid", "vertical", "diagonal", "radial"))
    surfaces = list(background)
    panel = head_panel = None
    if template in ("card", "boxed"):
        panel = hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.93, 1.0)) if rng.random() < 0.7 \
            else hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.06, 0.16))
        surfaces = [panel]
    head_surfaces = surfaces
    if template in ("band", "halves"):
        head_panel = hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.2, 0.9))
        head_surfaces = [head_panel]
    main = text_color(rng, surfaces)
    colors = {role: main for role in LINE_ROLES}
    colors["title"] = text_color(rng, head_surfaces, minimum=4.5)  # large type: WCAG's large-text contrast
    colors["title2"] = text_color(rng, head_surfaces, minimum=4.5)
    colors["head"] = text_color(rng, head_surfaces)
    if rng.random() < 0.6:
        colors["venue"] = colors["heading"] = text_color(rng, surfaces)
    if rng.random() < 0.5:
        colors["when"] = text_color(rng, surfaces)
    effect_colors = {key: _effect_color(rng, color) for key, color in colors.items()}
    accents = [hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)) for _ in range(3)]
    return _WStyle(background, gradient, pick(rng, font_set["display"]), pick(rng, font_set["body"]), colors,
                   _mean_color(surfaces), _mean_color(head_surfaces), head_panel, panel, effect_colors, accents)


_UI_FONTS = {"ui": "DejaVuSans", "ui-bold": "DejaVuSans-Bold"}
# Stand-ins for characters a face lacks (Computer Modern has no middle dot or bullet and draws "|" as a dash).
_GLYPH_FALLBACKS = {"\u00b7": "-", "\u2022": "-", "|": "-", "\u2014": "-", "\u2013": "-", "\u2019": "'",
                    "\u2665": "", "\u2026": "..."}


@functools.cache
def _charmap(name: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    codes = set(FT2Font(str(_font_dir() / f"{name}.ttf")).get_charmap())
    if name.startswith("cm"):
        codes.discard(ord("|"))
    return frozenset(codes)


def _printable(text: str, font_name: str) -> str:
    codes = _charmap(font_name)
    if all(ord(c) in codes or c == " " for c in text):
        return text
    out = "".join(c if ord(c) in codes or c == " " else _GLYPH_FALLBACKS.get(c, "?") for c in text)
    return re.sub(" {2,}", " ", out).strip()


def _font_name(item: _WItem, style: _WStyle) -> str:
    return _UI_FONTS.get(item.font) or (style.display_font if item.font == "display" else style.body_font)


def _wfont(item: _WItem, style: _WStyle, px: float) -> ImageFont.FreeTypeFont:
    return load_font(_font_name(item, style), max(int(px), 6))


def _wstroke(item: _WItem, px: int) -> int:
    if item.effect == "outline":
        return max(3, round(px * 0.05))
    if item.effect == "stroke":
        return max(2, round(px * 0.04))
    return 0


def _wwidth(item: _WItem, style: _WStyle, px: int) -> float:
    return _wfont(item, style, px).getlength(item.text) + 2 * _wstroke(item, px)


def _phrase_cuts(item: _WItem, style: _WStyle, px: int, width: float) -> list[tuple[int, int]]:
    """Breaks that keep a name whole, where they fit: before "w/ The Band", after "Live at"."""
    text = item.text
    cuts = [(m.start(), m.start() + 1) for m in re.finditer(r" (?=(w/|with|feat\.?|featuring|hosted|presented) )",
                                                           text, re.IGNORECASE)]
    lead = re.match(r"(live at|at|@) ", text, re.IGNORECASE)
    if lead:
        cuts.append((lead.end() - 1, lead.end()))
    return [c for c in cuts if _wwidth(_WItem(**{**item.__dict__, "text": text[:c[0]]}), style, px) <= width]


def _split_line(item: _WItem, style: _WStyle, px: int, width: float) -> list[_WItem]:
    """``item`` broken into lines that fit ``width`` where its kind allows (address after the street, a row at a
    separator, small print at a word); lines that cannot break stay whole and are shrunk instead."""
    if item.wrap is None or _wwidth(item, style, px) <= width:
        return [item]
    text = item.text
    words = [(m.start(), m.end()) for m in re.finditer(r" ", text)
             if not text[:m.start()].endswith((" &", " w/")) and not text[m.end():].startswith("& ")]
    if item.wrap == "address":
        cuts = [(m.start(), m.end()) for m in re.finditer(r", | [\u00b7-] ", text)][:1]
    elif item.wrap == "sep":
        cuts = [(m.start(), m.end()) for m in re.finditer(r" [\u00b7|\u2022/\u2014~-] |  ", text)]
        fitting = [c for c in cuts if _wwidth(_WItem(**{**item.__dict__, "text": text[:c[0]]}), style, px) <= width]
        cuts = cuts if fitting else _phrase_cuts(item, style, px, width) or words
    else:
        cuts = _phrase_cuts(item, style, px, width) or words
    best = None
    for start, end in cuts:
        head = _WItem(**{**item.__dict__, "text": text[:start].rstrip(), "cells": None})
        if _wwidth(head, style, px) <= width or best is None:
            best = (head, text[end:].lstrip())
    if best is None or not best[1]:
        return [item]
    head, rest = best
    tail = _WItem(**{**item.__dict__, "text": rest, "cells": None})
    return [head] + (_split_line(tail, style, px, width) if item.wrap != "address" else [tail])


@dataclass
class _WPlaced:
    item: _WItem
    font: ImageFont.FreeTypeFont
    x: float
    y: float
    width: float
    height: float
    stroke: int
    columns: list[float] | None = None  # left x of each cell but the last; the last cell is right-aligned


def _wsizes(items: list[_WItem], style: _WStyle, title_px: float, min_px: float, width: float) -> list[int]:
    sizes = []
    for item in items:
        px = int(max(item.rel * title_px, min_px))
        while px > 8 and _wwidth(item, style, px) > width:
            px = int(px * 0.95)
        sizes.append(px)
    shared: dict[str, int] = {}
    for item, px in zip(items, sizes):
        if item.same:
            shared[item.same] = min(shared.get(item.same, px), px)
    sizes = [shared[item.same] if item.same else px for item, px in zip(items, sizes)]
    # Within a group no line outgrows one meant to be larger (an address under a row that had to shrink to fit
    # the width), as long as that keeps it legible.
    return [max(min([px] + [other for o, other in zip(items, sizes) if o.group == item.group and o.rel > item.rel]),
                min(px, int(min_px))) for item, px in zip(items, sizes)]


def _wcells(item: _WItem) -> tuple[str, ...]:
    assert item.cells is not None  # only rows with cells are set as columns
    return item.cells


def _cell_columns(rows: list[_WItem], style: _WStyle, px: int, width: float) -> tuple[list[float], float] | None:
    """Widths of the cells of rows set as columns, and the gap; None when they do not fit."""
    table = [_wcells(r) for r in rows]
    count = len(table[0])
    if any(len(cells) != count for cells in table):
        return None
    font = _wfont(rows[0], style, px)
    widths = [max(font.getlength(cells[i]) for cells in table) for i in range(count)]
    gap = px * 0.9
    return (widths, gap) if sum(widths) + gap * (count - 1) <= width else None


def _wfit_once(items: list[_WItem], style: _WStyle, box: tuple[float, float, float, float], min_px0: float, *,
               align: str, columns: bool, title_px: float | None,
               sizes_out: list | None = None) -> tuple[list[_WPlaced], bool]:
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    # Break what does not fit at the smallest size it may take (a title: well above the body size).
    items = [piece for item in items
             for piece in _split_line(item, style, int(min_px0 * (1.5 if item.rel >= 1.0 else 1.0)), box_w)]
    min_px = min_px0
    title_px = title_px or min(box_h * 0.22, box_h / (1.3 * sum(item.rel for item in items)) * 1.6)
    for _ in range(300):
        sizes = _wsizes(items, style, title_px, min_px, box_w)
        fonts_ = [_wfont(item, style, px) for item, px in zip(items, sizes)]
        heights = [_line_height(f) for f in fonts_]
        gaps = []
        for prev, nxt, hp, hn in zip(items, items[1:], heights, heights[1:]):
            gaps.append(0.25 * max(hp, hn) if prev.group == nxt.group else 0.45 * max(hp, hn) + 0.3 * min_px)
        total = sum(heights) + sum(gaps)
        if total <= box_h:
            break
        title_px *= 0.95
        if title_px * max(item.rel for item in items) < 1.5 * min_px:
            min_px *= 0.96
    if sizes_out is not None:
        sizes_out[:] = [title_px, min_px]
    spare = max(box_h - total, 0)
    between = [i for i, (a, b) in enumerate(zip(items, items[1:])) if a.group != b.group]
    share = min(spare * 0.6, len(between) * min_px * 2.0)
    for i in between:
        gaps[i] += share / max(len(between), 1)
    y = y0 + (spare - share) / 2
    cell_rows = [(item, px) for item, px in zip(items, sizes) if item.cells]
    grid = _cell_columns([r for r, _ in cell_rows], style, cell_rows[0][1], box_w) if columns and cell_rows else None
    placed = []
    for i, (item, px, font, height) in enumerate(zip(items, sizes, fonts_, heights)):
        stroke = _wstroke(item, px)
        if grid and item.cells:
            widths, gap = grid
            width = sum(widths) + gap * (len(widths) - 1)
            item.text = "  ".join(item.cells)  # the line as read: cells two spaces apart
            x = (x0 + x1 - width) / 2 if align == "center" else x1 - width if align == "right" else x0
            lefts = [x + sum(widths[:k]) + gap * k for k in range(len(widths) - 1)]
            placed.append(_WPlaced(item, font, x, y, width, height, stroke, lefts))
        else:
            width = font.getlength(item.text) + 2 * stroke
            x = (x0 + x1 - width) / 2 if align == "center" else x1 - width if align == "right" else x0
            placed.append(_WPlaced(item, font, x, y, width, height, stroke))
        y += height + (gaps[i] if i < len(gaps) else 0)
    return placed, min(sizes) < 0.85 * min_px0


def _wfit(items: list[_WItem], style: _WStyle, box: tuple[float, float, float, float], min_px: float, *,
          align: str = "center", columns: bool = False, title_px: float | None = None,
          sizes_out: list | None = None) -> list[_WPlaced]:
    """Fit the lines into the box, title as large as the room allows (``title_px``: at most that, for a region
    under a title set elsewhere); small print goes first when the rest would fall under the legible size.
    ``sizes_out`` receives the title and minimum sizes it settled on."""
    items = list(items)
    while True:
        placed, cramped = _wfit_once(items, style, box, min_px, align=align, columns=columns, title_px=title_px,
                                     sizes_out=sizes_out)
        optional = [i for i, item in enumerate(items) if item.optional]
        if not cramped or not optional:
            return placed
        del items[optional[-1]]


def _weight(items: list[_WItem]) -> float:
    """Roughly how many body lines ``items`` take, big type counting double, a gap half."""
    return sum(2.2 * i.rel if i.rel >= 0.6 else 1.0 for i in items) + 0.5 * len({i.group for i in items})


def _fit_body(items: list[_WItem], style: _WStyle, box: tuple[float, float, float, float], min_px: float, *,
              align: str = "center", columns: bool = False, title_px: float | None = None,
              grid: bool = False) -> list[_WPlaced]:
    """_wfit, or with ``grid`` (a landscape flyer) the rows of a tour or guide side by side in columns, read
    column by column, between what comes before the rows and what comes after: as many columns as keep the
    text at the legible size, else the layout that keeps it largest."""
    rows = [i for i, item in enumerate(items) if 10 <= item.group < 40]
    groups = sorted({items[i].group for i in rows})
    x0, y0, x1, y1 = box
    most = _grid_columns(len(groups), wide=(x1 - x0) >= 1.9 * (y1 - y0)) if grid and len(groups) >= 2 else 1
    best: tuple[float, list[_WPlaced]] | None = None
    for ncols in range(most, 0, -1):
        sizes: list = []
        if ncols == 1:
            placed = _wfit(items, style, box, min_px, align=align, columns=columns, title_px=title_px,
                           sizes_out=sizes)
            smallest = sizes[1]
        else:
            placed, smallest = _grid_fit(items, rows, groups, ncols, style, box, min_px, align, title_px)
        if smallest >= 0.9 * min_px:
            return placed
        if best is None or smallest > best[0]:
            best = (smallest, placed)
    assert best is not None  # the loop runs at least once (ncols == 1)
    return best[1]


def _grid_fit(items: list[_WItem], rows: list[int], groups: list[int], ncols: int, style: _WStyle,
              box: tuple[float, float, float, float], min_px: float, align: str,
              title_px: float | None) -> tuple[list[_WPlaced], float]:
    """The row blocks in ``ncols`` columns; returns the lines and the smallest size they took."""
    x0, y0, x1, y1 = box
    top, body, tail = items[:rows[0]], items[rows[0]:rows[-1] + 1], items[rows[-1] + 1:]
    per = -(-len(groups) // ncols)
    cols = [[i for i in body if i.group in groups[c * per:(c + 1) * per]] for c in range(ncols)]
    cols = [c for c in cols if c]
    total = _weight(top) + max(_weight(c) for c in cols) + _weight(tail)
    top_h = (y1 - y0) * min(_weight(top) / total, 0.5) if top else 0
    tail_h = (y1 - y0) * min(_weight(tail) / total, 0.25) if tail else 0
    placed = _wfit(top, style, (x0, y0, x1, y0 + top_h), min_px, align=align,
                   title_px=title_px or top_h * 0.6) if top else []
    big = [p.font.size / p.item.rel for p in placed if p.item.rel >= 1.0]
    title_px = max(big) if big else title_px
    gutter = (x1 - x0) * 0.05
    width = (x1 - x0 - gutter * (len(cols) - 1)) / len(cols)
    boxes = [(x0 + c * (width + gutter), y0 + top_h + min_px * 0.5, x0 + c * (width + gutter) + width,
              y1 - tail_h - min_px * 0.5) for c in range(len(cols))]
    # Each column alone, then all at the smallest sizes any needed: the rows read as one table.
    settled = []
    for col, col_box in zip(cols, boxes):
        sizes: list = []
        _wfit(col, style, col_box, min_px, align=align, title_px=title_px, sizes_out=sizes)
        settled.append(sizes)
    common_title, common_min = min(s[0] for s in settled), min(s[1] for s in settled)
    for col, col_box in zip(cols, boxes):
        placed += _wfit(col, style, col_box, common_min, align=align, title_px=common_title)
    if tail:
        placed += _wfit(tail, style, (x0, y1 - tail_h, x1, y1), min_px, align=align, title_px=title_px)
    return placed, common_min


def _item_color(item: _WItem, style: _WStyle) -> str:
    if item.color:
        return item.color
    if item.region == "head" and item.role not in ("title",):
        return "head"
    return item.role


def _draw_witem(draw: ImageDraw.ImageDraw, p: _WPlaced, style: _WStyle) -> None:
    key = _item_color(p.item, style)
    color, effect_color = style.colors[key], style.effect_colors[key]
    surface = style.head_surface if p.item.region == "head" else style.surface
    pieces = [(p.x + p.stroke, p.item.text, "la")]
    if p.columns:
        cells = _wcells(p.item)
        pieces = [(x, cell, "la") for x, cell in zip(p.columns, cells)] + [(p.x + p.width, cells[-1], "ra")]
    size = p.font.size
    for x, text, anchor in pieces:
        if p.item.effect == "shadow":
            offset = max(2, round(size * 0.06))
            draw.text((x + offset, p.y + offset), text, font=p.font, fill=effect_color, anchor=anchor)
        elif p.item.effect == "extrude":
            for k in range(max(3, round(size * 0.07)), 0, -1):
                draw.text((x + k, p.y + k), text, font=p.font, fill=effect_color, anchor=anchor)
        if p.item.effect == "outline":  # hollow letters: the fill is the surface, the outline the text colour
            draw.text((x, p.y), text, font=p.font, fill=surface, anchor=anchor, stroke_width=p.stroke,
                      stroke_fill=color)
        elif p.item.effect == "stroke":
            draw.text((x, p.y), text, font=p.font, fill=color, anchor=anchor, stroke_width=p.stroke,
                      stroke_fill=effect_color)
        else:
            draw.text((x, p.y), text, font=p.font, fill=color, anchor=anchor)


def _wboxes(placed: list[_WPlaced], pad: float) -> list[tuple[float, float, float, float]]:
    return [(p.x - pad, p.y - pad, p.x + p.width + pad, p.y + p.height + pad) for p in placed]


def _render_wide(rng: np.random.Generator, content: _WContent, template: str, size: tuple[int, int], fonts: str, *,
                 min_px: float | None = None, grid: bool = False) -> tuple[Image.Image, list[_WPlaced]]:
    style = _wide_style(rng, template, fonts)
    for item in content.items:
        name = _font_name(item, style)
        item.text = _printable(item.text, name)
        if item.cells:
            item.cells = tuple(_printable(cell, name) for cell in item.cells)
    width, height = size
    min_px = min_px or MIN_TEXT_PX * _optimizer_factor(size)
    image = _paint_background(size, style, rng)
    draw = ImageDraw.Draw(image)
    pad = 0.02 * min(width, height)
    mx, my = width * rng.uniform(0.07, 0.1), height * rng.uniform(0.05, 0.08)
    head = [i for i in content.items if i.region == "head"]
    main = [i for i in content.items if i.region != "head"]
    if template in ("band", "halves") and head and main:
        panel: tuple[float, float, float, float]
        landscape = template == "halves" and width > height * 1.1
        if landscape:
            split = width * rng.uniform(0.4, 0.48)
            head_box = (mx * 0.7, my, split - mx * 0.7, height - my)
            main_box = (split + mx * 0.7, my, width - mx, height - my)
            panel = (0, 0, split, height)
        else:
            # The panel's share of the height follows how much each part holds (big type counts double).
            weight = sum(2.2 * i.rel if i.rel >= 0.6 else 1.2 for i in head)
            rest = len(main) + 0.5 * len({i.group for i in main})
            split = height * min(max(weight / (weight + rest) * 1.1, 0.2), 0.42)
            head_box = (mx, my * 0.7, width - mx, split - pad)
            main_box = (mx, split + pad * 1.5, width - mx, height - my)
            panel = (0, 0, width, split)
        top = _wfit(head, style, head_box, min_px, title_px=(head_box[3] - head_box[1]) * 0.6)
        title_px = max(p.font.size / p.item.rel for p in top if p.item.rel >= 1.0) if any(
            p.item.rel >= 1.0 for p in top) else None  # the rest stays smaller than the title
        placed = top + _fit_body(main, style, main_box, min_px, title_px=title_px, grid=grid and not landscape,
                                 align="left" if landscape and rng.random() < 0.5 else "center")
        _draw_shapes(draw, rng, size, _wboxes(placed, pad) + [panel], style)
        draw.rectangle(panel, fill=style.head_panel)
    elif template == "boxed":
        inset = min(width, height) * 0.035
        box = (width * 0.11, height * 0.09, width * 0.89, height * 0.91)
        placed = _wfit(content.items, style, box, min_px, align="right", columns=True)
        frame = (inset, inset, width - inset, height - inset)
        draw.rectangle(frame, fill=style.panel, outline=style.accents[0], width=max(4, round(inset * 0.5)))
    elif template == "card":
        box = (width * 0.13, height * 0.1, width * 0.87, height * 0.9)
        placed = _fit_body(content.items, style, box, min_px, grid=grid)
        clear = _wboxes(placed, pad)
        card = (width * 0.07, min(b[1] for b in clear) - pad, width * 0.93, max(b[3] for b in clear) + pad)
        _draw_shapes(draw, rng, size, clear + [card], style)
        draw.rounded_rectangle(card, radius=int(min(width, height) * 0.03), fill=style.panel)
    elif template == "leftbar":
        placed = _fit_body(content.items, style, (width * 0.12, my, width - mx, height - my), min_px, align="left",
                           grid=grid)
        bar = (width * 0.06, min(p.y for p in placed), width * 0.075, max(p.y + p.height for p in placed))
        _draw_shapes(draw, rng, size, _wboxes(placed, pad) + [(bar[0] - pad, bar[1], bar[2] + pad, bar[3])], style)
        draw.rectangle(bar, fill=style.accents[0])
    else:  # stack
        placed = _fit_body(content.items, style, (mx, my, width - mx, height - my), min_px, grid=grid)
        _draw_shapes(draw, rng, size, _wboxes(placed, pad), style)
    for p in placed:
        _draw_witem(draw, p, style)
    return image, placed


# Social-media frames: what a post around a flyer says. Nothing in it is a show; the timestamp is a time.
_TIMESTAMPS = ("2h", "5h", "Just now", "1d", "Posted 3:14 PM", "Yesterday at 9:02 PM", "3 hrs", "Posted 11:48 AM")


def _frame_texts(ctx: _Ctx, kind: str, place: _Place) -> dict[str, object]:
    w = ctx.words
    caption = ctx.pick(w.captions)
    tags = [f"#{_tag(kind)}", f"#{place.city.replace(' ', '').lower()}", "#supportlocal",
            f"#{ctx.pick(('nightlife', 'thingstodo', 'weekend'))}"]
    picked = [tags[i] for i in sorted(ctx.rng.choice(len(tags), size=int(ctx.pick((1, 2, 3))), replace=False))]
    hour, minute = int(ctx.rng.integers(7, 12)), int(ctx.rng.integers(0, 60))
    return {
        "clock": f"{hour}:{minute:02d}",
        "group": ctx.pick(w.group_names).replace("{City}", place.city),
        "poster": _person(ctx),
        "stamp": ctx.pick(_TIMESTAMPS),
        "caption": f"{caption} {' '.join(picked)}" + (f" @{place.slug}" if ctx.chance(0.4) else ""),
        "likes": ctx.pick((f"\u2665 {int(ctx.rng.integers(3, 900))}", f"{int(ctx.rng.integers(3, 900))} likes")),
        "counts": f"{int(ctx.rng.integers(1, 80))} comments{ctx.pick(('  ', ' · '))}"
                  f"{int(ctx.rng.integers(1, 30))} shares",
        "actions": "Like     Comment     Share",
        "comment": f"{_person(ctx)}: {ctx.pick(w.comments)}",
    }


@dataclass
class _Line:
    text: str
    role: str
    box: tuple[float, float, float, float]


def _ui_line(draw: ImageDraw.ImageDraw, text: str, font: str, px: float, x: float, y: float, color: RGB,
             *, right: float | None = None, limit: float | None = None) -> _Line:
    face = load_font(font, int(px))
    while limit is not None and face.getlength(text) > limit - x and face.size > px * 0.8:
        face = load_font(font, int(face.size * 0.95))
    if limit is not None and face.getlength(text) > limit - x:  # still too long: cut at a word
        while " " in text and face.getlength(text) > limit - x:
            text = text.rsplit(" ", 1)[0]
    if right is not None:
        x = right - face.getlength(text)
    draw.text((x, y), text, font=face, fill=color)
    return _Line(text, "frame", (x, y, x + face.getlength(text), y + _line_height(face)))


def _ui_wrap(text: str, font: str, px: float, width: float, limit: int) -> list[str]:
    face = load_font(font, int(px))
    lines: list[str] = []
    for word in text.split():
        if face.getlength(word) > width:  # a handle longer than the column: the app would cut it off
            continue
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines[:limit]


def _render_social(ctx: _Ctx, inner: _WContent, inner_template: str, frame: str, size: tuple[int, int],
                   fonts: str, kind: str, place: _Place) -> tuple[Image.Image, list[_Line]]:
    """The flyer as posted: a phone screenshot (status bar, group, poster, caption, the flyer, reactions) or a
    desktop photo view (the flyer on the left, the post beside it)."""
    rng = ctx.rng
    width, height = size
    texts = _frame_texts(ctx, kind, place)
    dark = rng.random() < 0.4
    bg, fg, muted = ((24, 25, 27), (235, 236, 240), (176, 179, 184)) if dark else \
        ((255, 255, 255), (20, 22, 26), (92, 96, 104))
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    px = MIN_TEXT_PX * _optimizer_factor(size) * 1.05
    gap = px * 0.45
    lines: list[_Line] = []
    if frame == "phone":
        m = width * 0.04
        y = m * 0.6
        lines.append(_ui_line(draw, str(texts["clock"]), "DejaVuSans-Bold", px, m, y, fg))
        bw = px * 1.3
        draw.rounded_rectangle((width - m - bw, y + px * 0.3, width - m, y + px * 0.9), radius=int(px * 0.15),
                               outline=fg, width=max(2, int(px * 0.06)))
        draw.rectangle((width - m - bw + px * 0.1, y + px * 0.4, width - m - bw * 0.35, y + px * 0.8), fill=fg)
        y += px * 1.6
        avatar = px * 2.3
        draw.ellipse((m, y, m + avatar, y + avatar), fill=pick(rng, ((66, 103, 178), (214, 98, 64), (70, 150, 110))))
        x = m + avatar + m * 0.6
        lines.append(_ui_line(draw, str(texts["group"]), "DejaVuSans-Bold", px, x, y, fg, limit=width - m))
        y += px * 1.25
        lines.append(_ui_line(draw, f"{texts['poster']} \u00b7 {texts['stamp']}", "DejaVuSans", px * 0.95, x, y, muted,
                              limit=width - m))
        y += px * 1.45
        for text in _ui_wrap(str(texts["caption"]), "DejaVuSans", px, width - 2 * m, 3):
            lines.append(_ui_line(draw, text, "DejaVuSans", px, m, y, fg))
            y += px * 1.2
        y += gap
        bottom = height - px * 3.0
        inner_size = (width, int(min(bottom - y - gap, width * 1.25)))
        inner_at = (0, int(y))
        after = y + inner_size[1] + gap
    else:  # desktop: the photo viewer, the flyer on a dark stage at the left, the post in a side bar
        side = width * rng.uniform(0.3, 0.34)
        stage = width - side
        draw.rectangle((0, 0, stage, height), fill=(12, 12, 14))
        inner_h = int(height * rng.uniform(0.88, 0.94))
        inner_w = int(min(inner_h * rng.uniform(0.78, 1.0), stage * 0.92))
        inner_size = (inner_w, inner_h)
        inner_at = (int((stage - inner_w) / 2), int((height - inner_h) / 2))
        m = side * 0.07
        x = stage + m
        y = m
        avatar = px * 2.2
        draw.ellipse((x, y, x + avatar, y + avatar), fill=pick(rng, ((66, 103, 178), (214, 98, 64), (70, 150, 110))))
        lines.append(_ui_line(draw, str(texts["poster"]), "DejaVuSans-Bold", px, x + avatar + m * 0.5, y, fg,
                              limit=width - m))
        lines.append(_ui_line(draw, str(texts["stamp"]), "DejaVuSans", px * 0.95, x + avatar + m * 0.5,
                              y + px * 1.25, muted, limit=width - m))
        y += avatar + gap * 2
        for text in _ui_wrap(str(texts["caption"]), "DejaVuSans", px, side - 2 * m, 4):
            lines.append(_ui_line(draw, text, "DejaVuSans", px, x, y, fg))
            y += px * 1.2
        y += gap * 2
        lines.append(_ui_line(draw, str(texts["likes"]), "DejaVuSans", px, x, y, muted, limit=width - m))
        y += px * 1.3
        lines.append(_ui_line(draw, str(texts["counts"]), "DejaVuSans", px, x, y, muted, limit=width - m))
        y += px * 1.6
        for text in _ui_wrap(str(texts["comment"]), "DejaVuSans", px, side - 2 * m, 3):
            lines.append(_ui_line(draw, text, "DejaVuSans", px, x, y, fg))
            y += px * 1.2
        after = None
    flyer, placed = _render_wide(rng, inner, inner_template, inner_size, fonts, min_px=px / 1.05)
    image.paste(flyer, inner_at)
    ox, oy = inner_at
    inner_lines = [_Line(p.item.text, p.item.role, (p.x + ox, p.y + oy, p.x + p.width + ox, p.y + p.height + oy))
                   for p in placed]
    if frame == "phone":
        assert after is not None  # the phone frame set where the post goes on under the flyer
        lines += inner_lines
        y = after
        lines.append(_ui_line(draw, str(texts["likes"]), "DejaVuSans", px, m, y, muted))
        lines.append(_ui_line(draw, str(texts["counts"]), "DejaVuSans", px, m, y, muted, right=width - m))
        y += px * 1.35
        draw.line((m, y, width - m, y), fill=muted, width=max(1, int(px * 0.04)))
        y += gap
        lines.append(_ui_line(draw, str(texts["actions"]), "DejaVuSans-Bold", px * 0.95, m * 2, y, muted))
    else:
        lines = inner_lines + lines
    return image, lines


# ---------------------------------------------------------------------------------------------------
# Wide generator: entry points
# ---------------------------------------------------------------------------------------------------

_BUILDERS = {
    "single-dated": lambda ctx, compact: _single(ctx, dated=True, compact=compact),
    "single-weekly": lambda ctx, compact: _single(ctx, dated=False, compact=compact),
    "lineup": lambda ctx, compact: _lineup(ctx),
    "lineup-venues": lambda ctx, compact: _lineup_venues(ctx),
    "tour": lambda ctx, compact: _tour(ctx),
    "series": lambda ctx, compact: _series(ctx, compact=compact),
    "range": lambda ctx, compact: _date_range(ctx, compact=compact),
    "two-shows": lambda ctx, compact: _two_shows(ctx, compact=compact),
}
# What a social post frames: flyers short enough to stay legible inside a screenshot.
_SOCIAL_INNER = ("single-dated", "single-weekly", "two-shows", "series", "range")


def _optimizer_factor(size: tuple[int, int]) -> float:
    """How many original pixels make one pixel of what the extractor reads: ``optimize_image`` fits the long
    side in 1200 and the short one in 800 (a portrait flyer in 800x1200), never upscaling. The wide
    generator keeps its smallest text MIN_TEXT_PX high there (the older layouts assume a literal 1200x800
    box, which leaves a portrait flyer room for half the lines)."""
    return max(max(size) / 1200, min(size) / 800, 1.0)


def _room(height: float, min_px: float) -> float:
    """About how many body lines of ``min_px`` fit in ``height`` with the gaps between them."""
    return 0.84 * height / (min_px * 1.55)


def _wide_size(rng: np.random.Generator, layout: str) -> tuple[int, int]:
    tall = layout in ("lineup", "lineup-venues", "tour")
    roll = rng.random()
    if roll < (0.7 if tall else 0.45):
        return pick(rng, PORTRAIT_SIZES)
    if roll < (0.85 if tall else 0.7):
        return pick(rng, SQUARE_SIZES)
    return pick(rng, LANDSCAPE_SIZES)


def wide_flyer(seed: int, *, reference_date: dt.date, layout: str | None = None, template: str | None = None,
               photo: bool = False, fonts: str | None = None, size: tuple[int, int] | None = None,
               held_out: bool = False) -> Flyer:
    """Render one flyer of the wide generator; the same arguments always give the same pixels and truth.

    ``layout`` is one of WIDE_LAYOUTS (random when None) and becomes ``Flyer.layout``; ``template`` one of
    WIDE_TEMPLATES or HELD_OUT_WIDE_TEMPLATES (for "social", the template of the flyer inside the post).
    ``held_out`` draws the held-out wording, fonts "held_out" and, for half the flyers, a held-out template
    (and social frame): see the module docstring.
    """
    fonts = fonts or ("held_out" if held_out else "tuning")
    if fonts not in FONT_SETS:
        raise ValueError(f"fonts must be one of {sorted(FONT_SETS)}, not {fonts!r}")
    if layout is not None and layout not in WIDE_LAYOUTS:
        raise ValueError(f"layout must be one of {WIDE_LAYOUTS}, not {layout!r}")
    if template is not None and template not in WIDE_TEMPLATES + HELD_OUT_WIDE_TEMPLATES:
        raise ValueError(f"template must be one of {WIDE_TEMPLATES + HELD_OUT_WIDE_TEMPLATES}, not {template!r}")
    rng = np.random.default_rng([seed, _WIDE_STREAM])
    layout = layout or pick(rng, WIDE_LAYOUTS)
    if template is None:
        template = pick(rng, HELD_OUT_WIDE_TEMPLATES if held_out and rng.random() < 0.5 else WIDE_TEMPLATES)
    words = _HELD_OUT_WORDS if held_out else _TUNING_WORDS
    if layout == "social":
        frame = pick(rng, HELD_OUT_SOCIAL_FRAMES if held_out and rng.random() < 0.5 else SOCIAL_FRAMES)
        size = size or pick(rng, PHONE_SIZES if frame == "phone" else DESKTOP_SIZES)
        min_px = MIN_TEXT_PX * _optimizer_factor(size)
        inner_h, narrow = (size[1] * 0.55, False) if frame == "phone" else (size[1] * 0.9, True)
        ctx = _Ctx(rng, words, reference_date, held_out, _room(inner_h, min_px), narrow)
        content = _BUILDERS[pick(rng, _SOCIAL_INNER)](ctx, True)
        show = content.shows[0]
        place = _Place(show["venue"], show["street"], show["city"], show["state"], show["zip"])
        image, lines = _render_social(ctx, content, template, frame, size, fonts, show["kind"], place)
        template = f"{frame}/{template}"
    else:
        size = size or _wide_size(rng, layout)
        grid = size[0] / size[1] >= 1.25 and template != "boxed"
        ctx = _Ctx(rng, words, reference_date, held_out, _room(size[1], MIN_TEXT_PX * _optimizer_factor(size)),
                   size[0] / size[1] < 0.9, grid)
        content = _BUILDERS[layout](ctx, False)
        image, placed = _render_wide(rng, content, template, size, fonts, grid=grid)
        lines = [_Line(p.item.text, p.item.role, (p.x, p.y, p.x + p.width, p.y + p.height)) for p in placed]
    if photo:
        image = photo_variant(image, rng)
    boxes = [(math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))
             for x0, y0, x1, y1 in (ln.box for ln in lines)]
    return Flyer(image=image, shows=content.shows, lines=[ln.text for ln in lines], layout=layout, photo=photo,
                 boxes=boxes, roles=[ln.role for ln in lines], template=template, held_out=held_out)


def wide_set(seeds, *, reference_date: dt.date, held_out: bool = False, photo: bool = False,
             layouts: tuple[str, ...] = WIDE_LAYOUTS, fonts: str | None = None) -> list[Flyer]:
    """A labelled set: one wide flyer per seed, the layouts taking turns (so a set of len(layouts) flyers or
    more holds every one). Seeds of a tuning set and of a held-out set may be the same: the wording differs."""
    return [wide_flyer(seed, reference_date=reference_date, layout=layouts[i % len(layouts)], photo=photo,
                       fonts=fonts, held_out=held_out) for i, seed in enumerate(seeds)]


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
    from daskparse.normalise import STREET_LABELS

    out = []
    for element in ET.parse(path).getroot():
        # the file escapes "&" twice ("&amp;#38;"): undo the second escape
        tokens = [(child.tag, html.unescape(child.text or "")) for child in element]
        text = "".join(html.unescape(child.text or "") + (child.tail or "") for child in element)
        street = " ".join(t.strip(",") for label, t in tokens if label in STREET_LABELS) or None
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
        text = text.replace(", ", pick(rng, (" - ", " : ", ". ", " . ", "-", ":")), 1)
    if "spaces" in kinds:
        seams = [m.start() for m in re.finditer(r"(?<=,) |(?<=\b[A-Z]{2}) (?=\d{5}\b)", text)]
        number_seam = re.match(r"\d+( )[A-Za-z]", text)  # "1234 Main" -> "1234Main"
        if number_seam:
            seams.append(number_seam.start(1))
        seams = sorted(set(seams))
        if seams:
            drop = {i for i in seams if rng.random() < 0.5} or {pick(rng, seams)}
            text = "".join(c for i, c in enumerate(text) if i not in drop)
    if "lookalikes" in kinds:
        spots = [m.start() + i for m in re.finditer(r"\d{2,}", text) for i, c in enumerate(m.group()) if c in "01"]
        if spots:
            swap = {i for i in spots if rng.random() < 1 / 3} or {pick(rng, spots)}
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
    truth: dict[str, Any] = {"reference_date": reference_date.isoformat(), "seed": seed, "fonts": fonts, "flyers": {}}
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


def write_wide_set(out_dir, *, count: int, seed: int, reference_date: dt.date, held_out: bool = False,
                   photo_share: float = 0.5) -> Path:
    """Write ``count`` wide flyers (WIDE_LAYOUTS taking turns) to ``out_dir/flyers`` as JPEG and their truth,
    with each line's text, role and box, to ``out_dir/truth.json``; return its path. Stale ``NNN-...`` images
    of an earlier run are removed, as in write_sample_set."""
    out = Path(out_dir)
    images = out / "flyers"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, _WIDE_STREAM])
    photos = set(rng.choice(count, size=round(count * photo_share), replace=False).tolist())
    truth: dict[str, Any] = {"reference_date": reference_date.isoformat(), "seed": seed, "generator": "wide",
             "held_out": held_out, "flyers": {}}
    for i in range(count):
        flyer = wide_flyer(seed * 1000 + i, reference_date=reference_date, layout=WIDE_LAYOUTS[i % len(WIDE_LAYOUTS)],
                           photo=i in photos, held_out=held_out)
        name = f"{i:03d}-{flyer.layout}{'-photo' if flyer.photo else ''}.jpg"
        flyer.image.save(images / name, "JPEG", quality=90)
        truth["flyers"][name] = {"layout": flyer.layout, "template": flyer.template, "photo": flyer.photo,
                                 "size": list(flyer.image.size), "shows": flyer.shows, "lines": flyer.lines,
                                 "roles": flyer.roles, "boxes": [list(b) for b in flyer.boxes]}
    for stale in images.glob("[0-9][0-9][0-9]-*"):
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
    parser.add_argument("--wide", action="store_true", help="the wide generator's layouts (issue 14)")
    parser.add_argument("--held-out", action="store_true", help="with --wide: the held-out split")
    args = parser.parse_args(argv)
    if args.wide:
        path = write_wide_set(args.out, count=args.count, seed=args.seed, reference_date=args.reference_date,
                              held_out=args.held_out, photo_share=args.photo_share)
    else:
        path = write_sample_set(args.out, count=args.count, seed=args.seed, reference_date=args.reference_date,
                                photo_share=args.photo_share, fonts=args.fonts)
    print(path)


if __name__ == "__main__":
    main()
