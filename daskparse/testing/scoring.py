"""Field-level precision, recall and F1 of extracted shows against ground truth (tests and bench).

The product's definition (``shared/flyers-dev/README.md``, "Scoring"):

- Per image, predicted shows are matched to true shows by an optimal (Hungarian) assignment that
  maximises how many fields agree; a pair that agrees on nothing is left unmatched. Among assignments
  with the most agreeing fields, the one with the most right shows wins (it cannot change a field score).
- For each field, a true non-null value is a chance to recall it, a predicted non-null value a claim to
  be precise; a value is right when its matched value agrees. An unmatched prediction only costs
  precision, an unmatched truth only recall. ``Report.field_f1`` is the micro-average over F1_FIELDS.
- Text agrees without case, accents and punctuation ("&" reads as "and"). Names (title, performer,
  venue) and streets also agree when nearly equal: difflib ratio >= NEAR_EQUAL (0.9: one wrong letter in
  ten passes, "Trivla" for "Trivia" does not). Streets compare with USPS Publication 28 suffixes,
  directionals and unit designators abbreviated, so "41 East Oak Street" == "41 E Oak St".
- A show is right when its venue, its date (or, when the truth has no date, its weekday) and its start
  time all agree. ``show_accuracy`` = right shows / max(true shows, predicted shows): extra predictions
  lower it too. ``score(..., key_fields=KEY_FIELDS)`` asks instead that every one of those fields agree
  (the stricter check the project's own floors were set with).

    >>> report = score({"a.jpg": predicted_shows}, {"a.jpg": true_shows})
    >>> report.field_f1, report.f1["venue"], report.show_accuracy
    >>> by_layout = score_groups(predicted, truth, {"a.jpg": "lineup"})  # {"lineup": Report}
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment  # scipy comes with scikit-image, a core dependency

# Fields in the product's micro-averaged F1, in report order.
F1_FIELDS = ("title", "kind", "performer", "venue", "street", "city", "state", "zip", "date", "weekday",
             "start_time", "end_time")
# Fields scored one by one (F1_FIELDS and recurrence, which the product's average leaves out).
SCORED_FIELDS = F1_FIELDS[:10] + ("recurrence",) + F1_FIELDS[10:]
# The stricter show check: every one of these right (pass as ``key_fields``); also the fields the
# project's accuracy floors hold to a per-field F1.
KEY_FIELDS = ("kind", "venue", "street", "city", "state", "zip", "date", "weekday", "start_time")
NAME_FIELDS = ("title", "performer", "venue")
NEAR_EQUAL = 0.9

# USPS Publication 28: street suffixes (appendix C1), directionals (appendix B) and secondary unit
# designators (appendix C2), printed form -> standard abbreviation. Only the spelled-out forms and common
# variants people print; any word not here compares as itself.
_SUFFIXES = {
    "alley": "aly", "allee": "aly", "annex": "anx", "arcade": "arc", "avenue": "ave", "av": "ave",
    "aven": "ave", "avenu": "ave", "avn": "ave", "bayou": "byu", "beach": "bch", "bend": "bnd",
    "bluff": "blf", "bottom": "btm", "boulevard": "blvd", "boul": "blvd", "boulv": "blvd", "branch": "br",
    "bridge": "brg", "brook": "brk", "burg": "bg", "bypass": "byp", "camp": "cp", "canyon": "cyn",
    "cape": "cpe", "causeway": "cswy", "center": "ctr", "centre": "ctr", "cntr": "ctr", "circle": "cir",
    "circ": "cir", "cliff": "clf", "club": "clb", "common": "cmn", "corner": "cor", "corners": "cors",
    "course": "crse", "court": "ct", "courts": "cts", "cove": "cv", "creek": "crk", "crescent": "cres",
    "crossing": "xing", "crossroad": "xrd", "curve": "curv", "dale": "dl", "dam": "dm", "divide": "dv",
    "drive": "dr", "drv": "dr", "estate": "est", "estates": "ests", "expressway": "expy", "expy": "expy",
    "extension": "ext", "falls": "fls", "ferry": "fry", "field": "fld", "fields": "flds", "flat": "flt",
    "ford": "frd", "forest": "frst", "forge": "frg", "fork": "frk", "fort": "ft", "freeway": "fwy",
    "garden": "gdn", "gardens": "gdns", "gateway": "gtwy", "glen": "gln", "green": "grn", "grove": "grv",
    "harbor": "hbr", "haven": "hvn", "heights": "hts", "highway": "hwy", "hiway": "hwy", "hill": "hl",
    "hills": "hls", "hollow": "holw", "island": "is", "junction": "jct", "key": "ky", "knoll": "knl",
    "lake": "lk", "lakes": "lks", "landing": "lndg", "lane": "ln", "light": "lgt", "lodge": "ldg",
    "manor": "mnr", "meadow": "mdw", "meadows": "mdws", "mill": "ml", "mission": "msn",
    "motorway": "mtwy", "mount": "mt", "mountain": "mtn", "orchard": "orch", "overpass": "opas",
    "parkway": "pkwy", "parkwy": "pkwy", "pkway": "pkwy", "pass": "pass", "pike": "pike", "pine": "pne",
    "pines": "pnes", "place": "pl", "plain": "pln", "plaza": "plz", "point": "pt", "port": "prt",
    "prairie": "pr", "ranch": "rnch", "rapids": "rpds", "ridge": "rdg", "river": "riv", "road": "rd",
    "route": "rte", "shoal": "shl", "shore": "shr", "shores": "shrs", "skyway": "skwy", "spring": "spg",
    "springs": "spgs", "square": "sq", "station": "sta", "stravenue": "stra", "stream": "strm",
    "street": "st", "str": "st", "strt": "st", "streets": "sts", "summit": "smt", "terrace": "ter",
    "throughway": "trwy", "trace": "trce", "track": "trak", "trafficway": "trfy", "trail": "trl",
    "trailer": "trlr", "tunnel": "tunl", "turnpike": "tpke", "underpass": "upas", "union": "un",
    "valley": "vly", "viaduct": "via", "view": "vw", "village": "vlg", "ville": "vl", "vista": "vis",
    "walk": "walk", "way": "way", "well": "wl", "wells": "wls",
}  # fmt: skip
_DIRECTIONALS = {
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw",
}  # fmt: skip
_UNITS = {
    "apartment": "apt", "basement": "bsmt", "building": "bldg", "department": "dept", "floor": "fl",
    "front": "frnt", "hangar": "hngr", "lobby": "lbby", "lower": "lowr", "office": "ofc",
    "penthouse": "ph", "room": "rm", "space": "spc", "suite": "ste", "trailer": "trlr", "upper": "uppr",
}  # fmt: skip
USPS_ABBREVIATIONS: dict[str, str] = {**_SUFFIXES, **_DIRECTIONALS, **_UNITS}

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_text(value) -> Optional[str]:
    """Lower case, accents and punctuation gone, "&" as "and", single spaces; None for nothing left."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    text = _NOT_ALNUM.sub(" ", _APOSTROPHES.sub("", text)).strip()
    return text or None


