"""A run's outcomes, folded partition by partition into what its result is made of, and its progress.

    tally = RunTally(total=len(sources), settings=settings, on_progress=print, input_errors=input_errors)
    tally.add(partition.outcomes)        # as each partition ends (on the client); calls on_progress
    tally.progress()                     # RunProgress: done, failed, shows, cache hits, tokens, cost, ETA
    tally.result(input_errors, wall_seconds, dashboard_link, order=sources)  # the ParseResult

Why fold instead of keeping the outcomes until the end: a run's client held every outcome (its shows,
timings, usage, cache details) until the result was built, growing with the run's size (BENCHMARKS.md, stress).
Here an image leaves one outcome row, its show records (packed into Arrow every ``PACK_EVERY`` shows) and its
error row, if any; timings, usage and cache levels are summed as they come.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd
import pyarrow as pa

from daskparse.cache import LEVELS
from daskparse.dates import resolve_show
from daskparse.errors import ERROR_COLUMNS, ErrorRecord
from daskparse.outcome import Outcome
from daskparse.result import OUTCOME_COLUMNS, OUTCOME_USAGE, ParseResult
from daskparse.settings import Settings
from daskparse.shows import shows_frame
from daskparse.usage import Usage, camel_case

STAGES = ("cache", "fetch", "optimize", "extract")
PACK_EVERY = 2000  # show records kept as dicts before they are packed into an Arrow table
LATEST_ERRORS = 10  # error rows a RunProgress carries (the dashboard page lists them)


def gate_stats(metrics: dict) -> dict:
    """The rate gate's metrics (``RateGate.metrics()``, snake_case as the rest of its Python API) as they go
    into stats: camelCase, as every other key of stats.json ("in_flight" -> "inFlight")."""
    return {camel_case(key): value for key, value in metrics.items()}


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands; given to the ``progress`` callback once at the start and after every partition."""

    # the sources found before the run (a missing file, an unknown scheme) count from the start in total, done
    # and failed, as they do in stats (totalImages, errors): the last progress agrees with the result
    total: int  # distinct sources to answer, input errors included
    done: int
    failed: int
    shows: int
    cache_hits: int
    requests: int  # Gemini requests, retries included
    input_tokens: int
    output_tokens: int
    estimated_cost_usd: float | None  # None: the model has no price (Settings.gemini_prices)
    elapsed: float  # seconds since the tally began
    thoughts_tokens: int = 0  # thinking, billed as output (inside estimated_cost_usd); last: positions unchanged
    # for the dashboard page (its panels, its error list); at the end, so positional construction keeps working
    extractor: str = ""  # "gemini" or "local"
    latest_errors: tuple[tuple[str, str, str], ...] = ()  # (source, kind, message) of the last error rows, oldest first
    input_errors: int = 0  # of done and failed: sources that failed before the run started (none of its time)
    batch_jobs: tuple[tuple[str, str], ...] = ()  # (job, state) of the Gemini batch jobs the run waits for

    @property
    def rate(self) -> float:
        """Images answered per second so far (input errors, done before the run began, left out: counted, they
        made the first rates, and so the ETA, look faster than the run is)."""
        return (self.done - self.input_errors) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None before the first image."""
        return (self.total - self.done) / self.rate if self.rate else None


class RunTally:
    def __init__(self, total: int, settings: Settings,
                 on_progress: Callable[[RunProgress], None] | None = None,
                 references: Mapping[str, dt.date] | None = None,
                 input_errors: Sequence[ErrorRecord] = ()) -> None:
        self.total, self.settings, self.on_progress = total, settings, on_progress
        # sources that failed before the run started: counted in progress (and on the dashboard page's error
        # list) from the first call on; ``result`` is given them again to make its rows
        self.input_errors = [(e.source, e.kind, e.message) for e in input_errors]
        # the day each source was seen, which gives a date printed without a year its year (daskparse.dates):
        # here, after the cache, so a result never depends on the day it was cached
        self.reference_date = settings.run_reference_date()
        self.references = references or {}
        self.started = time.perf_counter()
        self.rows: list[tuple] = []  # OUTCOME_COLUMNS, one per outcome
        self.errors: list[ErrorRecord] = []
        self._show_records: list[dict] = []
        self._show_tables: list[pa.Table] = []
        self.show_count = 0
        self.levels: Counter = Counter()
        self.calls_saved = 0
        self.computed = 0  # outcomes that spent time in a stage (not answered on the client)
        self.stage_seconds: Counter = Counter()
        self.usage = Usage()
        self.batch_usage = Usage()  # of ``usage``, answered by batch jobs (priced at the batch price)
        self.collected_usage = Usage()  # of ``batch_usage``, answers of earlier runs' jobs: paid under their caps
        self.billed = 0  # images this run sent to Gemini (at least one request)
        self.saved_usage = Usage()  # what the calls the cache saved had cost when they were made
        self.saved_batch_usage = Usage()  # of ``saved_usage``, calls answered by batch jobs (at the batch price)
        self.local_fallbacks = 0
        self.batch_jobs: dict[str, str] = {}  # job -> state, while the run waits for its batch jobs
        self.budget_reached = 0  # images the spend cap kept from Gemini (error rows, or read by the fallback)

    def add(self, outcomes: Iterable[Outcome], collected: bool = False) -> None:
        """``collected``: answers of an earlier run's batch job (this run's rows, not its spending)."""
        for outcome in outcomes:
            shows, error, cache, usage = outcome.shows, outcome.error, outcome.cache, outcome.usage
            self.rows.append((outcome.source, outcome.cleaned_url, outcome.status, len(shows),
                              cache.level if cache is not None else None,
                              *(getattr(usage, name) for name in OUTCOME_USAGE)))
            if error is not None:
                self.errors.append(error)
            reference = self.references.get(outcome.source, self.reference_date)
            self._show_records.extend(resolve_show(show, reference) for show in shows)
            self.show_count += len(shows)
            if cache is not None:
                self.levels[cache.level] += 1
                if cache.saved_call:
                    self.calls_saved += 1
                    self.saved_usage += cache.usage
                    if cache.usage.batch_requests:
                        self.saved_batch_usage += cache.usage
            if outcome.seconds:
                self.computed += 1
                self.stage_seconds.update(outcome.seconds)
            self.usage += usage
            if usage.batch_requests:
                self.batch_usage += usage
                if collected:
                    self.collected_usage += usage
            self.billed += bool(usage.requests)
            self.local_fallbacks += outcome.extractor == "local"
            self.budget_reached += "gemini.budget_reached" in (outcome.fallback, error.kind if error else None)
        if len(self._show_records) >= PACK_EVERY:
            self._pack()
        self.notify()

    def cost(self, usage: Usage, batch: Usage | None = None) -> float | None:
        """USD for ``usage`` at the model's documented prices, ``batch`` (its share answered by batch jobs) at the
        batch price; None for an unknown model."""
        batch = batch or Usage()
        online = self.settings.estimated_cost(usage.input_tokens - batch.input_tokens,
                                              usage.output_tokens - batch.output_tokens,
                                              usage.thoughts_tokens - batch.thoughts_tokens)
        if online is None or not batch:
            return online
        batched = self.settings.estimated_cost(batch.input_tokens, batch.output_tokens, batch.thoughts_tokens,
                                               batch=True) or 0.0
        return round(online + batched, 6)

    def spent(self) -> float:
        """USD this run's own calls cost so far at their prices (online, and its batch jobs' at the batch price):
        what its spend cap counts. Answers collected from earlier runs' jobs were spent under those runs' caps."""
        collected = self.collected_usage
        return self.cost(self.usage - collected, self.batch_usage - collected) or 0.0

    def cost_stats(self) -> dict:
        """What the run cost per image sent to Gemini (and per 1,000), and what the cache saved: the calls it
        saved at this run's cost per image (at their own recorded cost when this run sent none)."""
        cost = self.cost(self.usage, self.batch_usage)
        if cost is None:
            return {"estimatedCostUSD": None, "costPerImageUSD": None, "costPer1000ImagesUSD": None,
                    "cacheSavingsUSD": None}
        per_image = cost / self.billed if self.billed else None
        # with no call of its own to price them by, a run prices the saved calls at what they cost when made
        savings = (self.calls_saved * per_image if per_image is not None
                   else self.cost(self.saved_usage, self.saved_batch_usage) or 0.0)
        return {"estimatedCostUSD": cost,
                "costPerImageUSD": None if per_image is None else round(per_image, 6),
                "costPer1000ImagesUSD": None if per_image is None else round(1000 * per_image, 4),
                "cacheSavingsUSD": round(savings, 6)}

    def budget_stats(self) -> dict:
        """The spend cap (None: no cap), what this run's own calls cost (``spent``), and how many images the cap
        kept from Gemini."""
        return {"maxCostUSD": self.settings.max_cost, "spentUSD": self.spent(),
                "budgetReached": self.budget_reached}

    def notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress())

    def _pack(self) -> None:
        if self._show_records:  # through shows_frame, so its columns and types are the only ones
            self._show_tables.append(pa.Table.from_pandas(shows_frame(self._show_records), preserve_index=False))
            self._show_records = []

    def progress(self) -> RunProgress:
        before = len(self.input_errors)
        latest = [(e.source, e.kind, e.message) for e in self.errors[-LATEST_ERRORS:]]
        latest = self.input_errors[max(0, before - LATEST_ERRORS + len(latest)):] + latest  # oldest first
        return RunProgress(
            total=self.total + before, done=len(self.rows) + before, failed=len(self.errors) + before,
            shows=self.show_count,
            cache_hits=sum(self.levels.values()), requests=self.usage.requests,
            input_tokens=self.usage.input_tokens, output_tokens=self.usage.output_tokens,
            thoughts_tokens=self.usage.thoughts_tokens, estimated_cost_usd=self.cost(self.usage, self.batch_usage),
            elapsed=time.perf_counter() - self.started, extractor=self.settings.extractor_name,
            latest_errors=tuple(latest), input_errors=before, batch_jobs=tuple(sorted(self.batch_jobs.items())))

    def hit_stats(self) -> dict:
        """``cacheHits``, hits by level, hit rate and extractor calls saved."""
        hits = sum(self.levels.values())
        return {
            "cacheHits": hits,
            "cacheHitsByLevel": {level: self.levels[level] for level in LEVELS},
            "cacheHitRate": round(hits / len(self.rows), 4) if self.rows else 0.0,
            "callsSaved": self.calls_saved,
        }

    def shows(self) -> pd.DataFrame:
        self._pack()
        if not self._show_tables:
            return shows_frame([])
        table = pa.concat_tables(self._show_tables)
        return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)

    def result(self, input_errors: list[ErrorRecord], wall: float, dashboard: str | None,
               order: Sequence[str] = ()) -> ParseResult:
        """The run's result; outcomes, errors and shows in the order of ``order`` (the sources as given), not
        the order partitions happened to end in. Sources not in ``order`` keep their place at the end."""
        settings = self.settings
        position = {source: index for index, source in enumerate(order)}
        last = len(position)

        def by_source(items: list, source_of) -> list:
            return sorted(items, key=lambda item: position.get(source_of(item), last))  # stable: ties keep order

        unused = (0,) * len(OUTCOME_USAGE)
        rows = [(e.source, e.cleaned_url, "error", 0, None, *unused) for e in input_errors] + by_source(
            self.rows, lambda row: row[0])
        error_records = [error.row() for error in [*input_errors, *by_source(self.errors, lambda e: e.source)]]
        status = Counter(row[2] for row in rows)
        stats = {
            "totalImages": len(rows),
            "imagesWithShows": status["shows"],
            "imagesWithoutShows": status["no_shows"],
            "errors": status["error"],
            "shows": self.show_count,
            **self.hit_stats(),
            # the run's wall time per image it computed: stage seconds overlap across threads (and include waits
            # for the OCR pool), so their mean read 53 s per image for a 109 s run of 36 images
            "averageTimePerImage": round(1000 * wall / self.computed, 1) if self.computed else 0.0,
            "wallSeconds": round(wall, 3),
            "stageSeconds": {stage: round(self.stage_seconds[stage], 3) for stage in STAGES},
            "errorKinds": dict(Counter(e["kind"] for e in error_records)),
            "extractor": settings.extractor_name,
            "dashboard": dashboard,
        }
        if settings.extractor_name == "gemini":
            stats["model"] = settings.model_name  # what the cost is priced for (or why it is unknown)
            stats.update(self.usage.stats())
            stats.update(self.cost_stats())
            # what one image sent cost in tokens, as the answers reported (issue 18: the documented rule is often off)
            stats["imageTokensPerImage"] = round(self.usage.image_tokens / self.billed, 1) if self.billed else None
            stats["thinkingBudget"] = settings.thinking_budget if settings.thinking_budget is not None else \
                settings.thinking_tokens
            stats["fellBackToLocal"] = self.local_fallbacks
            stats["budget"] = self.budget_stats()
        outcomes = pd.DataFrame(rows, columns=OUTCOME_COLUMNS).astype(
            {"source": pd.StringDtype(), "cleaned_url": pd.StringDtype(), "status": pd.StringDtype(),
             "shows": "int64", "cached": pd.StringDtype(), **{column: "int64" for column in OUTCOME_USAGE}})
        errors = pd.DataFrame.from_records(error_records, columns=ERROR_COLUMNS).astype(pd.StringDtype())
        shows = self.shows()
        if position and not shows.empty:
            shows = shows.iloc[shows["source"].map(position).fillna(last).argsort(kind="stable")].reset_index(drop=True)
        return ParseResult(shows, errors, outcomes, stats)
