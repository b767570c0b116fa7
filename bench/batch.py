"""Batch mode against online (issue 18): the same flyers both ways, then a run killed mid-job and run again.

200 distinct rendered flyers (40 with --quick; ``bench.cost.make_flyers``: ``make_flyer`` seeds 1..N, stored fitted
to 1200x800), against one loopback Gemini server in its own process (so its CPU never shares a GIL with the run):

- online: ``parse_images(extractor="gemini")`` on a fresh cache, the server answering each generateContent after a
  lognormal latency (median 1.5 s, sigma 0.3, seeded; as bench/gemini_throughput.py), no quota;
- batch: the same call with ``mode="batch"`` on another fresh cache; the server's jobs stay PENDING
  ``BATCH_PENDING_S`` then RUNNING ``BATCH_RUNNING_S`` (the loopback clock: Google's is "within 24 h"), the run
  looking every ``BATCH_POLL_S``; its wall time includes that wait.

Both on the 2x10 LocalCluster of processes a default run starts (``bench.cpu_per_image.local_cluster``, i.e.
``daskparse.cluster.cluster_client``). Per mode: requests (online: the server's generateContent count; batch: the
jobs created and the requests in them), input / image / output / thinking tokens and ``estimatedCostUSD`` from the
stats, the cost ratio batch / online (expected 0.5: the same tokens at the batch price), wall time, images a minute.

Then kill-and-rerun, twice, each on a fresh cache: ``python -m daskparse run --mode batch`` as a subprocess (its own
session; GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL in its environment) against a job clock longer than the kill
takes; SIGKILL to its process group (the run, its nannies and workers: what an OOM kill or a lost machine does),
then the same command again, whose stats and outcomes are read from its --output. The variants:

- killed while waiting: as soon as the server has the job and the ledger beside the cache has its name;
- killed during the create: the server makes the job and holds its reply (``HoldingServer``, below) until the
  process is dead, so the ledger's record has no job name yet; the rerun must find the job by its display name.
  ``add_batch_fault("lost_reply")`` alone is not a kill: the run sees the dropped connection, finds its job by name
  in-process and carries on (tests/test_batch_run.py covers that), so the instant of a kill within it would be luck.

The server fixes a job's clock when it creates it: the killed run's job keeps its clock and the rerun waits for
what is left of it; the server's clock is shortened before the rerun, so a second job, if one were wrongly
created, would not stall the benchmark and would show up in the count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.cost import make_flyers
from bench.cpu_per_image import THREADS_PER_WORKER, WORKERS, local_cluster
from bench.loopback import API_KEY, SERVER_SEED

IMAGES_FULL, IMAGES_QUICK = 200, 40
LATENCY_MEDIAN_S, LATENCY_SIGMA = 1.5, 0.3  # online answers, as bench/gemini_throughput.py
BATCH_PENDING_S, BATCH_RUNNING_S = 2.0, 3.0  # the loopback clock of the comparison's job
BATCH_POLL_S = 1.0  # --batch-poll for every batch run here (the default, 30 s, would dominate a 5 s job)
KILL_PENDING_S, KILL_RUNNING_S = 2.0, 10.0  # long enough that the kill (within a second of the create) comes first
SHORT_PENDING_S, SHORT_RUNNING_S = 0.5, 1.0  # any job created after the kill
HOLD_LIMIT_S = 300.0  # the most a held create waits for its release
TIMEOUT_S = 30
RUN_TIMEOUT_S = 600  # one command-line run, cluster start-up included
REFERENCE_DATE = dt.date(2026, 11, 1)
MODEL = "gemini-2.5-flash"
EXPECTED_RATIO = 0.5


# ------------------------------------------------------------------ the server, in its own process

def _serve(conn, options: dict) -> None:
    """Child process: one GeminiServer, driven by (command, *args) messages until "stop"."""
    from daskparse.testing.gemini_batches import BatchClock
    from daskparse.testing.gemini_server import GeminiServer, Latency

    class HoldingServer(GeminiServer):
        """Holds the reply of a batch create it has made (the job exists) while ``hold`` is set: a client killed
        meanwhile dies inside its create, deterministically. Overrides the server's private ``_create_batch``:
        the testing server has no such fault kind (a "slow create" would be the place for it)."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.hold, self.holding, self.release = threading.Event(), threading.Event(), threading.Event()

        def _create_batch(self, handler, model, body, record):
            reply = super()._create_batch(handler, model, body, record)
            if self.hold.is_set() and reply is not None and reply[0] == 200:
                self.holding.set()
                self.release.wait(HOLD_LIMIT_S)
            return reply

    latency = options.pop("latency")
    server = HoldingServer(api_key=API_KEY, latency=Latency(*latency), seed=SERVER_SEED, **options)

    def clock(pending: float, running: float) -> None:
        server.batch_clock = BatchClock(pending, running)

    def hold(on: bool) -> None:
        if on:
            server.release.clear()
            server.holding.clear()
            server.hold.set()
        else:
            server.hold.clear()
            server.release.set()

    commands = {
        "generate": lambda: server.count(":generateContent"),
        "jobs": lambda: [dataclasses.asdict(job) for job in server.batch_jobs],
        "uploads": lambda: sum(1 for file in server.files if file.source == "UPLOADED"),
        "clock": clock,
        "hold": hold,
        "holding": lambda: server.holding.is_set(),
        "cpu": time.process_time,
    }
    with server:
        conn.send(server.base_url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                hold(False)
                conn.send(None)
                break
            conn.send(commands[command](*args))


class BenchServer:
    """The child's server: ``base_url``, and ``ask("jobs")`` etc. for what it saw (one thread asks at a time)."""

    def __init__(self, **options: Any):
        context = multiprocessing.get_context("spawn")  # the parent has Dask threads: never fork it
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, options), daemon=True, name="gemini-server")
        self._process.start()
        if not self._conn.poll(60):
            self._process.kill()
            raise RuntimeError("the loopback Gemini server did not start within 60 s")
        self.base_url: str = self._conn.recv()

    def ask(self, command: str, *args: Any) -> Any:
        self._conn.send((command, *args))
        return self._conn.recv()

    def __enter__(self) -> "BenchServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._process.is_alive():
            try:
                self.ask("stop")
                self._process.join(30)
            finally:
                if self._process.is_alive():
                    self._process.kill()
                    self._process.join()


