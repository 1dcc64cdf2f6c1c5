"""Blender meshes <-> NumPy arrays: build a mesh from OBJ data, read an object's world-space triangles.

UVs are per corner (Blender's face-corner UV layer), so UV seams are kept exactly.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import bpy
import numpy as np

from .obj_io import ObjMesh
from .steps import run_to_end


def mesh_from_arrays(name: str, vertices, loop_start, loop_vertex, corner_uv=None, smooth: bool = True):
    """A new mesh datablock from vertices (V, 3), polygons (loop starts) and per-corner UVs (L, 2)."""
    return run_to_end(mesh_from_arrays_steps(name, vertices, loop_start, loop_vertex, corner_uv, smooth))


def mesh_from_arrays_steps(name: str, vertices, loop_start, loop_vertex, corner_uv=None, smooth: bool = True,
                           uv_name: str = "UVMap", made: list | None = None):
    """`mesh_from_arrays` in two steps (geometry; then UVs and shading), for the timer. ``made`` gets what
    removes the new mesh again (a caller that may have to take it back)."""
    vertices = np.asarray(vertices, np.float32).reshape(-1, 3)
    loop_start = np.asarray(loop_start, np.int32)
    loop_vertex = np.asarray(loop_vertex, np.int32)
    me = bpy.data.meshes.new(name)
    if made is not None:
        made.append(lambda: bpy.data.meshes.remove(me))
    me.vertices.add(len(vertices))
    _fill(me, "position", "vector", vertices.ravel(), me.vertices, "co")
    me.loops.add(len(loop_vertex))
    _fill(me, ".corner_vert", "value", loop_vertex, me.loops, "vertex_index")
    me.polygons.add(len(loop_start))
    me.polygons.foreach_set("loop_start", loop_start)
    me.update(calc_edges=True)
    yield
    if corner_uv is not None:
        set_uvs(me.uv_layers.new(name=uv_name), me, corner_uv)
    if smooth:
        me.shade_smooth()
    me.update()
    return me


def _fill(me, attribute: str, field: str, values, collection, prop: str) -> None:
    """Write `values` straight into the mesh attribute that stores them (Blender 4.x: vertex
    positions are `position`, corner vertices `.corner_vert`), else through the older per-element
    API. Measured on a 41k-face body (bpy 4.5): 0.05 ms instead of 4.7 ms for the positions and
    0.06 ms instead of 16 ms for the corners, which keeps the mesh's tick under the 20 ms budget."""
    attr = me.attributes.get(attribute)
    if attr is not None and len(attr.data) == len(collection):
        attr.data.foreach_set(field, values)
    else:
        collection.foreach_set(prop, values)


def set_uvs(layer, me, corner_uv) -> None:
    """Fill a UV map from (L, 2) per-corner UVs, through the attribute that stores them (Blender 4.x:
    measured 1 ms for 400k corners, bpy 5.0), else the UV layer's own API."""
    values = np.asarray(corner_uv, np.float32).ravel()
    attr = me.attributes.get(layer.name)
    if attr is not None and attr.domain == "CORNER" and attr.data_type == "FLOAT2" and len(attr.data) == len(me.loops):
        attr.data.foreach_set("vector", values)
    else:
        layer.uv.foreach_set("vector", values)


def mesh_from_obj_steps(name: str, obj: ObjMesh):
    return mesh_from_arrays_steps(name, obj.vertices, obj.loop_start, obj.loop_vertex, obj.uv)


def mesh_from_obj(name: str, obj: ObjMesh):
    return mesh_from_arrays(name, obj.vertices, obj.loop_start, obj.loop_vertex, obj.uv)


def mesh_from_triangles(name: str, vertices, triangles, corner_uv=None, smooth: bool = True):
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    uv = None if corner_uv is None else np.asarray(corner_uv).reshape(-1, 2)
    return mesh_from_arrays(name, vertices, np.arange(len(triangles)) * 3, triangles.ravel(), uv, smooth)


