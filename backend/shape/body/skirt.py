"""Garments that hang round both legs (a skirt, a dress, a long coat): one round garment, not two tubes.

The dressing gives each body part the clothing offset measured at its outline. Below the hips
that makes a skirt two fat tubes, one round each leg: as wide as the photo shows it, but only as
deep as one leg plus twice the offset, far shallower than the cloth that hangs round both legs
(a dress stood 2-5 cm short of its true depth in front and behind).

Where the photo shows cloth between the legs (the person mask covers the pixels between them
that the body does not), the garment is taken to hang round the hips' cross-section, standing
out from it by the same amount all round: an ellipse per horizontal slice, with the hips' half
axes grown by t, t chosen so that its width through the camera matches the mask's width in that
row. It runs from the highest slice that shows cloth between the legs down to its hem, and
narrows into the hips above its top. Trousers (background between the legs) and legs seen one
behind the other (no pixels between them to judge) get no such garment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .model import PARTS

SLICE_M = 0.015  # leg vertices within this of a slice's height give the leg's centre there
CLOTH_BETWEEN_SHARE = 0.6  # share of the pixels between the legs (not on the body) that must be person
MIN_GAP_PX = 3  # fewer pixels between the legs than this: cannot tell cloth from background
SMOOTH_SLICES = 5  # the garment's centre and growth: running median, then mean, over this many slices
TAPER_M = 0.20  # above the legs' split the garment narrows into the hips over this height
MAX_GAP_SLICES = 4  # slices without cloth between the legs that a garment bridges


@dataclass
class RoundGarment:
    """Per skirt slice (rows of the arrays): height, ellipse centre (x, y) and half axes (across, forward)."""

    z: np.ndarray  # (K,)
    centre: np.ndarray  # (K, 2)
    half_axes: np.ndarray  # (K, 2)
    across: np.ndarray  # (2,) unit, the hips' left-right direction in the x-y plane

    def signed_distance(self, points: np.ndarray, slice_m: float) -> np.ndarray:
        """(N,) approximate signed distance (metres, negative inside) to the garment; +inf off its slices."""
        out = np.full(len(points), np.inf)
        if not len(self.z):
            return out
        k = np.clip(np.searchsorted(self.z, points[:, 2]), 0, len(self.z) - 1)
        k_prev = np.clip(k - 1, 0, len(self.z) - 1)
        k = np.where(np.abs(self.z[k_prev] - points[:, 2]) < np.abs(self.z[k] - points[:, 2]), k_prev, k)
        on = np.abs(self.z[k] - points[:, 2]) <= slice_m / 2 + 1e-9
        forward = np.array([-self.across[1], self.across[0]])
        rel = points[on, :2] - self.centre[k[on]]
        a, b = self.half_axes[k[on], 0], self.half_axes[k[on], 1]
        radial = np.hypot((rel @ self.across) / a, (rel @ forward) / b)
        out[on] = (radial - 1.0) * np.minimum(a, b)
        return out


def leg_centres(legs: tuple[np.ndarray, np.ndarray], z: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The left and right legs' (x, y) centres in the slice at height z, or None where a leg is not there.
    `legs`: each leg's (thigh and shin) vertices."""
    centres = []
    for leg in legs:
        near = np.abs(leg[:, 2] - z) < SLICE_M
        if near.sum() < 5:
            return None
        centres.append(leg[near, :2].mean(axis=0))
    return centres[0], centres[1]


def cloth_between_legs(mask: np.ndarray, silhouette: np.ndarray, row: int, u_left: float, u_right: float) -> bool:
    """Is the photo's row, between the two legs' centres, person where it is not body (a skirt, not trousers)?"""
    lo, hi = sorted((int(np.floor(u_left)), int(np.floor(u_right))))
    lo, hi = max(lo, 0), min(hi, mask.shape[1] - 1)
    between = ~silhouette[row, lo:hi + 1]
    if between.sum() < MIN_GAP_PX:
        return False
    return float(mask[row, lo:hi + 1][between].mean()) >= CLOTH_BETWEEN_SHARE


def mask_run(mask_row: np.ndarray, arms_row: np.ndarray, u: float) -> tuple[int, int] | None:
    """The person's run of pixels in one row that contains column u: (first, last + 1), None if u is off
    it; arms and hands at either end of the run (a hand hanging against the skirt) are not the garment."""
    c = int(np.floor(u))
    if not 0 <= c < len(mask_row) or not mask_row[c]:
        return None
    off = np.flatnonzero(~mask_row)
    left, right = off[off < c], off[off > c]
    first, end = (int(left[-1]) + 1 if len(left) else 0), (int(right[0]) if len(right) else len(mask_row))
    while first < c and arms_row[first]:
        first += 1
    while end - 1 > c and arms_row[end - 1]:
        end -= 1
    return first, end


def growth_for_width(half_width: float, hips: tuple[float, float], cos_a: float) -> float:
    """t such that the ellipse with half axes (hips + t), turned by a (cos_a: the across axis against the
    camera's x), is `half_width` wide through the camera, as seen from far (orthographic)."""
    sin_a = np.sqrt(max(0.0, 1.0 - cos_a * cos_a))

    def width(t):
        return np.hypot((hips[0] + t) * cos_a, (hips[1] + t) * sin_a)

    lo, hi = -0.8 * min(hips), 1.0
    if width(lo) >= half_width:
        return lo
    for _ in range(40):  # bisection: width grows with t
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if width(mid) < half_width else (lo, mid)
    return (lo + hi) / 2


