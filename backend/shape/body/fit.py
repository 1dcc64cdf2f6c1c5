"""Fitting the Anny body to one photo: pose, placement and camera tilt through a pinhole camera.

The fit works in "fit space": the camera sits at the origin looking along +Y with Z up
(a photographer's level camera, tilted by `pitch` about its X axis), and the body stands
somewhere in front of it (Anny's rest frame: Z up, facing -Y, toward the camera). A world
point P projects as

    P' = R_x(pitch) P,   u = f P'_x / P'_y + cx,   v = -f P'_z / P'_y + cy     (working pixels)

What the fit minimises (each term normalised by the body's height in pixels, so the weights
do not depend on the photo's size):

- keypoints: Anny's regressed keypoints projected onto mediapipe's landmarks (LANDMARKS),
  weighted by each landmark's visibility and by how well the two definitions agree;
- knuckles: the heads of Anny's index and little finger bones onto mediapipe's index and pinky
  points (KNUCKLES), which turn each hand at its wrist (the fit's last stage only);
- limb directions in depth: the direction of each bone in the camera's axes against the same
  from mediapipe's metric world landmarks (LIMBS). The 2D term fixes a limb's direction across
  the image; this one says whether a knee, hand or foot comes toward the camera or goes away;
- inside the mask: body vertices projecting outside the person mask are pulled in (clothes
  may stand out from the body, the body may not stand out of the person);
- human limits: knees and elbows are hinges that bend one way, the spine and neck bend
  little, the pelvis is upright unless the photo says otherwise, and the trunk stands over the
  feet front to back (balance);
- one floor: the heels and toes of the feet the person stands on (`supporting_feet`) are at one
  height in the world, so those feet rest flat on the same ground;
- straight legs: a leg whose knee mediapipe's 3D reads as bent less than STRAIGHT_KNEE_READING_DEG
  is held straight (knee and hip), and mediapipe's direction for its thigh and shin is not used:
  its 3D reads straight standing legs as bent 15-35 degrees at the knee with the thigh forward,
  and the fit turned that into a crouch (a jump's or a raised knee's 65-85 degrees are kept).

The camera's tilt is left free: a photographer's look-down and a person's lean look alike in one
photo, and people stand straighter than cameras are held. The body is posed in the tilted
camera's own axes, so the image terms do not depend on the tilt at all: the tilt only says where
the world's vertical is for the priors (upright pelvis, balance), and it follows the body at no
cost in the image. (Posed in the world instead, tilting the camera meant turning the body about
the camera at the same time, and Adam stopped 2-8 degrees short of the look-down on every person
though the true one fits better.)

The height phenotype is set from the person's height and kept; the other phenotypes stay at
Anny's average (the dressing step, not the body, takes the person's girth from the outline).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from . import pose as mp
from .model import FIT_BONES, BodyModel

# mediapipe landmark -> Anny COCO keypoint, and how far the two agree (hips and ears are
# defined differently: 6-10 px apart on a 1024 px photo; the face points are small targets).
LANDMARKS = (
    (mp.NOSE, "nose", 0.5), (mp.LEFT_EYE, "left_eye", 0.3), (mp.RIGHT_EYE, "right_eye", 0.3),
    (mp.LEFT_EAR, "left_ear", 0.3), (mp.RIGHT_EAR, "right_ear", 0.3),
    (mp.LEFT_SHOULDER, "left_shoulder", 1.0), (mp.RIGHT_SHOULDER, "right_shoulder", 1.0),
    (mp.LEFT_ELBOW, "left_elbow", 1.0), (mp.RIGHT_ELBOW, "right_elbow", 1.0),
    (mp.LEFT_WRIST, "left_wrist", 1.0), (mp.RIGHT_WRIST, "right_wrist", 1.0),
    (mp.LEFT_HIP, "left_hip", 0.6), (mp.RIGHT_HIP, "right_hip", 0.6),
    (mp.LEFT_KNEE, "left_knee", 1.0), (mp.RIGHT_KNEE, "right_knee", 1.0),
    (mp.LEFT_ANKLE, "left_ankle", 1.0), (mp.RIGHT_ANKLE, "right_ankle", 1.0),
    (mp.LEFT_HEEL, "left_heel", 0.7), (mp.RIGHT_HEEL, "right_heel", 0.7),
    (mp.LEFT_FOOT_INDEX, "left_big_toe", 0.7), (mp.RIGHT_FOOT_INDEX, "right_big_toe", 0.7),
)
# Bones whose direction the world landmarks give (pairs of mediapipe landmarks), compared in the
# camera's axes, not the torso's: mediapipe tilts the torso toward the camera far more than any
# limb (a standing person's hips-to-shoulders 29 degrees, the truth 7: the camera's look-down), so
# in the torso's frame arms hanging straight down read as reaching 20-30 cm forward.
LIMBS = (
    (mp.LEFT_SHOULDER, mp.LEFT_ELBOW), (mp.LEFT_ELBOW, mp.LEFT_WRIST),
    (mp.RIGHT_SHOULDER, mp.RIGHT_ELBOW), (mp.RIGHT_ELBOW, mp.RIGHT_WRIST),
    (mp.LEFT_HIP, mp.LEFT_KNEE), (mp.LEFT_KNEE, mp.LEFT_ANKLE), (mp.LEFT_HEEL, mp.LEFT_FOOT_INDEX),
    (mp.RIGHT_HIP, mp.RIGHT_KNEE), (mp.RIGHT_KNEE, mp.RIGHT_ANKLE), (mp.RIGHT_HEEL, mp.RIGHT_FOOT_INDEX),
    (mp.RIGHT_EAR, mp.LEFT_EAR),  # the head's turn; not its bow: mediapipe puts the nose far too far forward
)
# The hands' knuckles (mediapipe's index and pinky points, at the fingers' roots) -> the heads of Anny's
# index and little finger bones, 9-10 cm from the wrist: they turn the hand at the wrist, which the
# COCO keypoints leave at Anny's rest (a hanging hand bent in toward the thigh, fingers spread over a
# skirt or a waist where the photo's hand points on down the forearm). Fitted after the placement, in
# the image only: mediapipe's 3D for the fingers is no better than its wrists'.
KNUCKLES = ((mp.LEFT_INDEX, "finger2-1.L", "left_index"), (mp.LEFT_PINKY, "finger5-1.L", "left_pinky"),
            (mp.RIGHT_INDEX, "finger2-1.R", "right_index"), (mp.RIGHT_PINKY, "finger5-1.R", "right_pinky"))
KNUCKLE_WEIGHT = 0.5  # as the face's points: small targets a few pixels apart
TORSO = (mp.LEFT_SHOULDER, mp.RIGHT_SHOULDER, mp.LEFT_HIP, mp.RIGHT_HIP)
LEG_LANDMARKS = {"L": (mp.LEFT_HIP, mp.LEFT_KNEE, mp.LEFT_ANKLE), "R": (mp.RIGHT_HIP, mp.RIGHT_KNEE, mp.RIGHT_ANKLE)}
# Landmarks a whole-body fit needs to see (else the photo shows part of a person).
REQUIRED = (mp.LEFT_SHOULDER, mp.RIGHT_SHOULDER, mp.LEFT_HIP, mp.RIGHT_HIP, mp.LEFT_KNEE, mp.RIGHT_KNEE,
            mp.LEFT_ANKLE, mp.RIGHT_ANKLE)

# Allowance for hair and shoes: the person's height (top of the hair to the soles of the shoes)
# is this much more than the bare body's standing height.
HAIR_AND_SHOES_M = 0.03

# Convergence test: the mean keypoint error (fraction of the body's height in pixels) and the
# share of body vertices inside the person mask a fit must reach to be used.
MAX_MEAN_RESIDUAL = 0.035
MIN_INSIDE_FRACTION = 0.85

STEPS_PLACEMENT, STEPS_ARTICULATE, STEPS_POSE = 60, 60, 240

# Term weights (the terms themselves are normalised; see the module docstring). A standing body
# is upright and the camera's tilt is free: the photo's perspective and the priors split the
# look-down between the two, and a person stands straighter than a camera is held.
LIMB_WEIGHT = 0.005
UPRIGHT_WEIGHT = 0.1
CAMERA_TILT_WEIGHT = 0.0005
# The spine bends little: with less, the fit leaned the trunk forward 6 degrees on average to
# meet mediapipe's bent legs (lab/eval/pose_checks.py, docs/evaluation.md).
SPINE_WEIGHT = 0.05
# A leg whose knee mediapipe reads as bent less than this is held straight (module docstring).
STRAIGHT_KNEE_READING_DEG = 35.0
STRAIGHT_LEG_WEIGHT = 0.002

# The trunk over the feet, front to back (losses: the squared distance as a fraction of the stature).
BALANCE_WEIGHT = 1.0
# The soles of the feet the person stands on rest on one floor: each supporting foot's heel and big
# toe at the same height, relative to where they sit on Anny's rest feet (the loss: the heights'
# variance as a fraction of the stature squared). Without it the feet's pitch was the image's
# guess: toes 4-5 cm above the heels (a_pose) or heels 4-5 cm above the toes (walking, turned_30).
FLOOR_WEIGHT = 10.0

# Arm segments the fit may lengthen or shorten, the same on both sides, by up to STRETCH_LIMIT of
# their length: Anny's upper arm (its COCO shoulder to elbow keypoints) is 0.159 of the stature
# whatever the phenotypes, against 0.186 in anthropometric tables (and mediapipe's landmarks agree
# with the tables on our figures), so a straight arm fell short of the photo's wrist. Each
# segment's joints (child bone, its parent) move apart along the segment, the stretch shared out
# between them; the rest pose keeps the stretched lengths (`rest_bone_matrices`).
STRETCH_SEGMENTS = {
    "upper_arm": (("upperarm02", "upperarm01"), ("lowerarm01", "upperarm02")),
    "forearm": (("lowerarm02", "lowerarm01"), ("wrist", "lowerarm02")),
}
STRETCH_LIMIT = 0.25
STRETCH_WEIGHT = 0.002

HINGE_WEIGHT = 0.02
INSIDE_WEIGHT = 0.5
# Arms and legs are pulled toward Anny's rest pose only a little: at 1e-4 the pull outweighed the
# elbows' places in the image, and arms held out (hands on hips) stopped short of their elbows with
# the hands swung toward the camera. A foot's pitch, which the image hardly shows, keeps the
# stronger pull (with less, the toes rose off the floor).
REST_WEIGHT = 1e-5
FEET_REST_WEIGHT = 1e-4
# The hand's turn about the line from the wrist to the knuckles, and how far it bends toward or away
# from the camera, the two knuckles hardly say: Anny's rest hand keeps them.
WRIST_REST_WEIGHT = 1e-4


# How far a joint turns (radians, Anny's world-aligned "local-ref" axes: x across the body, y front
# to back, z up), where the rest pose is 0. The hip flexes far forward (-x) but extends little
# behind (+x); the ankle points the toes down more than up. Unlisted axes and bones: free.
JOINT_LIMITS = {
    "spine04": ((-0.5, -0.4, -0.5), (0.5, 0.4, 0.5)), "spine02": ((-0.5, -0.4, -0.5), (0.5, 0.4, 0.5)),
    "neck01": ((-0.6, -0.5, -0.8), (0.6, 0.5, 0.8)), "head": ((-0.6, -0.5, -0.8), (0.6, 0.5, 0.8)),
    "upperleg01.L": ((-2.3, -0.9, -0.9), (0.4, 0.9, 0.9)), "upperleg01.R": ((-2.3, -0.9, -0.9), (0.4, 0.9, 0.9)),
    "foot.L": ((-0.6, -0.5, -0.6), (1.1, 0.5, 0.6)), "foot.R": ((-0.6, -0.5, -0.6), (1.1, 0.5, 0.6)),
    "wrist.L": ((-1.2, -1.2, -1.2), (1.2, 1.2, 1.2)), "wrist.R": ((-1.2, -1.2, -1.2), (1.2, 1.2, 1.2)),
}
JOINT_LIMIT_WEIGHT = 0.05


def joint_limits() -> tuple[list, list]:
    """(lower, upper) bounds (len(FIT_BONES), 3) for the rotation vectors; infinite where free."""
    free = (-np.inf,) * 3, (np.inf,) * 3
    bounds = [JOINT_LIMITS.get(b, free) for b in FIT_BONES]
    return [lo for lo, _ in bounds], [hi for _, hi in bounds]


def camera_axes(directions):
    """mediapipe's metric directions (N, 3: x right, y up, z toward the camera) as unit vectors in the
    tilted camera's own axes, the fit's (x right, y ahead, z up)."""
    torch = _torch()
    return unit(torch.stack([directions[:, 0], -directions[:, 2], directions[:, 1]], dim=1))


def unit(vectors):
    return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-9)


def supporting_feet(landmarks: mp.PoseLandmarks, body_px: float) -> list[str]:
    """The feet the person stands on, as the photo shows them: below their knee, and as low in the
    image as the lowest foot (within 3 % of the body's height). None for a jump's tucked feet."""
    px = landmarks.pixels
    feet = {"left": (mp.LEFT_KNEE, mp.LEFT_ANKLE, mp.LEFT_HEEL, mp.LEFT_FOOT_INDEX),
            "right": (mp.RIGHT_KNEE, mp.RIGHT_ANKLE, mp.RIGHT_HEEL, mp.RIGHT_FOOT_INDEX)}
    lowest = {side: max(px[i, 1] for i in ids[1:]) for side, ids in feet.items()}
    floor = max(lowest.values())
    return [side for side, (knee, ankle, _, _) in feet.items()
            if px[ankle, 1] > px[knee, 1] + 0.05 * body_px and lowest[side] >= floor - 0.03 * body_px]


def bend_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """How far the chain a-b-c bends at b, in radians: 0 when straight."""
    u, v = b - a, c - b
    return float(np.arccos(np.clip(u @ v / max(float(np.linalg.norm(u) * np.linalg.norm(v)), 1e-12), -1.0, 1.0)))


def straight_legs(landmarks: mp.PoseLandmarks) -> list[str]:
    """The legs ("L", "R") whose knee mediapipe's 3D reads as bent less than STRAIGHT_KNEE_READING_DEG."""
    w = landmarks.world
    return [side for side, (hip, knee, ankle) in LEG_LANDMARKS.items()
            if np.degrees(bend_angle(w[hip], w[knee], w[ankle])) < STRAIGHT_KNEE_READING_DEG]


def _torch():
    import torch

    return torch


@dataclass
class Intrinsics:
    """A pinhole camera in working-image pixels (square pixels)."""

    f: float
    cx: float
    cy: float


@dataclass
class BodyFit:
    vertices: np.ndarray  # (V, 3) posed body in fit space
    faces: np.ndarray  # (F, 3)
    keypoints: np.ndarray  # (23, 3) Anny's COCO keypoints in fit space
    keypoint_labels: list[str]
    bone_matrices: np.ndarray  # (bones, 4, 4) posed bones in fit space: rotation (Y along the bone) and head
    bone_lengths: np.ndarray  # (bones,) head to tail, metres at the body's own scale
    rest_bone_matrices: np.ndarray  # (bones, 4, 4) Anny's rest pose (A-pose), same phenotype, pelvis at 0
    rotvecs: np.ndarray  # (len(FIT_BONES), 3) Anny "local-ref" rotation vectors
    translation: np.ndarray  # (3,) Anny's origin (the pelvis) in fit space
    pitch: float  # camera tilt about its X axis, radians (positive: looking down)
    phenotypes: dict[str, float]
    stature: float  # the body's standing height (metres), rest pose, barefoot
    residuals_px: dict[str, float]  # per landmark used, pixels in the working image
    mean_residual: float  # fraction of the body's height in pixels
    inside_fraction: float
    seconds: float
    converged: bool
    why: str = ""  # plain words when not converged
    stretch: dict[str, float] = field(default_factory=dict)  # STRETCH_SEGMENTS: fraction of Anny's length added
    losses: dict[str, float] = field(default_factory=dict)


def hinge_axes(body: BodyModel, phenotypes) -> dict[str, tuple[np.ndarray, float]]:
    """Per knee and elbow: the unit axis (Anny's rest frame) about which it bends the natural way,
    and how far it is already bent in Anny's rest pose (radians; the joint may straighten that much).

    Knees: +X (the shin swings back). Elbows: the axis that brings the forearm forward (-Y) from
    the rest A-pose, perpendicular to the upper arm.
    """
    torch = body.torch
    with torch.no_grad():
        out = body.forward_keypoints(body.zero_pose(), phenotypes)
    k = out["keypoints"].numpy().astype(np.float64)
    at = {label: k[i] for i, label in enumerate(body.keypoint_labels)}

    def flexion(a, b, c):
        return bend_angle(at[a], at[b], at[c])

    axes = {}
    for side, name in (("L", "left"), ("R", "right")):
        knee = flexion(f"{name}_hip", f"{name}_knee", f"{name}_ankle")
        axes[f"lowerleg01.{side}"] = (np.array([1.0, 0.0, 0.0]), knee)
        upper = at[f"{name}_elbow"] - at[f"{name}_shoulder"]
        axis = np.cross(upper, [0.0, -1.0, 0.0])
        axes[f"lowerarm01.{side}"] = (axis / np.linalg.norm(axis),
                                      flexion(f"{name}_shoulder", f"{name}_elbow", f"{name}_wrist"))
    return axes


def height_phenotype(body: BodyModel, stature_m: float) -> float:
    """The `height` phenotype whose rest body is `stature_m` tall (clamped to Anny's range)."""
    lo, hi = body.stature(body.phenotypes(0.0)), body.stature(body.phenotypes(1.0))
    return float(np.clip((stature_m - lo) / (hi - lo), 0.0, 1.0))  # stature is linear in it


def tilt(points, pitch):
    """Fit-space points (N, 3) in the axes of a camera tilted down by `pitch`: R_x(pitch) P (module docstring)."""
    torch = _torch()
    c, s = torch.cos(pitch), torch.sin(pitch)
    return torch.stack([points[:, 0], c * points[:, 1] - s * points[:, 2], s * points[:, 1] + c * points[:, 2]], dim=1)


def untilt_root(rotvec, pitch):
    """The root's rotation vector in fit space for one given in the tilted camera's axes: R_x(-pitch) R."""
    import roma

    torch = _torch()
    c, s = torch.cos(pitch), torch.sin(pitch)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    back = torch.stack([torch.stack([one, zero, zero]), torch.stack([zero, c, s]), torch.stack([zero, -s, c])])
    return roma.rotmat_to_rotvec(back @ roma.rotvec_to_rotmat(rotvec))


def _outside_distance(mask: np.ndarray) -> np.ndarray:
    """Pixels outside the mask: distance to it; inside: 0."""
    return ndimage.distance_transform_edt(~mask).astype(np.float32)


def _initial_yaw(landmarks: mp.PoseLandmarks) -> float:
    """Rotation about the vertical that turns Anny's shoulders and hips like the person's."""
    w = landmarks.world
    across = (w[mp.LEFT_SHOULDER] - w[mp.RIGHT_SHOULDER]) + (w[mp.LEFT_HIP] - w[mp.RIGHT_HIP])
    return math.atan2(-across[2], across[0])  # camera z toward the viewer is -Y in fit space


def fit_body(body: BodyModel, landmarks: mp.PoseLandmarks, mask: np.ndarray, lens: Intrinsics,
             height_m: float, steps: tuple[int, int] = (STEPS_PLACEMENT, STEPS_POSE)) -> BodyFit:
    torch = body.torch
    t_start = time.perf_counter()
    mask = np.asarray(mask, bool)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    body_px = float(rows[-1] + 1 - rows[0])

    height = height_phenotype(body, height_m - HAIR_AND_SHOES_M)
    phenotypes = body.phenotypes(height)
    label_index = {label: i for i, label in enumerate(body.keypoint_labels)}
    kp_ids = torch.tensor([label_index[a] for _, a, _ in LANDMARKS])
    target = torch.tensor(landmarks.pixels[[m for m, _, _ in LANDMARKS]], dtype=torch.float32)
    vis = landmarks.visibility[[m for m, _, _ in LANDMARKS]]
    # A landmark hidden behind the body (the feet of a jump, behind the shins) still lies on the
    # person: its place in the image counts, less. One off the person counts little.
    on_person = _near_mask(landmarks.pixels[[m for m, _, _ in LANDMARKS]], mask, 0.03 * body_px)
    trust = np.where(on_person, np.clip(vis, 0.3, 1.0), 0.1 * vis)
    kp_w = torch.tensor(np.array([w for _, _, w in LANDMARKS]) * trust, dtype=torch.float32)
    torso_only = torch.tensor([m in TORSO for m, _, _ in LANDMARKS], dtype=torch.float32)
    knuckle_ids = [m for m, _, _ in KNUCKLES]
    knuckle_bones = torch.tensor([body.bone_index[b] for _, b, _ in KNUCKLES])
    knuckle_target = torch.tensor(landmarks.pixels[knuckle_ids], dtype=torch.float32)
    on_person_knuckles = _near_mask(landmarks.pixels[knuckle_ids], mask, 0.03 * body_px)
    knuckle_vis = landmarks.visibility[knuckle_ids]
    knuckle_w = torch.tensor(KNUCKLE_WEIGHT * np.where(on_person_knuckles, np.clip(knuckle_vis, 0.3, 1.0), 0.0),
                             dtype=torch.float32)

    limb_mp = np.array(LIMBS)
    coco = {m: label_index[a] for m, a, _ in LANDMARKS}
    limb_a = torch.tensor([coco[a] for a, _ in LIMBS])
    limb_b = torch.tensor([coco[b] for _, b in LIMBS])
    world = torch.tensor(landmarks.world, dtype=torch.float32)
    d_mp = camera_axes(world[limb_mp[:, 1]] - world[limb_mp[:, 0]])
    trunk_kp = torch.tensor([coco[i] for i in TORSO])
    support = supporting_feet(landmarks, body_px)
    feet_kp = torch.tensor([label_index[f"{side}_{part}"] for side in support for part in ("ankle", "heel", "big_toe")])
    stature = height_m - HAIR_AND_SHOES_M
    sole_kp = torch.tensor([label_index[f"{side}_{part}"] for side in support for part in ("heel", "big_toe")])
    with torch.no_grad():  # how far the trunk stands behind the feet's mean when Anny stands at rest
        rest_kps = body.forward_keypoints(body.zero_pose(), phenotypes)["keypoints"]
        rest_ahead = rest_kps[trunk_kp, 1].mean() - rest_kps[feet_kp, 1].mean() if support else 0.0
        rest_sole_z = rest_kps[sole_kp, 2] if support else None
    limb_w = np.clip(np.minimum(landmarks.visibility[limb_mp[:, 0]], landmarks.visibility[limb_mp[:, 1]]), 0.3, 1.0)
    straight_sides = straight_legs(landmarks)
    for side in straight_sides:  # held straight below; mediapipe's bend of it is the bias, not the pose
        hip, knee, ankle = LEG_LANDMARKS[side]
        limb_w[[LIMBS.index((hip, knee)), LIMBS.index((knee, ankle))]] = 0.0
    limb_w = torch.tensor(limb_w, dtype=torch.float32)

    outside = torch.tensor(_outside_distance(mask))[None, None]
    h, w = mask.shape
    # A fixed subset keeps the mask term cheap; drawn by surface area (Anny's hands and face are
    # finely meshed: a third of its vertices on a few percent of its skin).
    area = body.vertex_areas
    sample = torch.tensor(np.random.default_rng(0).choice(len(area), size=3000, replace=False, p=area / area.sum()))
    axes = hinge_axes(body, phenotypes)
    hinge_ids = [FIT_BONES.index(b) for b in axes]
    straight_knees = torch.tensor([i for i, b in enumerate(axes) if b in {f"lowerleg01.{s}" for s in straight_sides}],
                                  dtype=torch.long)
    straight_hips = torch.tensor([FIT_BONES.index(f"upperleg01.{s}") for s in straight_sides], dtype=torch.long)
    limit_lo, limit_hi = (torch.tensor(np.array(v), dtype=torch.float32) for v in joint_limits())
    rest_w = torch.tensor([0.0 if i < 5 else FEET_REST_WEIGHT if b.startswith("foot")
                           else WRIST_REST_WEIGHT if b.startswith("wrist") else REST_WEIGHT
                           for i, b in enumerate(FIT_BONES)], dtype=torch.float32)
    hinge_axes_t = torch.tensor(np.stack([axes[b][0] for b in axes]), dtype=torch.float32)
    straight = torch.tensor([-axes[b][1] for b in axes], dtype=torch.float32)  # the bend of a straight limb

    # Initial placement: depth from the height, centre from the mask, turned like the shoulders.
    depth = lens.f * height_m / body_px
    rest = body.forward_keypoints(body.zero_pose(), phenotypes)["rest_vertices"].detach().numpy()
    u_c, v_c = (cols[0] + cols[-1] + 1) / 2.0, (rows[0] + rows[-1] + 1) / 2.0
    t0 = np.array([(u_c - lens.cx) * depth / lens.f, depth,
                   -(v_c - lens.cy) * depth / lens.f - (rest[:, 2].max() + rest[:, 2].min()) / 2.0])
    rotvecs = body.zero_pose()
    rotvecs[0, 2] = _initial_yaw(landmarks)
    rotvecs.requires_grad_(True)
    translation = torch.tensor(t0, dtype=torch.float32, requires_grad=True)
    pitch = torch.zeros((), requires_grad=True)
    stretch = torch.zeros(len(STRETCH_SEGMENTS), requires_grad=True)
    with torch.no_grad():
        rest_heads = body.forward_keypoints(body.zero_pose(), phenotypes)["rest_bone_poses"][:, :3, 3]
    stretch_bones, stretch_vectors, stretch_of = [], [], []
    for k, joints in enumerate(STRETCH_SEGMENTS.values()):
        for side in (".L", ".R"):
            for child, parent in joints:
                c, pa = body.bone_index[child + side], body.bone_index[parent + side]
                stretch_bones.append(c)
                stretch_vectors.append(rest_heads[c] - rest_heads[pa])
                stretch_of.append(k)
    stretch_bones, stretch_of = torch.tensor(stretch_bones), torch.tensor(stretch_of)
    stretch_vectors = torch.stack(stretch_vectors)

    def offsets():
        """(bones, 3) the heads' moves that stretch the arm segments (STRETCH_SEGMENTS)."""
        k = STRETCH_LIMIT * torch.tanh(stretch)
        moved = torch.zeros(len(body.bone_index), 3)
        return moved.index_put((stretch_bones,), k[stretch_of][:, None] * stretch_vectors)

    def project_seen(points):
        """Pixels of points given in the tilted camera's own axes (x right, y ahead, z up)."""
        y = torch.clamp(points[:, 1], min=1e-3)
        return torch.stack([lens.f * points[:, 0] / y + lens.cx, -lens.f * points[:, 2] / y + lens.cy], dim=1)

    def project(points):  # fit-space (world) points
        return project_seen(tilt(points, pitch))

    def losses(stage: str) -> dict:
        # The body is posed in the tilted camera's axes: the image terms do not depend on the tilt,
        # which only sets the world's vertical for the priors below (see `untilt_root`).
        out = body.forward_keypoints(rotvecs, phenotypes, offsets())
        verts = out["vertices"] + translation
        kps = out["keypoints"] + translation
        px = project_seen(kps[kp_ids])
        err = ((px - target) / body_px).pow(2).sum(dim=1)
        weights = kp_w * torso_only if stage == "place" else kp_w
        terms = {"keypoints": (weights * err).sum() / weights.sum().clamp(min=1e-6)}
        knuckles = project_seen(out["bone_poses"][knuckle_bones, :3, 3] + translation)
        terms["knuckles"] = ((knuckle_w * ((knuckles - knuckle_target) / body_px).pow(2).sum(dim=1)).sum()
                             / kp_w.sum().clamp(min=1e-6))
        d_body = unit(kps[limb_b] - kps[limb_a])  # the camera's axes: see losses' first comment
        terms["limbs"] = LIMB_WEIGHT * (limb_w * (1.0 - (d_body * d_mp).sum(dim=1))).sum() / limb_w.sum().clamp(1e-6)
        uv = project_seen(verts[sample])
        grid = torch.stack([uv[:, 0] / w * 2 - 1, uv[:, 1] / h * 2 - 1], dim=1)[None, None]
        off = torch.nn.functional.grid_sample(outside, grid, align_corners=False, padding_mode="border")[0, 0, 0]
        terms["inside"] = INSIDE_WEIGHT * (off / body_px).pow(2).mean()
        # Human limits. Root: upright (roll and pitch small), any turn. Spine, neck: small bends.
        r = rotvecs
        terms["upright"] = UPRIGHT_WEIGHT * untilt_root(r[0], pitch)[:2].pow(2).sum()
        terms["spine"] = SPINE_WEIGHT * r[1:5].pow(2).sum()
        bend = (r[hinge_ids] * hinge_axes_t).sum(dim=1)
        off_axis = r[hinge_ids] - bend[:, None] * hinge_axes_t
        terms["hinges"] = HINGE_WEIGHT * (off_axis.pow(2).sum() + torch.relu(straight - bend).pow(2).sum())
        terms["straight_legs"] = STRAIGHT_LEG_WEIGHT * ((bend - straight)[straight_knees].pow(2).sum()
                                                        + r[straight_hips, 0].pow(2).sum())  # x: hip flexion
        terms["limbs_rest"] = (rest_w * r.pow(2).sum(dim=1)).sum()
        terms["joint_limits"] = JOINT_LIMIT_WEIGHT * (torch.relu(limit_lo - r) + torch.relu(r - limit_hi)).pow(2).sum()
        terms["camera_tilt"] = CAMERA_TILT_WEIGHT * pitch.pow(2)
        terms["stretch"] = STRETCH_WEIGHT * (STRETCH_LIMIT * torch.tanh(stretch)).pow(2).sum()
        # Balance: the trunk stands over the feet, front to back, as Anny's does at rest (no slack: with
        # 2 % of the stature free, the standing person stood 4 cm ahead of their feet, leaning).
        if support:
            ahead_y = tilt(kps, -pitch)[:, 1]  # front to back in the world
            ahead = ahead_y[trunk_kp].mean() - ahead_y[feet_kp].mean() - rest_ahead
            terms["balance"] = BALANCE_WEIGHT * (ahead / stature).pow(2)
            sole = tilt(kps[sole_kp], -pitch)[:, 2] - rest_sole_z
            terms["floor"] = FLOOR_WEIGHT * ((sole - sole.mean()) / stature).pow(2).mean()
        else:  # in the air, or no foot under the body: nothing to balance on or stand on
            terms["balance"] = terms["floor"] = torch.zeros(())
        if stage == "place":  # where the body stands and how it is turned: the torso's landmarks only
            terms = {k: terms[k] for k in ("keypoints", "upright", "camera_tilt", "balance")}
        elif stage == "articulate":  # the limbs bent as mediapipe's 3D says, before the image has its say
            terms = {"limbs": terms["limbs"] / LIMB_WEIGHT, "hinges": terms["hinges"], "spine": terms["spine"],
                     "straight_legs": terms["straight_legs"]}
        return terms

    def run(n: int, params, lr: float, stage: str) -> dict:
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(n, 1), eta_min=lr * 0.05)
        terms = {}
        for _ in range(n):
            terms = losses(stage)
            total = sum(terms.values())
            opt.zero_grad()
            total.backward()
            if stage == "place":  # only the root moves while placing
                rotvecs.grad[1:] = 0.0
            elif stage == "articulate":  # ... and stays while the limbs bend
                rotvecs.grad[0] = 0.0
            opt.step()
            sched.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    run(steps[0], [rotvecs, translation, pitch], 0.03, "place")
    run(STEPS_ARTICULATE, [rotvecs], 0.05, "articulate")
    final = run(steps[1], [rotvecs, translation, pitch, stretch], 0.02, "fit")

    with torch.no_grad():  # from the camera's axes to fit space: the same body, its root turned by the tilt
        moved = offsets()
        seen = body.forward_keypoints(rotvecs, phenotypes, moved)["vertices"] + translation
        rotvecs[0] = untilt_root(rotvecs[0], pitch)
        out = body.forward_keypoints(rotvecs, phenotypes, moved)
        # The rest pose with the arms' own lengths: the rig's neutral pose keeps them.
        rest = body.forward_keypoints(body.zero_pose(), phenotypes, moved)
        translation[:] = (tilt(seen, -pitch) - out["vertices"]).mean(dim=0)
        verts = (out["vertices"] + translation).numpy().astype(np.float64)
        kps = out["keypoints"] + translation
        px = project(kps[kp_ids]).numpy()
        knuckle_px = project(out["bone_poses"][knuckle_bones, :3, 3] + translation).numpy()
        uv = project(torch.tensor(verts, dtype=torch.float32)).numpy()
        matrices = out["bone_poses"].numpy().astype(np.float64)
        matrices[:, :3, 3] += translation.numpy()
        rest_matrices = rest["bone_poses"].numpy().astype(np.float64)
        lengths = bone_lengths(rest_matrices, body.bone_parents, rest["vertices"].numpy().astype(np.float64),
                               body.vertex_bone)
    residuals = np.linalg.norm(px - target.numpy(), axis=1)
    knuckle_residuals = {name: round(float(r), 2) for (_, _, name), r, u in
                         zip(KNUCKLES, np.linalg.norm(knuckle_px - knuckle_target.numpy(), axis=1), on_person_knuckles,
                             strict=True) if u}
    used = on_person
    names = [a for _, a, _ in LANDMARKS]
    weights = np.array([wt for _, _, wt in LANDMARKS])
    mean_residual = float((residuals * weights)[used].sum() / max(weights[used].sum(), 1e-9) / body_px)
    inside = _inside_fraction(uv, mask, body.vertex_areas, tolerance_px=0.015 * body_px)
    converged, why = True, ""
    if mean_residual > MAX_MEAN_RESIDUAL:
        converged, why = False, (f"the body model could not be fitted to the pose (mean keypoint error "
                                 f"{100 * mean_residual:.1f}% of the body's height)")
    elif inside < MIN_INSIDE_FRACTION:
        converged, why = False, (f"the fitted body leaves the person's outline ({100 * (1 - inside):.0f}% of it "
                                 "outside)")
    return BodyFit(
        vertices=verts, faces=body.faces, keypoints=kps.numpy().astype(np.float64),
        keypoint_labels=list(body.keypoint_labels), bone_matrices=matrices, bone_lengths=lengths,
        rest_bone_matrices=rest_matrices,
        rotvecs=rotvecs.detach().numpy().astype(np.float64), translation=translation.detach().numpy().astype(float),
        pitch=float(pitch.detach()), phenotypes={k: float(v[0]) for k, v in phenotypes.items()},
        stature=body.stature(phenotypes),
        residuals_px={**{n: round(float(r), 2) for n, r, u in zip(names, residuals, used, strict=True) if u},
                      **knuckle_residuals},  # the knuckles are not in mean_residual: small targets, often hidden
        mean_residual=mean_residual, inside_fraction=inside, seconds=time.perf_counter() - t_start,
        converged=converged, why=why, losses=final,
        stretch={name: round(float(k), 4)
                 for name, k in zip(STRETCH_SEGMENTS, STRETCH_LIMIT * torch.tanh(stretch.detach()), strict=True)},
    )


