"""The spend cap (``--max-cost``): whole runs on worker processes with the real google-genai client against the
loopback Gemini server, the extractor with its in-process gate, and the setting from each of its sources (the
limiter's and the gate's rules on their own: test_limiter.py, test_gate.py)."""

import json
from pathlib import Path

import pytest

import daskparse
from conftest import GEMINI_KEY, cluster_client, jpeg_bytes
from daskparse.errors import BudgetReached
from daskparse.extract.gemini import GeminiExtractor, GeminiOptions, ProcessGate
from daskparse.pricing import Prices
from daskparse.settings import SettingsError, load_settings
from daskparse.testing.gemini_server import GeminiServer

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
PATHS = [str(DATA / "flyers" / name) for name in sorted(TRUTH["flyers"])[:12]]
FLASH = Prices(0.30, 2.50)  # the settings' default prices of gemini-2.5-flash
# Each flyer costs ~$0.0008 and reserves ~$0.0055 (its whole 2,048-token output budget): ~6 of the 12 fit.
CAP = 0.01


class BilledServer(GeminiServer):
    """The loopback server, keeping the ``usageMetadata`` of every answer it gave: what the API would bill.
    (Reads the server's private ``_generate``: the server keeps no usage of its own.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.billed: list[dict] = []

    def _generate(self, handler, call, record):
        reply = super()._generate(handler, call, record)
        if reply is not None and reply[0] == 200:
            self.billed.append(reply[1]["usageMetadata"])
        return reply

    def cost(self, prices: Prices) -> float:
        return sum(prices.cost(usage["promptTokenCount"], usage.get("candidatesTokenCount", 0),
                               usage.get("thoughtsTokenCount", 0)) for usage in self.billed)


@pytest.fixture
def server():
    with BilledServer(api_key=GEMINI_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def client():
    with cluster_client() as client:
        yield client


def parse(server, client, paths=PATHS, **options):
    messages = []
    result = daskparse.parse_images(
        paths, extractor="gemini", client=client, gemini_api_key=GEMINI_KEY, gemini_base_url=server.base_url,
        gemini_api_version="v1beta", timeout=10, reference_date=TRUTH["reference_date"], use_cache=False,
        log=lambda message, level: messages.append((level, message)), **options)
    return result, [message for level, message in messages if level == "ERROR"]


def test_a_capped_run_never_passes_the_cap_and_the_rest_are_budget_errors(server, client):
    result, errors = parse(server, client, max_cost=CAP)
    assert server.cost(FLASH) <= CAP
    sent = len(server.billed)
    assert 2 <= sent < len(PATHS)  # some fit, not all
    assert server.count(":generateContent") == sent  # a refused call sends nothing
    refused = result.errors[result.errors["kind"] == "gemini.budget_reached"]
    assert len(refused) == len(result.errors) == len(PATHS) - sent
    assert set(refused["source"]).isdisjoint(result.shows["source"])
    assert errors == ["the spend cap of $0.01 is reached: the remaining images are not sent (use --fallback local "
                      "to read them with the local extractor)"]
    budget = result.stats["budget"]
    assert budget["maxCostUSD"] == CAP and budget["budgetReached"] == len(refused)
    assert budget["spentUSD"] == pytest.approx(server.cost(FLASH), abs=1e-6)  # the answers' usage, priced
    assert result.stats["requests"] == sent  # refused calls are no requests
    gate = result.stats["gate"]
    assert gate["maxCost"] == CAP and gate["budgetReached"] and gate["reserved"] == 0.0
    assert gate["spent"] == pytest.approx(server.cost(FLASH), abs=1e-6)

    # the next run on the same cluster starts from nothing spent: as many fit again
    server.billed.clear()
    again, errors = parse(server, client, paths=PATHS[:4], max_cost=CAP)
    assert again.errors.empty and len(server.billed) == 4 and errors == []
    assert again.stats["gate"]["spent"] == pytest.approx(server.cost(FLASH), abs=1e-6)


def test_with_the_local_fallback_the_rest_are_read_locally(server, client):
    paths = PATHS[:4]
    # room for one call: a flyer reserves ~$0.0055 and costs ~$0.0008, a second reservation would pass $0.006
    result, errors = parse(server, client, paths=paths, max_cost=0.006, fallback="local")
    assert server.cost(FLASH) <= 0.006
    assert len(server.billed) == 1
    assert result.errors.empty
    read_by = {extractor: set(rows["source"]) for extractor, rows in result.shows.groupby("extractor")}
    assert len(read_by["gemini"]) == 1 and read_by["local"] == set(paths) - read_by["gemini"]
    assert result.stats["fellBackToLocal"] == 3 and result.stats["budget"]["budgetReached"] == 3
    assert errors == ["the spend cap of $0.006 is reached: the remaining images go to the local extractor"]


def test_an_uncapped_run_reports_its_spend_and_refuses_nothing(server, client):
    result, errors = parse(server, client, paths=PATHS[:3])
    assert result.errors.empty and errors == []
    assert result.stats["budget"] == {"maxCostUSD": None, "spentUSD": pytest.approx(server.cost(FLASH), abs=1e-6),
                                      "budgetReached": 0}


def _extractor(server, max_cost):
    """The extractor with its in-process gate, as a run without a cluster builds it (``build_extractor``)."""
    options = GeminiOptions(api_key=GEMINI_KEY, base_url=server.base_url, api_version="v1beta", timeout=10,
                            max_output_tokens=256, prices=FLASH)
    return GeminiExtractor(options, gate=ProcessGate(max_cost=max_cost))


def test_the_in_process_gate_holds_the_same_cap(server):
    """Without a cluster: a 256-token output budget reserves ~$0.001 a call; the answers' real cost decides how
    many calls fit, and once one is refused every later one is, with no request sent."""
    extractor = _extractor(server, max_cost=0.003)
    outcomes = []
    for n in range(12):
        try:
            outcomes.append(extractor.extract(jpeg_bytes(color=(n * 20, 10, 10))).usage.requests)
        except BudgetReached as error:
            assert error.transient and error.kind == "gemini.budget_reached"
            assert error.usage.requests == 0
            outcomes.append("refused")
    sent = outcomes.index("refused")
    assert sent >= 2 and outcomes[sent:] == ["refused"] * (12 - sent)
    assert len(server.billed) == sent and server.cost(FLASH) <= 0.003
    budget = extractor.gate.budget
    assert budget.spent == pytest.approx(server.cost(FLASH)) and budget.reserved == {} and budget.reached


def test_the_setting_from_flag_environment_and_keyword(tmp_path):
    from daskparse.cli import build_parser

    args = build_parser().parse_args(["run", "--max-cost", "2.5"])
    assert args.max_cost == 2.5
    assert load_settings({"DASKPARSE_MAX_COST": "0.75"}).max_cost == 0.75
    settings = load_settings({}, max_cost=3, extractor="gemini", gemini_api_key="k")
    assert settings.gate_limits().max_cost == 3.0
    assert settings.gemini_options().prices == Prices(0.30, 2.50, batch_discount=0.5)
    with pytest.raises(SettingsError, match="--max-cost 0: must be more than 0"):
        load_settings({}, flags={"max_cost": "--max-cost"}, max_cost=0)


def test_a_model_without_a_price_cannot_be_capped():
    with pytest.raises(SettingsError, match=r"--max-cost 1.*gemini-9-ultra has no price in gemini_prices"):
        load_settings({}, flags={"max_cost": "--max-cost"}, max_cost=1.0, extractor="gemini",
                      gemini_api_key="k", model="gemini-9-ultra")
    # without a cap, or without Gemini, an unpriced model is fine (its cost is unknown, not refused)
    assert load_settings({}, extractor="gemini", gemini_api_key="k", model="gemini-9-ultra").max_cost is None
    assert load_settings({}, extractor="local", model="gemini-9-ultra", max_cost=1.0).max_cost == 1.0


def test_dollars_in_messages():
    from daskparse.errors import usd

    assert [usd(amount) for amount in (5, 0.01, 0.006, 0.004832, 0.0)] == ["$5.00", "$0.01", "$0.006", "$0.004832",
                                                                          "$0.00"]
    assert str(BudgetReached(0.01, 0.0048)) == ("gemini.budget_reached: the spend cap of $0.01 is reached ($0.0048 "
                                                "spent); no more Gemini calls this run")


def test_prices_in_one_place():
    assert FLASH.cost(1_000_000, 1_000_000) == pytest.approx(2.80)
    assert FLASH.cost(1000, 100, thoughts_tokens=100) == pytest.approx((1000 * 0.30 + 200 * 2.50) / 1e6)
    assert FLASH.cost(1000, 200, batch=True) == pytest.approx(FLASH.cost(1000, 200) / 2)
    assert FLASH.most(1000, max_output_tokens=2048) == FLASH.cost(1000, 2048)
    settings = load_settings({}, extractor="local")
    assert settings.estimated_cost(1000, 200, 50, batch=True) == round(FLASH.cost(1000, 200, 50, batch=True), 6)
