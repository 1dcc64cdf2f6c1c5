"""Closed-form texture initialisation: splat every counted view pixel into the texture.

Each pixel in a view's `mask` carries its colour and its confidence weight to the texel
under its `maps.uv`, shared bilinearly between the 4 texels around that point (the
adjoint of the bilinear lookup the optimiser renders with). The texture is then the
weighted mean sum(w * c) / sum(w); a texel is `seen` when its weight sum exceeds `eps`.

Texel centres follow backend/conventions.py: column c, row r of an R x R texture sits at
uv = ((c + 0.5) / R, 1 - (r + 0.5) / R), row 0 at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EPS = 1e-6


@dataclass
class SplatResult:
    texture: np.ndarray  # (R, R, 3) float32 in [0, 1], 0 where unseen
    weight: np.ndarray  # (R, R) float32, sum of confidence x bilinear weight
    seen: np.ndarray  # (R, R) bool, weight > eps
    coverage: np.ndarray  # (R, R) float32, sum of bilinear weights of every counted pixel (confidence ignored)


def bilinear_footprint(uv: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat texel indices (4, N) and bilinear weights (4, N) of UV points, as grid_sample reads them.

    Corners that fall outside the texture get weight 0 (grid_sample's zero padding) and
    index 0, so they add nothing.
    """
    r = resolution
    x = uv[:, 0].astype(np.float64) * r - 0.5  # continuous texel coordinates of texel centres
    y = (1.0 - uv[:, 1].astype(np.float64)) * r - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    idx = np.empty((4, len(x)), np.int64)
    wts = np.empty((4, len(x)), np.float64)
    for k, (dx, dy) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        xi, yi = x0 + dx, y0 + dy
        w = (fx if dx else 1.0 - fx) * (fy if dy else 1.0 - fy)
        inside = (xi >= 0) & (xi < r) & (yi >= 0) & (yi < r)
        idx[k] = np.where(inside, yi * r + xi, 0)
        wts[k] = np.where(inside, w, 0.0)
    return idx, wts


def _view_pixels(view) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UVs (N, 2), colours (N, 3) and confidence weights (N,) of the view's counted pixels."""
    if view.maps.uv is None:
        raise ValueError(f"view {view.maps.camera.name!r} has no UV map (render the maps of a UV-mapped mesh)")
    mask = np.asarray(view.mask, bool) & view.maps.mask
    uv = view.maps.uv.reshape(-1, 2)
    flat = np.flatnonzero(mask.reshape(-1))
    uv = uv[flat]
    ok = np.all(np.isfinite(uv), axis=1)
    flat, uv = flat[ok], uv[ok]
    colours = np.asarray(view.image, np.float32).reshape(-1, 3)[flat]
    weights = np.asarray(view.weight, np.float32).reshape(-1)[flat]
    return uv, colours, np.maximum(np.nan_to_num(weights, nan=0.0), 0.0)


def splat_views(views: Sequence, resolution: int, eps: float = EPS) -> SplatResult:
    """Weighted bilinear splat of every view's counted pixels into an R x R texture (FusionView list)."""
    n = resolution * resolution
    acc = np.zeros((5, n), np.float64)  # weight, r*w, g*w, b*w, coverage
    for view in views:
        uv, colours, weights = _view_pixels(view)
        if len(uv) == 0:
            continue
        idx, bw = bilinear_footprint(uv, resolution)
        idx, bw = idx.reshape(-1), bw.reshape(-1)
        w = (bw.reshape(4, -1) * weights[None, :]).reshape(-1)
        acc[0] += np.bincount(idx, w, n)
        for c in range(3):
            acc[1 + c] += np.bincount(idx, w * np.tile(colours[:, c], 4), n)
        acc[4] += np.bincount(idx, bw, n)
    wsum = acc[0]
    seen = wsum > eps
    tex = np.zeros((n, 3), np.float64)
    tex[seen] = (acc[1:4, seen] / wsum[seen]).T
    rr = (resolution, resolution)
    return SplatResult(
        texture=np.clip(tex, 0.0, 1.0).astype(np.float32).reshape(*rr, 3),
        weight=wsum.astype(np.float32).reshape(rr),
        seen=seen.reshape(rr),
        coverage=acc[4].astype(np.float32).reshape(rr),
    )
