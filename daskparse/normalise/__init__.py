"""Turn loosely formatted show fields into the clean values of :class:`~daskparse.shows.ShowFields`.

Every extractor ends here: the local OCR parser and the Gemini extractor hand their raw strings to
:func:`normalise_show`, so the same facts always come out as the same values. The smaller parsers are
public because the flyer-text parser also uses them to *find* fields in OCR lines; each concern has its
module, and every name is importable from here:

- :mod:`.dates`: :func:`parse_date` / :func:`find_date`: "Dec 4", "12/05", "December 4th, 2026" -> the date as
  printed ("--12-04" without a year; the year is given per run, :mod:`daskparse.dates`)
- :mod:`.weekdays`: :func:`parse_weekday`: "THU", "Thurs", "Sundays", "Every Wednesday" -> ("Thursday", recurrence)
- :mod:`.times`: :func:`parse_time` / :func:`parse_time_range`: "9:30 p.m.", "8-11pm", "noon", "Doors 7 / Show 8"
- :mod:`.addresses`: :func:`parse_state`, :func:`parse_zip`, :func:`parse_address` (``usaddress`` does the tagging)
- :mod:`.kinds`: :func:`classify_kind`: "pub quiz" -> "trivia", "band" -> "live music", ...; :func:`clean_performer`

OCR noise is handled once (:mod:`.text`, :func:`repair_ocr_text`): dropped spaces ("1234MainSt,Austin,TX78701"),
O/0 and l/1 confusions inside numbers, and the middle dot read as "-", ":" or ".".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

# (daskparse.dates by its function only: the name "dates" here is this package's own module)
from daskparse.dates import resolve_show
from daskparse.normalise.addresses import (STATE_ZIP, STREET_LABELS, AddressParts, parse_address,
                                           parse_state, parse_zip, prepare_address)
from daskparse.normalise.dates import DateMatch, find_date, infer_year, parse_date, strip_dates
from daskparse.normalise.kinds import PERFORMER_PREFIX, classify_kind, clean_performer, kind_hint
from daskparse.normalise.text import clean_text, repair_ocr_text, split_glued_words, unglue
from daskparse.normalise.times import TimeMatch, find_times, parse_time, parse_time_range
from daskparse.normalise.vocabulary import STATE_ABBREVIATIONS, STATE_CODES
from daskparse.normalise.weekdays import WeekdayMatch, find_weekdays, parse_recurrence, parse_weekday, weekday_of
from daskparse.shows import ShowFields, strip_controls_in

# Bump when a change here alters the values of a show: cached results (of either extractor) are recomputed.
# (Control characters are stripped from cached values as they are read, daskparse.cache: no bump for that.)
# 3: dates are stored as printed ("--11-28" without a year) and a printed weekday is kept: the year is given
# per run after the cache (daskparse.dates), so a cached result no longer carries the year of the day it was read.
NORMALISER_VERSION = "3"

__all__ = [
    "NORMALISER_VERSION", "normalise_show",
    "clean_text", "repair_ocr_text", "split_glued_words", "unglue",
    "DateMatch", "find_date", "infer_year", "parse_date", "strip_dates",
    "WeekdayMatch", "find_weekdays", "parse_recurrence", "parse_weekday", "weekday_of",
    "TimeMatch", "find_times", "parse_time", "parse_time_range",
    "STATE_ABBREVIATIONS", "STATE_CODES", "AddressParts", "parse_address", "parse_state", "parse_zip",
    "prepare_address", "STATE_ZIP", "STREET_LABELS",
    "classify_kind", "clean_performer", "kind_hint", "PERFORMER_PREFIX",
]
# The flyer-text parser reads the address tail (STATE_ZIP) and the performer prefixes (PERFORMER_PREFIX) as
# the normaliser does; the test flyers label streets with the normaliser's own street labels.


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
    return ShowFields(**resolve_show(show.model_dump(), reference_date))

