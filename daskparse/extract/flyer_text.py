"""The flyer reader: text lines (OCR boxes, or typed lines) -> shows.

Geometry first (:mod:`daskparse.extract.layout`: deskew, columns, rows in reading order), then each
row is given what its words say (an address, a when, a performer cue, a heading, a decoration, or a
plain name), then the flyer is read by its shape:

- **several places** (two or more addresses): a tour or a line-up of venues. Every address closes a
  *record* (the rows since the previous address); a record's day, date, time, venue and its own title
  are cut from its text by separators ("·", "|", "@", " - "), so a row wrapped over two lines reads as
  one. The rows above the first record are the header: its big type is the title (or, when the rows
  carry their own titles, the host), its cue line ("hosted by", "spinning:") the performer.
- **one place with rows by weekday**: a venue's weekly line-up, one weekly show per row.
- **one place**: a single show, or a series ("Jan 9, 16 & 23", one show per date), a range
  ("Jan 5 - 8", one per day), two shows a night ("7PM AND 9PM SHOWS", one per start time).

Title, venue and performer are *phrases*: neighbouring rows of one type size and letter case joined
("PUB" / "TRIVIA" -> "PUB TRIVIA"). The title is the phrase in the biggest type; the venue the phrase
just above the address; the performer a cued phrase, a self-named one ("DJ Nova") or a name between
the title and the when.

**Not a flyer, no shows.** A show needs a what (a title), a when (a date or weekday) and a where (a
venue or an address) read off the image; a time alone is not a show. Receipts and menus (rows of
prices), chat screenshots and pages of text (many rows, mostly sentences) give none.

Raw fields go through :func:`daskparse.normalise.normalise_show`, like every other extractor's.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import usaddress

from daskparse import normalise as nz
from daskparse.dates import printed, resolve_show
from daskparse.extract.layout import Row, TextLine, pieces, read_rows, tilt
from daskparse.shows import WEEKDAYS, ShowFields

__all__ = ["TextLine", "parse_flyer"]

# Most shows one flyer can yield (a month of nightly dates, a long line-up).
MAX_SHOWS = 40
# Days a printed range may span ("Jan 5 - 8"): longer ones are festivals' seasons, not nightly shows.
MAX_RANGE_DAYS = 14


# --------------------------------------------------------------------------------------------
# Cleaning


def _split_glued_label(text: str) -> str:
    """"MONBingo" -> "MON Bingo", "SundaysDarts" -> "Sundays Darts": OCR drops the gap after the day."""
    match = re.match(r"\W*([A-Za-z]+)", text)
    if not match or nz.weekday_of(match.group(1))[0]:
        return text
    word = match.group(1)
    for cut in range(min(len(word) - 2, 10), 2, -1):
        # the cut must show in the letters' case: "MON|Bingo", "Sundays|Darts" (but not "SUN|SET")
        seam = word[cut].isupper() and (word[cut - 1].islower() or word[cut + 1].islower())
        if seam and nz.weekday_of(word[:cut])[0]:
            return text[: match.start(1) + cut] + " " + text[match.start(1) + cut:]
    return text


# Bullets and ornaments set between a row's fields, read as separators.
_ORNAMENTS = re.compile(r"\s*[\u25a0-\u25ff\u2605\u2606\u2666\u2756\u2219\u22c5\u2043\u2981\u29bf]\s*")


def _clean(text: str) -> str:
    return nz.split_glued_words(_split_glued_label(nz.repair_ocr_text(_ORNAMENTS.sub(" | ", text))))


def _worth_reading(text: str, line: TextLine, page_tilt: float) -> bool:
    """False for OCR specks: a lone character read without confidence, or a box standing askew."""
    letters = re.sub(r"[^0-9A-Za-z]", "", text)
    if not letters:
        return False
    if len(letters) <= 2 and (line.confidence < 0.9 or abs(math.radians(line.angle) - page_tilt) > math.radians(20)):
        return False
    return True


def _read(lines: Sequence[TextLine]) -> list[Row]:
    page_tilt = tilt(lines)
    kept = [(ln, _clean(ln.text)) for ln in lines]
    kept = [(ln, text) for ln, text in kept if _worth_reading(text, ln, page_tilt)]
    rows = read_rows(pieces([ln for ln, _ in kept], [text for _, text in kept]))
    for previous, row in zip(rows, rows[1:]):  # "Every Thu @ 7" / "pm": a time's am/pm wrapped to a line alone
        if re.fullmatch(r"(?i)\W*[ap]\.?\s?m\.?\W*", row.text) and previous.column == row.column:
            previous.texts = [previous.text + row.text.strip()]
            row.texts = [""]
    return [row for row in rows if row.text.strip()]


# --------------------------------------------------------------------------------------------
# What words say

_DECORATION = re.compile(
    r"(?i)^\W*\d{2}\s*\+\W*$|^\W*(?-i:[@#][a-z0-9_.]{3,})|\s(?-i:@[a-z0-9_.]{3,})|\#\w|www\.|\.com\b|\bfree\s+(?:entry|admission|show|to\s+play)\b|\bno\s+cover\b|"
    r"\bspecials?\b|\bdrafts?\b|\bhappy\s+hour\b|\ball\s+ages\b|\bbring\s+(?:your|a)\s+friends?\b|"
    r"\bprizes?\b|\bsign[\s-]?up\b|\$\s?\d|\bcover\s+charge\b|\btickets?\b|\brsvp\b|\bfollow\s+us\b|"
    r"\breservations?\b|\b21\s*\+|\bages?\s+\d\d\s*\+|\bkitchen\s+(?:is\s+)?open\b|\bbook\s+us\b|\bfree\b|\bcall\b|"
    r"\(\d{3}\)\s*\d{3}|\b\d{3}[-.]\d{3}[-.]\d{4}\b|\badv\b|\b\d+\s+(?:comments?|shares?|likes?|reactions?|views?|replies)\b|"
    r"^\W*(?:like|comment|share|reply|send|follow|message)(?:\W+(?:like|comment|share|reply|send))*\W*$|\b\d{1,2}\s?[hmdw]\W*$|"
    r"\d\s*(?:at\s+the\s+)?door\b|\bmenu\b|\bdrinks?\b|\bwings\b")
_HEADING = re.compile(
    r"(?i)^\W*(?:weekly\s+(?:events?|line\s*-?\s*up|schedule|specials)|this\s+week(?:\s+at\b.*)?|"
    r"every\s*week|what'?s\s+(?:on|happening|up)|line\s*-?\s*up|upcoming(?:\s+events)?|schedule|events|coming\s+up|"
    r"don'?t\s+miss(?:\s+it)?|find\s+us(?:\s+at)?|where\s+to\s+find\s+us|join\s+us(?:\s+at)?|"
    r"(?:\d+|one|two|three|four|five)\s+nights?|(?:tour\s+)?dates|locations?)\W*$|"
    r"\bpresents?\W*$")
_HEADING_VENUE = re.compile(r"(?i)^\W*this\s+week\s+at\s+(?P<venue>.+?)\W*$")
_CUE = (r"hosted\s+by|host(?:ed)?\s*:|presented\s+by|with|w/|featuring|feat\.?|ft\.|starring|music\s+by|"
        r"spinning\s*:?|led\s+by|headliner\s*:|headlining\s*:?|special\s+guests?\s*:?|live\s*:|"
        r"your\s+hosts?\s*:?|quizmaster\s*:|emcee\s*:|mc\s*:|dj\s*:|kj\s*:|on\s+the\s+decks\s*:?")
_PERFORMER_CUE = re.compile(r"(?i)^\W*(?:" + _CUE + r")(?:\s+|$)")
_CUE_INSIDE = re.compile(r"(?i)\s*(?:\b(?:hosted\s+by|presented\s+by|with|featuring|feat\.?|starring|led\s+by)\b|"
                         r"\bw/|:)\s*")
# Names that say what they are: "DJ Nova", "KJ Mike", "Quizmaster Dan", "MC Rae".
_SELF_NAMED = re.compile(r"(?i)^\W*(?:DJ|KJ|MC|VJ|Quiz\s?master|Captain)\s+(?!night\b|party\b|set\b|battle\b)[A-Za-z]")
_BAND_WORDS = re.compile(r"(?i)\b(?:band|brothers|sisters|trio|quartet|quintet|duo|orchestra|ensemble|"
                         r"collective|project|experience|revival|boys|girls)\b")
_COMPANY = re.compile(r"(?i)\b(?:productions?|entertainment|events|presents|promotions|company|co\.?|"
                      r"trivia\s+co|quiz\s+co|karaoke\s+co|media|sound|music\s+group)\W*$")
_STREET_START = re.compile(r"(?i)^[\s(#]*\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s*(?:[A-Za-z]|\d{1,4}\s?(?:st|nd|rd|th)\b)")
_LEADING_AT = re.compile(r"(?i)^\W*(?:(?:at|live\s+at|located\s+at)\s+|@\s*)")
# Money: "$5", "12.99", "RM 41.95": rows of these are a receipt or a menu, not a flyer.
_PRICE = re.compile(r"(?:[$€£]\s?\d+(?:[.,]\d\d)?|(?<![\d:])\d{1,5}[.,]\d\d(?![\d:]|\s?[ap]\.?m))", re.I)
# A decimal amount ("8.5", "22.50"), not a time ("8.30pm"), a date ("12.05.26") or a percentage.
_DECIMAL = re.compile(r"(?<![\d:.])\d{1,3}\.\d{1,2}(?![\d:.%])(?!\s?[ap]\.?m)", re.I)
_SEPARATORS = re.compile(r"\s*(?:\s\|\s|\|| [-/:] | [-/] ?|/|\s@\s|^@\s|\s{2,}|\s-(?=\s)|(?<=[a-z.'])-(?=\d))\s*")


def _street_like(text: str) -> bool:
    """A house number, then words among which a street type or direction ("418 Harbor Ave")."""
    prepared = nz.prepare_address(text)
    if not _STREET_START.match(prepared) or nz.find_times(nz.strip_dates(prepared)):
        return False
    words = [w.strip(".,").lower() for w in prepared.split()[1:]]
    return any(w in usaddress.STREET_NAMES or w in usaddress.DIRECTIONS or w in ("route", "highway", "hwy", "us")
               for w in words)


_STATE_END = re.compile(r"(?i)(?:,|\s)\s*(?P<state>[A-Z]{2})\.?(?:\s*,?\s*(?P<zip>\d{5})(?:-\d{4})?)?\W*$")


def _city_line(text: str) -> bool:
    """Ends with a state and ZIP ("Austin, TX 78701") or ", ST" alone; the state a real one."""
    prepared = nz.prepare_address(text)
    match = nz._STATE_ZIP.search(prepared)
    if match and match.group("state") and nz.parse_state(match.group("state")):
        return True
    match = _STATE_END.search(prepared)
    return bool(match and match.group("state").isupper() and nz.parse_state(match.group("state"))
                and re.search(r"[a-z]{2}", prepared[: match.start()]))


# --------------------------------------------------------------------------------------------
# When


@dataclass
class When:
    """Everything a text says about when: dates (a series or a range expanded), weekday, times."""

    dates: list[dt.date] = field(default_factory=list)
    year_printed: bool = False  # else the dates' year is the reader's guess: the run gives it (daskparse.dates)
    series_weekday: Optional[str] = None  # "Tuesdays in December": the printed day of every date
    weekday: Optional[str] = None
    recurrence: Optional[str] = None
    starts: list[tuple[str, Optional[str]]] = field(default_factory=list)  # (start, end) per show a night


_RANGE_TAIL = re.compile(r"(?i)^\s*(?:-|to|thru|through|until|till)\s*(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?!\s*[:.]\d)"
                         r"(?!\s*[ap]\.?m)(?:\s*,?\s*(?P<year>(?:19|20)\d\d))?")
_SERIES_TAIL = re.compile(r"(?i)^\s*(?:,|&|and|\+)\s*(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?!\s*[:.]\d)(?!\s*[ap]\.?m)")
_RANGE_BETWEEN = re.compile(r"(?i)^\s*(?:-|to|thru|through|until|till)\s*$")
_EVERY_IN_MONTH = re.compile(r"(?i)\b(?:every\s+(?P<day>[A-Za-z]+?)s?|(?P<days>[A-Za-z]+?)s)\s+(?:in|of|this|through)\s+"
                             r"(?P<month>[A-Za-z]+)")
_MULTI_SHOW = re.compile(r"(?i)\band\b|&|\+|\bshows\b|\bsets\b|\bseatings\b")


def _date_matches(text: str, reference: dt.date) -> list[nz.DateMatch]:
    """Every date in ``text`` with its span (earlier matches blanked so the next one is found)."""
    found = []
    work = text
    for _ in range(MAX_SHOWS):
        match = nz.find_date(work, reference)
        if match is None:
            break
        found.append(match)
        work = work[: match.start] + " " * (match.end - match.start) + work[match.end:]
    return sorted(found, key=lambda m: m.start)


def _next_month_date(month: int, day: int, year: Optional[int], reference: dt.date) -> Optional[dt.date]:
    if year:
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    return nz.infer_year(month, day, reference)


def _dates(text: str, reference: dt.date) -> tuple[list[dt.date], bool, Optional[str], str]:
    """Dates of ``text`` (ranges and series expanded), whether a year is printed, the weekday a series names
    ("Tuesdays in December"), and the text without them."""
    matches = _date_matches(text, reference)
    year_printed = any(match.year_given for match in matches)
    dates: list[dt.date] = []
    cuts: list[tuple[int, int]] = []
    for index, match in enumerate(matches):
        dates.append(match.date)
        end = match.end
        tail = text[end:]
        ranged = _RANGE_TAIL.match(tail)
        if ranged and (index + 1 >= len(matches) or matches[index + 1].start >= end + ranged.end()):
            last = _next_month_date(match.date.month, int(ranged.group("day")),
                                    int(ranged.group("year")) if ranged.group("year") else None, match.date)
            if last and 0 < (last - match.date).days <= MAX_RANGE_DAYS:
                dates += [match.date + dt.timedelta(days=d) for d in range(1, (last - match.date).days + 1)]
                end += ranged.end()
                if ranged.group("year") and not match.year_given:
                    year_printed = True
                    year = int(ranged.group("year"))
                    dates = [d.replace(year=year) if d.year != year and d >= match.date else d for d in dates]
        else:
            series = _SERIES_TAIL.match(tail)
            while series:
                day = int(series.group("day"))
                nxt = _next_month_date(match.date.month, day, match.date.year, reference)
                if nxt is None or nxt <= dates[-1]:
                    break
                dates.append(nxt)
                end += series.end()
                series = _SERIES_TAIL.match(text[end:])
        if index + 1 < len(matches) and _RANGE_BETWEEN.match(text[end: matches[index + 1].start]):
            last = matches[index + 1].date
            if match.date.year != last.year and not match.year_given and matches[index + 1].year_given:
                first = _next_month_date(match.date.month, match.date.day, None, reference)
                if first and first > last:
                    first = _next_month_date(match.date.month, match.date.day, last.year, reference)
                match_date = first or match.date
                dates[-1] = match_date
            span = (last - dates[-1]).days
            if 0 < span <= MAX_RANGE_DAYS:
                dates += [dates[-1] + dt.timedelta(days=d) for d in range(1, span)]
        cuts.append((match.start, end))
    every = _EVERY_IN_MONTH.search(text)
    series_weekday = None
    if every and not dates:
        weekday = nz.weekday_of(every.group("day") or every.group("days"))[0]
        month = next((i for i, name in enumerate(calendar.month_name) if i and name.lower().startswith(
            every.group("month").lower()[:3])), None)
        if weekday and month:
            first = nz.infer_year(month, 1, reference.replace(day=1))
            if first:
                days = calendar.monthrange(first.year, month)[1]
                # every one of them, passed or not: which are listed must not depend on the day it is read
                dates = [first.replace(day=d) for d in range(1, days + 1)
                         if WEEKDAYS[first.replace(day=d).weekday()] == weekday]
                series_weekday = weekday
                cuts.append(every.span())
    for start, end in sorted(cuts, reverse=True):
        text = text[:start] + " | " + text[end:]
    unique = sorted(set(dates))
    return unique[:MAX_SHOWS], year_printed, series_weekday, text


def _starts(text: str) -> list[tuple[str, Optional[str]]]:
    """(start, end) of each show the text times: one, or several ("7PM AND 9:30PM SHOWS")."""
    times = nz.find_times(text)
    if not times:
        return []
    shows = [t for t in times if t.cue == "show"]
    if len(shows) >= 2 and not any(t.cue == "doors" for t in times) and \
            all(re.search(r"(?i)\bshows?\W*(?:at\W*)?$", text[: t.span[0]]) for t in shows):  # "Early show 7 / Late show 10"
        return [(t.start, t.end) for t in shows][:4]
    if shows:
        return [(shows[0].start, shows[0].end)]
    plain = [t for t in times if t.cue != "doors"] or times
    if len(plain) >= 2 and all(t.end is None for t in plain[:2]):
        between = text[plain[0].span[1]: plain[1].span[0]]
        if re.fullmatch(r"(?i)\s*(?:and|&|\+|,|/)\s*", between) and _MULTI_SHOW.search(text):
            return [(t.start, None) for t in plain if t.end is None][:4]
        if re.fullmatch(r"(?i)\s*(?:-|to|til+|until)\s*", between):
            return [(plain[0].start, plain[1].start)]
    return [(plain[0].start, plain[0].end)]


# "12.05.26": a dotted month.day.year is a date.
_DOTTED_FULL_DATE = re.compile(r"(?<![\d.])(0?[1-9]|1[0-2])\.([0-3]?\d)\.((?:20)?\d\d)(?![\d.])")
# "SAT 03.13", "TUE | 02.09": a dotted month.day after a weekday is a date, not a time.
_DOTTED_DATE = re.compile(r"(?i)(\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?[\s|,]{0,4})(0?[1-9]|1[0-2])\.([0-3]\d)\b"
                          r"(?!\s*[ap]\.?m)")


# "1/6 - 1/8": a range of month/day dates (a lone "1/6" may be a price's "1/2", not a date)
_SLASH_RANGE = re.compile(r"(?<![\d/])(1[0-2]|0?[1-9])/([0-3]?\d)\s*(?:-|to|thru)\s*(1[0-2]|0?[1-9])/([0-3]?\d)(?![\d/])")
_MONTH_ABBR = [""] + [calendar.month_abbr[m] for m in range(1, 13)]


def read_when(text: str, reference: dt.date) -> tuple[When, str]:
    """What ``text`` says about when, and the text left once dates, weekdays and times are cut out."""
    text = nz.unglue(text) if re.search(r"\d[A-Za-z]|[A-Za-z]\d", text) else text
    text = re.sub(r"(?i)(\d\s?[ap]\.?m\.?)(to|til+|until)(?=\s?\d)", r"\1 \2 ", text)  # "8PMTO12AM"
    text = re.sub(r"\bG(?=\s?[AaPp]\.?[Mm]\b)", "6", text)  # "GPM": a 6 read as G
    text = _DOTTED_FULL_DATE.sub(r"\1/\2/\3", text)
    text = _DOTTED_DATE.sub(lambda m: f"{m.group(1)}{m.group(2)}/{m.group(3)}", text)
    text = _SLASH_RANGE.sub(lambda m: f"{_MONTH_ABBR[int(m.group(1))]} {m.group(2)} - {_MONTH_ABBR[int(m.group(3))]} {m.group(4)}",
                            text)
    dates, year_printed, series_weekday, rest = _dates(text, reference)
    weekdays = nz.find_weekdays(rest)
    when = When(dates=dates, year_printed=year_printed, series_weekday=series_weekday)
    if weekdays:
        when.weekday = weekdays[0].weekday
        when.recurrence = next((w.recurrence for w in weekdays if w.recurrence), None)
    when.recurrence = when.recurrence or (nz.parse_recurrence(rest) if not dates else None)
    when.starts = _starts(rest)
    for match in sorted(nz.find_times(rest), key=lambda t: -t.span[0]):
        rest = rest[: match.span[0]] + " | " + rest[match.span[1]:]
    for match in sorted(weekdays, key=lambda w: -w.start):
        before = re.search(r"(?i)\b(?:every|each)\s*(?:other\s*)?$", rest[: match.start])
        start = before.start() if before else match.start
        rest = rest[:start] + " | " + rest[match.end:]
    for _ in range(2):  # "'til close": the last word goes first, then the one before it
        rest = re.sub(r"(?i)'?\b(?:doors?(?:\s+open)?|shows?|starts?(?:\s+at)?|from|at|til+|till|until|to|and|"
                      r"every|each|close|late)\b(?=\s*(?:\||$))", " ", rest)
    rest = re.sub(r"(?i)\b(?:\d+|two|three|four|five|six|seven)\s+nights?\b!?", " ", rest)
    return when, rest


# --------------------------------------------------------------------------------------------
# Rows and what they say


@dataclass
class Line:
    """A row with what its words say. ``role``: address | when | cue | heading | deco | name."""

    row: Row
    text: str
    role: str = "name"
    when: When = field(default_factory=When)
    rest: str = ""  # the text without its when words

    @property
    def height(self) -> float:
        return self.row.height

    @property
    def case(self) -> str:
        letters = re.sub(r"[^A-Za-z]", "", self.text)
        return "upper" if letters.isupper() and len(letters) > 1 else "mixed"


def _name_left(rest: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[|]", " ", rest)).strip(" .,:;-!/|")


def _tag(row: Row, reference: dt.date) -> Line:
    text = row.text
    line = Line(row, text)
    when, rest = read_when(text, reference)
    line.when, line.rest = when, rest
    left = _name_left(rest)
    words_left = re.findall(r"[A-Za-z]{2,}", left)
    # "Every Wednesday", "THURSDAY", "Every Sat night" (but "Trivia Tuesday" is a title)
    day_only = when.weekday and not nz.kind_hint(left) and (
        len(words_left) <= 2 or (len(words_left) <= 3 and re.match(r"\W*(?:every|each)", text, re.I)))
    if re.fullmatch(r"\W*\d{1,2}:\d\d\W*", text):
        line.role = "deco"  # a bare clock without am/pm: a phone's status bar in a screenshot, not a show time
    elif _city_line(text) or _street_like(text):
        line.role = "address"
    elif _HEADING.search(text) and not when.dates and not when.starts:
        line.role = "heading"
    elif _PERFORMER_CUE.match(text):
        line.role = "cue"
    elif when.dates or when.starts or day_only:
        line.role = "when"
    elif (_DECORATION.search(text) and not nz.kind_hint(re.sub(r"(?i)\bfree\b|\bprizes?\b", "", text))
          or not re.search(r"[A-Za-z]{2,}|\d0'?s\b", text)):  # small print, or a speck ("90s" is a name)
        line.role = "deco"
    return line


# --------------------------------------------------------------------------------------------
# Phrases: neighbouring rows of one type


# Rows of one phrase: type sizes within this ratio (display titles vary more: a short word is set larger).
PHRASE_RATIO = 0.62
TITLE_RATIO = 0.5


def _joins(above: Line, below: Line, ratio: float = PHRASE_RATIO) -> bool:
    """Whether ``below`` continues the phrase of ``above`` (one name set over two lines)."""
    if above.row.column != below.row.column or below.role != "name" or above.row.pieces[0].typed:
        return False
    small, big = sorted((above.height, below.height))
    if small < ratio * big:
        return False
    if below.row.top - above.row.bottom > 0.9 * big:
        return False
    if above.case != below.case and min(len(re.sub(r"[^A-Za-z]", "", t)) for t in (above.text, below.text)) > 2:
        return False
    if _SELF_NAMED.match(below.text) or _COMPANY.search(above.text) and not _COMPANY.search(below.text):
        return False
    overlap = min(above.row.right, below.row.right) - max(above.row.left, below.row.left)
    return overlap > 0.3 * min(above.row.right - above.row.left, below.row.right - below.row.left)


def _small_aside(line: Line, beside: Line) -> bool:
    """A small decoration set beside a big phrase ("PRIZES!" next to a title): read past it."""
    if line.role == "deco" and line.height < 0.5 * beside.height:
        return True
    apart = line.row.left > beside.row.right or line.row.right < beside.row.left
    return line.role == "name" and apart and line.height < 0.4 * beside.height


def _phrase(lines: list[Line], start: int, ratio: float = PHRASE_RATIO) -> list[int]:
    """Indexes of the phrase starting at ``start``: it and the rows that continue it below."""
    picked = [start]
    i = start + 1
    while i < len(lines) and len(picked) < 4:
        if _small_aside(lines[i], lines[picked[-1]]):
            i += 1
            continue
        if not _joins(lines[picked[-1]], lines[i], ratio):
            break
        picked.append(i)
        i += 1
    return picked


def _phrase_back(lines: list[Line], end: int, ratio: float = PHRASE_RATIO) -> list[int]:
    """The phrase ending at ``end``: it and the rows above it that it continues."""
    picked = [end]
    i = end - 1
    while i >= 0 and len(picked) < 4:
        if _small_aside(lines[i], lines[picked[0]]):
            i -= 1
            continue
        if lines[i].role != "name" or not _joins(lines[i], lines[picked[0]], ratio):
            break
        picked.insert(0, i)
        i -= 1
    return picked


def _text(lines: list[Line], indexes: list[int]) -> str:
    return re.sub(r"\s+", " ", " ".join(lines[i].text for i in indexes)).strip()


# --------------------------------------------------------------------------------------------
# Addresses


@dataclass
class Place:
    indexes: list[int]  # the address's rows
    address: str
    venue: Optional[str] = None  # a venue OCR merged into the address line


def _venue_from_address(line: str) -> tuple[Optional[str], str]:
    """Split a venue name OCR merged into the address line ("Blue Door Tavern 2207 E 6th St, ...")."""
    match = re.search(r"\b\d{1,6}[A-Za-z]?\s+[A-Za-z]", line)
    if match and match.start() > 0:
        head = line[: match.start()].strip(" ,|-")
        if head and not re.search(r"\d", head):
            return head, line[match.start():]
    return None, line


def _places(lines: list[Line]) -> list[Place]:
    """Address blocks, top to bottom: a city line with the street line just above it, or a street alone."""
    places: list[Place] = []
    used: set[int] = set()
    for i, line in enumerate(lines):
        if line.role != "address" or i in used:
            continue
        if _city_line(line.text):
            block = [i]
            if not _street_like(line.text) and i > 0 and i - 1 not in used and lines[i - 1].role == "address" \
                    and not _city_line(lines[i - 1].text):
                block.insert(0, i - 1)
        elif i + 1 < len(lines) and lines[i + 1].role == "address" and _city_line(lines[i + 1].text) \
                and not _street_like(lines[i + 1].text):
            continue  # the city line below takes this street line
        else:
            block = [i]
        before = lines[block[0] - 1].text if block[0] > 0 else ""
        if not any(_street_like(lines[j].text) or _STREET_START.match(nz.unglue(lines[j].text).lstrip(" -|")) for j in block) \
                and not re.search(r"\b\d{5}\b", lines[i].text) \
                and not any(_street_like(part) for part in re.split(r"\s[-|]\s|\||\s{2,}", before)):
            continue  # "Saint Paul, MN" alone (a post's location line): no street, no ZIP, no place
        used.update(block)
        text = ", ".join(nz.prepare_address(lines[j].text).strip(" ,|") for j in block)
        venue, text = _venue_from_address(text)
        places.append(Place(block, text, venue))
    return places


# --------------------------------------------------------------------------------------------
# Not a flyer


def _not_a_flyer(lines: list[Line]) -> bool:
    """Receipts and menus (rows of prices), chats and pages of text (many rows, mostly sentences)."""
    if not lines:
        return True
    priced = sum(1 for ln in lines if _PRICE.search(ln.text))
    if priced >= 3 and priced >= 0.15 * len(lines):
        return True
    if sum(len(_DECIMAL.findall(ln.text)) for ln in lines) >= 3:
        return True  # a menu set in columns (dish and price on one row): "Shrimp Tacos 8.5  Salmon 24.5"
    sentences = sum(1 for ln in lines if len(re.findall(r"[A-Za-z]{2,}", ln.text)) >= 7)
    if sentences >= 4 and sentences >= 0.3 * len(lines):
        return True
    spans = sum(len(_DAY_SPAN.findall(ln.text)) for ln in lines)
    day_rows = sum(1 for ln in lines if _DAY_SPAN.search(ln.text) or (ln.when.weekday and ln.when.starts))
    if not nz.kind_hint(" ".join(ln.text for ln in lines)) and (
            any(_HOURS.search(ln.text) for ln in lines) or spans >= 2 or (spans and day_rows >= 2)):
        return True  # opening hours: "HOURS", "Closed", "Mon - Fri 9 am - 9 pm" / "Sat 10 am - 4 pm"
    if sum(1 for ln in lines if _CHAT.search(ln.text)) >= 2:
        return True  # a chat's screen: "last seen today at 8:39", "Yesterday 9:12 AM", "iMessage"
    times = sum(1 for ln in lines if ln.when.starts and not ln.when.dates and not ln.when.weekday)
    if times >= 4 and times >= 0.3 * len(lines) and not any(ln.role == "address" for ln in lines):
        return True  # a chat: a clock time on every other row
    return False


_CHAT = re.compile(r"(?i)\blast\s+seen\b|^\W*(?:today|yesterday)\b.{0,12}\d{1,2}:\d\d|\bimessage\b|\btyping\.\.\.|"
                   r"^\W*(?:delivered|read|seen)\W*$|\btext\s+message\b")
_HOURS = re.compile(r"(?i)\b(?:store\s+|opening\s+|business\s+|office\s+)?hours\b|\bopen\s+(?:daily|7\s+days|24)|"
                    r"^\W*(?:now\s+)?open\W*$|\bclosed\b")
_DAY_SPAN = re.compile(r"(?i)\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\s*(?:-|to|thru|through)\s*"
                       r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\b")


def _is_show(show: ShowFields) -> bool:
    """A what, a when and a where read off the flyer (an address, or a name that says it is a place)."""
    where = show.street or show.city or (show.venue and _VENUE_WORDS.search(show.venue))
    return bool(show.title and (show.date or show.weekday) and where)


# --------------------------------------------------------------------------------------------
# Parsing


def parse_flyer(lines: Sequence[Union[str, TextLine]], *, reference_date: dt.date) -> list[ShowFields]:
    """Shows on a flyer from its text lines (top to bottom for plain strings), their dates given a year against
    ``reference_date`` as a run gives them. [] when there is none."""
    return [ShowFields(**resolve_show(show.model_dump(), reference_date))
            for show in read_flyer(lines, reference_date=reference_date)]


def read_flyer(lines: Sequence[Union[str, TextLine]], *, reference_date: dt.date) -> list[ShowFields]:
    """Shows on a flyer with their dates as printed ("--11-28" without a year: daskparse.dates); the reader uses
    ``reference_date`` only to read ranges and series (month lengths, a year's weekdays)."""
    text_lines = [ln if isinstance(ln, TextLine) else TextLine(str(ln)) for ln in lines]
    rows = _read(text_lines)
    tagged = [_tag(row, reference_date) for row in rows]
    if _not_a_flyer(tagged):
        return []
    places = _places(tagged)
    if len(places) >= 2:
        raws = _read_tour(tagged, places, reference_date)
    else:
        raws = _read_lineup(tagged, places, reference_date) or _read_single(tagged, places, reference_date)
    shows = [nz.normalise_show(raw) for raw in raws]
    return [show for show in shows if _is_show(show)][:MAX_SHOWS]


def _clock(hhmm: Optional[str]) -> Optional[str]:
    """"11:00" -> "11:00am": the normaliser reads a bare "11:00" as the evening's."""
    if not hhmm:
        return None
    hour, minute = map(int, hhmm.split(":"))
    return f"{hour % 12 or 12}:{minute:02d}{'am' if hour < 12 else 'pm'}"


def _when_raw(when: When) -> list[dict]:
    """Raw date/weekday/time fields, one dict per show the when stands for."""
    starts = [(_clock(s), _clock(e)) for s, e in when.starts] or [(None, None)]
    if when.dates:
        # the date as printed, with its printed weekday: a lone date's, or a series' day where it agrees
        day = when.weekday or when.series_weekday
        return [{"date": printed(d, when.year_printed), "start_time": s, "end_time": e,
                 "weekday": day if len(when.dates) == 1 or WEEKDAYS[d.weekday()] == day else None}
                for d in when.dates for s, e in starts]
    if when.weekday:
        recurrence = when.recurrence or "weekly"
        return [{"weekday": when.weekday, "recurrence": recurrence, "start_time": s, "end_time": e}
                for s, e in starts]
    return []


def _title_index(lines: list[Line], candidates: list[int]) -> Optional[int]:
    """The phrase start in the biggest type among ``candidates`` (typed lines: the first with a kind)."""
    if not candidates:
        return None
    heights = [lines[i].height for i in candidates]
    if max(heights) - min(heights) < 1e-6:  # no size information
        named = [i for i in candidates if not _SELF_NAMED.match(lines[i].text)]
        candidates = named or candidates
        with_kind = [i for i in candidates if nz.kind_hint(lines[i].text)]
        return (with_kind or candidates)[0]
    tallest = max(heights)
    big = [i for i in candidates if lines[i].height >= 0.8 * tallest]
    return big[0]


def _grow_title(lines: list[Line], index: int) -> list[int]:
    """The title phrase around its biggest row: rows above and below of like type; a band named in the
    same type below the title ("BLUES" / "NIGHT" / "The" / "Moreau" / "Brothers") is not part of it."""
    phrase = _phrase_back(lines, index, TITLE_RATIO)
    phrase += _phrase(lines, phrase[-1], TITLE_RATIO)[1:]
    for cut in range(1, len(phrase)):
        head, tail = _text(lines, phrase[:cut]), _text(lines, phrase[cut:])
        if (nz.kind_hint(head) or _TITLE_END.search(head)) and not nz.kind_hint(tail) and _name_like(tail):
            return phrase[:cut]
    return phrase


# Words a place's name holds ("Badger Saloon", "Quarry Road Taproom").
_VENUE_WORDS = re.compile(r"(?i)\b(?:bar|pub|tavern|saloon|lounge|hall|club|brewery|brewing|taproom|tap\s?house|tap|cafe|"
                          r"grill|inn|lodge|winery|distillery|cantina|bistro|diner|roadhouse|room|cellar|garden|"
                          r"ale\s?house|beer\s?hall|icehouse|social|post|legion|vfw|theat(?:er|re)|venue|arena)\b")
# Words an event's name ends with ("... Night", "... Tour"): a name set below one is the act's.
_TITLE_END = re.compile(r"(?i)\b(?:night|nite|tour|show|party|fest|festival|jam|hour|showcase|celebration|tournament|"
                        r"revue|series|social|session|sessions|bash|crawl|league|games?|quiz|trivia|karaoke|bingo|"
                        r"mic|jamboree|hoedown|brunch|throwdown|extravaganza)\W*$")


def _name_like(text: str) -> bool:
    """An act's name: "The ...", a band word, or a person's two or three capitalised words."""
    words = text.split()
    return bool(re.match(r"(?i)the\b", text) or _BAND_WORDS.search(text) or _SELF_NAMED.match(text)
                or (2 <= len(words) <= 3 and all(re.fullmatch(r"[A-Z][a-z'.-]+", w) for w in words)))


def _performer_after_cue(lines: list[Line], index: int) -> tuple[Optional[str], list[int]]:
    """The performer a cue row names, with its continuation row ("presented by Quizmaster" / "Jade")."""
    text = lines[index].text
    used = [index]
    rest = nz._PERFORMER_PREFIX.sub("", re.sub(r"(?i)^\W*(?:headliner|headlining|special\s+guests?|emcee|mc|dj|kj|"
                                                r"quizmaster|your\s+hosts?|on\s+the\s+decks|led\s+by)\s*:?\s*", "", text))
    nxt = index + 1
    if nxt < len(lines) and lines[nxt].role == "name" and lines[nxt].row.column == lines[index].row.column:
        gap = lines[nxt].row.top - lines[index].row.bottom
        similar = min(lines[nxt].height, lines[index].height) >= 0.6 * max(lines[nxt].height, lines[index].height)
        short = len(re.findall(r"[A-Za-z]+", rest)) <= 1 or len(re.findall(r"[A-Za-z]+", lines[nxt].text)) == 1
        if gap < 0.8 * lines[index].height and similar and short:
            rest = f"{rest} {lines[nxt].text}".strip()
            used.append(nxt)
    prefix = re.match(r"(?i)^\W*(dj|kj|mc|quizmaster)\s*:", text)
    if prefix and not re.match(r"(?i)(dj|kj|mc|quizmaster)\b", rest):
        rest = f"{prefix.group(1)} {rest}" if prefix.group(1).lower() in ("dj", "kj", "mc") else rest
    return (rest.strip(" :-|") or None), used


def _header(lines: list[Line], indexes: list[int]) -> dict:
    """Title, performer and host read from header rows (the rows above a tour's or line-up's records)."""
    out: dict = {"title": None, "performer": None, "host": None, "venue": None}
    for i in indexes:
        if lines[i].role == "cue" and out["performer"] is None:
            out["performer"], used = _performer_after_cue(lines, i)
            for j in used:
                lines[j].role = "cue"
        match = _HEADING_VENUE.match(lines[i].text)
        if match:
            out["venue"] = match.group("venue")
    names = [i for i in indexes if lines[i].role == "name"]
    if not names:
        return out
    top = _title_index(lines, names)
    phrase = [j for j in _grow_title(lines, top) if j in indexes]
    title = _text(lines, phrase)
    others = [i for i in names if i not in phrase]
    if _COMPANY.search(title) or _SELF_NAMED.match(title):
        out["host"] = title
    else:
        out["title"] = title
    for i in others:
        text = lines[i].text
        if out["performer"] is None and _name_like(text) and not nz.kind_hint(text) and not _COMPANY.search(text):
            out["performer"] = text
        elif out["host"] is None and _COMPANY.search(text):
            out["host"] = text
    return out


# --------------------------------------------------------------------------------------------
# Several places: tours and line-ups of venues


_ROW_TITLE_SPLIT = re.compile(r"(?i)\s+(?:@|at)\s+")


def _record_fields(text: str, reference: dt.date) -> tuple[When, Optional[str], Optional[str], Optional[str]]:
    """(when, title, performer, venue) of one record's text (its address already cut off)."""
    when, rest = read_when(re.sub(r"(?i)\bw/\s*", "with ", text), reference)
    segments = [s.strip(" .,:;|-!") for s in _SEPARATORS.split(_ROW_TITLE_SPLIT.sub(" | ", rest))]
    segments = [s for s in segments if re.search(r"[A-Za-z]{2,}", s) and not _DECORATION.search(s)
                and not _HEADING.search(s)]
    title = performer = venue = None
    names = []
    for segment in segments:
        cue = _CUE_INSIDE.split(segment, maxsplit=1) if _CUE_INSIDE.search(segment) else None
        if _PERFORMER_CUE.match(segment):
            performer = performer or nz.clean_performer(segment)
        elif cue and len(cue) == 2 and cue[0].strip() and cue[1].strip() and not _VENUE_WORDS.search(cue[0]):
            title, performer = title or cue[0].strip(), performer or cue[1].strip()
        elif (nz.kind_hint(segment) or _TITLE_END.search(segment)) and title is None and \
                not _SELF_NAMED.match(segment) and len(re.findall(r"[A-Za-z]+", segment)) <= 4:
            title = segment
        else:
            names.append(segment)
    if names:
        venue = names[-1] if title else names[0]
        if title is None and len(names) >= 2:
            title = names[0] if nz.kind_hint(names[0]) else None
    return when, title, performer, venue


def _cut_address(text: str) -> tuple[str, Optional[str]]:
    """Split a record's text at its address: (before, address); the address runs to the end."""
    prepared = nz.unglue(text)
    if not _city_line(prepared):
        return text, None
    numbers = [m.start() for m in re.finditer(
        r"(?<![\d:/.$])\b\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s+(?=[A-Za-z]|\d{1,4}\s?(?:st|nd|rd|th)\b)", prepared)]
    numbers = [s for s in numbers if not nz.find_times(prepared[s: s + 12])]
    if not numbers:
        head, _, tail = prepared.rpartition(" | ")
        return (head, tail) if head else ("", prepared)
    # Prefer a street that starts a line or follows a separator (a venue may hold a number: "Post 4450").
    after_break = [s for s in numbers if re.search(r"(?:^|\||\s-|,|\s{2})\s*$", prepared[:s])]
    streets = [s for s in numbers if _street_like(prepared[s:].split(",")[0])]
    start = next((s for s in streets if s in after_break), None)
    if start is None:
        start = streets[0] if streets else (after_break or numbers)[-1]
    return prepared[:start], prepared[start:]


@dataclass
class Record:
    """One row of a tour or a line-up of venues: its own when, venue and address, maybe its own title."""

    rows: list[int]
    place: Place
    when: When = field(default_factory=When)
    title: Optional[str] = None
    performer: Optional[str] = None
    venue: Optional[str] = None
    address: Optional[str] = None


def _record_text(lines: list[Line], record: Record) -> str:
    """A record's rows as one text: a row wrapped mid-name runs on, other rows are parted by " | "."""
    text = ""
    previous: Optional[Line] = None
    for i in record.rows:
        line = lines[i]
        if line.role in ("deco", "heading") and i not in record.place.indexes:
            continue
        if previous is None:
            text = line.text
        elif i in record.place.indexes[1:] or (_continues(previous.text, line.text)
                                               and not (line.role == "address" and _STREET_START.match(line.text))):
            text += " " + line.text
        else:
            text += " | " + line.text
        previous = line
    return text


def _read_tour(lines: list[Line], places: list[Place], reference: dt.date) -> list[dict]:
    """Every address closes a record; the rows above the first day or date are the header."""
    first_when = next((i for i, ln in enumerate(lines) if i < places[0].indexes[0] and
                       (ln.when.weekday or ln.when.dates) and ln.role != "heading"), None)
    start = first_when if first_when is not None else places[0].indexes[0]
    # Records that open with their venue's name ("Falcon Lounge" / "Sun / Open Mic / 8PM" / address): the
    # first record's name stands just above its day, not in the header.
    second = places[1].indexes[0] if len(places) >= 2 else None
    after_first = places[0].indexes[-1] + 1
    if second is not None and after_first < second and lines[after_first].role == "name" and \
            not (lines[after_first].when.weekday or lines[after_first].when.dates) and start > 0 and \
            lines[start - 1].role == "name":
        start -= 1
    header = _header(lines, list(range(start)))
    records: list[Record] = []
    for place in places:
        if place.indexes[-1] >= start:
            records.append(Record(list(range(start, place.indexes[-1] + 1)), place))
            start = place.indexes[-1] + 1
    for record in records:
        before, record.address = _cut_address(_record_text(lines, record))
        record.when, record.title, record.performer, record.venue = _record_fields(before, reference)
    # A day label that stood below the last address (a misaligned label column) goes to the nearest record.
    for i in range(start, len(lines)):
        if lines[i].role == "when" and not _name_left(lines[i].rest):
            middle = lines[i].row.middle
            nearest = min(records, key=lambda r: abs(middle - (lines[r.rows[0]].row.top + lines[r.rows[-1]].row.bottom) / 2))
            if not (nearest.when.weekday or nearest.when.dates):
                nearest.when.weekday, nearest.when.recurrence = lines[i].when.weekday, lines[i].when.recurrence
                nearest.when.dates = lines[i].when.dates
    # Rows with titles of their own ("Karaoke @ ..."): the header's big name is the host who runs them all.
    own_titles = sum(1 for r in records if r.title) >= max(1, len(records) // 2)
    title, performer = header["title"], header["performer"]
    if own_titles and title and not nz.kind_hint(title) and not performer:
        performer, title = title, None
    performer = performer or header["host"]
    return [{"title": r.title or title or r.performer, "performer": r.performer or performer,
             "venue": r.venue or r.place.venue or header["venue"], "address": r.address or r.place.address, **fields}
            for r in records for fields in _when_raw(r.when)]


def _continues(previous: str, text: str) -> bool:
    """A row wrapped over two lines: the first holds separators and ends mid-name, the next goes on."""
    if re.search(r"[|\-/:,@]\s*$", previous) or re.match(r"\s*[|\-/@]", text):
        return False
    if not re.search(r"\s\|\s|\s-\s|\s@\s|(?<!\bw)/|\s{2}", previous):  # ("w/" is "with", no separator)
        return False
    return bool(re.search(r"[A-Za-z0-9.']$", previous)) and bool(re.match(r"\s*[A-Za-z0-9]", text))


# --------------------------------------------------------------------------------------------
# One place


# A line-up row starts with its day: "MON", "Tuesdays", "Every Wed", "Dec 14", "12/14".
_ROW_LABEL = re.compile(r"(?i)^\W*(?:every\s+|each\s+)?(?:(?:mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|"
                        r"sep|oct|nov|dec)[a-z]*\b|\d{1,2}/\d{1,2}\b)")


def _day_of(when: When):
    return when.dates[0] if when.dates else when.weekday


def _read_lineup(lines: list[Line], places: list[Place], reference: dt.date) -> list[dict]:
    """A venue's line-up: two or more rows, each a day and what is on (and its time)."""
    rows: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.role in ("address", "heading") or not (line.when.weekday or line.when.dates):
            continue
        if not _ROW_LABEL.match(nz.unglue(line.text)):
            continue
        text, what, k = line.text, _name_left(line.rest), i + 1
        if not re.search(r"[A-Za-z]{2,}", what) and not line.when.starts and \
                k < len(lines) and lines[k].role == "name" and lines[k].height <= 1.3 * line.height and \
                not _VENUE_WORDS.search(lines[k].text):
            text, what, k = f"{text} | {lines[k].text}", lines[k].text, k + 1  # "THURSDAY" / "Brain Games"
        if not re.search(r"[A-Za-z]{2,}", what) or _PERFORMER_CUE.match(re.sub(r"(?i)\bw/\s*", "with ", what)):
            continue  # nothing on, or only who is on (one show's dates: see _schedule)
        # a row wrapped before its time: "Sat, Dec 19 · Cornhole League" / "8pm"
        nxt = lines[k] if k < len(lines) else None
        if not line.when.starts and nxt is not None and nxt.role == "when" and nxt.when.starts \
                and not (nxt.when.weekday or nxt.when.dates) and not _name_left(nxt.rest):
            text += " | " + nxt.text
        rows.append((i, text))
    # A line-up's rows are alike: all by weekday or all by date ("Tuesday Night Karaoke" over "Tue Jan 5" is no
    # line-up but one show's title and date).
    dated = [r for r in rows if lines[r[0]].when.dates]
    rows = dated if len(dated) * 2 > len(rows) else [r for r in rows if not lines[r[0]].when.dates]
    days = [_day_of(lines[i].when) for i, _ in rows]
    if len(set(days)) < 2:
        return []
    first = rows[0][0]
    header = _header(lines, [i for i in range(first) if lines[i].role not in ("address",)])
    place = places[0] if places else None
    venue = header["venue"] or (place.venue if place else None)
    if venue is None:
        above = [i for i in range(first) if lines[i].role == "name"]
        venue = header["title"] or header["host"] or (lines[above[0]].text if above else None)
    raws = []
    for _, text in rows:
        when, title, performer, row_venue = _record_fields(text, reference)
        if title is None and row_venue:
            title, row_venue = row_venue, None
        if title and performer is None:
            parts = _CUE_INSIDE.split(title, maxsplit=1)
            if len(parts) == 2 and parts[0].strip() and parts[1].strip():
                title, performer = parts[0].strip(" -|"), parts[1].strip(" -|")
        if not when.dates:
            when.recurrence = when.recurrence or "weekly"
        for fields in _when_raw(when):
            raws.append({"title": title, "performer": performer or header["performer"], "venue": venue,
                         "address": place.address if place else None, **fields})
    return raws


def _schedule(lines: list[Line]) -> list[tuple[When, Optional[str]]]:
    """One show's days, each with its own time ("MONDAYS · 6pm" / "TUESDAYS · 2PM"): a When per row, with the
    row's own performer ("WED 12/2 - w/ Ana Ruiz - 8PM"). [] unless every day row has a time of its own (on
    its line or the line just below)."""
    days: list[tuple[When, Optional[str]]] = []
    rows = [ln for ln in lines if ln.role == "when"]
    for k, line in enumerate(rows):
        if not (line.when.weekday or line.when.dates):
            continue
        when = dataclasses.replace(line.when, dates=list(line.when.dates), starts=list(line.when.starts))
        below = rows[k + 1] if k + 1 < len(rows) else None
        if not when.starts and below is not None and not (below.when.weekday or below.when.dates):
            when.starts = list(below.when.starts)
        if not when.starts:
            return []
        rests = line.rest + (" | " + below.rest if below is not None and not line.when.starts else "")
        cued = re.search(r"(?i)(?:\bw/|\bwith\b|\bhosted\s+by\b|\bfeaturing\b|\bfeat\.)\s*([^|]+)", rests)
        days.append((when, cued.group(1).strip(" -|") if cued else None))
    return days if len({_day_of(w) for w, _ in days}) >= 2 else []


def _read_single(lines: list[Line], places: list[Place], reference: dt.date) -> list[dict]:
    place = places[0] if places else None
    roles_free = [i for i, ln in enumerate(lines) if ln.role == "name"]

    # Venue: the phrase just above the address (else below it, else merged into its line).
    venue = None
    venue_rows: list[int] = []
    if place:
        first = place.indexes[0]
        column = lines[first].row.column
        above = [i for i in roles_free if i < first and lines[i].row.column == column]
        near = [i for i in above if i >= first - 3 and all(lines[j].role in ("name", "deco", "when") for j in range(i, first))]
        if near:
            venue_rows = _phrase_back(lines, near[-1])
        elif place.venue:
            venue = place.venue
        else:
            below = [i for i in roles_free if i > place.indexes[-1]]
            if below and below[0] == place.indexes[-1] + 1:
                venue_rows = [below[0]]
    if venue_rows:
        venue = _text(lines, venue_rows)
        for i in venue_rows:
            lines[i].role = "venue"
    if venue:
        venue = _LEADING_AT.sub("", venue)

    # Performer: a cued phrase.
    performer = None
    for i, line in enumerate(lines):
        if line.role == "cue":
            performer, used = _performer_after_cue(lines, i)
            for j in used:
                lines[j].role = "performer"
            break

    # Title: the phrase in the biggest type among the plain rows.
    free = [i for i, ln in enumerate(lines) if ln.role == "name"]
    title = None
    title_rows: list[int] = []
    candidates = [i for i in free if not _SELF_NAMED.match(lines[i].text)] or free
    top = _title_index(lines, candidates)
    if top is not None:
        title_rows = _grow_title(lines, top)
        title = _text(lines, title_rows)
        for i in title_rows:
            lines[i].role = "title"

    # No venue by the address: a place's name set under the title ("MUSIC BINGO" / "BADGER SALOON").
    if venue is None and len(title_rows) >= 2:
        for cut in range(1, len(title_rows)):
            head, tail = _text(lines, title_rows[:cut]), _text(lines, title_rows[cut:])
            if _VENUE_WORDS.search(tail) and not nz.kind_hint(tail) and (nz.kind_hint(head) or _TITLE_END.search(head)):
                title, venue, title_rows = head, tail, title_rows[:cut]
                break

    if venue is None:  # a place's name elsewhere ("Humble Tugboat Tap & Kitchen" under the title)
        named = [i for i, ln in enumerate(lines) if ln.role == "name" and _VENUE_WORDS.search(ln.text)
                 and not nz.kind_hint(ln.text)]
        if named:
            venue = _LEADING_AT.sub("", lines[named[0]].text)
            lines[named[0]].role = "venue"

    # "LIVE MUSIC" over a band's name in huge type: the kind line is the title, the big name the act.
    if title and not nz.kind_hint(title) and not _TITLE_END.search(title):
        kinds = [i for i, ln in enumerate(lines) if ln.role == "name" and nz.kind_hint(ln.text)
                 and ln.row.column == lines[title_rows[0]].row.column and len(ln.text.split()) <= 4]
        if kinds:
            nearest = min(kinds, key=lambda i: min(abs(i - j) for j in title_rows))
            if performer is None:
                performer = title
            title = lines[nearest].text
            lines[nearest].role = "title"

    if performer is None:
        free = [i for i, ln in enumerate(lines) if ln.role == "name"]
        after = [i for i in free if not title_rows or i > title_rows[-1] or lines[i].row.column != lines[title_rows[0]].row.column]
        named = [i for i in free if _SELF_NAMED.match(lines[i].text) or _BAND_WORDS.search(lines[i].text)]
        pick = (named or after or [None])[0]
        if pick is not None and pick in after + named:
            phrase = _phrase_back(lines, pick) + _phrase(lines, pick)[1:]
            performer = _text(lines, phrase)
    if title is None and performer and nz.kind_hint(performer):
        title = performer
    if title and title_rows and not (nz.kind_hint(title) or _TITLE_END.search(title) or _stands_out(lines, title_rows)):
        return []  # no what: plain text in the body size (a chat, a notice), not a flyer's headline

    # When: every when row together (a range may wrap: "November 30 -" / "December 2, 2026").
    days = _schedule(lines) or [(read_when(_join_when(lines), reference)[0], None)]
    raws = []
    for when, day_performer in days:
        raws += _single_raws(lines, when, title, day_performer or performer, venue, place)
    return raws


def _single_raws(lines: list[Line], when: When, title, performer, venue, place) -> list[dict]:
    """The raw shows of one single-show reading for one When (several for a series or two shows a night)."""
    if not when.weekday and not when.dates and title:
        days = nz.find_weekdays(title)
        if days and when.starts:
            when.weekday = days[0].weekday
    if not when.dates and when.weekday and not when.recurrence:
        when.recurrence = "weekly" if any(re.search(r"(?i)\bevery|\bweekly|s\b", ln.text) for ln in lines
                                          if ln.role == "when") else None
    raws = []
    for fields in _when_raw(when):
        if "recurrence" in fields and when.recurrence is None:
            fields["recurrence"] = None
        raws.append({"title": title, "performer": performer, "venue": venue,
                     "address": place.address if place else None, **fields})
    return raws


def _stands_out(lines: list[Line], rows: list[int]) -> bool:
    """Whether these rows are set in display type: clearly bigger than the page's body text."""
    if lines[rows[0]].row.pieces[0].typed:
        return True
    heights = sorted(ln.height for ln in lines)
    body = heights[len(heights) // 4]  # the small type; a flyer's headline is well above it
    return max(lines[i].height for i in rows) >= 1.15 * body


def _join_when(lines: list[Line]) -> str:
    """The when rows as one text; a row ending in a range dash runs on into the next."""
    parts = []
    for line in lines:
        if line.role != "when":
            continue
        if parts and re.search(r"(?:-|to|thru|through)\s*$", parts[-1], re.I):
            parts[-1] += " " + line.text
        else:
            parts.append(line.text)
    return " | ".join(parts)
