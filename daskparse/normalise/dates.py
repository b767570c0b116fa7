"""Dates as printed on flyers: "Dec 4", "12/05", "December 4th, 2026" -> "--12-04" or "2026-12-04".

Only the date as printed is read here; which year a yearless date falls in is a run's business
(:mod:`daskparse.dates`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any, Optional

from daskparse import dates
from daskparse.normalise.text import repair_ocr_text, unglue
from daskparse.normalise.vocabulary import MONTH_ALTERNATION, MONTH_NUMBER, ORDINAL
from daskparse.normalise.weekdays import weekday_of

_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:\s?" + ORDINAL + r")?"
_DATE_PATTERNS = [
    # ISO: 2026-12-04
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    # Dec 4, Dec. 4th, December 4th 2026, Dec4, DEC 04, 2026
    re.compile(r"(?i)\b(?P<mname>" + MONTH_ALTERNATION + r")\.?\s*" + _DAY
               + r"(?!\d)(?!:[0-5]\d)(?:\s*,?\s*" + _YEAR + r")?\b"),
    # 4 Dec, 4th of December 2026
    re.compile(r"(?i)\b" + _DAY + r"\s*(?:of\s+)?(?P<mname>" + MONTH_ALTERNATION + r")\b\.?"
               r"(?:\s*,?\s*" + _YEAR + r")?"),
    # 12/05, 12/05/2026, 12/05/26 (US order: month first)
    # (at least three digits without a year: "1/2" is more likely "1/2 price" than January 2nd)
    re.compile(r"(?<![\d/])(?P<month>[01]?\d)/(?P<day>[0-3]?\d)(?:/(?P<year>(?:19|20)?\d\d))?(?![\d/])"),
]


def _after_weekday(text: str, position: int) -> bool:
    """Whether a weekday word stands right before ``position`` ("SUN 1/3": then 1/3 is a date)."""
    match = re.search(r"([A-Za-z]{3,10})\.?,?\s*$", text[:position])
    return bool(match and weekday_of(match.group(1))[0])


def infer_year(month: int, day: int, reference_date: dt.date) -> Optional[dt.date]:
    """The first date with this month and day on or after reference_date (Feb 29 waits for a leap year)."""
    return dates.next_on_or_after(month, day, reference_date)


@dataclass(frozen=True)
class DateMatch:
    """A date found in a text, with where it was found (so the caller can cut it out)."""

    date: dt.date
    start: int
    end: int
    year_given: bool


def find_date(text: str, reference_date: dt.date) -> Optional[DateMatch]:
    """Find the first calendar date written in ``text`` (flyer formats only; see :func:`parse_date`)."""
    found: list[DateMatch] = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = match.groupdict()
            month = (MONTH_NUMBER[parts["mname"][:3].lower()] if parts.get("mname")
                     else int(parts["month"]))
            day = int(parts["day"])
            year = parts.get("year")
            if ("month" in parts and "/" in match.group(0) and not year and len(match.group(0)) < 4
                    and not _after_weekday(text, match.start())):
                continue
            if year is not None:
                year_number = int(year) if len(year) == 4 else 2000 + int(year)
                try:
                    date = dt.date(year_number, month, day)
                except ValueError:
                    continue
            else:
                if not (1 <= month <= 12 and 1 <= day <= 31):
                    continue
                inferred = infer_year(month, day, reference_date)
                if inferred is None:
                    continue
                date = inferred
            found.append(DateMatch(date, match.start(), match.end(), year is not None))
            break
    if not found:
        return None
    return min(found, key=lambda m: m.start)


def strip_dates(text: str) -> str:
    """``text`` with every date replaced by a separator, so "Dec 4 - 9PM" cannot read as 4-9 PM."""
    anchor = dt.date(2000, 1, 1)  # any reference will do: only the spans matter here
    for _ in range(8):
        match = find_date(text, anchor)
        if match is None:
            break
        text = text[: match.start] + " | " + text[match.end:]
    return text


@functools.lru_cache(maxsize=1)
def _dateparser():
    """dateparser, imported on first need (its import is slow) and set up to stay offline and English."""
    from dateparser.date import DateDataParser

    settings = {"REQUIRE_PARTS": ["month", "day"], "RETURN_AS_TIMEZONE_AWARE": False}
    return DateDataParser(languages=["en"], settings=settings)


# A leap year: any month and day printed without a year is a date in it (Feb 29 included).
_YEARLESS_ANCHOR = dt.date(2000, 1, 1)


def parse_date(text: Any, reference_date: Optional[dt.date] = None) -> Optional[str]:
    """A date as printed: ISO "YYYY-MM-DD" when the year is printed, "--MM-DD" when not; or None.

    With ``reference_date``, a date without a year is given one (:func:`daskparse.dates.resolve`: the next
    such day on or after it). Flyer formats are read by :func:`find_date`; anything else ("the 4th of Dec.",
    "4 December") goes to ``dateparser`` (English only, no language detection, so it never loads a model or
    touches a network).
    """
    if text is None:
        return None
    if isinstance(text, dt.datetime):
        return text.date().isoformat()
    if isinstance(text, dt.date):
        return text.isoformat()
    cleaned = repair_ocr_text(str(text))
    if re.fullmatch(r"\s*-{0,2}(0[1-9]|1[0-2])-([0-3]\d)\s*", cleaned):  # "--11-28" or the prompt's "11-28"
        month, day = (int(part) for part in cleaned.strip().lstrip("-").split("-"))
        found = _valid(month, day)
        return _resolved(dates.printed(found, False), reference_date) if found else None
    match = find_date(cleaned, _YEARLESS_ANCHOR) or find_date(unglue(cleaned), _YEARLESS_ANCHOR)
    if match:
        return _resolved(dates.printed(match.date, match.year_given), reference_date)
    data = _dateparser().get_date_data(cleaned)
    if data is None or data.date_obj is None:
        return None
    parsed = data.date_obj.date()
    return _resolved(dates.printed(parsed, bool(re.search(r"\b(?:19|20)\d\d\b", cleaned))), reference_date)


def _valid(month: int, day: int) -> Optional[dt.date]:
    try:
        return _YEARLESS_ANCHOR.replace(month=month, day=day)
    except ValueError:
        return None


def _resolved(printed: str, reference_date: Optional[dt.date]) -> Optional[str]:
    return printed if reference_date is None else dates.resolve(printed, None, reference_date)[0]
