"""Texture fusion: one UV texture from many coloured views of the mesh (docs/fusion.md).

    result = fuse_texture(mesh, views, plan)      # views: list[FusionView]
    result.texture                                # (R, R, 3) uint8, row 0 = top (v near 1)

1. closed-form initialisation: every counted view pixel is splatted bilinearly into the
   texel under its UV, weighted by its confidence (splat.py);
2. never-seen chart texels are filled from seen ones so nothing starts black (fill.py);
3. inverse rendering: Adam on the texture so that its renders match every view under
   L1 + a perceptual loss (optimize.py, perceptual.py);
4. fill again and bleed chart colours into the gutters (fill.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from backend.mesh import Mesh
from backend.raster.maps import ViewMaps
from backend.uv.atlas import PaddingPlan

from ..imaging import push_pull
from ..notes import code_of
from .fill import chart_labels, chart_mask, fill_and_bleed
from .optimize import BACKGROUND, optimize_texture, prepare_views, total_loss
from .perceptual import LPIPS_NAME, SUBSTITUTE_NAME, load_perceptual
from .splat import EPS, splat_views

__all__ = [
    "BACKGROUND",
    "LPIPS_NAME",
    "SUBSTITUTE_NAME",
    "FusionResult",
    "FusionView",
    "chart_labels",
    "chart_mask",
    "fill_and_bleed",
    "fuse_texture",
    "load_perceptual",
    "push_pull",
    "splat_views",
]


@dataclass
class FusionView:
    maps: ViewMaps  # rendered maps of the view (maps.uv must not be None)
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]: the view's colours (photo or synthesized)
    mask: np.ndarray  # (H, W) bool: pixels whose colours count (subset of maps.mask)
    weight: np.ndarray  # (H, W) float32 >= 0: confidence of each pixel for the closed-form init
    loss_weight: float = 1.0  # how much this view counts in the optimisation (the input photo gets more)


@dataclass
class FusionResult:
    texture: np.ndarray  # (R, R, 3) uint8, row 0 = top = v near 1
    seen: np.ndarray  # (R, R) bool: texels that got colour from at least one view
    chart_mask: np.ndarray  # (R, R) bool: texels inside the UV charts
    perceptual: str  # "lpips-alex", "substitute-msgrad-ssim" or "none"
    notes: list[str]  # what happened, for the log
    iterations: int
    final_loss: float
    timings_s: dict
    losses: list[float] = field(default_factory=list)  # before each step, then the final texture's loss
    warnings: list[str] = field(default_factory=list)  # fallbacks the user should hear about


def _check_views(views: list[FusionView]) -> None:
    for i, v in enumerate(views):
        if v.maps.uv is None:
            raise ValueError(f"view {i} ({v.maps.camera.name!r}): maps.uv is None; render a UV-mapped mesh")
        hw = v.maps.mask.shape
        for name, arr, shape in (("image", v.image, (*hw, 3)), ("mask", v.mask, hw), ("weight", v.weight, hw)):
            if np.shape(arr) != shape:
                raise ValueError(f"view {i}: {name} has shape {np.shape(arr)}, expected {shape}")


def fuse_texture(mesh: Mesh, views: list[FusionView], plan: PaddingPlan, *, iterations: int = 100,
                 lr: float = 0.1, l1_weight: float = 10.0, perceptual: str = "auto",
                 device: str = "cpu", seed: int = 0, perceptual_resolution: int | None = 256,
                 progress: Callable[[int, int, float], None] | None = None,
                 views_per_step: int | None = None, lr_schedule: str = "cosine") -> FusionResult:
    """Fuse the views' colours into a plan.resolution^2 texture for `mesh` (which must have UVs).

    perceptual: "auto" (LPIPS when its backbone weights are on disk, else the substitute),
    "lpips" (the same, but says it was asked for), "substitute", or "none" (L1 only).
    lr_schedule: "cosine" (warm-up then decay to 0; default) or "constant" (the paper's plain Adam lr).
    views_per_step: optimise with a seeded random subset of views per step (None = all).
    Deterministic on the CPU: the same inputs and seed give a bit-identical texture.
    """
    if not mesh.has_uv:
        raise ValueError("fuse_texture needs a mesh with uv and faces_uv (backend.uv.atlas.unwrap)")
    _check_views(views)
    timings: dict = {}
    notes: list[str] = []
    warnings: list[str] = []  # a fallback the user should know about (a perceptual loss without weights)
    t_all = time.perf_counter()
    r = plan.resolution

    t = time.perf_counter()
    splat = splat_views(views, r)
    timings["splat"] = time.perf_counter() - t

    t = time.perf_counter()
    labels = chart_labels(mesh, r)
    charts = labels >= 0
    timings["chart_mask"] = time.perf_counter() - t

    t = time.perf_counter()
    init = fill_and_bleed(splat.texture, splat.seen, labels, plan)
    timings["fill_init"] = time.perf_counter() - t

    seen = splat.seen.copy()
    texture = init
    losses: list[float] = []
    name = "none"
    done = 0
    if iterations > 0 and views:
        t = time.perf_counter()
        loss_fn, name, perc_notes = load_perceptual(perceptual, device)
        warnings += [n for n in perc_notes if code_of(n)]  # fallbacks; "LPIPS loaded from ..." is a log line
        notes += [n for n in perc_notes if not code_of(n)]
        timings["perceptual_load"] = time.perf_counter() - t

        t = time.perf_counter()
        tensors = prepare_views(views, loss_fn, perceptual_resolution, device)
        timings["prepare"] = time.perf_counter() - t

        res = optimize_texture(init, tensors, iterations=iterations, lr=lr, l1_weight=l1_weight,
                               perceptual=loss_fn, device=device, seed=seed, views_per_step=views_per_step,
                               schedule=lr_schedule, progress=progress)
        timings["optimize"] = res.seconds
        timings["per_iteration"] = res.seconds / max(res.iterations, 1)
        texture, losses, done = res.texture, res.losses, res.iterations
        if res.best_step >= 0:
            notes.append(f"the optimisation ended above its best loss: the texture from before step "
                         f"{res.best_step + 1} of {res.iterations} is kept (loss {losses[-1]:.4f})")
        # Every texel a counted pixel's bilinear lookup touches was optimised: it has colour now.
        seen |= splat.coverage > EPS
    elif views:
        notes.append("no optimisation (iterations = 0): closed-form splat only; final_loss is its L1 term")
        tensors = prepare_views(views, None, None, device)
        with torch.no_grad():
            tex_t = torch.from_numpy(np.ascontiguousarray(init.transpose(2, 0, 1)))[None].to(device)
            losses = [float(total_loss(tex_t, tensors, l1_weight, None))]

    t = time.perf_counter()
    final = fill_and_bleed(texture, seen, labels, plan)
    timings["fill_final"] = time.perf_counter() - t

    unseen = charts & ~seen
    if charts.any() and unseen.any():
        notes.append(f"{100.0 * unseen.sum() / charts.sum():.1f}% of the chart texels got no view pixel (seen by "
                     "no view, or between the views' pixels); filled from their seen neighbours (push-pull)")
    if not splat.seen.any():
        notes.append("no view pixel reached the texture: the charts are plain grey")
    timings["total"] = time.perf_counter() - t_all
    return FusionResult(
        texture=np.rint(np.clip(final, 0.0, 1.0) * 255.0).astype(np.uint8),
        seen=seen,
        chart_mask=charts,
        perceptual=name,
        notes=notes,
        warnings=warnings,
        iterations=done,
        final_loss=float(losses[-1]) if losses else float("nan"),
        timings_s=timings,
        losses=losses,
    )
