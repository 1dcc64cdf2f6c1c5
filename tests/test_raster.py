"""Rasteriser stage: CPU backend against trimesh ray casting, hand-checkable cases, visibility, I/O."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from trimesh.ray.ray_triangle import RayMeshIntersector

from backend.conventions import ORTHOGRAPHIC, PERSPECTIVE, Camera, orbit_camera
from backend.errors import UserError
from backend.mesh import Mesh
from backend.raster import (
    ViewMaps,
    get_rasterizer,
    load_maps,
    nvdiffrast_available,
    render_maps,
    sample_map,
    save_maps,
    visible_from,
)
from backend.raster import cpu as cpu_raster
from backend.raster.nvdiffrast_backend import _clip_positions

TARGET = np.array([0.0, 0.0, 1.0])


# --- helpers ---------------------------------------------------------------------------------


def rotation(ax: float, az: float) -> np.ndarray:
    rx = trimesh.transformations.rotation_matrix(ax, [1, 0, 0])[:3, :3]
    rz = trimesh.transformations.rotation_matrix(az, [0, 0, 1])[:3, :3]
    return rz @ rx


def to_mesh(tm: trimesh.Trimesh, rot=None, offset=TARGET) -> Mesh:
    rot = np.eye(3) if rot is None else rot
    return Mesh(np.asarray(tm.vertices, float) @ rot.T + offset, np.asarray(tm.faces, np.int64))


def box_mesh(extents=(0.6, 0.4, 0.8), rot=None, offset=TARGET) -> Mesh:
    return to_mesh(trimesh.creation.box(extents=extents), rot, offset)


def sphere_mesh(radius=0.5, subdivisions=3, rot=None, offset=TARGET) -> Mesh:
    return to_mesh(trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius), rot, offset)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


class _BoxTree:
    """Stand-in for trimesh's rtree index (rtree is not a dependency): brute-force AABB overlap."""

    def __init__(self, triangles: np.ndarray):
        self.lo, self.hi = triangles.min(axis=1), triangles.max(axis=1)
        self.bounds = np.concatenate([self.lo.min(axis=0), self.hi.max(axis=0)])

    def intersection(self, b):
        b = np.asarray(b)
        return np.flatnonzero(np.all(self.lo <= b[3:], axis=1) & np.all(self.hi >= b[:3], axis=1))


class _RayMesh(trimesh.Trimesh):
    @property
    def triangles_tree(self):
        return _BoxTree(self.triangles)


def raycast(mesh: Mesh, cam: Camera):
    """Independent reference: nearest hit of every pixel-centre ray (trimesh's pure-Python intersector)."""
    tm = _RayMesh(mesh.vertices, mesh.faces, process=False)
    origins, dirs = cam.pixel_rays()
    tri, ray, loc = RayMeshIntersector(tm).intersects_id(
        origins.reshape(-1, 3), dirs.reshape(-1, 3), multiple_hits=False, return_locations=True
    )
    h, w = cam.height, cam.width
    face = np.full(h * w, -1)
    face[ray] = tri
    pos = np.zeros((h * w, 3))
    pos[ray] = loc
    depth = np.zeros(h * w)
    depth[ray] = cam.project(loc)[1]
    return face.reshape(h, w), pos.reshape(h, w, 3), depth.reshape(h, w)


def front_camera(resolution=8, extent=2.0, projection=ORTHOGRAPHIC, target=(0.0, 0.0, 0.0)) -> Camera:
    return orbit_camera(0, 0, target=np.array(target), extent_m=extent, resolution=resolution, projection=projection)


# --- against ray casting -------------------------------------------------------------------

CASES = [
    (projection, azimuth)
    for projection in (ORTHOGRAPHIC, PERSPECTIVE)
    for azimuth in (0.0, 70.0, 205.0)
]


