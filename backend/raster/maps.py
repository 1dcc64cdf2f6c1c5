"""Per-view rasterised maps (ViewMaps), built from face ids + barycentrics, and their on-disk format.

Every rasteriser backend only has to find, per pixel, the nearest triangle and the
perspective-correct barycentrics of the pixel centre on it; `maps_from_fragments` turns
those into depth, position, normal and UV maps the same way for all backends.
The on-disk format is documented in docs/maps.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.conventions import Camera, encode_normals
from backend.mesh import Mesh

FORMAT_VERSION = 1
INDEX_FILE = "views.json"
_BLOCK = 1 << 16  # pixels per block when interpolating attributes
_ARRAYS = ("mask", "face_id", "bary", "depth", "position", "normal")


@dataclass
class ViewMaps:
    """What one camera sees of a mesh. Background pixels hold 0 (face_id -1, mask False)."""

    camera: Camera
    mask: np.ndarray  # (H, W) bool, pixel centre covered
    face_id: np.ndarray  # (H, W) int32, index into mesh.faces, -1 outside
    bary: np.ndarray  # (H, W, 3) float32, perspective-correct barycentrics of the pixel centre
    depth: np.ndarray  # (H, W) float32, metres in front of the camera along its axis
    position: np.ndarray  # (H, W, 3) float32, world xyz (metres)
    normal: np.ndarray  # (H, W, 3) float32, unit camera-space normal (x right, y up, z to camera)
    uv: np.ndarray | None = None  # (H, W, 2) float32, (0, 0) bottom-left; None if the mesh has no UVs

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    def face_normals(self, mesh: Mesh) -> np.ndarray:
        """(H, W, 3) camera-space geometric (flat) normals of the visible faces, 0 outside."""
        out = np.zeros((*self.mask.shape, 3), np.float32)
        fn = mesh.face_normals() @ self.camera.rotation.T
        out[self.mask] = fn[self.face_id[self.mask]]
        return out


def maps_from_fragments(
    mesh: Mesh, camera: Camera, face_id: np.ndarray, bary: np.ndarray, vertex_normals: np.ndarray | None = None
) -> ViewMaps:
    """Interpolate every per-pixel attribute from the winning face and its barycentrics.

    face_id: (H, W) int, -1 where nothing was hit; bary: (H, W, 3) perspective-correct
    (world-space) barycentrics, so any attribute affine in world space interpolates exactly.
    """
    h, w = face_id.shape
    face_id = face_id.astype(np.int32, copy=False)
    mask = face_id >= 0
    flat = np.flatnonzero(mask)  # covered pixels, row-major (flat indexing is faster than masks)
    face_flat, bary_flat = face_id.reshape(-1), np.asarray(bary).reshape(-1, 3)
    vn = mesh.vertex_normals() if vertex_normals is None else vertex_normals
    # Attributes as (C, V) and everything per pixel as (C, n): numpy is much faster along the long axis.
    verts_t, normals_t = np.ascontiguousarray(mesh.vertices.T), np.ascontiguousarray(vn.T)
    rot = camera.rotation

    def zeros(channels: int) -> np.ndarray:
        return np.zeros((h * w, channels) if channels else h * w, np.float32)

    out_bary, out_depth, out_pos, out_nrm = zeros(3), zeros(0), zeros(3), zeros(3)
    uv_out = None  # with UVs: the UVs as (2, T), their faces, and the per-pixel UV map being filled
    if mesh.has_uv:
        uv, faces_uv = mesh.uv_layout()
        uv_out = (np.ascontiguousarray(uv.T), faces_uv, zeros(2))
    # In blocks of pixels: small temporaries are much faster than a few huge ones.
    for s0 in range(0, len(flat), _BLOCK):
        px = flat[s0 : s0 + _BLOCK]
        fid = face_flat[px]
        b = bary_flat[px].T.astype(np.float64)  # (3, n)

        def interp(values_t: np.ndarray, tri: np.ndarray, b=b) -> np.ndarray:
            # sum_k b_k values[tri_k] -> (C, n)
            out = np.take(values_t, tri[0], axis=1) * b[0]
            out += np.take(values_t, tri[1], axis=1) * b[1]
            out += np.take(values_t, tri[2], axis=1) * b[2]
            return out

        tri = np.ascontiguousarray(mesh.faces[fid].T)  # (3, n) vertex indices
        pos = interp(verts_t, tri)
        # Depth is affine in world space, so the interpolated point's depth is exact.
        out_depth[px] = -(rot[2] @ pos + camera.world_to_camera[2, 3])
        nrm = rot @ interp(normals_t, tri)  # world -> camera frame (x right, y up, z to camera)
        nrm /= np.maximum(np.sqrt(np.einsum("cn,cn->n", nrm, nrm)), 1e-12)
        out_pos[px], out_nrm[px], out_bary[px] = pos.T, nrm.T, b.T
        if uv_out is not None:
            uv_t, faces_uv, out_uv = uv_out
            out_uv[px] = interp(uv_t, np.ascontiguousarray(faces_uv[fid].T)).T

    return ViewMaps(
        camera=camera,
        mask=mask,
        face_id=face_id,
        bary=out_bary.reshape(h, w, 3),
        depth=out_depth.reshape(h, w),
        position=out_pos.reshape(h, w, 3),
        normal=out_nrm.reshape(h, w, 3),
        uv=None if uv_out is None else uv_out[2].reshape(h, w, 2),
    )


# --- save / load ---------------------------------------------------------------------------


def _view_names(maps_list: list[ViewMaps]) -> list[str]:
    names = [m.camera.name or f"view{i:02d}" for i, m in enumerate(maps_list)]
    if len(set(names)) != len(names):
        raise ValueError(f"camera names must be unique to save maps, got {names}")
    for n in names:
        if "/" in n or "\\" in n or n.startswith("."):
            raise ValueError(f"camera name {n!r} cannot be used as a file name")
    return names


def save_maps(maps_list: list[ViewMaps], folder: str | Path) -> list[Path]:
    """Write `<name>.npz` (+ `<name>_normal.png`, `<name>_mask.png`) per view and a views.json index.

    Returns the npz paths. The name is the camera's name, or view<i> when it has none.
    """
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = _view_names(maps_list)
    paths = []
    for name, m in zip(names, maps_list, strict=True):
        cam = m.camera.to_json()
        cam["name"] = name
        arrays = {
            "mask": m.mask.astype(bool),
            "face_id": m.face_id.astype(np.int32),
            "bary": m.bary.astype(np.float32),
            "depth": m.depth.astype(np.float32),
            "position": m.position.astype(np.float32),
            "normal": m.normal.astype(np.float32),
            "camera_json": np.array(json.dumps(cam)),
            "format_version": np.array(FORMAT_VERSION, np.int32),
        }
        if m.uv is not None:
            arrays["uv"] = m.uv.astype(np.float32)
        path = folder / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        paths.append(path)

        # Human-viewable previews: 8-bit (n + 1) / 2 normals with a black background, 0/255 mask.
        rgb = np.clip(np.rint(encode_normals(m.normal) * 255.0), 0, 255).astype(np.uint8)
        rgb[~m.mask] = 0
        cv2.imwrite(str(folder / f"{name}_normal.png"), rgb[..., ::-1])  # OpenCV wants BGR
        cv2.imwrite(str(folder / f"{name}_mask.png"), m.mask.astype(np.uint8) * 255)
    (folder / INDEX_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, "views": names}, indent=1))
    return paths


def load_view(path: str | Path) -> ViewMaps:
    """Read one `<name>.npz` written by save_maps (or by Blender in the same format)."""
    with np.load(path, allow_pickle=False) as z:
        camera = Camera.from_json(json.loads(str(z["camera_json"])))
        arrays = {k: z[k] for k in _ARRAYS}
        uv = z["uv"].astype(np.float32) if "uv" in z.files else None
    h, w = arrays["mask"].shape
    if (h, w) != (camera.height, camera.width):
        raise ValueError(f"{path}: maps are {w}x{h} but the camera is {camera.width}x{camera.height}")
    return ViewMaps(
        camera=camera,
        mask=arrays["mask"].astype(bool),
        face_id=arrays["face_id"].astype(np.int32),
        bary=arrays["bary"].astype(np.float32),
        depth=arrays["depth"].astype(np.float32),
        position=arrays["position"].astype(np.float32),
        normal=arrays["normal"].astype(np.float32),
        uv=uv,
    )


def load_maps(folder: str | Path) -> list[ViewMaps]:
    """All views in `folder`, in views.json order (or sorted by file name when there is no index)."""
    folder = Path(folder)
    index = folder / INDEX_FILE
    if index.exists():
        names = json.loads(index.read_text())["views"]
        paths = [folder / f"{n}.npz" for n in names]
    else:
        paths = sorted(folder.glob("*.npz"))
    if not paths:
        raise FileNotFoundError(f"no maps (*.npz) in {folder}")
    return [load_view(p) for p in paths]
