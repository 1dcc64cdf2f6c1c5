"""The initial back view, made from the front photo without learned weights.

Each back pixel is a point on the body's back; it takes the photo's colour at the same
height and the same side of the body (the front seen through the back: clothes usually
look alike front and back). The head is the exception: the back of a head shows hair, not
a face, so above the chin every pixel of the head gets the colour of the photo's hair (the
top of the head). Prints, badges, buttons and a hand across the belly are front-only too:
on the torso, small patches that stand out from their row's colour are left out, and the
inpainter fills their place from the same height (stripes and hems run on round the back).
A learned back-view model can replace this behind the same call.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ..conventions import Camera
from ..raster import ViewMaps, sample_map
from .limbs import LIMBS, LimbSource

# MediaPipe pose landmark indices (nose, eyes, ears, mouth corners).
FACE_LANDMARKS = list(range(11))
LEFT_EAR, RIGHT_EAR, MOUTH_LEFT, MOUTH_RIGHT, LEFT_EYE, RIGHT_EYE = 7, 8, 9, 10, 2, 5
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
# A torso pixel is a front-only detail when it differs from its row's median colour by this
# much (0-1 scale) and belongs to a patch smaller than DETAIL_MAX_SHARE of the torso's
# height and width (a long band is a garment's structure, not a print).
DETAIL_COLOUR_STEP = 0.12
DETAIL_MAX_SHARE = 0.5
# Without landmarks: the chin sits at about 87 % of the body's height (a head is ~1/7.5 of it).
CHIN_FRACTION = 0.87


@dataclass
class HeadRegion:
    chin_z: float  # world z of the chin: above it lies the head
    half_width_m: float  # the head's half-width around its centre
    centre_x: float  # world x of the head's centre
    hair_colour: np.ndarray  # (3,) float in [0, 1]
    from_landmarks: bool


def unproject_to_middle(camera: Camera, uv: np.ndarray) -> np.ndarray:
    """World points where the rays of pixel coordinates (N, 2) cross the person's middle plane (y = 0):
    the photo's camera may be a pinhole or orthographic."""
    origins, dirs = camera.rays(uv)
    t = -origins[:, 1] / np.where(np.abs(dirs[:, 1]) < 1e-9, 1e-9, dirs[:, 1])
    return origins + t[:, None] * dirs


def find_head(photo_rgb: np.ndarray, photo_mask: np.ndarray, camera: Camera, height_m: float,
              landmarks_working: np.ndarray | None) -> HeadRegion:
    """Where the head is (in the world) and what colour its hair is, from the working photo."""
    rows, cols = np.nonzero(photo_mask)
    top_v = rows.min() + 0.0
    have = landmarks_working is not None and np.all(landmarks_working[FACE_LANDMARKS, 2] > 0.3)
    if have:
        lm = landmarks_working
        eyes_v = lm[[LEFT_EYE, RIGHT_EYE], 1].mean()
        mouth_v = lm[[MOUTH_LEFT, MOUTH_RIGHT], 1].mean()
        chin_v = mouth_v + 0.9 * (mouth_v - eyes_v)
        ears_u = lm[[LEFT_EAR, RIGHT_EAR], 0]
        centre_u, half_u = ears_u.mean(), 0.65 * abs(ears_u[0] - ears_u[1]) + 2
        chin_z = unproject_to_middle(camera, [[centre_u, chin_v]])[0, 2]
    else:
        chin_z = CHIN_FRACTION * height_m
        chin_v = sample_row_of_height(camera, chin_z)
        band = photo_mask[int(top_v) : max(int(chin_v), int(top_v) + 1)]
        head_cols = np.nonzero(band.any(axis=0))[0]
        # The head is the mask's topmost blob: take the columns of its topmost rows.
        top_rows = photo_mask[int(top_v) : int(top_v) + max(3, int(0.25 * (chin_v - top_v)))]
        top_cols = np.nonzero(top_rows.any(axis=0))[0] if top_rows.any() else head_cols
        centre_u = top_cols.mean() + 0.5
        half_u = max(np.ptp(top_cols) / 2 + 2, 0.5 * (chin_v - top_v) * 0.8)
    centre = unproject_to_middle(camera, [[centre_u, chin_v], [centre_u + half_u, chin_v]])
    half_width = abs(centre[1, 0] - centre[0, 0])

    # Hair: the photo's pixels in the top fifth of the head.
    hair_v = top_v + 0.2 * max(chin_v - top_v, 4)
    sel = (rows < hair_v) & (np.abs(cols + 0.5 - centre_u) < half_u)
    hair = np.median(photo_rgb[rows[sel], cols[sel]].astype(np.float64), axis=0) / 255.0 if sel.any() \
        else np.array([0.2, 0.15, 0.1])
    return HeadRegion(float(chin_z), float(half_width), float(centre[0, 0]), hair, bool(have))


