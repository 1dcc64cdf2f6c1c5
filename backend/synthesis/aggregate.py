"""Gather, for a new view, the colours that earlier views already explain (the paper's Sec. 4.2).

Every body pixel of the target view is a world point (its position map). Each earlier
("support") view that sees that point unoccluded offers its colour there, weighted by

    w_v = exp(-alpha * phi_v) * d_v ** beta          (alpha = beta = 3, as the paper)

phi_v: angle between the surface normal and the direction to view v's camera (a view that
saw the surface head-on is trusted, one that saw it at a grazing angle is not);
d_v: distance from the point's pixel in view v to the edge of what v knows, in units of
`edge_falloff_px` and capped at 1 (colours right at an edge are often background-tainted).
Occlusion is a depth test against view v's depth map, so no colour passes through the body.

The colour is sum(w_v c_v) / (sum(w_v) + eps). A pixel counts as explained only when
sum(w_v) reaches `min_weight`; a pixel that one view alone sees near its edge or at a
grazing angle therefore stays missing, for the inpainter to make anew.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..conventions import ORTHOGRAPHIC
from ..raster import ViewMaps, sample_map, visible_from

ALPHA = 3.0
BETA = 3.0
EPS = 1e-8
# A pixel whose support weights add up to less than this is left to the inpainter. The paper's
# scheme hands grazing and edge pixels to the diffusion model; an inpainter that adds no detail
# of its own does better reusing whatever any view saw (it sets a lower threshold).
PAPER_MIN_SUPPORT_WEIGHT = 0.03


@dataclass
class SupportView:
    """A view whose colours are settled: the photo, the initial back view, or a synthesized view."""

    maps: ViewMaps
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    known: np.ndarray  # (H, W) bool: pixels whose colours may be passed on
    trust: float = 1.0  # extra factor on all its weights (the photo is surer than a guess)
    # Where to read each point's colour, (points, uv) -> uv, when not where it projects: the photo reads a
    # limb's colour well inside that limb (synthesis/limbs.py). Weights still follow where it projects.
    colour_source: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    _edge_distance: np.ndarray | None = None

    def edge_distance(self) -> np.ndarray:
        """Distance in pixels from each known pixel to the nearest unknown one (cached)."""
        if self._edge_distance is None:
            self._edge_distance = ndimage.distance_transform_edt(self.known).astype(np.float32)
        return self._edge_distance


@dataclass
class Aggregate:
    image: np.ndarray  # (H, W, 3) float32: blended colours where explained, 0 elsewhere
    weight: np.ndarray  # (H, W) float32: sum of support weights
    missing: np.ndarray  # (H, W) bool: body pixels still to be synthesized
    explained: np.ndarray  # (H, W) bool: body pixels with colour


def world_normals(maps: ViewMaps) -> np.ndarray:
    """(N, 3) world-space normals of the view's covered pixels (row-major order)."""
    return maps.normal[maps.mask].astype(np.float64) @ maps.camera.rotation


def directions_to_camera(points: np.ndarray, maps: ViewMaps) -> np.ndarray:
    cam = maps.camera
    if cam.projection == ORTHOGRAPHIC:
        return np.broadcast_to(-cam.forward, points.shape)
    d = cam.position - points
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def support_weights(points: np.ndarray, normals: np.ndarray, support: SupportView, edge_falloff_px: float,
                    alpha: float = ALPHA, beta: float = BETA) -> tuple[np.ndarray, np.ndarray]:
    """Weights (N,) and colours (N, 3) that `support` offers for world points with these normals."""
    maps = support.maps
    uv, _ = maps.camera.project(points)
    seen = visible_from(points, maps)
    seen &= sample_map(support.known, uv, mode="nearest").astype(bool)
    cos_phi = np.einsum("ij,ij->i", normals, directions_to_camera(points, maps))
    phi = np.arccos(np.clip(cos_phi, -1.0, 1.0))
    d = np.clip(sample_map(support.edge_distance(), uv) / edge_falloff_px, 0.0, 1.0)
    w = np.where(seen & (cos_phi > 0), support.trust * np.exp(-alpha * phi) * d**beta, 0.0)
    if support.colour_source is not None:
        uv = support.colour_source(points, uv)
    # Colours: a bilinear sample renormalised by the known mask, so no unknown pixel leaks in.
    k = support.known.astype(np.float32)
    num = sample_map(support.image * k[..., None], uv)
    den = sample_map(k, uv)[:, None]
    colour = np.where(den > 1e-6, num / np.maximum(den, 1e-6), 0.0)
    return w, colour


def aggregate(target: ViewMaps, supports: list[SupportView], *, min_weight: float = PAPER_MIN_SUPPORT_WEIGHT,
              edge_falloff_px: float | None = None) -> Aggregate:
    """Blend what `supports` know into `target` and say which body pixels are still missing."""
    h, w = target.mask.shape
    falloff = edge_falloff_px or max(h, w) / 64.0
    points = target.position[target.mask].astype(np.float64)
    normals = world_normals(target)
    wsum = np.zeros(len(points))
    csum = np.zeros((len(points), 3))
    for s in supports:
        wv, cv = support_weights(points, normals, s, falloff)
        wsum += wv
        csum += wv[:, None] * cv
    explained_px = wsum >= min_weight
    image = np.zeros((h, w, 3), np.float32)
    image[target.mask] = np.where(explained_px[:, None], csum / (wsum[:, None] + EPS), 0.0)
    weight = np.zeros((h, w), np.float32)
    weight[target.mask] = wsum
    explained = np.zeros((h, w), bool)
    explained[target.mask] = explained_px
    return Aggregate(image, weight, target.mask & ~explained, explained)
