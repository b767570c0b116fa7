"""The daskparse page and the daskparse_ metrics: the board on its own, in-process clusters with and without a
dashboard, then a live run in Debian's headless Chromium on a cluster started with `dask scheduler`."""

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from prometheus_client.parser import text_string_to_metric_families

import daskparse
from conftest import GEMINI_KEY, jpeg_bytes
from daskparse.dashboard import KEEP_RUNS, BoardExtension, metric_families
from daskparse.gate import PLUGIN_NAME, RateGateExtension
from daskparse.testing.gemini_server import GeminiServer, Latency

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling home, and the closed network refuses it.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # .gitignored; CI keeps what is there


class _Scheduler:
    def __init__(self):
        self.handlers, self.plugins = {}, {}


def _progress(total=10, done=0, failed=0, shows=0, cache_hits=0, requests=0, input_tokens=0, output_tokens=0,
              thoughts_tokens=0, estimated_cost_usd=0.0):
    return dict(total=total, done=done, failed=failed, shows=shows, cache_hits=cache_hits, requests=requests,
                input_tokens=input_tokens, output_tokens=output_tokens, thoughts_tokens=thoughts_tokens,
                estimated_cost_usd=estimated_cost_usd,
                elapsed=1.0)


def _samples(families) -> dict:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in families for sample in family.samples}


def test_the_board_keeps_each_runs_latest_progress_and_counts_every_run():
    scheduler = _Scheduler()
    gate = RateGateExtension()
    board = BoardExtension()
    asyncio.run(gate.start(scheduler))
    asyncio.run(board.start(scheduler))
    scheduler.plugins[PLUGIN_NAME] = gate
    gate.configure(rpm=120, concurrency=3)

    async def two_grants():
        for _ in range(2):
            await gate.acquire(worker="w")

    asyncio.run(two_grants())
    gate.pause(seconds=600)

    board.publish(run="a", seq=2, client="c1", **_progress(done=4, failed=1, shows=6, cache_hits=2,
                                                         input_tokens=900, thoughts_tokens=700, estimated_cost_usd=None))
    board.publish(run="a", seq=1, client="c1", **_progress(done=1))  # sent earlier, arrived later: dropped
    assert board.runs["a"]["done"] == 4 and board.latest()["seq"] == 2
    board.publish(run="b", seq=1, client="c2", **_progress(total=5, done=1))
    board.remove_client(scheduler, "c2")  # its client went away mid-run
    assert board.runs["b"]["finished"] and not board.runs["a"]["finished"]

    values = _samples(metric_families(board))
    assert values[("daskparse_images_done_total", ())] == 5
    assert values[("daskparse_images_failed_total", ())] == 1
    assert values[("daskparse_cache_hits_total", ())] == 2 and values[("daskparse_cache_hit_ratio", ())] == 0.4
    assert values[("daskparse_estimated_cost_usd_total", ())] == 0  # an unknown model's cost counts as none
    assert values[("daskparse_thoughts_tokens_total", ())] == 700  # thinking, counted apart from the answers
    assert values[("daskparse_runs_running", ())] == 1 and values[("daskparse_images_to_do", ())] == 6
    gate_label = (("gate", "daskparse"),)
    assert values[("daskparse_gate_granted_total", gate_label)] == 2
    assert values[("daskparse_gate_in_flight", gate_label)] == 2
    assert values[("daskparse_gate_rate_limited_total", gate_label)] == 1
    assert values[("daskparse_gate_limit_rpm", gate_label)] == 120
    assert values[("daskparse_gate_granted_rpm", gate_label)] == 2  # 2 requests in the 60 s window
    assert 0 < values[("daskparse_gate_paused_seconds", gate_label)] <= 600

    for index in range(KEEP_RUNS + 5):  # old finished runs are folded into the counters, not forgotten
        board.publish(run=f"old{index}", seq=1, client="c3", finished=True, **_progress(done=2, shows=1))
    assert len(board.runs) == KEEP_RUNS and "a" in board.runs  # a run going on is never dropped
    assert board.totals()["done"] == 5 + 2 * (KEEP_RUNS + 5)
    assert board.snapshot()["done"] == 2  # the page shows the run updated last


def _metrics(page: str) -> dict:
    """The samples of /metrics on the server of ``page`` (any page on it), by (name, labels)."""
    text = urllib.request.urlopen(page.rsplit("/", 1)[0] + "/metrics", timeout=30).read().decode()
    return _samples(text_string_to_metric_families(text))


