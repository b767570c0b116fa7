"""Turn loosely formatted show fields into the clean values of :class:`~daskparse.shows.ShowFields`.

Every extractor ends here: the local OCR parser and the Gemini extractor hand their raw strings to
:func:`normalise_show`, so the same facts always come out as the same values. The smaller parsers are
public because the flyer-text parser also uses them to *find* fields in OCR lines:

- :func:`parse_date` / :func:`find_date`: "Dec 4", "12/05", "December 4th, 2026" -> the date as printed
  ("--12-04" without a year; the year is given per run, :mod:`daskparse.dates`)
- :func:`parse_weekday`: "THU", "Thurs", "Sundays", "Every Wednesday" -> ("Thursday", recurrence)
- :func:`parse_time` / :func:`parse_time_range`: "9:30 p.m.", "8-11pm", "noon", "Doors 7 / Show 8"
- :func:`parse_state`, :func:`parse_zip`, :func:`parse_address` (``usaddress`` does the tagging)
- :func:`classify_kind`: "pub quiz" -> "trivia", "band" -> "live music", ...

OCR noise is handled here once (:func:`repair_ocr_text`): dropped spaces ("1234MainSt,Austin,TX78701"),
O/0 and l/1 confusions inside numbers, and the middle dot read as "-", ":" or ".".
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Optional

import usaddress

from daskparse import dates
from daskparse.shows import KINDS, WEEKDAYS, ShowFields, strip_controls, strip_controls_in

# Bump when a change here alters the values of a show: cached results (of either extractor) are recomputed.
# (Control characters are stripped from cached values as they are read, daskparse.cache: no bump for that.)
# 3: dates are stored as printed ("--11-28" without a year) and a printed weekday is kept: the year is given
# per run after the cache (daskparse.dates), so a cached result no longer carries the year of the day it was read.
NORMALISER_VERSION = "3"

# --------------------------------------------------------------------------------------------
# Text clean-up


def clean_text(value: Any, max_length: int | None = None) -> Optional[str]:
    """Drop control characters and escape sequences, trim, collapse whitespace, drop stray edge punctuation;
    None for empty. Cut to max_length."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", strip_controls(str(value))).strip(" \t,;:|·•-–—")
    if not text or text.lower() in {"none", "null", "n/a", "unknown"}:
        return None
    if max_length is not None and len(text) > max_length:
        text = text[:max_length].rstrip()
    return text


_ORDINAL = r"(?:st|nd|rd|th)"
# Letters OCR reads in place of digits inside a number ("1O:3O", "787O1", "l2/05").
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1"})
# A run of digits and look-alikes holding at least one real digit, not preceded by a letter: "Dec4"
# keeps "Dec", "1O" becomes "10", "4th" and "Suite 2D" stay as they are.
_NUMBERISH = re.compile(r"(?<![A-Za-z])[0-9OolI]*[0-9][0-9OolI]*")
# Look-alike runs with no real digit, where only a number can stand: an hour before am/pm ("lam",
# "llPM", "lO:3O pm"), the parts of a m/d/y date ("ll/l0/26"), a day after a month name ("Jan ll").
_LOOKALIKE_NUMBER = r"[0-9lIO]*[lIO][0-9lIO]*"
_LOOKALIKE_HOUR = re.compile(r"(?<![A-Za-z0-9])(?!I\s)[0-9lIO]{0,1}[lIO][0-9lIO]{0,1}"
                             r"(?=(?:[:.][0-5O][0-9O])?\s?[AaPp]\.?[Mm]\b)")
_LOOKALIKE_DATE_PART = re.compile(r"(?<![A-Za-z0-9])" + _LOOKALIKE_NUMBER + r"(?=/[0-9lIO])|(?<=/)"
                                  + _LOOKALIKE_NUMBER + r"(?![A-Za-z])")
# Anything outside Latin scripts, punctuation and symbols OCR may meet on a US flyer.
_NON_LATIN = re.compile(r"[^\u0000-\u024f\u2000-\u206f\u20a0-\u20bf\u2100-\u214f]")


