"""The output folder (any fsspec URL): every show seen so far, once, and a Parquet dataset of each run's sightings.

    out/shows.parquet     the merged current view: one row per show_id as last seen, with first_seen and
                          last_seen (UTC timestamps of the runs) and sources (the cleaned URLs it was seen on)
    out/shows/run_date=2026-11-05/part-20261105T103000Z-1a2b3c4d.parquet   a run's shows (its sightings), one
                          file per run under the local date it ran (hive partitioning)

    >>> pd.read_parquet("out/shows.parquet")     # what is on
    >>> pd.read_parquet("out/shows")             # every sighting of every run, with a run_date column

Every file is written under a temporary name and moved into place (``atomic_write``), so a reader never sees
half a file. ``ParseResult.save`` writes the run's errors, outcomes and stats next to them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import posixpath
import uuid
from typing import Callable

import pandas as pd
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from daskparse.shows import FIELD_COLUMNS, SHOW_COLUMNS

logger = logging.getLogger("daskparse.output")
DATASET = "shows"
VIEW = "shows.parquet"
SIGHTING_COLUMNS = SHOW_COLUMNS + ["run_id", "seen_at"]
VIEW_COLUMNS = SHOW_COLUMNS + ["first_seen", "last_seen", "sources"]
_TIMESTAMP = pa.timestamp("us", tz="UTC")
VIEW_SCHEMA = pa.schema([(name, pa.string()) for name in SHOW_COLUMNS]
                        + [("first_seen", _TIMESTAMP), ("last_seen", _TIMESTAMP), ("sources", pa.list_(pa.string()))])


def atomic_write(fs, root: str, name: str, write: Callable) -> str:
    """``write(file)`` into ``root/name`` through a temporary name; returns the final URL.

    On a local disk the file is flushed to the disk (fsync) before the rename: otherwise a power cut soon
    after can leave the new name pointing at an empty file (the rename reaches the disk before the data)."""
    final = posixpath.join(root, name)
    temporary = posixpath.join(root, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with fs.open(temporary, "wb") as file:
            write(file)
            if isinstance(fs, LocalFileSystem):
                file.flush()
                os.fsync(file.fileno())
        fs.mv(temporary, final)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)
    return fs.unstrip_protocol(final)


def write_shows(fs, root: str, shows: pd.DataFrame, now: dt.datetime | None = None) -> dict[str, str]:
    """Append one run's ``shows`` to the dataset, then rewrite the merged view; returns the URLs written."""
    now = now or dt.datetime.now(dt.timezone.utc)
    run_id = f"{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    written = {}
    if not shows.empty:
        sightings = shows[SHOW_COLUMNS].assign(run_id=run_id, seen_at=pd.Timestamp(now).tz_convert("UTC"))
        folder = posixpath.join(root, DATASET, f"run_date={now.astimezone():%Y-%m-%d}")
        fs.makedirs(folder, exist_ok=True)
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
    the dataset grows.
    """
    previous = _read_view(fs, root)
    since = None
    if previous is not None and not previous.empty:
        since = previous["last_seen"].max().to_pydatetime().astimezone().date() - dt.timedelta(days=1)
    frames = [previous] if previous is not None else []
    frames.append(_as_view_rows(read_sightings(fs, root, since)))
    return _merge(frames)


def read_sightings(fs, root: str, since: dt.date | None = None) -> pd.DataFrame:
    """The dataset's sightings of run dates ``since`` on (all without it)."""
    frames = []
    for folder in sorted(fs.glob(posixpath.join(root, DATASET, "run_date=*"))):
        day = posixpath.basename(folder.rstrip("/")).removeprefix("run_date=")
        if since is not None and day < since.isoformat():  # ISO dates sort as text
            continue
        for path in sorted(fs.glob(posixpath.join(folder, "part-*.parquet"))):
            sightings = _read_parquet(fs, path)
            if sightings is None or not set(SIGHTING_COLUMNS) <= set(sightings.columns):
                logger.warning("skipping the unreadable sightings file %s", fs.unstrip_protocol(path))
                continue
            frames.append(sightings)
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype="string") for name in SIGHTING_COLUMNS[:-1]}).assign(
            seen_at=pd.Series(dtype="datetime64[us, UTC]"))
    return pd.concat(frames, ignore_index=True)


def _read_view(fs, root: str) -> pd.DataFrame | None:
    """The view on disk; None when there is none, it is a shows.parquet of a version before the dataset, or it
    cannot be read (torn by a crash mid-write): the view is then rebuilt from the whole dataset."""
    path = posixpath.join(root, VIEW)
    if not fs.exists(path):
        return None
    view = _read_parquet(fs, path)
    if view is None:
        logger.warning("%s cannot be read (a write cut short?): rebuilding it from the sightings in %s",
                       fs.unstrip_protocol(path), fs.unstrip_protocol(posixpath.join(root, DATASET)))
        return None
    return view if set(VIEW_COLUMNS) <= set(view.columns) else None


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
        return VIEW_SCHEMA.empty_table().to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    rows = pd.concat(filled, ignore_index=True)
    rows = rows.assign(_filled=rows[FIELD_COLUMNS].notna().sum(axis=1)).sort_values(
        ["last_seen", "_filled", "cleaned_url"], ascending=[False, False, True], kind="stable")
    groups = rows.groupby("show_id", sort=False)
    view = rows.drop_duplicates("show_id").set_index("show_id")
    view[FIELD_COLUMNS] = groups[FIELD_COLUMNS].first()  # a field the latest flyer left out, from an earlier one
    view["first_seen"] = groups["first_seen"].min()
    view["sources"] = groups["sources"].agg(lambda lists: sorted({url for urls in lists for url in urls}))
    return view.reset_index().sort_values(["first_seen", "show_id"], kind="stable")[VIEW_COLUMNS].reset_index(drop=True)
