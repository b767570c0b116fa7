"""A flyer read by its shape: several places (a tour, a line-up of venues), one place with rows by weekday or
date (a venue's line-up), or one show (with its series, range, or two shows a night). Each reader turns tagged
rows (daskparse.extract.rows) into raw show fields for the normaliser.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Optional


from daskparse import normalise as nz
from daskparse.dates import printed
from daskparse.shows import WEEKDAYS

from daskparse.extract.rows import (  # the rows' vocabulary, shared by every shape
    Line, Place, TITLE_RATIO, BAND_WORDS, COMPANY, CUE_INSIDE,
    DECORATION, HEADING, HEADING_VENUE, LEADING_AT, PERFORMER_CUE, SELF_NAMED,
    SEPARATORS, STREET_START, VENUE_WORDS, city_line, name_left, phrase_ending,
    phrase_from, phrase_text, street_like,
)
from daskparse.extract.when import MAX_RANGE_DAYS, MAX_SHOWS, When, read_when  # noqa: F401

def _clock(hhmm: Optional[str]) -> Optional[str]:
    """"11:00" -> "11:00am": the normaliser reads a bare "11:00" as the evening's."""
    if not hhmm:
        return None
    hour, minute = map(int, hhmm.split(":"))
    return f"{hour % 12 or 12}:{minute:02d}{'am' if hour < 12 else 'pm'}"


def _when_raw(when: When) -> list[dict]:
    """Raw date/weekday/time fields, one dict per show the when stands for."""
    starts = [(_clock(s), _clock(e)) for s, e in when.starts] or [(None, None)]
    if when.dates:
        # the date as printed, with its printed weekday: a lone date's, or a series' day where it agrees
        day = when.weekday or when.series_weekday
        return [{"date": printed(d, when.year_printed), "start_time": s, "end_time": e,
                 "weekday": day if len(when.dates) == 1 or WEEKDAYS[d.weekday()] == day else None}
                for d in when.dates for s, e in starts]
    if when.weekday:
        recurrence = when.recurrence or "weekly"
        return [{"weekday": when.weekday, "recurrence": recurrence, "start_time": s, "end_time": e}
                for s, e in starts]
    return []


def _title_index(lines: list[Line], candidates: list[int]) -> Optional[int]:
    """The phrase start in the biggest type among ``candidates`` (typed lines: the first with a kind)."""
    if not candidates:
        return None
    heights = [lines[i].height for i in candidates]
    if max(heights) - min(heights) < 1e-6:  # no size information
        named = [i for i in candidates if not SELF_NAMED.match(lines[i].text)]
        candidates = named or candidates
        with_kind = [i for i in candidates if nz.kind_hint(lines[i].text)]
        return (with_kind or candidates)[0]
    tallest = max(heights)
    big = [i for i in candidates if lines[i].height >= 0.8 * tallest]
    return big[0]


def _grow_title(lines: list[Line], index: int) -> list[int]:
    """The title phrase around its biggest row: rows above and below of like type; a band named in the
    same type below the title ("BLUES" / "NIGHT" / "The" / "Moreau" / "Brothers") is not part of it."""
    phrase = phrase_ending(lines, index, TITLE_RATIO)
    phrase += phrase_from(lines, phrase[-1], TITLE_RATIO)[1:]
    for cut in range(1, len(phrase)):
        head, tail = phrase_text(lines, phrase[:cut]), phrase_text(lines, phrase[cut:])
        if (nz.kind_hint(head) or _TITLE_END.search(head)) and not nz.kind_hint(tail) and _name_like(tail):
            return phrase[:cut]
    return phrase


# Words an event's name ends with ("... Night", "... Tour"): a name set below one is the act's.
_TITLE_END = re.compile(r"(?i)\b(?:night|nite|tour|show|party|fest|festival|jam|hour|showcase|celebration|tournament|"
                        r"revue|series|social|session|sessions|bash|crawl|league|games?|quiz|trivia|karaoke|bingo|"
                        r"mic|jamboree|hoedown|brunch|throwdown|extravaganza)\W*$")