@pytest.mark.parametrize("projection,azimuth", CASES)
def test_matches_raycast_box(projection, azimuth):
    mesh = box_mesh(rot=rotation(0.4, 0.7), offset=TARGET + [0.05, -0.03, 0.02])
    cam = orbit_camera(azimuth, 20.0, target=TARGET, extent_m=1.6, resolution=72, projection=projection,
                       distance_m=4.0)
    m = render_maps(mesh, [cam], backend="cpu")[0]
    face, pos, depth = raycast(mesh, cam)
    hit = face >= 0
    assert (m.mask == hit).mean() >= 0.99
    both = m.mask & hit
    assert both.sum() > 0.2 * hit.size
    assert np.percentile(np.abs(m.depth[both] - depth[both]), 99) < 1e-5  # float32 maps at ~4 m
    assert np.abs(m.position[both] - pos[both]).max(axis=-1).mean() < 1e-3
    # Flat faces: our face normal (via face_id) against the normal of the face the ray hit.
    fn = mesh.face_normals()
    assert np.median(angle_deg(fn[m.face_id[both]], fn[face[both]])) < 0.5
    assert (angle_deg(fn[m.face_id[both]], fn[face[both]]) < 1.0).mean() > 0.98
    # Face ids agree (pixel centres exactly on a shared diagonal could go either way).
    assert (m.face_id[both] == face[both]).mean() > 0.99


@pytest.mark.parametrize("projection,azimuth", CASES)
def test_matches_raycast_sphere(projection, azimuth):
    centre = TARGET + [0.04, 0.02, -0.03]
    mesh = sphere_mesh(radius=0.5, subdivisions=3, rot=rotation(0.3, 1.1), offset=centre)
    cam = orbit_camera(azimuth, 20.0, target=TARGET, extent_m=1.3, resolution=64, projection=projection,
                       distance_m=4.0)
    m = render_maps(mesh, [cam], backend="cpu")[0]
    face, pos, depth = raycast(mesh, cam)
    hit = face >= 0
    assert (m.mask == hit).mean() >= 0.99
    both = m.mask & hit
    assert np.percentile(np.abs(m.depth[both] - depth[both]), 99) < 1e-5
    assert (m.face_id[both] == face[both]).mean() > 0.99
    # Smooth normals against the analytic sphere normal at the ray hit, in camera space.
    analytic = (pos[both] - centre) @ cam.rotation.T
    assert np.median(angle_deg(m.normal[both], analytic)) < 2.0
    np.testing.assert_allclose(np.linalg.norm(m.normal[both], axis=-1), 1.0, atol=1e-5)
    assert m.normal[both][:, 2].mean() > 0.5  # camera space: z toward the camera
    # Background is zero everywhere.
    assert not m.normal[~m.mask].any() and not m.depth[~m.mask].any() and not m.position[~m.mask].any()
    assert (m.face_id[~m.mask] == -1).all()


# --- hand-checkable cases ------------------------------------------------------------------


