"""The offline extractor: rapidocr reads the text lines, the layout-aware flyer reader turns them into shows.

The OCR engine (two ONNX models, slow to load) is built once per process, on first use, and shared by
every thread. It is pinned to the model files inside the rapidocr wheel, so it never looks for a
download. The engine runs only on a small pool of OCR threads owned by this module (one per core, each
onnxruntime run single-threaded); callers hand their image over and wait: faster and leaner than the
callers running the engine themselves behind a lock or a semaphore (BENCHMARKS.md, "Figures that were in
docstrings"). onnxruntime sessions are safe to run from several threads at once; what costs is that every
calling thread gets its own malloc arena for the model's large temporary buffers, and that intra-op threads
wait on each other.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from daskparse.errors import SourceError
from daskparse.extract import Extraction
from daskparse.extract.flyer_text import TextLine, parse_flyer, read_flyer
from daskparse.shows import ShowFields

# onnxruntime 1.32's Linux wheels start Microsoft's 1DS telemetry on import: a device id under ~/.cache, a
# session file in the temp folder, and an upload to mobile.events.data.microsoft.com (seen with strace). Off
# unless the user says otherwise; set before this module first imports rapidocr (and with it onnxruntime).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Bump when the OCR settings, flyer grammar or normaliser change what a flyer reads as: cached results of
# the old version are then recomputed (daskparse.cache keys results by it).
PARSER_VERSION = "3"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# OCR threads per process: one per core, at most 4 (each run is single-threaded inside onnxruntime).
OCR_THREADS = max(1, min(4, _cores()))
# Lines OCR reads with less confidence than this are dropped (rapidocr's own default is 0.5).
MIN_CONFIDENCE = 0.5
# rapidocr settings (dotted keys of its config.yaml) on top of its defaults.
OCR_PARAMS = {
    "Global.log_level": "error",
    # Flyers are upright or tilted a few degrees: the 180-degree classifier costs time, finds nothing.
    "Global.use_cls": False,
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    # Detect text on a copy whose long side is 736 px (rapidocr's default keeps the short side >= 736,
    # i.e. all of a 1200x800 image); recognition still reads crops of the full image. On 234 generated
    # flyers (0.8 s instead of 1.2 s per image alone) this found every show the full-size pass found,
    # and glued fewer words together.
    "Det.limit_type": "max",
    "Det.limit_side_len": 736,
}

_engine = None
_pool: Optional[ThreadPoolExecutor] = None
_engine_lock = threading.Lock()  # guards building the engine and its pool
engine_loads = 0  # how many engines this process built (1 after first use): tests check it


def _model_paths() -> dict[str, str]:
    """The default models bundled in the rapidocr wheel, as explicit paths (no download lookup)."""
    import rapidocr

    models = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {}
    for task, pattern in {"Det": "*det*.onnx", "Cls": "*cls*.onnx", "Rec": "*rec*.onnx"}.items():
        found = sorted(models.glob(pattern))
        if not found:
            raise RuntimeError(f"rapidocr's bundled {task} model is missing from {models}")
        paths[f"{task}.model_path"] = str(found[-1])
    return paths


def _build_engine():
    from rapidocr import RapidOCR

    engine = RapidOCR(params={**OCR_PARAMS, **_model_paths()})
    # rapidocr loads each model on its first call: do that now, once, rather than in a worker's first task.
    probe = Image.new("RGB", (240, 64), "white")
    ImageDraw.Draw(probe).text((12, 12), "Trivia 7PM", fill="black", font=ImageFont.load_default(32))
    engine(np.asarray(probe))
    return engine


def get_engine():
    """The process-wide OCR engine, built on first use (thread-safe)."""
    global _engine, _pool, engine_loads
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                engine = _build_engine()
                _pool = ThreadPoolExecutor(OCR_THREADS, thread_name_prefix="daskparse-ocr")
                _engine = engine
                engine_loads += 1
    return _engine


def _decode(jpeg: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            return np.asarray(img.convert("RGB"))[:, :, ::-1].copy()  # rapidocr wants BGR, as OpenCV
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SourceError("extract.ocr_failed", f"cannot decode the image for OCR: {exc}") from exc


def _line(box, text: str, score: float) -> TextLine:
    points = np.asarray(box, dtype=float).reshape(-1, 2)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    # Baseline angle from the box's top edge (points come clockwise from the top-left).
    (tx0, ty0), (tx1, ty1) = points[0], points[1]
    angle = math.degrees(math.atan2(ty1 - ty0, tx1 - tx0)) if tx1 != tx0 else 0.0
    return TextLine(text=str(text), box=(float(x0), float(y0), float(x1), float(y1)),
                    confidence=float(score), angle=angle)


def ocr_lines(jpeg: bytes) -> list[TextLine]:
    """Text lines OCR finds in the image, with boxes and confidences ([] for an image without text)."""
    pixels = _decode(jpeg)
    engine = get_engine()
    assert _pool is not None  # started with the engine
    try:
        result = _pool.submit(engine, pixels).result()
    except Exception as exc:  # onnxruntime and OpenCV raise many types; all mean this image failed
        raise SourceError("extract.ocr_failed", f"{type(exc).__name__}: {exc}") from exc
    boxes, texts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
    if boxes is None or texts is None or scores is None:
        return []
    return [_line(box, text, score) for box, text, score in zip(boxes, texts, scores)
            if score >= MIN_CONFIDENCE and str(text).strip()]


class LocalExtractor:
    """Extractor that runs offline: OCR, then the flyer grammar. Thread-safe; cheap to construct."""

    name = "local"

    def __init__(self, reference_date: Optional[dt.date] = None):
        # None: the day the flyer is read, so "Dec 4" means the next Dec 4 from today.
        self.reference_date = reference_date

    def shows(self, jpeg: bytes) -> list[ShowFields]:
        """The shows on the flyer ([] when OCR finds none), dates given their year against the reference date."""
        return parse_flyer(ocr_lines(jpeg), reference_date=self._reference())

    def extract(self, jpeg: bytes) -> Extraction:
        """The shows with their dates as printed (a run gives the year after the cache: daskparse.dates)."""
        return Extraction(read_flyer(ocr_lines(jpeg), reference_date=self._reference()), self.name)

    def _reference(self) -> dt.date:
        return self.reference_date or dt.date.today()
