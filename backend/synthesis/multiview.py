"""Auto-regressive view synthesis: visit the missing views in order, each from what came before.

The input photo (through its own camera) and the initial back view start the support set.
Then for each scheduled view: aggregate the colours the support set explains, inpaint what
is still missing, and add the finished view to the support set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..raster import ViewMaps
from .aggregate import PAPER_MIN_SUPPORT_WEIGHT, Aggregate, SupportView, aggregate
from .back_view import HeadRegion
from .inpaint import Inpainter, InpaintRequest
from .limbs import LIMBS

# How much each kind of view is trusted when later views and the texture blend them.
PHOTO_TRUST = 1.0
BACK_TRUST = 0.7
SYNTH_TRUST = 0.5


@dataclass
class SynthesizedView:
    maps: ViewMaps
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    known: np.ndarray  # (H, W) bool: the pixels that carry colour into the texture
    inpainted: np.ndarray  # (H, W) bool: the pixels the inpainter made
    inpainter: str  # which inpainter made them ("none" when nothing was missing)
    trust: float
    seconds: float  # aggregation + inpainting
    inpaint_seconds: float = 0.0  # the inpainter's share of `seconds`
    redrawn: bool = False  # the inpainter redrew the whole body (the diffusion back view), not only missing pixels
    colour_source: Callable | None = None  # see SupportView.colour_source


    @property
    def name(self) -> str:
        return self.maps.camera.name

    def as_support(self) -> SupportView:
        return SupportView(self.maps, self.image, self.known, self.trust, self.colour_source)

    def summary(self) -> dict:
        body = max(int(self.maps.mask.sum()), 1)
        cam = self.maps.camera
        return {"name": self.name, "azimuth_deg": cam.azimuth_deg, "elevation_deg": cam.elevation_deg,
                "inpainter": self.inpainter, "missing_fraction": round(float(self.inpainted.sum()) / body, 4),
                "redrawn": self.redrawn,
                "seconds": round(self.seconds, 3), "camera": cam.to_json()}


def finish_view(maps: ViewMaps, image: np.ndarray, missing: np.ndarray, inpainter: Inpainter, *, seed: int,
                trust: float, fallback_colour, prompt_extra: str = "", negative_prompt: str = "",
                t0: float | None = None, limbs_of: Callable | None = None) -> SynthesizedView:
    """Inpaint what is missing of one view and wrap it up as a finished view."""
    t0 = time.perf_counter() if t0 is None else t0
    cam = maps.camera
    used = "none"
    inpaint_seconds = 0.0
    if missing.any():
        req = InpaintRequest(image, missing, maps.mask, maps.normal, cam.azimuth_deg or 0.0, cam.elevation_deg or 0.0,
                             seed=seed, prompt_extra=prompt_extra, negative_prompt=negative_prompt,
                             fallback_colour=tuple(fallback_colour), position=maps.position,
                             limbs=None if limbs_of is None else limb_map(maps, limbs_of))
        t_inpaint = time.perf_counter()
        image = inpainter.inpaint(req)
        inpaint_seconds = time.perf_counter() - t_inpaint
        used = inpainter.name
    image = np.where(maps.mask[..., None], image, 0.0).astype(np.float32)
    return SynthesizedView(maps, image, maps.mask.copy(), missing.copy(), used, trust, time.perf_counter() - t0,
                           inpaint_seconds)


def limb_map(maps: ViewMaps, limbs_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(H, W) int: the limb under each covered pixel of the view, -1 elsewhere."""
    out = np.full(maps.mask.shape, -1, np.int64)
    out[maps.mask] = limbs_of(maps.position[maps.mask])
    return out


def hair_on_head(agg: Aggregate, maps: ViewMaps, head: HeadRegion, limbs_of: Callable | None) -> None:
    """Paint the head behind the ears with the hair's colour, in place. The photo saw the side of the
    head only at its rim, and the views read the rim's colour from where the photo sees the head face-on
    at the same height: the face's skin, carried round to the back of the head beside the back view's
    hair, blended into a smear. A hand raised beside the head stays a hand."""
    points = maps.position[maps.mask].astype(np.float64)
    hair = head.hair_behind_ears(points)
    if limbs_of is not None:
        hair = np.where(limbs_of(points) == LIMBS.index("head"), hair, 0.0)
    if not hair.any():
        return
    a = hair[:, None]
    agg.image[maps.mask] = np.where(agg.explained[maps.mask][:, None], (1 - a) * agg.image[maps.mask], 0.0) \
        + a * head.hair_colours(points)
    painted = np.zeros_like(maps.mask)
    painted[maps.mask] = hair >= 0.5
    agg.explained |= painted
    agg.missing &= ~painted


def synthesize_views(supports: list[SynthesizedView], targets: list[ViewMaps], inpainter: Inpainter, *, seed: int,
                     prompt_extra: str = "", negative_prompt: str = "",
                     on_view: Callable[[int, int, SynthesizedView], None] | None = None,
                     limbs_of: Callable | None = None, head: HeadRegion | None = None) -> list[SynthesizedView]:
    """Visit `targets` in order; returns the finished target views (supports not included).

    `limbs_of` (points -> limb index, with a fitted body): missing pixels are filled from their own limb.
    `head` (the back view's): the head behind the ears is hair in every view (hair_on_head)."""
    done = list(supports)
    fallback = np.mean([s.image[s.known].mean(axis=0) for s in supports if s.known.any()], axis=0)
    out = []
    for i, maps in enumerate(targets):
        t0 = time.perf_counter()
        agg = aggregate(maps, [s.as_support() for s in done],
                        min_weight=getattr(inpainter, "min_support_weight", PAPER_MIN_SUPPORT_WEIGHT))
        if head is not None:
            hair_on_head(agg, maps, head, limbs_of)
        view = finish_view(maps, agg.image, agg.missing, inpainter, seed=seed + 1000 * (i + 1), trust=SYNTH_TRUST,
                           fallback_colour=fallback, prompt_extra=prompt_extra, negative_prompt=negative_prompt, t0=t0,
                           limbs_of=limbs_of)
        done.append(view)
        out.append(view)
        if on_view:
            on_view(i + 1, len(targets), view)
    return out
