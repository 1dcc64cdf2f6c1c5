"""The photo's lens: the focal length in pixels of the perspective input camera.

Photos are taken with lenses, so the input camera is a pinhole. Its focal length comes from
the EXIF block when the camera wrote one: the 35 mm-equivalent focal length (defined on the
full-frame diagonal, 43.27 mm), else the true focal length with the focal-plane resolution
(pixels per unit on the sensor). Without either, a stated default: a 50 mm full-frame
equivalent, the "normal" lens most portraits are close to. The principal point is the image
centre (cameras do not record it, and the error is small next to the pose's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..conventions import FULL_FRAME_DIAGONAL_MM, focal_px_from_35mm

DEFAULT_FOCAL_35MM = 50.0
PLAUSIBLE_35MM = (8.0, 1200.0)  # fisheye to super-telephoto; outside this the tag is junk

# EXIF tags (in the Exif IFD, 0x8769).
_EXIF_IFD = 0x8769
_FOCAL_LENGTH, _FOCAL_35MM = 0x920A, 0xA405
_PLANE_X_RES, _PLANE_UNIT = 0xA20E, 0xA210
_PIXEL_X = 0xA002  # the width the camera recorded the focal-plane resolution for
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0}  # inch, centimetre, millimetre


@dataclass(frozen=True)
class ExifFocal:
    """What the EXIF block says about the lens (any field may be missing)."""

    focal_35mm: float | None = None
    focal_mm: float | None = None
    plane_px_per_mm: float | None = None  # focal-plane pixels per millimetre
    plane_width_px: int | None = None  # image width those pixels refer to


@dataclass(frozen=True)
class Lens:
    focal_px: float  # in the photo's pixels
    focal_35mm: float  # the same as a full-frame equivalent
    source: str  # in plain words, for result.json and the log


def _number(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def read_exif_focal(img) -> ExifFocal | None:
    """The lens fields of a PIL image's EXIF, or None when it has none (never raises)."""
    try:
        exif = img.getexif().get_ifd(_EXIF_IFD)
    except Exception:  # a broken EXIF block is no reason to refuse the photo
        return None
    if not exif:
        return None
    unit = _MM_PER_UNIT.get(int(_number(exif.get(_PLANE_UNIT)) or 2))
    xres = _number(exif.get(_PLANE_X_RES))
    width = _number(exif.get(_PIXEL_X))
    focal = ExifFocal(_number(exif.get(_FOCAL_35MM)), _number(exif.get(_FOCAL_LENGTH)),
                      xres / unit if xres and unit else None, int(width) if width else None)
    return focal if (focal.focal_35mm or focal.focal_mm) else None


def photo_lens(width: int, height: int, exif: ExifFocal | None) -> Lens:
    """The focal length in pixels of a `width` x `height` photo (after EXIF rotation)."""
    diagonal_px = math.hypot(width, height)
    lo, hi = PLAUSIBLE_35MM
    if exif is not None and exif.focal_35mm and lo <= exif.focal_35mm <= hi:
        f35 = exif.focal_35mm
        return Lens(focal_px_from_35mm(f35, width, height), f35, f"EXIF: {f35:g} mm (35 mm equivalent)")
    if exif is not None and exif.focal_mm and exif.plane_px_per_mm:
        # The focal-plane resolution refers to the sensor's full width; the photo may be smaller.
        recorded = exif.plane_width_px or max(width, height)
        f_px = exif.focal_mm * exif.plane_px_per_mm * max(width, height) / recorded
        f35 = f_px * FULL_FRAME_DIAGONAL_MM / diagonal_px
        if lo <= f35 <= hi:
            return Lens(f_px, f35, f"EXIF: {exif.focal_mm:g} mm on the sensor ({f35:.0f} mm as 35 mm equivalent)")
    f35 = DEFAULT_FOCAL_35MM
    return Lens(focal_px_from_35mm(f35, width, height), f35,
                f"no focal length in the photo's EXIF: assumed a {f35:g} mm lens (35 mm equivalent)")


@dataclass(frozen=True)
class WorkingLens:
    """The photo's pinhole camera in working-image pixels: what the shape stage fits through."""

    f: float
    cx: float
    cy: float
    source: str  # where the focal length came from, in plain words


def working_lens(lens: Lens, photo_width: int, photo_height: int, x0: float, y0: float, scale: float) -> WorkingLens:
    """The photo's lens seen from the working crop (working = (original - (x0, y0)) * scale)."""
    return WorkingLens(lens.focal_px * scale, (photo_width / 2.0 - x0) * scale, (photo_height / 2.0 - y0) * scale,
                       lens.source)
