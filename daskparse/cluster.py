"""The cluster a run uses: the one given, a client of ``--scheduler``, or a LocalCluster started and closed for it,
and the in-process fallback when none of those can be had.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
import warnings
from multiprocessing import resource_tracker
from typing import Callable, Iterator, Sequence

import dask
from distributed import Client, LocalCluster, Nanny

from daskparse.console import logging_config
from daskparse.errors import RunError
from daskparse.settings import Settings
from daskparse.worker import stop_requested

logger = logging.getLogger("daskparse")
LogCallback = Callable[[str, str], None]


def _log(message: str, level: str) -> None:
    logger.log(logging.getLevelName(level), message)


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
    report = log or _log
    with contextlib.ExitStack() as stack:
        try:
            own = stack.enter_context(_own_client(settings))
        except Exception as error:  # noqa: BLE001 - whatever stops the cluster, the images can still be read
            reason = (f"the scheduler at {settings.scheduler} could not be reached" if settings.scheduler
                      else "a LocalCluster could not start")
            detail = f"{type(error).__name__}: {error}".rstrip(": ")
            if stop_requested(stop):
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
        if previous is not None:  # held
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
