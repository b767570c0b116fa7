"""Settings: one typed object for a run, built once at the edge (CLI or ``parse_images``).

Precedence, lowest first: the defaults below, ``dask.config`` under ``daskparse.*`` (so a YAML file in
``~/.config/dask/`` or ``DASK_DASKPARSE__THREADS=8`` works), ``DASKPARSE_<FIELD>`` environment variables,
then explicit arguments (CLI flags or keyword options). ``GEMINI_API_KEY`` is read here too, into a
``SecretStr`` so it never shows up in a repr or a log line.

    >>> settings = load_settings(threads=4, extractor="local")
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any, Literal, Optional

import dask.config
import platformdirs
from dask.utils import parse_timedelta
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from daskparse.lease import LEASE
from daskparse.limiter import Limits
from daskparse.options import CacheOptions, FetchLimits, GeminiOptions, OptimizeOptions
from daskparse.pricing import Prices

DEFAULT_TOTAL_THREADS = 20
# Models that cannot turn thinking off, and the least they think (thinkingBudget below it is refused).
MIN_THINKING_BUDGET = {"gemini-2.5-pro": 128}


GEMINI_KEY_PAGE = "https://aistudio.google.com/apikey"


def default_cache() -> str:
    """The user's cache folder for daskparse (platformdirs: ``$XDG_CACHE_HOME/daskparse``, else
    ``~/.cache/daskparse`` on Linux; ``~/Library/Caches/daskparse`` on macOS; ``%LOCALAPPDATA%\\daskparse\\Cache``
    on Windows). Not relative to where a run starts: that made a second cache under ``notebooks/``."""
    return platformdirs.user_cache_dir("daskparse", appauthor=False)


class SettingsError(ValueError):
    """Settings that cannot work together; reported to the user without a traceback."""


class _OptionProblem(ValueError):
    """A check across fields about one of them: ``load_settings`` fills the ``{option}`` slot of ``sentence`` with
    the option the way the user gave it (``--extractor gemini``, ``DASKPARSE_EXTRACTOR=gemini``). Filled by
    ``replace``, not ``format``: a model name in the sentence may hold braces."""

    def __init__(self, field: str, sentence: str) -> None:
        super().__init__(sentence.replace("{option}", field))
        self.field, self.sentence = field, sentence


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)

    # What to run
    extractor: Literal["auto", "gemini", "local"] = "auto"
    output: str = "out"
    # the result cache (daskparse.cache): any fsspec URL; results depend on extractor, model and optimizer
    cache: str = Field(default_factory=default_cache, min_length=1,
                       description="cache location (fsspec URL; default: the user's cache folder)")
    use_cache: bool = True
    cache_ttl: float = Field(7 * 86400.0, gt=0, description="seconds a result stays valid (7d, 12h, ... accepted)")
    cache_error_ttl: float = Field(86400.0, gt=0, description="seconds a permanent per-image error stays cached")
    cache_phash_distance: Optional[int] = Field(
        16, ge=0, le=64, description="look-alike level: pHash bits apart to consider a repost (off: None)")
    lock_lease: float = Field(LEASE, gt=0, description="an S3 output's lock (and an S3 cache's batch ledger lock) "
                              "outlives a run that stopped renewing it (crashed, killed) by this long, seconds "
                              "(30s, 2m, ... accepted); then the next run takes it over (daskparse.lease)")
    every: Optional[float] = Field(None, gt=0, description="CLI only: run again every this long (30m, 12h, ...) "
                                   "until stopped; seconds")
    reference_date: Optional[dt.date] = Field(
        None, description="The day the flyers were seen, which gives a date printed without a year its year "
        "(daskparse.dates; default: today)")

    # Where to run: a LocalCluster of `workers` processes sharing `threads` threads, or an existing scheduler
    scheduler: Optional[str] = None
    scheduler_timeout: float = Field(10.0, gt=0, description="seconds to wait for the --scheduler to answer")
    workers: int = Field(2, ge=1, le=64, description="worker processes of the LocalCluster (never more than threads)")
    # the total, as users read it: threads=8 on 2 workers is 4 + 4, not 8 + 8 (issue 15)
    threads: Optional[int] = Field(None, ge=1, le=256, description="threads in total across the LocalCluster's "
                                   "workers, spread evenly (default 20)")
    # when the cluster cannot be started or reached (or is lost mid-run), run in this process; False: exit 3
    cluster_fallback: bool = Field(True, description="run in this process when the cluster cannot be started or "
                                   "reached, or is lost mid-run (False: the run ends with exit code 3)")
    partitions_per_thread: int = Field(4, ge=1, le=64)
    # the dashboard shows worker logs with signed source URLs, call stacks and metrics: this machine only, unless asked
    dashboard_address: str = Field("127.0.0.1:8787", min_length=1, description="where the LocalCluster's dashboard "
                                   "listens (host:port; ':8787' for every interface)")
    # Dask keeps bounded debugging logs (transitions, messages sent, one profile per second): at its default of
    # 1,000 entries they fill over ~17 minutes, so memory grew with a run's length (BENCHMARKS.md, stress).
    debug_log_length: int = Field(100, ge=10, description="entries of Dask's debugging logs on clusters daskparse "
                                  "starts (distributed.admin.low-level-log-length; Dask's default is 1000)")

    # fetch
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0, description="whole-fetch deadline (connect, headers, redirects, body), seconds")
    max_download_bytes: int = Field(25 * 1024 * 1024, gt=0)
    max_redirects: int = Field(5, ge=0, le=30)
    allow_private_hosts: bool = Field(False, description="let downloads reach loopback, link-local and private addresses")

    # optimize
    # fit inside 1200x800 turned to the image: a portrait flyer fits 800x1200, not 533x800 (OCR needs the pixels)
    max_long_side: int = Field(1200, ge=64)
    max_short_side: int = Field(800, ge=64)
    jpeg_quality: int = Field(95, ge=1, le=100)

    # extract: Gemini (GOOGLE_GEMINI_BASE_URL / GOOGLE_GENAI_API_VERSION fill the base URL and version when unset)
    gemini_api_key: Optional[SecretStr] = None
    model: str = "gemini-2.5-flash"
    gemini_base_url: Optional[str] = None
    gemini_api_version: Optional[str] = None
    timeout: float = Field(60.0, ge=10, description="Gemini request timeout, seconds (the API refuses < 10)")
    max_retries: int = Field(3, ge=0, le=20)
    # A flyer's answer is a few hundred tokens (about 100 a show): 2,048 holds ~18 shows, and an answer cut
    # short (MAX_TOKENS) is asked again once with twice the budget. Thoughts count against it too.
    max_output_tokens: int = Field(2048, ge=256, le=65536)
    # Reading a flyer into a schema needs no thinking, and thoughts are billed as output: off by default (0;
    # gemini-2.5-pro cannot turn it off: its minimum, 128); "dynamic" lets the model choose, N caps it at N tokens.
    thinking_budget: Optional[int | Literal["dynamic"]] = Field(
        None, description="Gemini thinking tokens per request: N, or dynamic (default: off, the minimum on Pro)")
    media_resolution: Optional[Literal["low", "medium", "high"]] = Field(
        None, description="Gemini's mediaResolution for the image (default: not sent, the model's own)")
    fallback: Literal["local", "none"] = "none"
    # a daily quota an earlier run found spent (daskparse.quota): False reads with the fallback at once, no call made
    quota_wait: bool = Field(False, description="when an earlier run found Gemini's daily quota spent: wait until it "
                             "resets (midnight Pacific time), then call Gemini, instead of using the fallback")
    # USD per million tokens (input, output); thinking tokens count as output. Batch mode: half (batch_discount).
    gemini_prices: dict[str, tuple[float, float]] = {
        "gemini-2.5-flash": (0.30, 2.50),
        "gemini-2.5-flash-lite": (0.10, 0.40),
        "gemini-2.5-pro": (1.25, 10.00),
    }
    batch_discount: float = Field(0.5, gt=0, le=1, description="batch price as a share of the online price")
    # Batch mode (daskparse.batch): every image the cache cannot answer goes to Gemini's Batch API, at half the price
    mode: Literal["online", "batch"] = Field("online", description="online: a call per image now; batch: Gemini "
                                             "batch jobs (half the price, answered within 24 hours)")
    wait: bool = Field(True, description="batch mode: wait for the jobs (False: submit, record them beside the "
                       "cache and end; the next run collects them)")
    batch_poll: float = Field(30.0, gt=0, description="batch mode: seconds between looks at the pending jobs (30s, "
                              "2m, ... accepted)")
    batch_inline_bytes: int = Field(20_000_000, gt=0, description="a batch job's requests go inline below this "
                                    "many bytes, through an uploaded JSONL file above (the API's limit: 20 MB)")
    # the run holds a filling job's images in memory (~400 KB each on the wire): 300 MB is ~750 images a job
    batch_job_bytes: int = Field(300_000_000, gt=0, le=2_000_000_000, description="the most bytes of requests in "
                                 "one batch job, which the run holds while it fills (the API takes files up to 2 GB)")
    # the spend cap (daskparse.limiter.Budget): no call is made whose most possible cost would take the run past it
    max_cost: Optional[float] = Field(None, gt=0, description="the most a run may spend on Gemini, USD, estimated "
                                      "at the model's prices (gemini_prices); None: no cap")

    # the cluster-wide rate gate (daskparse.gate): Gemini calls across every worker of the cluster
    rpm: float = Field(1800, gt=0, description="requests per minute")
    tpm: Optional[int] = Field(None, gt=0, description="input tokens per minute")
    rpd: Optional[int] = Field(None, gt=0, description="requests per day")
    # None: the gate allows what the rate needs at Gemini's latency (daskparse.limiter.Limiter.in_flight_limit)
    concurrency: Optional[int] = Field(None, ge=1, le=1000, description="the most requests in flight")
    burst: int = Field(0, ge=0, description="requests that may go early, ahead of the even spacing")
    gate_window: float = Field(60.0, gt=0, description="the quota window, seconds (tests shrink it)")
    gate_day: float = Field(86400.0, gt=0)
    gate_recovery: float = Field(10.0, gt=0, description="seconds per +10%% of rate after a 429 halved it")
    gate_guard: float = Field(0.1, ge=0, description="seconds a request counts beyond the window, from when it was "
                              "sent (the spread of send-to-arrival delays)")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per line, for log collectors")
    progress_bar: Optional[bool] = Field(None, description="the CLI's progress bar (default: when stderr is a terminal)")

    @field_validator("cache_ttl", "cache_error_ttl", "every", "batch_poll", "lock_lease", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Seconds from "7d", "12h", "30m", "90s" or a number of seconds (``dask.utils.parse_timedelta``, so also
        "1.5h", "2w" or "10 minutes", as in Dask's own settings)."""
        if not isinstance(value, str):
            return value
        try:
            return float(parse_timedelta(value))
        except (KeyError, ValueError, IndexError):  # its messages list units or quote float(); say what was wrong
            raise ValueError(f"not a duration: {value!r} (use e.g. 7d, 12h, 30m or seconds)") from None

    @field_validator("thinking_budget", mode="before")
    @classmethod
    def _thinking(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("dynamic", "-1"):
                return "dynamic"
            if text in ("off", "none"):
                return 0
            return int(text) if text.isdigit() else value
        return "dynamic" if value == -1 else value

    @field_validator("cache_phash_distance", mode="before")
    @classmethod
    def _phash_off(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("off", "none", "") else value

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.extractor == "gemini" and self.gemini_api_key is None:
            raise _OptionProblem("extractor", "{option} needs a Gemini API key: set GEMINI_API_KEY in the "
                                 f"environment (get a key at {GEMINI_KEY_PAGE})")
        if self.mode == "batch" and self.extractor_name != "gemini":
            raise _OptionProblem("mode", "{option} sends images to Gemini's Batch API: it needs GEMINI_API_KEY "
                                 f"(get a key at {GEMINI_KEY_PAGE}) and the gemini extractor")
        if isinstance(self.thinking_budget, int) and self.thinking_budget < 0:
            raise _OptionProblem("thinking_budget", "{option}: a number of tokens (0 or more), or dynamic")
        minimum = MIN_THINKING_BUDGET.get(self.model_name, 0)
        if isinstance(self.thinking_budget, int) and self.thinking_budget < minimum:
            raise _OptionProblem("thinking_budget", f"{{option}}: {self.model_name} cannot think less than "
                                 f"{minimum} tokens (it cannot turn thinking off)")
        if self.max_cost is not None and self.extractor_name == "gemini" and self.prices() is None:
            raise _OptionProblem("max_cost", f"{{option}}: {self.model_name} has no price in gemini_prices, so "
                                 "its spend cannot be capped (add its prices, USD per million input and output "
                                 "tokens)")
        return self

    @property
    def model_name(self) -> str:
        return self.model.removeprefix("models/")

    @property
    def thinking_tokens(self) -> int:
        """The request's thinkingBudget: 0 (off) by default, the model's minimum where it cannot be off, -1 dynamic."""
        if self.thinking_budget == "dynamic":
            return -1
        if self.thinking_budget is None:
            return MIN_THINKING_BUDGET.get(self.model_name, 0)
        return self.thinking_budget

    @property
    def total_threads(self) -> int:
        return self.threads or DEFAULT_TOTAL_THREADS

    @property
    def worker_threads(self) -> list[int]:
        """Each LocalCluster worker's threads: ``total_threads`` spread as evenly as it goes (3 on 2 workers is
        [2, 1]); never a worker without a thread, so fewer workers than asked when there are fewer threads."""
        workers = min(self.workers, self.total_threads)
        share, extra = divmod(self.total_threads, workers)
        return [share + (1 if i < extra else 0) for i in range(workers)]

    @property
    def threads_per_worker(self) -> int:
        """The most threads one worker has (``worker_threads``)."""
        return self.worker_threads[0]

    @property
    def extractor_name(self) -> str:
        """The extractor actually used: ``auto`` resolves to gemini when a key is set."""
        if self.extractor == "auto":
            return "gemini" if self.gemini_api_key is not None else "local"
        return self.extractor

    def fetch_limits(self) -> FetchLimits:
        """The fetch stage's options (daskparse.fetch)."""
        return FetchLimits(self.connect_timeout, self.read_timeout, self.max_download_bytes, self.max_redirects,
                           self.allow_private_hosts)

    def optimize_options(self) -> OptimizeOptions:
        """The optimize stage's options (daskparse.optimize)."""
        return OptimizeOptions((self.max_long_side, self.max_short_side), self.jpeg_quality)

    def cache_options(self) -> CacheOptions:
        """Where the result cache is and how long it keeps what (daskparse.cache)."""
        return CacheOptions(self.cache, self.cache_ttl, self.cache_error_ttl, self.cache_phash_distance)

    def gemini_options(self) -> GeminiOptions:
        """The Gemini extractor's options (daskparse.extract.gemini); needs a key (``extractor_name == "gemini"``)."""
        if self.gemini_api_key is None:
            raise SettingsError(f"the Gemini extractor needs GEMINI_API_KEY (a key comes from {GEMINI_KEY_PAGE})")
        return GeminiOptions(
            api_key=self.gemini_api_key.get_secret_value(), model=self.model, base_url=self.gemini_base_url,
            api_version=self.gemini_api_version, timeout=self.timeout, max_retries=self.max_retries,
            max_output_tokens=self.max_output_tokens, thinking_budget=self.thinking_tokens,
            media_resolution=self.media_resolution, prices=self.prices())

    def gate_limits(self) -> Limits:
        """What the cluster's rate gate holds a run to (daskparse.limiter)."""
        return Limits(rpm=self.rpm, tpm=self.tpm, rpd=self.rpd, concurrency=self.concurrency, burst=self.burst,
                      window=self.gate_window, day=self.gate_day, recovery=self.gate_recovery, guard=self.gate_guard,
                      max_cost=self.max_cost)

    def prices(self) -> Optional[Prices]:
        """The model's prices (``gemini_prices``, with ``batch_discount``); None for a model without one."""
        prices = self.gemini_prices.get(self.model_name)
        return None if prices is None else Prices(*prices, batch_discount=self.batch_discount)

    def estimated_cost(self, input_tokens: int, output_tokens: int, thoughts_tokens: int = 0,
                       batch: bool = False) -> Optional[float]:
        """USD at the model's documented prices (None for a model without one): thoughts are billed as output,
        batch requests at ``batch_discount`` of the online price. Rounded to a millionth of a dollar, for showing:
        the arithmetic is ``Prices.cost`` (``prices()``), which the spend cap adds up unrounded."""
        prices = self.prices()
        if prices is None:
            return None
        return round(prices.cost(input_tokens, output_tokens, thoughts_tokens, batch=batch), 6)

    def run_reference_date(self) -> dt.date:
        return self.reference_date or dt.date.today()


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Settings found in the environment: field -> (value, the variable it came from)."""
    values: dict[str, tuple[Any, str]] = {}
    for name in Settings.model_fields:
        key = f"DASKPARSE_{name.upper()}"
        if environ.get(key):
            values[name] = (environ[key], key)
    # The google-genai client's own variables, read here so they travel with the settings: workers of a
    # cluster started elsewhere do not share this process's environment. GOOGLE_API_KEY is the key's other name.
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        if environ.get(variable):
            values["gemini_api_key"] = (environ[variable], variable)
            break
    for variable, name in (("GOOGLE_GEMINI_BASE_URL", "gemini_base_url"), ("GOOGLE_GENAI_API_VERSION", "gemini_api_version")):
        if environ.get(variable) and name not in values:
            values[name] = (environ[variable], variable)
    return values


def load_settings(environ: Mapping[str, str] | None = None, *, flags: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Merge defaults, ``dask.config['daskparse']``, the environment and ``overrides`` into Settings.

    ``flags`` names the command-line flag each override came from (``{"threads": "--threads"}``), for the
    messages. Raises SettingsError with a readable message for an unknown option or a bad value, naming the
    option the way it was given: ``--threads``, ``DASKPARSE_THREADS=abc``, ``daskparse.threads`` (dask.config).
    """
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}  # field -> how the user gave it, for messages
    for key, value in (dask.config.get("daskparse", default={}) or {}).items():
        name = key.replace("-", "_")
        values[name] = value
        origins[name] = f"daskparse.{key}{_shown('=', name, value)} (dask config)"
    for name, (value, variable) in _from_environment(dict(os.environ) if environ is None else environ).items():
        values[name] = value
        origins[name] = f"{variable}{_shown('=', name, value)}"
    for name, value in overrides.items():
        if value is None:
            continue
        values[name] = value
        flag = (flags or {}).get(name)
        origins[name] = (flag + ("" if isinstance(value, bool) else _shown(" ", name, value)) if flag
                         else f"{name}{_shown('=', name, value, repr)}")
    try:
        return Settings(**values)
    except ValidationError as error:
        raise SettingsError(_plain_problems(error, origins)) from None


def _shown(separator: str, name: str, value: Any, form=str) -> str:
    """``=value`` for a message: never a secret, never more than a line."""
    if name == "gemini_api_key":
        return ""
    text = form(value)
    return separator + (text if len(text) <= 60 else text[:57] + "...")


# What pydantic expected, as words: "DASKPARSE_THREADS=abc: not a whole number"
_EXPECTED = {"int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
             "float_parsing": "a number", "float_type": "a number", "string_type": "text",
             "bool_parsing": "yes or no (1 or 0, true or false, on or off)", "bool_type": "yes or no",
             "date_parsing": "a date (YYYY-MM-DD)", "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
             "date_from_datetime_inexact": "a date (YYYY-MM-DD)", "date_type": "a date (YYYY-MM-DD)"}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "more than"),
           "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}


