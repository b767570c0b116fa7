"""A run: sources → the cluster's partitions → ParseResult; the loop on the client that holds a run together.

Each partition takes its sources through fetch → optimize → extract (daskparse.worker; a Gemini partition's calls
overlap, in its worker's call pool); a cluster's threads (daskparse.cluster) run partitions side by side.
Partitions are small (about ``partitions_per_thread`` per thread) so that one slow image does not leave the other
threads idle at the end.
A per-source failure is a value (an error outcome); only faults of the run itself raise.
A run given a ``stop`` event (``threading.Event``) stops starting partitions once it is set: those running
finish and are kept (and stored in the cache), the rest are counted in ``stats["notReached"]``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import logging
import math
import threading
import time
import uuid
from typing import Any, Callable, Generator, Iterator, Mapping, Protocol, Sequence

import dask
import dask.bag as db
from distributed import Client, Event, as_completed
from distributed.scheduler import KilledWorker

from daskparse import main_guard, quota
from daskparse.batch import BatchBudget, BatchLedger, BatchSession
from daskparse.cache import ResultCache, cache_variant
from daskparse.cluster import cluster_client, fallback_client
from daskparse.console import visible
from daskparse.dashboard import RunBoard
from daskparse.errors import BudgetReached, ErrorRecord, RunError, usd
from daskparse.extract import result_key
from daskparse.extract.gemini import estimate_input_tokens
from daskparse.extract.gemini_batch import BatchApi
from daskparse.extract.local import LocalExtractor
from daskparse.image_tokens import image_token_estimate
from daskparse.gate import RateGate
from daskparse.optimize import OPTIMIZER_VERSION
from daskparse.outcome import Outcome, PartitionResult, Prepared
from daskparse.result import ParseResult
from daskparse.settings import Settings
from daskparse.sources import Source, expand_sources
from daskparse.storage import check_object_stores
from daskparse.tally import RunProgress, RunTally, gate_stats
from daskparse.worker_resources import WorkerResources
from daskparse.worker import extract_source, process_partition, process_source, stop_requested  # noqa: F401 - process_source: API

logger = logging.getLogger("daskparse")
# The line that says where the run's cluster and dashboard are, at INFO: the command line shows this logger at its
# default level (WARNING) too, as distributed shows its "dashboard at" line when a script starts a Client.
cluster_logger = logging.getLogger("daskparse.cluster")
LogCallback = Callable[[str, str], None]
ProgressCallback = Callable[[RunProgress], None]
QUOTA_REASON = "a per-day 429 from Gemini"  # stored when only fallback rows tell of it (they carry no message)
SUBMIT_BATCH = 500  # partitions given to the scheduler at a time (``Run._on_cluster``)
# closed when the run stops reading it (``Run.compute``): a generator, not any iterator
Stream = Generator[tuple[list[Source], "PartitionResult | None", "BaseException | None"], None, None]


class Reporter(Protocol):
    """The run's log (``_reporter``): a LogCallback that may also name its logger and add structured fields."""

    def __call__(self, message: str, level: str, to: logging.Logger = ..., **fields: Any) -> None: ...


