import io
import resource
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from daskparse.decode_budget import DecodeBudget
from daskparse.errors import SourceError
from daskparse.optimize import OptimizedImage, optimize_image
from daskparse.testing import hostile_images
from conftest import json_from_python

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _pixels(result: OptimizedImage) -> np.ndarray:
    decoded = Image.open(io.BytesIO(result.jpeg))
    assert decoded.format == "JPEG"
    assert decoded.size == (result.width, result.height)
    return np.asarray(decoded.convert("RGB"), dtype=np.float64)


def _mean(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Mean colour inside a box given as fractions (left, top, right, bottom) of the image."""
    h, w = pixels.shape[:2]
    left, top, right, bottom = box
    return pixels[int(top * h) : int(bottom * h), int(left * w) : int(right * w)].reshape(-1, 3).mean(axis=0)


def _near(actual: np.ndarray, expected: tuple[int, ...], tolerance: float = 10) -> bool:
    return bool(np.all(np.abs(actual - np.asarray(expected, dtype=np.float64)) <= tolerance))


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Noise with soft blobs: textured like a photo, so JPEG sizes and decode work are realistic."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[1] // 32 + 1, size[0] // 32 + 1, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-12, 13, base.shape, dtype=np.int16)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


def _patches(size: tuple[int, int]) -> Image.Image:
    """White with red, green and blue squares in a row."""
    w, h = size
    img = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(img)
    for i, colour in enumerate((RED, GREEN, BLUE)):
        draw.rectangle([w * (0.05 + 0.32 * i), h * 0.2, w * (0.30 + 0.32 * i), h * 0.8], fill=colour)
    return img


PATCH_CENTRES = [(0.1 + 0.32 * i, 0.35, 0.25 + 0.32 * i, 0.65) for i in range(3)]


def _png(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes) -> bytes:
    """A PNG written by hand, for what Pillow will not write (16-bit RGB) or must never allocate."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b"")


def test_colours_survive_resizing_contrast_and_sharpening():
    # channel_axis=-1 in scikit-image 0.26's unsharp_mask turns all three patches black.
    result = optimize_image(_encode(_patches((1800, 1200)), "PNG"))
    pixels = _pixels(result)
    for centre, colour in zip(PATCH_CENTRES, (RED, GREEN, BLUE)):
        assert _near(_mean(pixels, centre), colour, tolerance=12), (colour, _mean(pixels, centre))
    assert _near(_mean(pixels, (0.0, 0.0, 1.0, 0.1)), WHITE, tolerance=3)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (1067, 800)),
        ((3000, 4000), (800, 1067)),  # portrait fits 800 wide x 1200 high: long side 1200, short 800
        ((2400, 3600), (800, 1200)),
        ((3000, 1000), (1200, 400)),
        ((1000, 3000), (400, 1200)),
    ],
)
def test_output_is_a_jpeg_fitting_the_box_with_the_aspect_kept(size, expected):
    result = optimize_image(_encode(_photo(size), "JPEG", quality=90))
    assert (result.width, result.height) == expected
    assert (result.source_width, result.source_height) == size
    assert result.source_type == "jpeg"
    pixels = _pixels(result)
    assert pixels.shape[:2] == (expected[1], expected[0])


def test_max_size_is_long_side_and_short_side_in_either_order():
    data = _encode(_photo((1500, 1000)), "PNG")
    for box in ((600, 300), (300, 600)):
        result = optimize_image(data, max_size=box)
        assert (result.width, result.height) == (450, 300)


def test_small_images_are_not_upscaled():
    result = optimize_image(_encode(_photo((300, 200)), "PNG"))
    assert (result.width, result.height) == (300, 200)


@pytest.mark.parametrize(
    ("orientation", "marker_box"),
    [
        (6, (0.65, 0.02, 0.98, 0.18)),  # rotate 90 clockwise to display: stored top-left goes top-right
        (8, (0.02, 0.82, 0.35, 0.98)),  # rotate 90 anticlockwise: stored top-left goes bottom-left
    ],
)
def test_exif_orientation_is_applied(orientation, marker_box):
    stored = Image.new("RGB", (400, 200), WHITE)
    ImageDraw.Draw(stored).rectangle([0, 0, 79, 79], fill=RED)  # marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    result = optimize_image(_encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert (result.width, result.height) == (200, 400)
    assert (result.source_width, result.source_height) == (200, 400)
    pixels = _pixels(result)
    assert _near(_mean(pixels, marker_box), RED, tolerance=20)
    assert _near(_mean(pixels, (0.0, 0.45, 1.0, 0.55)), WHITE, tolerance=10)


