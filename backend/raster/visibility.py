"""Is a surface point seen by a camera? A depth test against the view's rendered depth map.

Plus `sample_map`, sampling any per-pixel map at continuous pixel coordinates.
"""

from __future__ import annotations

import numpy as np

from backend.conventions import ORTHOGRAPHIC, Camera

from .maps import ViewMaps


def pixel_footprint(camera: Camera, depth: np.ndarray) -> np.ndarray:
    """Size in metres of one pixel at `depth` (the larger of its two sides)."""
    size = max(1.0 / camera.fx, 1.0 / camera.fy)
    if camera.projection == ORTHOGRAPHIC:
        return np.full(np.shape(depth), size)
    return np.abs(np.asarray(depth, dtype=np.float64)) * size


def visible_from(points: np.ndarray, maps: ViewMaps, tolerance: float = 1.0) -> np.ndarray:
    """(N,) bool: which world points (N, 3) the view sees, i.e. nothing rendered lies in front of them.

    A point is visible when it projects inside the image, in front of the camera, and one
    of the (up to) four covered pixel centres around it (the bilinear neighbourhood) has a
    rendered depth no nearer than the point's own depth minus `tolerance` pixel footprints
    (pixel size in metres at that depth). Using the farthest of the four neighbours makes
    points on steeply slanted surfaces pass without a large tolerance: a planar surface's
    depth at the point is a convex combination of its depths at the surrounding centres.
    A point is not visible where all four neighbours are background.
    """
    cam = maps.camera
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    uv, d = cam.project(points)
    h, w = maps.mask.shape
    tol = tolerance * pixel_footprint(cam, d)
    ok = (d > 0) & np.isfinite(uv).all(axis=1)
    ok &= (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)

    visible = np.zeros(len(points), bool)
    x0 = np.floor(np.where(ok, uv[:, 0], 0.5) - 0.5).astype(np.int64)
    y0 = np.floor(np.where(ok, uv[:, 1], 0.5) - 0.5).astype(np.int64)
    for dy in (0, 1):
        for dx in (0, 1):
            c, r = x0 + dx, y0 + dy
            inb = ok & (c >= 0) & (c < w) & (r >= 0) & (r < h)
            cc, rr = np.where(inb, c, 0), np.where(inb, r, 0)
            covered = inb & maps.mask[rr, cc]
            visible |= covered & (d <= maps.depth[rr, cc] + tol)
    return visible


def sample_map(image: np.ndarray, pixel_uv: np.ndarray, mode: str = "bilinear") -> np.ndarray:
    """Sample an (H, W) or (H, W, C) map at continuous pixel coordinates (N, 2) (u right, v down).

    Pixel (r, c) holds the value at (c + 0.5, r + 0.5); outside the centres the border is
    clamped. mode: "bilinear" or "nearest". Returns (N,) or (N, C) float64 ("nearest" keeps the dtype).
    To avoid blending in background values, sample the mask the same way and divide.
    """
    image = np.asarray(image)
    h, w = image.shape[:2]
    uv = np.asarray(pixel_uv, dtype=np.float64).reshape(-1, 2)
    if mode == "nearest":
        c = np.clip(np.floor(uv[:, 0]), 0, w - 1).astype(np.int64)
        r = np.clip(np.floor(uv[:, 1]), 0, h - 1).astype(np.int64)
        return image[r, c]
    if mode != "bilinear":
        raise ValueError(f"unknown sampling mode {mode!r} (bilinear or nearest)")
    x = np.clip(uv[:, 0] - 0.5, 0, w - 1)
    y = np.clip(uv[:, 1] - 0.5, 0, h - 1)
    c0 = np.minimum(np.floor(x).astype(np.int64), max(w - 2, 0))
    r0 = np.minimum(np.floor(y).astype(np.int64), max(h - 2, 0))
    c1, r1 = np.minimum(c0 + 1, w - 1), np.minimum(r0 + 1, h - 1)
    fx, fy = x - c0, y - r0
    if image.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    img = image.astype(np.float64, copy=False)
    top = img[r0, c0] * (1 - fx) + img[r0, c1] * fx
    bottom = img[r1, c0] * (1 - fx) + img[r1, c1] * fx
    return top * (1 - fy) + bottom * fy
