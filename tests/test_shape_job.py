"""The shape-first flow's contract, without Blender (issue 19): the `shape` job command, the photo's
camera a re-texture job brings along (job.json `input_camera`), and the pieces that carry that camera
from the shape step to the texture step. The flow itself in Blender: tests/test_blender_two_step.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend import job, pipeline
from backend.conventions import PERSPECTIVE, Camera, look_at
from backend.errors import UserError
from backend.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"


def _addon_cameras():
    """blender_addon/cameras.py alone (NumPy only): the package's __init__ needs bpy."""
    spec = importlib.util.spec_from_file_location("blender_addon_unit_cameras", ROOT / "blender_addon" / "cameras.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def photo_camera() -> Camera:
    """A pinhole 3 m in front of a person, 768 x 1024 px, like the sample's."""
    eye, target = np.array([0.05, -3.2, 1.0]), np.array([0.0, 0.0, 0.9])
    return Camera(look_at(eye, target), 768, 1024, 1480.0, 1480.0, 384.0, 512.0, PERSPECTIVE, "input", 0.0, 2.0)


def test_a_shape_job_reaches_run_shape_without_maps_and_with_the_rig(tmp_path, monkeypatch):
    (tmp_path / "photo.jpg").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "job.json").write_text(json.dumps({"command": "shape", "photo": "photo.jpg",
                                                   "options": {"height_m": 1.6, "rig": "game_engine",
                                                               "seed": 3}}))
    seen = []
    monkeypatch.setattr(pipeline, "run_shape", lambda photo, out, options, progress: seen.append(options) or {})
    monkeypatch.setattr(pipeline, "run_digitize", lambda *a: pytest.fail("a shape job ran digitize"))
    job.run_job(tmp_path, Progress(quiet=True))
    (options,) = seen
    assert type(options) is pipeline.ShapeOptions and not options.shape_maps
    assert (options.height_m, options.rig) == (1.6, "game_engine")


def test_a_retexture_job_hands_its_photos_camera_to_the_pipeline(tmp_path, monkeypatch):
    cam = photo_camera()
    (tmp_path / "photo.jpg").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "job.json").write_text(json.dumps({"command": "retexture", "photo": "photo.jpg", "mesh": "m.obj",
                                                   "input_camera": cam.to_json()}))
    seen = []
    monkeypatch.setattr(pipeline, "run_digitize", lambda photo, out, options, progress: seen.append(options) or {})
    job.run_job(tmp_path, Progress(quiet=True))
    got = seen[0].input_camera
    assert seen[0].keep_mesh_uvs and got.projection == PERSPECTIVE and (got.width, got.height) == (768, 1024)
    np.testing.assert_allclose(got.world_to_pixel(), cam.world_to_pixel())


