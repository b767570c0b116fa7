"""Times and time ranges: "9:30 p.m.", "8-11pm", "noon", "Doors 7 / Show 8" -> "HH:MM" 24 h."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from daskparse.normalise.dates import strip_dates
from daskparse.normalise.text import repair_ocr_text

_NAMED_TIMES = {"noon": (12, 0), "midday": (12, 0), "midnight": (0, 0)}


def _one_time(n: str) -> str:
    """One time, its groups suffixed with n: "noon", or an hour with optional minutes and am/pm."""
    return (rf"(?:(?P<named{n}>noon|midday|midnight)"
            rf"|(?P<h{n}>[012]?\d)(?:\s?[:.]\s?(?P<m{n}>[0-5]\d))?"
            rf"\s?(?P<ampm{n}>[AaPp]\.?\s?[Mm]\.?(?![A-Za-z])|[AaPp](?![A-Za-z]))?)")


_RANGE_SEPARATOR = r"\s*(?:-|~|to|til+|until|till)\s*"
_TIME_RANGE = re.compile(r"(?i)(?<![\d/])" + _one_time("1") + r"(?:" + _RANGE_SEPARATOR + _one_time("2")
                         + r"|" + _RANGE_SEPARATOR + r"(?P<close>close|late|last call))?(?![\d/%+])")
# A bare hour ("Show 8", "at 9") counts as a time only after one of these words.
_TIME_CUE = re.compile(r"(?i)(?:\b(?:at|@|show|shows|doors|starts?|starting|from|begins?|kick\s?off|time)"
                       r"\s*:?\s*)$")
# A named time that is part of a name: "The Midnight Ramblers", "Midnight Special".
_NAME_NOT_TIME = re.compile(r"(?i)\bthe\s*\0|(?-i:\0\s*[A-Z][a-z])")
_DOORS_CUE = re.compile(r"(?i)\bdoors?\s*(?:open)?\s*(?:at|@)?\s*:?\s*$")
_SHOW_CUE = re.compile(r"(?i)\b(?:show|shows|music|starts?|begins?)\s*(?:at|@)?\s*:?\s*$")


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    meridiem: Optional[str]  # "a", "p" or None when the text gave none
    named: bool = False
    padded: bool = False  # "01:00", "09:30": a 24 h clock, never moved to the evening


def _clock(match: re.Match, suffix: str) -> Optional[_Clock]:
    named = match.group("named" + suffix)
    if named:
        hour, minute = _NAMED_TIMES[named.lower()]
        return _Clock(hour, minute, None, named=True)
    hour_text = match.group("h" + suffix)
    if hour_text is None:
        return None
    hour = int(hour_text)
    minute = int(match.group("m" + suffix) or 0)
    ampm = match.group("ampm" + suffix)
    meridiem = ampm[0].lower() if ampm else None
    if hour > 23 or (meridiem and not 1 <= hour <= 12):
        return None
    return _Clock(hour, minute, meridiem, padded=len(hour_text) == 2 and hour_text[0] == "0")


def _to_24h(clock: _Clock, meridiem: Optional[str]) -> str:
    """HH:MM. A bare hour from 1 to 11 is taken as evening: these are bar shows."""
    if clock.named:
        return f"{clock.hour:02d}:{clock.minute:02d}"
    hour = clock.hour
    if clock.padded and meridiem is None:
        return f"{hour:02d}:{clock.minute:02d}"
    if hour <= 12:
        meridiem = meridiem or ("p" if 1 <= hour <= 11 else None)
        if meridiem == "p":
            hour = hour % 12 + 12
        elif meridiem == "a":
            hour = hour % 12
    return f"{hour:02d}:{clock.minute:02d}"


@dataclass(frozen=True)
class TimeMatch:
    """A time or time range found in a text."""

    start: str
    end: Optional[str]
    span: tuple[int, int]
    cue: Optional[str]  # "doors" / "show" when the words before it said so


def find_times(text: str) -> list[TimeMatch]:
    """All times and time ranges in ``text``, in order. Bare numbers count only after a cue ("at 9")."""
    found = []
    for match in _TIME_RANGE.finditer(text):
        first = _clock(match, "1")
        if first is None:
            continue
        if first.named and _NAME_NOT_TIME.search(text[: match.start()] + "\0" + text[match.end():]):
            continue  # "The Midnight Ramblers" is a band
        second = _clock(match, "2") if match.group("h2") or match.group("named2") else None
        before = text[: match.start()]
        cued = bool(_TIME_CUE.search(before))
        explicit = (first.meridiem or first.named or match.group("m1") is not None
                    or (second is not None and (second.meridiem or second.named)))
        if not (explicit or cued):
            continue
        # "12.05" with no meridiem and no cue is more likely a date or a price than a time.
        if not first.meridiem and not first.named and not cued and second is None and "." in match.group(0):
            continue
        start_meridiem = first.meridiem
        end = None
        if second is not None:
            if start_meridiem is None and second.meridiem and not first.named:
                # "8-11pm": the start shares the end's half of the day, unless it then comes after
                # the end on the clock face ("10-2am" is 22:00-02:00, "11-1pm" is 11:00-13:00).
                start_meridiem = second.meridiem
                if first.hour % 12 > second.hour % 12:
                    start_meridiem = "a" if second.meridiem == "p" else "p"
            end = _to_24h(second, second.meridiem)
        cue = "doors" if _DOORS_CUE.search(before) else "show" if _SHOW_CUE.search(before) else None
        found.append(TimeMatch(_to_24h(first, start_meridiem), end, match.span(), cue))
    return found


def parse_time_range(text: Any) -> tuple[Optional[str], Optional[str]]:
    """(start, end) as "HH:MM" 24 h, either None when absent.

    "9PM" -> ("21:00", None); "8-11pm" -> ("20:00", "23:00"); "9PM-1AM" -> ("21:00", "01:00");
    "Doors 7 / Show 8" -> ("20:00", None): the show time wins over the doors time.
    """
    if not text:
        return None, None
    cleaned = strip_dates(repair_ocr_text(str(text)))
    times = find_times(cleaned)
    if not times:
        return None, None
    shows = [t for t in times if t.cue == "show"]
    chosen = shows[0] if shows else next((t for t in times if t.cue != "doors"), times[0])
    return chosen.start, chosen.end


def parse_time(text: Any) -> Optional[str]:
    """One time as "HH:MM" 24 h: "9PM", "9:30 p.m.", "21:00", "noon", "7.30pm"; a bare "9" means 21:00."""
    if text is None:
        return None
    cleaned = repair_ocr_text(str(text)).strip()
    if re.fullmatch(r"[012]?\d", cleaned):
        cleaned = "at " + cleaned
    start, _ = parse_time_range(cleaned)
    return start
