"""Inverse rendering: optimise the texture so that its renders match every view.

Each view is rendered by looking the texture up through the view's UV map with
torch.nn.functional.grid_sample (bilinear, align_corners=False; grid x = 2u - 1,
grid y = 1 - 2v because texture row 0 is the top, v = 1). Per view:

    loss_v = l1_weight * mean |render - target| over the view's mask (pixels and channels)
           + perceptual(render, target), both composited on the same plain grey outside the mask,
             cropped to the mask's bounding box and resized so the longer side is
             `perceptual_resolution` (when given and smaller)

and the total is sum_v loss_weight_v * loss_v. The texture is optimised as a logit
(texture = sigmoid(param)), so it stays in [0, 1] without clamping, with Adam
(lr 0.1, betas (0.9, 0.999)) as in the paper, but with a warm-up + cosine-decay learning-rate
schedule by default (see lr_schedule), and the texture with the lowest loss seen is returned
(a handful of steps at full rate can end above the closed-form start).

Everything a view needs (grid, mask, composited target, the perceptual loss's target
side) is computed once before the loop. On the CPU the result is bit-identical for the
same inputs and seed: no op here has a nondeterministic CPU kernel, and the only
randomness (an optional subset of views per step) comes from a seeded torch.Generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

BACKGROUND = 0.5  # plain grey both render and target are composited on outside the mask
_LOGIT_EPS = 1e-3
_MIN_PERCEPTUAL_SIDE = 32  # AlexNet's five slices need about this much


@dataclass
class ViewTensors:
    grid: torch.Tensor  # (1, h, w, 2) grid_sample coordinates over the mask's bounding box
    mask: torch.Tensor  # (1, 1, h, w) float 0/1
    target: torch.Tensor  # (1, 3, h, w) target colours composited on BACKGROUND
    count: float  # mask pixels
    loss_weight: float
    perceptual_size: tuple[int, int] | None  # (h, w) the perceptual loss sees, None = as is
    perceptual_target: object = None  # what perceptual.prepare returned


def uv_to_grid(uv: np.ndarray) -> np.ndarray:
    """UV (0,0 bottom-left) -> grid_sample coordinates (x = 2u - 1, y = 1 - 2v)."""
    return np.stack([2.0 * uv[..., 0] - 1.0, 1.0 - 2.0 * uv[..., 1]], axis=-1).astype(np.float32)


def _perceptual_size(h: int, w: int, resolution: int | None) -> tuple[int, int] | None:
    if resolution is None or max(h, w) <= resolution:
        s = 1.0
    else:
        s = resolution / max(h, w)
    s = max(s, _MIN_PERCEPTUAL_SIDE / min(h, w))
    if s == 1.0:
        return None
    return max(1, round(h * s)), max(1, round(w * s))


def _resize(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    if size is None:
        return x
    down = size[0] < x.shape[-2]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)


def prepare_views(views: Sequence, perceptual, perceptual_resolution: int | None, device: str,
                  margin: int = 4) -> list[ViewTensors]:
    """Per-view tensors, cropped to the mask's bounding box (+ `margin` pixels)."""
    out = []
    for view in views:
        maps = view.maps
        if maps.uv is None:
            raise ValueError(f"view {maps.camera.name!r} has no UV map")
        mask = np.asarray(view.mask, bool) & maps.mask & np.all(np.isfinite(maps.uv), axis=-1)
        if not mask.any():
            continue
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, mask.shape[0])
        c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, mask.shape[1])
        m = mask[r0:r1, c0:c1]
        uv = np.where(m[..., None], np.nan_to_num(maps.uv[r0:r1, c0:c1]), -1.0)  # outside: off the texture
        image = np.asarray(view.image, np.float32)[r0:r1, c0:c1]
        target = np.where(m[..., None], image, BACKGROUND).astype(np.float32)
        vt = ViewTensors(
            grid=torch.from_numpy(uv_to_grid(uv))[None].to(device),
            mask=torch.from_numpy(m.astype(np.float32))[None, None].to(device),
            target=torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))[None].to(device),
            count=float(m.sum()),
            loss_weight=float(view.loss_weight),
            perceptual_size=_perceptual_size(r1 - r0, c1 - c0, perceptual_resolution),
        )
        if perceptual is not None:
            with torch.no_grad():
                vt.perceptual_target = perceptual.prepare(_resize(vt.target, vt.perceptual_size))
        out.append(vt)
    return out


