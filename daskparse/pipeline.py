"""The Dask wiring: sources → bag → per-partition stages → ParseResult. The only module that knows Dask.

Each partition runs its sources one after another through fetch → optimize → extract; a cluster's
threads run partitions side by side. Partitions are small (about ``partitions_per_thread`` per thread)
so that one slow image does not leave the other threads idle at the end of a run.
A per-source failure is a value (an error outcome); only faults of the run itself raise.
A run given a ``stop`` event (``threading.Event``) stops starting partitions once it is set: those running
finish and are kept (and stored in the cache), the rest are counted in ``stats["notReached"]``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import logging
import math
import os
import signal
import tempfile
import threading
import time
import uuid
import warnings
from multiprocessing import resource_tracker
from typing import Callable, Iterator, Mapping, Sequence

import dask
import dask.bag as db
from distributed import Client, Event, LocalCluster, Nanny, as_completed
from distributed.scheduler import KilledWorker

from daskparse import main_guard
from daskparse.cache import ResultCache, cache_variant
from daskparse.console import logging_config, visible
from daskparse.dashboard import RunBoard
from daskparse.errors import ErrorRecord, RunError, SourceError
from daskparse.extract import Extraction, Extractor, build_extractor, result_key
from daskparse.extract.gemini import GeminiConfigError
from daskparse.fetch import FetchLimits, fetch_bytes
from daskparse.gate import RateGate
from daskparse.optimize import OPTIMIZER_VERSION, optimize_image
from daskparse.result import ParseResult
from daskparse.settings import Settings
from daskparse.sources import Source, expand_sources
from daskparse.tally import RunProgress, RunTally, gate_stats

logger = logging.getLogger("daskparse")
# The line that says where the run's cluster and dashboard are, at INFO: the command line shows this logger at its
# default level (WARNING) too, as distributed shows its "dashboard at" line when a script starts a Client.
cluster_logger = logging.getLogger("daskparse.cluster")
LogCallback = Callable[[str, str], None]
ProgressCallback = Callable[[RunProgress], None]
SUBMIT_BATCH = 500  # partitions given to the scheduler at a time (``_on_cluster``)

# One extractor per run in each worker process, shared by its threads (the OCR models it uses load once per
# process, daskparse.extract.local). The last few are kept: runs on one cluster come one after another.
_extractors: collections.OrderedDict[tuple, Extractor] = collections.OrderedDict()
_extractors_lock = threading.Lock()
_EXTRACTORS_KEPT = 8


def extractor_for(settings: Settings, reference_date: dt.date, run_id: str = "") -> Extractor:
    """This run's extractor in this process. Keyed by the run, so what one run's extractor met (a refused key)
    stays with it, and by a digest of the API key, which the settings' JSON masks: on one cluster, a run with
    key A then one with key B was served A's extractor."""
    gate = _worker_gate(settings)
    # keyed by worker too: in-process workers (the fallback) come and go in one process, each with its own gate
    key = (settings.model_dump_json(), _key_digest(settings), reference_date, getattr(gate, "worker", None), run_id)
    with _extractors_lock:
        if key not in _extractors:
            _extractors[key] = build_extractor(settings, reference_date, gate=gate)
            while len(_extractors) > _EXTRACTORS_KEPT:
                _extractors.popitem(last=False)
        _extractors.move_to_end(key)
        return _extractors[key]


def _key_digest(settings: Settings) -> str:
    """A hash of the API key (never the key itself) to tell extractors apart by."""
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key is not None else ""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


def _worker_gate(settings: Settings) -> RateGate | None:
    """The cluster's rate gate when running in a worker; None elsewhere (the extractor then paces its process)."""
    if settings.extractor_name != "gemini":
        return None
    try:
        return RateGate.on_worker()
    except ValueError:  # not inside a worker
        return None


