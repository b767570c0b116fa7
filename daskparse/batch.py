"""Batch mode on the client: the ledger of pending jobs beside the cache, their creation, and their answers.

    ledger = BatchLedger(settings.cache, cache_variant)        # {cache}/batches/{variant}/*.json
    collected = collect(ledger, api, cache)                      # first thing in every run (any mode)
    jobs = submit(ledger, api, prepared, max_bytes=...)          # images no pending job holds yet
    collected = wait(ledger, api, jobs, poll=30, stop=stop)     # or end here (--no-wait): the next run collects

No image is paid for twice. A job's record (its images and how to store their answers) is written *before* the job
is created, under a lock on the ledger held until the job's name is in it: a run killed in between leaves a record
without a name, which the next run resolves by the job's display name (``BatchApi.find``) and otherwise drops (the
create never happened). Images in a pending record are not sent again, online or in batch, until the job ends
FAILED, CANCELLED or EXPIRED: then the record goes and its images are back in the queue. Answers are stored in the
result cache, so any later run is answered from it.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import filelock
from pydantic import BaseModel, ConfigDict, ValidationError

from daskparse import lease
from daskparse.cache import ResultCache
from daskparse.cache.files import filesystem, list_files, remove_file
from daskparse.errors import ErrorRecord, SourceError
from daskparse.extract.gemini_batch import ANSWERED, FINISHED, BatchAnswer, BatchApi, BatchRequest, jobs
from daskparse.outcome import Outcome, Prepared, show_records
from daskparse.schedule import LOCK_NAME, lock_path
from daskparse.storage import atomic_write

logger = logging.getLogger("daskparse")
LEDGER = "batches"
LOCK_TIMEOUT = 900.0  # seconds a run waits for another to finish creating its jobs (an upload of a large file)


class LedgerSource(BaseModel):
    source: str
    cleaned_url: str


class LedgerItem(BaseModel):
    """One image of a job: every source that is this image, and what the cache needs to store its answer."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")  # the thumbnail, in JSON

    key: str  # the image's SHA-256, the request's key
    sources: list[LedgerSource]
    phash: Optional[int] = None
    thumbnail: Optional[bytes] = None


class JobRecord(BaseModel):
    """A job in the ledger: written before its create (``job`` None), named once created."""

    display_name: str
    job: Optional[str] = None  # "batches/ID"
    model: str
    created: float  # epoch seconds
    items: list[LedgerItem]

    def urls(self) -> set[str]:
        return {source.cleaned_url for item in self.items for source in item.sources}


