"""What Re-texture hands the backend, without running it: a mesh with no UVs gets Smart UV
Project (in the second Blender), its world-space triangles go to input/mesh.obj, Cycles renders
input/maps/, and job.json names them; a fake backend then fails, the operator reports its message,
and the mesh is left without UVs, as it was.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from tests.test_blender_addon import ROOT, run_bpy  # noqa: E402

pytestmark = pytest.mark.blender

SCRIPT = """
import json
from pathlib import Path
import blender_addon
blender_addon.register()
out = Path(sys.argv[1])
prefs = bpy.context.preferences.addons["blender_addon"].preferences
prefs.backend_python = sys.argv[2]
prefs.jobs_dir = str(out / "jobs")
prefs.keep_job_folders = True  # these tests read the job's inputs and out/ afterwards
report = {}
scene = bpy.context.scene
scene.digitize.photo_path = sys.argv[3]
for o in list(scene.objects):
    o.select_set(False)
report["poll_without_selection"] = bpy.ops.digitize.retexture_selected.poll()
bpy.ops.mesh.primitive_monkey_add(location=(0.2, 0.0, 1.0), rotation=(0.0, 0.0, 0.5))
monkey = bpy.context.active_object
monkey.scale = (0.5, 0.5, 0.5)
while monkey.data.uv_layers:
    monkey.data.uv_layers.remove(monkey.data.uv_layers[0])
bpy.context.view_layer.update()
report["poll_with_selection"] = bpy.ops.digitize.retexture_selected.poll()
report["ret"] = sorted(bpy.ops.digitize.retexture_selected(wait=True))
report["error"] = bpy.context.window_manager.digitize_job.last_error
report["job_dir"] = bpy.context.window_manager.digitize_job.last_job_dir
report["uv_layers"] = [uv.name for uv in monkey.data.uv_layers]
report["triangles"] = sum(len(p.vertices) - 2 for p in monkey.data.polygons)
report["matrix_world"] = [list(r) for r in monkey.matrix_world]
report["mode"] = monkey.mode
report["scenes"] = [s.name for s in bpy.data.scenes]
report["leftovers"] = [d.name for d in (*bpy.data.objects, *bpy.data.meshes, *bpy.data.cameras, *bpy.data.materials)
                       if d.name.startswith(".digitize")]
blender_addon.unregister()
(out / "report.json").write_text(json.dumps(report))
print("OK")
"""


def test_retexture_inputs_follow_the_contract(tmp_path):
    fake = tmp_path / "fake_python"
    fake.write_text('#!/bin/sh\necho \'{"type": "error", "message": "fake backend says no", "exit_code": 2}\'\n'
                    'echo "error: fake backend says no" >&2\nexit 2\n')
    fake.chmod(0o755)
    user = tmp_path / "blender_user"
    user.mkdir()
    stdout = run_bpy(SCRIPT, user, str(tmp_path), str(fake), str(ROOT / "samples" / "person.jpg"), timeout=120)
    r = json.loads((tmp_path / "report.json").read_text())
    assert not r["poll_without_selection"] and r["poll_with_selection"]
    assert r["ret"] == ["CANCELLED"] and r["error"] == "fake backend says no"
    assert "Warning: fake backend says no" in stdout
    assert r["uv_layers"] == [] and r["mode"] == "OBJECT"  # the re-texture failed: the mesh is as it was
    assert r["scenes"] == ["Scene"] and r["leftovers"] == []  # the render scene is gone

    job = Path(r["job_dir"])
    spec = json.loads((job / "job.json").read_text())
    assert spec["version"] == 1 and spec["command"] == "retexture"
    assert spec["photo"] == str(ROOT / "samples" / "person.jpg")
    assert (spec["mesh"], spec["maps"]) == ("input/mesh.obj", "input/maps")
    assert set(spec["options"]) >= {"preset", "seed", "height_m", "device", "prompt"}

    sys.path.insert(0, str(ROOT))
    from backend.conventions import Camera
    from backend.export.mesh_io import load_user_mesh
    from backend.raster import load_maps, render_maps
    from backend.view_schedule import DEFAULT_VIEWS, view_cameras

    mesh = load_user_mesh(job / spec["mesh"])  # the backend reads the add-on's OBJ
    assert len(mesh.faces) == r["triangles"] and mesh.has_uv
    # World coordinates: the object's transform is applied (monkey at z = 1, scaled by 0.5).
    assert abs(mesh.vertices[:, 2].mean() - 1.0) < 0.2 and np.ptp(mesh.vertices[:, 0]) < 1.5
    cams = [Camera.from_json(c) for c in spec["cameras"]]
    theirs = view_cameras(mesh, DEFAULT_VIEWS[1:], 512)
    assert [c.name for c in cams] == [c.name for c in theirs]
    for a, b in zip(cams, theirs, strict=True):
        np.testing.assert_allclose(a.world_to_camera, b.world_to_camera, atol=1e-5)
        assert a.fx == pytest.approx(b.fx, rel=1e-4)
    ours = load_maps(job / spec["maps"])
    ref = render_maps(mesh, [m.camera for m in ours], backend="cpu")
    for o, t in zip(ours, ref, strict=True):
        iou = (o.mask & t.mask).sum() / (o.mask | t.mask).sum()
        both = o.mask & t.mask
        angle = np.degrees(np.arccos(np.clip((o.normal[both] * t.normal[both]).sum(-1), -1, 1)))
        assert iou > 0.99 and np.median(angle) < 2.0, (o.camera.name, iou, np.median(angle))
