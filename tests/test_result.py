import pandas as pd

from daskparse.result import ParseResult


def test_the_summary_counts_in_words_that_agree_with_the_number():
    """Issue 15: a one-image run printed "1 images: ... 1 errors; 1 shows"."""
    empty = pd.DataFrame()
    one = ParseResult(empty, empty, empty, {"totalImages": 1, "imagesWithShows": 1, "imagesWithoutShows": 0,
                                            "errors": 1, "shows": 1, "wallSeconds": 2.0, "averageTimePerImage": 900,
                                            "extractor": "local"})
    assert one.summary().startswith("1 image: 1 with shows, 0 without, 1 error; 1 show in 2.0 s")
    many = ParseResult(empty, empty, empty, {"totalImages": 3, "errors": 0, "shows": 2})
    assert many.summary().startswith("3 images: 0 with shows, 0 without, 0 errors; 2 shows in")
