"""The Show model: the single source of truth for columns, dtypes and the extractor output schema.

``ShowFields`` is what an extractor reports for one show on a flyer (and, later, the Gemini response
schema). ``SHOW_COLUMNS`` adds ``show_id`` (:func:`show_id`, the same show on any flyer in any run) and the
provenance the pipeline attaches. ``shows_frame`` turns records into a DataFrame with stable names and
dtypes, including when there are no rows at all.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Literal, Mapping, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

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
SHOW_COLUMNS = ["show_id"] + FIELD_COLUMNS + PROVENANCE_COLUMNS


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


def shows_frame(records: list[dict]) -> pd.DataFrame:
    """Records (dicts with the other SHOW_COLUMNS keys) to a DataFrame whose columns are all nullable strings;
    ``show_id`` is derived here, so it is never stale."""
    frame = pd.DataFrame.from_records([{**record, "show_id": show_id(record)} for record in records],
                                      columns=SHOW_COLUMNS)
    return frame.astype({column: pd.StringDtype() for column in SHOW_COLUMNS})
