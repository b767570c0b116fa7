"""A third flyer set, drawn a different way entirely: HTML/CSS pages rendered by headless Chromium (issue 14).

``daskparse.testing.flyers`` draws with Pillow, line by line, and the independent development set was made by
yet another generator. These flyers are web pages: flexbox and grid layouts, two-column splits, display
titles broken over lines, letter-spacing, text shadows, rotated stickers, gradients and CSS shapes, tables for
line-ups, social-media post frames with captions and hashtags, and distractor text (prices, phone numbers,
URLs). Chromium lays the text out and rasterises it, so the extractor meets line breaks, kerning and
anti-aliasing it was never written against. Wording, venues and people are this module's own.

One integer seed decides a page (``numpy.random.default_rng(seed)``): ``build_page(seed, ...)`` is a pure
function and returns the HTML with its truth; ``make_html_flyers(seeds, ...)`` renders a batch in one browser.
The layout group cycles with the seed (``LAYOUTS[seed % 7]``), so any seven consecutive seeds give every group.

Truth follows the product's field definitions (flyers-dev README, "What the fields mean"): the title whole
even when set over two lines; performer only when named with "with", "hosted by", "featuring", "presented by"
or billed as a DJ or band (for a line-up, the host of the whole line-up); each row of a tour its own venue and
address; a series or a date range one show per date; a weekly show has a weekday, recurrence "weekly" and no
date; a date without a year is the next one on or after the reference date; "Doors 7 / Show 8" starts at 8.

Chromium is Debian's (/usr/bin/chromium), driven by playwright as tests/test_dashboard.py does; pages are set
with ``page.set_content`` and every request but a data: URL is aborted, so nothing is loaded off the machine.

CLI: ``python -m daskparse.testing.html_flyers --out DIR --count 60 --seed 5150 --reference-date 2026-11-29``
writes ``html_NNN.jpg``, ``truth.json`` (name -> shows) and ``manifest.json`` (as the flyers-dev folder).
"""

from __future__ import annotations

import argparse
import colorsys
import datetime as dt
import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from daskparse.shows import WEEKDAYS, ShowFields
from daskparse.testing.flyers import photo_variant

__all__ = ["LAYOUTS", "GROUPS", "HtmlFlyer", "HtmlPage", "build_page", "make_html_flyers", "render_pages",
           "write_html_set"]

CHROMIUM = "/usr/bin/chromium"
# As tests/test_dashboard.py: without the background-networking flags Chromium keeps calling home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

LAYOUTS = ("single", "weekly", "lineup", "tour", "series", "range", "two-shows")
# The flyers-dev manifest's (category, subtype) for each group, so one loader reads both folders.
GROUPS = {"single": ("single", "dated"), "weekly": ("single", "weekly"), "lineup": ("lineup", None),
          "tour": ("multi", "tour"), "series": ("multi", "series"), "range": ("multi", "range"),
          "two-shows": ("multi", "two_shows")}

LAYOUT_WIDTH = 1080  # pages are laid out 1080 CSS px wide and scaled to the output size
MIN_TEXT_PX = 28  # smallest text that carries a fact, in CSS px at 1080 wide
MIN_EXTRA_PX = 26  # distractors and chrome


# ---------------------------------------------------------------------------------------------------
# Wording: this module's own invented venues, people and titles (real cities, states and ZIP codes)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str
    street: str
    city: str
    state: str
    zip: str

    def address(self, with_zip: bool = True) -> str:
        return f"{self.street}, {self.city_line(with_zip)}"

    def city_line(self, with_zip: bool = True) -> str:
        return f"{self.city}, {self.state} {self.zip}" if with_zip else f"{self.city}, {self.state}"

    @property
    def slug(self) -> str:
        words = [w for w in self.name.replace("&", "and").split() if w.lower() != "the"]
        return "".join(c for c in "".join(words).lower() if c.isalnum())


PLACES: tuple[Place, ...] = (
    Place("The Lantern Room", "1418 Penn Ave", "Pittsburgh", "PA", "15222"),
    Place("Saltbox Tavern", "62 Congress Street", "Portsmouth", "NH", "03801"),
    Place("Two Herons Brewing", "905 S Lamar Blvd", "Austin", "TX", "78704"),
    Place("Copperline Social", "3127 N Lincoln Ave", "Chicago", "IL", "60657"),
    Place("Night Heron Bar", "418 W Broadway", "Missoula", "MT", "59802"),
    Place("Marigold Cantina", "1011 E Speedway Blvd", "Tucson", "AZ", "85719"),
    Place("The Tin Whistle", "77 Market Street", "Charleston", "SC", "29401"),
    Place("Backroads Taproom", "1204 Main St", "Rapid City", "SD", "57701"),
    Place("Owl & Lamp Pub", "232 S Main St", "Stillwater", "MN", "55082"),
    Place("Brightwater Hall", "1720 E Passyunk Ave", "Philadelphia", "PA", "19148"),
    Place("Cobalt Room", "3310 Troost Avenue", "Kansas City", "MO", "64109"),
    Place("Juniper & Vine", "812 W Fairbanks Ave", "Winter Park", "FL", "32789"),
    Place("The Quarry House", "215 N Cascade Ave", "Colorado Springs", "CO", "80903"),
    Place("Hollow Log Saloon", "711 E Sprague Ave", "Spokane", "WA", "99202"),
    Place("Paper Moon Lounge", "428 Hay St", "Fayetteville", "NC", "28301"),
    Place("Redbud Grill & Bar", "1501 N Classen Blvd", "Oklahoma City", "OK", "73106"),
    Place("Dockside Lanes", "300 Lakeside Ave", "Cleveland", "OH", "44114"),
    Place("Sparrow & Finch", "418 Main Street", "Franklin", "TN", "37064"),
    Place("Pine Knot Tavern", "55 Central Ave", "Albany", "NY", "12210"),
    Place("Wildflower Taphouse", "140 Linden St", "Fort Collins", "CO", "80524"),
    Place("Harvest Moon Pub", "612 Massachusetts St", "Lawrence", "KS", "66044"),
    Place("Yellow Dog Tavern", "1250 Eastern Ave", "Baltimore", "MD", "21231"),
    Place("Lighthouse Social", "1840 Ocean Ave", "San Francisco", "CA", "94112"),
    Place("Dry Creek Saloon", "1450 N 7th Ave", "Phoenix", "AZ", "85007"),
    Place("Magpie Bar", "614 E Grand River Ave", "East Lansing", "MI", "48823"),
    Place("Tall Pines Roadhouse", "9020 Old Seward Hwy", "Anchorage", "AK", "99515"),
    Place("The Corner Stage", "310 Fayetteville St", "Raleigh", "NC", "27601"),
    Place("Lucky Clover Irish Pub", "127 W Main St", "Lexington", "KY", "40507"),
    Place("Velvet Fox Lounge", "1121 Harney Street", "Omaha", "NE", "68102"),
    Place("Rooftop on Fifth", "505 5th Ave S", "Naples", "FL", "34102"),
    Place("Sunspot Brewing Co.", "1600 E 8th Ave", "Tampa", "FL", "33605"),
    Place("Grain Elevator Bar", "22 N Broadway", "Fargo", "ND", "58102"),
    Place("Ember & Oak", "318 W Jefferson Blvd", "Fort Wayne", "IN", "46802"),
    Place("Gull Rock Cafe", "74 Main St", "Bar Harbor", "ME", "04609"),
    Place("Mockingbird Hall", "3815 S Alameda St", "Corpus Christi", "TX", "78411"),
    Place("Pinecone Pizza & Pints", "412 S Gay St", "Knoxville", "TN", "37902"),
    Place("Honeycomb Cafe", "375 W 7th St", "Saint Paul", "MN", "55102"),
    Place("Foghorn Tavern", "1201 Pacific Ave", "Santa Cruz", "CA", "95060"),
    Place("Station 9 Taproom", "9 E Commerce St", "San Antonio", "TX", "78205"),
    Place("The Hitching Post", "188 Westminster St", "Providence", "RI", "02903"),
    Place("Crescent Alehouse", "820 Ryan St", "Lake Charles", "LA", "70601"),
    Place("Snowline Lodge Bar", "248 S Edison St", "Salt Lake City", "UT", "84111"),
    Place("Bayou Bend Bar", "111 E Capitol St", "Jackson", "MS", "39201"),
    Place("Silver Spur Dance Hall", "2501 E Lincoln Way", "Cheyenne", "WY", "82001"),
    Place("Tidewater Oyster Bar", "430 Granby Street", "Norfolk", "VA", "23510"),
    Place("Fern Gully Lounge", "1918 N Mississippi Ave", "Portland", "OR", "97227"),
    Place("Basalt & Barley", "205 W Idaho St", "Boise", "ID", "83702"),
    Place("The Ridge Bar & Kitchen", "1002 N Woodlawn Blvd", "Wichita", "KS", "67208"),
    # more bars in a few of the same cities, so a host can tour one town or state
    Place("Loblolly Tap Room", "1611 E Cesar Chavez St", "Austin", "TX", "78702"),
    Place("Prickly Pear Icehouse", "5312 Burnet Rd", "Austin", "TX", "78756"),
    Place("The Gilded Lark", "2045 W Roscoe St", "Chicago", "IL", "60618"),
    Place("Rail Yard Tap", "1547 W Fullerton Ave", "Chicago", "IL", "60614"),
    Place("Kingfisher Tavern", "3702 SE Division St", "Portland", "OR", "97202"),
    Place("Mossback Alehouse", "2425 NE Alberta Street", "Portland", "OR", "97211"),
    Place("Northern Lights Bar", "2201 Lyndale Ave S", "Minneapolis", "MN", "55405"),
    Place("Inclineview Tavern", "1115 E Carson St", "Pittsburgh", "PA", "15203"),
    Place("Mangrove Social", "2001 E 7th Ave", "Tampa", "FL", "33605"),
)

KINDS = ("karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other")

TITLES: dict[str, tuple[str, ...]] = {
    "karaoke": ("Mic Drop Karaoke", "Sing Your Heart Out", "Karaoke Throwdown", "Power Ballad Karaoke",
                "Karaoke & Cocktails", "Duet Night Karaoke", "Big Hair Karaoke"),
    "trivia": ("Brain Games Trivia", "Pint & Quiz", "Know-It-All Trivia", "Trivia Throwdown", "Quiz Bowl Night",
               "Nerd Herd Trivia", "Smarty Pints Quiz"),
    "live music": ("Porch Sessions", "Songs on the Deck", "Backyard Blues", "Strings & Things", "Live & Loud",
                   "Honky Tonk Hour", "Jazz in the Round", "Soul Supper Club"),
    "comedy": ("Laugh Track Comedy", "Punchline Live", "Giggle Juice Comedy", "Late Laughs", "Roast Pit Comedy",
               "Stand-Up Showdown"),
    "open mic": ("Open Stage", "Mic's Open", "Songwriters in the Round", "Open Mic & Poetry Slam",
                 "Bring Your Own Song", "Unplugged Open Mic"),
    "dj": ("Headphone Disco", "Neon Nights", "Glow Party", "Retro Dance Party", "Throwback Jams", "Salsa Social"),
    "bingo": ("Bingo Blowout", "Boozy Bingo", "Bingo Royale", "Rock & Roll Bingo", "Brunch Bingo",
              "Bingo Bonanza"),
    "other": ("Tabletop Night", "Pinball Showdown", "Cribbage Club", "Euchre Tournament", "Axe Throwing League",
              "Craft & Draft"),
}

