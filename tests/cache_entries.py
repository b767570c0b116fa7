"""Cache entries written from another process (tests/test_s3.py): ``python tests/cache_entries.py URL NOW N...``.

Kept to few imports: the process starts in well under a second.
"""

import sys

from daskparse.cache import ResultCache
from daskparse.errors import ErrorRecord
from daskparse.outcome import Outcome

VARIANT = "v1test"


def entry(n: int, error: bool = False) -> Outcome:
    """Image n's outcome as a worker stores it: no shows, or (``error``) a permanent error, kept a day."""
    url = f"https://cdn.example.org/flyers/{n}.jpg"
    return Outcome(url, url, extractor="local", image_sha256=f"{n:064x}",
                   error=ErrorRecord(url, url, "fetch", "fetch.not_found", "HTTP 404") if error else None)


def store(url: str, now: float, numbers: list[int]) -> None:
    """One entry file per number, as a Gemini run's workers write them; a negative number: that image's error."""
    cache = ResultCache(url, variant=VARIANT, clock=lambda: now)
    for n in numbers:
        cache.store_partition([entry(abs(n), error=n < 0)])


if __name__ == "__main__":
    store(sys.argv[1], float(sys.argv[2]), [int(n) for n in sys.argv[3:]])
