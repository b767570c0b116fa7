"""``python -m daskparse``: flags → Settings → pipeline; exit codes (README.md lists the same).

Exit codes:
  0  the run completed: every source ended as shows, an image with no shows, or a recorded error;
     with --every: stopped by SIGINT or SIGTERM while waiting for the next run
  2  usage error (bad flag or value): a message, no traceback
  3  the run itself could not complete (cluster and in-process fallback lost, or with --no-cluster-fallback the
     cluster not started, reached or kept; key refused, output not writable; on object storage: no credentials,
     no such bucket, access denied, endpoint unreachable): one line, nothing written
  4  another run holds the output's lock: this one did nothing; or (S3) this run lost its lock (taken over after
     it stalled past its lease, or not renewable for a lease): it stopped as after a signal, and starts no further
     --every run
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
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from daskparse.console import ProgressBar, configure_logging, visible
from daskparse.errors import RunError
from daskparse.interrupts import EarlyInterrupts
from daskparse.settings import DEFAULT_TOTAL_THREADS, MIN_THINKING_BUDGET, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from daskparse.schedule import Stopper

EXIT_OK, EXIT_USAGE, EXIT_RUN_FAILED, EXIT_LOCKED = 0, 2, 3, 4  # 130 and 143: Stopper.exit_code
EXIT_INTERRUPTED = 130  # SIGINT, by the shell's convention (128 + 2)
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "data" / "flyers"


class _Parser(argparse.ArgumentParser):
    flags: dict[str, Sequence[str]]  # every flag's spellings, by the setting it sets (``build_parser``)

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


EXAMPLES = """\
examples:
  {prog} run data/flyers --reference-date 2026-11-01
      the sample flyers of a clone of the repository, dated from the day they were made
  {prog} run urls.txt --output shows
      every image URL or path listed in urls.txt, one a line; the files in shows/
  GEMINI_API_KEY=... {prog} run urls.txt --extractor gemini --rpm 10
      read by Gemini, at most 10 requests a minute across the whole cluster
  {prog} run urls.txt --output shows --every 1h
      again every hour until stopped (from cron: the same without --every)
"""


def _default(field: str) -> Any:
    """A setting's default, read from Settings itself: the help never repeats a number that could drift."""
    return Settings.model_fields[field].get_default(call_default_factory=True)


def _duration(seconds: float) -> str:
    """604800 -> "7d": the way --cache-ttl and --every take it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _words(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option(group, *flags: str, help: str, unset: str = "", shown=_words, **kwargs) -> argparse.Action:
    """A flag whose help ends with its default, read from the Settings field it sets (its ``dest``): one place
    for every default. ``unset``: what a default of None means; ``shown``: the default in the flag's own terms."""
    action = group.add_argument(*flags, help=help, **kwargs)
    default = _default(action.dest)
    shown_default = unset if default is None else shown(default)
    action.help = f"{help} (default: {shown_default.replace('%', '%%')})"  # argparse %-formats help
    return action


def _complain(message: str) -> None:
    """One line on stderr, named as the user called us (``daskparse: error: ...``), as argparse does."""
    print(f"{program_name(sys.argv[0] if sys.argv else '')}: {message}", file=sys.stderr)


