"""A real 3D body under the clothes: the Anny body model fitted to the photo, then dressed.

    photo -> pose landmarks (pose.py, mediapipe) -> Anny fitted through the photo's pinhole
    camera (fit.py) -> clothed surface around it, carved to the person mask (dress.py)
    -> world frame, scaled to the person's height (this module)

When no pose is found, the photo does not show the whole body, or the fit does not converge,
the silhouette's inflation runs instead (the shape stage's fallback) and the result says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...conventions import PERSPECTIVE, Camera
from ...mesh import Mesh
from ...rig.skeleton import Skeleton
from ..base import ShapeResult, WorkingLens
from .model import FIT_BONES, PARTS

METHOD = "body"


@dataclass
class FittedBody:
    """The fitted body in the world frame, for body.obj / body.json and the later stages."""

    mesh: Mesh  # the bare body (Anny's triangles), world frame
    vertex_parts: np.ndarray  # (V,) index into model.PARTS
    info: dict  # body.json
    skeleton: Skeleton | None = None  # Anny's bones as fitted, world frame (the rig starts from it)
    skin: tuple[np.ndarray, np.ndarray] | None = None  # Anny's (V, k) bone indices and weights
    rest_bind: np.ndarray | None = None  # (bones, 4, 4) the skeleton in Anny's rest pose, world size, hips at 0


class BodyFitFailed(Exception):
    """The body path cannot run on this photo: the message says why, in plain words. `landmarks`: the
    pose found, when one was (the outline's shape sizes a half-length portrait by its face)."""

    def __init__(self, message: str, landmarks=None):
        super().__init__(message)
        self.landmarks = landmarks


def world_from_fit(pitch: float, scale: float, shift: np.ndarray):
    """(points in fit space -> world) and the input camera's 3x4 world_to_camera rotation/translation.

    World = scale * fit - shift. The camera sits at the fit-space origin, level but tilted by
    `pitch` about its X axis; its frame is x right, y up, looking down -z (conventions.Camera).
    """
    c, s = np.cos(pitch), np.sin(pitch)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    to_cam = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # (x, y, z) -> (x, z, -y)
    r = to_cam @ tilt
    w2c = np.eye(4)
    w2c[:3, :3] = r
    w2c[:3, 3] = r @ shift  # a pinhole image does not change when the scene scales about the camera
    return (lambda p: scale * np.asarray(p) - shift), w2c


def _area_centroid(mesh: Mesh) -> np.ndarray:
    t = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    return (t.mean(axis=1) * area[:, None]).sum(axis=0) / area.sum()


class BodyShape:
    """Shape estimator: the fitted, dressed Anny body (needs the photo's lens and a pose)."""

    name = METHOD

    def __init__(self, target_faces: int, log=lambda message: None):
        self.target_faces = target_faces
        self.log = log
        self.fitted: FittedBody | None = None

    def estimate(self, rgb, mask, *, height_m: float, lens: WorkingLens | None = None,
                 fine_mask: np.ndarray | None = None) -> ShapeResult:
        from .dress import PinholeView, dress_body
        from .fit import Intrinsics, fit_body, missing_landmarks
        from .model import ensure_cache, load_anny
        from .pose import detect_pose

        if lens is None:
            raise BodyFitFailed("the body fit needs the photo's lens")
        t0 = time.perf_counter()
        landmarks = detect_pose(rgb)
        if landmarks is None:
            raise BodyFitFailed("no person's pose was found in the photo")
        missing = missing_landmarks(landmarks, mask)
        if missing:
            raise BodyFitFailed(f"the photo does not show the whole body ({', '.join(missing)} not visible)",
                                landmarks)
        ensure_cache(say=self.log)
        body = load_anny()
        fit = fit_body(body, landmarks, mask, Intrinsics(lens.f, lens.cx, lens.cy), height_m)
        if not fit.converged:
            raise BodyFitFailed(fit.why, landmarks)

        # Dressed against the finest mask there is: the outline it is carved to is the one the front
        # must match, pixel for pixel.
        k = fine_mask.shape[0] // mask.shape[0] if fine_mask is not None else 1
        view = PinholeView(lens.f * k, lens.cx * k, lens.cy * k, fit.pitch)
        dress_mask = fine_mask if fine_mask is not None and k > 1 else mask
        dressing = dress_body(fit.vertices, fit.faces, body.vertex_parts, dress_mask, view,
                              voxel_m=self._voxel(fit))
        dressed = dressing.mesh
        lo_z, hi_z = dressed.vertices[:, 2].min(), dressed.vertices[:, 2].max()
        # The person's height is their height standing: the body's standing height plus what the
        # dressing adds above and below it (hair, shoes). A crouch or a jump stays shorter. A body
        # that already stands taller than Anny's rest pose (whose knees and hips are a little bent:
        # straightened legs add 2-3 cm) stands that tall.
        extra = (hi_z - lo_z) - np.ptp(fit.vertices[:, 2])
        head = body.vertex_parts == PARTS.index("head")
        standing = max(fit.stature, float(fit.vertices[head, 2].max() - fit.vertices[:, 2].min()))
        scale = height_m / (standing + extra)
        # Feet (the lowest point) on z = 0, the person's middle (the dressed surface's centroid) on the Z axis.
        middle = _area_centroid(dressed)
        shift = scale * np.array([middle[0], middle[1], lo_z])
        to_world, w2c = world_from_fit(fit.pitch, scale, shift)
        mesh = Mesh(to_world(dressed.vertices), dressed.faces)
        h, w = mask.shape
        camera = Camera(w2c, w, h, lens.f, lens.f, lens.cx, lens.cy, PERSPECTIVE, "input", 0.0,
                        float(np.degrees(fit.pitch)))

        bind = fit.bone_matrices.copy()
        bind[:, :3, 3] = to_world(bind[:, :3, 3])  # world = scale * fit - shift turns nothing
        bones = {name: {"head": bind[i, :3, 3].round(5).tolist()} for i, name in enumerate(body.bone_labels)}
        info = {
            "model": "anny", "phenotypes": {k: round(v, 4) for k, v in fit.phenotypes.items()},
            "pose": {"parameterization": "anny local-ref rotation vectors (radians)",
                     "bones": {b: fit.rotvecs[i].round(5).tolist() for i, b in enumerate(FIT_BONES)}},
            "scale": round(float(scale), 6), "bones": bones,
            "keypoints": {label: to_world(fit.keypoints[i][None])[0].round(5).tolist()
                          for i, label in enumerate(fit.keypoint_labels)},
            "camera_pitch_deg": round(float(np.degrees(fit.pitch)), 3),
            "landmark_residuals_px": fit.residuals_px,
            "mean_residual_of_height": round(fit.mean_residual, 5),
            "inside_mask_fraction": round(fit.inside_fraction, 4),
            "arm_stretch": fit.stretch,
            "fit_seconds": round(fit.seconds, 3),
            "dress": {"voxel_m": dressing.voxel_m, "extruded_pixels": dressing.extruded_pixels,
                      "offset_m_median": round(float(np.median(dressing.offsets)), 4)},
        }
        skeleton = Skeleton(body.bone_labels, body.bone_parents, bind, scale * fit.bone_lengths)
        rest_bind = fit.rest_bone_matrices.copy()
        rest_bind[:, :3, 3] *= scale  # the rest skeleton at the person's size (for a neutral rest pose)
        self.fitted = FittedBody(Mesh(to_world(fit.vertices), fit.faces), body.vertex_parts, info, skeleton,
                                 body.skin(), rest_bind)
        notes = [f"body model (Anny) fitted to the photo's pose in {fit.seconds:.1f} s (mean keypoint error "
                 f"{100 * fit.mean_residual:.1f}% of the body's height), dressed to the outline; "
                 f"shape stage {time.perf_counter() - t0:.1f} s", f"lens: {lens.source}"]
        return ShapeResult(mesh, camera, METHOD, notes, body=self.fitted)

    def _voxel(self, fit) -> float:
        """Voxel size that makes about `target_faces` triangles (3 per voxel face of surface area)."""
        tri = fit.vertices[fit.faces]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
        return float(np.clip(np.sqrt(3.0 * 1.15 * area / max(self.target_faces, 1000)), 0.006, 0.02))