def run(sources: Sequence[str] | str, settings: Settings, client: Client | None = None,
        log: LogCallback | None = None, progress: ProgressCallback | None = None,
        stop: threading.Event | None = None, reference_dates: Mapping[str, dt.date] | None = None) -> ParseResult:
    """Every source to a shows, no-shows or error outcome. ``progress(RunProgress)`` is called once the
    sources are known and after each partition (on this thread: a slow callback slows the run's bookkeeping).
    Once ``stop`` is set, no new partition starts; the result holds what was done. ``reference_dates``: the day
    each source was seen, which gives its dates printed without a year their year (others: the settings')."""
    # before anything: a script without the main guard would run all this again in each worker process
    main_guard.check(starts_processes=client is None and not settings.scheduler
                     and dask.config.get("distributed.worker.multiprocessing-method") != "fork")
    started = time.perf_counter()
    if isinstance(sources, str):
        sources = [sources]
    items, input_errors = expand_sources(sources, trust_lists=settings.allow_private_hosts)
    this = Run(settings, _reporter(log), RunBoard(progress), stop)
    for error in input_errors:
        this.report(_error_line(error), "WARNING")
    sources_in_order = [item.source for item in items]  # results come back in the order given
    urls_given = [item.cleaned_url for item in items]
    this.given_urls = set(urls_given)
    tally = this.tally = RunTally(len(items), settings, this.board, references=reference_dates,
                                  input_errors=input_errors)
    tally.notify()
    gemini = settings.extractor_name == "gemini"
    # an object-store output named in the settings, checked before any work (not at its save, after it); the
    # cache's index load probes the cache
    check_object_stores([(settings.output, "output")])
    this.cache = open_cache(settings) if items or gemini else None
    if gemini:  # every Gemini run (either mode) collects what earlier runs' batch jobs have answered, first
        items = this.collect_batches(items)
    items = this.answer_known_urls(items)
    online = gemini and settings.mode == "online"  # batch jobs do not count against the online daily quota
    if items and online:
        this.look_at_quota()
    if items and stop_requested(stop):
        this.not_reached, items = list(items), []
    if items:
        this.on_cluster(client, items)
    this.finish_batches()  # done already, unless no image went to the cluster: only earlier runs' jobs to wait for
    result = tally.result(input_errors, time.perf_counter() - started, this.board.link, order=sources_in_order)
    if this.gate_metrics is not None:
        result.stats["gate"] = gate_stats(this.gate_metrics)
    if this.fell_back:
        result.stats["clusterFallback"] = "; ".join(this.fell_back)
    if this.batch is not None:
        pending = this.batch.pending_urls()
        result.stats["batchPending"] = sum(1 for url in urls_given if url in pending)
        result.stats["batch"] = this.batch.stats(result.stats["batchPending"])
    if online:
        this.remember_quota()  # a per-day 429 this run met, for the next runs
    if this.quota is not None:
        result.stats["quotaResetsAt"] = this.quota.spent_until.isoformat()
    if stop_requested(stop):
        result.stats.update(stopped=True, notReached=len(this.not_reached))
    this.report(result.summary(), "INFO", stats=result.stats)
    return result


