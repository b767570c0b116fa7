"""The gate's limiter on its own: a fake clock moved by hand, so every test is exact and sleeps for nothing."""

import math

import pytest

from daskparse.limiter import LIMIT_FIELDS, Limiter, Limits, OverBudget


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _limiter(clock, **limits):
    return Limiter(Limits(**limits), clock=clock)


def _run(limiter, clock, count, tokens=0, hold=0.0):
    """Ask for ``count`` grants one after another, sleeping (on the fake clock) as told; each call lasts ``hold``
    seconds. Returns the grant times."""
    times: list[float] = []
    while len(times) < count:
        grant = limiter.try_grant("w", tokens)
        if isinstance(grant, str):
            times.append(clock.now)
            clock.now += hold
            limiter.release(grant)
        else:
            assert grant > 0 and grant != math.inf
            clock.now += grant
    return times


def _max_in_window(times, window):
    return max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))


def test_grants_are_spaced_evenly_after_the_burst_and_no_window_holds_more_than_the_limit():
    clock = Clock()
    limiter = _limiter(clock, rpm=8, window=1.0, burst=3, concurrency=100, guard=0.0)  # one per 0.125 s
    times = _run(limiter, clock, 40)
    assert times[:4] == [1000.0] * 4  # the first grant and the burst: a fresh limiter owes nothing more
    assert times[4] == 1000.125  # then one interval apart, until the window's log is full
    assert _max_in_window(times, 1.0) == 8 and times[-1] < 1005.0  # the limit in every window, and no less


def test_the_guard_stretches_the_window_and_the_spacing():
    clock = Clock()
    limiter = _limiter(clock, rpm=8, window=1.5, burst=0, concurrency=100, guard=0.5)
    times = _run(limiter, clock, 30)
    assert [b - a for a, b in zip(times[:4], times[1:5])] == [0.25] * 4  # (window + guard) / rpm apart, no burst
    assert _max_in_window(times, 2.0) == 8  # a request counts for window + guard


def test_without_spacing_the_log_alone_holds_the_window():
    clock = Clock()
    limiter = _limiter(clock, rpm=5, window=1.0, burst=100, concurrency=100, guard=0.0)
    times = _run(limiter, clock, 10)
    assert times[:5] == [1000.0] * 5 and times[5:] == [1001.0] * 5  # the sixth waits for the first to expire


def test_grants_handed_out_late_are_made_up_not_lost():
    clock = Clock()
    limiter = _limiter(clock, rpm=32, window=4.0, burst=0, concurrency=100, guard=0.0)  # one grant per 0.125 s
    _run(limiter, clock, 8)
    wait = limiter.try_grant("w")
    assert wait == 0.125
    clock.now += wait + 1.0  # the scheduler woke a second late
    at_once = 0
    while isinstance(limiter.try_grant("w"), str):
        at_once += 1
    assert at_once == 4  # the late grant and three intervals' worth of those it fell behind by, no more


def test_time_nobody_waited_through_is_not_made_up():
    clock = Clock()
    limiter = _limiter(clock, rpm=32, window=4.0, burst=1, concurrency=100, guard=0.0)  # one grant per 0.125 s
    _run(limiter, clock, 3)
    clock.now += 10.0  # idle: nobody asked
    start = clock.now
    times = [t - start for t in _run(limiter, clock, 4)]
    assert times == [0.0, 0.0, 0.125, 0.25]  # the first and the burst, then spaced: no catch-up


def test_after_a_429_grants_start_again_one_interval_apart():
    clock = Clock()
    limiter = _limiter(clock, rpm=32, window=4.0, burst=1, concurrency=100, guard=0.0, recovery=100.0)
    _run(limiter, clock, 3)
    limiter.rate_limited(3.0)
    assert limiter.try_grant("w") == 3.0  # a caller waits through the pause
    clock.now += 3.0
    start = clock.now
    times = [t - start for t in _run(limiter, clock, 4)]
    # Before, a schedule 3 s behind was made up at once: 1 + burst + 3 requests the moment a 429's pause ended.
    assert times == [0.0, 0.0, 0.125, 0.25]


def test_the_concurrency_cap_waits_for_a_release():
    clock = Clock()
    limiter = _limiter(clock, rpm=10_000, concurrency=2, burst=100)
    first, second = limiter.try_grant("w"), limiter.try_grant("w")
    assert isinstance(first, str) and isinstance(second, str)
    assert limiter.try_grant("w") == math.inf  # only a release can make room
    assert limiter.release(first) and not limiter.release(first)  # a second release of a slot changes nothing
    assert isinstance(limiter.try_grant("w"), str)
    assert limiter.metrics()["in_flight"] == 2


