"""Re-texture changes only what it was asked to change (issue 16, data safety 1-3), in real bpy
against a fake backend that answers at once with a red texture (the maps are still rendered):

1. A material shared with other objects (Shift+D copies the object, not its material; Alt+D
   shares the mesh too): the others keep their material and every pixel of the image they
   show; the re-textured object gets a material of its own. Undo brings everything back.
2. The photo: the one the object was digitized from, not the panel's, unless asked for on
   purpose (operator property / panel toggle); the report says which one.
3. Renaming the object while the job runs (and giving its old name to another object): the
   texture still lands on the object that was re-textured.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from tests.blender_versions import BLENDERS, blender_id  # noqa: E402
from tests.test_blender_addon import run_bpy  # noqa: E402

pytestmark = pytest.mark.blender

GREEN, RED = (40, 200, 60), (220, 30, 30)

# A backend that has nothing to compute: the mesh it was sent back, and a red texture.
FAKE_BACKEND = """#!/bin/sh
job="$5"
mkdir -p "$job/out"
cp "$job/input/mesh.obj" "$job/out/mesh.obj"
cp "{texture}" "$job/out/texture.png"
echo '{{"type": "result", "message": "fake result"}}'
"""

COMMON = """
import json
from pathlib import Path
import numpy as np
import blender_addon
from blender_addon import job_runner, scene_result
blender_addon.register()
import atexit  # a bpy-module process with registered operators hangs at exit: always unregister
atexit.register(lambda: blender_addon.unregister() if hasattr(bpy.types.Scene, "digitize") else None)
out = Path(sys.argv[1])
green_png, digitized_photo, panel_photo = sys.argv[3], sys.argv[4], sys.argv[5]
prefs = bpy.context.preferences.addons["blender_addon"].preferences
prefs.backend_python = sys.argv[2]
prefs.jobs_dir = str(out / "jobs")
prefs.keep_job_folders = True  # retexture() reads what the job was asked (job.json) afterwards
scene = bpy.context.scene
scene.digitize.photo_path = panel_photo
report = {}

def save_report():
    (out / "report.json").write_text(json.dumps(report))

def shown_image(obj):
    # The image obj shows as Base Color (what the viewport and the exporters use).
    mat = obj.material_slots[0].material
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    return bsdf.inputs["Base Color"].links[0].from_node.image

def pixels(image):
    px = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(px)
    return px

def looks(name):
    # What an object shows: its material, the slot's link, the image and a digest of its pixels.
    obj = bpy.data.objects[name]
    image = shown_image(obj)
    return {"material": obj.material_slots[0].material.name, "link": obj.material_slots[0].link,
            "image": image.name, "pixels": pixels(image).tobytes().hex(),
            "mean_rgb": [round(float(c), 3) for c in pixels(image).reshape(-1, 4)[:, :3].mean(0)]}

def select_only(obj):
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj

def add_digitized_person(name="person"):
    # What Digitize leaves: a UV-mapped mesh, material -> packed texture, the photo on the object.
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(0.0, 0.0, 1.0), rotation=(1.5708, 0.0, 0.0))
    obj = bpy.context.active_object
    obj.name = obj.data.name = name
    obj.data.materials.append(scene_result.make_material(f"{name}_material",
                                                         scene_result.load_image(green_png, f"{name}_texture")))
    obj["digitize_photo"] = digitized_photo
    return obj

def retexture(obj, **kw):
    select_only(obj)
    job_runner.LAST = None
    ret = sorted(bpy.ops.digitize.retexture_selected(wait=True, **kw))
    done = {"ret": ret, "error": bpy.context.window_manager.digitize_job.last_error}
    job = job_runner.LAST
    if job is not None:  # the job started: what it was asked (job.json) and what it said
        done.update(state=job.state, message=job.message,
                    photo=json.loads((Path(job.job_dir) / "job.json").read_text())["photo"])
    return done
