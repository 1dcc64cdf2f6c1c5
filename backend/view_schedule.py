"""The view set: which cameras look at the body, in which order (see DESIGN.md, "The method").

Order matters: synthesis visits views one after another, each seeing what earlier views
explained. The input view (azimuth 0) and an initial back view (180) come first, then the
paper's +-45, +-90, +-135, then views from above and below for the top of the head, the
shoulders and the soles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conventions import ORTHOGRAPHIC, Camera, orbit_camera
from .mesh import Mesh


@dataclass(frozen=True)
class View:
    azimuth_deg: float
    elevation_deg: float = 0.0

    @property
    def name(self) -> str:
        return f"az{self.azimuth_deg:+04.0f}_el{self.elevation_deg:+03.0f}"


PAPER_VIEWS = (View(0), View(180), View(45), View(-45), View(90), View(-90), View(135), View(-135))
COVER_VIEWS = (View(0, 60), View(180, 60), View(0, -60), View(180, -60))
DEFAULT_VIEWS = PAPER_VIEWS + COVER_VIEWS
NAMED_SCHEDULES = {"default": DEFAULT_VIEWS, "paper": PAPER_VIEWS}


def parse_views(spec: str) -> tuple[View, ...]:
    """A view schedule from `--views`: a name (default: the paper's 8 views + 4 from above and below;
    paper: the paper's 8), or the views after the input, in visiting order, comma-separated, each
    AZIMUTH or AZIMUTH@ELEVATION in degrees, the first being 180 (the initial back view), e.g.
    "180,45,-45,90,-90,135,-135,0@60". The input view (azimuth 0) always comes first by itself."""
    from .errors import UserError

    text = str(spec).strip()
    if text in NAMED_SCHEDULES:
        return NAMED_SCHEDULES[text]
    hint = f"--views wants {' or '.join(NAMED_SCHEDULES)}, or a list like \"180,45,-45,90,-90,0@60\""
    views = []
    for item in text.split(","):
        az, _, el = item.strip().partition("@")
        try:
            view = View(float(az), float(el) if el else 0.0)
        except ValueError:
            raise UserError(f"{hint}; {item.strip()!r} is not AZIMUTH or AZIMUTH@ELEVATION") from None
        if not (np.isfinite(view.azimuth_deg) and np.isfinite(view.elevation_deg)
                and -90.0 < view.elevation_deg < 90.0):
            raise UserError(f"{hint}; {item.strip()!r}: finite degrees, the elevation strictly between -90 and 90")
        azimuth = (view.azimuth_deg + 180.0) % 360.0 - 180.0  # in (-180, 180], so 180 and -180 are one view
        views.append(View(180.0 if azimuth == -180.0 else azimuth, view.elevation_deg))
    if not views or (views[0].azimuth_deg, views[0].elevation_deg) != (180.0, 0.0):
        raise UserError(f"{hint}; the first view must be 180 (the initial back view, made from the photo)")
    names = [v.name for v in views]
    if len(set(names)) != len(names) or View(0).name in names:
        raise UserError(f"{hint}; each view once, and not 0 (the input view comes first by itself)")
    return (View(0), *views)


def framing(mesh: Mesh) -> tuple[np.ndarray, float]:
    """Orbit target (mid-height on the Z axis) and the square extent that fits the body from any side."""
    v = mesh.vertices
    lo, hi = v.min(axis=0), v.max(axis=0)
    target = np.array([0.0, 0.0, (lo[2] + hi[2]) / 2.0])
    radius = float(np.linalg.norm(v - target, axis=1).max())
    return target, 2.0 * radius * 1.04


def view_cameras(mesh: Mesh, views=DEFAULT_VIEWS, resolution: int = 512,
                 projection: str = ORTHOGRAPHIC) -> list[Camera]:
    target, extent = framing(mesh)
    return [
        orbit_camera(v.azimuth_deg, v.elevation_deg, target=target, extent_m=extent, resolution=resolution,
                     projection=projection, name=v.name)
        for v in views
    ]