# one of pydantic's ``ValidationError.errors()`` (pydantic_core's ErrorDetails, which pydantic does not export)
Problem = Mapping[str, Any]


def _plain_problems(error: ValidationError, origins: Mapping[str, str]) -> str:
    """pydantic's errors in plain words, one clause per option, each naming the option the way it was given."""
    by_field: dict[str, list[Problem]] = {}
    for problem in error.errors(include_url=False, include_input=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        by_field.setdefault(field, []).append(problem)
    clauses = []
    for field, problems in by_field.items():
        found = problems[0].get("ctx", {}).get("error")
        if isinstance(found, _OptionProblem):  # a check across fields: its own sentence
            clauses.append(found.sentence.replace("{option}", origins.get(found.field, found.field)))
            continue
        expected = [_expected(problem) for problem in problems]
        known = [words for words in expected if words]
        if len(known) == len(expected):  # one field of several types (an int or "dynamic"): one list of what it may be
            words = "not " + " or ".join(dict.fromkeys(known))
        else:
            words = "; ".join(dict.fromkeys(_words(problem) for problem in problems))
        clauses.append(f"{origins.get(field, field)}: {words}" if field else words)
    return "; ".join(clauses)


def _expected(problem: Problem) -> str | None:
    if problem["type"] == "literal_error":
        choices = problem["ctx"]["expected"]
        return f"one of {choices}" if " or " in choices else choices
    return _EXPECTED.get(problem["type"])


def _words(problem: Problem) -> str:
    kind, context = problem["type"], problem.get("ctx", {})
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {context[key]:g}"
    if kind == "string_too_short":
        return "must not be empty" if context.get("min_length") == 1 else f"at least {context['min_length']} characters"
    if kind == "extra_forbidden":
        return "no such option"
    if kind == "value_error" and "error" in context:  # our validators' own words (a duration, ...)
        return str(context["error"])
    expected = _expected(problem)
    return f"not {expected}" if expected else problem["msg"]
