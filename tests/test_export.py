"""Exporting the textured result: GLB (trimesh + real Blender), OBJ+MTL+PNG, turntable preview, atomic writes.

The test body is an off-centre capsule standing on z = 0 (so any axis flip or swap changes its
bounding box), unwrapped with xatlas. Its texture paints the front half (y below the centre,
facing -Y) red and the back half blue, over a green gradient down the rows, so a v flip, a
front/back swap or a wrong axis conversion all show.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from PIL import Image

from backend.export import glb as glb_module
from backend.export.glb import split_uv_seams, write_glb
from backend.export.mesh_io import load_user_mesh
from backend.export.preview import BACKGROUND, render_turntable, sample_texture, write_preview
from backend.export.textured import write_obj_with_texture
from backend.mesh import Mesh
from backend.raster import render_maps
from backend.uv.atlas import unwrap
from backend.view_schedule import View, view_cameras

ROOT = Path(__file__).resolve().parent.parent
R = 256  # texture size
OFFSET = np.array([0.03, -0.02, 0.0])  # the capsule's axis is off the Z axis: flips change the bounding box


@pytest.fixture(scope="module")
def body() -> Mesh:
    tm = trimesh.creation.capsule(height=1.2, radius=0.22, count=[32, 32])
    v = np.asarray(tm.vertices, np.float64).copy()
    v[:, 2] -= v[:, 2].min()
    v += OFFSET
    return unwrap(Mesh(v, np.asarray(tm.faces, np.int64)), R).mesh


@pytest.fixture(scope="module")
def texture(body: Mesh) -> np.ndarray:
    tex = np.zeros((R, R, 3), np.uint8)
    tex[..., 1] = np.linspace(0, 255, R)[:, None].astype(np.uint8)  # green: row gradient (v flips show)
    centre_y = body.vertices[body.faces].mean(axis=1)[:, 1] - OFFSET[1]
    red, blue = tex[..., 0].copy(), tex[..., 2].copy()
    for f in range(len(body.faces)):
        pts = body.uv[body.faces_uv[f]] * R
        pts[:, 1] = R - pts[:, 1]  # UV (0, 0) bottom-left -> image rows from the top
        cv2.fillPoly(red if centre_y[f] < 0 else blue, [np.round(pts * 16).astype(np.int32)], 255, shift=4)
    tex[..., 0], tex[..., 2] = red, blue
    return tex


@pytest.fixture(scope="module")
def glb_path(body, texture, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("glb") / "avatar.glb"
    assert write_glb(body, texture, path) == path
    return path


def _corners(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    return mesh.vertices[mesh.faces].reshape(-1, 3), mesh.uv[mesh.faces_uv].reshape(-1, 2)


def _read_glb(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_len % 4 == 0
    doc = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_type == 0x004E4942 and 28 + json_len + bin_len == len(data)
    return doc, data[28 + json_len :]


def _accessor(doc: dict, binary: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    start = view["byteOffset"] + acc.get("byteOffset", 0)
    return np.frombuffer(binary, dtype, acc["count"] * width, start).reshape(acc["count"], width)


# --- sample_texture --------------------------------------------------------------------------


def test_sample_texture_texel_centres_v_flip_and_clamp():
    tex = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3)  # H=4, W=2
    rows, cols = np.mgrid[0:4, 0:2]
    uv = np.stack([(cols + 0.5) / 2, 1 - (rows + 0.5) / 4], axis=-1)
    np.testing.assert_array_equal(sample_texture(tex, uv), tex.astype(np.float32))
    # Half way between rows 0 and 1 of column 0; beyond the corners clamps to the corner texels.
    np.testing.assert_allclose(sample_texture(tex, [[0.25, 0.75]]), [(tex[0, 0] + tex[1, 0]) / 2.0])
    np.testing.assert_array_equal(sample_texture(tex, [[-1.0, 2.0], [2.0, -1.0]]), [tex[0, 0], tex[3, 1]])
    assert sample_texture(tex[..., 0], uv).shape == (4, 2)


# --- GLB -------------------------------------------------------------------------------------


def test_glb_json_layout_seams_and_normals(body, texture, glb_path):
    doc, binary = _read_glb(glb_path)
    assert doc["asset"]["version"] == "2.0"
    assert len(doc["meshes"]) == 1 and len(doc["meshes"][0]["primitives"]) == 1
    prim = doc["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0"}
    pbr = doc["materials"][prim["material"]]["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == 0 and pbr["roughnessFactor"] == pytest.approx(0.8)
    image = doc["images"][doc["textures"][pbr["baseColorTexture"]["index"]]["source"]]
    assert image["mimeType"] == "image/png"
    assert all(v["byteOffset"] % 4 == 0 for v in doc["bufferViews"])

    pos = _accessor(doc, binary, prim["attributes"]["POSITION"])
    nrm = _accessor(doc, binary, prim["attributes"]["NORMAL"])
    tex = _accessor(doc, binary, prim["attributes"]["TEXCOORD_0"])
    idx = _accessor(doc, binary, prim["indices"]).reshape(-1, 3).astype(np.int64)
    acc = doc["accessors"][prim["attributes"]["POSITION"]]
    np.testing.assert_allclose(acc["min"], pos.min(axis=0))
    np.testing.assert_allclose(acc["max"], pos.max(axis=0))

    # One glTF vertex per distinct (vertex, uv) pair; more than the geometry's vertices (seams split).
    pairs = np.unique(np.stack([body.faces.reshape(-1), body.faces_uv.reshape(-1)], axis=1), axis=0)
    assert len(pos) == len(pairs) > len(body.vertices)
    # glTF (x, y, z) = world (x, z, -y); texcoords from the top-left.
    world = np.stack([pos[:, 0], -pos[:, 2], pos[:, 1]], axis=1)
    corner_pos, corner_uv = _corners(body)
    np.testing.assert_allclose(world[idx].reshape(-1, 3), corner_pos, atol=1e-6)
    np.testing.assert_allclose(np.stack([tex[:, 0], 1 - tex[:, 1]], 1)[idx].reshape(-1, 2), corner_uv, atol=1e-6)
    # Smooth normals from the unsplit geometry: seam copies of a vertex share its normal.
    vidx, _, _ = split_uv_seams(body)
    world_n = np.stack([nrm[:, 0], -nrm[:, 2], nrm[:, 1]], axis=1)
    np.testing.assert_allclose(world_n, body.vertex_normals()[vidx], atol=1e-6)
    # Winding kept: normals point outward from the capsule's axis.
    radial = world[:, :2] - OFFSET[:2]
    assert (np.einsum("ij,ij->i", radial, world_n[:, :2]) >= -1e-6).all()
    face_n = np.cross(world[idx[:, 1]] - world[idx[:, 0]], world[idx[:, 2]] - world[idx[:, 0]])
    assert (np.einsum("ij,ij->i", face_n, world_n[idx].mean(axis=1)) > 0).mean() > 0.99


def test_glb_opens_in_trimesh_with_texture_and_uvs(body, texture, glb_path):
    scene = trimesh.load(glb_path)
    assert isinstance(scene, trimesh.Scene) and len(scene.geometry) == 1
    loaded = trimesh.load(glb_path, process=False)
    (g,) = loaded.geometry.values()
    image = np.asarray(g.visual.material.baseColorTexture.convert("RGB"))
    np.testing.assert_array_equal(image, texture)
    assert g.visual.material.metallicFactor == 0
    # trimesh flips glTF's v on load: its uv has (0, 0) at the bottom-left, like ours.
    corner_pos, corner_uv = _corners(body)
    uv_loaded = np.asarray(g.visual.uv)[g.faces].reshape(-1, 2)
    np.testing.assert_allclose(uv_loaded, corner_uv, atol=1e-6)
    ours = sample_texture(texture, corner_uv)
    theirs = sample_texture(image, uv_loaded)
    assert np.abs(ours - theirs).max() < 0.5
    # trimesh keeps glTF's Y-up coordinates.
    v = np.asarray(g.vertices)[g.faces].reshape(-1, 3)
    np.testing.assert_allclose(np.stack([v[:, 0], -v[:, 2], v[:, 1]], 1), corner_pos, atol=1e-6)


def test_glb_round_trips_through_load_user_mesh(body, glb_path):
    back = load_user_mesh(glb_path)
    assert len(back.vertices) == len(body.vertices) and len(back.faces) == len(body.faces)
    np.testing.assert_allclose(back.vertices[back.faces], body.vertices[body.faces], atol=1e-6)
    np.testing.assert_allclose(back.uv[back.faces_uv], body.uv[body.faces_uv], atol=1e-6)
    assert back.vertices[:, 2].min() == pytest.approx(0.0, abs=1e-6)


def test_glb_without_texture(body, tmp_path):
    plain = Mesh(body.vertices, body.faces)
    doc, _ = _read_glb(write_glb(plain, None, tmp_path / "plain.glb"))
    assert "images" not in doc and "TEXCOORD_0" not in doc["meshes"][0]["primitives"][0]["attributes"]
    assert len(load_user_mesh(tmp_path / "plain.glb").faces) == len(body.faces)
    with pytest.raises(ValueError, match="UVs"):
        write_glb(plain, np.zeros((4, 4, 3), np.uint8), tmp_path / "bad.glb")


_BLENDER_SCRIPT = """
import json, os, sys
import bpy
tmp = os.environ["BLENDER_USER_RESOURCES"]
for kind in ("CONFIG", "SCRIPTS", "EXTENSIONS"):
    assert bpy.utils.user_resource(kind).startswith(tmp), (kind, bpy.utils.user_resource(kind))
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=sys.argv[1])
meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
out = {"meshes": len(meshes)}
o = meshes[0]
mw = o.matrix_world
out["matrix"] = [list(r) for r in mw]
me = o.data
out["positions"] = [list(mw @ v.co) for v in me.vertices]
uv = me.uv_layers.active.data
out["loops"] = [list(mw @ me.vertices[loop.vertex_index].co) + list(uv[i].uv) for i, loop in enumerate(me.loops)]
tree = o.active_material.node_tree
bsdf = [n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"]
out["bsdf"] = len(bsdf)
links = bsdf[0].inputs["Base Color"].links
out["base_from"] = links[0].from_node.type if links else None
if links and links[0].from_node.type == "TEX_IMAGE":
    img = links[0].from_node.image
    out["image_size"] = list(img.size)
    out["packed"] = img.packed_file is not None
out["metallic"] = bsdf[0].inputs["Metallic"].default_value
out["roughness"] = bsdf[0].inputs["Roughness"].default_value
print("RESULT " + json.dumps(out))
"""


@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy (Blender as a module) is not installed")
def test_glb_opens_in_blender(body, glb_path, tmp_path):
    from scipy.spatial import cKDTree

    env = dict(os.environ)
    env.update(BLENDER_USER_RESOURCES=str(tmp_path), BLENDER_USER_CONFIG=str(tmp_path / "config"),
               BLENDER_USER_SCRIPTS=str(tmp_path / "scripts"), BLENDER_USER_EXTENSIONS=str(tmp_path / "extensions"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_BLENDER_SCRIPT), str(glb_path)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT ") :])
    assert out["meshes"] == 1 and out["bsdf"] == 1
    assert out["base_from"] == "TEX_IMAGE" and out["image_size"] == [R, R] and out["packed"]
    assert out["metallic"] == pytest.approx(0.0) and out["roughness"] == pytest.approx(0.8, abs=1e-6)
    # Blender's world = ours: z in [0, height], the off-centre axis where we put it (facing -Y kept).
    np.testing.assert_allclose(out["matrix"], np.eye(4), atol=1e-7)  # the axis change is in the data
    pos = np.array(out["positions"])
    np.testing.assert_allclose(pos.min(axis=0), body.vertices.min(axis=0), atol=1e-5)
    np.testing.assert_allclose(pos.max(axis=0), body.vertices.max(axis=0), atol=1e-5)
    # Every Blender face corner is one of ours, with our UV (Blender's UV origin is the bottom-left too).
    corner_pos, corner_uv = _corners(body)
    dist, _ = cKDTree(np.hstack([corner_pos, corner_uv])).query(np.array(out["loops"]))
    assert dist.max() < 1e-4
    assert len(out["loops"]) == 3 * len(body.faces)


# --- OBJ + MTL + PNG -------------------------------------------------------------------------


def test_obj_with_texture_loads_in_trimesh(body, texture, tmp_path):
    paths = write_obj_with_texture(body, texture, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.mtl", "mesh.obj", "texture.png"]
    assert paths["obj"] == tmp_path / "mesh.obj"
    obj = (tmp_path / "mesh.obj").read_text()
    assert "mtllib mesh.mtl\n" in obj and "usemtl " in obj
    mtl = (tmp_path / "mesh.mtl").read_text()
    assert "map_Kd texture.png" in mtl and "Kd 1.000000 1.000000 1.000000" in mtl
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "texture.png").convert("RGB")), texture)

    loaded = trimesh.load(tmp_path / "mesh.obj", process=False)
    assert loaded.visual.material.image is not None
    assert loaded.visual.material.image.size == (R, R)
    uv = np.asarray(loaded.visual.uv)
    assert uv.min() >= 0 and uv.max() <= 1
    np.testing.assert_allclose(uv[loaded.faces].reshape(-1, 2), _corners(body)[1], atol=1e-5)
    # The OBJ is in the world frame as it is (Z up).
    np.testing.assert_allclose(np.asarray(loaded.vertices)[loaded.faces].reshape(-1, 3), _corners(body)[0],
                               atol=1e-5)


def test_obj_without_material_unchanged(body):
    from backend.export.mesh_io import obj_text

    text = obj_text(body)
    assert "mtllib" not in text and "usemtl" not in text
    faces = [ln for ln in text.splitlines() if ln.startswith("f ")]
    assert len(faces) == len(body.faces) and faces[0].count("/") == 3


# --- turntable preview -----------------------------------------------------------------------


def test_turntable_front_and_back(body, texture, tmp_path):
    size = 128
    sheet = render_turntable(body, texture, size=size, supersample=1)  # covered pixels = render_maps' mask
    assert sheet.shape == (2 * size, 4 * size, 3) and sheet.dtype == np.uint8

    def tile(k):
        r, c = divmod(k, 4)
        return sheet[r * size : (r + 1) * size, c * size : (c + 1) * size].astype(float)

    maps = render_maps(body, view_cameras(body, [View(0), View(180)], resolution=size))
    for k, m, front in ((0, maps[0], True), (4, maps[1], False)):
        t = tile(k)
        body_px = t[m.mask]
        red, blue = body_px[:, 0].mean(), body_px[:, 2].mean()
        assert (red > 2 * blue) if front else (blue > 2 * red), (k, red, blue)
        below_label = np.zeros_like(m.mask)
        below_label[size // 4 :] = True  # the label sits in the top-left corner
        outside = t[~m.mask & below_label]
        np.testing.assert_array_equal(outside, np.broadcast_to(BACKGROUND, outside.shape))
        assert (t[:4, -4:] == BACKGROUND).all()  # top-right corner: plain background
    # The label is drawn: the top-left corner is not all background.
    assert (tile(0)[: size // 6, : size // 2] != BACKGROUND).any()
    # The default (supersampled, anti-aliased) sheet agrees away from the silhouette edges.
    path = write_preview(tmp_path / "preview.png", body, texture, size=size)
    smooth = np.asarray(Image.open(path)).astype(float)
    assert smooth.shape == sheet.shape
    assert np.median(np.abs(smooth - sheet).max(axis=2)) < 2


# --- atomic writes ---------------------------------------------------------------------------


def test_glb_write_is_atomic(body, texture, tmp_path, monkeypatch):
    real_chunks = glb_module.glb_chunks

    def failing_chunks(*args, **kwargs):
        chunks = real_chunks(*args, **kwargs)
        yield chunks[0]
        yield chunks[1]
        raise OSError("disk full")

    monkeypatch.setattr(glb_module, "glb_chunks", failing_chunks)
    target = tmp_path / "avatar.glb"
    with pytest.raises(OSError, match="disk full"):
        write_glb(body, texture, target)
    assert list(tmp_path.iterdir()) == []  # no final file, no temporary left behind

    # An older complete file survives a failed rewrite untouched.
    monkeypatch.setattr(glb_module, "glb_chunks", real_chunks)
    write_glb(body, texture, target)
    before = target.read_bytes()
    monkeypatch.setattr(glb_module, "glb_chunks", failing_chunks)
    with pytest.raises(OSError):
        write_glb(body, texture, target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["avatar.glb"]
