"""End to end on the bundled sample flyers (offline extractor), as the README's first command runs it.

Measures the whole run (cluster start included) with the default 20-thread LocalCluster, beside a
baseline in the same process: the same stages called in a plain loop on one thread, no Dask. Also scores
the shows against data/truth.json (clean and photo-like apart), so speed and accuracy are read together.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def _score(shows, truth: dict) -> dict:
    from daskparse.shows import as_text
    from daskparse.testing.scoring import KEY_FIELDS, score

    predicted: dict[str, list[dict]] = {}
    for record in as_text(shows).to_dict("records"):  # typed dates and times back to the truth's text
        predicted.setdefault(Path(record["source"]).name, []).append(record)
    out = {}
    for label, photo in (("clean", False), ("photo", True)):
        subset = {name: flyer["shows"] for name, flyer in truth["flyers"].items() if flyer["photo"] == photo}
        report = score(predicted, subset, key_fields=KEY_FIELDS)  # as the floors in tests/test_sample_accuracy.py
        out[label] = {"flyers": len(subset), "show_accuracy": round(report.show_accuracy, 3),
                      **{f"f1_{f}": round(report.f1[f], 3) for f in KEY_FIELDS}}
    return out


def _serial_baseline(paths: list[Path], reference_date) -> float:
    """The same stages, one image after another on one thread: what the Dask wiring is compared with."""
    from daskparse.extract.local import LocalExtractor
    from daskparse.optimize import optimize_image

    extractor = LocalExtractor(reference_date=reference_date)
    extractor.extract(optimize_image(paths[0].read_bytes()).jpeg)  # load the OCR models outside the timing
    started = time.perf_counter()
    for path in paths:
        extractor.extract(optimize_image(path.read_bytes()).jpeg)
    return time.perf_counter() - started


def run(quick: bool) -> dict:
    import datetime as dt

    import daskparse

    truth = json.loads((DATA / "truth.json").read_text())
    reference_date = dt.date.fromisoformat(truth["reference_date"])
    paths = sorted((DATA / "flyers").iterdir())
    if quick:
        paths = paths[:12]
    started = time.perf_counter()
    result = daskparse.parse_images([str(p) for p in paths], extractor="local", reference_date=reference_date,
                                     use_cache=False)  # every image computed, as the serial baseline does
    wall = time.perf_counter() - started
    serial = _serial_baseline(paths, reference_date)
    rows = [
        {"run": "daskparse (LocalCluster 2x10)", "images": len(paths), "wall_s": round(wall, 2),
         "s_per_image": round(wall / len(paths), 3), "shows": len(result.shows), "errors": len(result.errors),
         "vs_serial": round(serial / wall, 2)},
        {"run": "serial loop, 1 thread (baseline)", "images": len(paths), "wall_s": round(serial, 2),
         "s_per_image": round(serial / len(paths), 3), "vs_serial": 1.0},
    ]
    accuracy = _score(result.shows, {"flyers": {p.name: truth["flyers"][p.name] for p in paths}})
    return {
        "rows": rows,
        "accuracy": accuracy,
        "stats": {k: v for k, v in result.stats.items() if k != "dashboard"},
        "notes": [
            "wall_s of daskparse includes starting and stopping the LocalCluster (2 worker processes, each "
            "loading the OCR models once); the serial baseline has its models loaded before timing.",
            "vs_serial > 1 means daskparse is faster than the one-thread loop.",
            f"accuracy (F1 of key fields, show accuracy): {json.dumps(accuracy)}",
        ],
    }
