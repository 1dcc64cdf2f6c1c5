"""Body mesh from the silhouette alone: the default shape estimator, needs no weights.

Front and back surfaces are the inflated silhouette (see inflate.py) pushed toward and
away from the camera; they share the outline's vertices, so the mesh is closed and
manifold by construction, and seen from the input camera it covers exactly the mask.
Estimators with a better idea of the depth (normals_shape.py) keep this construction and
give their own front and back depth maps (`surface_depths`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..conventions import ORTHOGRAPHIC, Camera, look_at
from ..mesh import Mesh
from .base import ShapeResult
from .body.pose import LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, RIGHT_EYE
from .inflate import compress_half_depth, half_depth_pixels, sample_bilinear
from .triangulate import PlanarMesh, triangulate_mask

# Faces of the closed mesh (front + back); the foundation asks for 20k-100k.
DEFAULT_TARGET_FACES = 40_000
CAMERA_DISTANCE_M = 10.0
SILHOUETTE_NOTE = "shape from the silhouette only (no learned shape model)"


# A photo cut off below (a portrait: the person runs out of the frame's bottom edge) shows only the top of
# the person, while --height is the whole person's: stretched to it, a half-length portrait became a bust
# 1.7 m tall and, the depth being capped for a body that tall, a thin board from the side. Such a photo is
# sized by its head instead: from the top of the head to the neck's narrowest row is about this share of
# a person's height (a head is about an eighth of an adult's height, hair and the chin's shadow a little
# more). Cut: the mask's lowest row (the frame's edge, in the working image padded round the photo) is at
# least CUT_MIN_SPAN of its widest (soles are not; a gown's hem may be), and the mask shows less than
# CUT_MAX_VISIBLE of the height its head implies.
HEAD_TO_NECK_SHARE = 0.14
CUT_MIN_SPAN = 0.5
CUT_MAX_VISIBLE = 0.8
# Where the outline does not show the neck (long hair over the shoulders), the face does: from the eyes
# to the mouth is about 6.5-7 cm on an adult, 0.04 of the height (mediapipe's eye and mouth-corner
# landmarks, when the pose step found them and sees all four).
EYES_TO_MOUTH_SHARE = 0.04
EYES, MOUTH_CORNERS = (LEFT_EYE, RIGHT_EYE), (MOUTH_LEFT, MOUTH_RIGHT)


def visible_share(mask: np.ndarray, landmarks=None) -> float:
    """The share of the person's height that the mask shows: 1.0 unless the photo cuts them off below
    (see HEAD_TO_NECK_SHARE), then the mask's height over the height its head implies: from the
    outline's neck, else from the face's `landmarks` (shape.body.pose.PoseLandmarks in the mask's pixels)."""
    mask = np.asarray(mask, bool)
    widths = mask.sum(axis=1)
    rows = np.flatnonzero(widths)
    if len(rows) < 8 or widths[rows[-1]] < CUT_MIN_SPAN * widths.max():
        return 1.0
    profile = widths[rows[0]:rows[-1] + 1]
    height_px = _height_from_neck(profile) or _height_from_face(landmarks)
    if not height_px:
        return 1.0
    share = len(profile) / height_px
    return float(share) if share < CUT_MAX_VISIBLE else 1.0


def _height_from_neck(profile: np.ndarray) -> float | None:
    """The person's height in pixels that the outline's head implies (`profile`: the mask's width per row
    from its top), or None where the outline shows no neck. The head: down from the top, the widest row
    until the outline narrows to the chin (below 80 % of it); the neck: the narrowest row from there to
    where the shoulders reach 1.5 head widths."""
    head_width, chin = 0, None
    for i, w in enumerate(profile):
        head_width = max(head_width, w)
        if i > 2 and w < 0.8 * head_width:
            chin = i
            break
    if chin is None:
        return None
    shoulders = np.flatnonzero(profile[chin:] > 1.5 * head_width)
    if len(shoulders) == 0:
        return None
    neck = chin + int(np.argmin(profile[chin:chin + shoulders[0] + 1]))
    return (neck + 1) / HEAD_TO_NECK_SHARE


def _height_from_face(landmarks) -> float | None:
    """The person's height in pixels that the face implies (EYES_TO_MOUTH_SHARE), or None without a face."""
    if landmarks is None or np.min(landmarks.visibility[[*EYES, *MOUTH_CORNERS]]) < 0.5:
        return None
    eyes_to_mouth = landmarks.pixels[list(MOUTH_CORNERS), 1].mean() - landmarks.pixels[list(EYES), 1].mean()
    return eyes_to_mouth / EYES_TO_MOUTH_SHARE if eyes_to_mouth > 0 else None


def front_camera(width: int, height: int, metres_per_px: float, u_axis: float, v_feet: float,
                 height_m: float) -> Camera:
    """Orthographic front camera (azimuth 0) on -Y, aimed at the body's mid-height.

    Pixel (u, v) of the image sees world x = (u - u_axis) * m and z = (v_feet - v) * m.
    """
    zc = height_m / 2.0
    w2c = look_at(np.array([0.0, -CAMERA_DISTANCE_M, zc]), np.array([0.0, 0.0, zc]))
    f = 1.0 / metres_per_px
    return Camera(w2c, width, height, f, f, u_axis, v_feet - zc * f, ORTHOGRAPHIC, "input", 0.0, 0.0)


def inflation_depth(mask: np.ndarray, metres_per_px: float, height_m: float) -> np.ndarray:
    """The silhouette's half-depth map in metres (0 outside the mask)."""
    return compress_half_depth(half_depth_pixels(mask) * metres_per_px, height_m)


def closed_mesh(planar: PlanarMesh, front: np.ndarray, back: np.ndarray, metres_per_px: float, u_axis: float,
                v_feet: float) -> Mesh:
    """Front and back height fields over one planar triangulation, sewn along the outline.

    `front`, `back`: per planar vertex, metres toward the camera (front) and away from it
    (back) from the plane y = 0; both are forced to 0 on the outline, which both surfaces share.
    The caller keeps front + back >= 0, so the two surfaces never cross.
    """
    pts, m = planar.points, metres_per_px
    front = np.where(planar.boundary, 0.0, front)
    back = np.where(planar.boundary, 0.0, back)
    x = (pts[:, 0] - u_axis) * m
    z = (v_feet - pts[:, 1]) * m
    n = len(pts)
    interior = np.flatnonzero(~planar.boundary)
    back_index = np.arange(n)
    back_index[interior] = n + np.arange(interior.size)

    # Front surface faces the camera at -Y; back surface at +Y shares the outline.
    vertices = np.vstack([np.stack([x, -front, z], axis=1),
                          np.stack([x[interior], back[interior], z[interior]], axis=1)])

    # Planar triangles are CCW in (u, v) with v down, i.e. clockwise seen from the
    # camera (u right, z up): reverse them for the front, keep them for the back.
    tris = planar.triangles
    faces = np.vstack([tris[:, [0, 2, 1]], back_index[tris]])
    return Mesh(vertices, faces.astype(np.int64))


@dataclass
class SurfaceDepths:
    """Front and back depth maps over the working image, metres, 0 outside the mask (see closed_mesh)."""

    front: np.ndarray
    back: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)
    fallback_why: str = ""  # see ShapeResult
    fallback_failed: bool = False


