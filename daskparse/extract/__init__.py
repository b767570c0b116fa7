"""Extractors: optimized JPEG bytes in, a list of :class:`~daskparse.shows.ShowFields` out.

An extractor is built once per worker process (see ``extractor_for``) because building one can be
expensive (the OCR models load in about a second). ``extract`` raises
:class:`~daskparse.errors.SourceError` (kind ``extract.*``) for a per-image failure.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

from daskparse.shows import ShowFields


@runtime_checkable
class Extractor(Protocol):
    name: str

    def extract(self, jpeg: bytes) -> list[ShowFields]: ...


def local_extractor(reference_date: dt.date | None = None) -> Extractor:
    from daskparse.extract.local import LocalExtractor

    return LocalExtractor(reference_date=reference_date)
