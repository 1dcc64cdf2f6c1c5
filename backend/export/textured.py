"""Wavefront OBJ + MTL + PNG of a textured mesh (world frame: metres, Z up, person facing -Y).

    write_obj_with_texture(mesh, texture, folder)  ->  mesh.obj, mesh.mtl, texture.png

The OBJ keeps the mesh's separate UV index buffer (`f v/vt`), so nothing is split at seams.
OBJ stores UVs with (0, 0) at the bottom-left, as the mesh does, so they are written as they
are; the PNG has row 0 at the top. Blender reads the file with Forward -Y, Up Z (its OBJ
importer's defaults are for Y-up files: pass forward_axis="Y", up_axis="Z" for no rotation).
Each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import encode_png, write_atomic
from ..mesh import Mesh
from .mesh_io import obj_text

MATERIAL_NAME = "avatar_material"


def mtl_text(texture_name: str, material: str = MATERIAL_NAME) -> str:
    """A diffuse-only material: white Kd multiplied by the texture, no specular highlight."""
    return (
        "# photo-digitize material\n"
        f"newmtl {material}\n"
        "Ka 1.000000 1.000000 1.000000\n"
        "Kd 1.000000 1.000000 1.000000\n"
        "Ks 0.000000 0.000000 0.000000\n"
        "Ns 10.000000\n"
        "d 1.000000\n"
        "illum 1\n"
        f"map_Kd {texture_name}\n"
    )


def write_obj_with_texture(mesh: Mesh, texture: np.ndarray, folder: str | Path, stem: str = "mesh",
                           texture_name: str = "texture.png") -> dict[str, Path]:
    """Write `<stem>.obj` (mtllib + usemtl), `<stem>.mtl` (map_Kd) and the texture PNG into `folder`.

    texture: (R, R, 3) uint8, row 0 = top (v near 1). Returns the paths by kind ("obj", "mtl", "texture").
    """
    if not mesh.has_uv:
        raise ValueError("a textured OBJ needs a mesh with UVs (uv and faces_uv)")
    texture = np.asarray(texture)
    if texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] not in (3, 4):
        raise ValueError(f"texture must be (H, W, 3) uint8, got {texture.shape} {texture.dtype}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"obj": folder / f"{stem}.obj", "mtl": folder / f"{stem}.mtl", "texture": folder / texture_name}
    # Texture and material first: an OBJ that exists can always find them.
    write_atomic(paths["texture"], encode_png(texture))
    write_atomic(paths["mtl"], mtl_text(texture_name).encode("utf-8"))
    text = obj_text(mesh, mtl_name=paths["mtl"].name, material=MATERIAL_NAME)
    write_atomic(paths["obj"], text.encode("utf-8"))
    return paths
