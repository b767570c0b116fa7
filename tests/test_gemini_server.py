"""The loopback Gemini server, driven by the real google-genai client (and raw HTTP where the client can't go)."""

import base64
import hashlib
import json
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import httpx2
import pytest
import requests
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from conftest import jpeg_bytes, noise_jpeg
from daskparse.shows import ShowFields
from daskparse.testing.gemini_server import GeminiServer, Latency, NotAFlyer, duration, image_tokens

MODEL = "gemini-2.5-flash"


class Shows(BaseModel):
    shows: list[ShowFields]


def client_for(server, *, key="test-key", api_version="v1beta", timeout_ms=30_000):
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=server.base_url, api_version=api_version, timeout=timeout_ms,
        retry_options=types.HttpRetryOptions(attempts=1)))  # exactly one attempt: the server sees every call


def generate(client, image, *, model=MODEL, **config):
    config.setdefault("response_mime_type", "application/json")
    config.setdefault("response_schema", Shows)
    return client.models.generate_content(
        model=model,
        contents=[types.Part.from_bytes(data=image, mime_type="image/jpeg"), "Extract every show on this flyer."],
        config=types.GenerateContentConfig(temperature=0.0, **config))


def error_details(error):
    return {detail["@type"].rsplit(".", 1)[1]: detail for detail in error.details["error"].get("details", [])}


def seconds(retry_delay):
    assert retry_delay.endswith("s")
    return float(retry_delay[:-1])


@pytest.fixture
def server():
    with GeminiServer(api_key="test-key") as server:
        yield server


# ---------------------------------------------------------------- success