def test_single_triangle_front_orthographic():
    # Front camera, 8x8 px over 2 m: u = 4x + 4, v = -4z + 4. The triangle covers the image's
    # lower-left half: pixel centres with column <= row (centres on the diagonal included).
    mesh = Mesh(np.array([[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [-1.0, 0.0, 1.0]]), np.array([[0, 1, 2]]))
    cam = front_camera()
    m = render_maps(mesh, cam, backend="cpu")[0]
    rows, cols = np.mgrid[0:8, 0:8]
    np.testing.assert_array_equal(m.mask, cols <= rows)
    assert m.face_id.dtype == np.int32 and set(np.unique(m.face_id)) == {-1, 0}
    np.testing.assert_allclose(m.depth[m.mask], 10.0, atol=1e-5)
    np.testing.assert_allclose(m.normal[m.mask], [[0.0, 0.0, 1.0]] * m.mask.sum(), atol=1e-6)
    # Pixel (row 7, col 0) is centred on x = z = -0.875.
    np.testing.assert_allclose(m.position[7, 0], [-0.875, 0.0, -0.875], atol=1e-6)
    np.testing.assert_allclose(m.bary[7, 0], [0.875, 0.0625, 0.0625], atol=1e-6)
    np.testing.assert_allclose(m.bary[m.mask].sum(axis=-1), 1.0, atol=1e-6)
    assert m.uv is None
    for arr, dtype in [(m.bary, np.float32), (m.depth, np.float32), (m.position, np.float32), (m.normal, np.float32)]:
        assert arr.dtype == dtype


def test_back_facing_triangle_is_rendered():
    mesh = Mesh(np.array([[-1.0, 0.0, -1.0], [-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]]), np.array([[0, 1, 2]]))
    m = render_maps(mesh, front_camera(), backend="cpu")[0]
    assert m.mask.sum() == 36
    np.testing.assert_allclose(m.normal[m.mask], [[0.0, 0.0, -1.0]] * 36, atol=1e-6)  # faces away


@pytest.mark.parametrize("projection", [ORTHOGRAPHIC, PERSPECTIVE])
def test_quad_uv_interpolation(projection):
    # A 2 m quad at y = 0 facing the front camera, UV (0, 0) at its bottom-left (x = z = -1).
    v = np.array([[-1.0, 0, -1], [1.0, 0, -1], [1.0, 0, 1], [-1.0, 0, 1]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    mesh = Mesh(v, faces, uv=(v[:, [0, 2]] + 1) / 2, faces_uv=faces)
    cam = front_camera(resolution=8, extent=2.0, projection=projection)
    m = render_maps(mesh, cam, backend="cpu")[0]
    assert m.mask.all() and m.uv.dtype == np.float32
    np.testing.assert_allclose(m.uv[0, 7], [0.9375, 0.9375], atol=1e-5)  # top-right pixel
    np.testing.assert_allclose(m.uv[7, 0], [0.0625, 0.0625], atol=1e-5)  # bottom-left pixel
    # Texture row r holds v = 1 - (r + 0.5) / 8, so the image and the texture line up.
    np.testing.assert_allclose(m.uv[:, 3, 1], 1 - (np.arange(8) + 0.5) / 8, atol=1e-5)


def test_perspective_correct_on_slanted_quad():
    # A quad receding in depth: UV is affine in world position, so it must match the position
    # map exactly, and the position must lie on the true pixel rays (plain screen-space
    # interpolation would miss by several pixels here).
    v = np.array([[-1.0, -0.8, -1], [1.0, -0.8, -1], [1.0, 1.5, 1], [-1.0, 1.5, 1]])
    uv = np.stack([(v[:, 0] + 1) / 2, (v[:, 2] + 1) / 2], axis=1)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    mesh = Mesh(v, faces, uv=uv, faces_uv=faces)
    cam = orbit_camera(0, 0, target=np.zeros(3), extent_m=2.5, resolution=48, projection=PERSPECTIVE, distance_m=3.0)
    m = render_maps(mesh, cam, backend="cpu")[0]
    p = m.position[m.mask].astype(np.float64)
    np.testing.assert_allclose(m.uv[m.mask], np.stack([(p[:, 0] + 1) / 2, (p[:, 2] + 1) / 2], 1), atol=1e-5)
    pix, dep = cam.project(p)
    rows, cols = np.nonzero(m.mask)
    np.testing.assert_allclose(pix, np.stack([cols + 0.5, rows + 0.5], 1), atol=1e-3)
    np.testing.assert_allclose(dep, m.depth[m.mask], atol=1e-5)
    face, pos, depth = raycast(mesh, cam)
    assert (m.mask == (face >= 0)).mean() >= 0.99


@pytest.mark.parametrize("projection", [ORTHOGRAPHIC, PERSPECTIVE])
def test_box_faces_seen_by_front_and_side_cameras(projection):
    mesh = box_mesh(extents=(0.5, 0.5, 0.5))
    fn = mesh.face_normals()
    for azimuth, expected in [(0.0, [0, -1, 0]), (90.0, [1, 0, 0]), (180.0, [0, 1, 0]), (-90.0, [-1, 0, 0])]:
        cam = orbit_camera(azimuth, 0.0, target=TARGET, extent_m=1.0, resolution=32, projection=projection)
        m = render_maps(mesh, cam, backend="cpu")[0]
        assert 0.2 < m.mask.mean() < 0.3
        np.testing.assert_allclose(fn[m.face_id[m.mask]], np.broadcast_to(expected, (m.mask.sum(), 3)), atol=1e-9)
        # The face toward the camera has camera-space normal (0, 0, 1).
        np.testing.assert_allclose(m.face_normals(mesh)[m.mask], [[0, 0, 1]] * m.mask.sum(), atol=1e-6)
        if projection == ORTHOGRAPHIC:
            np.testing.assert_allclose(m.depth[m.mask], 10.0 - 0.25, atol=1e-5)


def test_no_cracks_when_edges_pass_through_pixel_centres():
    # A grid whose vertices and diagonals sit exactly on pixel centres: inclusive edges must
    # cover every pixel centre inside it.
    n = 9
    xs = (np.arange(n) + 0.5 - 4.5) / 4.0  # world x of the centres of columns 0..8 (u = 4x + 4.5)
    cam = orbit_camera(0, 0, target=np.zeros(3), extent_m=2.25, resolution=9)  # 4 px/m, centre at 4.5
    gx, gz = np.meshgrid(xs, -xs)
    verts = np.stack([gx.ravel(), np.zeros(n * n), gz.ravel()], 1)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            faces += [[a, d, b], [b, d, e]] if (r + c) % 2 else [[a, d, e], [a, e, b]]
    m = render_maps(Mesh(verts, np.array(faces)), cam, backend="cpu")[0]
    assert m.mask.all()


def test_nearest_surface_wins_and_behind_camera_is_ignored():
    near = [[-1.0, -0.5, -1], [1.0, -0.5, -1], [-1.0, -0.5, 1]]
    far = [[-1.0, 0.5, -1], [3.0, 0.5, -1], [-1.0, 0.5, 3]]  # covers the whole image, behind `near`
    behind = [[-1.0, -20.0, -1], [1.0, -20.0, -1], [0.0, -20.0, 1]]  # behind the front camera (at y = -10)
    for order in ([0, 1, 2], [2, 1, 0]):
        tris = np.array([near, far, behind])[order]
        mesh = Mesh(tris.reshape(-1, 3), np.arange(9).reshape(3, 3))
        for projection in (ORTHOGRAPHIC, PERSPECTIVE):
            m = render_maps(mesh, front_camera(resolution=16, projection=projection), backend="cpu")[0]
            near_id, far_id = order.index(0), order.index(1)
            assert set(np.unique(m.face_id)) - {-1} == {near_id, far_id}
            assert m.depth[m.face_id == near_id].max() < m.depth[m.face_id == far_id].min()
            if projection == ORTHOGRAPHIC:
                assert m.mask.all()  # the two triangles cover the whole square between them


def test_chunking_gives_the_same_result(monkeypatch):
    # Small chunks, and big triangles (the box's sides) split into strips of rows.
    for mesh in (sphere_mesh(subdivisions=3), box_mesh(rot=rotation(0.3, 0.5))):
        cam = orbit_camera(30, 10, target=TARGET, extent_m=1.2, resolution=64, projection=PERSPECTIVE)
        with monkeypatch.context() as mp:
            ref = render_maps(mesh, cam, backend="cpu")[0]
            mp.setattr(cpu_raster, "CHUNK", 50)
            small = render_maps(mesh, cam, backend="cpu")[0]
        np.testing.assert_array_equal(ref.face_id, small.face_id)
        np.testing.assert_array_equal(ref.depth, small.depth)
        assert ref.mask.sum() > 500


def test_empty_and_offscreen_meshes():
    cam = front_camera()
    empty = render_maps(Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64)), cam, backend="cpu")[0]
    assert not empty.mask.any()
    off = box_mesh(offset=np.array([50.0, 0, 0]))
    assert not render_maps(off, cam, backend="cpu")[0].mask.any()


# --- backends --------------------------------------------------------------------------------


def test_backend_selection():
    assert get_rasterizer("cpu").name == "cpu"
    auto = get_rasterizer("auto")
    assert auto.name == ("nvdiffrast" if nvdiffrast_available() else "cpu")
    with pytest.raises(ValueError):
        get_rasterizer("opengl")
    if not nvdiffrast_available():
        with pytest.raises(UserError, match="CUDA"):  # a one-line error for the user, not a crash
            get_rasterizer("nvdiffrast")


@pytest.mark.parametrize("projection", [ORTHOGRAPHIC, PERSPECTIVE])
def test_nvdiffrast_clip_space_maps_to_our_pixels(projection):
    # No GPU needed: nvdiffrast's pixel (column i, row j from the BOTTOM) has its centre at
    # NDC (2 (i + 0.5) / W - 1, 2 (j + 0.5) / H - 1). After the row flip and crop our pixel
    # (r, c) must be its (c, Hp - 1 - r), i.e. Camera.project's (u, v) once mapped.
    w2c = orbit_camera(30, 10, target=TARGET, extent_m=1.5, resolution=10).world_to_camera
    f = 90.0 if projection == PERSPECTIVE else 9.0  # a 13 x 10 image, padded to 16 x 16 for nvdiffrast
    cam = Camera(w2c, 13, 10, f, 0.9 * f, 6.0, 5.5, projection)
    pts = TARGET + np.random.default_rng(0).uniform(-0.5, 0.5, (50, 3))
    wp, hp = 16, 16
    clip = _clip_positions(pts, cam, wp, hp).astype(np.float64)
    ndc = clip[:, :3] / clip[:, 3:]
    col_nv = (ndc[:, 0] + 1) / 2 * wp  # continuous nvdiffrast pixel coords (x right, y up from the bottom)
    row_nv = (ndc[:, 1] + 1) / 2 * hp
    pix, depth = cam.project(pts)
    np.testing.assert_allclose(col_nv, pix[:, 0], atol=1e-4)
    np.testing.assert_allclose(hp - row_nv, pix[:, 1], atol=1e-4)
    assert (np.abs(ndc[:, 2]) < 1).all()  # inside the near/far range
    order = np.argsort(depth)
    assert (np.diff(ndc[order, 2]) > 0).all()  # z/w grows with depth: the nearest wins


# --- visibility ----------------------------------------------------------------------------


@pytest.mark.parametrize("projection", [ORTHOGRAPHIC, PERSPECTIVE])
def test_visibility_of_sphere_points(projection):
    centre, radius = TARGET, 0.5
    mesh = sphere_mesh(radius=radius, subdivisions=4)
    for azimuth in (0.0, 135.0):
        cam = orbit_camera(azimuth, 15.0, target=TARGET, extent_m=1.2, resolution=128, projection=projection,
                           distance_m=5.0)
        m = render_maps(mesh, cam, backend="cpu")[0]
        near, far = centre - radius * cam.forward, centre + radius * cam.forward
        assert visible_from(near[None], m).tolist() == [True]
        assert visible_from(far[None], m).tolist() == [False]
        # Surface points: visible exactly when they face the camera (away from grazing angles).
        pts = mesh.vertices
        to_cam = (cam.position - pts) if projection == PERSPECTIVE else -cam.forward
        to_cam = to_cam / np.linalg.norm(to_cam, axis=-1, keepdims=True)
        cos = np.sum((pts - centre) / radius * to_cam, axis=-1)
        vis = visible_from(pts, m)
        assert vis[cos > 0.3].all()
        assert vis[cos > 0.1].mean() > 0.97  # some polygonal-silhouette vertices at ~85 deg fail
        assert not vis[cos < -0.1].any()
        # Points outside the image are never visible.
        assert not visible_from(centre[None] + 5 * cam.rotation[0], m).any()


def test_sample_map():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    centres = np.array([[0.5, 0.5], [3.5, 2.5], [1.5, 1.5]])
    np.testing.assert_allclose(sample_map(img, centres), [0, 11, 5])
    np.testing.assert_allclose(sample_map(img, [[1.0, 0.5]]), [0.5])  # halfway between columns 0 and 1
    np.testing.assert_allclose(sample_map(img, [[-3.0, 10.0]]), [8])  # clamped to the bottom-left
    np.testing.assert_array_equal(sample_map(img, [[1.9, 2.2]], mode="nearest"), [9])
    rgb = np.stack([img, 2 * img], axis=-1)
    np.testing.assert_allclose(sample_map(rgb, [[1.0, 0.5]]), [[0.5, 1.0]])


# --- save / load ---------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    v = np.array([[-1.0, 0, -1], [1.0, 0, -1], [1.0, 0, 1], [-1.0, 0, 1]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    quad = Mesh(v, faces, uv=(v[:, [0, 2]] + 1) / 2, faces_uv=faces)
    cams = [orbit_camera(a, 10, target=np.zeros(3), extent_m=3.0, resolution=24, projection=p)
            for a, p in [(0, ORTHOGRAPHIC), (30, PERSPECTIVE)]]
    maps = render_maps(quad, cams, backend="cpu")
    maps.append(render_maps(box_mesh(), orbit_camera(90, 0, target=TARGET, extent_m=1.0, resolution=16,
                                                     name="side"), backend="cpu")[0])
    save_maps(maps, tmp_path)
    assert json.loads((tmp_path / "views.json").read_text())["views"] == [m.camera.name for m in maps]
    back = load_maps(tmp_path)
    assert len(back) == len(maps)
    for a, b in zip(maps, back, strict=True):
        assert isinstance(b, ViewMaps)
        for key in ("mask", "face_id", "bary", "depth", "position", "normal"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
            assert getattr(a, key).dtype == getattr(b, key).dtype
        assert (a.uv is None) == (b.uv is None)
        if a.uv is not None:
            np.testing.assert_array_equal(a.uv, b.uv)
        np.testing.assert_array_equal(a.camera.world_to_camera, b.camera.world_to_camera)
        for key in ("width", "height", "fx", "fy", "cx", "cy", "projection", "name", "azimuth_deg", "elevation_deg"):
            assert getattr(a.camera, key) == getattr(b.camera, key)
        png = cv2.imread(str(tmp_path / f"{a.camera.name}_normal.png"), cv2.IMREAD_UNCHANGED)
        assert png.shape == (*a.mask.shape, 3) and png.dtype == np.uint8
        assert not png[~a.mask].any()
        rgb = png[..., ::-1][a.mask].astype(float) / 255 * 2 - 1
        assert np.abs(rgb - a.normal[a.mask]).max() < 0.01
        mask = cv2.imread(str(tmp_path / f"{a.camera.name}_mask.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(mask > 0, a.mask)
    # Without the index file, views come back sorted by name.
    (tmp_path / "views.json").unlink()
    assert [m.camera.name for m in load_maps(tmp_path)] == sorted(m.camera.name for m in maps)


def test_save_rejects_duplicate_names(tmp_path):
    m = render_maps(box_mesh(), front_camera(target=TARGET), backend="cpu")[0]
    with pytest.raises(ValueError):
        save_maps([m, m], tmp_path)


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 32.0), min_size=6, max_size=6))
def test_random_triangle_pixel_count_matches_area(coords):
    # A triangle in the y = 0 plane seen by the front orthographic camera, 32 px over 2 m.
    uv = np.array(coords).reshape(3, 2)
    area = 0.5 * abs(np.cross(uv[1] - uv[0], uv[2] - uv[0]))
    perimeter = sum(np.linalg.norm(uv[i] - uv[(i + 1) % 3]) for i in range(3))
    xyz = np.stack([(uv[:, 0] - 16) / 16, np.zeros(3), -(uv[:, 1] - 16) / 16], axis=1)
    m = render_maps(Mesh(xyz, np.array([[0, 1, 2]])), front_camera(resolution=32), backend="cpu")[0]
    # Lattice points in a convex region: A - P/2 < N <= A + P/2 + 1.
    assert abs(m.mask.sum() - area) <= perimeter / 2 + 1 + 1e-6
    # Every covered centre is inside the triangle, and the barycentrics reproduce it.
    rows, cols = np.nonzero(m.mask)
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    np.testing.assert_allclose(m.bary[m.mask].astype(float) @ uv, centres, atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(st.floats(-180.0, 180.0), st.floats(-60.0, 60.0), st.sampled_from([ORTHOGRAPHIC, PERSPECTIVE]))
def test_sphere_silhouette_is_a_disc(azimuth, elevation, projection):
    radius, res, extent = 0.5, 64, 1.5
    mesh = sphere_mesh(radius=radius, subdivisions=4)
    cam = orbit_camera(azimuth, elevation, target=TARGET, extent_m=extent, resolution=res, projection=projection,
                       distance_m=10.0)
    m = render_maps(mesh, cam, backend="cpu")[0]
    r_px = radius * res / extent
    if projection == PERSPECTIVE:  # a sphere at distance D looks like a disc of radius f R / sqrt(D^2 - R^2)
        r_px = cam.fx * radius / np.sqrt(10.0**2 - radius**2)
    rows, cols = np.mgrid[0:res, 0:res]
    dist = np.hypot(cols + 0.5 - res / 2, rows + 0.5 - res / 2)
    assert m.mask[dist < r_px - 1.0].all()
    assert not m.mask[dist > r_px + 0.5].any()
    assert abs(m.mask.sum() - np.pi * r_px**2) < 2 * np.pi * r_px * 0.6


@pytest.mark.cuda
@pytest.mark.parametrize("projection", [ORTHOGRAPHIC, PERSPECTIVE])
def test_nvdiffrast_matches_cpu(projection):
    # The CUDA backend must draw the same maps as the CPU one (the design's one-rasteriser rule):
    # a box and a sphere off-centre, seen from an odd angle, at a size that needs nvdiffrast's padding.
    if not nvdiffrast_available():
        pytest.skip("nvdiffrast with a CUDA device is not available")
    sphere = sphere_mesh(radius=0.4, subdivisions=4, offset=TARGET + [0.3, 0.0, 0.2])
    box = box_mesh(rot=rotation(0.3, 0.7), offset=TARGET - [0.3, 0.0, 0.1])
    mesh = Mesh(np.vstack([sphere.vertices, box.vertices]),
                np.vstack([sphere.faces, box.faces + len(sphere.vertices)]))
    for az, el in ((0.0, 0.0), (37.0, 15.0), (200.0, -20.0)):
        cam = orbit_camera(az, el, target=TARGET, extent_m=1.6, resolution=250, projection=projection,
                           distance_m=4.0)
        cpu, gpu = (render_maps(mesh, cam, backend=b)[0] for b in ("cpu", "nvdiffrast"))
        iou = (cpu.mask & gpu.mask).sum() / (cpu.mask | gpu.mask).sum()
        assert iou > 0.995, (az, iou)
        both = cpu.mask & gpu.mask
        # A pixel centre on an edge may go to either face (each backend's fill rule): rare, and
        # where the same face won, the interpolated maps must agree.
        same = both & (cpu.face_id == gpu.face_id)
        assert same.sum() > 0.98 * both.sum()
        assert np.abs(cpu.depth[same] - gpu.depth[same]).max() < 2e-3
        assert np.abs(cpu.position[same] - gpu.position[same]).max() < 2e-3
        assert np.percentile(angle_deg(cpu.normal[same], gpu.normal[same]), 99) < 0.5
