"""DataFrames in, DataFrames out: the shows of a table of posts, each row keeping the post's columns.

    >>> posts = pd.DataFrame({"post_id": [1, 2], "group": ["austin-gigs", "austin-gigs"],
    ...                       "posted_at": ["2026-11-25", "2026-11-30"], "image_url": [url1, url2]})
    >>> result = daskparse.parse_frame(posts, url="image_url", posted="posted_at")
    >>> result.shows     # post_id, group, posted_at, image_url, then the show's columns: one row per show

Each cell of ``url`` is one image (a URL or a path). The day a post went up is the reference date of its
flyer's dates ("Sat Nov 28" posted on 2026-11-25 is that Saturday, whenever the table is read); an image
posted several times takes the day it was first posted. A Dask DataFrame works too: only its ``url`` (and
``posted``) column is computed to run the images, and the shows come back as a Dask DataFrame joined to it,
on the cluster of the current ``distributed`` client when there is one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import pandas as pd

from daskparse.errors import ERROR_COLUMNS
from daskparse.result import ParseResult

MISSING_URL = "inputs.missing_url"


def parse_frame(frame: Any, url: str = "image_url", posted: Optional[str] = None, *,
                client: Any = None, **options: Any) -> ParseResult:
    """Parse the images of ``frame[url]``; ``shows``, ``errors`` and ``outcomes`` carry each row's own columns.

    ``frame``: a pandas or Dask DataFrame, one post per row. ``posted``: a column of the time each post went
    up (datetimes, dates or ISO text): its day is the reference date of that row's flyer. ``options``: as
    :func:`daskparse.parse_images`. A row without a URL is an ``inputs.missing_url`` error row; a column name
    the shows use too ("title", "date", ...) is kept with a ``_post`` suffix.
    """
    from daskparse import parse_images

    if url not in frame.columns:
        raise KeyError(f"parse_frame: no column {url!r} (the columns are {list(frame.columns)})")
    if posted is not None and posted not in frame.columns:
        raise KeyError(f"parse_frame: no column {posted!r} (the columns are {list(frame.columns)})")
    lazy = _is_dask(frame)
    wanted = frame[[url] + ([posted] if posted else [])]
    keys = (wanted.compute() if lazy else wanted).copy()
    keys[url] = keys[url].map(_cell)
    references = _first_posted(keys, url, posted) if posted else {}
    urls = list(dict.fromkeys(u for u in keys[url] if u))
    if lazy and client is None:
        client = _current_client()
    result = parse_images(urls, client=client, reference_dates=references, **options)

    missing = int((keys[url] == "").sum())
    # one error row for every row without a URL: the join below gives it to each of them
    errors = pd.concat([result.errors, _missing_error()], ignore_index=True) if missing else result.errors
    # the URL as the same text type as the results' ``source`` it is joined on
    cells = frame[url].map(_cell, meta=(url, "object")) if lazy else frame[url].map(_cell)
    posts = frame.assign(**{url: cells.astype(pd.StringDtype())})
    return ParseResult(
        shows=_joined(posts, result.shows, url),
        errors=_joined(posts, errors.astype(pd.StringDtype()), url),
        outcomes=_joined(posts, result.outcomes, url),
        stats={**result.stats, "rows": int(len(keys)), "rowsWithoutUrl": missing},
    )


def _cell(value: Any) -> str:
    """A URL cell as text; "" for a missing one (None, NaN, NA, blank)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def _first_posted(keys: pd.DataFrame, url: str, posted: str) -> dict[str, dt.date]:
    """Each URL's earliest posting day: a repost of a flyer still means the dates of its first post."""
    days = pd.to_datetime(keys[posted], errors="coerce", format="mixed")
    if getattr(days.dt, "tz", None) is not None:  # the day where it was posted, not in UTC
        days = days.dt.tz_localize(None)
    firsts = pd.DataFrame({"url": keys[url], "day": days}).dropna().query("url != ''").groupby("url")["day"].min()
    return {key: value.date() for key, value in firsts.items()}


def _missing_error() -> pd.DataFrame:
    return pd.DataFrame([{"source": "", "cleaned_url": "", "stage": "inputs", "kind": MISSING_URL,
                          "message": "the row has no image URL"}], columns=ERROR_COLUMNS)


def _joined(posts: Any, table: pd.DataFrame, url: str) -> Any:
    """``table`` (keyed by ``source``) with the columns of every post whose ``url`` it is: posts first."""
    clashes = [c for c in posts.columns if c in table.columns and c != url]
    posts = posts.rename(columns={c: f"{c}_post" for c in clashes})
    return posts.merge(table, how="inner", left_on=url, right_on="source")


def _is_dask(frame: Any) -> bool:
    return type(frame).__module__.startswith("dask")


def _current_client() -> Any:
    """The ``distributed`` client in use, if any: a Dask DataFrame's user has a cluster already."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None
