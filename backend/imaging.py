"""Small image operations several stages share."""

from __future__ import annotations

import cv2
import numpy as np


def pull_push(image: np.ndarray, known: np.ndarray, levels: int | None = None) -> np.ndarray:
    """Fill every unknown pixel from the known ones, smoothly, with no other colour coming in.

    Pull: average the known pixels down a pyramid (normalised by the known weight); push:
    fill each level's gaps from the coarser level. Unknown pixels end up with a smooth
    blend of nearby known colours; known pixels keep theirs exactly.
    """
    img = np.asarray(image, np.float32)
    w = np.asarray(known, np.float32)
    if not w.any():
        return img.copy()
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    levels = levels or int(np.ceil(np.log2(max(img.shape[:2])))) + 1
    pyramid = [(img * w[..., None], w)]
    for _ in range(levels):
        c, wt = pyramid[-1]
        if min(wt.shape) <= 1:
            break
        h2, w2 = (wt.shape[0] + 1) // 2, (wt.shape[1] + 1) // 2
        c = cv2.resize(np.ascontiguousarray(c), (w2, h2), interpolation=cv2.INTER_AREA).reshape(h2, w2, -1)
        wt = cv2.resize(np.ascontiguousarray(wt), (w2, h2), interpolation=cv2.INTER_AREA)
        pyramid.append((c, wt))
    # Colour per level = premultiplied / weight; push from the coarsest level up.
    c, wt = pyramid[-1]
    colour = c / np.maximum(wt, 1e-12)[..., None]
    for c, wt in reversed(pyramid[:-1]):
        up = cv2.resize(colour, (wt.shape[1], wt.shape[0]), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(wt.shape[0], wt.shape[1], -1)
        own = c / np.maximum(wt, 1e-12)[..., None]
        a = np.clip(wt, 0.0, 1.0)[..., None]
        colour = a * own + (1 - a) * up
    out = np.where(np.asarray(known, bool)[..., None], img, colour)
    return out[..., 0] if squeeze else out