def cross_section(points: np.ndarray, z: float, across: np.ndarray) -> tuple[np.ndarray, tuple[float, float]] | None:
    """The points' horizontal slice at height z: its (x, y) centre and half extents along `across` and
    across it (None when the slice has too few points)."""
    ring = points[np.abs(points[:, 2] - z) < SLICE_M]
    if len(ring) < 10:
        return None
    forward = np.array([-across[1], across[0]])
    qa, qf = ring[:, :2] @ across, ring[:, :2] @ forward
    mid = (qa.max() + qa.min()) / 2 * across + (qf.max() + qf.min()) / 2 * forward
    return mid, ((qa.max() - qa.min()) / 2, (qf.max() - qf.min()) / 2)


def round_garment(vertices: np.ndarray, parts: np.ndarray, mask: np.ndarray, silhouette: np.ndarray,
                  arms: np.ndarray, view, heights: np.ndarray) -> RoundGarment:
    """The round garment over the slices at `heights` (fit space, evenly spaced) where the photo shows
    cloth between the legs. `silhouette`, `arms`: the body's and its arms' and hands' masks in the photo."""
    none = RoundGarment(np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2)), np.array([1.0, 0.0]))
    heights = np.sort(heights)[::-1]  # from the hips down: the garment hangs from them
    step = float(heights[0] - heights[1]) if len(heights) > 1 else 0.01
    rows = np.full((len(heights), 3), np.nan)  # per slice: centre x, centre y, half width
    left, right = (vertices[np.isin(parts, [PARTS.index(f"thigh.{side}"), PARTS.index(f"shin.{side}")])]
                   for side in ("L", "R"))
    leg_vertices = (left, right)
    for i, z in enumerate(heights):
        legs = leg_centres(leg_vertices, z)
        if legs is None:
            continue
        mid = (legs[0] + legs[1]) / 2
        (uv_l, uv_r, uv_c), depth = view.project(np.array([[*legs[0], z], [*legs[1], z], [*mid, z]]))
        row = int(np.floor(uv_c[1]))
        if not 0 <= row < mask.shape[0] or not cloth_between_legs(mask, silhouette, row, uv_l[0], uv_r[0]):
            continue
        run = mask_run(mask[row], arms[row], uv_c[0])
        if run is not None:
            x0, x1 = ((np.array(run, float) - view.cx) * depth[2] / view.f)
            rows[i] = (x0 + x1) / 2, mid[1], (x1 - x0) / 2
    # One garment: from the highest slice that shows it, down to where it stops (a gap over
    # MAX_GAP_SLICES: shoes touching at the ankles are not the skirt's hem); gaps inside are filled.
    present = np.flatnonzero(np.isfinite(rows[:, 0]))
    if not len(present):
        return none
    gaps = np.flatnonzero(np.diff(present) > MAX_GAP_SLICES + 1)
    span = np.arange(present[0], present[gaps[0]] + 1 if len(gaps) else present[-1] + 1)
    keep = present[present <= span[-1]]
    rows = np.stack([np.interp(span, keep, rows[keep, j]) for j in range(3)], axis=1)
    z = heights[span]

    # The hips' axes (a turned person): from the right thigh's top to the left's.
    thighs = [parts == PARTS.index(f"thigh.{s}") for s in ("L", "R")]
    tops = [vertices[t, :2][vertices[t, 2] > np.quantile(vertices[t, 2], 0.8)].mean(axis=0) for t in thighs]
    across = tops[0] - tops[1]
    across /= max(float(np.linalg.norm(across)), 1e-9)
    trunk = np.isin(parts, [PARTS.index(p) for p in ("torso", "thigh.L", "thigh.R")])
    section = cross_section(vertices[trunk], z[0] + SLICE_M, across)
    if section is None:
        return none
    cos_a = abs(float(across[0]))
    growth = np.array([growth_for_width(hw, section[1], cos_a) for hw in rows[:, 2]])
    below = [(zz, cx, cy, section[1][0] + t, section[1][1] + t) for zz, (cx, cy), t in zip(z, rows[:, :2], growth,
                                                                                          strict=True)]
    # Above the legs' split the garment narrows into the hips over TAPER_M (grown less, then inside the
    # body): no shelf where the legs join. (Following the photo's width further up, to the waist, met
    # the arms and sleeves beside the trunk and made a coat a box to the shoulders.)
    up = []
    for zt in z[0] + step * np.arange(1, int(TAPER_M / step) + 1):
        share = (zt - z[0]) / TAPER_M
        shrink = (1 - share) * growth[0] - share * 0.3 * min(section[1])
        up.append((zt, *rows[0, :2], section[1][0] + shrink, section[1][1] + shrink))
    z, cx, cy, ha, hf = (np.array(v) for v in zip(*(up[::-1] + below), strict=True))
    # Smooth down the garment: one slice's odd reading (a finger at the hem) is no step in the cloth.
    smooth = np.stack([cx, cy, ha, hf], axis=1)
    smooth = ndimage.median_filter(smooth, size=(SMOOTH_SLICES, 1), mode="nearest")
    smooth = ndimage.uniform_filter1d(smooth, SMOOTH_SLICES, axis=0, mode="nearest")
    half_axes = np.maximum(smooth[:, 2:], 0.02)
    smooth = smooth[:, :2]
    order = np.argsort(z)
    return RoundGarment(z[order], smooth[order], half_axes[order], across)
