"""Batch mode's parts without the API: the ledger beside the cache, how jobs are cut, the partition's batch path,
the batch price, the settings (end to end against the loopback Batch API: test_batch_run.py)."""

import logging

import pytest

from conftest import GEMINI_KEY, noise_jpeg
from daskparse.cache import ResultCache
from daskparse.batch import BatchLedger, JobRecord, LedgerItem, LedgerSource
from daskparse.extract.gemini_batch import REQUEST_OVERHEAD, BatchRequest, jobs
from daskparse.settings import SettingsError, load_settings
from daskparse.sources import expand_sources
from daskparse.tally import RunTally
from daskparse.usage import Usage
from daskparse.worker import process_partition


def _record(name="daskparse-a", job=None, keys=("k1",)):
    return JobRecord(display_name=name, job=job, model="gemini-2.5-flash", created=1.0,
                     items=[LedgerItem(key=key, phash=2**63 + 5, thumbnail=b"\x00\xffthumb",
                                       sources=[LedgerSource(source=f"/x/{key}.jpg", cleaned_url=f"file:///x/{key}")])
                            for key in keys])


@pytest.mark.parametrize("where", ["folder", "memory"])
def test_the_ledger_keeps_each_job_as_a_file_and_reads_it_back_whole(tmp_path, where):
    url = str(tmp_path / "cache") if where == "folder" else f"memory://ledger-{tmp_path.name}/cache"
    ledger = BatchLedger(url, "v1")
    assert ledger.records() == []  # no folder yet: nothing pending
    first, second = _record("daskparse-a", keys=("k1", "k2")), _record("daskparse-b", job="batches/9")
    ledger.save(first)
    ledger.save(second)
    records = ledger.records()
    assert records == [first, second]  # bytes and a 64-bit look-alike hash survive JSON
    assert records[0].urls() == {"file:///x/k1", "file:///x/k2"}
    first.job = "batches/1"
    ledger.save(first)  # named once created: the same file, replaced
    assert [record.job for record in ledger.records()] == ["batches/1", "batches/9"]
    ledger.drop(second)
    assert [record.display_name for record in ledger.records()] == ["daskparse-a"]
    assert BatchLedger(url, "another-variant").records() == []  # another model or prompt: other jobs


def test_an_unreadable_ledger_file_is_reported_and_left_alone(tmp_path, caplog):
    ledger = BatchLedger(str(tmp_path), "v1")
    ledger.save(_record())
    broken = tmp_path / "batches" / "v1" / "daskparse-broken.json"
    broken.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="daskparse"):
        assert [record.display_name for record in ledger.records()] == ["daskparse-a"]
    assert "daskparse-broken.json unreadable" in caplog.text and broken.exists()  # a paid job is never forgotten


def test_jobs_are_cut_by_their_size_and_a_large_image_still_goes_alone():
    small, large = BatchRequest("a", b"x" * 3000), BatchRequest("b", b"y" * 30_000)
    assert small.size == 4000 + REQUEST_OVERHEAD  # base64 grows by a third
    cut = list(jobs([small, small, large, small], max_bytes=2 * small.size))
    assert [len(job) for job in cut] == [2, 1, 1]
    assert list(jobs([], max_bytes=10)) == []


def test_a_batch_partition_prepares_its_images_and_sends_nothing(tmp_path):
    for seed, name in enumerate(("a", "b")):
        (tmp_path / f"{name}.jpg").write_bytes(noise_jpeg(seed=seed))  # not flat: flat images have no look-alike hash
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    sources, _ = expand_sources([str(tmp_path / "*.jpg")])
    # the base URL goes nowhere: a partition that tried to call Gemini would fail, not pass
    settings = load_settings(extractor="gemini", gemini_api_key=GEMINI_KEY, mode="batch",
                             cache=str(tmp_path / "cache"), gemini_base_url="http://127.0.0.1:9")
    cache = ResultCache(settings.cache, variant="v1test", extractor="gemini").load_index()
    result = process_partition(sources, settings, settings.run_reference_date(), cache)
    assert result.fatal is None
    assert sorted(item.source.source.rsplit("/", 1)[1] for item in result.prepared) == ["a.jpg", "b.jpg"]
    assert all(item.jpeg[:2] == b"\xff\xd8" and len(item.sha256) == 64 for item in result.prepared)
    # kept for the answer's cache entry, which a later run stores: the look-alike hash and thumbnail
    assert all(item.outcome.phash is not None and item.outcome.thumbnail for item in result.prepared)
    assert all(item.outcome.usage.requests == 0 for item in result.prepared)
    [bad] = result.outcomes  # the broken file is an error row now, as online
    assert bad.status == "error" and bad.error.stage == "decode"


def test_answers_of_batch_jobs_are_priced_at_the_batch_price():
    settings = load_settings(extractor="local")  # prices are the settings', whoever reads
    tally = RunTally(0, settings)
    online = Usage(requests=1, input_tokens=1_000_000)
    batched = Usage(requests=1, batch_requests=1, input_tokens=1_000_000, output_tokens=1_000_000)
    assert tally.cost(online) == pytest.approx(0.30)
    assert tally.cost(online + batched, batched) == pytest.approx(0.30 + (0.30 + 2.50) * 0.5)
    assert Usage.from_stats(batched.stats()) == batched  # stats.json and the cache spell it batchRequests


def test_batch_mode_needs_gemini():
    with pytest.raises(SettingsError, match="--mode batch sends images to Gemini's Batch API"):
        load_settings({}, flags={"mode": "--mode"}, mode="batch")
    assert load_settings({}, mode="batch", gemini_api_key=GEMINI_KEY, batch_poll="2m").batch_poll == 120.0
