"""Depth from a front normal map inside the silhouette (normal integration, as ECON does).

Conventions (docs/conventions.md): normals in camera space, x right, y up, z toward the
camera; the image grid has u to the right and v (rows) DOWN. Depth z is the height of the
surface toward the camera, in pixels. A surface z(u, v) seen orthographically has the
normal (-dz/dx, -dz/dy, 1) / |.| with x = u and y = -v, so its slopes on the pixel grid are

    dz/du = -nx / nz        dz/dv = +ny / nz        (rows point down, y points up)

A surface bulging toward the camera has, in its upper half, normals tilted up (ny > 0) and
depth growing downward, toward the bump's middle: dz/dv > 0. The tests check this sign
through the project's own rasteriser.

How the normals meet the silhouette's inflation prior p (inflate.py):

    minimise  sum_edges w_e (z_q - z_p - t_e)^2  +  lambda sum_pixels (z - p)^2,   z = 0 outside

(a screened Poisson problem, as d-BiNI in ECON pulls the integrated surface toward a coarse
body prior). Why this and not "prior + high-pass of the integrated normals": the predicted
normals describe the whole surface, including the roundness of an arm or the sides of the
torso that the prior already has; adding their integral on top of the prior would count that
roundness twice (an arm twice as deep as wide). Here the normals replace the prior's slopes
wherever they are trusted, and lambda decides up to which size: shapes smaller than about
2 pi / sqrt(lambda) pixels (a nose, a chin, the chest, cloth folds) follow the normals, larger
ones (the overall thickness of the torso, which a monocular estimator cannot know in metres)
stay with the prior. Fed the prior's own normals, the solution is the prior; fed a flat normal
map, it is the prior with its small-scale slopes flattened, which is what "flat" says.

Trust: an edge's weight is nz^2 of its steeper end (the smaller nz of its two pixels): where
the surface turns away (nz -> 0) a small error in the normal is a large error in the slope
(which is clamped, nz >= NZ_MIN).
Over the last RIM_BAND_PX pixels inside the outline the target slopes pass over from the
normals' to the prior's: the estimator's outermost pixels are blurred with the background,
and at the outline the silhouette knows better (the normal is perpendicular to the view
there, whatever a model says). Across the outline the target is the prior's own step, so the
outline stays at depth 0.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import ndimage

# Smallest nz used to turn a normal into a slope: at most 1 / NZ_MIN pixels of depth per pixel.
NZ_MIN = 0.1
# Features larger than this fraction of the body's height in the image keep the prior's shape.
RELIEF_SCALE = 0.25
# Within this many pixels of the outline the prior takes over gradually (see the module docstring).
RIM_BAND_PX = 4.0


def normal_slopes(normals: np.ndarray, nz_min: float = NZ_MIN) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space normals (H, W, 3) -> (dz/du, dz/dv) in pixels per pixel (see the module docstring)."""
    n = np.asarray(normals, np.float64)
    nz = np.maximum(n[..., 2], nz_min)
    return -n[..., 0] / nz, n[..., 1] / nz


def lambda_for_scale(scale_px: float) -> float:
    """The screening weight whose cut-off wavelength is `scale_px` pixels (for unit edge weights)."""
    return float((2.0 * np.pi / max(scale_px, 1.0)) ** 2)


def _inside(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, bool).copy()
    # The outermost ring of the image is outside, so every mask pixel has four neighbours.
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = False
    return mask


def _solve(mask: np.ndarray, su: np.ndarray, sv: np.ndarray, weight: np.ndarray, prior: np.ndarray | None,
           lam: float, rim_from_prior: bool, prior_share: np.ndarray | None = None) -> np.ndarray:
    """Weighted least squares over the pixel edges touching the mask (z = 0 outside).

    An edge between two mask pixels wants z_q - z_p = the mean of their slopes along it, or,
    with `prior_share` (per pixel, 0..1, an edge takes its larger end's), that blended with
    the prior's own step. An edge across the outline wants the inside pixel's slope (pure
    integration) or, with `rim_from_prior`, the prior's step (the outline stays the prior's).
    """
    idx = -np.ones(mask.shape, np.int64)
    rows, cols = np.nonzero(mask)
    n = rows.size
    idx[rows, cols] = np.arange(n)
    p = np.zeros(mask.shape) if prior is None else np.asarray(prior, np.float64)

    eq_p, eq_q, targets, weights = [], [], [], []
    for slope, (dr, dc) in ((su, (0, 1)), (sv, (1, 0))):
        # Every edge (a, b) with b one step along the axis from a, at least one end inside.
        a_r, a_c = np.nonzero(np.ones(mask.shape, bool)[: mask.shape[0] - dr, : mask.shape[1] - dc])
        b_r, b_c = a_r + dr, a_c + dc
        ia, ib = idx[a_r, a_c], idx[b_r, b_c]
        keep = (ia >= 0) | (ib >= 0)
        a_r, a_c, b_r, b_c, ia, ib = a_r[keep], a_c[keep], b_r[keep], b_c[keep], ia[keep], ib[keep]
        both = (ia >= 0) & (ib >= 0)
        t = np.where(both, 0.5 * (slope[a_r, a_c] + slope[b_r, b_c]),
                     np.where(ia >= 0, slope[a_r, a_c], slope[b_r, b_c]))
        if prior_share is not None:
            share = np.maximum(prior_share[a_r, a_c], prior_share[b_r, b_c])
            t = (1.0 - share) * t + share * (p[b_r, b_c] - p[a_r, a_c])
        if rim_from_prior:
            t = np.where(both, t, p[b_r, b_c] - p[a_r, a_c])
        w = np.where(both, np.minimum(weight[a_r, a_c], weight[b_r, b_c]),
                     np.where(ia >= 0, weight[a_r, a_c], weight[b_r, b_c]))
        if rim_from_prior:
            w = np.where(both, w, 1.0)  # the outline is the prior's
        eq_p.append(ia)
        eq_q.append(ib)
        targets.append(t)
        weights.append(w)
    ia, ib = np.concatenate(eq_p), np.concatenate(eq_q)
    t, w = np.concatenate(targets), np.concatenate(weights)
    m = ia.size
    # D z = z_b - z_a for every edge; an outside end is a known 0 and drops out.
    erow = np.arange(m)
    ok_a, ok_b = ia >= 0, ib >= 0
    d = sp.csr_matrix((np.concatenate([-np.ones(ok_a.sum()), np.ones(ok_b.sum())]),
                       (np.concatenate([erow[ok_a], erow[ok_b]]), np.concatenate([ia[ok_a], ib[ok_b]]))),
                      shape=(m, n))
    dtw = d.T @ sp.diags(w)
    a = (dtw @ d).tocsc()
    b = dtw @ t
    if lam > 0.0:
        a = a + lam * sp.identity(n, format="csc")
        b = b + lam * p[rows, cols]
    # Sparse LU: the system is small (one unknown per mask pixel) and, with the weights spanning
    # two orders of magnitude, badly conditioned for conjugate gradients.
    z = np.zeros(mask.shape)
    z[rows, cols] = spla.spsolve(a, b)
    return z