def _fill(limiter, clock):
    """Grants until the in-flight limit stops them (the rate never does here); returns the slots."""
    slots = []
    while isinstance(grant := limiter.try_grant("w"), str):
        slots.append(grant)
    assert grant == math.inf  # only a release can make room: the in-flight limit, not the rate
    return slots


def test_calls_in_flight_follow_the_rate_and_the_latency_seen():
    """Little's law: 1,800 a minute at 3 s a call (the first guess) need 90 calls out; at 0.5 s, 15. With headroom
    x1.5 and 4 spare: 139, then 27 once calls are seen to take 0.5 s. A 429's halving of the rate halves it."""
    from daskparse.limiter import FIRST_LATENCY, HEADROOM, SPARE

    clock = Clock()
    limiter = _limiter(clock, rpm=1800, window=60.0, burst=10_000)
    assert limiter.in_flight_limit() == math.ceil(30 * FIRST_LATENCY * HEADROOM) + SPARE == 139
    assert len(_fill(limiter, clock)) == 139
    for slot in list(limiter.in_flight):  # the releases say each call took 0.5 s on the wire
        limiter.release(slot, sent_ago=0.5)
    for _ in range(100):
        limiter.release(limiter.try_grant("w"), sent_ago=0.5)
    assert limiter.metrics()["latency"] == pytest.approx(0.5, abs=0.01)
    assert limiter.in_flight_limit() == math.ceil(30 * 0.5 * HEADROOM) + SPARE == 27
    limiter.rate_limited(0.0)
    clock.now += 1
    limiter.rate_limited(0.0)  # a repeat after the pause: the rate is halved, and so are the calls it needs
    assert limiter.metrics()["current_rpm"] == 900 and limiter.in_flight_limit() == math.ceil(15 * 0.5 * 1.5) + 4


def test_a_users_concurrency_caps_the_calls_in_flight_and_a_slow_api_meets_the_ceiling():
    from daskparse.limiter import MAX_IN_FLIGHT, SPARE

    clock = Clock()
    assert _limiter(clock, rpm=1800, concurrency=7).in_flight_limit() == 7
    assert len(_fill(_limiter(clock, rpm=1800, concurrency=7, burst=10_000), clock)) == 7
    stalled = _limiter(clock, rpm=1800)
    stalled.release(stalled.try_grant("w"), sent_ago=120.0)  # a call that took two minutes
    assert stalled.in_flight_limit() == MAX_IN_FLIGHT  # not 30/s x 14.7 s: a stalled API does not collect them all
    slow_quota = _limiter(clock, rpm=10)  # one every 6 s: one call out is plenty, and a few spare
    assert slow_quota.in_flight_limit() == 1 + SPARE
    assert _limiter(clock, rpm=10, concurrency=2).in_flight_limit() == 2  # the user's cap wins over the spare


def test_a_release_without_a_send_time_teaches_nothing_about_latency():
    clock = Clock()
    limiter = _limiter(clock, rpm=1800)
    before = limiter.latency
    limiter.release(limiter.try_grant("w"))  # never sent (it failed before leaving): no latency seen
    assert limiter.latency == before


def test_a_429_pauses_every_grant_and_only_a_repeat_after_the_pause_halves_the_rate():
    clock = Clock()
    limiter = _limiter(clock, rpm=600, window=1.0, burst=0, concurrency=100, recovery=0.2)
    assert isinstance(limiter.try_grant("w"), str)
    limiter.rate_limited(0.5)
    limiter.rate_limited(0.5)  # the same storm: counted, no slower
    assert limiter.metrics()["current_rpm"] == 600 and limiter.metrics()["rate_limited"] == 2
    assert limiter.try_grant("w") == pytest.approx(0.5)
    assert limiter.metrics()["paused_for"] == 0.5
    clock.now += 0.5
    assert isinstance(limiter.try_grant("w"), str)
    limiter.rate_limited(0.1)  # again, after the pause was over, within a window of the last: halved
    assert limiter.metrics()["current_rpm"] == 300


