"""The cluster-wide rate gate: every Gemini call in the cluster asks the scheduler for a grant.

    gate = RateGate.install(client, rpm=1800, concurrency=20)   # once per run, from the client
    with RateGate.on_worker().slot(tokens=1300, cost=0.0055) as grant:   # in a task (or for_this_worker())
        response = call_gemini()                                          # cost: the most the call can cost, USD
        grant.tokens_used = response.usage_metadata.prompt_token_count
        grant.cost_used = 0.0012          # what it did cost (None: the reservation is spent)
        # grant.sent_at: this process's time.monotonic() when the request left (set by the extractor's hooks)
        # grant.rate_limited = 3.0: a per-minute 429 said so; the release pauses every caller in the cluster
    gate.metrics()                        # granted, waiting, in flight, paused until, current rate, 429s
    gate.configure(rpm=600)               # from a notebook, while the run goes on
    gate.configure(max_cost=5.0, spent=0.0)   # a run's spend cap, and its spend so far (a run starts its budget)

``slot`` raises ``QuotaExhausted`` once the daily quota closed the gate, and ``BudgetReached`` once a call could
take the run past its spend cap (``Limiter``'s ``Budget``).

The rules (sliding windows, spacing, 429s, the daily close, counting from the send, the spend cap) are the
``Limiter``'s
(daskparse.limiter), a plain class tested on its own; this module only puts one per gate name on the scheduler
and carries calls to it.

Why a scheduler extension and not ``distributed.Semaphore`` + ``Variable``: pacing must be atomic across the
cluster, and a Variable has no compare-and-set, so a token bucket needs a Lock around it, a few round trips per
grant: too slow, under load, for the rate a large quota needs once 429 handling is added. A Semaphore caps
concurrency, not rate, and a worker that dies holding a lease blocks its slot until the lease times out, which a
run cannot shorten on a scheduler it did not start. Handlers on the scheduler's own event loop are atomic by
construction (one RPC per grant), use one clock, and ``remove_worker`` frees a dead worker's slots at once
(figures: BENCHMARKS.md, rate_gate). The same pattern as distributed's own ``SemaphoreExtension``: a
``handlers`` dict naming every remote route, plain dicts of state on the scheduler, a thin client object that
binds late and pickles by name.

The worker reports how long ago its request was sent on its own clock, and the scheduler's limiter subtracts
that from the release's arrival: no two machines' clocks need agree. State lives on the scheduler only and is
lost if it restarts: ``install`` registers the extension on every run.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from distributed import Worker, get_worker

from daskparse.errors import BudgetReached, QuotaExhausted
from daskparse.limiter import LIMIT_FIELDS, Limiter, Limits, OverBudget
from daskparse.scheduler_plugins import OncePerScheduler, register_once

GATE_NAME = "daskparse"
PLUGIN_NAME = "daskparse-rate-gate"
MAX_SLEEP = 1.0  # a waiting grant looks again at least this often, whatever it was told (a missed wake-up)


def current_worker() -> Optional[Worker]:
    """The worker running this code (in a task, or a function given to ``client.run``); None anywhere else."""
    try:
        return get_worker()
    except ValueError:  # get_worker's only way to say "not in a worker": said once, here
        return None


class RateGateExtension(OncePerScheduler):
    """The scheduler side: one ``Limiter`` per gate name, reached through ``handlers``; waiting happens here.

    Registered once per scheduler (``register_once``: a second run keeps the first one's state). Adds these routes
    to the scheduler: daskparse_gate_configure, daskparse_gate_acquire, daskparse_gate_release,
    daskparse_gate_pause, daskparse_gate_close, daskparse_gate_metrics."""

    name = PLUGIN_NAME

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.gates: dict[str, Limiter] = {}  # gate name -> its limiter
        # gate name -> set when something may let a waiting grant through (a release, a pause's end, a new limit)
        self.changed: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        # gate name -> callers waiting for a grant, first come first served; the head's future is done (it asks)
        self.queues: defaultdict[str, collections.deque[asyncio.Future]] = defaultdict(collections.deque)
        self.handlers = {
            "daskparse_gate_configure": self.configure,
            "daskparse_gate_acquire": self.acquire,
            "daskparse_gate_release": self.release,
            "daskparse_gate_pause": self.pause,
            "daskparse_gate_close": self.close_gate,
            "daskparse_gate_metrics": self.metrics,
        }

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler
        scheduler.handlers.update(self.handlers)

    def limiter(self, name: str = GATE_NAME) -> Limiter:
        """The gate's limiter, made with the default limits the first time the name is used."""
        if name not in self.gates:
            self.gates[name] = Limiter(Limits(), clock=self.clock)
        return self.gates[name]

    # -- routes -------------------------------------------------------------------------------------------
    def configure(self, name: str = GATE_NAME, reopen: bool = False, spent: Optional[float] = None,
                  **limits: Any) -> dict:
        """New limits; ``reopen``: a new run reopens a gate a spent daily quota closed; ``spent``: a run starts its
        budget from this (``Limiter.start_run``)."""
        limiter = self.limiter(name)
        limiter.configure(**limits)
        if reopen:
            limiter.reopen()
        if spent is not None:
            limiter.start_run(spent)
        self._notify(name)
        return limiter.metrics()

    async def acquire(self, name: str = GATE_NAME, worker: str = "", tokens: int = 0, cost: float = 0.0) -> dict:
        """Wait on the scheduler's loop until a grant is possible; the reply is a slot id, the gate closed, or the
        spend cap reached (``over_budget``: [max_cost, spent], at once, without waiting).

        Callers queue first come, first served, and only the head of the queue asks the limiter: with calls in
        flight no longer bound by threads, hundreds may wait at once, and waking them all at every release cost
        the scheduler's loop ~20 ms of CPU per grant (bench/cpu_per_image, latency-bound) and the quota its pace.
        """
        limiter = self.limiter(name)
        queue = self.queues[name]
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        if len(queue) == 1:
            turn.set_result(None)
        limiter.waiting += 1
        try:
            await turn
            event = self.changed[name]
            while not limiter.closed:
                grant = limiter.try_grant(worker, tokens, cost)
                if isinstance(grant, str):
                    return {"slot": grant, "closed": None}
                if isinstance(grant, OverBudget):
                    return {"slot": None, "closed": None, "over_budget": [grant.max_cost, grant.spent]}
                event.clear()
                try:  # woken early by a release, a pause ending or a new limit; else when the wait is over
                    await asyncio.wait_for(event.wait(), timeout=min(grant, MAX_SLEEP))
                except asyncio.TimeoutError:
                    pass
            return {"slot": None, "closed": limiter.closed}
        finally:
            limiter.waiting -= 1
            head = queue[0] is turn
            queue.remove(turn)  # the head, or a caller that went away while queued (its worker died)
            if head and queue and not queue[0].done():
                queue[0].set_result(None)  # the next in line asks now

    def release(self, name: str = GATE_NAME, slot: str = "", tokens_used: Optional[int] = None,
                sent_ago: Optional[float] = None, pause: Optional[float] = None,
                cost: Optional[float] = None) -> None:
        """A call is over. ``sent_ago``: seconds since its request last left the worker, on the worker's clock;
        ``pause``: it met a per-minute 429 asking this many seconds (``pause``, in the same step as the release);
        ``cost``: what it cost, USD (None: its reservation is spent)."""
        if pause is not None:
            self.limiter(name).rate_limited(pause)
        if name in self.gates:
            self.gates[name].release(slot, tokens_used=tokens_used, sent_ago=sent_ago, cost=cost)
            self._notify(name)

    def pause(self, name: str = GATE_NAME, seconds: float = 1.0) -> dict:
        """A per-minute 429 somewhere in the cluster (``Limiter.rate_limited``)."""
        limiter = self.limiter(name)
        limiter.rate_limited(seconds)
        self._notify(name)
        return limiter.metrics()

    def close_gate(self, name: str = GATE_NAME, reason: str = "closed") -> None:
        self.limiter(name).close(reason)
        self._notify(name)

    def metrics(self, name: str = GATE_NAME) -> dict:
        return self.limiter(name).metrics()

    # -- hooks ------------------------------------------------------------------------------------------
    def remove_worker(self, scheduler, worker: str, **kwargs) -> None:
        """A worker left or died: the calls it had in flight are over, give their slots back now."""
        for name, limiter in self.gates.items():
            if limiter.remove_worker(worker):
                self._notify(name)

    def _notify(self, name: str) -> None:
        if name in self.changed:  # no waiter has made an event yet: nobody to wake
            self.changed[name].set()


class Grant:
    """What ``slot()`` yields: set ``tokens_used`` to the input tokens the API reported, ``sent_at`` to this
    process's ``time.monotonic()`` when the request left (the gate then counts it from then, not the grant),
    ``rate_limited`` to a per-minute 429's delay (the release pauses every caller for it) and ``cost_used`` to
    what the call cost, USD (left None, the slot's reservation is spent)."""

    def __init__(self, slot: str):
        self.slot = slot
        self.tokens_used: Optional[int] = None
        self.sent_at: Optional[float] = None
        self.rate_limited: Optional[float] = None
        self.cost_used: Optional[float] = None


class RateGate:
    """The thin client of the gate, on the client or in a worker task.

    It binds late, as ``distributed.Semaphore`` does: without ``scheduler_rpc``/``loop`` it finds, when first
    used, the worker it runs in (whose address goes with each grant, so the worker's death frees its slots) or
    else the default client. It pickles to its name, so one made on the client can travel into tasks.

        gate = RateGate.install(client)        # or RateGate(name=...) where the extension is installed
        client.submit(call_with, gate)         # in the task: with gate.slot(): ... (bound to that worker)
    """

    def __init__(self, scheduler_rpc: Any = None, loop: Any = None, worker: str = "", name: str = GATE_NAME):
        # worker: the address of the worker this gate speaks for; "" on the client (or not bound yet)
        self._rpc, self._loop, self.worker, self.name = scheduler_rpc, loop, worker, name
        self._closed: Optional[str] = None

    @classmethod
    def install(cls, client, name: str = GATE_NAME, **limits: Any) -> "RateGate":
        """Register the extension on the client's scheduler (once; a second run keeps its state) and set limits."""
        register_once(client, RateGateExtension())
        gate = cls(client.scheduler, client.loop, name=name)
        gate.configure(**{key: value for key, value in limits.items() if key in LIMIT_FIELDS})
        return gate

    @classmethod
    def for_this_worker(cls, name: str = GATE_NAME) -> Optional["RateGate"]:
        """This worker's gate, bound now; None outside a worker (``RateGate(name=name)`` binds on first use)."""
        worker = current_worker()
        return None if worker is None else cls(worker.scheduler, worker.loop, worker.address, name)

    @classmethod
    def on_worker(cls, name: str = GATE_NAME) -> "RateGate":
        """This worker's gate, bound now: ValueError outside a worker (``for_this_worker`` says None instead)."""
        gate = cls.for_this_worker(name)
        if gate is None:
            raise ValueError("RateGate.on_worker() outside a Dask worker")
        return gate

    def __getstate__(self) -> str:
        # the name only: the scheduler's address differs between machines (a proxy), and a loop does not travel
        return self.name

    def __setstate__(self, name: str) -> None:
        self.__init__(name=name)  # type: ignore[misc]

    def _bind(self) -> None:
        if self._rpc is not None and self._loop is not None:
            return
        worker = current_worker()
        if worker is not None:
            self._rpc, self._loop, self.worker = worker.scheduler, worker.loop, worker.address
        else:
            from distributed import get_client

            client = get_client()  # ValueError outside a worker or a client: nothing to speak to
            self._rpc, self._loop = client.scheduler, client.loop

    def _call(self, route: str, **kwargs: Any) -> Any:
        from distributed.utils import sync

        self._bind()
        return sync(self._loop, getattr(self._rpc, route), name=self.name, **kwargs)

    @contextmanager
    def slot(self, tokens: int = 0, cost: float = 0.0) -> Iterator[Grant]:
        """A grant for one call of ``tokens`` input tokens that may cost up to ``cost`` USD."""
        self._bind()  # before reading self.worker: a late gate learns its worker here
        reply = self._call("daskparse_gate_acquire", worker=self.worker, tokens=int(tokens), cost=float(cost))
        if reply["closed"]:
            self._closed = reply["closed"]
            raise QuotaExhausted(reply["closed"])
        if reply.get("over_budget"):
            raise BudgetReached(*reply["over_budget"])
        grant = Grant(reply["slot"])
        try:
            yield grant
        finally:
            from distributed.utils import sync

            sync(self._loop, self._release, grant)

    async def _release(self, grant: Grant) -> None:
        # The age is taken on the event loop just before the RPC goes: the less time between it and the
        # scheduler reading it, the closer the stamp (any gap makes it later, never earlier).
        sent_ago = None if grant.sent_at is None else time.monotonic() - grant.sent_at
        await self._rpc.daskparse_gate_release(name=self.name, slot=grant.slot, tokens_used=grant.tokens_used,
                                               sent_ago=sent_ago, pause=grant.rate_limited, cost=grant.cost_used)

    def pause(self, seconds: float) -> dict:
        return self._call("daskparse_gate_pause", seconds=float(seconds))

    def close(self, reason: str) -> None:
        self._closed = self._closed or reason
        self._call("daskparse_gate_close", reason=reason)

    @property
    def closed(self) -> Optional[str]:
        return self._closed

    def configure(self, reopen: bool = False, spent: Optional[float] = None, **limits: Any) -> dict:
        """New limits (``Limits``' names); ``reopen`` after a spent daily quota; ``spent``: a run's budget starts."""
        return self._call("daskparse_gate_configure", reopen=reopen, spent=spent, **limits)

    def metrics(self) -> dict:
        return self._call("daskparse_gate_metrics")


__all__ = ["RateGate", "RateGateExtension", "Grant", "GATE_NAME", "Limiter", "Limits", "current_worker"]
