"""Measure a result against what it should look like: the photo, or a figure's ground truth.

Used by the tests (acceptance floors) and the evaluation command. Renders are unshaded:
texture colour through the view's UV map. LPIPS is scored only with its real weights on disk
(backend/fusion/perceptual.py says where they are looked for); without them it is left out,
never replaced by a look-alike number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.conventions import Camera
from backend.export.preview import sample_texture
from backend.mesh import Mesh
from backend.metrics import bbox_crop, mask_iou, psnr, ssim
from backend.raster import render_maps


def render_textured(mesh: Mesh, texture: np.ndarray, camera: Camera, background=(1.0, 1.0, 1.0), maps=None):
    """(H, W, 3) float image of the textured mesh from `camera`, and its silhouette.

    `maps`: the mesh's maps from `camera` when the caller already has them.
    """
    if maps is None:
        maps = render_maps(mesh, [camera], backend="cpu")[0]
    img = np.tile(np.asarray(background, np.float32), (camera.height, camera.width, 1))
    img[maps.mask] = sample_texture(texture, maps.uv[maps.mask]) / 255.0
    return img, maps.mask


def render_figure_albedo(figure, camera: Camera, background=(1.0, 1.0, 1.0)):
    """Ground truth: the synthetic figure's true colours from `camera`, and its silhouette."""
    maps = render_maps(figure.mesh, [camera], backend="cpu")[0]
    img = np.tile(np.asarray(background, np.float32), (camera.height, camera.width, 1))
    img[maps.mask] = figure.colour(maps.position[maps.mask])
    return img, maps.mask


@dataclass
class Score:
    psnr: float
    ssim: float
    iou: float
    lpips: float | None = None  # None: no LPIPS weights on this machine

    def row(self) -> dict:
        return {"psnr_db": round(self.psnr, 2), "ssim": round(self.ssim, 4), "iou": round(self.iou, 4),
                "lpips": None if self.lpips is None else round(self.lpips, 4)}


def compare(result_img, result_mask, truth_img, truth_mask, lpips=None) -> Score:
    """Scores over the truth's silhouette, images cropped to the body (background would flatter).

    PSNR and SSIM count the pixels inside the truth's silhouette; IoU compares the silhouettes;
    LPIPS (when `lpips` is given, see `load_lpips_metric`) sees the whole crop, as it needs context.
    """
    a, b, m = bbox_crop(result_img, truth_img, truth_mask, mask=truth_mask | result_mask)
    score = Score(psnr(a, b, m), ssim(a, b, m), mask_iou(result_mask, truth_mask))
    if lpips is not None:
        score.lpips = lpips(a, b)
    return score


def load_lpips_metric():
    """(fn(a, b) -> LPIPS distance of two (H, W, 3) float images in [0, 1], or None; a note)."""
    from backend.fusion.perceptual import BACKBONE_FILE, find_backbone, load_lpips

    path = find_backbone()
    if path is None:
        return None, f"LPIPS left out: its AlexNet weights ({BACKBONE_FILE}) are not on this machine " \
                     "(`python3 install_deps.py --models` fetches them)"
    import torch

    model = load_lpips(path)

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        x, y = (torch.from_numpy(np.ascontiguousarray(im, np.float32)).permute(2, 0, 1)[None] for im in (a, b))
        with torch.no_grad():
            return float(model(x, y))

    return distance, f"LPIPS (AlexNet) from {path}"
