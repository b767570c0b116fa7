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
Modules: :mod:`~daskparse.extract.when` (dates, weekdays, times of a text), :mod:`~daskparse.extract.rows` (rows,
their roles, phrases, places, not a flyer), :mod:`~daskparse.extract.shapes` (the readers by shape); this one
puts them together.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence, Union

from daskparse import normalise as nz
from daskparse.dates import resolve_show
from daskparse.extract.layout import TextLine
from daskparse.extract.rows import find_places, is_show, not_a_flyer, read_text_rows, tag_row
from daskparse.extract.shapes import read_lineup, read_single, read_tour
from daskparse.extract.when import MAX_SHOWS, When, read_when  # noqa: F401 - read by tests and tools
from daskparse.shows import ShowFields

__all__ = ["TextLine", "parse_flyer", "read_flyer", "read_when", "When"]

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
    rows = read_text_rows(text_lines)
    tagged = [tag_row(row, reference_date) for row in rows]
    if not_a_flyer(tagged):
        return []
    places = find_places(tagged)
    if len(places) >= 2:
        raws = read_tour(tagged, places, reference_date)
    else:
        raws = read_lineup(tagged, places, reference_date) or read_single(tagged, places, reference_date)
    shows = [nz.normalise_show(raw) for raw in raws]
    return [show for show in shows if is_show(show)][:MAX_SHOWS]
