"""UV atlas with xatlas, and the texel padding plan the texture stages follow.

xatlas cuts the mesh into charts and packs them into the unit square, leaving a gutter of
`padding_texels` between charts at the planned texture size. Texture stages later bleed
every chart's colours outward into the gutters (`bleed_texels`), so bilinear filtering
and mip-mapping never pick up the background colour at a seam.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import MeshInputError
from ..mesh import Mesh

REPO_ROOT = Path(__file__).resolve().parents[2]  # so the child finds `backend` wherever it runs from


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
    """Cut and pack `mesh` into one UV atlas for a resolution^2 texture; geometry is unchanged.

    xatlas runs in a child process (backend/uv/xatlas_child.py). When it crashes, as xatlas
    0.0.11 does on some very regular meshes, it runs once more on a copy of the vertices
    moved by 1e-4 of the mesh's size (far below a texel; the mesh keeps its own vertices),
    which breaks the ties that trip it. A second crash is explained in one line.
    """
    plan = PaddingPlan.for_resolution(resolution)
    job = {"vertices": mesh.vertices.astype(np.float32), "faces": mesh.faces.astype(np.uint32),
           "resolution": resolution, "padding": plan.padding_texels,
           "max_chart_area": surface_area(mesh) / 25.0}
    out = _run_xatlas_child(job)
    if out is None:
        extent = float(np.ptp(mesh.vertices, axis=0).max()) if len(mesh.vertices) else 1.0
        rng = np.random.default_rng(0)
        job["vertices"] = (mesh.vertices + rng.uniform(-1, 1, mesh.vertices.shape) * JITTER * extent).astype(np.float32)
        out = _run_xatlas_child(job)
    if out is None:
        raise MeshInputError(
            f"the UV unwrapper (xatlas) crashed twice on this mesh ({len(mesh.faces)} faces); remesh or "
            "decimate it (e.g. Blender's Remesh modifier) and try again")
    vmapping, indices = out["vmapping"], out["indices"]
    # xatlas keeps the face order; each UV vertex remembers the geometric vertex it came from.
    if not np.array_equal(vmapping[indices], mesh.faces):
        raise RuntimeError("xatlas changed the mesh's faces; cannot keep geometry and UVs apart")
    uv_mesh = Mesh(mesh.vertices, mesh.faces, out["uvs"].astype(np.float64), indices.astype(np.int64))
    return UVAtlas(uv_mesh, plan, int(out["chart_count"]), float(out["utilization"]))


JITTER = 1e-4  # of the mesh's extent: enough to stop xatlas#146 crashes (1e-5 is not), far below a texel


def _run_xatlas_child(job: dict) -> dict | None:
    """xatlas's arrays from a child process, or None when the child crashed."""
    with tempfile.TemporaryDirectory(prefix="xatlas-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **job)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
        # subprocess.run kills the child if this process is interrupted (Cancel, Ctrl-C).
        proc = subprocess.run([sys.executable, "-m", "backend.uv.xatlas_child", str(src), str(dst)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0 and "Traceback (most recent call last)" in proc.stderr:
            # A Python error, not a crash: retrying will not help; show what it said.
            raise RuntimeError("xatlas child process failed: " + proc.stderr.strip().splitlines()[-1])
        if proc.returncode != 0 or not dst.exists():
            return None  # killed by a signal (segfault) or, on Windows, an access-violation status
        with np.load(dst) as out:
            return {k: out[k] for k in out.files}
