import os
from pathlib import Path

import fsspec
import pytest

from daskparse.errors import ErrorRecord, SourceError
from daskparse.fetch import fetch_bytes
from daskparse.sources import Source, _guarded, clean_url, expand_sources


def test_clean_url_drops_facebook_signature_and_tracking_but_keeps_the_rest():
    signed = (
        "https://scontent.xx.fbcdn.net/v/t39.30808-6/123_n.jpg?_nc_cat=1&ccb=1-7&_nc_sid=127cfc"
        "&_nc_ohc=abc&_nc_ht=scontent.xx&oh=00_AfB&oe=6753A1B2&utm_source=share&width=720#frag"
    )
    resigned = (
        "https://SCONTENT.xx.fbcdn.net/v/t39.30808-6/123_n.jpg?width=720&oe=67AA0000&oh=00_Zz"
        "&_nc_ohc=zzz&utm_medium=social"
    )
    assert clean_url(signed) == "https://scontent.xx.fbcdn.net/v/t39.30808-6/123_n.jpg?width=720"
    assert clean_url(signed) == clean_url(resigned)


def test_clean_url_keeps_parameters_that_select_a_different_image():
    assert clean_url("https://cdn.example/img?id=1") != clean_url("https://cdn.example/img?id=2")
    assert clean_url("https://s3.example/a.jpg?X-Amz-Signature=x&X-Amz-Expires=60") == "https://s3.example/a.jpg"


def _touch_jpeg(path: Path) -> str:
    path.write_bytes(b"\xff\xd8\xff\xe0fake")
    return str(path)


def test_expand_directory_glob_list_and_duplicates(tmp_path):
    (tmp_path / "imgs").mkdir()
    a = _touch_jpeg(tmp_path / "imgs" / "a.jpg")
    b = _touch_jpeg(tmp_path / "imgs" / "b.PNG")
    (tmp_path / "imgs" / "notes.md").write_text("not an image")
    listing = tmp_path / "sources.txt"
    listing.write_text(
        "# flyers from the group\n\n"
        "https://example.org/x.jpg?utm_source=fb\n"
        "imgs/a.jpg\n"
        "not a url at all\n"
        "ftp://example.org/y.jpg\n"
        "javascript:alert(1)\n"
        f"file://{b}\n"
        "sources.txt\n"
    )
    found, errors = expand_sources([str(tmp_path / "imgs"), a, str(tmp_path / "imgs" / "*.jpg"), str(listing),
                                    str(tmp_path / "missing.jpg")])
    sources = [s.source for s in found]
    assert sources[:2] == [a, b]  # the directory, then exact duplicates dropped
    assert "https://example.org/x.jpg?utm_source=fb" in sources
    assert str(tmp_path / "imgs" / "a.jpg") in sources  # the list's relative line, resolved next to the list
    http = next(s for s in found if s.scheme == "http")
    assert http.cleaned_url == "https://example.org/x.jpg"
    kinds = {e.source: e.kind for e in errors}
    assert kinds == {
        "not a url at all": "inputs.invalid_source",
        "ftp://example.org/y.jpg": "inputs.unsupported_scheme",
        "javascript:alert(1)": "inputs.unsupported_scheme",
        f"file://{b}": "inputs.refused_in_list",  # a file: URL in a list: refused unless trusted
        str(tmp_path / "missing.jpg"): "inputs.not_found",
    }
    assert all(e.stage == "inputs" for e in errors)
    # a local file and the same file named differently share a cleaned URL
    assert found[0].cleaned_url == Path(a).resolve().as_uri()


def test_expand_fsspec_memory_urls():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/flyers/one.jpg", b"\xff\xd8\xff")
    fs.pipe("/flyers/two.jpg", b"\xff\xd8\xff")
    found, errors = expand_sources(["memory://flyers/*.jpg", "memory://flyers", "memory://none/*.jpg"])
    assert [(s.source, s.cleaned_url, s.scheme) for s in found] == [
        ("memory:///flyers/one.jpg", "memory:///flyers/one.jpg", "memory"),
        ("memory:///flyers/two.jpg", "memory:///flyers/two.jpg", "memory"),
    ]
    assert [(e.source, e.kind) for e in errors] == [("memory://none/*.jpg", "inputs.not_found")]


def test_file_urls_in_a_list_when_allowed(tmp_path):
    image = _touch_jpeg(tmp_path / "a.jpg")
    listing = tmp_path / "sources.txt"
    listing.write_text(f"file://{image}\n")
    found, errors = expand_sources([str(listing)], trust_lists=True)
    assert [s.cleaned_url for s in found] == [Path(image).resolve().as_uri()] and not errors


# ------------------------------------------------------------------------------------ scraped source lists
# A list may name http(s) URLs and files inside its own folder; every other line is one refused row.
# No test here fetches anything: http lines are only checked to become Sources.

