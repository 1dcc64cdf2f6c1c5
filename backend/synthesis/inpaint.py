"""Fill the missing body pixels of a view: the inpainter interface and its classical fallback.

The diffusion inpainter (ControlNet on normal + silhouette maps) plugs in behind the same
`Inpainter` protocol. The classical one needs no weights, so the job always finishes:
it fills only missing pixels inside the silhouette, only from the view's known body pixels
(never from the background), continuing edges with OpenCV's Telea inpainting on top of a
smooth push-pull base. It does not shade the fill by the view's normals on purpose: the
texture is shared by all views, and shading baked in from one view's side would show as
dark seams from the others. The normal map guides the diffusion inpainter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
from scipy import ndimage

from ..imaging import push_pull

# The prompt's only change per view is this word (the paper's scheme; see DESIGN.md).
VIEW_WORDS = ((22.5, "front"), (67.5, "left"), (112.5, "side"), (180.0, "back"))


def view_word(azimuth_deg: float) -> str:
    a = (azimuth_deg + 180.0) % 360.0 - 180.0
    if -67.5 < a <= -22.5:
        return "right"
    if -112.5 < a <= -67.5:
        return "side"
    for limit, word in VIEW_WORDS:
        if abs(a) <= limit:
            return word
    return "back"


@dataclass
class InpaintRequest:
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]; valid where `known`
    missing: np.ndarray  # (H, W) bool: pixels to make (inside the silhouette)
    silhouette: np.ndarray  # (H, W) bool
    normal: np.ndarray  # (H, W, 3) camera-space unit normals (x right, y up, z to camera)
    azimuth_deg: float
    elevation_deg: float
    seed: int = 0
    prompt_extra: str = ""
    negative_prompt: str = ""
    fallback_colour: tuple[float, float, float] = (0.5, 0.5, 0.5)
    extras: dict = field(default_factory=dict)

    @property
    def known(self) -> np.ndarray:
        return self.silhouette & ~self.missing


class Inpainter(Protocol):
    name: str

    def inpaint(self, request: InpaintRequest) -> np.ndarray:
        """(H, W, 3) float32: `request.image` with the missing pixels filled; nothing else changed."""
        ...


class ClassicalInpainter:
    """Pull-push base + Telea edge continuation, restricted to the body."""

    name = "classical"
    # Reuse any colour an earlier view saw, however obliquely: stretched true colours beat a
    # smooth guess (measured on the synthetic figures: docs/benchmarks.md).
    min_support_weight = 3e-4

    def __init__(self, telea_radius: int = 6):
        self.telea_radius = telea_radius

    def inpaint(self, request: InpaintRequest) -> np.ndarray:
        img = np.asarray(request.image, np.float32)
        missing = request.missing & request.silhouette
        if not missing.any():
            return img.copy()
        known = request.known
        if not known.any():
            base = np.broadcast_to(np.asarray(request.fallback_colour, np.float32), img.shape).copy()
        else:
            # Every pixel outside the known body gets a body colour first, so Telea, which
            # reads a ring of pixels around the hole, can only ever read body colours.
            base = push_pull(img, known)
            u8 = (np.clip(base, 0, 1) * 255 + 0.5).astype(np.uint8)
            hole = missing.astype(np.uint8)
            telea = cv2.inpaint(u8, hole, self.telea_radius, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
            # Telea is sharp near the hole's rim and flat deep inside it: hand over to the base.
            depth_in_hole = ndimage.distance_transform_edt(missing)
            t = np.clip(depth_in_hole / (4.0 * self.telea_radius), 0.0, 1.0)[..., None]
            base = (1 - t) * telea + t * base
        out = img.copy()
        out[missing] = np.clip(base[missing], 0.0, 1.0)
        return out
