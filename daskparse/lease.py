"""A lock on object storage that holds across machines: S3 conditional writes and a lease.

    fs, root = fsspec.core.url_to_fs("s3://bucket/out")
    with LeaseLock(fs, f"{root}/.daskparse.lock", lease=60):          # raises Locked (naming the holder) at once
        ...                                                          # lock.lost: set if another run took it over
    with LeaseLock(fs, f"{root}/.daskparse.lock", timeout=900):       # or waits up to 900 s for the holder

    lock = LeaseLock(fs, path, on_lost=callback); lock.acquire(); ...; lock.release()   # the same, by hand

The lock is one object holding JSON (``LockRecord``: pid, host, start, command, a random token, the lease).

- **acquire**: PUT with ``If-None-Match: *``: the server creates it for one contender only. When it exists, the
  holder is read (``read``); if its lease has lapsed (below) it is taken over by a PUT with ``If-Match: <the ETag
  read>``: of two contenders that both found it stale, the first write changes the ETag and the second gets 412.
- **renew**: a daemon thread rewrites the record every lease/3 with ``If-Match: <our ETag>``. Each write has a new
  renewal count, so a new body and a new ETag: a contender's compare-and-swap against an ETag read before a
  renewal fails. A 412 means another run took the lock over (our lease lapsed: a stalled process or network):
  ``lost`` is set, an ERROR logged once and ``on_lost`` called, so the holder can stop rather than write on.
  Not renewed for a whole lease (the store unreachable) counts as lost too.
- **release**: DELETE with ``If-Match: <our ETag>``: a holder whose lock was taken over never deletes the new
  holder's lock.

**When a lease has lapsed**, judged by the store's clock only, so the clocks of the machines play no part: the
holder writes its lease's length; a contender compares the object's ``Last-Modified`` with the ``Date`` of the
same response, both set by the server. Both are whole seconds (rounded down), so the lease has lapsed once
``Date - Last-Modified >= lease + 1 s``: the object was then surely last written more than ``lease`` ago. (A
response without a ``Date``, which HTTP requires of a server with a clock, is read against this machine's clock.)
A holder renews three times per lease, so only a holder that stopped (killed, crashed, stalled for most of a
lease) loses it. A lease is no fencing token: a holder stalled past its lease may write once more before its
next renewal finds the lock gone (``lost``); a longer lease makes that rarer, a crashed holder's wait longer.

Only S3 and S3-compatible stores (``supports``): the conditional PUT and DELETE are S3's, added to AWS in 2024
and found in recent MinIO and Ceph releases. A store that ignores these headers (an old one) keeps nothing apart:
check yours before relying on it. Other object stores keep the per-machine lock of
``daskparse.schedule.output_lock``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

from fsspec.asyn import sync
from pydantic import BaseModel, ValidationError

from daskparse.storage import is_s3

logger = logging.getLogger("daskparse")
LEASE = 60.0  # seconds a holder that stopped renewing keeps the lock
GRANULARITY = 1.0  # seconds: S3's Last-Modified and Date are whole seconds
POLL = 1.0  # seconds between looks while waiting for a holder (acquire with a timeout)
# 412: a condition failed; 409: AWS's ConditionalRequestConflict (another conditional write on the key in flight);
# NoSuchKey: an If-Match write on an object deleted meanwhile. Each means another contender moved first.
# (Not any 404: NoSuchBucket is one too, and an error.)
LOST_RACE = (412, 409)


class LockRecord(BaseModel):
    """What a lock object holds: who holds it (for the message of a run turned away) and for how long."""

    pid: int
    host: str
    started: str
    command: str
    token: str  # tells this holder's writes from another's with the same pid and host
    lease: float  # seconds
    renewals: int = 0  # a new body, and so a new ETag, at every renewal

    @classmethod
    def mine(cls, lease: float = LEASE) -> "LockRecord":
        return cls(pid=os.getpid(), host=socket.gethostname(),
                   started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                   command=" ".join(["python -m daskparse", *sys.argv[1:]]), token=uuid.uuid4().hex, lease=lease)


@dataclass(frozen=True)
class Seen:
    """The lock object as read: its holder (None if unreadable), its ETag, and its age by the server's clock."""

    holder: Optional[LockRecord]
    etag: str
    age: float  # seconds: the response's Date minus the object's Last-Modified

    @property
    def lapsed(self) -> bool:
        lease = self.holder.lease if self.holder is not None else LEASE
        return self.age >= lease + GRANULARITY


class Locked(Exception):
    """Another process holds the lock (``holder``: its record, None if unreadable)."""

    def __init__(self, url: str, holder: Optional[LockRecord]):
        self.url, self.holder = url, holder
        super().__init__(f"{url} is held by {describe(holder)}")


def describe(holder: Optional[LockRecord]) -> str:
    return (f"pid {holder.pid} on {holder.host}, since {holder.started}: {holder.command}" if holder is not None
            else "holder unknown")


def supports(fs: Any) -> bool:
    """Whether ``fs`` (an fsspec filesystem) has S3's conditional writes."""
    return is_s3(fs)


def _lost_race(error: BaseException) -> bool:
    """Whether an S3 error as s3fs raises it (an OSError caused by botocore's ClientError) says another contender
    moved first."""
    response = getattr(error.__cause__, "response", None) or {}
    return (response.get("ResponseMetadata", {}).get("HTTPStatusCode") in LOST_RACE
            or response.get("Error", {}).get("Code") == "NoSuchKey")


def _put(fs: Any, path: str, record: LockRecord, **condition: str) -> Optional[str]:
    """The new ETag, or None when ``condition`` did not hold (another contender moved first)."""
    bucket, key, _ = fs.split_path(path)
    try:
        return fs.call_s3("put_object", Bucket=bucket, Key=key, Body=record.model_dump_json().encode(),
                          ContentType="application/json", **condition)["ETag"]
    except OSError as error:
        if _lost_race(error):
            return None
        raise


