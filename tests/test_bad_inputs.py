"""Catalogue of bad inputs (README.md, "Bad input"), each run through the real CLI as a user would.

Every refused input must give exit code 2, a last stderr line `error: ...` that names the
problem in plain words, no traceback, and leave nothing behind: no --out folder, no hidden
staging (`.NAME.partial-*`, `.NAME.old-*`), lock (`.NAME.lock`) or checkpoint (`.NAME.resume`)
folder, no empty parent folders made for it, and an earlier good result (or any folder of the
user's) untouched, every file checked by its hash. Inputs the product repairs (n-gons, a mesh
without UVs, a non-manifold mesh, a mesh in centimetres, millimetres or Y-up, odd pixel formats,
a path with spaces and non-ASCII letters) must succeed. `shape` is used wherever the failure is at intake or mesh
time (`digitize` is slow); a small user mesh (--mesh) keeps the successful runs quick.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend import files
from tests.conftest import copy_of
from tests.test_cli import SAMPLE, run_cli
from tests.test_shape import person_mask

BOX_OBJ = """v -0.2 -0.15 0
v 0.2 -0.15 0
v 0.2 0.15 0
v -0.2 0.15 0
v -0.2 -0.15 1.7
v 0.2 -0.15 1.7
v 0.2 0.15 1.7
v -0.2 0.15 1.7
v 0 -0.15 1.9
f 1 4 3 2
f 5 6 7 8
f 1 2 6 9 5
f 2 3 7 6
f 3 4 8 7
f 4 1 5 8
f 5 9 6
"""  # quads, a pentagon (the front, with a gable point) and one triangle: 14 triangles; no UVs


# --- helpers --------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, str]:
    """Everything under `folder`, hidden entries included: relative path -> content digest ("dir" for folders,
    "link to ..." for symbolic links, which are not followed)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = f"link to {os.readlink(p)}"
        else:
            out[rel] = "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def assert_refused(r, parent: Path, before: dict, *words: str) -> str:
    """Exit 2, one plain `error:` line naming the problem, no traceback, nothing left in `parent`."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    last = lines[-1]
    assert last.startswith("error: "), r.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1, r.stderr  # said once, on one line
    for word in words:
        assert word.lower() in last.lower(), (word, last)
    after = snapshot(parent)
    assert after == before, f"left behind: {sorted(set(after) ^ set(before))}"
    return last


def case_dir(tmp_path: Path, name: str) -> Path:
    parent = tmp_path / "outs" / name
    parent.mkdir(parents=True)
    return parent


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def box_obj(inputs) -> Path:
    path = inputs / "box.obj"
    path.write_text(BOX_OBJ)
    return path


def sample_rgb() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"))


# --- photos -----------------------------------------------------------------------------------


def corrupt_jpeg(path):
    good = SAMPLE.read_bytes()
    noise = np.random.default_rng(1).integers(0, 256, len(good) - 2000, dtype=np.uint8).tobytes()
    path.write_bytes(good[:2000] + noise)  # the headers are fine, the picture data is garbage


def truncated_jpeg(path):
    good = SAMPLE.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # an interrupted download


def empty_file(path):
    path.write_bytes(b"")


def transparent_png(path):
    rgba = np.zeros((300, 200, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(2).integers(0, 256, (300, 200, 3))
    Image.fromarray(rgba, "RGBA").save(path)  # colours, but alpha 0 everywhere


def noise_photo(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(path)


def plain_wall(path):
    Image.new("RGB", (600, 400), (222, 214, 196)).save(path, quality=95)


def textured_wall(path):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:400, 0:600]
    wall = 190 + 20 * np.sin(xx / 37.0) * np.cos(yy / 53.0) + rng.normal(0, 6, (400, 600))
    Image.fromarray(np.clip(np.repeat(wall[..., None], 3, axis=2), 0, 255).astype(np.uint8)).save(path)


def two_people(path):
    rgb = sample_rgb()
    Image.fromarray(np.concatenate([rgb, rgb], axis=1)).save(path, quality=92)  # the same person twice


def two_figures_cutout(path):
    mask = person_mask(320)[:, 60:260]
    both = np.concatenate([mask, mask], axis=1)
    rgba = np.zeros(both.shape + (4,), np.uint8)
    rgba[..., :3] = 80
    rgba[..., 3] = both * 255
    Image.fromarray(rgba, "RGBA").save(path)


def huge_photo(path):
    Image.new("L", (9000, 9000), 128).save(path)  # 81 megapixels in ~100 kB: refused from the header


def tiny_photo(path):
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (600, 48, 3), dtype=np.uint8)).save(path)


PHOTO_CASES = [
    # (file, how it is made, words the error line must contain)
    ("garbled.jpg", corrupt_jpeg, ["garbled.jpg", "corrupt"]),
    ("half download.jpg", truncated_jpeg, ["half download.jpg", "truncated"]),
    ("empty.jpg", empty_file, ["empty.jpg", "not an image"]),
    ("transparent.png", transparent_png, ["transparent.png", "fully transparent"]),
    ("noise.png", noise_photo, ["noise.png", "no person found"]),
    ("plain wall.jpg", plain_wall, ["plain wall.jpg", "blank"]),
    ("textured wall.png", textured_wall, ["textured wall.png", "no person found"]),
    ("two people.jpg", two_people, ["two people.jpg", "found 2 people", "crop the photo"]),
    ("two figures.png", two_figures_cutout, ["two figures.png", "found 2 people", "cut-out", "crop the photo"]),
    ("huge.png", huge_photo, ["huge.png", "too large", "9000x9000"]),
    ("tiny.png", tiny_photo, ["tiny.png", "too small", "48x600"]),
    ("missing.jpg", None, ["missing.jpg", "not found"]),
]


@pytest.mark.parametrize("name,make,words", PHOTO_CASES, ids=[c[0] for c in PHOTO_CASES])
def test_bad_photo_is_refused_and_leaves_nothing(tmp_path, inputs, name, make, words):
    photo = inputs / name
    if make is not None and not photo.exists():
        make(photo)
    parent = case_dir(tmp_path, "case")
    out = parent / "new folder" / "result"  # the folders above --out that the run makes go too
    r = run_cli("shape", photo, "--out", out)
    assert_refused(r, parent, {}, *words)


def test_empty_folder_of_photos(tmp_path):
    (tmp_path / "photos").mkdir()
    parent = case_dir(tmp_path, "case")
    r = run_cli("shape", tmp_path / "photos", "--out", parent / "results")
    assert_refused(r, parent, {}, "no photos")


def test_bad_photo_through_digitize_leaves_no_checkpoints(tmp_path, inputs):
    photo = inputs / "garbled.jpg"
    if not photo.exists():
        corrupt_jpeg(photo)
    parent = case_dir(tmp_path, "case")
    r = run_cli("digitize", photo, "--out", parent / "new" / "avatar")
    assert_refused(r, parent, {}, "corrupt")  # no new/avatar/, no .avatar.partial-*, no .avatar.resume/, no new/


# --- pixel formats and paths that must work -------------------------------------------------


@pytest.fixture
def unicode_run(sample_shape):
    """The sample photo under a path with spaces and non-ASCII letters, through the default `shape`: the run
    tests/test_cli.py checks too (tests/conftest.py), read here, changed only in a copy."""
    return sample_shape


def test_unicode_and_spaces_in_paths_succeed(unicode_run):
    out, r = unicode_run
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}/" in r.stdout
    for name in ("mesh.obj", "mask.png", "result.json"):
        assert (out / name).is_file()
    result = json.loads((out / "result.json").read_text())
    assert result["photo"].endswith("фото 写真 ü/my photo é.jpg")
    assert [p.name for p in out.parent.iterdir()] == ["out dir"]  # no staging folder left beside it
    # the result folder gets the usual permissions (the umask's), like any folder the user makes
    probe = out.parent / "probe"
    probe.mkdir()
    try:
        assert (out.stat().st_mode & 0o777) == (probe.stat().st_mode & 0o777)
    finally:
        probe.rmdir()


def test_rerun_with_bad_input_keeps_the_earlier_result(unicode_run, inputs, tmp_path):
    out, r = unicode_run
    assert r.returncode == 0, r.stderr
    out = copy_of(out, tmp_path / "résultat 出力")  # the rerun is aimed at it: a copy of the shared result
    photo = inputs / "half download.jpg"
    if not photo.exists():
        truncated_jpeg(photo)
    before = snapshot(out.parent)
    assert "out dir/result.json" in before
    r = run_cli("shape", photo, "--out", out)
    assert_refused(r, out.parent, before, "truncated")


def odd_mode(rgb: np.ndarray, mode: str) -> Image.Image:
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    if mode == "CMYK":
        return Image.fromarray(rgb).convert("CMYK")
    if mode == "LA":
        return Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA")
    return Image.fromarray(gray.astype(np.uint16) * 257)  # I;16


@pytest.mark.parametrize("mode,suffix", [("CMYK", ".jpg"), ("LA", ".png"), ("I;16", ".png")])
def test_odd_pixel_formats_work(tmp_path, box_obj, mode, suffix):
    photo = tmp_path / f"person {mode.replace(';', '')}{suffix}"
    img = odd_mode(sample_rgb(), mode)
    img.save(photo)
    assert Image.open(photo).mode == mode
    out = tmp_path / "out"
    r = run_cli("shape", photo, "--out", out, "--mesh", box_obj)
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["segmentation"]["method"] == "mediapipe"  # the person was found in the converted pixels


# --- where the result goes --------------------------------------------------------------------


def test_out_below_a_file(tmp_path):
    parent = case_dir(tmp_path, "case")
    (parent / "notes.txt").write_text("keep me\n")
    before = snapshot(parent)
    r = run_cli("shape", SAMPLE, "--out", parent / "notes.txt" / "result")
    assert_refused(r, parent, before, "notes.txt is a file, not a folder")


def test_out_is_a_file(tmp_path):
    parent = case_dir(tmp_path, "case")
    (parent / "result").write_text("keep me\n")
    before = snapshot(parent)
    r = run_cli("shape", SAMPLE, "--out", parent / "result")
    assert_refused(r, parent, before, "exists and is not a folder")


def users_folder(folder: Path) -> None:
    """A folder of the user's own: files, a sub-folder, binary data."""
    (folder / "photos").mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work\n")
    (folder / "photos" / "holiday.jpg").write_bytes(SAMPLE.read_bytes())
    (folder / ".hidden").write_bytes(bytes(range(256)))


