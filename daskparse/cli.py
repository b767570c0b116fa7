"""``python -m daskparse``: flags → Settings → pipeline; exit codes (README.md lists the same).

Exit codes:
  0  the run completed: every source ended as shows, an image with no shows, or a recorded error;
     with --every: stopped by SIGINT or SIGTERM while waiting for the next run
  2  usage error (bad flag or value): a message, no traceback
  3  the run itself could not complete (cluster and in-process fallback lost, or with --no-cluster-fallback the
     cluster not started, reached or kept; key refused, output not writable)
  4  another run holds the output's lock: this one did nothing
  130 stopped by SIGINT (Ctrl-C) during a run: the images in progress finished and were saved, the rest were not
      started (the next run does them); a second Ctrl-C stops at once
  143 stopped by SIGTERM during a run: the same
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from daskparse.console import ProgressBar, configure_logging, visible
from daskparse.errors import RunError
from daskparse.interrupts import EarlyInterrupts
from daskparse.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from daskparse.schedule import Stopper

EXIT_OK, EXIT_USAGE, EXIT_RUN_FAILED, EXIT_LOCKED = 0, 2, 3, 4  # 130 and 143: Stopper.exit_code
EXIT_INTERRUPTED = 130  # SIGINT, by the shell's convention (128 + 2)
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "data" / "flyers"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # No guessing at abbreviations: "--mode batch" must not become "--model batch".
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # argparse exits 2 already; keep its message, drop nothing
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def program_name(argv0: str) -> str:
    """How the user called us: "daskparse" (the console script) or "python -m daskparse"."""
    return "daskparse" if Path(argv0).stem == "daskparse" else "python -m daskparse"


def build_parser() -> argparse.ArgumentParser:
    from daskparse import __version__

    parser = _Parser(prog=program_name(sys.argv[0] if sys.argv else ""),
                     description="Turn photos of event flyers into a table of shows.")
    parser.add_argument("--version", action="version", version=f"daskparse {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = commands.add_parser("run", help="parse images into shows")
    run.add_argument("sources", nargs="*", metavar="SOURCE",
                     help="image URL, path, glob, directory, fsspec URL or .txt list (default: the bundled samples)")
    run.add_argument("--output", help="output directory or fsspec URL (default: out)")
    run.add_argument("--every", metavar="DURATION",
                     help="run again every DURATION (30m, 12h, 1d), start to start, until SIGINT or SIGTERM")
    run.add_argument("--extractor", choices=["auto", "gemini", "local"],
                     help="auto: Gemini when GEMINI_API_KEY is set, else local OCR")
    run.add_argument("--workers", type=int, help="worker processes of the LocalCluster (default 2; never more "
                                                 "than --threads)")
    run.add_argument("--threads", type=int, help="threads in total, spread evenly over the workers (default 20)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="use an existing cluster; start nothing")
    run.add_argument("--cluster-fallback", action=argparse.BooleanOptionalAction,
                     help="when the --scheduler cannot be reached or the LocalCluster cannot start (or is lost "
                          "mid-run), run in this process (default); --no-cluster-fallback: end the run with exit 3")
    run.add_argument("--dashboard-address", metavar="HOST:PORT",
                     help="where the LocalCluster's dashboard listens (default 127.0.0.1:8787; :8787 for every interface)")
    run.add_argument("--allow-private-hosts", action="store_const", const=True,
                     help="let downloads reach loopback, link-local and private addresses (refused by default)")
    run.add_argument("--cache", metavar="URL", help="result cache location, any fsspec URL (default .cache/daskparse)")
    run.add_argument("--no-cache", dest="use_cache", action="store_const", const=False,
                     help="neither read nor write the result cache")
    run.add_argument("--cache-ttl", metavar="DURATION", help="how long a result stays valid (default 7d; 12h, 30m, ...)")
    run.add_argument("--cache-error-ttl", metavar="DURATION",
                     help="how long a permanent per-image error (not found, not an image) is cached (default 1d)")
    run.add_argument("--cache-phash-distance", metavar="BITS|off",
                     help="look-alike level: how many of 64 pHash bits a repost may differ by (default 16; off)")
    run.add_argument("--reference-date", metavar="YYYY-MM-DD",
                     help="dates without a year resolve to their next occurrence on or after this day (default: today)")
    run.add_argument("--model", help="Gemini model (default gemini-2.5-flash)")
    run.add_argument("--fallback", choices=["local", "none"],
                     help="once Gemini's daily quota is spent: local OCR for the rest, or an error per image")
    run.add_argument("--max-retries", type=int, help="retries per image for Gemini 5xx, timeouts, dropped connections")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="Gemini request timeout (at least 10)")
    run.add_argument("--thinking-budget", metavar="N|dynamic",
                     help="Gemini thinking tokens per request (default: off, 0; Pro's minimum, 128, on Pro); "
                          "dynamic lets the model choose. Thoughts are billed as output")
    run.add_argument("--media-resolution", choices=["low", "medium", "high"],
                     help="Gemini's mediaResolution for the image (default: the model's own)")
    run.add_argument("--max-output-tokens", type=int, metavar="N",
                     help="Gemini output tokens per answer, thoughts included (default 2048; a cut answer is "
                          "asked again once with twice as many)")
    run.add_argument("--rpm", type=float, help="Gemini requests per minute, for the whole cluster (default 1800)")
    run.add_argument("--tpm", type=int, help="Gemini input tokens per minute (default: no limit)")
    run.add_argument("--rpd", type=int, help="Gemini requests per day (default: no limit)")
    run.add_argument("--concurrency", type=int, help="Gemini requests in flight across the cluster (default 20)")
    run.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", choices=["text", "json"],
                     help="json: one JSON object per line on stderr, for log collectors (default text)")
    run.add_argument("--progress", dest="progress_bar", action=argparse.BooleanOptionalAction,
                     help="progress bar on stderr (default: only when stderr is a terminal)")

    cache = commands.add_parser("cache", help="look after the result cache: stats, prune, clear")
    cache.add_argument("action", choices=["stats", "prune", "clear"],
                       help="stats: entries and size; prune: drop expired entries and merge small files; "
                            "clear: remove every entry")
    cache.add_argument("--cache", metavar="URL", help="cache location, any fsspec URL (default .cache/daskparse)")
    return parser


def entry(early: EarlyInterrupts | None = None) -> NoReturn:
    """``python -m daskparse`` and the ``daskparse`` script: ``main``, then an exit that skips the interpreter's
    teardown. pyarrow's native thread pools can still be running while it tears down, and the process then
    aborts ("terminate called without an active exception", exit -6) after its work is done and its outputs
    are written (apache/arrow#34314; seen once in this project's test suite on ``cache prune``). Everything
    that needs closing (clusters, files, the lock) is closed by ``main`` itself.

    ``early``: what ``python -m daskparse`` noted of Ctrl-C while this module loaded (the console script notes
    it from here on)."""
    try:
        code = main(early=early or EarlyInterrupts())
    except KeyboardInterrupt:  # Ctrl-C before a run could take it: nothing was started
        code = _interrupted()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def cache_command(action: str, url: str) -> int:
    """``python -m daskparse cache stats|prune|clear``: prints the outcome as JSON (for people and scripts)."""
    from daskparse import cache

    try:
        result = {"stats": cache.cache_stats, "prune": cache.prune, "clear": cache.clear}[action](url)
    except cache.CacheError as error:
        print(f"python -m daskparse: error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(json.dumps(result, indent=2))
    return EXIT_OK


def main(argv: list[str] | None = None, early: EarlyInterrupts | None = None) -> int:
    """The command line; ``early``: Ctrl-C noted while the libraries loaded, acted on once they have (``entry``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `python -m daskparse`: say what it can do
        parser.print_help()
        return EXIT_OK
    options = {key: value for key, value in vars(args).items() if key not in ("command", "sources", "action")}
    try:
        settings = load_settings(**options)
    except SettingsError as error:
        print(f"python -m daskparse: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)  # before distributed is imported: see there
    if args.command == "cache":
        if early is not None and early.release():
            return _interrupted()
        return cache_command(args.action, settings.cache)

    sources = args.sources
    if not sources:
        if not SAMPLE_DATA.is_dir():
            print(f"python -m daskparse: error: no SOURCE given and no sample data at {SAMPLE_DATA}", file=sys.stderr)
            return EXIT_USAGE
        sources = [str(SAMPLE_DATA)]

    from daskparse import schedule  # and run_once the pipeline (dask, distributed): only once the flags are good

    _quiet_distributed(settings.log_level)
    _show_cluster_line(settings.log_level)
    if early is not None and early.release():  # pressed while the libraries loaded: nothing was started
        return _interrupted()
    stopper = schedule.Stopper()
    with stopper.installed():
        try:
            with schedule.output_lock(settings.output):
                return schedule.repeat(lambda: run_once(sources, settings, stopper), settings.every, stopper,
                                       final=(EXIT_USAGE,))
        except schedule.LockHeld as held:
            print(f"python -m daskparse: {held}", file=sys.stderr)
            return EXIT_LOCKED
        except RunError as error:  # the lock could not be taken: the output is not writable
            print(f"python -m daskparse: the run could not complete: {error}", file=sys.stderr)
            return EXIT_RUN_FAILED
        except KeyboardInterrupt:  # a second signal outside a run (taking the lock, printing)
            return stopper.exit_code


def run_once(sources: list[str], settings: Settings, stopper: Stopper) -> int:
    """One run: parse, save, print; the exit code. A stopped run saves what it did (``pipeline.run``'s ``stop``)."""
    from daskparse import pipeline

    try:
        with ProgressBar(settings.progress_bar) as bar:  # closed before the table is printed
            result = pipeline.run(sources, settings, progress=bar, stop=stopper.event)
        written = result.save(settings.output)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return stopper.exit_code
    except SettingsError as error:
        print(f"python -m daskparse: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RunError as error:
        print(f"python -m daskparse: the run could not complete: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except Exception as error:  # the run as a whole failed: one clear line, the details in the log
        logging.getLogger("daskparse").debug("run failed", exc_info=True)
        print(f"python -m daskparse: the run could not complete: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED

    print(result.table())
    if not result.errors.empty:
        print(f"\nErrors ({len(result.errors)}):")
        shown = result.errors[["source", "kind", "message"]].map(visible)  # a typed source may hold an escape
        print(shown.to_string(index=False, max_colwidth=60))
    if result.stats.get("dashboard"):
        print(f"\nDashboard (while the run lasted): {result.stats['dashboard']}")
    print(f"Output: {', '.join(written.values())}")
    print(result.summary(), flush=True)  # flushed: under cron or systemd, stdout is a file or a pipe
    return EXIT_OK


def _interrupted() -> int:
    print("interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _show_cluster_line(level: str) -> None:
    """The run's line saying where its cluster and dashboard are (INFO, as it is no problem) is shown at the default
    level too, as a script's Client() shows distributed's "dashboard at"; --log-level ERROR hides it."""
    from daskparse.pipeline import cluster_logger

    cluster_logger.setLevel(logging.INFO if level == "WARNING" else level)


def _quiet_distributed(level: str) -> None:
    """distributed logs every start and stop at INFO; a user sees them only when asking for DEBUG."""
    import distributed  # noqa: F401 - importing it sets its loggers to INFO: this must come after

    logging.getLogger("distributed").setLevel(logging.INFO if level == "DEBUG" else max(logging.WARNING, logging.getLevelName(level)))
