"""Pure conversions between numpy images and Open Inference Protocol tensors (docs/oip.md).

No I/O and no gRPC: what client.py sends and how it reads the answer, testable on their own.
"""

import dataclasses
import struct

import numpy as np

IMAGE_SIDE = 28
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


@dataclasses.dataclass(frozen=True)
class ClassScore:
    """One entry of the classification extension: a class and its probability."""
    index: int
    label: str
    score: float


@dataclasses.dataclass(frozen=True)
class Classification:
    """The server's answer for one image."""
    probabilities: np.ndarray  # float32 [classes], the served sub-net's softmax
    top_k: list                # of ClassScore, best first; empty when top_k=0 was asked
    subnet_id: int             # the sub-net that answered
    expected_accuracy: float   # that sub-net's test accuracy, as the bundle records it
    deadline_met: bool         # answered before the request's deadline (arrival + SLO)
    queue_us: int = None       # arrival to the start of the image's batch (None: not sent)
    compute_us: int = None     # that batch's engine time (None: not sent)


def image_batch(images):
    """images as an [N,28,28] array: uint8 (0-255) as is, floats as little-endian float32.

    Accepts one image [28,28], a batch [N,28,28] or [N,1,28,28], or a sequence of images. Raises
    ValueError for another shape, an empty batch, another dtype or floats outside [0, 1].
    """
    batch = np.asarray(images)
    if batch.ndim == 2:
        batch = batch[np.newaxis]
    if batch.ndim == 4 and batch.shape[1] == 1:
        batch = batch[:, 0]
    if batch.ndim != 3 or batch.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"images have shape {list(np.shape(images))}; want [28,28], [N,28,28] "
                         "or [N,1,28,28]")
    if batch.shape[0] == 0:
        raise ValueError("no images")
    if batch.dtype == np.uint8:
        return batch
    if not np.issubdtype(batch.dtype, np.floating):
        raise ValueError(f"images are {batch.dtype}; want uint8 (0-255) or floats in [0, 1]")
    pixels = batch.astype("<f4")
    if not np.all(np.isfinite(pixels)) or pixels.min() < 0 or pixels.max() > 1:
        raise ValueError(f"float pixels must be in [0, 1] (byte / 255); these span "
                         f"[{pixels.min()}, {pixels.max()}]")
    return pixels


def input_tensor(batch):
    """(datatype, shape, raw bytes) of the model input for an image_batch() result."""
    datatype = "UINT8" if batch.dtype == np.uint8 else "FP32"
    return datatype, [batch.shape[0], 1, IMAGE_SIDE, IMAGE_SIDE], batch.tobytes()


def decode_bytes_tensor(raw):
    """The elements of a BYTES tensor's raw form: each a 4-byte little-endian length, then bytes."""
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ValueError(f"BYTES tensor: {len(raw) - offset} stray bytes at offset {offset}")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise ValueError(f"BYTES tensor: element of {length} bytes at offset {offset - 4} "
                             f"runs past the end ({len(raw)} bytes)")
        elements.append(bytes(raw[offset:offset + length]))
        offset += length
    return elements


def parse_class_score(element):
    """A classification element "<score>:<index>:<label>" (the label may hold ':')."""
    text = element.decode("utf-8") if isinstance(element, bytes) else element
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"classification element {text!r} is not '<score>:<index>:<label>'")
    return ClassScore(index=int(parts[1]), label=parts[2], score=float(parts[0]))


def per_image_parameter(parameters, name, images):
    """The comma-separated string response parameter `name`, one entry per image."""
    if name not in parameters:
        raise ValueError(f"the response lacks the parameter '{name}'")
    entries = parameters[name].string_param.split(",")
    if len(entries) != images:
        raise ValueError(f"response parameter '{name}' has {len(entries)} entries for {images} "
                         "images")
    return entries


def parse_deadline_met(entry):
    if entry not in ("true", "false"):
        raise ValueError(f"deadline_met entry {entry!r} is not true or false")
    return entry == "true"
