"""Fashion-MNIST test images from Debian's dataset-fashion-mnist (IDX format, gzip)."""

import gzip
import struct

import numpy as np

TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions


def read_images(path=TEST_IMAGES, count=None):
    """The first `count` (all if None) images of an IDX images file: uint8 [count, rows, cols]."""
    with gzip.open(path, "rb") as f:
        magic, total, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != _IDX_IMAGES_MAGIC:
            raise ValueError(f"{path}: magic {magic:#010x} is not an IDX images file")
        n = total if count is None else min(count, total)
        data = f.read(n * rows * cols)
    if len(data) != n * rows * cols:
        raise ValueError(f"{path}: truncated, {len(data)} bytes for {n} images")
    return np.frombuffer(data, dtype=np.uint8).reshape(n, rows, cols)
