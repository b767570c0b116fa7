"""optimize's pixel work against the scikit-image formulation it replaced (issue 17).

Every step but the blur must give scikit-image's values bit for bit: the level tables, the percentiles
from a 256-bin count, the in-place unsharp arithmetic and the rounding to 8 bits. The blur is OpenCV's
float32 Gaussian, equal to scikit-image's to float precision. The reference below is the optimizer as it
was (OPTIMIZER_VERSION "1"): kept here, not in the package.
"""

import math

import numpy as np
import pytest
from PIL import Image
from skimage import exposure, filters, util

from daskparse import optimize as opt
from conftest import json_from_python

PERCENTILES = (0.5, 99.5)


def reference_enhance(rgb: np.ndarray, contrast: str, blur=None) -> np.ndarray:
    """The scikit-image formulation: img_as_float32, np.percentile + rescale_intensity, unsharp_mask, img_as_ubyte.

    ``blur``: the Gaussian to use instead of scikit-image's (to check the rest of the arithmetic alone).
    """
    image = util.img_as_float32(rgb)
    if contrast == "stretch":
        step = math.ceil(math.sqrt(image.shape[0] * image.shape[1] / opt._STRETCH_SAMPLES))
        low, high = np.percentile(image[::step, ::step], PERCENTILES)
        if high - low >= 1 / 255:
            image = exposure.rescale_intensity(image, in_range=(float(low), float(high)), out_range=(0.0, 1.0))
    elif contrast == "clahe":
        image = exposure.equalize_adapthist(image).astype(np.float32, copy=False)
    if blur is None:
        sharp = filters.unsharp_mask(image, radius=opt._SHARPEN_RADIUS, amount=opt._SHARPEN_AMOUNT, channel_axis=2)
    else:  # unsharp_mask's own arithmetic, channel by channel, around the given blur
        sharp = np.empty_like(image)
        for c in range(image.shape[2]):
            channel = image[..., c]
            result = channel + (channel - blur(channel)) * opt._SHARPEN_AMOUNT
            sharp[..., c] = np.clip(result, 0.0, 1.0, out=result)
    return util.img_as_ubyte(sharp)


