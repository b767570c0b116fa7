"""One-off probe helper (issue 17): realistic social-media-size flyer JPEGs of ~200 KB.

make_flyer at 1080x1350, 1080x1080 and 1200x628 (photo variant), plus sensor grain, saved as JPEG so the
file is ~150-250 KB, like a phone photo reposted on social media. Cached under /tmp/scratch/prof17-images.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = [(1080, 1350), (1080, 1080), (1200, 628)]
FOLDER = Path("/tmp/scratch/prof17-images")
REFERENCE_DATE = dt.date(2026, 11, 1)


def realistic_jpeg(seed: int, size: tuple[int, int], grain: float = 3.0, quality: int = 88) -> bytes:
    from daskparse.testing.flyers import make_flyer

    image = make_flyer(seed, reference_date=REFERENCE_DATE, size=size, photo=True).image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, np.float32) + rng.normal(0, grain, (size[1], size[0], 1)).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def images(per_size: int = 4) -> list[bytes]:
    """``per_size`` images of each of SIZES (seeds 1..), cached on disk."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    out = []
    for w, h in SIZES:
        for seed in range(1, per_size + 1):
            path = FOLDER / f"flyer-{w}x{h}-{seed}.jpg"
            if not path.exists():
                path.write_bytes(realistic_jpeg(seed, (w, h)))
            out.append(path.read_bytes())
    return out


if __name__ == "__main__":
    for data in images():
        img = Image.open(io.BytesIO(data))
        print(img.size, len(data) // 1024, "KB")
