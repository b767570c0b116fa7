"""Field-level precision, recall and F1 of extracted shows against ground truth (tests and bench).

Per flyer, predicted shows are paired with true shows greedily by how many fields agree. Then for each
field: a true non-null value is a chance to recall it, a predicted non-null value a claim to be precise;
a value counts as right when its paired value agrees (case and spacing ignored). An unpaired prediction
only costs precision, an unpaired truth only recall. A show is right when all KEY_FIELDS are.

    >>> report = score({"a.jpg": predicted_shows}, {"a.jpg": true_shows})
    >>> report.f1["venue"], report.show_accuracy
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

SCORED_FIELDS = ("title", "kind", "performer", "venue", "street", "city", "state", "zip", "date", "weekday",
                 "recurrence", "start_time", "end_time")
KEY_FIELDS = ("kind", "venue", "street", "city", "state", "zip", "date", "weekday", "start_time")


def _norm(value) -> str | None:
    if value is None:
        return None
    text = re.sub(r"\s+", " ", str(value)).strip().lower()
    return text or None


def _agreement(predicted: dict, truth: dict) -> int:
    return sum(1 for f in SCORED_FIELDS if _norm(truth.get(f)) is not None and _norm(predicted.get(f)) == _norm(truth.get(f)))


def pair_shows(predicted: list[dict], truth: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Greedy pairing by agreement; leftovers pair with None."""
    candidates = sorted(
        ((_agreement(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)), reverse=True
    )
    used_p, used_t, pairs = set(), set(), []
    for agreement, i, j in candidates:
        if agreement and i not in used_p and j not in used_t:
            used_p.add(i), used_t.add(j)
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
    def show_accuracy(self) -> float:
        """Shows with every key field right, over the true shows (extra predictions lower it too)."""
        return self.shows_right / max(self.shows_expected, self.shows_predicted, 1)

    def as_dict(self) -> dict:
        return {
            "fields": {f: {"precision": round(self.precision[f], 4), "recall": round(self.recall[f], 4),
                           "f1": round(self.f1[f], 4), "support": self.expected[f]} for f in SCORED_FIELDS},
            "show_accuracy": round(self.show_accuracy, 4),
            "shows_expected": self.shows_expected,
            "shows_predicted": self.shows_predicted,
        }


def score(predicted: dict[str, list[dict]], truth: dict[str, list[dict]]) -> Report:
    """Score predictions per image name (a name missing from ``predicted`` found nothing)."""
    report = Report()
    for name, true_shows in truth.items():
        found = predicted.get(name, [])
        report.shows_expected += len(true_shows)
        report.shows_predicted += len(found)
        for p, t in pair_shows(found, true_shows):
            for f in SCORED_FIELDS:
                pv, tv = _norm((p or {}).get(f)), _norm((t or {}).get(f))
                report.claimed[f] += pv is not None
                report.expected[f] += tv is not None
                report.right[f] += pv is not None and pv == tv
            if p is not None and t is not None and all(_norm(p.get(f)) == _norm(t.get(f)) for f in KEY_FIELDS):
                report.shows_right += 1
    return report