# Shorter names for the rows of a line-up (at least three per kind, so a one-kind line-up can vary them).
ROW_TITLES: dict[str, tuple[str, ...]] = {
    "karaoke": ("Karaoke", "Karaoke Throwdown", "Duet Karaoke", "Mic Drop Karaoke"),
    "trivia": ("Trivia", "Pint & Quiz", "Music Trivia", "Movie Trivia"),
    "live music": ("Live Music", "Acoustic Hour", "Delta Blues Hour", "Bluegrass Pickin'", "Late-Night Jazz"),
    "comedy": ("Comedy", "Stand-Up", "Late Laughs", "Comedy Open Mic"),
    "open mic": ("Open Mic", "Open Stage", "Spoken Word Night"),
    "dj": ("Dance Floor Frenzy", "Neon Nights", "Salsa Social", "Vinyl Night"),
    "bingo": ("Bingo", "Boozy Bingo", "Jukebox Bingo", "Bingo Royale"),
    "other": ("Game Table Night", "Cribbage Club", "Pinball League", "Euchre"),
}

# Titles that suit several nights in a row (a date range); otherwise TITLES is used.
RANGE_TITLES: dict[str, tuple[str, ...]] = {
    "live music": ("Winter Porch Fest", "Bluegrass Under the Lights", "Holiday Jam Weekend"),
    "comedy": ("Comedy Weekender", "Laugh Marathon", "Holiday Roast Weekend"),
    "karaoke": ("Karaoke Marathon",),
    "dj": ("New Year Dance-A-Thon", "Disco Weekend"),
}

HOSTS: dict[str, tuple[str, ...]] = {
    "karaoke": ("KJ Roxie", "Mandy Mic", "Karaoke Carlos", "Stacey Starr", "KJ Dominic"),
    "trivia": ("Quiz Boss Gabe", "Nora Finch", "Trivia Trent", "Marcy Bell", "The Quizard"),
    "comedy": ("Keisha Morgan", "Tom Vukovich", "Benny Alvarez", "Greta Lind", "Omar Haddad"),
    "open mic": ("Lily Tran", "Wes Calloway", "June Okafor", "Paulie Mendez"),
    "bingo": ("Lady Lucky", "Miss Ivy Divine", "Cousin Earl", "Auntie Dee"),
    "other": ("Coach Dana", "Gus Petrakis", "Rhonda Kim"),
}
BANDS = ("The Porch Lights", "Gravel & Grace", "Junebug Revival", "The Sunday Drivers", "Low Tide Orchestra",
         "Whiskey Kite", "Maple Street Stompers", "Dana Holloway", "Ruben Ortega Quartet", "The Lamplighters",
         "Cold Creek Stringband", "Hattie & the Hummingbirds")
DJS = ("DJ Tidal", "DJ Honeydip", "DJ Marquee", "DJ Low Orbit", "DJ Velveteen", "DJ Papi Juice")

# Who takes a show from bar to bar (a tour): companies, named hosts, and what they call the show.
TOURING: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "trivia": (("Lamplight Quiz Co.", "Pint-Sized Trivia", "Brainstorm Trivia Co."), ("Quiz Boss Gabe", "Nora Finch"),
               ("Brain Games Trivia", "Team Quiz", "Pint & Quiz", "Trivia Throwdown")),
    "karaoke": (("Hi-Fi Sing-Along Co.", "Backbeat Entertainment"), ("KJ Roxie", "Stacey Starr"),
                ("Karaoke Throwdown", "Mic Drop Karaoke", "Karaoke Night Out")),
    "bingo": (("Bingo Bandits",), ("Lady Lucky", "Cousin Earl"), ("Boozy Bingo", "Bingo Royale", "Rock & Roll Bingo")),
    "comedy": (("Giggle Juice Productions",), ("Keisha Morgan",), ("Comedy on Tour", "Punchline Live")),
    "dj": ((), ("DJ Low Orbit", "DJ Marquee"), ("Retro Dance Party", "Headphone Disco")),
}

PERFORMER_PREFIXES: dict[str, tuple[str, ...]] = {
    "host": ("hosted by", "with", "w/", "Hosted by", "with your host"),
    "band": ("featuring", "with", "feat.", "live:", ""),
    "dj": ("with", "featuring", "spinning:", ""),
}

KICKERS: dict[str, tuple[str, ...]] = {
    "karaoke": ("Grab the mic", "Sing like nobody's listening", "Your song, your stage"),
    "trivia": ("Think you know it all?", "Gather your team", "Test your brain"),
    "live music": ("Live on our stage", "Turn it up", "Good tunes, cold drinks"),
    "comedy": ("Get ready to laugh", "Stand-up for grown-ups", "Jokes on tap"),
    "open mic": ("All performers welcome", "Your five minutes of fame", "Bring a song or a poem"),
    "dj": ("Dance all night", "Wear something shiny", "On the decks"),
    "bingo": ("Dab your way to prizes", "Eyes down", "Prizes every round"),
    "other": ("Bring your A game", "Friendly competition", "Come play"),
}

LINEUP_HEADINGS = ("Every Week", "The Weekly Rundown", "On Deck Every Week", "What's Happening", "Nightly Fun",
                   "Weekly Events at", "Our Week")
DATED_LINEUP_HEADINGS = ("This Week", "Coming Up", "Next Week", "Mark Your Calendar")
TOUR_HEADINGS = ("Find us at", "Catch us every week", "Where we play", "Our stops", "Play with us at")

EXTRAS = ("No cover", "21+", "21 & over", "Free to play", "$4 well drinks", "$2 off all drafts",
          "Half-price wings", "$6 margaritas", "Prizes for the top 3 teams", "Sign up at the bar",
          "Kitchen open late", "Free parking in back", "Bring your crew", "Reservations: {phone}",
          "Info: {phone}", "{site}", "Follow us {handle}", "Tickets at {site}", "Limited seating",
          "Dog-friendly patio", "2-for-1 cocktails", "$10 at the door", "$15 adv / $20 door", "Ages 18+",
          "Cash only bar", "Table reservations recommended")
TIMED_EXTRAS = ("Happy hour 4-6 PM", "Half-price apps till 7")  # a clock that is not the show's
STICKERS = ("FREE!", "NO COVER", "21+", "PRIZES!", "NEW!", "$5 PITCHERS", "ALL AGES", "FREE ENTRY", "LIVE!")

START_TIMES: dict[str, tuple[int, ...]] = {  # minutes after midnight
    "karaoke": (20 * 60, 21 * 60, 21 * 60 + 30, 22 * 60),
    "trivia": (18 * 60 + 30, 19 * 60, 19 * 60 + 30, 20 * 60),
    "live music": (16 * 60, 19 * 60, 20 * 60, 21 * 60, 21 * 60 + 30, 22 * 60),
    "comedy": (19 * 60 + 30, 20 * 60, 21 * 60),
    "open mic": (18 * 60, 19 * 60, 19 * 60 + 30, 20 * 60),
    "dj": (21 * 60, 22 * 60, 22 * 60 + 30, 23 * 60),
    "bingo": (12 * 60, 18 * 60, 19 * 60, 19 * 60 + 30),
    "other": (18 * 60, 18 * 60 + 30, 19 * 60, 20 * 60),
}

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

# Output sizes like phone posts; a social frame needs the tall ones (its post is square or 4:5 inside).
SIZES = ((1080, 1350), (1080, 1080), (1200, 1500), (1080, 1920), (1440, 1800), (1200, 1200))
TALL_SIZES = ((1080, 1350), (1200, 1500), (1080, 1920), (1440, 1800))
FRAME_SIZES = ((1080, 1920), (1242, 2208), (1080, 1620))


# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _hhmm(minutes: int | None) -> str | None:
    if minutes is None:
        return None
    hours, mins = divmod(minutes % 1440, 60)
    return f"{hours:02d}:{mins:02d}"


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


@dataclass
class _When:
    start: int  # minutes after midnight (the show time when doors are printed)
    end: int | None  # may pass midnight
    doors: int | None = None


def _pick_when(rng: np.random.Generator, kind: str) -> _When:
    start = int(_pick(rng, START_TIMES[kind]))
    if kind in ("live music", "comedy") and start >= 19 * 60 and rng.random() < 0.3:
        return _When(start, None, doors=start - int(_pick(rng, (30, 60))))
    if rng.random() < 0.45:
        return _When(start, min(start + int(_pick(rng, (120, 150, 180, 240))), 26 * 60))
    return _When(start, None)


def _clock(minutes: int, style: str, *, meridiem: bool = True) -> str:
    """One time of day: style "PM", " PM", "pm", " pm", " p.m." or ":00 PM" (minutes always shown)."""
    hours, mins = divmod(minutes % 1440, 60)
    if meridiem and mins == 0 and hours == 0 and style.strip() in ("PM", "pm"):
        return "Midnight" if style.strip() == "PM" else "midnight"
    h12 = hours % 12 or 12
    text = f"{h12}:{mins:02d}" if mins or style.startswith(":") else f"{h12}"
    if not meridiem:
        return text
    mer = "AM" if hours < 12 else "PM"
    tail = style.lstrip(":0")
    if tail.strip() == "p.m.":
        return f"{text} {mer[0].lower()}.m."
    if tail.strip() == "pm":
        mer = mer.lower()
    return f"{text}{' ' if tail.startswith(' ') else ''}{mer}"


def _time_text(rng: np.random.Generator, when: _When, *, compact: bool = False) -> str:
    style = _pick(rng, ("PM", "pm") if compact else ("PM", " PM", "pm", " pm", " p.m.", ":00 PM"))
    if when.doors is not None:
        if rng.random() < 0.5:
            return f"Doors {_clock(when.doors, style, meridiem=False)} / Show {_clock(when.start, style)}"
        return f"Doors {_clock(when.doors, style)} · Show {_clock(when.start, style)}"
    if when.end is None:
        text = _clock(when.start, style)
        if not compact and rng.random() < 0.15:
            text += _pick(rng, (" till close", " 'til late", " & on"))
        return text
    same_half = (when.start < 720) == (when.end % 1440 < 720) and 0 < when.end < 1440
    if same_half and style != " p.m." and rng.random() < 0.6:
        return f"{_clock(when.start, style, meridiem=False)}-{_clock(when.end, style)}"
    joiner = "-" if compact else _pick(rng, ("-", " - ", " to ", "–", " – "))
    return f"{_clock(when.start, style)}{joiner}{_clock(when.end, style)}"


def _date_format(rng: np.random.Generator, *, weekday: bool = True) -> tuple[int, int]:
    """How a flyer prints its dates (one choice per flyer, so a list of dates reads alike)."""
    return int(rng.integers(8)), int(rng.integers(4)) if weekday else -1