def test_alpha_is_flattened_onto_white():
    img = Image.new("RGBA", (300, 100), (0, 0, 0, 0))  # transparent black
    draw = ImageDraw.Draw(img)
    draw.rectangle([100, 0, 199, 99], fill=(255, 0, 0, 128))  # half-transparent red
    draw.rectangle([200, 0, 299, 99], fill=(0, 0, 255, 255))  # opaque blue
    pixels = _pixels(optimize_image(_encode(img, "PNG"), contrast="none"))
    assert _near(_mean(pixels, (0.05, 0.1, 0.28, 0.9)), WHITE, tolerance=4)
    assert _near(_mean(pixels, (0.38, 0.1, 0.62, 0.9)), (255, 127, 127), tolerance=8)
    assert _near(_mean(pixels, (0.72, 0.1, 0.95, 0.9)), BLUE, tolerance=8)


def _halves(mode: str, left, right, size=(200, 100)) -> Image.Image:
    img = Image.new(mode, size, left)
    ImageDraw.Draw(img).rectangle([size[0] // 2, 0, size[0], size[1]], fill=right)
    return img


def _sixteen_bit_rgb_png() -> bytes:
    # left half (50000, 10000, 30000) of 65535, right half 16-bit white
    left = struct.pack(">HHH", 50000, 10000, 30000) * 50
    right = struct.pack(">HHH", 65535, 65535, 65535) * 50
    return _png(100, 40, 16, 2, (b"\0" + left + right) * 40)


def _sixteen_bit_grey_png() -> bytes:
    img = Image.fromarray(np.hstack([np.full((40, 50), 30000, np.uint16), np.full((40, 50), 65535, np.uint16)]))
    data = _encode(img, "PNG")
    assert data[24] == 16  # IHDR bit depth: really a 16-bit file
    return data


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (120, 80), colour) for colour in (RED, GREEN, BLUE)]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _transparent_gif() -> bytes:
    img = _halves("P", 0, 1)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    return _encode(img, "GIF", transparency=0)  # left half transparent, right half blue


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _rgb_icc_profile(red_xyz, green_xyz, blue_xyz, description: str) -> bytes:
    """A minimal ICC v2 matrix profile with linear curves, written by hand (no profile files here)."""
    text = description.encode() + b"\0"
    linear = b"curv\0\0\0\0" + struct.pack(">I", 0)
    tags = {
        b"desc": b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 70,
        b"wtpt": _xyz(0.9642, 1.0, 0.8249),
        b"rXYZ": _xyz(*red_xyz),
        b"gXYZ": _xyz(*green_xyz),
        b"bXYZ": _xyz(*blue_xyz),
        b"rTRC": linear,
        b"gTRC": linear,
        b"bTRC": linear,
    }
    data_start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, tag in tags.items():
        tag += b"\0" * (-len(tag) % 4)
        table += signature + struct.pack(">II", data_start + len(body), len(tag))
        body += tag
    header = (
        struct.pack(">I", data_start + len(body))
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + table + body


# sRGB's primaries adapted to D50, as ICC profiles store them; the profile below swaps red and green,
# so a pixel stored as (255, 0, 0) under it is really sRGB green.
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
SWAPPED_PROFILE = _rgb_icc_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, "red and green swapped")
SRGB_NAMED_PROFILE = _rgb_icc_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, "sRGB IEC61966-2.1 (as named)")


def _with_profile(fmt: str, left, right, profile: bytes) -> bytes:
    return _encode(_halves("RGB", left, right), fmt, icc_profile=profile, **({"quality": 95} if fmt == "JPEG" else {}))


