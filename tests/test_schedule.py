"""Scheduled runs: clean stops on real signals, one run per output, --every, and the README's cron and systemd lines.

The end-to-end tests run ``python -m daskparse`` as subprocesses against the loopback Gemini server (a real
cluster, real Parquet files, real signals and locks)."""

import configparser
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import daskparse
from conftest import GEMINI_KEY
from daskparse import cache, cli
from daskparse.schedule import Stopper, repeat
from daskparse.settings import load_settings
from daskparse.testing.gemini_server import GeminiServer, Latency

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
PATHS = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:6]]
README = (ROOT / "README.md").read_text()


# ---------------------------------------------------------------- the lock's files
def test_the_lock_never_writes_through_a_symbolic_link(tmp_path):
    """A link planted at the lock's record (``.daskparse.lock.json``) once had its target overwritten."""
    from daskparse.errors import RunError
    from daskparse.schedule import LOCK_NAME, output_lock

    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (out / f"{LOCK_NAME}.json").symlink_to(target)
    with output_lock(str(out)):
        assert json.loads((out / f"{LOCK_NAME}.json").read_text())["pid"] == os.getpid()
    assert target.read_text() == "keep me"
    (out / LOCK_NAME).unlink()
    (out / LOCK_NAME).symlink_to(target)
    with pytest.raises(RunError, match="symbolic link"):
        with output_lock(str(out)):
            pass
    assert target.read_text() == "keep me"


# ---------------------------------------------------------------- the loop and the signals, in this process

def test_every_runs_start_to_start_and_an_overrun_starts_the_next_at_once(caplog):
    stopper, runs = Stopper(), []

    def run_once():
        runs.append(time.monotonic())
        if len(runs) == 1:
            time.sleep(0.3)  # longer than the period
        if len(runs) == 3:
            threading.Timer(0.05, stopper.event.set).start()  # a signal while the loop waits
        return 0

    with caplog.at_level(logging.WARNING, logger="daskparse"):
        assert repeat(run_once, every=0.2, stopper=stopper, say=lambda line: None) == 0
    assert len(runs) == 3
    assert sum("longer than --every" in message for message in caplog.messages) == 1


def test_a_stop_during_a_run_ends_the_loop_with_the_signals_code_and_a_final_code_ends_it_too():
    stopper = Stopper()

    def stopped_mid_run():
        stopper.signal = signal.SIGTERM
        stopper.event.set()
        return 0

    assert repeat(stopped_mid_run, every=3600, stopper=stopper, say=lambda line: None) == 143
    failures = iter([3, 2, 0])  # a failed run goes on, a usage error ends the loop
    assert repeat(lambda: next(failures), every=0.01, stopper=Stopper(), final=(2,), say=lambda line: None) == 2
    assert next(failures) == 0


def test_the_first_signal_asks_for_a_stop_and_the_second_stops_at_once():
    previous = signal.getsignal(signal.SIGINT)
    stopper = Stopper()
    with stopper.installed():
        os.kill(os.getpid(), signal.SIGINT)
        assert stopper.event.wait(10) and stopper.exit_code == 130
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)  # the handler raises here, at once
        assert signal.getsignal(signal.SIGINT) is previous  # a third one gets the usual behaviour
    terminated = Stopper()
    with terminated.installed():
        os.kill(os.getpid(), signal.SIGTERM)
        assert terminated.event.wait(10) and terminated.exit_code == 143
    assert signal.getsignal(signal.SIGINT) is previous and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


# ---------------------------------------------------------------- python -m daskparse, as a user (or cron) runs it

def cli_env(server):
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(GEMINI_API_KEY=GEMINI_KEY, GOOGLE_GEMINI_BASE_URL=server.base_url)
    return env


def cli_args(tmp_path, *extra, paths=PATHS):
    return [sys.executable, "-m", "daskparse", "run", *paths, "--output", str(tmp_path / "out"), "--cache",
            str(tmp_path / "cache"), "--workers", "1", "--threads", "2", "--timeout", "10",
            "--reference-date", TRUTH["reference_date"], *extra]


def cached_entries(tmp_path):
    return cache.cache_stats(str(tmp_path / "cache"))["entries"]


