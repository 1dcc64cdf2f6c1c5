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
