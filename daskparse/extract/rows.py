"""The rows of a flyer and what their words say: each row's role (an address, a when, a performer cue, a
heading, small print or a name), phrases of neighbouring rows in one type, the places, and whether the
image is a flyer at all. The shapes of a flyer are read from these (daskparse.extract.shapes).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

import usaddress

from daskparse import normalise as nz
from daskparse.extract.layout import Row, TextLine, pieces, read_rows, tilt
from daskparse.shows import ShowFields

from daskparse.extract.when import When, read_when

# --------------------------------------------------------------------------------------------
# Cleaning


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


# Bullets and ornaments set between a row's fields, read as separators.
_ORNAMENTS = re.compile(r"\s*[\u25a0-\u25ff\u2605\u2606\u2666\u2756\u2219\u22c5\u2043\u2981\u29bf]\s*")


def _clean(text: str) -> str:
    return nz.split_glued_words(_split_glued_label(nz.repair_ocr_text(_ORNAMENTS.sub(" | ", text))))


def _worth_reading(text: str, line: TextLine, page_tilt: float) -> bool:
    """False for OCR specks: a lone character read without confidence, or a box standing askew."""
    letters = re.sub(r"[^0-9A-Za-z]", "", text)
    if not letters:
        return False
    if len(letters) <= 2 and (line.confidence < 0.9 or abs(math.radians(line.angle) - page_tilt) > math.radians(20)):
        return False
    return True


def read_text_rows(lines: Sequence[TextLine]) -> list[Row]:
    """The rows in reading order (daskparse.extract.layout), their text repaired (OCR noise, glued words,
    ornaments read as separators), specks dropped, an am/pm wrapped onto a row alone joined to the row above."""
    page_tilt = tilt(lines)
    kept = [(ln, _clean(ln.text)) for ln in lines]
    kept = [(ln, text) for ln, text in kept if _worth_reading(text, ln, page_tilt)]
    rows = read_rows(pieces([ln for ln, _ in kept], [text for _, text in kept]))
    for previous, row in zip(rows, rows[1:]):  # "Every Thu @ 7" / "pm": a time's am/pm wrapped to a line alone
        if re.fullmatch(r"(?i)\W*[ap]\.?\s?m\.?\W*", row.text) and previous.column == row.column:
            previous.texts = [previous.text + row.text.strip()]
            row.texts = [""]
    return [row for row in rows if row.text.strip()]


# --------------------------------------------------------------------------------------------
# What words say

DECORATION = re.compile(
    r"(?i)^\W*\d{2}\s*\+\W*$|^\W*(?-i:[@#][a-z0-9_.]{3,})|\s(?-i:@[a-z0-9_.]{3,})|\#\w|www\.|\.com\b|\bfree\s+(?:entry|admission|show|to\s+play)\b|\bno\s+cover\b|"
    r"\bspecials?\b|\bdrafts?\b|\bhappy\s+hour\b|\ball\s+ages\b|\bbring\s+(?:your|a)\s+friends?\b|"
    r"\bprizes?\b|\bsign[\s-]?up\b|\$\s?\d|\bcover\s+charge\b|\btickets?\b|\brsvp\b|\bfollow\s+us\b|"
    r"\breservations?\b|\b21\s*\+|\bages?\s+\d\d\s*\+|\bkitchen\s+(?:is\s+)?open\b|\bbook\s+us\b|\bfree\b|\bcall\b|"
    r"\(\d{3}\)\s*\d{3}|\b\d{3}[-.]\d{3}[-.]\d{4}\b|\badv\b|\b\d+\s+(?:comments?|shares?|likes?|reactions?|views?|replies)\b|"
    r"^\W*(?:like|comment|share|reply|send|follow|message)(?:\W+(?:like|comment|share|reply|send))*\W*$|\b\d{1,2}\s?[hmdw]\W*$|"
    r"\d\s*(?:at\s+the\s+)?door\b|\bmenu\b|\bdrinks?\b|\bwings\b")
HEADING = re.compile(
    r"(?i)^\W*(?:weekly\s+(?:events?|line\s*-?\s*up|schedule|specials)|this\s+week(?:\s+at\b.*)?|"
    r"every\s*week|what'?s\s+(?:on|happening|up)|line\s*-?\s*up|upcoming(?:\s+events)?|schedule|events|coming\s+up|"
    r"don'?t\s+miss(?:\s+it)?|find\s+us(?:\s+at)?|where\s+to\s+find\s+us|join\s+us(?:\s+at)?|"
    r"(?:\d+|one|two|three|four|five)\s+nights?|(?:tour\s+)?dates|locations?)\W*$|"
    r"\bpresents?\W*$")
HEADING_VENUE = re.compile(r"(?i)^\W*this\s+week\s+at\s+(?P<venue>.+?)\W*$")
_CUE = (r"hosted\s+by|host(?:ed)?\s*:|presented\s+by|with|w/|featuring|feat\.?|ft\.|starring|music\s+by|"
        r"spinning\s*:?|led\s+by|headliner\s*:|headlining\s*:?|special\s+guests?\s*:?|live\s*:|"
        r"your\s+hosts?\s*:?|quizmaster\s*:|emcee\s*:|mc\s*:|dj\s*:|kj\s*:|on\s+the\s+decks\s*:?")
PERFORMER_CUE = re.compile(r"(?i)^\W*(?:" + _CUE + r")(?:\s+|$)")
CUE_INSIDE = re.compile(r"(?i)\s*(?:\b(?:hosted\s+by|presented\s+by|with|featuring|feat\.?|starring|led\s+by)\b|"
                        r"\bw/|:)\s*")
# Names that say what they are: "DJ Nova", "KJ Mike", "Quizmaster Dan", "MC Rae".
SELF_NAMED = re.compile(r"(?i)^\W*(?:DJ|KJ|MC|VJ|Quiz\s?master|Captain)\s+(?!night\b|party\b|set\b|battle\b)[A-Za-z]")
BAND_WORDS = re.compile(r"(?i)\b(?:band|brothers|sisters|trio|quartet|quintet|duo|orchestra|ensemble|"
                        r"collective|project|experience|revival|boys|girls)\b")
COMPANY = re.compile(r"(?i)\b(?:productions?|entertainment|events|presents|promotions|company|co\.?|"
                     r"trivia\s+co|quiz\s+co|karaoke\s+co|media|sound|music\s+group)\W*$")
STREET_START = re.compile(r"(?i)^[\s(#]*\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s*(?:[A-Za-z]|\d{1,4}\s?(?:st|nd|rd|th)\b)")
LEADING_AT = re.compile(r"(?i)^\W*(?:(?:at|live\s+at|located\s+at)\s+|@\s*)")
# Money: "$5", "12.99", "RM 41.95": rows of these are a receipt or a menu, not a flyer.
_PRICE = re.compile(r"(?:[$€£]\s?\d+(?:[.,]\d\d)?|(?<![\d:])\d{1,5}[.,]\d\d(?![\d:]|\s?[ap]\.?m))", re.I)
# A decimal amount ("8.5", "22.50"), not a time ("8.30pm"), a date ("12.05.26") or a percentage.
_DECIMAL = re.compile(r"(?<![\d:.])\d{1,3}\.\d{1,2}(?![\d:.%])(?!\s?[ap]\.?m)", re.I)
SEPARATORS = re.compile(r"\s*(?:\s\|\s|\|| [-/:] | [-/] ?|/|\s@\s|^@\s|\s{2,}|\s-(?=\s)|(?<=[a-z.'])-(?=\d))\s*")


def street_like(text: str) -> bool:
    """A house number, then words among which a street type or direction ("418 Harbor Ave")."""
    prepared = nz.prepare_address(text)
    if not STREET_START.match(prepared) or nz.find_times(nz.strip_dates(prepared)):
        return False
    words = [w.strip(".,").lower() for w in prepared.split()[1:]]
    return any(w in usaddress.STREET_NAMES or w in usaddress.DIRECTIONS or w in ("route", "highway", "hwy", "us")
               for w in words)


_STATE_END = re.compile(r"(?i)(?:,|\s)\s*(?P<state>[A-Z]{2})\.?(?:\s*,?\s*(?P<zip>\d{5})(?:-\d{4})?)?\W*$")


def city_line(text: str) -> bool:
    """Ends with a state and ZIP ("Austin, TX 78701") or ", ST" alone; the state a real one."""
    prepared = nz.prepare_address(text)
    match = nz.STATE_ZIP.search(prepared)
    if match and match.group("state") and nz.parse_state(match.group("state")):
        return True
    match = _STATE_END.search(prepared)
    return bool(match and match.group("state").isupper() and nz.parse_state(match.group("state"))
                and re.search(r"[a-z]{2}", prepared[: match.start()]))


# --------------------------------------------------------------------------------------------
# Rows and what they say


@dataclass
class Line:
    """A row with what its words say. ``role``: address | when | cue | heading | deco | name."""

    row: Row
    text: str
    role: str = "name"
    when: When = field(default_factory=When)
    rest: str = ""  # the text without its when words

    @property
    def height(self) -> float:
        return self.row.height

    @property
    def case(self) -> str:
        letters = re.sub(r"[^A-Za-z]", "", self.text)
        return "upper" if letters.isupper() and len(letters) > 1 else "mixed"


def name_left(rest: str) -> str:
    """What a row says once its when is cut out (``read_when``'s rest), tidied."""
    return re.sub(r"\s+", " ", re.sub(r"[|]", " ", rest)).strip(" .,:;-!/|")


def tag_row(row: Row, reference: dt.date) -> Line:
    """A row with its when and its role: address, heading, cue, when, deco, or a plain name."""
    text = row.text
    line = Line(row, text)
    when, rest = read_when(text, reference)
    line.when, line.rest = when, rest
    left = name_left(rest)
    words_left = re.findall(r"[A-Za-z]{2,}", left)
    # "Every Wednesday", "THURSDAY", "Every Sat night" (but "Trivia Tuesday" is a title)
    day_only = when.weekday and not nz.kind_hint(left) and (
        len(words_left) <= 2 or (len(words_left) <= 3 and re.match(r"\W*(?:every|each)", text, re.I)))
    if re.fullmatch(r"\W*\d{1,2}:\d\d\W*", text):
        line.role = "deco"  # a bare clock without am/pm: a phone's status bar in a screenshot, not a show time
    elif city_line(text) or street_like(text):
        line.role = "address"
    elif HEADING.search(text) and not when.dates and not when.starts:
        line.role = "heading"
    elif PERFORMER_CUE.match(text):
        line.role = "cue"
    elif when.dates or when.starts or day_only:
        line.role = "when"
    elif (DECORATION.search(text) and not nz.kind_hint(re.sub(r"(?i)\bfree\b|\bprizes?\b", "", text))
          or not re.search(r"[A-Za-z]{2,}|\d0'?s\b", text)):  # small print, or a speck ("90s" is a name)
        line.role = "deco"
    return line


# --------------------------------------------------------------------------------------------
# Phrases: neighbouring rows of one type


# Rows of one phrase: type sizes within this ratio (display titles vary more: a short word is set larger).
PHRASE_RATIO = 0.62
TITLE_RATIO = 0.5


def _joins(above: Line, below: Line, ratio: float = PHRASE_RATIO) -> bool:
    """Whether ``below`` continues the phrase of ``above`` (one name set over two lines)."""
    if above.row.column != below.row.column or below.role != "name" or above.row.pieces[0].typed:
        return False
    small, big = sorted((above.height, below.height))
    if small < ratio * big:
        return False
    if below.row.top - above.row.bottom > 0.9 * big:
        return False
    if above.case != below.case and min(len(re.sub(r"[^A-Za-z]", "", t)) for t in (above.text, below.text)) > 2:
        return False
    if SELF_NAMED.match(below.text) or COMPANY.search(above.text) and not COMPANY.search(below.text):
        return False
    overlap = min(above.row.right, below.row.right) - max(above.row.left, below.row.left)
    return overlap > 0.3 * min(above.row.right - above.row.left, below.row.right - below.row.left)


def _small_aside(line: Line, beside: Line) -> bool:
    """A small decoration set beside a big phrase ("PRIZES!" next to a title): read past it."""
    if line.role == "deco" and line.height < 0.5 * beside.height:
        return True
    apart = line.row.left > beside.row.right or line.row.right < beside.row.left
    return line.role == "name" and apart and line.height < 0.4 * beside.height


def phrase_from(lines: list[Line], start: int, ratio: float = PHRASE_RATIO) -> list[int]:
    """Indexes of the phrase starting at ``start``: it and the rows that continue it below."""
    picked = [start]
    i = start + 1
    while i < len(lines) and len(picked) < 4:
        if _small_aside(lines[i], lines[picked[-1]]):
            i += 1
            continue
        if not _joins(lines[picked[-1]], lines[i], ratio):
            break
        picked.append(i)
        i += 1
    return picked


def phrase_ending(lines: list[Line], end: int, ratio: float = PHRASE_RATIO) -> list[int]:
    """The phrase ending at ``end``: it and the rows above it that it continues."""
    picked = [end]
    i = end - 1
    while i >= 0 and len(picked) < 4:
        if _small_aside(lines[i], lines[picked[0]]):
            i -= 1
            continue
        if lines[i].role != "name" or not _joins(lines[i], lines[picked[0]], ratio):
            break
        picked.insert(0, i)
        i -= 1
    return picked


def phrase_text(lines: list[Line], indexes: list[int]) -> str:
    """The rows of a phrase as one line of text."""
    return re.sub(r"\s+", " ", " ".join(lines[i].text for i in indexes)).strip()


# --------------------------------------------------------------------------------------------
# Addresses


@dataclass
class Place:
    indexes: list[int]  # the address's rows
    address: str
    venue: Optional[str] = None  # a venue OCR merged into the address line


def _venue_from_address(line: str) -> tuple[Optional[str], str]:
    """Split a venue name OCR merged into the address line ("Blue Door Tavern 2207 E 6th St, ...")."""
    match = re.search(r"\b\d{1,6}[A-Za-z]?\s+[A-Za-z]", line)
    if match and match.start() > 0:
        head = line[: match.start()].strip(" ,|-")
        if head and not re.search(r"\d", head):
            return head, line[match.start():]
    return None, line


def find_places(lines: list[Line]) -> list[Place]:
    """Address blocks, top to bottom: a city line with the street line just above it, or a street alone."""
    places: list[Place] = []
    used: set[int] = set()
    for i, line in enumerate(lines):
        if line.role != "address" or i in used:
            continue
        if city_line(line.text):
            block = [i]
            if not street_like(line.text) and i > 0 and i - 1 not in used and lines[i - 1].role == "address" \
                    and not city_line(lines[i - 1].text):
                block.insert(0, i - 1)
        elif i + 1 < len(lines) and lines[i + 1].role == "address" and city_line(lines[i + 1].text) \
                and not street_like(lines[i + 1].text):
            continue  # the city line below takes this street line
        else:
            block = [i]
        before = lines[block[0] - 1].text if block[0] > 0 else ""
        if not any(street_like(lines[j].text) or STREET_START.match(nz.unglue(lines[j].text).lstrip(" -|")) for j in block) \
                and not re.search(r"\b\d{5}\b", lines[i].text) \
                and not any(street_like(part) for part in re.split(r"\s[-|]\s|\||\s{2,}", before)):
            continue  # "Saint Paul, MN" alone (a post's location line): no street, no ZIP, no place
        used.update(block)
        text = ", ".join(nz.prepare_address(lines[j].text).strip(" ,|") for j in block)
        venue, text = _venue_from_address(text)
        places.append(Place(block, text, venue))
    return places


# Words a place's name holds ("Badger Saloon", "Quarry Road Taproom").
VENUE_WORDS = re.compile(r"(?i)\b(?:bar|pub|tavern|saloon|lounge|hall|club|brewery|brewing|taproom|tap\s?house|tap|cafe|"
                         r"grill|inn|lodge|winery|distillery|cantina|bistro|diner|roadhouse|room|cellar|garden|"
                         r"ale\s?house|beer\s?hall|icehouse|social|post|legion|vfw|theat(?:er|re)|venue|arena)\b")

# --------------------------------------------------------------------------------------------
# Not a flyer


def not_a_flyer(lines: list[Line]) -> bool:
    """Receipts and menus (rows of prices), chats and pages of text (many rows, mostly sentences)."""
    if not lines:
        return True
    priced = sum(1 for ln in lines if _PRICE.search(ln.text))
    if priced >= 3 and priced >= 0.15 * len(lines):
        return True
    if sum(len(_DECIMAL.findall(ln.text)) for ln in lines) >= 3:
        return True  # a menu set in columns (dish and price on one row): "Shrimp Tacos 8.5  Salmon 24.5"
    sentences = sum(1 for ln in lines if len(re.findall(r"[A-Za-z]{2,}", ln.text)) >= 7)
    if sentences >= 4 and sentences >= 0.3 * len(lines):
        return True
    spans = sum(len(_DAY_SPAN.findall(ln.text)) for ln in lines)
    day_rows = sum(1 for ln in lines if _DAY_SPAN.search(ln.text) or (ln.when.weekday and ln.when.starts))
    if not nz.kind_hint(" ".join(ln.text for ln in lines)) and (
            any(_HOURS.search(ln.text) for ln in lines) or spans >= 2 or (spans and day_rows >= 2)):
        return True  # opening hours: "HOURS", "Closed", "Mon - Fri 9 am - 9 pm" / "Sat 10 am - 4 pm"
    if sum(1 for ln in lines if _CHAT.search(ln.text)) >= 2:
        return True  # a chat's screen: "last seen today at 8:39", "Yesterday 9:12 AM", "iMessage"
    times = sum(1 for ln in lines if ln.when.starts and not ln.when.dates and not ln.when.weekday)
    if times >= 4 and times >= 0.3 * len(lines) and not any(ln.role == "address" for ln in lines):
        return True  # a chat: a clock time on every other row
    return False


_CHAT = re.compile(r"(?i)\blast\s+seen\b|^\W*(?:today|yesterday)\b.{0,12}\d{1,2}:\d\d|\bimessage\b|\btyping\.\.\.|"
                   r"^\W*(?:delivered|read|seen)\W*$|\btext\s+message\b")
_HOURS = re.compile(r"(?i)\b(?:store\s+|opening\s+|business\s+|office\s+)?hours\b|\bopen\s+(?:daily|7\s+days|24)|"
                    r"^\W*(?:now\s+)?open\W*$|\bclosed\b")
_DAY_SPAN = re.compile(r"(?i)\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\s*(?:-|to|thru|through)\s*"
                       r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\b")


def is_show(show: ShowFields) -> bool:
    """A what, a when and a where read off the flyer (an address, or a name that says it is a place)."""
    where = show.street or show.city or (show.venue and VENUE_WORDS.search(show.venue))
    return bool(show.title and (show.date or show.weekday) and where)
