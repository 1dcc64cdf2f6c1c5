"""Acceptance on people other than the bundled sample: synthetic figures of known shape and colour.

The sample (figure seed 3) is checked by tests/test_cli.py and tests/test_digitize.py; here the
same promises are held on other figures (lab/synthetic/figure.py), each photographed from the
front on a plain background as a user would:

- shape (issue 3): the mesh seen through `input_camera` covers the person's mask (IoU >= 0.97); it
  is watertight and manifold; it is as deep at the chest as a person (depth / width 0.3-0.8), not
  a sheet; it stands in the world frame (feet on z = 0, as tall as configured, on the Z axis,
  facing -Y: its azimuth-0 render is the person's, not their mirror image);
- digitize (issue 4): the textured result, seen through `input_camera` at 512 px, reproduces the
  photo inside the person's mask (PSNR >= 26 dB, SSIM >= 0.85) with its silhouette (IoU >= 0.97).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from skimage import measure

from backend.conventions import Camera, portrait_camera
from backend.export.mesh_io import load_user_mesh
from backend.mesh import Mesh
from backend.metrics import mask_iou, psnr, ssim
from backend.progress import Progress
from backend.raster import render_maps
from backend.view_schedule import View, view_cameras
from lab.eval.groundtruth import PHOTO_BACKGROUND, photo_camera
from lab.eval.scoring import render_figure_albedo, render_textured
from lab.synthetic.figure import Capsule, Figure, make_figure, mesh_capsules

pytestmark = pytest.mark.slow  # about 80 s in all on 2 CPU cores: three figures made, one of them digitized

CHEST = 0.72  # of the height: the chest of every figure (its torso's widest capsule is at 1.30 of 1.755)


def waving(seed: int, voxel_m: float = 0.012) -> Figure:
    """Figure `seed` with its left arm (at +x, the photo's right) raised sideways, hand below the head's top:
    a person whose outline is not its own mirror image."""
    base = make_figure(seed, voxel_m=0.05)  # its capsules and colours (drawn before the meshing); re-meshed below
    s = base.height_m / 1.75
    caps = list(base.capsules)
    k = next(i for i, c in enumerate(caps) if c.part == "upper_arm" and c.a[0] > 0)
    shoulder = caps[k].a
    up = np.radians(100)  # from hanging straight down
    elbow = shoulder + np.array([np.sin(up), 0, -np.cos(up)]) * 0.30 * s
    wrist = elbow + np.array([1.0, 0, 1.0]) / np.sqrt(2) * 0.27 * s
    caps[k] = Capsule("upper_arm", shoulder, elbow, caps[k].radius)
    caps[k + 1] = Capsule("forearm", elbow, wrist, caps[k + 1].radius)
    # Meshed as make_figure meshes, on a grid wide enough for the raised arm.
    mesh = mesh_capsules(caps, np.array([-0.8, -0.4, -0.05]) * s, np.array([0.95, 0.4, 1.85]) * s,
                         base.height_m, voxel_m)
    return Figure(seed, base.height_m, caps, base.palette, mesh)


def photograph(figure: Figure, path: Path, size=(640, 900), shift_px=(0.0, 0.0)) -> tuple[Path, np.ndarray]:
    """The figure's photo through a 50 mm lens (unshaded true colours, light grey backdrop, as
    lab/eval/groundtruth.py makes them), optionally in another frame and off-centre; and the
    person's true mask in it."""
    if size == (640, 900) and shift_px == (0.0, 0.0):
        cam = photo_camera(figure.height_m)
    else:
        cam = portrait_camera(figure.height_m, *size, fill=1 / 1.2, shift_px=shift_px)
    img, mask = render_figure_albedo(figure, cam, background=PHOTO_BACKGROUND)
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(path)
    return path, mask


@dataclass
class Case:
    name: str
    figure: Figure
    photo: Path
    true_mask: np.ndarray  # the person's silhouette in the photo, from the figure itself
    height_m: float  # as configured
    out: Path
    result: dict