def test_inline_jpeg_with_a_pydantic_schema_gives_parsed_shows_and_image_tokens(server):
    image = jpeg_bytes(320, 240)
    response = generate(client_for(server), image, system_instruction="You read flyers.")
    assert isinstance(response.parsed, Shows) and response.parsed.shows
    assert {show.venue for show in response.parsed.shows} == {f"Venue {hashlib.sha256(image).hexdigest()[:8]}"}
    assert response.candidates[0].finish_reason == types.FinishReason.STOP and response.candidates[0].index == 0
    assert response.model_version == MODEL and response.response_id
    usage = response.usage_metadata
    by_modality = {detail.modality.value: detail.token_count for detail in usage.prompt_tokens_details}
    assert by_modality["IMAGE"] == 258
    assert by_modality["TEXT"] == len("You read flyers.\nExtract every show on this flyer.") // 4 + 1
    assert usage.prompt_token_count == sum(by_modality.values())
    # 2.5 Flash thinks unless told not to: its thoughts are in the total, apart from the answer's tokens.
    assert usage.thoughts_token_count == 800
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + 800
    assert usage.candidates_token_count == -(-len(response.text) // 4)


def test_the_same_image_always_gets_the_same_answer_and_another_image_another(server):
    client = client_for(server)
    first, again = generate(client, noise_jpeg(seed=1)).text, generate(client, noise_jpeg(seed=1)).text
    assert first == again != generate(client, noise_jpeg(seed=2)).text


def test_large_images_cost_258_tokens_per_768_tile(server):
    client = client_for(server)
    usage = generate(client, jpeg_bytes(1200, 800)).usage_metadata
    assert [d.token_count for d in usage.prompt_tokens_details if d.modality.value == "IMAGE"] == [1032]
    counted = client.models.count_tokens(
        model=MODEL, contents=[types.Part.from_bytes(data=jpeg_bytes(1152, 768), mime_type="image/jpeg"), "x"])
    assert counted.total_tokens == 2 * 258 + 1
    assert image_tokens(384, 384) == 258 and image_tokens(385, 100) == 258 and image_tokens(769, 769) == 4 * 258
    assert image_tokens(4000, 3000, "gemini-3-flash-preview", "MEDIA_RESOLUTION_LOW") == 280


def test_gemini_3_charges_by_media_resolution(server):
    usage = generate(client_for(server), jpeg_bytes(1200, 800), model="gemini-3-flash-preview",
                     media_resolution=types.MediaResolution.MEDIA_RESOLUTION_MEDIUM).usage_metadata
    assert [d.token_count for d in usage.prompt_tokens_details if d.modality.value == "IMAGE"] == [560]


def test_v1_and_v1beta_and_models_prefix_are_all_served(server):
    image = jpeg_bytes()
    assert generate(client_for(server, api_version="v1"), image).parsed.shows
    assert generate(client_for(server), image, model=f"models/{MODEL}").parsed.shows
    assert [r.path for r in server.requests] == [
        f"/v1/models/{MODEL}:generateContent", f"/v1beta/models/{MODEL}:generateContent"]


def test_registered_answers_by_image_and_by_callable(server):
    client = client_for(server)
    flyer, other = jpeg_bytes(color=(1, 2, 3)), jpeg_bytes(color=(200, 200, 0))
    server.set_answer(flyer, {"shows": [{"title": "Trivia", "kind": "trivia", "venue": "The Anchor"}]})
    server.set_answer(hashlib.sha256(other).hexdigest(), lambda call: {"shows": [{"venue": call.model}]})
    assert [show.venue for show in generate(client, flyer).parsed.shows] == ["The Anchor"]
    assert [show.venue for show in generate(client, other).parsed.shows] == [MODEL]
    server.set_default_answer(lambda call: '{"shows": []}')
    assert generate(client, noise_jpeg()).parsed.shows == []


class Verdict(BaseModel):
    """The shape the extractor asks for since prompt version 2: a verdict first, then the shows."""

    is_flyer: bool
    not_flyer_reason: str | None = None
    shows: list[ShowFields] = []


def test_the_default_answer_is_a_flyer_and_an_image_can_be_told_to_be_none(server):
    """A required boolean the answer lacks would be fitted as false: the built-in answer must say it is a flyer,
    or every image would read as no flyer. An image registered as no flyer answers so, in the schema asked for."""
    client = client_for(server)
    flyer, receipt, meme = jpeg_bytes(color=(5, 6, 7)), jpeg_bytes(color=(250, 250, 250)), noise_jpeg(seed=7)
    read = generate(client, flyer, response_schema=Verdict).parsed
    assert read.is_flyer is True and read.shows and read.not_flyer_reason is None
    assert {show.venue for show in read.shows} == {f"Venue {hashlib.sha256(flyer).hexdigest()[:8]}"}

    server.set_not_flyer(receipt, "a shop receipt")
    read = generate(client, receipt, response_schema=Verdict).parsed
    assert (read.is_flyer, read.not_flyer_reason, read.shows) == (False, "a shop receipt", [])
    assert json.loads(generate(client, receipt).text) == {"shows": []}  # an older schema: just no shows
    assert generate(client, receipt, response_schema=list[ShowFields]).parsed == []
    as_json_schema = generate(client, receipt, response_schema=None, response_json_schema=Verdict.model_json_schema())
    assert json.loads(as_json_schema.text) == {"is_flyer": False, "not_flyer_reason": "a shop receipt", "shows": []}

    server.set_default_answer(lambda call: NotAFlyer("a meme") if call.images[0] == meme else None)
    assert generate(client, meme, response_schema=Verdict).parsed.not_flyer_reason == "a meme"
    assert generate(client, noise_jpeg(seed=8), response_schema=Verdict).parsed.is_flyer is True


def test_default_answer_fits_whatever_schema_the_request_names(server):
    class Flyer(BaseModel):
        venue: str
        nights: int
        tags: list[Literal["loud", "quiet"]]
        note: str | None = None

    client = client_for(server)
    as_json_schema = generate(client, jpeg_bytes(), response_schema=None, response_json_schema=Flyer.model_json_schema())
    as_openapi = generate(client, jpeg_bytes(), response_schema=Flyer)
    for response in (as_json_schema, as_openapi):
        Flyer.model_validate_json(response.text)
    assert "responseJsonSchema" in server.requests[0].body["generationConfig"]
    image = jpeg_bytes()
    as_list = generate(client, image, response_schema=list[ShowFields]).parsed
    assert as_list and {show.venue for show in as_list} == {f"Venue {hashlib.sha256(image).hexdigest()[:8]}"}
    one_show = ShowFields.model_validate_json(generate(client, image, response_schema=ShowFields).text)
    assert one_show.venue == as_list[0].venue and one_show.kind == as_list[0].kind


def test_snake_case_keys_are_read_like_camel_case(server):
    image = jpeg_bytes(800, 400)
    body = {
        "contents": [{"role": "user", "parts": [
            {"inline_data": {"mimeType": "image/jpeg", "data": base64.b64encode(image).decode()}},
            {"text": "Extract."}]}],
        "system_instruction": {"parts": [{"text": "You read flyers."}]},
        "generation_config": {"response_mime_type": "application/json", "max_output_tokens": 4096,
                              "response_schema": {"type": "OBJECT", "properties": {"shows": {
                                  "type": "ARRAY", "items": {"type": "OBJECT", "properties": {
                                      "start_time": {"type": "STRING"}}, "required": ["start_time"]}}},
                                  "property_ordering": ["shows"], "required": ["shows"]}},
    }
    reply = requests.post(f"{server.base_url}/v1beta/models/{MODEL}:generateContent", json=body,
                          headers={"x-goog-api-key": "test-key"}, timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
    answer = reply.json()
    shows = json.loads(answer["candidates"][0]["content"]["parts"][0]["text"])["shows"]
    assert shows and all(set(show) == {"start_time"} for show in shows)  # the property name kept its underscore
    assert {d["modality"]: d["tokenCount"] for d in answer["usageMetadata"]["promptTokensDetails"]} == {
        "TEXT": 7, "IMAGE": 2 * 258}  # ceil(25 characters / 4)
    assert answer["candidates"][0]["finishReason"] == "STOP" and "continuationToken" not in answer


def test_count_tokens_answers_without_spending_quota():
    with GeminiServer(rpm=1) as server:
        client = client_for(server)
        for _ in range(3):
            counted = client.models.count_tokens(
                model=MODEL, contents=[types.Part.from_bytes(data=jpeg_bytes(), mime_type="image/jpeg"), "Hi there"])
            assert counted.total_tokens == 258 + 2
        assert server.count(":countTokens") == 3 and server.rate_limited == {}


def test_the_log_records_every_request_with_the_key_hidden(server):
    image = jpeg_bytes()
    generate(client_for(server), image)
    requests.post(f"{server.base_url}/v1beta/models/{MODEL}:countTokens?key=test-key",
                  json={"contents": [{"parts": [{"text": "hi"}]}]}, timeout=10)
    first, second = server.requests
    assert first.method == "POST" and first.status == 200 and first.model == MODEL
    assert first.headers["x-goog-api-key"] == "***" and "test-key" not in json.dumps(first.headers)
    assert first.image_sha256s == [hashlib.sha256(image).hexdigest()]
    assert first.headers["user-agent"].startswith("google-genai-sdk/")
    inline = first.body["contents"][0]["parts"][0]["inlineData"]  # as sent, with google-genai's snake_case leak
    assert inline["mime_type"] == "image/jpeg" and inline["data"].endswith(f"sha256={first.image_sha256s[0]}>")
    assert second.path.endswith("key=%2A%2A%2A") and second.status == 200
    assert server.count(":generateContent") == 1 and server.count(status=200) == 2
    server.reset()
    assert server.requests == [] and server.count() == 0


# ---------------------------------------------------------------- request errors

def test_a_wrong_key_is_400_api_key_invalid_and_no_key_is_403(server):
    with pytest.raises(errors.ClientError) as caught:
        generate(client_for(server, key="wrong"), jpeg_bytes())
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == "API key not valid. Please pass a valid API key."
    assert error_details(caught.value)["ErrorInfo"]["reason"] == "API_KEY_INVALID"
    reply = requests.post(f"{server.base_url}/v1beta/models/{MODEL}:generateContent",
                          json={"contents": [{"parts": [{"text": "hi"}]}]}, timeout=10)
    assert reply.status_code == 403 and reply.json()["error"]["status"] == "PERMISSION_DENIED"


def test_an_unknown_model_is_404_not_found(server):
    with pytest.raises(errors.ClientError) as caught:
        generate(client_for(server), jpeg_bytes(), model="gemini-9-ultra")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    assert "models/gemini-9-ultra is not found" in caught.value.message


def test_a_deadline_under_ten_seconds_is_refused_like_google_does(server):
    with pytest.raises(errors.ClientError) as caught:
        generate(client_for(server, timeout_ms=5_000), jpeg_bytes())
    assert caught.value.code == 400
    assert caught.value.message == "Manually set deadline 5s is too short. Minimum allowed deadline is 10s."


def test_malformed_requests_get_the_real_400s(server):
    url = f"{server.base_url}/v1beta/models/{MODEL}:generateContent"
    headers = {"x-goog-api-key": "test-key", "Content-Type": "application/json"}

    def post(body):
        reply = requests.post(url, data=body if isinstance(body, str) else json.dumps(body), headers=headers,
                              timeout=10)
        assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT"
        return reply.json()["error"]["message"]

    assert post("{not json").startswith("Invalid JSON payload received.")
    assert post({"contents": [{"parts": [{"text": "x"}]}], "temprature": 1}) == (
        'Invalid JSON payload received. Unknown name "temprature": Cannot find field.')
    assert "contents is not specified" in post({"generationConfig": {}})
    not_an_image = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/jpeg", "data": "aGVsbG8="}}]}]}
    assert post(not_an_image).startswith("Unable to process input image.")
    gif = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/gif", "data": "aGVsbG8="}}]}]}
    assert post(gif) == "Unsupported MIME type: image/gif"


def test_unknown_routes_get_googles_html_404(server):
    reply = requests.post(f"{server.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                          json={}, headers={"x-goog-api-key": "test-key"}, timeout=10)
    assert reply.status_code == 404 and "text/html" in reply.headers["Content-Type"]


# ---------------------------------------------------------------- quotas

def test_requests_per_minute_429_carries_retry_info_and_the_window_frees_after_it():
    with GeminiServer(rpm=2, minute_seconds=1.5) as server:
        client = client_for(server)
        generate(client, jpeg_bytes())
        generate(client, jpeg_bytes())
        with pytest.raises(errors.ClientError) as caught:
            generate(client, jpeg_bytes())
        error = caught.value
        assert error.code == 429 and error.status == "RESOURCE_EXHAUSTED"
        assert "retry-after" not in error.response.headers
        assert error.response.headers["content-type"].startswith("application/json")
        details = error_details(error)
        (violation,) = details["QuotaFailure"]["violations"]
        assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
        assert violation["quotaValue"] == "2" and violation["quotaDimensions"]["model"] == MODEL
        delay = seconds(details["RetryInfo"]["retryDelay"])
        assert 0 < delay <= 1.5
        assert f"Please retry in {delay:.6f}s." in error.message
        assert server.rate_limited == {"rpm": 1}
        time.sleep(delay)
        assert generate(client, jpeg_bytes()).parsed.shows  # the refused request did not count
        assert server.count(status=429) == 1 and server.count(status=200) == 3


def test_rejected_requests_can_be_made_to_count_against_the_window():
    with GeminiServer(rpm=1, minute_seconds=1.0, count_rejected=True) as server:
        client = client_for(server)
        generate(client, jpeg_bytes())
        time.sleep(0.4)
        with pytest.raises(errors.ClientError) as first:
            generate(client, jpeg_bytes())
        time.sleep(seconds(error_details(first.value)["RetryInfo"]["retryDelay"]))
        with pytest.raises(errors.ClientError) as second:  # the refused request now holds the window
            generate(client, jpeg_bytes())
        assert second.value.code == 429 and server.rate_limited == {"rpm": 2}


def test_input_tokens_per_minute_quota():
    with GeminiServer(tpm=600, minute_seconds=30) as server:
        client = client_for(server)
        generate(client, jpeg_bytes())
        generate(client, jpeg_bytes())
        with pytest.raises(errors.ClientError) as caught:
            generate(client, jpeg_bytes())
        (violation,) = error_details(caught.value)["QuotaFailure"]["violations"]
        assert violation["quotaId"] == "GenerateContentInputTokensPerModelPerMinute-FreeTier"
        assert violation["quotaMetric"].endswith("input_token_count") and violation["quotaValue"] == "600"
        assert server.rate_limited == {"tpm": 1}
        assert generate(client, jpeg_bytes(), model="gemini-2.5-pro").parsed  # quotas are per model


def test_requests_per_day_quota_in_a_scaled_day():
    with GeminiServer(rpd=1, rpm=100, day_seconds=600) as server:
        client = client_for(server)
        generate(client, jpeg_bytes())
        with pytest.raises(errors.ClientError) as caught:
            generate(client, jpeg_bytes())
        details = error_details(caught.value)
        (violation,) = details["QuotaFailure"]["violations"]
        assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        assert 590 < seconds(details["RetryInfo"]["retryDelay"]) <= 600
        assert server.rate_limited == {"rpd": 1}


def test_paid_tier_ids_and_a_retry_delay_rounded_down_like_google_sometimes_does():
    with GeminiServer(rpm=1, minute_seconds=30, free_tier=False, whole_second_retry_delay=True) as server:
        client = client_for(server)
        generate(client, jpeg_bytes())
        with pytest.raises(errors.ClientError) as caught:
            generate(client, jpeg_bytes())
        details = error_details(caught.value)
        assert details["QuotaFailure"]["violations"][0]["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
        delay = details["RetryInfo"]["retryDelay"]
        assert delay in ("29s", "28s")
        precise = float(caught.value.message.rsplit("Please retry in ", 1)[1].rstrip("s."))
        assert int(precise) == int(delay[:-1]) < precise


def test_lognormal_latency_is_seeded():
    latency = Latency.lognormal(median=0.2, sigma=0.5)
    draws = [latency.draw(random.Random(7)) for _ in range(2)]
    assert draws[0] == draws[1] > 0
    many = sorted(latency.draw(random.Random(seed)) for seed in range(2001))
    assert 0.18 < many[1000] < 0.22 and Latency.fixed(0.3).draw(random.Random()) == 0.3


def test_durations_use_protobuf_json_precision():
    assert [duration(s) for s in (7, 2.5, 7.421562, 0.1234567891)] == ["7s", "2.500s", "7.421562s", "0.123456790s"]


# ---------------------------------------------------------------- faults

@pytest.mark.parametrize("kind, error_class, code, status", [
    ("internal", errors.ServerError, 500, "INTERNAL"),
    ("unavailable", errors.ServerError, 503, "UNAVAILABLE"),
    ("deadline", errors.ServerError, 504, "DEADLINE_EXCEEDED"),
    ("invalid", errors.ClientError, 400, "INVALID_ARGUMENT"),
    ("permission", errors.ClientError, 403, "PERMISSION_DENIED"),
    ("exhausted", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
])
def test_scripted_error_faults_surface_as_the_client_raises_them(server, kind, error_class, code, status):
    server.add_fault(kind)
    with pytest.raises(error_class) as caught:
        generate(client_for(server), jpeg_bytes())
    assert caught.value.code == code and caught.value.status == status
    assert caught.value.response.headers["content-type"].startswith("application/json")
    if kind == "unavailable":
        assert caught.value.message == "The model is overloaded. Please try again later."
    if kind == "exhausted":
        assert "details" not in caught.value.details["error"] and server.rate_limited == {"none": 1}
    assert generate(client_for(server), jpeg_bytes()).parsed  # one fault, consumed by one request


def test_scripted_429s_name_their_quota_and_delay(server):
    server.add_fault("rate_limit", seconds=2.5)
    server.add_fault("daily_quota", seconds=30)
    client = client_for(server)
    ids, delays = [], []
    for _ in range(2):
        with pytest.raises(errors.ClientError) as caught:
            generate(client, jpeg_bytes())
        details = error_details(caught.value)
        ids.append(details["QuotaFailure"]["violations"][0]["quotaId"])
        delays.append(details["RetryInfo"]["retryDelay"])
    assert ids == ["GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                   "GenerateRequestsPerDayPerProjectPerModel-FreeTier"]
    assert delays == ["2.500s", "30s"] and server.rate_limited == {"rpm": 1, "rpd": 1}


def test_faults_can_be_aimed_at_one_image(server):
    client = client_for(server)
    target, bystander = jpeg_bytes(color=(9, 9, 9)), jpeg_bytes(color=(250, 250, 250))
    server.add_fault("unavailable", image=target)
    assert generate(client, bystander).parsed
    with pytest.raises(errors.ServerError):
        generate(client, target)
    assert server.pending_faults == []


def test_a_slow_answer_times_the_client_out():
    with GeminiServer(min_deadline_seconds=None) as server:
        server.add_fault("slow", seconds=5)
        with pytest.raises(httpx2.TimeoutException):
            generate(client_for(server, timeout_ms=300), jpeg_bytes())
        assert server.requests[0].outcome == "slow"


def test_a_dropped_or_reset_connection_is_a_transport_error(server):
    client = client_for(server)
    server.add_fault("drop")
    with pytest.raises(httpx2.RemoteProtocolError):
        generate(client, jpeg_bytes())
    server.add_fault("reset")
    with pytest.raises(httpx2.ReadError):
        generate(client, jpeg_bytes())
    assert [r.status for r in server.requests] == [None, None]
    assert generate(client, jpeg_bytes()).parsed  # the client recovers on a fresh connection


def test_malformed_json_and_max_tokens_give_no_parsed_value(server):
    client = client_for(server)
    server.add_fault("malformed_json")
    response = generate(client, jpeg_bytes())
    assert response.parsed is None and response.text.startswith('{"shows"')
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    server.add_fault("max_tokens")
    response = generate(client, jpeg_bytes())
    assert response.parsed is None and response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    response = generate(client, jpeg_bytes(), max_output_tokens=20,  # the model's own cut, thoughts aside
                        thinking_config=types.ThinkingConfig(thinking_budget=0))
    assert response.parsed is None and response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert len(response.text) <= 80 and response.usage_metadata.candidates_token_count <= 20


def test_thinking_tokens_count_against_max_output_tokens():
    with GeminiServer(thoughts_tokens=300) as server:
        client = client_for(server)
        usage = generate(client, jpeg_bytes()).usage_metadata
        assert usage.thoughts_token_count == 300
        assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + 300
        starved = generate(client, jpeg_bytes(), max_output_tokens=256)
        assert starved.text is None and starved.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
        no_thinking = generate(client, jpeg_bytes(), max_output_tokens=2048,
                               thinking_config=types.ThinkingConfig(thinking_budget=0))
        assert no_thinking.parsed and no_thinking.usage_metadata.thoughts_token_count is None


def thoughts(client, model, budget=None, **config):
    if budget is not None:
        config["thinking_config"] = types.ThinkingConfig(thinking_budget=budget)
    return generate(client, jpeg_bytes(), model=model, **config).usage_metadata.thoughts_token_count


def test_flash_and_pro_think_unasked_and_flash_lite_and_2_0_do_not(server):
    client = client_for(server)
    assert thoughts(client, "gemini-2.5-flash") == 800
    assert thoughts(client, "gemini-2.5-pro") == 800
    assert thoughts(client, "gemini-2.5-flash-lite") is None
    assert thoughts(client, "gemini-2.0-flash") is None
    assert thoughts(client, "gemini-2.0-flash", budget=-1) is None  # a model without thinking never thinks


def test_a_thinking_budget_stops_caps_or_frees_the_think():
    with GeminiServer(thoughts_tokens=500) as server:
        client = client_for(server)
        assert thoughts(client, "gemini-2.5-flash", budget=0) is None
        assert thoughts(client, "gemini-2.5-flash", budget=200) == 200
        assert thoughts(client, "gemini-2.5-flash", budget=2000) == 500  # a budget is a ceiling, not a target
        assert thoughts(client, "gemini-2.5-flash", budget=-1) == 500
        assert thoughts(client, "gemini-2.5-flash-lite", budget=-1) == 500
        assert thoughts(client, "gemini-2.5-flash-lite", budget=1024) == 500
        assert thoughts(client, "gemini-2.5-pro", budget=128) == 128


def test_pro_refuses_to_stop_thinking_and_budgets_out_of_range_are_400(server):
    client = client_for(server)
    for model, budget, message in [
        ("gemini-2.5-pro", 0, "Budget 0 is invalid. This model only works in thinking mode."),
        ("gemini-2.5-pro", 127, "The thinking budget (127) is invalid."),
        ("gemini-2.5-pro", 32_769, "The thinking budget (32769) is invalid."),
        ("gemini-2.5-flash", 24_577, "The thinking budget (24577) is invalid."),
        ("gemini-2.5-flash", -2, "The thinking budget (-2) is invalid."),
    ]:
        with pytest.raises(errors.ClientError) as caught:
            thoughts(client, model, budget=budget)
        assert (caught.value.code, caught.value.status, caught.value.message) == (400, "INVALID_ARGUMENT", message)
    assert {r.outcome for r in server.requests} == {"bad_request"}


def test_thoughts_are_cut_by_max_output_tokens_too(server):
    starved = generate(client_for(server), jpeg_bytes(), max_output_tokens=100)
    assert starved.text is None and starved.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert starved.usage_metadata.thoughts_token_count == 100


def test_gemini_2_5_charges_low_and_medium_media_resolution_flat_and_high_by_tiles(server):
    client = client_for(server)

    def image_cost(model="gemini-2.5-flash", resolution=None):
        config = {"media_resolution": resolution} if resolution else {}
        usage = generate(client, jpeg_bytes(1200, 800), model=model, **config).usage_metadata
        return [d.token_count for d in usage.prompt_tokens_details if d.modality.value == "IMAGE"]

    assert image_cost(resolution=types.MediaResolution.MEDIA_RESOLUTION_LOW) == [64]
    assert image_cost(resolution=types.MediaResolution.MEDIA_RESOLUTION_MEDIUM) == [256]
    assert image_cost(resolution=types.MediaResolution.MEDIA_RESOLUTION_HIGH) == [4 * 258]
    assert image_cost() == [4 * 258]
    assert image_cost("gemini-2.5-flash-lite", types.MediaResolution.MEDIA_RESOLUTION_LOW) == [64]
    assert image_cost("gemini-3-flash-preview", types.MediaResolution.MEDIA_RESOLUTION_LOW) == [280]
    assert image_tokens(4000, 3000, "gemini-2.5-pro", "MEDIA_RESOLUTION_MEDIUM") == 256
    assert image_tokens(100, 100, "gemini-2.5-flash", "MEDIA_RESOLUTION_LOW") == 64


def test_safety_stops_and_blocked_prompts_have_no_text(server):
    client = client_for(server)
    server.add_fault("safety")
    response = generate(client, jpeg_bytes())
    assert response.text is None and response.parsed is None
    assert response.candidates[0].finish_reason == types.FinishReason.SAFETY
    server.add_fault("blocked", reason="PROHIBITED_CONTENT")
    response = generate(client, jpeg_bytes())
    assert response.text is None and not response.candidates
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


def test_random_faults_follow_the_seed():
    def outcomes(seed):
        with GeminiServer(fault_rates={"unavailable": 0.5}, seed=seed) as server:
            client = client_for(server)
            codes = []
            for _ in range(12):
                try:
                    generate(client, jpeg_bytes())
                    codes.append(200)
                except errors.ServerError as error:
                    codes.append(error.code)
            return codes

    first = outcomes(3)
    assert first == outcomes(3) and set(first) == {200, 503}


def test_latency_holds_one_request_without_blocking_the_others():
    with GeminiServer(latency=0.05, min_deadline_seconds=None) as server:
        slow, quick = jpeg_bytes(color=(1, 1, 1)), jpeg_bytes(color=(2, 2, 2))
        server.add_fault("slow", image=slow, seconds=10)
        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(generate, client_for(server, timeout_ms=20_000), slow)
            while not server.requests:
                time.sleep(0.01)
            assert generate(client_for(server), quick).parsed
            assert not held.done()
            server.close()  # cuts the sleeping request short
            with pytest.raises(httpx2.TransportError):
                held.result()


def test_async_client_works_too(server):
    import asyncio

    async def call():
        return await client_for(server).aio.models.generate_content(
            model=MODEL, contents=[types.Part.from_bytes(data=jpeg_bytes(), mime_type="image/jpeg"), "Extract."],
            config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=Shows))

    assert asyncio.run(call()).parsed.shows


# ---------------------------------------------------------------- lifecycle

def test_close_leaves_no_threads_behind():
    before = set(threading.enumerate())
    with GeminiServer() as server:
        client = client_for(server)
        for _ in range(3):
            generate(client, jpeg_bytes())  # keep-alive connections stay open until close()
    assert set(threading.enumerate()) <= before


def test_module_entry_serves_until_killed_and_the_environment_alone_points_a_client_at_it(monkeypatch):
    process = subprocess.Popen(
        [sys.executable, "-m", "daskparse.testing.gemini", "--port", "0", "--api-key", "dev-key", "--rpm", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        for name in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", base_url)
        monkeypatch.setenv("GEMINI_API_KEY", "dev-key")
        monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1beta")
        client = genai.Client()
        assert client.models.count_tokens(model=MODEL, contents="four words of text").total_tokens == 5
        answer = client.models.generate_content(model=MODEL, contents="Hello")
        assert answer.text and answer.usage_metadata.thoughts_token_count == 800  # thinks like the real Flash
        with pytest.raises(errors.ClientError) as caught:  # --rpm 1 holds
            client.models.generate_content(model=MODEL, contents="Hello")
        assert caught.value.code == 429
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