def _format_date(day: dt.date, fmt: tuple[int, int]) -> str:
    """One printed date: "Friday, December 4", "FRI 12/4", "Dec. 4th", "12.04.26", "December 4, 2026"..."""
    style, prefix_style = fmt
    wd = WEEKDAYS[day.weekday()]
    month = MONTHS[day.month - 1]
    prefix = ("", f"{wd}, ", f"{wd[:3]} ", f"{wd[:3].upper()} ", f"{wd} ")[prefix_style + 1]
    return (f"{prefix}{month} {day.day}", f"{prefix}{day.month}/{day.day}", f"{prefix}{month[:3]}. {_ordinal(day.day)}",
            f"{prefix}{day.month:02d}.{day.day:02d}.{day.year % 100:02d}", f"{prefix}{month} {day.day}, {day.year}",
            f"{prefix}{month[:3]} {day.day}", f"{prefix}{day.month}/{day.day}/{day.year}",
            f"{prefix}{month.upper()} {_ordinal(day.day).upper()}")[style]


def _date_text(rng: np.random.Generator, day: dt.date, *, weekday: bool = True) -> str:
    return _format_date(day, _date_format(rng, weekday=weekday))


def _show(*, title: str, kind: str, performer: str | None, place: Place, with_zip: bool,
          day: dt.date | None = None, weekday: str | None = None, when: _When) -> dict:
    """A ShowFields dict: what a careful reader copies off the flyer, normalised."""
    fields = dict(title=title, kind=kind, performer=performer, venue=place.name, address=place.address(with_zip),
                  street=place.street, city=place.city, state=place.state, zip=place.zip if with_zip else None,
                  start_time=_hhmm(when.start), end_time=_hhmm(when.end))
    if day is not None:
        fields.update(date=day.isoformat(), weekday=WEEKDAYS[day.weekday()], recurrence=None)
    else:
        fields.update(date=None, weekday=weekday, recurrence="weekly")
    # date_note: a run's remark, not something a flyer prints
    return ShowFields.model_validate(fields).model_dump(exclude={"date_note"})


def _performer(rng: np.random.Generator, kind: str) -> tuple[str | None, str | None]:
    """(name, printed line) or (None, None): a host, a band or a DJ, with a prefix that names the role."""
    if kind == "live music":
        name, role = _pick(rng, BANDS), "band"
    elif kind == "dj":
        name, role = _pick(rng, DJS), "dj"
    elif rng.random() < 0.6:  # a host is named on most flyers, not all
        name, role = _pick(rng, HOSTS[kind]), "host"
    else:
        return None, None
    prefix = _pick(rng, PERFORMER_PREFIXES[role])
    return name, f"{prefix} {name}".strip()


def _split_title(rng: np.random.Generator, title: str) -> list[str]:
    """The title as set: one line, or broken over two or three lines at spaces (kept whole in the truth)."""
    words = title.split()
    if len(words) < 2 or rng.random() < 0.35:
        return [title]
    if len(words) >= 3 and rng.random() < 0.4:
        return [" ".join(words[:1]), " ".join(words[1:-1]), words[-1]]
    cut = int(rng.integers(1, len(words)))
    return [" ".join(words[:cut]), " ".join(words[cut:])]


def _extras(rng: np.random.Generator, place: Place, count: int) -> list[str]:
    phone = f"({int(rng.integers(201, 990))}) 555-01{int(rng.integers(0, 100)):02d}"
    pool = list(EXTRAS) + (list(TIMED_EXTRAS) if rng.random() < 0.25 else [])
    chosen: list[str] = []
    while len(chosen) < count:
        text = _pick(rng, pool).format(phone=phone, site=f"www.{place.slug}.com", handle=f"@{place.slug}")
        if text not in chosen and not ("21" in text and any("21" in c for c in chosen)):
            chosen.append(text)
    return chosen


def _upcoming(rng: np.random.Generator, reference: dt.date, *, within: int = 75) -> dt.date:
    return reference + dt.timedelta(days=int(rng.integers(0, within)))


# ---------------------------------------------------------------------------------------------------
# Content: what the page says, and the truth
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Parts:
    """The text of one flyer, by role; the designs decide where each part goes."""

    title_lines: list[str]  # the headline as broken (a line-up's headline is its venue)
    kicker: str | None = None  # small line over the headline, never a fact
    performer: str | None = None  # printed line, e.g. "hosted by Nora Finch"
    when: list[str] = field(default_factory=list)  # printed date/time lines
    tiles: list[tuple[str, str, str]] = field(default_factory=list)  # date tiles: small, big, small
    rows: list[list[list[str]]] = field(default_factory=list)  # rows of cells of lines
    row_head: list[str] | None = None  # table header, when the rows are a table
    row_kind: str = ""  # lineup | tour | pair (two shows)
    venue: str | None = None  # printed venue line (None when the headline or the rows carry it)
    address: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    sticker: str | None = None
    handle: str = ""
    hashtags: list[str] = field(default_factory=list)
    caption: str = ""


def _tag(text: str) -> str:
    return "#" + "".join(c for c in text.title() if c.isalnum())


def _finish(rng: np.random.Generator, parts: _Parts, place: Place, kind: str, title: str) -> _Parts:
    """Distractors, a sticker and a social caption: text a reader must not take for a fact."""
    parts.extras = _extras(rng, place, int(rng.integers(1, 4)))
    parts.sticker = _pick(rng, STICKERS) if rng.random() < 0.45 else None
    suffix = _pick(rng, ("_bar", "_live", "official", "_events", "hq"))
    parts.handle = place.slug if rng.random() < 0.7 else place.slug[:14] + suffix
    mood = _pick(rng, ("nightlife", "local bars", "support local", "weekend plans", "things to do"))
    parts.hashtags = [_tag(title if kind == "other" else kind), _tag(place.city + " events"), _tag(mood)]
    parts.caption = _pick(rng, (f"{title} is back! Who's coming?", f"Don't miss {title}. Tag a friend!",
                                f"See you there! {title} with us.", "Save the date and bring your crew.",
                                "Link in bio for details."))
    return parts


def _single_content(rng: np.random.Generator, reference: dt.date, *, weekly: bool) -> tuple[_Parts, list[dict]]:
    kind = _pick(rng, KINDS)
    place = _pick(rng, PLACES)
    title = _pick(rng, TITLES[kind])
    name, line = _performer(rng, kind)
    when = _pick_when(rng, kind)
    with_zip = rng.random() < 0.85
    parts = _Parts(_split_title(rng, title), kicker=_pick(rng, KICKERS[kind]) if rng.random() < 0.5 else None,
                   performer=line, venue=place.name)
    time_text = _time_text(rng, when)
    if weekly:
        weekday = _pick(rng, WEEKDAYS)
        style = int(rng.integers(6))
        if "Doors" in time_text and style in (1, 2):  # "Tuesdays · Doors 7 / Show 8" reads badly: a line of its own
            style = 0
        parts.when = ([f"Every {weekday}", time_text] if style == 0 else
                      [f"{weekday}s · {time_text}"] if style == 1 else
                      [f"Every {weekday[:3]} @ {time_text}"] if style == 2 else
                      [f"{weekday.upper()}S", time_text] if style == 3 else
                      [f"Each {weekday}", f"from {time_text}" if "-" in time_text else time_text] if style == 4 else
                      [f"{weekday} nights", time_text])
        if style == 5 and "Doors" not in time_text and rng.random() < 0.5:  # a weekly tile: EVERY / TUE / 8PM
            parts.when = [time_text]
            parts.tiles = [("EVERY", weekday[:3].upper(), "")]
        show = _show(title=title, kind=kind, performer=name, place=place, with_zip=with_zip, weekday=weekday,
                     when=when)
    else:
        day = _upcoming(rng, reference)
        if rng.random() < 0.3:  # a date tile: FRI / 4 / DEC
            parts.tiles = [(WEEKDAYS[day.weekday()][:3].upper(), str(day.day), MONTHS[day.month - 1][:3].upper())]
            parts.when = [time_text]
        elif rng.random() < 0.5:
            parts.when = [_date_text(rng, day), time_text]
        else:
            parts.when = [f"{_date_text(rng, day)} {_pick(rng, ('·', '|', '@', '-', '/'))} {time_text}"]
        show = _show(title=title, kind=kind, performer=name, place=place, with_zip=with_zip, day=day, when=when)
    parts.address = [place.address(with_zip)] if rng.random() < 0.5 else [place.street, place.city_line(with_zip)]
    return _finish(rng, parts, place, kind, title), [show]


def _lineup_content(rng: np.random.Generator, reference: dt.date) -> tuple[_Parts, list[dict], str]:
    """A venue's week: one row per night (day, what, time); one kind every night or mixed kinds."""
    place = _pick(rng, PLACES)
    one_kind = rng.random() < 0.35
    kinds = [_pick(rng, ("karaoke", "trivia", "live music", "bingo", "comedy", "dj"))] if one_kind else list(KINDS)
    count = int(rng.integers(3, 7))
    days = sorted(rng.choice(7, size=count, replace=False).tolist())
    dated = rng.random() < 0.3
    host_roll = rng.random()
    with_zip = rng.random() < 0.85
    # a dated line-up is next week's: the Monday on or after the reference date, then the chosen days
    monday = reference + dt.timedelta(days=(7 - reference.weekday()) % 7)
    rows, shows, used = [], [], set()
    day_style = int(rng.integers(4))
    # dated rows print bare day numbers under a month heading, unless the week crosses into the next month
    first_day, last_day = monday + dt.timedelta(days=days[0]), monday + dt.timedelta(days=days[-1])
    numeric = day_style % 2 == 1 or first_day.month != last_day.month
    for d in days:
        kind = _pick(rng, kinds)
        title = _pick(rng, [t for t in ROW_TITLES[kind] if t not in used] or ROW_TITLES[kind])
        used.add(title)
        when = _pick_when(rng, kind)
        when.doors = None  # a row has room for one time
        weekday = WEEKDAYS[d]
        day_text = (weekday[:3].upper(), weekday, weekday.upper() + "S", weekday[:3] + ".")[day_style]
        if dated:
            day = monday + dt.timedelta(days=d)
            day_text = f"{weekday[:3]} {day.month}/{day.day}" if numeric else f"{weekday[:3].upper()} {day.day}"
            shows.append(_show(title=title, kind=kind, performer=None, place=place, with_zip=with_zip, day=day,
                               when=when))
        else:
            shows.append(_show(title=title, kind=kind, performer=None, place=place, with_zip=with_zip,
                               weekday=weekday, when=when))
        rows.append([[day_text], [title], [_time_text(rng, when, compact=True)]])
    hosted = sorted({s["kind"] for s in shows} & set(HOSTS))  # a host for the whole week, of a kind it has
    host = _pick(rng, HOSTS[_pick(rng, hosted)]) if hosted and host_roll < 0.25 else None
    for show in shows:
        show["performer"] = host
    if dated:
        month = MONTHS[(monday + dt.timedelta(days=days[0])).month - 1]
        # the month is printed when the days are bare numbers ("THU 3")
        heading = _pick(rng, DATED_LINEUP_HEADINGS) + ("" if numeric else f" · {month}")
    else:
        heading = _pick(rng, LINEUP_HEADINGS)
    parts = _Parts(_split_title(rng, place.name) if rng.random() < 0.5 else [place.name], kicker=heading,
                   rows=rows, row_kind="lineup",
                   row_head=["Day", "Event", "Time"] if rng.random() < 0.4 else None,
                   performer=f"{_pick(rng, ('All week with', 'Hosted by', 'Your host:'))} {host}" if host else None)
    parts.address = [place.address(with_zip)] if rng.random() < 0.6 else [place.street, place.city_line(with_zip)]
    subtype = "single_kind" if len({s["kind"] for s in shows}) == 1 else "mixed"
    return _finish(rng, parts, place, kinds[0], "Our weekly lineup"), shows, subtype