def process_source(source: Source, settings: Settings, extractor: Extractor, cache: ResultCache | None = None) -> dict:
    """One source through every stage; always returns an outcome dict, never raises for the source's sake.

    With a cache, the bytes' SHA-256 (after fetch) and the look-alike check (after optimize) may answer
    before the extractor is called; the URL level was asked on the client already (``run``).
    """
    outcome = {"source": source.source, "cleaned_url": source.cleaned_url, "shows": [], "error": None, "seconds": {}}
    stage = "fetch"
    try:
        started = time.perf_counter()
        data = fetch_bytes(source, _limits(settings))
        sha256 = hashlib.sha256(data).hexdigest()
        stage, mark = "optimize", time.perf_counter()
        outcome["seconds"]["fetch"] = mark - started
        hit = cache.lookup_sha256(sha256) if cache is not None else None
        if hit is not None:
            return _served(hit, source, sha256, time.perf_counter() - mark, outcome["seconds"])
        outcome["image_sha256"] = sha256
        mark = time.perf_counter()
        image = optimize_image(data, max_size=(settings.max_long_side, settings.max_short_side), quality=settings.jpeg_quality)
        del data
        stage, started = "extract", time.perf_counter()
        outcome["seconds"]["optimize"] = started - mark
        if cache is not None:
            hit = cache.lookup_phash(image.phash, image.jpeg)
            if hit is not None:
                served = _served(hit, source, sha256, time.perf_counter() - started, outcome["seconds"])
                # stored as an alias: its URL and bytes are direct hits next time, its look a candidate
                served["phash"], served["thumbnail"] = image.phash, image.thumbnail
                return served
            outcome["phash"], outcome["thumbnail"] = image.phash, image.thumbnail
            started = time.perf_counter()
        extraction: Extraction = extractor.extract(image.jpeg)  # GeminiConfigError passes: it ends the run
        outcome["seconds"]["extract"] = time.perf_counter() - started
        outcome["usage"], outcome["extractor"] = extraction.usage, extraction.extractor
        outcome["shows"] = [
            {**show.model_dump(), "source": source.source, "cleaned_url": source.cleaned_url,
             "image_sha256": outcome["image_sha256"], "extractor": extraction.extractor}
            for show in extraction.shows
        ]
    except SourceError as error:
        outcome["error"] = {**ErrorRecord.from_error(source.source, source.cleaned_url, error).__dict__,
                            "transient": error.transient}
        outcome["usage"] = getattr(error, "usage", None) or outcome.get("usage", {})
    except GeminiConfigError:
        raise
    except Exception as error:  # a bug in a stage: this source fails loudly, the others go on
        logger.exception("unexpected failure in %s for %s", stage, visible(source.source))
        outcome["error"] = {**ErrorRecord(source.source, source.cleaned_url, stage, f"{stage}.unexpected",
                                          f"{type(error).__name__}: {error}"[:500]).__dict__, "transient": True}
    return outcome


def _served(hit, source: Source, sha256: str, seconds: float, timings: dict) -> dict:
    """A cache hit dressed as this source's outcome, keeping the time spent getting there."""
    served = hit.outcome(source.source, source.cleaned_url, sha256)
    served["seconds"] = {**timings, "cache": seconds}
    return served


def process_partition(sources: Sequence[Source], settings: Settings, reference_date: dt.date,
                      cache: ResultCache | None = None, stop=None,  # stop: anything with is_set()
                      run_id: str = "") -> list[dict]:
    """Outcomes of a partition's sources; on a fault of the whole run, the outcomes so far and a ``fatal`` marker.

    With a cache, the partition's outcomes are written to it as one file before they are returned, so a
    run killed later loses none of them. The marker (rather than an exception) stops the run without a
    traceback in every worker's log. A partition that finds ``stop`` set (``_stop_flag``) does nothing and
    says so with a ``not_reached`` marker: the run is stopping, the next run does its sources.
    """
    if _stop_requested(stop):
        return [{"not_reached": True}]
    if cache is not None:
        recovered = _stored_earlier(sources, cache)
        if recovered is not None:
            return recovered
    outcomes = []
    try:
        extractor = extractor_for(settings, reference_date, run_id)
        for source in sources:
            outcomes.append(process_source(source, settings, extractor, cache))
    except GeminiConfigError as error:  # every image would fail the same way
        outcomes.append({"fatal": str(error)})
    if cache is not None:
        cache.store_partition(outcomes)  # takes the thumbnails out: they are for the cache only
    return outcomes


