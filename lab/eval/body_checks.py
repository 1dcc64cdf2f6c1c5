"""Questions about a body mesh's anatomy, asked with the help of its joints (world frame, facing -Y).

Each takes a mesh (the truth, or a prediction aligned to it: shape_metrics.align_to_truth) and
3D joint positions (the truth's, or a fitted body's), and measures the mesh itself, so a mesh that
lacks the shape the joints describe fails:

    knee_flexion_deg        the angle between the thigh's and the shin's axes in the mesh
    arm_torso_gap_cm        empty space between an arm and the torso in the section through the elbow
    foot_axis               the direction and length of a foot on the floor; feet_point_forward
    head_back_roundness     how far the head reaches behind the ears for its width; back_of_head_is_round
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from backend.mesh import Mesh

from .shape_metrics import surface_samples

SECTION_PIXEL_M = 0.003
FORWARD = np.array([0.0, -1.0, 0.0])


def _samples(mesh: Mesh, count: int = 40_000) -> np.ndarray:
    return surface_samples(mesh, count, seed=0)[0]


# --- limb axes ---------------------------------------------------------------------------------


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the segment a-b, position t of the projection on its line: 0 at a, 1 at b)."""
    ab = b - a
    t = (points - a) @ ab / (ab @ ab)
    return np.linalg.norm(points - a - np.outer(np.clip(t, 0, 1), ab), axis=1), t


def limb_axis(points: np.ndarray, a: np.ndarray, b: np.ndarray, radius_m: float = 0.1, bins: int = 6,
              span=(0.2, 0.8), min_points: int = 12, others=()) -> np.ndarray | None:
    """Unit direction, from a toward b, of the limb the surface points show between joints a and b.

    The segment's middle (`span` of its length) is cut into `bins` slices across it; in each, the
    centroid of the surface points within `radius_m` of the segment (and nearer to it than to any of
    the `others` segments, (c, d) pairs: the next bone of a folded limb) is a point on the limb's axis
    (the surface rings a limb). The axis is the principal direction of those centroids. None when a
    slice holds fewer than `min_points` points: the mesh has no limb there.
    """
    ab = b - a
    dist, t = _segment_distance(points, a, b)
    near = dist < radius_m
    for c, d in others:
        near &= dist < _segment_distance(points, np.asarray(c), np.asarray(d))[0]
    edges = np.linspace(span[0], span[1], bins + 1)
    centroids = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = near & (t >= lo) & (t < hi)
        if sel.sum() < min_points:
            return None
        centroids.append(points[sel].mean(axis=0))
    c = np.array(centroids)
    direction = np.linalg.svd(c - c.mean(axis=0))[2][0]
    return direction if direction @ ab > 0 else -direction


def knee_flexion_deg(mesh: Mesh, hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray,
                     radius_m: float = 0.1) -> float:
    """Knee flexion in degrees measured on the mesh: the angle between the thigh's axis (limb_axis
    between hip and knee) and the shin's (between knee and ankle); 0 for a straight leg. NaN when
    the mesh has no thigh or shin along those joints."""
    pts = _samples(mesh)
    hip, knee, ankle = (np.asarray(p, float) for p in (hip, knee, ankle))
    thigh = limb_axis(pts, hip, knee, radius_m, others=[(knee, ankle)])
    shin = limb_axis(pts, knee, ankle, radius_m, others=[(hip, knee)])
    if thigh is None or shin is None:
        return float("nan")
    return float(np.degrees(np.arccos(np.clip(thigh @ shin, -1.0, 1.0))))


# --- horizontal sections -----------------------------------------------------------------------


@dataclass
class Section:
    """The mesh's inside on the plane z = const, rasterised: inside[r, c] is the point
    (x0 + (c + 0.5) * pixel, y0 + (r + 0.5) * pixel)."""

    inside: np.ndarray
    x0: float
    y0: float
    pixel: float

    def index(self, xy) -> tuple[int, int]:
        c = int(np.clip((xy[0] - self.x0) / self.pixel, 0, self.inside.shape[1] - 1))
        r = int(np.clip((xy[1] - self.y0) / self.pixel, 0, self.inside.shape[0] - 1))
        return r, c