@pytest.fixture
def no_file_systems(monkeypatch):
    """Any fsspec file system instantiated while this is active is recorded and refused before its __init__
    runs, so a test can prove expansion never opened one (``github://`` connects in its __init__) without a
    packet being sent even by the code from before the fix."""
    made = []

    def refuse(cls, *args, **kwargs):
        made.append(cls.__name__)
        raise RuntimeError(f"{cls.__name__} instantiated while expanding a source list")

    monkeypatch.setattr(fsspec.spec._Cached, "__call__", refuse)
    return made


@pytest.fixture
def folders(tmp_path):
    """A list's folder holding imgs/a.jpg, and an image outside it; returns (folder, outside image)."""
    folder = tmp_path / "lists"
    (folder / "imgs").mkdir(parents=True)
    _touch_jpeg(folder / "imgs" / "a.jpg")
    (tmp_path / "outside").mkdir()
    outside = Path(_touch_jpeg(tmp_path / "outside" / "secret.jpg"))
    return folder, outside


REFUSED_LINES = {  # case name: the line, given the list's folder and the outside image
    "chain to loopback http": lambda folder, out: "simplecache::http://127.0.0.1:9/x.png",
    "blockcache chain": lambda folder, out: "blockcache::http://localhost:9/x.png",
    "chain to a local file": lambda folder, out: f"simplecache::file://{out}",
    "dir chain": lambda folder, out: "dir::memory://x.png",
    "local url": lambda folder, out: f"local://{out}",
    "file url": lambda folder, out: f"file://{out}",
    "memory url": lambda folder, out: "memory://flyers/x.png",
    "github url": lambda folder, out: "github://dask:dask@main/docs/source/images/x.png",
    "absolute path": lambda folder, out: str(out),
    "absolute directory": lambda folder, out: str(out.parent),
    "root": lambda folder, out: "/",
    "home": lambda folder, out: "~/x.jpg",
    "dot dot out": lambda folder, out: "../outside/secret.jpg",
    "dot dot inside": lambda folder, out: "imgs/../imgs/a.jpg",
    "directory": lambda folder, out: "imgs",
    "the folder itself": lambda folder, out: ".",
    "glob": lambda folder, out: "imgs/*.jpg",
    "recursive glob": lambda folder, out: "**/*.jpg",
}


@pytest.mark.parametrize("case", REFUSED_LINES)
def test_a_list_line_that_leaves_the_web_or_the_lists_folder_is_one_refused_row(case, folders, no_file_systems):
    folder, outside = folders
    line = REFUSED_LINES[case](folder, outside)
    listing = folder / "scraped.txt"
    listing.write_text(f"# scraped\n{line}\n")
    found, errors = expand_sources([str(listing)])
    assert found == []
    assert [(e.source, e.stage, e.kind) for e in errors] == [(line, "inputs", "inputs.refused_in_list")]
    message = errors[0].message
    assert message.startswith(f"{listing} line 2: refused (") and "--allow-private-hosts" in message
    assert no_file_systems == []  # decided without instantiating a file system, so without a connection


def test_a_symbolic_link_inside_the_folder_to_a_file_or_folder_outside_is_refused(folders):
    folder, outside = folders
    (folder / "innocent.jpg").symlink_to(outside)
    (folder / "photos").symlink_to(outside.parent, target_is_directory=True)
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    listing = folder / "scraped.txt"
    listing.write_text("innocent.jpg\nphotos/secret.jpg\nloop.jpg\n")
    found, errors = expand_sources([str(listing)])
    assert found == []
    assert [(e.source, e.kind) for e in errors] == [("innocent.jpg", "inputs.refused_in_list"),
                                                    ("photos/secret.jpg", "inputs.refused_in_list"),
                                                    ("loop.jpg", "inputs.refused_in_list")]
    assert "line 2: refused (a symbolic link out of the list's folder)" in errors[1].message


def test_a_fifo_in_the_folder_is_refused_not_opened(folders):
    folder, _ = folders
    os.mkfifo(folder / "pipe.jpg")  # reading it would block the run
    listing = folder / "scraped.txt"
    listing.write_text("pipe.jpg\n")
    found, errors = expand_sources([str(listing)])
    assert found == [] and [(e.kind, "not a regular file" in e.message) for e in errors] == [
        ("inputs.refused_in_list", True)]


def test_control_and_format_characters_in_a_list_line_are_refused(folders):
    folder, _ = folders
    listing = folder / "scraped.txt"
    lines = ["https://example.org/\u202egpj.png", "https://example.org/a\x9b31m.png", "imgs/a\u200b.jpg"]
    listing.write_text("\n".join(lines) + "\n")
    found, errors = expand_sources([str(listing)])
    assert found == [] and [(e.source, e.kind) for e in errors] == [(line, "inputs.invalid_source") for line in lines]