def test_out_at_the_users_own_folder_is_refused_untouched(tmp_path, box_obj):
    """`--out ~/Documents`, or a typo that names a real folder: nothing in it may go."""
    parent = case_dir(tmp_path, "case")
    users_folder(parent / "Documents")
    before = snapshot(parent)
    r = run_cli("shape", SAMPLE, "--out", parent / "Documents", "--mesh", box_obj)
    assert "[1/" not in r.stderr  # refused before any stage
    assert_refused(r, parent, before, "is not empty and is not a result of this program",
                   "holds .hidden, photos, thesis.tex", "--overwrite")


def test_out_at_a_link_to_the_users_folder_is_refused_and_the_target_kept(tmp_path, box_obj):
    parent = case_dir(tmp_path, "case")
    users_folder(parent / "Documents")
    (parent / "link").symlink_to(parent / "Documents", target_is_directory=True)
    before = snapshot(parent)
    r = run_cli("shape", SAMPLE, "--out", parent / "link", "--mesh", box_obj)
    assert_refused(r, parent, before, "not a result")
    for flag in ([], ["--overwrite"]):  # a link that leads nowhere: refused either way
        (parent / "nowhere").symlink_to(parent / "gone", target_is_directory=True)
        before = snapshot(parent)
        r = run_cli("shape", SAMPLE, "--out", parent / "nowhere", "--mesh", box_obj, *flag)
        assert_refused(r, parent, before, "is a link to", "which does not exist")
        (parent / "nowhere").unlink()