def _tour_content(rng: np.random.Generator, reference: dt.date) -> tuple[_Parts, list[dict]]:
    """One host or company at several bars: each row its own day, time, venue and address."""
    kind = _pick(rng, tuple(TOURING))
    companies, people, titles = TOURING[kind]
    company = bool(companies) and rng.random() < 0.5
    host, title = _pick(rng, companies if company else people), _pick(rng, titles)
    count = int(rng.integers(3, 6))
    # a host works one region: the bars of the first stop's state first, then the nearest others by ZIP
    order = [PLACES[i] for i in rng.permutation(len(PLACES))]
    home = order[0]
    places = sorted(order, key=lambda p: (p.state != home.state, abs(int(p.zip) - int(home.zip))))[:count]
    places = [places[i] for i in rng.permutation(count)]
    with_zip = rng.random() < 0.7
    dated = rng.random() < 0.3
    day = _upcoming(rng, reference, within=30)
    weekdays = sorted(rng.choice(7, size=count, replace=False).tolist())
    layout = int(rng.integers(3))
    fmt = _date_format(rng)
    rows, shows = [], []
    for place, d in zip(places, weekdays):
        when = _pick_when(rng, kind)
        when.doors = None
        time_text = _time_text(rng, when, compact=True)
        if dated:  # the stops of one run, a day or a few apart
            day_text = _format_date(day, fmt)
            shows.append(_show(title=title, kind=kind, performer=host, place=place, with_zip=with_zip, day=day,
                               when=when))
            day += dt.timedelta(days=int(rng.integers(1, 4)))
        else:
            weekday = WEEKDAYS[d]
            day_text = _pick(rng, (weekday + "s", weekday.upper() + "S", "Every " + weekday, weekday[:3].upper()))
            shows.append(_show(title=title, kind=kind, performer=host, place=place, with_zip=with_zip,
                               weekday=weekday, when=when))
        where = [place.name, place.address(with_zip)] if layout == 2 else \
            [place.name, place.street, place.city_line(with_zip)]
        rows.append([[day_text], where, [time_text]] if layout == 1 else [[day_text, time_text], where])
    prefix = _pick(rng, ("presented by", "with") if company else ("with", "hosted by", "with host"))
    parts = _Parts(_split_title(rng, title), kicker=_pick(rng, TOUR_HEADINGS), performer=f"{prefix} {host}",
                   rows=rows, row_kind="tour")
    parts = _finish(rng, parts, places[0], kind, title)
    parts.extras = parts.extras[:2]  # the rows fill the page
    parts.handle = "".join(c for c in host.lower() if c.isalnum())  # the host posts a tour
    return parts, shows


def _series_dates(rng: np.random.Generator, reference: dt.date) -> tuple[list[dt.date], str | None]:
    """Several dates of one show, and a phrase for them when printed as "every Friday in January"."""
    if rng.random() < 0.3:  # every <weekday> of the next month or the one after
        first = (reference.replace(day=1) + dt.timedelta(days=32 * int(rng.integers(1, 3)))).replace(day=1)
        weekday = int(rng.integers(7))
        day = first + dt.timedelta(days=(weekday - first.weekday()) % 7)
        dates = []
        while day.month == first.month:
            dates.append(day)
            day += dt.timedelta(days=7)
        return dates, f"Every {WEEKDAYS[weekday]} in {MONTHS[first.month - 1]}"
    first = _upcoming(rng, reference, within=40)
    step = int(_pick(rng, (7, 7, 14, 1, 2)))
    return [first + dt.timedelta(days=i * step) for i in range(int(rng.integers(2, 5)))], None


def _dates_list(rng: np.random.Generator, dates: list[dt.date]) -> list[str]:
    """The printed dates of a series: "Dec 4, 11 & 18", "12/4 · 12/11 · 12/18", one per line..."""
    same_month = len({d.month for d in dates}) == 1
    style = int(rng.integers(4))
    if style == 0 and same_month:
        days = [str(d.day) for d in dates]
        joined = ", ".join(days[:-1]) + f" & {days[-1]}"
        return [f"{_pick(rng, (MONTHS[dates[0].month - 1], MONTHS[dates[0].month - 1][:3]))} {joined}"]
    if style == 1:
        return [" · ".join(f"{d.month}/{d.day}" for d in dates)]
    if style == 2:
        fmt = _date_format(rng)
        return [_format_date(d, fmt) for d in dates]
    return [", ".join(f"{MONTHS[d.month - 1][:3]} {d.day}" for d in dates)]


def _series_content(rng: np.random.Generator, reference: dt.date) -> tuple[_Parts, list[dict]]:
    kind = _pick(rng, KINDS)
    place = _pick(rng, PLACES)
    title = _pick(rng, TITLES[kind])
    name, line = _performer(rng, kind)
    when = _pick_when(rng, kind)
    with_zip = rng.random() < 0.85
    dates, phrase = _series_dates(rng, reference)
    parts = _Parts(_split_title(rng, title), kicker=_pick(rng, KICKERS[kind]) if rng.random() < 0.4 else None,
                   performer=line, venue=place.name)
    time_text = _time_text(rng, when)
    if phrase:
        parts.when = [phrase, time_text]
    elif rng.random() < 0.35 and len(dates) <= 4:
        parts.tiles = [(WEEKDAYS[d.weekday()][:3].upper(), str(d.day), MONTHS[d.month - 1][:3].upper())
                       for d in dates]
        parts.when = [time_text]
    else:
        parts.when = _dates_list(rng, dates) + [time_text]
    parts.address = [place.address(with_zip)] if rng.random() < 0.5 else [place.street, place.city_line(with_zip)]
    shows = [_show(title=title, kind=kind, performer=name, place=place, with_zip=with_zip, day=d, when=when)
             for d in dates]
    return _finish(rng, parts, place, kind, title), shows


def _range_content(rng: np.random.Generator, reference: dt.date) -> tuple[_Parts, list[dict]]:
    kind = _pick(rng, ("live music", "comedy", "karaoke", "dj", "live music", "comedy", "other", "trivia"))
    place = _pick(rng, PLACES)
    title = _pick(rng, RANGE_TITLES.get(kind, ()) + TITLES[kind])
    name, line = _performer(rng, kind)
    when = _pick_when(rng, kind)
    with_zip = rng.random() < 0.85
    first = _upcoming(rng, reference, within=50)
    dates = [first + dt.timedelta(days=i) for i in range(int(rng.integers(2, 5)))]
    last = dates[-1]
    wd1, wd2 = WEEKDAYS[first.weekday()], WEEKDAYS[last.weekday()]
    m1, m2 = MONTHS[first.month - 1][:3], MONTHS[last.month - 1][:3]
    style = int(rng.integers(5))
    if style == 0:
        span = (f"{m1} {first.day}–{last.day}" if first.month == last.month
                else f"{m1} {first.day} – {m2} {last.day}")
    elif style == 1:
        span = f"{wd1[:3]}–{wd2[:3]}, {m1} {first.day}–" + (f"{last.day}" if first.month == last.month
                                                            else f"{m2} {last.day}")
    elif style == 2:
        span = f"{wd1} {m1} {first.day} thru {wd2} {m2} {last.day}"
    elif style == 3:
        span = f"{first.month}/{first.day} - {last.month}/{last.day}"
    else:
        span = f"{MONTHS[first.month - 1]} {_ordinal(first.day)} to {MONTHS[last.month - 1]} {_ordinal(last.day)}"
    parts = _Parts(_split_title(rng, title), kicker=f"{len(dates)} nights only" if rng.random() < 0.3 else None,
                   performer=line, venue=place.name)
    time_text = _time_text(rng, when)
    if rng.random() < 0.3:  # the span and a tile per night
        parts.tiles = [(WEEKDAYS[d.weekday()][:3].upper(), str(d.day), MONTHS[d.month - 1][:3].upper())
                       for d in dates]
    lead = _pick(rng, ("Nightly at", "Every night", "Each night", "Shows at"))
    parts.when = [span, f"{lead} {time_text}" if rng.random() < 0.5 and "Doors" not in time_text else time_text]
    parts.address = [place.address(with_zip)] if rng.random() < 0.5 else [place.street, place.city_line(with_zip)]
    shows = [_show(title=title, kind=kind, performer=name, place=place, with_zip=with_zip, day=d, when=when)
             for d in dates]
    return _finish(rng, parts, place, kind, title), shows


def _two_shows_content(rng: np.random.Generator, reference: dt.date) -> tuple[_Parts, list[dict]]:
    """Two shows one night at one venue: an early and a late show of one title, or two different shows."""
    place = _pick(rng, PLACES)
    with_zip = rng.random() < 0.85
    weekly = rng.random() < 0.25
    day = None if weekly else _upcoming(rng, reference)
    if day is None:  # the same draws, in the same order, as before
        weekday = _pick(rng, WEEKDAYS)
        date_line = f"Every {weekday}"
    else:
        weekday = WEEKDAYS[day.weekday()]
        date_line = _date_text(rng, day)
    style = _pick(rng, ("PM", " PM", "pm"))
    if rng.random() < 0.4:  # early and late show
        kind = _pick(rng, ("comedy", "live music", "comedy"))
        title = _pick(rng, TITLES[kind])
        name, line = _performer(rng, kind)
        early = int(_pick(rng, (18 * 60 + 30, 19 * 60, 19 * 60 + 30)))
        late = early + int(_pick(rng, (150, 180)))
        whens = [_When(early, None), _When(late, None)]
        rows = [[[f"{label} {_clock(w.start, style)}"]] for label, w in
                zip(_pick(rng, (("Early show", "Late show"), ("1st show", "2nd show"), ("Show 1", "Show 2"))), whens)]
        titles, names, kinds = [title, title], [name, name], [kind, kind]
        parts = _Parts(_split_title(rng, title), performer=line, venue=place.name, when=[date_line], rows=rows,
                       row_kind="pair")
    else:
        kinds = [str(k) for k in rng.choice(["bingo", "trivia", "karaoke", "open mic", "dj", "live music", "other"],
                                            size=2, replace=False)]
        first, second = kinds
        early = int(_pick(rng, (17 * 60, 18 * 60, 18 * 60 + 30, 19 * 60)))
        late = early + int(_pick(rng, (150, 180, 210)))
        whens = [_When(early, early + 120 if rng.random() < 0.5 else None), _When(late, None)]
        titles = [_pick(rng, TITLES[k]) for k in kinds]
        performers = [_performer(rng, k) for k in kinds]
        names = [p[0] for p in performers]
        rows = []
        for t, (n, printed), w in zip(titles, performers, whens):
            rows.append([[_time_text(rng, w, compact=True)], [t] + ([printed] if printed else [])])
        headline = _pick(rng, ("Double Feature", "Two Shows One Night", "Double the Fun", "Twice the Party",
                               f"Big {weekday}"))
        parts = _Parts(_split_title(rng, headline), venue=place.name, when=[date_line], rows=rows, row_kind="pair")
        kind = first
    parts.address = [place.address(with_zip)] if rng.random() < 0.5 else [place.street, place.city_line(with_zip)]
    shows = [_show(title=t, kind=k, performer=n, place=place, with_zip=with_zip, day=day,
                   weekday=None if day else weekday, when=w) for t, k, n, w in zip(titles, kinds, names, whens)]
    return _finish(rng, parts, place, kind, titles[0]), shows


