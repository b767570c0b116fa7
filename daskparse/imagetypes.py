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


def webp_canvas(head: bytes) -> tuple[int, int, bool] | None:
    """(width, height, animated) of a WebP from its first chunk (30 bytes), or None if that chunk is unreadable.

    Read without a decoder because libwebp's animation decoder, which Pillow uses for every WebP,
    allocates the whole canvas as soon as it is created: the size must be judged before that.
    """
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":  # extended format: the canvas, and a flag for animation
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height, bool(head[20] & 0x02)
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":  # lossy: a key frame's start code, then 14-bit sizes
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF, False
    if chunk == b"VP8L" and head[20] == 0x2F:  # lossless: signature byte, then two 14-bit sizes minus one
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, False
    return None


_JPEG_PROGRESSIVE_FRAMES = {0xC2, 0xC6, 0xCA, 0xCE}  # SOF2, 6, 10, 14: Huffman or arithmetic, plain or differential
_JPEG_SEQUENTIAL_FRAMES = {0xC0, 0xC1, 0xC3, 0xC5, 0xC7, 0xC9, 0xCB, 0xCD, 0xCF}


def jpeg_buffers_whole_image(data: bytes) -> bool:
    """Whether libjpeg must keep every DCT coefficient of this JPEG (2 bytes each, at full size) while decoding.

    It must when the frame is progressive, or when the first scan leaves out a component (the others
    come in later scans): libjpeg's own rule. Draft mode does not shrink that buffer. Walks the markers
    up to the first scan, so an EXIF thumbnail's scan inside an APP1 segment is never taken for one.
    """
    pos, end, components = 2, len(data), None
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return False  # no marker where one must be: the decoder will report it
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte
            pos += 1
            continue
        if marker in _JPEG_PROGRESSIVE_FRAMES:
            return True
        if marker in _JPEG_SEQUENTIAL_FRAMES and pos + 9 < end:
            components = data[pos + 9]  # Nf
        if marker == 0xDA:  # the first scan: Ns components in it
            return components is not None and pos + 4 < end and data[pos + 4] < components
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


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
