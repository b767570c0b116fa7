"""The Show model: the single source of truth for columns, dtypes and the extractor output schema.

``ShowFields`` is what an extractor reports for one show on a flyer (and, later, the Gemini response
schema). ``SHOW_COLUMNS`` adds ``show_id`` (:func:`show_id`, the same show on any flyer in any run), the
provenance the pipeline attaches and, last, ``venue_key`` (:func:`venue_key`, to group by venue).
``shows_frame`` turns records into a DataFrame with stable names and dtypes, including when there are no
rows at all.

A record (a dict: what extractors return, the cache stores, dates are resolved on) holds dates and times as
ISO text, "YYYY-MM-DD" and "HH:MM"; a frame holds them typed (``SHOW_DTYPES``: Arrow date32 and time64), so
``shows[shows.date >= datetime.date.today()]`` and sorting work. ``with_show_types`` gives any frame of
show columns those types (an output file of an earlier version held text); ``as_text`` turns them back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any, Literal, Mapping, Optional, get_args

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other"]
KINDS: tuple[Kind, ...] = get_args(Kind)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Terminal escape sequences (ECMA-48), 7- and 8-bit: CSI ("ESC [" parameters, one final byte: colours, cursor
# moves); OSC, DCS, SOS, PM and APC strings up to BEL or ST, or to the end when unterminated (OSC 8 hides a
# link behind a text); then any other escape ("ESC 7", "ESC ( B"). Removed whole, not only their ESC.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Unicode categories no field keeps: controls (ESC, BEL, C1) and format characters (BiDi overrides and
# isolates, zero-width characters, the BOM). Line and paragraph separators count with them, and lone
# surrogates (a JSON answer may escape one: "\ud800"), which no UTF-8 output can hold.
_CONTROL_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def strip_controls(text: str) -> str:
    """``text`` without terminal escape sequences and control or format characters: a field's value must not
    drive the terminal it is printed on (colours, links, cursor moves, right-to-left overrides). Line breaks
    and tabs become spaces; the rest go."""
    if text.isprintable():  # the common case: no Cc, Cf, Zl, Zp or Cs anywhere
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    return "".join((" " if char.isspace() else "") if unicodedata.category(char) in _CONTROL_CATEGORIES else char
                   for char in text)


def strip_controls_in(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with ``strip_controls`` applied to every string (a raw show, a cached one)."""
    return {key: strip_controls(value) if isinstance(value, str) else value for key, value in values.items()}


class ShowFields(BaseModel):
    """One show as read off a flyer, already normalised."""

    model_config = ConfigDict(extra="ignore")

    title: Optional[str] = Field(None, max_length=200, description="Name of the show or event")
    kind: Kind = Field("other", description="Kind of show")
    performer: Optional[str] = Field(None, max_length=200, description="Performer, band, host or DJ")
    venue: Optional[str] = Field(None, max_length=200, description="Name of the venue")
    address: Optional[str] = Field(None, max_length=300, description="Full address line as printed")
    street: Optional[str] = Field(None, max_length=200)
    city: Optional[str] = Field(None, max_length=100)
    state: Optional[str] = Field(None, max_length=2, description="Two-letter US state code")
    zip: Optional[str] = Field(None, max_length=5, description="Five-digit ZIP code")
    # An extractor reports "--MM-DD" when no year is printed; a run gives the year (daskparse.dates).
    date: Optional[str] = Field(None, description="ISO date YYYY-MM-DD, when the flyer names a date")
    weekday: Optional[str] = Field(None, description="Weekday name, e.g. Thursday")
    recurrence: Optional[str] = Field(None, description="e.g. weekly, when the show repeats")
    start_time: Optional[str] = Field(None, description="Start time HH:MM, 24 h")
    end_time: Optional[str] = Field(None, description="End time HH:MM, 24 h")
    date_note: Optional[str] = Field(None, max_length=300, description="Why the date is empty or doubtful, e.g. "
                                     "the printed weekday does not agree with the printed date")

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # Here, not only in the normaliser: every extractor's shows, and every caller's, pass through this model.
        return strip_controls(value) if isinstance(value, str) else value


PROVENANCE_COLUMNS = ["source", "cleaned_url", "image_sha256", "extractor"]
FIELD_COLUMNS = list(ShowFields.model_fields)
# Derived from the fields, never read off a flyer: last, so every column before keeps its position.
DERIVED_COLUMNS = ["venue_key"]
SHOW_COLUMNS = ["show_id"] + FIELD_COLUMNS + PROVENANCE_COLUMNS + DERIVED_COLUMNS

