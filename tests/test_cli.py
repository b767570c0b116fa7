"""`python -m daskparse` as a user runs it: a subprocess, real files, a real cluster."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

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


def test_usage_errors_exit_2_without_a_traceback(tmp_path):
    for args in (["run", "--workers", "0"], ["run", "--no-such-flag"], ["frobnicate"], ["run", "--extractor", "gemini"],
                 ["run", "--reference-date", "yesterday"]):
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


def test_the_readme_lists_the_exit_codes_the_cli_documents():
    from daskparse import cli

    documented = dict(re.findall(r"^  (\d+)\s+(\S.*)$", cli.__doc__, re.M))
    in_readme = dict(re.findall(r"^\| `(\d+)` \| (.*) \|$", (DATA.parent / "README.md").read_text(), re.M))
    assert sorted(documented, key=int) == sorted(in_readme, key=int) == ["0", "2", "3", "4", "130", "143"]
