"""Posed, dressed synthetic people (lab/synthetic/people.py) and their photos (lab/synthetic/photo.py).

The ground truth the shape stage is judged by must itself be right: deterministic, watertight, in
the world frame, its joints where the pose's angles put them, its clothes hiding the body, its
front-only markings on the front only, and its photo's camera the one that made the photo.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from PIL import Image

from backend.conventions import PERSPECTIVE, orbit_camera
from lab.eval.body_checks import horizontal_section, knee_flexion_deg
from lab.synthetic.appearance import MARKINGS, MATERIALS
from lab.synthetic.people import FIGURE_NAMES, make_person
from lab.synthetic.photo import focal_px, render_marking_masks, save_photo, take_photo

VOXEL = 0.02  # coarse meshes keep the suite fast; the evaluation uses 1 cm


@pytest.fixture(scope="module")
def people():
    return {n: make_person(n, voxel_m=VOXEL) for n in FIGURE_NAMES}


def test_generation_is_deterministic_and_watertight(people):
    again = make_person("hands_on_hips", voxel_m=VOXEL)
    first = people["hands_on_hips"]
    assert np.array_equal(first.mesh.vertices, again.mesh.vertices) and np.array_equal(first.mesh.faces,
                                                                                      again.mesh.faces)
    assert np.array_equal(first.vertex_part, again.vertex_part)
    for name, p in people.items():
        tm = trimesh.Trimesh(p.mesh.vertices, p.mesh.faces, process=False)
        assert tm.is_watertight and tm.is_winding_consistent, name
        assert tm.volume > 0.03, name  # wound outward, and a person's volume (tens of litres)
        assert len(tm.split(only_watertight=False)) == 1, name
        assert len(p.vertex_part) == len(p.vertex_material) == len(p.mesh.vertices)


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_stands_in_the_world_frame(people, name):
    p = people[name]
    v, j = p.mesh.vertices, p.joints
    floor = p.pose.airborne_m
    assert v[:, 2].min() == pytest.approx(floor, abs=1e-9)  # the lowest point of the shoes on z = 0 (or in the air)
    assert (1.3 if name == "jumping" else 1.5) < p.height_m < 1.95 and 1.55 <= p.phenotype.stature_m <= 1.90
    assert np.allclose(j["pelvis"][:2], 0.0)  # centred on the Z axis at the pelvis
    facing = p.yaw @ np.array([0.0, -1.0, 0.0])
    assert j["head_top"][2] > j["neck"][2] > j["pelvis"][2] > max(j["knee_l"][2], j["knee_r"][2]) - 0.3
    assert (j["shoulder_l"] - j["shoulder_r"]) @ np.cross([0, 0, 1.0], facing) > 0  # the left is +X facing -Y
    face = p.mesh.vertices[p.marking_masks(p.mesh.vertices)["face"]]
    assert len(face) and ((face - j["head"]) @ facing > 0.05).all()  # eyes and mouth on the facing side
    for side in ("l", "r"):
        foot = j[f"toe_{side}"] - j[f"heel_{side}"]
        assert 0.23 < np.linalg.norm(foot) < 0.30  # real feet (shoes add ~2.5 cm)
        if name != "jumping":  # flat on (or rolling off) the floor, pointing the way the body faces
            flat = foot[:2] / np.linalg.norm(foot[:2])
            assert flat @ facing[:2] > math.cos(math.radians(3))
    if name == "jumping":
        assert min(j["heel_l"][2], j["toe_l"][2]) > 0.25  # feet off the floor ...
        assert j["ankle_l"][1] > j["hip_l"][1] + 0.05  # ... behind the body ...
        assert j["knee_l"][1] < j["hip_l"][1] - 0.2  # ... the knees forward
    else:
        assert min(j[f"{k}_{s}"][2] for k in ("heel", "toe") for s in ("l", "r")) < 0.02


def test_joints_are_where_the_pose_puts_them(people):
    jump = people["jumping"]
    for side in ("l", "r"):
        j = jump.joints
        measured = knee_flexion_deg(jump.mesh, j[f"hip_{side}"], j[f"knee_{side}"], j[f"ankle_{side}"])
        assert measured == pytest.approx(jump.pose.angle("knee_flex", side), abs=4)  # measured on the mesh
    standing = people["standing"].joints
    assert knee_flexion_deg(people["standing"].mesh, standing["hip_l"], standing["knee_l"], standing["ankle_l"]) < 5

    raised = people["knee_raised"].joints
    assert raised["knee_l"][1] < raised["hip_l"][1] - 0.3  # the thigh forward, the knee in front of the hip
    assert abs(raised["knee_l"][2] - raised["hip_l"][2]) < 0.1
    # The left hand rests on the raised thigh: its middle is a hand's thickness above the thigh's axis.
    hand = (raised["wrist_l"] + raised["hand_l"]) / 2
    hip, knee = raised["hip_l"], raised["knee_l"]
    t = np.clip((hand - hip) @ (knee - hip) / np.sum((knee - hip) ** 2), 0, 1)
    assert 0.05 < np.linalg.norm(hand - hip - t * (knee - hip)) < 0.12

    walk = people["walking"].joints
    assert walk["ankle_l"][1] < walk["ankle_r"][1] - 0.4  # one leg forward
    assert walk["heel_l"][2] == pytest.approx(walk["toe_r"][2], abs=0.01)  # front heel and back toe on the floor

    crossed = people["arms_crossed"].joints
    assert crossed["wrist_l"][0] < 0 < crossed["wrist_r"][0]  # the forearms cross the midline ...
    assert max(crossed["wrist_l"][1], crossed["wrist_r"][1]) < -0.1  # ... in front of the belly

    hips = people["hands_on_hips"].joints
    for side, sign in (("l", 1), ("r", -1)):
        assert sign * hips[f"elbow_{side}"][0] > sign * hips[f"shoulder_{side}"][0] + 0.1  # elbows out
        assert abs(hips[f"wrist_{side}"][2] - hips["pelvis"][2]) < 0.2  # hands at the hips

    turned = people["turned_30"].joints
    across = turned["shoulder_l"] - turned["shoulder_r"]
    assert math.degrees(math.atan2(across[1], across[0])) == pytest.approx(30, abs=1)


def _section_extent(mesh, z):
    s = horizontal_section(mesh, z, 0.005)
    rows, cols = np.nonzero(s.inside)
    return np.ptp(cols) * s.pixel, np.ptp(rows) * s.pixel, s


def test_clothes_hide_the_body(people):
    dress = people["a_pose"]
    j = dress.joints
    z = (j["knee_l"][2] + j["hip_l"][2]) / 2
    width, depth, s = _section_extent(dress.mesh, z)
    from scipy import ndimage

    assert ndimage.label(s.inside)[1] == 1 and width > 0.35 and depth > 0.25  # one flared skirt round both legs

    coat = people["walking"]
    width, depth, _ = _section_extent(coat.mesh, coat.joints["pelvis"][2] - 0.1)
    assert depth > 0.33  # the coat flares out front and back

    trousers = people["arms_crossed"]
    k = trousers.joints
    leg, _, _ = _section_extent(trousers.mesh, (k["knee_l"][2] + k["ankle_l"][2]) / 2)
    assert leg > 0.36  # two wide trouser legs, each ~20 cm across (bare shins would span 28 cm)

    for name, long in (("standing", False), ("a_pose", True)):  # short hair, long hair
        p = people[name]
        hair = p.mesh.vertices[p.vertex_material == MATERIALS.index("hair")]
        below_neck = hair[hair[:, 2] < p.joints["neck"][2] - 0.1]
        assert len(hair) > 100 and (len(below_neck) > 50) == long, name
        assert (below_neck[:, 1] > p.joints["chest"][1] + 0.06).all()  # down the back, off the body


def test_colours_and_front_only_markings():
    p = make_person("standing", voxel_m=0.015)
    assert set(p.front_only_markings) == {"tie", "beard", "face"}
    front = orbit_camera(0, target=np.array([0, 0, 0.9]), extent_m=2.0, resolution=256)
    back = orbit_camera(180, target=np.array([0, 0, 0.9]), extent_m=2.0, resolution=256)
    seen_front, seen_back = render_marking_masks(p, front), render_marking_masks(p, back)
    for name in p.front_only_markings:
        assert seen_front[name].sum() > 5 and seen_back[name].sum() == 0, name
    for name in ("stripes", "hem", "waistband"):
        if name in seen_front:
            assert seen_front[name].sum() > 20 and seen_back[name].sum() > 20, name  # all the way round
    colours = p.colour(p.mesh.vertices)
    assert colours.shape == (len(p.mesh.vertices), 3) and 0 <= colours.min() and colours.max() <= 1
    assert len(np.unique(np.round(colours, 3), axis=0)) >= 6

    knee = make_person("knee_raised", voxel_m=0.02)
    assert "hand_on_thigh" in knee.front_only_markings and MARKINGS["hand_on_thigh"]
    marks = knee.marking_masks(knee.mesh.vertices)
    hand = knee.mesh.vertices[marks["hand_on_thigh"]]
    assert len(hand) > 10 and hand[:, 1].mean() < knee.joints["hip_l"][1] - 0.15  # on the thigh, in front


def test_photo_camera_reprojects_the_true_mesh_onto_the_true_mask(tmp_path, people):
    p = people["standing"]
    photo = take_photo(p, supersample=1)
    assert np.array_equal(photo.rgb, take_photo(p, supersample=1).rgb)  # the same photo every time
    cam = photo.camera
    assert cam.projection == PERSPECTIVE and (cam.width, cam.height) == (768, 1024)
    assert cam.fx == pytest.approx(50 * math.hypot(768, 1024) / math.hypot(36, 24))
    assert cam.forward @ np.array([0, 1.0, 0]) > 0.99 and cam.position[1] < -2  # in front, looking +Y
    assert 0.6 < cam.position[2] / p.height_m < 0.8 and 3 < cam.elevation_deg < 10  # at chest height, aimed down
    assert abs(take_photo(p, supersample=1, eye_height=0.5).camera.elevation_deg) < 1  # or level, at mid-height
    rows = np.nonzero(photo.mask.any(axis=1))[0]
    assert 0.8 <= (rows.max() - rows.min() + 1) / 1024 <= 0.9  # the person fills ~85 % of the frame

    # The mesh's triangles, projected by the camera's own equations and filled by OpenCV (not the
    # rasteriser that made the mask), cover the mask and nothing else.
    import cv2
    from scipy import ndimage

    uv, depth = cam.project(p.mesh.vertices)
    assert (depth > 0).all()
    drawn = np.zeros(photo.mask.shape, np.uint8)
    for tri in np.round(uv[p.mesh.faces] * 16 - 8).astype(np.int32):  # pixel centres at integers, 4 bits
        cv2.fillConvexPoly(drawn, tri, 1, lineType=cv2.LINE_8, shift=4)
    drawn = drawn > 0  # OpenCV also fills the pixels the outline crosses: one pixel wider than the rasteriser
    assert (photo.mask & ~drawn).sum() < 1e-3 * photo.mask.sum()
    assert (ndimage.binary_erosion(drawn) & ~photo.mask).sum() < 1e-3 * photo.mask.sum()
    assert photo.rgb[photo.mask].mean() < photo.rgb[~photo.mask].mean() - 40  # a person on a light backdrop

    path = save_photo(photo, tmp_path / "photo.jpg")
    exif = Image.open(path).getexif().get_ifd(0x8769)
    assert exif[0xA405] == 50 and float(exif[0x920A]) == 50.0  # FocalLengthIn35mmFilm, FocalLength
    assert float(exif[0xA20E]) / 10 * 50 == pytest.approx(cam.fx, rel=1e-3)  # focal plane px/cm -> the same f
    tele = take_photo(people["hands_on_hips"], supersample=1)
    assert tele.focal_35mm == 85 and tele.camera.fx == pytest.approx(focal_px(85, 768, 1024))
    assert -tele.camera.position[1] > 1.5 * -cam.position[1]  # a longer lens stands farther back
