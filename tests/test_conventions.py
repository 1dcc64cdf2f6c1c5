"""Each convention of DESIGN.md pinned down with a case small enough to check by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.conventions import (
    PERSPECTIVE,
    Camera,
    decode_normals,
    encode_normals,
    orbit_camera,
    orbit_position,
    pixel_centers,
    texel_to_uv,
    uv_to_texel,
    world_normals_to_camera,
)

TARGET = np.array([0.0, 0.0, 1.0])


def cam(az, el=0.0, **kw):
    return orbit_camera(az, el, target=TARGET, extent_m=2.0, resolution=100, **kw)


def test_orbit_positions_follow_design():
    assert np.allclose(orbit_position(0), [0, -1, 0])  # front camera on -Y
    assert np.allclose(orbit_position(90), [1, 0, 0])  # Blender's Right view: camera on +X
    assert np.allclose(orbit_position(180), [0, 1, 0])
    assert np.allclose(orbit_position(-90), [-1, 0, 0])
    assert np.allclose(orbit_position(0, 90), [0, 0, 1])


def test_front_camera_axes():
    c = cam(0)
    assert np.allclose(c.forward, [0, 1, 0])  # looks +Y, at the person's front
    assert np.allclose(c.rotation[0], [1, 0, 0])  # image right = world +X
    assert np.allclose(c.rotation[1], [0, 0, 1])  # image up = world +Z
    assert np.allclose(c.position, [0, -10, 1])


def test_right_view_sees_persons_left_side():
    c = cam(90)
    assert np.allclose(c.forward, [-1, 0, 0])
    assert np.allclose(c.rotation[0], [0, 1, 0])  # as in Blender's Right view, +Y is to the right
    # The person faces -Y, so their left hand is at +X: nearer to this camera than their right.
    _, depth = c.project(np.array([[0.2, 0, 1], [-0.2, 0, 1]]))
    assert depth[0] < depth[1]


def test_image_rows_go_down_and_columns_right():
    c = cam(0)
    uv, depth = c.project(np.array([[0, 0, 1.0], [0.5, 0, 1.0], [0, 0, 1.5]]))
    assert np.allclose(uv[0], [50, 50])  # the target lands in the image centre
    assert np.allclose(uv[1], [75, 50])  # +X: to the right (100 px over 2 m)
    assert np.allclose(uv[2], [50, 25])  # higher up: smaller row
    assert np.allclose(depth, 10.0)


def test_pixel_centres_are_at_half_integers():
    pc = pixel_centers(4, 3)
    assert pc.shape == (3, 4, 2)
    assert np.allclose(pc[0, 0], [0.5, 0.5])
    assert np.allclose(pc[2, 3], [3.5, 2.5])


@pytest.mark.parametrize("projection", ["orthographic", PERSPECTIVE])
def test_world_to_pixel_matrix_matches_project(projection):
    c = cam(30, 20, projection=projection)
    pts = np.array([[0.1, -0.2, 0.9], [0.3, 0.1, 1.4], [-0.2, 0.0, 0.2]])
    uv, _ = c.project(pts)
    h = np.hstack([pts, np.ones((3, 1))]) @ c.world_to_pixel().T
    assert np.allclose(h[:, :2] / h[:, 2:], uv)


def test_perspective_camera_frames_the_extent_at_the_target():
    c = cam(0, projection=PERSPECTIVE)
    uv, _ = c.project(np.array([[1.0, 0, 1.0], [-1.0, 0, 1.0]]))
    assert np.allclose(uv[:, 0], [100, 0])


def test_pixel_rays_hit_the_pixel_they_come_from():
    c = cam(45, 15)
    origins, dirs = c.pixel_rays()
    pts = origins[10, 20] + 3.0 * dirs[10, 20]
    uv, _ = c.project(pts[None])
    assert np.allclose(uv[0], [20.5, 10.5])


def test_uv_origin_is_bottom_left():
    assert np.allclose(uv_to_texel([0, 0], 8), [0, 8])  # bottom-left corner of the image
    assert np.allclose(uv_to_texel([1, 1], 8), [8, 0])  # top-right corner
    top_left_texel_centre = texel_to_uv([0.5, 0.5], 8)
    assert np.allclose(top_left_texel_centre, [0.0625, 0.9375])
    assert np.allclose(uv_to_texel(texel_to_uv([3.2, 5.7], 8), 8), [3.2, 5.7])


def test_normal_encoding():
    toward_camera = np.array([0.0, 0.0, 1.0])
    assert np.allclose(encode_normals(toward_camera), [0.5, 0.5, 1.0])
    assert np.allclose(decode_normals(np.array([128, 128, 255], np.uint8)), [0, 0, 1], atol=0.01)
    # The person's chest faces -Y: the front camera sees that normal pointing at it (+z).
    assert np.allclose(world_normals_to_camera(np.array([0, -1.0, 0]), cam(0)), [0, 0, 1])
    # A surface facing world +Z (top of the head) points up in the front view (+y).
    assert np.allclose(world_normals_to_camera(np.array([0, 0, 1.0]), cam(0)), [0, 1, 0])
    # Seen from the right view, a surface facing +Y points right (+x).
    assert np.allclose(world_normals_to_camera(np.array([0, 1.0, 0]), cam(90)), [1, 0, 0])


def test_camera_json_round_trip():
    c = cam(-135, 30, projection=PERSPECTIVE)
    d = Camera.from_json(c.to_json())
    assert np.allclose(d.world_to_pixel(), c.world_to_pixel())
    assert (d.width, d.height, d.projection, d.name) == (c.width, c.height, c.projection, c.name)


@settings(max_examples=60, deadline=None)
@given(st.floats(-180, 180), st.floats(-80, 80), st.sampled_from(["orthographic", PERSPECTIVE]))
def test_any_orbit_camera_sees_its_target_in_the_centre_and_is_right_handed(az, el, projection):
    c = cam(az, el, projection=projection)
    uv, depth = c.project(TARGET[None])
    assert np.allclose(uv[0], [50, 50]) and depth[0] > 0
    r = c.rotation
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(r), 1.0)
    assert abs(r[0, 2]) < 1e-9  # image right stays horizontal: the orbit keeps Z up
