"""The default cache location: the user's cache folder, wherever a run starts (issue 15)."""

import os
import threading
from pathlib import Path

import dask.config
import platformdirs

from daskparse import parse_images
from daskparse.settings import default_cache, load_settings


def test_the_default_cache_is_the_users_cache_folder_wherever_the_run_starts(tmp_path, monkeypatch):
    """Issue 15: the default was .cache/daskparse under the current folder, so the quickstart notebook made a
    second cache in notebooks/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    here = load_settings(environ={}).cache
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert load_settings(environ={}).cache == here == str(tmp_path / "xdg" / "daskparse") == default_cache()
    assert os.path.isabs(here) and here == platformdirs.user_cache_dir("daskparse", appauthor=False)


def test_the_cache_location_is_still_overridable_everywhere(tmp_path):
    assert load_settings(environ={"DASKPARSE_CACHE": "memory://env"}).cache == "memory://env"
    with dask.config.set({"daskparse.cache": "memory://config"}):
        assert load_settings(environ={}).cache == "memory://config"
        assert load_settings(environ={"DASKPARSE_CACHE": "memory://env"}, cache="s3://flag").cache == "s3://flag"


def test_a_run_without_a_cache_setting_writes_to_the_users_cache_folder_not_the_current_one(tmp_path, monkeypatch):
    monkeypatch.delenv("DASKPARSE_CACHE")  # conftest's own_cache sets it for every test
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    flyer = tmp_path / "flyer.jpg"
    flyer.write_bytes(b"\xff\xd8\xff not read")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    stop = threading.Event()
    stop.set()  # the run opens its cache (and prunes it) before it stops: no cluster, nothing computed
    parse_images([str(flyer)], extractor="local", stop=stop)
    assert (tmp_path / "xdg" / "daskparse" / "v1" / ".last-prune").is_file()
    assert list(Path(".").iterdir()) == []