def bone_lengths(rest_poses: np.ndarray, parents: np.ndarray, rest_vertices: np.ndarray,
                 vertex_bone: np.ndarray) -> np.ndarray:
    """(bones,) each bone's length (for display and tails; the skin does not depend on it).

    Up to its farthest child's head along its own axis (Y, as in Blender), counting only children
    that have children of their own; a bone with none (a fingertip, the head with its eyes) reaches
    as far along its axis as the skin it moves most. At least 2 cm.
    """
    heads, axes = rest_poses[:, :3, 3], rest_poses[:, :3, 1]
    has_child = np.zeros(len(parents), bool)
    has_child[parents[parents >= 0]] = True
    lengths = np.zeros(len(parents))
    for child, parent in enumerate(parents):
        if parent >= 0 and has_child[child]:
            lengths[parent] = max(lengths[parent], float((heads[child] - heads[parent]) @ axes[parent]))
    for bone in np.flatnonzero(lengths < 0.02):
        own = rest_vertices[vertex_bone == bone]
        reach = float(((own - heads[bone]) @ axes[bone]).max()) if len(own) else 0.0
        lengths[bone] = max(reach, 0.02)
    return lengths


def _inside_fraction(uv: np.ndarray, mask: np.ndarray, weights: np.ndarray, tolerance_px: float) -> float:
    """The share of the body's surface (by area) that projects into the mask, or within `tolerance_px`
    of it (a limb a little thicker than the person's is no failed fit: the dressing carves it)."""
    return float((_near_mask(uv, mask, tolerance_px) * weights).sum() / weights.sum())


