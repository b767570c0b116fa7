"""The worker side of a run: one source through every stage, and the partition task that runs a few of them.

``process_source`` takes a source through fetch → optimize → extract (asking the cache between stages) and
always returns an outcome: a per-source failure is a value, only faults of the run itself raise.
``process_partition`` is the task a cluster runs: its sources prepared (fetch, optimize) one after another in
the task's thread, their Gemini calls overlapping in the worker's call pool, the outcomes stored in the cache as
one file before they are returned. Both return the types of daskparse.outcome. Nothing here starts or
knows a cluster (daskparse.cluster) or the run's loop (daskparse.pipeline).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from concurrent.futures import Future
from typing import Sequence

from daskparse.cache import CacheHit, ResultCache
from daskparse.console import visible
from daskparse.errors import ErrorRecord, SourceError
from daskparse.extract import Extraction, Extractor
from daskparse.extract.gemini import GeminiConfigError
from daskparse.fetch import fetch_bytes
from daskparse.optimize import optimize_image
from daskparse.outcome import Outcome, PartitionResult, Prepared, show_records
from daskparse.settings import Settings
from daskparse.sources import Source
from daskparse.worker_resources import WorkerResources

logger = logging.getLogger("daskparse")


def process_source(source: Source, settings: Settings, extractor: Extractor,
                   cache: ResultCache | None = None) -> Outcome:
    """One source through every stage; always returns its outcome, never raises for the source's sake.

    With a cache, the bytes' SHA-256 (after fetch) and the look-alike check (after optimize) may answer
    before the extractor is called; the URL level was asked on the client already (``run``).
    """
    prepared = prepare_source(source, settings, cache)
    return prepared if isinstance(prepared, Outcome) else extract_source(prepared, extractor)


def prepare_source(source: Source, settings: Settings, cache: ResultCache | None = None) -> Outcome | Prepared:
    """Fetch and optimize, asking the cache between them: the outcome if that already answers (a cache hit or
    an error), else the image ready for the extractor (``extract_source``). CPU work, in the calling thread."""
    outcome = Outcome(source.source, source.cleaned_url)
    seconds = outcome.seconds
    stage = "fetch"
    try:
        started = time.perf_counter()
        data = fetch_bytes(source, settings.fetch_limits())
        sha256 = hashlib.sha256(data).hexdigest()
        stage, mark = "optimize", time.perf_counter()
        seconds["fetch"] = mark - started
        hit = cache.lookup_sha256(sha256) if cache is not None else None
        if hit is not None:
            return _served(hit, source, sha256, time.perf_counter() - mark, seconds)
        outcome.image_sha256 = sha256
        mark = time.perf_counter()
        options = settings.optimize_options()
        image = optimize_image(data, max_size=options.max_size, quality=options.quality)
        del data
        started = time.perf_counter()
        seconds["optimize"] = started - mark
        if cache is not None:
            hit = cache.lookup_phash(image.phash, image.jpeg)
            if hit is not None:
                served = _served(hit, source, sha256, time.perf_counter() - started, seconds)
                # stored as an alias: its URL and bytes are direct hits next time, its look a candidate
                served.phash, served.thumbnail = image.phash, image.thumbnail
                return served
            outcome.phash, outcome.thumbnail = image.phash, image.thumbnail
        return Prepared(source, outcome, image.jpeg, sha256)
    except Exception as error:  # noqa: BLE001 - an error outcome (``_failed``)
        return _failed(outcome, stage, error)


def extract_source(prepared: Prepared, extractor: Extractor) -> Outcome:
    """The extractor's answer for a prepared source, as its outcome. Waits on the network for a Gemini run: the
    partition runs it in its worker's call pool (``process_partition``)."""
    source, outcome = prepared.source, prepared.outcome
    try:
        started = time.perf_counter()
        extraction: Extraction = extractor.extract(prepared.jpeg)  # GeminiConfigError passes: it ends the run
        outcome.seconds["extract"] = time.perf_counter() - started
        outcome.usage, outcome.extractor, outcome.fallback = extraction.usage, extraction.extractor, extraction.fallback
        outcome.shows = show_records((show.model_dump() for show in extraction.shows), source.source,
                                     source.cleaned_url, prepared.sha256, extraction.extractor)
    except Exception as error:  # noqa: BLE001 - an error outcome (``_failed``)
        return _failed(outcome, "extract", error)
    return outcome


def _failed(outcome: Outcome, stage: str, error: Exception) -> Outcome:
    """``outcome`` as the error it met in ``stage``: a SourceError is the source's own (with the requests it cost);
    anything else but a GeminiConfigError (raised again: it ends the run) is a bug of the stage, logged, and
    this source fails loudly while the others go on."""
    if isinstance(error, GeminiConfigError):
        raise error
    if isinstance(error, SourceError):
        outcome.error = ErrorRecord.from_error(outcome.source, outcome.cleaned_url, error)
        outcome.usage = getattr(error, "usage", None) or outcome.usage
        return outcome
    logger.error("unexpected failure in %s for %s", stage, visible(outcome.source), exc_info=error)
    outcome.error = ErrorRecord(outcome.source, outcome.cleaned_url, stage, f"{stage}.unexpected",
                                f"{type(error).__name__}: {error}"[:500], transient=True)
    return outcome