def _parse(server, paths, client, **options):
    return daskparse.parse_images(paths, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY,
                                  gemini_base_url=server.base_url, timeout=10, use_cache=False, **options)


def _images(folder: Path, count: int) -> list[str]:
    for index in range(count):
        (folder / f"{index}.jpg").write_bytes(jpeg_bytes(color=(20 * index, 5 * index, 200 - 10 * index)))
    return [str(folder / f"{index}.jpg") for index in range(count)]


def test_a_cluster_started_without_the_preload_gets_the_page_when_a_run_attaches(gemini_server, tmp_path):
    """`parse_images(client=...)` on a scheduler that knows nothing of daskparse: the page is added at run time."""
    paths = _images(tmp_path, 3)
    seen = []
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        port = cluster.scheduler.http_server.port
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30).status == 200
        with pytest.raises(urllib.error.HTTPError):  # not there before a run
            urllib.request.urlopen(f"http://127.0.0.1:{port}/daskparse", timeout=30)
        result = _parse(gemini_server, paths, client, progress=seen.append)
        assert result.stats["dashboard"].endswith(f":{port}/daskparse")
        assert len(result.shows) > 0 and result.errors.empty
        assert seen[-1].done == 3  # your own progress callback still gets every call
        local = f"http://127.0.0.1:{port}/"  # the link names the machine's address; the server listens on loopback
        page = urllib.request.urlopen(local + "daskparse", timeout=30).read().decode()
        assert "data-root-id" in page  # the Bokeh document was built for this request (its failure is a 500)
        assert 'href="daskparse"' in urllib.request.urlopen(local + "status", timeout=30).read().decode()
        values = _metrics(local + "status")
        assert values[("daskparse_images_done_total", ())] == 3
        assert values[("daskparse_shows_total", ())] == len(result.shows)
        assert values[("daskparse_input_tokens_total", ())] == result.stats["inputTokens"] > 0
        assert values[("daskparse_gate_granted_total", (("gate", "daskparse"),))] == result.stats["gate"]["granted"]
        assert values[("daskparse_runs_running", ())] == 0


def test_no_dashboard_link_when_the_scheduler_has_no_dashboard(gemini_server, tmp_path):
    """It was printed anyway: distributed's dashboard_link names the HTTP server, which runs without a dashboard."""
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = _parse(gemini_server, _images(tmp_path, 2), client)
        assert result.errors.empty and result.stats["dashboard"] is None
        values = _metrics(f"http://127.0.0.1:{cluster.scheduler.http_server.port}/metrics")
        assert values[("daskparse_images_done_total", ())] == 2  # the metrics are there all the same