def render(texture: torch.Tensor, vt: ViewTensors) -> torch.Tensor:
    """(1, 3, h, w) render of one view, composited on BACKGROUND outside its mask."""
    col = F.grid_sample(texture, vt.grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return col * vt.mask + BACKGROUND * (1.0 - vt.mask)


def view_loss(texture: torch.Tensor, vt: ViewTensors, l1_weight: float, perceptual) -> torch.Tensor:
    rendered = render(texture, vt)
    loss = l1_weight * ((rendered - vt.target).abs() * vt.mask).sum() / (3.0 * vt.count)
    if perceptual is not None:
        loss = loss + perceptual.compare(_resize(rendered, vt.perceptual_size), vt.perceptual_target)
    return vt.loss_weight * loss


def total_loss(texture: torch.Tensor, tensors: Sequence[ViewTensors], l1_weight: float, perceptual) -> torch.Tensor:
    loss = texture.new_zeros(())
    for vt in tensors:
        loss = loss + view_loss(texture, vt, l1_weight, perceptual)
    return loss


SCHEDULES = ("cosine", "constant")


MIN_WARMUP_STEPS = 40


def lr_schedule(lr: float, iterations: int, kind: str = "cosine") -> Callable[[int], float]:
    """Learning rate of step `it`: "constant", or "cosine" = lr * min(1, (it + 1) / warm) *
    (1 + cos(pi * it / iterations)) / 2, a linear ramp over `warm` steps times a cosine decay to 0
    at the last step; `warm` is 10% of the steps but at least MIN_WARMUP_STEPS (all of a shorter
    run, whose rate then peaks near 40% of the run at about a quarter of lr).

    Why not the paper's constant 0.1: starting from the closed-form splat (already close), a
    constant 0.1 first throws the texture off (Adam's first steps are about lr for every touched
    texel, a pattern of noise that the perceptual loss punishes: on a synthetic figure the loss
    rose 3.7x within 5 steps and was still above the start after 60); the decay lets it settle
    well below the start. Why the long warm-up: with 10% of a short run (1 step of 10, 4 of 40)
    that first jump still happened; on the sample, 10/20/40 steps ended at loss 0.120/0.088/0.040
    with it and 0.083/0.053/0.036 with the warm-up over the whole run, while 200 steps did as well
    with 10% as with 25% (0.022; docs/fusion.md).
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")
    warm = max(1, iterations // 10, min(iterations, MIN_WARMUP_STEPS))

    def at(it: int) -> float:
        if kind == "constant":
            return lr
        return lr * min(1.0, (it + 1) / warm) * 0.5 * (1.0 + math.cos(math.pi * it / max(iterations, 1)))

    return at


@dataclass
class OptimizeResult:
    texture: np.ndarray  # (R, R, 3) float32 in [0, 1]
    losses: list[float]  # loss before each step, then the full loss of the returned texture
    iterations: int
    seconds: float
    best_step: int = -1  # the step whose texture was returned, when an earlier one beat the last (-1: the last)


def optimize_texture(init: np.ndarray, tensors: Sequence[ViewTensors], *, iterations: int = 100, lr: float = 0.1,
                     l1_weight: float = 10.0, perceptual=None, device: str = "cpu", seed: int = 0,
                     views_per_step: int | None = None, schedule: str = "cosine",
                     progress: Callable[[int, int, float], None] | None = None) -> OptimizeResult:
    """Adam on the texture's logit from `init` ((R, R, 3) float in [0, 1]); see the module docstring.

    schedule: "cosine" (default: warm-up, then decay to 0) or "constant" (the paper's plain Adam).
    views_per_step: render only this many views per step (drawn with a generator seeded by
    `seed`, so still deterministic); the loss is rescaled to the full view count. None = all.
    """
    t0 = time.perf_counter()
    p = np.clip(np.asarray(init, np.float32), _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    logit = np.log(p / (1.0 - p)).transpose(2, 0, 1)[None]
    param = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(logit)).to(device))
    opt = torch.optim.Adam([param], lr=lr, betas=(0.9, 0.999))
    lr_at = lr_schedule(lr, iterations, schedule)
    gen = torch.Generator().manual_seed(int(seed))
    n = len(tensors)
    losses: list[float] = []
    if n == 0 or iterations <= 0:
        return OptimizeResult(np.asarray(init, np.float32).copy(), losses, 0, time.perf_counter() - t0)
    k = n if views_per_step is None else max(1, min(int(views_per_step), n))
    # The texture with the lowest full loss seen so far (the loss of step `it` is that of the
    # texture before it). Few steps at Adam's full rate can end worse than the closed-form start
    # (measured: 1 step took the sample's loss from 0.12 to 0.99): the result is never worse.
    best_loss, best_param, best_step = float("inf"), None, -1
    for it in range(iterations):
        if k < n:
            subset = sorted(torch.randperm(n, generator=gen)[:k].tolist())
            scale = n / k
        else:
            subset, scale = list(range(n)), 1.0
        opt.zero_grad(set_to_none=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        texture = torch.sigmoid(param)
        loss = texture.new_zeros(())
        for i in subset:
            loss = loss + view_loss(texture, tensors[i], l1_weight, perceptual)
        loss = loss * scale
        if k == n and float(loss.detach()) < best_loss:
            best_loss, best_param, best_step = float(loss.detach()), param.detach().clone(), it
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))  # the loss before this step (a subset estimate if k < n)
        if progress is not None:
            progress(it + 1, iterations, float(loss.detach()))
    with torch.no_grad():
        texture = torch.sigmoid(param)
        final = float(total_loss(texture, tensors, l1_weight, perceptual))
        if best_param is not None and best_loss < final:
            texture, final = torch.sigmoid(best_param), best_loss
        else:
            best_step = -1
        losses.append(final)
        out = texture[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
    return OptimizeResult(out, losses, iterations, time.perf_counter() - t0, best_step)
