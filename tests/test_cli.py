"""`python -m backend shape` as a user runs it: the outputs, their agreement, and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from backend.conventions import Camera
from backend.metrics import mask_iou
from backend.raster import load_maps, render_maps
from tests.conftest import copy_of

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "backend", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture
def sample_run(sample_shape):
    """`shape` of the sample with the default options, shared with other files (tests/conftest.py):
    read it, do not change it (take `copy_of` it)."""
    return sample_shape


def load_obj(path):
    return trimesh.load(path, force="mesh", process=False)


def test_shape_writes_every_output(sample_run):
    out, r = sample_run
    for name in ("mesh.obj", "mask.png", "result.json", "photo.png", "rig.json"):
        assert (out / name).is_file()
    assert "[5/5]" in r.stderr  # progress a person can follow
    assert not list(out.parent.glob(".*partial*"))  # no leftovers beside the result
    result = json.loads((out / "result.json").read_text())
    assert result["command"] == "shape" and result["rig"]["file"] == "rig.json" and "glb" not in result["rig"]
    assert result["segmentation"]["method"] == "mediapipe"
    assert {"intake", "shape", "uv", "raster", "total"} <= set(result["timings_s"])
    # The default shape: the body model fitted to the sample's pose (no shape fallback), written beside it.
    assert result["shape"]["method"] == "body" and not any(f["part"] == "shape" for f in result["fallbacks"])
    assert result["shape"]["body"] == "body.json" and (out / "body.json").is_file() and (out / "body.obj").is_file()
    assert any("lens:" in n for n in result["shape"]["notes"])  # which focal length it assumed, said
    views = load_maps(out / "maps")
    assert len(views) == len(result["maps"]["views"]) >= 8
    assert all(v.uv is not None and v.mask.any() for v in views)


def test_mesh_file_is_watertight_with_uvs(sample_run):
    out, _ = sample_run
    text = (out / "mesh.obj").read_text()
    assert "\nvt " in text and "/" in text.split("\nf ", 1)[1].splitlines()[0]
    mesh = load_obj(out / "mesh.obj")
    # OBJ splits vertices at UV seams; merge them back to check the surface itself.
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    assert mesh.is_watertight and mesh.is_volume
    assert 20_000 <= len(mesh.faces) <= 100_000
    uv = mesh.visual.uv
    assert uv.min() >= 0 and uv.max() <= 1


def test_input_camera_maps_the_mesh_onto_the_photos_mask(sample_run):
    out, _ = sample_run
    result = json.loads((out / "result.json").read_text())
    cam_json = result["input_camera"]
    photo = Image.open(SAMPLE)
    assert (cam_json["width"], cam_json["height"]) == photo.size
    mask = np.array(Image.open(out / "mask.png")) > 127
    assert mask.shape == (photo.height, photo.width)

    mesh = load_obj(out / "mesh.obj")
    from backend.mesh import Mesh

    cam = Camera.from_json(cam_json)
    rendered = render_maps(Mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces)), [cam], backend="cpu")[0]
    assert mask_iou(rendered.mask, mask) >= 0.97

    # world_to_pixel, as written, takes a world point to (u right, v down) photo pixels:
    # the top of the head lands on the mask's top row, the feet on its bottom row.
    p = np.array(cam_json["world_to_pixel"])
    v = np.asarray(mesh.vertices)
    uvw = np.c_[v, np.ones(len(v))] @ p.T
    uv = uvw[:, :2] / uvw[:, 2:]  # homogeneous: the photo's camera is a pinhole
    rows = np.nonzero(mask.any(axis=1))[0]
    assert abs(uv[:, 1].min() - rows.min()) < 3 and abs(uv[:, 1].max() - (rows.max() + 1)) < 3
    w2c = np.array(cam_json["world_to_camera"])
    # Looks down its -z = world +Y (the front camera), level give or take the photographer's tilt.
    assert np.allclose(w2c[0, :3], [1, 0, 0]) and -w2c[2, 1] > np.cos(np.radians(10))


def test_cut_out_png_of_an_asymmetric_person_is_not_mirrored(tmp_path):
    """A cut-out PNG (alpha path) of a person with one arm raised: the mesh seen through the
    input camera covers that mask, and its mirror image would not."""
    from tests.test_shape import person_mask

    mask = person_mask(640)[:, 40:600]
    rgba = np.zeros(mask.shape + (4,), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = mask * 255
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    out = tmp_path / "o"
    r = run_cli("shape", tmp_path / "cutout.png", "--out", out)
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["segmentation"]["method"] == "alpha"
    from backend.mesh import Mesh

    mesh = load_obj(out / "mesh.obj")
    cam = Camera.from_json(result["input_camera"])
    rendered = render_maps(Mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces)), [cam], backend="cpu")[0].mask
    assert mask_iou(rendered, mask) >= 0.97
    assert mask_iou(rendered[:, ::-1], mask) < 0.8
    # In the world, the raised arm (on the photo's right) is at +x, where the front view shows it.
    v = np.asarray(mesh.vertices)
    assert v[v[:, 2] > 1.55, 0].mean() > 0.1


@pytest.mark.parametrize("height", ["1.5"])
def test_height_option(tmp_path, height):
    out = tmp_path / "o"
    r = run_cli("shape", SAMPLE, "--out", out, "--height", height)
    assert r.returncode == 0, r.stderr
    z = load_obj(out / "mesh.obj").vertices[:, 2]
    assert abs(z.min()) < 0.01 and abs(z.max() - 1.5) < 0.03


def test_user_mesh_option(tmp_path):
    body = trimesh.creation.capsule(height=1.3, radius=0.2)
    body.apply_translation((0, 0, 0.85))
    mesh_path = tmp_path / "edited body.ply"
    body.export(mesh_path)
    out = tmp_path / "o"
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", mesh_path)
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["shape"]["method"] == "user_mesh"
    assert len(load_obj(out / "mesh.obj").faces) == len(body.faces)


def _bad_inputs(tmp):
    (tmp / "notes.jpg").write_text("this is not an image")
    good = SAMPLE.read_bytes()
    (tmp / "truncated.jpg").write_bytes(good[: len(good) // 3])
    Image.new("RGB", (400, 600), (255, 255, 255)).save(tmp / "blank.png")
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp / "tiny.png")
    Image.new("L", (50_000, 80), 128).save(tmp / "wide.png")
    rng = np.random.default_rng(0)
    sky = np.zeros((400, 600, 3), np.uint8)
    sky[:] = np.linspace(90, 200, 600)[None, :, None].astype(np.uint8)
    sky += rng.integers(0, 8, sky.shape, dtype=np.uint8)
    Image.fromarray(sky).save(tmp / "no person.png")
    return {
        "notes.jpg": "not an image",
        "truncated.jpg": "",
        "blank.png": "",
        "tiny.png": "",
        "wide.png": "",
        "no person.png": "person",
        "missing.jpg": "",
    }


def test_bad_input_gets_one_line_and_exit_2(tmp_path):
    cases = _bad_inputs(tmp_path)
    for name, hint in cases.items():
        out = tmp_path / f"out-{name}"
        r = run_cli("shape", tmp_path / name, "--out", out)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2, (name, r.stderr)
        assert lines[-1].startswith("error: "), (name, r.stderr)
        assert "Traceback" not in r.stderr, name
        assert hint.lower() in lines[-1].lower(), (name, lines[-1])
        assert not out.exists(), name
        assert not list(tmp_path.glob(f".out-{name}.partial*")), name


def test_existing_result_is_kept_when_a_rerun_fails(tmp_path, sample_run):
    out = copy_of(sample_run[0], tmp_path / "earlier")  # the rerun is aimed at it: a copy of the shared result
    before = (out / "result.json").read_text()
    (tmp_path / "bad.jpg").write_text("nope")
    r = run_cli("shape", tmp_path / "bad.jpg", "--out", out)
    assert r.returncode == 2
    assert (out / "result.json").read_text() == before


def test_bad_height_is_refused(tmp_path):
    r = run_cli("shape", SAMPLE, "--out", tmp_path / "o", "--height", "17")
    assert r.returncode == 2 and "height" in r.stderr


@pytest.mark.parametrize(("users", "expected"), [(None, "10000"), ("250", "250")])
def test_torch_workers_spin_briefly_unless_the_user_says_otherwise(users, expected):
    """The backend asks OpenMP's workers to spin 10,000 times, not 300,000, before they sleep: on shared
    cores the default spinning made a digitize take 1.5 times as long (backend/__init__.py). A user's own
    setting wins."""
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if users is not None:
        env["GOMP_SPINCOUNT"] = users
    code = "import os, backend; print(os.environ['GOMP_SPINCOUNT'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "PYTHONPATH": str(ROOT)}, check=True).stdout.strip()
    assert out == expected