def matrix_to_numpy(matrix) -> np.ndarray:
    return np.array([list(row) for row in matrix], dtype=np.float64)


def has_uvs(obj) -> bool:
    return obj.type == "MESH" and len(obj.data.uv_layers) > 0


def world_triangles(obj, depsgraph):
    """(vertices (V, 3) world metres, triangles (F, 3), corner UVs (F, 3, 2) or None) of the evaluated object.

    Modifiers are applied (what the viewport shows); faces are triangulated with Blender's own
    loop triangles; UVs come from the UV map used for rendering. A mirrored (negative-scale)
    object gets its triangles flipped back, so they stay counter-clockwise seen from outside.
    """
    return read_triangles(obj, depsgraph).world()


@dataclass
class RawTriangles:
    """What `read_triangles` copies out of Blender; `world()` finishes the arrays with NumPy alone, so
    a caller may do that part in a thread (Re-texture does: Blender's UI thread only copies)."""

    co: np.ndarray  # (V * 3,) float32, object space
    corner_vert: np.ndarray  # (L,) the vertex of each face corner
    loops: np.ndarray  # (T * 3,) the corners of each loop triangle
    uv: np.ndarray | None  # (L * 2,) float32, the render UV map
    matrix_world: np.ndarray  # (4, 4)

    def corner_loops(self) -> np.ndarray:
        """(T, 3) the face corner of each triangle corner, in the order `world()` gives the triangles."""
        loops = self.loops.reshape(-1, 3)
        return loops[:, [0, 2, 1]] if np.linalg.det(self.matrix_world[:3, :3]) < 0 else loops

    def world(self):
        m = self.matrix_world
        vertices = self.co.reshape(-1, 3).astype(np.float64) @ m[:3, :3].T + m[:3, 3]
        loops = self.corner_loops()
        tri = self.corner_vert[loops].astype(np.int64)
        corner_uv = None if self.uv is None else self.uv.reshape(-1, 2)[loops].astype(np.float64)
        return vertices, tri, corner_uv


def read_triangles(obj, depsgraph) -> RawTriangles:
    """The evaluated object's positions, corners, loop triangles and UVs, copied out (main thread)."""
    evaluated = obj.evaluated_get(depsgraph)
    me = evaluated.to_mesh()
    try:
        me.calc_loop_triangles()
        co = _read(me, "position", "vector", np.float32, 3, me.vertices, "co")
        loops = np.empty(len(me.loop_triangles) * 3, np.int32)
        me.loop_triangles.foreach_get("loops", loops)  # the one slow read left: ~20 ms for 200k triangles
        corner_vert = _read(me, ".corner_vert", "value", np.int32, 1, me.loops, "vertex_index")
        uv = None
        layer = next((uv for uv in me.uv_layers if uv.active_render), None) or me.uv_layers.active
        if layer is not None:
            uv = np.empty(len(me.loops) * 2, np.float32)
            layer.uv.foreach_get("vector", uv)
    finally:
        evaluated.to_mesh_clear()
    return RawTriangles(co, corner_vert, loops, uv, matrix_to_numpy(evaluated.matrix_world))


def _read(me, attribute: str, field: str, dtype, width: int, collection, prop: str) -> np.ndarray:
    """`_fill` the other way: from the attribute that stores the values (Blender 4.x), else the older
    per-element API. For a 100k-face mesh (bpy 5.0) the corners' vertices take 0.2 ms instead of the
    25 ms that `loop_triangles.foreach_get("vertices")` took, the positions 0.1 ms instead of 6 ms."""
    out = np.empty(len(collection) * width, dtype)
    attr = me.attributes.get(attribute)
    if attr is not None and len(attr.data) == len(collection):
        attr.data.foreach_get(field, out)
    else:
        collection.foreach_get(prop, out)
    return out


