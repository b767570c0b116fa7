"""Accuracy of the offline extractor, every set side by side (issue 14; issue 6 before it).

``.venv/bin/python bench/run.py --only accuracy [--quick]``, or with this benchmark's own options
``.venv/bin/python bench/accuracy.py [--quick] [--dev-set PATH] [--dump PATH] [--out PATH]``.

1. Sets (SETS below: a list of named loaders; adding a set is one entry). Each image goes to the extractor
   as a user's would: its source JPEG through ``optimize_image``, then ``LocalExtractor.extract``.
   - ``flyers-dev``: the independent development set (default ``../shared/flyers-dev`` beside the repo;
     ``--dev-set PATH``), scored against its truth.json with its manifest's reference date; groups are the
     manifest's category and category/subtype, photo-like from the manifest. Skipped, with a note, when
     the folder is absent. 100 images (30 in --quick, spread over the groups).
   - ``held-out``: the project's own held-out flyers, ``make_flyer(held_out=True)`` from seeds 700000+
     (the samples use 2026000+, the tests < 2000), clean and photo-like; groups are the layouts.
     200 flyers, 400 images (12 flyers, 24 images in --quick).
   - ``wide-held-out``: the wide generator's held-out split (wide_flyer(held_out=True); seeds 720000+, which the
     reader was never developed on).
   - ``html``: flyers drawn another way entirely, HTML/CSS pages rendered by headless Chromium
     (daskparse.testing.html_flyers, seeds 515000+, never used in development); 70 flyers, 140 images
     (14 flyers in --quick). Skipped, with a note, without playwright and Debian's chromium.
   - ``non-flyers``: daskparse.testing.nonflyers (receipts, menus, chats, memes, photos, ...), clean and
     photographed, from seeds 900000+: the share of images that yield ANY show, per kind (target <= 5%).
     20 per kind, 360 images (3 per kind, 54 images in --quick).
   Flyer sets are scored with daskparse.testing.scoring, the product's definition (flyers-dev README,
   "Scoring"): Hungarian matching, micro-averaged field F1, show accuracy (venue, date or weekday, start
   time). Per set: all, clean, photo-like, and per group (each also clean and photo-like).
2. Seconds per image: optimize + OCR + parse on a pool of two caller threads (the machine's two cores; the
   extractor's OCR pool has one thread per core), wall time over the image count, per set and overall.
3. Addresses: the 687 tagged addresses of tests/data/us50_addresses_tagged.xml through
   ``daskparse.normalise.parse_address``, clean and with each kind of OCR noise; accuracy per component.
4. Optimizer (full run only): held-out flyers (20, clean and photo) prepared several ways (raw source,
   fit only, optimize_image with each contrast mode and a few unsharp radius/amount choices), measured by
   text recognition (printed characters and words OCR returns) and by the parsed fields. Each image is
   read twice there: ``ocr_lines`` for the text, the extractor for the shows.

``--dump PATH`` writes, per image, the OCR lines (a second OCR pass after the timed one), the predicted
shows, the truth and the printed lines where known, for debugging. Generated images live in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "us50_addresses_tagged.xml"
DEFAULT_DEV_SET = ROOT.parent / "shared" / "flyers-dev"
REFERENCE = dt.date(2026, 11, 1)  # the project's generated sets (held-out, non-flyers)
SEED_BASE = 700_000
NONFLYER_SEED_BASE = 900_000
HTML_SEED_BASE = 515_000  # HTML flyers: never used in development (which used seeds 5150+ and 7070+)
WIDE_SEED_BASE = 720_000  # the wide generator's held-out split (the tests use 880_000+, development 770_000+)
CALLER_THREADS = 2
SOURCE_QUALITY = 90  # a generated image saved as a phone or design tool would hand it over
# F1 columns of the table (all fields are in the JSON), in report order.
TABLE_FIELDS = ("title", "venue", "street", "date", "weekday", "start_time")
ADDRESS_PARTS = ("street", "city", "state", "zip")
# issue 14's targets.
TARGETS = {"dev_field_f1": 0.90, "dev_show_accuracy": 0.85, "dev_group_min": 0.75, "held_out_min": 0.95,
           "non_flyer_any_show_max": 0.05, "s_per_image_max": 0.6}


@dataclass(frozen=True)
class Options:
    quick: bool = False
    dev_set: Path = DEFAULT_DEV_SET
    dump: Optional[Path] = None


@dataclass
class Case:
    """One image of a set, as a user would hand it over, with what a careful reader finds on it."""

    name: str
    data: bytes  # the source image file
    truth: list[dict]  # [] for an image with no show (a non-flyer)
    group: str  # layout group (flyer sets) or kind (non-flyers)
    photo: bool
    reference: dt.date
    lines: list[str] = field(default_factory=list)  # printed text, when known (generated sets)
    labels: tuple[str, ...] = ()  # extra group labels (flyers-dev: category and category/subtype)


class Skip(Exception):
    """A set that cannot be measured on this machine; the message says why, in the JSON."""


# ------------------------------------------------------------------------------------------- sets


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=SOURCE_QUALITY)
    return buffer.getvalue()


def _spread(items: list, key: Callable, count: int) -> list:
    """``count`` items taken in turn from each key's group (sorted), so a small sample covers every group."""
    groups: dict = {}
    for item in sorted(items):
        groups.setdefault(key(item), []).append(item)
    queues = [groups[k] for k in sorted(groups)]
    picked = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def _dev_set(options: Options) -> list[Case]:
    folder = Path(options.dev_set)
    if not (folder / "truth.json").is_file() or not (folder / "manifest.json").is_file():
        raise Skip(f"no development set at {folder} (truth.json and manifest.json): give --dev-set PATH")
    truth = json.loads((folder / "truth.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    reference = dt.date.fromisoformat(manifest["reference_date"])
    images = manifest["images"]
    names = [n for n in truth if (folder / n).is_file()]
    if options.quick:
        names = _spread(names, lambda n: (images[n]["category"], images[n]["subtype"], images[n]["photo_like"]), 30)
    cases = []
    for name in sorted(names):
        meta = images[name]
        category, subtype = meta["category"], meta["subtype"]
        cases.append(Case(name, (folder / name).read_bytes(), truth[name], f"{category}/{subtype}",
                          bool(meta["photo_like"]), reference, labels=(category,)))
    return cases


def _generated(make: Callable, seeds: list[int]) -> list[Case]:
    """Cases from a generator ``make(seed, photo) -> Flyer``, clean and photo-like, in memory."""
    def one(job):
        seed, photo = job
        flyer = make(seed, photo)
        name = f"{seed}-{flyer.layout}{'-photo' if photo else ''}.jpg"
        return Case(name, _jpeg(flyer.image), flyer.shows, flyer.layout, photo, REFERENCE, flyer.lines)

    with ThreadPoolExecutor(CALLER_THREADS) as pool:
        return list(pool.map(one, [(seed, photo) for seed in seeds for photo in (False, True)]))


def _held_out(options: Options) -> list[Case]:
    from daskparse.testing.flyers import make_flyer

    seeds = list(range(SEED_BASE, SEED_BASE + (12 if options.quick else 200)))
    return _generated(lambda seed, photo: make_flyer(seed, reference_date=REFERENCE, photo=photo, held_out=True),
                      seeds)


def _wide_held_out(options: Options) -> list[Case]:
    """The wide generator's held-out split: wording, fonts, templates and a social frame no tuning flyer has."""
    from daskparse.testing.flyers import WIDE_LAYOUTS, wide_flyer

    seeds = list(range(WIDE_SEED_BASE, WIDE_SEED_BASE + (2 if options.quick else 10) * len(WIDE_LAYOUTS)))
    return _generated(lambda seed, photo: wide_flyer(seed, reference_date=REFERENCE, photo=photo, held_out=True,
                                                     layout=WIDE_LAYOUTS[seed % len(WIDE_LAYOUTS)]), seeds)


def _html_flyers(options: Options) -> list[Case]:
    """Flyers drawn another way entirely: HTML/CSS pages rendered by headless Chromium (one browser per batch)."""
    try:
        from daskparse.testing.html_flyers import make_html_flyers

        seeds = list(range(HTML_SEED_BASE, HTML_SEED_BASE + (14 if options.quick else 70)))
        cases = []
        for photo in (False, True):
            for flyer in make_html_flyers(seeds, reference_date=REFERENCE, photo=photo):
                name = f"{flyer.seed}-{flyer.layout}{'-photo' if photo else ''}.jpg"
                cases.append(Case(name, _jpeg(flyer.image), flyer.shows, flyer.layout, photo, REFERENCE, flyer.lines))
        return cases
    except RuntimeError as exc:  # no playwright or no chromium on this machine
        raise Skip(str(exc)) from exc


def _non_flyers(options: Options) -> list[Case]:
    from daskparse.testing.nonflyers import KINDS, make_nonflyer

    seeds = list(range(NONFLYER_SEED_BASE, NONFLYER_SEED_BASE + len(KINDS) * (3 if options.quick else 20)))

    def one(job):
        seed, photo = job
        image = make_nonflyer(seed, photo=photo)
        name = f"{seed}-{image.kind}{'-photo' if photo else ''}.jpg"
        return Case(name, _jpeg(image.image), [], image.kind, photo, REFERENCE, image.lines)

    with ThreadPoolExecutor(CALLER_THREADS) as pool:
        return list(pool.map(one, [(seed, photo) for seed in seeds for photo in (False, True)]))


@dataclass(frozen=True)
class SetSpec:
    name: str
    load: Callable[[Options], list[Case]]
    flyers: bool  # False: no image holds a show; the figure is the share of images that yield any
    about: str


SETS: list[SetSpec] = [
    SetSpec("flyers-dev", _dev_set, True, "independent development set (shared/flyers-dev) and its truth"),
    SetSpec("held-out", _held_out, True, "the project's held-out flyers: make_flyer(held_out=True)"),
    SetSpec("wide-held-out", _wide_held_out, True, "the wide generator's held-out split: wide_flyer(held_out=True)"),
    SetSpec("html", _html_flyers, True, "flyers drawn another way: HTML pages in headless Chromium (html_flyers)"),
    SetSpec("non-flyers", _non_flyers, False, "daskparse.testing.nonflyers: receipts, menus, chats, memes, ..."),
]


# ---------------------------------------------------------------------------------------- reading


@dataclass
class Reading:
    case: Case
    shows: list[dict]
    prepare_s: float
    extract_s: float
    error: Optional[str] = None


def read(case: Case, extractor, prepare: Optional[Callable[[bytes], bytes]] = None) -> Reading:
    """The image as a user's: prepared (optimize_image by default), then the extractor."""
    from daskparse.optimize import optimize_image

    started = time.perf_counter()
    try:
        jpeg = prepare(case.data) if prepare else optimize_image(case.data).jpeg
        prepared = time.perf_counter()
        shows = [show.model_dump() for show in extractor.shows(jpeg)]  # dates given their year, as a run does
    except Exception as exc:  # one image's failure is a result, not the end of the run
        now = time.perf_counter()
        return Reading(case, [], now - started, 0.0, f"{type(exc).__name__}: {exc}")
    return Reading(case, shows, prepared - started, time.perf_counter() - prepared)


def read_all(cases: list[Case], prepare: Optional[Callable[[bytes], bytes]] = None) -> tuple[list[Reading], float]:
    from daskparse.extract.local import LocalExtractor

    extractors = {reference: LocalExtractor(reference_date=reference) for reference in {c.reference for c in cases}}
    started = time.perf_counter()
    with ThreadPoolExecutor(CALLER_THREADS) as pool:
        readings = list(pool.map(lambda c: read(c, extractors[c.reference], prepare), cases))
    return readings, time.perf_counter() - started


# ---------------------------------------------------------------------------------------- scoring


def _labels(case: Case) -> list[str]:
    condition = "photo-like" if case.photo else "clean"
    labels = ["all", condition]
    for group in (*case.labels, case.group):
        labels += [group, f"{group} {condition}"]
    return labels


def _summary(report) -> dict:
    from daskparse.testing.scoring import SCORED_FIELDS

    return {
        "images": report.images,
        "shows": report.shows_expected,
        "shows_predicted": report.shows_predicted,
        "shows_right": report.shows_right,
        "field_f1": round(report.field_f1, 3),
        "show_accuracy": round(report.show_accuracy, 3),
        "images_with_shows": report.images_with_shows,
        "any_show_share": round(report.any_show_share, 3),
        "f1": {f: round(report.f1[f], 3) for f in SCORED_FIELDS},
        "precision": {f: round(report.precision[f], 3) for f in SCORED_FIELDS},
        "recall": {f: round(report.recall[f], 3) for f in SCORED_FIELDS},
    }


def score_set(readings: list[Reading]) -> dict[str, dict]:
    """Summaries per label: all, clean, photo-like, each group, each group clean / photo-like."""
    from daskparse.testing.scoring import score_groups

    predicted = {r.case.name: r.shows for r in readings}
    truth = {r.case.name: r.case.truth for r in readings}
    groups = {r.case.name: _labels(r.case) for r in readings}
    return {label: _summary(report) for label, report in score_groups(predicted, truth, groups).items()}


def _image_score(reading: Reading) -> dict:
    from daskparse.testing.scoring import score_image

    report = score_image(reading.shows, reading.case.truth)
    return {"field_f1": round(report.field_f1, 3), "shows_right": report.shows_right,
            "shows_expected": report.shows_expected, "shows_predicted": report.shows_predicted}


def _misses(readings: list[Reading], limit: int = 40) -> list[dict]:
    out = []
    for r in readings:
        scored = _image_score(r)
        if r.error or scored["shows_right"] < max(scored["shows_expected"], scored["shows_predicted"]) or \
                scored["field_f1"] < 1.0:
            out.append({"image": r.case.name, "group": r.case.group, "photo": r.case.photo, **scored,
                        "error": r.error, "truth": r.case.truth, "predicted": r.shows})
    return out[:limit]


def _seconds(readings: list[Reading], wall: float) -> dict:
    return {
        "images": len(readings),
        "wall_s": round(wall, 1),
        "s_per_image_2_threads": round(wall / max(len(readings), 1), 3),
        "optimize_ms_median": round(1000 * statistics.median(r.prepare_s for r in readings)) if readings else None,
        "extract_ms_median": round(1000 * statistics.median(r.extract_s for r in readings)) if readings else None,
    }


# ------------------------------------------------------------------------------------------- dump


def _reading_order(lines) -> list:
    """OCR lines top to bottom, left to right, after undoing the page's tilt (photos lean a few degrees)."""
    angles = [ln.angle for ln in lines if ln.box and (ln.box[2] - ln.box[0]) > 2 * (ln.box[3] - ln.box[1])]
    tilt = math.radians(statistics.median(angles)) if angles else 0.0

    def key(ln):
        cx, cy = (ln.box[0] + ln.box[2]) / 2, (ln.box[1] + ln.box[3]) / 2
        upright_y = -cx * math.sin(tilt) + cy * math.cos(tilt)
        return round(upright_y / 12), cx  # boxes within ~12 px count as one row

    return sorted(lines, key=key)


def ocr_texts(data: bytes, prepare: Optional[Callable[[bytes], bytes]] = None) -> list:
    """The OCR lines of an image prepared as the extractor's input (reading order)."""
    from daskparse.extract.local import ocr_lines
    from daskparse.optimize import optimize_image

    return _reading_order(ocr_lines(prepare(data) if prepare else optimize_image(data).jpeg))


def dump(path: Path, by_set: dict[str, list[Reading]]) -> int:
    """Write every image's OCR lines, predictions and truth to ``path`` (JSON); returns the image count."""
    records = []
    with ThreadPoolExecutor(CALLER_THREADS) as pool:
        for set_name, readings in by_set.items():
            texts = pool.map(lambda r: ocr_texts(r.case.data), readings)
            for r, lines in zip(readings, texts):
                records.append({
                    "set": set_name, "image": r.case.name, "group": r.case.group, "photo": r.case.photo,
                    "reference_date": r.case.reference.isoformat(), **_image_score(r), "error": r.error,
                    "ocr": [{"text": ln.text, "box": [round(v, 1) for v in ln.box],
                             "confidence": round(ln.confidence, 3)} for ln in lines],
                    "printed": r.case.lines, "truth": r.case.truth, "predicted": r.shows,
                })
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1) + "\n")
    return len(records)