def _near_mask(uv: np.ndarray, mask: np.ndarray, tolerance_px: float) -> np.ndarray:
    """Which pixel positions (N, 2) lie in the mask or within `tolerance_px` of it (False off the image)."""
    h, w = mask.shape
    col = np.floor(uv[:, 0]).astype(int)
    row = np.floor(uv[:, 1]).astype(int)
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    near = np.zeros(len(uv), bool)
    near[ok] = _outside_distance(mask)[row[ok], col[ok]] <= tolerance_px
    return near


def missing_landmarks(landmarks: mp.PoseLandmarks, mask: np.ndarray) -> list[str]:
    """The landmarks a whole-body fit needs that are not on the person in the photo (plain names).

    Mediapipe places every landmark, also those out of the frame: one that lands off the image or
    off the person (a portrait cut at the waist) is missing. One hidden behind the body (the feet
    of a jump, behind the shins) is still on the person, and counts.
    """
    import mediapipe

    rows = np.flatnonzero(np.asarray(mask, bool).any(axis=1))
    body_px = float(rows[-1] + 1 - rows[0]) if len(rows) else 1.0
    on_person = _near_mask(landmarks.pixels[list(REQUIRED)], np.asarray(mask, bool), 0.03 * body_px)
    names = {i: mediapipe.solutions.pose.PoseLandmark(i).name.lower().replace("_", " ") for i in REQUIRED}
    return [names[i] for i, ok in zip(REQUIRED, on_person, strict=True) if not ok]
