"""daskparse.testing.html_flyers: the HTML/CSS flyer set's truth and determinism (pure, over seventy seeds), and its
render in Debian's headless Chromium: size, pixels, the fitting guard, the CLI's folder, nothing off the machine."""

import datetime as dt
import html
import io
import json
import re
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from daskparse.shows import FIELD_COLUMNS, KINDS, WEEKDAYS, ShowFields
from daskparse.testing import html_flyers
from daskparse.testing.html_flyers import (
    GROUPS,
    LAYOUTS,
    MIN_EXTRA_PX,
    HtmlPage,
    build_page,
    main,
    make_html_flyers,
    render_pages,
)

REFERENCE = dt.date(2026, 11, 29)
SEEDS = range(70)  # ten pages of each layout group: building is pure Python, milliseconds each
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@pytest.fixture(scope="module")
def pages() -> list[HtmlPage]:
    return [build_page(seed, reference_date=REFERENCE) for seed in SEEDS]


def page_text(markup: str) -> str:
    """What the page prints: tags (a <br> inside a title too) become spaces; case and spacing do not count."""
    markup = re.sub(r"<style.*?</style>", " ", markup, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return re.sub(r"\s+", " ", text).casefold()


def printed(value: str, text: str) -> bool:
    return re.sub(r"\s+", " ", value).casefold() in text


def check_show(show: dict) -> None:
    assert list(show) == [c for c in FIELD_COLUMNS if c != "date_note"]  # date_note: a run's remark
    ShowFields(**show)
    assert show["kind"] in KINDS and show["title"] and show["venue"]
    assert re.fullmatch(r"[A-Z]{2}", show["state"])
    assert show["zip"] is None or re.fullmatch(r"\d{5}", show["zip"])
    city_line = f"{show['city']}, {show['state']}" + (f" {show['zip']}" if show["zip"] else "")
    assert show["address"] == f"{show['street']}, {city_line}"
    assert HHMM.match(show["start_time"]) and (show["end_time"] is None or HHMM.match(show["end_time"]))
    if show["date"]:  # a dated show: its weekday, never before the reference date, no recurrence
        day = dt.date.fromisoformat(show["date"])
        assert REFERENCE <= day < REFERENCE + dt.timedelta(days=120)
        assert show["weekday"] == WEEKDAYS[day.weekday()] and show["recurrence"] is None
    else:  # a weekly show: a weekday, "weekly", no date
        assert show["weekday"] in WEEKDAYS and show["recurrence"] == "weekly"


def test_every_layout_group_comes_with_truth_in_the_products_format(pages):
    assert {page.layout for page in pages} == set(LAYOUTS)
    templates = defaultdict(set)
    for page in pages:
        templates[page.layout].add(page.template.split("+")[0])
        assert page.category == GROUPS[page.layout][0]
        assert page.subtype == (GROUPS[page.layout][1] or page.subtype) and page.subtype
        shows = page.shows
        for show in shows:
            check_show(show)
        dates = [show["date"] for show in shows]
        places = {show["venue"] for show in shows}
        if page.layout in ("single", "weekly"):
            assert len(shows) == 1 and (dates[0] is None) == (page.layout == "weekly")
        elif page.layout == "lineup":  # one venue, one row a night, one host (or none) for the week
            assert len(shows) >= 3 and len(places) == 1
            assert len({show["date"] or show["weekday"] for show in shows}) == len(shows)
            assert len({show["performer"] for show in shows}) == 1
            assert page.subtype == ("single_kind" if len({s["kind"] for s in shows}) == 1 else "mixed")
        elif page.layout == "tour":  # one show and host, each row its own venue and address
            assert len(shows) >= 3 and len(places) == len(shows)
            assert len({show["address"] for show in shows}) == len(shows)
            assert len({(show["title"], show["performer"]) for show in shows}) == 1 and shows[0]["performer"]
        elif page.layout == "series":  # one show per date
            assert len(shows) >= 2 and len(set(dates)) == len(shows) and None not in dates
            assert len({(show["title"], show["venue"], show["start_time"]) for show in shows}) == 1
        elif page.layout == "range":  # one show per day of the range, days in a row
            days = [dt.date.fromisoformat(d) for d in dates]
            assert len(days) >= 2 and all((b - a).days == 1 for a, b in zip(days, days[1:]))
        else:  # two shows, one venue, one night, two start times
            assert len(shows) == 2 and len(places) == 1
            assert len({show["date"] or show["weekday"] for show in shows}) == 1
            assert shows[0]["start_time"] < shows[1]["start_time"]
    assert all(len(designs) >= 2 for designs in templates.values()), templates  # no group in a single design


def test_the_truth_is_printed_on_the_page(pages):
    for page in pages:
        text = page_text(page.html)
        for show in page.shows:
            for key in ("title", "venue", "street", "city", "performer", "zip"):
                if show[key]:
                    assert printed(show[key], text), (page.seed, key, show[key])


def test_a_title_set_over_lines_is_whole_in_the_truth(pages):
    broken = 0
    for page in pages:
        nodes = [html.unescape(node).casefold() for node in re.findall(r">([^<]+)<", page.html)]
        for show in page.shows:
            title = show["title"].casefold()
            if not any(title in node for node in nodes):  # no one element holds it: it is set over lines
                broken += 1
                assert printed(show["title"], page_text(page.html))  # its parts, in order, one after another
    assert broken >= 10


def test_a_seed_decides_the_page():
    first, again = build_page(12, reference_date=REFERENCE), build_page(12, reference_date=REFERENCE)
    assert first.html == again.html and first.shows == again.shows and first.size == again.size
    assert build_page(19, reference_date=REFERENCE).html != first.html
    later = build_page(12, reference_date=REFERENCE + dt.timedelta(days=30))
    assert later.layout == first.layout and later.shows != first.shows  # dates follow the reference date


def test_pages_render_at_their_size_in_headless_chromium():
    lineup = build_page(2, reference_date=REFERENCE)
    tours = (build_page(seed, reference_date=REFERENCE) for seed in range(3, 700, len(LAYOUTS)))
    framed_tour = next(page for page in tours if page.template.endswith("+social"))  # a tour in a feed's post
    clean, photo = render_pages([lineup, framed_tour], photo={framed_tour.seed})
    for flyer, page in ((clean, lineup), (photo, framed_tour)):
        assert flyer.image.mode == "RGB" and flyer.image.size == page.size
        pixels = np.asarray(flyer.image, dtype=np.int32)
        packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        assert pixels.std() > 20 and len(np.unique(packed[::4, ::4])) > 50
        assert flyer.fit["fits"] and flyer.fit["minPx"] >= MIN_EXTRA_PX
        laid_out = " ".join(flyer.lines).casefold()
        for show in flyer.shows:
            assert show["venue"].casefold() in laid_out and show["street"].casefold() in laid_out
    assert not clean.photo and photo.photo and photo.name.endswith("-photo")
    assert any("likes" in line for line in photo.lines)  # the social frame's chrome is there too


def test_the_cli_writes_a_folder_like_flyers_dev(tmp_path, capsys):
    main(["--out", str(tmp_path), "--count", "3", "--seed", "5150", "--reference-date", "2026-11-29",
          "--photo-share", "0.34"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["count"] == 3 and figures["seconds_per_flyer"] > 0
    truth = json.loads((tmp_path / "truth.json").read_text())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["reference_date"] == "2026-11-29" and "--seed 5150" in (tmp_path / "README.md").read_text()
    assert sorted(truth) == sorted(manifest["images"]) == ["html_000.jpg", "html_001.jpg", "html_002.jpg"]
    assert sum(meta["photo_like"] for meta in manifest["images"].values()) == 1
    for name, meta in manifest["images"].items():
        image = Image.open(io.BytesIO((tmp_path / name).read_bytes()))
        assert image.format == "JPEG" and list(image.size) == meta["size"]
        assert meta["category"] == GROUPS[meta["layout"]][0] and meta["n_shows"] == len(truth[name]) >= 1
        assert truth[name] == build_page(meta["seed"], reference_date=REFERENCE).shows


def test_a_page_whose_facts_cannot_fit_is_refused():
    # One line that stays wider than the page at its smallest allowed size: shipping it would cut a fact off.
    body = ('<div class="box" style="width:100%;height:100%"><div data-fs="60" data-min="48" '
            'style="white-space:nowrap;font-size:60px">' + "Unreadably Long Venue Name " * 6 + "</div></div>")
    page = HtmlPage(1, "single", "single", "dated", "test", (1080, 1080), html_flyers._document(body, 1080, 1080), [])
    with pytest.raises(ValueError, match="does not fit"):
        render_pages([page])


def test_a_page_loads_nothing_from_the_network(image_server):
    # Loopback only (the project's rule); the page asks for an image, a stylesheet and a font, and gets none.
    image_server.add("/pixel.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    image_server.add("/style.css", b"body{background:red}", content_type="text/css")
    image_server.add("/font.woff2", b"wOF2", content_type="font/woff2")
    body = (f'<link rel="stylesheet" href="{image_server.url("/style.css")}">'
            f'<style>@font-face{{font-family:X;src:url({image_server.url("/font.woff2")})}}</style>'
            f'<div style="font-family:X;font-size:40px">Offline</div><img src="{image_server.url("/pixel.png")}">')
    page = HtmlPage(2, "single", "single", "dated", "test", (1080, 1080), html_flyers._document(body, 1080, 1080), [])
    (flyer,) = render_pages([page])
    assert sum(image_server.hits.values()) == 0
    assert flyer.lines == ["Offline"]


def test_a_missing_chromium_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(html_flyers, "CHROMIUM", str(tmp_path / "no-chromium-here"))
    with pytest.raises(RuntimeError, match="apt-get install -y --no-install-recommends chromium"):
        make_html_flyers([0], reference_date=REFERENCE)