def _name_like(text: str) -> bool:
    """An act's name: "The ...", a band word, or a person's two or three capitalised words."""
    words = text.split()
    return bool(re.match(r"(?i)the\b", text) or BAND_WORDS.search(text) or SELF_NAMED.match(text)
                or (2 <= len(words) <= 3 and all(re.fullmatch(r"[A-Z][a-z'.-]+", w) for w in words)))


def _performer_after_cue(lines: list[Line], index: int) -> tuple[Optional[str], list[int]]:
    """The performer a cue row names, with its continuation row ("presented by Quizmaster" / "Jade")."""
    text = lines[index].text
    used = [index]
    rest = nz.PERFORMER_PREFIX.sub("", re.sub(r"(?i)^\W*(?:headliner|headlining|special\s+guests?|emcee|mc|dj|kj|"
                                              r"quizmaster|your\s+hosts?|on\s+the\s+decks|led\s+by)\s*:?\s*", "", text))
    nxt = index + 1
    if nxt < len(lines) and lines[nxt].role == "name" and lines[nxt].row.column == lines[index].row.column:
        gap = lines[nxt].row.top - lines[index].row.bottom
        similar = min(lines[nxt].height, lines[index].height) >= 0.6 * max(lines[nxt].height, lines[index].height)
        short = len(re.findall(r"[A-Za-z]+", rest)) <= 1 or len(re.findall(r"[A-Za-z]+", lines[nxt].text)) == 1
        if gap < 0.8 * lines[index].height and similar and short:
            rest = f"{rest} {lines[nxt].text}".strip()
            used.append(nxt)
    prefix = re.match(r"(?i)^\W*(dj|kj|mc|quizmaster)\s*:", text)
    if prefix and not re.match(r"(?i)(dj|kj|mc|quizmaster)\b", rest):
        rest = f"{prefix.group(1)} {rest}" if prefix.group(1).lower() in ("dj", "kj", "mc") else rest
    return (rest.strip(" :-|") or None), used


def _header(lines: list[Line], indexes: list[int]) -> dict:
    """Title, performer and host read from header rows (the rows above a tour's or line-up's records)."""
    out: dict = {"title": None, "performer": None, "host": None, "venue": None}
    for i in indexes:
        if lines[i].role == "cue" and out["performer"] is None:
            out["performer"], used = _performer_after_cue(lines, i)
            for j in used:
                lines[j].role = "cue"
        match = HEADING_VENUE.match(lines[i].text)
        if match:
            out["venue"] = match.group("venue")
    names = [i for i in indexes if lines[i].role == "name"]
    if not names:
        return out
    top = _title_index(lines, names)
    assert top is not None  # None only for no candidates, and there are names
    phrase = [j for j in _grow_title(lines, top) if j in indexes]
    title = phrase_text(lines, phrase)
    others = [i for i in names if i not in phrase]
    if COMPANY.search(title) or SELF_NAMED.match(title):
        out["host"] = title
    else:
        out["title"] = title
    for i in others:
        text = lines[i].text
        if out["performer"] is None and _name_like(text) and not nz.kind_hint(text) and not COMPANY.search(text):
            out["performer"] = text
        elif out["host"] is None and COMPANY.search(text):
            out["host"] = text
    return out


# --------------------------------------------------------------------------------------------
# Several places: tours and line-ups of venues


_ROW_TITLE_SPLIT = re.compile(r"(?i)\s+(?:@|at)\s+")


def _record_fields(text: str, reference: dt.date) -> tuple[When, Optional[str], Optional[str], Optional[str]]:
    """(when, title, performer, venue) of one record's text (its address already cut off)."""
    when, rest = read_when(re.sub(r"(?i)\bw/\s*", "with ", text), reference)
    segments = [s.strip(" .,:;|-!") for s in SEPARATORS.split(_ROW_TITLE_SPLIT.sub(" | ", rest))]
    segments = [s for s in segments if re.search(r"[A-Za-z]{2,}", s) and not DECORATION.search(s)
                and not HEADING.search(s)]
    title = performer = venue = None
    names = []
    for segment in segments:
        cue = CUE_INSIDE.split(segment, maxsplit=1) if CUE_INSIDE.search(segment) else None
        if PERFORMER_CUE.match(segment):
            performer = performer or nz.clean_performer(segment)
        elif cue and len(cue) == 2 and cue[0].strip() and cue[1].strip() and not VENUE_WORDS.search(cue[0]):
            title, performer = title or cue[0].strip(), performer or cue[1].strip()
        elif (nz.kind_hint(segment) or _TITLE_END.search(segment)) and title is None and \
                not SELF_NAMED.match(segment) and len(re.findall(r"[A-Za-z]+", segment)) <= 4:
            title = segment
        else:
            names.append(segment)
    if names:
        venue = names[-1] if title else names[0]
        if title is None and len(names) >= 2:
            title = names[0] if nz.kind_hint(names[0]) else None
    return when, title, performer, venue


