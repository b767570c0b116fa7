"""How the cache names things (as fsspec's cache_mapper): a result's keys, a run's variant, its files' names.

A source's entry is keyed by the MD5 of its cleaned URL (``url_key``) and by the SHA-256 of its bytes (kept as the
pipeline computed it). A run sees only its ``cache_variant``: a short hash of everything a result depends on.
A partition's file is named by the MD5 of its sorted cleaned URLs, so a partition stored again replaces its own file;
a merged file by the MD5 of the names it merged; a file being written has a hidden temporary name (see
``daskparse.storage.atomic_write``) that says when its write began.
"""

from __future__ import annotations

import hashlib
import json
import re

LAYOUT = "v1"  # the first folder under the cache URL: a change of layout starts a new one
MERGED_PREFIX = "m-"
ENTRY_NAME = re.compile(r"^(m-)?[0-9a-f]{32}\.parquet$")  # what store_partition and compaction name files
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<ms>\d+)\.[0-9a-f]+\.tmp$")
_VARIANT = re.compile(r"[A-Za-z0-9_.-]+")


def url_key(cleaned_url: str) -> str:
    return hashlib.md5(cleaned_url.encode()).hexdigest()


def cache_variant(**parts) -> str:
    """A short, stable hash of what a result depends on, e.g.
    ``cache_variant(extractor="gemini", model=..., prompt=PROMPT_VERSION, max_size=(1200, 800), quality=95)``."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def check_variant(variant: str) -> str:
    """``variant`` if it can be a folder name anywhere (a short file-name-safe token); else ValueError."""
    if not _VARIANT.fullmatch(variant):
        raise ValueError(f"variant must be a short file-name-safe token, not {variant!r}")
    return variant


def partition_name(sorted_urls: list[str]) -> str:
    """A partition file's name: the same URLs stored again (a re-run task) replace the same file."""
    return hashlib.md5("\n".join(sorted_urls).encode()).hexdigest()


def merged_name(sources: list[str]) -> str:
    """A merged file's name: two compactions of the same files write the same name."""
    return MERGED_PREFIX + hashlib.md5("\n".join(sources).encode()).hexdigest() + ".parquet"


def is_part(name: str) -> bool:
    """An entry file a reader reads (temporary and marker files start with a dot)."""
    return name.endswith(".parquet") and not name.startswith(".")
