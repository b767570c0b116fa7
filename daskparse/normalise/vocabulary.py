"""The fixed word lists the normaliser's parsers share: ordinal suffixes, month names, USPS state codes."""

from __future__ import annotations

ORDINAL = r"(?:st|nd|rd|th)"

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
# "Sept" is a common extra abbreviation; the others are the first three letters of the name.
MONTH_ALTERNATION = "|".join(["Sept", *MONTHS, *(m[:3] for m in MONTHS)])
MONTH_NUMBER = {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}

# USPS codes: 50 states, DC and the inhabited territories. Stable since 1963; a table beats a dependency.
STATE_CODES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM",
    "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
    "south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
    "virginia": "VA", "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "district of columbia": "DC", "washington dc": "DC", "washington d.c.": "DC", "puerto rico": "PR",
    "guam": "GU", "us virgin islands": "VI", "virgin islands": "VI", "american samoa": "AS",
    "northern mariana islands": "MP",
}
STATE_ABBREVIATIONS = frozenset(STATE_CODES.values())
