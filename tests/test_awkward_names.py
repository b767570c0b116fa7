"""Sources with awkward names: local files whose names a URL must escape (a space, %, ?, #, [, unicode), and
names holding terminal escapes, which no log line may pass on to the terminal."""

import datetime as dt
import logging
from pathlib import Path

import pytest

import daskparse
from conftest import cluster_client, jpeg_bytes
from daskparse.fetch import fetch_bytes
from daskparse.sources import expand_sources
from daskparse.testing.flyers import make_flyer

# URL-unsafe in some way each: fsspec opened the percent-encoded cleaned URL of each as a literal path
AWKWARD = ["my flyer.jpg", "50% off.jpg", "what?.jpg", "#1.jpg", "café.jpg"]
REFERENCE = dt.date(2026, 11, 1)


@pytest.fixture
def awkward(tmp_path):
    """A folder of small JPEGs with awkward names, each with bytes of its own; returns (folder, name -> bytes)."""
    folder = tmp_path / "flyers"
    folder.mkdir()
    images = {}
    for i, name in enumerate(AWKWARD):
        images[name] = jpeg_bytes(color=(30 * i, 200, 30))
        (folder / name).write_bytes(images[name])
    return folder, images


def _read(sources, **options):
    """name -> bytes fetched, for every source the expansion found (and no input error)."""
    found, errors = expand_sources(sources, **options)
    assert errors == []
    for source in found:  # the cache key of a file already cached stays what it was
        assert source.cleaned_url == Path(source.source).resolve().as_uri()
    return {Path(source.source).name: fetch_bytes(source) for source in found}


def test_a_file_named_with_url_unsafe_characters_is_read_however_it_is_named(awkward):
    folder, images = awkward
    paths = [str(folder / name) for name in AWKWARD]
    assert _read(paths) == images
    assert _read([str(folder)]) == images
    assert _read([str(folder / "*.jpg")]) == images
    # a list's lines relative to it (a line starting with "#" is a comment: "./#1.jpg" names that file)
    listing = folder / "flyers.txt"
    listing.write_text("".join(f"./{name}\n" if name.startswith("#") else f"{name}\n" for name in AWKWARD))
    assert _read([str(listing)]) == images
    trusted = folder / "mine.txt"
    trusted.write_text("".join(f"{path}\n" for path in paths))
    assert _read([str(trusted)], trust_lists=True) == images


def test_a_file_url_is_percent_decoded_so_a_cleaned_url_can_be_given_back(awkward):
    folder, images = awkward
    found, _ = expand_sources([str(folder)])
    assert _read([source.cleaned_url for source in found]) == images


def test_a_name_with_glob_characters_is_that_file_when_it_exists_and_a_pattern_otherwise(awkward):
    folder, images = awkward
    (folder / "whatX.jpg").write_bytes(images["what?.jpg"])
    (folder / "[1].jpg").write_bytes(images["café.jpg"])  # as a pattern, "[1].jpg" matches "1.jpg" only
    assert list(_read([str(folder / "what?.jpg")])) == ["what?.jpg"]  # not whatX.jpg too
    assert _read([str(folder / "[1].jpg")]) == {"[1].jpg": images["café.jpg"]}
    listing = folder / "flyers.txt"
    listing.write_text("[1].jpg\n")
    assert _read([str(listing)]) == {"[1].jpg": images["café.jpg"]}
    assert sorted(_read([str(folder / "wha??.jpg")])) == ["what?.jpg", "whatX.jpg"]  # no such file: a pattern
    found, errors = expand_sources([str(folder / "[2].jpg")])
    assert found == [] and [e.kind for e in errors] == ["inputs.not_found"]


def test_list_lines_stay_refused_when_they_name_no_file(awkward):
    folder, _ = awkward
    listing = folder / "scraped.txt"
    listing.write_text("not a url at all\nwhat*.jpg\n")
    found, errors = expand_sources([str(listing)])
    assert found == [] and [(e.source, e.kind) for e in errors] == [
        ("not a url at all", "inputs.invalid_source"), ("what*.jpg", "inputs.refused_in_list")]


ESCAPED_FILE = "\x1b[31mred.jpg"  # colours the terminal red
ESCAPED_MISSING = "\x1b]8;;http://example.invalid/\x07missing\x1b]8;;\x07.jpg"  # a hidden hyperlink (OSC 8)