def _stop_requested(stop) -> bool:
    """Whether the run was asked to stop (``stop``: a ``threading.Event``, or on a worker the run's Dask
    ``Event``); a flag that cannot be read (its scheduler going away) asks nothing: work goes on as without one."""
    try:
        return stop is not None and bool(stop.is_set())
    except Exception:  # noqa: BLE001
        logger.debug("the stop flag could not be read", exc_info=True)
        return False


def _stored_earlier(sources: Sequence[Source], cache: ResultCache) -> list[dict] | None:
    """This partition's outcomes if a run of it already stored them (the task runs again because its worker
    died after storing, before its result reached the client): they are not computed, nor paid for, twice.

    Served as computed (no ``cache`` level): this run made those calls, so its usage counts them once.
    """
    hits = cache.lookup_stored([source.cleaned_url for source in sources])
    if hits is None:
        return None
    outcomes = []
    for source, hit in zip(sources, hits):
        outcome = hit.outcome(source.source, source.cleaned_url)
        del outcome["cache"]
        outcome["usage"] = hit.usage
        outcomes.append(outcome)
    logger.info("%d images of a partition run again were already stored: not computed again", len(outcomes))
    return outcomes


def open_cache(settings: Settings) -> ResultCache | None:
    """This run's view of the result cache (None when turned off); raises CacheError if it cannot be used."""
    if not settings.use_cache:
        return None
    variant = cache_variant(**result_key(settings), optimizer=OPTIMIZER_VERSION, quality=settings.jpeg_quality,
                            max_size=(settings.max_long_side, settings.max_short_side))
    return ResultCache(settings.cache, variant=variant, ttl=settings.cache_ttl, error_ttl=settings.cache_error_ttl,
                       phash_distance=settings.cache_phash_distance, extractor=settings.extractor_name).load_index()


def _limits(settings: Settings) -> FetchLimits:
    return FetchLimits(settings.connect_timeout, settings.read_timeout, settings.max_download_bytes, settings.max_redirects,
                       settings.allow_private_hosts)


@contextlib.contextmanager
def cluster_client(settings: Settings, client: Client | None = None, log: LogCallback | None = None,
                   fell_back: list[str] | None = None, stop: threading.Event | None = None) -> Iterator[Client | None]:
    """The given client, a client of ``settings.scheduler``, or a new LocalCluster closed afterwards.

    When the scheduler cannot be reached or the LocalCluster cannot start, the run goes on in this process
    (``fallback_client``) with a WARNING naming the cause, which is also added to ``fell_back``: the results are
    the same, only slower. Not with ``settings.cluster_fallback`` off: then RunError (exit 3 on the command line).
    Nor for a run that was asked to ``stop`` meanwhile (Ctrl-C during start-up): None, the run starts nothing.
    """
    if client is not None:
        yield client
        return
    report = log or _reporter(None)
    with contextlib.ExitStack() as stack:
        try:
            own = stack.enter_context(_own_client(settings))
        except Exception as error:  # noqa: BLE001 - whatever stops the cluster, the images can still be read
            reason = (f"the scheduler at {settings.scheduler} could not be reached" if settings.scheduler
                      else "a LocalCluster could not start")
            detail = f"{type(error).__name__}: {error}".rstrip(": ")
            if _stop_requested(stop):
                own = None
            elif not settings.cluster_fallback:
                raise RunError(f"{reason} ({detail}); the cluster fallback is off, so nothing ran in this process"
                               ) from None
            else:
                if fell_back is not None:
                    fell_back.append(reason)
                own = stack.enter_context(fallback_client(settings, report, f"{reason} ({detail})"))
        yield own


@contextlib.contextmanager
def _own_client(settings: Settings) -> Iterator[Client]:
    if settings.scheduler:
        with Client(settings.scheduler, timeout=settings.scheduler_timeout) as own:
            yield own
        return
    with _cluster_config(settings), _local_cluster(settings) as cluster, Client(cluster) as own:
        yield own


