"""Cropping the person out of the photo into a square working image, with its exact pixel transform.

Coordinates are continuous pixel coordinates (u right, v down; pixel (row r, col c) covers
[c, c+1) x [r, r+1), centre (c + 0.5, r + 0.5)), and the transform is

    working = (original - (x0, y0)) * scale

Construction keeps it exact: the crop square has integer corners and an integer side L in
original pixels, L = k * m; it is first box-averaged by the integer factor k (exact:
block j covers [x0 + j k, x0 + (j+1) k)), then resized from m to R pixels with cv2.resize,
whose INTER_AREA / INTER_LINEAR / INTER_CUBIC all map continuous coordinates by the pure
scale R / m. So scale = R / L with no half-pixel offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from backend.errors import NoPersonError
from backend.intake.photo import Photo

WHITE = (255, 255, 255)


@dataclass
class WorkingImage:
    """The square crop the rest of the pipeline works on.

    rgb: uint8 (R, R, 3); mask: bool (R, R), True on the person.
    x0, y0: the crop's top-left corner in original continuous pixel coordinates (negative
        where the square was padded beyond the photo).
    scale: working pixels per original pixel.
    background: the RGB colour used for padding (and under transparent pixels).
    """

    rgb: np.ndarray
    mask: np.ndarray
    x0: float
    y0: float
    scale: float
    background: tuple[int, int, int] = WHITE

    @property
    def resolution(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def crop_box(self) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1) of the square in original continuous pixel coordinates."""
        side = self.resolution / self.scale
        return (self.x0, self.y0, self.x0 + side, self.y0 + side)

    def to_working(self, uv: np.ndarray) -> np.ndarray:
        """Original continuous (u, v) (..., 2) -> working continuous (u, v)."""
        uv = np.asarray(uv, dtype=np.float64)
        return (uv - np.array([self.x0, self.y0])) * self.scale

    def to_original(self, uv: np.ndarray) -> np.ndarray:
        """Working continuous (u, v) (..., 2) -> original continuous (u, v)."""
        uv = np.asarray(uv, dtype=np.float64)
        return uv / self.scale + np.array([self.x0, self.y0])

    def affine_to_working(self) -> np.ndarray:
        """2x3 matrix for cv2.warpAffine taking the original photo to the working image.

        OpenCV puts pixel centres at integers, so with a = c - 0.5:
        a_work = s * a_orig + (0.5 - x0) * s - 0.5.
        """
        s = self.scale
        return np.array([[s, 0.0, (0.5 - self.x0) * s - 0.5], [0.0, s, (0.5 - self.y0) * s - 0.5]])


def background_colour(photo: Photo, mask: np.ndarray) -> tuple[int, int, int]:
    """Median colour of the photo's visible pixels outside the mask; white if there are none."""
    outside = ~mask
    if photo.alpha is not None:
        outside &= photo.alpha >= 0.5
    n = int(outside.sum())
    if n == 0:
        return WHITE
    step = max(1, int(math.sqrt(n / 500_000)))
    pixels = photo.rgb[::step, ::step][outside[::step, ::step]]
    if len(pixels) == 0:
        pixels = photo.rgb[outside]
    med = np.median(pixels, axis=0)
    return (int(round(med[0])), int(round(med[1])), int(round(med[2])))


