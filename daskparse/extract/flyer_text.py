"""The flyer grammar: text lines (from OCR or typed) -> shows.

Two flyer families (see the flyer spec shared with ``daskparse.testing.flyers``):

- a single show: title, optional performer, one or two "when" lines, venue, address, decoration;
- a weekly line-up: venue header, a heading ("WEEKLY EVENTS"), one row per weekday
  ("MON  Trivia w/ Quizmaster Dan  7PM"), the address; each row is one weekly show.

The parser works on *rows*: OCR boxes that share a baseline are joined left to right (a line-up drawn in
columns comes back as three boxes per row), after undoing the photo's tilt. Each row is then given one
role by what it contains (date/time, address, decoration, heading, performer cue) and, for the rest,
by where it sits: the biggest text is the title (or, on a line-up, the venue header), the plain name
just above the address is the venue, a plain name between the title and the time is the performer.
Raw fields go through :func:`daskparse.normalise.normalise_show`, like every other extractor's.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import usaddress

from daskparse import normalise as nz
from daskparse.shows import ShowFields


@dataclass(frozen=True)
class TextLine:
    """One line of text as OCR read it. ``box`` is (x0, y0, x1, y1) in pixels; ``angle`` the tilt of
    its baseline in degrees (clockwise positive, image coordinates)."""

    text: str
    box: Optional[tuple[float, float, float, float]] = None
    confidence: float = 1.0
    angle: float = 0.0


# --------------------------------------------------------------------------------------------
# Rows


@dataclass
class _Piece:
    """One OCR box in deskewed page coordinates."""

    text: str
    top: float
    bottom: float
    left: float
    right: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def width(self) -> float:
        return self.right - self.left


@dataclass
class _Row:
    """Pieces on one baseline, joined left to right with two spaces."""

    text: str
    top: float
    bottom: float
    role: str = "?"  # title | performer | when | venue | address | deco | heading | row | ?

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def _tilt(lines: Sequence[TextLine]) -> float:
    """The page's tilt in radians: the median baseline angle of the wide boxes."""
    angles = [ln.angle for ln in lines if ln.box and (ln.box[2] - ln.box[0]) > 2 * (ln.box[3] - ln.box[1])]
    return math.radians(statistics.median(angles)) if angles else 0.0


def _worth_reading(text: str, line: TextLine, tilt: float) -> bool:
    """False for OCR specks: a lone character read without confidence, or a box standing askew."""
    letters = re.sub(r"[^0-9A-Za-z]", "", text)
    if not letters:
        return False
    if len(letters) <= 2 and (line.confidence < 0.9 or abs(math.radians(line.angle) - tilt) > math.radians(20)):
        return False
    return True


def _drop_repeated_tail(text: str, following: str) -> str:
    """"Live Music 8" before "8:30pm" -> "Live Music": the tail the next box repeats."""
    for size in range(min(6, len(text), len(following)), 0, -1):
        tail = text[-size:]
        if text[-size - 1: -size] in (" ", "") and following.startswith(tail.strip()) and tail.strip():
            return text[:-size].rstrip()
    return text


def _pieces(lines: Sequence[TextLine]) -> list[_Piece]:
    """The readable boxes, their coordinates turned back by the page tilt."""
    tilt = _tilt(lines)
    cos, sin = math.cos(tilt), math.sin(tilt)
    pieces = []
    for index, line in enumerate(lines):
        text = nz.split_glued_words(_split_glued_label(nz.repair_ocr_text(line.text)))
        if not _worth_reading(text, line, tilt):
            continue
        if line.box is None:  # typed lines: one row each, equal height, in the given order
            pieces.append(_Piece(text, index * 10.0, index * 10.0 + 8.0, 0.0, 100.0))
            continue
        x0, y0, x1, y1 = line.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = cx * cos + cy * sin, -cx * sin + cy * cos
        # An upright box around a tilted line is taller than the line by width * sin(tilt).
        height = max((y1 - y0 - (x1 - x0) * abs(sin)) / cos, (y1 - y0) * 0.3)
        width = x1 - x0
        pieces.append(_Piece(text, ry - height / 2, ry + height / 2, rx - width / 2, rx + width / 2))
    return pieces