# ------------------------------------------------------------------ online against batch

@dataclasses.dataclass
class ModeRun:
    mode: str
    images: int
    wall_s: float
    stats: dict
    generate_calls: int  # generateContent requests the server got during the run
    jobs: list[dict]  # batch jobs created during the run (the server's view)
    uploads: int  # JSONL files uploaded during the run
    answers: set  # (source, venue) of every show: both modes must read the same

    def row(self, online_cost: float | None) -> dict:
        stats = self.stats
        cost = float(stats.get("estimatedCostUSD") or 0.0)
        return {
            "mode": self.mode,
            "images": self.images,
            "generateContent": self.generate_calls,
            "batch_jobs": len(self.jobs),
            "batch_requests": sum(job["request_count"] for job in self.jobs),
            "input_tokens": int(stats.get("inputTokens") or 0),
            "image_tokens": int(stats.get("imageTokens") or 0),
            "output_tokens": int(stats.get("outputTokens") or 0),
            "thinking_tokens": int(stats.get("thoughtsTokens") or 0),
            "cost_usd": round(cost, 5),
            "usd_per_1000": round(1000 * cost / self.images, 4),
            "cost_vs_online": round(cost / online_cost, 3) if online_cost else 1.0,
            "errors": int(stats.get("errors") or 0),
            "wall_s": round(self.wall_s, 1),
            "images_per_min": round(60 * self.images / self.wall_s, 1),
        }


