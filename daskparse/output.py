"""The output folder (any fsspec URL): every show seen so far, once, and a Parquet dataset of each run's sightings.

    out/shows.parquet     the merged current view: one row per show_id as last seen, with first_seen and
                          last_seen (UTC timestamps of the runs) and sources (the cleaned URLs it was seen on),
                          sorted by date, weekday, start time and venue (missing ones last)
    out/shows/run_date=2026-11-05/part-20261105T103000Z-1a2b3c4d.parquet   a run's shows (its sightings), one
                          file per run under the local date it ran (hive partitioning)

    >>> pd.read_parquet("out/shows.parquet")     # what is on
    >>> pd.read_parquet("out/shows")             # every sighting of every run, with a run_date column

Every file is written under a temporary name and moved into place (:func:`daskparse.storage.atomic_write`), so a
reader never sees half a file. ``ParseResult.save`` writes the run's errors, outcomes and stats next to them.

Dates and times are typed (``daskparse.shows.SHOW_SCHEMA``). Files an earlier version wrote (them as text, no
``venue_key``) are read as if written now (``with_show_types``), so an output folder keeps merging across versions.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import posixpath
import uuid

import pandas as pd
import pyarrow as pa

from daskparse.shows import (DERIVED_COLUMNS, FIELD_COLUMNS, SHOW_COLUMNS, SHOW_DTYPES, SHOW_SCHEMA, TYPED_COLUMNS,
                             WEEKDAYS, with_show_types)
from daskparse.storage import atomic_write, make_folder  # (daskparse.result imports atomic_write from here)

logger = logging.getLogger("daskparse.output")
DATASET = "shows"
VIEW = "shows.parquet"
SIGHTING_COLUMNS = SHOW_COLUMNS + ["run_id", "seen_at"]
VIEW_COLUMNS = SHOW_COLUMNS + ["first_seen", "last_seen", "sources"]
_TIMESTAMP = pa.timestamp("us", tz="UTC")
VIEW_SCHEMA = pa.schema(list(SHOW_SCHEMA)
                        + [("first_seen", _TIMESTAMP), ("last_seen", _TIMESTAMP), ("sources", pa.list_(pa.string()))])
# The view's order: what is on first (by date, then the weekday of a weekly show), then time and venue.
VIEW_ORDER = ["date", "_weekday", "start_time", "venue_key", "show_id"]
_WEEKDAY_NUMBER = {name.casefold(): number for number, name in enumerate(WEEKDAYS)}


def write_shows(fs, root: str, shows: pd.DataFrame, now: dt.datetime | None = None) -> dict[str, str]:
    """Append one run's ``shows`` to the dataset, then rewrite the merged view; returns the URLs written."""
    now = now or dt.datetime.now(dt.timezone.utc)
    run_id = f"{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    written = {}
    if not shows.empty:
        shows = with_show_types(shows)
        sightings = shows[SHOW_COLUMNS].assign(run_id=run_id, seen_at=pd.Timestamp(now).tz_convert("UTC"))
        folder = posixpath.join(root, DATASET, f"run_date={now.astimezone():%Y-%m-%d}")
        make_folder(fs, folder)  # not on an object store: there it would create a missing bucket
        written["run"] = atomic_write(fs, folder, f"part-{run_id}.parquet",
                                      lambda file: sightings.to_parquet(file, index=False))
    view = merged_view(fs, root)
    written["shows"] = atomic_write(fs, root, VIEW, lambda file: view.to_parquet(file, index=False, schema=VIEW_SCHEMA))
    return written


def merged_view(fs, root: str) -> pd.DataFrame:
    """Every show seen so far, once: the view on disk merged with the sightings it may not hold yet.

    Those are the sightings of the run dates from the day before the view's latest sighting on (all of them
    when there is no view yet): a run stopped between writing its sightings and the view is merged by the
    next run, and a sighting merged twice changes nothing. Reading only those keeps a run's cost flat as
    the dataset grows. A view of an earlier layout (dates as text) is merged with every sighting once, and
    each sightings file of that layout is rewritten in the current one on the way, so the whole dataset
    reads with one schema (``pd.read_parquet("out/shows")``) from then on.
    """
    previous, current = _read_view(fs, root)
    since = None
    if previous is not None and not previous.empty and current:
        since = previous["last_seen"].max().to_pydatetime().astimezone().date() - dt.timedelta(days=1)
    frames = [previous] if previous is not None else []
    frames.append(_as_view_rows(read_sightings(fs, root, since, upgrade=True)))
    return _merge(frames)