def test_allowed_list_lines_still_expand(folders):
    folder, _ = folders
    _touch_jpeg(folder / "b.png")
    (folder / "more").mkdir()
    _touch_jpeg(folder / "more" / "c.jpg")
    (folder / "more" / "other.txt").write_text("c.jpg\n")
    (folder / "alias.jpg").symlink_to(folder / "imgs" / "a.jpg")  # a link that stays inside is fine
    listing = folder / "scraped.txt"
    listing.write_text("https://example.org/x.jpg?utm_source=fb\nHTTP://[::1]:8080/y.png\nimgs/a.jpg\n./b.png\n"
                       "more/other.txt\nalias.jpg\nmissing.jpg\n")
    found, errors = expand_sources([str(listing)])
    assert [(s.source, s.cleaned_url, s.scheme) for s in found] == [
        ("https://example.org/x.jpg?utm_source=fb", "https://example.org/x.jpg", "http"),
        ("HTTP://[::1]:8080/y.png", "http://[::1]:8080/y.png", "http"),  # its "::" is an IPv6 host, not a chain
        (str(folder / "imgs" / "a.jpg"), (folder / "imgs" / "a.jpg").resolve().as_uri(), "file"),
        (str(folder / "./b.png"), (folder / "b.png").resolve().as_uri(), "file"),
        (str(folder.resolve() / "more" / "c.jpg"), (folder / "more" / "c.jpg").resolve().as_uri(), "file"),
        (str(folder / "alias.jpg"), (folder / "imgs" / "a.jpg").resolve().as_uri(), "file"),
    ]
    assert [(e.source, e.kind) for e in errors] == [(str(folder / "missing.jpg"), "inputs.not_found")]


def test_a_trusted_list_keeps_the_old_rules_for_local_paths(folders):
    folder, outside = folders
    (folder / "innocent.jpg").symlink_to(outside)
    listing = folder / "mine.txt"
    listing.write_text(f"{outside}\n../outside/secret.jpg\nimgs\nimgs/*.jpg\nfile://{outside}\ninnocent.jpg\n")
    found, errors = expand_sources([str(listing)], trust_lists=True)
    assert not errors
    # the absolute path, then "../" out, then the directory and the glob (one image), the file: URL (the same
    # path as the first line, dropped as a duplicate) and the link out
    assert [(s.source, s.cleaned_url) for s in found] == [
        (str(outside), outside.as_uri()), (str(folder / "../outside/secret.jpg"), outside.as_uri()),
        (str(folder / "imgs" / "a.jpg"), (folder / "imgs" / "a.jpg").as_uri()),
        (str(folder / "innocent.jpg"), outside.as_uri())]


def test_a_chain_typed_directly_is_kept_whole_and_fails_as_an_error_row():
    fs = fsspec.filesystem("memory")
    fs.pipe("/chained/one.jpg", b"\xff\xd8\xff")
    found, errors = expand_sources(["dir::memory://x.png", "simplecache::memory://chained/one.jpg",
                                    "simplecache::memory://chained/*.jpg"])
    assert [(s.source, s.scheme) for s in found] == [("dir::memory://x.png", "dir"),
                                                     ("simplecache::memory://chained/one.jpg", "simplecache")]
    assert [(e.source, e.kind) for e in errors] == [("simplecache::memory://chained/*.jpg", "inputs.invalid_source")]
    assert fetch_bytes(found[1]) == b"\xff\xd8\xff"
    with pytest.raises(SourceError):  # the fetch stage's own error, not an AttributeError
        fetch_bytes(found[0])


def test_odd_typed_sources_are_error_rows_not_exceptions(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _touch_jpeg(tmp_path / "here.jpg")  # "file:" must not walk the current folder
    odd = ["~nosuchuser-daskparse/x.jpg", "http://[::1", "x" * 300 + ".jpg", "file:"]
    found, errors = expand_sources(odd)
    assert found == []
    assert [(e.source, e.kind) for e in errors] == [
        ("~nosuchuser-daskparse/x.jpg", "inputs.not_found"), ("http://[::1", "inputs.invalid_source"),
        ("x" * 300 + ".jpg", "inputs.unreadable"), ("file:", "inputs.invalid_source")]


def test_an_unforeseen_failure_of_one_source_is_one_unexpected_row():
    def breaks():
        yield Source("a.jpg", "file:///a.jpg", "file")
        raise AttributeError("'NoneType' object has no attribute 'startswith'")

    assert list(_guarded("a*.jpg", breaks())) == [
        Source("a.jpg", "file:///a.jpg", "file"),
        ErrorRecord("a*.jpg", "", "inputs", "inputs.unexpected", "AttributeError: 'NoneType' object has no attribute "
                    "'startswith'")]
