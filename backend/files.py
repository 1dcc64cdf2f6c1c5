"""Writing a file whole, and PNG encoding: the one copy the writers share.

A file is written under a temporary name beside its place, then renamed over it, so a reader (the
add-on, a resumed run) finds the whole file or none, never half of one. (The result's own files are
written into a staging folder that appears whole anyway: backend/outputs.py.)
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def write_atomic(path: str | Path, chunks: bytes | bytearray | memoryview | Iterable[bytes]) -> Path:
    """Write bytes under a temporary name beside `path`, then rename: the file is whole or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts: Iterable[bytes | bytearray | memoryview] = (
        (chunks,) if isinstance(chunks, bytes | bytearray | memoryview) else chunks)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in parts:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def encode_png(image: np.ndarray, compress_level: int = 3) -> bytes:
    """Gray, RGB or RGBA array (row 0 at the top) -> PNG bytes: uint8, uint16 (gray), or bool (0/255)."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"an image to write as PNG must be uint8 or uint16, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def write_png(path: str | Path, image: np.ndarray, compress_level: int = 6) -> Path:
    return write_atomic(path, encode_png(image, compress_level))