def test_the_rate_climbs_back_a_tenth_per_recovery_period_from_the_end_of_the_pause():
    clock = Clock()
    limiter = _limiter(clock, rpm=100, window=1.0, recovery=1.0)
    limiter.rate_limited(0.1)
    clock.now += 0.2
    limiter.rate_limited(0.1)  # halved to 50
    assert limiter.metrics()["current_rpm"] == 50
    clock.now += 0.1 + 0.99  # the pause ended 0.99 s ago: not yet a whole recovery period
    assert limiter.metrics()["current_rpm"] == 50
    clock.now += 0.02
    assert limiter.metrics()["current_rpm"] == 60
    clock.now += 10
    assert limiter.metrics()["current_rpm"] == 100  # and never above the limit


def test_a_429_long_after_the_last_one_only_pauses():
    clock = Clock()
    limiter = _limiter(clock, rpm=100, window=1.0)
    limiter.rate_limited(0.1)
    clock.now += 1.5  # more than a window since the last 429
    limiter.rate_limited(0.1)
    assert limiter.metrics()["current_rpm"] == 100


def test_halving_stops_at_a_twentieth_of_the_rate():
    clock = Clock()
    limiter = _limiter(clock, rpm=1000, window=100.0, recovery=1000.0)
    for _ in range(10):
        limiter.rate_limited(0.1)
        clock.now += 0.2
    assert limiter.metrics()["current_rpm"] == 50


def test_a_slower_rate_spaces_grants_wider():
    clock = Clock()
    limiter = _limiter(clock, rpm=8, window=1.0, burst=0, concurrency=100, guard=0.0, recovery=100.0)
    limiter.rate_limited(0.0)
    clock.now += 0.25
    limiter.rate_limited(0.0)  # halved: 4 per window
    times = _run(limiter, clock, 6)
    assert times[4] - times[3] == times[5] - times[4] == 0.25


def test_a_closed_limiter_stays_closed_with_its_first_reason_until_reopened():
    limiter = _limiter(Clock())
    limiter.close("daily quota used up")
    limiter.close("another")
    assert limiter.closed == "daily quota used up" == limiter.metrics()["closed"]
    limiter.reopen()
    assert limiter.closed is None


def test_the_tokens_the_api_reported_replace_the_estimate_and_hold_the_token_window():
    clock = Clock()
    limiter = _limiter(clock, rpm=10_000, burst=100, tpm=1000, window=0.5, guard=0.0)
    one = limiter.try_grant("w", tokens=600)
    clock.now += 0.1
    limiter.release(one, tokens_used=700)
    assert limiter.metrics()["tokens_in_window"] == 700
    assert limiter.try_grant("w", tokens=400) == pytest.approx(0.4)  # 700 + 400 > 1000: until the 700 expire
    assert isinstance(limiter.try_grant("w", tokens=300), str)  # 700 + 300 fits


def test_the_tokens_of_a_call_still_in_flight_past_the_window_keep_counting():
    clock = Clock()
    limiter = _limiter(clock, rpm=10_000, burst=100, tpm=1000, window=0.5, guard=0.0)
    limiter.try_grant("w", tokens=900)
    clock.now += 1.0  # its grant left the token log; it may still be sent
    assert limiter.metrics()["tokens_in_window"] == 0
    assert isinstance(limiter.try_grant("w", tokens=100), str)
    assert limiter.try_grant("w", tokens=100) == pytest.approx(0.5)  # 900 + 100 held: the 100 must expire


def test_the_day_window_holds_requests_per_day():
    clock = Clock()
    limiter = _limiter(clock, rpm=10_000, burst=100, rpd=3, window=0.5, day=10.0, guard=0.0)
    times = _run(limiter, clock, 4)
    assert times[:3] == [1000.0] * 3 and times[3] == 1010.0
    assert limiter.metrics()["requests_today"] == 1


def test_a_request_counts_from_when_it_was_sent_not_from_its_grant():
    clock = Clock()
    limiter = _limiter(clock, rpm=1, window=0.5, burst=0, concurrency=100, guard=0.0)
    first = limiter.try_grant("w")
    clock.now += 0.3  # released 0.3 s after its grant, sent 0.1 s before that
    limiter.release(first, sent_ago=0.1)
    assert limiter.try_grant("w") == pytest.approx(0.5 - 0.1)  # a window from the send at +0.2, not the grant


