"""`python -m daskparse` as a user runs it: a subprocess, real files, a real cluster."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dask.config
import pytest
import pandas as pd

from daskparse.cli import build_parser, main
from daskparse.settings import load_settings

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())


def run_cli(*args, cwd, timeout=240):
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    return subprocess.run([sys.executable, "-m", "daskparse", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_run_writes_outputs_and_prints_the_table_and_summary(tmp_path):
    names = sorted(TRUTH["flyers"])[:3]
    listing = tmp_path / "flyers.txt"
    listing.write_text("# three sample flyers and a missing one\n" + "\n".join(
        [str(DATA / "flyers" / name) for name in names] + ["missing.jpg"]) + "\n")
    done = run_cli("run", str(listing), "--output", str(tmp_path / "out"), "--workers", "1", "--threads", "3",
                   "--extractor", "local", "--reference-date", TRUTH["reference_date"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shows = pd.read_parquet(tmp_path / "out" / "shows.parquet")
    errors = pd.read_parquet(tmp_path / "out" / "errors.parquet")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert len(shows) > 0 and set(shows["source"]) <= {str(DATA / "flyers" / n) for n in names}
    assert errors["kind"].tolist() == ["inputs.not_found"]
    assert stats["totalImages"] == 4 and stats["errors"] == 1
    assert "venue" in done.stdout and "Dashboard" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("4 images:")
    assert "Traceback" not in done.stderr
    assert "%|" not in done.stderr and "\r" not in done.stderr  # no progress bar when stderr is not a terminal
    assert " INFO distributed." not in done.stderr  # distributed's start and stop lines only at DEBUG


def test_a_run_where_every_source_fails_exits_0_and_writes_every_output(tmp_path):
    """A normal day for a scheduled run (the network is down, the list points at nothing): its error rows are
    exactly what the user needs. It once ended in an ArrowNotImplementedError, exit 3, and wrote nothing."""
    done = run_cli("run", "/nonexistent.jpg", "--output", str(tmp_path / "out"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert pd.read_parquet(tmp_path / "out" / "shows.parquet").empty
    assert pd.read_parquet(tmp_path / "out" / "errors.parquet")["kind"].tolist() == ["inputs.not_found"]
    assert pd.read_parquet(tmp_path / "out" / "outcomes.parquet")["status"].tolist() == ["error"]
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["errors"] == 1
    assert "(no shows)" in done.stdout and "Traceback" not in done.stderr


def test_terminal_escapes_in_a_source_are_shown_not_obeyed(tmp_path):
    """A source (or a server's message) holding ESC sequences or a right-to-left override was printed raw in the
    errors table and the log lines, driving the user's terminal."""
    source = "/no/such/\x1b]8;;http://evil.example/\x1b\\flyer\x1b[2J\u202egpj.jpg"
    done = run_cli("run", source, "--output", str(tmp_path / "out"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    for stream in (done.stdout, done.stderr):
        assert "\x1b" not in stream and "\u202e" not in stream
    assert "\\x1b]8;;http://evil.example/" in done.stdout and "\\u202e" in done.stderr
    # the error row keeps the source exactly as given, so it can be matched with the input
    assert pd.read_parquet(tmp_path / "out" / "errors.parquet")["source"].tolist() == [source]


def test_progress_bar_and_log_format_come_from_flags_environment_or_dask_config():
    parse = lambda *flags: vars(build_parser().parse_args(["run", *flags]))  # noqa: E731
    assert parse()["progress_bar"] is None and parse()["log_format"] is None  # unset: the settings decide
    assert parse("--progress")["progress_bar"] is True
    assert parse("--no-progress", "--log-format", "json") == {**parse(), "progress_bar": False, "log_format": "json"}
    assert (load_settings(environ={}).progress_bar, load_settings(environ={}).log_format) == (None, "text")
    settings = load_settings(environ={"DASKPARSE_PROGRESS_BAR": "0", "DASKPARSE_LOG_FORMAT": "json"})
    assert (settings.progress_bar, settings.log_format) == (False, "json")
    with dask.config.set({"daskparse.progress-bar": True, "daskparse.log-format": "json"}):
        settings = load_settings(environ={})
    assert (settings.progress_bar, settings.log_format) == (True, "json")


def test_usage_errors_exit_2_without_a_traceback(tmp_path):
    for args in (["run", "--workers", "0"], ["run", "--no-such-flag"], ["frobnicate"], ["run", "--extractor", "gemini"],
                 ["run", "--reference-date", "yesterday"], ["run", "--log-format", "xml"]):
        done = run_cli(*args, cwd=tmp_path, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert "error" in done.stderr and "Traceback" not in done.stderr


def test_a_run_whose_output_cannot_be_written_exits_3(tmp_path):
    """An unreachable scheduler is no longer such a case: the run falls back to this process
    (tests/test_pipeline_resilience.py)."""
    (tmp_path / "a.jpg").write_bytes((DATA / "flyers" / sorted(TRUTH["flyers"])[0]).read_bytes())
    (tmp_path / "taken").write_text("a file, not a folder")
    done = run_cli("run", str(tmp_path / "a.jpg"), "--workers", "1", "--threads", "1", "--output",
                   str(tmp_path / "taken" / "out"), cwd=tmp_path, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "could not complete" in done.stderr and "Traceback" not in done.stderr


def test_a_run_writes_only_its_output_and_its_cache(tmp_path):
    """Nothing outside the output and cache locations: not the home folder (onnxruntime 1.32 writes a telemetry
    device id under ~/.cache and phones home unless told not to), not the temp folder, not the working folder.
    The environment is a scheduler's (cron) minimal one: no CI variable, which would hide the telemetry."""
    home, temp, work = (tmp_path / name for name in ("home", "tmp", "work"))
    for folder in (home, temp, work):
        folder.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(temp), "LANG": "C.UTF-8"}
    if "PYTHONPATH" in os.environ:  # a checkout not installed in the venv
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    names = sorted(TRUTH["flyers"])[:2]
    done = subprocess.run(
        [sys.executable, "-m", "daskparse", "run", *(str(DATA / "flyers" / n) for n in names), "--output", "out",
         "--cache", "cache", "--workers", "1", "--threads", "2", "--extractor", "local"],
        cwd=work, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if not path.is_dir())
    assert written and all(path.startswith(("work/out/", "work/cache/")) for path in written), written


def test_the_readme_lists_the_exit_codes_the_cli_documents():
    from daskparse import cli

    documented = dict(re.findall(r"^  (\d+)\s+(\S.*)$", cli.__doc__, re.M))
    in_readme = dict(re.findall(r"^\| `(\d+)` \| (.*) \|$", (DATA.parent / "README.md").read_text(), re.M))
    assert sorted(documented, key=int) == sorted(in_readme, key=int) == ["0", "2", "3", "4", "130", "143"]


def test_abbreviated_flags_are_refused_not_guessed():
    """Issue 15: '--thread 4' was read as --threads and '--mode batch' as --model batch (an online run with a model
    named "batch"; --mode is a flag of its own since issue 18). A flag is spelled out or refused."""
    for args in (["run", "--thread", "4"], ["run", "--mod", "batch"], ["run", "--max-out", "512"],
                 ["run", "--extract", "local"]):
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(args)
        assert stop.value.code == 2, args
    assert build_parser().parse_args(["run", "--threads", "4"]).threads == 4
    assert build_parser().parse_args(["run", "--mode", "batch"]).mode == "batch"


def test_bare_command_shows_help_and_version_is_printed(tmp_path):
    """Issue 15: bare `python -m daskparse` errored instead of showing help; there was no --version."""
    from daskparse import __version__

    bare = run_cli(cwd=tmp_path, timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert "usage: python -m daskparse" in bare.stdout and "run" in bare.stdout and "cache" in bare.stdout
    version = run_cli("--version", cwd=tmp_path, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"daskparse {__version__}"


def test_the_console_script_names_itself():
    """Issue 15: `daskparse --help` said `usage: python -m daskparse`."""
    from daskparse.cli import program_name

    assert program_name("/usr/local/bin/daskparse") == "daskparse"
    assert program_name("/work/daskparse/__main__.py") == "python -m daskparse"


def test_a_usage_error_names_the_program_as_it_was_called(monkeypatch, capsys):
    """Usage errors of settings were always prefixed "python -m daskparse:", also for the `daskparse` script."""
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/daskparse"])
    assert main(["run", "--workers", "0"]) == 2
    assert capsys.readouterr().err.startswith("daskparse: error: --workers 0")


def _run_parser():
    import argparse

    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return commands.choices["run"]


RUN_GROUPS = ["inputs and output", "where it runs", "downloads", "cache", "extractor: Gemini or local OCR",
              "rate limits", "logging and progress"]


def test_run_help_groups_its_options_and_names_every_default(monkeypatch):
    """Issue 15: `run --help` was a flat list of 25 options, most without their default."""
    from daskparse.settings import Settings

    monkeypatch.setenv("COLUMNS", "100")
    run = _run_parser()
    text = run.format_help()
    assert [title for title in RUN_GROUPS if f"\n{title}:\n" in text] == RUN_GROUPS
    options = [action for action in run._actions if action.option_strings and action.dest != "help"]
    assert len(options) >= 28
    for action in options:
        assert action.dest in Settings.model_fields, action.option_strings
        assert re.search(r"\(default: [^)]+\)$", action.help), (action.option_strings, action.help)
    helps = {action.option_strings[0]: action.help for action in options}
    for flag, default in {"--workers": "2", "--cache-ttl": "7d", "--cache-error-ttl": "1d", "--rpm": "1800",
                          "--model": "gemini-2.5-flash", "--timeout": "60", "--max-retries": "3",
                          "--fallback": "none", "--log-level": "WARNING", "--max-output-tokens": "2048",
                          "--dashboard-address": "127.0.0.1:8787", "--cache-phash-distance": "16",
                          "--concurrency": "as the rate and Gemini's latency need, at most 256", "--log-format": "text", "--output": "out"}.items():
        assert helps[flag].endswith(f"(default: {default})"), (flag, helps[flag])
    assert helps["--tpm"].endswith("(default: no limit)") and helps["--reference-date"].endswith("(default: today)")


def test_run_help_reads_its_defaults_from_the_settings(monkeypatch):
    """One place for a default: the help follows the Settings field, it does not repeat it."""
    from daskparse.settings import Settings

    monkeypatch.setattr(Settings.model_fields["workers"], "default", 7)
    monkeypatch.setattr(Settings.model_fields["cache"], "default_factory", lambda: "/var/cache/100%/daskparse")
    text = _run_parser().format_help()
    assert "(default: 7)" in text and "/var/cache/100%/daskparse" in text


def test_run_help_shows_examples_with_their_line_breaks(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")  # narrower than the examples: they must not be re-wrapped
    text = _run_parser().format_help()
    examples = text[text.index("\nexamples:\n"):]
    for command in ("run data/flyers --reference-date 2026-11-01", "run urls.txt --output shows\n",
                    "GEMINI_API_KEY=... python -m daskparse run urls.txt --extractor gemini --rpm 10\n",
                    "run urls.txt --output shows --every 1h\n"):
        assert command in examples, command


def test_usage_errors_name_the_option_as_typed_in_plain_words(monkeypatch, capsys):
    """Issue 15: these read "workers: Input should be greater than or equal to 1", "threads: Input should be a
    valid integer" (for DASKPARSE_THREADS=abc) and "settings: Value error, ...", with no word of where a Gemini
    key comes from."""
    from daskparse.cli import main

    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert main(["run", "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("error: --workers 0: must be at least 1")
    assert main(["run", "--extractor", "gemini"]) == 2
    error = capsys.readouterr().err
    assert "--extractor gemini needs a Gemini API key" in error and "GEMINI_API_KEY" in error
    assert "https://aistudio.google.com/apikey" in error
    monkeypatch.setenv("DASKPARSE_THREADS", "abc")
    assert main(["cache", "stats"]) == 2
    assert capsys.readouterr().err.strip().endswith("error: DASKPARSE_THREADS=abc: not a whole number")


def test_no_source_and_no_sample_flyers_says_what_to_do(tmp_path):
    """Issue 15: installed from a wheel (no data/flyers beside the package), `daskparse run` said only "no SOURCE
    given and no sample data at .../site-packages/data/flyers"."""
    script = ("import sys, pathlib, daskparse.cli as cli\n"
              f"cli.SAMPLE_DATA = pathlib.Path({str(tmp_path / 'none')!r})\n"
              "sys.exit(cli.main(['run']))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "no SOURCE given" in done.stderr and "run photos/" in done.stderr
    assert "data/flyers folder of a clone of the repository" in done.stderr
    assert "Traceback" not in done.stderr and str(tmp_path) not in done.stderr


def test_the_sample_flyers_are_found_on_the_projects_page_when_it_has_one():
    from daskparse.cli import project_page

    assert project_page([]) is None
    assert project_page(["Documentation, https://docs.example/daskparse",
                         "Repository, https://git.example/daskparse"]) == "https://git.example/daskparse"