# Typed in a frame and in Parquet; every other column is a nullable string. date32 compares with a
# datetime.date (pandas refuses a Timestamp: ``pd.Timestamp.today().date()``); time64[us] is what Arrow makes
# of a datetime.time, and Parquet stores it as is (it has no time32 in seconds).
DATE_TYPE = pa.date32()
TIME_TYPE = pa.time64("us")
TYPED_COLUMNS = {"date": DATE_TYPE, "start_time": TIME_TYPE, "end_time": TIME_TYPE}
SHOW_SCHEMA = pa.schema([(name, TYPED_COLUMNS.get(name, pa.string())) for name in SHOW_COLUMNS])
SHOW_DTYPES = {name: pd.ArrowDtype(TYPED_COLUMNS[name]) if name in TYPED_COLUMNS else pd.StringDtype()
               for name in SHOW_COLUMNS}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def show_id(show: Mapping) -> str:
    """A stable id for one show: the same show read off two flyers, or in two runs, gets the same id.

    It hashes where (the venue; without one the street, else the address line), when (the date, else the
    weekday of a recurring show), the start time and the kind, each normalised (case, accents, punctuation,
    "&"/"and", a leading "The"). Title and performer are left out on purpose: two flyers of one show often
    name it differently ("Karaoke Night" / "Thursday Karaoke w/ DJ Mo", a host named on one only), while a
    venue seldom runs two shows of one kind starting at one time on one day. City, state and ZIP are left
    out too, as one flyer prints them and the next does not. A show with no place at all falls back to its
    title, and one with neither to its image, so unrelated bare rows are never merged.
    """
    place = _identity(show.get("venue")) or _identity(show.get("street") or show.get("address"))
    if not place:
        title = _identity(show.get("title"))
        place = f"title:{title}" if title else f"image:{show.get('image_sha256') or ''}"
    when = show.get("date") or _identity(show.get("weekday"))
    parts = [place, when or "", show.get("start_time") or "", show.get("kind") or "other"]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _identity(value: Optional[str]) -> str:
    """The letters and digits of ``value``, lower case, without accents, "&" read as "and", no leading "the"."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode().casefold()
    text = re.sub(r"^\W*the\b", "", text.replace("&", " and "))
    return re.sub(r"[^a-z0-9]+", "", text)


def venue_key(venue: Optional[str]) -> Optional[str]:
    """The venue as ``show_id`` reads it, to group by: "THE BLUE DOOR" and "Blue Door" are both "bluedoor";
    None without a venue."""
    return (_identity(venue) or None) if isinstance(venue, str) else None


def parse_date(value: Any) -> Optional[dt.date]:
    """A record's date as a date: "YYYY-MM-DD" (or a date); None for anything else, such as a year-less
    "--11-28" no year could be found for, or a day that does not exist."""
    if isinstance(value, dt.datetime):
        return None if pd.isna(value) else value.date()  # a NaT is a datetime too
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_clock(value: Any) -> Optional[dt.time]:
    """A record's time as a time: "HH:MM" (or "HH:MM:SS", or a time); None for anything else."""
    if isinstance(value, dt.time):
        return value
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    hour, minute, second = (int(group or 0) for group in match.groups())
    return dt.time(hour, minute, second) if hour < 24 and minute < 60 and second < 60 else None


def with_show_types(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every SHOW_COLUMNS column in its type (``SHOW_DTYPES``), missing ones added empty and
    ``venue_key`` derived from ``venue``; other columns as they were. Reads what an earlier version wrote
    (dates and times as text); a value that is not a date or time becomes missing, never an error."""
    frame = frame.copy()
    for name in SHOW_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    frame["venue_key"] = _converted(frame["venue"], venue_key, SHOW_DTYPES["venue_key"])
    for name, kind in TYPED_COLUMNS.items():
        if frame[name].dtype != SHOW_DTYPES[name]:
            frame[name] = _converted(frame[name], parse_date if kind == DATE_TYPE else parse_clock, SHOW_DTYPES[name])
    return frame.astype({name: SHOW_DTYPES[name] for name in SHOW_COLUMNS if name not in TYPED_COLUMNS})


def _converted(values: pd.Series, convert, dtype) -> pd.api.extensions.ExtensionArray:
    """``convert`` applied to each distinct value once (a view of 100,000 shows has a few hundred venues and
    dates); missing values stay missing."""
    codes, distinct = pd.factorize(values)  # a missing value's code is -1: the None appended last
    return pd.array([convert(value) for value in distinct] + [None], dtype=dtype).take(codes)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its typed show columns as the text a record holds: "YYYY-MM-DD", "HH:MM" (for a table,
    or for code that compares text)."""
    typed = [name for name in TYPED_COLUMNS if name in frame.columns]
    text = frame.astype({name: pd.StringDtype() for name in typed})
    for name in typed:
        if TYPED_COLUMNS[name] == TIME_TYPE:
            text[name] = text[name].str.slice(0, 5)  # "22:00:00" -> "22:00"
    return text


def shows_frame(records: list[dict]) -> pd.DataFrame:
    """Records (dicts with the other SHOW_COLUMNS keys, dates and times as ISO text) to a DataFrame of
    SHOW_COLUMNS in ``SHOW_DTYPES``; ``show_id`` and ``venue_key`` are derived here, so they are never stale."""
    frame = pd.DataFrame.from_records([{**record, "show_id": show_id(record)} for record in records],
                                      columns=SHOW_COLUMNS)
    return with_show_types(frame)[SHOW_COLUMNS]