def build_parser() -> _Parser:
    from daskparse import __version__

    prog = program_name(sys.argv[0] if sys.argv else "")
    parser = _Parser(prog=prog, description="Turn photos of event flyers into a table of shows.")
    parser.add_argument("--version", action="version", version=f"daskparse {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = commands.add_parser("run", help="parse images into shows", description="Parse images into a table of shows.",
                              epilog=EXAMPLES.format(prog=prog), formatter_class=argparse.RawDescriptionHelpFormatter)
    thinking = "".join(f"; {least} on {model}, the least it allows" for model, least in MIN_THINKING_BUDGET.items())

    io = run.add_argument_group("inputs and output")
    io.add_argument("sources", nargs="*", metavar="SOURCE",
                    help="image URL, path, glob, directory, fsspec URL or .txt list (default: the sample flyers "
                         "of a clone of the repository, data/flyers)")
    _option(io, "--output", metavar="DIR|URL", help="output directory or fsspec URL")
    _option(io, "--reference-date", metavar="YYYY-MM-DD", unset="today",
            help="the day the flyers were seen: a date printed without a year takes the year in which it falls on "
                 "its printed weekday, near this day; with no weekday, its next occurrence on or after it")
    _option(io, "--every", metavar="DURATION", unset="run once", shown=_duration,
            help="run again every DURATION (30m, 12h, 1d), start to start, until SIGINT or SIGTERM")

    cluster = run.add_argument_group("where it runs")
    _option(cluster, "--workers", type=int, metavar="N", help="worker processes of the LocalCluster (never more "
                                                               "than --threads)")
    _option(cluster, "--threads", type=int, metavar="N", help="threads in total, spread evenly over the workers",
            unset=str(DEFAULT_TOTAL_THREADS))
    _option(cluster, "--scheduler", metavar="ADDRESS", unset="start a LocalCluster on this machine",
            help="use an existing cluster; start nothing")
    _option(cluster, "--scheduler-timeout", type=float, metavar="SECONDS",
            help="how long to wait for the --scheduler to answer")
    _option(cluster, "--cluster-fallback", action=argparse.BooleanOptionalAction,
            shown=lambda fallback: "run in this process" if fallback else "exit 3",
            help="when the --scheduler cannot be reached or the LocalCluster cannot start (or is lost mid-run): "
                 "run in this process; --no-cluster-fallback ends the run with exit 3 (for cron)")
    _option(cluster, "--dashboard-address", metavar="HOST:PORT",
            help="where the LocalCluster's dashboard listens; :8787 for every interface")

    downloads = run.add_argument_group("downloads")
    _option(downloads, "--allow-private-hosts", action="store_const", const=True,
            shown=lambda allowed: "allowed" if allowed else "refused",
            help="let downloads reach loopback, link-local and private addresses, and trust .txt lists")

    cache = run.add_argument_group("cache")
    _add_cache_option(cache)
    _option(cache, "--no-cache", dest="use_cache", action="store_const", const=False,
            shown=lambda used: "read and written" if used else "off", help="neither read nor write the result cache")
    _option(cache, "--cache-ttl", metavar="DURATION", shown=_duration, help="how long a result stays valid")
    _option(cache, "--cache-error-ttl", metavar="DURATION", shown=_duration,
            help="how long a permanent per-image error (not found, not an image) is cached")
    _option(cache, "--cache-phash-distance", metavar="BITS|off", unset="off",
            help="look-alike level: how many of 64 pHash bits a repost may differ by; off turns it off")

    extractor = run.add_argument_group("extractor: Gemini or local OCR")
    _option(extractor, "--extractor", choices=["auto", "gemini", "local"],
            help="auto: Gemini when GEMINI_API_KEY is set, else local OCR")
    _option(extractor, "--model", help="Gemini model")
    _option(extractor, "--fallback", choices=["local", "none"],
            help="once Gemini's daily quota is spent or --max-cost reached: local OCR for the rest, or (none) an "
                 "error per image")
    _option(extractor, "--wait-for-quota", dest="quota_wait", action="store_const", const=True,
            shown=lambda wait: "wait" if wait else "--fallback at once",
            help="when an earlier run found Gemini's daily quota spent: wait until it resets (midnight Pacific "
                 "time), then call Gemini; otherwise the run uses --fallback without a call")
    _option(extractor, "--max-cost", type=float, metavar="USD", unset="no cap",
            help="the most a run may spend on Gemini, estimated at the model's prices: no call is made that could "
                 "take the run past it (each reserves its input and its whole --max-output-tokens)")
    _option(extractor, "--max-retries", type=int, metavar="N",
            help="retries per image for Gemini 5xx, timeouts, dropped connections")
    _option(extractor, "--timeout", type=float, metavar="SECONDS", help="Gemini request timeout, at least 10")
    _option(extractor, "--thinking-budget", metavar="N|dynamic", unset=f"off, 0{thinking}",
            help="Gemini thinking tokens per request; dynamic lets the model choose. Thoughts are billed as output")
    _option(extractor, "--media-resolution", choices=["low", "medium", "high"], unset="not sent: the model's own",
            help="Gemini's mediaResolution for the image")
    _option(extractor, "--max-output-tokens", type=int, metavar="N",
            help="Gemini output tokens per answer, thoughts included; a cut answer is asked again once with "
                 "twice as many")

    batch = run.add_argument_group("batch mode", "Gemini's Batch API: half the price, answers within 24 hours")
    _option(batch, "--mode", choices=["online", "batch"],
            help="online: a Gemini call per image now; batch: batch jobs for every image the cache cannot answer")
    _option(batch, "--no-wait", dest="wait", action="store_const", const=False,
            shown=lambda wait: "wait for the jobs" if wait else "submit and end",
            help="submit the batch jobs, record them beside the cache, write what is known and end (exit 0); the "
                 "next run, in any mode, collects the finished jobs first")
    _option(batch, "--batch-poll", metavar="DURATION", shown=_duration, help="how often pending jobs are looked at")

    limits = run.add_argument_group("rate limits", "Gemini calls, counted across every worker of the cluster")
    _option(limits, "--rpm", type=float, metavar="N", help="requests per minute")
    _option(limits, "--tpm", type=int, metavar="N", unset="no limit", help="input tokens per minute")
    _option(limits, "--rpd", type=int, metavar="N", unset="no limit", help="requests per day")
    _option(limits, "--concurrency", type=int, metavar="N", unset="as the rate and Gemini's latency need, at most 256",
            help="the most requests in flight")

    logs = run.add_argument_group("logging and progress")
    _option(logs, "--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="what is logged on stderr")
    _option(logs, "--log-format", choices=["text", "json"], help="json: one JSON object per line, for log collectors")
    _option(logs, "--progress", dest="progress_bar", action=argparse.BooleanOptionalAction,
            unset="only when stderr is a terminal", help="progress bar on stderr")

    cache_command = commands.add_parser("cache", help="look after the result cache: stats, prune, clear")
    cache_command.add_argument("action", choices=["stats", "prune", "clear"],
                               help="stats: entries and size; prune: drop expired entries and merge small files; "
                                    "clear: remove every entry")
    _add_cache_option(cache_command)
    # every flag's spellings, by the setting it sets: messages about a value name the flag it came from
    parser.flags = {action.dest: action.option_strings for command in (run, cache_command)
                    for action in command._actions if action.option_strings and action.dest != "help"}
    return parser


def _add_cache_option(group) -> None:
    _option(group, "--cache", metavar="URL", help="result cache location, any fsspec URL")


def _flags_given(parser: _Parser, options: dict[str, Any]) -> dict[str, str]:
    """The flag each option came from, as typed: ``--no-progress`` for ``progress_bar=False``."""
    given = {}
    for name, value in options.items():
        spellings = parser.flags.get(name, [])
        negative = [flag for flag in spellings if flag.startswith("--no-")]
        given[name] = negative[0] if value is False and negative else spellings[0] if spellings else f"--{name}"
    return given


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


def no_source_message(prog: str) -> str:
    """What to do when no SOURCE is given and no sample flyers came with this installation (a wheel has none)."""
    page = project_page(_metadata_urls())
    where = f"the data/flyers folder of the repository, {page}" if page else \
        "the data/flyers folder of a clone of the repository"
    return (f"no SOURCE given, and no sample flyers installed. Name the images to read: paths, URLs, globs, "
            f"folders or a .txt list (e.g. {prog} run photos/ or {prog} run urls.txt). Sample flyers are in {where}.")


def project_page(urls: list[str]) -> str | None:
    """The repository's address among the package's Project-URL entries ("Source, https://..."), if any."""
    found = dict(entry.split(",", 1) for entry in urls if "," in entry)
    found = {label.strip().lower(): url.strip() for label, url in found.items()}
    for label in ("repository", "source", "source code", "homepage"):
        if found.get(label):
            return found[label]
    return None


def _metadata_urls() -> list[str]:
    from importlib import metadata

    try:
        return metadata.metadata("daskparse").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return []


def cache_command(action: str, url: str) -> int:
    """``python -m daskparse cache stats|prune|clear``: prints the outcome as JSON (for people and scripts)."""
    from daskparse.storage import check_object_stores

    try:  # a missing bucket is an error, not an empty cache (stats) nor a bucket to create (prune, clear)
        check_object_stores([(url, "--cache")], write=action != "stats")
        from daskparse import cache  # pyarrow and the rest: after the check, which needs none of them

        result = {"stats": cache.cache_stats, "prune": cache.prune, "clear": cache.clear}[action](url)
    except RunError as error:  # CacheError among them
        _complain(f"error: {error}")
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
        settings = load_settings(flags=_flags_given(parser, options), **options)
    except SettingsError as error:
        _complain(f"error: {error}")
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)  # before distributed is imported: see there
    if args.command == "cache":
        if early is not None and early.release():
            return _interrupted()
        return cache_command(args.action, settings.cache)

    sources = args.sources
    if not sources:
        if not SAMPLE_DATA.is_dir():  # installed from a wheel: the samples stay in the repository
            _complain(f"error: {no_source_message(parser.prog)}")
            return EXIT_USAGE
        sources = [str(SAMPLE_DATA)]

    from daskparse.storage import check_object_stores

    try:  # before the lock (on an object store, written into the output), the cluster and any download, and
        # before dask loads: a run that cannot write its output or cache ends at once, with nothing written
        check_object_stores(_locations(settings))
    except RunError as error:
        _complain(f"the run could not complete: {error}")
        return EXIT_RUN_FAILED
    from daskparse import schedule  # and run_once the pipeline (dask, distributed): only once the flags are good

    _quiet_distributed(settings.log_level)
    _show_cluster_line(settings.log_level)
    if early is not None and early.release():  # pressed while the libraries loaded: nothing was started
        return _interrupted()
    stopper = schedule.Stopper()
    lost = threading.Event()

    def lock_lost(message: str) -> None:  # logged as an ERROR already; another run now writes this output
        lost.set()
        stopper.event.set()  # as a signal would: no new image, no further --every run

    with stopper.installed():
        try:
            with schedule.output_lock(settings.output, lease_seconds=settings.lock_lease, on_lost=lock_lost):
                code = schedule.repeat(lambda: run_once(sources, settings, stopper), settings.every, stopper,
                                       final=(EXIT_USAGE,))
            return EXIT_LOCKED if lost.is_set() else code
        except schedule.LockHeld as held:
            _complain(str(held))
            return EXIT_LOCKED
        except RunError as error:  # the lock could not be taken: the output is not writable
            _complain(f"the run could not complete: {error}")
            return EXIT_RUN_FAILED
        except KeyboardInterrupt:  # a second signal outside a run (taking the lock, printing)
            return stopper.exit_code


def _locations(settings: Settings) -> list[tuple[str, str]]:
    """The run's storage locations, each with the flag that names it: what ``check_object_stores`` looks at."""
    return [(settings.output, "--output")] + ([(settings.cache, "--cache")] if settings.use_cache else [])


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
        _complain(f"error: {error}")
        return EXIT_USAGE
    except RunError as error:
        _complain(f"the run could not complete: {error}")
        return EXIT_RUN_FAILED
    except Exception as error:  # the run as a whole failed: one clear line, the details in the log
        logging.getLogger("daskparse").debug("run failed", exc_info=True)
        _complain(f"the run could not complete: {type(error).__name__}: {error}")
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