def _cut_address(text: str) -> tuple[str, Optional[str]]:
    """Split a record's text at its address: (before, address); the address runs to the end."""
    prepared = nz.unglue(text)
    if not city_line(prepared):
        return text, None
    numbers = [m.start() for m in re.finditer(
        r"(?<![\d:/.$])\b\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s+(?=[A-Za-z]|\d{1,4}\s?(?:st|nd|rd|th)\b)", prepared)]
    numbers = [s for s in numbers if not nz.find_times(prepared[s: s + 12])]
    if not numbers:
        head, _, tail = prepared.rpartition(" | ")
        return (head, tail) if head else ("", prepared)
    # Prefer a street that starts a line or follows a separator (a venue may hold a number: "Post 4450").
    after_break = [s for s in numbers if re.search(r"(?:^|\||\s-|,|\s{2})\s*$", prepared[:s])]
    streets = [s for s in numbers if street_like(prepared[s:].split(",")[0])]
    start = next((s for s in streets if s in after_break), None)
    if start is None:
        start = streets[0] if streets else (after_break or numbers)[-1]
    return prepared[:start], prepared[start:]


@dataclass
class Record:
    """One row of a tour or a line-up of venues: its own when, venue and address, maybe its own title."""

    rows: list[int]
    place: Place
    when: When = field(default_factory=When)
    title: Optional[str] = None
    performer: Optional[str] = None
    venue: Optional[str] = None
    address: Optional[str] = None


def _record_text(lines: list[Line], record: Record) -> str:
    """A record's rows as one text: a row wrapped mid-name runs on, other rows are parted by " | "."""
    text = ""
    previous: Optional[Line] = None
    for i in record.rows:
        line = lines[i]
        if line.role in ("deco", "heading") and i not in record.place.indexes:
            continue
        if previous is None:
            text = line.text
        elif i in record.place.indexes[1:] or (_continues(previous.text, line.text)
                                               and not (line.role == "address" and STREET_START.match(line.text))):
            text += " " + line.text
        else:
            text += " | " + line.text
        previous = line
    return text


