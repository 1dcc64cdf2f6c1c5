"""Triangulate a silhouette: a 2D mesh whose outline follows the mask's sub-pixel contour.

The outline is the 0.5 level set of the slightly blurred mask (marching squares), so it
runs along the pixel edges without a staircase. `triangle` (Shewchuk's constrained
Delaunay mesher) fills it with well-shaped triangles of a chosen size; holes in the mask
(the gap between an arm and the torso) stay holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import triangle
from matplotlib.path import Path as PolygonPath
from scipy import ndimage
from skimage import measure

from ..errors import NoPersonError

# Blur of the mask before contouring, in pixels: removes the staircase, keeps the shape.
CONTOUR_SIGMA_PX = 0.8


@dataclass
class PlanarMesh:
    """Triangles in continuous pixel coordinates (u right, v down)."""

    points: np.ndarray  # (N, 2)
    triangles: np.ndarray  # (T, 3), counter-clockwise in (u, v), i.e. clockwise on screen
    boundary: np.ndarray  # (N,) bool: vertex lies on the outline


def clean_mask(mask: np.ndarray, min_component_fraction: float = 0.02, max_hole_fraction: float = 0.002) -> np.ndarray:
    """Drop specks and fill pin-holes that would only make slivers in the mesh."""
    mask = np.asarray(mask, bool)
    labels, n = ndimage.label(mask)
    if n == 0:
        raise NoPersonError("the person mask is empty")
    sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= min_component_fraction * sizes.max()) + 1
    mask = np.isin(labels, keep)
    holes, nh = ndimage.label(~mask)
    if nh > 1:
        hole_sizes = ndimage.sum(~mask, holes, index=np.arange(1, nh + 1))
        border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
        small = [i + 1 for i, s in enumerate(hole_sizes) if s < max_hole_fraction * mask.sum() and i + 1 not in border]
        mask |= np.isin(holes, small)
    return mask


def mask_contours(mask: np.ndarray, spacing_px: float) -> list[np.ndarray]:
    """Closed outlines (each (K, 2) in (u, v), not repeating the first point), resampled evenly."""
    padded = np.pad(mask.astype(np.float64), 2)
    smooth = ndimage.gaussian_filter(padded, CONTOUR_SIGMA_PX)
    outlines = []
    for c in measure.find_contours(smooth, 0.5):
        if len(c) < 4:
            continue
        # find_contours gives (row, col) at pixel-centre indices of the padded array.
        uv = np.stack([c[:, 1] - 2 + 0.5, c[:, 0] - 2 + 0.5], axis=1)
        closed = np.vstack([uv, uv[:1]]) if not np.allclose(uv[0], uv[-1]) else uv
        seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
        length = seg.sum()
        k = max(int(round(length / spacing_px)), 8)
        if length < 4 * spacing_px:
            continue  # a speck too small to mesh
        s = np.concatenate([[0.0], np.cumsum(seg)])
        t = np.linspace(0.0, length, k, endpoint=False)
        outlines.append(np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1))
    return outlines


def triangulate_mask(mask: np.ndarray, target_triangles: int) -> PlanarMesh:
    """A constrained, quality triangulation of the mask with about `target_triangles` triangles."""
    mask = clean_mask(mask)
    area = float(mask.sum())
    # Quality refinement adds about half again as many triangles as area / max_area.
    tri_area = 1.5 * area / target_triangles
    # Outline spacing matched to the interior edge length of an equilateral triangle of that area.
    spacing = max(np.sqrt(tri_area * 4.0 / np.sqrt(3.0)), 0.75)
    outlines = mask_contours(mask, spacing)
    if not outlines:
        raise NoPersonError("the person mask has no usable outline")

    points, segments, start = [], [], 0
    for o in outlines:
        k = len(o)
        points.append(o)
        ids = np.arange(start, start + k)
        segments.append(np.stack([ids, np.roll(ids, -1)], axis=1))
        start += k
    pts = np.vstack(points)
    segs = np.vstack(segments)

    # Y: no Steiner points on the outline, so it stays exactly the contour we drew.
    out = triangle.triangulate({"vertices": pts, "segments": segs}, f"pYq28a{tri_area:.6f}")
    verts, tris = out["vertices"], out["triangles"]

    # Keep the triangles inside the outline: even-odd rule over all outlines (holes included).
    centroids = verts[tris].mean(axis=1)
    inside = np.zeros(len(tris), dtype=bool)
    for o in outlines:
        inside ^= PolygonPath(o).contains_points(centroids)
    tris = tris[inside]

    used = np.unique(tris)
    remap = -np.ones(len(verts), dtype=np.int64)
    remap[used] = np.arange(used.size)
    verts, tris = verts[used], remap[tris]

    # Orientation: make every triangle counter-clockwise in (u, v).
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    tris = np.where((cross < 0)[:, None], tris[:, [0, 2, 1]], tris)
    tris = tris[np.abs(cross) > 1e-12]

    return PlanarMesh(verts, tris, boundary_vertices(tris, len(verts)))


def boundary_vertices(tris: np.ndarray, n_vertices: int) -> np.ndarray:
    """Vertices on edges used by exactly one triangle."""
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    flags = np.zeros(n_vertices, dtype=bool)
    flags[uniq[counts == 1].ravel()] = True
    return flags
