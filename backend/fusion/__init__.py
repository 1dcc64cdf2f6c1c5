"""Texture fusion: one UV texture from many coloured views of the mesh (docs/fusion.md).

    result = fuse_texture(mesh, views, plan, FusionOptions(iterations=40))   # views: list[FusionView]
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
    "FusionOptions",
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


@dataclass(frozen=True)
class FusionOptions:
    """How the texture is optimised (docs/fusion.md)."""

    iterations: int = 100  # Adam steps; 0: the closed-form splat only
    lr: float = 0.1
    l1_weight: float = 10.0
    # "auto" (LPIPS when its backbone weights are on disk, else the substitute), "lpips" (the same, but
    # says it was asked for), "substitute", or "none" (L1 only).
    perceptual: str = "auto"
    perceptual_resolution: int | None = 256  # the views' size for the perceptual loss (None: as rendered)
    views_per_step: int | None = None  # a seeded random subset of the views per step (None: all)
    lr_schedule: str = "cosine"  # warm-up then decay to 0, or "constant" (the paper's plain Adam lr)
    device: str = "cpu"
    seed: int = 0


def fuse_texture(mesh: Mesh, views: list[FusionView], plan: PaddingPlan, options: FusionOptions | None = None,
                 progress: Callable[[int, int, float], None] | None = None) -> FusionResult:
    """Fuse the views' colours into a plan.resolution^2 texture for `mesh` (which must have UVs).

    Deterministic on the CPU: the same inputs and options give a bit-identical texture.
    `progress(step, steps, loss)` is called as the optimisation goes.
    """
    options = options or FusionOptions()
    if not mesh.has_uv:
        raise ValueError("fuse_texture needs a mesh with uv and faces_uv (backend.uv.atlas.unwrap)")
    _check_views(views)
    timings: dict = {}
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
    if options.iterations > 0 and views:
        done = _optimised(init, views, options, progress, timings)
        seen |= splat.coverage > EPS  # every texel a counted pixel's bilinear lookup touches has colour now
    else:
        done = _splat_only(init, views, options)

    t = time.perf_counter()
    final = fill_and_bleed(done.texture, seen, labels, plan)
    timings["fill_final"] = time.perf_counter() - t

    unseen = charts & ~seen
    if charts.any() and unseen.any():
        done.notes.append(f"{100.0 * unseen.sum() / charts.sum():.1f}% of the chart texels got no view pixel (seen "
                          "by no view, or between the views' pixels); filled from their seen neighbours (push-pull)")
    if not splat.seen.any():
        done.notes.append("no view pixel reached the texture: the charts are plain grey")
    timings["total"] = time.perf_counter() - t_all
    return FusionResult(
        texture=np.rint(np.clip(final, 0.0, 1.0) * 255.0).astype(np.uint8),
        seen=seen,
        chart_mask=charts,
        perceptual=done.perceptual,
        notes=done.notes,
        warnings=done.warnings,
        iterations=done.iterations,
        final_loss=float(done.losses[-1]) if done.losses else float("nan"),
        timings_s=timings,
        losses=done.losses,
    )


@dataclass
class _Optimised:
    """What the optimisation step gives the rest of fuse_texture."""

    texture: np.ndarray  # (R, R, 3) float, before the final fill
    losses: list[float]
    iterations: int
    perceptual: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _optimised(init: np.ndarray, views: list[FusionView], options: FusionOptions,
               progress: Callable[[int, int, float], None] | None, timings: dict) -> _Optimised:
    """Adam on the texture from `init` (optimize.py); its lowest-loss texture."""
    t = time.perf_counter()
    loss_fn, name, perc_notes = load_perceptual(options.perceptual, options.device)
    timings["perceptual_load"] = time.perf_counter() - t

    t = time.perf_counter()
    tensors = prepare_views(views, loss_fn, options.perceptual_resolution, options.device)
    timings["prepare"] = time.perf_counter() - t

    res = optimize_texture(init, tensors, iterations=options.iterations, lr=options.lr, l1_weight=options.l1_weight,
                           perceptual=loss_fn, device=options.device, seed=options.seed,
                           views_per_step=options.views_per_step, schedule=options.lr_schedule, progress=progress)
    timings["optimize"] = res.seconds
    timings["per_iteration"] = res.seconds / max(res.iterations, 1)
    out = _Optimised(res.texture, res.losses, res.iterations, name,
                     notes=[n for n in perc_notes if not code_of(n)],  # "LPIPS loaded from ...": a log line
                     warnings=[n for n in perc_notes if code_of(n)])  # a fallback the user should know about
    if res.best_step >= 0:
        out.notes.append(f"the optimisation ended above its best loss: the texture from before step "
                         f"{res.best_step + 1} of {res.iterations} is kept (loss {res.losses[-1]:.4f})")
    return out


def _splat_only(init: np.ndarray, views: list[FusionView], options: FusionOptions) -> _Optimised:
    """No optimisation: the closed-form splat, its L1 term as the final loss."""
    if not views:
        return _Optimised(init, [], 0, "none")
    tensors = prepare_views(views, None, None, options.device)
    with torch.no_grad():
        tex_t = torch.from_numpy(np.ascontiguousarray(init.transpose(2, 0, 1)))[None].to(options.device)
        losses = [float(total_loss(tex_t, tensors, options.l1_weight, None))]
    return _Optimised(init, losses, 0, "none",
                      notes=["no optimisation (iterations = 0): closed-form splat only; final_loss is its L1 term"])