class BatchLedger:
    """The pending jobs of one cache variant, as one JSON file per job (any fsspec URL)."""

    def __init__(self, cache_url: str, variant: str, lease_seconds: float = lease.LEASE):
        self.url, self.lease_seconds = cache_url, lease_seconds
        self.fs, root = filesystem(cache_url)
        self.folder = posixpath.join(root, LEDGER, variant)

    def records(self) -> list[JobRecord]:
        records = []
        for path in sorted(list_files(self.fs, self.folder)):
            name = posixpath.basename(path)
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                records.append(JobRecord.model_validate_json(self.fs.cat_file(path)))
            except (OSError, ValidationError, ValueError) as error:  # never lose a job over one bad file: say so
                logger.warning("batch ledger: %s unreadable, left as it is: %s", path, error)
        return records

    def save(self, record: JobRecord) -> None:
        atomic_write(self.fs, self.folder, f"{record.display_name}.json",
                     lambda file: file.write(record.model_dump_json().encode()))

    def drop(self, record: JobRecord) -> None:
        remove_file(self.fs, posixpath.join(self.folder, f"{record.display_name}.json"))

    @contextlib.contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Held while records are created or resolved; waits up to ``timeout`` for another run to finish (then
        ``filelock.Timeout``, or ``lease.Locked`` on S3). ``output_lock``'s kinds of lock: on S3 a leased object
        beside the records (``daskparse.lease``), across machines; else a file lock, per machine on object stores."""
        if lease.supports(self.fs):
            with lease.LeaseLock(self.fs, posixpath.join(self.folder, LOCK_NAME), lease=self.lease_seconds,
                                 timeout=timeout):
                yield
            return
        with filelock.FileLock(lock_path(self.fs.unstrip_protocol(self.folder)), timeout=timeout):
            yield


@dataclass
class Collected:
    """What a look at the ledger found: answers (stored in the cache), and the sources still in pending jobs."""

    outcomes: list[Outcome] = field(default_factory=list)
    pending_urls: set[str] = field(default_factory=set)
    pending_jobs: list[JobRecord] = field(default_factory=list)
    finished: dict[str, str] = field(default_factory=dict)  # job name -> final state, of jobs that ended here


@dataclass
class Submitted:
    jobs: list[JobRecord] = field(default_factory=list)
    held_elsewhere: list[Prepared] = field(default_factory=list)  # already in another run's pending job
    failed: list[Outcome] = field(default_factory=list)  # their job could not be created: error rows
    refused: list[Prepared] = field(default_factory=list)  # not admitted (the spend cap)
    deferred: list[Prepared] = field(default_factory=list)  # their job was refused with a 429: to send again


def collect(ledger: BatchLedger, api: BatchApi, cache: Optional[ResultCache],
            only: Optional[set[str]] = None) -> Collected:
    """Every finished job of the ledger read, stored in the cache and dropped from the ledger; the rest pending.
    ``only``: look at these display names alone (a run waiting for its own jobs): then the images of a job that
    ended without answers (failed, cancelled, expired) are error rows of this run (transient: the next run sends
    them again), since the run waited for them; without ``only`` they are simply back in the queue."""
    collected = Collected()
    if not ledger.records():  # the common case: nothing pending, no lock taken (nor its folder made)
        return collected
    with ledger.lock():
        for record in ledger.records():
            if only is not None and record.display_name not in only:
                collected.pending_urls |= record.urls()
                continue
            if not _named(ledger, api, record):  # dropped: its create never happened
                continue
            state, job = _look(api, record)
            if state not in FINISHED:
                collected.pending_urls |= record.urls()
                collected.pending_jobs.append(record)
                continue
            if state == ANSWERED:
                outcomes = _outcomes(record, api.answers(job, [item.key for item in record.items]))
                if cache is not None:
                    cache.store_partition(outcomes)
                for outcome in outcomes:
                    outcome.thumbnail = None
                collected.outcomes.extend(outcomes)
            else:
                logger.warning("Gemini batch job %s ended %s: its %d images go back into the queue", record.job,
                               state.upper(), len(record.items))
                if only is not None:
                    collected.outcomes.extend(_unanswered(record, state))
            collected.finished[str(record.job)] = state
            ledger.drop(record)
    return collected


def _named(ledger: BatchLedger, api: BatchApi, record: JobRecord) -> bool:
    """Whether the record names its job, after finding by its display name a job a run killed mid-create made;
    False: there is none, and the record is dropped."""
    if record.job is not None:
        return True
    found = api.find(record.display_name)
    if found is None:  # under the lock, so its creator is gone: the create never reached the API
        logger.info("batch ledger: %s was never created; its images go back into the queue", record.display_name)
        ledger.drop(record)
        return False
    record.job = found
    ledger.save(record)
    return True


def _look(api: BatchApi, record: JobRecord) -> tuple[str, Any]:
    """The record's job state, and the job as read (None, and "pending", when it could not be read: it is looked
    at again next time)."""
    try:
        job = api.get(str(record.job))
    except Exception as error:  # noqa: BLE001 - unreachable now: still pending
        logger.warning("Gemini batch job %s could not be read (%s: %s); still pending", record.job,
                       type(error).__name__, error)
        return "pending", None
    return api.state(job), job


def submit(ledger: BatchLedger, api: BatchApi, prepared: Sequence[Prepared], model: str, max_bytes: int,
           admit: Callable[[BatchRequest], bool] = lambda request: True) -> Submitted:
    """Jobs for the ``prepared`` images that no pending job holds, each recorded before it is created.
    ``admit``: whether a request may be sent (the spend cap); those refused are ``Submitted.refused``."""
    submitted = Submitted()
    by_key: dict[str, list[Prepared]] = {}
    for item in prepared:
        by_key.setdefault(item.sha256, []).append(item)
    with ledger.lock():
        held = {item.key for record in ledger.records() for item in record.items}
        requests = []
        for key, items in by_key.items():
            request = BatchRequest(key, items[0].jpeg)
            if key in held:
                submitted.held_elsewhere.extend(items)
            elif admit(request):
                requests.append(request)
            else:
                submitted.refused.extend(items)
        for chunk in jobs(requests, max_bytes):
            record = JobRecord(display_name=f"daskparse-{uuid.uuid4().hex[:16]}", model=model, created=time.time(),
                               items=[_ledger_item(by_key[request.key]) for request in chunk])
            ledger.save(record)  # first: a run killed during the create finds the job by this name
            try:
                record.job = api.create(record.display_name, chunk)
            except Exception as error:  # noqa: BLE001 - the images become error rows; nothing was paid twice
                if getattr(error, "code", None) == 429:  # refused, so surely not made: another try later
                    ledger.drop(record)
                    logger.warning("Gemini refused a batch job of %d images for now (429: too many jobs or "
                                   "tokens enqueued); it is created again later", len(chunk))
                    submitted.deferred.extend(item for request in chunk for item in by_key[request.key])
                    continue
                record.job = _find_quietly(api, record.display_name)
                if record.job is None:
                    ledger.drop(record)
                    message = f"the batch job could not be created: {type(error).__name__}: {error}"[:500]
                    logger.warning("%s (%d images)", message, len(chunk))
                    for request in chunk:
                        submitted.failed.extend(_failed(by_key[request.key], message))
                    continue
            ledger.save(record)
            submitted.jobs.append(record)
    return submitted


def wait(ledger: BatchLedger, api: BatchApi, records: Sequence[JobRecord], cache: Optional[ResultCache], *,
         poll: float, stop: Optional[threading.Event] = None,
         on_states: Optional[Callable[[dict[str, str]], None]] = None) -> Collected:
    """Look at ``records``' jobs every ``poll`` seconds until each has ended (or ``stop`` is set), collecting each
    as it ends. ``on_states(job name -> state)`` after each look. Jobs not ended stay in the ledger."""
    names = {record.display_name for record in records}
    result = Collected()
    while names:
        states = {str(record.job): _look(api, record)[0] for record in records if record.display_name in names}
        if on_states is not None:
            on_states(states)
        ended = {record.display_name for record in records
                 if record.display_name in names and states.get(str(record.job)) in FINISHED}
        if ended:
            collected = collect(ledger, api, cache, only=ended)
            result.outcomes.extend(collected.outcomes)
            result.finished.update(collected.finished)
            names -= ended
        if not names or _stopping(stop, poll):  # stopping: the jobs stay in the ledger, the next run collects them
            break
    result.pending_jobs = [record for record in records if record.display_name in names]
    result.pending_urls = set().union(*(record.urls() for record in result.pending_jobs))
    return result


def _stopping(stop: Optional[threading.Event], seconds: float) -> bool:
    """Wait ``seconds``; whether the run was asked to stop meanwhile."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


