"""Rasteriser stage: what each camera sees of a mesh, as per-pixel maps (ViewMaps).

    maps = render_maps(mesh, cameras)            # list[ViewMaps], one per camera
    seen = visible_from(points, maps[0])         # (N,) bool depth test
    save_maps(maps, folder); load_maps(folder)   # on-disk format: docs/maps.md

Backends: "cpu" (NumPy, always there) and "nvdiffrast" (CUDA); "auto" takes nvdiffrast
only when it imports and CUDA is available. Both follow backend/conventions.py: a pixel is
covered when its centre is inside the projected triangle (inclusive edges), the nearest
surface wins, and there is no back-face culling.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from backend.conventions import Camera
from backend.errors import UserError
from backend.mesh import Mesh

from .cpu import CpuRasterizer
from .maps import ViewMaps, load_maps, load_view, maps_from_fragments, save_maps
from .visibility import pixel_footprint, sample_map, visible_from

__all__ = [
    "BACKENDS",
    "ViewMaps",
    "get_rasterizer",
    "load_maps",
    "load_view",
    "maps_from_fragments",
    "nvdiffrast_available",
    "pixel_footprint",
    "render_maps",
    "sample_map",
    "save_maps",
    "visible_from",
]

BACKENDS = ("auto", "cpu", "nvdiffrast")


def nvdiffrast_available() -> bool:
    from .nvdiffrast_backend import available

    return available()


@cache
def _nvdiffrast():
    # One CUDA context per process: creating it is slow.
    from .nvdiffrast_backend import NvdiffrastRasterizer

    return NvdiffrastRasterizer()


def get_rasterizer(name: str = "auto"):
    """An object with `.name` and `.render(mesh, cameras) -> list[ViewMaps]`."""
    if name == "auto":
        name = "nvdiffrast" if nvdiffrast_available() else "cpu"
    if name == "cpu":
        return CpuRasterizer()
    if name == "nvdiffrast":
        if not nvdiffrast_available():
            raise UserError("--rasterizer nvdiffrast needs the nvdiffrast package and a CUDA GPU; "
                            "use --rasterizer cpu (or auto)")
        return _nvdiffrast()
    raise ValueError(f"unknown rasteriser backend {name!r}; choose one of {BACKENDS}")


def render_maps(mesh: Mesh, cameras: Camera | Sequence[Camera], backend: str = "auto") -> list[ViewMaps]:
    """Render every camera's maps of `mesh` (a single Camera is accepted too)."""
    if isinstance(cameras, Camera):
        cameras = [cameras]
    return get_rasterizer(backend).render(mesh, list(cameras))
