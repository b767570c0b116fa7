"""The progress bar and the log lines on stderr: drawn by tqdm, real terminals (pseudo-terminals), real runs."""

import io
import json
import logging
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import warnings
from pathlib import Path

import fcntl

from conftest import GEMINI_KEY
from daskparse.console import ProgressBar, configure_logging, json_formatter
from daskparse.tally import RunProgress

DATA = Path(__file__).resolve().parent.parent / "data"
PATHS = [str(path) for path in sorted((DATA / "flyers").glob("*.jpg"))[:4]]


def progress(done, total=4, failed=0, shows=0, cache_hits=0, requests=0, cost=0.0):
    return RunProgress(total=total, done=done, failed=failed, shows=shows, cache_hits=cache_hits, requests=requests,
                       input_tokens=0, output_tokens=0, estimated_cost_usd=cost, elapsed=1.0)


def test_the_bar_shows_done_of_total_rate_eta_and_the_counts_then_closes():
    stream = io.StringIO()
    bar = ProgressBar(True, file=stream)
    bar(progress(0))
    time.sleep(0.15)  # tqdm redraws at most every 0.1 s
    bar(progress(2, failed=1, shows=5, cache_hits=1, requests=3, cost=0.0012))
    middle = stream.getvalue().split("\r")[-1]
    assert re.search(r"images:\s+50%.*\| 2/4 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(img/s|s/img), ", middle), middle
    assert "failed=1, shows=5, cached=1, requests=3, cost=$0.0012" in middle
    bar(progress(4, failed=1, shows=9, cache_hits=1))
    assert bar.bar is None and stream.getvalue().endswith("\n")  # closed at the last image, its final state kept
    assert "4/4" in stream.getvalue().splitlines()[-1] and "shows=9" in stream.getvalue().splitlines()[-1]


def test_the_bar_stays_off_unless_the_stream_is_a_terminal_or_it_is_forced():
    for enabled in (None, False):
        stream = io.StringIO()
        with ProgressBar(enabled, file=stream) as bar:
            for done in range(5):
                bar(progress(done))
        assert stream.getvalue() == ""
    primary, secondary = pty.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert ProgressBar(file=terminal).enabled and not ProgressBar(False, file=terminal).enabled
    os.close(primary)


def test_json_lines_carry_time_level_logger_message_and_extra_fields():
    record = logging.LogRecord("daskparse.cache", logging.WARNING, __file__, 1, "%d files: %s", (2, "merged"), None)
    record.stats = {"shows": 3}
    line = json.loads(json_formatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "daskparse.cache" and line["message"] == "2 files: merged"
    assert line["stats"] == {"shows": 3} and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])


def test_configure_logging_sends_warnings_and_every_logger_through_one_handler(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            configure_logging("INFO", "json")
            logging.getLogger("distributed.scheduler").info("one")
            warnings.warn("port in use")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = handlers
        root.setLevel(level)
    assert [(line["logger"], line["level"]) for line in lines] == [("distributed.scheduler", "INFO"),
                                                                   ("py.warnings", "WARNING")]
    assert "port in use" in lines[1]["message"]


def test_a_second_configure_logging_captures_warnings_again(capsys):
    """A process that configured logging once (an earlier run in a notebook's kernel, a test's in-process CLI)
    and had warnings' display replaced since (``catch_warnings(record=True)``: pytest's, a notebook's): the next
    run's warnings still come through logging. captureWarnings(True) alone does nothing when it is already on."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json")
        with warnings.catch_warnings(record=True) as shown_elsewhere:
            warnings.simplefilter("always")
            configure_logging("INFO", "json")
            warnings.warn("port in use")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = handlers
        root.setLevel(level)
    assert shown_elsewhere == [] and [line["logger"] for line in lines] == ["py.warnings"]


def run_cli(args, env_extra, cwd, terminal):
    """``python -m daskparse run`` with stdout on a pipe and stderr on a pipe or a 120-column pseudo-terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(env_extra)
    command = [sys.executable, "-m", "daskparse", "run", *args]
    if not terminal:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=secondary) as process:
        os.close(secondary)
        received = bytearray()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # read as it comes: a full terminal buffer would block the run
            if select.select([primary], [], [], 0.5)[0]:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not chunk:
                    break
                received += chunk
            elif process.poll() is not None:
                break
        stdout = process.stdout.read().decode()
        process.wait(timeout=60)
    os.close(primary)
    return subprocess.CompletedProcess(command, process.returncode, stdout, received.decode())


