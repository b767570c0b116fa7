"""Dates as printed, and their year: resolved per run, after the cache, never stored.

A flyer seldom prints a year. Extractors report a date as printed: ``"2026-11-28"`` when the year is
printed, ``"--11-28"`` (ISO 8601's date without a year) when it is not, with the weekday as printed, if any.
The cache stores that form, so a result never depends on the day it was cached. Each run then gives the
year with :func:`resolve_show`, against its reference date (the day the flyer was seen):

    >>> resolve_show({"date": "--11-28", "weekday": "Saturday"}, dt.date(2026, 12, 3))["date"]
    '2026-11-28'

- no weekday printed: the next such day on or after the reference date (the product's definition);
- a weekday printed: the year in which that day is that weekday, from half a year before the reference date
  (a flyer seen a few days late is about the recent past, not next year) to a year after it. When no year
  agrees, the date is left empty and ``date_note`` says why, rather than inventing one;
- a year printed: kept; a printed weekday that disagrees with it is noted in ``date_note``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Mapping, Optional

from daskparse.shows import WEEKDAYS

LOOK_BACK_DAYS = 183  # a flyer seen late: its day may have passed, up to half a year ago
LOOK_AHEAD_DAYS = 366  # ... or come within the year
_PRINTED = re.compile(r"(?P<year>\d{4})?-{1,2}(?P<month>\d{2})-(?P<day>\d{2})")


def printed(date: dt.date, year_printed: bool) -> str:
    """The stored form of a date read off a flyer: ISO with the year only when the flyer printed it."""
    return date.isoformat() if year_printed else f"--{date.month:02d}-{date.day:02d}"


def next_on_or_after(month: int, day: int, reference: dt.date) -> Optional[dt.date]:
    """The first date with this month and day on or after ``reference`` (Feb 29 waits for a leap year)."""
    for year in range(reference.year, reference.year + 9):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= reference:
            return candidate
    return None


def _agreeing(month: int, day: int, weekday: str, reference: dt.date) -> Optional[dt.date]:
    """The date with this month and day on ``weekday`` in the window around ``reference`` (at most one: the
    same day falls on a weekday a year or two later)."""
    for year in range(reference.year - 1, reference.year + 3):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if WEEKDAYS[candidate.weekday()] == weekday and \
                -LOOK_BACK_DAYS <= (candidate - reference).days <= LOOK_AHEAD_DAYS:
            return candidate
    return None


def resolve(date: Optional[str], weekday: Optional[str], reference: dt.date
            ) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(ISO date, weekday, note) for a printed ``date`` ("YYYY-MM-DD" or "--MM-DD") and printed ``weekday``."""
    match = _PRINTED.fullmatch(date) if date else None
    if match is None:
        return None, weekday, None
    month, day = int(match["month"]), int(match["day"])
    label = f"{dt.date(2000, month, day):%b} {day}"  # 2000: a leap year, so Feb 29 has a name too
    if match["year"]:
        try:
            stated = dt.date(int(match["year"]), month, day)
        except ValueError:
            return None, weekday, f"the flyer prints {label} {match['year']}, which is not a date"
        actual = WEEKDAYS[stated.weekday()]
        note = (f"the flyer prints {weekday}, but {stated.isoformat()} is a {actual}"
                if weekday and weekday != actual else None)
        return stated.isoformat(), actual, note
    if weekday:
        found = _agreeing(month, day, weekday, reference)
        if found is None:
            return None, weekday, (f"the flyer prints {weekday} {label}: {label} is not a {weekday} "
                                   f"in the year around {reference.isoformat()}")
    else:
        found = next_on_or_after(month, day, reference)
        if found is None:
            return None, None, f"the flyer prints {label}, which is not a date"
    return found.isoformat(), WEEKDAYS[found.weekday()], None


def resolve_show(show: Mapping, reference: dt.date) -> dict:
    """``show`` (a record with ``date``, ``weekday``) with its date resolved against ``reference``."""
    date, weekday = show.get("date"), show.get("weekday")
    if not date:
        return dict(show)
    resolved, weekday, note = resolve(date, weekday, reference)
    return {**show, "date": resolved, "weekday": weekday, "date_note": note or show.get("date_note")}
