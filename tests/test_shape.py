"""The weight-free body mesh: closed, in the world frame, body-like, and true to the silhouette."""

import cv2
import numpy as np
import pytest
import trimesh

from backend.errors import MeshInputError
from backend.export.mesh_io import load_user_mesh
from backend.metrics import mask_iou
from backend.raster import render_maps
from backend.shape.silhouette import SilhouetteShape
from backend.shape.user_mesh import UserMeshShape


def person_mask(size=512):
    """A hand-drawn person, deliberately not left-right symmetric (one arm raised)."""
    m = np.zeros((size, size), np.uint8)
    s = size / 512
    cv2.circle(m, (int(256 * s), int(70 * s)), int(34 * s), 1, -1)
    cv2.rectangle(m, (int(205 * s), int(105 * s)), (int(307 * s), int(290 * s)), 1, -1)
    cv2.rectangle(m, (int(208 * s), int(290 * s)), (int(250 * s), int(490 * s)), 1, -1)
    cv2.rectangle(m, (int(262 * s), int(290 * s)), (int(304 * s), int(490 * s)), 1, -1)
    cv2.line(m, (int(212 * s), int(118 * s)), (int(150 * s), int(285 * s)), 1, int(22 * s))
    cv2.line(m, (int(300 * s), int(118 * s)), (int(390 * s), int(30 * s)), 1, int(22 * s))
    return m.astype(bool)


@pytest.fixture(scope="module")
def body():
    mask = person_mask()
    return mask, SilhouetteShape().estimate(None, mask, height_m=1.7)


def test_mesh_is_closed_manifold_and_clean(body):
    _, res = body
    tm = trimesh.Trimesh(res.mesh.vertices, res.mesh.faces, process=False)
    assert 20_000 <= len(tm.faces) <= 100_000
    assert tm.is_watertight and tm.is_winding_consistent and tm.is_volume
    assert tm.volume > 0  # outward winding
    assert (tm.area_faces > 1e-12).all()  # no degenerate faces
    assert len(np.unique(np.sort(tm.faces, axis=1), axis=0)) == len(tm.faces)  # no duplicates
    assert np.isfinite(tm.vertices).all()


def test_mesh_stands_in_the_world_frame(body):
    _, res = body
    v = res.mesh.vertices
    assert abs(v[:, 2].min()) <= 0.01  # feet on z = 0
    assert abs(v[:, 2].max() - 1.7) <= 0.02 * 1.7  # as tall as asked
    c = trimesh.Trimesh(v, res.mesh.faces, process=False).center_mass
    assert abs(c[1]) < 0.01 and abs(c[0]) < 0.06  # on the Z axis (x within the body's own asymmetry)


@pytest.mark.parametrize("height", [1.2, 1.95])
def test_height_is_configurable(height):
    res = SilhouetteShape(target_faces=20_000).estimate(None, person_mask(), height_m=height)
    assert abs(np.ptp(res.mesh.vertices[:, 2]) - height) <= 0.02 * height


def test_side_view_is_a_body_not_a_card(body):
    _, res = body
    v = res.mesh.vertices
    chest = v[(np.abs(v[:, 2] - 1.25) < 0.02) & (np.abs(v[:, 0]) < 0.2)]
    ratio = np.ptp(chest[:, 1]) / np.ptp(chest[:, 0])
    assert 0.3 <= ratio <= 0.8
    # Limbs are round: the raised arm is about as deep as it is wide.
    arm = v[(v[:, 0] > 0.35) & (np.abs(v[:, 2] - 1.6) < 0.03)]
    assert np.ptp(arm[:, 1]) > 0.5 * np.ptp(arm[:, 2])


def test_input_camera_sees_exactly_the_mask_and_not_its_mirror(body):
    mask, res = body
    maps = render_maps(res.mesh, [res.camera], backend="cpu")[0]
    assert mask_iou(maps.mask, mask) >= 0.97
    assert mask_iou(maps.mask[:, ::-1], mask) < 0.8  # the raised arm is on the same side
    # The front surface faces the camera: normals point toward it (+z in camera space).
    assert np.median(maps.normal[maps.mask][:, 2]) > 0.5


def test_mask_with_holes_and_specks_still_makes_one_closed_body():
    mask = person_mask()
    mask[300:310, 100:110] = True  # a speck of segmentation noise
    mask[100:104, 400:404] = False  # a pin-hole
    # Hand on the hip: the arm and the torso enclose a gap.
    cv2.line(mask_u8 := mask.astype(np.uint8), (212, 118), (160, 200), 1, 18)
    cv2.line(mask_u8, (160, 200), (210, 260), 1, 18)
    mask = mask_u8.astype(bool)
    res = SilhouetteShape(target_faces=20_000).estimate(None, mask, height_m=1.7)
    tm = trimesh.Trimesh(res.mesh.vertices, res.mesh.faces, process=False)
    assert tm.is_watertight and tm.is_volume
    # The gap between the arm and the torso stays a hole through the body (genus 1).
    assert tm.euler_number <= 0


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_user_mesh_round_trip(tmp_path, suffix):
    box = trimesh.creation.box(extents=(0.4, 0.3, 1.7))
    box.apply_translation((0, 0, 0.85))
    path = tmp_path / f"body{suffix}"
    export = box.copy()
    if suffix == ".glb":  # glTF is Y-up: store it the way Blender's exporter would
        export.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))
    export.export(path)
    mesh = load_user_mesh(path)
    assert np.allclose(mesh.vertices.min(0), [-0.2, -0.15, 0], atol=1e-5)
    assert np.allclose(mesh.vertices.max(0), [0.2, 0.15, 1.7], atol=1e-5)
    mask = np.zeros((512, 512), bool)
    mask[40:472, 200:300] = True
    res = UserMeshShape(path).estimate(None, mask, height_m=1.7)
    maps = render_maps(res.mesh, [res.camera], backend="cpu")[0]
    assert mask_iou(maps.mask, mask) > 0.95


@pytest.mark.parametrize("content,suffix", [(b"not a mesh", ".obj"), (b"", ".ply"), (b"abc", ".stl")])
def test_bad_user_mesh_gives_a_clear_error(tmp_path, content, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(MeshInputError):
        load_user_mesh(path)


def test_user_mesh_with_nan_vertices_is_refused(tmp_path):
    path = tmp_path / "nan.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv nan 1 1\nf 1 2 3\n")
    with pytest.raises(MeshInputError, match="NaN"):
        load_user_mesh(path)


def test_front_match_tells_a_person_from_a_box():
    """result.json's mesh_fit: the IoU of the mesh's front silhouette and the photo's mask against MATCH_IOU."""
    from backend.shape.user_mesh import MATCH_IOU, front_match, mismatch_warning

    person = np.zeros((100, 60), bool)
    person[10:90, 20:40] = True  # a tall narrow figure
    box = np.zeros_like(person)
    box[10:90, 0:60] = True  # the same height, as wide as it is tall in the frame
    assert front_match(person, person) == {"front_iou": 1.0, "threshold": MATCH_IOU, "matches": True}
    fit = front_match(box, person)
    assert fit["front_iou"] == pytest.approx(1 / 3, abs=1e-4) and not fit["matches"]
    assert mismatch_warning(fit).startswith("the photo and the mesh do not match")
    assert "33 %" in mismatch_warning(fit)
