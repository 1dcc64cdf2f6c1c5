"""What Re-texture sends from Blender: the face limit (checked first), a decimated copy, the arrays.

The limit is counted in the faces Blender shows (the evaluated mesh's polygons, modifiers
applied: the viewport's statistics), checked before anything slow happens. The backend's own
limit is in triangles (backend/export/mesh_io.py MAX_USER_FACES, 500,000: the OBJ it reads is
triangulated); a quad is two triangles, so the add-on allows half as many faces, and only a mesh
of many n-gons can stay under the face limit and still go over the triangles (said in faces too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh_data import RawTriangles

MAX_TRIANGLES = 500_000  # backend/export/mesh_io.py MAX_USER_FACES (held equal by a test)
MAX_FACES = MAX_TRIANGLES // 2  # all quads: exactly the backend's triangles
DECIMATE_TARGET = 0.9  # a decimated copy aims at 90 % of the limit: Decimate's count is not exact
DECIMATE_NAME = "Digitize Decimate"


@dataclass(frozen=True)
class FaceCount:
    faces: int  # what Blender shows
    triangles: int  # what the backend gets

    @property
    def over(self) -> bool:
        return self.faces > MAX_FACES or self.triangles > MAX_TRIANGLES


def face_count(obj, depsgraph) -> FaceCount:
    """Faces and triangles of ``obj`` as evaluated (modifiers applied), without copying the mesh."""
    me = obj.evaluated_get(depsgraph).data
    if not hasattr(me, "polygons"):
        return FaceCount(0, 0)
    faces = len(me.polygons)
    corners = len(me.loops)
    # An n-gon of k corners is k - 2 triangles: the sum over polygons needs no triangulation.
    return FaceCount(faces, corners - 2 * faces)


def too_many_words(name: str, count: FaceCount) -> str:
    """One line saying what is over the limit, in Blender's faces, and what to do."""
    if count.faces > MAX_FACES:
        what = f"{name} has {count.faces:,} faces; Re-texture takes up to {MAX_FACES:,}"
    else:  # under the faces, over the triangles: n-gons
        what = (f"{name} has {count.faces:,} faces, but its n-gons make {count.triangles:,} triangles; "
                f"Re-texture takes up to {MAX_TRIANGLES:,}")
    return (f"{what} (faces as Blender counts them, modifiers applied): tick Decimate a Copy to re-texture "
            "a decimated copy, or decimate the mesh yourself")


def decimated_copy(context, obj, count: FaceCount):
    """A copy of ``obj`` (its own mesh) beside it, with a Decimate modifier bringing it under the limit.

    The original is not changed. The modifier stays on the copy (the artist can change its ratio);
    its ratio counts triangles, so it is aimed from the triangle count and checked after evaluation.
    Returns (the copy, its FaceCount).
    """
    from .placement import place_beside

    copy = obj.copy()
    copy.data = obj.data.copy()
    copy.name = f"{obj.name}_decimated"
    for coll in obj.users_collection:
        coll.objects.link(copy)
    mod = copy.modifiers.new(DECIMATE_NAME, "DECIMATE")
    mod.decimate_type = "COLLAPSE"
    ratio = min(DECIMATE_TARGET * MAX_FACES / max(count.faces, 1), DECIMATE_TARGET * MAX_TRIANGLES
                / max(count.triangles, 1), 1.0)
    new = count
    for _ in range(3):  # Decimate does not hit its ratio exactly: aim lower until it is under
        mod.ratio = ratio
        depsgraph = context.evaluated_depsgraph_get()
        new = face_count(copy, depsgraph)
        if not new.over:
            break
        ratio *= 0.8
    place_beside(context, copy, obj)
    return copy, new


def select_only(context, obj) -> None:
    view_layer = context.view_layer
    for other in view_layer.objects:
        if other.select_get():
            other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj


@dataclass
class MeshArrays:
    vertices: np.ndarray  # (V, 3) world metres, moved so the mesh stands centred on the Z axis
    triangles: np.ndarray  # (F, 3)
    corner_uv: np.ndarray | None  # (F, 3, 2)
    shift: np.ndarray  # (3,) what was added to the world coordinates

    def save(self, path, header: str) -> None:
        """For the maps process (maps_job.py). No bpy."""
        extra = {} if self.corner_uv is None else {"corner_uv": self.corner_uv}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, vertices=self.vertices, triangles=self.triangles, header=np.array(header), **extra)
        tmp.replace(path)


def centred(raw: RawTriangles) -> MeshArrays:
    """``raw``'s world-space triangles, moved sideways onto the Z axis. NumPy only: Re-texture runs it
    in a thread.

    The backend's view cameras orbit the Z axis (cameras.framing): a person standing 4 m to the
    side would fill a tenth of each map. The texture lives in UV space, so the move changes nothing
    in it; heights stay (the backend reads the mesh's size from them).
    """
    vertices, triangles, corner_uv = raw.world()
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    shift = np.array([-(lo[0] + hi[0]) / 2.0, -(lo[1] + hi[1]) / 2.0, 0.0])
    return MeshArrays(vertices + shift, triangles, corner_uv, shift)
