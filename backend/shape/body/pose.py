"""The person's pose in the photo: mediapipe Pose's 33 landmarks, in pixels and in metres.

Only `model_complexity=1` is used: it is the one whose model ships inside the mediapipe wheel
(0 and 2 download theirs at run time, which fails offline). One person per photo.

Frames: `pixels` are continuous (u, v) coordinates of the image given (u right, v down);
`world` is mediapipe's metric estimate, origin between the hips, converted to our camera
frame (x right, y up, z toward the camera) so that depth differences between joints (which
knee, hand or foot is nearer the camera) read the same way as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# mediapipe's landmark indices (mp.solutions.pose.PoseLandmark), "left" being the person's left.
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR, MOUTH_LEFT, MOUTH_RIGHT = 0, 2, 5, 7, 8, 9, 10
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 11, 12, 13, 14, 15, 16
LEFT_PINKY, RIGHT_PINKY, LEFT_INDEX, RIGHT_INDEX = 17, 18, 19, 20  # the knuckles at the fingers' roots
LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 23, 24, 25, 26, 27, 28
LEFT_HEEL, RIGHT_HEEL, LEFT_FOOT_INDEX, RIGHT_FOOT_INDEX = 29, 30, 31, 32
LANDMARK_COUNT = 33


@dataclass
class PoseLandmarks:
    pixels: np.ndarray  # (33, 2) continuous pixel coordinates in the image given
    visibility: np.ndarray  # (33,) mediapipe's visibility in [0, 1]
    world: np.ndarray  # (33, 3) metres, camera-aligned (x right, y up, z toward the camera), hips at 0

    def visible(self, index: int, threshold: float = 0.5) -> bool:
        return bool(self.visibility[index] >= threshold)


def detect_pose(rgb: np.ndarray) -> PoseLandmarks | None:
    """The landmarks of the person in `rgb` (uint8 H x W x 3), or None when no pose is found."""
    import mediapipe as mp

    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False) as pose:
        found = pose.process(rgb)
    if found.pose_landmarks is None or found.pose_world_landmarks is None:
        return None
    h, w = rgb.shape[:2]
    image = found.pose_landmarks.landmark
    metric = found.pose_world_landmarks.landmark
    pixels = np.array([[p.x * w, p.y * h] for p in image], np.float64)
    visibility = np.array([p.visibility for p in image], np.float64)
    # mediapipe: x right, y down, z away from the camera -> ours: x right, y up, z toward it.
    world = np.array([[p.x, -p.y, -p.z] for p in metric], np.float64)
    return PoseLandmarks(pixels, visibility, world)