@pytest.mark.parametrize(
    ("name", "data", "left", "right"),
    [
        ("grey L", lambda: _encode(_halves("L", 100, 255), "PNG"), (100,) * 3, WHITE),
        ("bilevel 1", lambda: _encode(_halves("1", 0, 1), "PNG"), (0, 0, 0), WHITE),
        ("palette P", lambda: _encode(_halves("RGB", RED, GREEN).convert("P"), "PNG"), RED, GREEN),
        ("transparent GIF", _transparent_gif, WHITE, BLUE),
        ("CMYK JPEG", lambda: _encode(_halves("CMYK", (0, 255, 255, 0), (0, 0, 0, 0)), "JPEG", quality=95), RED, WHITE),
        ("16-bit grey PNG", _sixteen_bit_grey_png, (117,) * 3, WHITE),
        ("16-bit RGB PNG", _sixteen_bit_rgb_png, (195, 39, 117), WHITE),
        ("LA", lambda: _encode(_halves("LA", (50, 255), (0, 0)), "PNG"), (50,) * 3, WHITE),
        ("animated GIF", lambda: _animated("GIF"), RED, RED),
        ("animated WebP", lambda: _animated("WEBP"), RED, RED),
        ("TIFF", lambda: _encode(_halves("RGB", BLUE, WHITE), "TIFF"), BLUE, WHITE),
        ("BMP", lambda: _encode(_halves("RGB", GREEN, WHITE), "BMP"), GREEN, WHITE),
        ("ICC profile PNG", lambda: _with_profile("PNG", RED, WHITE, SWAPPED_PROFILE), GREEN, WHITE),
        ("ICC profile JPEG", lambda: _with_profile("JPEG", RED, BLUE, SWAPPED_PROFILE), GREEN, BLUE),
        # a profile that calls itself sRGB is taken at its word: no transform, no cost
        ("sRGB profile", lambda: _with_profile("PNG", RED, WHITE, SRGB_NAMED_PROFILE), RED, WHITE),
        ("broken ICC profile", lambda: _with_profile("PNG", RED, WHITE, b"junk" * 40), RED, WHITE),
    ],
)
def test_every_mode_becomes_the_right_rgb(name, data, left, right):
    pixels = _pixels(optimize_image(data(), contrast="none"))
    assert _near(_mean(pixels, (0.05, 0.1, 0.4, 0.9)), left, tolerance=8), (name, _mean(pixels, (0.05, 0.1, 0.4, 0.9)))
    assert _near(_mean(pixels, (0.6, 0.1, 0.95, 0.9)), right, tolerance=8), (name, _mean(pixels, (0.6, 0.1, 0.95, 0.9)))


def test_source_type_is_what_the_bytes_are_not_what_a_name_says():
    assert optimize_image(_encode(_photo((64, 48)), "WEBP")).source_type == "webp"


def test_a_tiny_file_declaring_a_huge_image_is_refused_without_allocating_it():
    bomb = _png(30000, 30000, 8, 2, b"\0" * 100)  # 900 Mpx declared, ~200 bytes on disk
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SourceError) as caught:
        optimize_image(bomb)
    assert caught.value.kind == "decode.too_many_pixels"
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 200_000  # the RGB buffer alone would be 2.7 GB


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_images_over_the_pillow_limit_are_refused_where_pillow_only_warns():
    over = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)  # between the limit and twice it
    with pytest.raises(SourceError) as caught:
        optimize_image(_png(over, over, 8, 0, b"\0" * 10))
    assert caught.value.kind == "decode.too_many_pixels"


def _truncated_jpeg() -> bytes:
    data = _encode(_photo((1600, 1200)), "JPEG", quality=90)
    return data[: len(data) // 2]


def _corrupt_png() -> bytes:
    data = bytearray(_encode(_photo((400, 300)), "PNG"))
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the compressed pixels
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_truncated_jpeg, "decode.corrupt"),
        (_corrupt_png, "decode.corrupt"),
        (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "decode.corrupt"),  # the magic and nothing after
        (lambda: b"", "decode.not_an_image"),
        (lambda: b"<!DOCTYPE html><html><head><title>Flyer</title></head></html>", "decode.not_an_image"),
        (lambda: b"Karaoke Thursday 9PM at the Rusty Anchor", "decode.not_an_image"),
        (lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "decode.unsupported_format"),
        (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "decode.unsupported_format"),
    ],
)
def test_bad_input_is_a_source_error_of_a_stable_kind(data, kind):
    with pytest.raises(SourceError) as caught:
        optimize_image(data())
    assert caught.value.kind == kind
    assert caught.value.stage == "decode"


def _edge_steepness(pixels: np.ndarray) -> float:
    grey = pixels.mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).max(axis=1).mean())


def test_sharpening_steepens_a_blurred_edge():
    edge = _halves("RGB", (60, 60, 60), (190, 190, 190), size=(400, 200)).filter(ImageFilter.GaussianBlur(1.5))
    before = _edge_steepness(np.asarray(edge, dtype=np.float64))
    after = _edge_steepness(_pixels(optimize_image(_encode(edge, "PNG"), contrast="none")))
    assert after > before * 1.15, (before, after)  # ~1.25x measured; unsharpened it stays ~1.0x


