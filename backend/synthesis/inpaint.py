"""Fill the missing body pixels of a view: the inpainter interface and its classical fallback.

The diffusion inpainter (ControlNet on normal + silhouette maps) plugs in behind the same
`Inpainter` protocol. The classical one needs no weights, so the job always finishes:
it fills only missing pixels inside the silhouette, only from the view's known body pixels
(never from the background), each from the nearest seen surface at the same height (or,
without a position map, push-pull with OpenCV's Telea near the rim). It does not shade the
fill by the view's normals on purpose: the texture is shared by all views, and shading
baked in from one view's side would show as dark seams from the others. The normal map guides the diffusion inpainter.
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
    position: np.ndarray | None = None  # (H, W, 3) world points under the pixels (metres, Z up), when known
    limbs: np.ndarray | None = None  # (H, W) int: the fitted body's limb under each pixel (synthesis/limbs.py)
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
    """Fill from the nearest seen surface at the same height; without a position map, push-pull + Telea.

    Clothes are organised around the standing body: hems, stripes, belts and sleeve ends run
    horizontally, so a hidden patch (the torso's side under an arm) looks most like the seen
    surface beside it at the same height, not like the average of a disc around it. With the
    view's world position map, each missing pixel takes the inverse-distance mean of its
    nearest known pixels in (x, y, VERTICAL_STRETCH * z, NORMAL_STRETCH * normal) space: height
    counts several times more than going round the body, and a facing-away surface (the
    arm's inside against the torso's side) counts as far. Measured against push-pull + Telea,
    whose disc average of two stripe colours read as a grey smear along the side seams, in
    docs/synthesis.md.
    """

    name = "classical"
    # Reuse any colour an earlier view saw, however obliquely: stretched true colours beat a
    # smooth guess (measured on the synthetic figures: docs/benchmarks.md).
    min_support_weight = 3e-4
    VERTICAL_STRETCH = 10.0
    NORMAL_STRETCH = 0.05  # metres of distance per unit of normal difference
    NEIGHBOURS = 8

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
        elif request.position is not None:
            base = img.copy()
            base[missing] = self._same_height_fill(request, known, missing)
        else:
            base = self._push_pull_telea(img, known, missing)
        out = img.copy()
        out[missing] = np.clip(base[missing], 0.0, 1.0)
        return out

    def _same_height_fill(self, request: InpaintRequest, known: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """(M, 3) colours of the missing pixels from their nearest known pixels on the surface: of the same
        limb when the view knows its limbs (the side of a thigh from the thigh, not the hand beside it)."""
        if request.limbs is None:
            return self._nearest_colours(request, known, missing)
        out = np.zeros((int(missing.sum()), 3), np.float32)
        missing_limbs = request.limbs[missing]
        for limb in np.unique(missing_limbs):
            same = known & (request.limbs == limb)
            these = missing & (request.limbs == limb)
            out[missing_limbs == limb] = self._nearest_colours(request, same if same.any() else known, these)
        return out

    def _nearest_colours(self, request: InpaintRequest, known: np.ndarray, missing: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree

        def features(sel):
            p = np.asarray(request.position, np.float64)[sel]
            n = np.asarray(request.normal, np.float64)[sel]
            return np.concatenate([p[:, :2], self.VERTICAL_STRETCH * p[:, 2:3], self.NORMAL_STRETCH * n], axis=1)

        k = min(self.NEIGHBOURS, int(known.sum()))
        dist, idx = cKDTree(features(known)).query(features(missing), k=k)
        dist, idx = dist.reshape(len(dist), k), idx.reshape(len(idx), k)
        w = 1.0 / np.maximum(dist, 1e-4) ** 2
        colours = np.asarray(request.image, np.float32)[known][idx]  # (M, k, 3)
        return (colours * w[..., None]).sum(axis=1) / w.sum(axis=1, keepdims=True)

    def _push_pull_telea(self, img: np.ndarray, known: np.ndarray, missing: np.ndarray) -> np.ndarray:
        # Every pixel outside the known body gets a body colour first, so Telea, which
        # reads a ring of pixels around the hole, can only ever read body colours.
        base = push_pull(img, known)
        u8 = (np.clip(base, 0, 1) * 255 + 0.5).astype(np.uint8)
        hole = missing.astype(np.uint8)
        telea = cv2.inpaint(u8, hole, self.telea_radius, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
        # Telea is sharp near the hole's rim and flat deep inside it: hand over to the base.
        depth_in_hole = ndimage.distance_transform_edt(missing)
        t = np.clip(depth_in_hole / (4.0 * self.telea_radius), 0.0, 1.0)[..., None]
        return (1 - t) * telea + t * base
