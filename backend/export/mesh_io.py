"""Writing meshes (OBJ with UVs) and reading user meshes (OBJ/PLY/GLB)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import MeshInputError
from ..mesh import Mesh

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf")
MAX_USER_FACES = 2_000_000


def obj_text(mesh: Mesh, mtl_name: str | None = None, material: str | None = None) -> str:
    """Wavefront OBJ text: 1-based indices, `f v/vt` when the mesh has UVs."""
    buf = io.StringIO()
    buf.write("# photo-digitize mesh; world frame: metres, Z up, person faces -Y\n")
    if mtl_name:
        buf.write(f"mtllib {mtl_name}\n")
    np.savetxt(buf, mesh.vertices, fmt="v %.6f %.6f %.6f")
    if mesh.has_uv:
        np.savetxt(buf, mesh.uv, fmt="vt %.6f %.6f")
    if material:
        buf.write(f"usemtl {material}\n")
    f = mesh.faces + 1
    if mesh.has_uv:
        t = mesh.faces_uv + 1
        interleaved = np.stack([f[:, 0], t[:, 0], f[:, 1], t[:, 1], f[:, 2], t[:, 2]], axis=1)
        np.savetxt(buf, interleaved, fmt="f %d/%d %d/%d %d/%d")
    else:
        np.savetxt(buf, f, fmt="f %d %d %d")
    return buf.getvalue()


def load_user_mesh(path: Path) -> Mesh:
    """Read a mesh the user supplied, with a one-line error for anything unusable."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise MeshInputError(f"mesh file not found: {path}")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshInputError(f"{path.name}: unsupported mesh format (use OBJ, PLY or GLB)")
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many kinds on bad files
        raise MeshInputError(f"{path.name}: cannot read mesh ({type(e).__name__}: {e})") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshInputError(f"{path.name}: the file holds no triangles")
    if len(loaded.faces) > MAX_USER_FACES:
        raise MeshInputError(f"{path.name}: {len(loaded.faces):,} faces is too many (at most {MAX_USER_FACES:,})")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    if path.suffix.lower() in (".glb", ".gltf"):
        # glTF is Y-up; Blender's importer maps it to Z-up as (x, -z, y). Do the same.
        vertices = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)
    if not np.isfinite(vertices).all():
        raise MeshInputError(f"{path.name}: some vertex coordinates are NaN or infinite")
    faces = np.asarray(loaded.faces, dtype=np.int64)
    extent = np.ptp(vertices[np.unique(faces)], axis=0)
    if extent[2] <= 0:
        raise MeshInputError(f"{path.name}: the mesh is flat in Z; expected a standing body (Z up, metres)")
    uv = getattr(loaded.visual, "uv", None)
    if uv is None or len(uv) != len(vertices) or not np.isfinite(uv).all():
        return Mesh(vertices, faces)
    # Readers split vertices where UVs differ; weld them back by position so the surface is
    # whole again, and keep the UVs per corner in their own index buffer.
    _, first, weld = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    weld = weld.reshape(-1)
    return Mesh(vertices[first], weld[faces], np.asarray(uv, dtype=np.float64), faces.copy())