"""

SHARED_MATERIAL = COMMON + """
person = add_digitized_person()
select_only(person)
bpy.ops.object.duplicate()  # Shift+D: a new mesh, the same material
copy = bpy.context.active_object
select_only(person)
bpy.ops.object.duplicate(linked=True)  # Alt+D: the same mesh (and so the same material)
linked = bpy.context.active_object
names = {"person": person.name, "copy": copy.name, "linked": linked.name}
report["names"] = names
bpy.ops.ed.undo_push(message="setup")  # background mode starts with undo off
before = {k: looks(n) for k, n in names.items()}
report["before"] = before
report["materials_before"] = sorted(m.name for m in bpy.data.materials)
try:
    report["retexture_copy"] = retexture(bpy.data.objects[names["copy"]])
    report["after_copy"] = {k: looks(n) for k, n in names.items()}
    report["retexture_linked"] = retexture(bpy.data.objects[names["linked"]])
    report["after_linked"] = {k: looks(n) for k, n in names.items()}
    report["person_mesh_material"] = bpy.data.objects[names["person"]].data.materials[0].name
    bpy.ops.ed.undo()
    bpy.ops.ed.undo()
    report["after_undo"] = {k: looks(n) for k, n in names.items()}
    report["materials_after_undo"] = sorted(m.name for m in bpy.data.materials)
finally:
    save_report()
"""


@pytest.fixture
def fake_backend(tmp_path):
    """(fake backend executable, green texture, digitized photo, panel photo): PNGs made here."""
    from PIL import Image

    files = {}
    for name, colour in (("green", GREEN), ("red", RED), ("digitized", (90, 90, 90)), ("panel", (160, 160, 160))):
        files[name] = tmp_path / f"{name}.png"
        Image.new("RGB", (16, 16), colour).save(files[name])
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_BACKEND.format(texture=files["red"]))
    fake.chmod(0o755)
    user = tmp_path / "blender_user"
    user.mkdir()
    return user, (str(tmp_path), str(fake), str(files["green"]), str(files["digitized"]), str(files["panel"]))


def _run(script, fake_backend, tmp_path, blender=None) -> tuple[dict, str]:
    user, args = fake_backend
    stdout = run_bpy(script, user, *args, timeout=180, blender=blender)
    return json.loads((tmp_path / "report.json").read_text()), stdout


def _is_red(look) -> bool:
    return look["mean_rgb"][0] > 0.7 and look["mean_rgb"][1] < 0.2


# Material slots, user counts, session_uid and undo are Blender's: checked on every tested release.
@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_retexture_of_a_shared_material_changes_only_that_object(fake_backend, tmp_path, blender):
    r, _ = _run(SHARED_MATERIAL, fake_backend, tmp_path, blender)
    before = r["before"]
    assert {look["material"] for look in before.values()} == {"person_material"}  # one material, 3 objects
    assert not _is_red(before["person"])

    # Re-texturing the Shift+D copy: the other two show the very same image, pixel for pixel.
    assert r["retexture_copy"]["ret"] == ["FINISHED"], r["retexture_copy"]
    after = r["after_copy"]
    for other in ("person", "linked"):
        assert after[other] == before[other], other
    assert _is_red(after["copy"]) and after["copy"]["material"] != "person_material"

    # Re-texturing the Alt+D copy (its mesh is the original's): the original is still untouched;
    # the new material sits on the object, not on the shared mesh.
    assert r["retexture_linked"]["ret"] == ["FINISHED"], r["retexture_linked"]
    after = r["after_linked"]
    assert after["person"] == before["person"]
    assert r["person_mesh_material"] == "person_material"
    assert _is_red(after["linked"]) and after["linked"]["material"] not in ("person_material",
                                                                            r["after_copy"]["copy"]["material"])
    assert after["linked"]["link"] == "OBJECT"

    # Two Undos: every object shows what it showed before, and the copies are gone.
    assert r["after_undo"] == before
    assert r["materials_after_undo"] == r["materials_before"]


PHOTO_CHOICE = COMMON + """
import types
person = add_digitized_person()
bpy.ops.mesh.primitive_cube_add(location=(3.0, 0.0, 1.0))  # a mesh of the artist's own: no photo on it
own_mesh = bpy.context.active_object
try:
    report["default"] = retexture(person)
    report["panel_on_purpose"] = retexture(person, use_panel_photo=True)
    report["own_mesh"] = retexture(own_mesh)
    person = bpy.data.objects["person"]
    person["digitize_photo"] = str(out / "moved_away.png")
    report["digitized_photo_missing"] = retexture(person)

    # The panel's toggle reaches the button's operator.
    class Layout:
        def __init__(self, buttons):
            self.buttons, self.enabled = buttons, True
        def operator(self, idname, **kw):
            self.buttons[idname] = types.SimpleNamespace()
            return self.buttons[idname]
        def prop(self, *a, **kw): pass
        def label(self, *a, **kw): pass
        def template_icon(self, *a, **kw): pass
        def separator(self, *a, **kw): pass
        def row(self, **kw): return self
        column = box = row
    panel = bpy.types.VIEW3D_PT_photo_digitize
    report["button_use_panel_photo"] = []
    for toggle in (False, True):
        scene.digitize.retexture_use_panel_photo = toggle
        buttons = {}
        panel.draw(types.SimpleNamespace(layout=Layout(buttons)), bpy.context)
        report["button_use_panel_photo"].append(buttons["digitize.retexture_selected"].use_panel_photo)
