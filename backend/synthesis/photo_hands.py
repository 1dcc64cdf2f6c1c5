"""Which of the photo's pixels show each hand, read from the photo itself, not from the fitted body.

The fitted hand lies a few centimetres off the photo's: the fit matches the wrist and the knuckles,
not the fingers' outline, and a mitten of a hand or a fist looks little like Anny's open one. Where the
photo's hand lies over the dressed surface of something else (a skirt's side, the waist under hands on
hips), that surface took the hand's colour all the way round, and the fitted hand took the skirt's or the
trousers'. Mediapipe's pose gives each hand's wrist and the knuckles of the index and little fingers;
the hand is the pixels round them of the colour at the knuckles, inside a capsule from the wrist on to
where the fingertips can reach. The colour is the hand's, bare or gloved; a sleeve over the hand gives
the sleeve's, which is what the photo shows there too.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..shape.body.pose import LEFT_INDEX, LEFT_PINKY, LEFT_WRIST, RIGHT_INDEX, RIGHT_PINKY, RIGHT_WRIST

HAND_LANDMARKS = {"L": (LEFT_WRIST, LEFT_INDEX, LEFT_PINKY), "R": (RIGHT_WRIST, RIGHT_INDEX, RIGHT_PINKY)}
MIN_VISIBILITY = 0.5  # a hand mediapipe only guesses at (in a pocket, behind the back) is left alone
# The capsule, in wrist-to-knuckles lengths: the fingertips lie about twice as far from the wrist as the
# knuckles, and a hand is about as wide as it is long to the knuckles (more with the thumb out).
REACH = 2.2
HALF_WIDTH = 0.75
# mediapipe's wrist lies a little inside the hand as often as at its root: the capsule starts this far
# behind it, cut square there (a bare forearm beyond is not the hand).
BEHIND_WRIST = 0.3
# The colour at the knuckles: the median over a disk this wide (wrist-to-knuckles lengths).
SAMPLE_RADIUS = 0.35
# How far a pixel's colour may be from the knuckles' (CIELAB, lightness counting half: a hand is
# shaded across its back and fingers).
COLOUR_TOLERANCE = 16.0
MIN_LENGTH_PX = 3.0  # wrist and knuckles closer than this: no direction to follow


def find_photo_hands(rgb: np.ndarray, mask: np.ndarray, landmarks: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per side ("L", "R": the person's left and right), an (H, W) bool mask of the pixels showing that hand.

    `rgb`: uint8 (H, W, 3); `mask`: the person; `landmarks`: (33, 3) mediapipe's (u, v, visibility) in the
    same pixels, or None. A hand mediapipe does not see, or whose knuckles lie off the person, is absent.
    The two hands never share a pixel (where they overlap, the nearer knuckles win)."""
    if landmarks is None:
        return {}
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    lab = _lab(rgb)
    rows, cols = np.mgrid[0:h, 0:w]
    pixels = np.stack([cols + 0.5, rows + 0.5], axis=-1)
    hands, knuckle_distance = {}, {}
    for side, (wrist_i, index_i, pinky_i) in HAND_LANDMARKS.items():
        if min(landmarks[i, 2] for i in (wrist_i, index_i, pinky_i)) < MIN_VISIBILITY:
            continue
        wrist = landmarks[wrist_i, :2]
        knuckles = (landmarks[index_i, :2] + landmarks[pinky_i, :2]) / 2.0
        length = float(np.linalg.norm(knuckles - wrist))
        if length < MIN_LENGTH_PX:
            continue
        to_knuckles = np.linalg.norm(pixels - knuckles, axis=-1)
        disk = mask & (to_knuckles <= max(SAMPLE_RADIUS * length, 1.5))
        if not disk.any():  # the knuckles lie off the person
            continue
        reference = np.median(lab[disk], axis=0)
        capsule = _capsule(pixels, wrist - BEHIND_WRIST * (knuckles - wrist), wrist + REACH * (knuckles - wrist),
                           HALF_WIDTH * length)
        alike = mask & capsule & (_distance(lab, reference) <= COLOUR_TOLERANCE)
        parts, _ = ndimage.label(alike)
        seeds = np.unique(parts[alike & disk])
        hand = np.isin(parts, seeds[seeds > 0])
        if hand.any():
            hands[side] = hand
            knuckle_distance[side] = to_knuckles
    if len(hands) == 2:
        both = hands["L"] & hands["R"]
        left_nearer = knuckle_distance["L"] <= knuckle_distance["R"]
        hands["L"] &= ~(both & ~left_nearer)
        hands["R"] &= ~(both & left_nearer)
    return hands


def _capsule(pixels: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within `radius` of the segment a-b, cut square at a."""
    ab = b - a
    t = ((pixels - a) @ ab) / max(float(ab @ ab), 1e-9)
    near = np.linalg.norm(pixels - (a + np.clip(t, 0.0, 1.0)[..., None] * ab), axis=-1) <= radius
    return near & (t >= 0.0)


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3], np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _distance(lab: np.ndarray, reference: np.ndarray) -> np.ndarray:
    d = lab - reference
    return np.sqrt((0.5 * d[..., 0]) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)
