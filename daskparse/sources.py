"""Inputs: expand what the user named into image sources, each with its cleaned URL.

A source may be an http(s) URL, a local path, a glob, a directory of images, an fsspec URL
(``memory://``, ``s3://`` ...), or a ``.txt`` file listing sources one per line (``#`` comments).
Problems with one entry (a missing file, an unknown scheme) become error records; the rest go on.

The *cleaned URL* drops signature and tracking query parameters, so a re-signed CDN link of the
same image has the same cleaned URL (the cache key of a later stage).
"""

from __future__ import annotations

import glob
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import fsspec

from daskparse.errors import ErrorRecord, SourceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
SOURCE_LIST_SUFFIXES = {".txt", ".list", ".urls"}

# Query parameters that sign or track a link without changing the image it points to.
_DROPPED_PARAMS = {
    "oh", "oe", "efg", "ccb", "stp", "fbclid", "gclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid",
    "signature", "expires", "key-pair-id", "policy", "sig", "se", "sp", "sv", "sr", "st", "ss",
}
_DROPPED_PREFIXES = ("utm_", "_nc_", "x-amz-", "x-goog-")

# fsspec protocols that would reach the network around the http guard or run code.
_REFUSED_PROTOCOLS = {"ftp", "sftp", "ssh", "smb", "webhdfs", "dask", "tar", "zip", "libarchive", "reference"}


@dataclass(frozen=True)
class Source:
    source: str  # as the user gave it (a line of a list file counts as given)
    cleaned_url: str
    scheme: str  # "http", "file" or an fsspec protocol


def clean_url(url: str) -> str:
    """Drop signature and tracking parameters and the fragment; lower-case scheme and host."""
    parts = urlsplit(url.strip())
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in _DROPPED_PARAMS and not key.lower().startswith(_DROPPED_PREFIXES)
    ]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, urlencode(sorted(kept)), ""))


def _scheme(text: str) -> str | None:
    """The URL scheme, or None for a local path (Windows drive letters included)."""
    if "://" not in text and not text.lower().startswith(("javascript:", "data:", "mailto:", "file:")):
        return None
    scheme = text.split(":", 1)[0].lower()
    return scheme if len(scheme) > 1 else None


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def _expand_local(path_text: str, seen_lists: set[str], allow_file_urls: bool) -> Iterable[Source | ErrorRecord]:
    path = Path(path_text).expanduser()
    if _is_glob(path_text):
        matches = sorted(glob.glob(os.path.expanduser(path_text), recursive=True))
        if not matches:
            yield _error(path_text, "inputs.not_found", "the pattern matches no files")
        for match in matches:
            if Path(match).is_file() and Path(match).suffix.lower() in IMAGE_SUFFIXES:
                yield _local_source(match)
        return
    if path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            yield _error(path_text, "inputs.empty_directory", "the directory holds no images")
        for image in images:
            yield _local_source(str(image))
        return
    if path.suffix.lower() in SOURCE_LIST_SUFFIXES and path.is_file():
        yield from _expand_list(path, seen_lists, allow_file_urls)
        return
    if not path.exists():
        yield _error(path_text, "inputs.not_found", "no such file")
        return
    yield Source(path_text, path.resolve().as_uri(), "file")


def _local_source(path_text: str) -> Source:
    return Source(path_text, Path(path_text).resolve().as_uri(), "file")


def _expand_list(path: Path, seen_lists: set[str], allow_file_urls: bool) -> Iterable[Source | ErrorRecord]:
    key = str(path.resolve())
    if key in seen_lists:  # a list that names itself, directly or not
        return
    seen_lists.add(key)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        yield _error(str(path), "inputs.unreadable_list", f"cannot read the source list: {error}")
        return
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if any(char.isspace() for char in line) or any(ord(char) < 32 for char in line):
            yield _error(line, "inputs.invalid_source", f"{path.name} line {number}: not a URL or path")
            continue
        if _scheme(line) == "file" and not allow_file_urls:  # a scraped list must not point at this machine's files
            yield _error(line, "inputs.unsupported_scheme", f"{path.name} line {number}: file: URLs in a source list "
                         "are refused (give the path itself, or use --allow-private-hosts)")
            continue
        # Relative paths in a list are relative to the list, as a user reading it would expect.
        if _scheme(line) is None and not os.path.isabs(os.path.expanduser(line)):
            line = str(path.parent / line)
        yield from _expand_one(line, seen_lists, allow_file_urls)


def _expand_one(text: str, seen_lists: set[str], allow_file_urls: bool) -> Iterable[Source | ErrorRecord]:
    scheme = _scheme(text)
    if scheme is None:
        yield from _expand_local(text, seen_lists, allow_file_urls)
    elif scheme in ("http", "https"):
        parts = urlsplit(text)
        if not parts.hostname:
            yield _error(text, "inputs.invalid_source", "the URL has no host")
        else:
            yield Source(text, clean_url(text), "http")
    elif scheme == "file":
        yield from _expand_local(urlsplit(text).path, seen_lists, allow_file_urls)
    elif scheme in _REFUSED_PROTOCOLS or scheme not in fsspec.available_protocols():
        yield _error(text, "inputs.unsupported_scheme", f"{scheme}: URLs are not supported")
    else:
        yield from _expand_fsspec(text, scheme)


def _expand_fsspec(url: str, scheme: str) -> Iterable[Source | ErrorRecord]:
    try:
        fs, path = fsspec.core.url_to_fs(url)
        if _is_glob(path):
            paths = sorted(fs.glob(path))
        elif fs.isdir(path):
            paths = sorted(p for p in fs.find(path) if posixpath.splitext(p)[1].lower() in IMAGE_SUFFIXES)
        else:
            paths = [path]
    except ImportError as error:
        yield _error(url, "inputs.unsupported_scheme", f"{scheme}: needs a package that is not installed ({error})")
        return
    except Exception as error:  # any backend's own failure: one error for this entry
        yield _error(url, "inputs.unreadable", f"{type(error).__name__}: {error}")
        return
    if not paths:
        yield _error(url, "inputs.not_found", "nothing matches")
    for path in paths:
        full = fs.unstrip_protocol(path)
        yield Source(full, full, scheme)  # no query to clean: fsspec paths carry none


def _error(source: str, kind: str, message: str) -> ErrorRecord:
    return ErrorRecord.from_error(source, "", SourceError(kind, message))


def expand_sources(sources: Iterable[str], *, allow_file_urls_in_lists: bool = False,
                   ) -> tuple[list[Source], list[ErrorRecord]]:
    """Expand user-given sources into image sources (exact duplicates dropped) and input errors.

    Paths given directly, and paths written plainly in a source list, are the user's own; a ``file:`` URL
    inside a list (lists are often scraped) is refused unless ``allow_file_urls_in_lists``."""
    found: dict[str, Source] = {}
    errors: dict[str, ErrorRecord] = {}
    seen_lists: set[str] = set()
    for given in sources:
        given = str(given).strip()
        if not given:
            continue
        for item in _expand_one(given, seen_lists, allow_file_urls_in_lists):
            if isinstance(item, Source):
                found.setdefault(item.source, item)
            else:
                errors.setdefault(item.source, item)
    return list(found.values()), [error for key, error in errors.items() if key not in found]