@pytest.fixture(scope="module")
def awkward_run(tmp_path_factory):
    """One run, on a cluster of worker processes: a generated flyer named with a space, a file named with a
    terminal escape that is not an image, a missing path and a loopback URL holding escapes; its log lines
    (daskparse's logger and the ``log`` callback) and its progress calls."""
    from daskparse.testing.image_server import ImageServer

    folder = tmp_path_factory.mktemp("awkward run")
    flyer = make_flyer(3, reference_date=REFERENCE, family="single", size=(1500, 1000))
    spaced = folder / "my flyer.jpg"
    flyer.image.save(spaced, "JPEG", quality=90)
    (folder / ESCAPED_FILE).write_bytes(b"<html>not an image</html>")
    handler = _Records()
    logger = logging.getLogger("daskparse")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    messages, progress = [], []
    try:
        with ImageServer() as server, cluster_client(workers=1, threads=2) as client:
            url = server.url("/\x1b[2Jgone.jpg")  # an escape that clears the screen, in a URL typed as text
            sources = [str(spaced), str(folder / ESCAPED_FILE), str(folder / ESCAPED_MISSING), url]
            result = daskparse.parse_images(sources, extractor="local", client=client, reference_date=REFERENCE,
                                            log=lambda message, level: messages.append((level, message)),
                                            progress=progress.append)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return dict(result=result, flyer=flyer, sources=sources, messages=messages, records=handler.records,
                progress=progress)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_generated_flyer_named_with_a_space_is_parsed_end_to_end(awkward_run):
    result, spaced = awkward_run["result"], awkward_run["sources"][0]
    assert spaced not in set(result.errors["source"])
    shows = result.shows[result.shows["source"] == spaced]
    truth = awkward_run["flyer"].shows
    assert sorted(shows["venue"]) == sorted(show["venue"] for show in truth) and len(truth) > 0
    assert sorted(shows["date"].astype(str)) == sorted(str(show["date"]) for show in truth)


def test_no_log_line_carries_a_control_character(awkward_run):
    _, escaped_file, escaped_missing, url = awkward_run["sources"]
    lines = [message for _, message in awkward_run["messages"]] + [r.getMessage() for r in awkward_run["records"]]
    assert lines and all(line.isprintable() for line in lines), [line for line in lines if not line.isprintable()]
    # the error rows keep each source as it was given: that is the data
    assert awkward_run["result"].errors.set_index("source")["kind"].to_dict() == {
        escaped_file: "decode.not_an_image", escaped_missing: "inputs.not_found", url: "fetch.not_found"}
    # each bad source was warned about, its escapes written out, so it is still recognisable
    warnings = [message for level, message in awkward_run["messages"] if level == "WARNING"]
    for source in (escaped_file, escaped_missing, url):
        shown = source.encode("unicode_escape").decode("ascii")
        assert sum(shown in warning for warning in warnings) == 1, (shown, warnings)


def test_errors_found_before_the_run_are_in_its_progress_from_the_first_call(awkward_run):
    progress, result = awkward_run["progress"], awkward_run["result"]
    escaped_missing = awkward_run["sources"][2]
    first, last = progress[0], progress[-1]
    assert [row[:2] for row in first.latest_errors] == [(escaped_missing, "inputs.not_found")]
    assert (first.total, first.done, first.failed) == (4, 1, 1)
    # the last progress agrees with the result's stats
    assert (last.total, last.done, last.failed) == (result.stats["totalImages"], result.stats["totalImages"],
                                                    result.stats["errors"]) == (4, 4, 3)
    assert {row[0] for row in last.latest_errors} == set(result.errors["source"])


def test_a_run_of_input_errors_only_shows_them_in_its_first_progress():
    seen = []
    result = daskparse.parse_images(["/no/such/flyer.jpg", "gopher://example.invalid/a.jpg"], extractor="local",
                                    progress=seen.append)
    assert [row[:2] for row in seen[0].latest_errors] == [("/no/such/flyer.jpg", "inputs.not_found"), (
        "gopher://example.invalid/a.jpg", "inputs.unsupported_scheme")]
    assert (seen[0].total, seen[0].done, seen[0].failed, seen[0].eta) == (2, 2, 2, None)
    assert result.stats["totalImages"] == result.stats["errors"] == 2
