"""The Show model: the single source of truth for columns, dtypes and the extractor output schema.

``ShowFields`` is what an extractor reports for one show on a flyer (and, later, the Gemini response
schema). ``SHOW_COLUMNS`` adds the provenance the pipeline attaches. ``shows_frame`` turns records into
a DataFrame with stable names and dtypes, including when there are no rows at all.
"""

from __future__ import annotations

from typing import Literal, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["karaoke", "trivia", "live music", "comedy", "open mic", "dj", "bingo", "other"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


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
    date: Optional[str] = Field(None, description="ISO date YYYY-MM-DD, when the flyer names a date")
    weekday: Optional[str] = Field(None, description="Weekday name, e.g. Thursday")
    recurrence: Optional[str] = Field(None, description="e.g. weekly, when the show repeats")
    start_time: Optional[str] = Field(None, description="Start time HH:MM, 24 h")
    end_time: Optional[str] = Field(None, description="End time HH:MM, 24 h")


PROVENANCE_COLUMNS = ["source", "cleaned_url", "image_sha256", "extractor"]
FIELD_COLUMNS = list(ShowFields.model_fields)
SHOW_COLUMNS = FIELD_COLUMNS + PROVENANCE_COLUMNS


def shows_frame(records: list[dict]) -> pd.DataFrame:
    """Records (dicts with SHOW_COLUMNS keys) to a DataFrame whose columns are all nullable strings."""
    frame = pd.DataFrame.from_records(records, columns=SHOW_COLUMNS)
    return frame.astype({column: pd.StringDtype() for column in SHOW_COLUMNS})
