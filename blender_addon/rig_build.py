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

A rig bound in a neutral rest pose (rig.json `rest_pose` "a_pose" or "t_pose") arrives at rest
in that pose, with the photo's pose kept as the Action ``<stem>_photo_pose`` (one keyframe per
bone, a fake user so a save keeps it, not assigned: the artist asked for the neutral pose). The
same pose goes on the armature as ``digitize_photo_pose`` (per bone, its pose matrix), which
Re-texture uses to render the mesh in the photo's pose, the one the photo's camera sees.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_TICK_S = 0.012  # the vertex groups' share of a tick (the UI's budget is 20 ms)
PHOTO_POSE_FRAME = 1  # the Action's one keyframe (it holds the pose at every frame)

@dataclass
class RigData:
    name: str  # which rig ("default")
    bones: list[str]
    parents: list[int]  # -1 for a root
    matrices: np.ndarray  # (B, 4, 4) world frame: head and orientation (Y along the bone)
    lengths: np.ndarray  # (B,) metres
    joints: np.ndarray  # (V, 4) bone index per mesh.obj vertex
    weights: np.ndarray  # (V, 4)
    rest_pose: str = "photo"  # the pose the mesh is bound in: the photo's, "a_pose" or "t_pose"
    photo_pose: np.ndarray | None = None  # (B, 4, 4) world frame: the bones in the photo's pose, when not at rest


def read_rig(path) -> RigData:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    bones = [b["name"] for b in doc["bones"]]
    index = {name: i for i, name in enumerate(bones)}
    parents = [index[b["parent"]] if b.get("parent") else -1 for b in doc["bones"]]
    matrices = np.array([b["matrix"] for b in doc["bones"]], np.float64).reshape(-1, 4, 4)
    tails = np.array([b["tail"] for b in doc["bones"]], np.float64).reshape(-1, 3)
    lengths = np.maximum(np.linalg.norm(tails - matrices[:, :3, 3], axis=1), 1e-3)
    photo_pose = (doc.get("poses") or {}).get("photo_pose")
    return RigData(str(doc.get("rig", "")), bones, parents, matrices, lengths,
                   np.asarray(doc["vertex_joints"], np.int64).reshape(-1, 4),
                   np.asarray(doc["vertex_weights"], np.float64).reshape(-1, 4),
                   str(doc.get("rest_pose", "photo")),
                   None if photo_pose is None else np.array(photo_pose, np.float64).reshape(len(bones), 4, 4))


def pose_basis(rig: RigData, posed: np.ndarray) -> np.ndarray:
    """(B, 4, 4) each pose bone's ``matrix_basis`` (its turn and shift from rest, in its own frame)
    that puts the bones at ``posed`` (armature space) when the armature's rest is ``rig.matrices``."""
    basis = np.empty_like(posed)
    for b, p in enumerate(rig.parents):
        rest_local = rig.matrices[b] if p < 0 else np.linalg.inv(rig.matrices[p]) @ rig.matrices[b]
        posed_local = posed[b] if p < 0 else np.linalg.inv(posed[p]) @ posed[b]
        basis[b] = np.linalg.inv(rest_local) @ posed_local
    return basis


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
    arm["digitize_rest_pose"] = rig.rest_pose
    if rig.photo_pose is not None:
        yield
        add_photo_pose(arm, rig, f"{obj.name}_photo_pose")


def add_photo_pose(arm, rig: RigData, name: str):
    """The photo's pose as the Action ``name`` (fake user, not assigned) and the armature's
    ``digitize_photo_pose``; the armature is left at rest. Returns the Action."""
    from mathutils import Matrix

    basis = pose_basis(rig, rig.photo_pose)
    bones = arm.pose.bones
    had_animation = arm.animation_data is not None
    for bone, m in zip(rig.bones, basis, strict=True):
        pb = bones[bone]
        pb.rotation_mode = "QUATERNION"
        pb.matrix_basis = Matrix(m.tolist())
        # Blender 4.2-5.0 alike: keying makes the Action (a slotted one from 4.4 on) and assigns it.
        pb.keyframe_insert("location", frame=PHOTO_POSE_FRAME, group=bone)
        pb.keyframe_insert("rotation_quaternion", frame=PHOTO_POSE_FRAME, group=bone)
    action = arm.animation_data.action
    action.name = name
    action.use_fake_user = True
    arm.animation_data.action = None
    if not had_animation:
        arm.animation_data_clear()
    for pb in bones:
        pb.matrix_basis = Matrix.Identity(4)
    arm["digitize_photo_pose"] = {bone: [float(x) for x in m.ravel()] for bone, m in zip(rig.bones, basis,
                                                                                       strict=True)}
    return action


def photo_pose_basis(arm) -> dict | None:
    """{bone: 4x4 matrix_basis} of the photo's pose kept on a digitized armature, or None."""
    stored = arm.get("digitize_photo_pose") if arm is not None else None
    if stored is None:
        return None
    return {bone: np.array(list(values), np.float64).reshape(4, 4) for bone, values in stored.items()}


def _override(arm):
    import bpy

    window = next(iter(bpy.context.window_manager.windows), None) if bpy.context.window_manager else None
    kwargs = {"active_object": arm, "object": arm, "selected_objects": [arm], "selected_editable_objects": [arm]}
    if window is not None:
        kwargs["window"] = window
    return bpy.context.temp_override(**kwargs)


def bound_armature(obj):
    """The armature object deforming ``obj`` through an Armature modifier, or None."""
    return next((m.object for m in getattr(obj, "modifiers", ()) if m.type == "ARMATURE" and m.object is not None
                 and m.object.type == "ARMATURE"), None)


@contextmanager
def photo_pose_shown(context, arm):
    """While inside: the digitized armature ``arm`` holds the photo's pose (when it keeps one; a rig
    bound in the photo's pose or none at all changes nothing). Afterwards the artist's pose and
    Action are back as they were. Yields whether the pose was changed."""
    from mathutils import Matrix

    basis = photo_pose_basis(arm)
    if basis is None:
        yield False
        return
    saved = {pb.name: (pb.rotation_mode, pb.matrix_basis.copy()) for pb in arm.pose.bones}
    anim = arm.animation_data
    action = anim.action if anim is not None else None
    slot = getattr(anim, "action_slot", None) if action is not None else None  # Blender 4.4+
    try:
        if action is not None:  # an assigned Action would pose the bones again on evaluation
            anim.action = None
        for pb in arm.pose.bones:
            pb.matrix_basis = Matrix(basis[pb.name].tolist()) if pb.name in basis else Matrix.Identity(4)
        context.view_layer.update()
        yield True
    finally:
        if action is not None:
            anim.action = action
            if slot is not None:
                anim.action_slot = slot
        for pb in arm.pose.bones:
            if pb.name in saved:
                pb.rotation_mode, matrix = saved[pb.name]
                pb.matrix_basis = matrix
        context.view_layer.update()