# ---------------------------------------------------------------------------------------------------
# Look: colours, fonts, backgrounds
# ---------------------------------------------------------------------------------------------------

RGB = tuple[int, int, int]
BLACK, WHITE = (17, 17, 17), (250, 250, 248)


def _hsv(h: float, s: float, v: float) -> RGB:
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))  # type: ignore[return-value]


def _luminance(color: RGB) -> float:
    """WCAG relative luminance."""
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in color)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: RGB, b: RGB) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _mix(a: RGB, b: RGB, share: float) -> RGB:
    return tuple(round(x * (1 - share) + y * share) for x, y in zip(a, b))  # type: ignore[return-value]


def _hex(color: RGB) -> str:
    return "#%02x%02x%02x" % color


def _readable(rng: np.random.Generator, surfaces: list[RGB], minimum: float) -> RGB:
    """A colour reading at WCAG contrast >= minimum on every surface (often tinted, sometimes plain)."""
    dark_text = np.mean([_luminance(s) for s in surfaces]) > 0.2
    for _ in range(100):
        color = _hsv(rng.random(), rng.uniform(0, 0.8) if rng.random() < 0.6 else 0.0,
                     rng.uniform(0.0, 0.35) if dark_text else rng.uniform(0.85, 1.0))
        if all(_contrast(color, s) >= minimum for s in surfaces):
            return color
    return max((BLACK, WHITE), key=lambda c: min(_contrast(c, s) for s in surfaces))


@dataclass
class _Palette:
    bg1: RGB
    bg2: RGB
    fg: RGB  # main text on the background
    mute: RGB  # secondary text on the background
    ac: RGB  # accent surface (panels, badges, tiles)
    acfg: RGB  # text on the accent
    dark: bool


def _palette(rng: np.random.Generator) -> _Palette:
    dark = rng.random() < 0.55
    hue = rng.random()
    if dark:
        bg1 = _hsv(hue, rng.uniform(0.35, 0.9), rng.uniform(0.07, 0.24))
        bg2 = _hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.35, 0.9), rng.uniform(0.05, 0.28))
    else:
        bg1 = _hsv(hue, rng.uniform(0.03, 0.3), rng.uniform(0.9, 1.0))
        bg2 = _hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.03, 0.35), rng.uniform(0.86, 1.0))
    fg = _readable(rng, [bg1, bg2], 7.0)
    mute = _readable(rng, [bg1, bg2], 4.8)
    while True:  # an accent that black or white text reads on, and that stands out from the background
        ac = _hsv(rng.random(), rng.uniform(0.55, 0.95), rng.uniform(0.45, 0.95))
        acfg = max((BLACK, WHITE), key=lambda c: _contrast(c, ac))
        if _contrast(acfg, ac) >= 5.0 and _contrast(ac, bg1) >= 1.6:
            return _Palette(bg1, bg2, fg, mute, ac, acfg, dark)


def _background(rng: np.random.Generator, pal: _Palette) -> str:
    a, b = _hex(pal.bg1), _hex(pal.bg2)
    style = int(rng.integers(6))
    deg, x, y = int(rng.integers(0, 360)), int(rng.integers(10, 90)), int(rng.integers(10, 90))
    step = int(rng.integers(24, 70))
    if style == 0:
        return a
    if style == 1:
        return f"linear-gradient({deg}deg, {a}, {b})"
    if style == 2:
        return f"radial-gradient(circle at {x}% {y}%, {b}, {a} 70%)"
    if style == 3:
        return f"repeating-linear-gradient({deg}deg, {a} 0 {step}px, {b} {step}px {2 * step}px)"
    if style == 4:
        return f"radial-gradient({b} 22%, transparent 24%) 0 0/{step}px {step}px, {a}"
    return (f"repeating-conic-gradient(from {deg}deg at {x}% {y}%, {a} 0 {step // 4}deg, "
            f"{b} {step // 4}deg {step // 2}deg)")


def _shapes(rng: np.random.Generator, pal: _Palette, width: int, height: int) -> str:
    """A few flat CSS shapes behind the text, faint enough that the text keeps its contrast."""
    share = 0.25
    while share > 0.05 and min(_contrast(pal.fg, _mix(s, pal.ac, share)) for s in (pal.bg1, pal.bg2)) < 5.0:
        share -= 0.03
    out = []
    for _ in range(int(rng.integers(0, 4))):
        size = int(rng.uniform(0.25, 0.7) * width)
        left, top = int(rng.uniform(-0.3, 0.9) * width), int(rng.uniform(-0.2, 0.9) * height)
        base = (f"position:absolute;left:{left}px;top:{top}px;width:{size}px;height:{size}px;"
                f"opacity:{share:.2f};z-index:0;")
        shape = int(rng.integers(5))
        color = _hex(pal.ac)
        if shape == 0:
            out.append(f'<div style="{base}border-radius:50%;background:{color}"></div>')
        elif shape == 1:
            out.append(f'<div style="{base}border-radius:50%;border:{size // 10}px solid {color}"></div>')
        elif shape == 2:
            out.append(f'<div style="{base}background:{color};clip-path:polygon(50% 0,100% 100%,0 100%)"></div>')
        elif shape == 3:
            out.append(f'<div style="{base}background:{color};border-radius:38% 62% 55% 45%/45% 40% 60% 55%"></div>')
        else:
            out.append(f'<div style="{base}height:{size // 5}px;background:{color};'
                       f'transform:rotate({int(rng.integers(-40, 40))}deg)"></div>')
    return "".join(out)


DISPLAY_FONTS = (  # family, stretch, weight, style
    ("DejaVu Sans", "condensed", 700, "normal"), ("DejaVu Sans", "normal", 700, "normal"),
    ("DejaVu Serif", "normal", 700, "normal"), ("DejaVu Serif", "condensed", 700, "italic"),
    ("DejaVu Sans Mono", "normal", 700, "normal"), ("DejaVu Sans", "normal", 200, "normal"),
    ("DejaVu Serif", "normal", 400, "italic"), ("DejaVu Sans", "condensed", 700, "italic"),
    ("DejaVu Serif", "condensed", 700, "normal"),
)
BODY_FONTS = (
    ("DejaVu Sans", "normal", 400, "normal"), ("DejaVu Sans", "condensed", 400, "normal"),
    ("DejaVu Serif", "normal", 400, "normal"), ("DejaVu Sans Mono", "normal", 400, "normal"),
    ("DejaVu Sans", "normal", 700, "normal"), ("DejaVu Serif", "condensed", 400, "normal"),
    ("DejaVu Sans", "condensed", 700, "normal"),
)


def _font(spec: tuple[str, str, int, str]) -> str:
    family, stretch, weight, style = spec
    return f"font-family:'{family}';font-stretch:{stretch};font-weight:{weight};font-style:{style};"


@dataclass
class _Look:
    pal: _Palette
    display: str  # CSS of the display face
    body: str  # CSS of the body face
    strong: str  # CSS of the emphasised body face (venue, row titles)
    upper_title: bool
    upper_when: bool
    title_spacing: float  # em
    title_shadow: str  # CSS text-shadow or ""
    align: str  # center | left


def _look(rng: np.random.Generator, pal: _Palette) -> _Look:
    display = _pick(rng, DISPLAY_FONTS)
    body = _pick(rng, BODY_FONTS)
    strong = (body[0], body[1], 700, body[3])
    shadow = ""
    roll = rng.random()
    if roll < 0.25:  # a hard offset shadow in the accent colour
        shadow = f"{int(rng.integers(2, 5))}px {int(rng.integers(2, 5))}px 0 {_hex(pal.ac)}"
    elif roll < 0.45:  # a soft glow
        shadow = f"0 0 {int(rng.integers(8, 20))}px {_hex(_mix(pal.bg1, pal.ac, 0.6))}"
    return _Look(pal, _font(display), _font(body), _font(strong), upper_title=rng.random() < 0.6,
                 upper_when=rng.random() < 0.35, title_spacing=float(_pick(rng, (0, 0, 0.02, 0.05, 0.08, -0.01))),
                 title_shadow=shadow, align=_pick(rng, ("center", "center", "left")))


# ---------------------------------------------------------------------------------------------------
# Markup: parts into HTML
# ---------------------------------------------------------------------------------------------------

esc = html.escape


def _gap(px: float) -> str:
    """A length that shrinks with the page when its text must shrink to fit."""
    return f"calc(var(--k) * {px:g}px)"


def _text(content: str, px: float, *, minimum: float = MIN_TEXT_PX, cls: str = "", style: str = "",
          tag: str = "div") -> str:
    """One text element the fitting script may shrink, from ``px`` down to ``minimum`` (CSS px)."""
    px = round(max(px, minimum), 1)
    klass = f' class="{cls}"' if cls else ""
    return f'<{tag}{klass} data-fs="{px}" data-min="{minimum}" style="font-size:{px}px;{style}">{content}</{tag}>'


def _justify(look: _Look) -> str:
    return "center" if look.align == "center" else "flex-start"


def _title_html(rng: np.random.Generator, parts: _Parts, look: _Look, width: float, *, color: RGB,
                shadow: bool = True) -> str:
    lines = parts.title_lines
    longest = max(len(line) for line in lines)
    px = min(200.0, width * rng.uniform(1.5, 1.9) / max(longest, 4))
    style = (f"{look.display}color:{_hex(color)};letter-spacing:{look.title_spacing}em;line-height:1.02;"
             + (f"text-shadow:{look.title_shadow};" if shadow and look.title_shadow else "")
             + ("text-transform:uppercase;" if look.upper_title else ""))
    if longest * 0.62 * 48 > width:  # a narrow box: the words wrap where they must, as a designer's text box
        return _text(esc(" ".join(lines)), px, minimum=48, style=style)
    if len(lines) > 1 and rng.random() < 0.3:  # one box, lines broken with <br>
        return _text("<br>".join(esc(line) for line in lines), px, minimum=48, style=style + "white-space:nowrap;")
    if len(lines) > 1 and rng.random() < 0.3:  # each line its own size, the short ones bigger (a type stack)
        return "".join(_text(esc(line), min(220.0, width * 1.7 / max(len(line), 4)), minimum=48,
                             style=style + "white-space:nowrap;") for line in lines)
    return "".join(_text(esc(line), px, minimum=48, style=style + "white-space:nowrap;") for line in lines)


def _kicker_html(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB) -> str:
    if not parts.kicker:
        return ""
    spacing = _pick(rng, (0.05, 0.12, 0.2))
    return _text(esc(parts.kicker), rng.uniform(30, 40), cls="opt", minimum=MIN_EXTRA_PX,
                 style=f"{look.body}color:{_hex(color)};letter-spacing:{spacing}em;text-transform:uppercase;")


def _performer_html(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB) -> str:
    if not parts.performer:
        return ""
    style = f"{_pick(rng, (look.body, look.strong, look.display))}color:{_hex(color)};"
    if rng.random() < 0.3:
        style += "font-style:italic;"
    return _text(esc(parts.performer), rng.uniform(40, 58), style=style)


