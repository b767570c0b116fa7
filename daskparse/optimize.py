"""The optimize stage: any raster image's bytes in, one upright, sharpened sRGB JPEG out.

Pillow decodes (JPEG in draft mode: libjpeg scales by 1/2, 1/4 or 1/8 while decoding, the largest
saving), applies EXIF orientation, turns every mode into RGB and resizes; the pixel work (contrast, unsharp
mask) is scikit-image's arithmetic done with 256-entry tables and OpenCV's Gaussian blur, in place;
Pillow writes the JPEG. The only process-wide state touched is OpenCV's thread count, set to 0 (no
pool of its own) once at import; many threads may call ``optimize_image`` at once.

Decoding is bounded, because a file of a few hundred bytes can declare a canvas that costs gigabytes:
headers are judged against ``PixelLimits`` before any decoder allocates, each decode waits for its
estimated bytes in the process's ``DecodeBudget``, and colour work runs a strip at a time on a
reduced image (see ``daskparse.decode_budget``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageCms
from skimage import exposure, util

from daskparse.decode_budget import DEFAULT_DECODE_BUDGET, DecodeBudget, PixelLimits
from daskparse.errors import SourceError
from daskparse.imagetypes import PILLOW_FORMATS, RASTER_TYPES, SNIFF_BYTES, jpeg_buffers_whole_image, sniff, webp_canvas
from daskparse.lookalike import perceptual_hash, thumbnail_jpeg

# OpenCV's own pool would run the blur in threads of its own: hidden from the calling thread's CPU clock and
# competing with the Dask worker's threads (each of which runs an image of its own).
cv2.setNumThreads(0)

Contrast = Literal["stretch", "clahe", "none"]
# Bump when a change here alters the JPEG the extractors see: cached results are then recomputed.
OPTIMIZER_VERSION = "1"

_WHITE = (255, 255, 255, 255)
_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}
_STRETCH_PERCENTILES = (0.5, 99.5)  # ignore specular highlights and the darkest noise
# Unsharp mask for text on soft phone photos: on blurred portrait flyers with 22 px small print,
# rapidocr matched 45% of characters unsharpened, 56% with radius 1, 67% with radius 1.5 (amount 1).
_SHARPEN_RADIUS = 1.5
_SHARPEN_AMOUNT = 1.0
_STRETCH_SAMPLES = 250_000  # percentiles from a strided sample: ~10x cheaper, same answer to 1/255

# Decoding within bounds (see daskparse.decode_budget).
# A large image is box-reduced by a whole factor to at least this many times the output before the
# final Lanczos resize: Pillow's thumbnail default. Below twice that, nothing is reduced.
_REDUCING_GAP = 2.0
_STRIP_BYTES = 2 * 2**20  # rows converted at a time: their RGBA, backdrop and RGB copies stay this small
_CANVAS_FORMATS = {"gif", "png", "webp"}  # animations composed on a canvas that the decoder allocates whole
# Bytes Pillow's image takes per pixel (every multi-band mode is 4); see _DECODER_BYTES_PER_PIXEL for more.
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# Decoders that hold more than Pillow's image, measured per canvas pixel (peak RSS, 4000x3000): libwebp's
# animation decoder, used for every WebP, keeps the canvas twice and Pillow copies it twice (16-18);
# libavif keeps YUV planes and an RGB copy (9.5 for 8-bit 4:2:0; 10-bit 4:4:4 needs more).
_DECODER_BYTES_PER_PIXEL = {"webp": 18, "avif": 16}
# Contrast, sharpening, the JPEG encoder and the fingerprints, per output pixel (peak RSS at 1200x800: stretch
# and none 7.6 MB, 8 bytes a pixel: the uint8 copies and two float strips of ~2 MB, which below ~0.3 MP are the
# whole image, 24 bytes a pixel, but then fewer bytes than the decode's own estimate, whose larger the
# reservation takes; CLAHE 190 MB, its float image whole). Twenty threads doing it at once took more than the
# decodes once those were bounded. tests/test_optimize_exact.py measures the stretch path against its figure.
_FINISHING_BYTES_PER_PIXEL = {"stretch": 20, "clahe": 210, "none": 20}


@dataclass(frozen=True)
class OptimizedImage:
    jpeg: bytes
    width: int
    height: int
    source_type: str  # the sniffed type, e.g. "png"
    source_width: int  # as displayed, i.e. after EXIF orientation
    source_height: int
    # Fingerprints of the optimized picture for the result cache's look-alike level (daskparse.lookalike):
    # a 64-bit DCT hash (None for a nearly flat image, whose hash says nothing) and a small grayscale JPEG.
    phash: int | None = None
    thumbnail: bytes | None = None


def optimize_image(
    data: bytes,
    *,
    max_size: tuple[int, int] = (1200, 800),
    quality: int = 95,
    contrast: Contrast = "stretch",
    budget: DecodeBudget | None = None,
) -> OptimizedImage:
    """Decode ``data``, make it upright RGB, fit it in ``max_size``, stretch contrast, sharpen, JPEG.

    ``max_size`` is (long side, short side), not (width, height): a landscape image fits in 1200x800
    and a portrait one in 800x1200. Flyers are often portrait, and a literal 1200-wide-by-800-high
    box shrinks a 2:3 portrait flyer to 533x800, where OCR loses small print that 800x1200 keeps
    (BENCHMARKS.md, "Figures that were in docstrings"). The price is 2.25x the pixels for portrait images.
    Images are never upscaled.

    ``contrast``: "stretch" (default) maps the 0.5th..99.5th percentile of all channels together to
    0..1, which keeps colours' balance and is cheap; "clahe" is adaptive equalisation (several times
    slower); "none" skips it.

    Decoding is bounded (``daskparse.decode_budget``): the pixels a decoder would allocate are judged
    from the header first (over ``PixelLimits`` is refused), and the pixel work waits for its estimated
    bytes in ``budget`` (this process's ``DEFAULT_DECODE_BUDGET`` unless given); an image whose decode
    alone needs more than the whole budget is refused.

    Raises SourceError with kind "decode.not_an_image", "decode.unsupported_format",
    "decode.corrupt" or "decode.too_many_pixels"; never another exception for bad input.
    """
    source_type = _raster_type(data)
    long_side, short_side = max(max_size), min(max_size)
    budget = DEFAULT_DECODE_BUDGET if budget is None else budget
    img, plan = _plan(data, source_type, long_side, short_side)  # headers only: nothing decoded yet
    if plan.estimated_bytes > budget.total_bytes:
        width, height = plan.stored_size
        raise SourceError(
            "decode.too_many_pixels",
            f"{width}x{height} {source_type} needs about {plan.estimated_bytes / 2**20:.0f} MB to decode, "
            f"more than this process's decode budget of {budget.total_bytes / 2**20:.0f} MB",
        )
    # The decode and the float work on the output come one after the other: the larger of the two is
    # held throughout. The latter depends on settings only, so alone it never refuses an image.
    finishing = plan.target[0] * plan.target[1] * _FINISHING_BYTES_PER_PIXEL.get(contrast, 0)
    with budget.reserve(min(budget.total_bytes, max(plan.estimated_bytes, finishing))):
        if img is None:  # a WebP: its decoder allocates the canvas when opened, so only now
            img = _open(data, source_type)
        _load(img, source_type)
        orientation = _orientation(img)  # after load: a PNG's eXIf chunk may follow the pixels
        rgb = _downscale(img, plan, orientation)
        del img  # the decoded pixels go before the float work starts
        pixels = _enhance(np.asarray(rgb), contrast)
        out = Image.fromarray(pixels)
        jpeg = _jpeg(out, quality)
    source_width, source_height = plan.stored_size
    if orientation in _QUARTER_TURNS:  # the displayed picture is transposed
        source_width, source_height = source_height, source_width
    gray = out.convert("L")  # once, for both fingerprints (each at full size: the pHash stays what it was)
    return OptimizedImage(jpeg, rgb.width, rgb.height, source_type, source_width, source_height,
                          phash=perceptual_hash(gray), thumbnail=thumbnail_jpeg(gray))


def _jpeg(img: Image.Image, quality: int) -> bytes:
    """Pillow's encoder, as imageio called it (the same bytes), without imageio's plugin look-up."""
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _raster_type(data: bytes) -> str:
    kind = sniff(data[:SNIFF_BYTES])
    if kind is None:
        what = "0 bytes" if not data else f"bytes starting {data[:16]!r}"
        raise SourceError("decode.not_an_image", f"not an image: {what}")
    if kind not in RASTER_TYPES:
        raise SourceError("decode.unsupported_format", f"{kind} images are not supported (not a raster type we decode)")
    return kind


def _fit(size: tuple[int, int], long_side: int, short_side: int) -> tuple[int, int]:
    """The size that fits (long side, short side) in either orientation, keeping aspect; never larger."""
    w, h = size
    scale = min(1.0, long_side / max(w, h), short_side / min(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


@dataclass(frozen=True)
class _Plan:
    """What decoding one image will take, known from its headers before any pixel is allocated."""

    stored_size: tuple[int, int]  # as declared, before EXIF orientation and JPEG draft
    canvas: tuple[int, int]  # what the decoder allocates: after JPEG draft; an animation's whole canvas
    target: tuple[int, int]  # the output size, in stored orientation (the fit box is symmetric)
    factor: tuple[int, int]  # whole-number box reduction of the canvas before the final resize
    estimated_bytes: int  # the decode's peak memory, for the decode budget


def _plan(data: bytes, kind: str, long_side: int, short_side: int) -> tuple[Image.Image | None, _Plan]:
    """Open ``data`` lazily (WebP: not at all) and plan its decode; refuse it if its pixels are too many."""
    if kind == "webp":
        header = webp_canvas(data[:30])
        if header is None:
            raise SourceError("decode.corrupt", "webp header unreadable")
        img, (width, height, animated) = None, header
    else:
        img = _open(data, kind)
        width, height = img.size
    # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that. We refuse there too, by our own
    # check: warnings.catch_warnings swaps the process-wide filter list and is not thread-safe.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise SourceError("decode.too_many_pixels", f"{width}x{height} is over the limit of {limit} pixels")
    if img is not None:
        animated = kind in _CANVAS_FORMATS and _is_animated(img)
    target = _fit((width, height), long_side, short_side)
    coefficients = 0
    if kind == "jpeg":
        assert img is not None  # only a WebP is planned from its header without opening it
        coefficients = _jpeg_coefficient_bytes(img, data)
        # DCT-domain downscale to the smallest 1/2, 1/4, 1/8 still >= the output size. The box is
        # symmetric (long, short), so EXIF rotation applied later does not change the target.
        img.draft("RGB", target)
    canvas = img.size if img is not None else (width, height)
    _check_pixels(canvas, animated, kind, long_side, short_side)
    factor = (int(canvas[0] / target[0] / _REDUCING_GAP) or 1, int(canvas[1] / target[1] / _REDUCING_GAP) or 1)
    reduced = (math.ceil(canvas[0] / factor[0]), math.ceil(canvas[1] / factor[1]))
    decoder = _DECODER_BYTES_PER_PIXEL.get(kind) or _PIXEL_BYTES.get(img.mode if img is not None else "", 4) * (2 if kind == "tiff" else 1)
    estimate = (
        canvas[0] * canvas[1] * decoder
        + coefficients
        + reduced[0] * reduced[1] * 4  # the upright RGB image at the reduced size
        + max(target) * max(reduced) * 4 + target[0] * target[1] * 4  # Lanczos: first pass, then the output
        + 8 * _STRIP_BYTES  # one strip's conversions
    )
    return img, _Plan((width, height), canvas, target, factor, estimate)


def _open(data: bytes, kind: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[kind]])
    except Image.DecompressionBombError as exc:  # over twice MAX_IMAGE_PIXELS
        raise SourceError("decode.too_many_pixels", str(exc)) from None
    except Exception as exc:  # the magic bytes said image, the header did not parse
        raise SourceError("decode.corrupt", f"{kind} header unreadable: {exc}") from None


def _is_animated(img: Image.Image) -> bool:
    try:
        return bool(getattr(img, "is_animated", False))  # a GIF looks for a second frame, skipping the first's data
    except Exception:  # a broken second frame: the first may still load, as it did before this check
        return False


def _check_pixels(canvas: tuple[int, int], animated: bool, kind: str, long_side: int, short_side: int) -> None:
    limits = PixelLimits.for_output(long_side, short_side)
    limit, what = (limits.animation, "an animation's canvas") if animated else (limits.still, "a still image")
    if canvas[0] * canvas[1] > limit:
        raise SourceError(
            "decode.too_many_pixels",
            f"{kind} decodes to {canvas[0]}x{canvas[1]} pixels, over the {limit:,} allowed for {what} "
            f"when the output is {long_side}x{short_side}",
        )


def _jpeg_coefficient_bytes(img: Image.Image, data: bytes) -> int:
    """The DCT coefficients libjpeg keeps for a progressive or multi-scan JPEG: 2 bytes each, at full size.

    Draft mode does not shrink them (measured: 8000x6000 progressive 4:4:4, 289 MB to decode at 1/4).
    """
    if not jpeg_buffers_whole_image(data):
        return 0
    layers = getattr(img, "layer", None) or [(None, 1, 1, None)] * max(1, getattr(img, "layers", 3))
    h_max = max(h for _, h, _, _ in layers) or 1
    v_max = max(v for _, _, v, _ in layers) or 1
    width, height = img.size
    return sum(
        math.ceil(width * h / h_max / 8 + 1) * math.ceil(height * v / v_max / 8 + 1) * 64 * 2 for _, h, v, _ in layers
    )


def _load(img: Image.Image, kind: str) -> None:
    try:
        img.load()  # frame 0 of an animation; ImageFile.LOAD_TRUNCATED_IMAGES stays False
    except Image.DecompressionBombError as exc:
        raise SourceError("decode.too_many_pixels", str(exc)) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        raise SourceError("decode.corrupt", f"{kind} data unreadable: {exc}") from None


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a malformed EXIF block is no reason to lose the picture
        return 1


# EXIF orientation -> the transpose that makes the stored picture upright (as ImageOps.exif_transpose),
# and where a point (x, y) of a w x h picture lands by it.
_UPRIGHT = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, lambda x, y, w, h: (w - x, y)),
    3: (Image.Transpose.ROTATE_180, lambda x, y, w, h: (w - x, h - y)),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, lambda x, y, w, h: (x, h - y)),
    5: (Image.Transpose.TRANSPOSE, lambda x, y, w, h: (y, x)),
    6: (Image.Transpose.ROTATE_270, lambda x, y, w, h: (h - y, x)),
    7: (Image.Transpose.TRANSVERSE, lambda x, y, w, h: (h - y, w - x)),
    8: (Image.Transpose.ROTATE_90, lambda x, y, w, h: (y, w - x)),
}
_QUARTER_TURNS = {5, 6, 7, 8}


def _downscale(img: Image.Image, plan: _Plan, orientation: int) -> Image.Image:
    """The loaded image as upright 8-bit sRGB RGB at the output size.

    A strip of rows at a time: colour and alpha work (pixel by pixel), a whole-factor box reduction
    when the image is large, the EXIF turn; each strip is pasted where it lands. So besides the
    decoded image only one RGB image at the reduced size exists: no full-size RGBA, white backdrop,
    float or turned copy (together 16 bytes a pixel). Then one Lanczos resize to the output size.
    An image needing no reduction gets exactly the pixels it always did: every step before the
    resize is exact per pixel.
    """
    fx, fy = plan.factor
    reduced = (math.ceil(img.width / fx), math.ceil(img.height / fy))
    flatten = _flattener(img)
    if flatten is None and plan.factor == (1, 1):  # RGB already, no smaller: one turn at most, no strips
        rgb = img.transpose(_UPRIGHT[orientation][0]) if orientation in _UPRIGHT else img
    else:
        rgb = _converted_in_strips(img, flatten, plan.factor, orientation)
    box, target = None, plan.target
    if plan.factor != (1, 1):  # the reduced image's last row and column may stand for part of a block
        box = (0.0, 0.0, img.width / fx, img.height / fy)
    if orientation in _UPRIGHT:
        if box is not None:  # where that part lands once upright
            box = _landed(box, orientation, reduced)
        if orientation in _QUARTER_TURNS:
            target = (target[1], target[0])
    if target != rgb.size:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, box=box)
    return rgb


def _converted_in_strips(img: Image.Image, flatten: Callable[[Image.Image], Image.Image] | None,
                         factor: tuple[int, int], orientation: int) -> Image.Image:
    width, height = img.size
    fx, fy = factor
    reduced = (math.ceil(width / fx), math.ceil(height / fy))
    out = Image.new("RGB", (reduced[1], reduced[0]) if orientation in _QUARTER_TURNS else reduced)
    rows = max(1, _STRIP_BYTES // (4 * width * fy)) * fy  # a multiple of fy: each strip reduces whole blocks
    for top in range(0, height, rows):
        strip = img.crop((0, top, width, min(height, top + rows)))
        if flatten is not None:
            strip = flatten(strip)
        if factor != (1, 1):
            strip = strip.reduce(factor)
        at = (0, top // fy)
        if orientation in _UPRIGHT:
            at = _landed((*at, at[0] + strip.width, at[1] + strip.height), orientation, reduced)[:2]
            strip = strip.transpose(_UPRIGHT[orientation][0])
        out.paste(strip, at)
    return out


def _landed(box: tuple, orientation: int, size: tuple[int, int]) -> tuple:
    """Where ``box`` of a stored picture of ``size`` lands once the picture is turned upright."""
    move = _UPRIGHT[orientation][1]
    (x0, y0), (x1, y1) = move(box[0], box[1], *size), move(box[2], box[3], *size)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _flattener(img: Image.Image) -> Callable[[Image.Image], Image.Image] | None:
    """The per-pixel conversion of ``img``'s mode to 8-bit sRGB RGB, or None if it is that already.

    16-bit is scaled (not clipped), alpha composited over white, the ICC profile applied. Each step
    works pixel by pixel, so strips converted one by one give exactly the whole image converted.
    """
    sixteen = img.mode in _SIXTEEN_BIT_MODES
    transparent = not sixteen and img.has_transparency_data
    mode = "L" if sixteen else "RGBA" if transparent else img.mode
    icc = img.info.get("icc_profile")
    transform = _icc_transform(icc, mode) if icc and mode in ("RGB", "RGBA", "CMYK", "L") else None
    if mode == "RGB" and transform is None:
        return None

    def flatten(strip: Image.Image) -> Image.Image:
        if sixteen:
            # Pillow's convert clips 16-bit values at 255 (a near-white image); scale the range instead.
            wide = np.asarray(strip).astype(np.float32)
            strip = Image.fromarray(np.clip(wide / 257.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
        if transparent:
            rgba = strip.convert("RGBA")
            strip = Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba)
        if transform is not None:
            try:
                converted = ImageCms.applyTransform(strip.convert("RGB") if strip.mode == "RGBA" else strip, transform)
                assert converted is not None  # None only with inPlace=True
                return converted
            except (ImageCms.PyCMSError, OSError, ValueError):  # as a broken profile: plain conversion
                pass
        try:
            return strip.convert("RGB")
        except ValueError as exc:  # a mode Pillow cannot map to RGB (LAB, HSV...)
            raise SourceError("decode.unsupported_format", f"image mode {img.mode} cannot be made RGB: {exc}") from None

    return flatten


def _icc_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """From the embedded ICC profile (Display P3 phone photos, CMYK prints) to sRGB; None if not needed or broken."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(source).lower():
            return None  # already sRGB: the plain conversion is exact and cheaper
        return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "RGB" if mode == "RGBA" else mode, "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):  # a broken profile: fall back to plain conversion
        return None


def _enhance(rgb: np.ndarray, contrast: Contrast) -> np.ndarray:
    """Contrast, unsharp mask and back to 8 bits: scikit-image's float32 arithmetic, a strip of rows at a time.

    The same values as ``img_as_ubyte(unsharp_mask(rescale_intensity(img_as_float32(rgb), ...), ...))``
    except the blur, which is OpenCV's float32 Gaussian (float accumulation where scipy's is double: a few
    float ulps, at most a level once rounded, on a tiny share of pixels). Every level-to-float step is a
    256-entry table and the percentiles come from a 256-bin count. Only the uint8 output is full size
    (CLAHE's float image aside): the old steps allocated a dozen full-size float images, each of which Dask's
    malloc setting makes a fresh mmap whose pages fault in one by one (system time; bench/profiles/FINDINGS.md,
    1b). The strips overlap by the blur's reach, so each output row is what the whole image would give.
    """
    if contrast == "stretch":
        return _sharpened(rgb, _stretch_levels(rgb))
    if contrast == "none":
        return _sharpened(rgb, _LEVELS)
    if contrast == "clahe":  # adaptive: needs the whole float image
        image = exposure.equalize_adapthist(np.take(_LEVELS, rgb))
        return _sharpened(np.asarray(image, dtype=np.float32), None)
    raise ValueError(f"contrast must be 'stretch', 'clahe' or 'none', not {contrast!r}")


def _sharpened(source: np.ndarray, levels: np.ndarray | None) -> np.ndarray:
    """Unsharp mask of ``levels[source]`` (or of the float ``source`` itself), clipped and rounded to uint8.

    skimage's unsharp_mask: ``image + (image - blurred) * amount`` clipped to [0, 1]; then img_as_ubyte: a
    float32 multiply by 255 and round half to even (nothing is left to clip). Two float strip buffers are
    reused for the whole image.
    """
    height, width = source.shape[:2]
    halo = _BLUR_REACH
    rows = max(4 * halo, _STRIP_BYTES // (12 * width))
    out = np.empty(source.shape, np.uint8)
    image = np.empty((min(height, rows + 2 * halo), *source.shape[1:]), np.float32)
    blurred = np.empty_like(image)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        first, last = max(0, top - halo), min(height, bottom + halo)  # the rows the blur reads
        strip = image[: last - first]
        if levels is None:
            np.copyto(strip, source[first:last])
        else:
            # img_as_float32 (and the stretch) by table. OpenCV looks uint8 up as it is, into ``strip``;
            # np.take would make an int64 copy of the indices (8 bytes a value) and a temporary output.
            strip = cv2.LUT(source[first:last], levels, dst=strip)
        blur = _blur(strip, blurred[: last - first])
        kept, blur = strip[top - first : bottom - first], blur[top - first : bottom - first]
        np.subtract(kept, blur, out=blur)
        if _SHARPEN_AMOUNT != 1.0:
            blur *= np.float32(_SHARPEN_AMOUNT)
        kept += blur
        np.clip(kept, 0.0, 1.0, out=kept)
        kept *= 255
        np.rint(kept, out=kept)
        np.copyto(out[top:bottom], kept, casting="unsafe")  # as astype(np.uint8)
    return out


# scipy cuts the Gaussian at truncate=4.0 sigmas: int(4.0 * sigma + 0.5) taps each side (6 at 1.5).
_BLUR_REACH = int(4.0 * _SHARPEN_RADIUS + 0.5)


def _blur(image: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
    """scikit-image's ``gaussian(sigma=_SHARPEN_RADIUS, mode="reflect")`` of each channel by itself.

    scipy keeps ``_BLUR_REACH`` taps each side (13 in all at sigma 1.5) and normalises the taps it keeps,
    as OpenCV does for an explicit odd size; scipy's "reflect" (d c b a | a b c d) is OpenCV's
    BORDER_REFLECT. OpenCV filters the channels of an H x W x 3 array independently, so colours never mix
    (the scikit-image channel_axis=-1 bug could not happen here: a test checks coloured patches).
    """
    taps = 2 * _BLUR_REACH + 1
    return cv2.GaussianBlur(image, (taps, taps), _SHARPEN_RADIUS, dst=dst, sigmaY=_SHARPEN_RADIUS,
                            borderType=cv2.BORDER_REFLECT)


# img_as_float32 of every level: float32(level * float32(1 / 255)), as scikit-image computes it.
_LEVELS = util.img_as_float32(np.arange(256, dtype=np.uint8))


def _stretch_levels(rgb: np.ndarray) -> np.ndarray:
    """The stretched float32 value of each of the 256 levels: rescale_intensity of the levels themselves.

    rescale_intensity works value by value, so the table holds exactly the values it gives on the image.
    """
    low, high = _stretch_range(rgb)
    if high - low < 1 / 255:  # a flat image: nothing to stretch
        return _LEVELS
    return exposure.rescale_intensity(_LEVELS, in_range=(low, high), out_range=(0.0, 1.0)).astype(np.float32, copy=False)


def _stretch_range(rgb: np.ndarray) -> tuple[float, float]:
    """``np.percentile(img_as_float32(sample), _STRETCH_PERCENTILES)`` of a strided sample, from a 256-bin count.

    np.percentile's "linear" method, step by step (numpy's _quantile): virtual index (n - 1) * q in float64,
    the order statistics at its floor and the next, lerp in numpy's own form and dtypes (their difference
    in float32). The order statistics come from the cumulative count instead of a partition of ~750k
    floats. tests/test_optimize_exact.py checks the result against np.percentile itself.
    """
    step = math.ceil(math.sqrt(rgb.shape[0] * rgb.shape[1] / _STRETCH_SAMPLES))
    sample = np.ascontiguousarray(rgb[::step, ::step]).reshape(-1, 1)
    # OpenCV counts uint8 as it is (np.bincount makes an int64 copy, 8 bytes a value); its float32 counts are
    # exact below 2**24 values, and a sample has ~750k
    counts = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(counts.astype(np.int64))
    n = int(cumulative[-1])
    q = np.true_divide(_STRETCH_PERCENTILES, 100)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    below, above = virtual < 0, virtual >= n - 1
    first = np.where(above, n - 1, np.where(below, 0, previous)).astype(np.intp)
    second = np.where(above, n - 1, np.where(below, 0, previous + 1)).astype(np.intp)
    gamma = virtual - np.where(above, -1, first)  # numpy takes it from the index it set to -1 there
    a = _LEVELS[np.searchsorted(cumulative, first, side="right")]  # the k-th smallest value (0-based)
    b = _LEVELS[np.searchsorted(cumulative, second, side="right")]
    diff = b - a
    value = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=value, where=gamma >= 0.5, casting="unsafe", dtype=type(value.dtype))
    return float(value[0]), float(value[1])
