"""What one source came to, built here and read by the cache, the run loop and the tally.

A worker makes an :class:`Outcome` for every source of a partition (``daskparse.worker``): its shows, or its
error, with the stage timings and Gemini usage spent on it, and how the cache answered it if it did. The
partition task returns a :class:`PartitionResult`, which also carries what concerns the whole run (a fault that
ends it, or that the run was stopping and the partition did nothing), so that outcomes are only ever outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

from daskparse.errors import ErrorRecord
from daskparse.sources import Source
from daskparse.usage import Usage

Status = Literal["shows", "no_shows", "error"]


def show_records(shows: Iterable[dict[str, Any]], source: str, cleaned_url: str, image_sha256: str | None,
                 extractor: str | None) -> list[dict[str, Any]]:
    """Show fields (``ShowFields.model_dump()``, or as the cache stored them) with who found them where
    (``daskparse.shows.PROVENANCE_COLUMNS``): the rows of the run's shows table."""
    return [{**show, "source": source, "cleaned_url": cleaned_url, "image_sha256": image_sha256,
             "extractor": extractor} for show in shows]


@dataclass(frozen=True)
class CacheMatch:
    """How the cache answered a source (``daskparse.cache``): the level, and the stored entry it came from."""

    level: str  # "url", "sha256" or "phash"
    stored_at: float  # epoch seconds, of the entry matched
    expires_at: float
    matched_source: str  # the source the entry was stored for
    saved_call: bool  # the entry took an extractor call (a fetch error did not)
    usage: Usage = field(default_factory=Usage)  # what the saved call cost when it was made
    distance: int | None = None  # pHash bits, level "phash" only
    similarity: float | None = None


@dataclass
class Outcome:
    """One source's result: shows (possibly none) or an error, never both."""

    source: str
    cleaned_url: str
    shows: list[dict[str, Any]] = field(default_factory=list)  # show_records
    error: ErrorRecord | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage; empty: answered without computing
    usage: Usage = field(default_factory=Usage)  # this run's Gemini calls for it (a cache hit made none)
    extractor: str | None = None  # who read it: "gemini" or "local" (after a fallback too)
    fallback: str | None = None  # why the fallback read it: the Gemini error kind (the daily quota, the spend cap)
    image_sha256: str | None = None
    phash: int | None = None  # the optimized image's look-alike hash and thumbnail (daskparse.lookalike),
    thumbnail: bytes | None = None  # for the cache: taken off before the outcome leaves the worker
    cache: CacheMatch | None = None  # set when the cache answered

    @property
    def status(self) -> Status:
        return "error" if self.error is not None else "shows" if self.shows else "no_shows"


@dataclass
class Prepared:
    """A source that reached the extractor: its outcome so far (fetch and optimize timed, fingerprints set) and
    the image to send."""

    source: Source
    outcome: Outcome
    jpeg: bytes
    sha256: str


@dataclass
class PartitionResult:
    """What a partition task returns: its outcomes, and what it has to say about the whole run."""

    outcomes: list[Outcome] = field(default_factory=list)
    # batch mode: the images ready to send, for the run to put in batch jobs (their outcomes come when answered)
    prepared: list[Prepared] = field(default_factory=list)
    fatal: str | None = None  # a fault of the whole run (a refused API key): the run ends with this message
    not_reached: bool = False  # the run was stopping: the partition did nothing, the next run does its sources
