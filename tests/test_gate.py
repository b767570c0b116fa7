"""The cluster-wide rate gate: its scheduler routes on their own, then across worker processes, then against the
server (the limiter's rules on their own, on a fake clock: test_limiter.py)."""

import asyncio
import os
import pickle
import signal
import time

import pytest
from distributed import Client, LocalCluster

from daskparse.errors import BudgetReached, QuotaExhausted
from daskparse.gate import RateGate, RateGateExtension


class _Scheduler:
    handlers: dict = {}


def _extension(**limits):
    extension = RateGateExtension()
    asyncio.run(extension.start(_Scheduler()))
    extension.configure(**limits)
    return extension


def _max_in_window(times, window):
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))


def test_no_sliding_window_ever_holds_more_than_the_limit_and_grants_are_spread():
    extension = _extension(rpm=20, window=1.0, burst=3, concurrency=100, guard=0.0)

    async def main():
        times = []
        for _ in range(50):
            reply = await extension.acquire(worker="w")
            times.append(time.monotonic())
            extension.release(slot=reply["slot"])
        return times

    times = asyncio.run(main())
    assert _max_in_window(times, 1.0) <= 20
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    assert gaps[len(gaps) // 2] >= 0.04  # spaced ~1/20 s apart after the burst, not a minute's worth at once
    assert extension.metrics()["granted"] == 50


def test_the_extension_adds_every_route_to_the_scheduler():
    extension = _extension()
    assert set(extension.handlers) == {f"daskparse_gate_{route}" for route in
                                       ("configure", "acquire", "release", "pause", "close", "metrics")}
    assert all(_Scheduler.handlers[route] == handler for route, handler in extension.handlers.items())


def test_concurrency_cap_and_release():
    extension = _extension(rpm=10_000, concurrency=2, burst=100)

    async def main():
        first = await extension.acquire(worker="w")
        await extension.acquire(worker="w")
        third = asyncio.ensure_future(extension.acquire(worker="w"))
        await asyncio.sleep(0.2)
        assert not third.done() and extension.metrics()["waiting"] == 1
        extension.release(slot=first["slot"])
        return await asyncio.wait_for(third, 2)

    assert asyncio.run(main())["slot"]
    assert extension.metrics()["in_flight"] == 2


def test_waiting_callers_are_served_in_turn_and_only_the_first_in_line_asks_the_limiter():
    """Hundreds of calls may wait at once now that calls in flight are not bound by threads: a release must not wake
    them all (each asking the limiter) but hand the next grant to the caller first in line."""
    extension = _extension(rpm=100_000, concurrency=1, burst=1000)
    limiter = extension.limiter()
    asked = []
    original = limiter.try_grant
    limiter.try_grant = lambda worker="", tokens=0, cost=0.0: asked.append(worker) or original(worker, tokens, cost)

    async def main():
        first = await extension.acquire(worker="first")
        waiters = []
        for index in range(100):
            waiters.append(asyncio.ensure_future(extension.acquire(worker=f"w{index}")))
            await asyncio.sleep(0)  # each reaches the queue before the next: their order is known
        await asyncio.sleep(0.05)
        assert extension.metrics()["waiting"] == 100
        slot, order = first["slot"], []
        for _ in range(100):
            asked.clear()
            extension.release(slot=slot)
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED, timeout=5)
            assert len(done) == 1 and len(asked) <= 2  # one caller woke, and asked (twice at most: a spurious wake)
            winner = done.pop()
            waiters.remove(winner)
            slot = winner.result()["slot"]
            order.append(limiter.in_flight[slot][0])
        return order

    assert asyncio.run(main()) == [f"w{index}" for index in range(100)]  # first come, first served
    assert extension.metrics()["waiting"] == 0


