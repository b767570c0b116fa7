"""One-off probe (issue 17): CPU of one Gemini call in the calling thread, split by step, and a cheaper request.

Against the loopback server (bench/loopback.py, own process, ~20 ms latency), one thread, the same optimized
realistic flyer each call. thread_time() is summed inside a few SDK functions (monkeypatched wrappers,
inclusive): request build (``_GenerateContentParameters_to_mldev``: config and schema conversion), JSON+base64
of the body, the HTTP exchange (``BaseApiClient.request``), the response model (``GenerateContentResponse
._from_response``), the SDK's own parse into the pydantic schema, and daskparse's ``_read``.

    PYTHONPATH=. python -m bench.profiles.sdk_call [--calls 150] [--only daskparse]

One thread only, so the recursion guard in ``_timed`` needs no locking. Variants: daskparse's GeminiExtractor
as checked out (ProcessGate, no cluster); the bare SDK with
``response_schema=GeminiShows`` (as the issue's plain pool); the bare SDK with the schema converted once and
sent as ``response_json_schema`` (a dict the SDK passes through unchanged).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from collections import defaultdict

from bench.loopback import API_KEY, loopback_server
from bench.profiles.images import images
from daskparse.optimize import optimize_image

SPENT: dict[str, float] = defaultdict(float)
_DEPTH: dict[str, int] = defaultdict(int)  # a recursive function (encode_unserializable_types) counts once


def _timed(owner, attribute: str, label: str) -> None:
    original = getattr(owner, attribute)
    if getattr(original, "_prof17", False):
        return
    is_static = isinstance(owner.__dict__.get(attribute), staticmethod) if isinstance(owner, type) else False

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if _DEPTH[label]:  # a recursive call (through the module attribute): its time is the outer call's
            return original(*args, **kwargs)
        _DEPTH[label] += 1
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            _DEPTH[label] -= 1
            SPENT[label] += time.thread_time() - started

    wrapper._prof17 = True
    setattr(owner, attribute, staticmethod(wrapper) if is_static else wrapper)


def instrument() -> None:
    from google.genai import _api_client, _common, models, types

    from daskparse.extract import gemini

    _timed(models, "_GenerateContentParameters_to_mldev", "request build: params to wire dict (config, schema)")
    _timed(_common, "encode_unserializable_types", "request build: base64 of the image")
    _timed(_api_client.BaseApiClient, "request", "HTTP exchange (httpx: json dumps, send, receive)")
    _timed(types.GenerateContentResponse, "_from_response", "response: wire dict to SDK model")
    _timed(gemini.GeminiExtractor, "_read", "daskparse: _read (json + GeminiShows validate + normalise)")
    if hasattr(types.GenerateContentResponse, "_get_parsed"):
        _timed(types.GenerateContentResponse, "_get_parsed", "response: SDK parse to response_schema")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--only", default="", help="run only the variants whose name contains this (each variant's "
                        "garbage is collected during the others' calls when interleaved)")
    args = parser.parse_args()
    from google import genai
    from google.genai import types

    from daskparse.extract.gemini import SYSTEM_INSTRUCTION, USER_PROMPT, GeminiExtractor, GeminiShows
    from daskparse.options import GeminiOptions

    jpeg = optimize_image(images()[0]).jpeg
    instrument()
    report: dict = {"jpeg_kb": round(len(jpeg) / 1024), "load_average_before": os.getloadavg(), "variants": {}}
    with loopback_server((0.02, 0.1)) as server:
        http = types.HttpOptions(base_url=server.base_url, api_version="v1beta", timeout=30_000,
                                 retry_options=types.HttpRetryOptions(attempts=1))
        client = genai.Client(api_key=API_KEY, http_options=http)
        common = dict(system_instruction=SYSTEM_INSTRUCTION, temperature=0.0, max_output_tokens=2048,
                      response_mime_type="application/json", thinking_config=types.ThinkingConfig(thinking_budget=0))
        schema_config = types.GenerateContentConfig(response_schema=GeminiShows, **common)
        json_schema = GeminiShows.model_json_schema()
        json_config = types.GenerateContentConfig(response_json_schema=json_schema, **common)
        extractor = GeminiExtractor(GeminiOptions(api_key=API_KEY, base_url=server.base_url, api_version="v1beta",
                                                  timeout=30))

        def bare(config):
            def call():
                response = client.models.generate_content(
                    model="gemini-2.5-flash", config=config,
                    contents=[types.Part.from_bytes(data=jpeg, mime_type="image/jpeg"), USER_PROMPT])
                GeminiShows.model_validate(json.loads(response.text))
            return call

        runs = {
            "daskparse GeminiExtractor.extract (this checkout)": lambda: extractor.extract(jpeg),
            "bare SDK, response_schema=GeminiShows (plain pool)": bare(schema_config),
            "bare SDK, response_json_schema converted once": bare(json_config),
        }
        runs = {name: fn for name, fn in runs.items() if args.only in name}
        for fn in runs.values():  # warm: imports, connections, pydantic caches
            for _ in range(3):
                fn()
        per_call: dict[str, list[float]] = defaultdict(list)
        steps: dict[str, dict[str, float]] = {name: defaultdict(float) for name in runs}
        for _ in range(args.calls // 10):
            for name, fn in runs.items():  # interleaved
                for _ in range(10):
                    SPENT.clear()
                    started = time.thread_time()
                    fn()
                    per_call[name].append(1000 * (time.thread_time() - started))
                    for label, seconds in SPENT.items():
                        steps[name][label] += 1000 * seconds
        server.finish()
    for name in runs:
        n = len(per_call[name])
        report["variants"][name] = {
            "cpu_ms_per_call_mean": round(statistics.mean(per_call[name]), 2),
            "cpu_ms_per_call_median": round(statistics.median(per_call[name]), 2),
            "steps_ms_per_call (inclusive, overlapping)": {k: round(v / n, 2) for k, v in steps[name].items()},
        }
    # building an extractor (a worker builds one per run), and the genai.Client inside it when not shared
    options = GeminiOptions(api_key=API_KEY, base_url="http://127.0.0.1:9", api_version="v1beta", timeout=30)
    builds = {"GeminiExtractor(options), same endpoint again": lambda: GeminiExtractor(options),
              "genai.Client(api_key, http_options)": lambda: genai.Client(api_key=API_KEY, http_options=http)}
    report["build_cpu_ms"] = {}
    for name, build in builds.items():
        build()
        started = time.thread_time()
        for _ in range(20):
            build()
        report["build_cpu_ms"][name] = round(1000 * (time.thread_time() - started) / 20, 2)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