def _fix_number(match: re.Match) -> str:
    text = match.group(0)
    after = match.string[match.end():]
    # "680Oak", "709Olde": look-alikes from a capital on, right before lower-case letters, begin the
    # next word (but "1Oam" is 10am and "1Oth" 10th).
    if after[:1].islower() and not re.match(r"[ap]\.?m\b|" + _ORDINAL + r"\b", after):
        word_start = re.search(r"[OI][OIlo]*$", text)
        word_start = word_start.start() if word_start else len(text)
        if word_start < len(text) and re.search(r"\d", text[:word_start]):
            return text[:word_start].translate(_DIGIT_LOOKALIKES) + text[word_start:]
    return text.translate(_DIGIT_LOOKALIKES)


# Seams where OCR drops spaces: after a comma, and between a lower-case letter and a capital.
_GLUED_COMMA = re.compile(r",(?=\S)")
_GLUED_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# Street types and directions (usaddress's own lists): a capitalised one glued to a word was two words.
_STREET_WORDS = frozenset(usaddress.STREET_NAMES) | frozenset(usaddress.DIRECTIONS)


def repair_ocr_text(text: str) -> str:
    """Undo the OCR damage that is safe to undo on any flyer line.

    Unicode look-alikes become ASCII (NFKC, dashes, quotes), the middle dot and bullet become " | ",
    letters inside numbers become digits ("787O1"), stray CJK characters go. Dropped spaces are a
    separate, riskier repair (:func:`unglue`).
    """
    text = unicodedata.normalize("NFKC", text)
    # The OCR model also reads Chinese; on these flyers a CJK character is always a misread speck.
    text = _NON_LATIN.sub(" ", text)
    text = text.replace("\u00b7", " | ").replace("\u2022", " | ").replace("\u2027", " | ")
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2012", "-")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = _NUMBERISH.sub(_fix_number, text)
    text = _LOOKALIKE_HOUR.sub(_fix_number, text)
    text = _LOOKALIKE_DATE_PART.sub(_fix_number, text)
    text = _LOOKALIKE_DAY.sub(lambda m: m.group(1) + m.group(2).translate(_DIGIT_LOOKALIKES), text)
    return re.sub(r"\s+", " ", text).strip()


def _split_camel(match: re.Match) -> str:
    """"MainSt" -> "Main St", "TheRustyAnchor" -> "The Rusty Anchor"; "McDaniel", "LaSalle" stay."""
    word = match.group(0)
    parts = _GLUED_CAMEL.split(word)
    if len(parts) >= 3 or (len(parts) == 2 and parts[1].lower() in _STREET_WORDS):
        return " ".join(parts)
    return word


def _split_letters_digits(match: re.Match) -> str:
    """"Dec4" -> "Dec 4", "TX78701" -> "TX 78701"; route names stay ("IH35", "US290")."""
    letters, digits = match.group(1), match.group(2)
    if (not letters.isupper() or (letters in STATE_ABBREVIATIONS and len(digits) == 5)
            or weekday_of(letters)[0] or letters[:3].lower() in _MONTH_NUMBER):
        return f"{letters} {digits}"
    return match.group(0)


def split_glued_words(text: str) -> str:
    """Words OCR ran together where the letters' case shows the seam.

    "TheRustyAnchor" -> "The Rusty Anchor", "MainSt" -> "Main St", "DJNight" -> "DJ Night"; names with
    an inner capital stay whole ("McDaniel", "LaSalle").
    """
    text = re.sub(r"[A-Za-z]*[a-z][A-Z][A-Za-z]*", _split_camel, text)
    # an upper-case word glued to a capitalised one: "DJNight" -> "DJ Night", "MONBingo" -> "MON Bingo"
    return re.sub(r"(?<=\b[A-Z]{2})(?=[A-Z][a-z]{2,})|(?<=\b[A-Z]{3})(?=[A-Z][a-z]{2,})", " ", text)