def _same_row(piece: _Piece, row: list[_Piece]) -> bool:
    """Mostly the same height band, and side by side (OCR boxes of neighbours may overlap a little)."""
    top, bottom = min(p.top for p in row), max(p.bottom for p in row)
    overlap = min(piece.bottom, bottom) - max(piece.top, top)
    if overlap <= 0.5 * min(piece.height, bottom - top):
        return False
    return all(min(piece.right, p.right) - max(piece.left, p.left) <= 0.4 * min(piece.width, p.width)
               for p in row)


def _rows(lines: Sequence[TextLine]) -> list[_Row]:
    """Join boxes on one baseline into rows, top to bottom."""
    groups: list[list[_Piece]] = []
    for piece in sorted(_pieces(lines), key=lambda p: p.top + p.bottom):
        row = next((g for g in reversed(groups[-3:]) if _same_row(piece, g)), None)
        if row is None:
            groups.append([piece])
        else:
            row.append(piece)

    rows = []
    for group in groups:
        group.sort(key=lambda p: p.left)
        texts = [group[0].text]
        for previous, piece in zip(group, group[1:]):
            if piece.left < previous.right:  # overlapping boxes may both hold the characters they share
                texts[-1] = _drop_repeated_tail(texts[-1], piece.text)
            texts.append(piece.text)
        text = "  ".join(t for t in texts if t.strip())
        rows.append(_Row(text, min(p.top for p in group), max(p.bottom for p in group)))
    rows.sort(key=lambda r: r.middle)
    return rows


# --------------------------------------------------------------------------------------------
# What a row is

_DECORATION = re.compile(
    r"(?i)^\W*\d{2}\s*\+\W*$|^\W*[@#]\w|www\.|\.com\b|\bfree\s+(?:entry|admission)\b|\bno\s+cover\b|"
    r"\bspecials?\b|\bdrafts?\b|\bhappy\s+hour\b|\ball\s+ages\b|\bbring\s+(?:your|a)\s+friends?\b|"
    r"\bprizes?\b|\bsign[\s-]?up\b|\$\s?\d|\bcover\s+charge\b|\btickets?\b|\brsvp\b|\bfollow\s+us\b|"
    r"\breservations?\b|\b21\s*\+|\bages?\s+\d\d\s*\+")
_HEADING = re.compile(
    r"(?i)^\W*(?:weekly\s+(?:events?|line\s*-?\s*up|schedule|specials)|this\s+week(?:\s+at\b.*)?|"
    r"every\s*week|what'?s\s+on|line\s*-?\s*up|upcoming(?:\s+events)?|schedule|events|coming\s+up)\W*$")
_HEADING_VENUE = re.compile(r"(?i)^\W*this\s+week\s+at\s+(?P<venue>.+?)\W*$")
_PERFORMER_CUE = re.compile(
    r"(?i)^\W*(?:hosted\s+by|host(?:ed)?\s*:|presented\s+by|with|w/|featuring|feat\.?|ft\.|starring|"
    r"music\s+by)\s+\S")
# Names that say what they are: "DJ Nova", "KJ Mike", "Quizmaster Dan", "MC Rae".
_SELF_NAMED = re.compile(r"(?i)^\W*(?:DJ|KJ|MC|VJ|Quiz\s?master|Captain)\s+(?!night\b|party\b|set\b)[A-Za-z]")
_STREET_START = re.compile(r"^\W*\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s*[A-Za-z]")
_LEADING_AT = re.compile(r"(?i)^\W*(?:at|@|live\s+at)\s+")