def integrate_normals(normals: np.ndarray, mask: np.ndarray, nz_min: float = NZ_MIN) -> np.ndarray:
    """Relative depth (pixels, toward the camera) whose normals are `normals`, 0 outside the mask."""
    mask = _inside(mask)
    if not mask.any():
        return np.zeros(mask.shape)
    su, sv = normal_slopes(normals, nz_min)
    return _solve(mask, su, sv, np.ones(mask.shape), None, 0.0, rim_from_prior=False)


def integrate_with_prior(normals: np.ndarray, mask: np.ndarray, prior_px: np.ndarray, scale_px: float,
                         nz_min: float = NZ_MIN) -> np.ndarray:
    """Front depth (pixels, toward the camera): the normals' relief on the prior's overall shape.

    `prior_px` is the silhouette's inflation (pixels, 0 outside the mask); shapes larger than
    about `scale_px` pixels keep it, smaller ones follow the normals (see the module docstring).
    """
    mask = _inside(mask)
    prior_px = np.where(mask, np.asarray(prior_px, np.float64), 0.0)
    if not mask.any():
        return prior_px
    n = np.asarray(normals, np.float64)
    norm = np.linalg.norm(n, axis=-1)
    n = n / np.maximum(norm, 1e-12)[..., None]
    ok = np.isfinite(n).all(axis=-1) & (norm > 1e-6)
    n = np.where(ok[..., None], n, [0.0, 0.0, 1.0])
    su, sv = normal_slopes(n, nz_min)
    weight = np.where(ok, np.clip(n[..., 2], 0.0, 1.0) ** 2, 0.0)
    # Near the outline the slopes pass over to the prior's (see the module docstring).
    prior_share = 1.0 - np.clip((ndimage.distance_transform_edt(mask) - 1.0) / RIM_BAND_PX, 0.0, 1.0)
    return _solve(mask, su, sv, weight, prior_px, lambda_for_scale(scale_px), rim_from_prior=True,
                  prior_share=prior_share)


def rim_agreement(normals: np.ndarray, mask: np.ndarray, band_px: float = 3.0) -> float:
    """How well the normals' x and y agree with the outline, in [-1, 1]: the worse of the two axes.

    At a body's outline the surface turns away from the camera and its normal points outward,
    away from the mask, in the image plane. Over a thin band inside the outline, each axis is
    scored on its own: the cosine between the predicted unit directions' components along it
    and the outward ones' (one vector entry per band pixel), near +1 for a good prediction in
    our convention, about 0 for noise, near -1 when that axis is flipped. Per
    axis, because a standing body's outline runs mostly up and down: a flipped y would barely
    move a single cosine averaged over the whole outline.
    """
    mask = np.asarray(mask, bool)
    smooth = ndimage.gaussian_filter(mask.astype(np.float64), band_px)
    g_v, g_u = np.gradient(smooth)  # along rows (down), along columns (right)
    # Outward in camera x/y: against the mask's gradient, with v down = -y.
    out_x, out_y = -g_u, g_v
    length = np.hypot(out_x, out_y)
    band = mask & (ndimage.distance_transform_edt(mask) <= band_px) & (length > 1e-6)
    if not band.any():
        return 0.0
    n = np.asarray(normals, np.float64)[band]
    nxy = np.hypot(n[:, 0], n[:, 1])
    ok = nxy > 1e-6
    if not ok.any():
        return 0.0
    unit_n = n[ok, :2] / nxy[ok, None]
    unit_out = np.stack([out_x[band][ok], out_y[band][ok]], axis=1) / length[band][ok, None]
    scores = []
    for axis in (0, 1):
        a, b = unit_n[:, axis], unit_out[:, axis]
        norm = np.sqrt(np.sum(a * a) * np.sum(b * b))
        if norm > 1e-6:
            scores.append(float(np.sum(a * b) / norm))
    return min(scores) if scores else 0.0
