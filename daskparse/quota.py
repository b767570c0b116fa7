"""The day's Gemini quota across runs: a per-day 429 is remembered beside the cache until the quota resets.

    state = quota.record(settings.cache, "gemini-2.5-flash", "a per-day 429")  # {cache}/quota/gemini-2.5-flash.json
    quota.read(settings.cache, "gemini-2.5-flash")    # the state while the quota is spent; None once it has reset
    quota.clear(settings.cache, "gemini-2.5-flash")   # forget it (a higher quota tier, a new key)
    quota.resets_after(dt.datetime.now(dt.timezone.utc))   # the next midnight, Pacific time, as UTC

A per-day 429 closes the run's rate gate (daskparse.gate); the next runs (``--every``'s, or a cron job's new
process) read this file first and make no Gemini call until ``spent_until``: Gemini's per-day quotas reset at
midnight Pacific time. One JSON file per model (the quota is the model's), on any fsspec URL, written whole
(``atomic_write``). A file that cannot be read is said once and ignored: the worst it costs is one call that meets
the 429 again.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import re
from typing import Optional
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ValidationError

from daskparse.cache.files import filesystem, remove_file
from daskparse.storage import atomic_write

logger = logging.getLogger("daskparse")
FOLDER = "quota"  # beside the cache's layout folder (v1/): the cache's prune and clear never look here
PACIFIC = ZoneInfo("America/Los_Angeles")  # where Gemini's day ends


class QuotaState(BaseModel):
    """A model's daily quota, spent: until when, why, and when a run met it (aware datetimes, UTC)."""

    model: str
    reason: str
    seen: AwareDatetime
    spent_until: AwareDatetime

    def resets(self) -> str:
        """When the quota resets, as a message shows it: "2026-12-04 00:00 PST (08:00 UTC)"."""
        local = self.spent_until.astimezone(PACIFIC)
        return f"{local:%Y-%m-%d %H:%M %Z} ({self.spent_until.astimezone(dt.timezone.utc):%H:%M} UTC)"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def resets_after(moment: dt.datetime) -> dt.datetime:
    """The first midnight in America/Los_Angeles after ``moment`` (aware), in UTC. Midnight exists once every
    day there (the clocks change at 2 a.m.), so the day after's 00:00 is always the reset, 23, 24 or 25 hours on."""
    day = moment.astimezone(PACIFIC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0), tzinfo=PACIFIC).astimezone(dt.timezone.utc)


def path(cache_url: str, model: str) -> tuple[object, str]:
    """The file system and the path of ``model``'s file under ``cache_url``."""
    fs, root = filesystem(cache_url)
    # a model's name is a file's name: anything but letters, digits, "._-" (a tuned model's "/") becomes "_"
    return fs, posixpath.join(root, FOLDER, re.sub(r"[^A-Za-z0-9._-]", "_", model) + ".json")


def read(cache_url: str, model: str, now: Optional[dt.datetime] = None) -> Optional[QuotaState]:
    """The stored state while the quota is still spent at ``now`` (default: now); None when there is none, it has
    reset, or the file cannot be read (a warning)."""
    fs, where = path(cache_url, model)
    try:
        state = QuotaState.model_validate_json(fs.cat_file(where))  # type: ignore[attr-defined]
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as error:
        logger.warning("the daily quota's record %s cannot be read, so it is ignored: %s", where, error)
        return None
    return state if state.spent_until > (now or utc_now()) else None


def record(cache_url: str, model: str, reason: str, seen: Optional[dt.datetime] = None) -> QuotaState:
    """Store that ``model``'s daily quota was found spent at ``seen`` (default: now); returns the state stored."""
    seen = seen or utc_now()
    state = QuotaState(model=model, reason=reason, seen=seen, spent_until=resets_after(seen))
    fs, where = path(cache_url, model)
    atomic_write(fs, posixpath.dirname(where), posixpath.basename(where),
                 lambda file: file.write(state.model_dump_json().encode()))
    return state


def clear(cache_url: str, model: str) -> None:
    """Forget ``model``'s stored state (nothing if there is none)."""
    fs, where = path(cache_url, model)
    remove_file(fs, where)


__all__ = ["QuotaState", "read", "record", "clear", "resets_after", "utc_now", "PACIFIC", "FOLDER"]