def unglue(text: str) -> str:
    """Put back spaces OCR dropped: "1234MainSt,Austin,TX78701" -> "1234 Main St, Austin, TX 78701"."""
    text = split_glued_words(_GLUED_COMMA.sub(", ", text))
    # a direction glued to a numbered street: "2207E6th" -> "2207 E 6th", "1905 N27th" -> "1905 N 27th"
    text = re.sub(r"(?<=\d)([NSEW])(?=\d)", r" \1 ", text)
    text = re.sub(r"(?<![A-Za-z])([NSEW])(?=\d+" + _ORDINAL + r"\b)", r"\1 ", text)
    # digits then a word ("1234Main"), but not ordinals ("4th"), am/pm ("9PM") or unit letters ("4B")
    text = re.sub(r"(?<=\d)(?=[A-Z][a-z]|[a-z]{2})(?!" + _ORDINAL + r"\b)(?![AaPp]\.?[Mm]\.?\b)", " ", text)
    # digits then a capitalised route or road ("1130US Highway", "31595SR 20", "254U.S. Highway"),
    # but not "9PM", "2ND" or a unit letter
    text = re.sub(r"(?<=\d)(?=[A-Z]{2,}\b|[A-Z]\.[A-Z]\.)(?!(?:AM|PM|ST|ND|RD|TH)\b)", " ", text)
    # a lettered street glued to its number: "3320M Street" -> "3320 M Street" (but "4B Main St" is a unit)
    text = re.sub(r"(?<=\d)(?=[A-Z] ([A-Za-z]+)\b)",
                  lambda m: " " if m.group(1).lower() in _STREET_WORDS else "", text)
    text = re.sub(r"(?<![A-Za-z])([A-Za-z]{2,})(\d+)", _split_letters_digits, text)
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------------------------
# Dates

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
# "Sept" is a common extra abbreviation; the others are the first three letters of the name.
_MONTH_ALTERNATION = "|".join(["Sept", *_MONTHS, *(m[:3] for m in _MONTHS)])
_MONTH_NUMBER = {m[:3].lower(): i + 1 for i, m in enumerate(_MONTHS)}
_LOOKALIKE_DAY = re.compile(r"(?i)(\b(?:" + _MONTH_ALTERNATION + r")\.?\s?)([lIO][0-9lIO]?)(?![A-Za-z])")

