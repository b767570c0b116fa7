import contextlib
import io

import numpy as np
import pytest
from PIL import Image

from daskparse.testing.gemini_server import GeminiServer
from daskparse.testing.image_server import ImageServer

GEMINI_KEY = "AIzaSy-test-key-0123456789-abcdefghijk"  # shaped like a real key, so leak checks mean something


def json_from_python(script: str, timeout: float = 300):
    """Run ``script`` in a fresh Python (a peak RSS of its own, no state of this process) and read the JSON of its
    last line of output."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def jpeg_bytes(width=64, height=48, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def noise_jpeg(width=320, height=240, seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@contextlib.contextmanager
def cluster_client(workers: int = 2, threads: int = 2):
    """A client of a fresh LocalCluster of worker processes (as users get), closed afterwards."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture
def gemini_server():
    """The loopback Gemini server, accepting GEMINI_KEY."""
    with GeminiServer(api_key=GEMINI_KEY) as server:
        yield server


@pytest.fixture
def image_server():
    with ImageServer() as server:
        yield server


@pytest.fixture(autouse=True, scope="session")
def loopback_sources_allowed():
    """The test servers listen on 127.0.0.1, which downloads refuse by default (daskparse.fetch): allow it for
    every run, as a user serving their own images would. Tests of the guard turn it back off explicitly."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DASKPARSE_ALLOW_PRIVATE_HOSTS", "1")
        yield


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_as_at_a_terminal():
    """A suite started with SIGINT ignored (a background job of a non-interactive shell: `scripts/test &`) passes
    that on to every process a test starts, and daskparse rightly leaves an ignored SIGINT alone
    (``daskparse.interrupts``): the Ctrl-C tests would then see their signal vanish. Handled here, a SIGINT is
    the default again in the processes tests start (an exec resets a handled signal, keeps an ignored one)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


@pytest.fixture(autouse=True, scope="session")
def user_cache_folder(tmp_path_factory):
    """The user's cache folder (XDG_CACHE_HOME: the default cache, platformdirs.user_cache_dir, and the lock
    records of remote outputs) in a temporary folder: a test that builds settings without DASKPARSE_CACHE, or
    a subprocess, never writes to the real ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        location = tmp_path_factory.mktemp("xdg-cache")
        patch.setenv("XDG_CACHE_HOME", str(location))
        yield location


@pytest.fixture(autouse=True, scope="module")
def module_cache(tmp_path_factory):
    """An empty result cache per test module, for its module-scoped fixtures (they run before `own_cache`),
    so no test ever writes to the default cache (the user's cache folder)."""
    with pytest.MonkeyPatch.context() as patch:
        location = tmp_path_factory.mktemp("module-cache")
        patch.setenv("DASKPARSE_CACHE", str(location))
        yield location


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    """Every test starts with an empty result cache of its own; subprocesses inherit it."""
    location = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DASKPARSE_CACHE", str(location))
    return location


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory):
    """A cluster started the way operators start one: `dask scheduler` and two `dask worker` processes, on 127.0.0.1.

    Yields the scheduler's address. Each worker has a nanny (the default), so a killed worker comes back. The
    scheduler has the daskparse page (``--preload daskparse.dashboard``) on a free port of 127.0.0.1
    (``Client(address).dashboard_link``).
    """
    import subprocess
    import sys
    import time
    from pathlib import Path

    from distributed import Client

    folder = tmp_path_factory.mktemp("dask-processes")
    scheduler_file = folder / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    log = open(folder / "cluster.log", "wb")
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
                                   str(scheduler_file), "--dashboard-address", "127.0.0.1:0",
                                   "--preload", "daskparse.dashboard"], stdout=log, stderr=log, cwd=folder)]
    try:
        # started with the scheduler, not after it: a worker waits for the scheduler file itself, and its
        # seconds of imports overlap the scheduler's
        for _ in range(2):
            processes.append(subprocess.Popen(
                [dask, "worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1", "--nthreads", "2",
                 "--memory-limit", "4GiB", "--no-dashboard"], stdout=log, stderr=log, cwd=folder))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with Client(scheduler_file=str(scheduler_file), timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            address = client.scheduler.address
        yield address
    finally:
        # the workers first, then the scheduler: a worker whose scheduler went first waits on it before it exits
        # (all stopped at once, that wait ran out every time: ~10 s of each module's teardown)
        for group in (processes[1:], processes[:1]):
            for process in group:
                process.terminate()
            for process in group:
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        log.close()


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory):
    """A real S3 protocol server on 127.0.0.1: moto's server in a process of its own (``python -m moto.server``,
    started by ``daskparse.testing.s3_server.moto_server``, shared with bench/s3.py). Its ``MotoServer``: the
    environment that reaches it, and the requests it answered (its access log)."""
    from daskparse.testing.s3_server import moto_server

    with moto_server(tmp_path_factory.mktemp("s3-server")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_server(moto_s3):
    """The environment a client needs to reach ``moto_s3`` (fake credentials, ``AWS_ENDPOINT_URL``): botocore,
    under s3fs, reads it, in this process (``monkeypatch``) and in the runs and workers started with it. Nothing
    leaves 127.0.0.1: the endpoint is the only place a request can go."""
    return moto_s3.env


@pytest.fixture(scope="module")
def s3_auth_server(tmp_path_factory):
    """A moto server that checks credentials, as S3 does: an IAM user whose policy allows one bucket of two.

    Set up unauthenticated (moto's default), then switched to checking every request's signature and the IAM
    policy with moto's own ``POST /moto-api/reset-auth`` (0: no more unauthenticated requests; the setting
    ``INITIAL_NO_AUTH_ACTION_COUNT`` sets at start, without counting the set-up's requests). A server of its own:
    the switch is server-wide. Yields ``{"env": the user's AWS_* environment, "allowed": bucket, "denied": bucket}``."""
    import json
    import urllib.request

    import boto3

    from daskparse.testing.s3_server import moto_server

    with moto_server(tmp_path_factory.mktemp("s3-auth-server")) as server:
        setup = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1",
                 "endpoint_url": server.endpoint}
        s3, iam = boto3.client("s3", **setup), boto3.client("iam", **setup)
        allowed, denied = "daskparse-allowed", "daskparse-denied"
        for bucket in (allowed, denied):
            s3.create_bucket(Bucket=bucket)
        iam.create_user(UserName="daskparse")
        iam.put_user_policy(UserName="daskparse", PolicyName="one-bucket", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*",
                           "Resource": [f"arn:aws:s3:::{allowed}", f"arn:aws:s3:::{allowed}/*"]}]}))
        key = iam.create_access_key(UserName="daskparse")["AccessKey"]
        urllib.request.urlopen(urllib.request.Request(  # text/plain: a form body would be parsed away
            f"{server.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"}), timeout=10).close()
        yield {"env": {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint},
               "allowed": allowed, "denied": denied}


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A new, empty bucket on ``s3_server`` (its name), with this process's environment pointing at the server."""
    import uuid

    import fsspec

    for name, value in s3_server.items():
        monkeypatch.setenv(name, value)
    fsspec.filesystem("s3").clear_instance_cache()  # an instance made before holds another endpoint
    bucket = f"daskparse-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(bucket)
    return bucket
