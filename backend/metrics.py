"""Agreement measures shared by tests, the evaluation and the benchmark."""

from __future__ import annotations

import numpy as np


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] (or uint8), over `mask` if given."""
    d = as_float(a) - as_float(b)
    if mask is not None:
        d = d[np.asarray(mask, bool)]
    mse = float(np.mean(d**2)) if d.size else 0.0
    return float(10.0 * np.log10(1.0 / max(mse, 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity (scikit-image, Gaussian window), averaged over `mask` if given."""
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(as_float(a), as_float(b), channel_axis=-1, data_range=1.0,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True)
    full = full.mean(axis=-1)
    return float(full[np.asarray(mask, bool)].mean() if mask is not None else full.mean())


def bbox_crop(*images: np.ndarray, mask: np.ndarray, margin: int = 8):
    """The images cropped to the mask's bounding box (plus a margin), so empty background
    does not inflate image-wide scores."""
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - margin, 0), rows.max() + 1 + margin
    c0, c1 = max(cols.min() - margin, 0), cols.max() + 1 + margin
    return [im[r0:r1, c0:c1] for im in images]