class SilhouetteShape:
    name = "silhouette"

    def __init__(self, target_faces: int = DEFAULT_TARGET_FACES, fallback_why: str = "", fallback_failed: bool = False):
        self.target_faces = target_faces
        self.fallback_why = fallback_why  # why a learned shape model is not used, if one could have been
        self.fallback_failed = fallback_failed

    def surface_depths(self, rgb, mask: np.ndarray, metres_per_px: float, height_m: float,
                       body_height_px: float) -> SurfaceDepths:
        d = inflation_depth(mask, metres_per_px, height_m)
        return SurfaceDepths(d, d, self.name, [SILHOUETTE_NOTE], self.fallback_why, self.fallback_failed)

    def estimate(self, rgb, mask, *, height_m: float, lens=None, fine_mask=None, landmarks=None) -> ShapeResult:
        """`landmarks`: the pose the body path found before it fell back, if any (sizes a portrait by its face)."""
        mask = np.asarray(mask, bool)
        planar = triangulate_mask(mask, self.target_faces // 2)
        pts = planar.points

        v_top, v_bottom = pts[:, 1].min(), pts[:, 1].max()
        # A person cut off by the frame shows only their top: sized by the head, the top of the head at
        # the person's height, the feet where they would stand below the frame (visible_share).
        shown = visible_share(mask, landmarks)
        m = shown * height_m / (v_bottom - v_top)  # metres per working pixel
        v_feet = v_bottom + (1.0 - shown) * height_m / m  # the row the floor would be seen at
        rows, cols = np.nonzero(mask)
        u_axis = cols.mean() + 0.5  # the body's axis: the mask's centroid column

        depths = self.surface_depths(rgb, mask, m, height_m, v_feet - v_top)
        front, back = sample_bilinear(depths.front, pts), sample_bilinear(depths.back, pts)
        mesh = closed_mesh(planar, front, np.maximum(back, -front), m, u_axis, v_feet)

        cam = front_camera(mask.shape[1], mask.shape[0], m, u_axis, v_feet, height_m)
        notes = list(depths.notes)
        if shown < 1.0:
            notes.append(f"the photo shows the person down to about {100 * shown:.0f}% of their height (cut off by "
                         "the frame): sized by the head, the top of the head at the height given")
        return ShapeResult(mesh, cam, depths.method, notes, depths.fallback_why, depths.fallback_failed)
