"""What a text says about when: dates (ranges and series expanded), the weekday, the start and end times.

    >>> when, rest = read_when("FRI DEC 18 - 20 · 8PM", reference)   # three dates, 20:00, and what is left

Dates come out as the reader found them; ``year_printed`` says whether the flyer printed the year, so the run
can give it one after the cache (daskparse.dates). ``reference`` serves only to read ranges and series.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Optional


from daskparse import normalise as nz
from daskparse.shows import WEEKDAYS

# Most shows one flyer can yield (a month of nightly dates, a long line-up).
MAX_SHOWS = 40
# Days a printed range may span ("Jan 5 - 8"): longer ones are festivals' seasons, not nightly shows.
MAX_RANGE_DAYS = 14


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
            starts: list[tuple[str, Optional[str]]] = [(t.start, None) for t in plain if t.end is None]
            return starts[:4]
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
    for day in sorted(weekdays, key=lambda w: -w.start):
        before = re.search(r"(?i)\b(?:every|each)\s*(?:other\s*)?$", rest[: day.start])
        start = before.start() if before else day.start
        rest = rest[:start] + " | " + rest[day.end:]
    for _ in range(2):  # "'til close": the last word goes first, then the one before it
        rest = re.sub(r"(?i)'?\b(?:doors?(?:\s+open)?|shows?|starts?(?:\s+at)?|from|at|til+|till|until|to|and|"
                      r"every|each|close|late)\b(?=\s*(?:\||$))", " ", rest)
    rest = re.sub(r"(?i)\b(?:\d+|two|three|four|five|six|seven)\s+nights?\b!?", " ", rest)
    return when, rest
