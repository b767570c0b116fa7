"""The lock across machines on S3 (issue 19, ``daskparse.lease``): two clients of moto's real S3 server on 127.0.0.1
(two s3fs instances, or this process and another), short leases, real signals. Nothing is mocked."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import fsspec
import pytest

from daskparse import lease
from daskparse.lease import LeaseLock, LockRecord, Locked

HOLDER = textwrap.dedent("""
    import logging, sys
    import fsspec
    from daskparse.lease import LeaseLock
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    lock = LeaseLock(fsspec.filesystem("s3"), sys.argv[1], lease=float(sys.argv[2]))
    lock.acquire()
    print("held", flush=True)
    lock.lost.wait()
    print("lost", flush=True)
    lock.release()
    print("released", flush=True)
""")


def client():
    """A second, separate S3 client (its own s3fs instance, its own connections)."""
    return fsspec.filesystem("s3", skip_instance_cache=True)


def start_holder(path, lease_seconds, tmp_path):
    log = tmp_path / f"holder-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-c", HOLDER, path, str(lease_seconds)], stdout=out,
                                   stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while "held" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return process, log


def test_a_second_client_is_refused_while_the_lock_is_held_and_told_who_holds_it(s3_bucket):
    from daskparse.schedule import LockHeld, output_lock

    path = f"{s3_bucket}/out/.daskparse.lock"
    first, second = client(), client()
    with LeaseLock(first, path, lease=30) as holding:
        with pytest.raises(Locked) as refused:
            LeaseLock(second, path).acquire()
        assert refused.value.holder == holding.record  # pid, host, start, command and token, read from the object
        with pytest.raises(LockHeld) as held:  # the run's own lock: the same object, the CLI's message
            with output_lock(f"s3://{s3_bucket}/out"):
                pass
        assert f"pid {os.getpid()} on " in str(held.value) and "this run did nothing" in str(held.value)
    assert not first.exists(path)  # released: deleted
    with LeaseLock(second, path, lease=30) as again:  # and free for the next
        assert again.held and lease.read(first, path).holder.token == again.record.token


def test_a_killed_holders_lease_lapses_and_the_next_acquire_takes_over(s3_bucket, tmp_path, caplog):
    path = f"{s3_bucket}/out/.daskparse.lock"
    holder, _ = start_holder(path, 1.5, tmp_path)  # another process, renewing every half second
    try:
        with pytest.raises(Locked) as refused:
            LeaseLock(client(), path).acquire()
        assert refused.value.holder.pid == holder.pid
        holder.kill()  # SIGKILL: no release
        holder.wait(30)
        # its lease has not lapsed yet: its last renewal is at most half a second old, and a lapse needs
        # Date - Last-Modified >= 2.5 s (more than a second to spare on a busy machine)
        with pytest.raises(Locked):
            LeaseLock(client(), path).acquire()
        with LeaseLock(client(), path, lease=30, timeout=30, poll=0.2) as taker:  # waits out the lease
            assert lease.read(client(), path).holder == taker.record
        [warning] = [record.getMessage() for record in caplog.records if "taken over" in record.getMessage()]
        assert f"the lease of pid {holder.pid} on " in warning
    finally:
        holder.kill()


def test_a_holder_stalled_past_its_lease_loses_the_lock_says_so_and_does_not_delete_the_new_one(s3_bucket, tmp_path):
    path = f"{s3_bucket}/out/.daskparse.lock"
    stalled, log = start_holder(path, 1, tmp_path)
    try:
        stalled.send_signal(signal.SIGSTOP)  # a stalled machine: no renewal
        with LeaseLock(client(), path, lease=30, timeout=30, poll=0.2) as taker:
            stalled.send_signal(signal.SIGCONT)  # its next renewal finds the lock taken: lost, then released
            assert stalled.wait(30) == 0
            text = log.read_text()
            lines = text.splitlines()  # its prints (stdout) and its log (stderr) may interleave
            assert lines.index("lost") < lines.index("released"), text
            assert f"ERROR lost the lock s3://{path}: taken over by pid {os.getpid()} on " in text
            assert lease.read(client(), path).holder == taker.record  # its release left the new holder's lock
            assert taker.held
        assert not client().exists(path)
    finally:
        stalled.send_signal(signal.SIGCONT)
        stalled.kill()


def test_two_contenders_for_a_stale_lock_exactly_one_takes_it(s3_bucket):
    """Both read the stale lock (same ETag) before either writes: the interleaving in which both judge it free.
    (Raced from threads instead, the outcome would rest on moto's server, whose conditional writes are a check and
    a write without a lock between them; S3's are atomic.)"""
    path = f"{s3_bucket}/out/.daskparse.lock"
    one, two = client(), client()
    assert lease.create(one, path, LockRecord.mine(lease=0.01))  # a holder that died at once
    deadline = time.monotonic() + 30
    while not (seen := lease.read(one, path)).lapsed:  # by the server's clock: Date - Last-Modified >= lease + 1 s
        assert time.monotonic() < deadline
        time.sleep(0.2)
    seen_by_two = lease.read(two, path)
    assert seen_by_two.lapsed and seen_by_two.etag == seen.etag
    first, second = LockRecord.mine(30), LockRecord.mine(30)
    won = lease.replace(one, path, first, seen.etag)
    lost = lease.replace(two, path, second, seen_by_two.etag)
    assert won and lost is None
    assert lease.read(two, path).holder == first
    with pytest.raises(Locked) as refused:  # the loser's acquire now sees a live holder
        LeaseLock(two, path).acquire()
    assert refused.value.holder == first
    assert not lease.remove(two, path, seen.etag) and lease.read(one, path).holder == first  # a stale ETag deletes nothing


def test_renewal_keeps_a_live_holders_lock_past_its_lease(s3_bucket):
    path = f"{s3_bucket}/out/.daskparse.lock"
    first, second = client(), client()
    with LeaseLock(first, path, lease=1.5) as holding:  # renewed every half second
        deadline = time.monotonic() + 30
        while holding.record.renewals < 4:  # two seconds on: past its lease of 1.5
            assert time.monotonic() < deadline and not holding.lost.is_set()
            time.sleep(0.1)
        with pytest.raises(Locked) as refused:
            LeaseLock(second, path).acquire()
        assert refused.value.holder.token == holding.record.token
        seen = lease.read(second, path)
        assert not seen.lapsed and seen.holder.renewals >= 4
    assert not holding.lost.is_set() and not first.exists(path)


def test_the_batch_ledgers_lock_on_s3_waits_for_the_holder(s3_bucket):
    from daskparse.batch import BatchLedger

    url = f"s3://{s3_bucket}/cache"
    first, second = BatchLedger(url, "v1", lease_seconds=30), BatchLedger(url, "v1", lease_seconds=30)
    holding, leaving = threading.Event(), threading.Event()

    def hold():
        with first.lock():
            holding.set()
            time.sleep(0.5)
            leaving.set()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(Locked):
            with second.lock(timeout=0.1):
                pass
        with second.lock(timeout=30):  # waits for the first to finish
            assert leaving.is_set()
            assert fsspec.filesystem("s3").exists(f"{s3_bucket}/cache/batches/v1/.daskparse.lock")
            assert second.records() == []  # the lock's object is not taken for a job's record
    finally:
        holder.join(30)


def test_an_output_in_a_bucket_that_does_not_exist_is_an_error_and_creates_nothing(s3_bucket):
    from daskparse.errors import RunError
    from daskparse.schedule import output_lock

    missing = f"{s3_bucket}-missing"
    with pytest.raises(RunError, match=f"cannot lock the output s3://{missing}/out"):
        with output_lock(f"s3://{missing}/out"):
            pass
    assert not client().exists(missing)


def test_the_lease_is_a_setting_given_as_a_duration(monkeypatch):
    from daskparse.settings import Settings, SettingsError, load_settings

    assert Settings().lock_lease == 60.0
    monkeypatch.setenv("DASKPARSE_LOCK_LEASE", "2m")
    assert load_settings().lock_lease == 120.0
    with pytest.raises(SettingsError, match="lock_lease|LOCK_LEASE"):
        load_settings(lock_lease="soon")


def test_two_runs_on_one_s3_output_one_exits_4_naming_the_other_which_stops_once_its_lock_is_taken_over(
        s3_server, s3_bucket, tmp_path):
    """Two CLI runs at once: the second is turned away, naming the first. Then the first, a ``--every`` process (a
    laptop that slept past its lease, woken after another machine took its output over), loses its lock: it must
    not go on running. The takeover is done here as a contender that found its lease lapsed would (the stall
    itself: ``test_a_holder_stalled_past_its_lease_...``)."""
    env = {**os.environ, **s3_server, "DASKPARSE_LOCK_LEASE": "1s"}
    flyer = sorted((Path(__file__).resolve().parent.parent / "data" / "flyers").glob("*.jpg"))[0]
    path = f"{s3_bucket}/out/.daskparse.lock"
    args = [sys.executable, "-m", "daskparse", "run", str(flyer), "--extractor", "local", "--workers", "1",
            "--threads", "1", "--output", f"s3://{s3_bucket}/out", "--cache", str(tmp_path / "cache")]
    log = tmp_path / "every.log"
    with open(log, "w") as out:
        every = subprocess.Popen([*args, "--every", "1h"], env=env, cwd=tmp_path, stdout=out,
                                 stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while "Next run at" not in log.read_text():  # its run is done; it waits, holding the lock
            assert every.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        turned_away = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert turned_away.returncode == 4, turned_away.stderr
        [line] = turned_away.stderr.strip().splitlines()
        assert f"another run holds the lock on s3://{s3_bucket}/out (pid {every.pid} on " in line
        assert "--every 1h" in line and line.endswith("this run did nothing")

        fs, mine = client(), LockRecord.mine(30)
        while not lease.replace(fs, path, mine, (seen := lease.read(fs, path)).etag):  # racing its renewals
            assert seen.holder.pid == every.pid
        assert every.wait(60) == 4
        text = log.read_text()
        assert f"lost the lock s3://{path}: taken over by pid {os.getpid()} on " in text, text
        assert "Traceback" not in text and text.count("Next run at") == 1  # no further run
        assert lease.read(fs, path).holder == mine  # its release left the new holder's lock
    finally:
        every.kill()
        every.wait()
