"""Small files that cost a decoder gigabytes (issue 12, item 3): builders for tests and the stress benchmark.

Each builder returns the bytes of one valid-looking image whose *declared* size is far larger than its
file: what a hostile or careless source can serve for a few bytes. Nothing here ever allocates the
declared pixels; the files are written chunk by chunk. ``HOSTILE_IMAGES`` names them all.

    for name, build in HOSTILE_IMAGES.items():
        server.add(f"/{name}", build())
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image

CANVAS = 9400  # 88.4 MP: just under Pillow's 89.5 MP bomb limit, so only our own budget stops it


# --- WebP: RIFF chunks (https://developers.google.com/speed/webp/docs/riff_container) ---
def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def _vp8l_pixel(colour: tuple[int, int, int, int]) -> bytes:
    """The VP8L chunk of a lossless 1x1 WebP, as Pillow's encoder writes it."""
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), colour).save(buffer, "WEBP", lossless=True)
    data = buffer.getvalue()
    assert data[12:16] == b"VP8L", data[:16]
    return data[12:]  # the whole VP8L chunk: tag, length, bitstream


def animated_webp(width: int = CANVAS, height: int = CANVAS, frames: int = 2) -> bytes:
    """An animated WebP (~150 bytes) of 1x1 frames on a ``width`` x ``height`` canvas.

    libwebp's animation decoder allocates the whole canvas (twice) when it is created; Pillow then copies it.
    """
    flags = 0x02 | 0x10  # animation, alpha
    vp8x = _riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + _u24(width - 1) + _u24(height - 1))
    anim = _riff_chunk(b"ANIM", struct.pack("<IH", 0xFFFFFFFF, 0))  # white background, loop forever
    body = b""
    for i in range(frames):
        pixel = _vp8l_pixel((255, 0, 0, 255) if i % 2 == 0 else (0, 0, 255, 255))
        header = _u24(0) + _u24(0) + _u24(0) + _u24(0) + _u24(100) + bytes([0])  # at (0,0), 1x1, 100 ms
        body += _riff_chunk(b"ANMF", header + pixel)
    payload = b"WEBP" + vp8x + anim + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


# --- PNG: chunks written by hand, rows compressed one at a time ---
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ihdr(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    return _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def apng(width: int = CANVAS, height: int = CANVAS) -> bytes:
    """An APNG (~200 bytes) whose two 1x1 frames sit on a ``width`` x ``height`` RGBA canvas.

    The first frame's fcTL comes before IDAT, so IDAT holds only that 1x1 frame; Pillow allocates the
    canvas and keeps copies of it for disposal and blending.
    """

    def fctl(sequence: int) -> bytes:  # a 1x1 frame at (0, 0), 100 ms, no disposal, source blend
        return _png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, 1, 1, 0, 0, 1, 10, 0, 0))

    red, blue = zlib.compress(b"\0\xff\0\0\xff"), zlib.compress(b"\0\0\0\xff\xff")
    return (
        _PNG_MAGIC
        + _ihdr(width, height, 8, 6)
        + _png_chunk(b"acTL", struct.pack(">II", 2, 0))
        + fctl(0)
        + _png_chunk(b"IDAT", red)
        + fctl(1)
        + _png_chunk(b"fdAT", struct.pack(">I", 2) + blue)
        + _png_chunk(b"IEND", b"")
    )


