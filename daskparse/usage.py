"""What an image's Gemini calls used: requests and tokens, summed per image, per run, and priced by the tally.

    usage = Usage()
    usage.requests += 1                  # the extractor counts as it calls
    total = Usage.sum(outcome.usage for outcome in outcomes)
    total.stats()                        # {"requests": ..., "inputTokens": ...}: stats.json's spelling

Snake case in Python; camelCase only where it is written out: stats.json and the cache's stored JSON (whose
spelling is kept so that caches written before read the same).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass
class Usage:
    requests: int = 0  # every request sent, retries included
    retries: int = 0
    rate_limited: int = 0  # answers of 429
    input_tokens: int = 0  # the prompt's, image included
    image_tokens: int = 0  # the image's share of input_tokens
    output_tokens: int = 0  # the answers' text
    thoughts_tokens: int = 0  # thinking, billed as output: counted apart to show what it costs
    batch_requests: int = 0  # of ``requests``, answered through the Batch API: their tokens at the batch price

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def __sub__(self, other: "Usage") -> "Usage":
        return Usage(*(a - b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def __bool__(self) -> bool:
        return any(dataclasses.astuple(self))

    @classmethod
    def sum(cls, usages: Iterable["Usage"]) -> "Usage":
        total = cls()
        for usage in usages:
            total = total + usage
        return total

    def stats(self) -> dict[str, int]:
        """camelCase keys, as stats.json and the cache's files spell them."""
        return {_CAMEL[name]: value for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_stats(cls, data: Mapping[str, Any] | None) -> "Usage":
        """The inverse of ``stats()``; keys it does not know are ignored (a cache written by a later version)."""
        return cls(**{name: int(data[camel]) for name, camel in _CAMEL.items() if data and camel in data})


def camel_case(name: str) -> str:
    """How stats.json spells a Python name: "in_flight" -> "inFlight"."""
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


_CAMEL = {field.name: camel_case(field.name) for field in dataclasses.fields(Usage)}
USAGE_STATS_KEYS = tuple(_CAMEL.values())  # stats.json's usage keys, in order