def _find_quietly(api: BatchApi, display_name: str) -> Optional[str]:
    try:
        return api.find(display_name)
    except Exception:  # noqa: BLE001 - cannot tell: the record is dropped, and a job, if made, is not read
        logger.warning("could not list batch jobs to find %s", display_name, exc_info=True)
        return None


def _ledger_item(items: list[Prepared]) -> LedgerItem:
    first = items[0].outcome
    return LedgerItem(key=items[0].sha256, phash=first.phash, thumbnail=first.thumbnail,
                      sources=[LedgerSource(source=item.source.source, cleaned_url=item.source.cleaned_url)
                               for item in items])


def _outcomes(record: JobRecord, answers: Iterator[BatchAnswer]) -> list[Outcome]:
    """Each answer as the outcome of every source of its image (its usage on the first: paid once)."""
    items = {item.key: item for item in record.items}
    outcomes = []
    for answer in answers:
        item = items.get(answer.key)
        if item is None:
            continue
        for position, source in enumerate(item.sources):
            outcome = Outcome(source.source, source.cleaned_url, extractor="gemini", image_sha256=item.key,
                              phash=item.phash, thumbnail=item.thumbnail)
            if position == 0:
                outcome.usage = answer.usage
            if answer.error is not None:
                outcome.error = ErrorRecord.from_error(source.source, source.cleaned_url, answer.error)
            else:
                outcome.shows = show_records((show.model_dump() for show in answer.shows or ()), source.source,
                                             source.cleaned_url, item.key, "gemini")
            outcomes.append(outcome)
    return outcomes