_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:\s?" + _ORDINAL + r")?"
_DATE_PATTERNS = [
    # ISO: 2026-12-04
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    # Dec 4, Dec. 4th, December 4th 2026, Dec4, DEC 04, 2026
    re.compile(r"(?i)\b(?P<mname>" + _MONTH_ALTERNATION + r")\.?\s*" + _DAY
               + r"(?!\d)(?!:[0-5]\d)(?:\s*,?\s*" + _YEAR + r")?\b"),
    # 4 Dec, 4th of December 2026
    re.compile(r"(?i)\b" + _DAY + r"\s*(?:of\s+)?(?P<mname>" + _MONTH_ALTERNATION + r")\b\.?"
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
            month = (_MONTH_NUMBER[parts["mname"][:3].lower()] if parts.get("mname")
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
                date = infer_year(month, day, reference_date)
                if date is None:
                    continue
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
    """dateparser, imported on first need (it takes ~0.1 s) and set up to stay offline and English."""
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


# --------------------------------------------------------------------------------------------
# Weekdays and recurrence

# Accepted spellings: the full name, its plural ("Sundays" = every Sunday), and any prefix of at least
# three letters ("Thu", "Thur", "Thurs", "TUES"), plus "Weds".
_WEEKDAY_TOKEN = re.compile(r"(?i)\b(?P<word>[A-Za-z]{3,10})\b\.?")


def weekday_of(token: str) -> tuple[Optional[str], bool]:
    """("Thursday", plural) when ``token`` names a weekday, else (None, False)."""
    word = token.strip(".,:;!").lower()
    for name in WEEKDAYS:
        lower = name.lower()
        if word == lower:
            return name, False
        if word == lower + "s":
            return name, True
        if 3 <= len(word) < len(lower) and lower.startswith(word):
            return name, False
    if word == "weds":
        return "Wednesday", False
    return None, False


@dataclass(frozen=True)
class WeekdayMatch:
    weekday: str
    start: int
    end: int
    recurrence: Optional[str]


_EVERY_OTHER = re.compile(r"(?i)\bevery\s+other\s*$")
_EVERY = re.compile(r"(?i)\b(?:every|each)\s*$")


def find_weekdays(text: str) -> list[WeekdayMatch]:
    """Every weekday named in ``text``, with the recurrence its wording implies."""
    matches = []
    for m in _WEEKDAY_TOKEN.finditer(text):
        name, plural = weekday_of(m.group("word"))
        if name is None:
            continue
        before = text[: m.start()]
        if _EVERY_OTHER.search(before):
            recurrence = "biweekly"
        elif plural or _EVERY.search(before):
            recurrence = "weekly"
        else:
            recurrence = None
        matches.append(WeekdayMatch(name, m.start(), m.end(), recurrence))
    return matches


def parse_weekday(text: Any) -> tuple[Optional[str], Optional[str]]:
    """(full weekday name, recurrence) from "THU", "Thurs.", "Sundays" (weekly), "Every Wednesday" (weekly)."""
    if not text:
        return None, None
    matches = find_weekdays(str(text))
    if not matches:
        return None, parse_recurrence(text)
    first = matches[0]
    return first.weekday, first.recurrence or parse_recurrence(text)


_RECURRENCE_WORDS = [
    (re.compile(r"(?i)\b(?:bi-?weekly|every\s+other|every\s+2\s*weeks|fortnightly)\b"), "biweekly"),
    (re.compile(r"(?i)\b(?:weekly|every\s*week|each\s+week|every\s+(?:mon|tue|wed|thu|fri|sat|sun)\w*)\b"),
     "weekly"),
    (re.compile(r"(?i)\b(?:monthly|every\s+month|(?:first|second|third|fourth|last|1st|2nd|3rd|4th)\s+"
                r"(?:mon|tue|wed|thu|fri|sat|sun)\w*(?:\s+of\s+(?:the|every)\s+month)?)\b"), "monthly"),
    (re.compile(r"(?i)\b(?:nightly|daily|every\s*(?:night|day))\b"), "daily"),
]


def parse_recurrence(text: Any) -> Optional[str]:
    """"weekly", "biweekly", "monthly" or "daily" when the wording says the show repeats, else None."""
    if not text:
        return None
    for pattern, value in _RECURRENCE_WORDS:
        if pattern.search(str(text)):
            return value
    return next((m.recurrence for m in find_weekdays(str(text)) if m.recurrence), None)


# --------------------------------------------------------------------------------------------
# Times

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


# --------------------------------------------------------------------------------------------
# States, zips, addresses

# USPS codes: 50 states, DC and the inhabited territories. Stable since 1963; a table beats a dependency.
STATE_CODES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM",
    "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
    "south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
    "virginia": "VA", "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "district of columbia": "DC", "washington dc": "DC", "washington d.c.": "DC", "puerto rico": "PR",
    "guam": "GU", "us virgin islands": "VI", "virgin islands": "VI", "american samoa": "AS",
    "northern mariana islands": "MP",
}
STATE_ABBREVIATIONS = frozenset(STATE_CODES.values())


def parse_state(text: Any) -> Optional[str]:
    """Two-letter USPS code from "TX", "tx", "T.X.", "Texas", "TEXAS"; None when it is no state."""
    if not text:
        return None
    word = re.sub(r"[^a-z ]", "", re.sub(r"\s+", " ", str(text).lower())).strip()
    if word.upper() in STATE_ABBREVIATIONS and len(word) == 2:
        return word.upper()
    compact = word.replace(" ", "")
    if compact.upper() in STATE_ABBREVIATIONS and len(compact) == 2:
        return compact.upper()
    return STATE_CODES.get(word)


def parse_zip(text: Any) -> Optional[str]:
    """Five-digit ZIP from "78701", "78701-1234", "787O1"; None otherwise."""
    if not text:
        return None
    match = re.search(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)", repair_ocr_text(str(text)))
    return match.group(1) if match else None


@dataclass(frozen=True)
class AddressParts:
    """An address split into the columns of ShowFields; ``name`` is any leading recipient (a venue)."""

    street: Optional[str] = None
    city: Optional[str] = None
    state: Optional[str] = None
    zip: Optional[str] = None
    name: Optional[str] = None

    def line(self) -> Optional[str]:
        """"street, city, ST zip" from the parts present."""
        tail = " ".join(p for p in (self.state, self.zip) if p)
        parts = [p for p in (self.street, self.city, tail) if p]
        return ", ".join(parts) or None


_STREET_LABELS = {
    "AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix", "StreetNamePreModifier",
    "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "SubaddressType", "SubaddressIdentifier", "OccupancyType",
    "OccupancyIdentifier", "USPSBoxType", "USPSBoxID", "USPSBoxGroupType", "USPSBoxGroupID",
    "BuildingName", "LandmarkName", "CornerOf", "IntersectionSeparator",
}

# A state written as a code or name, then a ZIP: the reliable tail of an address line.
_STATE_NAMES_PATTERN = "|".join(sorted((re.escape(n) for n in STATE_CODES), key=len, reverse=True))
_STATE_ZIP = re.compile(r"(?i)(?:\b(?P<state>[A-Z]{2}|" + _STATE_NAMES_PATTERN + r")\.?,?\s*)?"
                        r"(?P<zip>(?<!\d)\d{5})(?:-\d{4})?(?!\d)[\s.,;:|·~_-]*$")


# Letters OCR reads as digits inside a state code standing before a ZIP ("0R 97214" is "OR 97214").
_LETTER_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "l": "I", "5": "S", "8": "B", "2": "Z", "4": "A",
                                    "6": "G"})