def test_earlier_result_is_replaced_whole_also_through_a_link(tmp_path, box_obj):
    out = tmp_path / "result"
    assert run_cli("shape", SAMPLE, "--out", out, "--mesh", box_obj).returncode == 0
    (out / "maps" / "stale.npz").write_bytes(b"")  # inside a folder the result wrote: replaced with it
    fin = tmp_path / "fin.obj"
    fin.write_text("v 0 0 0\nv 0 0 1.7\nv 0.3 0 0.85\nv -0.3 0 0.85\nf 1 3 2\nf 1 2 4\n")
    link = tmp_path / "link"
    link.symlink_to(out, target_is_directory=True)
    r = run_cli("shape", SAMPLE, "--out", link, "--mesh", fin)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and link.resolve() == out.resolve()  # the link stays a link, to the new result
    assert json.loads((out / "result.json").read_text())["mesh"]["faces"] == 2
    assert not (out / "maps" / "stale.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fin.obj", "link", "result"]


def test_overwrite_replaces_any_folder(tmp_path, box_obj):
    out = tmp_path / "old stuff"
    users_folder(out)
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", box_obj, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(json.loads((out / "result.json").read_text())
                                                           ["output"]["files"])


def test_overwrite_never_replaces_the_folder_holding_the_photo(tmp_path, box_obj):
    parent = case_dir(tmp_path, "case")
    users_folder(parent / "shoot")
    before = snapshot(parent)
    r = run_cli("shape", parent / "shoot" / "photos" / "holiday.jpg", "--out", parent / "shoot", "--mesh", box_obj,
                "--overwrite")
    assert_refused(r, parent, before, "holds the input", "holiday.jpg")


