from pathlib import Path

from daskparse.sources import clean_url, expand_sources


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
        f"file://{b}": "inputs.unsupported_scheme",  # a file: URL in a list: refused unless allowed
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
    found, errors = expand_sources([str(listing)], allow_file_urls_in_lists=True)
    assert [s.cleaned_url for s in found] == [Path(image).resolve().as_uri()] and not errors
