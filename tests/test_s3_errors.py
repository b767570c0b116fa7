"""Object-store errors that say what is wrong (issue 19): a missing bucket, missing credentials, access denied and
an unreachable endpoint are each one line naming the location and the flag, before anything is written; and no
write ever creates a bucket. Against moto's real S3 server on 127.0.0.1 (``s3_server``, ``s3_auth_server``)."""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from daskparse import parse_images
from daskparse.cache.files import CacheError, check_writable
from daskparse.errors import RunError
from daskparse.output import write_shows
from daskparse.result import ParseResult
from daskparse.storage import atomic_write, check_location

FLYER = str(sorted((Path(__file__).resolve().parent.parent / "data" / "flyers").glob("*.jpg"))[0])


@pytest.fixture(autouse=True)
def forget_s3_instances():
    """s3fs keeps its instances by arguments, not by environment: one made with this module's wrong or missing
    credentials must not serve a later test."""
    yield
    fsspec.filesystem("s3").clear_instance_cache()


def buckets() -> set[str]:
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    return {name.rstrip("/") for name in fs.ls("", refresh=True)}


def missing_bucket() -> str:
    return f"daskparse-missing-{uuid.uuid4().hex[:8]}"


def no_credentials_env(folder, endpoint: str) -> dict[str, str]:
    """An environment in which botocore finds no credentials at all: no AWS_* keys, empty credentials and config
    files, and no EC2 instance metadata (its probe of 169.254.169.254 would leave loopback)."""
    empty = folder / "empty-aws-file"
    empty.write_text("")
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {**env, "AWS_SHARED_CREDENTIALS_FILE": str(empty), "AWS_CONFIG_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}


def use_env(monkeypatch, env: dict[str, str]) -> None:
    """This process's environment exactly ``env`` as far as AWS_* goes; s3fs's instances made before forgotten."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fsspec.filesystem("s3").clear_instance_cache()


def test_no_write_into_a_missing_bucket_creates_it(s3_bucket):
    """The bug of the first object-store runs: s3fs's makedirs on a path in a missing bucket creates the bucket,
    and the output, the cache probe and every atomic write called it. Now each fails, and no bucket appears."""
    fs = fsspec.filesystem("s3")
    missing = missing_bucket()
    with pytest.raises(FileNotFoundError):
        atomic_write(fs, f"{missing}/out", "stats.json", lambda file: file.write(b"{}"))
    with pytest.raises(CacheError, match=f"--cache s3://{missing}/cache: the bucket {missing} does not exist"):
        check_writable(fs, f"{missing}/cache/v1/abc", f"s3://{missing}/cache")
    with pytest.raises(CacheError, match=f"--cache s3://{missing}/c: the bucket {missing} does not exist"):
        parse_images([FLYER], extractor="local", cache=f"s3://{missing}/c")  # an API user: before any cluster
    with pytest.raises(RunError, match=f"^output s3://{missing}/out: the bucket {missing} does not exist"):
        parse_images([FLYER], extractor="local", use_cache=False, output=f"s3://{missing}/out")
    shows = pd.DataFrame({"venue": ["Somewhere"], "title": ["A show"], "date": ["2026-12-24"]})
    with pytest.raises(FileNotFoundError):
        write_shows(fs, f"{missing}/out", shows)
    empty = ParseResult(shows=pd.DataFrame(), errors=pd.DataFrame(), outcomes=pd.DataFrame())
    with pytest.raises(RunError, match=f"output s3://{missing}/out: the bucket {missing} does not exist"):
        empty.save(f"s3://{missing}/out")
    assert missing not in buckets()
    assert buckets() >= {s3_bucket}  # the listing works: the assert above can fail


def test_check_location_passes_a_usable_bucket_and_names_a_missing_one_with_its_flag(s3_bucket):
    check_location(f"s3://{s3_bucket}/out", "--output")
    check_location(f"s3://{s3_bucket}/cache", "--cache", write=False)
    assert fsspec.filesystem("s3").find(s3_bucket) == []  # the probe is gone; nothing else was written
    missing = missing_bucket()
    for write in (True, False):
        with pytest.raises(RunError) as raised:
            check_location(f"s3://{missing}/cache", "--cache", write=write)
        assert str(raised.value) == (f"--cache s3://{missing}/cache: the bucket {missing} does not exist; "
                                     "create it first (daskparse never creates one)")
    assert missing not in buckets()


def test_missing_credentials_say_which_variables_to_set(s3_server, tmp_path, monkeypatch):
    use_env(monkeypatch, no_credentials_env(tmp_path, s3_server["AWS_ENDPOINT_URL"]))
    with pytest.raises(RunError) as raised:
        check_location("s3://any-bucket/out", "--output")
    message = str(raised.value)
    assert message.startswith("--output s3://any-bucket/out: no credentials for it: set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
    assert "\n" not in message


def test_access_denied_names_the_location_for_these_credentials(s3_auth_server, monkeypatch):
    """moto's server checking signatures and the IAM user's policy: its keys may write one bucket, not the other;
    a wrong secret (SignatureDoesNotMatch) and an unknown key (InvalidAccessKeyId) are refused as well."""
    env, allowed, denied = s3_auth_server["env"], s3_auth_server["allowed"], s3_auth_server["denied"]
    use_env(monkeypatch, env)
    check_location(f"s3://{allowed}/out", "--output")  # these keys work where the policy allows
    with pytest.raises(RunError) as raised:
        check_location(f"s3://{denied}/out", "--output")
    assert str(raised.value) == f"--output: access denied to s3://{denied}/out for these credentials (AccessDenied)"
    for changed, code in (({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "SignatureDoesNotMatch"),
                          ({"AWS_ACCESS_KEY_ID": "AKIANOTAKEY000000000"}, "InvalidAccessKeyId")):
        use_env(monkeypatch, {**env, **changed})
        with pytest.raises(RunError) as raised:
            check_location(f"s3://{allowed}/cache", "--cache")
        assert str(raised.value) == f"--cache: access denied to s3://{allowed}/cache for these credentials ({code})"


def test_an_unreachable_endpoint_is_named(s3_server, monkeypatch):
    """Nothing listens on the port (bound, then closed: refused at once). AWS_MAX_ATTEMPTS=1 (botocore's own
    setting) spares the test botocore's retries of a refused connection, ~7 s of back-off."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    use_env(monkeypatch, {**s3_server, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1"})
    with pytest.raises(RunError) as raised:
        check_location("s3://any-bucket/cache", "--cache")
    assert str(raised.value) == (f"--cache s3://any-bucket/cache: cannot reach the endpoint http://127.0.0.1:{port}: "
                                 "is it up, and is AWS_ENDPOINT_URL right?")


# The CLI's own main, run as `python -m daskparse` runs it, once per case in ONE fresh process (the imports are
# paid once). An audit hook records every address the process connects to or looks up: all must be loopback.
CLI_CASES = """
import contextlib, io, json, os, sys
import fsspec
seen = []
sys.addaudithook(lambda event, args: seen.append(repr(args[1]) if event == "socket.connect" else repr(args[0]))
                 if event in ("socket.connect", "socket.getaddrinfo") else None)
from daskparse.cli import main
answers = []
for env, argv in json.loads(sys.argv[1]):
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(env)
    fsspec.filesystem("s3").clear_instance_cache()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(argv)
    answers.append([code, stderr.getvalue()])
print(json.dumps({"answers": answers, "addresses": seen}))
"""


def test_the_cli_ends_each_failure_in_one_line_with_exit_3_and_writes_nothing(s3_server, s3_bucket,
                                                                              s3_auth_server, tmp_path):
    missing = missing_bucket()
    run = ["run", "data/flyers", "--extractor", "local", "--workers", "1", "--threads", "1"]
    denied = s3_auth_server["denied"]
    cases = [
        (s3_server, [*run, "--cache", f"s3://{missing}/cache", "--output", f"s3://{missing}/out"]),
        (s3_server, [*run, "--cache", f"s3://{missing}/cache", "--output", f"s3://{s3_bucket}/out"]),
        (no_credentials_env(tmp_path, s3_server["AWS_ENDPOINT_URL"]),
         [*run, "--cache", f"s3://{s3_bucket}/cache", "--output", f"s3://{s3_bucket}/out"]),
        (s3_auth_server["env"], [*run, "--no-cache", "--output", f"s3://{denied}/out"]),
        (s3_server, ["cache", "stats", "--cache", f"s3://{missing}/cache"]),
        (s3_server, ["cache", "prune", "--cache", f"s3://{missing}/cache"]),
        (s3_server, ["cache", "clear", "--cache", f"s3://{missing}/cache"]),
    ]
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.pop("DASKPARSE_CACHE", None)
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", CLI_CASES, json.dumps(cases)], env=env, cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [
        f"the run could not complete: --output s3://{missing}/out: the bucket {missing} does not exist",
        f"the run could not complete: --cache s3://{missing}/cache: the bucket {missing} does not exist",
        f"the run could not complete: --output s3://{s3_bucket}/out: no credentials for it: set AWS_ACCESS_KEY_ID",
        f"the run could not complete: --output: access denied to s3://{denied}/out for these credentials",
        f"error: --cache s3://{missing}/cache: the bucket {missing} does not exist",
        f"error: --cache s3://{missing}/cache: the bucket {missing} does not exist",
        f"error: --cache s3://{missing}/cache: the bucket {missing} does not exist",
    ]
    for (code, stderr), start in zip(answers["answers"], expected):
        assert code == 3 and stderr.count("\n") == 1, stderr
        assert stderr.startswith(f"python -m daskparse: {start}"), stderr
    assert len(answers["answers"]) == len(cases)
    loopback = {repr(("127.0.0.1", int(s3_server["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))),
                repr(("127.0.0.1", int(s3_auth_server["env"]["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))),
                repr("127.0.0.1")}
    assert answers["addresses"] and set(answers["addresses"]) <= loopback  # no packet left loopback
    assert missing not in buckets()
    assert fsspec.filesystem("s3").find(s3_bucket) == []  # nothing half-written, not even the probes
    assert list(work.iterdir()) == []  # no local output either