# -- a live run in headless Chromium, on `dask scheduler --preload daskparse.dashboard` + 2 `dask worker` ----------
SERIES_JS = """() => {
  const source = Bokeh.documents[0].get_model_by_name("daskparse-series");
  const data = source.data;
  const column = key => Array.from(data instanceof Map ? data.get(key) : data[key]);
  return Object.fromEntries(["time", "done", "failed", "total", "granted_rpm", "limit_rpm", "in_flight", "shows",
                             "input_tokens", "estimated_cost_usd"].map(key => [key, column(key)]));
}"""
INKED_JS = """canvas => {  // pixels drawn in something other than white
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 0; i < pixels.length; i += 4)
    if (pixels[i + 3] > 0 && (pixels[i] < 240 || pixels[i + 1] < 240 || pixels[i + 2] < 240)) inked++;
  return inked;
}"""


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module's page tests (each opens and closes its own page): it takes seconds
    to start."""
    assert Path(CHROMIUM).exists(), (
        f"Debian's chromium is needed at {CHROMIUM} for the dashboard test: "
        "apt-get install -y --no-install-recommends chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_the_page_shows_a_live_run_in_headless_chromium(dask_processes, chromium, tmp_path):
    """`python -m daskparse run --scheduler` on a cluster started elsewhere with the preload, watched in Chromium."""
    count, latency = 12, 0.5
    paths = _images(tmp_path, count)
    with Client(dask_processes, timeout="10s") as probe:
        link = probe.dashboard_link.rsplit("/", 1)[0] + "/daskparse"
    before = _metrics(link)
    page = chromium.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(link, timeout=60_000)  # open before the run: the page is there from the scheduler's start
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents[0].get_model_by_name('daskparse-series')", timeout=60_000)

    # one call at a time, each taking `latency`: the run lasts several of the page's 500 ms updates
    with GeminiServer(api_key=GEMINI_KEY, latency=Latency.fixed(latency)) as server:
        env = {**os.environ, "GEMINI_API_KEY": GEMINI_KEY, "GOOGLE_GEMINI_BASE_URL": server.base_url}
        done = subprocess.run([sys.executable, "-m", "daskparse", "run", *paths, "--scheduler", dask_processes,
                               "--concurrency", "1", "--rpm", "600", "--no-cache", "--timeout", "10",
                               "--output", str(tmp_path / "out")],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["totalImages"] == count and stats["errors"] == 0 and stats["shows"] > 0
    assert f"Dashboard (while the run lasted): {link}" in done.stdout

    page.wait_for_function(f"() => ({SERIES_JS})().done.at(-1) === {count}", timeout=60_000)
    series = page.evaluate(SERIES_JS)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "daskparse-dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    # live: the page's own history holds the run's progress step by step, not just its end
    assert series["time"] == sorted(series["time"])
    assert any(0 < done < count for done in series["done"]) and series["done"][-1] == count
    assert series["total"][-1] == count and series["failed"][-1] == 0
    assert max(series["granted_rpm"]) > 0 and series["limit_rpm"][-1] == 600
    assert max(series["in_flight"]) == 1  # the gate's concurrency, seen while calls were out
    assert series["shows"][-1] == stats["shows"] and series["input_tokens"][-1] == stats["inputTokens"]
    assert series["estimated_cost_usd"][-1] == pytest.approx(stats["estimatedCostUSD"])
    plots = [canvas for canvas in page.locator("canvas").all() if canvas.evaluate("c => c.width") > 200]
    inked = [canvas.evaluate(INKED_JS) for canvas in plots]
    assert sum(pixels > 1000 for pixels in inked) >= 8, inked  # every plot drew (the others are overlay layers)
    page.close()

    after = _metrics(link)  # this run's share of the counters (the module's other runs count too)
    grew = {name: value - before.get((name, ()), 0) for (name, labels), value in after.items() if not labels}
    assert grew["daskparse_images_done_total"] == count and grew["daskparse_images_failed_total"] == 0
    assert grew["daskparse_shows_total"] == stats["shows"]
    assert grew["daskparse_gemini_requests_total"] == stats["requests"] == count
    assert after[("daskparse_gate_granted_total", (("gate", "daskparse"),))] == stats["gate"]["granted"]
    assert after[("daskparse_gate_concurrency", (("gate", "daskparse"),))] == 1
    assert after[("daskparse_runs_running", ())] == 0


def test_parse_images_on_a_cluster_started_elsewhere(dask_processes, gemini_server, tmp_path):
    """`parse_images(client=Client(address))`: results, the gate and the page's numbers, on `dask worker`s."""
    paths = _images(tmp_path, 4)
    with Client(dask_processes, timeout="10s") as client:
        done_before = _metrics(client.dashboard_link).get(("daskparse_images_done_total", ()), 0)
        result = _parse(gemini_server, paths, client)
        done_after = _metrics(client.dashboard_link)[("daskparse_images_done_total", ())]
    assert set(result.shows["source"]) == set(paths) and result.errors.empty
    assert result.stats["gate"]["inFlight"] == 0 and gemini_server.count(":generateContent") == 4
    assert done_after - done_before == 4
    assert result.stats["dashboard"].endswith("/daskparse")


# -- what the page shows: the run's own panels, an ETA, the latest errors (issue 15) -------------------------------
def test_a_runs_progress_carries_its_extractor_and_its_latest_errors():
    """What the page needs beyond the counts: which extractor (its panels) and the last error rows."""
    from daskparse.errors import ErrorRecord
    from daskparse.outcome import Outcome
    from daskparse.settings import load_settings
    from daskparse.tally import LATEST_ERRORS, RunTally

    seen = []
    tally = RunTally(30, load_settings(extractor="local"), seen.append)
    tally.notify()
    for index in range(25):
        error = ErrorRecord(f"/flyers/{index}.jpg", "", "decode", "decode.corrupt", f"not an image ({index})")
        tally.add([Outcome(error.source, "", seconds={"fetch": 0.1}, error=error)])
    assert seen[0].extractor == "local" and seen[0].latest_errors == ()
    assert [row[0] for row in seen[-1].latest_errors] == [f"/flyers/{index}.jpg" for index in range(15, 25)]
    assert seen[-1].latest_errors[-1] == ("/flyers/24.jpg", "decode.corrupt", "not an image (24)")
    assert LATEST_ERRORS == 10