def test_contrast_stretch_spreads_a_faded_image_and_clahe_runs():
    faded = _encode(_halves("RGB", (90, 90, 90), (160, 160, 160)), "PNG")
    stretched = _pixels(optimize_image(faded))
    assert _mean(stretched, (0.05, 0.1, 0.4, 0.9))[0] < 20
    assert _mean(stretched, (0.6, 0.1, 0.95, 0.9))[0] > 235
    untouched = _pixels(optimize_image(faded, contrast="none"))
    assert _near(_mean(untouched, (0.05, 0.1, 0.4, 0.9)), (90, 90, 90), tolerance=4)
    clahe = optimize_image(faded, contrast="clahe")
    assert _pixels(clahe).shape == (100, 200, 3)
    with pytest.raises(ValueError):
        optimize_image(faded, contrast="sepia")


def test_many_threads_give_the_same_bytes_as_one():
    inputs = [_encode(_photo((1600 + 40 * i, 1200), seed=i), "JPEG", quality=90) for i in range(4)]
    inputs += [_encode(_patches((900, 600)), "PNG"), _animated("GIF")]
    serial = [optimize_image(data).jpeg for data in inputs]
    with ThreadPoolExecutor(max_workers=12) as pool:
        threaded = list(pool.map(lambda data: optimize_image(data).jpeg, inputs * 3))
    assert threaded == serial * 3


# --- Decoder bombs: small files whose decode takes gigabytes (issue 12, item 3) ---


@pytest.mark.parametrize("name", sorted(hostile_images.HOSTILE_IMAGES))
def test_each_hostile_image_is_refused_before_any_decoding(name):
    data = hostile_images.HOSTILE_IMAGES[name]()
    assert len(data) < 1_100_000
    budget = DecodeBudget()
    with pytest.raises(SourceError) as caught:
        optimize_image(data, budget=budget)
    assert caught.value.kind == "decode.too_many_pixels"
    assert budget.peak == 0  # judged from the headers: nothing was reserved, nothing decoded


def test_the_hostile_images_cost_little_memory_in_a_fresh_process():
    # ru_maxrss is a high-water mark, so a fresh process measures the images alone. Before the decode
    # budget this process reached +2.3 GB (the animated WebP; the APNG +1.3 GB, the 42 MP PNG +0.8 GB).
    script = (
        "import resource, json\n"
        "from daskparse.optimize import optimize_image\n"
        "from daskparse.errors import SourceError\n"
        "from daskparse.testing.hostile_images import HOSTILE_IMAGES, gif_screen\n"
        "optimize_image(gif_screen(64, 48))\n"  # imports and first-call costs before the baseline
        "inputs = {name: build() for name, build in HOSTILE_IMAGES.items()}\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "grown = {}\n"
        "for name, data in inputs.items():\n"
        "    try:\n"
        "        optimize_image(data)\n"
        "    except SourceError:\n"
        "        pass\n"
        "    grown[name] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024\n"
        "print(json.dumps(grown))\n"
    )
    grown_mb = json_from_python(script)
    assert max(grown_mb.values()) < 300, grown_mb  # generous: measured 0


@pytest.mark.parametrize(
    ("build", "corner", "middle"),
    [
        # animations within the canvas limit (3.8 MP at 1200x800): the first frame, a red pixel on clear
        (lambda: hostile_images.animated_webp(1600, 1200), None, WHITE),
        (lambda: hostile_images.apng(1600, 1200), None, WHITE),
        (lambda: hostile_images.animated_gif(1600, 1200), RED, RED),  # the logical screen's background
        (lambda: hostile_images.gif_screen(3000, 2000), RED, RED),
        # a 24 MP RGBA still: reduced by 2 a strip at a time, then composited: red band on white
        (lambda: hostile_images.large_rgba_png(6000, 4000), WHITE, RED),
        # progressive and multi-scan JPEGs: all coefficients buffered (36 MB here), decoded flat grey
        (lambda: hostile_images.progressive_jpeg(3000, 2000), (128,) * 3, (128,) * 3),
        (lambda: hostile_images.multiscan_jpeg(3000, 2000), (128,) * 3, (128,) * 3),
    ],
)
def test_smaller_versions_of_the_hostile_images_decode_correctly(build, corner, middle):
    budget = DecodeBudget()
    result = optimize_image(build(), contrast="none", budget=budget)
    assert max(result.width, result.height) <= 1200 and min(result.width, result.height) <= 800
    pixels = _pixels(result)
    if corner is not None:
        assert _near(_mean(pixels, (0.0, 0.0, 0.1, 0.1)), corner, tolerance=6)
    assert _near(_mean(pixels, (0.3, 0.45, 0.7, 0.55)), middle, tolerance=6)
    assert 0 < budget.peak <= budget.total_bytes and budget.in_use == 0


