"""A mesh the user brings (e.g. cleaned up in Blender), in place of the reconstructed one.

The mesh is taken as it stands in the world frame (metres, Z up, facing -Y). The input
camera is fitted so that the mesh's front silhouette spans the photo's person mask.

Polygons were triangulated when it was read. A mesh that is not closed, or has edges shared
by more than two faces (non-manifold), is used as it is (UV unwrap, maps and texture work on
any triangle soup); a note in result.json says so, since the texture may show seams there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conventions import ORTHOGRAPHIC, Camera, look_at
from ..export.mesh_io import load_user_mesh
from .base import ShapeResult
from .silhouette import CAMERA_DISTANCE_M


def edge_report(vertices: np.ndarray, faces: np.ndarray) -> str | None:
    """A plain-words note on open and non-manifold edges, or None for a closed manifold mesh.

    Vertices at the same position count as one (files split them at normal or UV seams).
    """
    _, weld = np.unique(vertices, axis=0, return_inverse=True)
    faces = weld.reshape(-1)[faces]
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    parts = []
    if (n := int((uses > 2).sum())):
        parts.append(f"{n:,} edge{'s' * (n != 1)} shared by more than two faces (non-manifold)")
    if (n := int((uses == 1).sum())):
        parts.append(f"{n:,} open edge{'s' * (n != 1)} (holes)")
    if not parts:
        return None
    return f"the mesh has {' and '.join(parts)}: used as it is; the texture may show seams there"


class UserMeshShape:
    name = "user_mesh"

    def __init__(self, path: Path):
        self.path = Path(path)

    def estimate(self, rgb, mask, *, height_m: float) -> ShapeResult:
        mesh = load_user_mesh(self.path)
        rows, cols = np.nonzero(mask)
        v = mesh.vertices[np.unique(mesh.faces)]
        lo, hi = v.min(axis=0), v.max(axis=0)
        # Scale from the heights, centre from the horizontal extents of mask and mesh.
        f = (rows.max() + 1 - rows.min()) / (hi[2] - lo[2])
        zc = (lo[2] + hi[2]) / 2.0
        eye, target = np.array([0.0, -CAMERA_DISTANCE_M, zc]), np.array([0.0, 0.0, zc])
        cx = (cols.min() + cols.max() + 1) / 2.0 - f * (lo[0] + hi[0]) / 2.0
        cy = (rows.min() + rows.max() + 1) / 2.0
        cam = Camera(look_at(eye, target), mask.shape[1], mask.shape[0], f, f, cx, cy, ORTHOGRAPHIC, "input", 0.0, 0.0)
        notes = [f"used the supplied mesh {self.path.name} ({len(mesh.faces):,} faces)"]
        if (report := edge_report(mesh.vertices, mesh.faces)) is not None:
            notes.append(report)
        return ShapeResult(mesh, cam, self.name, notes)