_STATE_BEFORE_ZIP = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9]{2})(?=[.,]?\s*\d{5}(?:-\d{4})?[\s.,;:|·~_-]*$)")


def _fix_state_code(match: re.Match) -> str:
    code = match.group(1)
    if code.upper() in STATE_ABBREVIATIONS or code.isdigit():
        return code
    fixed = code.translate(_LETTER_LOOKALIKES).upper()
    return fixed if fixed in STATE_ABBREVIATIONS else code


# A state code with its ZIP glued on, look-alikes and all ("AL3565O"): repair_ocr_text leaves digits
# after letters alone, so this pair is split first.
_STATE_GLUED_ZIP = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})([0-9OlI]{5})(?![0-9A-Za-z])")
# Where a middle dot between street and city was read as ":", "-" or "." ("Mall Road:Juneau",
# "Copeland Street-Eufaula", "Highway 278. Addison"); spaced " - " and " . " usaddress already reads.
_MISREAD_BREAK = re.compile(r"(?<!\d)\s*:\s*|\s*:\s*(?!\d)|\s+[-.]\s+|-(?=[A-Z][a-z])|\.\s*(?=[A-Z][a-z])")


def _glued_state_zip(match: re.Match) -> str:
    code, digits = match.groups()
    if code not in STATE_ABBREVIATIONS or sum(c.isdigit() for c in digits) < 3:
        return match.group(0)
    return f"{code} {digits.translate(_DIGIT_LOOKALIKES)}"


def _street_city_break(text: str) -> str:
    """The first misread middle dot after a street (its last word a street type, direction or number) made
    a comma; only on a line that lacks the street's comma (fewer than two), so "Winston-Salem", "S. Main"
    and "St. Louis" in a whole address stay."""
    if text.count(",") >= 2:
        return text
    for match in _MISREAD_BREAK.finditer(text):
        before = re.search(r"([A-Za-z0-9#]+)\W*$", text[: match.start()])
        if not before:
            continue
        word = before.group(1).lower()
        # a colon or a spaced dash/dot is never inside a street; a glued "-" or "." may be ("54-70", "S. Main")
        unambiguous = ":" in match.group(0) or match.group(0)[:1].isspace()
        period_after_word = match.group(0).startswith(".") and len(word) >= 4
        if (unambiguous or period_after_word or word in usaddress.STREET_NAMES or word.isdigit()
                or (len(word) > 2 and word in usaddress.DIRECTIONS)):
            return text[: match.start()] + ", " + text[match.end():]
    return text


def prepare_address(text: str) -> str:
    """OCR repairs for an address line: look-alike digits, dropped spaces, doubled punctuation."""
    text = _STATE_GLUED_ZIP.sub(_glued_state_zip, text)
    text = unglue(repair_ocr_text(text))
    text = _street_city_break(text)
    text = _STATE_BEFORE_ZIP.sub(_fix_state_code, text)
    text = text.replace(" | ", ", ")
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"(,\s*)+", ", ", text)
    return text.strip(" ,")