def parse_run(server: BenchServer, client, paths: list[str], cache: Path, mode: str) -> ModeRun:
    import daskparse

    calls, jobs_before, uploads = server.ask("generate"), len(server.ask("jobs")), server.ask("uploads")
    started = time.perf_counter()
    result = daskparse.parse_images(
        paths, extractor="gemini", client=client, gemini_api_key=API_KEY, gemini_base_url=server.base_url,
        gemini_api_version="v1beta", timeout=TIMEOUT_S, reference_date=REFERENCE_DATE, cache=str(cache),
        mode=mode, batch_poll=BATCH_POLL_S, model=MODEL)
    wall = time.perf_counter() - started
    shows = result.shows
    return ModeRun(mode, len(paths), wall, result.stats, server.ask("generate") - calls,
                   server.ask("jobs")[jobs_before:], server.ask("uploads") - uploads,
                   set(zip(shows["source"], shows["venue"])) if not shows.empty else set())


# ------------------------------------------------------------------ kill and rerun

def command(folder: Path, cache: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "daskparse", "run", str(folder), "--mode", "batch", "--extractor", "gemini",
            "--model", MODEL, "--cache", str(cache), "--output", str(output), "--batch-poll", f"{BATCH_POLL_S:g}s",
            "--reference-date", REFERENCE_DATE.isoformat(), "--dashboard-address", "127.0.0.1:0",
            "--log-level", "WARNING"]


