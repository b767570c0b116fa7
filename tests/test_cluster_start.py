"""The cluster's life as a user meets it (issue 15): a script without the main guard, what ``threads`` means, the
dashboard's link as the cluster starts, Ctrl-C while it starts, and a cluster that cannot be had.

End to end: scripts and ``python -m daskparse`` in subprocesses, real LocalClusters, real signals, and a scheduler
address on 127.0.0.1 where nothing listens."""

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import daskparse
import daskparse.cluster as cluster
import daskparse.pipeline as pipeline
from conftest import GEMINI_KEY, noise_jpeg
from daskparse.cli import build_parser
from daskparse.errors import RunError
from daskparse.settings import load_settings
from daskparse.testing.gemini_server import GeminiServer

def environment(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(extra)
    return env


def run_script(path, cwd, timeout=240):
    return subprocess.run([sys.executable, str(path)], cwd=cwd, env=environment(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def image(tmp_path):
    """A small image with nothing to read: quick through OCR, and it needs a cluster (no cache has it)."""
    path = tmp_path / "image.jpg"
    path.write_bytes(noise_jpeg(160, 120))
    return path


def closed_port():
    with socket.socket() as sock:  # bound, never listening: a connection is refused
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the main guard

JOB = """\
result = daskparse.parse_images([{image!r}, "/nonexistent/flyer.jpg"], extractor="local", workers=2, threads=2)
result.save({output!r})
print(result.summary(), flush=True)
"""


def script(image, output, guard):
    job = JOB.format(image=str(image), output=str(output))
    return ('import daskparse\nprint("the script\'s body ran", flush=True)\n'
            + ('if __name__ == "__main__":\n' + textwrap.indent(job, "    ") if guard else job))


def test_a_script_without_the_main_guard_stops_with_one_line_before_running_anything(tmp_path, image):
    """It ran the whole job three times (each worker process loads the script again and ran it again, after
    multiprocessing's tracebacks and a fallback), and exited 0."""
    path = tmp_path / "unguarded.py"
    path.write_text(script(image, tmp_path / "out", guard=False))
    done = run_script(path, tmp_path)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()  # one line, no traceback: where, why, and the guard to add
    assert str(path) in line and "line 3" in line and 'if __name__ == "__main__":' in line, line
    assert done.stdout.splitlines() == ["the script's body ran"]  # once: no worker process ever loaded it
    assert not (tmp_path / "out").exists()


def test_a_guarded_script_runs_its_job_once(tmp_path, image):
    path = tmp_path / "guarded.py"
    path.write_text(script(image, tmp_path / "out", guard=True))
    done = run_script(path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len([line for line in done.stdout.splitlines() if line.startswith("2 images:")]) == 1  # the job, once
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["totalImages"] == 2
    assert "Traceback" not in done.stderr


def test_a_worker_process_loading_the_script_again_does_not_run_the_job(tmp_path):
    """The backstop, for a script whose source did not tell: a process being started that reaches a run while it
    loads the script again stops with the one line. Here the script says outright what its module level runs in
    such a process (``__mp_main__``); the process is started by multiprocessing's spawn, as Dask starts workers."""
    script = tmp_path / "reloaded.py"
    script.write_text(textwrap.dedent("""\
        import multiprocessing
        import daskparse

        if __name__ == "__mp_main__":  # what a spawned process runs as it loads this script again
            daskparse.parse_images(["/nonexistent/flyer.jpg"], extractor="local")
            print("the job ran in the new process", flush=True)

        def nothing():
            pass

        if __name__ == "__main__":
            process = multiprocessing.get_context("spawn").Process(target=nothing)
            process.start()
            process.join()
            print("exit code", process.exitcode, flush=True)
        """))
    done = run_script(script, tmp_path)
    assert done.stdout.splitlines() == ["exit code 1"], done.stdout
    [line] = done.stderr.strip().splitlines()
    assert "worker process" in line and 'if __name__ == "__main__":' in line


@pytest.mark.parametrize("source, guarded_", [
    ('if __name__ == "__main__":\n    x = 1\n    run(\n        1)  # here\n', True),
    ("if '__main__' == __name__:\n    run()  # here\n", True),
    ('if __name__ == "__main__": run()  # here\n', True),
    ('try:\n    import a\nexcept ImportError:\n    a = None\nelse:\n'
     '    if __name__ == "__main__":\n        run()  # here\n', True),
    ("def main():\n    run()\n\nmain()  # here\n", False),
    ('run()  # here\nif __name__ == "__main__":\n    pass\n', False),
    ('if __name__ != "__main__":\n    run()  # here\n', False),
    ('if __name__ == "__main__":\n    pass\nrun()  # here\n', False),
])
def test_the_guard_is_read_from_the_scripts_source(source, guarded_):
    from daskparse.main_guard import guarded

    [line] = [number for number, text in enumerate(source.splitlines(), 1) if text.endswith("# here")]
    assert guarded(ast.parse(source), line) is guarded_


# ---------------------------------------------------------------- threads

def test_threads_is_the_total_spread_evenly_over_the_workers():
    """It was per worker: threads=8 on 2 workers was 16 threads."""
    split = lambda **options: load_settings(environ={}, **options).worker_threads  # noqa: E731
    assert split() == [10, 10] and sum(split(workers=3)) == 20
    assert split(threads=8) == [4, 4] and split(threads=3) == [2, 1] and split(threads=8, workers=3) == [3, 3, 2]
    assert split(threads=1) == [1]  # never a worker without a thread
    assert load_settings(environ={"DASKPARSE_THREADS": "6"}, workers=4).worker_threads == [2, 2, 1, 1]


def test_a_local_cluster_of_3_threads_on_2_workers_has_3_threads():
    settings = load_settings(threads=3, workers=2, extractor="local", dashboard_address="127.0.0.1:0")
    with pipeline.cluster_client(settings) as client:
        assert sorted(client.nthreads().values()) == [1, 2]


# ---------------------------------------------------------------- the dashboard's link

def test_the_dashboard_link_is_shown_as_the_cluster_starts_and_a_taken_port_is_no_warning(tmp_path, image):
    """The link was printed only once the run ended, and a taken port printed distributed's four lines "Port 8787
    is already in use. Perhaps you already have a cluster running? Hosting the HTTP server on port N instead"."""
    with socket.socket() as taken, GeminiServer(api_key=GEMINI_KEY, latency=2.0) as server:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "daskparse", "run", str(image), "--output", str(tmp_path / "out"), "--workers", "1",
             "--threads", "2", "--timeout", "10", "--dashboard-address", f"127.0.0.1:{port}"],
            cwd=tmp_path, env=environment(GEMINI_API_KEY=GEMINI_KEY, GOOGLE_GEMINI_BASE_URL=server.base_url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen = []
            for line in process.stderr:
                seen.append(line)
                if " INFO daskparse.cluster: " in line:
                    break
            # Gemini answers 2 s after it is asked: the run cannot have ended yet
            assert process.poll() is None and not (tmp_path / "out" / "stats.json").exists(), seen
            stdout, rest = process.communicate(timeout=240)
        finally:
            process.kill()
    stderr = "".join(seen) + rest
    assert process.returncode == 0, stderr
    assert "already in use" not in stderr and "Perhaps you already have a cluster" not in stderr
    [link] = re.findall(r"INFO daskparse\.cluster: 1 image in 1 partition on 2 threads; dashboard (\S+)", seen[-1])
    assert link.startswith("http://127.0.0.1:") and f":{port}/" not in link
    assert f"Dashboard (while the run lasted): {link}" in stdout


# ---------------------------------------------------------------- Ctrl-C during start-up

def worker_processes(pid):
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()):  # not multiprocessing's resource tracker
                found.append(child)
        except psutil.Error:  # gone meanwhile
            pass
    return found


def loading_libraries(pid):
    """Whether the process has begun loading daskparse's libraries (Python itself has started: a SIGINT during
    the interpreter's own start-up is Python's to handle)."""
    try:
        return any("pydantic_core" in mapped.path for mapped in psutil.Process(pid).memory_maps())
    except psutil.Error:
        return False


def wait_until(condition, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize("moment", ["loading the libraries", "a worker process starting", "the workers started"])
def test_ctrl_c_during_start_up_ends_as_cleanly_as_mid_run(tmp_path, image, moment):
    """Ctrl-C at a terminal reaches the whole process group, worker processes too. During start-up it ended in
    a KeyboardInterrupt traceback (-2), or the workers' tracebacks, "Nanny failed to start" and a fallback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "daskparse", "run", str(image), "--output", str(tmp_path / "out"), "--workers", "2",
         "--threads", "2", "--extractor", "local", "--dashboard-address", "127.0.0.1:0"],
        cwd=tmp_path, env=environment(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        if moment == "loading the libraries":
            wait_until(lambda: loading_libraries(process.pid), process)
        elif moment == "a worker process starting":
            wait_until(lambda: worker_processes(process.pid), process)
        else:
            wait_until(lambda: len(worker_processes(process.pid)) == 2, process)
            time.sleep(0.5)
        assert process.poll() is None, process.communicate()
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Nanny" not in stderr and "Status." not in stderr, stderr
    said = [line for line in stderr.splitlines() if line and " INFO daskparse.cluster: " not in line]
    assert said in (["interrupted"], ["SIGINT: finishing the images in progress, then saving (send it again to "
                                      "stop at once)"]), stderr


# ---------------------------------------------------------------- no cluster to be had

def test_an_unreachable_scheduler_runs_here_and_the_summary_says_so(image):
    address = f"tcp://127.0.0.1:{closed_port()}"
    messages = []
    result = daskparse.parse_images([str(image)], extractor="local", scheduler=address, threads=3, workers=2,
                                    scheduler_timeout=1, use_cache=False,
                                    log=lambda message, level: messages.append(message))
    assert result.stats["clusterFallback"] == f"the scheduler at {address} could not be reached"
    assert result.summary().endswith(f"; ran in this process: the scheduler at {address} could not be reached")
    assert "1 image in 1 partition on 3 threads" in " ".join(messages)  # the total asked for, not 2 x 3


def test_without_the_cluster_fallback_an_unreachable_scheduler_ends_the_run_with_exit_3(tmp_path, image):
    """For cron: an unreachable --scheduler ran everything in this process and exited 0."""
    address = f"tcp://127.0.0.1:{closed_port()}"
    done = subprocess.run([sys.executable, "-m", "daskparse", "run", str(image), "--output", str(tmp_path / "out"),
                           "--extractor", "local", "--scheduler", address, "--scheduler-timeout", "1",
                           "--no-cluster-fallback"],
                          cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 3, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"python -m daskparse: the run could not complete: the scheduler at {address} could "
                           "not be reached") and "nothing ran in this process" in line
    assert not (tmp_path / "out" / "stats.json").exists()


def test_without_the_cluster_fallback_a_local_cluster_that_cannot_start_ends_the_run(image, monkeypatch):
    class NoCluster:  # the one mock: no real way to make LocalCluster fail on demand without breaking the host
        def __init__(self, *args, **kwargs):
            raise OSError("no cluster for you")

    monkeypatch.setattr(cluster, "LocalCluster", NoCluster)
    with pytest.raises(RunError, match="a LocalCluster could not start .OSError: no cluster for you.; the cluster "
                                       "fallback is off"):
        daskparse.parse_images([str(image)], extractor="local", use_cache=False, cluster_fallback=False)
    assert load_settings(environ={"DASKPARSE_CLUSTER_FALLBACK": "0"}).cluster_fallback is False
    assert build_parser().parse_args(["run", "--no-cluster-fallback"]).cluster_fallback is False