def parse_address(text: Any) -> AddressParts:
    """Split an address line into street / city / state / zip (``usaddress`` tags the tokens).

    The street is every token from the house number to the last street or unit token, as printed
    ("500 W 5th St Unit B"); ``name`` holds words usaddress tags as a recipient (a venue name that
    OCR merged into the address line).
    """
    cleaned = clean_text(text)
    if not cleaned:
        return AddressParts()
    prepared = prepare_address(cleaned)
    tokens = usaddress.parse(prepared)
    street_words, city_words, name_words = [], [], []
    state = zip_code = None
    for word, label in tokens:
        bare = word.strip(",;")
        if label in _STREET_LABELS and not city_words:
            street_words.append(bare)
        elif label == "PlaceName":
            city_words.append(bare)
        elif label == "StateName" and state is None:
            state = parse_state(bare)
            if state is None:  # usaddress calls "Dec" or "Main" a state now and then
                city_words.append(bare)
        elif label == "ZipCode" and zip_code is None:
            zip_code = parse_zip(bare)
        elif label == "Recipient" and not street_words:
            name_words.append(bare)
    # usaddress misses a state or zip glued to punctuation now and then; the tail regex does not.
    tail = _STATE_ZIP.search(prepared)
    if tail:
        zip_code = zip_code or tail.group("zip")
        state = state or parse_state(tail.group("state"))
    return AddressParts(
        street=clean_text(" ".join(street_words), 200),
        city=clean_text(" ".join(city_words), 100),
        state=state,
        zip=zip_code,
        name=clean_text(" ".join(name_words), 200),
    )


# --------------------------------------------------------------------------------------------
# Kinds

# Ordered: the first kind whose words appear wins, so "Karaoke hosted by DJ Sparkle" is karaoke and
# "Jazz & Blues Night" is live music. Patterns are flyer wording, not a general taxonomy.
_KIND_WORDS: list[tuple[str, re.Pattern]] = [
    # (no word boundaries where OCR glues capitals: "MUSICBINGO", "DJNIGHT", "PUBQUIZ")
    ("karaoke", re.compile(r"(?i)kara\s?oke|sing\s?-?along|\bk-?pop\s+night")),
    ("trivia", re.compile(r"(?i)trivia|quiz|\bgeeks?\s+who\s+drink|\bname\s+that\s+tune")),
    ("bingo", re.compile(r"(?i)bingo")),
    ("open mic", re.compile(r"(?i)\bopen[\s-]?mi(?:c|ke)|\bopen\s+stage|\bpoetry\s+slam|\bjam\s+session")),
    ("comedy", re.compile(r"(?i)comedy|comedian|stand[\s-]?up|\bimprov|\blaughs?\b|\broast\b|\bfunny")),
    ("dj", re.compile(r"(?i)\bd\.?j\.?s?(?:\b|(?=night|party|set))|\bdance\b|\bdisco\b|\bturntabl|\bvinyl\s+night|\bclub\s+night|"
                      r"\blatin\s+night|\bthrowback\b|\bsalsa\b|\bedm\b")),
    ("live music", re.compile(r"(?i)live\s+music|\blive\b|\bband\b|\bjazz|\bblues|\bacoustic|\bconcert|"
                              r"\bbluegrass|\bfolk\b|\brock\b|\bcountry\b|\bsinger|\bsongwriter|\bquartet|"
                              r"\btrio\b|\bgig\b|\bmusic\b|\borchestra|\bunplugged|\bfunk\b|\bsoul\b")),
]


def classify_kind(*texts: Any) -> str:
    """One of KINDS from free text; earlier arguments win ("quiz" -> trivia, "band" -> live music).

    Pass the most telling text first (the title, then the performer), since a karaoke night hosted
    by a DJ is karaoke.
    """
    for text in texts:
        if not text:
            continue
        value = str(text).strip().lower()
        if value in KINDS:
            return value
        for kind, pattern in _KIND_WORDS:
            if pattern.search(value):
                return kind
    return "other"


def kind_hint(text: Any) -> Optional[str]:
    """The kind ``text`` talks about, or None (unlike classify_kind, no "other" fallback)."""
    kind = classify_kind(text)
    return None if kind == "other" else kind


# --------------------------------------------------------------------------------------------
# Performers

_PERFORMER_PREFIX = re.compile(
    r"(?i)^\s*(?:hosted\s+by|host(?:ed)?\s*:|presented\s+by|with|w/|featuring|feat\.?|ft\.?|starring|"
    r"music\s+by|spinning\s*:?|live\s*:)\s*")