def test_an_image_over_the_whole_budget_is_refused_with_its_size_in_the_message():
    data = _encode(_photo((2000, 1500)), "PNG", compress_level=1)  # 3 MP: ~40 MB to decode
    with pytest.raises(SourceError) as caught:
        optimize_image(data, budget=DecodeBudget(16 * 2**20))
    assert caught.value.kind == "decode.too_many_pixels"
    assert "2000x1500 png needs about" in caught.value.message and "budget of 16 MB" in caught.value.message
    assert optimize_image(data, budget=DecodeBudget(64 * 2**20)).width == 1067


def test_pixel_limits_follow_the_output_size():
    canvas = hostile_images.animated_gif(2400, 2400)  # 5.8 MP: over 4x of 1200x800, under 4x of 1600x1200
    with pytest.raises(SourceError) as caught:
        optimize_image(canvas)
    assert caught.value.kind == "decode.too_many_pixels" and "animation" in caught.value.message
    assert optimize_image(canvas, max_size=(1600, 1200)).width == 1200
    still = _png(7000, 6000, 8, 0, b"\0" * 10)  # 42 MP declared, refused before its data is read
    with pytest.raises(SourceError) as caught:
        optimize_image(still)
    assert caught.value.kind == "decode.too_many_pixels" and "still" in caught.value.message


def test_threads_decode_large_images_one_budget_at_a_time():
    data = _encode(_photo((4000, 3000), seed=3), "PNG", compress_level=1)  # 12 MP RGB: ~100 MB estimated
    budget = DecodeBudget(150 * 2**20)  # room for one such decode at a time
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: optimize_image(data, budget=budget).jpeg, range(6)))
    assert len(set(results)) == 1
    assert 0 < budget.peak <= 150 * 2**20 and budget.in_use == 0


INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(INVERSE))
def test_a_reduced_image_lands_upright_and_in_place_whatever_its_exif_orientation(orientation):
    # 5.0x the output, not a multiple of the reduction (2): the last block is partial, and after a flip
    # it sits on the other side. Mapped wrongly, the stripes shift: 4.8-8.7 levels off, measured.
    size = (5007, 3339)
    picture = Image.new("L", size, 255)
    draw = ImageDraw.Draw(picture)
    for x in range(0, size[0], 97):
        draw.rectangle([x, 0, x + 30, size[1]], fill=0)
    for y in range(0, size[1], 89):
        draw.rectangle([0, y, size[0], y + 25], fill=120)

    def optimized(stored: Image.Image, tag: int) -> np.ndarray:
        exif = Image.Exif()
        exif[0x0112] = tag
        data = _encode(stored, "PNG", compress_level=1, exif=exif.tobytes())
        return _pixels(optimize_image(data, contrast="none", max_size=(1000, 667)))

    upright = optimized(picture, 1)
    turned = optimized(picture.transpose(INVERSE[orientation]), orientation)
    assert turned.shape == upright.shape == (667, 1000, 3)
    assert np.abs(turned - upright).mean() < 2.5  # 0-1.6 measured: the reduction's blocks start elsewhere


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_an_exif_orientation_outside_1_to_8_leaves_the_picture_as_stored(orientation):
    img = Image.new("RGBA", (300, 100), (0, 0, 255, 255))
    ImageDraw.Draw(img).rectangle([0, 0, 149, 99], fill=(255, 0, 0, 128))  # half-transparent red on the left
    exif = Image.Exif()
    exif[0x0112] = orientation
    result = optimize_image(_encode(img, "PNG", exif=exif.tobytes()), contrast="none")
    assert (result.width, result.height) == (result.source_width, result.source_height) == (300, 100)
    pixels = _pixels(result)
    assert _near(_mean(pixels, (0.05, 0.1, 0.4, 0.9)), (255, 127, 127), tolerance=8)
    assert _near(_mean(pixels, (0.6, 0.1, 0.95, 0.9)), BLUE, tolerance=8)
