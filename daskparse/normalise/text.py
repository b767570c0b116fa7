"""Text clean-up and the OCR repairs that are safe on any flyer line.

:func:`clean_text` trims a field; :func:`repair_ocr_text` undoes look-alike characters (O/0 and l/1 inside
numbers, Unicode dashes and quotes, the middle dot); :func:`unglue` puts back spaces OCR dropped
("1234MainSt,Austin,TX78701").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Optional

import usaddress

from daskparse.normalise.vocabulary import MONTH_ALTERNATION, MONTH_NUMBER, ORDINAL, STATE_ABBREVIATIONS
from daskparse.normalise.weekdays import weekday_of
from daskparse.shows import strip_controls

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


# Letters OCR reads in place of digits inside a number ("1O:3O", "787O1", "l2/05").
DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1"})
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

# A look-alike day after a month name ("Jan ll", "Dec lO").
_LOOKALIKE_DAY = re.compile(r"(?i)(\b(?:" + MONTH_ALTERNATION + r")\.?\s?)([lIO][0-9lIO]?)(?![A-Za-z])")

def _fix_number(match: re.Match) -> str:
    text = match.group(0)
    after = match.string[match.end():]
    # "680Oak", "709Olde": look-alikes from a capital on, right before lower-case letters, begin the
    # next word (but "1Oam" is 10am and "1Oth" 10th).
    if after[:1].islower() and not re.match(r"[ap]\.?m\b|" + ORDINAL + r"\b", after):
        lookalikes = re.search(r"[OI][OIlo]*$", text)
        word_start = lookalikes.start() if lookalikes else len(text)
        if word_start < len(text) and re.search(r"\d", text[:word_start]):
            return text[:word_start].translate(DIGIT_LOOKALIKES) + text[word_start:]
    return text.translate(DIGIT_LOOKALIKES)


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
    text = _LOOKALIKE_DAY.sub(lambda m: m.group(1) + m.group(2).translate(DIGIT_LOOKALIKES), text)
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
            or weekday_of(letters)[0] or letters[:3].lower() in MONTH_NUMBER):
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
    text = re.sub(r"(?<![A-Za-z])([NSEW])(?=\d+" + ORDINAL + r"\b)", r"\1 ", text)
    # digits then a word ("1234Main"), but not ordinals ("4th"), am/pm ("9PM") or unit letters ("4B")
    text = re.sub(r"(?<=\d)(?=[A-Z][a-z]|[a-z]{2})(?!" + ORDINAL + r"\b)(?![AaPp]\.?[Mm]\.?\b)", " ", text)
    # digits then a capitalised route or road ("1130US Highway", "31595SR 20", "254U.S. Highway"),
    # but not "9PM", "2ND" or a unit letter
    text = re.sub(r"(?<=\d)(?=[A-Z]{2,}\b|[A-Z]\.[A-Z]\.)(?!(?:AM|PM|ST|ND|RD|TH)\b)", " ", text)
    # a lettered street glued to its number: "3320M Street" -> "3320 M Street" (but "4B Main St" is a unit)
    text = re.sub(r"(?<=\d)(?=[A-Z] ([A-Za-z]+)\b)",
                  lambda m: " " if m.group(1).lower() in _STREET_WORDS else "", text)
    text = re.sub(r"(?<![A-Za-z])([A-Za-z]{2,})(\d+)", _split_letters_digits, text)
    return re.sub(r"\s+", " ", text).strip()