def clean_performer(text: Any) -> Optional[str]:
    """"hosted by DJ Sparkle" -> "DJ Sparkle"; "w/ The Night Owls" -> "The Night Owls"."""
    value = clean_text(text)
    if not value:
        return None
    value = _PERFORMER_PREFIX.sub("", value)
    return clean_text(value, 200)


# --------------------------------------------------------------------------------------------
# The whole show

_ONE_OFF = {"once", "one-time", "one time", "one-off", "single", "no", "n/a"}

_MAX_LENGTH = {name: next((m.max_length for m in f.metadata if hasattr(m, "max_length")), None)
               for name, f in ShowFields.model_fields.items()}


def _first(raw: dict, *keys: str) -> Any:
    for key in keys:
        value = raw.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def normalise_show(raw: dict, *, reference_date: Optional[dt.date] = None) -> ShowFields:
    """Clean loosely formatted fields into a ShowFields.

    Accepts the ShowFields keys with any loose values (e.g. date "Dec 4", start_time "9PM" or even
    "8-11pm", state "Texas", only an ``address`` line) and fills what can be derived: street/city/state/zip
    from the address line, the end time from a range, the kind from the title or performer when the given
    kind is not one of KINDS.

    The date stays as printed ("--12-04" without a year) with the weekday as printed: the year is a run's
    business (:func:`daskparse.dates.resolve_show`, after the cache). Given ``reference_date``, the show
    comes back resolved, as a run would give it.
    """
    # The parsers below read the raw values too: an escape sequence inside "9PM" must not hide the time.
    raw = strip_controls_in(raw)
    text = {key: clean_text(raw.get(key), _MAX_LENGTH.get(key)) for key in
            ("title", "performer", "venue", "address", "street", "city", "recurrence")}

    date = parse_date(_first(raw, "date"))

    weekday, weekday_recurrence = parse_weekday(_first(raw, "weekday"))
    if weekday is None and raw.get("date"):  # "Sat Nov 28" names its weekday; "Every Thursday" is one
        weekday, named_recurrence = parse_weekday(raw.get("date"))
        weekday_recurrence = None if date else named_recurrence
    recurrence = parse_recurrence(text["recurrence"]) or weekday_recurrence
    if recurrence is None and text["recurrence"] and text["recurrence"].lower() not in _ONE_OFF:
        recurrence = clean_text(text["recurrence"].lower(), 40)  # e.g. "every full moon": keep the words
    if date and recurrence == "weekly" and weekday_recurrence and not text["recurrence"]:
        recurrence = None  # "Thursdays" next to a real date: the date wins

    start_time, range_end = parse_time_range(_first(raw, "start_time"))
    if start_time is None and raw.get("start_time") is not None:
        start_time = parse_time(raw.get("start_time"))
    end_time = parse_time(_first(raw, "end_time")) or range_end

    parts = parse_address(text["address"]) if text["address"] else AddressParts()
    street = text["street"] or parts.street
    city = text["city"] or parts.city
    state = parse_state(_first(raw, "state")) or parts.state
    zip_code = parse_zip(_first(raw, "zip")) or parts.zip
    address = text["address"] or AddressParts(street, city, state, zip_code).line()

    performer = clean_performer(raw.get("performer"))
    # A specific kind given wins; "other" or nothing lets the title and performer speak.
    given = classify_kind(raw.get("kind")) if raw.get("kind") else "other"
    kind = given if given != "other" else classify_kind(text["title"], performer)

    show = ShowFields(
        title=text["title"],
        kind=kind,
        performer=performer,
        venue=text["venue"],
        address=clean_text(address, _MAX_LENGTH["address"]),
        street=clean_text(street, _MAX_LENGTH["street"]),
        city=clean_text(city, _MAX_LENGTH["city"]),
        state=state,
        zip=zip_code,
        date=date,
        weekday=weekday,
        recurrence=recurrence,
        start_time=start_time,
        end_time=end_time,
        date_note=clean_text(raw.get("date_note"), _MAX_LENGTH["date_note"]),
    )
    if reference_date is None:
        return show
    return ShowFields(**dates.resolve_show(show.model_dump(), reference_date))

