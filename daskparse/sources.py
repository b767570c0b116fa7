"""Inputs: expand what the user named into image sources, each with its cleaned URL.

A source may be an http(s) URL, a local path, a glob, a directory of images, an fsspec URL
(``memory://``, ``s3://`` ...), or a ``.txt`` file listing sources one per line (``#`` comments).
Problems with one entry (a missing file, an unknown scheme) become error records; the rest go on.

A source list is often scraped, so by default its lines are held to less than what the user types: an
http(s) URL (fetched behind the address guard) or a file inside the list's own folder, nothing else
(see :func:`_expand_list_line`). ``trust_lists`` (``--allow-private-hosts``) lifts that.

The *cleaned URL* drops signature and tracking query parameters, so a re-signed CDN link of the
same image has the same cleaned URL (the cache key of a later stage). A local file's cleaned URL is its
percent-encoded ``file://`` URL; the Source also carries the file's path, which is what fetch opens.

A local path is taken as it is written when a file or folder of that name exists, even if it holds glob
characters (``what?.jpg``, ``[1].jpg``); otherwise a path with ``*``, ``?`` or ``[`` is a glob pattern.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

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

_HTTP_URL = re.compile(r"https?://", re.IGNORECASE)
# Anything that reads as "scheme:" in a list line (``local:/x``, ``data:...``), two letters at least so
# that a Windows drive is not one.
_ANY_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")
_HOW_TO_TRUST = ("a source list may name only http(s) URLs and files inside its own folder; "
                 "--allow-private-hosts trusts the list")


@dataclass(frozen=True)
class Source:
    source: str  # as the user gave it (a line of a list file counts as given)
    cleaned_url: str
    scheme: str  # "http", "file" or an fsspec protocol
    # scheme "file": the file's resolved path, which fetch opens. Not the cleaned URL: that is percent-encoded
    # ("my%20flyer.jpg"), and fsspec opens a file:// URL's path as written. Last, with a default: positional
    # construction keeps working.
    path: str = ""


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


def _never_fetched(scheme: str) -> bool:
    """A scheme refused wherever it is given (not only in a list)."""
    return scheme in _REFUSED_PROTOCOLS or scheme not in fsspec.available_protocols()


def _expand_local(path_text: str, seen_lists: set[str], trust_lists: bool) -> Iterable[Source | ErrorRecord]:
    try:
        path = Path(path_text).expanduser()
    except RuntimeError:  # "~nosuchuser/x.jpg"
        yield _error(path_text, "inputs.not_found", "no such home folder")
        return
    if _is_glob(path_text) and not path.exists():  # "what?.jpg" that exists is that file, not a pattern
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
        yield from _expand_list(path, seen_lists, trust_lists)
        return
    if not path.exists():
        yield _error(path_text, "inputs.not_found", "no such file")
        return
    yield _local_source(path_text, path)


def _local_source(path_text: str, path: Path | None = None) -> Source:
    """The Source of a local file named ``path_text`` (``path``: that name with ``~`` expanded)."""
    real = (path or Path(path_text)).resolve()
    return Source(path_text, real.as_uri(), "file", str(real))


def _expand_list(path: Path, seen_lists: set[str], trust_lists: bool) -> Iterable[Source | ErrorRecord]:
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
        where = f"{path} line {number}"
        # Control and format characters (ESC, BiDi overrides) too: a line is echoed to the terminal. A space
        # only where the line names a file that exists ("my flyer.jpg"): elsewhere it is prose, not a source.
        if any(unicodedata.category(char) in ("Cc", "Cf") for char in line) or (
                any(char.isspace() for char in line) and not _names_a_file(path.parent, line)):
            yield _error(line, "inputs.invalid_source", f"{where}: not a URL or path")
        elif trust_lists:
            # Relative paths in a list are relative to the list, as a user reading it would expect.
            if _scheme(line) is None and not os.path.isabs(os.path.expanduser(line)):
                line = str(path.parent / line)
            yield from _expand_guarded(line, seen_lists, trust_lists)
        else:
            yield from _guarded(line, _expand_list_line(line, where, path, seen_lists))


def _expand_list_line(line: str, where: str, listing: Path, seen_lists: set[str]) -> Iterable[Source | ErrorRecord]:
    """One line of an untrusted list: an http(s) URL, or a file inside the list's folder; else one error.

    Decided from the text and the local file system only: nothing here instantiates an fsspec file system,
    so expanding a list never opens a connection (``github://`` would, ``s3://`` globbing would)."""
    if _HTTP_URL.match(line):
        yield from _expand_http(line)  # fetched through requests and its address guard, never through fsspec
        return
    scheme_match = _ANY_SCHEME.match(line)
    scheme = scheme_match.group(1).lower() if scheme_match else None
    if scheme and "::" not in line and _never_fetched(scheme):  # refused wherever it is given: say that
        yield _error(line, "inputs.unsupported_scheme", f"{where}: {scheme}: URLs are not supported")
        return
    refused = _refusal(line, scheme, listing.parent)
    folder = listing.parent.resolve()
    target = listing.parent / line
    if refused is None:
        try:
            real = target.resolve()  # symbolic links followed: one inside the folder may point out of it
        except RuntimeError:  # a loop of links
            real = None
        if real is None or not real.is_relative_to(folder):
            refused = "a symbolic link out of the list's folder"
        elif real.is_dir():
            refused = "a directory"
        elif real.exists() and not real.is_file():
            refused = "not a regular file"
    if refused is not None:
        yield _error(line, "inputs.refused_in_list", f"{where}: refused ({refused}): {_HOW_TO_TRUST}")
        return
    assert real is not None  # not refused: it resolved, inside the folder
    if not real.exists():
        yield _error(str(target), "inputs.not_found", "no such file")
    elif real.suffix.lower() in SOURCE_LIST_SUFFIXES:
        yield from _expand_list(real, seen_lists, False)  # its lines stay inside its own folder, inside ours
    else:
        yield Source(str(target), real.as_uri(), "file", str(real))


def _names_a_file(folder: Path, line: str) -> bool:
    """Whether a list line names a file that exists (relative to the list's folder): a local check only."""
    return os.path.isfile(os.path.join(folder, os.path.expanduser(line)))


def _refusal(line: str, scheme: str | None, folder: Path) -> str | None:
    """Why ``line`` may not stand in an untrusted list, from its text (None: it may, if it stays inside);
    ``folder``, the list's, only to tell a file named with glob characters from a pattern."""
    if "::" in line:
        return "an fsspec chain (::)"
    if scheme:
        return f"a URL of scheme {scheme}:"
    if line.startswith("~"):
        return "a path in a home folder (~)"
    if os.path.isabs(line) or line.startswith(("/", "\\")) or PureWindowsPath(line).drive:
        return "an absolute path"
    if _is_glob(line) and not _names_a_file(folder, line):  # "what?.jpg" that exists is that one file
        return "a glob pattern"
    if ".." in re.split(r"[/\\]", line):
        return "a path out of the list's folder (..)"
    return None


def _expand_http(text: str) -> Iterable[Source | ErrorRecord]:
    try:
        host = urlsplit(text).hostname
    except ValueError as error:  # "http://[::1" and the like
        yield _error(text, "inputs.invalid_source", f"not a valid URL: {error}")
        return
    if not host:
        yield _error(text, "inputs.invalid_source", "the URL has no host")
    else:
        yield Source(text, clean_url(text), "http")


def _expand_one(text: str, seen_lists: set[str], trust_lists: bool) -> Iterable[Source | ErrorRecord]:
    scheme = _scheme(text)
    if scheme is None:
        yield from _expand_local(text, seen_lists, trust_lists)
    elif scheme in ("http", "https"):
        yield from _expand_http(text)
    elif scheme == "file":
        path = unquote(urlsplit(text).path)  # a file: URL is percent-encoded, as a cleaned URL is ("my%20flyer.jpg")
        if not path:  # "file:" alone would otherwise name the current directory
            yield _error(text, "inputs.invalid_source", "the URL has no path")
        else:
            yield from _expand_local(path, seen_lists, trust_lists)
    elif _never_fetched(scheme):
        yield _error(text, "inputs.unsupported_scheme", f"{scheme}: URLs are not supported")
    else:
        yield from _expand_fsspec(text, scheme)


def _expand_fsspec(url: str, scheme: str) -> Iterable[Source | ErrorRecord]:
    try:
        fs, path = fsspec.core.url_to_fs(url)
        if "::" in url:
            # A chain ("simplecache::s3://...") is opened as given: the outer file system's own names for
            # what a glob or a walk finds would drop the links after the first ("dir:///x.png").
            if _is_glob(path) or fs.isdir(path):
                yield _error(url, "inputs.invalid_source", "a :: chain names one file; globs and directories "
                             "are expanded only in a plain URL")
            else:
                yield Source(url, url, scheme)
            return
        if _is_glob(path):
            paths = sorted(fs.glob(path))
        elif fs.isdir(path):
            paths = sorted(p for p in fs.find(path) if posixpath.splitext(p)[1].lower() in IMAGE_SUFFIXES)
        else:
            paths = [path]
        found = [fs.unstrip_protocol(path) for path in paths]
    except ImportError as error:
        yield _error(url, "inputs.unsupported_scheme", f"{scheme}: needs a package that is not installed ({error})")
        return
    except Exception as error:  # any backend's own failure: one error for this entry
        yield _error(url, "inputs.unreadable", f"{type(error).__name__}: {error}")
        return
    if not found:
        yield _error(url, "inputs.not_found", "nothing matches")
    for full in found:
        yield Source(full, full, scheme)  # no query to clean: fsspec paths carry none


def _expand_guarded(text: str, seen_lists: set[str], trust_lists: bool) -> Iterable[Source | ErrorRecord]:
    return _guarded(text, _expand_one(text, seen_lists, trust_lists))


def _guarded(text: str, items: Iterable[Source | ErrorRecord]) -> Iterable[Source | ErrorRecord]:
    """``items``, and one error row for ``text`` if expanding it fails in a way not foreseen: one source's
    trouble ("~nosuchuser/x.jpg", a backend's odd exception) must not end the run."""
    try:
        yield from items
    except OSError as error:  # the file system's own refusal, e.g. a name too long
        yield _error(text, "inputs.unreadable", f"{type(error).__name__}: {error}")
    except Exception as error:  # a bug: the row asks for a report (README, error kinds)
        yield _error(text, "inputs.unexpected", f"{type(error).__name__}: {error}")


def _error(source: str, kind: str, message: str) -> ErrorRecord:
    return ErrorRecord.from_error(source, "", SourceError(kind, message))


def expand_sources(sources: Iterable[str], *, trust_lists: bool = False) -> tuple[list[Source], list[ErrorRecord]]:
    """Expand user-given sources into image sources (exact duplicates dropped) and input errors.

    Sources given directly are the user's own. Lines of a source list (lists are often scraped) may be only
    http(s) URLs and image files inside the list's folder unless ``trust_lists`` (``--allow-private-hosts``);
    any other line is an ``inputs.refused_in_list`` error."""
    found: dict[str, Source] = {}
    errors: dict[str, ErrorRecord] = {}
    seen_lists: set[str] = set()
    for given in sources:
        given = str(given).strip()
        if not given:
            continue
        for item in _expand_guarded(given, seen_lists, trust_lists):
            if isinstance(item, Source):
                found.setdefault(item.source, item)
            else:
                errors.setdefault(item.source, item)
    return list(found.values()), [error for key, error in errors.items() if key not in found]