def large_rgba_png(width: int = 7920, height: int = 5300) -> bytes:
    """A real RGBA PNG of ``width`` x ``height`` (42 MP by default, ~180 kB): every row is transparent
    except a red band across the middle; written a row at a time, never held whole."""
    row_bytes = width * 4
    clear = b"\0" + b"\0" * row_bytes  # filter 0, transparent black
    red = b"\0" + b"\xff\0\0\xff" * width
    band = range(height * 2 // 5, height * 3 // 5)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(red if y in band else clear) for y in range(height)]
    data = b"".join(chunks) + compressor.flush()
    return _PNG_MAGIC + _ihdr(width, height, 8, 6) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def truncated_png(width: int = CANVAS, height: int = CANVAS) -> bytes:
    """A ~100-byte RGB PNG declaring ``width`` x ``height`` whose pixel data stops after one row:
    a decoder allocates the full image before it finds the data missing."""
    data = zlib.compress(b"\0" + b"\x80" * (width * 3))
    return _PNG_MAGIC + _ihdr(width, height, 8, 2) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


# --- GIF ---
def gif_screen(width: int = CANVAS, height: int = CANVAS) -> bytes:
    """A ~40-byte GIF: one 1x1 red pixel on a ``width`` x ``height`` logical screen, which Pillow allocates."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # 2-colour global table
    palette = b"\xff\x00\x00" + b"\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    pixels = b"\x02" + b"\x02\x44\x01" + b"\x00"  # LZW min code 2; clear, index 0, end
    return header + palette + descriptor + pixels + b"\x3b"


def animated_gif(width: int = CANVAS, height: int = CANVAS) -> bytes:
    """Like ``gif_screen`` with a second 1x1 frame: an animation whose canvas is the logical screen."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    palette = b"\xff\x00\x00" + b"\x00\x00\xff"
    frame = b""
    for index in (0, 1):
        control = b"\x21\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00"  # 100 ms, no disposal
        descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        code = b"\x02\x44\x01" if index == 0 else b"\x02\x4c\x01"  # clear, index 0 or 1, end
        frame += control + descriptor + b"\x02" + code + b"\x00"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    return header + palette + loop + frame + b"\x3b"


# --- JPEG: libjpeg keeps all DCT coefficients (2 bytes each, full size, whatever the draft scale) of a
# progressive or multi-scan file. Written by hand: one-bit Huffman codes, every block flat grey. ---
def _jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _flat_jpeg(width: int, height: int, progressive: bool) -> bytes:
    components: tuple[int, ...] = (1, 2, 3)  # Y, Cb, Cr; no subsampling: each 8x8 block of each component is coded
    frame = struct.pack(">BHHB", 8, height, width, len(components)) + b"".join(bytes([c, 0x11, 0]) for c in components)
    one_code = bytes([1] + [0] * 15) + b"\0"  # a single code, "0", of length 1, standing for symbol 0
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    head = b"\xff\xd8" + _jpeg_segment(0xDB, b"\0" + b"\x01" * 64)
    if progressive:  # one DC scan of all components: DC difference category 0 is one "0" bit a block
        head += _jpeg_segment(0xC2, frame) + _jpeg_segment(0xC4, b"\x00" + one_code)
        scans = [(components, _zero_bits(blocks * len(components)), 0, 0)]
    else:  # baseline, one scan per component: DC "0" and end-of-block "0", two bits a block
        head += _jpeg_segment(0xC0, frame) + _jpeg_segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
        scans = [((c,), _zero_bits(blocks * 2), 0, 63) for c in components]
    body = b""
    for scan_components, data, first, last in scans:
        header = bytes([len(scan_components)]) + b"".join(bytes([c, 0]) for c in scan_components)
        body += _jpeg_segment(0xDA, header + bytes([first, last, 0])) + data
    return head + body + b"\xff\xd9"


def _zero_bits(count: int) -> bytes:
    """``count`` zero bits, padded with one bits as JPEG requires (never a 0xFF byte, so no stuffing)."""
    whole, rest = divmod(count, 8)
    return b"\0" * whole + (bytes([(1 << (8 - rest)) - 1]) if rest else b"")


def progressive_jpeg(width: int = CANVAS, height: int = CANVAS) -> bytes:
    """A flat grey progressive JPEG (~520 kB at 9400x9400) whose coefficients take 6 bytes a pixel to decode."""
    return _flat_jpeg(width, height, progressive=True)


def multiscan_jpeg(width: int = CANVAS, height: int = CANVAS) -> bytes:
    """A flat grey baseline JPEG with one scan per component (~1 MB at 9400x9400): buffered like a progressive one."""
    return _flat_jpeg(width, height, progressive=False)


HOSTILE_IMAGES: dict[str, Callable[[], bytes]] = {
    "animated.webp": animated_webp,
    "animated.apng": apng,
    "screen.gif": gif_screen,
    "animated.gif": animated_gif,
    "rgba-42mp.png": large_rgba_png,
    "truncated.png": truncated_png,
    "progressive.jpg": progressive_jpeg,
    "multiscan.jpg": multiscan_jpeg,
}
"""Name (with the extension a server may use) -> builder, each with the issue's default sizes."""
