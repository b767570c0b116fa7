import io

import pytest
from PIL import Image

from daskparse.imagetypes import PILLOW_FORMATS, RASTER_TYPES, SNIFF_BYTES, jpeg_buffers_whole_image, sniff, webp_canvas
from daskparse.testing import hostile_images


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


# --- Header facts read before any decoder runs (decoder bombs, issue 12) ---
def _webp(img: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "WEBP", **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (lambda: _webp(Image.new("RGB", (300, 200)), quality=80), (300, 200, False)),  # VP8
        (lambda: _webp(Image.new("RGBA", (301, 199)), lossless=True), (301, 199, False)),  # VP8L
        (lambda: _webp(Image.new("RGBA", (64, 48)), save_all=True,  # VP8X, animated
                       append_images=[Image.new("RGBA", (64, 48), "red")], duration=100), (64, 48, True)),
        (lambda: hostile_images.animated_webp(9400, 9400), (9400, 9400, True)),
        (lambda: _webp(Image.new("RGB", (300, 200)), icc_profile=b"x" * 100), (300, 200, False)),  # VP8X, still
    ],
)
def test_webp_canvas_is_read_from_the_first_chunk(data, expected):
    assert webp_canvas(data()[:30]) == expected


def test_an_unreadable_webp_header_has_no_canvas():
    assert webp_canvas(b"RIFF\0\0\0\0WEBPVP8 ") is None
    assert webp_canvas(b"RIFF\0\0\0\0WEBPJUNK" + b"\0" * 20) is None


def _jpeg(img: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def test_progressive_and_multi_scan_jpegs_buffer_the_whole_image():
    assert jpeg_buffers_whole_image(_jpeg(Image.new("RGB", (64, 48)), progressive=True))
    assert jpeg_buffers_whole_image(hostile_images.multiscan_jpeg(64, 48))  # baseline, a scan per component
    assert jpeg_buffers_whole_image(hostile_images.progressive_jpeg(64, 48))
    assert not jpeg_buffers_whole_image(_jpeg(Image.new("RGB", (64, 48))))
    assert not jpeg_buffers_whole_image(_jpeg(Image.new("L", (64, 48))))
    assert not jpeg_buffers_whole_image(_jpeg(Image.new("CMYK", (64, 48))))


def test_an_exif_thumbnail_does_not_count_as_a_scan():
    # A progressive thumbnail inside APP1 (as cameras write one) before the baseline frame.
    thumbnail = _jpeg(Image.new("RGB", (16, 12)), progressive=True)
    app1 = b"Exif\0\0" + thumbnail
    data = _jpeg(Image.new("RGB", (64, 48)))
    data = data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]
    assert Image.open(io.BytesIO(data)).size == (64, 48)
    assert not jpeg_buffers_whole_image(data)