def _served(hit: CacheHit, source: Source, sha256: str, seconds: float, timings: dict[str, float]) -> Outcome:
    """A cache hit as this source's outcome, keeping the time spent getting there."""
    served = hit.outcome(source.source, source.cleaned_url, sha256)
    served.seconds = {**timings, "cache": seconds}
    return served


def process_partition(sources: Sequence[Source], settings: Settings, reference_date: dt.date,
                      cache: ResultCache | None = None, stop=None,  # stop: anything with is_set()
                      run_id: str = "") -> PartitionResult:
    """The outcomes of a partition's sources; on a fault of the whole run, the outcomes so far and why.

    With a cache, outcomes are written to it before they are returned, so a run killed later loses none of them:
    a local partition's as one file; a Gemini partition's each as its own file as soon as it is known, since its
    calls overlap (in the worker's call pool) and a paid answer must not wait for the partition's slowest call.
    A fault of the run is returned (``fatal``) rather than raised, to stop the run without a traceback in every
    worker's log. A partition that finds ``stop`` set (``_stop_flag``) does nothing and says so (``not_reached``):
    the run is stopping, the next run does its sources.
    """
    if stop_requested(stop):
        return PartitionResult(not_reached=True)
    resources = WorkerResources.here()
    # A Gemini call waits on the network: it goes to the worker's call pool while this thread prepares the next
    # image, so calls in flight are bounded by the cluster's gate, not by the task threads. The local extractor is
    # CPU work: in this thread.
    # batch mode: images are prepared here, sent in batch jobs by the run (daskparse.batch), answered later
    batch = settings.mode == "batch"
    overlap = settings.extractor_name == "gemini" and not batch
    each = cache if overlap else None  # where each outcome is stored as it comes (None: once, at the end)
    if cache is not None:
        recovered = _stored_earlier(sources, cache, each=overlap)
        if len(recovered) == len(sources):
            return PartitionResult(list(recovered.values()))
    else:
        recovered = {}
    result = PartitionResult()
    try:
        extractor = None if batch else resources.extractor(settings, reference_date, run_id)
        answers: list[Outcome | Future] = []
        for index, source in enumerate(sources):
            if index in recovered:
                answers.append(recovered[index])
                continue
            prepared = prepare_source(source, settings, cache)
            if isinstance(prepared, Outcome):
                answers.append(_store_one(prepared, each))
            elif extractor is None:
                result.prepared.append(prepared)
            elif not overlap:
                answers.append(extract_source(prepared, extractor))
            else:  # waits here while the worker has as many calls out as it can send (``submit_call``)
                answers.append(resources.submit_call(_extract_and_store, prepared, extractor, each))
        for answer in answers:  # every call is waited for, even after one ended the run: nothing is left running
            try:
                result.outcomes.append(answer if isinstance(answer, Outcome) else answer.result())
            except GeminiConfigError as error:
                result.fatal = result.fatal or str(error)
    except GeminiConfigError as error:  # every image would fail the same way
        result.fatal = str(error)
    if cache is not None and not overlap:
        cache.store_partition(result.outcomes)
    for outcome in result.outcomes:  # the thumbnails are for the cache only: they do not travel to the client
        outcome.thumbnail = None
    return result


def _store_one(outcome: Outcome, cache: ResultCache | None) -> Outcome:
    """``outcome`` stored as its own cache file (nothing without a cache); returned."""
    if cache is not None:
        cache.store_partition([outcome])
    return outcome


def _extract_and_store(prepared: Prepared, extractor: Extractor, cache: ResultCache | None) -> Outcome:
    """In the call pool: the extractor's answer, stored as soon as it is paid for."""
    return _store_one(extract_source(prepared, extractor), cache)


def stop_requested(stop) -> bool:
    """Whether the run was asked to stop (``stop``: a ``threading.Event``, or on a worker the run's Dask
    ``Event``); a flag that cannot be read (its scheduler going away) asks nothing: work goes on as without one."""
    try:
        return stop is not None and bool(stop.is_set())
    except Exception:  # noqa: BLE001
        logger.debug("the stop flag could not be read", exc_info=True)
        return False


def _stored_earlier(sources: Sequence[Source], cache: ResultCache, each: bool = False) -> dict[int, Outcome]:
    """This partition's outcomes that a run of it already stored, by index (the task runs again because its worker
    died after storing, before its result reached the client): they are not computed, nor paid for, twice.
    ``each``: stored one file per source (a Gemini partition), so some may be stored and others not.

    Served as computed (no cache match): this run made those calls, so its usage counts them once.
    """
    groups = [[index] for index in range(len(sources))] if each else [list(range(len(sources)))]
    recovered: dict[int, Outcome] = {}
    for group in groups:
        hits = cache.lookup_stored([sources[index].cleaned_url for index in group])
        for index, hit in zip(group, hits or ()):
            source = sources[index]
            recovered[index] = dataclasses.replace(hit.outcome(source.source, source.cleaned_url), cache=None,
                                                   usage=hit.usage)
    if recovered:
        logger.info("%d images of a partition run again were already stored: not computed again", len(recovered))
    return recovered
