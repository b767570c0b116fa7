import datetime as dt
import io
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from daskparse.dates import resolve_show
from daskparse.errors import SourceError
from daskparse.extract import Extraction, Extractor, local
from daskparse.extract.local import LocalExtractor, ocr_lines
from daskparse.optimize import optimize_image
from daskparse.testing.flyers import make_flyer

REFERENCE = dt.date(2026, 11, 1)


def flyer_jpeg(seed: int, *, family: str, photo: bool = False) -> tuple[bytes, list[dict]]:
    """A generated flyer as the optimizer hands it to extractors (fit inside 1200x800, sharpened JPEG)."""
    flyer = make_flyer(seed, reference_date=REFERENCE, family=family, photo=photo, size=(1500, 1000))
    buffer = io.BytesIO()
    flyer.image.save(buffer, "JPEG", quality=90)
    return optimize_image(buffer.getvalue()).jpeg, flyer.shows


def jpeg_of(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


KEY = ("venue", "street", "city", "state", "zip", "date", "weekday", "start_time", "kind")


@pytest.mark.parametrize("seed, family, photo", [(3, "single", False), (11, "lineup", False), (7, "single", True)])
def test_reads_shows_off_generated_flyers(seed, family, photo):
    jpeg, truth = flyer_jpeg(seed, family=family, photo=photo)
    extraction = LocalExtractor(reference_date=REFERENCE).extract(jpeg)
    assert isinstance(extraction, Extraction) and extraction.extractor == "local"
    # dates as printed; the run gives them their year (daskparse.dates)
    shows = [resolve_show(s.model_dump(), REFERENCE) for s in extraction.shows]
    assert [{k: s[k] for k in KEY} for s in shows] == [{k: t[k] for k in KEY} for t in truth]


def test_ocr_lines_have_text_boxes_and_confidences():
    jpeg, truth = flyer_jpeg(3, family="single")
    lines = ocr_lines(jpeg)
    width, height = Image.open(io.BytesIO(jpeg)).size
    assert len(lines) >= 4
    for line in lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= width + 1 and 0 <= y0 < y1 <= height + 1
        assert 0.5 <= line.confidence <= 1.0 and line.text.strip()
    assert any(truth[0]["venue"].lower() in line.text.lower() for line in lines)


@pytest.mark.parametrize("pixels", [
    np.random.default_rng(0).integers(0, 256, (600, 900, 3)),  # noise
    np.tile(np.linspace(0, 255, 900)[None, :, None], (600, 1, 3)),  # a plain gradient, like a sky
])
def test_image_without_a_flyer_gives_no_shows(pixels):
    assert LocalExtractor(reference_date=REFERENCE).extract(jpeg_of(pixels)).shows == []


def test_undecodable_bytes_are_a_source_error():
    with pytest.raises(SourceError) as info:
        LocalExtractor().extract(b"this is not a jpeg")
    assert info.value.kind == "extract.ocr_failed"


def test_extractor_protocol():
    extractor = LocalExtractor(REFERENCE)
    assert isinstance(extractor, Extractor) and extractor.name == "local"
    assert extractor.reference_date == REFERENCE


def test_threads_share_one_engine_and_get_the_same_answers():
    jpegs = [flyer_jpeg(seed, family="single")[0] for seed in (3, 4)]
    alone = [[(ln.text, ln.box) for ln in ocr_lines(j)] for j in jpegs]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda j: [(ln.text, ln.box) for ln in ocr_lines(j)], jpegs * 3))
    assert together == alone * 3
    assert local.engine_loads == 1


def test_engine_loads_once_per_process_offline():
    """In a fresh process: 8 threads ask for the engine at once, with every network connection refused."""
    script = textwrap.dedent("""
        import socket, threading
        def refuse(*args, **kwargs):
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse

        from daskparse.extract import local
        engines = []
        barrier = threading.Barrier(8)
        def grab():
            barrier.wait()
            engines.append(local.get_engine())
        threads = [threading.Thread(target=grab) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert len({id(e) for e in engines}) == 1, engines
        print(local.engine_loads)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
