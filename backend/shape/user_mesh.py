"""A mesh the user brings (e.g. cleaned up in Blender), in place of the reconstructed one.

The mesh is taken as it stands in the world frame (metres, Z up, facing -Y). The common other
frames are recognised, converted and said aloud (`FrameFix`): a mesh standing along Y (Y up, as
glTF/OBJ exports from other tools write it) is turned Z up by (x, y, z) -> (x, -z, y), which also
turns glTF's facing +Z into -Y; a mesh 30-300 units tall is read as centimetres, 300-3000 as
millimetres. Any other height is refused, naming the height seen. The input camera is the one the
mesh came with (a shape result edited in Blender), else fitted so that the mesh's front silhouette
spans the photo's person mask.

Polygons were triangulated when it was read. A mesh that is not closed, or has edges shared
by more than two faces (non-manifold), is used as it is (UV unwrap, maps and texture work on
any triangle soup); a note in result.json says so, since the texture may show seams there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..conventions import ORTHOGRAPHIC, Camera, look_at
from ..errors import MeshInputError
from ..export.mesh_io import load_user_mesh
from ..mesh import Mesh, triangle_edges
from ..metrics import mask_iou
from .base import ShapeResult
from .silhouette import CAMERA_DISTANCE_M

# A standing person's height in each unit a mesh is commonly exported in (the same bounds as --height).
UNITS = (("metres", 1.0, 0.3, 3.0), ("centimetres", 0.01, 30.0, 300.0), ("millimetres", 0.001, 300.0, 3000.0))
Y_UP_RATIO = 2.0  # along Y at least twice as long as along Z: a person standing along Y
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # (x, y, z) -> (x, -z, y)


@dataclass(frozen=True)
class FrameFix:
    """How a user's mesh was brought into the world frame: world = scale * rotation @ file."""

    scale: float = 1.0
    y_up: bool = False
    notes: tuple[str, ...] = ()

    @property
    def rotation(self) -> np.ndarray:
        return Y_UP_TO_Z_UP if self.y_up else np.eye(3)

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and not self.y_up

    def points(self, p: np.ndarray) -> np.ndarray:
        return self.scale * (np.asarray(p, np.float64) @ self.rotation.T)

    def camera(self, c: Camera) -> Camera:
        """A camera given in the file's frame, seeing the same pixels of the converted mesh.

        Camera coordinates scale with the mesh (x_cam' = s x_cam), so the rotation becomes R A^T, the
        translation s t; an orthographic camera's pixels per unit shrink by s, a perspective one's stay.
        """
        w2c = np.eye(4)
        w2c[:3, :3] = c.world_to_camera[:3, :3] @ self.rotation.T
        w2c[:3, 3] = self.scale * c.world_to_camera[:3, 3]
        f = 1.0 / self.scale if c.projection == ORTHOGRAPHIC else 1.0
        return dataclasses.replace(c, world_to_camera=w2c, fx=c.fx * f, fy=c.fy * f)

    def maps(self, m):
        """Maps rendered in the file's frame (Blender's, for re-texturing) in the converted one."""
        position = self.points(m.position.reshape(-1, 3)).reshape(m.position.shape).astype(m.position.dtype)
        position[~m.mask] = 0
        return dataclasses.replace(m, camera=self.camera(m.camera), position=position,
                                   depth=(m.depth * self.scale).astype(m.depth.dtype))


def fix_frame(vertices: np.ndarray, name: str) -> FrameFix:
    """Recognise a Y-up mesh and one in centimetres or millimetres; MeshInputError for any other size."""
    extent = np.ptp(vertices, axis=0)
    y_up = bool(extent[1] > Y_UP_RATIO * extent[2])
    height = float(extent[1] if y_up else extent[2])
    notes = []
    if y_up:
        notes.append(f"the mesh {name} stood along Y (Y up, as many exporters write it): turned Z up, "
                     "(x, y, z) -> (x, -z, y)")
    for unit, scale, low, high in UNITS:
        if low <= height <= high:
            if scale != 1.0:
                notes.append(f"the mesh {name} is {height:g} units tall: read as {unit} and scaled to metres "
                             f"({height * scale:.2f} m)")
            return FrameFix(scale, y_up, tuple(notes))
    axis = "Y (it stands along Y)" if y_up else "Z"
    raise MeshInputError(f"{name}: the mesh is {height:g} units tall along {axis}, which is a person's height in "
                         "neither metres (0.3 to 3), centimetres (30 to 300) nor millimetres (300 to 3000): scale it "
                         "to the person's height in metres (Z up) and export it again")


