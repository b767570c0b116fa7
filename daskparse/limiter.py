"""The rate limiter behind the cluster-wide gate: plain state over an injected clock, nothing of Dask.

    limiter = Limiter(Limits(rpm=1800))   # calls in flight: as many as the rate and the latency need
    limiter.in_flight_limit()             # ceil(rate x latency x headroom) + spare, never over ``concurrency``
    grant = limiter.try_grant(worker="tcp://127.0.0.1:4000", tokens=1300)
    if isinstance(grant, str):            # a slot: make the call, then give it back
        limiter.release(grant, tokens_used=1250, sent_ago=0.02)
    else:                                 # seconds to wait before asking again (inf: until a release)
        ...
    limiter.rate_limited(seconds=3.0)     # a per-minute 429 with its RetryInfo delay
    limiter.close("daily quota")          # a per-day 429

    limiter = Limiter(Limits(max_cost=5.0))   # a spend cap, USD per run
    grant = limiter.try_grant(tokens=1300, cost=0.0055)   # cost: the most the call can cost (Prices.most)
    if isinstance(grant, OverBudget):     # the cap is reached: no call this run, no waiting
        ...
    limiter.release(grant, cost=0.0012)   # what it cost (its usageMetadata priced); None: the reservation stands
    limiter.start_run()                   # a new run: nothing spent yet

A sliding log per axis (requests per ``window``, input tokens per ``window``, requests per ``day``) never lets
any window hold more than its limit, the strictest reading of a quota. Grants are spaced
``(window + guard) / rpm`` apart (GCRA) with at most ``burst`` early, so a window's quota is spread, not spent at
once; a grant handed out late to a caller that was told to wait is made up by the next ones (at most three
intervals' worth), time nobody waited through is not. A per-minute 429 pauses every grant for its RetryInfo delay,
after which grants start again one interval apart; a 429 again after the pause, within a window
of the last one, halves the rate, which then climbs back by a tenth every ``recovery`` seconds without a 429.
A per-day 429 closes the limiter until it is reopened.

The spend cap (``Budget``): a grant reserves the most its call can cost, and the release replaces that with what it
did cost. A call whose reservation, added to what is spent, would pass ``max_cost`` is refused (``OverBudget``),
and so is every later one: what is spent never goes down within a run. A call that fits what is spent but not the
reservations of the calls in flight waits for them (``inf``): they usually cost far less than they reserved.

Calls in flight follow the rate and the latency (Little's law): a quota of ``rpm`` requests a minute at ``L``
seconds a call needs ``rpm / 60 * L`` calls out at once. The limiter learns ``L`` from each release (the
caller's ``sent_ago`` is the call's time on the wire) and allows ``HEADROOM`` times that, plus ``SPARE``,
never more than ``concurrency`` (a user's cap; ``MAX_IN_FLIGHT`` without one). The rate, not this
limit, paces the calls: the limit only stops a stalled API from collecting every waiting call.

The API counts a request when it arrives, and a caller may send it well after its grant (a thread starved of
the GIL or the CPU). So each log entry is moved, at release, from the grant to when the request was sent; a grant
never released (its worker died) keeps its grant time, and one still in flight past the window counts until it
is released. The caller says how long ago it sent (``sent_ago``, on its own clock) and the limiter subtracts
that from the release's arrival on its clock: no two clocks need agree, and the release's transit only makes the
stamp later (safe). Each entry counts for window + ``guard``, so the guard covers only the spread of
send-to-arrival delays (figures: BENCHMARKS.md, rate_gate).

Not thread-safe by design: its one owner (the scheduler's event loop) calls it from one thread.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional, Union

CATCH_UP_INTERVALS = 3
MIN_RATE_FACTOR = 0.05  # halving stops here: the rate never falls to nothing
# calls in flight (``Limiter.in_flight_limit``): rate x latency x HEADROOM + SPARE, at most MAX_IN_FLIGHT
MAX_IN_FLIGHT = 256
HEADROOM, SPARE = 1.5, 4
FIRST_LATENCY = 3.0  # seconds a call is assumed to take before one is seen (Gemini Flash: 1.5-3 s with an image)
LATENCY_WEIGHT = 0.1  # each release's share of the latency estimate (an exponential moving average)


@dataclass(frozen=True)
class Limits:
    """What the limiter holds to. Counts per ``window`` / ``day`` seconds; None: no limit on that axis."""

    rpm: float = 1800  # requests per window
    tpm: Optional[int] = None  # input tokens per window
    rpd: Optional[int] = None  # requests per day
    concurrency: Optional[int] = None  # the most grants in flight at once (None: MAX_IN_FLIGHT); see in_flight_limit
    burst: int = 0  # a burst expires from the window all at once, and transit jitter then overshoots
    window: float = 60.0
    day: float = 86400.0
    recovery: float = 10.0  # seconds without a 429 for the rate to climb back a tenth
    # The log counts a request for window + guard from when it was sent: one sent first may reach the API a
    # little later than one sent last, and the API counts arrivals. 0.1 s of 60 costs 0.17% of throughput.
    guard: float = 0.1
    max_cost: Optional[float] = None  # USD a run may spend (``Budget``); None: no cap


@dataclass(frozen=True)
class OverBudget:
    """``try_grant``'s answer when the call could take the run past its spend cap: no grant this run (not a wait,
    not the daily close)."""

    max_cost: float
    spent: float  # USD, when the call was refused


class Budget:
    """A run's spend against its cap, in USD: what is spent, what calls in flight have reserved, and whether a
    call has been refused (then every later one is: ``spent`` only grows). Plain state; the owner locks.

        budget = Budget()
        budget.admit(0.005, max_cost=1.0)   # "grant", "wait" (only reservations are in the way) or "refuse"
        budget.reserve(slot, 0.005)         # granted: the most the call can cost is held
        budget.settle(slot, 0.0012)         # over: what it cost replaces the reservation (None: the reservation)
    """

    def __init__(self, spent: float = 0.0) -> None:
        self.spent = spent
        self.reserved: dict[Any, float] = {}  # slot -> the most its call can cost
        self.reached = False  # a call was refused: this run makes no more
        self.refused = 0  # calls refused

    def admit(self, cost: float, max_cost: Optional[float]) -> Literal["grant", "wait", "refuse"]:
        if max_cost is None:
            return "grant"
        if self.reached or self.spent + cost > max_cost:
            self.reached = True
            self.refused += 1
            return "refuse"
        # in flight, the reservations may be the only thing in the way: their calls usually cost far less
        return "wait" if self.spent + self.in_flight() + cost > max_cost else "grant"

    def reserve(self, slot: Any, cost: float) -> None:
        self.reserved[slot] = cost

    def settle(self, slot: Any, cost: Optional[float]) -> None:
        """A call is over: ``cost`` is spent (None: it may have been billed without our knowing what; the
        reservation is). Nothing for a slot reserved before ``Limiter.start_run``: the earlier run's."""
        reserved = self.reserved.pop(slot, None)
        if reserved is not None:
            self.spent += reserved if cost is None else cost

    def in_flight(self) -> float:
        return sum(self.reserved.values())