def test_a_caller_that_goes_away_while_queued_leaves_the_line_and_the_gate_closing_reaches_the_rest():
    extension = _extension(rpm=100_000, concurrency=1, burst=1000)

    async def main():
        first = await extension.acquire(worker="first")
        second = asyncio.ensure_future(extension.acquire(worker="second"))
        third = asyncio.ensure_future(extension.acquire(worker="third"))
        fourth = asyncio.ensure_future(extension.acquire(worker="fourth"))
        await asyncio.sleep(0.05)
        third.cancel()  # its worker died while it waited in line
        await asyncio.sleep(0.05)
        assert extension.metrics()["waiting"] == 2 and len(extension.queues["daskparse"]) == 2
        extension.release(slot=first["slot"])
        granted = await asyncio.wait_for(second, 2)
        assert granted["slot"] and not fourth.done()
        extension.close_gate(reason="the daily quota")
        return await asyncio.wait_for(fourth, 2)

    assert asyncio.run(main()) == {"slot": None, "closed": "the daily quota"}
    assert extension.metrics()["waiting"] == 0 and not extension.queues["daskparse"]


def test_a_429_pauses_every_grant_and_repeated_429s_halve_the_rate_which_recovers():
    extension = _extension(rpm=600, window=1.0, burst=0, concurrency=100, recovery=0.2)

    async def main():
        await extension.acquire(worker="w")
        extension.pause(seconds=0.5)
        extension.pause(seconds=0.5)  # the same storm: counted, no slower
        paused_at = time.monotonic()
        assert extension.metrics()["current_rpm"] == 600 and extension.metrics()["rate_limited"] == 2
        await extension.acquire(worker="w")
        waited = time.monotonic() - paused_at
        extension.pause(seconds=0.1)  # again, after the pause was over: the rate is halved
        assert extension.metrics()["current_rpm"] == 300
        await asyncio.sleep(0.45)
        return waited, extension.metrics()["current_rpm"]

    waited, rpm_after = asyncio.run(main())
    assert waited >= 0.49
    assert rpm_after > 300  # climbing back after `recovery` seconds without a 429


def test_a_release_that_met_a_429_pauses_before_it_frees_the_slot():
    """The 429's pause travels with the release: the caller the release wakes does not slip out before it."""
    extension = _extension(rpm=10_000, burst=100, concurrency=1, recovery=100.0)

    async def main():
        first = await extension.acquire(worker="w")
        waiting = asyncio.ensure_future(extension.acquire(worker="w"))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the one slot is held
        released_at = time.monotonic()
        extension.release(slot=first["slot"], sent_ago=0.01, pause=0.3)
        await asyncio.wait_for(waiting, 2)
        return time.monotonic() - released_at

    assert asyncio.run(main()) >= 0.29
    assert extension.metrics()["rate_limited"] == 1 and extension.metrics()["in_flight"] == 1


def test_a_closed_gate_answers_at_once():
    extension = _extension()
    extension.close_gate(reason="daily quota used up")
    assert asyncio.run(extension.acquire(worker="w")) == {"slot": None, "closed": "daily quota used up"}
    extension.configure(reopen=True)
    assert asyncio.run(extension.acquire(worker="w"))["slot"]


def test_the_spend_cap_a_caller_waits_for_reservations_then_is_refused_at_once():
    """A call that fits what is spent but not the reservations in flight waits for a release; one that would pass
    the cap with what is spent is answered over budget at once, and so is every later one; a new run (configure
    with spent) starts from its own spend."""
    extension = _extension(rpm=10_000, burst=100, max_cost=1.0)

    async def main():
        first = await extension.acquire(worker="w", cost=0.7)
        waiting = asyncio.ensure_future(extension.acquire(worker="w", cost=0.5))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # 0.7 reserved + 0.5 > 1.0, but the 0.7 may cost less
        extension.release(slot=first["slot"], cost=0.3)  # it did: 0.3 + 0.5 fits
        second = await asyncio.wait_for(waiting, 2)
        assert second["slot"]
        extension.release(slot=second["slot"], cost=0.5)
        return await asyncio.wait_for(extension.acquire(worker="w", cost=0.5), 2)  # 0.8 + 0.5 > 1.0

    assert asyncio.run(main()) == {"slot": None, "closed": None, "over_budget": [1.0, 0.8]}
    assert asyncio.run(extension.acquire(worker="w", cost=0.01))["over_budget"] == [1.0, 0.8]  # once over, over
    metrics = extension.metrics()
    assert metrics["spent"] == 0.8 and metrics["budget_reached"] and metrics["budget_refused"] == 2
    extension.configure(spent=0.0)  # the next run
    assert asyncio.run(extension.acquire(worker="w", cost=0.5))["slot"]
    assert extension.metrics()["spent"] == 0.0 and not extension.metrics()["budget_reached"]