def sample_row_of_height(camera: Camera, z: float) -> float:
    """Image row (continuous v) where the front camera sees height z on the person's axis."""
    uv, _ = camera.project(np.array([[0.0, 0.0, z]]))
    return float(uv[0, 1])


def classical_back_view(back: ViewMaps, photo_rgb: np.ndarray, photo_known: np.ndarray, photo_camera: Camera,
                        head: HeadRegion, limbs: LimbSource | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back view image (H, W, 3) float32, the pixels it filled, and the head pixels it repainted.

    `limbs` (with a fitted body): each point takes its colour from photo pixels of its own limb, not
    from whatever lies in front of it in the photo (see limbs.py). Without it, straight through."""
    h, w = back.mask.shape
    pts = back.position[back.mask].astype(np.float64)
    uv, _ = photo_camera.project(pts)  # the front shows through: clothes look alike front and back
    found = np.ones(len(pts), bool)
    if limbs is not None:
        point_limbs = limbs.limbs_of(pts)
        uv, found = limbs.redirect(pts, uv, photo_known, point_limbs)
    k = photo_known.astype(np.float32)
    num = sample_map(photo_rgb.astype(np.float32) / 255.0 * k[..., None], uv)
    den = sample_map(k, uv)
    ok = (den > 0.5) & found
    colours = np.where(ok[:, None], num / np.maximum(den, 1e-6)[:, None], 0.0)

    in_head = (pts[:, 2] > head.chin_z) & (np.abs(pts[:, 0] - head.centre_x) < head.half_width_m)
    if limbs is not None:  # a hand raised beside the head stays a hand
        in_head &= point_limbs == LIMBS.index("head")
    colours[in_head] = head.hair_colour
    ok |= in_head

    image = np.zeros((h, w, 3), np.float32)
    image[back.mask] = colours
    filled = np.zeros((h, w), bool)
    filled[back.mask] = ok
    head_px = np.zeros((h, w), bool)
    head_px[back.mask] = in_head
    # Soften the hairline so it does not read as a cut.
    m = filled.astype(np.float32)
    blurred = ndimage.gaussian_filter(image * m[..., None], sigma=(1.5, 1.5, 0)) / np.maximum(
        ndimage.gaussian_filter(m, 1.5), 1e-6)[..., None]
    edge = ndimage.binary_dilation(head_px, iterations=2) & ~ndimage.binary_erosion(head_px, iterations=2)
    image[edge & filled] = blurred[edge & filled]
    return image, filled, head_px


def torso_polygon_mask(shape: tuple[int, int], landmarks_working: np.ndarray | None) -> np.ndarray | None:
    """Pixels between the pose's shoulders and hips, or None without confident landmarks."""
    joints = [LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP]
    if landmarks_working is None or not np.all(landmarks_working[joints, 2] > 0.3):
        return None
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(landmarks_working[joints, :2]).astype(np.int32)], 1)
    return out.astype(bool)


def front_only_details(rgb: np.ndarray, known: np.ndarray, landmarks_working: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: torso pixels of the photo that the back of the clothes will not show."""
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
    labels, n = ndimage.label(deviant)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        if h < DETAIL_MAX_SHARE * torso_h and w < DETAIL_MAX_SHARE * torso_w:
            details[box] |= labels[box] == i
    # A ring of blended pixels surrounds a print: leave it out too.
    return ndimage.binary_dilation(details, iterations=2) & torso