class Run:
    """What one run holds while its partitions come back: its settings, cache, tally and page, its stop flag, and
    what it has learnt (images not reached, why it fell back, the gate's figures). ``run`` drives it."""

    def __init__(self, settings: Settings, report: Reporter, board: RunBoard,
                 stop: threading.Event | None = None) -> None:
        self.settings, self.report, self.board, self.stop = settings, report, board, stop
        self.reference_date = settings.run_reference_date()
        self.run_id = uuid.uuid4().hex  # the workers' extractors are this run's own (``WorkerResources.extractor``)
        self.tally: RunTally | None = None
        self.cache: ResultCache | None = None
        self.not_reached: list[Source] = []
        self.fell_back: list[str] = []  # why the run went on in this process, if it did (stats["clusterFallback"])
        # the daily quota (daskparse.quota): as an earlier run stored it, or as this run met it (stats)
        self.quota: quota.QuotaState | None = None
        self.quota_closed: str | None = None  # why no call is made from the start: the quota stored as spent
        self.quota_hit: tuple[dt.datetime, str] | None = None  # when this run met a per-day 429 first, and why
        self.gate_metrics: dict | None = None
        self.noted: set[str] = set()  # what was said once per run (the daily quota)
        self.batch: BatchSession | None = None  # a Gemini run's batch jobs (daskparse.batch)
        self.given_urls: set[str] = set()  # the cleaned URLs of the sources given (the tally's total counts them)
        self.batches_finished = False

    def collect_batches(self, items: list[Source]) -> list[Source]:
        """Answers of earlier runs' batch jobs that have ended, to the tally (and the cache); returns ``items``
        less those answered and those still in a pending job (never sent twice: ``stats["batchPending"]``)."""
        settings = self.settings
        self.batch = open_batches(settings, self.cache)
        try:
            earlier = self.batch.collect_earlier()
        except Exception as error:  # noqa: BLE001 - the API or the ledger unreachable: what is pending stays so
            self.report(f"could not look at earlier Gemini batch jobs: {type(error).__name__}: {error}", "WARNING")
            return [item for item in items if item.cleaned_url not in self.batch.pending_urls()]
        answered = {outcome.cleaned_url for outcome in earlier.outcomes}
        if earlier.outcomes:
            self.report(f"{len(earlier.outcomes)} images answered by {len(earlier.finished)} earlier Gemini batch "
                        "jobs", "INFO")
        remaining = [item for item in items if item.cleaned_url not in answered]
        pending = {item.cleaned_url for item in remaining if item.cleaned_url in earlier.pending_urls}
        assert self.tally is not None
        if pending and settings.mode == "batch" and settings.wait:  # this run waits for those jobs too
            self.batch.join([record for record in earlier.pending_jobs if record.urls() & pending])
            self.report(f"{len(pending)} images are in Gemini batch jobs of earlier runs: waiting for those",
                        "INFO")
        elif pending:  # not this run's to wait for: counted in stats["batchPending"]
            self.tally.total -= sum(1 for item in remaining if item.cleaned_url in pending)
            self.report(f"{len(pending)} images are in Gemini batch jobs still pending: not sent again", "INFO")
        self._add_outcomes(earlier.outcomes, collected=True)
        return [item for item in remaining if item.cleaned_url not in earlier.pending_urls]

    def finish_batches(self) -> None:
        """Batch mode, after the last partition: the last job sent; the run's jobs waited for (unless --no-wait or
        stopping) with their states on the progress bar and the page, their answers to the tally."""
        batch, tally, settings = self.batch, self.tally, self.settings
        if batch is None or settings.mode != "batch" or self.batches_finished:
            return
        self.batches_finished = True
        assert tally is not None
        self._add_outcomes(batch.flush())
        if batch.jobs:
            self.report(f"{batch.requests} images sent in {len(batch.jobs)} Gemini batch jobs "
                        f"({', '.join(str(job.job) for job in batch.jobs)})", "INFO")
        if not settings.wait or stop_requested(self.stop) or not (batch.jobs or batch.attached or batch.joined
                                                                     or batch.deferred):
            self._add_outcomes(batch.unsent())
            return

        def show(states: dict[str, str]) -> None:
            tally.batch_jobs = states
            tally.notify()

        collected = batch.wait(poll=settings.batch_poll, stop=self.stop, on_states=show)
        own = batch.own_urls()  # the rest answered earlier runs' jobs, which those runs paid for
        self._add_outcomes([outcome for outcome in collected.outcomes if outcome.cleaned_url in own] + batch.unsent())
        self._add_outcomes([outcome for outcome in collected.outcomes if outcome.cleaned_url not in own],
                           collected=True)
        tally.batch_jobs = {}
        tally.notify()

    def _add_outcomes(self, outcomes: list[Outcome], collected: bool = False) -> None:
        """Outcomes made on the client (batch answers, refused requests) to the tally; answers for sources this run
        was not given (a batch job of an earlier run holds other images too) are its rows as well. ``collected``:
        answers of earlier runs' jobs (``Tally.add``)."""
        if outcomes:
            assert self.tally is not None
            self.tally.total += sum(1 for outcome in outcomes if outcome.cleaned_url not in self.given_urls)
            _report_partition(outcomes, self.settings, self.report, self.noted)
            self.tally.add(outcomes, collected)

    def answer_known_urls(self, items: list[Source]) -> list[Source]:
        """The cache's level 1, before anything is sent out (a run of known URLs needs no cluster at all): the
        items it answers go to the tally; the others are returned."""
        if self.cache is None:
            return items
        hits = self.cache.lookup_urls([item.cleaned_url for item in items])
        answered = [hit.outcome(item.source, item.cleaned_url) for item, hit in zip(items, hits) if hit is not None]
        if answered:
            self.report(f"{len(answered)} images answered from the cache at {self.settings.cache}", "INFO")
            _report_partition(answered, self.settings, self.report, set())  # a cached error is still worth a warning
            assert self.tally is not None  # ``run`` made it before asking the cache
            self.tally.add(answered)
        return [item for item, hit in zip(items, hits) if hit is None]

    def on_cluster(self, client: Client | None, items: list[Source]) -> None:
        """``items`` on the run's cluster; what a lost cluster left, in this process (unless that is off)."""
        settings = self.settings
        with cluster_client(settings, client, self.report, self.fell_back, self.stop) as active:
            lost = self.compute(active, items)
        if lost and stop_requested(self.stop):  # no fallback for a run that is stopping: the next run does them
            self.not_reached.extend(lost[0])
            lost = None
        if lost and not settings.cluster_fallback:  # what was finished is in the cache: the next run skips it
            raise RunError(f"the cluster was lost mid-run ({lost[1]}) with {len(lost[0])} images not done; "
                           "the cluster fallback is off, so they did not run in this process")
        if lost:  # the cluster went away mid-run: what it finished is kept, the rest runs here
            self.fell_back.append("the cluster was lost mid-run")
            with fallback_client(settings, self.report, f"the cluster was lost mid-run ({lost[1]}) with "
                                                        f"{len(lost[0])} images not done") as active:
                lost_again = self.compute(active, lost[0])
            if lost_again:
                raise RunError(f"the cluster was lost mid-run and so was the in-process fallback: {lost_again[1]}")
        if self.cache is not None:  # a Gemini run writes a file per image: merge them before they slow the next run
            compaction = self.cache.compact_if_needed()
            if compaction.get("filesMerged") or compaction.get("error"):
                self.report(f"cache compacted: {compaction}", "INFO")

    def compute(self, active: Client | None, items: Sequence[Source]) -> tuple[list[Source], str] | None:
        """Run ``items`` on ``active`` (None: a thread pool here), adding their outcomes to the tally (and, through
        the board, to the cluster's dashboard page).

        Returns the items not done because the cluster was lost, with why (None if it was not); keeps the gate's
        metrics. A partition whose workers kept dying (distributed's ``allowed-failures``) ends as error rows.
        Once ``stop`` is set, the items of partitions not started are added to ``not_reached``.
        """
        settings, report = self.settings, self.report
        threads = (sum(active.nthreads().values()) if active is not None else 0) or settings.total_threads
        # A few images per task: a Gemini partition's calls overlap in its worker's call pool (daskparse.worker),
        # so a task's images need not each hold a thread through their ~1.5 s on the network
        size = partition_size(len(items), threads, settings.partitions_per_thread)
        chunks = [list(items[i:i + size]) for i in range(0, len(items), size)]
        dashboard = self.board.attach(active) if active is not None else None
        # shown by the command line at its default level: where the run's dashboard is, as soon as its cluster is up
        report(f"{len(items)} image{'s' * (len(items) != 1)} in {len(chunks)} partition{'s' * (len(chunks) != 1)} "
               f"on {threads} threads" + (f"; dashboard {dashboard}" if dashboard else ""), "INFO", to=cluster_logger)
        gate = None
        if active is not None and settings.extractor_name == "gemini" and settings.mode == "online":
            gate = RateGate.install(active, **dataclasses.asdict(settings.gate_limits()))
            # a new run reopens a gate a spent quota closed, and starts its budget: from nothing, or on the
            # cluster it falls back to, from what it spent on the one it lost
            gate.configure(reopen=True, spent=self.spent())
        closed = self.closed_reason() if settings.extractor_name == "gemini" and settings.mode == "online" else None
        if closed is not None:  # no call this run: the extractors' gate, the cluster's or this process's, says why
            if gate is not None:
                gate.close(closed)
            elif active is None:
                self._close_process_gate(closed)
        lost: list[Source] = []
        why = ""
        with _stop_flag(active, self.stop) as flag:
            stream = (self._on_cluster(active, chunks, flag) if active is not None
                      else self._in_threads(chunks, threads, flag))
            # closing cancels what is left (a fault of the run stops every partition), then ends the run on the page
            with contextlib.closing(self.board), contextlib.closing(stream):
                for done, (chunk, partition, error) in enumerate(stream, 1):
                    if isinstance(error, _ClusterLost):
                        lost.extend(chunk)
                        why = why or str(error)
                        continue
                    if isinstance(error, KilledWorker):  # nothing is lost: each image of it is an error row
                        partition = PartitionResult([_worker_died(source, error) for source in chunk])
                    elif error is not None:
                        raise error
                    assert partition is not None  # a partition that ended without an error has its result
                    if partition.not_reached:
                        self.not_reached.extend(chunk)
                        continue
                    if partition.fatal is not None:
                        raise RunError(partition.fatal)
                    _report_partition(partition.outcomes, settings, report, self.noted)
                    self.note_quota(partition.outcomes)
                    assert self.tally is not None  # ``run`` made it before any partition
                    self.tally.add(partition.outcomes)
                    if partition.prepared and self.batch is not None:  # batch mode: sent as jobs fill
                        self._add_outcomes(self.batch.add(partition.prepared))
                    report(f"partition {done}/{len(chunks)} done", "DEBUG")
                if not lost:  # inside the board's block: the page shows the jobs' states while the run waits
                    self.finish_batches()
        if gate is not None and not lost:
            self.gate_metrics = gate.metrics()
        return (lost, why) if lost else None

    def look_at_quota(self) -> None:
        """A Gemini run's start: if an earlier run stored the day's quota as spent, this run makes no call (its
        gate is closed from the start: the images go to the fallback, or are ``gemini.quota_exhausted`` rows,
        never cached) with one ERROR line; with ``quota_wait`` it waits for the reset (or ``stop``) instead."""
        settings = self.settings
        state = quota.read(settings.cache, settings.model_name)
        if state is None:
            return
        if settings.quota_wait:
            self.report(f"Gemini's daily quota is used up (an earlier run met it at {state.seen:%Y-%m-%d %H:%M} UTC):"
                        f" waiting until it resets at {state.resets()}", "WARNING")
            seconds = (state.spent_until - quota.utc_now()).total_seconds()
            (self.stop or threading.Event()).wait(max(0.0, seconds))  # a stop ends the wait: the run then stops
            return
        self.quota = state
        self.quota_closed = (f"Gemini's daily request quota is used up until {state.resets()}; no Gemini calls "
                             "this run")
        self.noted.add("quota")  # this line says it: the partitions' rows need not say it again
        self.report(f"Gemini's daily quota is used up until it resets at {state.resets()} (an earlier run met it at "
                    f"{state.seen:%Y-%m-%d %H:%M} UTC): no call is made and the images not in the cache "
                    f"{_kept_from_gemini(settings)}", "ERROR")

    def note_quota(self, outcomes: list[Outcome]) -> None:
        """The first per-day 429 this run met (an image the daily quota kept from Gemini), to be stored at the end.
        Taken from the outcomes, not the gate: a run without a cluster has no gate metrics."""
        if self.quota_closed is not None or self.quota_hit is not None:
            return
        for outcome in outcomes:
            error = outcome.error
            if (error.kind if error is not None else outcome.fallback) == "gemini.quota_exhausted":
                self.quota_hit = (quota.utc_now(), error.message if error is not None else QUOTA_REASON)
                return

    def remember_quota(self) -> None:
        """The end of an online Gemini run: a per-day 429 it met is stored beside the cache, for the next runs."""
        if self.quota_hit is None:
            return
        seen, reason = self.quota_hit
        try:
            self.quota = quota.record(self.settings.cache, self.settings.model_name, reason, seen)
        except Exception as error:  # noqa: BLE001 - the run's results matter more; the next run meets the 429 again
            self.report(f"could not store that Gemini's daily quota is used up: {type(error).__name__}: {error}",
                        "WARNING")
            return
        self.report(f"Gemini's daily quota resets at {self.quota.resets()}: until then, runs on this cache make no "
                    "call", "INFO")

    def closed_reason(self) -> str | None:
        """Why this run's gate is closed from the start: a quota stored as spent, or met on a cluster it lost."""
        if self.quota_closed is not None:
            return self.quota_closed
        return self.quota_hit[1] if self.quota_hit is not None else None

    def _close_process_gate(self, reason: str) -> None:
        """Close the gate of this run's extractor in this process (a run without a cluster: ``_in_threads``'s
        partitions use it, through the same ``WorkerResources`` key)."""
        extractor = WorkerResources.here().extractor(self.settings, self.reference_date, self.run_id)
        gate = getattr(extractor, "gate", None)
        if gate is not None:
            gate.close(reason)

    def spent(self) -> float:
        """USD this run's own Gemini calls cost so far, as they reported it (0 before any): ``Tally.spent``."""
        return self.tally.spent() if self.tally is not None else 0.0

    def _task_arguments(self, cache, flag) -> tuple:
        """What every partition task is given after its sources (``worker.process_partition``)."""
        return self.settings, self.reference_date, cache, flag, self.run_id

    def _on_cluster(self, active: Client, chunks: list[list[Source]], flag=None) -> Stream:
        """Each chunk's (chunk, outcomes, None) or (chunk, None, error) as its task ends on the cluster.

        A result is let go of once received: a future still held would have the scheduler run its task again
        when the worker holding the result dies, sending images that were done (and stored) to Gemini twice.
        Partitions reach the scheduler ``SUBMIT_BATCH`` at a time, the next batch as soon as fewer than a batch
        are left in flight: a whole run's graph at once grew this process (the scheduler's) with the run's size
        (BENCHMARKS.md, stress). Once ``stop`` is set, the batches not sent yet are not reached; those sent see
        ``flag`` and do nothing unless already running.
        """
        cache = self.cache
        shared_cache = dask.delayed(cache, pure=True) if cache is not None else None  # once in each batch's graph
        arguments = self._task_arguments(shared_cache, flag)
        pending: dict = {}

        def submit(start: int) -> list:
            batch = chunks[start:start + SUBMIT_BATCH]
            bag = db.from_sequence([s for chunk in batch for s in chunk], partition_size=len(batch[0])).map_partitions(
                process_partition, *arguments)
            futures = active.compute(bag.to_delayed())  # from_sequence cuts items as ``chunks`` does
            pending.update(zip(futures, batch))
            return futures

        queue = as_completed(submit(0), with_results=True, raise_errors=False)
        submitted = min(SUBMIT_BATCH, len(chunks))
        try:
            for future, result in queue:
                chunk = pending.pop(future)
                status = future.status
                del future  # the last reference: the scheduler forgets the result
                if submitted < len(chunks) and stop_requested(self.stop):
                    for rest in chunks[submitted:]:
                        yield rest, PartitionResult(not_reached=True), None
                    submitted = len(chunks)
                if len(pending) < SUBMIT_BATCH and submitted < len(chunks):
                    try:
                        queue.update(submit(submitted))
                    except Exception as error:  # noqa: BLE001 - the cluster went away: what is not sent yet is lost
                        for rest in chunks[submitted:]:
                            yield rest, None, _ClusterLost(f"{type(error).__name__}: {error}".rstrip(": "))
                        submitted = len(chunks)
                    else:
                        submitted = min(submitted + SUBMIT_BATCH, len(chunks))
                if status == "finished":
                    yield chunk, result, None
                elif status == "cancelled":
                    yield chunk, None, _ClusterLost(f"{type(result).__name__}: {result}".rstrip(": "))
                else:
                    yield chunk, None, result[1]
        finally:
            if pending:
                active.cancel(list(pending))

    def _in_threads(self, chunks: list[list[Source]], threads: int, flag=None) -> Stream:
        """``_on_cluster`` without Dask: the last fallback, a thread pool in this process."""
        arguments = self._task_arguments(self.cache, flag)
        with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="daskparse") as pool:
            pending = {pool.submit(process_partition, chunk, *arguments): chunk for chunk in chunks}
            try:
                for future in concurrent.futures.as_completed(list(pending)):
                    chunk = pending.pop(future)
                    error = future.exception()
                    yield chunk, None if error else future.result(), error
            finally:
                for future in pending:
                    future.cancel()


