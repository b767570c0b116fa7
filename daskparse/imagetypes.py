"""Image types told by their magic bytes, never by a file name or a Content-Type header.

``sniff`` looks only at the first bytes of a file (``SNIFF_BYTES`` are enough), so fetch can check
a download's first chunk and optimize can refuse text or SVG before any decoder sees it.
"""

from __future__ import annotations

from PIL import features

SNIFF_BYTES = 1024
"""How many leading bytes ``sniff`` needs; an SVG's ``<svg`` tag must start within them."""

# ISO base media file (HEIF family) brands: bytes 8-12 hold the major brand, then compatible brands.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def sniff(head: bytes) -> str | None:
    """The image type of a file starting with ``head``, or None if it is no image type we know.

    Returns one of "jpeg", "png", "gif", "webp", "bmp", "tiff", "svg", "avif", "heic".
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    # "BM" alone is too weak (text can start with it): the header's two reserved words are zero.
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\0\0\0\0":
        return "bmp"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        return _heif_kind(head)
    if _looks_like_svg(head):
        return "svg"
    return None


def _heif_kind(head: bytes) -> str | None:
    box_size = int.from_bytes(head[:4], "big")
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
    if any(b in _AVIF_BRANDS for b in brands):
        return "avif"
    if any(b in _HEIC_BRANDS for b in brands):
        return "heic"
    return None  # another ISO media file (an MP4 video, say)


def _looks_like_svg(head: bytes) -> bool:
    text = head[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg"):
        return True
    # An XML prolog, doctype or comment may come first; the root element must still be <svg.
    return text.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in text


def _raster_types() -> frozenset[str]:
    types = {"jpeg", "png", "gif", "webp", "bmp", "tiff"}
    if features.check("avif"):  # Pillow >= 11.2 wheels decode AVIF; HEIC needs a plugin we lack
        types.add("avif")
    return frozenset(types)


RASTER_TYPES: frozenset[str] = _raster_types()
"""The sniffed types that optimize can decode with the installed Pillow."""

PILLOW_FORMATS: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
    "avif": "AVIF",
}
"""Pillow's format name for each raster type, so a file is opened only by the decoder its bytes name."""
