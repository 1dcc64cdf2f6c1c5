"""Mesh work Re-texture leaves to the background Blender (maps_job.py), never the artist's UI thread:
Smart UV Project of a mesh without UVs, and the decimated copy of a mesh over the face limit.

Both are one Blender call each that cannot be cut into ticks (0.1-0.3 s for Smart UV Project on
100k faces, seconds for the Decimate modifier on a million), so they run on arrays in the process
that renders the maps; the artist's Blender writes what comes back a piece per tick, and only once
the re-texture has succeeded (Cancel or a failure leaves the mesh as it was).
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from .mesh_data import PolygonMesh, mesh_from_polygons_steps, read_polygons, smart_uv_project
from .retexture_input import DECIMATE_NAME, FaceCount, decimate_ratio, face_count
from .steps import run_to_end

TMP_NAME = ".digitize_mesh"


def _temporary_object(pm: PolygonMesh):
    """An object holding ``pm`` in the background process's scene (operators and modifiers need one)."""
    me = run_to_end(mesh_from_polygons_steps(TMP_NAME, pm))
    obj = bpy.data.objects.new(TMP_NAME, me)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def _remove(obj) -> None:
    me = obj.data
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(me)


def unwrap(pm: PolygonMesh) -> np.ndarray:
    """(L * 2,) float32: Smart UV Project's UVs for each face corner of ``pm`` (its own UVs ignored)."""
    obj = _temporary_object(PolygonMesh(pm.co, pm.loop_start, pm.corner_vert))
    try:
        smart_uv_project(bpy.context, obj)
        layer = obj.data.uv_layers.active
        uv = np.empty(len(obj.data.loops) * 2, np.float32)
        layer.uv.foreach_get("vector", uv)
    finally:
        _remove(obj)
    return uv


class StillTooMany(Exception):
    """Three tries of the Decimate modifier left the copy over the limit."""

    def __init__(self, count: FaceCount):
        super().__init__(f"{count.faces} faces, {count.triangles} triangles")
        self.count = count


@dataclass
class Decimated:
    mesh: PolygonMesh  # the copy's own mesh (its UVs: the source's, through the modifier)
    count: FaceCount
    loops: np.ndarray  # (T * 3,) int32: the corners of its loop triangles (what the maps render)


def decimate(source: PolygonMesh, count: FaceCount, max_faces: int, max_triangles: int) -> Decimated:
    """``source`` (an object's mesh, modifiers applied) under the limits with Blender's Decimate modifier
    (Collapse), aimed as Decimate a Copy always aimed it (retexture_input.decimate_ratio)."""
    obj = _temporary_object(source)
    try:
        mod = obj.modifiers.new(DECIMATE_NAME, "DECIMATE")
        mod.decimate_type = "COLLAPSE"
        ratio = decimate_ratio(count, max_faces, max_triangles)
        for _ in range(3):  # Decimate does not hit its ratio exactly: aim lower until it is under
            mod.ratio = ratio
            depsgraph = bpy.context.evaluated_depsgraph_get()
            new = face_count(obj, depsgraph)
            if not new.exceeds(max_faces, max_triangles):
                break
            ratio *= 0.8
        else:
            raise StillTooMany(new)
        return _evaluated(obj, depsgraph, new, with_uv=source.uv is not None)
    finally:
        _remove(obj)


def _evaluated(obj, depsgraph, count: FaceCount, with_uv: bool) -> Decimated:
    evaluated = obj.evaluated_get(depsgraph)
    me = evaluated.to_mesh()
    try:
        pm = read_polygons(me, uv=with_uv)
        me.calc_loop_triangles()
        loops = np.empty(len(me.loop_triangles) * 3, np.int32)
        me.loop_triangles.foreach_get("loops", loops)
    finally:
        evaluated.to_mesh_clear()
    return Decimated(pm, count, loops)