# name: (figure maker, photo frame and shift, which command runs on it). Heights (all unlike the default
# 1.7 m) are configured as the figures' own: 1.773 m (seed 0), 1.880 m (seed 4), 1.729 m (seed 1).
SHAPE_FIGURES = {
    "seed0": (lambda: make_figure(0, voxel_m=0.012), {}, "shape"),
    "seed4": (lambda: make_figure(4, voxel_m=0.012), {}, "shape"),
}
DIGITIZE_FIGURES = {
    # One arm raised, off-centre in a wider frame: the mirror image is told apart, and the body's axis is
    # not the frame's centre. Its digitize output is checked as a shape too (the same first stages).
    "seed1-waving": (lambda: waving(1), {"size": (760, 900), "shift_px": (85.0, -20.0)}, "digitize"),
}
ASYMMETRIC = {"seed1-waving"}
EMPTY_MODELS = tempfile.mkdtemp(prefix="no-models-")  # the weight-free path, whatever this machine has


def run_case(name: str, maker, photo_kw: dict, how: str, tmp: Path) -> Case:
    from backend.pipeline import DigitizeOptions, ShapeOptions, run_digitize, run_shape

    figure = maker()
    photo, true_mask = photograph(figure, tmp / f"{name}.png", **photo_kw)
    out = tmp / name
    height = round(figure.height_m, 4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHOTO_DIGITIZE_MODELS", EMPTY_MODELS)
        if how == "shape":
            options = ShapeOptions(height_m=height, map_resolution=128, texture_resolution=256)
            result = run_shape(photo, out, options, Progress(quiet=True))
        else:  # what users get: the default preset and resolutions
            options = DigitizeOptions(height_m=height, inpainter="classical")
            result = run_digitize(photo, out, options, Progress(quiet=True))
    return Case(name, figure, photo, true_mask, height, out, result)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Each figure made, photographed and run once per module, on first use."""
    made = {}
    figures = {**SHAPE_FIGURES, **DIGITIZE_FIGURES}

    def get(name: str) -> Case:
        if name not in made:
            made[name] = run_case(name, *figures[name], tmp_path_factory.mktemp("figures"))
        return made[name]

    return get


@pytest.fixture(params=[*SHAPE_FIGURES, *DIGITIZE_FIGURES])
def case(request, cases) -> Case:
    return cases(request.param)


def out_mesh(case: Case) -> Mesh:
    return load_user_mesh(case.out / "mesh.obj")  # seams welded back: the surface as it is


def test_mesh_through_the_input_camera_covers_the_persons_mask(case):
    cam = Camera.from_json(case.result["input_camera"])
    assert (cam.width, cam.height) == Image.open(case.photo).size
    seg_mask = np.array(Image.open(case.out / "mask.png")) > 127
    rendered = render_maps(out_mesh(case), [cam], backend="cpu")[0].mask
    assert mask_iou(rendered, seg_mask) >= 0.97  # the mask the pipeline found (as tests/test_cli.py)
    assert mask_iou(rendered, case.true_mask) >= 0.97  # and the person as they are


def test_mesh_is_watertight_and_manifold(case):
    mesh = out_mesh(case)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert tm.is_watertight and tm.is_winding_consistent and tm.is_volume and tm.volume > 0
    assert len(tm.split(only_watertight=False)) == 1  # one body


def chest_section(mesh: Mesh, z: float) -> np.ndarray:
    """Outline points (N, 2: x, y) of the horizontal section at height z through the torso (the loop round
    the Z axis; arms, when separate, are other loops)."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    section = tm.section(plane_origin=(0, 0, z), plane_normal=(0, 0, 1))
    assert section is not None
    loops = [d[:, :2] for d in section.discrete]
    around_axis = [p for p in loops if measure.points_in_poly([[0.0, 0.0]], p)[0]]
    assert len(around_axis) == 1
    return around_axis[0]


def test_chest_is_as_deep_as_a_persons(case):
    mesh = out_mesh(case)
    pts = chest_section(mesh, CHEST * case.height_m)
    width, depth = np.ptp(pts[:, 0]), np.ptp(pts[:, 1])
    assert 0.3 <= depth / width <= 0.8, (depth, width)


def test_mesh_stands_in_the_world_frame(case):
    mesh = out_mesh(case)
    v = mesh.vertices
    assert abs(v[:, 2].min()) <= 0.01  # feet on z = 0
    assert abs(v[:, 2].max() - case.height_m) <= 0.02 * case.height_m  # as tall as configured
    # On the Z axis: the input camera sees the axis near the person-mask's centroid column (the fitted
    # body's pelvis is on the axis; a raised arm moves the centroid a little) ...
    cam = Camera.from_json(case.result["input_camera"])
    axis = np.array(case.result["input_camera"]["world_to_pixel"]) @ [0, 0, case.height_m / 2, 1]
    axis_u = axis[0] / axis[2]  # homogeneous: the input camera is a pinhole
    centroid_u = np.nonzero(np.array(Image.open(case.out / "mask.png")) > 127)[1].mean() + 0.5
    depth = cam.project(np.array([[0, 0, case.height_m / 2]]))[1][0]
    assert abs(axis_u - centroid_u) * depth / cam.fx < 0.04  # metres
    # ... and the body's centre of mass is near it (a raised arm moves it a little; 10 cm off fails).
    c = trimesh.Trimesh(v, mesh.faces, process=False).center_mass
    assert np.hypot(c[0], c[1]) < 0.03, c


def silhouette_crop(mask: np.ndarray, size=(96, 192)) -> np.ndarray:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.asarray(Image.fromarray(crop.astype(np.uint8) * 255).resize(size, Image.BILINEAR)) > 127


def test_front_view_is_the_photos_person_not_its_mirror_image(case):
    mesh = out_mesh(case)
    front = view_cameras(mesh, [View(0)], resolution=256)[0]
    photo_cam = Camera.from_json(case.result["input_camera"])
    assert np.allclose(front.rotation[0], photo_cam.rotation[0], atol=1e-6)  # the same right: no turn, no roll
    # The photographer's camera is level, give or take the fitted tilt's error: measured on the human
    # figures 0 to 7 degrees short of a chest-height camera's look-down, 1 to 6 over on a level one
    # (docs/shape.md, known limits); these capsule figures read 5.3 and 5.6.
    assert photo_cam.forward[1] > np.cos(np.radians(7))
    assert np.allclose(front.forward, [0, 1, 0])  # the front camera looks +Y: the person faces -Y
    seen = silhouette_crop(render_maps(mesh, [front], backend="cpu")[0].mask)
    truth = view_cameras(case.figure.mesh, [View(0)], resolution=256)[0]  # the person as they are, seen alike
    photo = silhouette_crop(render_maps(case.figure.mesh, [truth], backend="cpu")[0].mask)
    same, mirrored = mask_iou(seen, photo), mask_iou(seen, photo[:, ::-1])
    # The fitted body is a person's, not this capsule figure's (its front matches the photo through the
    # photo's camera, tested above): seen orthographically it is alike, not equal. Measured: 0.93 and
    # 0.87 for the two standing figures, 0.59 for the waving one (a human torso and arms against thin
    # capsules, each crop scaled to its own box); its mirror image scores 0.32.
    assert same >= 0.5, same
    if case.name in ASYMMETRIC:  # the outline is not its own mirror image: the render must pick the right one
        assert mask_iou(photo, photo[:, ::-1]) < 0.8
        assert same - mirrored >= 0.1, (same, mirrored)


@pytest.mark.parametrize("name", list(DIGITIZE_FIGURES))
def test_texture_reproduces_the_photo_through_the_input_camera(cases, name):
    """Measured exactly as tests/test_digitize.py measures the sample."""
    case = cases(name)
    result = json.loads((case.out / "result.json").read_text())
    mesh = load_user_mesh(case.out / "mesh.obj")
    texture = np.array(Image.open(case.out / "texture.png").convert("RGB"))
    cam = Camera.from_json(result["input_camera"])
    cam512 = cam.scaled(512 / max(cam.width, cam.height))
    photo = Image.open(case.photo).convert("RGB").resize((cam512.width, cam512.height), Image.LANCZOS)
    photo = np.asarray(photo, np.float32) / 255.0
    mask = np.asarray(Image.open(case.out / "mask.png").resize((cam512.width, cam512.height), Image.BILINEAR)) > 127
    img, sil = render_textured(mesh, texture, cam512)
    from scipy import ndimage

    inside = ndimage.binary_erosion(mask, iterations=1)  # edge pixels of a photo blend in the background
    assert mask_iou(sil, mask) >= 0.97
    assert psnr(img, photo, inside) >= 26.0
    assert ssim(img, photo, inside) >= 0.85