def _street_like(text: str) -> bool:
    """A house number, then words among which a street type or direction ("418 Harbor Ave")."""
    prepared = nz.prepare_address(text)
    if not _STREET_START.match(prepared) or nz.find_times(nz.strip_dates(prepared)):
        return False
    words = [w.strip(".,").lower() for w in prepared.split()[1:]]
    return any(w in usaddress.STREET_NAMES or w in usaddress.DIRECTIONS for w in words)


def _city_line(text: str) -> bool:
    """Ends with a state and ZIP ("Austin, TX 78701"), the state a real one."""
    match = nz._STATE_ZIP.search(nz.prepare_address(text))
    return bool(match and match.group("state") and nz.parse_state(match.group("state")))


def _when_facts(text: str, reference_date: dt.date):
    """(date match, time matches, weekday matches) of a row; dates are cut out before times are read."""
    date = nz.find_date(text, reference_date) or nz.find_date(nz.unglue(text), reference_date)
    times = nz.find_times(nz.strip_dates(text))
    weekdays = nz.find_weekdays(nz.unglue(text))
    return date, times, weekdays


def _split_glued_label(text: str) -> str:
    """"MONBingo" -> "MON Bingo", "SundaysDarts" -> "Sundays Darts": OCR drops the gap after the day."""
    match = re.match(r"\W*([A-Za-z]+)", text)
    if not match or nz.weekday_of(match.group(1))[0]:
        return text
    word = match.group(1)
    for cut in range(min(len(word) - 2, 10), 2, -1):
        # the cut must show in the letters' case: "MON|Bingo", "Sundays|Darts" (but not "SUN|SET")
        seam = word[cut].isupper() and (word[cut - 1].islower() or word[cut + 1].islower())
        if seam and nz.weekday_of(word[:cut])[0]:
            return text[: match.start(1) + cut] + " " + text[match.start(1) + cut:]
    return text


# On a line-up row, a lone "I" or "l" between words is a "|" separator misread.
_PIPE_MISREAD = re.compile(r"(?<=\s)[Il](?=\s)|(?<=\s)[Il]$")


def _lineup_label(text: str) -> Optional[nz.WeekdayMatch]:
    """The weekday a line-up row starts with ("MON", "Tue.", "WEDNESDAY", "Thursdays")."""
    spaced = nz.unglue(text)
    match = nz.find_weekdays(spaced)
    if match and re.fullmatch(r"\W*", spaced[: match[0].start]):
        return match[0]
    return None


# --------------------------------------------------------------------------------------------
# Parsing


def parse_flyer(lines: Sequence[Union[str, TextLine]], *, reference_date: dt.date) -> list[ShowFields]:
    """Shows on a flyer from its text lines (top to bottom for plain strings). [] when there is none."""
    text_lines = [ln if isinstance(ln, TextLine) else TextLine(str(ln)) for ln in lines]
    rows = _rows(text_lines)
    if not rows:
        return []
    labelled = [(_lineup_label(r.text), r) for r in rows]
    lineup_rows = [(label, r) for label, r in labelled
                   if label is not None and _lineup_row_body(r.text, label)[0] is not None]
    if len({label.weekday for label, _ in lineup_rows}) >= 2:
        return _parse_lineup(rows, lineup_rows, reference_date)
    return _parse_single(rows, reference_date)


def _address_block(rows: list[_Row]) -> tuple[list[_Row], Optional[str]]:
    """The address rows (street line and/or city line, adjacent) and the address as one line."""
    candidates = [i for i, r in enumerate(rows) if r.role == "?" and _city_line(r.text)]
    streets = [i for i, r in enumerate(rows) if r.role == "?" and _street_like(r.text)]
    if candidates:
        city_index = candidates[-1]
        block = [city_index]
        if not _street_like(rows[city_index].text):
            before = [i for i in streets if i < city_index]
            if before and city_index - before[-1] <= 2:
                block.insert(0, before[-1])
    elif streets:
        block = [streets[-1]]
    else:
        return [], None
    chosen = [rows[i] for i in block]
    for r in chosen:
        r.role = "address"
    line = ", ".join(nz.prepare_address(r.text) for r in chosen)
    return chosen, line


