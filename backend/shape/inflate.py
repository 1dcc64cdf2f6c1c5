"""Depth profile of a body from its silhouette alone (no learned weights).

Solve the Poisson problem  laplacian(h) = -1  inside the mask with h = 0 outside. For a
strip of half-width r the solution is h = (r^2 - x^2) / 2, so sqrt(2 h) = sqrt(r^2 - x^2)
is exactly a round cross-section: limbs come out as cylinders, with vertical tangents at
the silhouette so front and back meet without a crease. Wide parts (the torso) would
come out as deep as they are wide, which no body is, so the half-depth is compressed
with a soft cap: d = cap * tanh(r / cap). Thin parts keep their round profile, the chest
ends up with a depth-to-width ratio of about 0.6.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import ndimage

# Half-depth cap for a 1.7 m person, in metres; scaled with the configured height.
HALF_DEPTH_CAP_M = 0.12


def poisson_height(mask: np.ndarray) -> np.ndarray:
    """h with laplacian(h) = -1 on mask pixels, h = 0 elsewhere (pixel units)."""
    mask = np.asarray(mask, bool).copy()
    # The outermost ring of the image is forced to be outside, so every equation has neighbours.
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = False
    idx = -np.ones(mask.shape, dtype=np.int64)
    rows, cols = np.nonzero(mask)
    n = rows.size
    h = np.zeros(mask.shape, dtype=np.float64)
    if n == 0:
        return h
    idx[rows, cols] = np.arange(n)
    data, ri, ci = [np.full(n, 4.0)], [np.arange(n)], [np.arange(n)]
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        nb = idx[rows + dr, cols + dc]
        ok = nb >= 0
        data.append(np.full(ok.sum(), -1.0))
        ri.append(np.arange(n)[ok])
        ci.append(nb[ok])
    a = sp.csr_matrix((np.concatenate(data), (np.concatenate(ri), np.concatenate(ci))), shape=(n, n))
    # Symmetric positive definite: conjugate gradients with a Jacobi preconditioner is fast
    # and light on memory; start from the distance transform's parabola for a quick converge.
    x0 = 0.5 * ndimage.distance_transform_edt(mask)[rows, cols] ** 2
    sol, _ = spla.cg(a, np.ones(n), x0=x0, rtol=1e-6, maxiter=4000, M=sp.diags(np.full(n, 0.25)))
    h[rows, cols] = np.maximum(sol, 0.0)
    return h


def half_depth_pixels(mask: np.ndarray) -> np.ndarray:
    """Round-profile half-depth of the silhouette, in pixels, 0 outside."""
    return np.sqrt(2.0 * poisson_height(mask))


def compress_half_depth(half_depth_m: np.ndarray, height_m: float) -> np.ndarray:
    """Soft cap on the half-depth so that wide parts are flatter than round."""
    cap = HALF_DEPTH_CAP_M * height_m / 1.7
    return cap * np.tanh(np.asarray(half_depth_m) / cap)


def sample_bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear sample of a (H, W) array at continuous pixel coordinates (u right, v down)."""
    # Pixel (r, c) holds the value at (c + 0.5, r + 0.5); map_coordinates wants (row, col) indices.
    coords = np.stack([uv[:, 1] - 0.5, uv[:, 0] - 0.5])
    return ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)