def _local_cluster(settings: Settings) -> LocalCluster:
    """The run's LocalCluster: ``settings.worker_threads`` threads in each worker process (``SplitNanny``).

    Started with SIGINT blocked in this thread: the threads it starts inherit that, and so do the worker processes
    they spawn, which then never see a Ctrl-C meant for the run (sent to the whole process group), not even
    while they start, before ``dask_setup`` can tell them to ignore it: it ended in their tracebacks and a
    "Nanny failed to start". This thread takes a Ctrl-C pressed meanwhile once the cluster is up (~1 s), as the
    first Ctrl-C of a run: the run then starts nothing (``run``'s ``stop``).
    """
    split = settings.worker_threads
    held = hasattr(signal, "pthread_sigmask")
    if held:
        # multiprocessing unblocks SIGINT in the thread that first starts a process (its resource tracker's
        # start-up, resource_tracker.ensure_running), which would be the cluster's IO loop: start it here first
        resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if held else None
    try:
        with warnings.catch_warnings():
            # "Port 8787 is already in use. Perhaps you already have a cluster running? Hosting the HTTP server on
            # port N instead", four lines on every run while another cluster has the port: the run says where its
            # dashboard is itself (``_compute``). A process-wide filter for the second the cluster takes to start;
            # it hides only this message, from any thread.
            warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
            return LocalCluster(
                n_workers=len(split),
                threads_per_worker=max(split),
                processes=True,
                worker_class=SplitNanny,
                worker_threads=split,
                dashboard_address=settings.dashboard_address,
                silence_logs=logging.ERROR,
                preload=[__name__],  # dask_setup below
            )
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class SplitNanny(Nanny):
    """A LocalCluster's worker with its share of the run's threads: ``worker_threads[name]`` (LocalCluster names
    its workers 0, 1, ...; it gives them all one ``threads_per_worker``, and 3 threads on 2 workers is 2 + 1)."""

    def __init__(self, *args, worker_threads: Sequence[int] = (), **kwargs):
        name = kwargs.get("name")
        if isinstance(name, int) and 0 <= name < len(worker_threads):
            kwargs["nthreads"] = worker_threads[name]
        super().__init__(*args, **kwargs)


def dask_setup(worker) -> None:
    """Worker preload of the LocalCluster a run starts: Ctrl-C at a terminal reaches the whole process group,
    and would kill the worker processes with their running partitions before the run could finish them.
    The run itself stops them (``stop``) and closes its cluster."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _cluster_config(settings: Settings) -> Iterator[None]:
    """Dask configuration for the clusters daskparse starts, to hold until the cluster is closed (the scheduler
    and nannies read it as they are created; nannies pass it on to their workers)."""
    # workers' scratch space (and its lock files) in a folder of the run's own, removed afterwards: a run
    # leaves nothing outside its output and cache
    with tempfile.TemporaryDirectory(prefix="daskparse-") as scratch, environ_restored(), dask.config.set({
        "temporary-directory": scratch,
        # worker processes log as this one does (text or JSON); read by distributed when a worker imports it
        "distributed.nanny.pre-spawn-environ.DASK_LOGGING": repr(logging_config(settings.log_level,
                                                                                settings.log_format)),
        # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in workers, which makes glibc hand every large image
        # buffer back to the kernel: measured 45-55 ms of kernel CPU more per image (bench/gemini_throughput).
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.admin.low-level-log-length": settings.debug_log_length,
    }):
        yield


@contextlib.contextmanager
def environ_restored() -> Iterator[None]:
    """Nannies write their pre-spawn environment into this process's (distributed's Nanny.start): undo it when
    the cluster is closed, so it does not reach the user's later processes."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)