def test_ctrl_c_mid_run_keeps_what_was_done_and_the_next_run_does_the_rest(tmp_path):
    """Ctrl-C at a terminal: SIGINT to the whole process group, the cluster's worker processes too. (SIGTERM takes
    the same path, with 143: test_the_first_signal_asks_for_a_stop_and_the_second_stops_at_once.)"""
    with GeminiServer(api_key=GEMINI_KEY, latency=2.0) as server:
        process = subprocess.Popen(cli_args(tmp_path), cwd=tmp_path, env=cli_env(server), start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while server.count(":generateContent") < 1 and process.poll() is None:
                time.sleep(0.02)
            os.killpg(process.pid, signal.SIGINT)  # while the first calls are in flight
            stdout, stderr = process.communicate(timeout=240)
        finally:
            process.kill()
        assert process.returncode == 130, stderr
        assert "SIGINT: finishing the images in progress" in stderr and "Traceback" not in stderr
        stats = json.loads((tmp_path / "out" / "stats.json").read_text())
        done = set(pd.read_parquet(tmp_path / "out" / "outcomes.parquet")["source"])
        sent = server.count(":generateContent")
        assert stats["stopped"] and 1 <= len(done) and stats["notReached"] == len(PATHS) - len(done) >= 1
        assert len(done) == sent  # every image sent to Gemini was finished and kept: none lost
        assert set(pd.read_parquet(tmp_path / "out" / "shows.parquet")["source"]) == done  # in the output...
        assert cached_entries(tmp_path) == len(done)  # ...and in the cache
        assert "stopped early" in stdout.strip().splitlines()[-1]

        server.latency = Latency.fixed(0)  # the latency was for the stop to land mid-call; the rest need none
        again = subprocess.run(cli_args(tmp_path), cwd=tmp_path, env=cli_env(server), capture_output=True,
                               text=True, timeout=240)
        assert again.returncode == 0, again.stderr
        assert server.count(":generateContent") == len(PATHS)  # the rest, and nothing twice
    view = pd.read_parquet(tmp_path / "out" / "shows.parquet")
    assert set(view["source"]) == set(PATHS) and view["show_id"].is_unique


def wait_for(path, pattern, count=1, process=None, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if len(re.findall(pattern, text)) >= count:
            return text
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} x{count} not seen in {path}: {path.read_text() if path.exists() else ''}")


def start(args, tmp_path, server, name):
    log = tmp_path / f"{name}.out"
    with open(log, "w") as out:
        process = subprocess.Popen(args, cwd=tmp_path, env=cli_env(server), stdout=out, stderr=subprocess.STDOUT,
                                   text=True)
    return process, log


def test_one_run_at_a_time_per_output_and_every_repeats_until_stopped(tmp_path):
    paths = PATHS[:2]
    lock_owner = tmp_path / "out" / ".daskparse.lock.json"
    with GeminiServer(api_key=GEMINI_KEY) as server:
        holder, log = start(cli_args(tmp_path, "--every", "1h", paths=paths), tmp_path, server, "holder")
        try:
            wait_for(log, r"Next run at", process=holder)  # the first run is done; it waits, holding the lock
            turned_away = subprocess.run(cli_args(tmp_path, paths=paths), cwd=tmp_path, env=cli_env(server),
                                         capture_output=True, text=True, timeout=120)
            assert turned_away.returncode == 4
            [line] = turned_away.stderr.strip().splitlines()
            assert "another run holds the lock" in line and f"pid {holder.pid} " in line and "--every 1h" in line
            holder.send_signal(signal.SIGTERM)  # while it waits: nothing is cut short
            assert holder.wait(60) == 0
        finally:
            holder.kill()
        assert not lock_owner.exists()

        # runs answered from the cache take well under a second: a shorter period gives the three runs sooner
        repeating, log = start(cli_args(tmp_path, "--every", "1s", paths=paths), tmp_path, server, "repeating")
        try:
            wait_for(log, r"\d+ images?: ", count=3, process=repeating)  # three runs: it repeats
            repeating.kill()  # SIGKILL: no clean-up at all...
            repeating.wait(60)
        finally:
            repeating.kill()
        after_crash = subprocess.run(cli_args(tmp_path, paths=paths), cwd=tmp_path, env=cli_env(server),
                                     capture_output=True, text=True, timeout=120)
        assert after_crash.returncode == 0, after_crash.stderr  # ...and yet no stale lock
        assert server.count(":generateContent") == len(paths)  # the first run's calls; the cache did the rest

    history = pd.read_parquet(tmp_path / "out" / "shows")
    assert history["run_id"].nunique() >= 5  # the holder's, the repeating one's (3+) and the last: each appended
    view = pd.read_parquet(tmp_path / "out" / "shows.parquet")
    assert sorted(view["show_id"]) == sorted(history["show_id"].unique())  # seen in every run, listed once
    assert (view["last_seen"] > view["first_seen"]).all()


# ---------------------------------------------------------------- the README's cron line and systemd units

def project_copy(tmp_path):
    """A folder laid out like a checkout with its venv (``.venv`` and the package linked), and a flyers.txt naming
    a flyer in the project's folder, as the README says (a list may name only files inside its folder)."""
    project = tmp_path / "project"
    (project / "flyers").mkdir(parents=True)
    (project / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (project / "daskparse").symlink_to(Path(daskparse.__file__).parent)
    shutil.copy(PATHS[0], project / "flyers" / Path(PATHS[0]).name)
    (project / "flyers.txt").write_text(f"flyers/{Path(PATHS[0]).name}\n")
    return project


def test_the_readme_cron_line_works_in_crons_bare_environment(tmp_path):
    [line] = [line for line in README.splitlines() if line.startswith("*/30 * * * * ")]
    project = project_copy(tmp_path)
    command = line.split(None, 5)[5].replace("/path/to/daskparse", str(project))
    home = tmp_path / "home"
    home.mkdir()
    # what cron gives a job: no terminal, no PYTHONPATH, no key, PATH=/usr/bin:/bin
    done = subprocess.run(["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin", "HOME": str(home),
                          "SHELL": "/bin/sh", "LOGNAME": "cron"}, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)
    log = (project / "out" / "cron.log").read_text()
    assert done.returncode == 0, log
    assert re.search(r"^1 image: 1 with shows", log, re.M) and "Traceback" not in log
    shows = pd.read_parquet(project / "out" / "shows.parquet")
    assert len(shows) > 0 and set(shows["extractor"]) == {"local"}
    assert set(shows["source"]) == {f"flyers/{Path(PATHS[0]).name}"}  # the list's folder as the command named it


def readme_units():
    blocks = re.findall(r"```ini\n# (daskparse\.\w+)(.*?)\n(.*?)```", README, re.S)
    return [(name, note.strip(), text) for name, note, text in blocks]


def test_the_readme_systemd_units_are_valid_and_stop_cleanly(tmp_path):
    units = readme_units()
    assert [(name, note) for name, note, _ in units] == [
        ("daskparse.service", ""), ("daskparse.timer", ""), ("daskparse.service", ", with --every")]
    project = project_copy(tmp_path)
    analyze = shutil.which("systemd-analyze")
    for number, (name, _, text) in enumerate(units):
        text = text.replace("/path/to/daskparse", str(project))
        parsed = configparser.ConfigParser(strict=True, interpolation=None)
        parsed.optionxform = str
        parsed.read_string(text)
        if name.endswith(".service"):
            service = parsed["Service"]
            # SIGTERM to daskparse alone, exit 143 counted as a clean stop, and time to finish the images
            assert service["KillMode"] == "mixed" and "143" in service["SuccessExitStatus"].split()
            executable, module, *args = shlex.split(service["ExecStart"])
            assert executable == f"{project}/.venv/bin/python" and module == "-m"
            parsed_args = cli.build_parser().parse_args(args[1:])  # exits 2 on a flag the CLI does not know
            assert parsed_args.command == "run" and service["WorkingDirectory"] == str(project)
            load_settings(environ={}, every=parsed_args.every, output=parsed_args.output)
        if analyze:  # the real validator, where systemd is installed
            folder = tmp_path / f"unit{number}"
            folder.mkdir()
            (folder / name).write_text(text)
            if name.endswith(".timer"):
                (folder / "daskparse.service").write_text(units[0][2].replace("/path/to/daskparse", str(project)))
            checked = subprocess.run([analyze, "verify", str(folder / name)], capture_output=True, text=True,
                                     timeout=60)
            assert checked.returncode == 0 and name not in checked.stderr, checked.stderr
