"""Writing meshes (OBJ with UVs) and reading user meshes (OBJ/PLY/GLB)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import MeshInputError
from ..mesh import Mesh

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf")
# Beyond this the UV unwrap (xatlas) alone takes many minutes on a CPU (200k faces: ~20 s, 600k: > 5 min).
MAX_USER_FACES = 500_000


def _too_many_faces(name: str, count: str) -> MeshInputError:
    return MeshInputError(f"{name}: too many faces ({count}); decimate the mesh to under {MAX_USER_FACES:,} faces "
                          "(Blender: Decimate modifier) and try again")


def _face_count_from_file(path: Path) -> int | None:
    """Faces an OBJ or PLY file declares, read without parsing the mesh (None when unknown).

    PLY: its header's `element face N`; OBJ: its `f` lines (each at least one triangle).
    """
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            if suffix == ".ply":
                if f.read(4) != b"ply\n":
                    return None
                for _ in range(200):
                    line = f.readline()
                    if not line or line.startswith(b"end_header"):
                        return None
                    words = line.split()
                    if len(words) == 3 and words[0] == b"element" and words[1] == b"face":
                        return int(words[2])
                return None
            if suffix == ".obj":
                count, tail = 0, b"\n"  # carry 2 bytes: a 3-byte "\nf " across chunks is counted once
                while chunk := f.read(1 << 24):
                    data = tail + chunk
                    count += data.count(b"\nf ") + data.count(b"\nf\t")
                    tail = data[-2:]
                return count
    except (OSError, ValueError):
        return None
    return None


def obj_text(mesh: Mesh, mtl_name: str | None = None, material: str | None = None) -> str:
    """Wavefront OBJ text: 1-based indices, `f v/vt` when the mesh has UVs."""
    buf = io.StringIO()
    buf.write("# photo-digitize mesh; world frame: metres, Z up, person faces -Y\n")
    if mtl_name:
        buf.write(f"mtllib {mtl_name}\n")
    np.savetxt(buf, mesh.vertices, fmt="v %.6f %.6f %.6f")
    if mesh.has_uv:
        np.savetxt(buf, mesh.uv_layout()[0], fmt="vt %.6f %.6f")
    if material:
        buf.write(f"usemtl {material}\n")
    f = mesh.faces + 1
    if mesh.has_uv:
        t = mesh.uv_layout()[1] + 1
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
    declared = _face_count_from_file(path)
    if declared is not None and declared > MAX_USER_FACES:  # refuse before spending minutes parsing it
        raise _too_many_faces(path.name, f"{declared:,}")
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except IndexError:  # a face's vertex number is past the last vertex
        raise MeshInputError(f"{path.name}: a face refers to a vertex the file does not have (the file is damaged): "
                             "export the mesh again") from None
    except Exception as e:  # trimesh raises many kinds on bad files
        raise MeshInputError(f"{path.name}: cannot read mesh ({type(e).__name__}: {e})") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshInputError(f"{path.name}: the file holds no faces (only points or lines?): export the mesh with "
                             "its faces")
    if len(loaded.faces) > MAX_USER_FACES:  # n-gons triangulated, or a GLB
        raise _too_many_faces(path.name, f"{len(loaded.faces):,} triangles")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    if path.suffix.lower() in (".glb", ".gltf"):
        # glTF is Y-up; Blender's importer maps it to Z-up as (x, -z, y). Do the same.
        vertices = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)
    if not np.isfinite(vertices).all():
        raise MeshInputError(f"{path.name}: some vertex coordinates are NaN or infinite: fix or delete those "
                             "vertices and export the mesh again")
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
