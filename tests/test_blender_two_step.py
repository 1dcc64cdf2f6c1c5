"""The artist's two-step flow in real Blender (bpy) with the REAL backend (issue 19):

Reconstruct Shape -> a manual edit (faces deleted, vertices moved) -> Texture Selected Mesh.

One bpy subprocess on the bundled sample, writing a JSON report and two renders through the photo's
camera that the tests below assert on: the shape arrives untextured with the photo projected onto it
(its render through the photo's camera is the photo), texturing keeps every vertex the artist left
where the artist left it, and the textured mesh's front render is the photo again (PSNR inside the
silhouette). Cancel during either step leaves the scene as it was. The startup Cube stands on the
origin, so the result is placed beside it: the photo's camera has to move with the mesh.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from tests.blender_versions import BLENDERS, blender_id  # noqa: E402
from tests.test_blender_addon import ADDON_SESSION, ROOT, run_bpy  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.slow]

PHOTO = ROOT / "samples" / "person.jpg"
TICK_LIMIT_MS = 100.0  # a tick that waited on a job would take seconds (see test_blender_e2e.py)
MIN_PSNR_DB = 24.0

# What the artist sees through the photo's camera: the material's colour unlit (an Emission in its
# place for the render), every other object hidden, a half-size PNG with alpha.
RENDER_FRONT = """
def base_color_source(obj):
    bsdf = next(n for n in obj.active_material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    return bsdf, bsdf.inputs["Base Color"].links[0].from_socket

def render_front(obj, path, percentage=50):
    scene = bpy.context.scene
    camera = bpy.data.objects[obj.name + "_input"]
    mat = obj.active_material
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf, colour = base_color_source(obj)
    output = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
    emission = nodes.new("ShaderNodeEmission")
    links.new(colour, emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    hidden = {o.name: o.hide_render for o in scene.objects}
    for o in scene.objects:
        o.hide_render = o != obj
    r = scene.render
    r.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.filter_width = 0.5
    scene.cycles.device = "CPU"
    scene.view_settings.view_transform = "Standard"
    w, h = camera["digitize_resolution"]
    r.resolution_x, r.resolution_y, r.resolution_percentage = w, h, percentage
    r.film_transparent = True
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGBA"
    r.filepath = str(path)
    scene.camera = camera
    bpy.data.collections[obj.name + "_cameras"].hide_render = False
    bpy.ops.render.render(write_still=True)
    bpy.data.collections[obj.name + "_cameras"].hide_render = True
    links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
    nodes.remove(emission)
    for name, value in hidden.items():
        scene.objects[name].hide_render = value

"""

SCRIPT = ADDON_SESSION + RENDER_FRONT + """
import json
import numpy as np
import bmesh
out = Path(sys.argv[1])
photo = sys.argv[2]
prefs.backend_python = sys.executable  # the venv's python is also the backend's
prefs.jobs_dir = str(out / "jobs")
prefs.keep_job_folders = True  # the tests read the jobs' job.json and out/ afterwards
s = scene.digitize
s.photo_path = photo
s.fusion_iterations = 2  # seconds, not minutes: the photo's own pixels are splatted before any step
report = {}

def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False

def snapshot():
    scene = bpy.context.scene
    return {o.name: {"matrix": [[round(x, 6) for x in row] for row in o.matrix_world],
                     "data": o.data.name if o.data else None,
                     "verts": len(o.data.vertices) if o.type == "MESH" else None,
                     "materials": [m.name for m in getattr(o.data, "materials", []) if m]}
            for o in scene.objects} | {"collections": sorted(bpy.data.collections.keys())}

def positions(obj):
    co = np.empty(len(obj.data.vertices) * 3, np.float64)
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)

def cancel_when(stage_ok):
    job = job_runner.ACTIVE
    deadline = time.time() + 120
    while not stage_ok(job.stage) and not job.over and time.time() < deadline:
        job_runner.tick()
        time.sleep(0.02)
    stage, pid = job.stage, job.process.pid  # the process running now (Re-texture's is the second of two)
    ret = sorted(bpy.ops.digitize.cancel())
    ticks = drive_timer()
    return {"stage": stage, "cancel": ret, "state": job.state, "pid_alive": alive(pid),
            "out_exists": (Path(job.job_dir) / "out").exists(), "max_tick_ms": max(ticks)}

before = snapshot()

# --- bad input: one line, nothing added ---
s.photo_path = ""
report["no_photo"] = [sorted(bpy.ops.digitize.reconstruct_shape(wait=True)),
                      bpy.context.window_manager.digitize_job.last_error]
text = out / "not_a_photo.jpg"
text.write_text("this is text, not a photo")
s.photo_path = str(text)
report["not_a_photo"] = [sorted(bpy.ops.digitize.reconstruct_shape(wait=True)),
                         bpy.context.window_manager.digitize_job.last_error]
s.photo_path = photo
report["bad_input_scene_same"] = snapshot() == before

# --- step 1 cancelled while the backend shapes the body: nothing is added ---
report["shape_cancel_start"] = sorted(bpy.ops.digitize.reconstruct_shape(wait=False))
report["shape_cancel"] = cancel_when(lambda stage: stage == "shape")
report["shape_cancel_scene_same"] = snapshot() == before

# --- step 1: Reconstruct Shape, followed by the timer ---
bpy.ops.ed.undo_push(message="before the shape")
t0 = time.time()
report["shape_ret"] = sorted(bpy.ops.digitize.reconstruct_shape(wait=False))
report["shape_call_ms"] = (time.time() - t0) * 1000
job = job_runner.ACTIVE
report["shape_ticks_ms"] = drive_timer()
report["shape_s"] = time.time() - t0
report["shape_state"] = [job.state, job.error, job.message]
report["shape_job_dir"] = str(job.job_dir)
obj = s.result_object
report["shape_object"] = {"name": obj.name, "location": list(obj.matrix_world.translation),
                          "parent": obj.parent.type if obj.parent else None,
                          "uv_layers": [uv.name for uv in obj.data.uv_layers],
                          "vertices": len(obj.data.vertices), "material": obj.active_material.name,
                          "preview": bool(obj.active_material.get("digitize_photo_preview")),
                          "photo": obj.get("digitize_photo"),
                          "camera_background": [bg.image.name for bg in
                                                bpy.data.objects[obj.name + "_input"].data.background_images]}
render_front(obj, out / "preview_front.png")

# --- the artist's edit: a band of faces on the back deleted, the back pushed in, a few front vertices moved ---
me = obj.data
bm = bmesh.new()
bm.from_mesh(me)
bm.faces.ensure_lookup_table()
band = [f for f in bm.faces if f.normal.y > 0.8 and 1.0 < f.calc_center_median().z < 1.1]
bmesh.ops.delete(bm, geom=band, context="FACES")
for v in bm.verts:
    if v.co.y > 0.05 and 0.9 < v.co.z < 1.3:
        v.co.y -= 0.01
    elif v.co.y < -0.05 and 1.2 < v.co.z < 1.25:
        v.co.y -= 0.002
bm.to_mesh(me)
bm.free()
me.update()
report["deleted_faces"] = len(band)
edited = positions(obj)
np.save(out / "edited.npy", edited)
bpy.ops.ed.undo_push(message="the artist's edit")
after_edit = snapshot()
for o in bpy.context.selected_objects:
    o.select_set(False)
obj.select_set(True)
bpy.context.view_layer.objects.active = obj

# --- step 2 cancelled while Blender renders the maps or the backend works: the scene stays as it was ---
report["texture_cancel_start"] = sorted(bpy.ops.digitize.retexture_selected(wait=False))
report["texture_cancel"] = cancel_when(lambda stage: stage in ("intake", "shape", "uv", "raster"))
report["texture_cancel_scene_same"] = snapshot() == after_edit
report["texture_cancel_positions_same"] = bool(np.array_equal(positions(obj), edited))
report["texture_cancel_preview_kept"] = bool(obj.active_material.get("digitize_photo_preview"))

# --- step 2: Texture Selected Mesh ---
t0 = time.time()
report["texture_ret"] = sorted(bpy.ops.digitize.retexture_selected(wait=False))
report["texture_call_ms"] = (time.time() - t0) * 1000
job = job_runner.ACTIVE
report["texture_ticks_ms"] = drive_timer()
report["texture_s"] = time.time() - t0
report["texture_state"] = [job.state, job.error, job.message]
report["texture_notes"] = [note.text for note in job.notes]
report["texture_job_dir"] = str(job.job_dir)
obj = s.result_object
np.save(out / "textured.npy", positions(obj))
bsdf, colour = base_color_source(obj)
report["textured"] = {"material": obj.active_material.name, "slots": len(obj.material_slots),
                      "preview": bool(obj.active_material.get("digitize_photo_preview")),
                      "from": colour.node.type, "uv_input_linked": colour.node.inputs["Vector"].is_linked,
                      "image": colour.node.image.name if colour.node.image else None,
                      "packed": bool(colour.node.image and colour.node.image.packed_file)}
render_front(obj, out / "textured_front.png")
bpy.ops.ed.undo()  # the step before the texture: the projected photo again, the edit kept
obj = bpy.data.objects[report["shape_object"]["name"]]
report["undo"] = {"preview": bool(obj.active_material.get("digitize_photo_preview")),
                  "positions_same": bool(np.array_equal(positions(obj), edited))}
report["heavy"] = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "cv2", "backend"})
blender_addon.unregister()
(out / "report.json").write_text(json.dumps(report))
print("OK")
"""


@pytest.fixture(scope="module")
def two_step(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two_step")
    user = tmp / "blender_user"
    user.mkdir()
    stdout = run_bpy(SCRIPT, user, str(tmp), str(PHOTO), timeout=600)
    report = json.loads((tmp / "report.json").read_text())
    print("shape s:", round(report["shape_s"], 1), "texture s:", round(report["texture_s"], 1),
          "longest ticks ms:", round(max(report["shape_ticks_ms"]), 1), round(max(report["texture_ticks_ms"]), 1))
    return report, tmp, stdout


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"), dtype=np.float64) / 255.0


def _front_psnr(render: Path, job_out: Path) -> tuple[float, int]:
    """PSNR of a half-size render through the photo's camera against the photo, over the pixels both the
    render (fully covered) and the photo's person mask hold, one pixel in from the outline."""
    from PIL import Image
    from scipy.ndimage import binary_erosion

    ours = _png(render)
    h, w = ours.shape[:2]
    photo = Image.open(job_out / "photo.png").convert("RGBA").resize((w, h), Image.Resampling.BOX)
    photo = np.asarray(photo, dtype=np.float64) / 255.0
    inside = binary_erosion((ours[..., 3] > 0.999) & (photo[..., 3] > 0.999), iterations=1)
    mse = ((ours[..., :3] - photo[..., :3])[inside] ** 2).mean()
    return float(10 * np.log10(1.0 / mse)), int(inside.sum())