# --------------------------------------------------------------------------------------- addresses


def address_accuracy() -> dict:
    """Component accuracy of parse_address on the tagged corpus, clean and with each kind of OCR noise."""
    from daskparse.normalise import parse_address
    from daskparse.testing.flyers import OCR_NOISE_KINDS, ocr_noise, tagged_addresses

    addresses = tagged_addresses(CORPUS)
    conditions = {"clean": ()} | {kind: (kind,) for kind in OCR_NOISE_KINDS} | {"all noise": OCR_NOISE_KINDS}
    out = {}
    for label, kinds in conditions.items():
        rng = np.random.default_rng(6)
        right, wrong = Counter(), []
        for address in addresses:
            text = ocr_noise(address.text, rng, kinds) if kinds else address.text
            parts = parse_address(text)
            hits = {p: getattr(parts, p) == getattr(address, p) for p in ADDRESS_PARTS}
            right.update(p for p, ok in hits.items() if ok)
            if not all(hits.values()):
                wrong.append({"text": text, "expected": [getattr(address, p) for p in ADDRESS_PARTS],
                              "got": [getattr(parts, p) for p in ADDRESS_PARTS]})
        out[label] = {
            "addresses": len(addresses),
            **{p: round(right[p] / len(addresses), 4) for p in ADDRESS_PARTS},
            "all_four": round(1 - len(wrong) / len(addresses), 4),
            "wrong_examples": wrong[:15],
        }
    return out