def _square(mask: np.ndarray, resolution: int, margin: float) -> tuple[int, int, int, int]:
    """(x0, y0, L, k): integer corner and side of the crop square, and the box factor k (L = k m, m >= R if k > 1)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    side = max(r1 - r0, c1 - c0) / (1.0 - 2.0 * margin)
    k = max(1, int(side // resolution))
    side_px = k * math.ceil(math.ceil(side - 1e-9) / k)
    x0 = int(math.floor((c0 + c1) / 2.0 - side_px / 2.0 + 0.5))
    y0 = int(math.floor((r0 + r1) / 2.0 - side_px / 2.0 + 0.5))
    return x0, y0, side_px, k


def _box_crop(img: np.ndarray, x0: int, y0: int, side: int, k: int, fill) -> np.ndarray:
    """The square [x0, x0+side)^2 of img (padded with `fill`), box-averaged by the integer factor k."""
    h, w = img.shape[:2]
    m = side // k
    channels = img.shape[2:]
    out = np.empty((m, m, *channels), dtype=img.dtype)
    out[...] = fill
    ix0, ix1 = max(0, x0), min(w, x0 + side)
    iy0, iy1 = max(0, y0), min(h, y0 + side)
    if ix0 >= ix1 or iy0 >= iy1:
        return out
    # extend the visible part to whole k-blocks of the square, padding with the fill colour
    bx0 = x0 + ((ix0 - x0) // k) * k
    by0 = y0 + ((iy0 - y0) // k) * k
    bx1 = x0 + -(-(ix1 - x0) // k) * k
    by1 = y0 + -(-(iy1 - y0) // k) * k
    part = img[iy0:iy1, ix0:ix1]
    if (bx0, by0, bx1, by1) != (ix0, iy0, ix1, iy1):
        value = list(fill) if isinstance(fill, tuple) else fill
        part = cv2.copyMakeBorder(np.ascontiguousarray(part), iy0 - by0, by1 - iy1, ix0 - bx0, bx1 - ix1,
                                  cv2.BORDER_CONSTANT, value=value)
    if k > 1:
        part = cv2.resize(np.ascontiguousarray(part), ((bx1 - bx0) // k, (by1 - by0) // k),
                          interpolation=cv2.INTER_AREA)
    part = part.reshape(part.shape[0], part.shape[1], *channels)
    ox, oy = (bx0 - x0) // k, (by0 - y0) // k
    out[oy : oy + part.shape[0], ox : ox + part.shape[1]] = part
    return out


def crop_to_working(photo: Photo, mask: np.ndarray, resolution: int = 512, margin: float = 0.05) -> WorkingImage:
    """Square crop around the person, scaled to resolution x resolution.

    The person's bounding box (height, or width if wider) fills (1 - 2 * margin) of the
    square (to within one original pixel), centred; where the square leaves the photo it is
    padded with the background colour (median of the photo outside the mask). Transparent
    pixels of a cut-out are composited over that colour.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (photo.height, photo.width):
        raise ValueError(f"mask shape {mask.shape} does not match the photo ({photo.height}, {photo.width})")
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if not mask.any():
        raise NoPersonError(f"no person found in {photo.name}: the person mask is empty")

    bg = background_colour(photo, mask)
    x0, y0, side, k = _square(mask, resolution, margin)

    rgb = photo.rgb
    if photo.alpha is not None:  # composite the visible part of a cut-out over the background colour
        ix0, ix1 = max(0, x0), min(photo.width, x0 + side)
        iy0, iy1 = max(0, y0), min(photo.height, y0 + side)
        a = photo.alpha[iy0:iy1, ix0:ix1, None]
        part = rgb[iy0:iy1, ix0:ix1].astype(np.float32) * a + np.array(bg, np.float32) * (1.0 - a)
        rgb = np.zeros((iy1 - iy0, ix1 - ix0, 3), np.uint8)
        rgb[:] = np.clip(np.rint(part), 0, 255).astype(np.uint8)
        x_off, y_off = x0 - ix0, y0 - iy0
    else:
        x_off, y_off = x0, y0

    rgb_m = _box_crop(rgb, x_off, y_off, side, k, bg)
    mask_m = _box_crop(mask.view(np.uint8) * np.uint8(255), x0, y0, side, k, 0)

    m = side // k
    if m > resolution:
        rgb_w = cv2.resize(rgb_m, (resolution, resolution), interpolation=cv2.INTER_AREA)
        mask_w = cv2.resize(mask_m.astype(np.float32) / 255.0, (resolution, resolution), interpolation=cv2.INTER_AREA)
    elif m < resolution:
        rgb_w = cv2.resize(rgb_m, (resolution, resolution), interpolation=cv2.INTER_CUBIC)
        mask_w = cv2.resize(mask_m.astype(np.float32) / 255.0, (resolution, resolution), interpolation=cv2.INTER_LINEAR)
    else:
        rgb_w, mask_w = rgb_m, mask_m.astype(np.float32) / 255.0
    return WorkingImage(rgb=np.ascontiguousarray(rgb_w, dtype=np.uint8), mask=mask_w >= 0.5,
                        x0=float(x0), y0=float(y0), scale=resolution / side, background=bg)


def mask_to_original(mask_working: np.ndarray, working: WorkingImage, width: int, height: int) -> np.ndarray:
    """Map a working-resolution mask (bool or soft float) back to a bool (height, width) mask of the photo.

    Inverse warp of the crop transform (bilinear, threshold 0.5); outside the crop square it is False.
    """
    src = np.asarray(mask_working, dtype=np.float32)
    out = np.zeros((height, width), dtype=bool)
    u0, v0, u1, v1 = working.crop_box
    ox0, oy0 = max(0, math.floor(u0)), max(0, math.floor(v0))
    ox1, oy1 = min(width, math.ceil(u1)), min(height, math.ceil(v1))
    if ox0 >= ox1 or oy0 >= oy1:
        return out
    s = working.scale
    if s > 1.5:  # the working image is finer than the photo: low-pass before sampling
        src = cv2.GaussianBlur(src, (0, 0), sigmaX=0.4 * s)
    # OpenCV index a = c - 0.5; sub-image index i maps to original index i + ox0
    m = np.array([[s, 0.0, (ox0 + 0.5 - working.x0) * s - 0.5], [0.0, s, (oy0 + 0.5 - working.y0) * s - 0.5]])
    sampled = cv2.warpAffine(src, m, (ox1 - ox0, oy1 - oy0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    out[oy0:oy1, ox0:ox1] = sampled >= 0.5
    return out


def mask_in_working(mask: np.ndarray, working: WorkingImage, factor: int) -> np.ndarray:
    """The photo's mask in the working crop's frame at `factor` times its resolution (bool).

    working_fine = (original - (x0, y0)) * scale * factor: the same crop, finer, so that an outline
    can be followed more closely than the working image's pixels allow (the shape stage carves the
    body to it). Bilinear, threshold 0.5; box-filtered first when the crop shrinks the photo.
    """
    s = working.scale * factor
    size = working.resolution * factor
    src = np.asarray(mask, dtype=np.float32)
    if s < 0.67:  # shrinking: average the photo's pixels rather than pick among them
        k = max(1, int(round(1 / s)))
        src = cv2.blur(src, (k, k))
    # OpenCV centres: fine pixel i (centre i + 0.5) <- original centre (i + 0.5) / s + x0 - 0.5.
    m = np.array([[1 / s, 0.0, (0.5 / s) + working.x0 - 0.5], [0.0, 1 / s, (0.5 / s) + working.y0 - 0.5]])
    out = cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out >= 0.5
