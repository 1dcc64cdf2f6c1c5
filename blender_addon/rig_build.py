"""The rig of a result in the scene: an Armature with the person's mesh bound to it.

The backend writes rig.json (docs/rig.md): bones in the world frame (head, tail, 4x4 matrix,
parent) and four bone weights per vertex of mesh.obj, in its order. ``read_rig`` parses it with
NumPy only (the loader thread); ``add_armature_steps`` makes the Blender data (main thread):

    <stem>_rig                  armature object in the result's collection, at the world origin;
                                edit bones from the matrices (head, direction and roll)
      <stem>                    the mesh, parented to it, an Armature modifier, one vertex
                                group per bone

Bones can only be made in Edit Mode, so the armature is entered and left once; when the artist
is in another mode (editing a mesh, sculpting) the result arrives without its rig and says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_TICK_S = 0.012  # the vertex groups' share of a tick (the UI's budget is 20 ms)

@dataclass
class RigData:
    name: str  # which rig ("default")
    bones: list[str]
    parents: list[int]  # -1 for a root
    matrices: np.ndarray  # (B, 4, 4) world frame: head and orientation (Y along the bone)
    lengths: np.ndarray  # (B,) metres
    joints: np.ndarray  # (V, 4) bone index per mesh.obj vertex
    weights: np.ndarray  # (V, 4)


def read_rig(path) -> RigData:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    bones = [b["name"] for b in doc["bones"]]
    index = {name: i for i, name in enumerate(bones)}
    parents = [index[b["parent"]] if b.get("parent") else -1 for b in doc["bones"]]
    matrices = np.array([b["matrix"] for b in doc["bones"]], np.float64).reshape(-1, 4, 4)
    tails = np.array([b["tail"] for b in doc["bones"]], np.float64).reshape(-1, 3)
    lengths = np.maximum(np.linalg.norm(tails - matrices[:, :3, 3], axis=1), 1e-3)
    return RigData(str(doc.get("rig", "")), bones, parents, matrices, lengths,
                   np.asarray(doc["vertex_joints"], np.int64).reshape(-1, 4),
                   np.asarray(doc["vertex_weights"], np.float64).reshape(-1, 4))


def why_no_armature(context_mode: str, rig: RigData, vertex_count: int) -> str:
    """Plain words when the rig cannot be added now, else ""."""
    if context_mode != "OBJECT":
        return "the rig was not added because Blender was not in Object Mode when the result arrived " \
               "(import avatar.glb from the job's folder for the rigged person)"
    if len(rig.joints) != vertex_count:
        return f"the rig does not fit the mesh ({len(rig.joints)} weights for {vertex_count} vertices)"
    return ""


def add_armature_steps(context, name: str, rig: RigData, obj, collection):
    """An armature for ``obj`` (the result's mesh object, at the world origin), yielding between
    pieces of work; returns the armature object. On failure the armature is removed again."""
    import bpy

    data = bpy.data.armatures.new(f"{name}_rig")
    arm = bpy.data.objects.new(f"{name}_rig", data)
    collection.objects.link(arm)
    data.display_type = "OCTAHEDRAL"
    arm.show_in_front = True  # the bones show through the clothed surface
    try:
        yield from _build(context, rig, obj, arm, data)
    except BaseException:  # nothing half-made stays behind (these objects only: names may repeat)
        obj.vertex_groups.clear()
        bpy.data.objects.remove(arm)
        bpy.data.armatures.remove(data)
        raise
    return arm


def _build(context, rig: RigData, obj, arm, data):
    import bpy
    from mathutils import Matrix

    yield
    if bpy.context.mode != "OBJECT":  # the artist changed mode since the result began to arrive
        raise RuntimeError("Blender left Object Mode while the result arrived")
    view_layer = context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm
    try:
        with _override(arm):
            bpy.ops.object.mode_set(mode="EDIT")
        try:
            made = []
            for bone, matrix, length in zip(rig.bones, rig.matrices, rig.lengths, strict=True):
                eb = data.edit_bones.new(bone)
                eb.head = (0.0, 0.0, 0.0)
                eb.tail = (0.0, float(length), 0.0)
                eb.matrix = Matrix(matrix.tolist())  # head, direction and roll; the length stays
                made.append(eb)
            for eb, parent in zip(made, rig.parents, strict=True):
                if parent >= 0:
                    eb.parent = made[parent]
        finally:
            with _override(arm):
                bpy.ops.object.mode_set(mode="OBJECT")
    finally:
        view_layer.objects.active = previous
    yield

    # One vertex group per bone, filled a weight value at a time (one call per distinct value), the
    # work cut into ticks of WEIGHTS_TICK_S: a tick per 16 bones took 47 ms on a 41k-face result
    # and 108 ms on a 100k-face one.
    started = time.perf_counter()
    for b, bone in enumerate(rig.bones):
        group = obj.vertex_groups.new(name=bone)
        rows, cols = np.nonzero((rig.joints == b) & (rig.weights > 0.0))
        weights = np.round(rig.weights[rows, cols], 4)  # rig.json's precision: vertices share values
        for w in np.unique(weights):
            group.add(rows[weights == w].tolist(), float(w), "REPLACE")
            if time.perf_counter() - started > WEIGHTS_TICK_S:
                yield
                started = time.perf_counter()
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    obj.parent = arm  # both at the world origin: the mesh stays where it is
    obj.matrix_parent_inverse.identity()
    arm["digitize_rig"] = rig.name


def _override(arm):
    import bpy

    window = next(iter(bpy.context.window_manager.windows), None) if bpy.context.window_manager else None
    kwargs = {"active_object": arm, "object": arm, "selected_objects": [arm], "selected_editable_objects": [arm]}
    if window is not None:
        kwargs["window"] = window
    return bpy.context.temp_override(**kwargs)
