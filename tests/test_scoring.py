from daskparse.testing.scoring import score

TRUTH = {
    "a.jpg": [
        {"venue": "The Anchor", "kind": "trivia", "weekday": "Monday", "start_time": "19:00", "city": "Austin"},
        {"venue": "The Anchor", "kind": "karaoke", "weekday": "Tuesday", "start_time": "21:00", "city": "Austin"},
    ]
}


def test_perfect_prediction_scores_one():
    report = score({"a.jpg": [dict(s) for s in reversed(TRUTH["a.jpg"])]}, TRUTH)
    assert report.f1["venue"] == 1.0 and report.f1["start_time"] == 1.0 and report.show_accuracy == 1.0


def test_missing_show_costs_recall_and_wrong_value_costs_both():
    predicted = {"a.jpg": [{"venue": "the  anchor", "kind": "trivia", "weekday": "Monday", "start_time": "20:00",
                            "city": "Austin"}]}
    report = score(predicted, TRUTH)
    assert report.recall["venue"] == 0.5 and report.precision["venue"] == 1.0  # case and spacing ignored
    assert report.precision["start_time"] == 0.0 and report.recall["start_time"] == 0.0
    assert report.show_accuracy == 0.0


def test_nothing_found_and_extra_shows():
    assert score({}, TRUTH).recall["kind"] == 0.0
    extra = {"a.jpg": TRUTH["a.jpg"] + [{"venue": "Elsewhere", "kind": "bingo"}]}
    report = score(extra, TRUTH)
    assert report.recall["kind"] == 1.0 and report.precision["kind"] == 2 / 3
    assert report.show_accuracy == 2 / 3
