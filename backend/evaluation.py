"""Measure a result against what it should look like: the photo, or a figure's ground truth.

Used by the tests (acceptance floors), the benchmark (quality tables) and, later, the
evaluation command. Renders are unshaded: texture colour through the view's UV map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conventions import Camera
from .export.preview import sample_texture
from .mesh import Mesh
from .metrics import bbox_crop, mask_iou, psnr, ssim
from .raster import render_maps


def render_textured(mesh: Mesh, texture: np.ndarray, camera: Camera, background=(1.0, 1.0, 1.0)):
    """(H, W, 3) float image of the textured mesh from `camera`, and its silhouette."""
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

    def row(self) -> dict:
        return {"psnr_db": round(self.psnr, 2), "ssim": round(self.ssim, 4), "iou": round(self.iou, 4)}


def compare(result_img, result_mask, truth_img, truth_mask) -> Score:
    """Scores over the truth's silhouette, images cropped to the body (background would flatter)."""
    a, b, m = bbox_crop(result_img, truth_img, truth_mask, mask=truth_mask | result_mask)
    return Score(psnr(a, b, m), ssim(a, b, m), mask_iou(result_mask, truth_mask))