def test_reconstruct_shape_puts_the_untextured_mesh_with_the_photo_projected(two_step):
    r, tmp, _ = two_step
    assert r["shape_ret"] == ["FINISHED"]
    state, error, message = r["shape_state"]
    assert state == "done", error
    assert "Texture Selected Mesh" in message and "3D body fitted" in message
    o = r["shape_object"]
    assert o["preview"] and o["uv_layers"] == ["UVMap"] and o["parent"] == "ARMATURE"
    assert o["location"][0] > 0.5  # placed clear of the startup Cube
    assert o["photo"] == str(PHOTO) and o["camera_background"] == [o["name"] + "_photo"]
    out = Path(r["shape_job_dir"]) / "out"
    result = json.loads((out / "result.json").read_text())
    assert result["command"] == "shape" and not (out / "texture.png").exists() and not (out / "maps").exists()
    assert (out / "rig.json").is_file() and (out / "photo.png").is_file()
    # The projected photo lines up: seen through the photo's camera, the preview is the photo.
    psnr, pixels = _front_psnr(tmp / "preview_front.png", out)
    assert pixels > 20_000 and psnr > 30.0, psnr


def test_texturing_keeps_the_artists_edit_and_matches_the_photo(two_step):
    r, tmp, _ = two_step
    assert r["deleted_faces"] > 50
    assert r["texture_ret"] == ["FINISHED"]
    state, error, message = r["texture_state"]
    assert state == "done", error
    assert message.startswith("Textured "), message
    edited, textured = np.load(tmp / "edited.npy"), np.load(tmp / "textured.npy")
    assert textured.shape == edited.shape and np.array_equal(textured, edited)  # count and positions unchanged
    t = r["textured"]
    assert not t["preview"] and t["from"] == "TEX_IMAGE" and not t["uv_input_linked"] and t["packed"]
    assert t["slots"] == 1
    job = Path(r["texture_job_dir"])
    spec = json.loads((job / "job.json").read_text())
    assert spec["command"] == "retexture" and spec["photo"] == str(PHOTO) and "input_camera" in spec
    assert spec["options"]["rig"] == "none"  # the mesh keeps its rig: no "No rig was added" note
    assert not any("rig" in note for note in r["texture_notes"]), r["texture_notes"]
    result = json.loads((job / "out" / "result.json").read_text())
    assert "the photo's camera came with the mesh" in result["shape"]["notes"]
    psnr, pixels = _front_psnr(tmp / "textured_front.png", Path(r["shape_job_dir"]) / "out")
    assert pixels > 20_000 and psnr >= MIN_PSNR_DB, psnr
    assert r["undo"] == {"preview": True, "positions_same": True}
    assert r["heavy"] == []


