"""States, ZIP codes and address lines; ``usaddress`` tags the tokens of an address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import usaddress

from daskparse.normalise.text import DIGIT_LOOKALIKES, clean_text, repair_ocr_text, unglue
from daskparse.normalise.vocabulary import STATE_ABBREVIATIONS, STATE_CODES

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


STREET_LABELS = {
    "AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix", "StreetNamePreModifier",
    "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "SubaddressType", "SubaddressIdentifier", "OccupancyType",
    "OccupancyIdentifier", "USPSBoxType", "USPSBoxID", "USPSBoxGroupType", "USPSBoxGroupID",
    "BuildingName", "LandmarkName", "CornerOf", "IntersectionSeparator",
}

# A state written as a code or name, then a ZIP: the reliable tail of an address line.
_STATE_NAMES_PATTERN = "|".join(sorted((re.escape(n) for n in STATE_CODES), key=len, reverse=True))
STATE_ZIP = re.compile(r"(?i)(?:\b(?P<state>[A-Z]{2}|" + _STATE_NAMES_PATTERN + r")\.?,?\s*)?"
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
    return f"{code} {digits.translate(DIGIT_LOOKALIKES)}"


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
    street_words: list[str] = []
    city_words: list[str] = []
    name_words: list[str] = []
    state = zip_code = None
    for word, label in tokens:
        bare = word.strip(",;")
        if label in STREET_LABELS and not city_words:
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
    tail = STATE_ZIP.search(prepared)
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
