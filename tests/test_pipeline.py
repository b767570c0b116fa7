"""End to end through a real LocalCluster (worker processes), images served by a real HTTP server on 127.0.0.1."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import daskparse
from conftest import cluster_client, noise_jpeg
from daskparse.pipeline import partition_size
from daskparse.output import SIGHTING_COLUMNS, VIEW_COLUMNS, VIEW_SCHEMA
from daskparse.shows import SHOW_COLUMNS, SHOW_DTYPES

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
REFERENCE_DATE = TRUTH["reference_date"]


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


def _clean_flyers(count):
    names = [name for name, flyer in sorted(TRUTH["flyers"].items()) if not flyer["photo"]]
    return names[:count]


@pytest.fixture(scope="module")
def mixed_run(client):
    """Sample flyers over http, plus every kind of bad input, in one run."""
    from daskparse.testing.image_server import ImageServer

    with ImageServer() as server:
        names = _clean_flyers(6)
        good = [server.add(f"/flyers/{name}", (DATA / "flyers" / name).read_bytes()) for name in names]
        jpeg = (DATA / "flyers" / names[0]).read_bytes()
        bad = {
            server.url("/missing.jpg"): "fetch.not_found",
            server.add("/page.jpg", b"<html><body>Log in to see this photo</body></html>"): "decode.not_an_image",
            server.add("/truncated.jpg", jpeg[: len(jpeg) // 3]): "decode.corrupt",
            server.url("/loop"): "fetch.too_many_redirects",
            "ftp://example.invalid/flyer.jpg": "inputs.unsupported_scheme",
            "/no/such/dir/flyer.jpg": "inputs.not_found",
        }
        blank = server.add("/noise.jpg", noise_jpeg(600, 400))
        # a re-signed duplicate of the first flyer: a distinct source, processed on its own
        resigned = good[0] + "?oh=abc&oe=123"
        sources = good + list(bad) + [blank, resigned, good[1]]  # good[1] twice: an exact duplicate
        messages = []
        result = daskparse.parse_images(
            sources, extractor="local", client=client, log=lambda m, level: messages.append((level, m)),
            reference_date=REFERENCE_DATE,
        )
        yield dict(result=result, good=good, names=names, bad=bad, blank=blank, resigned=resigned,
                   messages=messages, hits=dict(server.hits))


def test_every_distinct_source_ends_exactly_once(mixed_run):
    result, good, bad = mixed_run["result"], mixed_run["good"], mixed_run["bad"]
    distinct = set(good) | set(bad) | {mixed_run["blank"], mixed_run["resigned"]}
    assert sorted(result.outcomes["source"]) == sorted(distinct)
    had_shows = set(result.shows["source"])
    errored = set(result.errors["source"])
    no_shows = set(result.outcomes.loc[result.outcomes["status"] == "no_shows", "source"])
    assert had_shows | errored | no_shows == distinct
    assert not (had_shows & errored) and not (had_shows & no_shows) and not (errored & no_shows)
    assert result.stats["totalImages"] == len(distinct)
    assert result.stats["imagesWithShows"] + result.stats["imagesWithoutShows"] + result.stats["errors"] == len(distinct)


def test_bad_inputs_become_error_rows_with_stable_kinds(mixed_run):
    errors = mixed_run["result"].errors.set_index("source")
    assert errors["kind"].to_dict() == mixed_run["bad"]
    assert list(mixed_run["result"].errors.columns) == ["source", "cleaned_url", "stage", "kind", "message"]
    assert all(errors["message"].str.len() > 0)
    assert mixed_run["result"].stats["errorKinds"]["fetch.not_found"] == 1
    warnings = [m for level, m in mixed_run["messages"] if level == "WARNING"]
    assert any("fetch.not_found" in m for m in warnings)


def test_shows_come_from_the_flyers_with_provenance(mixed_run):
    result = mixed_run["result"]
    shows = result.shows
    assert list(shows.columns) == SHOW_COLUMNS
    assert dict(shows.dtypes) == SHOW_DTYPES  # dates and times typed, the rest strings
    assert set(mixed_run["good"]) <= set(shows["source"])  # every clean sample flyer gave shows
    assert mixed_run["blank"] not in set(shows["source"])
    assert (shows["extractor"] == "local").all()
    assert shows["image_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    resigned = shows[shows["source"] == mixed_run["resigned"]]
    assert (resigned["cleaned_url"] == mixed_run["good"][0]).all()
    # each image was downloaded once per distinct source: the exact duplicate was dropped
    assert mixed_run["hits"][f"/flyers/{mixed_run['names'][1]}"] == 1


def test_stats_and_log(mixed_run):
    stats = mixed_run["result"].stats
    assert stats["shows"] == len(mixed_run["result"].shows) > 0
    computed = sum(1 for s in mixed_run["result"].outcomes["status"] if s != "error") or 1
    # the wall per image, at most; both figures are rounded (0.1 ms and 1 ms), so allow the rounding:
    # CI once read 1248.4 against 9.987 s / 8 = 1248.375
    assert 0 < stats["averageTimePerImage"] <= 1000 * (stats["wallSeconds"] + 0.0005) / computed + 0.05
    assert set(stats["stageSeconds"]) == {"cache", "fetch", "optimize", "extract"}
    assert stats["cacheHits"] == 0 and stats["cacheHitsByLevel"] == {"url": 0, "sha256": 0, "phash": 0}
    assert any(level == "INFO" and "images" in m for level, m in mixed_run["messages"])


def test_results_save_to_local_folder_and_fsspec_url(mixed_run, tmp_path):
    result = mixed_run["result"]
    written = result.save(str(tmp_path / "out"))
    shows = pd.read_parquet(tmp_path / "out" / "shows.parquet")  # the merged view: each show once
    assert len(shows) == result.shows["show_id"].nunique() and list(shows.columns) == VIEW_COLUMNS
    run = pd.read_parquet(written["run"])  # this run's sightings, one row per show per flyer
    assert len(run) == len(result.shows) and list(run.columns) == SIGHTING_COLUMNS
    assert len(pd.read_parquet(tmp_path / "out" / "errors.parquet")) == len(result.errors)
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["shows"] == len(result.shows)
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary files left
    written = result.save("memory://daskparse-test/out")
    assert len(pd.read_parquet(written["shows"])) == result.shows["show_id"].nunique()


def test_a_run_with_only_bad_sources_starts_no_cluster_and_returns_empty_tables():
    result = daskparse.parse_images(["/no/such/file.jpg"], extractor="local")
    assert result.shows.empty and list(result.shows.columns) == SHOW_COLUMNS
    assert result.errors["kind"].tolist() == ["inputs.not_found"]
    assert result.stats["dashboard"] is None


def test_partition_size_keeps_every_thread_busy():
    assert partition_size(36, 20, 4) == 1
    assert partition_size(1000, 20, 4) == 13
    assert partition_size(1, 20, 4) == 1


def test_downloads_refuse_private_hosts_unless_allowed(client, image_server):
    url = image_server.add("/flyer.jpg", (DATA / "flyers" / _clean_flyers(1)[0]).read_bytes())
    refused = daskparse.parse_images([url], extractor="local", client=client, allow_private_hosts=False)
    assert refused.errors[["source", "kind"]].values.tolist() == [[url, "fetch.private_address"]]
    assert "--allow-private-hosts" in refused.errors["message"][0] and image_server.hits["/flyer.jpg"] == 0
    allowed = daskparse.parse_images([url], extractor="local", client=client, allow_private_hosts=True,
                                     reference_date=REFERENCE_DATE)
    assert allowed.errors.empty and len(allowed.shows) > 0 and image_server.hits["/flyer.jpg"] == 1


def _saved_outputs(result, output):
    """Every output of a saved run, read back: the merged view, errors, outcomes and stats."""
    result.save(str(output))
    return ({name: pd.read_parquet(output / f"{name}.parquet") for name in ("shows", "errors", "outcomes")},
            json.loads((output / "stats.json").read_text()))


def _grey_jpeg():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["no sources", "all errors", "no shows and no errors", "only cache hits"])
def test_a_run_that_finds_nothing_still_writes_every_output_with_its_schema(case, client, image_server, tmp_path):
    from daskparse.errors import ERROR_COLUMNS
    from daskparse.result import OUTCOME_COLUMNS

    grey = image_server.add("/grey.jpg", _grey_jpeg())
    options = dict(extractor="local", client=client, allow_private_hosts=True, reference_date=REFERENCE_DATE,
                   cache=str(tmp_path / "cache"), use_cache=case == "only cache hits")
    sources = {"no sources": [], "all errors": ["/no/such/flyer.jpg", image_server.url("/missing.jpg")],
               "no shows and no errors": [grey], "only cache hits": [grey]}[case]
    if case == "only cache hits":
        daskparse.parse_images(sources, **options)
    result = daskparse.parse_images(sources, **options)
    frames, stats = _saved_outputs(result, tmp_path / "out")

    assert list(frames["shows"].columns) == VIEW_COLUMNS and frames["shows"].empty
    assert list(frames["errors"].columns) == ERROR_COLUMNS and list(frames["outcomes"].columns) == OUTCOME_COLUMNS
    assert len(frames["outcomes"]) == len(sources) == stats["totalImages"]
    assert len(frames["errors"]) == stats["errors"] == (2 if case == "all errors" else 0)
    assert stats["shows"] == 0
    if case == "only cache hits":
        assert stats["cacheHits"] == 1 and frames["outcomes"]["cached"].tolist() == ["url"]
    # the same types whether or not there are rows: a reader can concatenate any two runs' files
    assert pa.Schema.equals(pq.read_schema(tmp_path / "out" / "shows.parquet").remove_metadata(),
                            VIEW_SCHEMA, check_metadata=False)
    for name in ("errors", "outcomes"):
        assert {str(t) for t in frames[name].dtypes if str(t) != "int64"} == {"string"}


def test_the_local_clusters_dashboard_listens_on_this_machine_only_unless_asked():
    """It listened on every interface: anyone on the network saw worker logs with signed source URLs."""
    from urllib.parse import urlsplit

    import psutil

    from daskparse.cli import build_parser
    from daskparse.pipeline import cluster_client
    from daskparse.settings import load_settings

    settings = load_settings(workers=1, threads=1, extractor="local")
    assert settings.dashboard_address == "127.0.0.1:8787"
    with cluster_client(settings) as own:
        port = urlsplit(own.dashboard_link).port  # 8787, or another port when that one is taken
        listening = {c.laddr.ip for c in psutil.Process().net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert listening == {"127.0.0.1"}
    args = vars(build_parser().parse_args(["run", "--dashboard-address", ":8787"]))
    assert load_settings(**{k: args[k] for k in ("dashboard_address",)}).dashboard_address == ":8787"
