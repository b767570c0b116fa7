"""A loopback stand-in for the Gemini Developer API, faithful enough to run the real google-genai client against.

    with GeminiServer(api_key="test-key", rpm=5, minute_seconds=2) as server:
        client = genai.Client(api_key="test-key", http_options=types.HttpOptions(
            base_url=server.base_url, api_version="v1beta", timeout=30_000,
            retry_options=types.HttpRetryOptions(attempts=1)))
        server.add_fault("unavailable")              # the next generateContent gets a 503
        server.set_answer(jpeg, {"is_flyer": True, "shows": [...]})  # what the model "reads" on this image
        server.set_not_flyer(receipt, "a shop receipt")  # the model says this image is no event flyer
        ...
        assert server.count(":generateContent") == 3 and server.rate_limited["rpm"] == 0

    with GeminiServer(batch_pending_seconds=0.05, batch_running_seconds=0.1) as server:
        job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": [...], "metadata": {"key": "a"}}])
        server.add_batch_fault("failed")             # the next created job ends BATCH_STATE_FAILED
        server.add_batch_error(jpeg)                 # the next batch request with this image gets {"error": ...}
        client.batches.get(name=job.name).dest.inlined_responses   # once SUCCEEDED, in input order
        server.batch_jobs, server.files                # what was created, with states; stored files and bytes

What it honours (the wire facts observed by driving google-genai 3.6 against a capture server, plus Google's
docs and public issue threads):

- ``POST /{v1,v1beta,v1alpha}/models/{model}:generateContent`` and ``:countTokens`` (batches and files below);
  anything else is Google's HTML 404. Body keys are accepted in camelCase and snake_case alike (property names
  inside schemas, and metadata keys, are kept).
- Auth: ``x-goog-api-key`` (or ``?key=``). A wrong key is 400 INVALID_ARGUMENT with ErrorInfo API_KEY_INVALID;
  no key at all is 403 PERMISSION_DENIED "Method doesn't allow unregistered callers", as Google answers.
- ``X-Server-Timeout`` under ``min_deadline_seconds`` (10 s) is 400 "Manually set deadline Ns is too short".
- Unknown model is 404 NOT_FOUND; ``models/x`` and ``x`` name the same model.
- Quotas per model on sliding windows: requests per minute (``rpm``), input tokens per minute (``tpm``),
  requests per day (``rpd``); ``minute_seconds``/``day_seconds`` shrink the windows for tests. Over a quota:
  429 RESOURCE_EXHAUSTED with QuotaFailure (one violation per exceeded axis), Help and RetryInfo (a fractional
  protobuf Duration: the time until the window frees room), the message repeating "Please retry in Xs.",
  and no Retry-After header. By default a rejected request does not count against any window
  (``count_rejected=True`` makes it count). A request that passed the quota check counts even when a
  scripted fault then fails it. countTokens has no quota, latency or faults.
- Tokens: text ~ len/4; an image with both sides <= 384 px costs 258, a larger one 258 per 768x768 tile
  (1200x800: 2x2 tiles, 1,032). ``generationConfig.mediaResolution`` on Gemini 2.x: LOW 64, MEDIUM 256 per
  image (the SDK's documented values), HIGH or unset the tile rule; gemini-3 models charge per level instead
  (LOW 280, MEDIUM 560, HIGH/unset 1120).
- Thinking, per model as the Gemini API documents it: gemini-2.5-flash and gemini-2.5-pro (and gemini-3) think
  dynamically when the request names no ``thinkingConfig.thinkingBudget``; gemini-2.5-flash-lite thinks only
  when given a budget; gemini-2.0 models never think. A dynamic think spends ``thoughts_tokens`` (default
  800, what a flyer can cost on the real model); ``thinkingBudget`` -1 is dynamic, N > 0 spends
  min(N, ``thoughts_tokens``), 0 spends none, except on pro models, which answer 0 with 400 INVALID_ARGUMENT
  "Budget 0 is invalid. This model only works in thinking mode." (as reported) and any other budget outside
  128..32768 with "The thinking budget (N) is invalid."; flash models accept up to 24,576. Thoughts are
  reported in ``usageMetadata.thoughtsTokenCount``, included in ``totalTokenCount``, billed as output.
- Answers: a registered answer for the image (by sha256), else ``set_default_answer``'s callable, else a
  deterministic flyer's answer derived from the image's sha256 (``is_flyer`` true, venue ``Venue <first 8
  hex>``), shaped to fit the request's responseSchema / responseJsonSchema. ``set_not_flyer`` (or an answer
  ``NotAFlyer``) makes the model read an image as no event flyer: ``is_flyer`` false, its reason, no shows,
  fitted to the schema the same way (a schema without ``is_flyer`` gets just no shows). Thoughts count against ``maxOutputTokens``: an answer
  longer than what the thoughts leave of it is cut and finishes with MAX_TOKENS, as the real model's is.
- Faults, scripted (``add_fault``: a queue consumed in order, optionally only by a given image) or drawn per
  request from ``fault_rates`` with the seeded RNG; kinds in ``FAULT_KINDS``.
- Every request is recorded (``requests``) with the key masked and inline image data replaced by a
  ``<N bytes sha256=...>`` placeholder (the sha256s are in ``image_sha256s``).

Batch API (``/{v1,v1beta,v1alpha}/``; the shapes google-genai 3.6.1 sends and parses, see gemini-batch.md):

- ``POST models/M:batchGenerateContent`` with ``batch.inputConfig.requests.requests[]`` (each ``{"request",
  "metadata"}``, metadata values strings) or ``batch.inputConfig.fileName`` (an uploaded JSONL of ``{"key",
  "request"}`` lines); ``displayName`` kept. Key and model checked as for generateContent. Not idempotent: the
  same body twice is two jobs. The reply, like ``GET batches/ID``, is the long-running operation ``{"name":
  "batches/ID", "metadata": {"@type", "model", "displayName", "createTime", "updateTime", "endTime" once ended,
  "batchStats" (int64 strings, zeros left out), "state", "output" once SUCCEEDED}, "done": true once ended,
  "response": output}``; the SDK reads only name and metadata. A FAILED job carries an rpc ``error`` on the
  operation (which the SDK ignores) and no output.
- States on a clock: PENDING for ``batch_pending_seconds``, RUNNING for ``batch_running_seconds``, then
  SUCCEEDED; a job unfinished after ``batch_expire_seconds`` (48 h) is EXPIRED; ``POST batches/ID:cancel``
  ends a PENDING or RUNNING job CANCELLED (a finished one: 400 FAILED_PRECONDITION). ``DELETE batches/ID`` or
  ``POST batches/ID:delete`` hides the job from get (404) and list but does not stop it (Operations.Delete).
  ``GET batches?pageSize=N&pageToken=T`` lists newest first as ``{"operations", "nextPageToken"}``.
- More than ``max_concurrent_batches`` PENDING or RUNNING jobs: create is 429 RESOURCE_EXHAUSTED, without
  Retry-After or RetryInfo. ``add_batch_fault`` scripts the next create (``BATCH_FAULT_KINDS``: a FAILED,
  EXPIRED or stuck job; a 503 or 429 create; a job whose reply is lost on a dropped connection).
- Each request is answered, once the job is seen SUCCEEDED, by the same code as generateContent (answers by
  image, schema fitting, usage with image tokens, thinking, MAX_TOKENS cuts) but without latency, quotas or
  online faults. A request generateContent would refuse, or one whose image ``add_batch_error`` names, gets
  ``{"error": {"code": <google.rpc.Code>, "message"}}`` and no response; no ``details`` (3.6.1 cannot parse
  rpc details there). Inline jobs answer in ``output.inlinedResponses.inlinedResponses[]``, in input order,
  each echoing its request's metadata unless ``batch_echo_metadata`` is False (reported to happen); file jobs
  in ``output.responsesFile: "files/batch-ID"``, a JSONL of ``{"key", "response"}`` / ``{"key", "error"}``.

Files API: ``POST upload/V/files`` (X-Goog-Upload-Protocol resumable, command start) answers the upload URL in
``x-goog-upload-url``; chunks POSTed there without an API key ("upload", the last "upload, finalize", at
X-Goog-Upload-Offset) get ``x-goog-upload-status: active`` and finally ``final`` with ``{"file": File}``
(sizeBytes a string, state ACTIVE). ``GET files/ID``, ``GET files``, ``DELETE files/ID``; ``GET
files/ID:download?alt=media`` (also under ``/download/``) serves generated files only. An unknown file is 403
PERMISSION_DENIED, as Google answers.

Not served: streaming, caches (404 like any unknown route). A server-side deadline shorter than the latency
does not turn into a 504 here: script a "deadline" fault for that.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import math
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from daskparse.testing.gemini_batches import (
    ACTIVE_STATES, BATCH_FAULT_KINDS, JOB_OUTCOME_FAULTS, BatchClock, BatchItem, BatchJob, BatchJobInfo,
    BatchRequestError, StoredFile, UploadSession, file_resource, job_info, operation, page, parse_jsonl_requests,
    results_jsonl,
)
from daskparse.testing.image_server import LoopbackHTTPServer
from typing import Any, Callable, Iterable, Mapping, Union
from urllib.parse import parse_qsl, urlencode, urlsplit

from PIL import Image

from daskparse.shows import KINDS, WEEKDAYS

DEFAULT_MODELS = (
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-3-flash-preview",
    "gemini-3-pro-preview",
)

FAULT_KINDS = {
    "internal": "500 INTERNAL",
    "unavailable": "503 UNAVAILABLE, the model is overloaded",
    "deadline": "504 DEADLINE_EXCEEDED",
    "invalid": "400 INVALID_ARGUMENT",
    "permission": "403 PERMISSION_DENIED",
    "rate_limit": "429 per-minute quota, RetryInfo of `seconds` (default 1)",
    "daily_quota": "429 per-day quota id, RetryInfo of `seconds` (default 1)",
    "exhausted": "429 with no details at all",
    "slow": "sleep `seconds` (default 30), then answer normally",
    "drop": "close the connection without answering (the client sees RemoteProtocolError)",
    "reset": "reset the connection without answering (the client sees ReadError)",
    "malformed_json": "200 whose text is not valid JSON",
    "max_tokens": "200 with the JSON cut in half, finishReason MAX_TOKENS",
    "safety": "200 with finishReason `reason` (default SAFETY) and no content",
    "blocked": "200 with promptFeedback.blockReason `reason` (default SAFETY) and no candidates",
}

TILE_PIXELS = 768
SMALL_IMAGE_PIXELS = 384
TOKENS_PER_TILE = 258
# Gemini 3 prices an image by its media resolution, not by tiles (docs); unset means HIGH for images.
MEDIA_RESOLUTION_TOKENS = {
    "MEDIA_RESOLUTION_LOW": 280,
    "MEDIA_RESOLUTION_MEDIUM": 560,
    "MEDIA_RESOLUTION_HIGH": 1120,
    "MEDIA_RESOLUTION_ULTRA_HIGH": 1120,
    "MEDIA_RESOLUTION_UNSPECIFIED": 1120,
}
# Gemini 2.x: a requested media resolution replaces the tile rule (the SDK's MediaResolution docs).
MEDIA_RESOLUTION_TOKENS_2X = {"MEDIA_RESOLUTION_LOW": 64, "MEDIA_RESOLUTION_MEDIUM": 256}
DYNAMIC_THOUGHTS_TOKENS = 800  # what a dynamic think spends here: hundreds of tokens per flyer on 2.5 Flash
SUPPORTED_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
MAX_REQUEST_BYTES = 20 * 1024 * 1024
ERROR_TROUBLESHOOTING = "https://developers.generativeai.google/guide/troubleshooting"
RATE_LIMITS_DOC = "https://ai.google.dev/gemini-api/docs/rate-limits"

_VERSION = r"(v1|v1beta|v1alpha)"
_ROUTE = re.compile(rf"^/{_VERSION}/models/(?:models/)?([^/:]+):(generateContent|countTokens|batchGenerateContent)$")
_BATCH_ROUTE = re.compile(rf"^/{_VERSION}/batches(?:/([^/:]+)(?::(cancel|delete))?)?$")
_FILE_ROUTE = re.compile(rf"^(/download)?/{_VERSION}/files(?:/([^/:]+)(?::(download))?)?$")
_UPLOAD_ROUTE = re.compile(rf"^/upload/{_VERSION}/files$")
# What a handler answers: (status, JSON body, HTML text or raw bytes) and optionally extra headers; None when
# the connection was dropped instead.
Reply = Union[tuple[int, Any], tuple[int, Any, dict[str, str]]]
# google.rpc.Code of an HTTP status: a batch's per-request errors and a failed operation carry these.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14, 504: 4}
# Top-level fields of GenerateContentRequest / CountTokensRequest; anything else is "Unknown name".
_REQUEST_FIELDS = {
    "model", "contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig",
    "cachedContent", "serviceTier", "store", "generateContentRequest",
}
_MASK = "***"
_NOT_JSON = object()


# ---------------------------------------------------------------- wire formats

def duration(seconds: float) -> str:
    """A protobuf JSON Duration: "7s", "2.500s", "7.421562s" (0, 3, 6 or 9 fractional digits)."""
    nanos = max(0, math.ceil(round(seconds * 1e9, 3)))
    whole, frac = divmod(nanos, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    for digits, unit in ((3, 1_000_000), (6, 1_000)):
        if frac % unit == 0:
            return f"{whole}.{frac // unit:0{digits}d}s"
    return f"{whole}.{frac:09d}s"


def error_body(code: int, status: str, message: str, details: list | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _bad_request(message: str) -> tuple[int, dict]:
    violation = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"description": message}]}
    return 400, error_body(400, "INVALID_ARGUMENT", message, [violation])


def _camel(key: str) -> str:
    if "_" not in key.strip("_") or key[:1] in "$@_":
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Maps whose keys are user-chosen names (schema properties, function args): keep the names, walk the values.
_NAME_MAPS = {"properties", "$defs", "definitions", "patternProperties", "args", "response", "labels", "metadata"}
# Plain JSON Schema documents, passed through untouched.
_VERBATIM = {"responseJsonSchema", "parametersJsonSchema", "responseJsonSchemaOverride"}


def camel_keys(value: Any) -> Any:
    """The request with every protocol key in camelCase, as the real server reads both spellings."""
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = _camel(key)
        if name in _VERBATIM:
            out[name] = item
        elif name in _NAME_MAPS and isinstance(item, dict):
            out[name] = {child: camel_keys(schema) for child, schema in item.items()}
        else:
            out[name] = camel_keys(item)
    return out


# ---------------------------------------------------------------- tokens

def text_tokens(text: str) -> int:
    """The usual ~4 characters per token estimate."""
    return math.ceil(len(text) / 4) if text else 0


def image_tokens(width: int, height: int, model: str = "gemini-2.5-flash", media_resolution: str | None = None) -> int:
    """Input tokens one image costs: 258 when both sides <= 384 px, else 258 per 768x768 tile (Gemini 2.x),
    64 or 256 flat at a LOW or MEDIUM media resolution; a fixed price per media resolution level on Gemini 3."""
    if model.startswith("gemini-3"):
        return MEDIA_RESOLUTION_TOKENS.get(media_resolution or "MEDIA_RESOLUTION_UNSPECIFIED", 1120)
    if media_resolution in MEDIA_RESOLUTION_TOKENS_2X:
        return MEDIA_RESOLUTION_TOKENS_2X[media_resolution]
    if width <= SMALL_IMAGE_PIXELS and height <= SMALL_IMAGE_PIXELS:
        return TOKENS_PER_TILE
    return math.ceil(width / TILE_PIXELS) * math.ceil(height / TILE_PIXELS) * TOKENS_PER_TILE


@dataclass(frozen=True)
class ThinkingRule:
    """How a model family thinks (the Gemini API's thinking docs): unasked, whether it can stop, its budgets."""

    by_default: bool  # thinks dynamically when the request names no budget
    can_turn_off: bool  # a budget of 0 means no thoughts (else it is a 400)
    min_budget: int = 1
    max_budget: int = 24_576


class InvalidThinkingBudget(ValueError):
    """A thinkingBudget the model refuses; its message is the real API's 400 message."""


def thinking_rule(model: str) -> ThinkingRule | None:
    """The thinking rule of ``model``, or None for a model that never thinks (Gemini 2.0 and older)."""
    model = model.removeprefix("models/")
    if model.startswith(("gemini-1", "gemini-2.0")):
        return None
    if "-pro" in model:
        return ThinkingRule(by_default=True, can_turn_off=False, min_budget=128, max_budget=32_768)
    if "-lite" in model:
        return ThinkingRule(by_default=False, can_turn_off=True)
    return ThinkingRule(by_default=True, can_turn_off=True)


def thoughts_tokens_for(model: str, thinking_budget: Any, dynamic: int = DYNAMIC_THOUGHTS_TOKENS) -> int:
    """Thought tokens a request spends, given its ``thinkingBudget`` (None when it sent none) and what a dynamic
    think costs; raises InvalidThinkingBudget for a budget the model refuses."""
    rule = thinking_rule(model)
    if rule is None:
        return 0
    if thinking_budget is None:
        return dynamic if rule.by_default else 0
    try:
        budget = int(thinking_budget)
    except (TypeError, ValueError):
        raise InvalidThinkingBudget(f"Invalid value at 'generation_config.thinking_config.thinking_budget' "
                                    f"(TYPE_INT32), {json.dumps(thinking_budget)}") from None
    if budget == -1:
        return dynamic
    if budget == 0:
        if not rule.can_turn_off:
            raise InvalidThinkingBudget("Budget 0 is invalid. This model only works in thinking mode.")
        return 0
    if not rule.min_budget <= budget <= rule.max_budget:
        raise InvalidThinkingBudget(f"The thinking budget ({budget}) is invalid.")
    return min(budget, dynamic)


# ---------------------------------------------------------------- answers

def default_answer(seed: bytes) -> dict:
    """A valid, deterministic ``{"is_flyer": true, "shows": [...]}`` derived from ``seed`` (the image bytes).

    The venue is ``Venue <first 8 hex of sha256(seed)>`` so a test can tell which image an answer belongs to.
    """
    digest = hashlib.sha256(seed).hexdigest()
    shows = []
    for index in range(1 + int(digest[8:10], 16) % 3):
        draw = random.Random(f"{digest}:{index}")  # string seeds are stable across runs and platforms
        kind = draw.choice(KINDS)
        day = dt.date(2026, 1, 5) + dt.timedelta(days=draw.randrange(28))
        start = draw.randrange(17, 23)
        weekly = draw.random() < 0.5
        number = draw.randrange(100, 9999)
        zip_code = f"787{draw.randrange(100):02d}"
        shows.append({
            "title": f"{kind.title()} Night",
            "kind": kind,
            "performer": f"Host {digest[8 + 4 * index:12 + 4 * index]}",
            "venue": f"Venue {digest[:8]}",
            "address": f"{number} Main St, Austin, TX {zip_code}",
            "street": f"{number} Main St",
            "city": "Austin",
            "state": "TX",
            "zip": zip_code,
            "date": None if weekly else day.isoformat(),
            "weekday": WEEKDAYS[day.weekday()],
            "recurrence": "weekly" if weekly else None,
            "start_time": f"{start:02d}:{draw.choice((0, 30)):02d}",
            "end_time": f"{(start + 3) % 24:02d}:00",
        })
    return {"is_flyer": True, "shows": shows}


@dataclass(frozen=True)
class NotAFlyer:
    """An answer (registered, or returned by an answer callable): the model reads the image as no event flyer.
    Sent fitted to the request's schema, like the default answer."""

    reason: str = "not an event flyer"

    def answer(self) -> dict:
        return {"is_flyer": False, "not_flyer_reason": self.reason, "shows": []}


def fit_schema(value: Any, schema: Mapping | None, defs: Mapping | None = None) -> Any:
    """``value`` reshaped to validate against ``schema`` (Gemini's OpenAPI subset or plain JSON Schema).

    Known properties keep their value when it fits, anything missing or of the wrong type gets a plain
    placeholder, enums fall back to their first member, lengths and item counts are clamped.
    """
    if not schema:
        return value
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return fit_schema(value, {**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        nullable = any(_types(branch) == {"null"} for branch in branches) or schema.get("nullable")
        if value is None and nullable:
            return None
        typed = [branch for branch in branches if _types(branch) != {"null"}] or branches
        return fit_schema(value, next((b for b in typed if _fits(value, b)), typed[0]), defs)
    types = _types(schema)
    if value is None and "null" in types:
        return None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    if "object" in types or "properties" in schema:
        return _fit_object(value, schema, defs)
    if "array" in types:
        items = [value] if value is not None and not isinstance(value, list) else list(value or [])
        items = items[: schema.get("maxItems", len(items))]
        items += [None] * max(0, int(schema.get("minItems", 0)) - len(items))
        return [fit_schema(item, schema.get("items"), defs) for item in items]
    if "string" in types:
        text = value if isinstance(value, str) else ("unknown" if value is None else json.dumps(value))
        text = text[: int(schema.get("maxLength", len(text)))]
        return text.ljust(int(schema.get("minLength", 0)), "x")
    if "integer" in types or "number" in types:
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
        number = max(number, schema.get("minimum", number))
        number = min(number, schema.get("maximum", number))
        return int(number) if "integer" in types else float(number)
    if "boolean" in types:
        return bool(value)
    return value


def _default_hint(answer: dict, schema: Mapping | None) -> Any:
    """The part of the default answer a schema asks for: the shows list, one show, or the whole object."""
    if not schema:
        return answer
    properties = schema.get("properties") or {}
    if "array" in _types(schema):
        return answer["shows"]
    if properties and "shows" not in properties and answer["shows"]:
        return answer["shows"][0]
    return answer


def _types(schema: Mapping) -> set[str]:
    declared = schema.get("type")
    names = {str(t).lower() for t in (declared if isinstance(declared, list) else [declared] if declared else [])}
    if schema.get("nullable"):
        names.add("null")
    return names


def _fits(value: Any, schema: Mapping) -> bool:
    types = _types(schema)
    checks = {
        "object": isinstance(value, dict), "array": isinstance(value, list), "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool), "null": value is None,
    }
    return not types or any(checks.get(name, False) for name in types)


def _fit_object(value: Any, schema: Mapping, defs: Mapping) -> dict:
    given = value if isinstance(value, dict) else {}
    properties = schema.get("properties", {})
    if not properties:
        return dict(given)
    order = list(schema.get("propertyOrdering") or properties)
    order += [name for name in properties if name not in order]
    required = set(schema.get("required", []))
    return {
        name: fit_schema(given.get(name), properties[name], defs)
        for name in order
        if name in properties and (name in given or name in required)
    }


@dataclass
class GenerateCall:
    """What an answer callable sees: the request as the server understood it."""

    model: str
    body: dict  # camelCase keys, image data included
    images: list[bytes]
    image_sha256s: list[str]
    text: str  # every text part (system instruction included), joined by newlines
    prompt_tokens: int = 0
    prompt_details: list = field(default_factory=list)  # promptTokensDetails, per modality
    thoughts_tokens: int = 0  # what the model thinks before answering (its thinking rule and the budget sent)

    @property
    def generation_config(self) -> dict:
        return self.body.get("generationConfig") or {}


Answer = Any  # a dict/list (sent as JSON), a str (sent verbatim), a NotAFlyer, or a callable returning one of these


# ---------------------------------------------------------------- quotas, latency, faults

class SlidingWindow:
    """Amounts (requests or tokens) spent in the last ``length`` seconds."""

    def __init__(self, length: float):
        self.length = length
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.length:
            self._total -= self._events.popleft()[1]

    def add(self, now: float, amount: int) -> None:
        self._events.append((now, amount))
        self._total += amount

    def wait(self, now: float, amount: int, limit: int) -> float:
        """Seconds until ``amount`` more fits under ``limit`` (0 when it fits now)."""
        self._expire(now)
        excess = self._total + amount - limit
        if excess <= 0:
            return 0.0
        freed = 0
        for at, spent in self._events:
            freed += spent
            if freed >= excess:
                return at + self.length - now
        # More than the whole limit on its own: the best the window can do is empty.
        return (self._events[-1][0] + self.length - now) if self._events else self.length


@dataclass(frozen=True)
class Latency:
    """Seconds a generateContent answer takes: fixed, or lognormal around ``median``."""

    median: float = 0.0
    sigma: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> "Latency":
        return cls(seconds, 0.0)

    @classmethod
    def lognormal(cls, median: float, sigma: float) -> "Latency":
        return cls(median, sigma)

    def draw(self, rng: random.Random) -> float:
        if self.median <= 0 or self.sigma <= 0:
            return max(0.0, self.median)
        return rng.lognormvariate(math.log(self.median), self.sigma)


@dataclass
class Fault:
    kind: str
    image_sha256: str | None = None  # only a request carrying this image consumes the fault
    seconds: float | None = None
    reason: str | None = None


@dataclass
class RecordedRequest:
    time: float  # time.monotonic() on arrival
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the JSON as sent (keys not normalised), images replaced by "<N bytes sha256=...>"; text if not JSON
    image_sha256s: list[str] = field(default_factory=list)
    model: str | None = None
    status: int | None = None  # what was answered; None for a dropped connection
    outcome: str | None = None  # "ok", a fault kind, "quota:rpm+tpm", "auth", "not_found", "bad_request"...


# (quotaMetric, quotaId) per axis, as seen in real 429 bodies; free tier, then paid tier.
_FREE_TIER_QUOTAS = {
    "rpm": ("generate_content_free_tier_requests", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
    "tpm": ("generate_content_free_tier_input_token_count", "GenerateContentInputTokensPerModelPerMinute-FreeTier"),
    "rpd": ("generate_content_free_tier_requests", "GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
}
_PAID_TIER_QUOTAS = {
    "rpm": ("generate_requests_per_model", "GenerateRequestsPerMinutePerProjectPerModel"),
    "tpm": ("generate_content_paid_tier_input_token_count", "GenerateContentPaidTierInputTokensPerModelPerMinute"),
    "rpd": ("generate_requests_per_model_per_day", "GenerateRequestsPerDayPerProjectPerModel"),
}


# ---------------------------------------------------------------- the server

class GeminiServer:
    """A threaded HTTP server on 127.0.0.1 speaking the Gemini Developer API (see the module docstring)."""

    def __init__(
        self,
        api_key: str | Iterable[str] = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[str] = DEFAULT_MODELS,
        rpm: int | None = None,
        tpm: int | None = None,
        rpd: int | None = None,
        minute_seconds: float = 60.0,
        day_seconds: float = 86_400.0,
        count_rejected: bool = False,
        free_tier: bool = True,
        whole_second_retry_delay: bool = False,
        latency: float | Latency = 0.0,
        fault_rates: Mapping[str, float] | None = None,
        seed: int = 0,
        min_deadline_seconds: float | None = 10,
        thoughts_tokens: int = DYNAMIC_THOUGHTS_TOKENS,
        max_records: int | None = None,
        batch_pending_seconds: float = 0.2,
        batch_running_seconds: float = 0.3,
        batch_expire_seconds: float = 48 * 3600.0,
        max_concurrent_batches: int = 100,
        batch_echo_metadata: bool = True,
    ):
        self.api_keys = {api_key} if isinstance(api_key, str) else set(api_key)
        self.models = {model.removeprefix("models/") for model in models}
        self.rpm, self.tpm, self.rpd = rpm, tpm, rpd
        self.minute_seconds, self.day_seconds = minute_seconds, day_seconds
        self.count_rejected = count_rejected
        self.free_tier = free_tier
        # Google has been seen to round retryDelay down ("7s") while the message says 7.42s.
        self.whole_second_retry_delay = whole_second_retry_delay
        self.latency = latency if isinstance(latency, Latency) else Latency.fixed(latency)
        self.fault_rates = dict(fault_rates or {})
        unknown = set(self.fault_rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(FAULT_KINDS)}")
        self.min_deadline_seconds = min_deadline_seconds
        self.thoughts_tokens = thoughts_tokens
        # Batch jobs: the clock a new job runs on, how many may be PENDING or RUNNING at once, and whether results
        # echo each inline request's metadata (reported to go missing sometimes: set False to see that).
        self.batch_clock = BatchClock(batch_pending_seconds, batch_running_seconds, batch_expire_seconds)
        self.max_concurrent_batches = max_concurrent_batches
        self.batch_echo_metadata = batch_echo_metadata

        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._closing = threading.Event()
        # A long-running dev server keeps only the latest requests; tests keep them all.
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._rate_limited: Counter[str] = Counter()
        self._windows: dict[str, dict[str, SlidingWindow]] = {}  # model -> axis -> window
        self._faults: list[Fault] = []
        self._answers: dict[str, Answer] = {}
        self._default_answer: Callable[[GenerateCall], Any] | None = None
        self._connections: set[socket.socket] = set()
        self._started = False
        self._ids = random.Random(f"ids:{seed}")  # its own stream: ids must not shift the seeded fault draws
        self._jobs: dict[str, BatchJob] = {}  # id -> job, in creation order
        self._batch_faults: list[str] = []
        self._batch_errors: list[BatchRequestError] = []
        self._files: dict[str, StoredFile] = {}  # id -> file
        self._uploads: dict[str, UploadSession] = {}

        self._httpd = LoopbackHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = False  # server_close() joins every handler thread
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="gemini-server", daemon=True)

    # ---- lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        host = self._httpd.server_address[0]
        assert isinstance(host, str)  # an IP server's address (bytes only for a Unix socket)
        return f"http://{host}:{self.port}"

    def start(self) -> "GeminiServer":
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections and pending sleeps, and join every thread."""
        self._closing.set()
        if self._started:
            self._httpd.shutdown()
            self._thread.join()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self) -> "GeminiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- scripting

    def add_fault(self, kind: str, *, image: bytes | str | None = None, seconds: float | None = None,
                  reason: str | None = None, times: int = 1) -> None:
        """Queue a fault for the next generateContent (carrying ``image``, bytes or sha256 hex, when given)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        sha = _sha256_of(image) if image is not None else None
        with self._lock:
            self._faults.extend(Fault(kind, sha, seconds, reason) for _ in range(times))

    def set_answer(self, image: bytes | str, answer: Answer) -> None:
        """What the model answers for ``image`` (bytes or sha256 hex): a dict/list, raw text, or a callable."""
        with self._lock:
            self._answers[_sha256_of(image)] = answer

    def set_not_flyer(self, image: bytes | str, reason: str = "not an event flyer") -> None:
        """The model reads ``image`` (bytes or sha256 hex) as no event flyer: no shows, ``is_flyer`` false."""
        self.set_answer(image, NotAFlyer(reason))

    def set_default_answer(self, answer: Callable[[GenerateCall], Any] | None) -> None:
        """A callable(GenerateCall) for images without a registered answer; None restores the built-in one."""
        with self._lock:
            self._default_answer = answer

    def add_batch_fault(self, kind: str, *, times: int = 1) -> None:
        """Script the next batch create (kinds in ``BATCH_FAULT_KINDS``): a job outcome such as "failed" or
        "expired", or a create call that fails ("unavailable", "exhausted") or loses its reply ("lost_reply")."""
        if kind not in BATCH_FAULT_KINDS:
            raise ValueError(f"unknown batch fault kind {kind!r}; known: {sorted(BATCH_FAULT_KINDS)}")
        with self._lock:
            self._batch_faults.extend([kind] * times)

    def add_batch_error(self, image: bytes | str, *, code: int = 13, message: str = "Internal error encountered.",
                        times: int = 1) -> None:
        """The next batch request carrying ``image`` (bytes or sha256 hex) is answered ``{"error": {code,
        message}}`` (``code`` a google.rpc.Code: 13 INTERNAL, 3 INVALID_ARGUMENT...) instead of a response."""
        with self._lock:
            self._batch_errors.extend(BatchRequestError(_sha256_of(image), code, message) for _ in range(times))

    def reset(self) -> None:
        """Forget recorded requests, 429 counts, quota windows and pending faults (answers, config, batch jobs
        and files stay)."""
        with self._lock:
            self._records.clear()
            self._rate_limited.clear()
            self._windows.clear()
            self._faults.clear()
            self._batch_faults.clear()
            self._batch_errors.clear()

    # ---- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    @property
    def rate_limited(self) -> Counter[str]:
        """429s sent, by the quota axis their body names: "rpm", "tpm", "rpd", or "none" (no details)."""
        with self._lock:
            return Counter(self._rate_limited)

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def batch_jobs(self) -> list[BatchJobInfo]:
        """Every job created, deleted ones included, in creation order, with its state now."""
        now = time.monotonic()
        with self._lock:
            return [job_info(job, now) for job in self._jobs.values()]

    @property
    def files(self) -> list[StoredFile]:
        """Every stored file: uploaded ones and the results files of finished file jobs."""
        with self._lock:
            return list(self._files.values())

    def count(self, path_suffix: str | None = None, *, status: int | None = None) -> int:
        """Requests whose path (query dropped) ends with ``path_suffix`` and that got ``status``."""
        return sum(
            1 for record in self.requests
            if (path_suffix is None or urlsplit(record.path).path.endswith(path_suffix))
            and (status is None or record.status == status)
        )

    # ---- request handling

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60  # idle keep-alive connections end on their own
            # Headers and body leave in one segment, without Nagle: no 40 ms delayed-ACK stall per request.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def version_string(self) -> str:
                return "scaffolding on HTTPServer2"

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)
                if server._closing.is_set():  # accepted while close() ran: end it here, close() may have missed it
                    self.close_connection = True
                    _drop(self, reset=False)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                try:
                    super().finish()
                except (OSError, ValueError):  # the socket is already gone (a dropped or reset connection)
                    pass

            def do_POST(self) -> None:
                server._serve(self)

            do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        raw = _read_body(handler)
        chunk = "upload" in handler.headers.get("X-Goog-Upload-Command", "")
        try:
            sent = _NOT_JSON if chunk else json.loads(raw) if raw else {}
        except (ValueError, UnicodeDecodeError):
            sent = _NOT_JSON
        if chunk:  # an upload chunk is file data (a JSONL of images): recorded like an image, by size and hash
            recorded: Any = f"<{len(raw)} bytes sha256={hashlib.sha256(raw).hexdigest()}>"
        else:
            recorded = raw[:4096].decode("utf-8", "replace") if sent is _NOT_JSON else _elide_images(sent)
        record = RecordedRequest(
            time=time.monotonic(), method=handler.command, path=_mask_query(handler.path),
            headers={name: (_MASK if name.lower() in ("x-goog-api-key", "authorization") else value)
                     for name, value in handler.headers.items()},
            body=recorded,
        )
        with self._lock:
            self._records.append(record)
        try:
            reply = self._respond(handler, raw, sent, record)
        except Exception as error:  # a bug here must still look like a server fault, not hang the client
            reply = (500, error_body(500, "INTERNAL", f"loopback server error: {error!r}"))
            record.outcome = "server_error"
        if reply is None:
            return
        status, body = reply[0], reply[1]
        record.status = status
        if record.outcome is None:
            record.outcome = "ok" if status == 200 else str(status)
        _send(handler, status, body, reply[2] if len(reply) > 2 else None)

    def _respond(self, handler, raw: bytes, sent: Any, record: RecordedRequest) -> Reply | None:
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query))
        if handler.command == "POST" and "upload_id" in query and _UPLOAD_ROUTE.match(url.path):
            return self._upload_chunk(handler, raw, query["upload_id"], record)  # chunks carry no API key
        route = _ROUTE.match(url.path) if handler.command == "POST" else None
        other = None if route else self._other_route(handler, url.path, query, sent, record)
        if route is None and other is None:
            record.outcome = "not_found"
            return 404, _html_404(url.path)
        if route is not None:
            record.model = route.group(2)
        refusal = self._refuse_caller(handler, query, record)
        if refusal is not None:
            return refusal
        if other is not None:
            return other()
        assert route is not None
        version, model, method = route.groups()

        if len(raw) > MAX_REQUEST_BYTES:
            record.outcome = "bad_request"
            return 400, error_body(400, "INVALID_ARGUMENT",
                                   f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.")
        if sent is _NOT_JSON:
            record.outcome = "bad_request"
            return _bad_request("Invalid JSON payload received. Unexpected token.")
        body = camel_keys(sent)
        if not isinstance(body, dict):
            record.outcome = "bad_request"
            return _bad_request("Invalid JSON payload received. Expected an object.")

        if model not in self.models:
            record.outcome = "not_found"
            return 404, error_body(404, "NOT_FOUND", (
                f"models/{model} is not found for API version {version}, or is not supported for {method}. "
                "Call ListModels to see the list of available models and their supported methods."))
        if method == "batchGenerateContent":
            return self._create_batch(handler, model, body, record)

        request = body.get("generateContentRequest", body) if method == "countTokens" else body
        parsed = _parse_contents(request, model)
        if isinstance(parsed, tuple):
            record.outcome = "bad_request"
            return parsed
        call = parsed
        record.image_sha256s = list(call.image_sha256s)
        if method == "countTokens":
            return 200, {"totalTokens": call.prompt_tokens, "promptTokensDetails": call.prompt_details}
        refusal = self._set_thoughts(call)
        if refusal is not None:  # refused before any quota is spent, like other 400s
            record.outcome = "bad_request"
            return refusal
        return self._generate(handler, call, record)

    def _refuse_caller(self, handler, query: dict, record: RecordedRequest) -> tuple[int, dict] | None:
        """The 400/403 of a missing or wrong API key, or of a deadline too short; None for a caller let in."""
        key = handler.headers.get("x-goog-api-key") or query.get("key")
        if not key:
            record.outcome = "auth"
            return 403, error_body(403, "PERMISSION_DENIED", (
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."))
        if key not in self.api_keys:
            record.outcome = "auth"
            message = "API key not valid. Please pass a valid API key."
            return 400, error_body(400, "INVALID_ARGUMENT", message, [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
            ])

        deadline = handler.headers.get("X-Server-Timeout")
        if deadline and self.min_deadline_seconds is not None:
            try:
                seconds = float(deadline)
            except ValueError:
                seconds = 0.0
            if seconds < self.min_deadline_seconds:
                record.outcome = "bad_request"
                return 400, error_body(400, "INVALID_ARGUMENT", (
                    f"Manually set deadline {deadline}s is too short. "
                    f"Minimum allowed deadline is {self.min_deadline_seconds:g}s."))
        return None

    def _set_thoughts(self, call: GenerateCall) -> tuple[int, dict] | None:
        """Give ``call`` the thought tokens its model and budget spend, or the 400 of a budget the model refuses."""
        thinking = call.generation_config.get("thinkingConfig") or {}
        try:
            call.thoughts_tokens = thoughts_tokens_for(call.model, thinking.get("thinkingBudget"), self.thoughts_tokens)
        except InvalidThinkingBudget as error:
            return 400, error_body(400, "INVALID_ARGUMENT", str(error))
        return None

    def _generate(self, handler, call: GenerateCall, record: RecordedRequest) -> tuple[int, dict] | None:
        with self._lock:
            refusal = self._admit(call.model, call.prompt_tokens)
            fault = None if refusal else self._next_fault(call.image_sha256s)
            pause = self.latency.draw(self._rng)
            response_id = base64.urlsafe_b64encode(self._rng.randbytes(18)).decode().rstrip("=")
        if refusal:
            record.outcome = "quota:" + "+".join(refusal[2])
            return refusal[0], refusal[1]
        record.outcome = fault.kind if fault else None
        kind = fault.kind if fault else None

        # kind is None without a fault: the fault is there in each branch of a kind
        if fault is not None and kind == "slow":
            pause = fault.seconds if fault.seconds is not None else 30.0
        if self._closing.wait(pause):
            _drop(handler, reset=True)
            return None
        if kind in ("drop", "reset"):
            _drop(handler, reset=kind == "reset")
            return None
        if fault is not None and (kind in _ERROR_FAULTS or kind in _QUOTA_FAULTS):
            return self._error_fault(fault, call.model)
        return self._answer(call, fault, response_id)

    def _answer(self, call: GenerateCall, fault: Fault | None, response_id: str) -> tuple[int, dict]:
        """The 200 generateContent answers ``call``, shaped by a content fault (blocked, safety, malformed_json,
        max_tokens) when given; the batch path answers each of its requests with it too."""
        kind = fault.kind if fault else None
        prompt_tokens, details = call.prompt_tokens, call.prompt_details
        usage = {"promptTokenCount": prompt_tokens, "promptTokensDetails": details}
        envelope = {"modelVersion": call.model, "responseId": response_id}
        if fault is not None and kind == "blocked":
            return 200, {"promptFeedback": {"blockReason": fault.reason or "SAFETY", "safetyRatings": _ratings()},
                         "usageMetadata": {**usage, "totalTokenCount": prompt_tokens}, **envelope}
        if fault is not None and kind == "safety":
            candidate = {"finishReason": fault.reason or "SAFETY", "index": 0, "safetyRatings": _ratings()}
            return 200, {"candidates": [candidate],
                         "usageMetadata": {**usage, "totalTokenCount": prompt_tokens}, **envelope}

        text = self._answer_text(call)
        finish = "STOP"
        if kind == "malformed_json":
            text = text[:-1] + "," + text[-1:]  # a trailing comma: not JSON any more
        elif kind == "max_tokens":
            text, finish = text[: max(1, len(text) // 2)], "MAX_TOKENS"
        thoughts = call.thoughts_tokens
        limit = call.generation_config.get("maxOutputTokens")
        if limit is not None:
            thoughts = min(thoughts, int(limit))  # a think cannot outgrow the output budget either
        if limit is not None and thoughts + text_tokens(text) > int(limit):
            # Thoughts count against maxOutputTokens: what is left of the budget is all the text you get.
            text, finish = text[: max(0, int(limit) - thoughts) * 4], "MAX_TOKENS"
        content: dict[str, Any] = {"role": "model"}
        if text:
            content["parts"] = [{"text": text}]
        output_tokens = text_tokens(text)
        usage.update(candidatesTokenCount=output_tokens, totalTokenCount=prompt_tokens + output_tokens + thoughts)
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        candidate = {"content": content, "finishReason": finish, "index": 0}
        return 200, {"candidates": [candidate], "usageMetadata": _ordered_usage(usage), **envelope}

    # ---- batches

    def _other_route(self, handler, path: str, query: dict, sent: Any,
                     record: RecordedRequest) -> Callable[[], Reply | None] | None:
        """The batches and files endpoint ``path`` names for this method, as a call to make once the caller is
        let in; None for a route the API does not have."""
        command = handler.command
        batch = _BATCH_ROUTE.match(path)
        if batch:
            version, job_id, action = batch.groups()
            if job_id is None:
                return (lambda: self._list_batches(query)) if command == "GET" else None
            if action is None and command == "GET":
                return lambda: self._get_batch(job_id)
            if action == "cancel" and command == "POST":
                return lambda: self._cancel_batch(job_id)
            if (action is None and command == "DELETE") or (action == "delete" and command == "POST"):
                return lambda: self._delete_batch(job_id)
            return None
        if _UPLOAD_ROUTE.match(path) and command == "POST":
            upload_version = path.split("/")[2]
            return lambda: self._start_upload(handler, upload_version, sent)
        files = _FILE_ROUTE.match(path)
        if files:
            download, version, file_id, action = files.groups()
            if file_id is None and command == "GET" and not download:
                return lambda: self._list_files(version, query)
            if file_id is not None and action == "download" and command == "GET":
                return lambda: self._download_file(file_id)
            if download or action is not None or file_id is None:
                return None
            if command == "GET":
                return lambda: self._get_file(version, file_id)
            if command == "DELETE":
                return lambda: self._delete_file(file_id)
        return None

    def _create_batch(self, handler, model: str, body: dict, record: RecordedRequest) -> Reply | None:
        """POST models/M:batchGenerateContent: a new job (never deduplicated: the same body twice is two jobs)."""
        batch = body.get("batch")
        if not isinstance(batch, dict):
            record.outcome = "bad_request"
            return _bad_request("* BatchGenerateContentRequest.batch: batch is not specified\n")
        items = self._batch_items(batch.get("inputConfig"))
        if not isinstance(items, list):
            record.outcome = "bad_request"
            return items
        record.image_sha256s = [sha for item in items for sha in _image_sha256s(item.request)]
        now = time.monotonic()
        with self._lock:
            fault = self._batch_faults[0] if self._batch_faults else None
            if fault in ("unavailable", "exhausted"):  # the create call fails: no job is made
                self._batch_faults.pop(0)
                record.outcome = fault
                if fault == "unavailable":
                    return 503, error_body(503, "UNAVAILABLE", "The service is currently unavailable.")
                return 429, error_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
            active = sum(1 for job in self._jobs.values() if job.state(now) in ACTIVE_STATES)
            if active >= self.max_concurrent_batches:
                record.outcome = "quota:batches"
                return 429, error_body(429, "RESOURCE_EXHAUSTED", (
                    f"You have reached the maximum number of concurrent batch jobs ({self.max_concurrent_batches}). "
                    "Wait for a job to finish, or cancel one, before creating another."))
            if fault is not None:
                self._batch_faults.pop(0)
            job = BatchJob(
                id=self._new_id(), model=model, items=items, clock=self.batch_clock, created=now,
                created_wall=dt.datetime.now(dt.timezone.utc), display_name=batch.get("displayName"),
                input_file=(batch.get("inputConfig") or {}).get("fileName"),
                outcome=fault if fault in JOB_OUTCOME_FAULTS else None,
            )
            self._jobs[job.id] = job
        if fault == "lost_reply":  # the job exists, but the client never hears of it
            record.outcome = fault
            _drop(handler, reset=False)
            return None
        return 200, operation(job, now, self.batch_echo_metadata)

    def _batch_items(self, config: Any) -> list[BatchItem] | tuple[int, dict]:
        """The requests of a create's inputConfig: inline, or the lines of an uploaded JSONL file; else the 400."""
        config = config if isinstance(config, dict) else {}
        file_name = config.get("fileName")
        if file_name:
            with self._lock:
                stored = self._files.get(str(file_name).removeprefix("files/"))
            if stored is None:
                return 400, error_body(400, "INVALID_ARGUMENT", f"File {file_name} not found.")
            parsed = parse_jsonl_requests(stored.data)
            return parsed if isinstance(parsed, list) else _bad_request(parsed)
        requests = (config.get("requests") or {}).get("requests") if isinstance(config.get("requests"), dict) else None
        if not requests or not isinstance(requests, list):
            return _bad_request("* BatchGenerateContentRequest.batch.input_config: input_config is not specified\n")
        items = []
        for index, entry in enumerate(requests):
            where = f"batch.input_config.requests.requests[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
                return _bad_request(f"* BatchGenerateContentRequest.{where}.request: request is not specified\n")
            metadata = entry.get("metadata")
            if metadata is not None and (not isinstance(metadata, dict)
                                         or not all(isinstance(value, str) for value in metadata.values())):
                return _bad_request(f"Invalid value at '{where}.metadata': metadata values must be strings.")
            items.append(BatchItem(request=entry["request"], metadata=metadata))
        return items

    def _new_id(self) -> str:
        """A resource id: lowercase letters and digits, as the SDK's name patterns expect. Holds the lock."""
        return "".join(self._ids.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20))

    def _job(self, job_id: str) -> BatchJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return None if job is None or job.deleted else job

    def _get_batch(self, job_id: str) -> Reply:
        job = self._job(job_id)
        if job is None:
            return _not_found()
        now = time.monotonic()
        self._finish(job, now)
        return 200, operation(job, now, self.batch_echo_metadata)

    def _list_batches(self, query: dict) -> Reply:
        """GET batches: newest first, ``pageSize`` a page, ``pageToken`` the next page's token."""
        now = time.monotonic()
        with self._lock:
            jobs = [job for job in reversed(self._jobs.values()) if not job.deleted]
        listed = page([job.id for job in jobs], query.get("pageSize"), query.get("pageToken"))
        if isinstance(listed, str):
            return _bad_request(listed)
        ids, token = listed
        chosen = [job for job in jobs if job.id in set(ids)]
        for job in chosen:
            self._finish(job, now)
        reply: dict[str, Any] = {"operations": [operation(job, now, self.batch_echo_metadata) for job in chosen]}
        if token:
            reply["nextPageToken"] = token
        return 200, reply

    def _cancel_batch(self, job_id: str) -> Reply:
        """POST batches/ID:cancel: a PENDING or RUNNING job ends CANCELLED; a finished one cannot be cancelled."""
        job = self._job(job_id)
        if job is None:
            return _not_found()
        now = time.monotonic()
        with self._lock:
            if job.state(now) not in ACTIVE_STATES:
                return 400, error_body(400, "FAILED_PRECONDITION",
                                       f"Batch {job.name} is in a terminal state and cannot be cancelled.")
            job.cancelled_at = now
        return 200, {}

    def _delete_batch(self, job_id: str) -> Reply:
        """DELETE batches/ID (or POST ...:delete): the job is forgotten, not stopped (Google's Operations.Delete)."""
        job = self._job(job_id)
        if job is None:
            return _not_found()
        with self._lock:
            job.deleted = True
        return 200, {}

    def _finish(self, job: BatchJob, now: float) -> None:
        """Answer a succeeded job's requests, once: as generateContent would, without latency, quota or online
        faults, but with the per-request errors scripted by ``add_batch_error``. A file job's results go to a
        generated file ``files/batch-ID``."""
        if job.state(now) != "BATCH_STATE_SUCCEEDED":
            return
        with job.lock:
            if job.results is not None:
                return
            job.results = [self._batch_answer(job.model, item) for item in job.items]
            if job.input_file is not None:
                stored = StoredFile(id=f"batch-{job.id}", mime_type="application/jsonl", data=results_jsonl(job),
                                    created_wall=job.wall(now), source="GENERATED")
                with self._lock:
                    self._files[stored.id] = stored
                job.output_file = stored.name

    def _batch_answer(self, model: str, item: BatchItem) -> dict:
        """``{"response": GenerateContentResponse}`` or ``{"error": {code, message}}`` for one request of a job."""
        parsed = _parse_contents(camel_keys(item.request), model)
        refusal = parsed if isinstance(parsed, tuple) else self._set_thoughts(parsed)
        if refusal is not None:
            status, body = refusal
            return {"error": {"code": _RPC_CODES.get(status, 2), "message": body["error"]["message"]}}
        assert not isinstance(parsed, tuple)
        with self._lock:
            error = next((e for e in self._batch_errors if e.image_sha256 in parsed.image_sha256s), None)
            if error is not None:
                self._batch_errors.remove(error)
            response_id = base64.urlsafe_b64encode(self._ids.randbytes(18)).decode().rstrip("=")
        if error is not None:
            return {"error": {"code": error.code, "message": error.message}}
        return {"response": self._answer(parsed, None, response_id)[1]}

    # ---- files

    def _start_upload(self, handler, version: str, sent: Any) -> Reply:
        """POST upload/V/files (X-Goog-Upload-Protocol: resumable, command start): the upload URL in a header."""
        headers = handler.headers
        if headers.get("X-Goog-Upload-Protocol", "").lower() != "resumable" or \
                headers.get("X-Goog-Upload-Command", "").lower() != "start":
            return _bad_request("Only resumable uploads are served here: X-Goog-Upload-Protocol: resumable, "
                                "X-Goog-Upload-Command: start.")
        meta = camel_keys(sent).get("file") if isinstance(sent, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        mime = headers.get("X-Goog-Upload-Header-Content-Type") or meta.get("mimeType") or "application/octet-stream"
        size = headers.get("X-Goog-Upload-Header-Content-Length") or meta.get("sizeBytes")
        with self._lock:
            session = UploadSession(id=self._new_id(), version=version, mime_type=mime,
                                    size=int(size) if size not in (None, "") else None,
                                    display_name=meta.get("displayName"))
            self._uploads[session.id] = session
        url = f"{self.base_url}/upload/{version}/files?upload_id={session.id}&upload_protocol=resumable"
        return 200, b"", {"x-goog-upload-url": url, "x-goog-upload-status": "active",
                          "x-goog-upload-chunk-granularity": str(8 * 1024 * 1024)}

    def _upload_chunk(self, handler, raw: bytes, upload_id: str, record: RecordedRequest) -> Reply:
        """POST <upload url> (command "upload", the last "upload, finalize"): the data at X-Goog-Upload-Offset."""
        commands = {part.strip().lower() for part in handler.headers.get("X-Goog-Upload-Command", "").split(",")}
        with self._lock:
            session = self._uploads.get(upload_id)
        if session is None:
            record.outcome = "not_found"
            return 404, error_body(404, "NOT_FOUND", "Upload session not found."), {"x-goog-upload-status": "final"}
        offset = handler.headers.get("X-Goog-Upload-Offset")
        if offset is not None and int(offset) != len(session.received):
            record.outcome = "bad_request"
            message = f"Upload offset {offset} does not match the {len(session.received)} bytes received."
            return 400, error_body(400, "INVALID_ARGUMENT", message), {"x-goog-upload-status": "final"}
        session.received += raw
        if "finalize" not in commands:
            return 200, b"", {"x-goog-upload-status": "active",
                              "x-goog-upload-size-received": str(len(session.received))}
        with self._lock:
            self._uploads.pop(upload_id, None)
        if session.size is not None and session.size != len(session.received):
            record.outcome = "bad_request"
            return (400, error_body(400, "INVALID_ARGUMENT", f"Upload size {len(session.received)} does not match "
                                    f"the declared {session.size} bytes."), {"x-goog-upload-status": "final"})
        stored = StoredFile(id=session.id, mime_type=session.mime_type, data=bytes(session.received),
                            created_wall=dt.datetime.now(dt.timezone.utc), display_name=session.display_name)
        with self._lock:
            self._files[stored.id] = stored
        return 200, {"file": file_resource(stored, self.base_url, session.version)}, {"x-goog-upload-status": "final"}

    def _stored(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def _get_file(self, version: str, file_id: str) -> Reply:
        stored = self._stored(file_id)
        if stored is None:
            return _file_not_found(file_id)
        return 200, file_resource(stored, self.base_url, version)

    def _list_files(self, version: str, query: dict) -> Reply:
        with self._lock:
            stored = list(reversed(self._files.values()))
        listed = page([item.id for item in stored], query.get("pageSize"), query.get("pageToken"), 10, 100)
        if isinstance(listed, str):
            return _bad_request(listed)
        ids, token = listed
        reply: dict[str, Any] = {"files": [file_resource(item, self.base_url, version)
                                           for item in stored if item.id in set(ids)]}
        if token:
            reply["nextPageToken"] = token
        return 200, reply

    def _download_file(self, file_id: str) -> Reply:
        """GET files/ID:download?alt=media: the bytes of a generated file (a batch's results); uploaded files
        cannot be downloaded (the SDK's own docs)."""
        stored = self._stored(file_id)
        if stored is None:
            return _file_not_found(file_id)
        if stored.source != "GENERATED":
            return _bad_request("Only generated files can be downloaded; uploaded files cannot.")
        return 200, stored.data, {"Content-Type": stored.mime_type}

    def _delete_file(self, file_id: str) -> Reply:
        with self._lock:
            stored = self._files.pop(file_id, None)
        return _file_not_found(file_id) if stored is None else (200, {})

    def _admit(self, model: str, tokens: int) -> tuple[int, dict, list[str]] | None:
        """Charge the request to the model's windows, or the 429 that refuses it. Holds the lock."""
        now = time.monotonic()
        windows = self._windows.get(model)
        if windows is None:
            windows = self._windows[model] = {
                "rpm": SlidingWindow(self.minute_seconds), "tpm": SlidingWindow(self.minute_seconds),
                "rpd": SlidingWindow(self.day_seconds),
            }
        costs = {"rpm": 1, "tpm": tokens, "rpd": 1}
        limits = {"rpm": self.rpm, "tpm": self.tpm, "rpd": self.rpd}
        waits = {
            axis: windows[axis].wait(now, costs[axis], limit)
            for axis, limit in limits.items() if limit is not None
        }
        exceeded = [axis for axis, wait in waits.items() if wait > 0]
        if not exceeded or self.count_rejected:
            for axis, window in windows.items():
                window.add(now, costs[axis])
        if not exceeded:
            return None
        self._rate_limited.update(exceeded)
        delay = max(waits[axis] for axis in exceeded)
        body = self._quota_error(model, [(axis, limits[axis]) for axis in exceeded], delay)
        return 429, body, exceeded

    def _quota_error(self, model: str, violated: list[tuple[str, int | None]], delay: float) -> dict:
        delay = math.ceil(delay * 1e6) / 1e6  # never tell a client to come back a microsecond too early
        violations, lines = [], []
        for axis, limit in violated:
            metric, quota_id = (_FREE_TIER_QUOTAS if self.free_tier else _PAID_TIER_QUOTAS)[axis]
            metric = "generativelanguage.googleapis.com/" + metric
            violation = {"quotaMetric": metric, "quotaId": quota_id,
                         "quotaDimensions": {"location": "global", "model": model}}
            if limit is not None:
                violation["quotaValue"] = str(limit)
            violations.append(violation)
            lines.append(f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}")
        retry_delay = duration(math.floor(delay) if self.whole_second_retry_delay else delay)
        message = (
            "You exceeded your current quota, please check your plan and billing details. For more information "
            f"on this error, head to: {RATE_LIMITS_DOC}. To monitor your current usage, head to: "
            "https://ai.dev/rate-limit. \n" + "\n".join(lines) + f"\nPlease retry in {delay:.6f}s."
        )
        return error_body(429, "RESOURCE_EXHAUSTED", message, [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations},
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMITS_DOC}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ])

    def _next_fault(self, image_sha256s: list[str]) -> Fault | None:
        """The first queued fault for this request, else one drawn from ``fault_rates``. Holds the lock."""
        for index, fault in enumerate(self._faults):
            if fault.image_sha256 is None or fault.image_sha256 in image_sha256s:
                return self._faults.pop(index)
        if self.fault_rates:
            draw = self._rng.random()
            for kind, rate in self.fault_rates.items():
                if draw < rate:
                    return Fault(kind)
                draw -= rate
        return None

    def _error_fault(self, fault: Fault, model: str) -> tuple[int, dict]:
        kind = fault.kind
        if kind in ("rate_limit", "daily_quota"):
            axis = "rpm" if kind == "rate_limit" else "rpd"
            with self._lock:
                self._rate_limited[axis] += 1
            limit = self.rpm if axis == "rpm" else self.rpd
            return 429, self._quota_error(model, [(axis, limit)], fault.seconds if fault.seconds is not None else 1.0)
        if kind == "exhausted":
            with self._lock:
                self._rate_limited["none"] += 1
            return 429, error_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
        code, status, message = _ERROR_FAULTS[kind]
        return code, error_body(code, status, message)

    def _answer_text(self, call: GenerateCall) -> str:
        with self._lock:
            answer = next((self._answers[s] for s in call.image_sha256s if s in self._answers), None)
            fallback = self._default_answer
        if answer is None and fallback is not None:
            answer = fallback
        if callable(answer):
            answer = answer(call)
        config = call.generation_config
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if isinstance(answer, NotAFlyer):
            answer = fit_schema(_default_hint(answer.answer(), schema), schema)
        elif answer is None:
            seed = call.images[0] if call.images else call.text.encode()
            answer = fit_schema(_default_hint(default_answer(seed), schema), schema)
        return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)


_ERROR_FAULTS = {
    "internal": (500, "INTERNAL", f"An internal error has occurred. Please retry or report in {ERROR_TROUBLESHOOTING}"),
    "unavailable": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "deadline": (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
    "invalid": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "permission": (403, "PERMISSION_DENIED", "The caller does not have permission"),
}
_QUOTA_FAULTS = {"rate_limit", "daily_quota", "exhausted"}


# ---------------------------------------------------------------- request parsing helpers

def _parse_contents(request: dict, model: str) -> GenerateCall | tuple[int, dict]:
    """The call (with its prompt tokens per modality), or the 400 the real API gives."""
    unknown = [name for name in request if name not in _REQUEST_FIELDS]
    if unknown:
        return _bad_request(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    contents = request.get("contents")
    if not contents or not isinstance(contents, list):
        return _bad_request("* GenerateContentRequest.contents: contents is not specified\n")
    media_resolution = (request.get("generationConfig") or {}).get("mediaResolution")
    system = request.get("systemInstruction") or {}
    texts, images, image_cost = [], [], 0
    for where, content in [("system_instruction", system)] + [(f"contents[{i}]", c) for i, c in enumerate(contents)]:
        parts = content.get("parts") if isinstance(content, dict) else None
        if where != "system_instruction" and not parts:
            return _bad_request(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n")
        for index, part in enumerate(parts or []):
            if not isinstance(part, dict):
                return _bad_request(f"Invalid value at '{where}.parts[{index}]': expected an object.")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            inline = part.get("inlineData")
            if inline is None:
                continue
            mime = inline.get("mimeType") or ""
            try:
                data = decode_bytes(inline.get("data") or "")
            except (binascii.Error, ValueError, TypeError):
                return _bad_request(f"Invalid value at '{where}.parts[{index}].inline_data.data' (TYPE_BYTES), "
                                    "Base64 decoding failed.")
            if not mime:
                return _bad_request(f"* GenerateContentRequest.{where}.parts[{index}].inline_data.mime_type: "
                                    "mime_type is not specified\n")
            if not mime.startswith("image/"):
                continue
            if mime not in SUPPORTED_IMAGE_TYPES:
                return _bad_request(f"Unsupported MIME type: {mime}")
            try:
                with Image.open(io.BytesIO(data)) as image:
                    width, height = image.size
            except Exception:
                return _bad_request(f"Unable to process input image. Please retry or report in {ERROR_TROUBLESHOOTING}")
            images.append(data)
            image_cost += image_tokens(width, height, model, part.get("mediaResolution", {}).get("level")
                                       if isinstance(part.get("mediaResolution"), dict) else media_resolution)
    text = "\n".join(texts)
    details = []
    if text:
        details.append({"modality": "TEXT", "tokenCount": text_tokens(text)})
    if images:
        details.append({"modality": "IMAGE", "tokenCount": image_cost})
    return GenerateCall(model=model, body=request, images=images,
                        image_sha256s=[hashlib.sha256(image).hexdigest() for image in images], text=text,
                        prompt_tokens=text_tokens(text) + image_cost, prompt_details=details)


def _elide_images(value: Any) -> Any:
    if isinstance(value, list):
        return [_elide_images(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _elide_images(item) for key, item in value.items()}
    for key in ("inlineData", "inline_data"):
        inline = out.get(key)
        if isinstance(inline, dict) and isinstance(inline.get("data"), str):
            try:
                data = decode_bytes(inline["data"])
            except (binascii.Error, ValueError):
                continue
            out[key] = {**inline, "data": f"<{len(data)} bytes sha256={hashlib.sha256(data).hexdigest()}>"}
    return out


def decode_bytes(text: str) -> bytes:
    """A protobuf JSON ``bytes`` field: standard or URL-safe base64, padded or not (google-genai sends URL-safe)."""
    if not isinstance(text, str):
        raise TypeError("bytes fields are base64 strings")
    text = text.strip().translate(str.maketrans("-_", "+/")).rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _sha256_of(image: bytes | str) -> str:
    return image.lower() if isinstance(image, str) else hashlib.sha256(image).hexdigest()


def _mask_query(path: str) -> str:
    url = urlsplit(path)
    if "key=" not in url.query:
        return path
    query = urlencode([(k, _MASK if k == "key" else v) for k, v in parse_qsl(url.query, keep_blank_values=True)])
    return f"{url.path}?{query}"


def _ratings() -> list[dict]:
    return [
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM", "blocked": True},
    ]


def _ordered_usage(usage: dict) -> dict:
    order = ["promptTokenCount", "candidatesTokenCount", "totalTokenCount", "promptTokensDetails", "thoughtsTokenCount"]
    return {key: usage[key] for key in order if key in usage}


def _not_found() -> tuple[int, dict]:
    return 404, error_body(404, "NOT_FOUND", "Requested entity was not found.")


def _file_not_found(file_id: str) -> tuple[int, dict]:
    return 403, error_body(403, "PERMISSION_DENIED",
                           f"You do not have permission to access the File {file_id} or it may not exist.")


def _image_sha256s(value: Any) -> list[str]:
    """The sha256 of every inline image in a request (either key spelling), in order."""
    if isinstance(value, list):
        return [sha for item in value for sha in _image_sha256s(item)]
    if not isinstance(value, dict):
        return []
    inline = value.get("inlineData") or value.get("inline_data")
    if isinstance(inline, dict) and isinstance(inline.get("data"), str):
        try:
            return [hashlib.sha256(decode_bytes(inline["data"])).hexdigest()]
        except (binascii.Error, ValueError):
            return []
    return [sha for item in value.values() for sha in _image_sha256s(item)]


def _html_404(path: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n"
        f"  <p><b>404.</b> <ins>That's an error.</ins>\n  <p>The requested URL <code>{path}</code> was not found "
        "on this server.  <ins>That's all we know.</ins>\n"
    )


# ---------------------------------------------------------------- socket helpers

def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _send(handler: BaseHTTPRequestHandler, status: int, body: dict | str | bytes,
          headers: Mapping[str, str] | None = None) -> None:
    """Answer JSON (a dict), Google's HTML (a str) or raw bytes (a download, an upload's empty reply)."""
    if isinstance(body, bytes):
        payload, kind = body, "application/octet-stream"
    elif isinstance(body, str):
        payload, kind = body.encode("utf-8"), "text/html; charset=UTF-8"
    else:
        payload = (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        kind = "application/json; charset=UTF-8"
    extra = dict(headers or {})
    kind = extra.pop("Content-Type", kind)
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.send_header("Vary", "Origin, X-Origin, Referer")
        handler.send_header("X-Content-Type-Options", "nosniff")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()
    except OSError:  # the client gave up (its timeout) before the answer was ready
        handler.close_connection = True


def _drop(handler: BaseHTTPRequestHandler, *, reset: bool) -> None:
    """Close the connection without a byte of answer: a FIN, or an RST when ``reset``."""
    handler.close_connection = True
    try:
        if reset:  # close now: a linger of 0 makes close() send RST instead of FIN
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
        else:
            handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