def read_sightings(fs, root: str, since: dt.date | None = None, upgrade: bool = False) -> pd.DataFrame:
    """The dataset's sightings of run dates ``since`` on (all without it); with ``upgrade``, a file of an
    earlier layout is rewritten in the current one as it is read."""
    frames = []
    for folder in sorted(fs.glob(posixpath.join(root, DATASET, "run_date=*"))):
        day = posixpath.basename(folder.rstrip("/")).removeprefix("run_date=")
        if since is not None and day < since.isoformat():  # ISO dates sort as text
            continue
        for path in sorted(fs.glob(posixpath.join(folder, "part-*.parquet"))):
            sightings = _read_parquet(fs, path)
            if sightings is None or not _required(SIGHTING_COLUMNS) <= set(sightings.columns):
                logger.warning("skipping the unreadable sightings file %s", fs.unstrip_protocol(path))
                continue
            current = _current_layout(sightings, SIGHTING_COLUMNS)
            sightings = with_show_types(sightings)[SIGHTING_COLUMNS]
            if upgrade and not current:
                atomic_write(fs, folder, posixpath.basename(path),
                             functools.partial(sightings.to_parquet, index=False))
            frames.append(sightings)
    if not frames:
        return with_show_types(pd.DataFrame(columns=SHOW_COLUMNS)).assign(
            run_id=pd.Series(dtype="string"), seen_at=pd.Series(dtype="datetime64[us, UTC]"))[SIGHTING_COLUMNS]
    return pd.concat(frames, ignore_index=True)


def _required(columns: list[str]) -> set[str]:
    """The columns a file must hold to be read: the derived ones are made again (an older file has none)."""
    return set(columns) - set(DERIVED_COLUMNS)


def _current_layout(frame: pd.DataFrame, columns: list[str]) -> bool:
    """Whether ``frame`` (as read) has every column of this version, dates and times typed."""
    return set(columns) <= set(frame.columns) and all(frame[name].dtype == SHOW_DTYPES[name] for name in TYPED_COLUMNS)


def _read_view(fs, root: str) -> tuple[pd.DataFrame | None, bool]:
    """The view on disk, and whether it is of the current layout (an earlier one wrote dates as text).

    None when there is none, it is a shows.parquet of a version before the dataset, or it cannot be read
    (torn by a crash mid-write): the view is then rebuilt from the whole dataset."""
    path = posixpath.join(root, VIEW)
    if not fs.exists(path):
        return None, False
    view = _read_parquet(fs, path)
    if view is None:
        logger.warning("%s cannot be read (a write cut short?): rebuilding it from the sightings in %s",
                       fs.unstrip_protocol(path), fs.unstrip_protocol(posixpath.join(root, DATASET)))
        return None, False
    if not _required(VIEW_COLUMNS) <= set(view.columns):
        return None, False
    return with_show_types(view)[VIEW_COLUMNS], _current_layout(view, VIEW_COLUMNS)


def _read_parquet(fs, path: str) -> pd.DataFrame | None:
    """A Parquet file of the output, or None when it is empty, torn or not Parquet at all."""
    try:
        with fs.open(path, "rb") as file:
            return pd.read_parquet(file)
    except Exception:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError... for a torn file
        logger.debug("cannot read %s", path, exc_info=True)
        return None


def _as_view_rows(sightings: pd.DataFrame) -> pd.DataFrame:
    rows = sightings[SHOW_COLUMNS].copy()
    rows["first_seen"] = rows["last_seen"] = sightings["seen_at"]
    rows["sources"] = [[url] for url in sightings["cleaned_url"].fillna(sightings["source"])]
    return rows


def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per show_id: each field as last seen (of one run's rows, the fullest first), the latest sighting's
    provenance, the earliest first_seen and every source."""
    filled = [frame for frame in frames if not frame.empty]
    if not filled:  # no show yet: zero rows, every column with its type
        empty = VIEW_SCHEMA.empty_table().to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
        return with_show_types(empty)[VIEW_COLUMNS]
    rows = pd.concat(filled, ignore_index=True)
    rows = rows.assign(_filled=rows[FIELD_COLUMNS].notna().sum(axis=1)).sort_values(
        ["last_seen", "_filled", "cleaned_url"], ascending=[False, False, True], kind="stable")
    groups = rows.groupby("show_id", sort=False)
    view = rows.drop_duplicates("show_id").set_index("show_id")
    view[FIELD_COLUMNS] = groups[FIELD_COLUMNS].first()  # a field the latest flyer left out, from an earlier one
    view["first_seen"] = groups["first_seen"].min()
    view["sources"] = groups["sources"].agg(lambda lists: sorted({url for urls in lists for url in urls}))
    view = with_show_types(view.reset_index())  # venue_key again, from the venue as merged
    view["_weekday"] = view["weekday"].str.casefold().map(_WEEKDAY_NUMBER).astype("Int64")
    return view.sort_values(VIEW_ORDER, na_position="last", kind="stable")[VIEW_COLUMNS].reset_index(drop=True)
