"""Extractors: optimized JPEG bytes in, an :class:`Extraction` (shows + usage) out.

An extractor is built once per worker process (``build_extractor``) because building one can be
expensive (the OCR models load in about a second). ``extract`` raises
:class:`~daskparse.errors.SourceError` (kind ``extract.*`` / ``gemini.*``) for a per-image failure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from daskparse.shows import ShowFields
from daskparse.usage import Usage

if TYPE_CHECKING:
    from daskparse.settings import Settings


@dataclass
class Extraction:
    shows: list[ShowFields]
    extractor: str  # who produced the shows: "gemini", or "local" (also after a Gemini fallback)
    usage: Usage = field(default_factory=Usage)  # Gemini's requests and tokens (none for the local extractor)
    # why a fallback extractor read it: the Gemini error kind that kept it from Gemini (the daily quota, the spend cap)
    fallback: str | None = None


@runtime_checkable
class Extractor(Protocol):
    name: str

    def extract(self, jpeg: bytes) -> Extraction: ...


def result_key(settings: "Settings") -> dict:
    """What this extractor's results depend on (the cache keeps results apart by it): change any, recompute."""
    from daskparse.normalise import NORMALISER_VERSION

    if settings.extractor_name == "local":
        from daskparse.extract.local import PARSER_VERSION

        return {"extractor": "local", "parser": PARSER_VERSION, "normaliser": NORMALISER_VERSION}
    from daskparse.extract.gemini import PROMPT_VERSION

    key: dict[str, Any] = {"extractor": "gemini", "model": settings.model_name, "prompt": PROMPT_VERSION,
           "normaliser": NORMALISER_VERSION}
    # What the model was asked to think and see changes its answers. Dynamic thinking and the model's own
    # resolution are what every request before these settings got: left out, so those results stay valid.
    if settings.thinking_tokens != -1:
        key["thinking"] = settings.thinking_tokens
    if settings.media_resolution:
        key["media_resolution"] = settings.media_resolution
    return key


def build_extractor(settings: "Settings", reference_date: dt.date, gate=None) -> Extractor:
    """The extractor the settings ask for (``auto`` resolved), with its fallback."""
    from daskparse.extract.local import LocalExtractor

    if settings.extractor_name == "local":
        return LocalExtractor(reference_date=reference_date)
    from daskparse.extract.gemini import GeminiExtractor, ProcessGate

    options = settings.gemini_options()
    fallback = LocalExtractor(reference_date=reference_date) if settings.fallback == "local" else None
    # without a cluster's gate (a run in this process): the user's cap on calls in flight, else ProcessGate's own
    process_gate = (ProcessGate(settings.concurrency, max_cost=settings.max_cost) if settings.concurrency
                    else ProcessGate(max_cost=settings.max_cost))
    return GeminiExtractor(options, gate=gate or process_gate, fallback=fallback)
