import dataclasses
import datetime as dt
import hashlib
import io
import logging
import os
import pickle
import posixpath
import threading
import uuid

import fsspec
import pyarrow as pa
import pytest
from PIL import Image

from daskparse.cache import (COMPACT_MIN_FILES, DAY, DEFAULT_PHASH_DISTANCE, CacheError, ResultCache, cache_stats,
                             cache_variant, clear, prune, url_key)
from daskparse.cache import maintenance  # compaction reads and writes through its names: patched there
from daskparse.errors import ErrorRecord
from daskparse.optimize import optimize_image
from daskparse.outcome import Outcome, show_records
from daskparse.settings import load_settings
from daskparse.tally import RunTally
from daskparse.testing.flyers import make_flyer
from daskparse.usage import Usage

T0 = 1_800_000_000.0  # an injected clock's start (2027)
FLYERS = 12


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def flyers():
    """Distinct generated flyers (every third photographed) and their optimized first posts."""
    made = [make_flyer(seed, reference_date=dt.date(2026, 11, 1), size=(600, 800), photo=seed % 3 == 0)
            for seed in range(FLYERS)]
    return [(flyer, optimize_image(_encode(flyer.image, "JPEG", quality=90))) for flyer in made]


@pytest.fixture(params=["memory", "local"])
def location(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "cache")
        return
    url = f"memory://cache-{uuid.uuid4().hex}"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def _outcome(n: int, image=None, shows=None, *, error=None, extractor="local", sha=None) -> Outcome:
    url = f"https://cdn.example.org/flyers/{n}.jpg"
    return Outcome(url + "?oh=signed", url, shows=show_records(shows or [], url, url, "x", extractor), error=error,
                   seconds={"fetch": 0.1}, usage=Usage(requests=1), extractor=extractor,
                   image_sha256=sha or f"{n:064x}", phash=image.phash if image else None,
                   thumbnail=image.thumbnail if image else None)


def _error(kind: str, *, transient: bool) -> ErrorRecord:
    return ErrorRecord("s", "u", kind.split(".")[0], kind, "HTTP 404", transient=transient)


def _cache(location, clock=None, **options) -> ResultCache:
    return ResultCache(location, variant=options.pop("variant", "v1test"), clock=clock or Clock(), **options)


def _repost(flyer, kind: str) -> bytes:
    image = flyer.image
    w, h = image.size
    if kind == "resized 0.8x":
        return _encode(image.resize((int(w * 0.8), int(h * 0.8)), Image.Resampling.LANCZOS), "JPEG", quality=85)
    if kind == "JPEG q60":
        return _encode(image, "JPEG", quality=60)
    if kind == "cropped 3%":
        c = 0.03
        return _encode(image.crop((int(w * c), int(h * c), int(w * (1 - c)), int(h * (1 - c)))), "JPEG", quality=85)
    if kind == "cropped 4% off the top":
        return _encode(image.crop((0, int(h * 0.04), w, h)), "JPEG", quality=85)
    if kind == "PNG":
        return _encode(image, "PNG")
    if kind == "WebP":
        return _encode(image, "WEBP", quality=75)
    raise ValueError(kind)


def test_store_then_find_by_each_level(location, flyers):
    flyer, image = flyers[0]
    cache = _cache(location).load_index()
    assert cache.store_partition([_outcome(0, image, flyer.shows)])
    cache.load_index()

    by_url = cache.lookup_url("https://cdn.example.org/flyers/0.jpg")
    assert by_url.level == "url" and by_url.status == "shows"
    outcome = by_url.outcome("https://cdn.example.org/flyers/0.jpg?oh=refreshed",
                             "https://cdn.example.org/flyers/0.jpg")
    assert [{k: s[k] for k in flyer.shows[0]} for s in outcome.shows] == flyer.shows
    assert {s["source"] for s in outcome.shows} == {"https://cdn.example.org/flyers/0.jpg?oh=refreshed"}
    assert outcome.image_sha256 == f"{0:064x}" and outcome.error is None
    assert outcome.cache is not None and outcome.cache.level == "url" and outcome.cache.saved_call
    assert outcome.cache.usage == Usage(requests=1)  # what the saved call cost, read back

    by_sha = cache.lookup_sha256(f"{0:064x}")
    moved = by_sha.outcome("https://elsewhere.example/copy.jpg", "https://elsewhere.example/copy.jpg", f"{0:064x}")
    assert by_sha.level == "sha256" and len(moved.shows) == len(flyer.shows)
    assert moved.shows[0]["cleaned_url"] == "https://elsewhere.example/copy.jpg"

    repost = optimize_image(_repost(flyer, "JPEG q60"))
    by_look = cache.lookup_phash(repost.phash, repost.jpeg)
    assert by_look.level == "phash" and by_look.shows == by_url.shows
    assert by_look.distance <= cache.phash_distance and by_look.similarity >= cache.min_similarity

    assert cache.lookup_url("https://cdn.example.org/flyers/1.jpg") is None
    assert cache.lookup_sha256(f"{1:064x}") is None


