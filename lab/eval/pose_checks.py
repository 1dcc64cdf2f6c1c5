"""The fitted body's pose against the person's true joints: angles, not surfaces.

The shape scores (shape_metrics.py) judge the dressed mesh after aligning it to the truth, so a
posture error (knees bent, the trunk leaning) can hide behind another one (arms forward, a head
held forward) that the alignment trades it for. These compare the fitted skeleton itself
(`body.json`'s bone heads, world frame) with the true joints, and the fitted camera's look-down
with the photo's:

    knee_bend_error_deg     |fitted knee flexion - true|, mean over both legs (under a skirt too)
    lean_error_deg          the trunk's forward tilt (mid-hips to mid-shoulders, in the body's
                            own sagittal plane), fitted minus true: positive leans too far forward
    pitch_error_deg         the fitted camera's look-down minus the photo camera's
"""

from __future__ import annotations

import numpy as np

from backend.shape.body.fit import bend_angle

# The fitted body's bone whose head is each true joint (Anny's bone names).
BONE_AT = {"hip": "upperleg01", "knee": "lowerleg01", "ankle": "foot", "shoulder": "upperarm01"}
SIDES = {"l": "L", "r": "R"}


def fitted_joints(body: dict) -> dict[str, np.ndarray]:
    """The truth's joint names (hip_l, knee_r, ...) at the fitted body's bone heads (world frame)."""
    bones = body["bones"]
    return {f"{joint}_{side}": np.asarray(bones[f"{bone}.{anny_side}"]["head"], float)
            for joint, bone in BONE_AT.items() for side, anny_side in SIDES.items()}


def flexion_deg(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """How far the chain a-b-c bends at b, in degrees: 0 when straight."""
    return float(np.degrees(bend_angle(a, b, c)))


def trunk_lean_deg(joints: dict, facing: np.ndarray) -> float:
    """The trunk's tilt toward `facing` (a horizontal unit vector), degrees from the vertical."""
    up = (joints["shoulder_l"] + joints["shoulder_r"] - joints["hip_l"] - joints["hip_r"]) / 2
    return float(np.degrees(np.arctan2(up @ facing, up[2])))


def camera_pitch_deg(world_to_camera: np.ndarray) -> float:
    """How far a camera looks below the horizon (degrees; Z up)."""
    forward = -np.asarray(world_to_camera)[2, :3]
    return float(np.degrees(np.arcsin(np.clip(-forward[2] / np.linalg.norm(forward), -1.0, 1.0))))


def pose_errors(body: dict, true_joints: dict, facing: np.ndarray, fitted_camera, true_camera) -> dict:
    fitted = fitted_joints(body)
    knees = [abs(flexion_deg(*(fitted[f"{j}_{s}"] for j in ("hip", "knee", "ankle")))
                 - flexion_deg(*(true_joints[f"{j}_{s}"] for j in ("hip", "knee", "ankle")))) for s in SIDES]
    return {
        "knee_bend_error_deg": float(np.mean(knees)),
        "lean_error_deg": trunk_lean_deg(fitted, facing) - trunk_lean_deg(true_joints, facing),
        "pitch_error_deg": (camera_pitch_deg(fitted_camera.world_to_camera)
                            - camera_pitch_deg(true_camera.world_to_camera)),
    }