def horizontal_section(mesh: Mesh, z: float, pixel_m: float = SECTION_PIXEL_M) -> Section:
    """The mesh's cross-section at height z (even-odd fill of the cut's outline, so a closed mesh)."""
    from trimesh.intersections import mesh_plane

    seg = mesh_plane(mesh.to_trimesh(), [0.0, 0.0, 1.0], [0.0, 0.0, z])[:, :, :2]
    lo, hi = mesh.vertices[:, :2].min(axis=0) - 2 * pixel_m, mesh.vertices[:, :2].max(axis=0) + 2 * pixel_m
    w, h = (np.ceil((hi - lo) / pixel_m).astype(int) + 1)
    inside = np.zeros((h, w), bool)
    if len(seg):
        xs = lo[0] + (np.arange(w) + 0.5) * pixel_m
        for r in range(h):
            y = lo[1] + (r + 0.5) * pixel_m
            y0, y1 = seg[:, 0, 1], seg[:, 1, 1]
            cross = (y0 <= y) != (y1 <= y)
            if not cross.any():
                continue
            s = seg[cross]
            x = s[:, 0, 0] + (y - s[:, 0, 1]) * (s[:, 1, 0] - s[:, 0, 0]) / (s[:, 1, 1] - s[:, 0, 1])
            inside[r] = (np.searchsorted(np.sort(x), xs) % 2) == 1
    return Section(inside, float(lo[0]), float(lo[1]), pixel_m)


def _component_at(labels: np.ndarray, rc: tuple[int, int]) -> int:
    """The label at pixel rc, or the nearest labelled pixel's when rc is outside every piece."""
    if labels[rc] > 0:
        return int(labels[rc])
    if not (labels > 0).any():
        return 0
    _, (rr, cc) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return int(labels[rr[rc], cc[rc]])


def arm_torso_gap_cm(mesh: Mesh, joints: dict, side: str) -> float:
    """Width in cm of the empty space between the arm and the torso in the horizontal section through
    the elbow (`elbow_<side>`): the arm's piece is the one at (or nearest) the elbow, the torso's the
    one at (or nearest) the spine's point at that height (on the line pelvis -> neck). 0 when they are
    one piece (joined, or never apart)."""
    elbow = np.asarray(joints[f"elbow_{side}"])
    pelvis, neck = np.asarray(joints["pelvis"]), np.asarray(joints["neck"])
    t = np.clip((elbow[2] - pelvis[2]) / (neck[2] - pelvis[2]), 0.0, 1.0)
    spine = pelvis + t * (neck - pelvis)
    sec = horizontal_section(mesh, float(elbow[2]))
    labels, _ = ndimage.label(sec.inside, structure=np.ones((3, 3)))
    arm, torso = _component_at(labels, sec.index(elbow)), _component_at(labels, sec.index(spine))
    if arm == torso or arm == 0 or torso == 0:
        return 0.0
    gap = ndimage.distance_transform_edt(labels != torso)[labels == arm].min()
    return float(100.0 * gap * sec.pixel)


# --- feet --------------------------------------------------------------------------------------


@dataclass
class FootAxis:
    direction: np.ndarray  # unit, in the floor plane, from the heel end toward the toe end
    angle_deg: float  # between `direction` and the facing direction
    length_m: float  # extent along the foot's axis
    width_m: float  # extent across it
    toe_ahead_m: float  # how far the toe end is in front of the ankle, along the facing direction


