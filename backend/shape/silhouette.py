"""Body mesh from the silhouette alone: the default shape estimator, needs no weights.

Front and back surfaces are the inflated silhouette (see inflate.py) pushed toward and
away from the camera; they share the outline's vertices, so the mesh is closed and
manifold by construction, and seen from the input camera it covers exactly the mask.
"""

from __future__ import annotations

import numpy as np

from ..conventions import ORTHOGRAPHIC, Camera, look_at
from ..mesh import Mesh
from .base import ShapeResult
from .inflate import compress_half_depth, half_depth_pixels, sample_bilinear
from .triangulate import triangulate_mask

# Faces of the closed mesh (front + back); the foundation asks for 20k-100k.
DEFAULT_TARGET_FACES = 40_000
CAMERA_DISTANCE_M = 10.0


def front_camera(width: int, height: int, metres_per_px: float, u_axis: float, v_feet: float,
                 height_m: float) -> Camera:
    """Orthographic front camera (azimuth 0) on -Y, aimed at the body's mid-height.

    Pixel (u, v) of the image sees world x = (u - u_axis) * m and z = (v_feet - v) * m.
    """
    zc = height_m / 2.0
    w2c = look_at(np.array([0.0, -CAMERA_DISTANCE_M, zc]), np.array([0.0, 0.0, zc]))
    f = 1.0 / metres_per_px
    return Camera(w2c, width, height, f, f, u_axis, v_feet - zc * f, ORTHOGRAPHIC, "input", 0.0, 0.0)


class SilhouetteShape:
    name = "silhouette"

    def __init__(self, target_faces: int = DEFAULT_TARGET_FACES):
        self.target_faces = target_faces

    def estimate(self, rgb, mask, *, height_m: float) -> ShapeResult:
        mask = np.asarray(mask, bool)
        planar = triangulate_mask(mask, self.target_faces // 2)
        pts = planar.points

        v_top, v_feet = pts[:, 1].min(), pts[:, 1].max()
        m = height_m / (v_feet - v_top)  # metres per working pixel
        rows, cols = np.nonzero(mask)
        u_axis = cols.mean() + 0.5  # the body's axis: the mask's centroid column

        half_depth = compress_half_depth(half_depth_pixels(mask) * m, height_m)
        d = sample_bilinear(half_depth, pts)
        d[planar.boundary] = 0.0

        x = (pts[:, 0] - u_axis) * m
        z = (v_feet - pts[:, 1]) * m
        n = len(pts)
        interior = np.flatnonzero(~planar.boundary)
        back_index = np.arange(n)
        back_index[interior] = n + np.arange(interior.size)

        # Front surface faces the camera at -Y; back surface at +Y shares the outline.
        front = np.stack([x, -d, z], axis=1)
        back = np.stack([x[interior], d[interior], z[interior]], axis=1)
        vertices = np.vstack([front, back])

        # Planar triangles are CCW in (u, v) with v down, i.e. clockwise seen from the
        # camera (u right, z up): reverse them for the front, keep them for the back.
        tris = planar.triangles
        faces = np.vstack([tris[:, [0, 2, 1]], back_index[tris]])
        mesh = Mesh(vertices, faces.astype(np.int64))

        cam = front_camera(mask.shape[1], mask.shape[0], m, u_axis, v_feet, height_m)
        return ShapeResult(mesh, cam, self.name, ["shape from the silhouette only (no learned shape model)"])
