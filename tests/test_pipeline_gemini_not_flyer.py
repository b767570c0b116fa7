"""A whole run with the Gemini extractor where some images are not flyers (issue 14): the model's verdict
"not a flyer" ends as outcome "no_shows", not an error, through worker processes, the real google-genai client
and the loopback server."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import daskparse
from daskparse.optimize import optimize_image
from conftest import GEMINI_KEY, cluster_client

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
FLYER = str(DATA / "flyers" / sorted(TRUTH["flyers"])[0])


def optimized_sha(path) -> str:
    return hashlib.sha256(optimize_image(Path(path).read_bytes()).jpeg).hexdigest()


def receipt_jpeg(path: Path) -> str:
    """A till receipt: lines of items, prices and a time, which a careless reader takes for a show."""
    image = Image.new("RGB", (420, 760), (250, 250, 244))
    draw = ImageDraw.Draw(image)
    lines = ["CORNER GROCERY #12", "Tel 555-0100", "", "MILK 2L          3.49", "BREAD            2.99",
             "APPLES 1KG       4.10", "", "TOTAL           10.58", "CARD ****4242", "", "2026-11-20  15:44",
             "Thank you, come again"]
    for row, line in enumerate(lines):
        draw.text((30, 40 + 50 * row), line, fill=(30, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return str(path)


@pytest.fixture(scope="module")
def client():
    with cluster_client(workers=1, threads=2) as client:
        yield client


def test_non_flyers_end_as_no_shows_and_a_flyer_keeps_its_shows(gemini_server, client, tmp_path):
    receipt = receipt_jpeg(tmp_path / "receipt.jpg")
    blank = tmp_path / "wall.jpg"
    Image.new("RGB", (640, 480), (90, 120, 150)).save(blank, "JPEG", quality=90)
    # What a model does with a receipt when it may say so: not a flyer, with a stray "show" from the till line.
    gemini_server.set_answer(optimized_sha(receipt), {
        "is_flyer": False, "not_flyer_reason": "a shop receipt",
        "shows": [{"title": "TOTAL 10.58", "venue": "CORNER GROCERY #12", "date": "2026-11-20",
                   "start_time": "15:44"}]})
    gemini_server.set_not_flyer(optimized_sha(blank), "a photo without text")
    result = daskparse.parse_images([FLYER, receipt, str(blank)], extractor="gemini", client=client,
                                    gemini_api_key=GEMINI_KEY, gemini_base_url=gemini_server.base_url,
                                    gemini_api_version="v1beta", timeout=10,
                                    reference_date=TRUTH["reference_date"])
    status = dict(zip(result.outcomes["source"], result.outcomes["status"]))
    counts = dict(zip(result.outcomes["source"], result.outcomes["shows"]))
    assert status == {FLYER: "shows", receipt: "no_shows", str(blank): "no_shows"}
    assert counts[receipt] == counts[str(blank)] == 0 and counts[FLYER] > 0
    assert result.errors.empty and set(result.shows["source"]) == {FLYER}
    assert result.stats["requests"] == gemini_server.count(":generateContent") == 3  # each asked once
    schemas = [r.body["generationConfig"]["responseSchema"] for r in gemini_server.requests
               if r.path.split("?")[0].endswith(":generateContent")]
    assert all("is_flyer" in schema["required"] for schema in schemas)