LIMIT_FIELDS = tuple(field.name for field in dataclasses.fields(Limits))


class Limiter:
    """Grants under ``limits``; every time is ``clock()``'s. One instance per quota."""

    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self.closed: Optional[str] = None  # why no grant is given any more (a spent daily quota)
        self.waiting = 0  # callers told to wait and still waiting: counted by whoever does the waiting
        self.rate_factor = 1.0  # the rate after the last halving (``_factor``: with its recovery since)
        self.paused_until = 0.0
        self.last_cut = -math.inf  # when the rate was last halved
        self.last_429 = -math.inf
        self.tat = 0.0  # GCRA: the theoretical arrival time of the next request
        self.behind = False  # a caller has waited since the schedule last caught up with the clock (``_grant``)
        # Sorted logs: grant times, each moved to its send time at release.
        self.requests: deque[float] = deque()  # within the window
        self.tokens: deque[list[Any]] = deque()  # [time, tokens, slot] within the window
        self.day_requests: deque[float] = deque()
        self.in_flight: dict[str, tuple[str, float, int]] = {}  # slot -> (worker, grant time, estimated tokens)
        self.granted = 0
        self.rate_limited_count = 0  # 429s reported
        self.reclaimed = 0  # slots freed because their worker left
        self.latency = FIRST_LATENCY  # seconds a call takes, sent to released (``release``'s sent_ago)
        self.budget = Budget()  # the run's spend against ``limits.max_cost`` (``start_run`` begins it again)

    # -- what callers do --------------------------------------------------------------------------------
    def try_grant(self, worker: str = "", tokens: int = 0, cost: float = 0.0) -> Union[str, float, OverBudget]:
        """A slot id if a grant is allowed now, else the seconds until one may be (``inf``: only a release or a
        new limit can make room), or ``OverBudget`` when ``cost`` (the most the call can cost, USD) could take the
        run past ``max_cost``. Does not look at ``closed``: the caller does, before asking."""
        admitted = self.budget.admit(cost, self.limits.max_cost)
        if admitted == "refuse":
            assert self.limits.max_cost is not None  # admit refuses only under a cap
            return OverBudget(self.limits.max_cost, self.budget.spent)
        if admitted == "wait":  # not a wait for the rate: nothing owed to the schedule (``behind``)
            return math.inf
        now = self.clock()
        wait = self._wait(now, tokens)
        if wait > 0:
            self.behind = True  # a caller waits: a grant handed out late from here on is made up
            return wait
        slot = self._grant(now, worker, tokens)
        self.budget.reserve(slot, cost)
        return slot

    def release(self, slot: str, tokens_used: Optional[int] = None, sent_ago: Optional[float] = None,
                cost: Optional[float] = None) -> bool:
        """A call is over. ``sent_ago``: seconds since its request was sent, on the caller's clock (None: count it
        from its grant); ``tokens_used``: the count the API reported, replacing the grant's estimate; ``cost``:
        what the call cost, USD, replacing its reservation (None: the reservation is spent). False for a slot not
        in flight (released already, or its worker left)."""
        held = self.in_flight.pop(slot, None)
        if held is None:
            return False
        self.budget.settle(slot, cost)
        _, granted, estimate = held
        now = self.clock()
        # never before its grant (a clock off), never after now
        sent = granted if sent_ago is None else min(now, max(granted, now - max(0.0, sent_ago)))
        if sent_ago is not None:
            self.latency += LATENCY_WEIGHT * (max(0.0, sent_ago) - self.latency)
        if sent > granted:
            _move(self.requests, granted, sent)
            _move(self.day_requests, granted, sent)
        for index, entry in enumerate(self.tokens):
            if entry[2] == slot:
                del self.tokens[index]
                break
        bisect.insort(self.tokens, [sent, estimate if tokens_used is None else tokens_used, slot],
                      key=lambda entry: entry[0])
        return True

    def rate_limited(self, seconds: float) -> None:
        """A per-minute 429 somewhere: pause every grant for ``seconds``; if 429s repeat, slow down.

        A 429 that comes after an earlier pause is over, within one window of the last 429, halves the rate;
        429s that arrive during a pause belong to the same storm and only count."""
        now = self.clock()
        self.rate_limited_count += 1
        if now >= self.paused_until and now - self.last_429 <= self.limits.window:
            self.rate_factor = max(MIN_RATE_FACTOR, self._factor(now) * 0.5)
            self.last_cut = now
        self.last_429 = now
        self.paused_until = max(self.paused_until, now + seconds)

    def close(self, reason: str) -> None:
        """No more grants (the first reason stays) until ``reopen``."""
        self.closed = self.closed or reason

    def reopen(self) -> None:
        self.closed = None

    def start_run(self, spent: float = 0.0) -> None:
        """A run begins: its spend starts at ``spent`` (0; or what it spent on a cluster it lost), the calls still
        in flight are an earlier run's, and the cap is not reached."""
        self.budget = Budget(spent)

    def remove_worker(self, worker: str) -> int:
        """A worker left or died: the calls it had in flight are over. Returns how many slots it held."""
        dead = [slot for slot, (address, *_) in self.in_flight.items() if address == worker]
        for slot in dead:
            del self.in_flight[slot]
            self.budget.settle(slot, None)  # its call may have been answered and billed: the reservation is spent
        self.reclaimed += len(dead)
        return len(dead)

    def in_flight_limit(self, now: Optional[float] = None) -> int:
        """How many grants may be in flight now: what the allowed rate needs at the latency seen, with headroom and
        a few spare, never more than ``concurrency`` (``MAX_IN_FLIGHT`` if unset)."""
        factor = self._factor(self.clock() if now is None else now)
        rate = self.limits.rpm * factor / self.limits.window  # requests per second
        return min(self.limits.concurrency or MAX_IN_FLIGHT, math.ceil(rate * self.latency * HEADROOM) + SPARE)

    def configure(self, **limits: Any) -> None:
        """Change limits (``Limits``' names); a new limit applies from the next grant."""
        unknown = [key for key in limits if key not in LIMIT_FIELDS]
        if unknown:
            raise ValueError(f"unknown gate limit {unknown[0]!r}")
        if not limits:
            return
        self.limits = dataclasses.replace(self.limits, **limits)
        # not after the old spacing has run out: a slower old rate must not hold back the first new grant
        now = self.clock()
        self.tat = min(self.tat, now + self._interval(now))

    def metrics(self) -> dict:
        """The limits, then the state now: plain values, snake_case."""
        now = self.clock()
        self._expire(now)
        return {
            **dataclasses.asdict(self.limits),
            "granted": self.granted,
            "waiting": self.waiting,
            "in_flight": len(self.in_flight),
            "in_flight_limit": self.in_flight_limit(now),
            "latency": round(self.latency, 3),
            "paused_for": round(max(0.0, self.paused_until - now), 3),
            "current_rpm": round(self.limits.rpm * self._factor(now), 1),
            "rate_limited": self.rate_limited_count,
            "requests_in_window": len(self.requests),
            "tokens_in_window": sum(t for _, t, _ in self.tokens),
            "requests_today": len(self.day_requests),
            "reclaimed": self.reclaimed,
            "closed": self.closed,
            "spent": round(self.budget.spent, 6),  # USD, this run (``start_run``)
            "reserved": round(self.budget.in_flight(), 6),
            "budget_reached": self.budget.reached,
            "budget_refused": self.budget.refused,
        }

    # -- the maths --------------------------------------------------------------------------------------
    def _factor(self, now: float) -> float:
        """The rate multiplier: halved on a 429, climbing back a tenth per ``recovery`` seconds without one
        (counted from the later of the cut and the pause's end)."""
        if self.rate_factor >= 1.0:
            return 1.0
        steps = max(0.0, now - max(self.last_cut, self.paused_until)) / self.limits.recovery
        return min(1.0, self.rate_factor + 0.1 * math.floor(steps))

    def _interval(self, now: float) -> float:
        """Seconds between grants at the current rate: the quota spread evenly over its window."""
        return (self.limits.window + self.limits.guard) / (self.limits.rpm * self._factor(now))

    def _expire(self, now: float) -> None:
        window = self.limits.window + self.limits.guard
        while self.requests and self.requests[0] <= now - window:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - window:
            self.tokens.popleft()
        while self.day_requests and self.day_requests[0] <= now - self.limits.day - self.limits.guard:
            self.day_requests.popleft()

    def _wait(self, now: float, tokens: int) -> float:
        """Seconds until a grant is allowed (<= 0: now); ``inf``: only a release can make room."""
        limits = self.limits
        self._expire(now)
        if len(self.in_flight) >= self.in_flight_limit(now):
            return math.inf
        window = limits.window + limits.guard
        interval = self._interval(now)
        waits = [self.paused_until - now, self.tat - limits.burst * interval - now]
        # Still in flight though its grant left the log: it may have been sent late, so it counts until released.
        stale = [estimate for _, granted, estimate in self.in_flight.values() if granted <= now - window]
        room = int(limits.rpm) - len(stale)
        if len(self.requests) >= room:  # the window holds its limit: wait for the entry that frees a place
            waits.append(math.inf if room <= 0 else self.requests[len(self.requests) - room] + window - now)
        if limits.rpd is not None and len(self.day_requests) >= limits.rpd:
            waits.append(self.day_requests[len(self.day_requests) - limits.rpd] + limits.day + limits.guard - now)
        if limits.tpm is not None and (self.tokens or stale):
            excess = sum(t for _, t, _ in self.tokens) + sum(stale) + tokens - limits.tpm
            for when, used, _ in self.tokens:  # the time enough of the window's tokens will have expired
                if excess <= 0:
                    break
                excess -= used
                waits.append(when + window - now)
        return max(waits)

    def _grant(self, now: float, worker: str, tokens: int) -> str:
        slot = uuid.uuid4().hex
        interval = self._interval(now)
        # A grant handed out late to a caller told to wait (a timer or the event loop waking late) is made up by
        # the next grants, up to three intervals' worth, instead of lost for good: with burst 0 the lost time
        # alone cut the rate. Time nobody waited through (a fresh start, an idle gate, a 429's pause) is not
        # owed: made up, it would send 1 + burst + 3 at once, right after a 429 too.
        earliest = now - CATCH_UP_INTERVALS * interval if self.behind else now
        self.tat = max(self.tat, earliest, self.paused_until) + interval
        if self.tat - self.limits.burst * interval > now:
            self.behind = False  # caught up: the next caller will wait, or find the gate idle
        self.requests.append(now)
        self.day_requests.append(now)
        self.tokens.append([now, tokens, slot])
        self.in_flight[slot] = (worker, now, tokens)
        self.granted += 1
        return slot


def _move(log: deque[float], old: float, new: float) -> None:
    """Move an entry of a sorted log from ``old`` to ``new``, keeping it sorted (``_expire`` pops from the left
    and ``_wait`` reads the rpm-th latest by index). An entry already expired comes back if ``new`` still
    counts; if not, the next ``_expire`` drops it."""
    index = bisect.bisect_left(log, old)
    if index < len(log) and log[index] == old:
        del log[index]
    bisect.insort(log, new)


__all__ = ["Budget", "Limiter", "Limits", "LIMIT_FIELDS", "OverBudget"]