def _when_html(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB) -> str:
    pal = look.pal
    out = []
    if parts.tiles:
        tiles = []
        border = _hex(pal.ac)
        for top, big, bottom in parts.tiles:
            cells = (_text(esc(top), 30, style=f"{look.strong}") + _text(esc(big), 84, minimum=44,
                                                                       style=f"{look.display}line-height:1;")
                     + (_text(esc(bottom), 30, style=f"{look.strong}") if bottom else ""))
            fill = rng.random() < 0.5
            tiles.append(f'<div style="display:flex;flex-direction:column;align-items:center;'
                         f'padding:{_gap(14)} {_gap(22)};border:4px solid {border};border-radius:{_gap(14)};'
                         f'background:{_hex(pal.ac) if fill else "transparent"};'
                         f'color:{_hex(pal.acfg if fill else color)};">{cells}</div>')
        out.append(f'<div style="display:flex;flex-wrap:wrap;gap:{_gap(18)};justify-content:{_justify(look)};">'
                   f'{"".join(tiles)}</div>')
    style = f"{_pick(rng, (look.strong, look.body, look.display))}color:{_hex(color)};" \
            + ("text-transform:uppercase;" if look.upper_when else "")
    badge = rng.random() < 0.3
    for i, line in enumerate(parts.when):
        px = rng.uniform(44, 62) if i == 0 else rng.uniform(38, 52)
        if badge and i == 0:
            out.append(f'<div style="display:flex;justify-content:{_justify(look)};">'
                       + _text(esc(line), px, style=f"{style}color:{_hex(pal.acfg)};background:{_hex(pal.ac)};"
                               f"padding:{_gap(8)} {_gap(26)};border-radius:999px;") + "</div>")
        else:
            out.append(_text(esc(line), px, style=style))
    return "".join(out)


def _where_html(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB, mute: RGB) -> str:
    out = []
    if parts.venue:
        prefix = _pick(rng, ("", "", "", "at ", "@ "))
        out.append(_text(esc(prefix + parts.venue), rng.uniform(42, 58), style=f"{look.strong}color:{_hex(color)};"))
    for line in parts.address:
        out.append(_text(esc(line), rng.uniform(32, 40), style=f"{look.body}color:{_hex(mute)};"))
    return "".join(out)


def _extras_html(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB) -> str:
    if not parts.extras:
        return ""
    mono = _font(("DejaVu Sans Mono", "normal", 400, "normal")) if rng.random() < 0.3 else look.body
    if rng.random() < 0.5:  # chips
        chips = "".join(_text(esc(e), 30, minimum=MIN_EXTRA_PX,
                              style=f"{mono}color:{_hex(color)};border:3px solid {_hex(color)};border-radius:999px;"
                                    f"padding:{_gap(6)} {_gap(20)};")
                        for e in parts.extras)
        return (f'<div class="opt" style="display:flex;flex-wrap:wrap;gap:{_gap(14)};'
                f'justify-content:{_justify(look)};">{chips}</div>')
    joiner = _pick(rng, ("  •  ", "  |  ", "  ·  ", "  /  "))
    return _text(esc(joiner.join(parts.extras)), 30, minimum=MIN_EXTRA_PX, cls="opt",
                 style=f"{mono}color:{_hex(color)};white-space:pre-wrap;")


def _sticker_html(rng: np.random.Generator, parts: _Parts, look: _Look) -> str:
    if not parts.sticker:
        return ""
    pal = look.pal
    turn = int(rng.integers(-18, 19))
    size = int(rng.integers(150, 200))
    shape = "border-radius:50%;" if rng.random() < 0.6 else f"border-radius:{_gap(12)};"
    return (f'<div class="opt" style="flex:none;width:{_gap(size)};height:{_gap(size)};{shape}'
            f'background:{_hex(pal.ac)};color:{_hex(pal.acfg)};display:flex;align-items:center;'
            f'justify-content:center;text-align:center;transform:rotate({turn}deg);'
            f'box-shadow:0 {_gap(6)} {_gap(14)} rgba(0,0,0,.35);margin:{_gap(16)};">'
            + _text(esc(parts.sticker), 34, minimum=MIN_EXTRA_PX, style=f"{look.strong}line-height:1.05;")
            + "</div>")


def _rows_html(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB, mute: RGB,
               *, width: float) -> str:
    """Line-up, tour and two-show rows: a table, a list with a badge per row, or a grid of cards."""
    if not parts.rows:
        return ""
    pal = look.pal
    ncells = len(parts.rows[0])
    style = int(rng.integers(3))
    if parts.row_kind == "tour" and ncells == 2 and len(parts.rows) <= 4 and width >= 900 and style == 2:
        columns = 2
    else:
        columns = 1
        style = min(style, 1) if parts.row_kind != "pair" else style % 2

    def cell(lines: list[str], first_strong: bool, px: float) -> str:
        out = []
        for i, line in enumerate(lines):
            strong = first_strong and i == 0
            out.append(_text(esc(line), px if i == 0 else px * 0.85,
                             style=f"{look.strong if strong else look.body}"
                                   f"color:{_hex(color if strong or i == 0 else mute)};"))
        return "".join(out)

    px = rng.uniform(34, 44)
    if columns == 2:  # cards
        cards = []
        for row in parts.rows:
            when, where = row
            cards.append(f'<div style="border:3px solid {_hex(pal.ac)};border-radius:{_gap(18)};padding:{_gap(18)};">'
                         f'<div style="background:{_hex(pal.ac)};color:{_hex(pal.acfg)};padding:{_gap(4)} {_gap(12)};'
                         f'margin-bottom:{_gap(10)};">'
                         + "".join(_text(esc(x), px * 0.9, style=f"{look.strong}") for x in when)
                         + "</div>" + cell(where, True, px * 0.9) + "</div>")
        return (f'<div style="display:grid;grid-template-columns:1fr 1fr;gap:{_gap(20)};width:100%;'
                f'text-align:left;">{"".join(cards)}</div>')
    if style == 0:  # a table
        zebra = _hex(_mix(pal.bg1, pal.fg, 0.08))
        head = ""
        if parts.row_head and ncells == len(parts.row_head):
            head = "<tr>" + "".join(_text(esc(h), 30, tag="th", style=f"{look.strong}color:{_hex(pal.acfg)};"
                                    f"background:{_hex(pal.ac)};text-align:left;padding:{_gap(8)} {_gap(14)};"
                                    "text-transform:uppercase;letter-spacing:.08em;")
                                    for h in parts.row_head) + "</tr>"
        body = []
        for n, row in enumerate(parts.rows):
            tds = "".join(f'<td style="padding:{_gap(10)} {_gap(14)};vertical-align:top;'
                          f'{"white-space:nowrap;" if len(c) == 1 and j != 1 else ""}">'
                          f"{cell(c, j == 0 or (parts.row_kind == 'tour' and j == 1), px)}</td>"
                          for j, c in enumerate(row))
            body.append(f'<tr style="background:{zebra if n % 2 else "transparent"};'
                        f'border-bottom:2px solid {_hex(_mix(pal.bg1, pal.fg, 0.3))};">{tds}</tr>')
        return f'<table style="text-align:left;">{head}{"".join(body)}</table>'
    # a list: the first cell as a badge, the rest beside it
    items = []
    for row in parts.rows:
        first, rest = row[0], row[1:]
        badge = (f'<div style="flex:none;min-width:{_gap(180 if parts.row_kind != "pair" else 230)};'
                 f'background:{_hex(pal.ac)};color:{_hex(pal.acfg)};padding:{_gap(8)} {_gap(14)};'
                 f'border-radius:{_gap(10)};">' + "".join(_text(esc(x), px * 0.9, style=f"{look.strong}")
                                                          for x in first) + "</div>")
        cells = "".join(f'<div style="flex:1 1 auto;">{cell(c, True, px)}</div>' for c in rest)
        items.append(f'<div style="display:flex;gap:{_gap(20)};align-items:flex-start;text-align:left;'
                     f'margin:{_gap(10)} 0;">{badge}{cells}</div>')
    return f'<div style="width:100%;">{"".join(items)}</div>'


# ---------------------------------------------------------------------------------------------------
# Designs: each fills a box 1080 CSS px wide (or less) and 100% of the height it is given
# ---------------------------------------------------------------------------------------------------


def _section(content: str, look: _Look, *, gap: float = 10, extra: str = "") -> str:
    if not content:
        return ""
    return (f'<div style="position:relative;z-index:1;width:100%;display:flex;flex-direction:column;'
            f'gap:{_gap(gap)};{extra}">{content}</div>')


def _header(rng: np.random.Generator, parts: _Parts, look: _Look, color: RGB) -> str:
    """The kicker and the sticker on one row (the sticker in the flow, so it never covers a fact)."""
    kicker, sticker = _kicker_html(rng, parts, look, color), _sticker_html(rng, parts, look)
    if not (kicker or sticker):
        return ""
    left, right = (kicker, sticker) if rng.random() < 0.6 else (sticker, kicker)
    return (f'<div style="position:relative;z-index:1;width:100%;display:flex;align-items:center;'
            f'justify-content:space-between;gap:{_gap(20)};">{left}{right}</div>')


def _design_stack(rng: np.random.Generator, parts: _Parts, look: _Look, width: int, height: int) -> str:
    pal = look.pal
    pad = rng.uniform(48, 80)
    frame = ""
    if rng.random() < 0.35:  # a printed border inside the edge
        frame = (f"outline:{int(rng.integers(4, 12))}px {_pick(rng, ('solid', 'double', 'dashed'))} "
                 f"{_hex(pal.fg if rng.random() < 0.5 else pal.ac)};outline-offset:-{int(pad * 0.45)}px;")
    inner = width - 2 * pad
    body = (_header(rng, parts, look, pal.mute)
            + _section(_title_html(rng, parts, look, inner, color=pal.fg), look, gap=2)
            + _section(_performer_html(rng, parts, look, pal.fg), look)
            + _section(_when_html(rng, parts, look, pal.fg), look, gap=12)
            + _section(_rows_html(rng, parts, look, pal.fg, pal.mute, width=inner), look)
            + _section(_where_html(rng, parts, look, pal.fg, pal.mute), look, gap=4)
            + _section(_extras_html(rng, parts, look, pal.mute), look))
    return (f'<div class="box" style="position:relative;width:100%;height:100%;background:{_background(rng, pal)};'
            f'color:{_hex(pal.fg)};display:flex;flex-direction:column;text-align:{look.align};'
            f'justify-content:{_pick(rng, ("space-evenly", "space-between", "space-around"))};'
            f'padding:{_gap(pad)};gap:{_gap(18)};{frame}">{_shapes(rng, pal, width, height)}{body}</div>')