@contextlib.contextmanager
def fallback_client(settings: Settings, report: LogCallback, reason: str) -> Iterator[Client | None]:
    """In-process single-worker execution, announced by one WARNING with ``reason``.

    First choice: a LocalCluster of one in-process worker over the in-process transport (no child processes;
    its dashboard on any free port of 127.0.0.1, so a taken one cannot stop it), so the rate gate still runs
    on its scheduler. If even that cannot
    start, None: ``run`` then uses a thread pool, and the Gemini extractor paces this one process itself
    (``ProcessGate``: concurrency and 429 pauses, no requests-per-minute pacing).
    """
    threads = settings.total_threads  # as many calls in flight as the cluster had
    # its dashboard listens on 127.0.0.1; distributed would name the machine's address in the link
    link = {"distributed.dashboard.link": "{scheme}://127.0.0.1:{port}/status"}
    with _cluster_config(settings), dask.config.set(link):
        try:
            cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                                   dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
        except Exception as error:  # noqa: BLE001
            report(f"{reason}; running in this process with {threads} threads and no cluster "
                   f"(an in-process cluster failed too: {type(error).__name__}: {error})", "WARNING")
            yield None
            return
        report(f"{reason}; running in this process on one worker with {threads} threads", "WARNING")
        with cluster, Client(cluster) as own:
            yield own


def partition_size(count: int, threads: int, partitions_per_thread: int) -> int:
    """Items per partition: enough partitions to keep every thread busy to the end of the run."""
    return max(1, math.ceil(count / (threads * partitions_per_thread)))


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
    report = _reporter(log)
    started = time.perf_counter()
    if isinstance(sources, str):
        sources = [sources]
    items, input_errors = expand_sources(sources, trust_lists=settings.allow_private_hosts)
    for error in input_errors:
        report(_error_line(error.__dict__), "WARNING")
    reference_date = settings.run_reference_date()
    run_id = uuid.uuid4().hex  # the workers' extractors are this run's own (``extractor_for``)
    sources_in_order = [item.source for item in items]  # results come back in the order given
    board = RunBoard(progress)  # the run's numbers on its scheduler's daskparse page, and your callback
    tally = RunTally(len(items), settings, board, references=reference_dates, input_errors=input_errors)
    tally.notify()
    gate_metrics = None
    cache = open_cache(settings) if items else None
    if cache is not None:  # level 1 before anything is sent out: a run of known URLs needs no cluster at all
        hits = cache.lookup_urls([item.cleaned_url for item in items])
        answered = [hit.outcome(item.source, item.cleaned_url) for item, hit in zip(items, hits) if hit is not None]
        items = [item for item, hit in zip(items, hits) if hit is None]
        if answered:
            report(f"{len(answered)} images answered from the cache at {settings.cache}", "INFO")
            _report_partition(answered, settings, report, set())  # a cached error is still worth a warning
            tally.add(answered)
    not_reached: list[Source] = []
    fell_back: list[str] = []  # why the run went on in this process, if it did (stats["clusterFallback"])
    if items and _stop_requested(stop):
        not_reached, items = list(items), []
    if items:
        noted: set[str] = set()
        with cluster_client(settings, client, report, fell_back, stop) as active:
            lost, gate_metrics = _compute(active, items, settings, reference_date, cache, tally, board, report,
                                          noted, stop, not_reached, run_id)
        if lost and _stop_requested(stop):  # no fallback for a run that is stopping: the next run does them
            not_reached.extend(lost[0])
            lost = None
        if lost and not settings.cluster_fallback:  # what was finished is in the cache: the next run skips it
            raise RunError(f"the cluster was lost mid-run ({lost[1]}) with {len(lost[0])} images not done; "
                           "the cluster fallback is off, so they did not run in this process")
        if lost:  # the cluster went away mid-run: what it finished is kept, the rest runs here
            fell_back.append("the cluster was lost mid-run")
            with fallback_client(settings, report, f"the cluster was lost mid-run ({lost[1]}) with "
                                                   f"{len(lost[0])} images not done") as active:
                lost_again, metrics = _compute(active, lost[0], settings, reference_date, cache, tally, board,
                                               report, noted, stop, not_reached, run_id)
                gate_metrics = metrics or gate_metrics
            if lost_again:
                raise RunError(f"the cluster was lost mid-run and so was the in-process fallback: {lost_again[1]}")
        if cache is not None:  # a Gemini run writes a file per image: merge them before they slow the next run
            compaction = cache.compact_if_needed()
            if compaction.get("filesMerged") or compaction.get("error"):
                report(f"cache compacted: {compaction}", "INFO")
    result = tally.result(input_errors, time.perf_counter() - started, board.link, order=sources_in_order)
    if gate_metrics is not None:
        result.stats["gate"] = gate_stats(gate_metrics)
    if fell_back:
        result.stats["clusterFallback"] = "; ".join(fell_back)
    if _stop_requested(stop):
        result.stats.update(stopped=True, notReached=len(not_reached))
    report(result.summary(), "INFO", stats=result.stats)
    return result


