"""Run the loopback Gemini server for offline development: ``python -m daskparse.testing.gemini --port 8765``.

Point the project (or any google-genai client) at it with the environment alone:

    GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8765 GEMINI_API_KEY=test-key GOOGLE_GENAI_API_VERSION=v1beta

The first line printed is the base URL (``--port 0`` picks a free port). Serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from daskparse.testing.gemini_server import DEFAULT_MODELS, DYNAMIC_THOUGHTS_TOKENS, FAULT_KINDS, GeminiServer, Latency


def _fault_rate(text: str) -> tuple[str, float]:
    kind, _, rate = text.partition("=")
    if kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
    try:
        return kind, float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KIND=PROBABILITY, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m daskparse.testing.gemini", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--api-key", action="append", dest="api_keys", metavar="KEY",
                        help="an accepted key (repeatable; default test-key)")
    parser.add_argument("--model", action="append", dest="models", metavar="NAME",
                        help=f"a known model (repeatable; default {', '.join(DEFAULT_MODELS)})")
    parser.add_argument("--rpm", type=int, help="requests per minute per model")
    parser.add_argument("--tpm", type=int, help="input tokens per minute per model")
    parser.add_argument("--rpd", type=int, help="requests per day per model")
    parser.add_argument("--minute-seconds", type=float, default=60.0, help="length of a quota 'minute'")
    parser.add_argument("--day-seconds", type=float, default=86_400.0, help="length of a quota 'day'")
    parser.add_argument("--count-rejected", action="store_true", help="429'd requests count against the windows")
    parser.add_argument("--paid-tier", action="store_true", help="quota ids without the -FreeTier suffix")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer (the median with --sigma)")
    parser.add_argument("--sigma", type=float, default=0.0, help="lognormal sigma of the latency")
    parser.add_argument("--fault", action="append", type=_fault_rate, default=[], metavar="KIND=P",
                        help=f"draw a fault with probability P per request (repeatable); kinds: {', '.join(FAULT_KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-deadline", type=float, default=10.0,
                        help="reject X-Server-Timeout below this many seconds, as Google does (0 turns it off)")
    parser.add_argument("--thoughts-tokens", type=int, default=DYNAMIC_THOUGHTS_TOKENS,
                        help="thought tokens a dynamic think spends (a request without thinkingBudget on a model "
                             "that thinks by default, or with -1; N > 0 spends at most N)")
    parser.add_argument("--max-records", type=int, default=10_000, help="requests kept in the in-memory log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = GeminiServer(
        api_key=args.api_keys or ["test-key"], host=args.host, port=args.port,
        models=args.models or DEFAULT_MODELS, rpm=args.rpm, tpm=args.tpm, rpd=args.rpd,
        minute_seconds=args.minute_seconds, day_seconds=args.day_seconds, count_rejected=args.count_rejected,
        free_tier=not args.paid_tier, latency=Latency(args.latency, args.sigma), fault_rates=dict(args.fault),
        seed=args.seed, min_deadline_seconds=args.min_deadline or None, thoughts_tokens=args.thoughts_tokens,
        max_records=args.max_records,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(server.base_url, flush=True)
        print(f"GOOGLE_GEMINI_BASE_URL={server.base_url} GEMINI_API_KEY={sorted(server.api_keys)[0]} "
              "GOOGLE_GENAI_API_VERSION=v1beta", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