def smart_uv_project(context, obj) -> None:
    """Give a mesh without UVs an atlas (Smart UV Project on all faces). Re-texture runs it in the
    background Blender (background_mesh.py), or on a copy of the mesh: never on the artist's own mesh."""
    with _alone_selected(context.view_layer, obj), context.temp_override(
            active_object=obj, object=obj, selected_objects=[obj], selected_editable_objects=[obj]):
        mode = obj.mode
        bpy.ops.object.mode_set(mode="EDIT")
        bpy.ops.mesh.select_all(action="SELECT")
        bpy.ops.uv.smart_project(angle_limit=1.15192, island_margin=0.003)
        bpy.ops.object.mode_set(mode="OBJECT" if mode == "EDIT" else mode)


@contextmanager
def _alone_selected(view_layer, obj):
    """``obj`` the only selected object while inside: Edit Mode takes in every selected mesh (the view
    layer's selection, whatever the context says), and Smart UV Project would unwrap them all."""
    selected = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    for other in selected:
        other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj
    try:
        yield
    finally:
        obj.select_set(False)
        for other in selected:
            other.select_set(True)
        view_layer.objects.active = active


@dataclass
class PolygonMesh:
    """A mesh's polygons as arrays (object space): what goes to the background Blender and back."""

    co: np.ndarray  # (V * 3,) float32
    loop_start: np.ndarray  # (P,) int32: each polygon's first corner
    corner_vert: np.ndarray  # (L,) int32
    uv: np.ndarray | None = None  # (L * 2,) float32: one UV map
    uv_name: str = "UVMap"
    material_index: np.ndarray | None = None  # (P,) int32
    sharp_face: np.ndarray | None = None  # (P,) bool: flat-shaded faces

    ARRAYS = ("co", "loop_start", "corner_vert", "uv", "material_index", "sharp_face")

    def to_npz(self, prefix: str = "") -> dict:
        out = {prefix + k: getattr(self, k) for k in self.ARRAYS if getattr(self, k) is not None}
        return {**out, prefix + "uv_name": np.array(self.uv_name)}

    @classmethod
    def from_npz(cls, z, prefix: str = "") -> PolygonMesh:
        arrays = {k: z[prefix + k] for k in cls.ARRAYS if prefix + k in z}
        return cls(**arrays, uv_name=str(z[prefix + "uv_name"]))


def read_polygons(me, uv: bool = True, faces: bool = True) -> PolygonMesh:
    """A mesh's polygons, render UV map (with ``uv``), material indices and flat faces (with ``faces``).
    The polygons' starts are the one per-element read: ~5 ms for 100k faces."""
    loop_start = np.empty(len(me.polygons), np.int32)
    me.polygons.foreach_get("loop_start", loop_start)
    pm = PolygonMesh(_read(me, "position", "vector", np.float32, 3, me.vertices, "co"), loop_start,
                     _read(me, ".corner_vert", "value", np.int32, 1, me.loops, "vertex_index"))
    layer = _render_uv_layer(me) if uv else None
    if layer is not None:
        pm.uv, pm.uv_name = np.empty(len(me.loops) * 2, np.float32), layer.name
        layer.uv.foreach_get("vector", pm.uv)
    if faces:
        pm.material_index = _face_attribute(me, "material_index", np.int32)
        pm.sharp_face = _face_attribute(me, "sharp_face", bool)
    return pm


def _render_uv_layer(me):
    return next((uv for uv in me.uv_layers if uv.active_render), None) or me.uv_layers.active


def _face_attribute(me, name: str, dtype):
    attr = me.attributes.get(name)
    if attr is None or attr.domain != "FACE":
        return None
    out = np.empty(len(me.polygons), dtype)
    attr.data.foreach_get("value", out)
    return out