def test_cancel_in_either_step_leaves_the_scene_as_it_was(two_step):
    r, _, _ = two_step
    for step in ("shape", "texture"):
        c = r[f"{step}_cancel"]
        assert r[f"{step}_cancel_start"] == ["FINISHED"] and c["cancel"] == ["FINISHED"], (step, c)
        assert c["state"] == "cancelled" and not c["pid_alive"] and not c["out_exists"], (step, c)
        assert r[f"{step}_cancel_scene_same"], step
    assert r["shape_cancel"]["stage"] == "shape"
    assert r["texture_cancel"]["stage"] in ("intake", "shape", "uv", "raster")
    assert r["texture_cancel_positions_same"] and r["texture_cancel_preview_kept"]


def test_bad_input_gets_one_line_and_adds_nothing(two_step):
    r, _, stdout = two_step
    assert r["no_photo"] == [["CANCELLED"], "Choose a photo first"]
    ret, error = r["not_a_photo"]
    assert ret == ["CANCELLED"] and "not_a_photo.jpg is not an image" in error and "\n" not in error, error
    assert f"Warning: {error}" in stdout  # the operator's report
    assert r["bad_input_scene_same"]


def test_neither_step_blocks_blender(two_step):
    r, _, _ = two_step
    for step in ("shape", "texture"):
        ticks = r[f"{step}_ticks_ms"]
        assert max(ticks) < TICK_LIMIT_MS, (step, sorted(ticks)[-5:])
        assert r[f"{step}_call_ms"] < 250, step
        assert max(r[f"{step}_cancel"]["max_tick_ms"], 0) < TICK_LIMIT_MS, step