def _compute(active: Client | None, items: Sequence[Source], settings: Settings, reference_date: dt.date,
             cache: ResultCache | None, tally: RunTally, board: RunBoard, report: LogCallback, noted: set[str],
             stop: threading.Event | None = None, not_reached: list[Source] | None = None,
             run_id: str = "") -> tuple[tuple[list[Source], str] | None, dict | None]:
    """Run ``items`` on ``active`` (None: a thread pool here), adding their outcomes to ``tally`` (and, through
    ``board``, to the cluster's dashboard page).

    Returns the items not done because the cluster was lost (with why; None if it was not) and the gate's
    metrics. A partition whose workers kept dying (distributed's ``allowed-failures``) ends as error rows.
    Once ``stop`` is set, the items of partitions not started are added to ``not_reached``.
    """
    not_reached = [] if not_reached is None else not_reached
    threads = (sum(active.nthreads().values()) if active is not None else 0) or settings.total_threads
    # A Gemini call waits ~1.5 s on the network: one image per task keeps 20 calls in flight to the
    # end of the run (3 per partition cost 13% of makespan); OCR is CPU-bound, so fewer, larger tasks.
    size = 1 if settings.extractor_name == "gemini" else partition_size(
        len(items), threads, settings.partitions_per_thread)
    chunks = [list(items[i:i + size]) for i in range(0, len(items), size)]
    dashboard = board.attach(active) if active is not None else None
    # shown by the command line at its default level: where the run's dashboard is, as soon as its cluster is up
    report(f"{len(items)} image{'s' * (len(items) != 1)} in {len(chunks)} partition{'s' * (len(chunks) != 1)} "
           f"on {threads} threads" + (f"; dashboard {dashboard}" if dashboard else ""), "INFO", to=cluster_logger)
    gate = None
    if active is not None and settings.extractor_name == "gemini":  # a new run reopens a gate a spent quota closed
        gate = RateGate.install(active, **settings.gate_limits())
        gate.configure(reopen=True)
    lost: list[Source] = []
    why = None
    with _stop_flag(active, stop) as flag:
        stream = (_on_cluster(active, chunks, settings, reference_date, cache, flag, stop, run_id)
                  if active is not None else _in_threads(chunks, threads, settings, reference_date, cache, flag, run_id))
        # closing cancels what is left (a fault of the run stops every partition), then ends the run on the page
        with contextlib.closing(board), contextlib.closing(stream):
            for done, (chunk, partition, error) in enumerate(stream, 1):
                if isinstance(error, _ClusterLost):
                    lost.extend(chunk)
                    why = why or str(error)
                    continue
                if isinstance(error, KilledWorker):  # nothing is lost: each image of it is an error row
                    partition = [_worker_died(source, error) for source in chunk]
                elif error is not None:
                    raise error
                if partition and partition[0].get("not_reached"):
                    not_reached.extend(chunk)
                    continue
                fatal = [o["fatal"] for o in partition if "fatal" in o]
                if fatal:
                    raise RunError(fatal[0])
                _report_partition(partition, settings, report, noted)
                tally.add(partition)
                report(f"partition {done}/{len(chunks)} done", "DEBUG")
    gate_metrics = gate.metrics() if gate is not None and not lost else None
    return ((lost, why) if lost else None), gate_metrics


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


