"""UV atlas with xatlas, and the texel padding plan the texture stages follow.

xatlas cuts the mesh into charts and packs them into the unit square, leaving a gutter of
`padding_texels` between charts at the planned texture size. Texture stages later bleed
every chart's colours outward into the gutters (`bleed_texels`), so bilinear filtering
and mip-mapping never pick up the background colour at a seam.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xatlas

from ..mesh import Mesh


@dataclass(frozen=True)
class PaddingPlan:
    resolution: int  # texture edge length the atlas was packed for, in texels
    padding_texels: int  # empty gutter xatlas leaves between charts
    bleed_texels: int  # how far chart colours are pushed into the gutters (then fill the rest)

    @staticmethod
    def for_resolution(resolution: int) -> PaddingPlan:
        # 4 texels at 1024^2: chart colours survive two mip levels before gutters mix in.
        padding = max(2, resolution // 256)
        return PaddingPlan(resolution, padding, 2 * padding)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class UVAtlas:
    mesh: Mesh  # the input mesh with uv / faces_uv filled in
    plan: PaddingPlan
    charts: int
    utilization: float


def surface_area(mesh: Mesh) -> float:
    v = mesh.vertices[mesh.faces]
    return float(0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1).sum())


def unwrap(mesh: Mesh, resolution: int = 1024) -> UVAtlas:
    """Cut and pack `mesh` into one UV atlas for a resolution^2 texture; geometry is unchanged."""
    plan = PaddingPlan.for_resolution(resolution)
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32))
    chart_options = xatlas.ChartOptions()
    # Unbounded chart growing costs xatlas about a minute on a 60k-face body; one growing
    # pass and charts of at most 1/25 of the surface bring that to about 2 s (docs/benchmarks.md).
    chart_options.max_iterations = 0
    chart_options.max_chart_area = surface_area(mesh) / 25.0
    pack_options = xatlas.PackOptions()
    pack_options.resolution = resolution
    pack_options.padding = plan.padding_texels
    pack_options.bilinear = True
    atlas.generate(chart_options, pack_options)
    vmapping, indices, uvs = atlas[0]
    # xatlas keeps the face order; each UV vertex remembers the geometric vertex it came from.
    if not np.array_equal(vmapping[indices], mesh.faces):
        raise RuntimeError("xatlas changed the mesh's faces; cannot keep geometry and UVs apart")
    out = Mesh(mesh.vertices, mesh.faces, uvs.astype(np.float64), indices.astype(np.int64))
    return UVAtlas(out, plan, int(atlas.chart_count), float(atlas.utilization))
