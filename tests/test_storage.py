"""The one atomic write the output folder and the cache share (daskparse.storage), on a local disk and memory://."""

import os
import uuid

import fsspec
import pytest

from daskparse.cache import ResultCache
from daskparse.outcome import Outcome
from daskparse.storage import atomic_write
from daskparse.usage import Usage


@pytest.fixture(params=["local", "memory"])
def folder(request, tmp_path):
    url = str(tmp_path / "out") if request.param == "local" else f"memory://daskparse-storage-{uuid.uuid4().hex}/out"
    fs, path = fsspec.core.url_to_fs(url)
    yield fs, path
    if request.param == "memory" and fs.exists(path):
        fs.rm(path, recursive=True)


def test_the_file_appears_whole_under_its_name_and_nothing_else_stays(folder):
    fs, path = folder
    seen_while_writing = []

    def write(file):
        file.write(b"first half, ")
        seen_while_writing.append(sorted(fs.ls(path, detail=False)))
        file.write(b"second half")

    url = atomic_write(fs, path, "data.bin", write, stamp_ms=1_700_000_000_000)
    assert url == fs.unstrip_protocol(f"{path}/data.bin")
    assert fs.cat_file(f"{path}/data.bin") == b"first half, second half"
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)] == ["data.bin"]
    # while it was being written, only a hidden temporary name stamped with the writer's time existed
    (during,) = seen_while_writing
    assert len(during) == 1 and during[0].rsplit("/", 1)[-1].startswith(".data.bin.1700000000000.")
    assert during[0].endswith(".tmp")


def test_a_failed_write_keeps_the_earlier_file_and_leaves_no_temporary(folder):
    fs, path = folder
    atomic_write(fs, path, "data.bin", lambda file: file.write(b"earlier"))

    def full_disk(file):
        file.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(fs, path, "data.bin", full_disk)
    assert fs.cat_file(f"{path}/data.bin") == b"earlier"
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)] == ["data.bin"]


def test_cache_files_are_moved_into_place_without_waiting_for_the_disk(tmp_path, monkeypatch):
    """A power cut cannot be staged here. The output's files are fsynced before their rename (tests/test_output.py);
    the cache's are not: a file per image on a Gemini run, and a file a power cut emptied is skipped as unreadable."""
    events = []
    real_fsync, real_mv = os.fsync, fsspec.implementations.local.LocalFileSystem.mv
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "mv",
                        lambda self, source, target, **k: (events.append(f"mv {target.rsplit('/', 1)[-1]}"),
                                                           real_mv(self, source, target, **k))[1])
    url = "https://cdn.example.org/flyers/1.jpg"
    outcome = Outcome(url, url, usage=Usage(requests=1), extractor="local", image_sha256="ab" * 32)
    cache = ResultCache(str(tmp_path / "cache"), variant="v1test").load_index()
    assert cache.store_partition([outcome])
    moves = [i for i, event in enumerate(events) if event.startswith("mv ")]
    assert any(events[i].endswith(".parquet") for i in moves)  # the partition's file (the prune marker goes too)
    assert "fsync" not in events


def test_on_an_object_store_the_file_is_put_under_its_name_at_once(moto_s3, s3_bucket):
    """An upload is whole or nothing to readers already: one PUT of the final name, no temporary object and no move
    (a copy and a delete on S3: 9 requests in all), and a write that fails half way uploads nothing."""
    fs, path = fsspec.filesystem("s3"), f"{s3_bucket}/out"
    mark = moto_s3.log_mark()
    assert atomic_write(fs, path, "data.bin", lambda file: file.write(b"whole")) == f"s3://{path}/data.bin"
    assert fs.cat_file(f"{path}/data.bin") == b"whole"
    writes = [(r.method, r.path) for r in moto_s3.requests_since(mark) if r.method not in ("GET", "HEAD")]
    assert writes == [("PUT", f"/{path}/data.bin")]  # before: a PUT of a temporary name, a copy, a DELETE

    def full_disk(file):
        file.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(fs, path, "data.bin", full_disk)
    fs.invalidate_cache()
    assert fs.cat_file(f"{path}/data.bin") == b"whole" and fs.find(s3_bucket) == [f"{path}/data.bin"]