@pytest.mark.parametrize("kind", ["resized 0.8x", "JPEG q60", "cropped 3%", "cropped 4% off the top", "PNG", "WebP"])
def test_a_repost_is_found_and_matched_to_its_own_flyer(flyers, kind):
    cache = _cache(f"memory://reposts-{uuid.uuid4().hex}")
    cache.store_partition([_outcome(n, image, flyer.shows) for n, (flyer, image) in enumerate(flyers)])
    cache.load_index()
    for n in (0, 4, 7):  # a photographed flyer, and two clean ones
        repost = optimize_image(_repost(flyers[n][0], kind))
        hit = cache.lookup_phash(repost.phash, repost.jpeg)
        assert hit is not None, f"flyer {n} {kind} not found"
        assert hit.matched_source.startswith(f"https://cdn.example.org/flyers/{n}.jpg")


@pytest.mark.parametrize("radius", [DEFAULT_PHASH_DISTANCE, 64], ids=["default radius", "every entry a candidate"])
def test_distinct_flyers_are_never_merged(flyers, radius):
    """Each flyer looked up in a cache holding all the others (every pair, both ways): no match.

    With a 64-bit radius the hash rules nothing out: the thumbnail check alone rejects the nearest flyers.
    """
    for n, (_, image) in enumerate(flyers):
        cache = _cache(f"memory://distinct-{uuid.uuid4().hex}", phash_distance=radius)
        cache.store_partition([_outcome(m, other, flyer.shows) for m, (flyer, other) in enumerate(flyers) if m != n])
        cache.load_index()
        assert len(cache) == FLYERS - 1
        assert cache.lookup_phash(image.phash, image.jpeg) is None, f"flyer {n} matched another flyer"


def test_the_look_alike_level_can_be_turned_off(flyers):
    flyer, image = flyers[1]
    cache = _cache(f"memory://off-{uuid.uuid4().hex}", phash_distance=None)
    cache.store_partition([_outcome(1, image, flyer.shows)])
    cache.load_index()
    assert cache.lookup_phash(image.phash, image.jpeg) is None
    assert cache.lookup_sha256(f"{1:064x}") is not None


def test_fingerprints_of_the_optimized_image(flyers):
    _, image = flyers[2]
    assert isinstance(image.phash, int) and 0 <= image.phash < 2**64
    assert Image.open(io.BytesIO(image.thumbnail)).size == (128, 128)
    flat = optimize_image(_encode(Image.new("RGB", (300, 200), (40, 90, 200)), "PNG"))
    assert flat.phash is None  # one colour: no hash worth comparing
    again = optimize_image(_encode(flyers[2][0].image, "JPEG", quality=90))
    assert again.phash == image.phash and again.thumbnail == image.thumbnail


def test_variants_are_isolated(location, flyers):
    flyer, image = flyers[3]
    _cache(location, variant="gemini-a").store_partition([_outcome(3, image, flyer.shows)])
    other = _cache(location, variant="gemini-b").load_index()
    assert other.lookup_url("https://cdn.example.org/flyers/3.jpg") is None
    assert other.lookup_sha256(f"{3:064x}") is None
    assert other.lookup_phash(image.phash, image.jpeg) is None
    same = _cache(location, variant="gemini-a").load_index()
    assert same.lookup_url("https://cdn.example.org/flyers/3.jpg") is not None
    assert cache_variant(extractor="gemini", model="m", prompt="1") != cache_variant(extractor="gemini", model="m",
                                                                                      prompt="2")
    assert cache_variant(a=1, b=2) == cache_variant(b=2, a=1)


