"""The shape stage with the person's true landmarks in place of mediapipe's: how far the fit and the
dressing get when the pose detector is right (`python -m lab.eval shape --true-landmarks`).

A synthetic person's joints (lab/synthetic/people.py) are written as mediapipe's 33 landmarks:
pixels in the photo (through the photo's true camera) and metric points around the mid-hips in
the camera's axes (x right, y up, z toward the camera), visibility 1. Joints the skeleton has
(shoulders, elbows, wrists, hips, knees, ankles, heels, toes) are taken as they are; the face's
points (nose, eyes, ears, mouth) are placed on the head from its centre, its facing and the head's
usual proportions. The definitions still differ from mediapipe's (its hip point sits higher and
wider than a hip joint): this is a ceiling for the detector's part, not an exact oracle.

The shape stage is then run as a user runs it, in a child process (`python -m
lab.eval.true_landmarks LANDMARKS.json shape PHOTO ...`), with the pose detector answering from
the file: the product's code has no way in for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

# Where the face's points sit on a head (metres from the head's centre): forward, up, sideways.
FACE_POINTS = {  # mediapipe index: (forward, up, toward the person's left)
    0: (0.105, -0.01, 0.0),  # nose
    1: (0.09, 0.025, 0.015), 2: (0.09, 0.025, 0.032), 3: (0.085, 0.025, 0.048),  # left eye inner, eye, outer
    4: (0.09, 0.025, -0.015), 5: (0.09, 0.025, -0.032), 6: (0.085, 0.025, -0.048),  # right eye
    7: (0.0, 0.0, 0.075), 8: (0.0, 0.0, -0.075),  # ears
    9: (0.09, -0.045, 0.025), 10: (0.09, -0.045, -0.025),  # mouth corners
}
# Body landmarks from the skeleton's joints ("l"/"r": the person's left/right).
JOINT_LANDMARKS = {
    11: "shoulder_l", 12: "shoulder_r", 13: "elbow_l", 14: "elbow_r", 15: "wrist_l", 16: "wrist_r",
    17: "hand_l", 18: "hand_r", 19: "hand_l", 20: "hand_r", 21: "hand_l", 22: "hand_r",
    23: "hip_l", 24: "hip_r", 25: "knee_l", 26: "knee_r", 27: "ankle_l", 28: "ankle_r",
    29: "heel_l", 30: "heel_r", 31: "toe_l", 32: "toe_r",
}


def true_landmarks(person, camera) -> dict:
    """The person's 33 landmarks as mediapipe would give them on `camera`'s photo (a JSON-able dict:
    photo pixels, world points, visibility)."""
    j = person.joints
    facing = person.yaw @ np.array([0.0, -1.0, 0.0])
    left = person.yaw @ np.array([1.0, 0.0, 0.0])
    up = np.array([0.0, 0.0, 1.0])
    points = np.zeros((33, 3))
    for index, (forward, lift, side) in FACE_POINTS.items():
        points[index] = j["head"] + forward * facing + lift * up + side * left
    for index, joint in JOINT_LANDMARKS.items():
        points[index] = j[joint]
    pixels, _ = camera.project(points)
    rotation = np.asarray(camera.world_to_camera)[:3, :3]  # camera axes: x right, y up, z toward the viewer
    world = (points - (j["hip_l"] + j["hip_r"]) / 2) @ rotation.T
    return {"pixels": np.asarray(pixels).tolist(), "world": world.tolist(), "visibility": [1.0] * 33}


def main(argv: list[str]) -> int:
    """LANDMARKS.json, then the backend's own command line: run it with the pose detector answering
    from the file (pixels given in the original photo, moved into the working crop)."""
    from backend import cli, pipeline
    from backend.shape.body import pose

    given = json.loads(Path(argv[0]).read_text())
    crops = []
    real_crop = pipeline.crop_to_working

    def crop_to_working(*args, **kwargs):
        crops.append(real_crop(*args, **kwargs))
        return crops[-1]

    def detect_pose(rgb):
        crop = crops[-1]
        pixels = (np.asarray(given["pixels"]) - [crop.x0, crop.y0]) * crop.scale
        return pose.PoseLandmarks(pixels, np.asarray(given["visibility"]), np.asarray(given["world"]))

    pipeline.crop_to_working = crop_to_working
    pose.detect_pose = detect_pose
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
