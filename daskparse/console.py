"""What a person (or a log collector) sees of a run on stderr: a progress bar and log lines, as text or JSON.

    configure_logging("INFO", "json")           # one JSON object per line: time, level, logger, message, extras
    with ProgressBar() as bar:                  # drawn only when stderr is a terminal (ProgressBar(True) forces it)
        result = pipeline.run(sources, settings, progress=bar)

The bar and the log share stderr: while a bar is open, log lines are written above it (tqdm's
``logging_redirect_tqdm``), so neither garbles the other. In a notebook, ``ProgressBar(True,
tqdm_class=tqdm.auto.tqdm)`` draws a widget instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter
from typing import IO, TYPE_CHECKING, Any, Iterable, Literal

from tqdm.contrib.logging import logging_redirect_tqdm
from tqdm.std import tqdm as std_tqdm

if TYPE_CHECKING:
    from daskparse.tally import RunProgress

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def visible(text: str, keep: str = "") -> str:
    """``text`` with every character that is not printable shown as its escape (ESC as ``\\x1b``, a
    right-to-left override as ``\\u202e``), except those in ``keep``: what a source URL or a server's message
    holds must not drive the terminal it is printed on, yet must stay recognisable."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char in keep else repr(char)[1:-1] for char in text)


class TextFormatter(logging.Formatter):
    """The text log line with control characters escaped (line breaks kept: tracebacks span lines)."""

    def __init__(self, fmt: str = TEXT_FORMAT, *args, **kwargs) -> None:
        super().__init__(fmt, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record), keep="\n")


def configure_logging(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """Every logger (daskparse's, distributed's, google-genai's) through one stderr handler, text or JSON.

    Call it before ``distributed`` is imported: distributed then leaves its loggers to the root's handler
    instead of adding its own text handlers (distributed.config.initialize_logging).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # warnings.warn (e.g. distributed's "port in use") as log lines too; off first, as basicConfig's force: on
    # already, captureWarnings(True) does nothing, though warnings' display may have been replaced since
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    logging.getLogger("daskparse").setLevel(level)


def logging_config(level: str, log_format: Literal["text", "json"] = "text") -> dict:
    """``configure_logging`` as a ``logging.config.dictConfig`` schema, for the worker processes of a cluster
    daskparse starts: distributed applies a ``logging`` config with a ``version`` when it is imported there
    (``distributed.config.initialize_logging``), so their log lines look like this process's, JSON included."""
    formatter = {"()": "daskparse.console.json_formatter" if log_format == "json" else "daskparse.console.TextFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"daskparse": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "daskparse"}},
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {"daskparse": {"level": level}},
    }


def json_formatter() -> logging.Formatter:
    """``{"time": ISO 8601 UTC, "level", "logger", "message", ...extra fields}``; exceptions as ``exc_info``."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(["levelname", "name", "message"], timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


def is_terminal(stream: IO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ProgressBar:
    """A ``progress`` callback for ``pipeline.run``/``parse_images`` that draws images done of total, the rate,
    the ETA and, after them, failed images, shows found and cache hits (and the Gemini cost so far).

    ``enabled``: None draws only when ``file`` is a terminal (so pipes and CI logs stay clean).
    The bar appears with the first report and closes once every image is done (or when the ``with`` ends).
    """

    def __init__(self, enabled: bool | None = None, file: IO | None = None, tqdm_class: type = std_tqdm) -> None:
        self.file = file or sys.stderr
        self.enabled = is_terminal(self.file) if enabled is None else enabled
        self.tqdm_class = tqdm_class
        self.bar: Any = None  # a tqdm_class instance once the run's size is known
        self._redirect = contextlib.ExitStack()

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            self._redirect.enter_context(logging_redirect_tqdm(tqdm_class=self.tqdm_class))
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
        self._redirect.close()

    def __call__(self, progress: RunProgress) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            # sources refused before the run are done at its start: not part of the rate tqdm measures
            self.bar = self.tqdm_class(total=progress.total, unit="img", desc="images", file=self.file,
                                       dynamic_ncols=True, smoothing=0.1, initial=progress.input_errors)
        if self.bar.total != progress.total:  # answers of earlier batch jobs joined the run
            self.bar.total = progress.total
        self.bar.set_postfix(postfix(progress), refresh=progress.done == 0 or bool(progress.batch_jobs))
        if progress.done > self.bar.n:
            self.bar.update(progress.done - self.bar.n)  # redraws at most every 0.1 s; tqdm computes rate and ETA
        if progress.done >= progress.total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()  # draws the final state
            self.bar = None


def postfix(progress: RunProgress) -> dict[str, str | int]:
    fields: dict[str, str | int] = {"failed": progress.failed, "shows": progress.shows, "cached": progress.cache_hits}
    if progress.requests:
        fields["requests"] = progress.requests
        if progress.estimated_cost_usd is not None:
            fields["cost"] = f"${progress.estimated_cost_usd:.4f}"
    if progress.batch_jobs:
        fields["batch jobs"] = batch_states(progress.batch_jobs)
    return fields


def batch_states(jobs: Iterable[tuple[str, str]]) -> str:
    """``(job, state)`` pairs in a few words: "2 running, 1 succeeded"."""
    counts = Counter(state for _, state in jobs)
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
