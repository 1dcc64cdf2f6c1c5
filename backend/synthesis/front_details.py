"""Where the photo shows something the back of the clothes will not: front-only details.

A shirt's back is the shirt, without the badge on its chest, the tie down its middle or the
zip of a coat. Two detectors work on the photo, both from the pose's shoulders and hips:

- prints: small patches of the torso that stand out from their row's colour (a badge, a logo,
  buttons, a hand across the belly); long bands are kept, since a stripe or a hem runs round;
- closures: a tall, narrow band down the body's middle line (a tie, a zip, a placket, the shirt
  between an open jacket's fronts), told apart from the garment by comparing each pixel with the
  same row's colour a little to either side of the middle, where the band does not reach.

The back view leaves these pixels out and the inpainter fills their place from the same height.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
# A pixel is a detail when it differs from its reference colour by this much (0-1 scale, any channel).
DETAIL_COLOUR_STEP = 0.12
# A print is a patch smaller than this share of the torso's height and width (a long band is a
# garment's structure, not a print).
DETAIL_MAX_SHARE = 0.5
# Closures: searched within this share of the half shoulder-width of the middle line, and compared
# with the same row's colour between REFERENCE_BAND of it on either side. They run from the
# shoulders down to CLOSURE_REACH torso lengths below the hips (a coat's zip runs to its hem).
CLOSURE_HALF_BAND = 0.3
REFERENCE_BAND = (0.4, 0.8)
CLOSURE_REACH = 1.2
# A closure is at least this share of the torso's length tall and starts in the upper half of the
# torso (at the collar: the shadow between the legs starts at the crotch); more than MAX_CLOSURES
# such bands side by side are a pattern (vertical stripes), which does run round, so none is left out.
CLOSURE_MIN_LENGTH = 0.25
CLOSURE_STARTS_ABOVE = 0.5
MAX_CLOSURES = 2


def confident_torso(landmarks_working: np.ndarray | None) -> np.ndarray | None:
    """(4, 2) pixel positions of the left and right shoulder, right and left hip, or None."""
    joints = [LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP]
    if landmarks_working is None or not np.all(landmarks_working[joints, 2] > 0.3):
        return None
    return np.asarray(landmarks_working[joints, :2], np.float64)


def torso_polygon_mask(shape: tuple[int, ...], landmarks_working: np.ndarray | None) -> np.ndarray | None:
    """Pixels between the pose's shoulders and hips, or None without confident landmarks."""
    corners = confident_torso(landmarks_working)
    if corners is None:
        return None
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(corners).astype(np.int32)], 1)
    return out.astype(bool)


def front_only_details(rgb: np.ndarray, known: np.ndarray, landmarks_working: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: pixels of the photo that the back of the clothes will not show."""
    return print_details(rgb, known, landmarks_working) | closure_details(rgb, known, landmarks_working)


def print_details(rgb: np.ndarray, known: np.ndarray, landmarks_working: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: small torso patches that stand out from their row (badges, logos, buttons)."""
    details = np.zeros(known.shape, bool)
    torso = torso_polygon_mask(known.shape, landmarks_working)
    if torso is None:
        return details
    torso &= known
    rows = np.nonzero(torso.any(axis=1))[0]
    if len(rows) < 4:
        return details
    colours = rgb.astype(np.float32) / 255.0
    deviant = np.zeros_like(details)
    for r in rows:
        cols = np.nonzero(torso[r])[0]
        step = np.abs(colours[r, cols] - np.median(colours[r, cols], axis=0)).max(axis=1)
        deviant[r, cols] = step > DETAIL_COLOUR_STEP
    torso_h = np.ptp(rows) + 1
    torso_w = np.ptp(np.nonzero(torso.any(axis=0))[0]) + 1
    labels, _ = ndimage.label(deviant)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        if h < DETAIL_MAX_SHARE * torso_h and w < DETAIL_MAX_SHARE * torso_w:
            details[box] |= labels[box] == i
    # A ring of blended pixels surrounds a print: leave it out too.
    return ndimage.binary_dilation(details, iterations=2) & torso


def closure_details(rgb: np.ndarray, known: np.ndarray, landmarks_working: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: a tall, narrow band down the body's middle line that the row's garment does not
    share (a tie, a zip, a placket)."""
    details = np.zeros(known.shape, bool)
    corners = confident_torso(landmarks_working)
    if corners is None:
        return details
    shoulders, hips = corners[:2].mean(axis=0), corners[2:].mean(axis=0)
    torso_len = float(hips[1] - shoulders[1])
    half_width = 0.5 * max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3]))
    if torso_len < 8 or half_width < 4:  # upside down, lying, or too small to tell
        return details
    h, w = known.shape
    top, bottom = max(int(shoulders[1]), 0), min(int(hips[1] + CLOSURE_REACH * torso_len), h - 1)
    colours = rgb.astype(np.float32) / 255.0
    cols = np.arange(w)
    deviant = np.zeros_like(details)
    for r in range(top, bottom + 1):
        # The middle line runs from between the shoulders to between the hips, and on below them.
        centre = shoulders[0] + (r - shoulders[1]) / torso_len * (hips[0] - shoulders[0])
        offset = np.abs(cols + 0.5 - centre) / half_width
        band = known[r] & (offset < CLOSURE_HALF_BAND)
        reference = known[r] & (offset >= REFERENCE_BAND[0]) & (offset <= REFERENCE_BAND[1])
        if not band.any() or reference.sum() < 4:
            continue
        garment = np.median(colours[r, reference], axis=0)
        deviant[r, band] = np.abs(colours[r, band] - garment).max(axis=1) > DETAIL_COLOUR_STEP
    labels, _ = ndimage.label(deviant, structure=np.ones((3, 3)))
    starts_by = shoulders[1] + CLOSURE_STARTS_ABOVE * torso_len
    tall = [i for i, box in enumerate(ndimage.find_objects(labels), start=1)
            if box[0].stop - box[0].start >= CLOSURE_MIN_LENGTH * torso_len and box[0].start <= starts_by]
    if not tall or len(tall) > MAX_CLOSURES:
        return details
    details = np.isin(labels, tall)
    return ndimage.binary_dilation(details, iterations=2) & known