def test_results_expire_after_ttl_and_errors_after_error_ttl(location, flyers):
    flyer, image = flyers[4]
    clock = Clock()
    cache = _cache(location, clock, ttl=7 * DAY, error_ttl=1 * DAY)
    cache.store_partition([
        _outcome(4, image, flyer.shows),
        _outcome(5, error=_error("fetch.not_found", transient=False)),
        _outcome(6, error=_error("fetch.timeout", transient=True)),
        _outcome(7, error=_error("gemini.quota_exhausted", transient=False)),
        _outcome(8, error=_error("extract.unexpected", transient=False)),
    ])
    cache.load_index()
    assert len(cache) == 2  # the result and the permanent error; the others are never stored
    url = "https://cdn.example.org/flyers/{}.jpg".format
    error_hit = cache.lookup_url(url(5))
    assert error_hit.status == "error" and not error_hit.saves_call
    assert error_hit.outcome("s5", url(5)).error == ErrorRecord("s5", url(5), "fetch", "fetch.not_found", "HTTP 404",
                                                                transient=False)
    for n in (6, 7, 8):
        assert cache.lookup_url(url(n)) is None

    clock.now = T0 + DAY - 1
    assert cache.lookup_url(url(5)) is not None
    clock.now = T0 + DAY
    assert cache.lookup_url(url(5)) is None
    assert cache.lookup_url(url(4)) is not None
    clock.now = T0 + 7 * DAY - 1
    assert cache.lookup_url(url(4)) is not None and cache.lookup_phash(image.phash, image.jpeg) is not None
    clock.now = T0 + 7 * DAY
    assert cache.lookup_url(url(4)) is None
    assert cache.lookup_sha256(f"{4:064x}") is None
    assert cache.lookup_phash(image.phash, image.jpeg) is None
    assert len(_cache(location, clock).load_index()) == 0  # a new run's index leaves expired rows out


def test_a_reader_with_a_shorter_ttl_ignores_older_results(location, flyers):
    flyer, image = flyers[4]
    _cache(location, Clock(T0)).store_partition([_outcome(4, image, flyer.shows)])
    reader = _cache(location, Clock(T0 + 2 * DAY), ttl=1 * DAY).load_index()
    assert reader.lookup_url("https://cdn.example.org/flyers/4.jpg") is None
    assert _cache(location, Clock(T0 + 2 * DAY)).load_index().lookup_url("https://cdn.example.org/flyers/4.jpg")


def test_served_sources_are_stored_as_aliases_that_keep_the_original_expiry(location, flyers):
    flyer, image = flyers[5]
    clock = Clock()
    cache = _cache(location, clock)
    cache.store_partition([_outcome(5, image, flyer.shows)])
    clock.now = T0 + 3 * DAY
    cache.load_index()
    hit = cache.lookup_sha256(f"{5:064x}")
    copy = hit.outcome("https://mirror.example/x.jpg", "https://mirror.example/x.jpg", f"{5:064x}")
    url_hit = cache.lookup_url("https://cdn.example.org/flyers/5.jpg").outcome(
        "a", "https://cdn.example.org/flyers/5.jpg")
    assert cache.store_partition([copy, url_hit])  # the url-level hit is not stored again
    cache.load_index()
    alias = cache.lookup_url("https://mirror.example/x.jpg")
    assert alias.level == "url" and alias.shows == hit.shows and alias.expires_at == T0 + 7 * DAY
    assert cache_stats(location, now=clock.now)["entries"] == 2


def test_results_of_another_extractor_are_not_stored(location, flyers):
    flyer, image = flyers[6]
    cache = _cache(location, extractor="gemini")
    assert cache.store_partition([_outcome(6, image, flyer.shows, extractor="local")]) is None
    cache.store_partition([_outcome(7, image, flyer.shows, extractor="gemini")])
    cache.load_index()
    assert len(cache) == 1 and cache.lookup_url("https://cdn.example.org/flyers/7.jpg").extractor == "gemini"


def test_prune_drops_expired_entries_and_stale_temp_files(location, flyers):
    flyer, image = flyers[7]
    clock = Clock()
    cache = _cache(location, clock)
    cache.store_partition([_outcome(1, error=_error("fetch.not_found", transient=False))])  # expires after a day
    cache.store_partition([_outcome(2, image, flyer.shows),
                           _outcome(3, error=_error("decode.not_an_image", transient=False))])
    cache.store_partition([_outcome(4, image, flyer.shows)])
    fs, folder = cache.fs, cache.folder
    old_temp = f"{folder}/.x.parquet.{int((T0 + DAY - 7200) * 1000)}.abc123.tmp"
    young_temp = f"{folder}/.y.parquet.{int((T0 + DAY - 60) * 1000)}.def456.tmp"
    fs.pipe_file(old_temp, b"half a file")
    fs.pipe_file(young_temp, b"being written")
    before = cache_stats(location, now=T0 + DAY)
    assert (before["files"], before["entries"], before["expired"], before["tempFiles"]) == (3, 4, 2, 2)

    result = prune(location, now=T0 + DAY)
    assert result["filesDeleted"] == 1 and result["filesRewritten"] == 1
    assert result["entriesRemoved"] == 2 and result["entriesKept"] == 2 and result["tempFilesRemoved"] == 1
    assert not fs.exists(old_temp) and fs.exists(young_temp)
    after = cache_stats(location, now=T0 + DAY)
    assert (after["files"], after["entries"], after["expired"]) == (2, 2, 0)
    clock.now = T0 + DAY
    cache.load_index()
    assert cache.lookup_url("https://cdn.example.org/flyers/2.jpg") is not None
    assert cache.lookup_url("https://cdn.example.org/flyers/4.jpg") is not None


