"""ParseResult: what a run returns (shows, errors, per-source outcomes, stats) and how it is saved."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

import fsspec
import pandas as pd

from daskparse.errors import ERROR_COLUMNS, RunError
from daskparse.output import atomic_write, write_shows
from daskparse.shows import SHOW_COLUMNS, as_text
from daskparse.storage import location_problem, make_folder

# Gemini usage per image, this run's (a cache hit made no call: zeros): the Usage fields that are columns
OUTCOME_USAGE = ("requests", "input_tokens", "image_tokens", "output_tokens", "thoughts_tokens")
# cached: the cache level that answered
OUTCOME_COLUMNS = ["source", "cleaned_url", "status", "shows", "cached", *OUTCOME_USAGE]
# Columns worth reading in a terminal; the DataFrame has them all.
TABLE_COLUMNS = ["weekday", "date", "start_time", "kind", "title", "performer", "venue", "city", "state"]


def _count(number: int, noun: str) -> str:
    """"1 image", "2 images"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _cost_clause(s: dict) -> str:
    """What a Gemini run cost, or that its model has no price to tell (a run that cost nothing says $0)."""
    if s.get("extractor") != "gemini" and s.get("estimatedCostUSD") is None:
        return ""
    if s.get("estimatedCostUSD") is None:
        return f"; Gemini cost unknown: no price for {s.get('model') or 'this model'} in Settings.gemini_prices"
    return (f"; Gemini ~${s['estimatedCostUSD']:.4f}"
            + (f", ${s['costPer1000ImagesUSD']:.2f} per 1,000 images" if s.get("costPer1000ImagesUSD") is not None else "")
            + (f", the cache saved ~${s['cacheSavingsUSD']:.4f}" if s.get("cacheSavingsUSD") else ""))


@dataclass
class ParseResult:
    shows: pd.DataFrame
    errors: pd.DataFrame
    outcomes: pd.DataFrame  # one row per distinct source: status is "shows", "no_shows" or "error"
    stats: dict = field(default_factory=dict)

    def summary(self) -> str:
        s = self.stats
        return (
            f"{_count(s.get('totalImages', 0), 'image')}: {s.get('imagesWithShows', 0)} with shows, "
            f"{s.get('imagesWithoutShows', 0)} without, {_count(s.get('errors', 0), 'error')}; "
            f"{_count(s.get('shows', 0), 'show')} in {s.get('wallSeconds', 0):.1f} s "
            f"({s.get('averageTimePerImage', 0):.0f} ms per image, {s.get('extractor', '?')} extractor"
            + (f"; {s['cacheHits']} from the cache" if s.get("cacheHits") else "") + ")"
            + _cost_clause(s)
            + (f"; stopped early: {_count(s.get('notReached', 0), 'image')} not started (the next run does them)"
               if s.get("stopped") else "")
            + (f"; ran in this process: {s['clusterFallback']}" if s.get("clusterFallback") else "")
        )

    def table(self, max_rows: int = 60) -> str:
        if self.shows.empty:
            return "(no shows)"
        view = as_text(self.shows[TABLE_COLUMNS]).fillna("")  # a date or time column takes no "": as text
        return view.to_string(index=False, max_rows=max_rows, max_colwidth=28)

    def save(self, output: str) -> dict[str, str]:
        """Write the run under ``output`` (any fsspec URL); returns the URLs written.

        Its shows are appended to the dataset ``shows/`` and merged into ``shows.parquet``, the current view
        of every show seen (``daskparse.output``); errors.parquet, outcomes.parquet and stats.json are this
        run's. Each file is written under a temporary name and moved into place, so a reader never sees half a file.
        On an object store, a missing bucket, missing credentials or access denied fail the first write, with
        nothing written (and no bucket created): a RunError saying so (``daskparse.storage.location_problem``).
        """
        fs, root = fsspec.core.url_to_fs(output)
        try:
            make_folder(fs, root)
            written = write_shows(fs, root, self.shows)
            for name, frame in (("errors", self.errors), ("outcomes", self.outcomes)):
                written[name] = atomic_write(fs, root, f"{name}.parquet",
                                             functools.partial(frame.to_parquet, index=False))
            written["stats"] = atomic_write(
                fs, root, "stats.json", lambda f: f.write(json.dumps(self.stats, indent=2, default=str).encode())
            )
        except Exception as error:  # noqa: BLE001 - said in one line when it is the store's, else as it is
            problem = location_problem(error, root, output, "output")
            if problem is None:
                raise
            raise RunError(problem) from None
        return written


def empty_errors() -> pd.DataFrame:
    return pd.DataFrame(columns=ERROR_COLUMNS).astype(pd.StringDtype())


__all__ = ["ParseResult", "SHOW_COLUMNS", "OUTCOME_COLUMNS"]