# --- the projected photo on every tested release (the node set is what changes between releases) ---

RELEASE = RENDER_FRONT + """
import json
from pathlib import Path
from blender_addon import scene_result
out = Path(sys.argv[1])
made = scene_result.build_result(bpy.context, scene_result.load_result_files(out / "shape"), "card",
                                 photo_path=str(out / "shape" / "photo.png"))
obj = made["object"]
camera = bpy.data.objects["card_input"]
report = {"preview": bool(obj.active_material.get("digitize_photo_preview")), "moved_x": made["offset_x"],
          "background": [bg.image.name for bg in camera.data.background_images],
          "stored_camera": json.loads(obj["digitize_input_camera"])["fx"]}
render_front(obj, out / "front.png", percentage=100)
(out / "report.json").write_text(json.dumps(report))
"""


def _card_result(folder: Path) -> None:
    """A shape result in miniature: a card standing where a person would, the photo a smooth pattern
    seen by an off-centre pinhole 3 m away."""
    from PIL import Image

    from backend.conventions import PERSPECTIVE, Camera, look_at
    from backend.export.mesh_io import obj_text
    from backend.mesh import Mesh

    folder.mkdir()
    xs, zs = np.linspace(-0.5, 0.5, 9), np.linspace(0.1, 1.7, 13)
    vertices = np.array([[x, 0.0, z] for z in zs for x in xs])
    faces = []
    for j in range(len(zs) - 1):
        for i in range(len(xs) - 1):
            a, b, c, d = j * 9 + i, j * 9 + i + 1, (j + 1) * 9 + i + 1, (j + 1) * 9 + i
            faces += [[a, b, c], [a, c, d]]
    (folder / "mesh.obj").write_text(obj_text(Mesh(vertices, np.array(faces))))
    cam = Camera(look_at(np.array([0.1, -3.0, 0.9]), np.array([0.0, 0.0, 0.9])), 192, 256, 384.0, 384.0,
                 99.0, 123.0, PERSPECTIVE, "input", 0.0, 0.0)
    y, x = np.mgrid[0:256, 0:192].astype(np.float64)
    rgb = np.dstack([0.5 + 0.4 * np.sin(x / 13), 0.5 + 0.4 * np.cos(y / 17), 0.5 + 0.3 * np.sin((x + y) / 23)])
    alpha = np.full((256, 192), 255, np.uint8)
    Image.fromarray(np.dstack([(rgb * 255 + 0.5).astype(np.uint8), alpha])).save(folder / "photo.png")
    result = {"command": "shape", "input_camera": cam.to_json(), "photo_image": {"file": "photo.png"},
              "mesh": {"file": "mesh.obj"}, "shape": {"method": "user_mesh"}}
    (folder / "result.json").write_text(json.dumps(result))


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_the_projected_photo_lines_up_on_every_release(tmp_path, blender):
    _card_result(tmp_path / "shape")
    user = tmp_path / "blender_user"
    user.mkdir()
    run_bpy(RELEASE, user, str(tmp_path), timeout=120, blender=blender)
    r = json.loads((tmp_path / "report.json").read_text())
    assert r["preview"] and r["background"] == ["card_photo"] and r["stored_camera"] == 384.0
    assert r["moved_x"] > 0.5  # placed beside the startup Cube: the projection follows the mesh
    psnr, pixels = _front_psnr(tmp_path / "front.png", tmp_path / "shape")
    assert pixels > 20_000 and psnr > 35.0, psnr
