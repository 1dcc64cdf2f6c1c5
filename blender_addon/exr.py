"""Read the uncompressed OpenEXR files that maps_render.py makes Cycles write (NumPy only).

Blender's Python API cannot hand out the pixels of a render pass, so the passes go through
a multilayer EXR written with codec NONE and 32-bit floats; this reads exactly that kind of
file and nothing else: scanline, no compression, HALF/FLOAT/UINT channels, either one part
(Blender 4.x puts every pass in one part) or several parts (Blender 5.0 writes one part per
pass; every part's channels are returned together). Rows come out as stored: OpenEXR's row 0
is the TOP of the image.
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


_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000


def _attributes(data: bytes, pos: int) -> tuple[dict, int]:
    """One header's attributes (name -> (type, raw bytes)) and the offset just past its end."""
    attrs = {}
    while True:
        name, pos = _cstr(data, pos)
        if not name:
            return attrs, pos
        kind, pos = _cstr(data, pos)
        size = struct.unpack_from("<i", data, pos)[0]
        pos += 4
        attrs[name] = (kind, data[pos : pos + size])
        pos += size


def read_headers(data: bytes) -> tuple[list[dict], int, bool]:
    """Every part's header, the offset where the headers end, and whether the file is multi-part."""
    if len(data) < 8 or struct.unpack_from("<i", data, 0)[0] != MAGIC:
        raise ExrError("not an OpenEXR file")
    flags = struct.unpack_from("<I", data, 4)[0]
    if flags & (_TILED | _DEEP):
        raise ExrError("only scanline EXR files are supported (not tiled or deep)")
    if not flags & _MULTIPART:
        attrs, pos = _attributes(data, 8)
        return [attrs], pos, False
    parts, pos = [], 8
    while data[pos] != 0:  # the list of headers ends with an empty one
        attrs, pos = _attributes(data, pos)
        parts.append(attrs)
    return parts, pos + 1, True


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


def _window(attrs: dict) -> tuple[int, int, int]:
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1])
    return y0, x1 - x0 + 1, y1 - y0 + 1


def read_exr(path) -> dict[str, np.ndarray]:
    """Every channel of an uncompressed scanline EXR as (H, W) float32, row 0 at the top."""
    data = Path(path).read_bytes()
    parts, pos, multipart = read_headers(data)
    out: dict[str, np.ndarray] = {}
    for index, attrs in enumerate(parts):
        if attrs["compression"][1][0] != _NO_COMPRESSION:
            raise ExrError("only uncompressed EXR files are supported (codec NONE)")
        if multipart and attrs.get("type", ("", b""))[1].rstrip(b"\0") != b"scanlineimage":
            raise ExrError("only scanline EXR parts are supported")
        y0, width, height = _window(attrs)
        # Without compression there is one chunk per scanline; each part has its own offset table.
        if multipart and struct.unpack("<i", attrs["chunkCount"][1])[0] != height:
            raise ExrError("EXR part with a chunk count other than its number of scanlines")
        offsets = np.frombuffer(data, "<u8", height, pos)
        pos += 8 * height
        channels = _channels(attrs["channels"][1])  # stored in this (alphabetical) order
        row_dtype = np.dtype([(name, dt, (width,)) for name, dt in channels])
        if any(name in out for name, _ in channels):
            raise ExrError("EXR parts share a channel name")
        chans = {name: np.empty((height, width), np.float32) for name, _ in channels}  # every row checked below
        rows_seen = np.zeros(height, bool)
        for off in offsets:
            off = int(off)
            if multipart:  # a multi-part chunk starts with the number of its part
                if struct.unpack_from("<i", data, off)[0] != index:
                    raise ExrError("EXR chunk belongs to another part")
                off += 4
            y, size = struct.unpack_from("<ii", data, off)
            if size != row_dtype.itemsize:
                raise ExrError(f"unexpected scanline size {size} (expected {row_dtype.itemsize})")
            if not 0 <= y - y0 < height:
                raise ExrError(f"scanline {y} lies outside the data window")
            row = np.frombuffer(data, row_dtype, 1, off + 8)[0]
            for name, _ in channels:
                chans[name][y - y0] = row[name]
            rows_seen[y - y0] = True
        if not rows_seen.all():
            raise ExrError("EXR file with scanlines missing")
        out.update(chans)
    return out