def _venue_from_address(line: str) -> tuple[Optional[str], str]:
    """Split a venue name OCR merged into the address line ("Blue Door Tavern 2207 E 6th St, ...")."""
    match = re.search(r"\b\d{1,6}[A-Za-z]?\s+[A-Za-z]", line)
    if match and match.start() > 0:
        head = line[: match.start()].strip(" ,|-")
        if head and not re.search(r"\d", head):
            return head, line[match.start():]
    return None, line


def _classify(rows: list[_Row], reference_date: dt.date) -> dict[int, tuple]:
    """Give each row a role where its text alone decides; returns the when facts per row index."""
    facts = {}
    for i, row in enumerate(rows):
        text = row.text
        date, times, weekdays = _when_facts(text, reference_date)
        has_kind = nz.kind_hint(text) is not None
        if _HEADING.match(text):
            row.role = "heading"
        elif date or times:
            row.role = "when"
            facts[i] = (date, times, weekdays)
        elif weekdays and not has_kind and len(re.findall(r"[A-Za-z]{2,}", text)) <= 3:
            # "Every Wednesday", "THURSDAY" (but "Trivia Tuesday" is a title)
            row.role = "when"
            facts[i] = (date, times, weekdays)
        elif _DECORATION.search(text) and not has_kind:
            row.role = "deco"
        elif _PERFORMER_CUE.match(text):
            row.role = "performer"
    return facts


def _pick_title(rows: list[_Row], candidates: list[int]) -> Optional[int]:
    """The title: the tallest candidate row (ties: the first); typed lines: the first with a kind word."""
    if not candidates:
        return None
    heights = [rows[i].height for i in candidates]
    if max(heights) - min(heights) < 1e-6:  # no size information
        named = [i for i in candidates if not _SELF_NAMED.match(rows[i].text)]
        candidates = named or candidates
        with_kind = [i for i in candidates if nz.kind_hint(rows[i].text)]
        return (with_kind or candidates)[0]
    tallest = max(heights)
    return next(i for i in candidates if rows[i].height >= 0.85 * tallest)


def _parse_single(rows: list[_Row], reference_date: dt.date) -> list[ShowFields]:
    facts = _classify(rows, reference_date)
    address_rows, address = _address_block(rows)

    free = [i for i, r in enumerate(rows) if r.role == "?"]
    title_index = _pick_title(rows, free)
    if title_index is not None:
        rows[title_index].role = "title"
    title = rows[title_index].text if title_index is not None else None

    # Venue: the plain row nearest above the address block (else below it, else merged into it).
    venue = None
    plain = [i for i, r in enumerate(rows) if r.role == "?"]
    if address_rows:
        first, last = rows.index(address_rows[0]), rows.index(address_rows[-1])
        above = [i for i in plain if i < first]
        below = [i for i in plain if i > last]
        venue_index = above[-1] if above else below[0] if below else None
        if venue_index is None:
            venue, address = _venue_from_address(address)
    else:
        venue_index = plain[-1] if plain else None
    if venue_index is not None:
        rows[venue_index].role = "venue"
        venue = rows[venue_index].text
    if venue:
        venue = _LEADING_AT.sub("", venue)

    # Performer: a cued line ("hosted by ..."), a self-named one ("DJ Nova"), or the plain line between
    # the title and the first "when" line.
    cued = [r for r in rows if r.role == "performer"]
    performer = cued[0].text if cued else None
    if performer is None:
        first_when = min(facts) if facts else len(rows)
        after_title = [i for i, r in enumerate(rows) if r.role == "?" and (title_index is None or i > title_index)]
        self_named = [i for i in after_title if _SELF_NAMED.match(rows[i].text)]
        between = [i for i in after_title if i < first_when]
        pick = (self_named or between or [None])[0]
        if pick is not None:
            rows[pick].role = "performer"
            performer = rows[pick].text

    # When: the first date, the first time (range) and any weekday/recurrence across the when rows.
    date = start = end = None
    weekday = recurrence = None
    for i in sorted(facts):
        row_date, times, weekdays = facts[i]
        if row_date and date is None:
            date = row_date.date.isoformat()
        if times and start is None:
            start, end = nz.parse_time_range(nz.strip_dates(rows[i].text))
        for w in weekdays:
            weekday = weekday or w.weekday
            recurrence = recurrence or w.recurrence
        recurrence = recurrence or nz.parse_recurrence(rows[i].text)
    if weekday is None and title:  # "Trivia Tuesday" names the day when no "when" line does
        title_days = nz.find_weekdays(title)
        if title_days and date is None and (start or facts):
            weekday = title_days[0].weekday
    if date:
        recurrence = None

    has_when = bool(date or start or weekday)
    if not has_when or not (title or venue or address):
        return []
    raw = {
        "title": title, "performer": performer, "venue": venue, "address": address,
        "date": date, "weekday": weekday, "recurrence": recurrence,
        "start_time": start, "end_time": end,
    }
    return [nz.normalise_show(raw, reference_date=reference_date)]


