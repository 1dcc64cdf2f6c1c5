"""The shape metrics and anatomy checks (lab/eval/shape_metrics.py, body_checks.py) on cases whose answer
is known, and `python -m lab.eval shape` end to end.

The anatomy checks must say yes on a synthetic person that has the property and no on today's 2.5D
mesh from the silhouette (two height fields sewn at the outline), which is what they are for.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from backend.conventions import ORTHOGRAPHIC, Camera, look_at
from backend.export.mesh_io import obj_text
from backend.mesh import Mesh
from backend.raster import render_maps
from backend.shape.silhouette import SilhouetteShape
from lab.eval.body_checks import (
    arm_torso_gap_cm,
    back_of_head_is_round,
    feet_point_forward,
    foot_axis,
    head_back_roundness,
    knee_flexion_deg,
)
from lab.eval.shape_eval import summary_tables
from lab.eval.shape_metrics import (
    align_to_truth,
    area_centroid,
    chamfer_cm,
    front_silhouette_iou,
    side_silhouette_iou,
    slab_thickness_error_cm,
    slab_thickness_profile,
    translated,
)
from lab.synthetic.people import make_person

ROOT = Path(__file__).resolve().parent.parent
VOXEL = 0.02


def box(x: float, y: float, z: float) -> Mesh:
    m = trimesh.creation.box([x, y, z])
    return Mesh(np.asarray(m.vertices) + [0, 0, z / 2], np.asarray(m.faces, np.int64))


def front_camera(height_m: float, px: int = 400) -> Camera:
    """Orthographic, from the front, the whole person in a px x px image."""
    f = px / (height_m * 1.1)
    zc = height_m / 2
    return Camera(look_at(np.array([0, -10.0, zc]), np.array([0, 0, zc])), px, px, f, f, px / 2, px / 2, ORTHOGRAPHIC)


def silhouette_slab(person) -> Mesh:
    """Today's 2.5D mesh of the person's front silhouette (backend/shape/silhouette.py), aligned to the truth."""
    mask = render_maps(person.mesh, [front_camera(person.height_m)], backend="cpu")[0].mask
    result = SilhouetteShape(target_faces=20_000).estimate(np.zeros((*mask.shape, 3)), mask, height_m=person.height_m)
    return align_to_truth(result.mesh, person.mesh)


@pytest.fixture(scope="module")
def people():
    return {n: make_person(n, voxel_m=VOXEL) for n in ("standing", "arms_crossed", "jumping", "turned_30")}


@pytest.fixture(scope="module")
def slabs(people):
    return {n: silhouette_slab(people[n]) for n in ("standing", "arms_crossed", "jumping")}


def test_alignment_translates_the_prediction_onto_the_truth(people):
    truth = people["standing"].mesh
    moved = translated(truth, [0.3, -0.2, 0.0])
    assert np.allclose(area_centroid(moved) - area_centroid(truth), [0.3, -0.2, 0.0])
    np.testing.assert_allclose(align_to_truth(moved, truth).vertices, truth.vertices, atol=1e-9)
    lifted = translated(truth, [0.0, 0.0, 0.1])  # a jump the stage put on the floor, or the other way round
    np.testing.assert_allclose(align_to_truth(lifted, truth).vertices, truth.vertices, atol=1e-9)
    assert chamfer_cm(align_to_truth(moved, truth), truth) < 1e-6


def test_a_mesh_against_itself_scores_perfectly(people):
    truth = people["standing"].mesh
    assert side_silhouette_iou(truth, truth, resolution=128) == 1.0
    assert chamfer_cm(truth, truth) < 1e-6  # float round-off in the point-to-triangle distances
    assert slab_thickness_error_cm(truth, truth) == 0.0
    cam = front_camera(people["standing"].height_m, 200)
    mask = render_maps(truth, [cam], backend="cpu")[0].mask
    assert front_silhouette_iou(truth, cam, mask) == 1.0
    assert front_silhouette_iou(translated(truth, [0.05, 0, 0]), cam, mask) < 0.85  # 5 cm off: the limbs miss


def test_thickness_profile_and_error_on_known_shapes(people):
    profile = slab_thickness_profile(box(0.3, 0.2, 1.0), slabs=12)
    np.testing.assert_allclose(profile[:10], 0.2, atol=1e-6)  # 10 slabs of a 20 cm deep box ...
    assert (profile[10:] == 0).all()  # ... and nothing above its top
    truth = people["standing"].mesh
    c = area_centroid(truth)
    deeper = Mesh((truth.vertices - c) * [1.0, 1.1, 1.0] + c, truth.faces)
    expected = 10.0 * slab_thickness_profile(truth, slabs=19)  # 10 % of the thickness, in cm
    assert slab_thickness_error_cm(deeper, truth) == pytest.approx(expected[expected > 0].mean(), rel=0.01)


def test_chamfer_and_side_iou_on_known_shapes():
    small, big = (trimesh.creation.icosphere(subdivisions=4, radius=r) for r in (1.0, 1.1))
    a, b = (Mesh(np.asarray(s.vertices), np.asarray(s.faces, np.int64)) for s in (small, big))
    assert chamfer_cm(a, b) == pytest.approx(10.0, abs=0.1)  # concentric spheres 10 cm apart
    thin, deep = box(0.4, 0.2, 1.8), box(0.4, 0.4, 1.8)
    assert side_silhouette_iou(thin, deep, resolution=256) == pytest.approx(0.5, abs=0.02)  # 28 of 54 px


def test_anatomy_checks_say_yes_on_the_person_and_no_on_a_slab(people, slabs):
    standing, crossed, jump = people["standing"], people["arms_crossed"], people["jumping"]
    for side in ("l", "r"):  # forearms crossed in front of the belly, with air between them and the torso
        assert arm_torso_gap_cm(crossed.mesh, crossed.joints, side) > 3
        assert arm_torso_gap_cm(slabs["arms_crossed"], crossed.joints, side) == 0
    assert feet_point_forward(standing.mesh, standing.joints)
    assert not feet_point_forward(slabs["standing"], standing.joints)
    assert back_of_head_is_round(standing.mesh, standing.joints)
    assert not back_of_head_is_round(slabs["standing"], standing.joints)
    assert head_back_roundness(slabs["standing"], standing.joints) < 0.9 < 1.1 < head_back_roundness(
        standing.mesh, standing.joints)
    j = jump.joints
    assert knee_flexion_deg(jump.mesh, j["hip_l"], j["knee_l"], j["ankle_l"]) == pytest.approx(115, abs=4)
    on_slab = knee_flexion_deg(slabs["jumping"], j["hip_l"], j["knee_l"], j["ankle_l"])
    assert np.isnan(on_slab) or abs(on_slab - 115) > 30  # the slab has no thigh pointing forward


def test_feet_follow_a_turned_body(people):
    turned = people["turned_30"]
    facing = turned.yaw @ np.array([0.0, -1.0, 0.0])
    for side in ("l", "r"):
        assert foot_axis(turned.mesh, turned.joints, side).angle_deg == pytest.approx(30, abs=5)
        assert foot_axis(turned.mesh, turned.joints, side, facing=facing).angle_deg < 5
    assert feet_point_forward(turned.mesh, turned.joints, facing=facing)
    assert not feet_point_forward(turned.mesh, turned.joints, max_angle_deg=20)


def test_summary_tables_have_a_mean_row_and_name_failures():
    rows = [{"figure": f, "lens_mm": 50.0, "method": "silhouette", "front_iou": v, "side_iou": v, "chamfer_cm": 2 * v,
             "thickness_err_cm": 3.0, "shape_s": 1.0, "knee_err_deg": None, "arm_gap_cm": "0.0 (5.0)",
             "feet_forward": "no (yes)", "round_head": "no (yes)"} for f, v in (("a", 0.5), ("b", 1.0))]
    rows.append({"figure": "c", "lens_mm": 35.0, "method": "failed", "error": "error: no person found"})
    text = summary_tables(rows)
    assert "| mean (2) |" in text and "| 0.750 |" in text and "| 1.50 |" in text
    assert "failed: c: error: no person found" in text and "| no (yes) |" in text


@pytest.mark.slow  # about 15 s: a figure, its photo, the shape stage in a child process, the scores
def test_eval_command_scores_the_true_mesh_as_perfect(tmp_path):
    """The whole command, with the shape stage handed the true mesh (--mesh): every 3D score is perfect,
    so the photo, the stage's output and the truth all line up in the world frame."""
    truth = tmp_path / "truth.obj"
    truth.write_text(obj_text(make_person("knee_raised", voxel_m=VOXEL).mesh))
    out = tmp_path / "eval"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "lab.eval", "shape", "--names", "knee_raised", "--voxel", str(VOXEL),
                        "--shape-args", f"--mesh {truth} --views 180", "--out", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    row = next(csv.DictReader(open(out / "shape_eval.csv")))
    assert row["method"] and row["figure"] == "knee_raised"
    assert float(row["side_iou"]) > 0.99 and float(row["chamfer_cm"]) < 0.05 and float(row["thickness_err_cm"]) < 0.05
    assert float(row["front_iou"]) > 0.8  # the stage fits its input camera to the segmented photo
    assert "| knee_raised | 50 | user_mesh |" in r.stdout and "| mean (1) |" in r.stdout
    assert (out / "knee_raised" / "photo.jpg").exists() and (out / "knee_raised" / "shape" / "mesh.obj").exists()