@dataclass
class UserMeshResult(ShapeResult):
    frame: FrameFix = field(default_factory=FrameFix)  # how the file's frame was converted (notes say it aloud)


def maps_in_world(shape: ShapeResult, maps: list) -> list:
    """Maps rendered for the user's mesh as it was in its file, in the frame the mesh was converted to."""
    frame = getattr(shape, "frame", None)
    if frame is None or frame.identity:
        return maps
    return [frame.maps(m) for m in maps]


def edge_report(vertices: np.ndarray, faces: np.ndarray) -> str | None:
    """A plain-words note on open and non-manifold edges, or None for a closed manifold mesh.

    Vertices at the same position count as one (files split them at normal or UV seams).
    """
    _, weld = np.unique(vertices, axis=0, return_inverse=True)
    faces = weld.reshape(-1)[faces]
    edges = np.sort(triangle_edges(faces), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    parts = []
    if (n := int((uses > 2).sum())):
        parts.append(f"{n:,} edge{'s' * (n != 1)} shared by more than two faces (non-manifold)")
    if (n := int((uses == 1).sum())):
        parts.append(f"{n:,} open edge{'s' * (n != 1)} (holes)")
    if not parts:
        return None
    return f"the mesh has {' and '.join(parts)}: used as it is; the texture may show seams there"


# A mesh whose front outline overlaps the photo's person less than this is not that person (or not a
# person): measured on the sample photo (docs/shape.md), its own mesh 0.93 and the bare fitted body
# under its clothes 0.82, against a person-sized box 0.55, a cylinder 0.58, Suzanne 0.28, a cube 0.18.
MATCH_IOU = 0.7


def front_match(mesh_mask: np.ndarray, photo_mask: np.ndarray) -> dict:
    """How well the mesh seen from the photo's camera covers the person in the photo (result.json's
    `mesh_fit`): the intersection over union of the two silhouettes, and whether it passes MATCH_IOU."""
    iou = mask_iou(mesh_mask, photo_mask)
    return {"front_iou": round(iou, 4), "threshold": MATCH_IOU, "matches": iou >= MATCH_IOU}


def mismatch_warning(fit: dict) -> str:
    return (f"the photo and the mesh do not match: seen from the photo's camera, the mesh's outline and the "
            f"person's overlap {100 * fit['front_iou']:.0f} % (a mesh of the person in the photo: "
            f"{100 * fit['threshold']:.0f} % or more); the texture is made anyway, but check the photo and the mesh")


class UserMeshShape:
    name = "user_mesh"

    def __init__(self, path: Path, camera: Camera | None = None):
        self.path = Path(path)
        self.camera = camera  # the photo's camera in the mesh file's frame (the shape step's), else fitted

    def estimate(self, rgb, mask, *, height_m: float, lens=None, fine_mask=None) -> ShapeResult:
        mesh = load_user_mesh(self.path)
        frame = fix_frame(mesh.vertices[np.unique(mesh.faces)], self.path.name)
        if not frame.identity:
            mesh = Mesh(frame.points(mesh.vertices), mesh.faces, mesh.uv, mesh.faces_uv)
        notes = [f"used the supplied mesh {self.path.name} ({len(mesh.faces):,} faces)", *frame.notes]
        if (report := edge_report(mesh.vertices, mesh.faces)) is not None:
            notes.append(report)
        if self.camera is not None:  # an edited mesh keeps the camera it was made for: no fit to drift from it
            notes.append("the photo's camera came with the mesh")
            return UserMeshResult(mesh, frame.camera(self.camera), self.name, notes, frame=frame)
        rows, cols = np.nonzero(mask)
        v = mesh.vertices[np.unique(mesh.faces)]
        lo, hi = v.min(axis=0), v.max(axis=0)
        # Scale from the heights, centre from the horizontal extents of mask and mesh.
        f = (rows.max() + 1 - rows.min()) / (hi[2] - lo[2])
        zc = (lo[2] + hi[2]) / 2.0
        eye, target = np.array([0.0, -CAMERA_DISTANCE_M, zc]), np.array([0.0, 0.0, zc])
        cx = (cols.min() + cols.max() + 1) / 2.0 - f * (lo[0] + hi[0]) / 2.0
        cy = (rows.min() + rows.max() + 1) / 2.0
        cam = Camera(look_at(eye, target), mask.shape[1], mask.shape[0], f, f, cx, cy, ORTHOGRAPHIC, "input", 0.0, 0.0)
        return UserMeshResult(mesh, cam, self.name, notes, frame=frame)
