"""Look-alike fingerprints of an optimized image and their crop-aware comparison: the result cache's third level.

A repost resized, recompressed, re-encoded or lightly cropped should find the stored result of its original.
``optimize_image`` makes two fingerprints of every optimized picture: a 64-bit DCT hash (``perceptual_hash``) that
is cheap to compare over a whole index (``hamming``) and picks candidates, and a small grayscale thumbnail
(``thumbnail_jpeg``) that is stored with the result. ``similarity`` decides: it aligns the query image with a
candidate's thumbnail for a light crop and correlates their band-passed pixels, so shared backgrounds and card
shapes do not count, text does. The hash alone cannot tell a light crop from a distinct flyer of the same layout.
Both halves live here so that what is made and how it is compared change together.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

# --- making the fingerprints (optimize_image, on every optimized picture) ----------------------------------

THUMBNAIL_SIZE = 128  # the stored thumbnail is squashed to a square; similarity undoes crops on it
_HASH_SIDE = 32
_FLAT_STD = 1.0  # grey levels: below this the thumbnail is one colour and its hash is noise


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix: a 32x32 transform is two small products, no FFT library needed."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m.astype(np.float32)


_DCT = _dct_matrix(_HASH_SIDE)


def perceptual_hash(image: Image.Image) -> int | None:
    """64-bit pHash: the 8x8 lowest DCT frequencies of a 32x32 grayscale thumbnail, each above their median or not.

    Compare two with ``(a ^ b).bit_count()`` (Hamming distance). Copies are a few bits apart, but a light
    crop can be further from its original than two distinct flyers are from each other (BENCHMARKS.md,
    "Figures that were in docstrings"): the hash finds candidates; a crop-aware comparison of thumbnails
    (``similarity``) decides. None for a nearly flat image.
    """
    small = np.asarray(image.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX), np.float32)
    if small.std() < _FLAT_STD:
        return None
    low = (_DCT @ small @ _DCT.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])  # the DC term (overall brightness) left out of the median
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def thumbnail_jpeg(image: Image.Image, side: int = THUMBNAIL_SIZE) -> bytes:
    """A side x side grayscale JPEG (aspect squashed, area-averaged): ~3-5 kB, enough to tell flyers apart."""
    small = image.convert("L").resize((side, side), Image.Resampling.BOX)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# --- comparing them (the cache's look-up): is this image a crop/re-encode of the stored thumbnail? ---------

def hamming(hashes: np.ndarray, value: int) -> np.ndarray:
    """Bits by which each of ``hashes`` differs from ``value`` (the hash distance that picks candidates)."""
    xor = hashes ^ np.uint64(value)
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(xor).astype(np.int64)
    return np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


_OFFSETS = np.arange(-0.10, 0.1001, 0.01)  # where the query's left/top edge sits in the stored frame
_SCALES = np.arange(0.84, 1.2001, 0.02)  # the query's width/height in stored-frame units
_BAND = (0.7, 3.0)  # difference of Gaussians, thumbnail pixels: text strokes, not backgrounds
_FINE_OFFSETS = np.arange(-0.01, 0.0101, 0.0025)  # around the coarse fit
_FINE_SCALES = np.arange(-0.02, 0.0201, 0.005)


def similarity(stored: np.ndarray, query) -> float:
    """Band-pass correlation of a stored square thumbnail with the query image, after undoing a light crop.

    ``stored`` is the thumbnail's pixels (square, float); ``query`` the full optimized image (PIL, "L").
    The crop (per axis an offset and a scale, up to ~8-10% a side, either image may be the cropped one)
    is found on gradient images at half the thumbnail's size (see ``_align``). The query's matching
    region is then rendered on the thumbnail's own grid with the same area filter and correlated, so
    only real differences remain.
    """
    side = stored.shape[0]
    query_thumb = np.asarray(query.resize((side, side), Image.Resampling.BOX), np.float32)
    (ax, bx), (ay, by) = _align(_edges(stored), _edges(query_thumb))
    x0, x1, u0, u1 = _overlap(ax, bx, side)
    y0, y1, v0, v1 = _overlap(ay, by, side)
    if x1 - x0 < side // 2 or y1 - y0 < side // 2:
        return 0.0
    width, height = query.size
    box = (max(0.0, u0 * width), max(0.0, v0 * height), min(width, u1 * width), min(height, v1 * height))
    region = np.asarray(query.resize((x1 - x0, y1 - y0), Image.Resampling.BOX, box=box), np.float32)
    return _correlation(_band(stored[y0:y1, x0:x1]), _band(region))


def _edges(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude at half size (2x2 means): where text and shapes are, cheap to search over."""
    half = image.reshape(image.shape[0] // 2, 2, image.shape[1] // 2, 2).mean(axis=(1, 3))
    gy, gx = np.gradient(half)
    return np.hypot(gx, gy).astype(np.float32)


def _align(stored: np.ndarray, query: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """(offset, scale) per axis mapping query position u in [0, 1] to stored position offset + scale * u.

    Each axis is fitted in 2D with the other held (all candidate maps of one axis at once), alternately,
    then on a finer grid. Starting from the identity is enough for crops of a few per cent.
    """
    x, y = (0.0, 1.0), (0.0, 1.0)
    for _ in range(2):
        x = _fit_axis(stored, query, y, _OFFSETS, _SCALES)
        y = _fit_axis(stored.T, query.T, x, _OFFSETS, _SCALES)
    x = _fit_axis(stored, query, y, x[0] + _FINE_OFFSETS, x[1] + _FINE_SCALES)
    y = _fit_axis(stored.T, query.T, x, y[0] + _FINE_OFFSETS, y[1] + _FINE_SCALES)
    return x, y


def _fit_axis(stored: np.ndarray, query: np.ndarray, rows: tuple[float, float], offsets: np.ndarray,
              scales: np.ndarray) -> tuple[float, float]:
    """The column map (offset, scale) that best correlates ``stored`` with ``query``, rows mapped by ``rows``.

    Every candidate's correlation comes from a few m x m products computed once (a resampled column is a
    blend of two stored columns), so trying ~400 maps costs about as much as trying one.
    """
    m = stored.shape[1]
    row_index, row_weight, row_valid = (v[0] for v in _samples(np.array([rows[0]]), np.array([rows[1]]), len(stored)))
    g = stored[row_index] * (1 - row_weight)[:, None] + stored[row_index + 1] * row_weight[:, None]
    g, q = g[row_valid].astype(np.float64), query[row_valid].astype(np.float64)
    cross, gram = g.T @ q, g.T @ g  # cross[j, c]: stored column j against query column c
    a, b = (grid.ravel() for grid in np.meshgrid(offsets, scales))
    i, w1, valid = _samples(a, b, m)  # (K, m): query column c blends stored columns i and i + 1
    w0, v, c = 1 - w1, valid.astype(np.float64), np.arange(m)
    n = v.sum(axis=1) * len(g)
    sxy = ((w0 * cross[i, c] + w1 * cross[i + 1, c]) * v).sum(axis=1)
    g_sum = g.sum(axis=0)
    sx = ((w0 * g_sum[i] + w1 * g_sum[i + 1]) * v).sum(axis=1)
    sxx = ((w0 ** 2 * gram[i, i] + 2 * w0 * w1 * gram[i, i + 1] + w1 ** 2 * gram[i + 1, i + 1]) * v).sum(axis=1)
    sy, syy = v @ q.sum(axis=0), v @ (q ** 2).sum(axis=0)
    n_safe = np.maximum(n, 1)
    covariance = sxy - sx * sy / n_safe
    spread = np.sqrt(np.maximum(sxx - sx ** 2 / n_safe, 0) * np.maximum(syy - sy ** 2 / n_safe, 0))
    score = covariance / (spread + 1e-9)
    score[valid.sum(axis=1) < 0.8 * m] = -2.0
    best = int(np.argmax(score))
    return float(a[best]), float(b[best])


def _samples(offsets: np.ndarray, scales: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (offset, scale): the stored pixel left of each query sample, the interpolation weight, validity."""
    u = (np.arange(m) + 0.5) / m
    x = (offsets[:, None] + scales[:, None] * u[None, :]) * m - 0.5
    valid = (x >= 0) & (x <= m - 1)
    x = np.clip(x, 0, m - 1 - 1e-6)
    index = np.floor(x).astype(np.int64)
    return index, x - index, valid


def _overlap(offset: float, scale: float, side: int) -> tuple[int, int, float, float]:
    """Stored pixels [i0, i1) the query also shows, and where they are in the query (fractions of its size)."""
    low, high = max(0.0, offset), min(1.0, offset + scale)
    i0, i1 = math.ceil(low * side - 1e-6), math.floor(high * side + 1e-6)
    return i0, i1, (i0 / side - offset) / scale, (i1 / side - offset) / scale


def _band(image: np.ndarray) -> np.ndarray:
    from skimage.filters import gaussian

    return (gaussian(image, _BAND[0], preserve_range=True, mode="reflect")
            - gaussian(image, _BAND[1], preserve_range=True, mode="reflect"))


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x.ravel() - x.mean(), y.ravel() - y.mean()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def decode_gray(jpeg: bytes):
    """The optimized JPEG as grayscale, decoded at 1/2-1/8 scale when that still leaves >= 4 px per thumbnail px."""
    image = Image.open(io.BytesIO(jpeg))
    image.draft("L", (512, 512))
    return image.convert("L")


def thumbnail_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