def _unanswered(record: JobRecord, state: str) -> list[Outcome]:
    error = SourceError(f"gemini.batch_{state}", f"the Gemini batch job {record.job} ended {state.upper()} "
                        "without answers; the next run sends this image again", transient=True)
    return [Outcome(source.source, source.cleaned_url, image_sha256=item.key,
                    error=ErrorRecord.from_error(source.source, source.cleaned_url, error))
            for item in record.items for source in item.sources]


def _failed(items: list[Prepared], message: str) -> list[Outcome]:
    error = SourceError("gemini.batch_create_failed", message, transient=True)
    outcomes = []
    for item in items:
        outcome = item.outcome
        outcome.error = ErrorRecord.from_error(outcome.source, outcome.cleaned_url, error)
        outcome.thumbnail = None
        outcomes.append(outcome)
    return outcomes


class BatchSession:
    """One run's batch work, driven by the pipeline: collect what earlier runs left, send this run's prepared
    images in jobs of at most ``job_bytes`` as they come (so the client never holds more than a job's images),
    then wait for them or leave them pending.

        session = BatchSession(api, ledger, cache, model="gemini-2.5-flash", job_bytes=400_000_000)
        earlier = session.collect_earlier()          # any mode, first
        failed = session.add(partition.prepared)     # batch mode, per partition: error rows of a failed create
        failed += session.flush()                    # the rest, after the last partition
        done = session.wait(poll=30, stop=stop, on_states=...)   # unless --no-wait
    """

    def __init__(self, api: BatchApi, ledger: BatchLedger, cache: Optional[ResultCache], *, model: str,
                 job_bytes: int, budget: Optional["BatchBudget"] = None,
                 refused: Callable[[list[Prepared]], list[Outcome]] = lambda items: []):
        self.api, self.ledger, self.cache, self.model, self.job_bytes = api, ledger, cache, model, job_bytes
        self.budget = budget  # the spend cap: requests past it are not sent
        self._refused = refused  # what becomes of them: error rows, or the local extractor's answers
        self._waiting: list[Prepared] = []
        self._waiting_bytes = 0
        self.jobs: list[JobRecord] = []  # created by this run
        self.attached: list[Prepared] = []  # images another pending job already held (this run's or an earlier's)
        self.requests = 0  # images sent in this run's jobs
        self.collected_jobs: dict[str, str] = {}  # job -> the state it ended in, of every job collected by this run
        self.states: dict[str, str] = {}  # job -> its latest state, of the jobs this run waits for
        self.joined: set[str] = set()  # display names of earlier runs' pending jobs this run waits for too
        self.deferred: list[Prepared] = []  # images whose job the API refused with a 429, to send again

    def collect_earlier(self) -> Collected:
        collected = collect(self.ledger, self.api, self.cache)
        self.collected_jobs.update(collected.finished)
        return collected

    def join(self, records: Sequence[JobRecord]) -> None:
        """Wait for these pending jobs of earlier runs too: they hold images of this run (never sent again)."""
        self.joined |= {record.display_name for record in records}
        self.states.update({str(record.job): "pending" for record in records})

    def add(self, prepared: Sequence[Prepared]) -> list[Outcome]:
        self._waiting.extend(prepared)
        self._waiting_bytes += sum(BatchRequest(item.sha256, item.jpeg).size for item in prepared)
        return self.flush() if self._waiting_bytes >= self.job_bytes else []

    def flush(self) -> list[Outcome]:
        if not self._waiting:
            return []
        waiting, self._waiting, self._waiting_bytes = self._waiting, [], 0
        admit = self.budget.admit if self.budget is not None else (lambda request: True)
        submitted = submit(self.ledger, self.api, waiting, self.model, self.job_bytes, admit)
        self.deferred.extend(submitted.deferred)
        self.jobs.extend(submitted.jobs)
        self.attached.extend(submitted.held_elsewhere)
        self.requests += sum(len(record.items) for record in submitted.jobs)
        self.states.update({str(record.job): "pending" for record in submitted.jobs})
        return submitted.failed + (self._refused(submitted.refused) if submitted.refused else [])

    def wait(self, *, poll: float, stop: Optional[threading.Event] = None,
             on_states: Optional[Callable[[dict[str, str]], None]] = None) -> Collected:
        """This run's jobs, and the pending jobs its attached images are in, until each ends or ``stop``; jobs
        the API refused with a 429 are created again after each ``poll`` until one is taken."""

        def note(states: dict[str, str]) -> None:
            self.states.update(states)
            if on_states is not None:
                on_states(dict(self.states))

        result = Collected()
        while True:
            mine = {record.display_name for record in self.jobs} | self.joined
            attached = {item.sha256 for item in self.attached}
            records = [record for record in self.ledger.records() if record.display_name in mine
                       or any(item.key in attached for item in record.items)]
            collected = wait(self.ledger, self.api, records, self.cache, poll=poll, stop=stop, on_states=note)
            result.outcomes.extend(collected.outcomes)
            self.collected_jobs.update(collected.finished)
            self.states.update(collected.finished)
            if not self.deferred or _stopping(stop, poll):
                return result
            deferred, self.deferred = self.deferred, []
            result.outcomes.extend(self.add(deferred) + self.flush())

    def own_urls(self) -> set[str]:
        """Cleaned URLs in the jobs this run created (the others it waited for were earlier runs')."""
        return set().union(*(record.urls() for record in self.jobs))

    def unsent(self) -> list[Outcome]:
        """Images whose job the API kept refusing (429) when the run ended: error rows (the next run sends them)."""
        deferred, self.deferred = self.deferred, []
        return _failed(deferred, "Gemini refused the batch job (429: too many jobs or tokens enqueued); the next "
                                 "run sends these images again")

    def pending_urls(self) -> set[str]:
        """Cleaned URLs in a job of the ledger still pending (this run's or another's)."""
        return set().union(*(record.urls() for record in self.ledger.records()))

    def stats(self, pending: int) -> dict:
        states: dict[str, int] = {}
        for state in self.states.values():
            states[state] = states.get(state, 0) + 1
        return {"jobsCreated": len(self.jobs), "requests": self.requests, "jobsCollected": len(self.collected_jobs),
                "jobStates": states, "pending": pending}


class BatchBudget:
    """The spend cap in batch mode: a job's requests are admitted while the most each can cost (its estimated input
    and its whole output budget, at the batch price) adds up to no more than ``max_cost``; once one is refused,
    every later one is too, as online (``daskparse.limiter.Budget``)."""

    def __init__(self, max_cost: float, most_cost: Callable[[bytes], float]):
        self.max_cost, self.most_cost = max_cost, most_cost
        self.reserved = 0.0
        self.reached = False

    def admit(self, request: BatchRequest) -> bool:
        cost = self.most_cost(request.jpeg)
        if self.reached or self.reserved + cost > self.max_cost:
            self.reached = True
            return False
        self.reserved += cost
        return True