def test_a_send_time_never_moves_a_grant_earlier_and_unreleased_grants_keep_counting():
    clock = Clock()
    limiter = _limiter(clock, rpm=2, window=1.0, burst=100, concurrency=100, guard=0.0)
    early = limiter.try_grant("w", tokens=10)
    limiter.try_grant("w", tokens=10)
    clock.now += 0.5
    limiter.release(early, sent_ago=60.0)  # "sent" before its grant (a clock off): stays at its grant
    assert not limiter.release("unknown", sent_ago=0.0)
    clock.now += 0.49
    assert limiter.metrics()["requests_in_window"] == 2 and limiter.metrics()["tokens_in_window"] == 20
    clock.now += 0.51  # both grants have left the log; the unreleased one may still be sent late: it holds a place
    assert limiter.metrics()["requests_in_window"] == 0
    assert isinstance(limiter.try_grant("w"), str)  # one of rpm 2 held: room for one
    clock.now += 1.5  # now that one is past the window too, unreleased: both places held until a release
    assert limiter.try_grant("w") == math.inf


def test_a_send_time_is_never_later_than_the_release():
    clock = Clock()
    limiter = _limiter(clock, rpm=1, window=1.0, burst=0, concurrency=100, guard=0.0)
    slot = limiter.try_grant("w")
    clock.now += 0.5
    limiter.release(slot, sent_ago=-5.0)  # a negative age (a clock off) counts as sent now
    assert limiter.try_grant("w") == pytest.approx(1.0)


def test_a_workers_slots_come_back_when_it_leaves():
    limiter = _limiter(Clock(), concurrency=2, rpm=10_000, burst=100)
    limiter.try_grant("tcp://dead:1")
    limiter.try_grant("tcp://alive:2")
    assert limiter.try_grant("tcp://alive:2") == math.inf
    assert limiter.remove_worker("tcp://dead:1") == 1 and limiter.remove_worker("tcp://dead:1") == 0
    assert isinstance(limiter.try_grant("tcp://alive:2"), str)
    assert limiter.metrics()["reclaimed"] == 1


def test_a_new_limit_applies_from_the_next_grant():
    clock = Clock()
    limiter = _limiter(clock, rpm=10, window=100.0, burst=0, concurrency=100, guard=0.0)  # one per 10 s
    _run(limiter, clock, 4)
    assert limiter.try_grant("w") == 10.0
    limiter.configure(rpm=1000)
    assert limiter.try_grant("w") == pytest.approx(0.1)  # one new interval, not what was left of the old one
    assert limiter.metrics()["rpm"] == 1000


def test_an_unknown_limit_is_refused_and_changes_nothing():
    limiter = _limiter(Clock(), rpm=5)
    with pytest.raises(ValueError, match="unknown gate limit 'nonsense'"):
        limiter.configure(rpm=7, nonsense=1)
    assert limiter.limits.rpm == 5


def test_metrics_give_the_limits_then_the_state():
    limiter = _limiter(Clock(), rpm=120, concurrency=3)
    metrics = limiter.metrics()
    assert list(metrics)[:len(LIMIT_FIELDS)] == list(LIMIT_FIELDS)
    assert list(metrics)[len(LIMIT_FIELDS):] == [
        "granted", "waiting", "in_flight", "in_flight_limit", "latency", "paused_for", "current_rpm", "rate_limited", "requests_in_window",
        "tokens_in_window", "requests_today", "reclaimed", "closed", "spent", "reserved", "budget_reached",
        "budget_refused"]
    assert metrics["rpm"] == 120 and metrics["concurrency"] == 3 and metrics["closed"] is None


# -- the spend cap ------------------------------------------------------------------------------------------


def _capped(**limits):
    """A limiter whose rate never holds a call back (the fake clock stands still): only the budget answers."""
    return _limiter(Clock(), rpm=1e6, burst=100_000, **limits)


def test_a_call_that_could_pass_the_cap_is_refused_at_once_and_so_is_every_later_one():
    limiter = _capped(max_cost=1.0)
    first = limiter.try_grant("w", cost=0.6)
    assert isinstance(first, str)
    limiter.release(first, cost=0.5)  # it cost less than it reserved
    refused = limiter.try_grant("w", cost=0.6)  # 0.5 spent + 0.6 > 1.0: never, not later
    assert refused == OverBudget(max_cost=1.0, spent=0.5)
    assert isinstance(limiter.try_grant("w", cost=0.1), OverBudget)  # it would fit, but the run's budget is over
    metrics = limiter.metrics()
    assert metrics["spent"] == 0.5 and metrics["reserved"] == 0.0
    assert metrics["budget_reached"] is True and metrics["budget_refused"] == 2
    assert metrics["granted"] == 1


