"""A turntable contact sheet of the textured mesh (preview.png), and bilinear texture sampling.

    sheet = render_turntable(mesh, texture)   # (2 * size, 4 * size, 3) uint8, 8 azimuths
    write_preview(path, mesh, texture)
    colours = sample_texture(texture, uv)     # bilinear, UV (0, 0) bottom-left

Each tile is the mesh seen by an orthographic orbit camera (backend.view_schedule.view_cameras),
coloured by the texture through the rasterised per-pixel UVs, with mild Lambert shading
from the camera-space normal so the shape reads, on a plain light background.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..mesh import Mesh
from ..view_schedule import View, view_cameras

TURNTABLE_AZIMUTHS = (0, 45, 90, 135, 180, 225, 270, 315)
COLUMNS = 4
BACKGROUND = (236, 236, 236)  # RGB
LABEL_COLOUR = (70, 70, 70)
UNTEXTURED = (200, 200, 200)  # surface colour when there is no texture / no UVs
LIGHT = np.array([-0.3, 0.45, 0.84])  # camera space (x right, y up, z to camera): upper left, near the camera
AMBIENT, DIFFUSE = 0.55, 0.45  # shade = AMBIENT + DIFFUSE * max(0, n . light): mild, colours stay readable


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of `texture` (H, W[, C], row 0 = top) at UVs (..., 2), (0, 0) bottom-left.

    Texel (row r, column c) holds its value at u = (c + 0.5) / W, v = 1 - (r + 0.5) / H; lookups
    clamp to the edge texels. Returns (..., C) float32 in the texture's own units (0..255 for
    uint8), unrounded; (...,) for a 2-D texture.
    """
    tex = np.asarray(texture)
    gray = tex.ndim == 2
    h, w = tex.shape[:2]
    flat = tex.reshape(h * w, -1)
    uv = np.asarray(uv, dtype=np.float64)
    lead = uv.shape[:-1]
    uv = uv.reshape(-1, 2)
    x = np.clip(uv[:, 0] * w - 0.5, -1.0, w)  # clip first: NaN/huge UVs must not overflow the indices
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, -1.0, h)
    x = np.nan_to_num(x, nan=0.0)
    y = np.nan_to_num(y, nan=0.0)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1) * w, np.clip(y0 + 1, 0, h - 1) * w
    top = flat[ya + xa] * (1.0 - fx) + flat[ya + xb] * fx
    bottom = flat[yb + xa] * (1.0 - fx) + flat[yb + xb] * fx
    out = (top * (1.0 - fy) + bottom * fy).astype(np.float32)
    return out.reshape(lead) if gray else out.reshape(*lead, flat.shape[1])


def _shade_tile(maps, texture: np.ndarray | None, size: int) -> np.ndarray:
    tile = np.empty((maps.height, maps.width, 3), np.float32)
    tile[:] = BACKGROUND
    m = maps.mask
    if texture is not None and maps.uv is not None:
        colour = sample_texture(texture, maps.uv[m])
        if colour.ndim == 1:
            colour = np.repeat(colour[:, None], 3, axis=1)
        colour = colour[:, :3]
    else:
        colour = np.broadcast_to(np.asarray(UNTEXTURED, np.float32), (int(m.sum()), 3))
    light = LIGHT / np.linalg.norm(LIGHT)
    lambert = np.maximum(maps.normal[m] @ light.astype(np.float32), 0.0)
    tile[m] = colour * (AMBIENT + DIFFUSE * lambert)[:, None]
    out = np.clip(np.rint(tile), 0, 255).astype(np.uint8)
    if out.shape[0] != size:
        import cv2

        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out


def label_tile(tile: np.ndarray, text: str) -> None:
    """Write `text` into the top-left corner of an RGB uint8 tile (in place)."""
    import cv2

    scale = max(0.35, tile.shape[0] / 384 * 0.5)
    thickness = 1 if tile.shape[0] < 600 else 2
    (_, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(4, tile.shape[0] // 64)
    cv2.putText(tile, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, LABEL_COLOUR, thickness, cv2.LINE_AA)


def render_turntable(mesh: Mesh, texture: np.ndarray | None, *, azimuths: Sequence[float] = TURNTABLE_AZIMUTHS,
                     size: int = 384, supersample: int = 2, rasterizer: str = "auto") -> np.ndarray:
    """RGB uint8 contact sheet, COLUMNS tiles per row (2 rows of 4 for the default 8 azimuths).

    Tile k (row-major) is the mesh seen from azimuth azimuths[k] (0 = front, 90 = the person's
    left side), elevation 0, labelled "az <deg>" in its top-left corner. `supersample` > 1
    renders at that factor and shrinks with area averaging (anti-aliased edges, ~supersample^2
    the time; 1 gives tiles whose covered pixels are exactly render_maps' mask at `size`).
    """
    from ..raster import render_maps

    azimuths = list(azimuths)
    if not azimuths:
        raise ValueError("render_turntable needs at least one azimuth")
    supersample = max(1, int(supersample))
    cameras = view_cameras(mesh, [View(float(a)) for a in azimuths], resolution=size * supersample)
    maps = render_maps(mesh, cameras, backend=rasterizer)
    rows = -(-len(azimuths) // COLUMNS)
    columns = min(COLUMNS, len(azimuths))
    sheet = np.empty((rows * size, columns * size, 3), np.uint8)
    sheet[:] = BACKGROUND
    for k, (az, view) in enumerate(zip(azimuths, maps, strict=True)):
        tile = _shade_tile(view, texture, size)
        label_tile(tile, f"az {az:g}")
        r, c = divmod(k, COLUMNS)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = tile
    return sheet


def write_preview(path: str | Path, mesh: Mesh, texture: np.ndarray | None, **kwargs) -> Path:
    """render_turntable(mesh, texture, **kwargs) saved as a PNG (written whole or not at all)."""
    from ..files import encode_png, write_atomic

    return write_atomic(path, encode_png(render_turntable(mesh, texture, **kwargs), compress_level=6))