def mesh_from_polygons_steps(name: str, pm: PolygonMesh, materials=(), made: list | None = None):
    """A new mesh from `PolygonMesh` arrays (its materials ``materials``), in two steps for the timer."""
    uv = None if pm.uv is None else pm.uv.reshape(-1, 2)
    me = yield from mesh_from_arrays_steps(name, pm.co.reshape(-1, 3), pm.loop_start, pm.corner_vert, uv,
                                           smooth=pm.sharp_face is None, uv_name=pm.uv_name, made=made)
    for mat in materials:
        me.materials.append(mat)
    for attribute, kind, values in (("material_index", "INT", pm.material_index),
                                    ("sharp_face", "BOOLEAN", pm.sharp_face)):
        if values is not None:
            attr = me.attributes.get(attribute) or me.attributes.new(attribute, kind, "FACE")
            attr.data.foreach_set("value", values)
    me.update()
    return me


def read_evaluated_polygons(obj, depsgraph) -> tuple[PolygonMesh, np.ndarray]:
    """(the object's mesh as shown, modifiers applied, its matrix_world): what a decimated copy is made of."""
    evaluated = obj.evaluated_get(depsgraph)
    me = evaluated.to_mesh()
    try:
        return read_polygons(me), matrix_to_numpy(evaluated.matrix_world)
    finally:
        evaluated.to_mesh_clear()


def unwrapped_copy(context, obj) -> tuple[RawTriangles, np.ndarray]:
    """(the triangles as shown, UVs (L * 2,) for the corners of ``obj``'s own mesh): Smart UV Project on a
    temporary copy of ``obj``, read through its modifiers; ``obj`` is not touched. On the UI thread: only
    for a mesh without UVs whose modifiers change its faces (their UVs must pass through them)."""
    tmp = obj.copy()
    tmp.data = obj.data.copy()
    context.scene.collection.objects.link(tmp)
    try:
        smart_uv_project(context, tmp)
        raw = read_triangles(tmp, context.evaluated_depsgraph_get())
        uv = np.empty(len(tmp.data.loops) * 2, np.float32)
        tmp.data.uv_layers.active.uv.foreach_get("vector", uv)
    finally:
        me = tmp.data
        bpy.data.objects.remove(tmp)
        bpy.data.meshes.remove(me)
    return raw, uv


def same_corners(me, corner_vert) -> bool:
    """Whether ``me`` still has these face corners (its faces were not edited since they were read)."""
    now = _read(me, ".corner_vert", "value", np.int32, 1, me.loops, "vertex_index")
    return len(now) == len(corner_vert) and bool(np.array_equal(now, corner_vert))


def add_uv_map_steps(me, corner_uv, made: list):
    """A new UV map on ``me`` holding (L, 2) per-corner UVs, made active for display and rendering; two
    steps for the timer (the layer; its values). Returns its name; ``made`` gets what takes it back."""
    name = me.uv_layers.new(name="UVMap", do_init=False).name  # its values come next: nothing to copy
    made.append(lambda: remove_uv_map(me, name))
    yield
    layer = me.uv_layers[name]
    set_uvs(layer, me, corner_uv)
    me.uv_layers.active = layer
    layer.active_render = True
    return name


def remove_uv_map(me, name: str) -> None:
    try:
        layer = me.uv_layers.get(name)
        if layer is not None:
            me.uv_layers.remove(layer)
    except ReferenceError:  # the mesh is gone (another file was opened): nothing to put back
        pass


def area_weighted_normals(vertices, triangles) -> np.ndarray:
    """Unit vertex normals as the backend makes them (backend/mesh.py), vertices at the same place welded."""
    vertices = np.asarray(vertices, np.float64)
    _, weld = np.unique(vertices, axis=0, return_inverse=True)
    weld = weld.reshape(-1)
    faces = weld[np.asarray(triangles, np.int64)]
    v = vertices[np.asarray(triangles, np.int64)]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    acc = np.zeros((weld.max() + 1, 3))
    for k in range(3):
        np.add.at(acc, faces[:, k], n)
    acc /= np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-20)
    return acc[weld]