@pytest.mark.parametrize("seconds, text", [(0.2, "under 1 s"), (12.4, "12 s"), (125, "2 min 05 s"),
                                           (3 * 3600 + 7 * 60 + 20, "3 h 07 min"), (2 * 86400 + 5 * 3600, "2 d 5 h")])
def test_time_left_reads_as_a_person_would_say_it(seconds, text):
    from daskparse.dashboard import readable_duration

    assert readable_duration(seconds) == text


def test_the_run_line_says_done_stopped_or_the_time_left():
    from daskparse.dashboard import run_status

    assert run_status({}, now=0) == "no run yet"
    running = {"total": 10, "done": 4, "finished": False, "eta": 90.0, "rate": 0.2, "received": 100.0}
    assert run_status(running, now=100.0) == "ETA 1 min 30 s left (12.0 images/min)"
    assert run_status(running, now=130.0) == "ETA 1 min 00 s left (12.0 images/min)"  # counts down between updates
    assert run_status({**running, "eta": None, "done": 0}, now=100) == "ETA: estimating (no image answered yet)"
    assert run_status({**running, "done": 10}, now=100) == "done"
    assert run_status({**running, "finished": True}, now=100) == "stopped with 6 images not done"
    waiting = {**running, "batch_jobs": [["batches/a", "running"], ["batches/b", "succeeded"], ["batches/c", "running"]]}
    assert run_status(waiting, now=100) == "waiting for 3 Gemini batch jobs (2 running, 1 succeeded)"


def test_the_summary_and_the_progress_bar_show_the_batch_jobs_a_run_waits_for():
    from daskparse.console import postfix
    from daskparse.dashboard import _summary
    from daskparse.tally import RunProgress

    point = {"done": 4, "total": 10, "failed": 0, "cache_hit_rate": 0.0, "shows": 7, "gemini": True,
             "granted_rpm": 0.0, "limit_rpm": 1800.0, "in_flight": 0, "rate_limited": 0, "paused_for": 0.0,
             "input_tokens": 1, "output_tokens": 1, "thoughts_tokens": 0, "estimated_cost_usd": 0.0,
             "status": "waiting", "batch_jobs": [("batches/a", "pending")]}
    assert "Gemini batch jobs: 1 pending" in _summary(point)
    progress = RunProgress(total=10, done=4, failed=0, shows=7, cache_hits=0, requests=0, input_tokens=0,
                           output_tokens=0, estimated_cost_usd=0.0, elapsed=1.0,
                           batch_jobs=(("batches/a", "running"), ("batches/b", "running")))
    assert postfix(progress)["batch jobs"] == "2 running"