def read_tour(lines: list[Line], places: list[Place], reference: dt.date) -> list[dict]:
    """Every address closes a record; the rows above the first day or date are the header."""
    first_when = next((i for i, ln in enumerate(lines) if i < places[0].indexes[0] and
                       (ln.when.weekday or ln.when.dates) and ln.role != "heading"), None)
    start = first_when if first_when is not None else places[0].indexes[0]
    # Records that open with their venue's name ("Falcon Lounge" / "Sun / Open Mic / 8PM" / address): the
    # first record's name stands just above its day, not in the header.
    second = places[1].indexes[0] if len(places) >= 2 else None
    after_first = places[0].indexes[-1] + 1
    if second is not None and after_first < second and lines[after_first].role == "name" and \
            not (lines[after_first].when.weekday or lines[after_first].when.dates) and start > 0 and \
            lines[start - 1].role == "name":
        start -= 1
    header = _header(lines, list(range(start)))
    records: list[Record] = []
    for place in places:
        if place.indexes[-1] >= start:
            records.append(Record(list(range(start, place.indexes[-1] + 1)), place))
            start = place.indexes[-1] + 1
    for record in records:
        before, record.address = _cut_address(_record_text(lines, record))
        record.when, record.title, record.performer, record.venue = _record_fields(before, reference)
    # A day label that stood below the last address (a misaligned label column) goes to the nearest record.
    for i in range(start, len(lines)):
        if lines[i].role == "when" and not name_left(lines[i].rest):
            middle = lines[i].row.middle
            nearest = min(records, key=lambda r: abs(middle - (lines[r.rows[0]].row.top + lines[r.rows[-1]].row.bottom) / 2))
            if not (nearest.when.weekday or nearest.when.dates):
                nearest.when.weekday, nearest.when.recurrence = lines[i].when.weekday, lines[i].when.recurrence
                nearest.when.dates = lines[i].when.dates
    # Rows with titles of their own ("Karaoke @ ..."): the header's big name is the host who runs them all.
    own_titles = sum(1 for r in records if r.title) >= max(1, len(records) // 2)
    title, performer = header["title"], header["performer"]
    if own_titles and title and not nz.kind_hint(title) and not performer:
        performer, title = title, None
    performer = performer or header["host"]
    return [{"title": r.title or title or r.performer, "performer": r.performer or performer,
             "venue": r.venue or r.place.venue or header["venue"], "address": r.address or r.place.address, **fields}
            for r in records for fields in _when_raw(r.when)]


def _continues(previous: str, text: str) -> bool:
    """A row wrapped over two lines: the first holds separators and ends mid-name, the next goes on."""
    if re.search(r"[|\-/:,@]\s*$", previous) or re.match(r"\s*[|\-/@]", text):
        return False
    if not re.search(r"\s\|\s|\s-\s|\s@\s|(?<!\bw)/|\s{2}", previous):  # ("w/" is "with", no separator)
        return False
    return bool(re.search(r"[A-Za-z0-9.']$", previous)) and bool(re.match(r"\s*[A-Za-z0-9]", text))


# --------------------------------------------------------------------------------------------
# One place


# A line-up row starts with its day: "MON", "Tuesdays", "Every Wed", "Dec 14", "12/14".
_ROW_LABEL = re.compile(r"(?i)^\W*(?:every\s+|each\s+)?(?:(?:mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|"
                        r"sep|oct|nov|dec)[a-z]*\b|\d{1,2}/\d{1,2}\b)")


def _day_of(when: When):
    return when.dates[0] if when.dates else when.weekday


def read_lineup(lines: list[Line], places: list[Place], reference: dt.date) -> list[dict]:
    """A venue's line-up: two or more rows, each a day and what is on (and its time)."""
    rows: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.role in ("address", "heading") or not (line.when.weekday or line.when.dates):
            continue
        if not _ROW_LABEL.match(nz.unglue(line.text)):
            continue
        text, what, k = line.text, name_left(line.rest), i + 1
        if not re.search(r"[A-Za-z]{2,}", what) and not line.when.starts and \
                k < len(lines) and lines[k].role == "name" and lines[k].height <= 1.3 * line.height and \
                not VENUE_WORDS.search(lines[k].text):
            text, what, k = f"{text} | {lines[k].text}", lines[k].text, k + 1  # "THURSDAY" / "Brain Games"
        if not re.search(r"[A-Za-z]{2,}", what) or PERFORMER_CUE.match(re.sub(r"(?i)\bw/\s*", "with ", what)):
            continue  # nothing on, or only who is on (one show's dates: see _schedule)
        # a row wrapped before its time: "Sat, Dec 19 · Cornhole League" / "8pm"
        nxt = lines[k] if k < len(lines) else None
        if not line.when.starts and nxt is not None and nxt.role == "when" and nxt.when.starts \
                and not (nxt.when.weekday or nxt.when.dates) and not name_left(nxt.rest):
            text += " | " + nxt.text
        rows.append((i, text))
    # A line-up's rows are alike: all by weekday or all by date ("Tuesday Night Karaoke" over "Tue Jan 5" is no
    # line-up but one show's title and date).
    dated = [r for r in rows if lines[r[0]].when.dates]
    rows = dated if len(dated) * 2 > len(rows) else [r for r in rows if not lines[r[0]].when.dates]
    days = [_day_of(lines[i].when) for i, _ in rows]
    if len(set(days)) < 2:
        return []
    first = rows[0][0]
    header = _header(lines, [i for i in range(first) if lines[i].role not in ("address",)])
    place = places[0] if places else None
    venue = header["venue"] or (place.venue if place else None)
    if venue is None:
        above = [i for i in range(first) if lines[i].role == "name"]
        venue = header["title"] or header["host"] or (lines[above[0]].text if above else None)
    raws = []
    for _, text in rows:
        when, title, performer, row_venue = _record_fields(text, reference)
        if title is None and row_venue:
            title, row_venue = row_venue, None
        if title and performer is None:
            parts = CUE_INSIDE.split(title, maxsplit=1)
            if len(parts) == 2 and parts[0].strip() and parts[1].strip():
                title, performer = parts[0].strip(" -|"), parts[1].strip(" -|")
        if not when.dates:
            when.recurrence = when.recurrence or "weekly"
        for fields in _when_raw(when):
            raws.append({"title": title, "performer": performer or header["performer"], "venue": venue,
                         "address": place.address if place else None, **fields})
    return raws


def _schedule(lines: list[Line]) -> list[tuple[When, Optional[str]]]:
    """One show's days, each with its own time ("MONDAYS · 6pm" / "TUESDAYS · 2PM"): a When per row, with the
    row's own performer ("WED 12/2 - w/ Ana Ruiz - 8PM"). [] unless every day row has a time of its own (on
    its line or the line just below)."""
    days: list[tuple[When, Optional[str]]] = []
    rows = [ln for ln in lines if ln.role == "when"]
    for k, line in enumerate(rows):
        if not (line.when.weekday or line.when.dates):
            continue
        when = dataclasses.replace(line.when, dates=list(line.when.dates), starts=list(line.when.starts))
        below = rows[k + 1] if k + 1 < len(rows) else None
        if not when.starts and below is not None and not (below.when.weekday or below.when.dates):
            when.starts = list(below.when.starts)
        if not when.starts:
            return []
        rests = line.rest + (" | " + below.rest if below is not None and not line.when.starts else "")
        cued = re.search(r"(?i)(?:\bw/|\bwith\b|\bhosted\s+by\b|\bfeaturing\b|\bfeat\.)\s*([^|]+)", rests)
        days.append((when, cued.group(1).strip(" -|") if cued else None))
    return days if len({_day_of(w) for w, _ in days}) >= 2 else []


def read_single(lines: list[Line], places: list[Place], reference: dt.date) -> list[dict]:
    """A single show's raw fields: one per show where it is a series, a range or two shows a night."""
    place = places[0] if places else None
    roles_free = [i for i, ln in enumerate(lines) if ln.role == "name"]

    # Venue: the phrase just above the address (else below it, else merged into its line).
    venue = None
    venue_rows: list[int] = []
    if place:
        first = place.indexes[0]
        column = lines[first].row.column
        above = [i for i in roles_free if i < first and lines[i].row.column == column]
        near = [i for i in above if i >= first - 3 and all(lines[j].role in ("name", "deco", "when") for j in range(i, first))]
        if near:
            venue_rows = phrase_ending(lines, near[-1])
        elif place.venue:
            venue = place.venue
        else:
            below = [i for i in roles_free if i > place.indexes[-1]]
            if below and below[0] == place.indexes[-1] + 1:
                venue_rows = [below[0]]
    if venue_rows:
        venue = phrase_text(lines, venue_rows)
        for i in venue_rows:
            lines[i].role = "venue"
    if venue:
        venue = LEADING_AT.sub("", venue)

    # Performer: a cued phrase.
    performer = None
    for i, line in enumerate(lines):
        if line.role == "cue":
            performer, used = _performer_after_cue(lines, i)
            for j in used:
                lines[j].role = "performer"
            break

    # Title: the phrase in the biggest type among the plain rows.
    free = [i for i, ln in enumerate(lines) if ln.role == "name"]
    title = None
    title_rows: list[int] = []
    candidates = [i for i in free if not SELF_NAMED.match(lines[i].text)] or free
    top = _title_index(lines, candidates)
    if top is not None:
        title_rows = _grow_title(lines, top)
        title = phrase_text(lines, title_rows)
        for i in title_rows:
            lines[i].role = "title"

    # No venue by the address: a place's name set under the title ("MUSIC BINGO" / "BADGER SALOON").
    if venue is None and len(title_rows) >= 2:
        for cut in range(1, len(title_rows)):
            head, tail = phrase_text(lines, title_rows[:cut]), phrase_text(lines, title_rows[cut:])
            if VENUE_WORDS.search(tail) and not nz.kind_hint(tail) and (nz.kind_hint(head) or _TITLE_END.search(head)):
                title, venue, title_rows = head, tail, title_rows[:cut]
                break

    if venue is None:  # a place's name elsewhere ("Humble Tugboat Tap & Kitchen" under the title)
        named = [i for i, ln in enumerate(lines) if ln.role == "name" and VENUE_WORDS.search(ln.text)
                 and not nz.kind_hint(ln.text)]
        if named:
            venue = LEADING_AT.sub("", lines[named[0]].text)
            lines[named[0]].role = "venue"

    # "LIVE MUSIC" over a band's name in huge type: the kind line is the title, the big name the act.
    if title and not nz.kind_hint(title) and not _TITLE_END.search(title):
        kinds = [i for i, ln in enumerate(lines) if ln.role == "name" and nz.kind_hint(ln.text)
                 and ln.row.column == lines[title_rows[0]].row.column and len(ln.text.split()) <= 4]
        if kinds:
            nearest = min(kinds, key=lambda i: min(abs(i - j) for j in title_rows))
            if performer is None:
                performer = title
            title = lines[nearest].text
            lines[nearest].role = "title"

    if performer is None:
        free = [i for i, ln in enumerate(lines) if ln.role == "name"]
        after = [i for i in free if not title_rows or i > title_rows[-1] or lines[i].row.column != lines[title_rows[0]].row.column]
        named = [i for i in free if SELF_NAMED.match(lines[i].text) or BAND_WORDS.search(lines[i].text)]
        pick = next(iter(named or after), None)
        if pick is not None and pick in after + named:
            phrase = phrase_ending(lines, pick) + phrase_from(lines, pick)[1:]
            performer = phrase_text(lines, phrase)
    if title is None and performer and nz.kind_hint(performer):
        title = performer
    if title and title_rows and not (nz.kind_hint(title) or _TITLE_END.search(title) or _stands_out(lines, title_rows)):
        return []  # no what: plain text in the body size (a chat, a notice), not a flyer's headline

    # When: every when row together (a range may wrap: "November 30 -" / "December 2, 2026").
    days = _schedule(lines) or [(read_when(_join_when(lines), reference)[0], None)]
    raws = []
    for when, day_performer in days:
        raws += _single_raws(lines, when, title, day_performer or performer, venue, place)
    return raws


def _single_raws(lines: list[Line], when: When, title, performer, venue, place) -> list[dict]:
    """The raw shows of one single-show reading for one When (several for a series or two shows a night)."""
    if not when.weekday and not when.dates and title:
        days = nz.find_weekdays(title)
        if days and when.starts:
            when.weekday = days[0].weekday
    if not when.dates and when.weekday and not when.recurrence:
        when.recurrence = "weekly" if any(re.search(r"(?i)\bevery|\bweekly|s\b", ln.text) for ln in lines
                                          if ln.role == "when") else None
    raws = []
    for fields in _when_raw(when):
        if "recurrence" in fields and when.recurrence is None:
            fields["recurrence"] = None
        raws.append({"title": title, "performer": performer, "venue": venue,
                     "address": place.address if place else None, **fields})
    return raws


def _stands_out(lines: list[Line], rows: list[int]) -> bool:
    """Whether these rows are set in display type: clearly bigger than the page's body text."""
    if lines[rows[0]].row.pieces[0].typed:
        return True
    heights = sorted(ln.height for ln in lines)
    body = heights[len(heights) // 4]  # the small type; a flyer's headline is well above it
    return max(lines[i].height for i in rows) >= 1.15 * body


def _join_when(lines: list[Line]) -> str:
    """The when rows as one text; a row ending in a range dash runs on into the next."""
    parts: list[str] = []
    for line in lines:
        if line.role != "when":
            continue
        if parts and re.search(r"(?:-|to|thru|through)\s*$", parts[-1], re.I):
            parts[-1] += " " + line.text
        else:
            parts.append(line.text)
    return " | ".join(parts)