def test_a_run_on_a_terminal_draws_the_bar_and_a_piped_run_prints_as_before(gemini_server, tmp_path):
    env = {"GEMINI_API_KEY": GEMINI_KEY, "GOOGLE_GEMINI_BASE_URL": gemini_server.base_url}
    args = [*PATHS, "--workers", "1", "--threads", "2", "--log-level", "INFO", "--reference-date", "2026-11-01"]
    shown = run_cli([*args, "--output", str(tmp_path / "a")], env, tmp_path, terminal=True)
    assert shown.returncode == 0, shown.stderr
    final = [line for line in shown.stderr.split("\r") if "images: 100%" in line]
    assert final and re.search(r"\| 4/4 \[\d\d:\d\d<00:00, +[\d.]+(img/s|s/img), failed=0, shows=\d+, cached=0, "
                               r"requests=4, cost=\$0\.\d+\]", final[-1]), shown.stderr
    # log lines go above the bar: each starts a line of its own, never after the bar's text
    for line in re.split(r"\r\n|\n", shown.stderr):
        if " INFO daskparse:" in line:
            assert re.match(r"\d{4}-\d\d-\d\d ", line.split("\r")[-1]), line
    assert "img/s" not in shown.stdout

    piped = run_cli([*args, "--output", str(tmp_path / "b")], env, tmp_path, terminal=False)  # from the cache
    assert piped.returncode == 0, piped.stderr
    assert "%|" not in piped.stderr and "\r" not in piped.stderr
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) ", line)
               for line in piped.stderr.splitlines()), piped.stderr
    table = lambda stdout: sorted(stdout.split("\nDashboard")[0].split("\nOutput:")[0].splitlines())  # noqa: E731
    assert table(piped.stdout) == table(shown.stdout) and "venue" in piped.stdout


def test_worker_processes_log_as_json_too(capfd):
    """The worker processes of a cluster daskparse starts log as the run asks (their stderr is this process's)."""
    import daskparse
    from distributed import default_client

    def log_from_the_worker(progress):
        if progress.done == 1:  # the run's cluster is up until its last partition is in
            default_client().run(lambda: logging.getLogger("daskparse.worker-test").warning("said in a worker"))

    flyers = sorted((Path(__file__).resolve().parent.parent / "data" / "flyers").glob("*.jpg"))[:2]
    daskparse.parse_images([str(f) for f in flyers], extractor="local", workers=1, threads=1, use_cache=False,
                           log_format="json", progress=log_from_the_worker)
    said = [line for line in capfd.readouterr().err.splitlines() if "said in a worker" in line]
    assert len(said) == 1 and json.loads(said[0])["logger"] == "daskparse.worker-test", said
    assert "DASK_LOGGING" not in os.environ  # what the nanny set for its workers is gone with the cluster


def test_sources_refused_before_the_run_start_the_bar_without_counting_in_its_rate():
    stream = io.StringIO()
    bar = ProgressBar(True, file=stream)
    bar(RunProgress(total=4, done=2, failed=2, shows=0, cache_hits=0, requests=0, input_tokens=0, output_tokens=0,
                    estimated_cost_usd=0.0, elapsed=0.0, input_errors=2))
    assert bar.bar.n == 2 and bar.bar.initial == 2  # tqdm measures its rate from there, not from 0
    bar.close()