def create(fs: Any, path: str, record: LockRecord) -> Optional[str]:
    """Write the lock object if there is none (``If-None-Match: *``): its ETag, or None if it exists."""
    return _put(fs, path, record, IfNoneMatch="*")


def replace(fs: Any, path: str, record: LockRecord, etag: str) -> Optional[str]:
    """Write the lock object if it is still the one with ``etag`` (``If-Match``): the new ETag, or None."""
    return _put(fs, path, record, IfMatch=etag)


def remove(fs: Any, path: str, etag: str) -> bool:
    """Delete the lock object if it is still the one with ``etag``; False when it is not (or is gone)."""
    bucket, key, _ = fs.split_path(path)
    try:
        fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
    except OSError as error:
        if _lost_race(error):
            return False
        raise
    return True


def read(fs: Any, path: str) -> Optional[Seen]:
    """The lock object with its ETag and age, in one GET (so the three belong together); None if there is none."""
    bucket, key, _ = fs.split_path(path)

    async def get() -> tuple[bytes, dict]:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            return await body.read(), response
        finally:
            body.close()

    try:
        data, response = sync(fs.loop, get)
    except FileNotFoundError:
        return None
    try:
        holder: Optional[LockRecord] = LockRecord.model_validate_json(data)
    except ValidationError:  # not ours to read: it still lapses, by the default lease
        holder = None
    date = response["ResponseMetadata"]["HTTPHeaders"].get("date")
    now = email.utils.parsedate_to_datetime(date) if date else dt.datetime.now(dt.timezone.utc)  # Date: RFC 9110
    return Seen(holder, response["ETag"], (now - response["LastModified"]).total_seconds())


class LeaseLock:
    """A lock object at ``path`` on ``fs`` (S3), held under a lease renewed by a daemon thread (module docstring)."""

    def __init__(self, fs: Any, path: str, lease: float = LEASE, timeout: float = 0.0, poll: float = POLL,
                 on_lost: Optional[Callable[[str], None]] = None):
        self.fs, self.path, self.lease, self.timeout, self.poll, self.on_lost = fs, path, lease, timeout, poll, on_lost
        self.url = fs.unstrip_protocol(path)
        self.record = LockRecord.mine(lease)
        self.lost = threading.Event()
        self._etag: Optional[str] = None
        self._confirmed = 0.0  # time.monotonic() when the last write of ours that the server took was sent
        self._stop = threading.Event()
        self._renewer: Optional[threading.Thread] = None

    @property
    def held(self) -> bool:
        return self._etag is not None and not self.lost.is_set()

    def __enter__(self) -> "LeaseLock":
        self.acquire(self.timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self, timeout: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for its holder; ``Locked`` if it is still held then."""
        deadline = time.monotonic() + timeout
        self.lost.clear()
        while True:
            holder = self._attempt()
            if holder is None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise Locked(self.url, holder.holder)
            time.sleep(min(self.poll, left))
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="daskparse-lease", daemon=True)
        self._renewer.start()

    def _attempt(self) -> Optional[Seen]:
        """One try: None when the lock is ours now, else the live holder seen."""
        while True:  # each turn follows a change by another contender: it created, released or took over
            sent = time.monotonic()
            etag = create(self.fs, self.path, self.record)
            if etag is None:
                seen = read(self.fs, self.path)
                if seen is None:  # released in between: create again
                    continue
                if seen.holder is not None and seen.holder.token == self.record.token:
                    etag = seen.etag  # our own create, sent twice (a retry after a lost answer)
                elif not seen.lapsed:
                    return seen
                else:
                    etag = replace(self.fs, self.path, self.record, seen.etag)
                    if etag is None:  # another contender took it first, or the holder renewed: look again
                        continue
                    logger.warning("lock %s: the lease of %s lapsed %.0f s ago; taken over", self.url,
                                   describe(seen.holder), seen.age - (seen.holder.lease if seen.holder else LEASE))
            self._etag, self._confirmed = etag, sent
            return None

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 3):
            self.renew()
            if self.lost.is_set():
                return

    def renew(self) -> None:
        """Rewrite the lock object, if it is still ours (``If-Match``); otherwise mark the lock lost."""
        if self._etag is None or self.lost.is_set():
            return
        sent = time.monotonic()
        record = self.record.model_copy(update={"renewals": self.record.renewals + 1})
        try:
            etag = replace(self.fs, self.path, record, self._etag)
        except OSError as error:  # the store unreachable: try again next time, while the lease lasts
            if time.monotonic() - self._confirmed >= self.lease:
                self._lose(f"not renewed for {self.lease:g} s ({error})")
            else:
                logger.warning("lock %s: renewal failed, trying again: %s", self.url, error)
            return
        if etag is None:
            seen = read(self.fs, self.path)
            if seen is not None and seen.holder == record:  # our renewal, sent twice (a retry)
                etag = seen.etag
            else:
                self._lose(f"taken over by {describe(seen.holder) if seen else 'nobody (it was removed)'}")
                return
        self.record, self._etag, self._confirmed = record, etag, sent

    def _lose(self, why: str) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        message = f"lost the lock {self.url}: {why}; another run may be writing the same output"
        logger.error(message)
        if self.on_lost is not None:
            self.on_lost(message)

    def release(self) -> None:
        """Stop renewing, and delete the lock object if it is still ours."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        self._renewer = None
        etag, self._etag = self._etag, None
        if etag is not None and not self.lost.is_set() and not remove(self.fs, self.path, etag):
            logger.error("lock %s: no longer ours at release (taken over); left to its holder", self.url)
