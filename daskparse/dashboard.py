"""The daskparse page on the Dask dashboard, and the same numbers as ``daskparse_*`` metrics on ``/metrics``.

    board = RunBoard(progress)          # on the client: the run's progress callback, forwarding to ``progress``
    link = board.attach(client)         # the board on client's scheduler (added once); the page's URL or None
    board.close()                       # the run is over: its last numbers, marked finished

    dask scheduler --preload daskparse.dashboard     # a cluster started elsewhere: the page from its start
    http://SCHEDULER:8787/daskparse                   # the page (500 ms updates); /metrics: daskparse_*

The page shows the latest run: where it stands (the time left, or "done"), images done and failed, cache hit
rate, shows found, its latest error rows; and, for a Gemini run only, the rate gate (granted rate against the
limit, in flight, paused, 429s), tokens and estimated cost. The metrics count every run since the scheduler
started. Where the numbers live: the gate's in ``RateGateExtension`` (read in-process), a
run's on the client until each partition ends, then here, in ``BoardExtension`` on the scheduler: one
RPC per partition, sent from the client's event loop without waiting (latest wins, at most one in flight), so
a slow scheduler never slows a run and a failed publish is only logged.

Why a sibling of the gate's extension rather than more routes on it: the gate is on the path of every Gemini
call and is installed only for Gemini runs; the board observes every run, draws with Bokeh, and a page that
fails to build must not touch the gate. Same style: a ``handlers`` dict, plain dicts, a thin client.

The page is added at run time to the scheduler's own HTTP server (``RoutingApplication.add_application``,
as distributed adds its own Bokeh pages): by the preload, or when a daskparse client first attaches, so it
appears on any scheduler with a Bokeh dashboard and daskparse installed. No dashboard (``--no-dashboard``):
no page and no link; the metrics are still on ``/metrics``.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import time
import uuid
import weakref
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional
from urllib.parse import urljoin, urlsplit, urlunsplit

from daskparse.console import batch_states
from daskparse.gate import GATE_NAME, PLUGIN_NAME as GATE_PLUGIN
from daskparse.scheduler_plugins import OncePerScheduler, add_once, register_once

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger("daskparse")
BOARD_NAME = "daskparse-board"
PAGE = "daskparse"
KEEP_RUNS = 20  # runs kept one by one; older finished ones are folded into ``retired``
# RunProgress fields that add up across runs (the metrics' counters)
COUNTED = ("done", "failed", "shows", "cache_hits", "requests", "input_tokens", "output_tokens", "thoughts_tokens",
           "estimated_cost_usd")
UPDATE_MS = 500
HISTORY = 1200  # points kept per plot: 10 minutes at 500 ms
SOURCE_CHARS = 80  # an error row's source, shortened in the middle (a path's file name is at its end)
MESSAGE_CHARS = 300
SENT_CHARS = 1000  # an error row's fields as sent to the scheduler: the RPC stays small whatever a source holds


class BoardExtension(OncePerScheduler):
    """The scheduler side: the latest progress of each run, the page, and the metrics collector.

    Registered by every run (``register_once``): the first one (or the preload's) stays, with its state."""

    name = BOARD_NAME

    def __init__(self) -> None:
        self.runs: dict[str, dict] = {}  # run id -> its latest RunProgress fields, seq, client, finished
        self.retired: Counter = Counter()  # COUNTED sums of runs dropped from ``runs``
        self.page: Optional[str] = None
        self.scheduler = None

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler
        scheduler.handlers.update({
            "daskparse_board_publish": self.publish,
            "daskparse_board_page": self.page_path,
        })
        _collector().board = weakref.ref(self)
        try:
            self.page = _add_page(scheduler)
        except Exception:  # noqa: BLE001 - the numbers are still on /metrics and the runs go on
            logger.warning("could not add the daskparse page to the Dask dashboard", exc_info=True)

    # -- routes -------------------------------------------------------------------------------------------
    def publish(self, run: str = "", seq: int = 0, client: str = "", finished: bool = False,
                **progress: Any) -> None:
        """A run's progress after a partition; an older one arriving late (``seq``) is dropped."""
        current = self.runs.get(run)
        if current is not None and current["seq"] > seq:
            return
        progress = {key: value for key, value in progress.items() if value is not None}  # cost of an unknown model
        self.runs.pop(run, None)  # to the end: ``runs`` is ordered from the least recently updated
        self.runs[run] = {**progress, "seq": seq, "client": client, "received": time.monotonic(),
                          "finished": finished or bool(current and current["finished"])}
        if len(self.runs) > KEEP_RUNS:
            self._retire()

    def page_path(self) -> Optional[str]:
        """The page's path on the dashboard, or None when the scheduler has no Bokeh dashboard."""
        return self.page

    # -- hooks ------------------------------------------------------------------------------------------
    def remove_client(self, scheduler, client: str) -> None:
        """A client gone mid-run (killed, interrupted) ends its runs: they no longer count as running."""
        for state in self.runs.values():
            if state["client"] == client:
                state["finished"] = True

    # -- reading ----------------------------------------------------------------------------------------
    def totals(self) -> dict:
        """COUNTED summed over every run this scheduler has seen (never decreasing: the metrics' counters)."""
        sums = Counter(self.retired)
        for state in self.runs.values():
            sums.update({key: state.get(key, 0) for key in COUNTED})
        return {key: sums[key] for key in COUNTED}

    def latest(self) -> dict:
        """The run updated last (the page's run), or {} before the first."""
        return next(reversed(self.runs.values()), {})

    def gates(self) -> dict[str, dict]:
        """Each rate gate's metrics, by name (none before a Gemini run installed the gate)."""
        gate = self.scheduler.plugins.get(GATE_PLUGIN) if self.scheduler is not None else None
        return {name: gate.metrics(name) for name in list(gate.gates)} if gate is not None else {}

    def snapshot(self) -> dict:
        """One point of the page's plots: the gate's numbers now and the latest run's."""
        gate = self.gates().get(GATE_NAME, {})
        run = self.latest()
        done = run.get("done", 0)
        return {
            "time": time.time() * 1000,  # Bokeh's datetime axis counts milliseconds
            "granted_rpm": _granted_rpm(gate) if gate else 0.0,
            "limit_rpm": gate.get("rpm", 0.0),
            "allowed_rpm": gate.get("current_rpm", 0.0),
            "in_flight": gate.get("in_flight", 0),
            "waiting": gate.get("waiting", 0),
            "concurrency": gate.get("in_flight_limit", 0),  # the limit now: it follows the rate and latency
            "paused_for": gate.get("paused_for", 0.0),
            "rate_limited": gate.get("rate_limited", 0),
            **{key: run.get(key, 0) for key in ("total", *COUNTED)},
            "cache_hit_rate": run.get("cache_hits", 0) / done if done else 0.0,
            "running": bool(run) and not run["finished"],
            "gemini": uses_gemini(run),
            "status": run_status(run, time.monotonic()),
            "errors": run.get("latest_errors", []),
            "batch_jobs": [tuple(job) for job in run.get("batch_jobs", [])],
        }

    def _retire(self) -> None:
        finished = [run for run, state in self.runs.items() if state["finished"]]
        for run in finished[:len(self.runs) - KEEP_RUNS]:  # the least recently updated first
            state = self.runs.pop(run)
            self.retired.update({key: state.get(key, 0) for key in COUNTED})


def uses_gemini(run: dict) -> bool:
    """Whether the run calls Gemini (its panels are shown); a client too old to say so sent requests if it did."""
    return run.get("extractor") == "gemini" or run.get("requests", 0) > 0


def _granted_rpm(gate: dict) -> float:
    """The requests the gate counts in its sliding window, per minute: the rate it holds against the limit."""
    return round(gate["requests_in_window"] * 60.0 / gate["window"], 1)


class RunBoard:
    """The client side of one run: the tally's progress callback. Publishing never raises into the run."""

    def __init__(self, forward: Optional[Callable[[Any], None]] = None) -> None:
        self.forward = forward
        self.run = uuid.uuid4().hex
        self.link: Optional[str] = None  # the page of the first cluster attached (the run's stats["dashboard"])
        self._client: Optional[Client] = None  # the cluster the run is on now (a lost one is replaced by the fallback's)
        self._latest: Optional[dict] = None
        self._seq = 0
        self._sent: dict[str, int] = {}  # client id -> the last seq its scheduler has
        self._sending: set[str] = set()  # client ids with a publish on the way

    def __call__(self, progress) -> None:
        if self.forward is not None:
            self.forward(progress)
        self._seq += 1
        self._latest = {**dataclasses.asdict(progress), "eta": progress.eta, "rate": progress.rate, "seq": self._seq,
                        "latest_errors": [tuple(str(field)[:SENT_CHARS] for field in row)
                                          for row in progress.latest_errors]}
        client = self._client
        if client is not None and client.loop is not None:  # None once the client is closed under the run
            client.loop.add_callback(self._send, client)

    def attach(self, client: Client) -> Optional[str]:
        """Add the board to ``client``'s scheduler (once) and publish there; the page's URL, None if no dashboard."""
        scheduler, loop = client.scheduler, client.loop
        if scheduler is None or loop is None:  # a client not started, or closed: no scheduler to publish on
            return None
        try:
            register_once(client, BoardExtension())
            page = client.sync(scheduler.daskparse_board_page)
            link = urljoin(client.dashboard_link, page) if page else None
        except Exception as error:  # noqa: BLE001 - e.g. the scheduler cannot import daskparse: the run goes on
            logger.info("no daskparse page on the dashboard of %s (%s: %s): install daskparse where the scheduler "
                        "runs, or start it with --preload daskparse.dashboard", scheduler.address,
                        type(error).__name__, error)
            return None
        self._client = client
        if self._latest is not None:
            loop.add_callback(self._send, client)
        if self.link is None:
            self.link = link
        return link

    def close(self) -> None:
        """The run is over on this cluster: publish its last numbers, marked finished (unless the cluster is lost)."""
        client, self._client = self._client, None
        if client is None or self._latest is None or client.status != "running":
            return
        try:
            assert client.scheduler is not None  # a running client has its scheduler's rpc
            client.sync(client.scheduler.daskparse_board_publish, **self._payload(client, self._latest),
                        finished=True, callback_timeout=10)
        except Exception as error:  # noqa: BLE001
            logger.debug("could not publish the run's last progress: %s: %s", type(error).__name__, error)

    async def _send(self, client: Client) -> None:
        """On the client's loop: the latest progress, one RPC at a time (the ones in between are skipped)."""
        if client.id in self._sending:
            return  # the one sending now sends the latest next
        assert self._latest is not None  # sent once there is progress (``__call__``, ``attach``); never unset
        self._sending.add(client.id)
        try:
            # (a client closed under the run has no scheduler left to publish to)
            while (self._attached(client) and client.scheduler is not None
                   and self._latest["seq"] > self._sent.get(client.id, 0)):
                latest = self._latest
                await client.scheduler.daskparse_board_publish(**self._payload(client, latest))
                self._sent[client.id] = latest["seq"]
        except Exception as error:  # noqa: BLE001 - the page lags; the next partition tries again
            logger.debug("could not publish the run's progress: %s: %s", type(error).__name__, error)
        finally:
            self._sending.discard(client.id)

    def _attached(self, client: Client) -> bool:
        """Whether the run is still on ``client``'s cluster (a test of identity, not a narrowing of ``client``)."""
        return self._client is client

    def _payload(self, client: Client, progress: dict) -> dict:
        return {**progress, "run": self.run, "client": client.id}


# -- the page ---------------------------------------------------------------------------------------------
def _dask_dashboard(scheduler):
    """The scheduler's Bokeh dashboard (the application serving /status), or None."""
    try:
        from bokeh.server.tornado import BokehTornado
    except ImportError:
        return None
    applications = getattr(getattr(scheduler, "http_application", None), "applications", [])
    return next((app for app in applications if isinstance(app, BokehTornado) and "/status" in app.app_paths), None)


def _add_page(scheduler) -> Optional[str]:
    """Serve the page next to the Dask dashboard's own and link it from its navigation bar; its path or None."""
    dask_app = _dask_dashboard(scheduler)
    if dask_app is None:
        return None
    from distributed.dashboard.core import BokehApplication
    from distributed.dashboard.scheduler import template_variables
    from tornado.ioloop import IOLoop

    variables = template_variables(scheduler)  # memoized: the same dict (and list) every Dask page renders with
    if PAGE not in variables["pages"]:
        variables["pages"].append(PAGE)
    page = BokehApplication({f"/{PAGE}": board_doc}, scheduler, prefix=dask_app.prefix, template_variables=variables)
    scheduler.http_application.add_application(page)
    page.initialize(IOLoop.current())
    page.start()
    return PAGE


SERIES = ("time", "granted_rpm", "limit_rpm", "allowed_rpm", "in_flight", "waiting", "paused_for", "rate_limited",
          "total", *COUNTED, "cache_hit_rate")


def board_doc(scheduler, extra: dict, doc) -> None:
    """The page: one Bokeh document per browser tab, fed every UPDATE_MS from the scheduler's memory."""
    from bokeh.layouts import column, gridplot
    from bokeh.models import ColumnDataSource, DataRange1d, FactorRange, NumeralTickFormatter
    from bokeh.models.widgets import Div  # also in bokeh.models, but bokeh's type stubs do not re-export it there
    from bokeh.plotting import figure
    from distributed.dashboard.components.scheduler import BOKEH_THEME, env

    board = scheduler.plugins[BOARD_NAME]
    series = ColumnDataSource({key: [] for key in SERIES}, name="daskparse-series")
    slots = ColumnDataSource({"what": ["in flight", "waiting"], "count": [0, 0]}, name="daskparse-slots")
    summary = Div(name="daskparse-summary", sizing_mode="stretch_width")
    errors = Div(name="daskparse-errors", sizing_mode="stretch_width")

    def timeline(title: str, lines: list[tuple[str, str, str]], y_format: str = "0,0.[00]") -> Any:
        plot = figure(title=title, x_axis_type="datetime", height=230, sizing_mode="stretch_width",
                      tools="pan,wheel_zoom,reset",
                      y_range=DataRange1d(start=0))  # every number here counts up from nothing
        for key, label, color in lines:
            plot.line("time", key, source=series, legend_label=label, color=color, line_width=2)
        plot.yaxis.formatter = NumeralTickFormatter(format=y_format)
        plot.legend.location = "top_left"
        return plot

    calls = DataRange1d()  # its end is set at each update
    in_flight = figure(title="Gemini calls in flight (the gate's limit now is the axis' end)",
                       x_range=calls, y_range=FactorRange(factors=["waiting", "in flight"]), height=230,
                       sizing_mode="stretch_width", tools="")
    in_flight.hbar(y="what", right="count", height=0.6, source=slots, color="#1f77b4")
    every_run = [
        timeline("Images", [("done", "done", "#2ca02c"), ("failed", "failed", "#d62728"),
                            ("total", "to do", "#7f7f7f")]),
        timeline("Shows found", [("shows", "shows", "#17becf")]),
        timeline("Cache hit rate", [("cache_hit_rate", "hits / images done", "#9467bd")], y_format="0%"),
    ]
    gemini_only = [
        timeline("Gemini requests per minute: granted against the limit",
                 [("granted_rpm", "granted", "#1f77b4"), ("allowed_rpm", "allowed now", "#ff7f0e"),
                  ("limit_rpm", "limit", "#d62728")]),
        in_flight,
        timeline("429s and pauses", [("rate_limited", "429s", "#d62728"), ("paused_for", "paused (s)", "#ff7f0e")]),
        timeline("Tokens", [("input_tokens", "input", "#1f77b4"), ("output_tokens", "output", "#ff7f0e"),
                            ("thoughts_tokens", "thoughts", "#e377c2")]),
        timeline("Estimated cost (USD)", [("estimated_cost_usd", "cost", "#8c564b")], y_format="$0.[0000]"),
    ]
    # a local run has no gate, tokens or cost: those panels are hidden, not drawn at zero (shown once a Gemini
    # run is the latest; a tab opened before the run sees them appear)
    gemini = gridplot(gemini_only, ncols=2, sizing_mode="stretch_width")
    gemini.name = "daskparse-gemini"

    def update() -> None:
        point = board.snapshot()
        series.stream({key: [point[key]] for key in SERIES}, rollover=HISTORY)
        slots.data = {"what": ["in flight", "waiting"], "count": [point["in_flight"], point["waiting"]]}
        calls.end = max(point["concurrency"], point["in_flight"] + point["waiting"], 1)
        gemini.visible = point["gemini"]
        summary.text = _summary(point)
        table = errors_html(point["errors"], point["failed"])
        if errors.text != table:  # the same rows most of the time: nothing sent to the browser
            errors.text = table

    update()
    doc.add_periodic_callback(update, UPDATE_MS)
    doc.title = "Dask: daskparse"
    doc.add_root(column(summary, gridplot(every_run, ncols=3, sizing_mode="stretch_width"), gemini, errors,
                        sizing_mode="stretch_width"))
    doc.template = env.get_template("simple.html")
    doc.template_variables.update(extra)
    doc.theme = BOKEH_THEME


def _summary(point: dict) -> str:
    """Where the run stands (the time left), then its numbers; the gate's and Gemini's only if it uses them."""
    parts = [f"images {point['done']:,}/{point['total']:,} done, {point['failed']:,} failed",
             f"cache hit rate {point['cache_hit_rate']:.0%}", f"{point['shows']:,} shows"]
    if point["gemini"]:
        parts[1:1] = [
            f"{point['granted_rpm']:,.0f}/{point['limit_rpm']:,.0f} requests per minute",
            f"{point['in_flight']} in flight", f"429s {point['rate_limited']}", f"paused {point['paused_for']:.1f} s"]
        parts += [f"tokens {point['input_tokens']:,} in, {point['output_tokens']:,} out, "
                  f"{point['thoughts_tokens']:,} thoughts", f"~${point['estimated_cost_usd']:.4f}"]
    if point.get("batch_jobs"):
        parts.append(f"Gemini batch jobs: {batch_states(point['batch_jobs'])}")
    return (f'<span style="font-size: 1.3em"><b>daskparse</b>: <span class="daskparse-status">'
            f'{html.escape(point["status"])}</span></span><br><span class="daskparse-summary">'
            + " · ".join(parts) + "</span>")


def readable_duration(seconds: float) -> str:
    """``125`` -> "2 min 05 s": two units at most, as a person would say it."""
    if seconds < 1:
        return "under 1 s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _rate(images_per_second: float) -> str:
    if images_per_second >= 1:
        return f"{images_per_second:,.1f} images/s"
    return f"{images_per_second * 60:,.1f} images/min"


def run_status(run: dict, now: float) -> str:
    """The run's state in a few words: the time left at its rate so far (counting down between its updates,
    ``now`` on ``time.monotonic()``), "done", or why it ended early."""
    if not run:
        return "no run yet"
    left = run.get("total", 0) - run.get("done", 0)
    if left <= 0:
        return "done"
    if run.get("finished"):  # stopped, or its client went away
        return f"stopped with {left:,} image{'s' if left != 1 else ''} not done"
    jobs = run.get("batch_jobs")
    if jobs:
        return f"waiting for {len(jobs)} Gemini batch job{'s' if len(jobs) != 1 else ''} ({batch_states(jobs)})"
    eta = run.get("eta")
    if eta is None:
        return "ETA: estimating (no image answered yet)"
    remaining = max(0.0, eta - (now - run.get("received", now)))
    return f"ETA {readable_duration(remaining)} left ({_rate(run.get('rate', 0.0))})"


def _visible(text: str) -> str:
    """``text`` with control and format characters written out (``\\x1b``, ``\\u202e``): a source may hold
    terminal escapes or a right-to-left override; shown, they would hide what the source really is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def short_source(source: str, limit: int = SOURCE_CHARS) -> str:
    """A source fit for a table cell: a URL without its query (signatures, tokens) or credentials, control
    characters written out, and a long one cut in the middle, keeping the file name at its end."""
    try:
        parts = urlsplit(source)
        if parts.scheme.lower() in ("http", "https") and (parts.query or parts.fragment or "@" in parts.netloc):
            netloc = parts.netloc.rpartition("@")[2]
            source = urlunsplit((parts.scheme, netloc, parts.path, "", "")) + ("?…" if parts.query else "")
    except ValueError:  # not a URL after all (an unclosed "[" in a host): shown as given
        pass
    source = _visible(source)
    if len(source) <= limit:
        return source
    head = (limit - 1) // 3
    return source[:head] + "…" + source[len(source) - (limit - 1 - head):]


def errors_html(rows: list, failed: int) -> str:
    """The latest error rows (oldest first, as a run keeps them) as an HTML table, the latest first. Every
    field is escaped: sources and messages are text from users and servers, never markup for this page."""
    if not rows:
        return '<div class="daskparse-errors"><b>Latest errors</b>: none</div>'
    cell = 'style="padding: 2px 8px; text-align: left; vertical-align: top"'
    lines = []
    for source, kind, message in reversed(rows):
        message = _visible(str(message))
        message = message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS - 1] + "…"
        lines.append(f'<tr><td class="daskparse-source" {cell}><code>{html.escape(short_source(str(source)))}</code>'
                     f'</td><td class="daskparse-kind" {cell}>{html.escape(_visible(str(kind)))}</td>'
                     f'<td class="daskparse-message" {cell}>{html.escape(message)}</td></tr>')
    return (f'<div class="daskparse-errors"><b>Latest errors</b> ({len(rows)} of {failed:,}, the latest first)'
            f'<table style="border-collapse: collapse; font-size: 13px"><tr><th {cell}>source</th>'
            f'<th {cell}>kind</th><th {cell}>message</th></tr>' + "".join(lines) + "</table></div>")


# -- /metrics ---------------------------------------------------------------------------------------------
class _Collector:
    """prometheus_client's default registry (the one distributed serves on /metrics) reads the board through
    this; registered once per process, pointing at the board started last (one scheduler per process, but
    tests start several in turn)."""

    def __init__(self) -> None:
        self.board: Callable[[], Optional[BoardExtension]] = lambda: None

    def describe(self) -> list:  # so registering does not collect
        return []

    def collect(self) -> Iterator:
        board = self.board()
        if board is not None:
            yield from metric_families(board)


_COLLECTOR: Optional[_Collector] = None


def _collector() -> _Collector:
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = _Collector()
        try:
            from prometheus_client import REGISTRY
        except ImportError:  # distributed then serves no metrics at all
            return _COLLECTOR
        REGISTRY.register(_COLLECTOR)
    return _COLLECTOR


GATE_METRICS = {  # metric name (after daskparse_gate_) -> (gate metrics key, help, counter?)
    "granted": ("granted", "Gemini requests granted", True),
    "rate_limited": ("rate_limited", "429s (per-minute rate limits) reported to the gate", True),
    "in_flight": ("in_flight", "Gemini calls in flight", False),
    "waiting": ("waiting", "calls waiting for a grant", False),
    "paused_seconds": ("paused_for", "seconds left of a pause after a 429", False),
    "limit_rpm": ("rpm", "the requests-per-minute limit", False),
    "allowed_rpm": ("current_rpm", "the rate allowed now (the limit, halved after repeated 429s)", False),
    "concurrency": ("in_flight_limit", "the limit of calls in flight now (follows the rate and the latency)", False),
    "latency_seconds": ("latency", "seconds a Gemini call takes, as the gate has seen them (moving average)", False),
}
RUN_METRICS = {  # metric name (after daskparse_) -> (COUNTED key, help)
    "images_done": ("done", "images answered (shows, no shows or an error), every run"),
    "images_failed": ("failed", "images that ended in an error, every run"),
    "shows": ("shows", "shows found, every run"),
    "cache_hits": ("cache_hits", "images answered from the result cache, every run"),
    "gemini_requests": ("requests", "Gemini requests sent, retries included, every run"),
    "input_tokens": ("input_tokens", "Gemini input tokens, every run"),
    "output_tokens": ("output_tokens", "Gemini output tokens (the answers), every run"),
    "thoughts_tokens": ("thoughts_tokens", "Gemini thinking tokens (billed as output), every run"),
    "estimated_cost_usd": ("estimated_cost_usd", "estimated Gemini cost in USD, every run"),
}


def metric_families(board: BoardExtension) -> Iterator:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    gates = board.gates()
    for name, (key, help_text, counter) in GATE_METRICS.items():
        family = (CounterMetricFamily if counter else GaugeMetricFamily)(f"daskparse_gate_{name}", help_text,
                                                                           labels=["gate"])
        for gate, metrics in gates.items():
            family.add_metric([gate], metrics[key])
        yield family
    granted = GaugeMetricFamily("daskparse_gate_granted_rpm", "requests in the gate's window, per minute",
                                labels=["gate"])
    for gate, metrics in gates.items():
        granted.add_metric([gate], _granted_rpm(metrics))
    yield granted
    totals = board.totals()
    for name, (key, help_text) in RUN_METRICS.items():
        yield CounterMetricFamily(f"daskparse_{name}", help_text, value=totals[key])
    running = [state for state in board.runs.values() if not state["finished"]]
    yield GaugeMetricFamily("daskparse_runs_running", "runs going on", value=len(running))
    yield GaugeMetricFamily("daskparse_images_to_do", "images not answered yet, runs going on",
                            value=sum(state.get("total", 0) - state.get("done", 0) for state in running))
    yield GaugeMetricFamily("daskparse_cache_hit_ratio", "cache hits / images answered, every run",
                            value=totals["cache_hits"] / totals["done"] if totals["done"] else 0.0)


# -- the preload ------------------------------------------------------------------------------------------
def dask_setup(scheduler) -> None:
    """``dask scheduler --preload daskparse.dashboard``: the board from the scheduler's start."""
    add_once(scheduler, BoardExtension())


__all__ = ["BoardExtension", "RunBoard", "BOARD_NAME", "PAGE", "dask_setup", "metric_families"]