def open_cache(settings: Settings) -> ResultCache | None:
    """This run's view of the result cache (None when turned off); raises CacheError if it cannot be used."""
    if not settings.use_cache:
        return None
    cache = settings.cache_options()
    return ResultCache(cache.url, variant=result_variant(settings), ttl=cache.ttl, error_ttl=cache.error_ttl,
                       phash_distance=cache.phash_distance, extractor=settings.extractor_name).load_index()


def open_batches(settings: Settings, cache: ResultCache | None) -> BatchSession:
    """The run's batch session: its ledger beside the cache (even with the cache off: the jobs are the same), and
    the spend cap over its jobs' requests."""
    options = settings.gemini_options()
    budget = None
    prices = settings.prices()
    if settings.max_cost is not None and prices is not None:  # a cap without a price is a settings error
        estimate = image_token_estimate(options.model, options.media_resolution)
        budget = BatchBudget(settings.max_cost, lambda jpeg: prices.most(
            estimate_input_tokens(jpeg, estimate), options.max_output_tokens, batch=True))
    return BatchSession(BatchApi(options, inline_bytes=settings.batch_inline_bytes),
                        BatchLedger(settings.cache, result_variant(settings), settings.lock_lease), cache,
                        model=settings.model_name, job_bytes=settings.batch_job_bytes, budget=budget,
                        refused=lambda items: _over_budget(items, settings, budget))