def _on_cluster(active: Client, chunks: list[list[Source]], settings: Settings, reference_date: dt.date,
                cache: ResultCache | None, flag=None, stop: threading.Event | None = None, run_id: str = "",
                ) -> Iterator[tuple[list[Source], list[dict] | None, BaseException | None]]:
    """Each chunk's (chunk, outcomes, None) or (chunk, None, error) as its task ends on the cluster.

    A result is let go of once received: a future still held would have the scheduler run its task again
    when the worker holding the result dies, sending images that were done (and stored) to Gemini twice.
    Partitions reach the scheduler ``SUBMIT_BATCH`` at a time, the next batch as soon as fewer than a batch
    are left in flight: a whole run's graph at once grew this process (the scheduler's) with the run's size,
    ~100 MB more while 5,000 one-image tasks were taken in (BENCHMARKS.md, stress). Once ``stop`` is set, the
    batches not sent yet are not reached; those sent see ``flag`` and do nothing unless already running.
    """
    shared_cache = dask.delayed(cache, pure=True) if cache is not None else None  # once in each batch's graph
    pending: dict = {}

    def submit(start: int) -> list:
        batch = chunks[start:start + SUBMIT_BATCH]
        bag = db.from_sequence([s for chunk in batch for s in chunk], partition_size=len(batch[0])).map_partitions(
            process_partition, settings, reference_date, shared_cache, flag, run_id)
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
            if submitted < len(chunks) and _stop_requested(stop):
                for rest in chunks[submitted:]:
                    yield rest, [{"not_reached": True}], None
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


def _in_threads(chunks: list[list[Source]], threads: int, settings: Settings, reference_date: dt.date,
                cache: ResultCache | None, stop: threading.Event | None = None, run_id: str = "",
                ) -> Iterator[tuple[list[Source], list[dict] | None, BaseException | None]]:
    """``_on_cluster`` without Dask: the last fallback, a thread pool in this process."""
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="daskparse") as pool:
        pending = {pool.submit(process_partition, chunk, settings, reference_date, cache, stop, run_id): chunk
                   for chunk in chunks}
        try:
            for future in concurrent.futures.as_completed(list(pending)):
                chunk = pending.pop(future)
                error = future.exception()
                yield chunk, None if error else future.result(), error
        finally:
            for future in pending:
                future.cancel()


def _worker_died(source: Source, error: BaseException) -> dict:
    allowed = dask.config.get("distributed.scheduler.allowed-failures")
    message = f"the worker running this image died {allowed + 1} times; it was not retried again ({error})"
    record = ErrorRecord(source.source, source.cleaned_url, "run", "run.worker_died", message[:500])
    return {"source": source.source, "cleaned_url": source.cleaned_url, "shows": [], "seconds": {}, "usage": {},
            "error": {**record.__dict__, "transient": True}}


def _report_partition(partition: list[dict], settings: Settings, report: LogCallback, noted: set[str]) -> None:
    """Each failed image as a warning; the end of Gemini's daily quota once per run."""
    for outcome in partition:
        error = outcome["error"]
        if error:
            report(_error_line(error), "WARNING")
        quota_spent = (error and error["kind"] == "gemini.quota_exhausted") or (
            settings.extractor_name == "gemini" and outcome.get("extractor") == "local")
        if quota_spent and "quota" not in noted:
            noted.add("quota")
            rest = ("go to the local extractor" if settings.fallback == "local"
                    else "are not sent (use --fallback local to read them with the local extractor)")
            report(f"Gemini's daily quota is used up: the remaining images {rest}", "ERROR")


def _error_line(error: Mapping[str, str]) -> str:
    """An error row as a log line, its escapes written out (``\\x1b``): a source is whatever was typed, listed or
    named a file ("\\x1b[31mred.jpg"), and the line reaches the user's terminal and ``log`` callback, which
    may print it as it is. Written out rather than dropped, as the command line's error table shows it."""
    return visible(f"{error['source']}: {error['kind']}: {error['message']}")


def _reporter(log: LogCallback | None) -> LogCallback:
    def report(message: str, level: str, to: logging.Logger = logger, **fields) -> None:
        # fields: structured extras (in JSON log lines)
        to.log(logging.getLevelName(level), message, extra=fields or None)
        if log is not None:
            log(message, level)

    return report