def test_older_result_without_a_marker_is_replaced_unless_it_holds_more(tmp_path, box_obj):
    """Results of versions before the marker are recognised by their result.json and the names they wrote."""
    parent = case_dir(tmp_path, "case")
    old = parent / "result"
    old.mkdir()
    (old / "result.json").write_text(json.dumps({"version": "0.1.0", "input_camera": {}}))
    (old / "mesh.obj").write_text("v 0 0 0\n")
    (old / "my notes.txt").write_text("mine")
    before = snapshot(parent)
    r = run_cli("shape", SAMPLE, "--out", old, "--mesh", box_obj)
    assert_refused(r, parent, before, "older version", "also holds my notes.txt", "--overwrite")
    (old / "my notes.txt").unlink()
    r = run_cli("shape", SAMPLE, "--out", old, "--mesh", box_obj)
    assert r.returncode == 0, r.stderr
    assert json.loads((old / "result.json").read_text())["output"]["made_by"] == "photo-digitize"


def run_in_process(argv: list, capsys) -> tuple[int, str]:
    """backend.cli.main in this process (so a test can stand in for the OS): (exit code, stderr)."""
    from backend import cli

    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main([str(a) for a in argv])
    finally:
        signal.signal(signal.SIGTERM, sigterm)  # main() installs its own handler
    return code, capsys.readouterr().err


def assert_refused_in_process(code: int, err: str, parent: Path, before: dict, expected_line: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == expected_line, err
    assert snapshot(parent) == before


def test_read_only_parent_folder(tmp_path, monkeypatch, capsys):
    parent = case_dir(tmp_path, "case")
    out = parent / "result"
    expected = f"error: cannot write to {parent}: permission denied (choose an --out folder you can write to)"
    if os.name == "posix" and os.geteuid() != 0:
        parent.chmod(0o555)
        try:
            r = run_cli("shape", SAMPLE, "--out", out)
            assert_refused(r, parent, {}, expected[len("error: "):])
        finally:
            parent.chmod(0o755)
        return
    # Root ignores permission bits: stand in for the kernel's answer in a read-only folder.
    real_mkdir = Path.mkdir

    def denied(self, *args, **kwargs):
        if self.parent == parent:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    code, err = run_in_process(["shape", SAMPLE, "--out", out], capsys)
    assert_refused_in_process(code, err, parent, {}, expected)


def test_disk_full_while_writing(tmp_path, box_obj, monkeypatch, capsys):
    """The disk fills up while the results are written (the mesh is written, the mask is not)."""

    def disk_full(path, chunks):
        Path(path).write_bytes(b"\x89PNG\r\n")  # a few bytes made it, as on a real full disk
        raise OSError(errno.ENOSPC, "No space left on device")  # write() errors carry no file name

    monkeypatch.setattr(files, "write_atomic", disk_full)  # every PNG goes through it
    parent = case_dir(tmp_path, "case")
    out = parent / "result"
    code, err = run_in_process(["shape", SAMPLE, "--out", out, "--mesh", box_obj], capsys)
    assert_refused_in_process(code, err, parent, {},
                              f"error: the disk is full while writing {out}: free some space and try again")


# --- user meshes (--mesh) ---------------------------------------------------------------------


def write_big_ply(path: Path, faces: int) -> None:
    """A binary PLY grid of `faces` triangles (made with numpy in well under a second)."""
    n = int(np.ceil(np.sqrt(faces / 2))) + 1
    xs = np.linspace(-0.3, 0.3, n)
    x, z = np.meshgrid(xs, np.linspace(0, 1.7, n))
    vertices = np.stack([x.ravel(), np.zeros(n * n), z.ravel()], axis=1).astype("<f4")
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])[:faces]
    rows = np.empty(len(tris), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    rows["n"], rows["v"] = 3, tris
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vertices)}\nproperty float x\n"
              f"property float y\nproperty float z\nelement face {len(tris)}\n"
              "property list uchar int vertex_indices\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode())
        f.write(vertices.tobytes())
        f.write(rows.tobytes())


