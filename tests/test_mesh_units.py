"""A user's mesh in centimetres, millimetres or Y-up (backend/shape/user_mesh.py): recognised, converted to
the world frame (metres, Z up), and maps rendered for it in its own frame (Blender's, when re-texturing)
converted the same way. The command-line cases are in tests/test_bad_inputs.py."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from backend.conventions import ORTHOGRAPHIC, PERSPECTIVE
from backend.errors import MeshInputError
from backend.mesh import Mesh
from backend.raster import render_maps
from backend.shape.user_mesh import FrameFix, fix_frame
from backend.view_schedule import View, view_cameras


def standing_box(height: float = 1.8) -> np.ndarray:
    b = trimesh.creation.box(extents=(0.5, 0.3, height))
    b.apply_translation((0.1, 0.05, height / 2))
    return np.asarray(b.vertices)


@pytest.mark.parametrize("scale,y_up,want_scale", [(1.0, False, 1.0), (100.0, False, 0.01), (1000.0, False, 0.001),
                                                   (1.0, True, 1.0), (10.0 * 25.4, True, 0.001)])
def test_units_and_axis_are_recognised(scale, y_up, want_scale):
    v = standing_box() * scale
    if y_up:
        v = np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)  # what a Y-up exporter writes
    fix = fix_frame(v, "m.obj")
    assert (fix.scale, fix.y_up) == (want_scale, y_up)
    assert np.allclose(fix.points(v), standing_box() * scale * want_scale)
    assert len(fix.notes) == (want_scale != 1.0) + y_up


def test_a_t_pose_as_wide_as_tall_stays_z_up():
    v = standing_box() * [3.6, 1.0, 1.0]  # arms out: as wide as tall
    assert not fix_frame(v, "t.obj").y_up


@pytest.mark.parametrize("height", [0.1, 5.0, 25.0, 4000.0])
def test_other_heights_are_refused_naming_the_height(height):
    with pytest.raises(MeshInputError, match=rf"m.obj: the mesh is {height:g} units tall along Z"):
        fix_frame(standing_box() * (height / 1.8), "m.obj")  # the same body, in no known unit


@pytest.mark.parametrize("projection", [ORTHOGRAPHIC, PERSPECTIVE])
def test_maps_rendered_in_the_files_frame_match_the_converted_mesh(projection):
    """Re-texturing: Blender renders the mesh as it is in the file (here Y-up centimetres); the converted
    maps must be what the converted mesh looks like through the converted cameras."""
    box = trimesh.creation.box(extents=(0.5, 0.3, 1.8))
    box.apply_translation((0.1, 0.05, 0.9))
    world = Mesh(np.asarray(box.vertices, float), np.asarray(box.faces))
    fix = FrameFix(scale=0.01, y_up=True)
    # The file's frame is the world's undone: x_file = R^T x_world / s.
    file_mesh = Mesh(world.vertices @ fix.rotation / fix.scale, world.faces)
    world_cams = view_cameras(world, [View(0), View(135, 20)], 96, projection)
    file_cams = [file_camera(c, fix) for c in world_cams]
    rendered_in_file = render_maps(file_mesh, file_cams, backend="cpu")
    converted = [fix.maps(m) for m in rendered_in_file]
    expected = render_maps(world, world_cams, backend="cpu")
    for got, want in zip(converted, expected, strict=True):
        assert np.allclose(got.camera.world_to_camera, want.camera.world_to_camera, atol=1e-9)
        assert got.camera.fx == pytest.approx(want.camera.fx)
        assert (got.mask == want.mask).mean() > 0.999
        both = got.mask & want.mask
        assert np.allclose(got.position[both], want.position[both], atol=1e-4)
        assert np.allclose(got.depth[both], want.depth[both], atol=1e-4)
        assert np.allclose(got.normal[both], want.normal[both], atol=1e-3)


def file_camera(c, fix: FrameFix):
    """The inverse of FrameFix.camera: a world camera as Blender would have it in the file's frame."""
    import dataclasses

    w2c = np.eye(4)
    w2c[:3, :3] = c.world_to_camera[:3, :3] @ fix.rotation
    w2c[:3, 3] = c.world_to_camera[:3, 3] / fix.scale
    f = fix.scale if c.projection == ORTHOGRAPHIC else 1.0
    return dataclasses.replace(c, world_to_camera=w2c, fx=c.fx * f, fy=c.fy * f)