def _design_split(rng: np.random.Generator, parts: _Parts, look: _Look, width: int, height: int) -> str:
    """A coloured panel with the title beside (or over) the details."""
    pal = look.pal
    columns = not parts.rows and rng.random() < 0.6
    pad = rng.uniform(40, 64)
    share = rng.uniform(0.4, 0.5) if columns else 1.0
    panel_width = width * share - 2 * pad
    title = _title_html(rng, parts, look, panel_width, color=pal.acfg, shadow=False)
    panel = (_header(rng, parts, look, pal.acfg) + _section(title, look, gap=2))
    if columns and rng.random() < 0.5:  # the when goes with the title in the panel
        panel += _section(_when_html(rng, parts, look, pal.acfg), look, gap=10)
        when = ""
    else:
        when = _section(_when_html(rng, parts, look, pal.fg), look, gap=12)
    details = (_section(_performer_html(rng, parts, look, pal.fg), look) + when
               + _section(_rows_html(rng, parts, look, pal.fg, pal.mute, width=int(width - 2 * pad)), look)
               + _section(_where_html(rng, parts, look, pal.fg, pal.mute), look, gap=4)
               + _section(_extras_html(rng, parts, look, pal.mute), look))
    panel_css = (f"background:{_hex(pal.ac)};color:{_hex(pal.acfg)};display:flex;flex-direction:column;"
                 f"justify-content:center;gap:{_gap(18)};padding:{_gap(pad)};")
    detail_css = (f"position:relative;background:{_background(rng, pal)};display:flex;flex-direction:column;"
                  f"justify-content:space-evenly;gap:{_gap(16)};padding:{_gap(pad)};")
    grid = (f"grid-template-columns:{share * 100:.0f}% 1fr;" if columns else "grid-template-rows:auto 1fr;")
    if not columns and rng.random() < 0.5:  # a slanted edge under the panel
        panel_css += (f"clip-path:polygon(0 0,100% 0,100% 100%,0 calc(100% - {_gap(40)}));"
                      f"padding-bottom:{_gap(pad + 40)};")
    return (f'<div class="box" style="width:100%;height:100%;display:grid;{grid}text-align:{look.align};'
            f'color:{_hex(pal.fg)};">'
            f'<div class="box" style="{panel_css}">{panel}</div>'
            f'<div class="box" style="{detail_css}">{_shapes(rng, pal, width, height)}{details}</div></div>')


def _design_ticket(rng: np.random.Generator, parts: _Parts, look: _Look, width: int, height: int) -> str:
    """A ticket on a patterned ground: notches and a dashed tear line between the show and its stub."""
    pal = look.pal
    inset = rng.uniform(0.04, 0.07) * width
    pad = rng.uniform(36, 56)
    inner = width - 2 * inset - 2 * pad
    ground_dark = _hex(_mix(pal.ac, (0, 0, 0), 0.18))
    ground = (f"repeating-linear-gradient({int(rng.integers(20, 70))}deg, {_hex(pal.ac)} 0 {_gap(30)}, "
              f"{ground_dark} {_gap(30)} {_gap(60)})")
    top = (_header(rng, parts, look, pal.mute)
           + _section(_title_html(rng, parts, look, inner, color=pal.fg), look, gap=2)
           + _section(_performer_html(rng, parts, look, pal.fg), look))
    stub = (_section(_when_html(rng, parts, look, pal.fg), look, gap=12)
            + _section(_rows_html(rng, parts, look, pal.fg, pal.mute, width=int(inner)), look)
            + _section(_where_html(rng, parts, look, pal.fg, pal.mute), look, gap=4)
            + _section(_extras_html(rng, parts, look, pal.mute), look))
    notch = (f'position:absolute;width:{_gap(70)};height:{_gap(70)};border-radius:50%;background:{_hex(pal.ac)};'
             f'top:calc(-1 * {_gap(35)});')
    return (f'<div class="box" style="width:100%;height:100%;background:{ground};padding:{inset:.0f}px;display:flex;">'
            f'<div class="box" style="flex:1;display:flex;flex-direction:column;background:{_hex(pal.bg1)};'
            f'color:{_hex(pal.fg)};border-radius:{_gap(28)};text-align:{look.align};">'
            f'<div style="display:flex;flex-direction:column;justify-content:center;gap:{_gap(14)};'
            f'padding:{_gap(pad)};">{top}</div>'
            f'<div style="position:relative;flex:1;display:flex;flex-direction:column;justify-content:space-evenly;'
            f'gap:{_gap(14)};padding:{_gap(pad)};border-top:{_gap(5)} dashed {_hex(pal.mute)};">'
            f'<div style="{notch}left:calc(-1 * {_gap(35)});"></div><div style="{notch}right:calc(-1 * {_gap(35)});">'
            f'</div>{stub}</div></div></div>')


def _design_bands(rng: np.random.Generator, parts: _Parts, look: _Look, width: int, height: int) -> str:
    """Full-width bands: title, an accent band for the when, the rest, and a dark strip for the place."""
    pal = look.pal
    strip, strip_fg = ((235, 235, 230), BLACK) if pal.dark else ((24, 24, 28), WHITE)
    pad = rng.uniform(40, 64)
    inner = width - 2 * pad

    def band(content: str, css: str, *, grow: bool = False) -> str:
        if not content:
            return ""
        return (f'<div style="position:relative;{"flex:1 1 auto;" if grow else "flex:none;"}display:flex;'
                f'flex-direction:column;justify-content:center;gap:{_gap(12)};padding:{_gap(pad * 0.7)} {_gap(pad)};'
                f'{css}">{content}</div>')

    head = band(_header(rng, parts, look, pal.mute)
                + _section(_title_html(rng, parts, look, inner, color=pal.fg), look, gap=2)
                + _section(_performer_html(rng, parts, look, pal.fg), look),
                f"background:{_background(rng, pal)};", grow=True)
    when = band(_section(_when_html(rng, parts, look, pal.acfg), look, gap=10), f"background:{_hex(pal.ac)};")
    rows = band(_section(_rows_html(rng, parts, look, pal.fg, pal.mute, width=int(inner)), look),
                f"background:{_hex(pal.bg1)};", grow=True)
    where = band(_section(_where_html(rng, parts, look, strip_fg, strip_fg), look, gap=4),
                 f"background:{_hex(strip)};")
    extras = band(_section(_extras_html(rng, parts, look, pal.mute), look), f"background:{_hex(pal.bg2)};")
    return (f'<div class="box" style="width:100%;height:100%;display:flex;flex-direction:column;'
            f'text-align:{look.align};background:{_hex(pal.bg1)};color:{_hex(pal.fg)};">'
            f'{head}{when}{rows}{where}{extras}</div>')


DESIGNS = {"stack": _design_stack, "split": _design_split, "ticket": _design_ticket, "bands": _design_bands}


def _social_frame(rng: np.random.Generator, parts: _Parts, post: str, location: str) -> str:
    """The flyer as a post in a phone's feed: @handle and "2h" over it, likes, caption and #hashtags under it."""
    dark = rng.random() < 0.4
    bg, fg, mute = ((0, 0, 0), (245, 245, 245), (168, 168, 168)) if dark else ((255, 255, 255), (17, 17, 17),
                                                                              (96, 96, 96))
    font = _font(_pick(rng, (("DejaVu Sans", "normal", 400, "normal"), ("DejaVu Sans", "condensed", 400, "normal"))))
    bold = font.replace("font-weight:400", "font-weight:700")
    status = ""
    if rng.random() < 0.5:  # a phone screenshot: the status bar's clock is not the show's time
        clock = f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d}"
        status = ('<div style="display:flex;justify-content:space-between;padding:10px 40px;">'
                  + _text(clock, 28, minimum=MIN_EXTRA_PX, style=bold) + _text(f"{int(rng.integers(12, 100))}%", 28,
                                                                                minimum=MIN_EXTRA_PX, style=font)
                  + "</div>")
    initials = "".join(w[0] for w in parts.handle.replace("_", " ").split()[:2]).upper() or "B"
    age = _pick(rng, ("2h", "5h", "1d", "3 hours ago", "Yesterday", "45m"))
    header = (f'<div style="display:flex;align-items:center;gap:20px;padding:16px 28px;">'
              f'<div style="flex:none;width:84px;height:84px;border-radius:50%;padding:5px;'
              f'background:conic-gradient(#f58529,#dd2a7b,#8134af,#f58529);">'
              f'<div style="width:100%;height:100%;border-radius:50%;background:{_hex(bg)};display:flex;'
              f'align-items:center;justify-content:center;">'
              + _text(esc(initials[:2]), 30, minimum=MIN_EXTRA_PX, style=bold) + "</div></div>"
              '<div style="flex:1;min-width:0;">'
              + _text(esc(parts.handle) + f' <span style="{font}color:{_hex(mute)};">• {esc(age)}</span>', 32,
                      minimum=MIN_EXTRA_PX, style=bold + "white-space:nowrap;overflow:hidden;")
              + _text(esc(location), 28, minimum=MIN_EXTRA_PX, style=font)
              + "</div>" + _text("•••", 32, minimum=MIN_EXTRA_PX, style=bold) + "</div>")
    likes = f"{int(rng.integers(12, 4000)):,} likes"
    tags = " ".join(parts.hashtags)
    caption = ('<div style="padding:6px 28px 16px;display:flex;flex-direction:column;gap:8px;">'
               + _text("♡   ✉   ➤", 40, minimum=MIN_EXTRA_PX, style=font)
               + _text(esc(likes), 30, minimum=MIN_EXTRA_PX, style=bold)
               + _text(f'<b>{esc(parts.handle)}</b> {esc(parts.caption)} '
                       f'<span style="color:{_hex((0, 85, 170) if not dark else (120, 170, 255))};">{esc(tags)}</span>',
                       30, minimum=MIN_EXTRA_PX, style=font)
               + _text(f"View all {int(rng.integers(3, 200))} comments", 28, minimum=MIN_EXTRA_PX,
                       style=font + f"color:{_hex(mute)};")
               + "</div>")
    return (f'<div class="box" style="width:100%;height:100%;display:flex;flex-direction:column;'
            f'background:{_hex(bg)};color:{_hex(fg)};">{status}{header}'
            f'<div class="box" style="flex:1 1 0;min-height:0;">{post}</div>{caption}</div>')


# ---------------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------------


@dataclass
class HtmlPage:
    """One flyer as HTML and what a careful reader copies off it; a pure function of (seed, reference date)."""

    seed: int
    layout: str  # one of LAYOUTS
    category: str  # the flyers-dev manifest's category and subtype
    subtype: str
    template: str  # the design, "+social" when framed as a post
    size: tuple[int, int]  # output pixels
    html: str
    shows: list[dict]

    @property
    def css_size(self) -> tuple[int, int]:
        width, height = self.size
        return LAYOUT_WIDTH, round(height * LAYOUT_WIDTH / width)


def _content(rng: np.random.Generator, layout: str, reference: dt.date) -> tuple[_Parts, list[dict], str]:
    if layout in ("single", "weekly"):
        parts, shows = _single_content(rng, reference, weekly=layout == "weekly")
        return parts, shows, _subtype(layout)
    if layout == "lineup":
        return _lineup_content(rng, reference)
    build = {"tour": _tour_content, "series": _series_content, "range": _range_content,
             "two-shows": _two_shows_content}[layout]
    parts, shows = build(rng, reference)
    return parts, shows, _subtype(layout)


def _subtype(layout: str) -> str:
    """The layout's fixed subtype (only a line-up's is chosen per flyer, by ``_lineup_content``)."""
    subtype = GROUPS[layout][1]
    assert subtype is not None
    return subtype