MESH_CASES = [
    # (file, content, words the error line must contain)
    ("lines only.obj", "v 0 0 0\nv 0.4 0 0\nv 0 0 1.7\nl 1 2 3\n", ["lines only.obj", "no faces"]),
    ("broken vertex.obj", "v 0 0 0\nv 0.4 0 0\nv nan 0 1.7\nf 1 2 3\n", ["broken vertex.obj", "NaN"]),
    ("flat.obj", "v 0 0 0\nv 0.4 0 0\nv 0 0.4 0\nf 1 2 3\n", ["flat.obj", "flat in Z"]),
    ("bad index.obj", "v 0 0 0\nv 0.4 0 0\nv 0 0 1.7\nf 1 2 99\n", ["bad index.obj", "vertex the file does not have"]),
    ("body.stl", "solid x\nendsolid x\n", ["body.stl", "unsupported mesh format"]),
    ("2M faces.ply", None, ["2M faces.ply", "too many faces (2,000,000)", "decimate", "500,000"]),
    ("decimetres.obj", BOX_OBJ.replace(" 1.7\n", " 17\n").replace(" 1.9\n", " 19\n"),
     ["decimetres.obj", "19 units tall along Z", "neither metres", "centimetres", "millimetres"]),
    ("tiny.obj", "v 0 0 0\nv 0.04 0 0\nv 0 0.02 0.1\nf 1 2 3\n", ["tiny.obj", "0.1 units tall"]),
]


@pytest.mark.parametrize("name,content,words", MESH_CASES, ids=[c[0] for c in MESH_CASES])
def test_bad_mesh_is_refused_and_leaves_nothing(tmp_path, name, content, words):
    mesh = tmp_path / name
    if content is None:
        write_big_ply(mesh, 2_000_000)
    else:
        mesh.write_text(content)
    parent = case_dir(tmp_path, "case")
    r = run_cli("shape", SAMPLE, "--out", parent / "result", "--mesh", mesh)
    assert_refused(r, parent, {}, *words)


def scaled_box(scale: float, y_up: bool) -> str:
    """BOX_OBJ in other units, or standing along Y as Y-up exporters write it ((x, y, z) -> (x, z, -y))."""
    lines = []
    for line in BOX_OBJ.splitlines():
        if line.startswith("v "):
            x, y, z = (float(t) * scale for t in line.split()[1:])
            x, y, z = (x, z, -y) if y_up else (x, y, z)
            line = f"v {x:.6f} {y:.6f} {z:.6f}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("scale,y_up,said", [
    (100.0, False, ["190 units tall", "read as centimetres", "1.90 m"]),
    (1000.0, False, ["1900 units tall", "read as millimetres"]),
    (1.0, True, ["stood along Y", "turned Z up", "(x, -z, y)"]),
    (100.0, True, ["stood along Y", "read as centimetres"]),
])
def test_mesh_in_other_units_or_y_up_is_converted_and_said(tmp_path, scale, y_up, said):
    """A mesh in centimetres, millimetres or Y-up is brought to metres, Z up; the log and result.json say so."""
    mesh = tmp_path / "exported.obj"
    mesh.write_text(scaled_box(scale, y_up))
    out = tmp_path / "out"
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", mesh)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    for words in said:
        assert any(words in w for w in warnings), (words, warnings)
    result = json.loads((out / "result.json").read_text())
    assert result["shape"]["height_m"] == pytest.approx(1.9, abs=1e-4)
    assert all(any(words in n for n in result["shape"]["notes"]) for words in said)
    v = np.array([[float(t) for t in line.split()[1:]] for line in (out / "mesh.obj").read_text().splitlines()
                  if line.startswith("v ")])
    assert np.allclose(v.min(0), [-0.2, -0.15, 0], atol=1e-5) and np.allclose(v.max(0), [0.2, 0.15, 1.9], atol=1e-5)


