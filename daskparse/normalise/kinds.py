"""The kind of a show ("pub quiz" -> "trivia", "band" -> "live music") and its performer's name."""

from __future__ import annotations

import re
from typing import Any, Optional

from daskparse.normalise.text import clean_text
from daskparse.shows import KINDS, Kind

# Ordered: the first kind whose words appear wins, so "Karaoke hosted by DJ Sparkle" is karaoke and
# "Jazz & Blues Night" is live music. Patterns are flyer wording, not a general taxonomy.
_KIND_WORDS: list[tuple[Kind, re.Pattern]] = [
    # (no word boundaries where OCR glues capitals: "MUSICBINGO", "DJNIGHT", "PUBQUIZ")
    ("karaoke", re.compile(r"(?i)kara\s?oke|sing\s?-?along|\bk-?pop\s+night")),
    ("trivia", re.compile(r"(?i)trivia|quiz|\bgeeks?\s+who\s+drink|\bname\s+that\s+tune")),
    ("bingo", re.compile(r"(?i)bingo")),
    ("open mic", re.compile(r"(?i)\bopen[\s-]?mi(?:c|ke)|\bopen\s+stage|\bpoetry\s+slam|\bjam\s+session")),
    ("comedy", re.compile(r"(?i)comedy|comedian|stand[\s-]?up|\bimprov|\blaughs?\b|\broast\b|\bfunny")),
    ("dj", re.compile(r"(?i)\bd\.?j\.?s?(?:\b|(?=night|party|set))|\bdance\b|\bdisco\b|\bturntabl|\bvinyl\s+night|\bclub\s+night|"
                      r"\blatin\s+night|\bthrowback\b|\bsalsa\b|\bedm\b")),
    ("live music", re.compile(r"(?i)live\s+music|\blive\b|\bband\b|\bjazz|\bblues|\bacoustic|\bconcert|"
                              r"\bbluegrass|\bfolk\b|\brock\b|\bcountry\b|\bsinger|\bsongwriter|\bquartet|"
                              r"\btrio\b|\bgig\b|\bmusic\b|\borchestra|\bunplugged|\bfunk\b|\bsoul\b")),
]


def classify_kind(*texts: Any) -> Kind:
    """One of KINDS from free text; earlier arguments win ("quiz" -> trivia, "band" -> live music).

    Pass the most telling text first (the title, then the performer), since a karaoke night hosted
    by a DJ is karaoke.
    """
    for text in texts:
        if not text:
            continue
        value = str(text).strip().lower()
        if value in KINDS:
            return value
        for kind, pattern in _KIND_WORDS:
            if pattern.search(value):
                return kind
    return "other"


def kind_hint(text: Any) -> Optional[Kind]:
    """The kind ``text`` talks about, or None (unlike classify_kind, no "other" fallback)."""
    kind = classify_kind(text)
    return None if kind == "other" else kind


# --------------------------------------------------------------------------------------------
# Performers

PERFORMER_PREFIX = re.compile(
    r"(?i)^\s*(?:hosted\s+by|host(?:ed)?\s*:|presented\s+by|with|w/|featuring|feat\.?|ft\.?|starring|"
    r"music\s+by|spinning\s*:?|live\s*:)\s*")


def clean_performer(text: Any) -> Optional[str]:
    """"hosted by DJ Sparkle" -> "DJ Sparkle"; "w/ The Night Owls" -> "The Night Owls"."""
    value = clean_text(text)
    if not value:
        return None
    value = PERFORMER_PREFIX.sub("", value)
    return clean_text(value, 200)
