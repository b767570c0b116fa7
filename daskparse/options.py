"""The typed options each stage takes, built in one place from the run's Settings (``Settings.fetch_limits()``,
``optimize_options()``, ``gemini_options()``, ``cache_options()``; the gate's ``Limits`` live with the limiter),
as httpx builds its ``Limits`` and ``Timeout``. A stage can be used without
Settings by building its options directly:

    >>> fetch_bytes(source, FetchLimits(read_timeout=10))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from daskparse.pricing import Prices


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0  # the whole fetch (connect, headers, every redirect, body), not one socket read
    max_bytes: int = 25 * 1024 * 1024
    max_redirects: int = 5
    allow_private_hosts: bool = False  # loopback, link-local and private addresses too (see the module docstring)


@dataclass(frozen=True)
class OptimizeOptions:
    max_size: tuple[int, int] = (1200, 800)  # (long side, short side): the image is fitted inside, never enlarged
    quality: int = 95  # JPEG


@dataclass(frozen=True)
class CacheOptions:
    url: str  # any fsspec URL, or a folder
    ttl: float = 7 * 86400.0  # seconds a result stays valid
    error_ttl: float = 86400.0  # seconds a permanent per-image error does
    phash_distance: Optional[int] = 16  # the look-alike level's radius in bits; None: that level is off


@dataclass(frozen=True)
class GeminiOptions:
    api_key: str = field(repr=False)
    model: str = "gemini-2.5-flash"
    base_url: Optional[str] = None  # None: the client's GOOGLE_GEMINI_BASE_URL, else Google
    api_version: Optional[str] = None  # None: the client's GOOGLE_GENAI_API_VERSION, else v1beta
    timeout: float = 60.0  # seconds; the real API refuses deadlines under 10 s
    max_retries: int = 3
    max_output_tokens: int = 2048
    thinking_budget: int = 0  # thinkingConfig.thinkingBudget: 0 off, -1 dynamic, N at most N tokens
    media_resolution: Optional[str] = None  # "low" | "medium" | "high"; None: not sent
    prices: Optional[Prices] = None  # the model's (each call's cost goes to the gate's spend cap); None: unknown
    max_rate_limit_waits: int = 20  # per image: a storm of 429s ends as an error, never a hang
    backoff_base: float = 1.0
    backoff_max: float = 30.0