def run_environment(base_url: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    env = {key: value for key, value in os.environ.items() if not key.startswith("DASKPARSE_")}
    env.update(GEMINI_API_KEY=API_KEY, GOOGLE_GEMINI_BASE_URL=base_url,
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    return env


def ledger_names(cache: Path) -> list[str | None]:
    """The job name of each record in the ledger beside ``cache`` (None: written before its create returned)."""
    names = []
    for path in sorted(cache.glob("batches/*/*.json")):
        try:
            names.append(json.loads(path.read_text()).get("job"))
        except (OSError, ValueError):  # being written (atomic_write renames): looked at again next poll
            continue
    return names


def kill_and_rerun(server: BenchServer, folder: Path, work: Path, during_create: bool) -> dict:
    """One variant: the run killed once its job exists (and, waiting, is named in the ledger), then run again."""
    cache, output = work / "cache", work / "out"
    work.mkdir(parents=True)
    env, argv = run_environment(server.base_url), command(folder, cache, output)
    jobs_before, calls_before = len(server.ask("jobs")), server.ask("generate")
    server.ask("clock", KILL_PENDING_S, KILL_RUNNING_S)
    server.ask("hold", during_create)
    log = (work / "killed.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ledger: list[str | None] = []
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            made = len(server.ask("jobs")) > jobs_before
            ledger = ledger_names(cache)
            if during_create and made and server.ask("holding"):
                break
            if not during_create and made and ledger and all(ledger):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the run {'ended' if process.poll() is not None else 'did not make its job'} "
                               f"before it could be killed (exit {process.returncode}); see {work / 'killed.log'}")
        os.killpg(process.pid, signal.SIGKILL)  # the run, its nannies and its workers
        process.wait(30)
        killed_after = time.perf_counter() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        log.close()
        server.ask("hold", False)  # the held handler answers a dead socket and ends
    server.ask("clock", SHORT_PENDING_S, SHORT_RUNNING_S)
    killed_jobs = server.ask("jobs")[jobs_before:]
    rerun_started = time.perf_counter()
    with (work / "rerun.log").open("w") as rerun_log:
        rerun = subprocess.run(argv, env=env, stdout=rerun_log, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S,
                               check=False)
    rerun_wall = time.perf_counter() - rerun_started
    jobs = server.ask("jobs")[jobs_before:]
    stats = json.loads((output / "stats.json").read_text()) if (output / "stats.json").exists() else {}
    answered = _answered(output)
    images = len(list(folder.glob("*.jpg")))
    batch = stats.get("batch") or {}
    return {
        "variant": "killed during the create" if during_create else "killed while waiting",
        "images": images,
        "killed_after_s": round(killed_after, 1),
        "ledger_at_kill": "record without a job name" if ledger and not all(ledger) else
                          ("record named" if ledger else "no record"),
        "jobs_at_kill": len(killed_jobs),
        "jobs_created": len(jobs),
        "requests_in_jobs": sum(job["request_count"] for job in jobs),
        "online_requests": server.ask("generate") - calls_before,
        "rerun_exit": rerun.returncode,
        "rerun_images_answered": answered,
        "rerun_errors": int(stats.get("errors") or 0),
        "rerun_attached": batch.get("jobsCreated") == 0 and batch.get("jobsCollected", 0) >= 1,
        "rerun_stats_batch": batch,
        "rerun_wall_s": round(rerun_wall, 1),
        "job_states": [job["state"] for job in jobs],
        "log_folder": str(work),
    }


def _answered(output: Path) -> int:
    """Sources of the rerun's outcomes that are not errors."""
    import pandas as pd

    path = output / "outcomes.parquet"
    if not path.exists():
        return 0
    outcomes = pd.read_parquet(path)
    return int((outcomes["status"] != "error").sum())


# ------------------------------------------------------------------ the benchmark

def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(quick: bool) -> dict:
    count = IMAGES_QUICK if quick else IMAGES_FULL
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="daskparse-batch-") as tmp_name:
        tmp = Path(tmp_name)
        made = time.perf_counter()
        paths = make_flyers(count, tmp / "flyers")
        prepare_s = round(time.perf_counter() - made, 1)
        with BenchServer(latency=(LATENCY_MEDIAN_S, LATENCY_SIGMA), batch_pending_seconds=BATCH_PENDING_S,
                         batch_running_seconds=BATCH_RUNNING_S) as server:
            with local_cluster() as (client, _roles):
                online = parse_run(server, client, paths, tmp / "cache-online", "online")
                load_mid = _load()
                batch = parse_run(server, client, paths, tmp / "cache-batch", "batch")
            kills = [kill_and_rerun(server, tmp / "flyers", tmp / f"kill-{name}", during_create)
                     for name, during_create in (("waiting", False), ("create", True))]
            server_cpu_s = round(server.ask("cpu"), 1)
        _keep_logs(tmp, kills)
    online_cost = float(online.stats.get("estimatedCostUSD") or 0.0)
    rows = [online.row(None), batch.row(online_cost)]
    ratio = rows[1]["cost_vs_online"]
    same_answers = online.answers == batch.answers and len(online.answers) > 0
    token_keys = ("input_tokens", "image_tokens", "output_tokens", "thinking_tokens")
    same_tokens = all(rows[0][key] == rows[1][key] for key in token_keys)
    kill_ok = [k["jobs_created"] == 1 and k["online_requests"] == 0 and k["rerun_images_answered"] == count
               and k["rerun_attached"] for k in kills]
    kill_rows = [{key: k[key] for key in ("variant", "ledger_at_kill", "killed_after_s", "jobs_created",
                                          "requests_in_jobs", "online_requests", "rerun_images_answered",
                                          "rerun_attached", "rerun_exit", "rerun_wall_s")} for k in kills]
    batch_stats = batch.stats.get("batch") or {}
    notes = [
        f"{count} distinct rendered flyers (make_flyer seeds 1..{count}, fitted to 1200x800 before timing, "
        f"{prepare_s} s); one loopback Gemini server in its own process; the {WORKERS}x{THREADS_PER_WORKER} "
        "LocalCluster of a default run (cluster_client).",
        f"online: generateContent answered after lognormal latency (median {LATENCY_MEDIAN_S} s, sigma "
        f"{LATENCY_SIGMA}, seed {SERVER_SEED}), gate defaults (rpm 1800, not binding here).",
        f"batch: {len(batch.jobs)} job(s), {sum(j['request_count'] for j in batch.jobs)} requests, "
        f"{'a JSONL file uploaded' if batch.uploads else 'inline'} ({batch.uploads} upload(s)); loopback clock "
        f"PENDING {BATCH_PENDING_S:g} s + RUNNING {BATCH_RUNNING_S:g} s, --batch-poll {BATCH_POLL_S:g} s: its wall "
        f"time is mostly that wait (Google's is up to 24 h); stats['batch'] = {batch_stats}.",
        f"cost batch / online = {ratio} (expected {EXPECTED_RATIO}): "
        f"{'met' if abs(ratio - EXPECTED_RATIO) < 0.01 else 'NOT met'}; same tokens both ways: {same_tokens}; "
        f"same shows (source, venue) both ways: {same_answers}.",
        *(f"kill-and-rerun, {k['variant']}: killed {k['killed_after_s']} s after start ({k['ledger_at_kill']} in "
          f"the ledger, {k['jobs_at_kill']} job on the server); rerun: {k['jobs_created']} job(s) created in all "
          f"(states {k['job_states']}), {k['online_requests']} online requests, {k['rerun_images_answered']} of "
          f"{k['images']} images answered, {k['rerun_errors']} errors, attached {k['rerun_attached']} "
          f"(stats['batch'] {k['rerun_stats_batch']}), exit {k['rerun_exit']}, {k['rerun_wall_s']} s: "
          f"{'ok' if ok else 'NOT ok'}." for k, ok in zip(kills, kill_ok)),
        f"the killed run's job keeps the clock it was created on (PENDING {KILL_PENDING_S:g} s + RUNNING "
        f"{KILL_RUNNING_S:g} s); the rerun's wall time includes the cluster's start-up and what was left of it.",
        f"load average before {load_before}, between the modes {load_mid}, after {_load()} on {os.cpu_count()} "
        f"cpus; loopback server CPU {server_cpu_s} s in all.",
    ]
    return {
        "rows": rows,  # the kill-and-rerun variants: in the notes, and as kill_rows in the JSON
        "notes": notes,
        "modes": {run.mode: {**run.row(online_cost if run.mode == "batch" else None), "stats": run.stats,
                             "jobs": run.jobs, "uploads": run.uploads} for run in (online, batch)},
        "kill_and_rerun": kills,
        "kill_rows": kill_rows,
        "checks": {"cost_ratio": ratio, "cost_ratio_expected": EXPECTED_RATIO, "same_tokens": same_tokens,
                   "same_answers": same_answers, "kill_and_rerun_ok": dict(zip((k["variant"] for k in kills),
                                                                               kill_ok))},
        "config": {"images": count, "latency_median_s": LATENCY_MEDIAN_S, "latency_sigma": LATENCY_SIGMA,
                   "batch_pending_s": BATCH_PENDING_S, "batch_running_s": BATCH_RUNNING_S,
                   "batch_poll_s": BATCH_POLL_S, "kill_pending_s": KILL_PENDING_S,
                   "kill_running_s": KILL_RUNNING_S, "model": MODEL},
        "prepare_s": prepare_s,
        "load_average_before": load_before,
    }


def _keep_logs(tmp: Path, kills: list[dict]) -> None:
    """The command-line runs' logs, kept beside results.json when a variant went wrong (the folder goes)."""
    keep = Path(__file__).resolve().parent / "batch-logs"
    for kill in kills:
        work = Path(kill["log_folder"])
        if kill["jobs_created"] != 1 or kill["rerun_exit"] != 0:
            keep.mkdir(exist_ok=True)
            for log in work.glob("*.log"):
                (keep / f"{work.name}-{log.name}").write_text(log.read_text())
            kill["log_folder"] = str(keep)
        else:
            kill["log_folder"] = None
