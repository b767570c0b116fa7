"""The result cache: per-image outcomes in Parquet files on any fsspec location, found again three ways.

A source's outcome is looked up, in order, by
1. the MD5 of its cleaned URL (before downloading: a re-signed CDN link is a hit),
2. the SHA-256 of its bytes (before the model: the same file under another URL is a hit),
3. its look-alike (before the model: a repost resized, recompressed, re-encoded or lightly cropped
   is a hit). The optimized image's 64-bit pHash picks candidates within ``phash_distance`` bits; a
   candidate counts only if its stored 128 px thumbnail, aligned for a crop of up to ~8% a side,
   correlates with this image at ``min_similarity`` or more (band-pass, so shared backgrounds and card
   shapes do not count, text does). The hash alone cannot tell a light crop from a distinct flyer of
   the same layout (a crop can be the further of the two); the thumbnail check can.
   It cannot tell a venue's reused design with only the date changed: turn the level off for those.

Layout under the cache URL (the user's cache folder by default, ``settings.default_cache``; ``memory://`` in
tests; no local disk assumed)::

    v1/<variant>/<md5 of the partition's cleaned URLs>.parquet   one file per partition, moved into place
    v1/<variant>/m-<md5 of the merged files' names>.parquet      small files merged by ``compact``
    v1/<variant>/.<name>.<epoch ms>.<random>.tmp                 being written; never read
    v1/.last-prune                                               when the automatic prune last ran

``variant`` is a short hash of everything a result depends on (extractor, model, prompt version,
optimizer settings): a run only sees its own variant, so changing any of them recomputes without a flush.
The index is the key columns of the variant's files (read with column projection, once per run);
an entry is read from its one file when it is looked up (matched by URL key and time stored).

Time: a result lives ``ttl`` (7 days), a permanent per-image error ``error_ttl`` (1 day); transient errors,
a spent quota and unexpected failures are never stored. Each row keeps when it expires as written, so a
prune needs no settings; a reader with a shorter ttl also ignores older rows. Files only ever appear by a
move, so a reader sees a whole file or none; a file that does not parse is skipped with a warning.
Two runs writing at once write different files (or the same content to the same name).

The package, in the shape of fsspec's caching: ``keys`` (URL key, variant, file names), ``files`` (the schema, whole
files read and written), ``index`` (a variant's key columns, merged), ``store`` (``ResultCache``: look-ups and
writes, ``CacheHit``), ``maintenance`` (stats, prune, clear, compaction); the look-alike fingerprints and their
comparison are ``daskparse.lookalike``.
"""

from daskparse.cache.files import DAY, KEY_COLUMNS, SCHEMA, STATUSES, CacheError, absolute_url
from daskparse.cache.keys import LAYOUT, cache_variant, url_key
from daskparse.cache.maintenance import (AUTO_PRUNE_EVERY, COMPACT_MIN_FILES, COMPACT_SMALL_BYTES, COMPACT_TARGET_BYTES,
                                         TEMP_MAX_AGE, cache_stats, clear, prune)
from daskparse.cache.store import (DEFAULT_ERROR_TTL, DEFAULT_MIN_SIMILARITY, DEFAULT_PHASH_DISTANCE, DEFAULT_TTL, LEVELS,
                                   MAX_CANDIDATES, PROVENANCE, CacheHit, ResultCache, error_is_cacheable)
from daskparse.lookalike import similarity

__all__ = [
    "AUTO_PRUNE_EVERY", "COMPACT_MIN_FILES", "COMPACT_SMALL_BYTES", "COMPACT_TARGET_BYTES", "DAY", "DEFAULT_ERROR_TTL",
    "DEFAULT_MIN_SIMILARITY", "DEFAULT_PHASH_DISTANCE", "DEFAULT_TTL", "KEY_COLUMNS", "LAYOUT", "LEVELS",
    "MAX_CANDIDATES", "PROVENANCE", "SCHEMA", "STATUSES", "TEMP_MAX_AGE", "CacheError", "CacheHit", "ResultCache",
    "absolute_url", "cache_stats", "cache_variant", "clear", "error_is_cacheable", "prune", "similarity", "url_key",
]
