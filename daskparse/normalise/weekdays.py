"""Weekdays and recurrence: "THU", "Thurs", "Sundays", "Every Wednesday" -> ("Thursday", recurrence)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from daskparse.shows import WEEKDAYS

# Accepted spellings: the full name, its plural ("Sundays" = every Sunday), and any prefix of at least
# three letters ("Thu", "Thur", "Thurs", "TUES"), plus "Weds".
_WEEKDAY_TOKEN = re.compile(r"(?i)\b(?P<word>[A-Za-z]{3,10})\b\.?")


def weekday_of(token: str) -> tuple[Optional[str], bool]:
    """("Thursday", plural) when ``token`` names a weekday, else (None, False)."""
    word = token.strip(".,:;!").lower()
    for name in WEEKDAYS:
        lower = name.lower()
        if word == lower:
            return name, False
        if word == lower + "s":
            return name, True
        if 3 <= len(word) < len(lower) and lower.startswith(word):
            return name, False
    if word == "weds":
        return "Wednesday", False
    return None, False


@dataclass(frozen=True)
class WeekdayMatch:
    weekday: str
    start: int
    end: int
    recurrence: Optional[str]


_EVERY_OTHER = re.compile(r"(?i)\bevery\s+other\s*$")
_EVERY = re.compile(r"(?i)\b(?:every|each)\s*$")


def find_weekdays(text: str) -> list[WeekdayMatch]:
    """Every weekday named in ``text``, with the recurrence its wording implies."""
    matches = []
    for m in _WEEKDAY_TOKEN.finditer(text):
        name, plural = weekday_of(m.group("word"))
        if name is None:
            continue
        before = text[: m.start()]
        if _EVERY_OTHER.search(before):
            recurrence = "biweekly"
        elif plural or _EVERY.search(before):
            recurrence = "weekly"
        else:
            recurrence = None
        matches.append(WeekdayMatch(name, m.start(), m.end(), recurrence))
    return matches


def parse_weekday(text: Any) -> tuple[Optional[str], Optional[str]]:
    """(full weekday name, recurrence) from "THU", "Thurs.", "Sundays" (weekly), "Every Wednesday" (weekly)."""
    if not text:
        return None, None
    matches = find_weekdays(str(text))
    if not matches:
        return None, parse_recurrence(text)
    first = matches[0]
    return first.weekday, first.recurrence or parse_recurrence(text)


_RECURRENCE_WORDS = [
    (re.compile(r"(?i)\b(?:bi-?weekly|every\s+other|every\s+2\s*weeks|fortnightly)\b"), "biweekly"),
    (re.compile(r"(?i)\b(?:weekly|every\s*week|each\s+week|every\s+(?:mon|tue|wed|thu|fri|sat|sun)\w*)\b"),
     "weekly"),
    (re.compile(r"(?i)\b(?:monthly|every\s+month|(?:first|second|third|fourth|last|1st|2nd|3rd|4th)\s+"
                r"(?:mon|tue|wed|thu|fri|sat|sun)\w*(?:\s+of\s+(?:the|every)\s+month)?)\b"), "monthly"),
    (re.compile(r"(?i)\b(?:nightly|daily|every\s*(?:night|day))\b"), "daily"),
]


def parse_recurrence(text: Any) -> Optional[str]:
    """"weekly", "biweekly", "monthly" or "daily" when the wording says the show repeats, else None."""
    if not text:
        return None
    for pattern, value in _RECURRENCE_WORDS:
        if pattern.search(str(text)):
            return value
    return next((m.recurrence for m in find_weekdays(str(text)) if m.recurrence), None)