def normalise_street(value) -> Optional[str]:
    """normalise_text with every word USPS abbreviates in its standard abbreviation."""
    text = normalise_text(value)
    return None if text is None else " ".join(USPS_ABBREVIATIONS.get(word, word) for word in text.split())


def near_equal(a: str, b: str, threshold: float = NEAR_EQUAL) -> bool:
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


def _normalised(name: str, value) -> Optional[str]:
    return normalise_street(value) if name == "street" else normalise_text(value)


_ABBREVIATED = frozenset(USPS_ABBREVIATIONS.values())


def _streets_near_equal(a: str, b: str) -> bool:
    """Nearly equal as a whole, with numbers, directionals, suffixes and units exactly equal ("41 E Oak St"
    is not "41 W Oak St", although the two strings are 91% alike)."""
    def fixed(street: str) -> list[str]:
        return [w for w in street.split() if any(c.isdigit() for c in w) or w in _ABBREVIATED]

    return fixed(a) == fixed(b) and near_equal(a, b)


def agrees(name: str, predicted, truth) -> bool:
    """Whether a predicted value of field ``name`` agrees with the true one (two nulls agree)."""
    p, t = _normalised(name, predicted), _normalised(name, truth)
    if p is None or t is None:
        return p is None and t is None
    if name == "street":
        return p == t or _streets_near_equal(p, t)
    if name in NAME_FIELDS:
        return near_equal(p, t)
    return p == t


def _right(name: str, predicted: Optional[dict], truth: Optional[dict]) -> bool:
    """A predicted non-null value that agrees with its match's value (so the truth is non-null too)."""
    if predicted is None or truth is None or predicted.get(name) is None or truth.get(name) is None:
        return False
    return agrees(name, predicted.get(name), truth.get(name))


def show_right(predicted: Optional[dict], truth: Optional[dict], key_fields: Optional[Sequence[str]] = None) -> bool:
    """The product's check (key_fields None): venue, date (weekday when the truth has no date) and start
    time agree. With key_fields: every one of those fields agrees."""
    if predicted is None or truth is None:
        return False
    if key_fields is not None:
        return all(agrees(f, predicted.get(f), truth.get(f)) for f in key_fields)
    when = "date" if truth.get("date") is not None else "weekday"
    return all(agrees(f, predicted.get(f), truth.get(f)) for f in ("venue", when, "start_time"))


def agreement(predicted: dict, truth: dict) -> int:
    """How many of F1_FIELDS the prediction has right against this truth."""
    return sum(_right(f, predicted, truth) for f in F1_FIELDS)