def test_face_limit_counts_obj_polygons_and_their_triangles(tmp_path, monkeypatch):
    """The limit holds before parsing (an OBJ's `f` lines) and after triangulating n-gons."""
    from backend.errors import MeshInputError
    from backend.export import mesh_io

    monkeypatch.setattr(mesh_io, "MAX_USER_FACES", 10)
    box = tmp_path / "box.obj"
    box.write_text(BOX_OBJ)  # 7 polygons, 14 triangles
    with pytest.raises(MeshInputError, match=r"too many faces \(14 triangles\); decimate the mesh to under 10"):
        mesh_io.load_user_mesh(box)
    many = tmp_path / "many.obj"
    many.write_text(BOX_OBJ + "f 1 2 3\n" * 5)  # 12 `f` lines
    with pytest.raises(MeshInputError, match=r"too many faces \(12\)"):
        mesh_io.load_user_mesh(many)
    monkeypatch.setattr(mesh_io, "MAX_USER_FACES", 14)
    assert len(mesh_io.load_user_mesh(box).faces) == 14


def test_ngons_without_uvs_are_triangulated_and_unwrapped(tmp_path, box_obj):
    out = tmp_path / "out"
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", box_obj)
    assert r.returncode == 0, r.stderr
    text = (out / "mesh.obj").read_text()
    faces = [line.split()[1:] for line in text.splitlines() if line.startswith("f ")]
    assert len(faces) == 14 and all(len(f) == 3 for f in faces)  # 5 quads x 2 + the pentagon's 3 + 1
    assert all("/" in corner for f in faces for corner in f)  # every corner has a UV (xatlas made them)
    result = json.loads((out / "result.json").read_text())
    assert result["uv"]["charts"] > 0 and result["mesh"]["faces"] == 14
    assert not any("non-manifold" in n or "open edge" in n for n in result["shape"]["notes"])  # closed


def test_non_manifold_mesh_is_used_with_a_note(tmp_path):
    """Three triangles on one edge: used as it is (nothing downstream needs a manifold); result.json says so."""
    mesh = tmp_path / "fin.obj"
    mesh.write_text("v 0 0 0\nv 0 0 1.7\nv 0.3 0 0.85\nv -0.3 0 0.85\nv 0 0.3 0.85\nf 1 3 2\nf 1 2 4\nf 1 5 2\n")
    out = tmp_path / "out"
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", mesh)
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["mesh"]["faces"] == 3
    notes = " ".join(result["shape"]["notes"])
    assert "1 edge shared by more than two faces (non-manifold)" in notes
    assert "6 open edges" in notes


def test_mesh_that_crashes_xatlas_is_unwrapped_on_the_retry(tmp_path):
    """A finely subdivided icosphere segfaults xatlas 0.0.11 (jpcy/xatlas#146): the child process
    crashes, the retry on slightly moved vertices succeeds, and the mesh keeps its own vertices."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=6, radius=0.85)
    sphere.apply_translation([0, 0, 0.85])
    path = tmp_path / "sphere.obj"
    sphere.export(path)
    out = tmp_path / "out"
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", path)
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["mesh"]["faces"] == len(sphere.faces) and result["uv"]["charts"] > 0


def test_xatlas_crashing_twice_is_explained(monkeypatch):
    from backend.errors import MeshInputError
    from backend.mesh import Mesh
    from backend.uv import atlas

    calls = []
    monkeypatch.setattr(atlas, "_run_xatlas_child", lambda job: calls.append(job["vertices"].copy()))
    box = Mesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float), np.array([[0, 2, 1], [0, 1, 3],
                                                                                         [0, 3, 2], [1, 2, 3]]))
    with pytest.raises(MeshInputError, match=r"xatlas\) crashed twice on this mesh \(4 faces\); remesh"):
        atlas.unwrap(box, 64)
    assert len(calls) == 2 and 0 < np.abs(calls[1] - calls[0]).max() <= 1e-4  # the retry moved the vertices a hair
