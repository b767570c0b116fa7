"""The local extractor on the committed sample flyers, scored against data/truth.json.

Floors sit a little under what was measured (every key field right on all 36 flyers, clean and photo-like,
on 2026-11-29), so a parser or optimizer regression fails CI. bench/sample_run.py reports the figures.
"""

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from daskparse.extract.local import OCR_THREADS, LocalExtractor
from daskparse.optimize import optimize_image
from daskparse.testing.scoring import KEY_FIELDS, score

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
FLOORS = {False: {"show_accuracy": 0.95, "field_f1": 0.97}, True: {"show_accuracy": 0.90, "field_f1": 0.95}}


@pytest.fixture(scope="module")
def predictions():
    extractor = LocalExtractor(reference_date=dt.date.fromisoformat(TRUTH["reference_date"]))

    def read(name):
        return [show.model_dump() for show in extractor.shows(optimize_image((DATA / "flyers" / name).read_bytes()).jpeg)]

    with ThreadPoolExecutor(OCR_THREADS) as pool:  # as the pipeline does: every core's OCR thread busy
        return dict(zip(TRUTH["flyers"], pool.map(read, TRUTH["flyers"])))


@pytest.mark.parametrize("photo", [False, True], ids=["clean", "photo-like"])
def test_local_extractor_meets_its_floor_on_the_sample_flyers(predictions, photo):
    truth = {name: flyer["shows"] for name, flyer in TRUTH["flyers"].items() if flyer["photo"] == photo}
    report = score(predictions, truth, key_fields=KEY_FIELDS)  # floors set when a right show meant every key field right
    floor = FLOORS[photo]
    assert report.show_accuracy >= floor["show_accuracy"], report.as_dict()
    low = {field: round(report.f1[field], 3) for field in KEY_FIELDS if report.f1[field] < floor["field_f1"]}
    assert not low, low
