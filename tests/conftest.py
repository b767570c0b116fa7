import io

import numpy as np
import pytest
from PIL import Image

from daskparse.testing.image_server import ImageServer


def jpeg_bytes(width=64, height=48, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def noise_jpeg(width=320, height=240, seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def image_server():
    with ImageServer() as server:
        yield server