def _document(body: str, width: int, height: int) -> str:
    return ('<!DOCTYPE html><html style="--k:1"><head><meta charset="utf-8"><style>'
            f"html,body{{margin:0;padding:0}}body{{width:{width}px;height:{height}px;overflow:hidden}}"
            "*{box-sizing:border-box}[data-fs]{line-height:1.18;margin:0}"
            "table{border-collapse:collapse;width:100%}.box{overflow:hidden}"
            f"</style></head><body>{body}</body></html>")


def build_page(seed: int, *, reference_date: dt.date) -> HtmlPage:
    """The HTML and truth of flyer ``seed``; its layout group is ``LAYOUTS[seed % len(LAYOUTS)]``."""
    rng = np.random.default_rng(seed)
    layout = LAYOUTS[seed % len(LAYOUTS)]
    parts, shows, subtype = _content(rng, layout, reference_date)
    # four rows or more, or rows whose last cell is three lines (a tour's venue, street, city): a tall page
    many_rows = len(parts.rows) >= 4 or bool(parts.rows and len(parts.rows[0][-1]) >= 3)
    social = rng.random() < 0.3
    if social:
        size = _pick(rng, FRAME_SIZES)
    else:
        size = _pick(rng, TALL_SIZES if many_rows else SIZES)
    design = _pick(rng, tuple(DESIGNS))
    look = _look(rng, _palette(rng))
    width, height = LAYOUT_WIDTH, round(size[1] * LAYOUT_WIDTH / size[0])
    post_height = height - 560 if social else height  # about what the feed's header and caption leave
    body = DESIGNS[design](rng, parts, look, width, post_height)
    if social:
        place = next((p for p in PLACES if p.name == shows[0]["venue"]), None)
        location = f"{place.city}, {place.state}" if place else ""
        body = _social_frame(rng, parts, body, location)
    category = GROUPS[layout][0]
    return HtmlPage(seed, layout, category, subtype, design + ("+social" if social else ""), size,
                    _document(body, width, height), shows)


# ---------------------------------------------------------------------------------------------------
# Rendering in headless Chromium
# ---------------------------------------------------------------------------------------------------

# Shrinks the page until it fits, the way a designer would: each line to its own width first, then every text
# and gap together (never below a line's data-min), then drops optional parts (distractors, stickers, kicker).
# Reports whether every text element ended up whole inside the page, and the page's text.
FIT_SCRIPT = """() => {
  const root = document.documentElement;
  const texts = [...document.querySelectorAll('[data-fs]')];
  // The boxes that clip each text: an ancestor with class "box" (overflow hidden), and the page itself.
  const clips = new Map(texts.map(e => { const out = []; let a = e.parentElement;
    while (a) { if (a.classList.contains('box')) out.push(a); a = a.parentElement; } return [e, out]; }));
  const shown = e => e.getClientRects().length > 0;
  const wide = e => e.scrollWidth > e.clientWidth + 1;
  const within = (r, b) => r.left >= b.left - 1 && r.top >= b.top - 1
    && r.right <= b.right + 1 && r.bottom <= b.bottom + 1;
  const page = {left: 0, top: 0, right: innerWidth, bottom: innerHeight};
  // Decorations (shapes, notches) may spill out of a box; only text is checked, against every box clipping it.
  const cut = e => shown(e) && (wide(e) || !within(e.getBoundingClientRect(), page)
    || clips.get(e).some(b => !within(e.getBoundingClientRect(), b.getBoundingClientRect())));
  const over = () => texts.some(cut);
  const size = (e, px) => { e.style.fontSize = px + 'px'; };
  for (const e of texts) {
    let px = +e.dataset.fs; const lo = +e.dataset.min;
    while (wide(e) && px > lo) { px = Math.max(lo, px * 0.95); size(e, px); }
    e.dataset.cap = px;
  }
  let k = 1;
  while (over() && k > 0.3) {
    k = Math.round((k - 0.03) * 100) / 100;
    root.style.setProperty('--k', k);
    for (const e of texts) size(e, Math.max(+e.dataset.min, Math.min(+e.dataset.cap, +e.dataset.fs * k)));
  }
  let dropped = 0;
  for (const e of document.querySelectorAll('.opt')) {
    if (!over()) break;
    e.style.display = 'none'; dropped++;
  }
  const visible = texts.filter(shown);
  const minPx = Math.min(...visible.map(e => parseFloat(getComputedStyle(e).fontSize)));
  const culprits = visible.filter(cut).map(e => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom].map(Math.round).join(',') + ': ' + e.innerText.slice(0, 40); });
  return {k, dropped, fits: !over(), minPx, culprits, text: document.body.innerText};
}"""


@dataclass
class HtmlFlyer:
    """A rendered HTML flyer and its truth."""

    name: str
    image: Image.Image  # RGB, ``size`` pixels
    layout: str
    shows: list[dict]
    seed: int
    photo: bool
    category: str
    subtype: str
    template: str
    html: str
    lines: list[str]  # the page's text as laid out (innerText), top to bottom
    fit: dict = field(default_factory=dict)  # what the fitting script did: k, dropped, minPx


class _Browser:
    """One headless Chromium for a batch (starting it costs about a second)."""

    def __enter__(self):
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise RuntimeError("HTML flyers need playwright (it drives Debian's chromium, it never downloads a "
                               "browser): pip install 'playwright>=1.45', or the project's [test] extra") from exc
        if not Path(CHROMIUM).exists():
            raise RuntimeError(f"HTML flyers need Debian's chromium at {CHROMIUM}: "
                               "apt-get install -y --no-install-recommends chromium")
        self._playwright = sync_playwright().start()
        try:
            self.browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        except Exception:
            self._playwright.stop()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.browser.close()
        finally:
            self._playwright.stop()

    def render(self, page: HtmlPage) -> tuple[Image.Image, dict]:
        width, height = page.css_size
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           device_scale_factor=page.size[0] / width)
        try:
            # Nothing leaves the machine: the page is set in place and any request it makes is refused.
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("data:")
                          else route.abort())
            tab = context.new_page()
            tab.set_content(page.html, wait_until="load")
            fit = tab.evaluate(FIT_SCRIPT)
            png = tab.screenshot(type="png", animations="disabled", caret="hide")
        finally:
            context.close()
        image = Image.open(io.BytesIO(png)).convert("RGB")
        if image.size != page.size:  # a device scale factor can round a pixel off
            image = image.resize(page.size, Image.Resampling.LANCZOS)
        return image, fit


def _photo(image: Image.Image, seed: int) -> Image.Image:
    return photo_variant(image, np.random.default_rng([seed, 7]))


def render_pages(pages: list[HtmlPage], *, photo=False, check: bool = True) -> list[HtmlFlyer]:
    """Render ``pages`` in one browser. ``photo``: True, False, or the set of seeds to photograph.

    Raises ValueError when a page cannot fit its text at legible sizes (a design bug, never silent), unless
    ``check`` is False (to look at such a page).
    """
    flyers = []
    with _Browser() as browser:
        for page in pages:
            image, fit = browser.render(page)
            if check and (not fit["fits"] or fit["minPx"] < MIN_EXTRA_PX - 0.5):
                raise ValueError(f"html flyer seed {page.seed} ({page.layout}, {page.template}) does not fit its "
                                 f"page at legible sizes: {fit['k']=}, {fit['minPx']=}, {fit['culprits'][:3]}")
            photographed = photo if isinstance(photo, bool) else page.seed in photo
            if photographed:
                image = _photo(image, page.seed)
            lines = [line.strip() for line in fit.pop("text").splitlines() if line.strip()]
            name = f"{page.seed}-{page.layout}{'-photo' if photographed else ''}"
            flyers.append(HtmlFlyer(name, image, page.layout, page.shows, page.seed, photographed, page.category,
                                    page.subtype, page.template, page.html, lines, fit))
    return flyers


def make_html_flyers(seeds, *, reference_date: dt.date, photo: bool = False) -> list[HtmlFlyer]:
    """Build and render one flyer per seed (one browser for the batch); ``photo`` applies the photographed look."""
    return render_pages([build_page(int(seed), reference_date=reference_date) for seed in seeds], photo=photo)


# ---------------------------------------------------------------------------------------------------
# A folder like flyers-dev: images, truth.json, manifest.json
# ---------------------------------------------------------------------------------------------------


README = """# HTML flyers: {count} flyers drawn as web pages by headless Chromium, with ground truth

Written by `python -m daskparse.testing.html_flyers --out DIR --count {count} --seed {seed} --reference-date {reference}`
(flyer i is seed {seed}000 + i; {photos} of them photographed with `daskparse.testing.flyers.photo_variant`).
A third set, independent of the project's Pillow generator and of flyers-dev: HTML/CSS layouts (stacks, split
panels, tickets, bands, social-media post frames), own wording, the product's field definitions.

- `html_NNN.jpg`: the images; `truth.json`: file name -> shows (title, kind, performer, venue, address, street,
  city, state, zip, date, weekday, recurrence, start_time, end_time).
- `manifest.json`: `reference_date`, and per image `category`/`subtype` (as flyers-dev's), `layout` (single,
  weekly, lineup, tour, series, range, two-shows), `n_shows`, `photo_like`, `template`, `size`, `seed`.
"""


def write_html_set(out_dir, *, count: int, seed: int, reference_date: dt.date, photo_share: float = 0.5) -> dict:
    """Write ``html_NNN.jpg``, truth.json, manifest.json and a README.md to ``out_dir``; return timing figures.

    Flyer i is seed ``seed * 1000 + i`` (so the groups take turns); ``photo_share`` of them, chosen by ``seed``,
    are photographed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [seed * 1000 + i for i in range(count)]
    chosen = np.random.default_rng(seed).choice(count, size=round(count * photo_share), replace=False)
    photos = {seeds[i] for i in chosen.tolist()}
    started = time.perf_counter()
    flyers = render_pages([build_page(s, reference_date=reference_date) for s in seeds], photo=photos)
    elapsed = time.perf_counter() - started
    truth, images = {}, {}
    for i, flyer in enumerate(flyers):
        name = f"html_{i:03d}.jpg"
        flyer.image.save(out / name, "JPEG", quality=90)
        truth[name] = flyer.shows
        images[name] = {"category": flyer.category, "subtype": flyer.subtype, "layout": flyer.layout,
                        "n_shows": len(flyer.shows), "photo_like": flyer.photo, "template": flyer.template,
                        "size": list(flyer.image.size), "seed": flyer.seed}
    for stale in out.glob("html_[0-9][0-9][0-9].jpg"):  # images of an earlier, larger run
        if stale.name not in truth:
            stale.unlink()
    (out / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    manifest = {"reference_date": reference_date.isoformat(), "seed": seed,
                "generator": "daskparse.testing.html_flyers", "images": images}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(README.format(count=count, seed=seed, reference=reference_date.isoformat(),
                                                  photos=len(photos)), encoding="utf-8")
    return {"count": count, "seconds": round(elapsed, 2), "seconds_per_flyer": round(elapsed / max(count, 1), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write HTML/CSS flyers rendered by headless Chromium, with truth.")
    parser.add_argument("--out", type=Path, required=True, help="folder for the images, truth.json, manifest.json")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5150)
    parser.add_argument("--reference-date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--photo-share", type=float, default=0.5)
    args = parser.parse_args(argv)
    figures = write_html_set(args.out, count=args.count, seed=args.seed, reference_date=args.reference_date,
                             photo_share=args.photo_share)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
