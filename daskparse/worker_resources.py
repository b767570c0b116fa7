"""What a worker keeps for the runs it serves: their extractors, and its way to the cluster's rate gate.

One ``WorkerResources`` per worker, made on first use and kept in ``worker.extensions`` (where distributed keeps
its own per-worker state), or one per process outside a worker (a run without a cluster). Workers in one
process (the fallback's in-process cluster) each have their own: each asks the gate for its own address, so
its death frees its slots.

    extractor = WorkerResources.here().extractor(settings, reference_date, run_id)   # in a task

A benchmark puts its own in place, made with other factories, before a run:
``client.run(lambda dask_worker: WorkerResources(gate=..., build=...).attach(dask_worker))``.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Optional

from daskparse.extract import Extractor, build_extractor
from daskparse.extract.gemini import Gate
from daskparse.gate import RateGate, current_worker
from daskparse.limiter import MAX_IN_FLIGHT
from daskparse.settings import Settings

EXTENSION = "daskparse"  # the key in ``worker.extensions``
KEPT = 8  # extractors kept per worker: runs on one cluster come one after another
# Threads of a worker's call pool: as many calls as the gate can allow in flight, all from one worker at worst.
# A thread waiting on a socket costs no CPU; the pool starts them as calls need them. Also the most images a
# worker holds ready for a call (``submit_call``): with the quota binding, tasks would otherwise optimize the
# whole backlog ahead of the gate and hold every JPEG (~300 KB each) until its turn.
CALL_THREADS = MAX_IN_FLIGHT

# A gate is what daskparse.extract.gemini.Gate describes (a RateGate, a ProcessGate, a benchmark's wrapper)
GateFactory = Callable[[Settings], Optional[Gate]]
ExtractorFactory = Callable[[Settings, dt.date, Optional[Gate]], Extractor]


def cluster_gate(settings: Settings) -> Optional[RateGate]:
    """The cluster's rate gate, bound to this worker, for a run that calls Gemini; None elsewhere (outside a
    worker the extractor paces its own process)."""
    if settings.extractor_name != "gemini":
        return None
    return RateGate.for_this_worker()


def key_digest(settings: Settings) -> str:
    """A hash of the API key (never the key itself) to tell extractors apart by: the settings' JSON masks it."""
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key is not None else ""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


class WorkerResources:
    """A worker's extractors (the last ``kept`` runs') and gate, shared by its task threads.

    ``gate(settings)`` makes the gate an extractor is built with; ``build(settings, reference_date, gate)``
    builds an extractor (``daskparse.extract.build_extractor``).
    """

    def __init__(self, gate: GateFactory = cluster_gate, build: ExtractorFactory = build_extractor,
                 kept: int = KEPT) -> None:
        self._gate, self._build, self.kept = gate, build, kept
        self._extractors: collections.OrderedDict[tuple, Extractor] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._calls: Optional[ThreadPoolExecutor] = None
        self._calls_lock = threading.Lock()  # not ``_lock``: an extractor's build (~0.1-0.5 s) holds that one
        self._call_room = threading.BoundedSemaphore(CALL_THREADS)  # calls submitted and not ended

    @classmethod
    def here(cls) -> "WorkerResources":
        """This worker's resources (made on first use), or this process's outside a worker."""
        worker = current_worker()
        if worker is None:
            return _process_resources
        resources = worker.extensions.get(EXTENSION)
        if resources is None:  # setdefault is atomic: two first tasks at once end up with the same one
            resources = worker.extensions.setdefault(EXTENSION, cls())
        return resources

    def attach(self, worker: Any) -> "WorkerResources":
        """Make these ``worker``'s resources from now on (its earlier ones, and their extractors, are dropped)."""
        worker.extensions[EXTENSION] = self
        return self

    def gate(self, settings: Settings) -> Optional[Gate]:
        """The gate for a run with ``settings``: a new handle each time, as one remembers that its run's quota
        closed it (``RateGate.closed``); the gate's state lives on the scheduler."""
        return self._gate(settings)

    def extractor(self, settings: Settings, reference_date: dt.date, run_id: str = "") -> Extractor:
        """This run's extractor here, built the first time. Keyed by the run, so what one run's extractor met
        (a refused key, a closed gate) stays with it, and by a digest of the API key, which the settings' JSON
        masks: on one cluster, a run with key A then one with key B was once served A's extractor."""
        key = (settings.model_dump_json(), key_digest(settings), reference_date, run_id)
        with self._lock:
            extractor = self._extractors.get(key)
            if extractor is None:
                extractor = self._extractors[key] = self._build(settings, reference_date, self.gate(settings))
                while len(self._extractors) > self.kept:
                    self._extractors.popitem(last=False)
            self._extractors.move_to_end(key)
            return extractor

    def _call_pool(self) -> ThreadPoolExecutor:
        """The threads this worker's Gemini calls wait in, shared by its tasks: calls in flight are bounded by the
        cluster's gate, not by the worker's task threads."""
        with self._calls_lock:
            if self._calls is None:
                self._calls = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="daskparse-call")
            return self._calls

    def submit_call(self, call: Callable[..., Any], *args: Any) -> Future:
        """``call(*args)`` in the call pool; first waits, in the calling task's thread, while the worker already has
        ``CALL_THREADS`` calls submitted and not ended (so a task prepares no more images than can be sent)."""
        self._call_room.acquire()
        try:
            future = self._call_pool().submit(call, *args)
        except BaseException:
            self._call_room.release()
            raise
        future.add_done_callback(lambda _: self._call_room.release())
        return future

    def __len__(self) -> int:
        return len(self._extractors)

    def close(self) -> None:
        """Called by the worker as it closes (``Worker.extensions``' hook): its extractors go with it."""
        with self._lock:
            self._extractors.clear()
        with self._calls_lock:
            calls, self._calls = self._calls, None
        if calls is not None:  # its calls belong to tasks the closing worker has given up: no wait for them
            calls.shutdown(wait=False, cancel_futures=True)


_process_resources = WorkerResources()  # outside a worker: one per process

__all__ = ["WorkerResources", "cluster_gate", "key_digest", "EXTENSION", "KEPT"]
