import io

import pytest
from PIL import Image

from daskparse.imagetypes import PILLOW_FORMATS, RASTER_TYPES, SNIFF_BYTES, sniff


def _encoded(pillow_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 40, 40)).save(buffer, pillow_format)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", sorted(RASTER_TYPES))
def test_files_written_by_pillow_are_told_by_their_magic(kind):
    assert sniff(_encoded(PILLOW_FORMATS[kind])[:SNIFF_BYTES]) == kind


def test_big_endian_tiff_is_tiff():
    assert sniff(b"MM\0*\0\0\0\x08") == "tiff"


@pytest.mark.parametrize(
    "head",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b'\xef\xbb\xbf\n  <?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg></svg>',
        b"<!-- drawn by hand --><SVG></SVG>",
    ],
)
def test_svg_text_is_svg(head):
    assert sniff(head) == "svg"


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<!DOCTYPE html><html><body><img src=flyer.jpg></body></html>",
        b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
        b"BMW night at the pub, 9PM",  # starts with "BM" but is text
        b"%PDF-1.7\n",
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41",  # an MP4 video
        b"just some text",
    ],
)
def test_other_bytes_are_no_image_type(head):
    assert sniff(head) is None


def test_heif_brands_tell_heic_from_avif():
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "heic"
    # a generic HEIF major brand whose compatible brands name AVIF
    assert sniff(b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf") == "avif"


def test_vector_and_undecodable_types_are_not_raster():
    assert "svg" not in RASTER_TYPES
    assert "heic" not in RASTER_TYPES
    assert {"jpeg", "png", "gif", "webp", "bmp", "tiff"} <= RASTER_TYPES
    assert RASTER_TYPES <= PILLOW_FORMATS.keys()