def _over_budget(items: list[Prepared], settings: Settings, budget: BatchBudget | None) -> list[Outcome]:
    """Batch images the spend cap kept from Gemini: read by the local extractor here (``--fallback local``), or
    ``gemini.budget_reached`` rows."""
    assert budget is not None  # only a budget refuses
    error = BudgetReached(budget.max_cost, budget.reserved)
    if settings.fallback == "local":
        reader = LocalExtractor(reference_date=settings.run_reference_date())
        outcomes = [extract_source(item, reader) for item in items]
        for outcome in outcomes:
            outcome.fallback = error.kind
    else:
        outcomes = [item.outcome for item in items]
        for outcome in outcomes:
            outcome.error = ErrorRecord.from_error(outcome.source, outcome.cleaned_url, error)
    for outcome in outcomes:
        outcome.thumbnail = None
    return outcomes


def result_variant(settings: Settings) -> str:
    """What a result depends on (model, prompt, optimizer...), as the cache's variant folder."""
    optimize = settings.optimize_options()
    return cache_variant(**result_key(settings), optimizer=OPTIMIZER_VERSION, quality=optimize.quality,
                         max_size=optimize.max_size)


def partition_size(count: int, threads: int, partitions_per_thread: int) -> int:
    """Items per partition: enough partitions to keep every thread busy to the end of the run."""
    return max(1, math.ceil(count / (threads * partitions_per_thread)))