@pytest.mark.parametrize("camera,words", [
    ([1, 2], "'input_camera' must be a camera object (Camera.to_json), got a list"),
    ({"width": 10}, "'input_camera' is not a camera (KeyError"),
    ({**photo_camera().to_json(), "fx": -1.0}, "'input_camera' is not a camera: a 4x4 world_to_camera"),
])
def test_a_bad_input_camera_is_refused_in_one_line(tmp_path, camera, words):
    (tmp_path / "job.json").write_text(json.dumps({"command": "retexture", "photo": "photo.jpg", "mesh": "m.obj",
                                                   "input_camera": camera}))
    r = subprocess.run([sys.executable, "-m", "backend", "job", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_the_photos_camera_goes_into_the_working_crop_and_back(tmp_path):
    from backend.intake.crop import WorkingImage

    cam = photo_camera()
    working = WorkingImage(np.zeros((512, 512, 3), np.uint8), np.zeros((512, 512), bool), x0=-40.5, y0=12.25,
                           scale=0.5)
    inside = pipeline.camera_in_working(cam, working)
    points = np.array([[0.0, 0.0, 0.9], [0.2, 0.1, 1.6], [-0.3, -0.1, 0.1]])
    px, _ = cam.project(points)
    ours, _ = inside.project(points)
    np.testing.assert_allclose(ours, (px - [working.x0, working.y0]) * working.scale, atol=1e-9)
    back = pipeline.camera_in_photo(inside, working.x0, working.y0, working.scale, cam.width, cam.height)
    np.testing.assert_allclose(back.world_to_pixel(), cam.world_to_pixel(), atol=1e-9)


def test_a_mesh_that_comes_with_its_camera_keeps_it(tmp_path):
    """An edited shape result is seen through the camera it was made for, not one fitted anew; a mesh
    written in centimetres gets the camera converted with it."""
    from backend.export.mesh_io import obj_text
    from backend.mesh import Mesh
    from backend.shape.user_mesh import UserMeshShape

    box = np.array([[x, y, z] for z in (0.0, 1.7) for y in (-0.1, 0.1) for x in (-0.25, 0.25)])
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    mask = np.zeros((512, 512), bool)
    mask[40:470, 200:310] = True
    cam = photo_camera()
    for scale in (1.0, 100.0):
        path = tmp_path / f"mesh{scale:g}.obj"
        path.write_text(obj_text(Mesh(box * scale, faces)))
        known = Camera(cam.world_to_camera.copy(), cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy,
                       cam.projection, "input", 0.0, 2.0)
        if scale != 1.0:  # the camera as it sees the mesh in the file's centimetres
            known.world_to_camera[:3, 3] *= scale
        result = UserMeshShape(path, known).estimate(np.zeros((512, 512, 3), np.uint8), mask, height_m=1.7)
        assert "the photo's camera came with the mesh" in result.notes
        px, _ = result.camera.project(result.mesh.vertices)
        ref, _ = cam.project(box)
        np.testing.assert_allclose(px, ref, atol=1e-6)
    fitted = UserMeshShape(tmp_path / "mesh1.obj").estimate(np.zeros((512, 512, 3), np.uint8), mask, height_m=1.7)
    assert fitted.camera.projection != PERSPECTIVE  # without one, the orthographic fit as before


def test_the_photo_preview_is_the_photo_with_its_mask_and_at_most_2048_px():
    rgb = np.full((3000, 1500, 3), 200, np.uint8)
    mask = np.zeros((3000, 1500), bool)
    mask[1000:2000, 500:1000] = True
    small = pipeline.photo_with_mask(rgb, mask)
    assert small.shape == (2048, 1024, 4) and small[1024, 512, 3] == 255 and small[10, 10, 3] == 0
    same = pipeline.photo_with_mask(rgb[:1024, :768], mask[:1024, :768])
    assert same.shape == (1024, 768, 4) and (same[..., :3] == 200).all()


@pytest.mark.parametrize("projection", ["perspective", "orthographic"])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_photos_camera_moves_with_the_mesh_in_blender(projection, scale):
    """What Texture Selected Mesh sends: the camera stored in the object's frame, for the mesh as it is
    sent (turned, scaled, placed beside the Cube, then centred): the same pixels, through a camera that
    stays rigid. A mirrored or unevenly scaled object gets none (the backend fits one)."""
    cameras = _addon_cameras()
    cam = {**photo_camera().to_json(), "projection": projection}
    if projection == "orthographic":
        cam["fx"] = cam["fy"] = 300.0
    angle = np.radians(30)
    matrix = np.eye(4)
    matrix[:3, :3] = scale * np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                                       [0, 0, 1]])
    matrix[:3, 3] = [1.64, 0.5, 0.0]
    shift = np.array([-1.7, -0.4, 0.0])
    moved = cameras.camera_for_moved_mesh(cam, matrix, shift)
    points = np.array([[0.0, 0.0, 0.9], [0.2, 0.1, 1.6], [-0.3, -0.1, 0.1]])
    sent = points @ matrix[:3, :3].T + matrix[:3, 3] + shift
    before, _ = Camera.from_json(cam).project(points)
    after, _ = Camera.from_json(moved).project(sent)
    np.testing.assert_allclose(after, before, atol=1e-9)
    rotation = np.array(moved["world_to_camera"])[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(moved["world_to_pixel"], Camera.from_json(moved).world_to_pixel(), atol=1e-9)
    for bad in (np.diag([2.0, 1.0, 1.0, 1.0]), np.diag([-1.0, 1.0, 1.0, 1.0])):
        assert cameras.camera_for_moved_mesh(cam, bad, shift) is None


def test_unknown_commands_name_the_shape_command(tmp_path):
    (tmp_path / "job.json").write_text(json.dumps({"command": "paint", "photo": "p.jpg"}))
    with pytest.raises(UserError, match="'command' must be one of digitize, shape, retexture"):
        job.read_job(tmp_path)
