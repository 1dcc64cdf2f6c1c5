"""The plain baseline the evaluation compares against: mirror the front onto the back.

Every surface point takes the photo's colour where the input camera's ray through it meets
the photo, whether the photo saw that point or not. Seen from behind, the back is then the
front image flipped left to right (face, badge and all); the sides are the photo's edge pixels
stretched round. It uses the result's own mesh, so against our texture the only difference
is how the unseen side was made.
"""

from __future__ import annotations

import cv2
import numpy as np

from backend.conventions import Camera
from backend.imaging import push_pull
from backend.mesh import Mesh
from backend.raster import render_maps


def photo_filled_outside(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo with its background replaced by the person's colours (push-pull from the mask),
    so rays that graze the silhouette's edge fetch body colours, not the backdrop."""
    return push_pull(np.asarray(photo, np.float32), np.asarray(mask, bool))


def render_mirrored(mesh: Mesh, filled_photo: np.ndarray, photo_camera: Camera, camera: Camera,
                    background=(1.0, 1.0, 1.0), maps=None, moved_by=(0.0, 0.0, 0.0)):
    """(H, W, 3) float image of `mesh` from `camera` coloured by projecting the photo through it, and its mask.

    `maps`: the mesh's maps from `camera` when the caller already has them. `moved_by`: how far `mesh` was
    translated after the photo's camera saw it (the evaluation aligns a result to the truth).
    """
    if maps is None:
        maps = render_maps(mesh, [camera], backend="cpu")[0]
    img = np.tile(np.asarray(background, np.float32), (camera.height, camera.width, 1))
    pix, _ = photo_camera.project(maps.position[maps.mask] - np.asarray(moved_by, np.float64))
    # pix are continuous pixel coordinates with pixel centres at +0.5; remap samples at integer centres.
    xy = (pix - 0.5).astype(np.float32).reshape(-1, 1, 2)
    colours = cv2.remap(filled_photo, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    img[maps.mask] = colours.reshape(-1, 3)
    return img, maps.mask