def test_true_landmarks_read_like_mediapipe_s_on_the_photo(people):
    """The eval's true-pose ceiling (--true-landmarks) hands the fit the figure's joints in mediapipe's
    frames: pixels where the photo's camera sees them, metres round the mid-hips with x right, y up
    and z toward the camera."""
    from backend.shape.body import pose as mp
    from lab.eval.true_landmarks import true_landmarks
    from lab.synthetic.photo import photographer_camera

    person = people["jumping"]  # knees bent toward the camera, feet behind
    camera = photographer_camera(person.mesh.vertices)
    given = true_landmarks(person, camera)
    pixels, world = np.array(given["pixels"]), np.array(given["world"])
    assert pixels.shape == (mp.LANDMARK_COUNT, 2) and world.shape == (mp.LANDMARK_COUNT, 3)
    np.testing.assert_allclose(pixels[mp.LEFT_KNEE], camera.project(person.joints["knee_l"][None])[0][0])
    assert pixels[mp.LEFT_SHOULDER, 0] > pixels[mp.RIGHT_SHOULDER, 0]  # facing the camera: the left on the right
    np.testing.assert_allclose((world[mp.LEFT_HIP] + world[mp.RIGHT_HIP]) / 2, 0.0, atol=1e-9)
    assert world[mp.LEFT_SHOULDER, 0] > 0.1 and world[mp.NOSE, 1] > 0.4 and world[mp.LEFT_ANKLE, 1] < -0.2
    assert world[mp.LEFT_KNEE, 2] > 0.2 > world[mp.LEFT_ANKLE, 2]  # the knee toward the camera, the foot back
    assert world[mp.NOSE, 2] > world[mp.LEFT_EAR, 2]