def test_up_to_the_cap_exactly_is_granted():
    limiter = _capped(max_cost=1.0)
    for _ in range(4):
        limiter.release(limiter.try_grant("w", cost=0.25))
    assert limiter.metrics()["spent"] == 1.0 and not limiter.metrics()["budget_reached"]
    assert isinstance(limiter.try_grant("w", cost=0.001), OverBudget)


def test_reservations_in_flight_make_a_caller_wait_for_their_release_not_a_refusal():
    limiter = _capped(max_cost=1.0)
    one, two = limiter.try_grant("w", cost=0.4), limiter.try_grant("w", cost=0.4)
    assert limiter.metrics()["reserved"] == 0.8
    assert limiter.try_grant("w", cost=0.4) == math.inf  # only the reservations are in the way: a release may free room
    assert not limiter.metrics()["budget_reached"]
    limiter.release(one, cost=0.05)  # what it really cost replaces its reservation
    assert limiter.metrics()["spent"] == 0.05 and limiter.metrics()["reserved"] == 0.4
    three = limiter.try_grant("w", cost=0.4)  # 0.05 + 0.4 + 0.4 fits
    assert isinstance(three, str)
    limiter.release(two)  # no cost given (the call failed on the way): its reservation is spent
    assert limiter.metrics()["spent"] == pytest.approx(0.45)


def test_a_dead_workers_calls_are_spent_at_their_reservation():
    limiter = _capped(max_cost=1.0)
    limiter.try_grant("dead", cost=0.3)
    assert limiter.remove_worker("dead") == 1
    metrics = limiter.metrics()
    assert metrics["spent"] == 0.3 and metrics["reserved"] == 0.0


def test_the_spend_never_passes_the_cap_whatever_the_calls_cost():
    """Many callers, each call reserving its most and costing a random share of it; the spent sum plus what is in
    flight never passes the cap, and once refused nothing more is granted."""
    import random

    rng = random.Random(7)
    limiter = _capped(max_cost=0.05)
    in_flight: list[tuple[str, float]] = []
    refused = False
    for _ in range(2000):
        if in_flight and rng.random() < 0.5:
            slot, most = in_flight.pop(rng.randrange(len(in_flight)))
            limiter.release(slot, cost=most * rng.random())
        else:
            most = rng.uniform(0.0005, 0.006)
            grant = limiter.try_grant("w", cost=most)
            if isinstance(grant, str):
                assert not refused
                in_flight.append((grant, most))
            elif isinstance(grant, OverBudget):
                refused = True
        budget = limiter.budget
        assert budget.spent + budget.in_flight() <= 0.05 + 1e-12
    assert refused


def test_a_new_run_starts_from_nothing_spent():
    limiter = _capped(max_cost=1.0)
    old = limiter.try_grant("w", cost=0.5)
    limiter.release(limiter.try_grant("w", cost=0.5), cost=0.5)
    assert isinstance(limiter.try_grant("w", cost=0.6), OverBudget)
    limiter.start_run()
    assert limiter.metrics()["spent"] == 0.0 and not limiter.metrics()["budget_reached"]
    limiter.release(old, cost=0.9)  # an earlier run's call ending now: not this run's spend
    assert limiter.metrics()["spent"] == 0.0
    assert isinstance(limiter.try_grant("w", cost=0.5), str)
    limiter.start_run(spent=0.8)  # a run that spent 0.8 on a cluster it lost
    assert isinstance(limiter.try_grant("w", cost=0.3), OverBudget)


def test_without_a_cap_calls_are_counted_and_never_refused():
    limiter = _capped()
    for _ in range(5):
        limiter.release(limiter.try_grant("w", cost=10.0), cost=7.0)
    assert limiter.metrics()["spent"] == 35.0 and limiter.metrics()["max_cost"] is None


def test_a_refusal_does_not_hold_back_the_rate_and_a_budget_wait_is_not_owed():
    """A budget answer comes before the rate's: a refused call takes no place in the window, and a wait for
    reservations does not count as a wait for the schedule (no catch-up grants are owed for it)."""
    clock = Clock()
    limiter = _limiter(clock, rpm=60, max_cost=1.0)  # one a second
    limiter.try_grant("w", cost=0.9)  # held: its reservation stays in flight
    assert limiter.try_grant("w", cost=0.2) == math.inf
    assert not limiter.behind and limiter.metrics()["requests_in_window"] == 1
