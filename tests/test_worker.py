"""The worker side without a cluster: one source through every stage, and the partition task (daskparse.worker)."""

import threading
from pathlib import Path

import pytest

from daskparse.cache import ResultCache
from daskparse.extract.local import LocalExtractor
from daskparse.optimize import optimize_image
from daskparse.settings import load_settings
from daskparse.sources import expand_sources
from daskparse.worker import process_partition, process_source
from conftest import GEMINI_KEY

FLYER = Path(__file__).parent.parent / "data" / "flyers" / "000-single-centered-photo.jpg"


def _sources(*paths):
    sources, errors = expand_sources([str(path) for path in paths])
    assert not errors
    return sources


@pytest.fixture(scope="module")
def read_once(tmp_path_factory):
    """A flyer and a file gone before its turn, through one partition with a cache (the OCR runs once here)."""
    folder = tmp_path_factory.mktemp("worker")
    settings = load_settings(extractor="local", cache=str(folder / "cache"))
    cache = ResultCache(settings.cache, variant="v1test", extractor="local").load_index()
    gone = folder / "gone.jpg"
    gone.write_bytes(FLYER.read_bytes())
    sources = _sources(FLYER, gone)
    gone.unlink()  # listed, then gone before its turn
    return settings, cache, process_partition(sources, settings, settings.run_reference_date(), cache)


def test_a_partition_stores_its_thumbnails_in_the_cache_and_does_not_send_them_back(read_once):
    settings, cache, result = read_once
    assert result.fatal is None and not result.not_reached
    flyer, missing = result.outcomes
    assert flyer.status == "shows" and flyer.seconds.keys() >= {"fetch", "optimize", "extract"}
    assert flyer.thumbnail is None and flyer.phash is not None  # the thumbnail stayed with the cache
    assert missing.status == "error" and missing.error is not None and missing.error.stage == "fetch"
    again = optimize_image(FLYER.read_bytes())
    hit = ResultCache(settings.cache, variant="v1test").load_index().lookup_phash(again.phash, again.jpeg)
    assert hit is not None and hit.matched_source == flyer.source  # found through the stored thumbnail


def test_a_cached_image_is_served_with_the_time_it_took_to_find(read_once, tmp_path):
    settings, cache, result = read_once
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(FLYER.read_bytes())
    served = process_source(_sources(copy)[0], settings, LocalExtractor(), cache.load_index())
    assert served.cache is not None and served.cache.level == "sha256" and served.cache.saved_call
    assert served.shows == [{**show, "source": str(copy), "cleaned_url": served.cleaned_url}
                            for show in result.outcomes[0].shows]
    assert set(served.seconds) == {"fetch", "cache"} and served.usage.requests == 0


def test_a_partition_of_a_stopping_run_does_nothing_and_says_so(tmp_path):
    settings = load_settings(extractor="local", cache=str(tmp_path / "cache"))
    cache = ResultCache(settings.cache, variant="v1test").load_index()
    stop = threading.Event()
    stop.set()
    result = process_partition(_sources(FLYER), settings, settings.run_reference_date(), cache, stop)
    assert result.not_reached and result.outcomes == [] and result.fatal is None
    assert len(cache.load_index()) == 0


def test_a_refused_key_ends_the_partition_with_why_rather_than_an_error_per_image(gemini_server):
    settings = load_settings(extractor="gemini", gemini_api_key=GEMINI_KEY[:-1] + "X",
                             gemini_base_url=gemini_server.base_url, gemini_api_version="v1beta", timeout=10)
    result = process_partition(_sources(FLYER, FLYER.with_name("001-single-left.jpg")), settings,
                               settings.run_reference_date())
    assert result.fatal is not None and "GEMINI_API_KEY" in result.fatal
    # no error row per image; the second call may have left before the first was refused (a partition's calls
    # overlap), none after it: the extractor remembers the refusal
    assert result.outcomes == [] and gemini_server.count(":generateContent") <= 2


