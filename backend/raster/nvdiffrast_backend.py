"""The same rasteriser on CUDA through nvdiffrast (https://nvlabs.github.io/nvdiffrast/).

nvdiffrast only gives us, per pixel, (u, v, z/w, triangle_id + 1) with perspective-correct
barycentrics (u, v, 1 - u - v) of the triangle's vertices 0, 1, 2; the maps themselves are
then built by the shared `maps_from_fragments`, exactly as for the CPU backend.

Not testable without a GPU: keep it short. Differences from the CPU backend: nvdiffrast's
own fill rule on shared edges, triangles crossing the near plane are clipped rather than
dropped, and face ids are exact only below 2**24 faces (they come back as float32).
"""

from __future__ import annotations

import numpy as np

from backend.conventions import ORTHOGRAPHIC, Camera
from backend.mesh import Mesh

from .maps import ViewMaps, maps_from_fragments

_NEAR = 1e-3  # metres, as the CPU backend


def available() -> bool:
    """True when nvdiffrast's CUDA rasteriser can run here."""
    try:
        import nvdiffrast.torch  # noqa: F401
        import torch
    except Exception:
        return False
    return bool(torch.cuda.is_available())


def _clip_positions(vertices: np.ndarray, camera: Camera, wp: int, hp: int) -> np.ndarray:
    """(V, 4) clip-space positions so that nvdiffrast's pixel grid (wp x hp) matches ours.

    nvdiffrast: NDC x = -1 at the left edge, NDC y = -1 at the BOTTOM edge, row 0 at the
    bottom, pixel centres at NDC (2 (i + 0.5) / size - 1). So x_ndc = 2u / wp - 1 and
    y_ndc = 1 - 2v / hp (v grows down), and the rendered rows must be flipped afterwards.
    """
    pc = camera.to_camera(vertices)
    d = -pc[:, 2]  # depth in front of the camera
    hit = d[d > (_NEAR if camera.projection != ORTHOGRAPHIC else 0.0)]
    if len(hit) == 0:
        hit = np.array([1.0])
    if camera.projection == ORTHOGRAPHIC:
        u = camera.fx * pc[:, 0] + camera.cx
        v = -camera.fy * pc[:, 1] + camera.cy
        n, f = 0.0, float(hit.max()) * 1.01 + 1e-3  # drop what is behind the camera, as the CPU backend
        w = np.ones_like(d)
        x, y = 2.0 * u / wp - 1.0, 1.0 - 2.0 * v / hp
        z = 2.0 * (d - n) / (f - n) - 1.0
    else:
        # Homogeneous: x_c / w = 2u / wp - 1 with u = (fx x + cx d) / d and w = d.
        n, f = max(float(hit.min()) * 0.5, _NEAR), float(hit.max()) * 2.0 + 1e-3
        w = d
        x = 2.0 * (camera.fx * pc[:, 0] + camera.cx * d) / wp - d
        y = d - 2.0 * (-camera.fy * pc[:, 1] + camera.cy * d) / hp
        z = ((f + n) * d - 2.0 * f * n) / (f - n)  # z / w: -1 at the near plane, +1 at the far one
    return np.stack([x, y, z, w], axis=1).astype(np.float32)


class NvdiffrastRasterizer:
    """CUDA rasteriser; needs `import nvdiffrast.torch` and a CUDA device."""

    name = "nvdiffrast"

    def __init__(self, device: str = "cuda"):
        import nvdiffrast.torch as dr
        import torch

        self._dr, self._torch = dr, torch
        self.device = torch.device(device)
        self.ctx = dr.RasterizeCudaContext(device=self.device)

    def render(self, mesh: Mesh, cameras: list[Camera]) -> list[ViewMaps]:
        torch = self._torch
        tri = torch.as_tensor(np.ascontiguousarray(mesh.faces, dtype=np.int32), device=self.device)
        vn = mesh.vertex_normals()
        out = []
        for cam in cameras:
            if len(mesh.faces) == 0:  # nvdiffrast refuses an empty triangle list
                empty = np.full((cam.height, cam.width), -1, np.int32)
                out.append(maps_from_fragments(mesh, cam, empty, np.zeros((*empty.shape, 3), np.float32), vn))
                continue
            # CudaRaster wants sizes divisible by 8: render a padded image (extra columns on the
            # right, extra rows at the bottom of our image) and crop.
            wp, hp = -(-cam.width // 8) * 8, -(-cam.height // 8) * 8
            pos = torch.as_tensor(_clip_positions(mesh.vertices, cam, wp, hp), device=self.device)
            with torch.no_grad():
                rast, _ = self._dr.rasterize(self.ctx, pos[None].contiguous(), tri, resolution=(hp, wp))
            # Row 0 of nvdiffrast is the bottom: flip to our row-0-at-top, then crop the padding.
            rast = torch.flip(rast[0], dims=[0])[: cam.height, : cam.width].cpu().numpy()
            face_id = np.rint(rast[..., 3]).astype(np.int64) - 1
            bary = np.stack([rast[..., 0], rast[..., 1], 1.0 - rast[..., 0] - rast[..., 1]], axis=-1)
            bary[face_id < 0] = 0.0
            out.append(maps_from_fragments(mesh, cam, face_id.astype(np.int32), bary, vertex_normals=vn))
        return out