def photo(size: tuple[int, int], seed: int = 0, faded: bool = False) -> np.ndarray:
    """Soft blobs with grain, and sharp-edged text-like bars: textured like a photographed flyer."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[1] // 24 + 1, size[0] // 24 + 1, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    base = base + rng.integers(-12, 13, base.shape, dtype=np.int16)
    base[size[1] // 3 : size[1] // 3 + 6, size[0] // 8 : -size[0] // 8] = 10  # a dark stroke
    if faded:
        base = 90 + base // 3
    return np.clip(base, 0, 255).astype(np.uint8)


IMAGES = {
    "photo": lambda: photo((640, 480)),
    "faded": lambda: photo((480, 640), seed=1, faded=True),
    "odd size": lambda: photo((37, 23), seed=2),
    "flat": lambda: np.full((40, 60, 3), 77, np.uint8),
    "one pixel": lambda: np.array([[[10, 200, 30]]], np.uint8),
}


def _channel_gaussian(channel: np.ndarray) -> np.ndarray:
    return filters.gaussian(channel, sigma=opt._SHARPEN_RADIUS, mode="reflect")


@pytest.mark.parametrize("contrast", ["stretch", "none", "clahe"])
@pytest.mark.parametrize("name", list(IMAGES))
def test_enhance_is_scikit_images_arithmetic_bit_for_bit_given_the_same_blur(monkeypatch, name, contrast):
    rgb = IMAGES[name]()
    monkeypatch.setattr(opt, "_blur", lambda image, dst=None: np.stack(
        [_channel_gaussian(image[..., c]) for c in range(image.shape[2])], axis=2).astype(np.float32))
    monkeypatch.setattr(opt, "_STRIP_BYTES", 12 * rgb.shape[1] * 40)  # strips of 40 rows: several per image
    expected = reference_enhance(rgb, contrast, blur=_channel_gaussian)
    assert np.array_equal(opt._enhance(rgb, contrast), expected)
    # and the reference itself is scikit-image's unsharp_mask, so the comparison above is the real thing
    assert np.array_equal(expected, reference_enhance(rgb, contrast))


@pytest.mark.parametrize("contrast", ["stretch", "clahe"])
@pytest.mark.parametrize("rows", [24, 25, 37, 100, 479, 480, 10_000])
def test_strips_of_any_height_give_the_whole_images_output(monkeypatch, rows, contrast):
    rgb = IMAGES["photo"]()  # 480 rows
    whole = opt._enhance(rgb, contrast)  # the default strips: ~400 rows at this width
    monkeypatch.setattr(opt, "_STRIP_BYTES", 12 * rgb.shape[1] * rows)
    assert np.array_equal(opt._enhance(rgb, contrast), whole)
    monkeypatch.setattr(opt, "_STRIP_BYTES", 2**40)  # one strip: the whole image at once
    assert np.array_equal(opt._enhance(rgb, contrast), whole)


@pytest.mark.parametrize("name", ["photo", "faded", "odd size"])
def test_opencvs_blur_is_scikit_images_gaussian_to_float_precision(name):
    image = util.img_as_float32(IMAGES[name]())
    ours = opt._blur(image)
    assert ours.dtype == np.float32 and ours.shape == image.shape
    for c in range(3):  # channel by channel: no colour leaks into another (scikit-image's channel_axis=-1 bug)
        theirs = _channel_gaussian(image[..., c])
        assert np.max(np.abs(ours[..., c] - theirs)) < 2e-6


@pytest.mark.parametrize("name", ["photo", "faded"])
def test_with_opencvs_blur_the_output_is_within_a_level_or_two(name):
    rgb = IMAGES[name]()
    ours = opt._enhance(rgb, "stretch").astype(np.int16)
    theirs = reference_enhance(rgb, "stretch").astype(np.int16)
    difference = np.abs(ours - theirs)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001  # rounding at a .5 boundary, rarely


def _counts_samples():
    rng = np.random.default_rng(7)
    yield "photo", IMAGES["photo"]()
    yield "faded", IMAGES["faded"]()
    for n in (1, 2, 3, 5, 199, 200, 201, 1000, 12345):
        yield f"uniform {n}", rng.integers(0, 256, (1, n, 3), dtype=np.uint8)
        yield f"few levels {n}", rng.choice(np.array([0, 3, 250, 255], np.uint8), (n, 1, 3))
        yield f"skewed {n}", np.clip(rng.normal(20, 6, (n, 2, 3)), 0, 255).astype(np.uint8)
    yield "large", rng.integers(0, 256, (1350, 1080, 3), dtype=np.uint8)


@pytest.mark.parametrize(("name", "rgb"), list(_counts_samples()), ids=lambda v: v if isinstance(v, str) else "")
def test_percentiles_from_the_counts_are_np_percentiles(name, rgb):
    image = util.img_as_float32(rgb)
    step = math.ceil(math.sqrt(image.shape[0] * image.shape[1] / opt._STRETCH_SAMPLES))
    low, high = np.percentile(image[::step, ::step], PERCENTILES)
    assert opt._stretch_range(rgb) == (float(low), float(high))


def test_the_level_table_is_img_as_float32():
    rgb = IMAGES["photo"]()
    assert np.array_equal(np.take(opt._LEVELS, rgb), util.img_as_float32(rgb))
    assert opt._LEVELS.dtype == np.float32


def test_the_jpeg_is_the_one_imageio_wrote():
    iio = pytest.importorskip("imageio.v3")  # scikit-image's dependency; no longer the package's
    pixels = reference_enhance(IMAGES["photo"](), "stretch")
    for quality in (95, 80):
        assert opt._jpeg(Image.fromarray(pixels), quality) == iio.imwrite("<bytes>", pixels, extension=".jpg", quality=quality)


def test_the_finishing_work_stays_within_its_share_of_the_decode_budget():
    # ru_maxrss is a high-water mark: a fresh process, its first-call costs paid on a small image first.
    script = (
        "import io, json, resource\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from daskparse import optimize as opt\n"
        "from daskparse.lookalike import perceptual_hash, thumbnail_jpeg\n"
        "def finish(rgb):\n"
        "    out = Image.fromarray(opt._enhance(rgb, 'stretch'))\n"
        "    opt._jpeg(out, 95)\n"
        "    gray = out.convert('L')\n"
        "    perceptual_hash(gray), thumbnail_jpeg(gray)\n"
        "rng = np.random.default_rng(0)\n"
        "coarse = rng.integers(0, 256, (34, 51, 3), dtype=np.uint8)\n"
        "finish(np.asarray(Image.fromarray(coarse).resize((120, 80))))\n"
        "rgb = np.asarray(Image.fromarray(coarse).resize((1200, 800), Image.Resampling.BICUBIC))\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "finish(rgb)\n"
        "print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / rgb[..., 0].size))\n"
    )
    per_pixel = json_from_python(script)
    assert per_pixel <= opt._FINISHING_BYTES_PER_PIXEL["stretch"], per_pixel


def test_colour_patches_keep_their_colours_through_the_new_blur():
    # scikit-image 0.26's unsharp_mask(channel_axis=-1) turned such patches black; OpenCV blurs each channel alone.
    rgb = np.full((60, 90, 3), 255, np.uint8)
    for i, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        rgb[15:45, 5 + 30 * i : 25 + 30 * i] = colour
    out = opt._enhance(rgb, "stretch")
    for i, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        assert np.array_equal(out[30, 15 + 30 * i], colour)