class _Answers:
    """A stand-in for the Gemini extractor (``WorkerResources``' build factory): no network, so a test can hold a
    call back or count them. Each call answers "not a flyer" after ``hold(index)`` returns."""

    name = "gemini"

    def __init__(self, hold=lambda index: None):
        self.hold, self.calls, self.lock = hold, 0, threading.Lock()

    def extract(self, jpeg):
        from daskparse.extract import Extraction
        from daskparse.usage import Usage

        with self.lock:
            index, self.calls = self.calls, self.calls + 1
        self.hold(index)
        return Extraction([], "gemini", Usage(requests=1))


@pytest.fixture
def answers(monkeypatch):
    """Install an ``_Answers`` maker as this process's worker resources (``WorkerResources.here()`` outside a
    worker); the test sets ``box["answers"]`` before its partition runs."""
    from daskparse import worker_resources

    box = {}
    monkeypatch.setattr(worker_resources, "_process_resources",
                        worker_resources.WorkerResources(gate=lambda settings: None,
                                                         build=lambda settings, day, gate: box["answers"]))
    return box


FLYERS = sorted((Path(__file__).parent.parent / "data" / "flyers").glob("00[0-4]-*.jpg"))


def _gemini_settings(tmp_path):
    return load_settings(extractor="gemini", gemini_api_key=GEMINI_KEY, cache=str(tmp_path / "cache"))


def test_a_gemini_partitions_calls_overlap_instead_of_waiting_one_by_one(answers, tmp_path):
    """Three images, each call held until all three are out at once: done one by one, the barrier breaks."""
    barrier = threading.Barrier(3, timeout=20)
    answers["answers"] = _Answers(hold=lambda index: barrier.wait())
    settings = _gemini_settings(tmp_path)
    result = process_partition(_sources(*FLYERS[:3]), settings, settings.run_reference_date())
    assert [outcome.status for outcome in result.outcomes] == ["no_shows"] * 3, [o.error for o in result.outcomes]
    assert [outcome.source for outcome in result.outcomes] == [str(path) for path in FLYERS[:3]]  # in order


def test_a_gemini_partition_stores_each_answer_as_it_comes_not_when_its_slowest_call_ends(answers, tmp_path):
    released = threading.Event()
    answers["answers"] = _Answers(hold=lambda index: index == 0 and released.wait(30))  # the first call hangs
    settings = _gemini_settings(tmp_path)
    cache = ResultCache(settings.cache, variant="v1test", extractor="gemini").load_index()
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=process_partition(
        _sources(*FLYERS[:3]), settings, settings.run_reference_date(), cache)))
    thread.start()
    try:
        stored = []
        for _ in range(400):  # the two answers that came are stored while the first call still hangs
            stored = list(Path(settings.cache).rglob("*.parquet"))
            if len(stored) == 2:
                break
            threading.Event().wait(0.05)
        assert len(stored) == 2 and thread.is_alive()
    finally:
        released.set()
        thread.join(30)
    assert [outcome.status for outcome in box["result"].outcomes] == ["no_shows"] * 3
    assert len(list(Path(settings.cache).rglob("*.parquet"))) == 3


def test_a_gemini_partition_run_again_pays_only_for_the_answers_not_stored(answers, tmp_path):
    """Its worker died after two of three answers were stored: the partition runs again and calls once."""
    settings = _gemini_settings(tmp_path)
    cache = ResultCache(settings.cache, variant="v1test", extractor="gemini").load_index()
    first, second, third = _sources(*FLYERS[:3])
    answers["answers"] = _Answers()
    process_partition([first, third], settings, settings.run_reference_date(), cache)  # stored one by one
    answers["answers"] = again = _Answers()
    result = process_partition([first, second, third], settings, settings.run_reference_date(), cache,
                               run_id="the task again")  # its own extractor: this one counts its calls
    assert again.calls == 1  # the second image only
    assert [outcome.source for outcome in result.outcomes] == [first.source, second.source, third.source]
    assert [outcome.status for outcome in result.outcomes] == ["no_shows"] * 3
    # served as computed by this run (its calls were paid once, by the run that stored them)
    assert result.outcomes[0].cache is None and result.outcomes[0].usage.requests == 1