def test_expired_files_are_pruned_automatically_when_a_run_starts(location, flyers):
    flyer, image = flyers[7]
    _cache(location, Clock(T0)).store_partition([_outcome(1, image, flyer.shows)])
    _cache(location, Clock(T0 + 6 * DAY)).store_partition([_outcome(2, image, flyer.shows)])
    _cache(location, Clock(T0 + 8 * DAY)).load_index()
    stats = cache_stats(location, now=T0 + 8 * DAY)
    assert stats["files"] == 1 and stats["entries"] == 1 and stats["expired"] == 0


def test_a_torn_file_and_a_leftover_temp_file_are_never_read(location, flyers, caplog):
    flyer, image = flyers[8]
    cache = _cache(location)
    good = cache.store_partition([_outcome(1, image, flyer.shows)])
    whole = cache.store_partition([_outcome(2, image, flyer.shows), _outcome(3, image, flyer.shows)])
    fs = cache.fs
    data = fs.cat_file(whole)
    fs.pipe_file(whole, data[: len(data) // 2])  # torn: half a Parquet file under its final name
    fs.pipe_file(f"{cache.folder}/.lost.parquet.{int(T0 * 1000)}.0a1b2c.tmp",
                 fs.cat_file(good))  # a writer died before its move (whole content, temp name)
    fs.rm(good)
    cache.store_partition([_outcome(4, image, flyer.shows)])
    with caplog.at_level(logging.WARNING, logger="daskparse.cache"):
        cache.load_index()
    assert "unreadable cache file" in caplog.text
    assert len(cache) == 1
    for n in (1, 2, 3):
        assert cache.lookup_url(f"https://cdn.example.org/flyers/{n}.jpg") is None
    assert cache.lookup_url("https://cdn.example.org/flyers/4.jpg") is not None
    assert cache_stats(location, now=T0)["unreadableFiles"] == 1
    assert prune(location, now=T0 + 2 * 3600)["unreadableFilesRemoved"] == 1


def test_rows_with_an_empty_key_column_are_skipped_with_one_warning_and_pruned(location, flyers, caplog):
    """A file that parses but whose rows lack a key (a damaged or foreign writer): the client once raised on it
    (exit 3) and prune kept it."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    flyer, image = flyers[8]
    cache = _cache(location)
    lost = cache.store_partition([_outcome(1, image, flyer.shows)])
    half = cache.store_partition([_outcome(2, image, flyer.shows), _outcome(3, image, flyer.shows)])
    fs = cache.fs

    def null_stored_time(url, rows):  # the stored time of ``rows`` emptied in place
        table = pq.read_table(io.BytesIO(fs.cat_file(url)))
        emptied = pc.if_else(pa.array([i in rows for i in range(len(table))]),
                             pa.scalar(None, table["stored_at"].type), table["stored_at"])
        buffer = io.BytesIO()
        pq.write_table(table.set_column(table.schema.get_field_index("stored_at"), "stored_at", emptied), buffer)
        fs.pipe_file(url, buffer.getvalue())

    null_stored_time(lost, {0})
    null_stored_time(half, {1})  # the entry of flyers/3.jpg (rows are sorted by URL key)
    urls = [f"https://cdn.example.org/flyers/{n}.jpg" for n in (1, 2, 3)]
    broken = {url_key(url) for url in urls} - {url_key(u) for u in urls if u.endswith(("1.jpg", "2.jpg"))}
    assert pq.read_table(io.BytesIO(fs.cat_file(half)))["url_md5"][1].as_py() in broken
    with caplog.at_level(logging.WARNING, logger="daskparse.cache"):
        cache.load_index(auto_prune=False)  # (the automatic prune would remove the wholly unusable file first)
        hits = cache.lookup_urls(urls)
    assert [hit is not None for hit in hits] == [False, True, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all("key column is empty" in w for w in warnings)  # one per file, not per look-up
    assert cache_stats(location, now=T0)["entries"] == 1

    result = prune(location, now=T0)
    assert result["unreadableFilesRemoved"] == 1 and result["filesRewritten"] == 1 and result["entriesKept"] == 1
    assert not fs.exists(lost)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="daskparse.cache"):
        assert [hit is not None for hit in _cache(location).load_index().lookup_urls(urls)] == [False, True, False]
    assert not caplog.records


def test_shows_stored_with_terminal_escapes_are_served_without_them(location, flyers):
    """Entries stored before fields lost their control characters (or by another writer) are cleaned as read."""
    cache = _cache(location)
    cache.store_partition([_outcome(1, shows=[{"title": "\x1b[31mKaraoke\x1b[0m Night\u202e", "kind": "karaoke"}])])
    [hit] = cache.load_index().lookup_urls(["https://cdn.example.org/flyers/1.jpg"])
    assert hit.shows[0]["title"] == "Karaoke Night" and hit.shows[0]["kind"] == "karaoke"


def test_a_file_rewritten_since_the_index_was_read_is_not_trusted(location, flyers):
    flyer, image = flyers[9]
    cache = _cache(location)
    path = cache.store_partition([_outcome(1, image, flyer.shows, sha="aa" * 32)])
    cache.load_index()
    cache.fs.rm(path)  # e.g. pruned by another run in between
    assert cache.lookup_sha256("aa" * 32) is None


def test_two_writers_at_once_both_land(location, flyers):
    flyer, image = flyers[10]
    writers = [_cache(location) for _ in range(8)]
    barrier = threading.Barrier(len(writers))
    paths = []

    def write(i: int, cache: ResultCache) -> None:
        batch = [_outcome(10 * i + k, image, flyer.shows) for k in range(5)]
        barrier.wait()
        paths.append(cache.store_partition(batch))
        paths.append(cache.store_partition([dataclasses.replace(o) for o in batch]))  # the same task again: same file

    threads = [threading.Thread(target=write, args=(i, c)) for i, c in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert None not in paths and len(set(paths)) == len(writers)
    reader = _cache(location).load_index()
    assert len(reader) == 40
    assert all(reader.lookup_url(f"https://cdn.example.org/flyers/{n}.jpg") for n in range(75) if n % 10 < 5)
    assert cache_stats(location, now=T0)["tempFiles"] == 0


def test_the_cache_travels_to_workers_by_pickle(tmp_path, flyers):
    flyer, image = flyers[11]
    cache = ResultCache(str(tmp_path / "c"), variant="w").load_index()
    cache.store_partition([_outcome(1, image, flyer.shows)])
    cache.load_index()
    cache.lookup_url("https://cdn.example.org/flyers/1.jpg")  # fills the per-process file cache
    shipped = pickle.loads(pickle.dumps(cache))
    assert shipped.lookup_phash(image.phash, image.jpeg).matched_source.endswith("1.jpg?oh=signed")
    assert len(pickle.dumps(cache)) < 20_000


def test_an_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError, match="not writable"):
        ResultCache(str(blocker / "cache"), variant="v").load_index()


def test_stats_and_clear(location, flyers):
    flyer, image = flyers[0]
    _cache(location, variant="a").store_partition([_outcome(1, image, flyer.shows),
                                                   _outcome(2, error=_error("fetch.not_found", transient=False))])
    _cache(location, variant="b").store_partition([_outcome(3, image, [])])
    stats = cache_stats(location, now=T0)
    assert stats["files"] == 2 and stats["entries"] == 3 and stats["live"] == 3 and stats["bytes"] > 0
    assert stats["byStatus"] == {"shows": 1, "error": 1, "no_shows": 1}
    assert set(stats["variants"]) == {"a", "b"}
    assert clear(location)["removedFiles"] == 2
    assert cache_stats(location)["entries"] == 0
    assert _cache(location, variant="a").load_index().lookup_url("https://cdn.example.org/flyers/1.jpg") is None


def test_clear_removes_only_the_cache_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    not_found = _outcome(1, error=_error("fetch.not_found", transient=False))
    ResultCache(str(tmp_path), variant="v").store_partition([not_found])
    clear(str(tmp_path))
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_clear_deletes_only_what_is_recognisably_the_caches_own(location, flyers):
    """``cache clear --cache DIR`` once removed ``DIR/v1`` whatever it held (an unrelated ``v1/api/routes.py``)."""
    flyer, image = flyers[0]
    cache = _cache(location)
    cache.load_index()  # writes the prune marker too
    cache.store_partition([_outcome(1, image, flyer.shows)])
    fs, root = fsspec.core.url_to_fs(location)
    foreign = [f"{root}/v1/api/routes.py", f"{root}/v1/README.md", f"{root}/v1/v1test/notes.parquet"]
    for path in foreign:
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        fs.pipe_file(path, b"not the cache's")
    result = clear(location)
    assert result["removedFiles"] == 2 and result["keptFiles"] == 3  # the entry file and the prune marker
    assert sorted(fs.find(f"{root}/v1")) == sorted(fs._strip_protocol(p) for p in foreign)
    assert len(_cache(location).load_index()) == 0


def test_the_prune_marker_replaces_a_symbolic_link_instead_of_writing_through_it(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "cache" / "v1").mkdir(parents=True)
    (tmp_path / "cache" / "v1" / ".last-prune").symlink_to(target)
    ResultCache(str(tmp_path / "cache"), variant="v").load_index()
    assert target.read_text() == "keep me"
    assert not (tmp_path / "cache" / "v1" / ".last-prune").is_symlink()


def test_hit_stats_count_hits_by_level_and_calls_saved(location, flyers):
    flyer, image = flyers[1]
    cache = _cache(location)
    cache.store_partition([_outcome(1, image, flyer.shows),
                           _outcome(2, error=_error("fetch.not_found", transient=False))])
    cache.load_index()
    url = "https://cdn.example.org/flyers/{}.jpg".format
    outcomes = [cache.lookup_url(url(1)).outcome("a", url(1)), cache.lookup_url(url(2)).outcome("b", url(2)),
                cache.lookup_sha256(f"{1:064x}").outcome("c", "c", f"{1:064x}"),
                cache.lookup_phash(image.phash, image.jpeg).outcome("d", "d", "ee" * 32), _outcome(9)]
    tally = RunTally(len(outcomes), load_settings())
    assert tally.hit_stats() == {"cacheHits": 0, "cacheHitsByLevel": {"url": 0, "sha256": 0, "phash": 0},
                                 "cacheHitRate": 0.0, "callsSaved": 0}
    tally.add(outcomes)
    assert tally.hit_stats() == {"cacheHits": 4, "cacheHitsByLevel": {"url": 2, "sha256": 1, "phash": 1},
                                 "cacheHitRate": 0.8, "callsSaved": 3}


def test_keys():
    # (durations, once parsed here, are the settings' business: tests/test_settings.py)
    assert url_key("https://a/b.jpg") == hashlib.md5(b"https://a/b.jpg").hexdigest()


# --- compaction -------------------------------------------------------------------------------------------


def _url(n: int) -> str:
    return f"https://cdn.example.org/flyers/{n}.jpg"


def _one_file_each(cache: ResultCache, flyers, numbers) -> list[str]:
    """One partition file per image, as a Gemini run writes them; flyer images for the first FLYERS numbers."""
    paths = []
    for n in numbers:
        flyer, image = flyers[n] if n < FLYERS else (None, None)
        paths.append(cache.store_partition([_outcome(n, image, flyer.shows if flyer else [])]))
    return paths


def test_compaction_merges_small_files_once_there_are_enough(location, flyers):
    cache = _cache(location)
    _one_file_each(cache, flyers, range(COMPACT_MIN_FILES - 1))
    idle = cache.compact_if_needed()
    assert idle["filesMerged"] == 0 and idle["filesWritten"] == 0
    assert cache_stats(location, now=T0)["files"] == COMPACT_MIN_FILES - 1

    _one_file_each(cache, flyers, [COMPACT_MIN_FILES - 1])
    done = cache.compact_if_needed()
    assert (done["filesBefore"], done["filesMerged"], done["filesWritten"], done["filesAfter"]) == (
        COMPACT_MIN_FILES, COMPACT_MIN_FILES, 1, 1)
    assert done["entriesKept"] == COMPACT_MIN_FILES and done["mergesAborted"] == 0
    stats = cache_stats(location, now=T0)
    assert (stats["files"], stats["entries"], stats["tempFiles"]) == (1, COMPACT_MIN_FILES, 0)

    cache.load_index()
    assert len(cache) == COMPACT_MIN_FILES
    for n in range(COMPACT_MIN_FILES):
        hit = cache.lookup_url(_url(n))
        assert hit is not None and hit.image_sha256 == f"{n:064x}", n
        assert cache.lookup_sha256(f"{n:064x}").matched_source == _url(n) + "?oh=signed"
    for n in (0, 4, 7):
        repost = optimize_image(_repost(flyers[n][0], "cropped 3%"))
        hit = cache.lookup_phash(repost.phash, repost.jpeg)
        assert hit is not None and hit.matched_source == _url(n) + "?oh=signed" and hit.shows == flyers[n][0].shows
    assert cache.compact_if_needed()["filesMerged"] == 0  # one file left: nothing to do


def test_compaction_drops_expired_rows_and_keeps_the_times_of_live_ones(location, flyers):
    clock = Clock()
    cache = _cache(location, clock, ttl=7 * DAY, error_ttl=1 * DAY)
    for n in range(COMPACT_MIN_FILES // 2):  # half results, half permanent errors (gone after a day)
        cache.store_partition([_outcome(n, None, flyers[0][0].shows)])
        cache.store_partition([_outcome(100 + n, error=_error("fetch.not_found", transient=False))])
    clock.now = T0 + 2 * DAY
    result = cache.compact()
    assert result["entriesKept"] == COMPACT_MIN_FILES // 2 and result["entriesDropped"] == COMPACT_MIN_FILES // 2
    stats = cache_stats(location, now=clock.now)
    assert (stats["files"], stats["entries"], stats["expired"]) == (1, COMPACT_MIN_FILES // 2, 0)
    cache.load_index()
    hit = cache.lookup_url(_url(3))
    assert (hit.stored_at, hit.expires_at) == (T0, T0 + 7 * DAY)
    assert cache.lookup_url(_url(103)) is None


def test_a_reader_whose_index_predates_a_compaction_gets_misses_not_errors(location, flyers):
    _one_file_each(_cache(location), flyers, range(COMPACT_MIN_FILES))
    reader = _cache(location).load_index()
    before = reader.lookup_url(_url(0))  # its file is now held in the reader's memory
    assert _cache(location).compact()["filesMerged"] == COMPACT_MIN_FILES

    assert reader.lookup_url(_url(0)) == before  # read before: still the right result
    assert reader.lookup_url(_url(1)) is None
    assert reader.lookup_urls([_url(n) for n in range(2, 6)]) == [None] * 4
    assert reader.lookup_sha256(f"{6:064x}") is None
    assert reader.lookup_phash(flyers[7][1].phash, flyers[7][1].jpeg) is None
    reader.load_index()
    assert all(reader.lookup_url(_url(n)) for n in range(COMPACT_MIN_FILES))


def test_compactions_and_writers_at_once_lose_no_entry(location, flyers):
    _one_file_each(_cache(location), flyers, range(3 * COMPACT_MIN_FILES))
    compactors = [_cache(location) for _ in range(4)]
    writer = _cache(location)
    barrier = threading.Barrier(len(compactors) + 1)
    results, failures = [], []

    def compact(cache: ResultCache) -> None:
        barrier.wait()
        try:
            results.append(cache.compact())
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            failures.append(error)

    def write() -> None:
        barrier.wait()
        _one_file_each(writer, flyers, range(1000, 1000 + COMPACT_MIN_FILES))

    threads = [threading.Thread(target=compact, args=(c,)) for c in compactors] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and sum(r["filesMerged"] for r in results) > 0
    reader = _cache(location).load_index()
    wanted = [*range(3 * COMPACT_MIN_FILES), *range(1000, 1000 + COMPACT_MIN_FILES)]
    assert [n for n, hit in zip(wanted, reader.lookup_urls([_url(n) for n in wanted])) if hit is None] == []
    assert cache_stats(location, now=T0)["tempFiles"] == 0
    _cache(location).compact(min_files=2)  # whatever the race left is merged again, duplicates once
    stats = cache_stats(location, now=T0)
    assert stats["files"] == 1 and stats["entries"] == len(wanted)


def test_a_merge_stops_when_a_source_vanishes_while_it_reads(location, flyers, monkeypatch):
    """Another compaction takes the files while this one reads them: this one writes and deletes nothing."""
    _one_file_each(_cache(location), flyers, range(COMPACT_MIN_FILES))
    read = maintenance.read_table
    other = []

    def read_while_another_compacts(fs, path, columns=None, quiet=False, **options):
        if columns is None and not other:
            other.append(None)
            other[0] = _cache(location).compact()
        return read(fs, path, columns, quiet, **options)

    monkeypatch.setattr(maintenance, "read_table", read_while_another_compacts)
    result = _cache(location).compact()
    assert other[0]["filesMerged"] == COMPACT_MIN_FILES
    assert result["mergesAborted"] == 1 and result["filesWritten"] == 0 and result["filesMerged"] == 0
    stats = cache_stats(location, now=T0)
    assert (stats["files"], stats["entries"]) == (1, COMPACT_MIN_FILES)
    reader = _cache(location).load_index()
    assert all(reader.lookup_url(_url(n)) for n in range(COMPACT_MIN_FILES))


def test_a_source_rewritten_during_a_merge_is_kept(location, flyers, monkeypatch):
    """A partition stored again (same URLs, so the same name) after the merge read it: the new file stays."""
    paths = _one_file_each(_cache(location), flyers, range(COMPACT_MIN_FILES))
    rewritten = posixpath.basename(paths[0])
    read = maintenance.read_table

    def read_then_rewrite(fs, path, columns=None, quiet=False, **options):
        table = read(fs, path, columns, quiet, **options)
        if columns is None and posixpath.basename(path) == rewritten:
            _cache(location, Clock(T0 + 60)).store_partition([_outcome(0, sha="bb" * 32)])
        return table

    monkeypatch.setattr(maintenance, "read_table", read_then_rewrite)
    result = _cache(location).compact()
    assert result["sourcesKept"] == 1 and result["filesMerged"] == COMPACT_MIN_FILES - 1
    reader = _cache(location, Clock(T0 + 120)).load_index()
    assert reader.lookup_url(_url(0)).image_sha256 == "bb" * 32  # the newer entry wins
    assert reader.lookup_sha256("bb" * 32) is not None and reader.lookup_sha256(f"{0:064x}") is not None


def test_entries_of_one_url_stored_twice_are_told_apart_in_a_merged_file(location, flyers):
    clock = Clock()
    cache = _cache(location, clock)
    cache.store_partition([_outcome(1, sha="aa" * 32)])
    clock.now = T0 + DAY  # the URL now serves other bytes; stored again, in a partition with another image
    cache.store_partition([_outcome(1, sha="bb" * 32), _outcome(2)])
    assert cache.compact(min_files=2)["filesMerged"] == 2
    cache.load_index()
    assert cache.lookup_url(_url(1)).image_sha256 == "bb" * 32
    older = cache.lookup_sha256("aa" * 32)
    assert older.image_sha256 == "aa" * 32 and older.stored_at == T0
    assert cache.lookup_sha256("bb" * 32).stored_at == T0 + DAY


def test_a_failed_merge_write_deletes_nothing(location, flyers, monkeypatch):
    _one_file_each(_cache(location), flyers, range(COMPACT_MIN_FILES))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maintenance, "write_table", full_disk)
    result = _cache(location).compact_if_needed()
    assert "No space left" in result["error"]
    assert cache_stats(location, now=T0)["files"] == COMPACT_MIN_FILES
    reader = _cache(location).load_index()
    assert all(reader.lookup_url(_url(n)) for n in range(COMPACT_MIN_FILES))


def test_prune_also_compacts(location, flyers):
    cache = _cache(location)
    _one_file_each(cache, flyers, range(COMPACT_MIN_FILES))
    cache.store_partition([_outcome(500, error=_error("fetch.not_found", transient=False))])
    result = prune(location, now=T0 + 2 * DAY)
    assert result["filesDeleted"] == 1 and result["filesMerged"] == COMPACT_MIN_FILES
    assert result["mergedFilesWritten"] == 1
    stats = cache_stats(location, now=T0 + 2 * DAY)
    assert (stats["files"], stats["entries"], stats["expired"]) == (1, COMPACT_MIN_FILES, 0)


def test_look_alike_hits_stored_without_a_thumbnail_do_not_crowd_out_the_original(location, flyers):
    """Reposts served by the look-alike level are stored as aliases (hash, no thumbnail): the next repost,
    nearer to them than to the original, must still be checked against the original's thumbnail."""
    flyer, image = flyers[2]
    cache = _cache(location)
    cache.store_partition([_outcome(2, image, flyer.shows)])
    cache.load_index()
    repost = optimize_image(_repost(flyer, "cropped 3%"))
    hit = cache.lookup_phash(repost.phash, repost.jpeg)
    assert hit is not None
    for n in range(200, 200 + 4):  # more aliases than look-up candidates, each at distance 0 from the repost
        served = hit.outcome(_url(n), _url(n), f"{n:064x}")
        served.phash = repost.phash
        cache.store_partition([served])
    cache.load_index()
    again = cache.lookup_phash(repost.phash, repost.jpeg)
    assert again is not None and again.matched_source == _url(2) + "?oh=signed"
    assert cache.lookup_url(_url(201)).level == "url"


def test_a_relative_location_is_fixed_where_the_client_runs(tmp_path, monkeypatch):
    """Workers started elsewhere have other working directories: they must write where the client reads."""
    monkeypatch.chdir(tmp_path)
    cache = ResultCache(".cache/daskparse", variant="v")
    assert cache.url == str(tmp_path / ".cache" / "daskparse")
    monkeypatch.chdir("/")
    assert pickle.loads(pickle.dumps(cache)).folder.startswith(str(tmp_path))
    assert ResultCache("memory://somewhere", variant="v").url == "memory://somewhere"
