"""Read the uncompressed OpenEXR files that maps_render.py makes Cycles write (NumPy only).

Blender's Python API cannot hand out the pixels of a render pass, so the passes go through
a multilayer EXR written with codec NONE and 32-bit floats; this reads exactly that kind of
file (single part, scanline, no compression, HALF/FLOAT/UINT channels) and nothing else.
Rows come out as stored: OpenEXR's row 0 is the TOP of the image.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = 20000630
_PIXEL_TYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}
_NO_COMPRESSION = 0


class ExrError(ValueError):
    pass


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def read_header(data: bytes) -> tuple[dict, int]:
    """Header attributes (name -> (type, raw bytes)) and the offset where the header ends."""
    if len(data) < 8 or struct.unpack_from("<i", data, 0)[0] != MAGIC:
        raise ExrError("not an OpenEXR file")
    flags = struct.unpack_from("<I", data, 4)[0]
    if flags & 0x200 or flags & 0x1000:  # tiled or multi-part
        raise ExrError("only single-part scanline EXR files are supported")
    attrs, pos = {}, 8
    while True:
        name, pos = _cstr(data, pos)
        if not name:
            return attrs, pos
        kind, pos = _cstr(data, pos)
        size = struct.unpack_from("<i", data, pos)[0]
        pos += 4
        attrs[name] = (kind, data[pos : pos + size])
        pos += size


def _channels(raw: bytes) -> list[tuple[str, np.dtype]]:
    out, pos = [], 0
    while raw[pos] != 0:
        name, pos = _cstr(raw, pos)
        pixel_type, _linear, xs, ys = struct.unpack_from("<iBxxxii", raw, pos)
        pos += 16
        if (xs, ys) != (1, 1):
            raise ExrError(f"channel {name}: subsampled channels are not supported")
        out.append((name, _PIXEL_TYPES[pixel_type]))
    return out


def read_exr(path) -> dict[str, np.ndarray]:
    """Every channel of an uncompressed scanline EXR as (H, W) float32, row 0 at the top."""
    data = Path(path).read_bytes()
    attrs, pos = read_header(data)
    if attrs["compression"][1][0] != _NO_COMPRESSION:
        raise ExrError("only uncompressed EXR files are supported (codec NONE)")
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    channels = _channels(attrs["channels"][1])  # stored in this (alphabetical) order
    offsets = np.frombuffer(data, "<u8", height, pos)  # one chunk per scanline without compression
    row_dtype = np.dtype([(name, dt, (width,)) for name, dt in channels])
    out = {name: np.empty((height, width), np.float32) for name, _ in channels}
    for off in offsets:
        y, size = struct.unpack_from("<ii", data, int(off))
        if size != row_dtype.itemsize:
            raise ExrError(f"unexpected scanline size {size} (expected {row_dtype.itemsize})")
        row = np.frombuffer(data, row_dtype, 1, int(off) + 8)[0]
        for name, _ in channels:
            out[name][y - y0] = row[name]
    return out