def test_error_rows_are_text_never_markup_or_terminal_escapes():
    from daskparse.dashboard import errors_html

    signed = "https://cdn.example.org/flyers/show.jpg?X-Amz-Signature=" + "f" * 64
    rows = [("/tmp/<img src=x onerror=alert(1)>.jpg", "decode.corrupt", "<script>alert(2)</script>"),
            ("\x1b[31mred\x1b[0m\u202e.jpg", "decode.corrupt", "bad & worse"),
            (signed, "fetch.not_found", "HTTP 404")]
    text = errors_html(rows, failed=3)
    assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in text and "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "\x1b" not in text and "\u202e" not in text and r"\x1b[31mred\x1b[0m\u202e.jpg" in text
    assert "bad &amp; worse" in text
    assert "X-Amz-Signature" not in text and "https://cdn.example.org/flyers/show.jpg?…" in text  # no signed query
    assert text.index("HTTP 404") < text.index("bad &amp; worse")  # the latest first
    long = errors_html([("/data/" + "x" * 300 + "/flyer.jpg", "decode.corrupt", "m" * 2000)], failed=1)
    assert "…/flyer.jpg" not in long and "x…x" in long and "/flyer.jpg" in long and len(long) < 1500
    assert "none" in errors_html([], failed=0)


# The titles of the plots the browser drew: a plot not on the page, or hidden, has no box.
SHOWN_PLOTS_JS = """() => {
  const views = Bokeh.documents[0].views_manager;
  const shown = [];
  for (const view of views.query(view => "x_range" in view.model && view.model.title != null)) {
    const box = view.el.getBoundingClientRect();
    if (box.width > 0 && box.height > 0) shown.push(view.model.title.text);
  }
  return shown;
}"""
GEMINI_WORDS = ("Gemini", "429", "Tokens", "cost")


def _open_board(chromium, link: str):
    page = chromium.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(link, timeout=60_000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents[0].get_model_by_name('daskparse-series')", timeout=60_000)
    return page


def _preloaded_cluster():
    """An in-process cluster whose scheduler has the page from its start, as `--preload daskparse.dashboard` gives."""
    return LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0",
                        scheduler_kwargs={"preload": ["daskparse.dashboard"]})


def test_a_local_runs_page_has_no_gemini_panel_and_lists_its_errors_as_text(chromium, tmp_path):
    """A run with the offline extractor: no Gemini panels at zero, "done" at the end, its bad sources listed,
    a file name that looks like HTML shown as the text it is (not run as markup), a terminal escape made visible."""
    from playwright.sync_api import expect

    paths = _images(tmp_path, 2)
    html_name, escape_name = "<img src=x onerror=window.pwned=1>.jpg", "\x1b[31mred.jpg"
    for name in ("not-a-flyer.jpg", html_name, escape_name):
        (tmp_path / name).write_bytes(b"<html>not an image</html>")
        paths.append(str(tmp_path / name))
    with _preloaded_cluster() as cluster, Client(cluster) as client:
        page = _open_board(chromium, f"http://127.0.0.1:{cluster.scheduler.http_server.port}/daskparse")
        result = daskparse.parse_images(paths, extractor="local", client=client, use_cache=False)
        assert len(result.errors) == 3 and result.stats["extractor"] == "local"
        expect(page.locator(".daskparse-status")).to_have_text("done", timeout=30_000)
        shown = page.evaluate(SHOWN_PLOTS_JS)
        assert "Images" in shown and not [title for title in shown if any(w in title for w in GEMINI_WORDS)], shown
        summary = page.locator(".daskparse-summary").inner_text()
        assert "5/5" in summary and not any(word in summary for word in ("requests per minute", "tokens", "$"))

        sources = page.locator(".daskparse-errors td.daskparse-source")
        expect(sources).to_have_count(3, timeout=30_000)
        texts = sources.all_inner_texts()
        assert any(text.endswith(html_name) for text in texts), texts  # the name as text, not an <img>
        assert any(text.endswith(r"\x1b[31mred.jpg") for text in texts), texts
        kinds = page.locator(".daskparse-errors td.daskparse-kind").all_inner_texts()
        assert sorted(kinds) == sorted(result.errors["kind"])
        assert page.locator(".daskparse-errors img").count() == 0
        assert page.evaluate("() => window.pwned") is None
        page.close()


def test_a_gemini_runs_page_shows_its_panels_and_the_time_left_while_it_runs(chromium, tmp_path):
    """The page opened before a Gemini run: its panels appear with the run, an ETA while it runs, "done" after."""
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import expect

    count = 12
    paths = _images(tmp_path, count)
    with GeminiServer(api_key=GEMINI_KEY, latency=Latency.fixed(0.5)) as server, _preloaded_cluster() as cluster, \
            Client(cluster) as client, ThreadPoolExecutor(1) as pool:
        page = _open_board(chromium, f"http://127.0.0.1:{cluster.scheduler.http_server.port}/daskparse")
        expect(page.locator(".daskparse-status")).to_have_text("no run yet", timeout=30_000)
        # one call at a time, 0.5 s each: the run lasts a dozen of the page's 500 ms updates
        running = pool.submit(_parse, server, paths, client, concurrency=1, rpm=600)
        expect(page.locator(".daskparse-status")).to_contain_text(" left (", timeout=60_000)  # only while running
        result = running.result(timeout=120)
        assert result.errors.empty and result.stats["requests"] == count
        expect(page.locator(".daskparse-status")).to_have_text("done", timeout=30_000)
        shown = page.evaluate(SHOWN_PLOTS_JS)
        for word in GEMINI_WORDS:
            assert any(word in title for title in shown), (word, shown)
        assert "Images" in shown
        assert "requests per minute" in page.locator(".daskparse-summary").inner_text()
        assert page.locator(".daskparse-errors").inner_text().startswith("Latest errors: none")
        page.close()