@contextlib.contextmanager
def _stop_flag(active: Client | None, stop: threading.Event | None) -> Iterator:
    """What a partition looks at before it starts (``process_partition``): ``stop`` itself in this process; on a
    cluster, a Dask ``Event`` (tasks cannot see this process's memory), set by a small thread once ``stop`` is."""
    if stop is None or active is None:
        yield stop
        return
    flag = Event(f"daskparse-stop-{uuid.uuid4().hex}", client=active)
    finished = threading.Event()

    def relay() -> None:
        while not finished.is_set():
            if stop.wait(0.1):
                with contextlib.suppress(Exception):  # the cluster is gone: its partitions start no more anyway
                    flag.set()
                return

    thread = threading.Thread(target=relay, name="daskparse-stop", daemon=True)
    thread.start()
    try:
        yield flag
    finally:
        finished.set()
        thread.join()
        with contextlib.suppress(Exception):  # the scheduler may be gone; otherwise this frees its entry
            flag.clear()


class _ClusterLost(Exception):
    """A partition's future was cancelled by no one in this run: the client lost its scheduler."""


def _worker_died(source: Source, error: BaseException) -> Outcome:
    allowed = dask.config.get("distributed.scheduler.allowed-failures")
    message = f"the worker running this image died {allowed + 1} times; it was not retried again ({error})"
    return Outcome(source.source, source.cleaned_url, error=ErrorRecord(
        source.source, source.cleaned_url, "run", "run.worker_died", message[:500], transient=True))


