"""A neutral rest pose for the rig: the person delivered in an A-pose or a T-pose, the photo's pose kept.

Retargeting tools and game engines expect a skeleton whose rest pose is neutral. The texture is
fused on the mesh in the photo's pose (it must match the photo); reposing only moves vertices,
so the faces, the UVs and the texture stay as they are.

    Anny's rest skeleton (same phenotype as the fit; arms about 48 degrees down, elbows bent 43
    degrees forward) -> elbows straightened (`a_pose`), and the upper arms raised to horizontal
    about the shoulder (`t_pose`) -> the rig's bones (presets.py merges them as for the photo's)
    -> the clothed mesh unposed: each vertex moved by the inverse of its blended skinning matrix
    (rest -> photo), so that skinning the rest mesh with the photo's pose gives back the photo's
    mesh exactly (forward skinning photo -> rest would be off by millimetres to centimetres where
    bones that turn differently share a vertex, and the photo's pose would not restore it)

The rest-pose person stands on z = 0 with the hips on the Z axis, facing -Y, whatever the photo's
turn. The photo's pose goes with it as per-bone matrices (`Rig.photo_pose`): avatar.glb's
animation `photo_pose` and rig.json's `poses`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..mesh import Mesh
from .presets import PRESETS, merged_rig
from .skeleton import Skeleton
from .skin import Skin

REST_POSES = ("photo", "a_pose", "t_pose")
DEFAULT_REST_POSE = "photo"
ARM_SIDES = (".L", ".R")


def rest_skeleton(fitted, pose: str) -> Skeleton:
    """Anny's skeleton (MakeHuman's default rig) in the neutral `pose`, at the fitted body's size,
    the hips at the world origin."""
    if pose not in ("a_pose", "t_pose"):
        raise ValueError(f"unknown rest pose {pose!r} (choose from: {', '.join(REST_POSES)})")
    sk = fitted.skeleton
    bind = fitted.rest_bind.copy()
    names = list(sk.names)
    for side in ARM_SIDES:  # Anny's rest bends the elbows forward: a neutral pose has straight arms
        upper, fore = names.index(f"upperarm01{side}"), names.index(f"lowerarm01{side}")
        bind = turned_subtree(bind, sk.parents, fore, aligning(bind[fore][:3, 1], _arm_direction(bind, names, side)))
        if pose == "t_pose":
            d = bind[upper][:3, 1]
            bind = turned_subtree(bind, sk.parents, upper, aligning(d, np.array([d[0], d[1], 0.0])))
    return Skeleton(names, sk.parents.copy(), bind, sk.lengths.copy())


def _arm_direction(bind: np.ndarray, names: list[str], side: str) -> np.ndarray:
    """The upper arm's direction: from its head to the elbow (the twist segment included)."""
    return bind[names.index(f"lowerarm01{side}")][:3, 3] - bind[names.index(f"upperarm01{side}")][:3, 3]


def aligning(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest 3x3 rotation that turns direction `a` onto direction `b`."""
    from scipy.spatial.transform import Rotation

    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-9:
        return np.eye(3)  # already aligned (never opposite here: a limb is not turned back on itself)
    return Rotation.from_rotvec(axis / sin * np.arctan2(sin, cos)).as_matrix()


def turned_subtree(bind: np.ndarray, parents: np.ndarray, bone: int, rotation: np.ndarray) -> np.ndarray:
    """`bind` with `bone` and everything below it turned by a world `rotation` about the bone's head."""
    below = np.zeros(len(parents), bool)
    below[bone] = True
    for b, p in enumerate(parents):  # parents come first
        if p >= 0 and below[p]:
            below[b] = True
    turn = np.eye(4)
    turn[:3, :3] = rotation
    head = bind[bone][:3, 3]
    turn[:3, 3] = head - rotation @ head
    out = bind.copy()
    out[below] = turn @ bind[below]
    return out


def unposed(vertices: np.ndarray, skin: Skin, rest: np.ndarray, posed: np.ndarray) -> np.ndarray:
    """The vertices (in the `posed` bones' pose) moved to the bones' `rest` pose: the exact inverse
    of skinning rest -> posed (`skin.skinned`), vertex by vertex."""
    moves = posed @ np.linalg.inv(rest)  # (B, 4, 4) rest -> posed, per bone
    blended = np.einsum("nk,nkij->nij", skin.weights, moves[skin.joints])  # (N, 4, 4), per vertex
    h = np.c_[vertices, np.ones(len(vertices))]
    return np.linalg.solve(blended, h[..., None])[:, :3, 0]


def to_rest_pose(rig, fitted, mesh: Mesh, pose: str):
    """(the rig bound in the neutral `pose` with the photo's pose kept, the mesh in that pose)."""
    def for_rig(skeleton: Skeleton) -> Skeleton:  # the same bones as the photo's rig
        if rig.name not in PRESETS:
            return skeleton
        return merged_rig(rig.name, skeleton, np.zeros((0, 1), np.int64), np.zeros((0, 1)))[0]

    default = rest_skeleton(fitted, pose)
    vertices = unposed(np.asarray(mesh.vertices, float), rig.skin, for_rig(default).bind, rig.skeleton.bind)
    # Feet on the floor, hips (the root bone's head) on the Z axis: where a game engine expects the
    # character to stand. The bones are merged again once moved: Unreal's Root bone lies on the floor.
    lift = np.eye(4)
    lift[:3, 3] = -default.bind[0][0, 3], -default.bind[0][1, 3], -vertices[:, 2].min()
    rest = for_rig(replace(default, bind=lift @ default.bind))
    reposed = replace(rig, skeleton=rest, rest_pose=pose, photo_pose=rig.skeleton.bind.copy())
    return reposed, replace(mesh, vertices=vertices + lift[:3, 3])
