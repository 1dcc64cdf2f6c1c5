"""Small image operations several stages share."""

from __future__ import annotations

import cv2
import numpy as np


def push_pull(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill every pixel of `image` ((H, W) or (H, W, C)) from the `known` ones with a pyramid.

    Push: premultiplied colours and weights are area-averaged down to 1x1. Pull: from the
    coarsest level up, each level blends its own normalised colour with the upsampled
    coarser one by its coverage (1 where fully known), so known pixels keep their values
    exactly and holes get a smooth, distance-weighted mix of the known pixels around them;
    no colour from outside `known` ever comes in.
    """
    img = np.asarray(image, np.float32)
    known = np.asarray(known, bool)
    if not known.any():
        raise ValueError("push_pull needs at least one known pixel")
    gray = img.ndim == 2
    if gray:
        img = img[..., None]
    w = known.astype(np.float32)
    cw = np.where(known[..., None], np.nan_to_num(img), 0.0).astype(np.float32) * w[..., None]
    levels = [(cw, w)]
    while max(levels[-1][1].shape) > 1:
        c, ww = levels[-1]
        h, wd = ww.shape
        size = ((wd + 1) // 2, (h + 1) // 2)
        c2 = cv2.resize(c, size, interpolation=cv2.INTER_AREA)
        w2 = cv2.resize(ww, size, interpolation=cv2.INTER_AREA)
        levels.append((c2.reshape(w2.shape + (img.shape[-1],)), w2))
    col = None
    for c, ww in reversed(levels):
        own = c / np.maximum(ww, 1e-12)[..., None]
        if col is None:
            col = own
            continue
        up = cv2.resize(col, (ww.shape[1], ww.shape[0]), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(own.shape)
        alpha = np.clip(ww, 0.0, 1.0)[..., None]
        col = alpha * own + (1.0 - alpha) * up
    assert col is not None  # the pyramid has at least one level
    col = col.astype(np.float32)
    col[known] = img[known]
    return col[..., 0] if gray else col
