"""The ground-truth set: synthetic people with known shape and colour, their photo, the protocol's views.

    fig = make_figure(seed)                      # lab/synthetic/figure.py
    write_photo(fig, path)                       # what the pipeline is given
    cams = protocol_cameras(fig.mesh, 256)       # 90 orbit views, 4 degrees apart, as the paper scores

The photo is the figure from the front through a photographer's camera (a level pinhole with a
50 mm full-frame-equivalent lens, backend.conventions.portrait_camera), with its true colours
and no shading: the texture is then asked to reproduce the albedo, so a score measures
reconstruction and synthesis, not how lighting was baked in. The protocol's cameras are framed
on the true body, so a wrong shape costs as well as a wrong colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backend.conventions import Camera, portrait_camera
from backend.view_schedule import View, view_cameras

from .scoring import render_figure_albedo

DEFAULT_SEEDS = (0, 1, 2, 3, 4, 5)
PROTOCOL_VIEWS = 90  # 4 degrees apart, all the way round
PHOTO_SIZE = (640, 900)  # width, height
PHOTO_BACKGROUND = (0.95, 0.95, 0.95)

# Azimuth 0 faces the person (the photo's side), 180 sees their back.
GROUPS = ("front", "side", "back")


def view_group(azimuth_deg: float) -> str:
    """front: within 45 degrees of the photo; back: within 45 of the opposite side; side: the rest."""
    a = abs((azimuth_deg + 180.0) % 360.0 - 180.0)
    return "front" if a <= 45.0 else "back" if a >= 135.0 else "side"


def protocol_azimuths(count: int = PROTOCOL_VIEWS) -> list[float]:
    """`count` azimuths evenly round the body from 0 (front), in (-180, 180]."""
    step = 360.0 / count
    return [((k * step + 180.0) % 360.0) - 180.0 if k * step != 180.0 else 180.0 for k in range(count)]


def protocol_cameras(mesh, resolution: int, count: int = PROTOCOL_VIEWS) -> list[Camera]:
    return view_cameras(mesh, [View(a) for a in protocol_azimuths(count)], resolution=resolution)


def photo_camera(height_m: float) -> Camera:
    """A 50 mm portrait from the front (-Y), level at the body's mid-height, the body in 1/1.2 of the frame's height."""
    w, h = PHOTO_SIZE
    return portrait_camera(height_m, w, h, fill=1 / 1.2, name="photo")


def write_photo(figure, path: Path) -> Path:
    """The figure's photo (PNG, unshaded true colours on a light grey background)."""
    from PIL import Image

    img, _ = render_figure_albedo(figure, photo_camera(figure.height_m), background=PHOTO_BACKGROUND)
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(path)
    return path