def pair_shows(predicted: list[dict], truth: list[dict], key_fields: Optional[Sequence[str]] = None
               ) -> list[tuple[Optional[dict], Optional[dict]]]:
    """Hungarian assignment on agreement; pairs that agree on nothing and leftovers pair with None."""
    pairs: list[tuple[Optional[dict], Optional[dict]]] = []
    used_p: set[int] = set()
    used_t: set[int] = set()
    if predicted and truth:
        agree = np.array([[agreement(p, t) for t in truth] for p in predicted], dtype=float)
        # Lexicographic: first most agreeing fields, then most right shows (a bonus below one field's worth).
        bonus = np.array([[show_right(p, t, key_fields) for t in truth] for p in predicted], dtype=float)
        weight = agree * (min(len(predicted), len(truth)) + 1) + bonus
        for i, j in zip(*linear_sum_assignment(weight, maximize=True)):
            if agree[i, j] > 0:
                used_p.add(int(i))
                used_t.add(int(j))
                pairs.append((predicted[i], truth[j]))
    pairs += [(p, None) for i, p in enumerate(predicted) if i not in used_p]
    pairs += [(None, t) for j, t in enumerate(truth) if j not in used_t]
    return pairs


@dataclass
class Report:
    right: Counter = field(default_factory=Counter)
    claimed: Counter = field(default_factory=Counter)
    expected: Counter = field(default_factory=Counter)
    shows_right: int = 0
    shows_expected: int = 0
    shows_predicted: int = 0
    images: int = 0
    images_with_shows: int = 0  # images where anything was predicted (for sets with no true show)

    def __add__(self, other: "Report") -> "Report":
        return Report(self.right + other.right, self.claimed + other.claimed, self.expected + other.expected,
                      self.shows_right + other.shows_right, self.shows_expected + other.shows_expected,
                      self.shows_predicted + other.shows_predicted, self.images + other.images,
                      self.images_with_shows + other.images_with_shows)

    @property
    def precision(self) -> dict[str, float]:
        return {f: self.right[f] / self.claimed[f] if self.claimed[f] else 1.0 for f in SCORED_FIELDS}

    @property
    def recall(self) -> dict[str, float]:
        return {f: self.right[f] / self.expected[f] if self.expected[f] else 1.0 for f in SCORED_FIELDS}

    @property
    def f1(self) -> dict[str, float]:
        p, r = self.precision, self.recall
        return {f: 2 * p[f] * r[f] / (p[f] + r[f]) if p[f] + r[f] else 0.0 for f in SCORED_FIELDS}

    @property
    def field_f1(self) -> float:
        """Micro-averaged F1 over F1_FIELDS: every value counts once, whatever its field."""
        right = sum(self.right[f] for f in F1_FIELDS)
        total = sum(self.claimed[f] + self.expected[f] for f in F1_FIELDS)
        return 2 * right / total if total else 1.0

    @property
    def show_accuracy(self) -> float:
        """Right shows over the true shows, or over the predicted ones when there are more of those."""
        return self.shows_right / max(self.shows_expected, self.shows_predicted, 1)

    @property
    def any_show_share(self) -> float:
        """Share of images with at least one predicted show (for non-flyers: should be 0)."""
        return self.images_with_shows / self.images if self.images else 0.0

    def as_dict(self) -> dict:
        return {
            "fields": {f: {"precision": round(self.precision[f], 4), "recall": round(self.recall[f], 4),
                           "f1": round(self.f1[f], 4), "support": self.expected[f]} for f in SCORED_FIELDS},
            "field_f1": round(self.field_f1, 4),
            "show_accuracy": round(self.show_accuracy, 4),
            "shows_right": self.shows_right,
            "shows_expected": self.shows_expected,
            "shows_predicted": self.shows_predicted,
            "images": self.images,
            "images_with_shows": self.images_with_shows,
        }


def score_image(predicted: list[dict], truth: list[dict], key_fields: Optional[Sequence[str]] = None) -> Report:
    """One image's report."""
    report = Report(shows_expected=len(truth), shows_predicted=len(predicted), images=1,
                    images_with_shows=int(bool(predicted)))
    for p, t in pair_shows(predicted, truth, key_fields):
        for f in SCORED_FIELDS:
            report.claimed[f] += p is not None and p.get(f) is not None
            report.expected[f] += t is not None and t.get(f) is not None
            report.right[f] += _right(f, p, t)
        report.shows_right += show_right(p, t, key_fields)
    return report


def score(predicted: Mapping[str, list[dict]], truth: Mapping[str, list[dict]], *,
          key_fields: Optional[Sequence[str]] = None) -> Report:
    """Score predictions per image name (a name missing from ``predicted`` found nothing). Names only in
    ``predicted`` are not scored. ``key_fields``: see the module doc."""
    report = Report()
    for name, true_shows in truth.items():
        report += score_image(list(predicted.get(name, [])), list(true_shows), key_fields)
    return report


def score_groups(predicted: Mapping[str, list[dict]], truth: Mapping[str, list[dict]],
                 groups: Mapping[str, str | Iterable[str]], *,
                 key_fields: Optional[Sequence[str]] = None) -> dict[str, Report]:
    """One report per group label; ``groups`` gives each image name its label (or several labels, e.g.
    its layout and its layout with "photo"). Images with no label are left out; labels in sorted order."""
    reports: dict[str, Report] = {}
    for name, true_shows in truth.items():
        labels = groups.get(name, ())
        labels = [labels] if isinstance(labels, str) else list(labels)
        if labels:
            image = score_image(list(predicted.get(name, [])), list(true_shows), key_fields)
            for label in labels:
                reports[label] = reports.get(label, Report()) + image
    return dict(sorted(reports.items()))