def foot_axis(mesh: Mesh, joints: dict, side: str, facing=FORWARD, radius_m: float = 0.2,
              sole_m: float = 0.035) -> FootAxis | None:
    """The foot of `side` as the mesh has it: the surface within `sole_m` of the lowest point near the
    ankle (below the ankle joint, within `radius_m` of it horizontally and nearer to it than to the
    other ankle: the sole, below any trouser hem), projected on the floor. Its long axis is the
    principal direction of those points, pointing toward the end farther from the ankle (the toes).
    None when the mesh has nothing there."""
    other = "r" if side == "l" else "l"
    ankle, ankle2 = np.asarray(joints[f"ankle_{side}"]), np.asarray(joints[f"ankle_{other}"])
    pts = _samples(mesh)
    xy = pts[:, :2]
    d = np.linalg.norm(xy - ankle[:2], axis=1)
    near = (pts[:, 2] < ankle[2]) & (d < radius_m) & (d < np.linalg.norm(xy - ankle2[:2], axis=1))
    if near.sum() < 20:
        return None
    sel = near & (pts[:, 2] < pts[near, 2].min() + sole_m)
    if sel.sum() < 3:  # a lone spike below the rest is no sole
        return None
    p = xy[sel] - xy[sel].mean(axis=0)
    axes = np.linalg.svd(p, full_matrices=False)[2]
    along, across = p @ axes[0], p @ axes[1]
    direction = axes[0]
    ends = xy[sel].mean(axis=0) + np.outer([along.min(), along.max()], direction)
    if np.linalg.norm(ends[0] - ankle[:2]) > np.linalg.norm(ends[1] - ankle[:2]):
        direction = -direction
    facing = np.asarray(facing, float)[:2] / np.linalg.norm(np.asarray(facing, float)[:2])
    toe = max(ends, key=lambda e: np.linalg.norm(e - ankle[:2]))
    return FootAxis(direction, float(np.degrees(np.arccos(np.clip(direction @ facing, -1, 1)))),
                    float(np.ptp(along)), float(np.ptp(across)), float((toe - ankle[:2]) @ facing))


def feet_point_forward(mesh: Mesh, joints: dict, facing=FORWARD, max_angle_deg: float = 30.0,
                       min_length_m: float = 0.18) -> bool:
    """True when both feet are long (>= min_length_m), longer than wide (by 1.6x), their long axis
    within max_angle_deg of the facing direction, and the toes at least 8 cm ahead of the ankle."""
    for side in ("l", "r"):
        f = foot_axis(mesh, joints, side, facing)
        if f is None or f.angle_deg > max_angle_deg or f.length_m < min_length_m \
                or f.length_m < 1.6 * f.width_m or f.toe_ahead_m < 0.08:
            return False
    return True


# --- the head ----------------------------------------------------------------------------------


def head_back_roundness(mesh: Mesh, joints: dict) -> float:
    """How far the head reaches behind the ears for its width: in the horizontal section through the
    head's centre (joint `head`, at the ears), the depth of the head's piece behind the ears' plane
    (y = the joint's y) divided by half the piece's width there. A head is longer than it is wide and
    reaches farther behind the ears than half its width (about 1.1-1.4, hair included); a flattened
    back gives less, a flat wall just behind the ears about 0."""
    head = np.asarray(joints["head"])
    sec = horizontal_section(mesh, float(head[2]))
    labels, _ = ndimage.label(sec.inside, structure=np.ones((3, 3)))
    piece = labels == _component_at(labels, sec.index(head))
    rows, cols = np.nonzero(piece)
    if rows.size == 0:
        return 0.0
    ear_row = sec.index(head)[0]
    at_ears = cols[rows == ear_row]
    half_width = (np.ptp(at_ears) + 1) * sec.pixel / 2 if at_ears.size else (np.ptp(cols) + 1) * sec.pixel / 2
    depth_behind = max(0.0, sec.y0 + (rows.max() + 1) * sec.pixel - head[1])
    return float(depth_behind / half_width)


def back_of_head_is_round(mesh: Mesh, joints: dict, threshold: float = 1.0) -> bool:
    """True when head_back_roundness reaches `threshold` and the back half of the section is convex
    (its area at least 90 % of its convex hull's)."""
    if head_back_roundness(mesh, joints) < threshold:
        return False
    head = np.asarray(joints["head"])
    sec = horizontal_section(mesh, float(head[2]))
    labels, _ = ndimage.label(sec.inside, structure=np.ones((3, 3)))
    piece = labels == _component_at(labels, sec.index(head))
    piece[: sec.index(head)[0]] = False  # keep what is behind the ears (rows grow toward +Y, the back)
    rows, cols = np.nonzero(piece)
    if rows.size < 10:
        return False
    from scipy.spatial import ConvexHull

    hull = ConvexHull(np.stack([cols, rows], axis=1) + 0.5)
    return bool(rows.size >= 0.9 * hull.volume)