def test_tokens_per_minute_and_requests_per_day():
    extension = _extension(rpm=10_000, burst=100, tpm=1000, rpd=3, window=0.5, day=1.0, guard=0.0)

    async def main():
        start = time.monotonic()
        one = await extension.acquire(worker="w", tokens=600)
        extension.release(slot=one["slot"], tokens_used=700)  # the real count replaces the estimate
        await extension.acquire(worker="w", tokens=400)  # 700 + 400 > 1000: waits out the window
        after_tpm = time.monotonic() - start
        await extension.acquire(worker="w", tokens=1)
        await extension.acquire(worker="w", tokens=1)  # the fourth of the day waits for the day window
        return after_tpm, time.monotonic() - start

    after_tpm, after_day = asyncio.run(main())
    assert after_tpm >= 0.49 and after_day >= 0.99


def test_a_dead_workers_slots_come_back():
    extension = _extension(concurrency=1, rpm=10_000, burst=100)

    async def main():
        await extension.acquire(worker="tcp://dead:1")
        waiting = asyncio.ensure_future(extension.acquire(worker="tcp://alive:2"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        extension.remove_worker(None, "tcp://dead:1")
        return await asyncio.wait_for(waiting, 1)

    assert asyncio.run(main())["slot"]
    assert extension.metrics()["reclaimed"] == 1


def test_a_request_counts_from_when_it_was_sent_not_from_its_grant():
    """A request sent late (its thread ran late) reaches the API late: the next grant waits a window from the send."""
    extension = _extension(rpm=1, window=0.5, burst=0, concurrency=100, guard=0.0)

    async def main():
        first = await extension.acquire(worker="w")
        await asyncio.sleep(0.2)  # the worker thread only now sends the request
        sent = time.monotonic()
        extension.release(slot=first["slot"], sent_ago=0.0)
        await extension.acquire(worker="w")
        return sent, time.monotonic()

    sent, second = asyncio.run(main())
    assert second >= sent + 0.5  # counted from its grant it would have left the window 0.2 s before the send did


@pytest.fixture(scope="module")
def cluster_client():
    with LocalCluster(n_workers=2, threads_per_worker=4, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def test_two_worker_processes_share_one_limit(cluster_client):
    gate = RateGate.install(cluster_client, name="shared", rpm=30, window=1.0, burst=2, concurrency=8, guard=0.25)
    futures = [cluster_client.submit(_grab_named, 10, "shared", pure=False) for _ in range(8)]
    results = cluster_client.gather(futures)
    assert len({pid for pid, _ in results}) == 2  # both processes took part
    times = [t for _, ts in results for t in ts]
    assert len(times) == 80 and _max_in_window(times, 1.0) <= 30
    assert gate.metrics()["granted"] == 80 and gate.metrics()["in_flight"] == 0


def _grab_named(count, name):
    gate = RateGate.on_worker(name)
    times = []
    for _ in range(count):
        with gate.slot():
            times.append(time.time())
    return os.getpid(), times


def _die_holding_a_slot(name):
    gate = RateGate.on_worker(name)
    with gate.slot():
        os.kill(os.getpid(), signal.SIGKILL)


def _one_slot(name):
    with RateGate.on_worker(name).slot():
        return time.time()


def test_a_killed_worker_gives_its_capacity_back_within_5_seconds(cluster_client):
    gate = RateGate.install(cluster_client, name="deaths", rpm=10_000, burst=100, concurrency=1)
    cluster_client.submit(_die_holding_a_slot, "deaths", pure=False)
    deadline = time.time() + 10
    while gate.metrics()["in_flight"] == 0 and time.time() < deadline:  # wait for it to take the slot
        time.sleep(0.01)
    killed_by = time.time()
    while gate.metrics()["reclaimed"] == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert gate.metrics()["reclaimed"] == 1 and time.time() - killed_by < 5
    granted_at = cluster_client.submit(_one_slot, "deaths", pure=False).result(timeout=30)
    assert granted_at - killed_by < 5 + 10  # a fresh slot was granted (allowing for the nanny's restart)


def _closed_gate(name):
    try:
        with RateGate.on_worker(name).slot():
            return "granted"
    except QuotaExhausted as error:
        return error.kind


def test_closing_the_gate_reaches_every_worker(cluster_client):
    gate = RateGate.install(cluster_client, name="closing")
    gate.close("daily quota")
    results = cluster_client.gather([cluster_client.submit(_closed_gate, "closing", pure=False) for _ in range(4)])
    assert results == ["gemini.quota_exhausted"] * 4


def _spend(name, cost, most):
    try:
        with RateGate.on_worker(name).slot(cost=most) as grant:
            grant.cost_used = cost
            return "granted"
    except BudgetReached as error:
        return error.kind


def test_the_spend_cap_is_one_for_the_cluster_and_the_release_carries_the_cost(cluster_client):
    gate = RateGate.install(cluster_client, name="budget", rpm=10_000, burst=100, max_cost=0.01)
    gate.configure(spent=0.0)
    # each call may cost 0.004 and costs 0.003: 3 fit (0.009 + 0.004 > 0.01 refuses the 4th and every later one)
    results = [cluster_client.submit(_spend, "budget", 0.003, 0.004, pure=False, workers=[address]).result()
               for address in list(cluster_client.scheduler_info()["workers"]) * 3]
    assert results == ["granted"] * 3 + ["gemini.budget_reached"] * (len(results) - 3)
    metrics = gate.metrics()
    assert metrics["spent"] == 0.009 and metrics["reserved"] == 0.0 and metrics["max_cost"] == 0.01


def test_operator_changes_limits_of_a_running_gate(cluster_client):
    gate = RateGate.install(cluster_client, name="operator", rpm=100)
    assert gate.metrics()["rpm"] == 100
    assert gate.configure(rpm=250, concurrency=5)["rpm"] == 250
    with pytest.raises(Exception, match="unknown gate limit"):
        gate.configure(nonsense=1)


def _slot_and_worker(gate):
    from distributed import get_worker

    with gate.slot():
        return gate.worker, get_worker().address


def test_a_gate_binds_late_and_travels_into_tasks_by_name(cluster_client):
    """As distributed.Semaphore: made anywhere, it finds the worker (or client) it runs in when first used."""
    installed = RateGate.install(cluster_client, name="travels", rpm=10_000, burst=100)
    late = RateGate(name="travels")  # made before any use: bound to nothing yet
    assert pickle.loads(pickle.dumps(late)).name == "travels" and len(pickle.dumps(late)) < 200
    results = cluster_client.gather([cluster_client.submit(_slot_and_worker, gate, pure=False)
                                     for gate in (installed, late)])
    # each grant spoke for the worker it ran on (so that worker's death would free its slot)
    assert all(bound == address and address.startswith("tcp://") for bound, address in results)
    assert late.metrics()["granted"] == 2 and late.worker == ""  # on the client: the client's own gate


def test_against_a_sliding_window_quota_the_gate_causes_no_429_and_a_scripted_429_pauses_everyone(cluster_client,
                                                                                                  tmp_path):
    """Two worker processes, the real client, a server enforcing 20 requests per 2 s window."""
    import daskparse
    from conftest import jpeg_bytes
    from daskparse.testing.gemini_server import GeminiServer, Latency

    for i in range(60):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg_bytes(color=(i, 2 * i, 3 * i)))
    key = "gate-test-key"
    with GeminiServer(api_key=key, rpm=20, minute_seconds=2.0, latency=Latency.fixed(0.05)) as server:
        server.add_fault("rate_limit", seconds=3.0)  # the first call is told to back off for 3 s
        result = daskparse.parse_images(
            [str(tmp_path / "*.jpg")], extractor="gemini", client=cluster_client, gemini_api_key=key,
            gemini_base_url=server.base_url, timeout=10, rpm=20, gate_window=2.0, burst=1, concurrency=20)
        assert result.errors.empty and len(set(result.shows["source"])) == 60
        # the one 429 is the scripted one: the gate's own pacing never overshot the window
        assert server.count(":generateContent", status=429) == 1 == server.rate_limited["rpm"]
        arrivals = sorted(r.time for r in server.requests if r.path.endswith(":generateContent"))
        # every process paused together: at 10 requests/s the only long silence is the 3 s pause, and only
        # the few calls granted before the 429 reached the gate went out ahead of it
        gaps = [(b - a, i) for i, (a, b) in enumerate(zip(arrivals, arrivals[1:]))]
        longest, before = max(gaps)
        assert longest >= 2.5 and before + 1 <= 6
        assert result.stats["rateLimited"] == 1 and result.stats["gate"]["rateLimited"] == 1
        assert result.stats["gate"]["inFlight"] == 0


def test_separately_started_scheduler_and_workers_share_one_gate(dask_processes, tmp_path):
    """`python -m daskparse run --scheduler ADDRESS` on `dask scheduler` + two `dask worker` processes."""
    import json
    import subprocess
    import sys

    from conftest import jpeg_bytes
    from daskparse.cache import cache_stats
    from daskparse.testing.gemini_server import GeminiServer, Latency

    for i in range(40):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg_bytes(color=(5 * i, 2 * i, 3 * i)))
    key = "gate-test-key"
    with GeminiServer(api_key=key, rpm=20, minute_seconds=2.0, latency=Latency.fixed(0.05)) as server:
        env = {**os.environ, "GEMINI_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": server.base_url,
               "DASKPARSE_GATE_WINDOW": "2"}
        del env["DASKPARSE_CACHE"]  # the default, resolved by the client (the workers have another directory)
        env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
        done = subprocess.run([sys.executable, "-m", "daskparse", "run", str(tmp_path / "*.jpg"), "--scheduler",
                               dask_processes, "--rpm", "20", "--output", str(tmp_path / "out"), "--timeout", "10"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        stats = json.loads((tmp_path / "out" / "stats.json").read_text())
        assert stats["totalImages"] == 40 and stats["errors"] == 0
        assert server.count(":generateContent", status=429) == 0 == stats["rateLimited"]
        arrivals = [r.time for r in server.requests if r.path.endswith(":generateContent")]
        assert len(arrivals) == 40 and _max_in_window(arrivals, 2.0) <= 20
        assert stats["gate"]["granted"] == 40 and stats["gate"]["inFlight"] == 0
        assert cache_stats(str(tmp_path / "user-cache" / "daskparse"))["live"] == 40  # stored where the client reads

    def die_holding_a_slot(name):  # local, so it travels by value: workers started elsewhere cannot import tests
        from daskparse.gate import RateGate

        with RateGate.on_worker(name).slot():
            os.kill(os.getpid(), signal.SIGKILL)

    with Client(dask_processes, timeout="10s") as client:  # a worker killed holding a slot gives it back
        assert len(client.nthreads()) == 2
        gate = RateGate.install(client, name="deaths-separate", rpm=10_000, burst=100, concurrency=1)
        client.submit(die_holding_a_slot, "deaths-separate", pure=False)
        deadline = time.time() + 20
        while gate.metrics()["in_flight"] == 0 and time.time() < deadline:
            time.sleep(0.01)
        killed_by = time.time()
        while gate.metrics()["reclaimed"] == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert gate.metrics()["reclaimed"] == 1 and time.time() - killed_by < 5
