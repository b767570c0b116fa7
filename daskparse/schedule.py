"""Runs on a schedule: one run at a time per output, a clean stop on SIGINT/SIGTERM, and ``--every``.

    stopper = Stopper()
    with stopper.installed(), output_lock("out"):
        code = repeat(lambda: run_once(stop=stopper.event), every=1800, stopper=stopper)

- ``output_lock``: a second run on the same output raises ``LockHeld`` (naming the holder) instead of starting;
  on S3 across machines too (``daskparse.lease``).
- ``Stopper``: the first SIGINT or SIGTERM sets ``stopper.event`` (the pipeline then starts no new partition,
  lets the running ones finish, and the run saves what was done); a second one raises KeyboardInterrupt.
- ``repeat``: one run, or one every ``every`` seconds, start to start, until a signal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import posixpath
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import filelock
import fsspec
from fsspec.implementations.local import LocalFileSystem

from daskparse import lease
from daskparse.errors import RunError

logger = logging.getLogger("daskparse")
LOCK_NAME = ".daskparse.lock"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LockHeld(Exception):
    """Another run holds the lock of this output."""

    def __init__(self, output: str, owner: dict | None):
        self.output, self.owner = output, owner
        holder = (f"pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('started')}: {owner.get('command')}"
                  if owner else "holder unknown")
        super().__init__(f"another run holds the lock on {output} ({holder}); this run did nothing")


@contextlib.contextmanager
def output_lock(output: str, lease_seconds: float = lease.LEASE,
                on_lost: Callable[[str], None] | None = None) -> Iterator[str]:
    """Hold the lock of ``output`` (any fsspec URL) for the block; raise ``LockHeld`` at once if another process has it.

    A local output is locked by ``.daskparse.lock`` inside it: an OS lock (``flock``, through ``filelock``) that the
    kernel drops with its holder, so a crashed or killed run never leaves a stale lock. Who holds it is written
    next to it (``<lock>.json``), for the message of the run turned away.

    An S3 output (``s3://``, also MinIO, Ceph) is locked by the object ``.daskparse.lock`` inside it, which holds
    its holder's record: created with a conditional write, held under a lease of ``lease_seconds`` that a thread
    renews, so runs on any machines never overlap and a crashed holder's lock is taken over once its lease has
    lapsed (``daskparse.lease``). Should another run take it over all the same (this process stalled past its
    lease), an ERROR is logged and ``on_lost`` called with it.

    Other object stores have no such write, so their URLs are locked by a file of this machine named after them
    (in the user's cache folder): runs on one machine never overlap; runs on two machines are not kept apart.
    """
    fs, root = fsspec.core.url_to_fs(output)
    if lease.supports(fs):
        with _object_lock(output, lease.LeaseLock(fs, posixpath.join(root, LOCK_NAME), lease=lease_seconds,
                                                  on_lost=on_lost)) as url:
            yield url
        return
    path = lock_path(output)
    if os.path.islink(path):  # opening it would reach (and truncate) whatever it points at
        raise RunError(f"cannot lock the output {output}: {path} is a symbolic link; remove it")
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockHeld(output, _owner(path)) from None
    except OSError as error:
        raise RunError(f"cannot lock the output {output}: {error}") from None
    owner = Path(path + ".json")
    try:
        _replace_text(owner, lease.LockRecord.mine(lease_seconds).model_dump_json())
        yield path
    finally:
        with contextlib.suppress(OSError):  # before the release: the next holder's record is not ours to remove
            owner.unlink()
        lock.release()


@contextlib.contextmanager
def _object_lock(output: str, lock: lease.LeaseLock) -> Iterator[str]:
    try:
        lock.acquire()
    except lease.Locked as held:
        raise LockHeld(output, held.holder.model_dump() if held.holder else None) from None
    except OSError as error:  # no such bucket, access denied, the store unreachable
        raise RunError(f"cannot lock the output {output}: {error}") from None
    try:
        yield lock.url
    finally:
        lock.release()


def _replace_text(path: Path, text: str) -> None:
    """Write ``path`` through a new file renamed over it: a symbolic link planted there is replaced, never followed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def lock_path(output: str) -> str:
    """The file whose OS lock stands for ``output`` (any fsspec URL): inside it when local, else one of this
    machine's (``output_lock``; S3 has a lock of its own, ``daskparse.lease``)."""
    fs, root = fsspec.core.url_to_fs(output)
    if isinstance(fs, LocalFileSystem):
        try:
            fs.makedirs(root, exist_ok=True)
        except OSError as error:
            raise RunError(f"cannot create the output folder {output}: {error}") from None
        return os.path.join(root, LOCK_NAME)
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "daskparse" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{hashlib.sha256(fs.unstrip_protocol(root).encode()).hexdigest()[:32]}.lock")


def _owner(path: str) -> dict | None:
    try:
        return lease.LockRecord.model_validate_json(Path(path + ".json").read_text()).model_dump()
    except (OSError, ValueError):  # not written yet, or removed as the holder ends
        return None


class Stopper:
    """SIGINT and SIGTERM as a clean stop. The first sets ``event``; the second raises KeyboardInterrupt (a stop
    at once) and puts the previous handlers back, so a third gets the default behaviour."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None
        self._previous: dict = {}

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signal or signal.SIGINT)

    @contextlib.contextmanager
    def installed(self) -> Iterator["Stopper"]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield self
            return
        self._previous = {number: signal.signal(number, self._handle) for number in SIGNALS}
        try:
            yield self
        finally:
            self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame) -> None:
        if self.signal is not None:
            self.signal = number
            self._restore()
            raise KeyboardInterrupt
        self.signal = number
        # os.write, not print: a handler may interrupt a print of the main thread
        os.write(2, f"\n{signal.Signals(number).name}: finishing the images in progress, then saving "
                    "(send it again to stop at once)\n".encode())
        # set by another thread: this handler runs in the main thread, which may hold the Event's lock right now
        threading.Thread(target=self.event.set, name="daskparse-stopper", daemon=True).start()


def repeat(run_once: Callable[[], int], every: float | None, stopper: Stopper, final: tuple[int, ...] = (),
           say: Callable[[str], None] = lambda line: print(line, flush=True)) -> int:
    """``run_once()`` once, or every ``every`` seconds start to start until stopped; returns the exit code.

    A run longer than ``every`` is followed at once by the next (with a warning). A failed run does not end
    the loop (the next one may well work, as with cron), except with an exit code in ``final``. A signal
    while waiting ends the loop with 0, no run being cut short; a signal during a run ends it once the run
    has saved what it did, with ``stopper.exit_code`` (or the run's own code, if it failed).
    """
    while True:
        started = time.monotonic()
        code = run_once()
        if stopper.signal is not None:
            return code or stopper.exit_code
        if every is None or code in final:
            return code
        wait = started + every - time.monotonic()
        if wait <= 0:
            logger.warning("the run took %s, longer than --every %s: the next one starts now",
                           dt.timedelta(seconds=round(time.monotonic() - started)), dt.timedelta(seconds=every))
            continue
        next_start = dt.datetime.now() + dt.timedelta(seconds=wait)
        say(f"Next run at {next_start:%Y-%m-%d %H:%M:%S} (every {dt.timedelta(seconds=every)}); Ctrl-C or SIGTERM stops")
        if stopper.event.wait(wait):
            return 0
