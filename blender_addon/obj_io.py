"""Wavefront OBJ in and out, in NumPy (no ``bpy``): the meshes the add-on and the backend trade.

Coordinates are taken as they stand: the backend writes Blender's world frame (metres,
Z up, facing -Y), so there is no axis conversion either way. UVs are per corner (``f v/vt``),
so UV seams survive without splitting the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ObjMesh:
    vertices: np.ndarray  # (V, 3) float64
    loop_start: np.ndarray  # (F,) int: first corner of each polygon
    loop_total: np.ndarray  # (F,) int: corners per polygon
    loop_vertex: np.ndarray  # (L,) int: vertex index of each corner
    uv: np.ndarray | None = None  # (L, 2) float: UV of each corner, (0, 0) bottom-left; None without vt
    material_library: str | None = None

    @property
    def is_triangles(self) -> bool:
        return bool(np.all(self.loop_total == 3))


def _index(token: str, count: int) -> int:
    i = int(token)
    return i - 1 if i > 0 else count + i  # OBJ indices are 1-based; negative ones count from the end


def read_obj(path) -> ObjMesh:
    """Vertices, polygons and per-corner UVs of an OBJ file (normals, groups and materials ignored)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    v_lines, vt_lines, faces, mtllib = [], [], [], None
    for line in text.splitlines():
        if line.startswith("v "):
            v_lines.append(line[2:])
        elif line.startswith("vt "):
            vt_lines.append(line[3:])
        elif line.startswith("f "):
            faces.append(line[2:].split())
        elif line.startswith("mtllib "):
            mtllib = line[7:].strip()
    vertices = np.array([s.split()[:3] for s in v_lines], dtype=np.float64).reshape(-1, 3)
    uvs = np.array([s.split()[:2] for s in vt_lines], dtype=np.float64).reshape(-1, 2)
    nv, nt = len(vertices), len(uvs)
    totals = np.array([len(f) for f in faces], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(totals)[:-1]]).astype(np.int64) if len(faces) else np.zeros(0, np.int64)
    loop_vertex = np.empty(int(totals.sum()), np.int64)
    loop_uv_index = np.full(len(loop_vertex), -1, np.int64)
    k = 0
    for f in faces:
        for corner in f:
            parts = corner.split("/")
            loop_vertex[k] = _index(parts[0], nv)
            if len(parts) > 1 and parts[1]:
                loop_uv_index[k] = _index(parts[1], nt)
            k += 1
    if len(loop_vertex) and (loop_vertex.min() < 0 or loop_vertex.max() >= nv):
        raise ValueError(f"{path}: a face refers to a vertex that does not exist")
    uv = None
    if nt and len(loop_uv_index) and (loop_uv_index >= 0).all():
        if loop_uv_index.max() >= nt:
            raise ValueError(f"{path}: a face refers to a texture coordinate that does not exist")
        uv = uvs[loop_uv_index]
    return ObjMesh(vertices, starts, totals, loop_vertex, uv, mtllib)


def obj_text(vertices, triangles, corner_uv=None, header: str = "") -> str:
    """OBJ text of a triangle mesh; ``corner_uv`` (F, 3, 2) gives every corner its own UV (deduplicated)."""
    import io

    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    f = np.asarray(triangles, np.int64).reshape(-1, 3) + 1
    buf = io.StringIO()
    for line in header.splitlines():
        buf.write(f"# {line}\n")
    np.savetxt(buf, vertices, fmt="v %.6f %.6f %.6f")
    if corner_uv is None:
        np.savetxt(buf, f, fmt="f %d %d %d")
        return buf.getvalue()
    corner_uv = np.asarray(corner_uv, np.float64).reshape(-1, 2)
    uv, inverse = np.unique(np.round(corner_uv, 7), axis=0, return_inverse=True)
    t = inverse.reshape(-1, 3) + 1
    np.savetxt(buf, uv, fmt="vt %.7f %.7f")
    np.savetxt(buf, np.stack([f[:, 0], t[:, 0], f[:, 1], t[:, 1], f[:, 2], t[:, 2]], axis=1),
               fmt="f %d/%d %d/%d %d/%d")
    return buf.getvalue()


def write_obj(path, vertices, triangles, corner_uv=None, header: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(obj_text(vertices, triangles, corner_uv, header), encoding="utf-8")
    tmp.replace(path)
    return path
