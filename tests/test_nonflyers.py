"""The negative set: images that are not flyers (receipts, menus, chats, memes, photos, ...)."""

import io
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from daskparse.extract.local import OCR_THREADS, ocr_lines
from daskparse.optimize import optimize_image
from daskparse.testing.nonflyers import KINDS, make_nonflyer

_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
WEEKDAY_OR_MONTH = re.compile(rf"(?i)\b({_DAYS}|{_MONTHS}|today|tonight|tomorrow|yesterday)\b")
TIME_OF_DAY = re.compile(r"(?i)\d\s*(am|pm|a\.m\.|p\.m\.)\b|\b\d{1,2}:\d\d\b|\bnoon\b|\bmidnight\b")


@pytest.fixture(scope="module")
def one_of_each():
    """Seeds 0-8: one image of every kind, clean."""
    return [make_nonflyer(seed) for seed in range(len(KINDS))]


def test_every_kind_in_turn_at_phone_photo_sizes(one_of_each):
    assert [n.kind for n in one_of_each] == list(KINDS)
    assert Counter(make_nonflyer(seed, kind=None).kind for seed in range(18, 27)) == Counter(KINDS)
    for n in one_of_each:
        assert n.image.mode == "RGB" and 1000 <= max(n.image.size) <= 2400 and min(n.image.size) >= 1000, n.kind
        assert bool(n.lines) == (n.kind != "photo"), n.kind


def test_same_seed_same_pixels_and_photo_variant_differs(one_of_each):
    for seed in (0, 3, 8):
        again = make_nonflyer(seed)
        assert again.lines == one_of_each[seed].lines
        assert np.array_equal(np.asarray(again.image), np.asarray(one_of_each[seed].image))
    photo = make_nonflyer(0, photo=True)
    assert photo.lines == one_of_each[0].lines and photo.image.size == one_of_each[0].image.size
    assert not np.array_equal(np.asarray(photo.image), np.asarray(one_of_each[0].image))
    assert np.array_equal(np.asarray(photo.image), np.asarray(make_nonflyer(0, photo=True).image))
    assert make_nonflyer(9).lines != one_of_each[0].lines  # another receipt, other wording


def test_kind_can_be_asked_for_and_is_checked():
    assert make_nonflyer(4, kind="menu").kind == "menu"
    with pytest.raises(ValueError):
        make_nonflyer(0, kind="flyer")


def test_hard_negatives_carry_the_words_a_flyer_parser_keys_on():
    """Receipts print a time of sale, hours signs weekdays and times, chats timestamps: what makes them hard."""
    for kind in ("receipt", "store_hours", "chat"):
        text = " ".join(line for seed in range(4) for line in make_nonflyer(seed, kind=kind).lines)
        assert TIME_OF_DAY.search(text), kind
    hours = " ".join(make_nonflyer(1, kind="store_hours").lines)
    assert WEEKDAY_OR_MONTH.search(hours)


def test_posters_name_no_date_weekday_or_time():
    for seed in range(30):
        poster = make_nonflyer(seed, kind="poster")
        text = " ".join(poster.lines)
        assert not WEEKDAY_OR_MONTH.search(text) and not TIME_OF_DAY.search(text), text


def _read(nonflyer):
    buffer = io.BytesIO()
    nonflyer.image.save(buffer, "JPEG", quality=90)
    return ocr_lines(optimize_image(buffer.getvalue()).jpeg)


def _words(texts):
    return Counter(w for t in texts for w in (re.sub(r"[^0-9a-z]", "", x.lower()) for x in t.split()) if w)


def test_text_is_legible_to_the_ocr_the_extractor_uses(one_of_each):
    """After optimize_image (as a user's image is), OCR reads most printed words of every kind with text,
    clean and photographed; a photo without text reads as nothing."""
    images = one_of_each + [make_nonflyer(0, photo=True)]
    with ThreadPoolExecutor(OCR_THREADS) as pool:
        readings = list(pool.map(_read, images))
    for image, lines in zip(images, readings):
        if image.kind == "photo":
            assert lines == [], [line.text for line in lines]
            continue
        want, have = _words(image.lines), _words(line.text for line in lines)
        recall = sum((want & have).values()) / sum(want.values())
        # Posters lose their sideways tear-off strips (the OCR reads upright text only).
        assert recall >= (0.75 if image.kind == "poster" else 0.9), (image.kind, recall)
