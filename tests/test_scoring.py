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


# --- the product's definition (shared/flyers-dev/README.md, "Scoring") ---------------------------------

from daskparse.testing.scoring import (  # noqa: E402
    F1_FIELDS, KEY_FIELDS, agrees, normalise_street, pair_shows, score_groups, show_right,
)


def _show(**fields):
    return {f: None for f in F1_FIELDS + ("recurrence",)} | fields


def test_hungarian_assignment_beats_greedy_pairing():
    # Greedy pairs p1 with t2 first (4 fields agree), which leaves p2 with t1 (nothing agrees): 4 right.
    # The optimal assignment pairs p1-t1 and p2-t2: 2 + 3 fields right.
    t1 = _show(venue="Oak Room", weekday="Monday", start_time="19:00", kind="trivia")
    t2 = _show(venue="Oak Room", weekday="Tuesday", start_time="20:00", kind="karaoke", city="Boise")
    p1 = _show(venue="Oak Room", weekday="Monday", start_time="20:00", kind="karaoke", city="Boise")
    p2 = _show(weekday="Tuesday", start_time="20:00", kind="karaoke")
    pairs = pair_shows([p1, p2], [t1, t2])
    assert (p1, t1) in pairs and (p2, t2) in pairs
    report = score({"x": [p1, p2]}, {"x": [t1, t2]})
    assert report.right["start_time"] == 1 and report.right["kind"] == 1 and report.right["weekday"] == 2
    assert sum(report.right[f] for f in F1_FIELDS) == 5


def test_usps_abbreviations_are_equal():
    assert normalise_street("41 East Oak Street") == normalise_street("41 E. Oak St") == "41 e oak st"
    assert agrees("street", "1200 North Lakeview Boulevard, Suite 4", "1200 N Lakeview Blvd Ste 4")
    assert agrees("street", "9 Southwest Pine Avenue", "9 SW Pine Ave")
    assert agrees("street", "300 Harbor Parkway", "300 Harbor Pkwy")
    assert not agrees("street", "41 East Oak Street", "41 West Oak Street")
    assert not agrees("street", "41 Oak Street", "14 Oak Street")


def test_streets_near_equal_only_in_the_name():
    assert agrees("street", "2207 Magnolia Avenue", "2207 Magnolla Ave")  # the name nearly, the rest exactly
    assert not agrees("street", "2207 Magnolia Avenue", "2207 Magnolia Street")
    assert not agrees("street", "2207 Magnolia Avenue", "2201 Magnolia Avenue")


def test_names_pass_when_nearly_equal_and_not_otherwise():
    assert agrees("venue", "The Rusty Lantern Taproom", "The Rusty Lantem Taproom")  # one OCR slip
    assert agrees("title", "Pub Trivia Night", "PUB TRIVIA NIGHT!")
    assert not agrees("title", "Trivia", "Trivla")  # on a short name one letter is too much
    assert not agrees("venue", "Lantern", "The Lantern Bar and Grill")  # a part is not the whole
    assert not agrees("city", "Springfeld", "Springfield")  # only names and streets are near-matched


def test_punctuation_case_and_ampersand_are_ignored():
    assert agrees("venue", "Mickey's Bar & Grill", "MICKEYS BAR AND GRILL")
    assert agrees("performer", "DJ K-Tone", "dj k tone")
    assert agrees("zip", "02903", " 02903 ")
    assert agrees("start_time", "19:00", "19:00") and not agrees("start_time", "19:00", "07:00")


def test_show_right_uses_date_or_weekday_when_undated():
    dated = _show(venue="Oak Room", date="2026-12-04", weekday="Friday", start_time="20:00")
    assert show_right(_show(venue="Oak Room", date="2026-12-04", start_time="20:00"), dated)
    assert not show_right(_show(venue="Oak Room", weekday="Friday", start_time="20:00"), dated)
    weekly = _show(venue="Oak Room", weekday="Friday", recurrence="weekly", start_time="20:00", kind="dj")
    assert show_right(_show(venue="oak room", weekday="Friday", start_time="20:00", kind="bingo"), weekly)
    # The stricter check the project's floors use: every key field, kind included.
    assert not show_right(_show(venue="oak room", weekday="Friday", start_time="20:00", kind="bingo"), weekly,
                          KEY_FIELDS)


def test_empty_prediction_and_empty_truth():
    truth = {"a": [_show(venue="Oak Room", weekday="Friday", start_time="20:00")], "b": []}
    report = score({}, truth)
    assert report.field_f1 == 0.0 and report.show_accuracy == 0.0 and report.shows_predicted == 0
    nothing = score({"b": []}, {"b": []})
    assert nothing.field_f1 == 1.0 and nothing.show_accuracy == 0.0 and nothing.any_show_share == 0.0
    # A non-flyer read as a show: every claimed value is wrong, and the image counts as one with shows.
    false_alarm = score({"b": [_show(title="TOTAL 41.95", start_time="15:44")]}, {"b": []})
    assert false_alarm.precision["start_time"] == 0.0 and false_alarm.field_f1 == 0.0
    assert false_alarm.any_show_share == 1.0 and false_alarm.shows_predicted == 1


def test_extra_predictions_lower_show_accuracy_and_precision():
    truth = [_show(venue="Oak Room", weekday="Friday", start_time="20:00", title="Quiz")]
    extra = [_show(venue="Elm Hall", weekday="Monday", start_time="18:00", title="Bingo") for _ in range(3)]
    report = score({"a": truth + extra}, {"a": truth})
    assert report.show_accuracy == 1 / 4 and report.shows_right == 1
    assert report.precision["venue"] == 1 / 4 and report.recall["venue"] == 1.0
    assert round(report.field_f1, 4) == round(2 * 4 / (16 + 4), 4)


def test_reports_per_group_add_up_to_the_whole():
    truth = {"a": [_show(venue="Oak Room", weekday="Friday", start_time="20:00")],
             "b": [_show(venue="Elm Hall", weekday="Monday", start_time="18:00")], "c": []}
    predicted = {"a": truth["a"], "c": [_show(venue="Shop")]}
    groups = score_groups(predicted, truth, {"a": ["single", "clean"], "b": ["single", "photo"], "c": "none"})
    assert list(groups) == ["clean", "none", "photo", "single"]
    assert groups["single"].show_accuracy == 0.5 and groups["clean"].show_accuracy == 1.0
    assert groups["none"].any_show_share == 1.0
    whole = score(predicted, truth)
    assert (groups["single"] + groups["none"]).as_dict() == whole.as_dict()