# --------------------------------------------------------------------------------------------
# Line-ups

_ROW_SEPARATORS = re.compile(r"\s*(?:\s\|\s|\s[-:.·]\s|\s{2,}|\|)\s*")
_ROW_PERFORMER = re.compile(r"(?i)\s*(?::|\bw/|\bwith\b|\bfeat\.?|\bfeaturing\b|\bhosted\s+by\b)\s*")


def _lineup_row_body(text: str, label: nz.WeekdayMatch) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(what, start, end) of a row once the weekday label is cut off; what is None if nothing is left."""
    body = nz.unglue(text)[label.end:]
    body = _PIPE_MISREAD.sub("|", body)
    body = re.sub(r"^\s*[.,:;|\-]+", " ", body)
    times = nz.find_times(body)
    start = end = None
    if times:
        start, end = times[0].start, times[0].end
        body = body[: times[0].span[0]] + " " + body[times[0].span[1]:]
    what = _ROW_SEPARATORS.sub("  ", body).strip(" .,:;|-·")
    what = re.sub(r"\s{2,}", " ", what)
    if not re.search(r"[A-Za-z]{2,}", what) or (start is None and nz.kind_hint(what) is None):
        return None, None, None
    return what, start, end


def _split_what(what: str) -> tuple[str, Optional[str]]:
    """"Live Music: The Night Owls" -> ("Live Music", "The Night Owls"); "Trivia w/ Dan" likewise."""
    parts = _ROW_PERFORMER.split(what, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        return parts[0].strip(" -|"), parts[1].strip(" -|")
    return what, None


def _parse_lineup(rows: list[_Row], lineup_rows, reference_date: dt.date) -> list[ShowFields]:
    for _, r in lineup_rows:
        r.role = "row"
    for r in rows:
        if r.role == "?":
            if _HEADING.match(r.text):
                r.role = "heading"
            elif _DECORATION.search(r.text) and not _lineup_label(r.text):
                r.role = "deco"
    address_rows, address = _address_block(rows)

    # Venue: the tallest plain row above the first show row; else a "THIS WEEK AT X" heading.
    first_row = rows.index(lineup_rows[0][1])
    header = [i for i in range(first_row) if rows[i].role == "?"]
    venue = None
    if header:
        venue_index = _pick_title(rows, header)
        venue = rows[venue_index].text
    else:
        for r in rows:
            match = _HEADING_VENUE.match(r.text)
            if match:
                venue = match.group("venue")
    if venue is None and address:
        venue, address = _venue_from_address(address)

    shows = []
    for label, r in lineup_rows:
        what, start, end = _lineup_row_body(r.text, label)
        title, performer = _split_what(what)
        raw = {
            "title": title, "performer": performer, "venue": venue, "address": address,
            "weekday": label.weekday, "recurrence": "weekly", "start_time": start, "end_time": end,
        }
        shows.append(nz.normalise_show(raw, reference_date=reference_date))
    return shows