finally:
    save_report()
"""


def test_retexture_uses_the_photo_the_object_was_digitized_from(fake_backend, tmp_path):
    r, stdout = _run(PHOTO_CHOICE, fake_backend, tmp_path)
    _, (_, _, _, digitized, panel) = fake_backend
    # By default: the object's own photo, although the panel shows another one; the report says so.
    default = r["default"]
    assert default["ret"] == ["FINISHED"] and default["photo"] == digitized, default
    assert default["message"] == "Re-textured person from digitized.png, the photo it was digitized from"
    assert "Re-textured person from digitized.png, the photo it was digitized from" in stdout  # the Info report
    # The panel's photo only when asked for.
    chosen = r["panel_on_purpose"]
    assert chosen["ret"] == ["FINISHED"] and chosen["photo"] == panel, chosen
    assert chosen["message"] == "Re-textured person from panel.png, the panel's photo"
    # A mesh Digitize did not make has only the panel's photo.
    assert r["own_mesh"]["photo"] == panel and r["own_mesh"]["message"].endswith("the panel's photo")
    # The object's photo is gone: a clear failure, not a silent switch to the panel's photo.
    missing = r["digitized_photo_missing"]
    assert missing["ret"] == ["CANCELLED"] and "photo" not in missing, missing  # no job started
    assert "moved_away.png" in missing["error"] and "Use Panel Photo" in missing["error"], missing
    assert r["button_use_panel_photo"] == [False, True]


RENAME_WHILE_RUNNING = COMMON + """
import time
person = add_digitized_person()
select_only(person)
try:
    report["start"] = sorted(bpy.ops.digitize.retexture_selected(wait=False))
    job = job_runner.ACTIVE
    report["running_after_start"] = job is not None and job.state == "running"
    # While the backend works, the artist renames the object, and another one takes its old name.
    bpy.data.objects["person"].name = "person_cleaned"
    bpy.data.objects["Cube"].name = "person"
    while job_runner.tick() is not None:  # what Blender's timer would do (timers do not fire here)
        time.sleep(0.05)
    report["state"], report["error"], report["message"] = job.state, job.error, job.message
    report["renamed"] = looks("person_cleaned")
    cube = bpy.data.objects["person"]
    report["old_name_taker_images"] = [n.image.name for s in cube.material_slots if s.material
                                       for n in s.material.node_tree.nodes if n.type == "TEX_IMAGE"]
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_renaming_the_object_while_the_job_runs_keeps_the_result(fake_backend, tmp_path, blender):
    r, _ = _run(RENAME_WHILE_RUNNING, fake_backend, tmp_path, blender)
    assert r["start"] == ["FINISHED"] and r["running_after_start"]
    assert (r["state"], r["error"]) == ("done", ""), r
    assert _is_red(r["renamed"]) and r["renamed"]["image"] == "person_cleaned_texture"  # the texture landed
    assert r["old_name_taker_images"] == []  # the object now called "person" got no texture
    assert r["message"].startswith("Re-textured person_cleaned from digitized.png")