# --------------------------------------------------------------------------------------- optimizer


@contextlib.contextmanager
def _sharpening(radius: float, amount: float):
    """Run optimize_image with another unsharp radius/amount (module constants; restored afterwards)."""
    from daskparse import optimize

    saved = optimize._SHARPEN_RADIUS, optimize._SHARPEN_AMOUNT
    optimize._SHARPEN_RADIUS, optimize._SHARPEN_AMOUNT = radius, amount
    try:
        yield
    finally:
        optimize._SHARPEN_RADIUS, optimize._SHARPEN_AMOUNT = saved


def _fit_only(data: bytes) -> bytes:
    """What the optimizer does minus contrast and sharpening: fit in 1200x800 (long x short), JPEG 95."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    scale = min(1.0, 1200 / max(rgb.size), 800 / min(rgb.size))
    if scale < 1:
        rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _with(contrast: str) -> Callable[[bytes], bytes]:
    from daskparse.optimize import optimize_image

    return lambda data: optimize_image(data, contrast=contrast).jpeg


def _variants() -> list[tuple[str, Callable[[bytes], bytes], Optional[tuple[float, float]]]]:
    """(label, prepare, (unsharp radius, amount) or None for the defaults)."""
    from daskparse import optimize

    default = (optimize._SHARPEN_RADIUS, optimize._SHARPEN_AMOUNT)
    return [
        ("raw source JPEG", lambda data: data, None),
        ("fit 1200x800 only", _fit_only, None),
        (f"default: stretch, unsharp r{default[0]:g} a{default[1]:g}", _with("stretch"), None),
        ("stretch, no unsharp", _with("stretch"), (default[0], 0.0)),
        ("none, unsharp default", _with("none"), None),
        ("clahe, unsharp default", _with("clahe"), None),
        ("stretch, unsharp r1 a1", _with("stretch"), (1.0, 1.0)),
        ("stretch, unsharp r3 a1", _with("stretch"), (3.0, 1.0)),
        ("stretch, unsharp r1.5 a0.5", _with("stretch"), (1.5, 0.5)),
        ("stretch, unsharp r1.5 a2", _with("stretch"), (1.5, 2.0)),
    ]


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def text_recognition(pairs: list[tuple[list[str], list[str]]]) -> dict:
    """Characters: letters and digits of the printed lines found, in order, in what OCR read (spacing and
    punctuation ignored). Words: printed words OCR returned exactly (a dropped space loses both words).
    ``pairs``: (printed lines, OCR texts in reading order) per image."""
    chars_found = chars = words_found = words = 0
    for printed_lines, texts in pairs:
        printed = "".join(_alnum(line) for line in printed_lines)
        got = "".join(_alnum(t) for t in texts)
        chars += len(printed)
        chars_found += sum(b.size for b in SequenceMatcher(None, printed, got, autojunk=False).get_matching_blocks())
        want = Counter(w for line in printed_lines for w in map(_alnum, line.split()) if w)
        have = Counter(w for t in texts for w in map(_alnum, t.split()) if w)
        words += sum(want.values())
        words_found += sum((want & have).values())
    return {"char_recall": round(chars_found / max(chars, 1), 4), "word_recall": round(words_found / max(words, 1), 4)}


def optimizer_study(cases: list[Case]) -> list[dict]:
    from daskparse.testing.scoring import score

    rows = []
    for label, prepare, sharpen in _variants():
        with _sharpening(*sharpen) if sharpen else contextlib.nullcontext():
            readings, wall = read_all(cases, prepare)
            with ThreadPoolExecutor(CALLER_THREADS) as pool:
                texts = list(pool.map(lambda c: [ln.text for ln in ocr_texts(c.data, prepare)], cases))
        row = {"preparation": label}
        for subset, photo in (("clean", False), ("photo", True)):
            part = [(r, t) for r, t in zip(readings, texts) if r.case.photo == photo]
            recognised = text_recognition([(r.case.lines, t) for r, t in part])
            report = score({r.case.name: r.shows for r, _ in part}, {r.case.name: r.case.truth for r, _ in part})
            row[f"{subset}_chars"] = recognised["char_recall"]
            row[f"{subset}_words"] = recognised["word_recall"]
            row[f"{subset}_field_f1"] = round(report.field_f1, 3)
            row[f"{subset}_shows"] = round(report.show_accuracy, 3)
        row["prepare_ms"] = round(1000 * statistics.median(r.prepare_s for r in readings))
        row["extract_ms"] = round(1000 * statistics.median(r.extract_s for r in readings))
        row["s_per_image"] = round(wall / len(readings), 3)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- run


def _table_row(set_name: str, label: str, s: dict, flyers: bool) -> dict:
    row = {"set": set_name, "slice": label, "images": s["images"]}
    if flyers:
        row |= {"shows": s["shows"], "field_f1": s["field_f1"], "show_acc": s["show_accuracy"],
                **{f: s["f1"][f] for f in TABLE_FIELDS}}
    row["any_show"] = s["any_show_share"]
    return row


def _table_labels(cases: list[Case], results: dict[str, dict]) -> list[str]:
    """Rows the printed table shows (the JSON has every label): the set, clean, photo-like, then each
    group; clean and photo-like apart for the coarse groups (flyers-dev's categories; every other set's
    groups when it has no finer ones)."""
    coarse = sorted({label for c in cases for label in c.labels}) or sorted({c.group for c in cases})
    labels = ["all", "clean", "photo-like"]
    for group in sorted({c.group for c in cases} | set(coarse)):
        labels.append(group)
        if group in coarse:
            labels += [f"{group} clean", f"{group} photo-like"]
    return [label for label in labels if label in results]


def _targets(sets: dict[str, dict], seconds: dict) -> dict:
    out = {}
    dev = sets.get("flyers-dev", {}).get("scores")
    if dev:
        groups = {k: v for k, v in dev.items() if k not in ("all", "clean", "photo-like") and " " not in k}
        worst = min(groups.items(), key=lambda kv: kv[1]["show_accuracy"]) if groups else (None, None)
        worst_f1 = min(groups.items(), key=lambda kv: kv[1]["field_f1"]) if groups else (None, None)
        out["flyers-dev field F1 >= 0.90"] = {"measured": dev["all"]["field_f1"],
                                              "met": dev["all"]["field_f1"] >= TARGETS["dev_field_f1"]}
        out["flyers-dev show accuracy >= 0.85"] = {
            "measured": dev["all"]["show_accuracy"], "met": dev["all"]["show_accuracy"] >= TARGETS["dev_show_accuracy"]}
        if worst[0]:
            low = min(worst[1]["show_accuracy"], worst_f1[1]["field_f1"])
            out["flyers-dev no group below 0.75"] = {
                "measured": {"lowest show accuracy": [worst[0], worst[1]["show_accuracy"]],
                             "lowest field F1": [worst_f1[0], worst_f1[1]["field_f1"]]},
                "met": low >= TARGETS["dev_group_min"]}
    held = sets.get("held-out", {}).get("scores")
    if held:
        low = min(held["all"]["field_f1"], held["all"]["show_accuracy"])
        out["held-out field F1 and show accuracy >= 0.95"] = {
            "measured": [held["all"]["field_f1"], held["all"]["show_accuracy"]], "met": low >= TARGETS["held_out_min"]}
    negatives = sets.get("non-flyers", {}).get("scores")
    if negatives:
        share = negatives["all"]["any_show_share"]
        out["non-flyers with any show <= 5%"] = {"measured": share,
                                                 "met": share <= TARGETS["non_flyer_any_show_max"]}
    if seconds.get("images"):
        per = seconds["s_per_image_2_threads"]
        out["seconds per image <= 0.6 (2 cores)"] = {"measured": per, "met": per <= TARGETS["s_per_image_max"]}
    return out


def _set_note(name: str, scores: dict, flyers: bool) -> str:
    def part(label: str) -> str:
        got = scores.get(label)
        if not got:
            return f"{label} -"
        if flyers:
            return f"{label} {got['field_f1']:.3f} / {got['show_accuracy']:.3f}"
        return f"{label} {got['any_show_share']:.1%}"

    whole = scores["all"]
    if flyers:
        return (f"{name} (field F1 / show accuracy; {whole['images']} images, {whole['shows']} shows): "
                + ", ".join(part(label) for label in ("all", "clean", "photo-like")))
    return (f"{name}: {whole['images_with_shows']} of {whole['images']} images yield a show: "
            + ", ".join(part(label) for label in ("all", "clean", "photo-like")))


def run(quick: bool, dev_set: Optional[Path] = None, dump_path: Optional[Path] = None,
        only: Optional[set[str]] = None) -> dict:
    from daskparse.extract.local import get_engine

    options = Options(quick=quick, dev_set=Path(dev_set) if dev_set else DEFAULT_DEV_SET, dump=dump_path)
    addresses = address_accuracy()
    get_engine()  # load the OCR models before any timing
    sets: dict[str, dict] = {}
    readings_by_set: dict[str, list[Reading]] = {}
    rows, notes, walls = [], [], []
    for spec in SETS:
        if only and spec.name not in only:
            sets[spec.name] = {"about": spec.about, "skipped": "not asked for (--sets)"}
            continue
        started = time.perf_counter()
        try:
            cases = spec.load(options)
        except Skip as why:
            sets[spec.name] = {"about": spec.about, "skipped": str(why)}
            notes.append(f"{spec.name}: skipped: {why}")
            continue
        load_s = time.perf_counter() - started
        readings, wall = read_all(cases)
        readings_by_set[spec.name] = readings
        walls.append((len(readings), wall))
        scores = score_set(readings)
        errors = [{"image": r.case.name, "error": r.error} for r in readings if r.error]
        sets[spec.name] = {"about": spec.about, "flyers": spec.flyers, "load_s": round(load_s, 1),
                           "speed": _seconds(readings, wall), "errors": errors, "scores": scores}
        if spec.flyers:
            sets[spec.name]["misses"] = _misses(readings)
        else:
            sets[spec.name]["false_shows"] = [
                {"image": r.case.name, "kind": r.case.group, "photo": r.case.photo, "predicted": r.shows}
                for r in readings if r.shows][:40]
        rows += [_table_row(spec.name, label, scores[label], spec.flyers) for label in _table_labels(cases, scores)]

    images = sum(n for n, _ in walls)
    total_wall = sum(w for _, w in walls)
    seconds = {"images": images, "wall_s": round(total_wall, 1),
               "s_per_image_2_threads": round(total_wall / images, 3) if images else None}
    result: dict = {"rows": rows, "sets": sets, "speed": seconds}  # bench/run.py sets "seconds" (the whole run)
    result["targets"] = _targets(sets, seconds)
    for spec in SETS:
        if sets[spec.name].get("scores"):
            notes.append(_set_note(spec.name, sets[spec.name]["scores"], spec.flyers))
    notes.append(f"seconds per image (optimize + OCR + parse, {CALLER_THREADS} caller threads): {seconds}")
    notes += [f"target {name}: {'met' if t['met'] else 'NOT met'} ({t['measured']})"
              for name, t in result["targets"].items()]
    result["address_rows"] = [{"addresses": label, **{p: v[p] for p in ADDRESS_PARTS}, "all_four": v["all_four"]}
                              for label, v in addresses.items()]
    result["addresses"] = addresses
    notes.append(f"addresses (687 tagged): {result['address_rows']}")
    if not quick and "held-out" in readings_by_set:
        study_cases = [r.case for r in readings_by_set["held-out"]
                       if int(r.case.name.split("-")[0]) < SEED_BASE + 20]
        result["optimizer_rows"] = optimizer_study(study_cases)
        notes += ["optimizer study (20 held-out flyers): " + str(row) for row in result["optimizer_rows"]]
    if dump_path:
        count = dump(Path(dump_path), readings_by_set)
        notes.append(f"dumped OCR lines and predictions of {count} images to {dump_path}")
    result["notes"] = notes
    return result


def main(argv: Optional[list[str]] = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.run import format_table, machine_facts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets (a few minutes on 2 cores)")
    parser.add_argument("--dev-set", type=Path, default=DEFAULT_DEV_SET,
                        help=f"folder with the flyers, truth.json and manifest.json (default {DEFAULT_DEV_SET})")
    parser.add_argument("--dump", type=Path, help="write each image's OCR lines, predictions and truth (JSON)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-accuracy.json", help="JSON file to write")
    parser.add_argument("--sets", help="comma-separated set names to run (default: all of " +
                        ", ".join(spec.name for spec in SETS) + ")")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.quick, dev_set=args.dev_set, dump_path=args.dump,
                 only=set(args.sets.split(",")) if args.sets else None)
    result["seconds_total"] = round(time.perf_counter() - started, 1)
    print(format_table(result["rows"]))
    for note in result["notes"]:
        print(f"  {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_facts(), "quick": args.quick,
                                    "benchmarks": {"accuracy": result}}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
