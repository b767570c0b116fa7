"""daskparse: photos of event flyers in, a clean table of shows out, on Dask.

    >>> import daskparse
    >>> result = daskparse.parse_images(["https://example.org/flyer.jpg", "flyers/"])
    >>> result.shows      # one row per show
    >>> result.errors     # one row per source that failed, with a stable ``kind``
    >>> result.stats      # totalImages, cacheHits, averageTimePerImage, ...
    >>> daskparse.parse_frame(posts, url="image_url", posted="posted_at").shows  # a table of posts in
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:
    from daskparse.frames import parse_frame
    from daskparse.result import ParseResult
    from daskparse.settings import Settings, SettingsError, load_settings
    from daskparse.shows import SHOW_COLUMNS, ShowFields
    from daskparse.tally import RunProgress

# Loaded when first used (PEP 562): `python -m daskparse` imports this package before its own code runs, and
# pandas, pydantic and dask took ~1 s here, a time in which a Ctrl-C could only end in a traceback (issue 15).
_LAZY = {"ParseResult": "daskparse.result", "Settings": "daskparse.settings", "SettingsError": "daskparse.settings",
         "load_settings": "daskparse.settings", "SHOW_COLUMNS": "daskparse.shows", "ShowFields": "daskparse.shows",
         "parse_frame": "daskparse.frames"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'daskparse' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = ["parse_images", "parse_frame", "ParseResult", "Settings", "SettingsError", "ShowFields", "SHOW_COLUMNS",
           "load_settings"]
__version__ = "0.1.0"


def parse_images(
    sources: Sequence[str] | str,
    extractor: str = "auto",
    client: Any = None,
    log: Callable[[str, str], None] | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    stop: Any = None,
    reference_dates: Mapping[str, dt.date] | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> ParseResult:
    """Parse flyer images into shows.

    ``sources``: URLs, paths, globs, directories, fsspec URLs or ``.txt`` lists of them.
    ``extractor``: "auto" (Gemini when GEMINI_API_KEY is set, else local OCR), "gemini" or "local".
    ``client``: an existing ``distributed.Client``; by default a 20-thread LocalCluster is started and closed.
    ``log(message, level)``: optional callback for progress and problems.
    ``progress(RunProgress)``: optional callback, once the sources are known and after each partition
    (``done``, ``total``, ``failed``, ``shows``, ``cache_hits``, ``requests``, tokens, cost, ``rate``, ``eta``).
    ``stop``: a ``threading.Event``; once set, no new image is started, those in progress finish, and the
    result holds what was done (``stats["stopped"]``, ``stats["notReached"]``).
    ``reference_dates``: the day each source was seen (source -> date), for its dates printed without a year;
    the others take ``reference_date`` (default: today).
    ``settings``: a :class:`Settings` built beforehand (``load_settings(...)``), instead of ``extractor`` and
    ``options``.
    ``options``: any :class:`Settings` field (``threads=4``, ``max_long_side=1024``, ...).
    """
    from daskparse import pipeline  # imports dask; keep `import daskparse` light
    from daskparse.settings import load_settings

    if settings is None:
        settings = load_settings(extractor=extractor, **options)
    elif options or extractor != "auto":
        from daskparse.settings import SettingsError

        given = ", ".join(sorted(options) + (["extractor"] if extractor != "auto" else []))
        raise SettingsError(f"settings= holds every option: give {given} to load_settings instead")
    return pipeline.run(sources, settings, client=client, log=log, progress=progress, stop=stop,
                        reference_dates=reference_dates)
