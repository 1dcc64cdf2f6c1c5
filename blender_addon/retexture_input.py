"""What Re-texture sends from Blender: the face limit (checked first), the arrays (a decimated copy's are
made from them in the background Blender: background_mesh.py).

The limit is counted in the faces Blender shows (the evaluated mesh's polygons, modifiers
applied: the viewport's statistics), checked before anything slow happens. The backend's own
limit is in triangles (backend/export/mesh_io.py MAX_USER_FACES, 500,000: the OBJ it reads is
triangulated); a quad is two triangles, so the add-on allows half as many faces, and only a mesh
of many n-gons can stay under the face limit and still go over the triangles (said in faces too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .mesh_data import PolygonMesh, RawTriangles

MAX_TRIANGLES = 500_000  # backend/export/mesh_io.py MAX_USER_FACES (held equal by a test)
MAX_FACES = MAX_TRIANGLES // 2  # all quads: exactly the backend's triangles
DECIMATE_TARGET = 0.9  # a decimated copy aims at 90 % of the limit: Decimate's count is not exact
DECIMATE_NAME = "Digitize Decimate"


@dataclass(frozen=True)
class FaceCount:
    faces: int  # what Blender shows
    triangles: int  # what the backend gets

    def exceeds(self, max_faces: int, max_triangles: int) -> bool:
        return self.faces > max_faces or self.triangles > max_triangles

    @property
    def over(self) -> bool:
        return self.exceeds(MAX_FACES, MAX_TRIANGLES)


def face_count(obj, depsgraph) -> FaceCount:
    """Faces and triangles of ``obj`` as evaluated (modifiers applied), without copying the mesh."""
    me = obj.evaluated_get(depsgraph).data
    if not hasattr(me, "polygons"):
        return FaceCount(0, 0)
    faces = len(me.polygons)
    corners = len(me.loops)
    # An n-gon of k corners is k - 2 triangles: the sum over polygons needs no triangulation.
    return FaceCount(faces, corners - 2 * faces)


def too_many_words(name: str, count: FaceCount, max_faces: int | None = None, max_triangles: int | None = None) -> str:
    """One line saying what is over the limit, in Blender's faces, and what to do."""
    max_faces = MAX_FACES if max_faces is None else max_faces
    max_triangles = MAX_TRIANGLES if max_triangles is None else max_triangles
    if count.faces > max_faces:
        what = f"{name} has {count.faces:,} faces; Re-texture takes up to {max_faces:,}"
    else:  # under the faces, over the triangles: n-gons
        what = (f"{name} has {count.faces:,} faces, but its n-gons make {count.triangles:,} triangles; "
                f"Re-texture takes up to {max_triangles:,}")
    return (f"{what} (faces as Blender counts them, modifiers applied): tick Decimate a Copy to re-texture "
            "a decimated copy, or decimate the mesh yourself")


def decimate_ratio(count: FaceCount, max_faces: int, max_triangles: int) -> float:
    """The Decimate modifier's first ratio for a copy under the limits: its ratio counts triangles, so it
    is aimed from both counts (background_mesh.decimate then checks the result and aims lower)."""
    return min(DECIMATE_TARGET * max_faces / max(count.faces, 1),
               DECIMATE_TARGET * max_triangles / max(count.triangles, 1), 1.0)


def copy_name(name: str) -> str:
    """What Decimate a Copy calls the copy of the object ``name``."""
    return f"{name}_decimated"


@dataclass
class Source:
    """What the operator copied out of Blender for one re-texture (fast reads only), and what a thread
    then writes into the job folder for the background Blender (maps_job.py)."""

    raw: RawTriangles | None = None  # the triangles to render; None: the decimated copy's, made there
    unwrap: PolygonMesh | None = None  # the artist's mesh without UVs: Smart UV Project runs there
    uv: np.ndarray | None = None  # (L * 2,) UVs made here for the artist's mesh (its modifiers change its faces)
    corners: np.ndarray | None = None  # (L,) the artist's mesh's face corners, when UVs are to be written onto it
    decimate: PolygonMesh | None = None  # the mesh as shown (modifiers applied), to make a decimated copy of
    count: FaceCount | None = None  # its faces, and the limits it is decimated under
    limits: tuple[int, int] | None = None  # (faces, triangles) as the operator read them (a test lowers them)
    matrix_world: np.ndarray | None = None

    def write(self, job_dir, job_json: dict, name: str, camera: dict | None) -> None:
        """The job's inputs for the background Blender. NumPy only: runs in a thread."""
        from . import job_client, maps_job

        if self.decimate is None:
            maps_job.write_inputs(job_dir, job_json, self.raw, name, camera)
        if self.unwrap is not None:
            maps_job.save_npz(job_dir / maps_job.UNWRAP, **self.unwrap.to_npz(), tri_loops=self.raw.corner_loops())
        if self.decimate is not None:  # the cameras follow the copy's mesh: maps_job writes them
            job_client.write_job(job_dir, job_json)
            maps_job.save_npz(job_dir / maps_job.DECIMATE, **self.decimate.to_npz(), matrix_world=self.matrix_world,
                  faces=self.count.faces, triangles=self.count.triangles, max_faces=self.limits[0],
                  max_triangles=self.limits[1], name=np.array(name), copy_name=np.array(copy_name(name)),
                  camera=np.array(json.dumps(camera)))


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