def _report_partition(outcomes: list[Outcome], settings: Settings, report: LogCallback, noted: set[str]) -> None:
    """Each failed image as a warning; the end of Gemini's daily quota, and the spend cap reached, once per run."""
    for outcome in outcomes:
        error = outcome.error
        if error is not None:
            report(_error_line(error), "WARNING")
        # what kept the image from Gemini: its error, or what sent it to the fallback extractor
        reason = error.kind if error is not None else outcome.fallback
        said = {"gemini.quota_exhausted": "quota", "gemini.budget_reached": "budget"}.get(reason or "")
        if said is None or said in noted:
            continue
        noted.add(said)
        rest = _kept_from_gemini(settings)
        if said == "quota":
            report(f"Gemini's daily quota is used up: the remaining images {rest}", "ERROR")
        else:
            report(f"the spend cap of {usd(settings.max_cost or 0.0)} is reached: the remaining images {rest}",
                   "ERROR")


def _kept_from_gemini(settings: Settings) -> str:
    """What becomes of the images Gemini cannot read this run, as the end of a sentence."""
    return ("go to the local extractor" if settings.fallback == "local"
            else "are not sent (use --fallback local to read them with the local extractor)")


def _error_line(error: ErrorRecord) -> str:
    """An error row as a log line, its escapes written out (``\\x1b``): a source is whatever was typed, listed or
    named a file ("\\x1b[31mred.jpg"), and the line reaches the user's terminal and ``log`` callback, which
    may print it as it is. Written out rather than dropped, as the command line's error table shows it."""
    return visible(f"{error.source}: {error.kind}: {error.message}")


def _reporter(log: LogCallback | None) -> Reporter:
    def report(message: str, level: str, to: logging.Logger = logger, **fields: Any) -> None:
        # fields: structured extras (in JSON log lines)
        to.log(logging.getLevelName(level), message, extra=fields or None)
        if log is not None:
            log(message, level)

    return report
