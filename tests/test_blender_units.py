"""The add-on's bpy-free modules, in the pytest process: job client, cameras, OBJ and EXR I/O.

They are loaded from their files (not through the ``blender_addon`` package, whose
``__init__`` imports bpy). The backend is imported here only to hold the add-on's copies of
its conventions to the original.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "blender_addon"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"blender_addon_unit_{name}", ADDON / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


job_client = _load("job_client")
cameras = _load("cameras")
obj_io = _load("obj_io")
exr = _load("exr")


# --- job client ------------------------------------------------------------------------------


def _fake_backend(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_backend.py"
    script.write_text("import json, sys, time, subprocess\n"
                      "def ev(kind, message, **kw):\n"
                      "    print(json.dumps({'type': kind, 'message': message, **kw}), flush=True)\n"
                      + textwrap.dedent(body))
    return [sys.executable, "-u", str(script)]


def _run_to_end(proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    events = []
    while not proc.finished and time.monotonic() < deadline:
        events += proc.wait_events(0.1)
    events += proc.poll()
    assert proc.finished
    return events


def test_events_are_parsed_and_text_lines_kept(tmp_path):
    argv = _fake_backend(tmp_path, """
        ev("stage", "[1/2] a ...", stage="intake", index=1, total=2)
        print("plain text line", flush=True)
        print("error: not this one", file=sys.stderr, flush=True)
        ev("progress", "half", fraction=0.5)
        ev("result", "done", out="/x/out")
    """)
    proc = job_client.BackendProcess(argv).start()
    events = _run_to_end(proc)
    # stdout and stderr are read by separate threads, so only each stream's own order is defined
    stdout_events = [e for e in events if e.type != "stderr"]
    assert [e.type for e in stdout_events] == ["stage", "text", "progress", "result"], stdout_events
    assert stdout_events[0].data["stage"] == "intake" and stdout_events[0].data["total"] == 2
    assert proc.returncode == 0
    assert proc.last("result").data["out"] == "/x/out"
    assert list(proc.stderr_tail) == ["error: not this one"]


def test_error_message_from_event_then_stderr(tmp_path):
    proc = job_client.BackendProcess(_fake_backend(tmp_path, """
        ev("error", "photo.txt is not an image", exit_code=2)
        print("error: photo.txt is not an image", file=sys.stderr)
        sys.exit(2)
    """)).start()
    _run_to_end(proc)
    assert proc.returncode == 2 and proc.error_message() == "photo.txt is not an image"

    proc = job_client.BackendProcess(_fake_backend(tmp_path, """
        print("Traceback ...", file=sys.stderr)
        print("error: out of memory; try a smaller photo", file=sys.stderr)
        print("some trailing noise", file=sys.stderr)
        sys.exit(1)
    """)).start()
    _run_to_end(proc)
    assert proc.error_message() == "out of memory; try a smaller photo"

    proc = job_client.BackendProcess(_fake_backend(tmp_path, "raise SystemExit(3)\n")).start()
    _run_to_end(proc)
    assert "exit code 3" in proc.error_message()


def test_poll_never_blocks_and_cancel_stops_the_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    argv = _fake_backend(tmp_path, f"""
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        ev("stage", "[1/1] sleeping ...", stage="sleep", index=1, total=1)
        time.sleep(60)
    """)
    proc = job_client.BackendProcess(argv).start()
    deadline = time.monotonic() + 20
    seen = []
    while not seen and time.monotonic() < deadline:
        t0 = time.perf_counter()
        seen = [e for e in proc.poll() if e.type == "stage"]
        assert time.perf_counter() - t0 < 0.02  # a tick never waits on the pipes
        time.sleep(0.02)
    assert seen and proc.running
    child = int(pid_file.read_text())
    t0 = time.monotonic()
    proc.cancel(wait_s=0.5)
    proc.wait(timeout=10)
    assert proc.finished and proc.returncode != 0 and time.monotonic() - t0 < 5
    assert proc.cancelled and proc.error_message() == "cancelled"
    for _ in range(100):  # the backend's own children go too (same process group)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the backend's child process survived Cancel")


def test_sigterm_ignored_gets_sigkill(tmp_path):
    proc = job_client.BackendProcess(_fake_backend(tmp_path, """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ev("stage", "stubborn", stage="x", index=1, total=1)
        time.sleep(60)
    """)).start()
    while not proc.events:
        proc.wait_events(0.1)
    proc.cancel(grace_s=0.3, wait_s=0.0)
    deadline = time.monotonic() + 10
    while proc.running and time.monotonic() < deadline:
        proc.poll()
        time.sleep(0.05)
    assert not proc.running


def test_job_dir_and_environment(tmp_path):
    a = job_client.new_job_dir(tmp_path / "jobs", "my photo!")
    b = job_client.new_job_dir(tmp_path / "jobs", "my photo!")
    assert a != b and a.is_dir() and b.is_dir() and "my_photo" in a.name
    job_client.write_job(a, {"command": "digitize", "photo": "input/photo.jpg", "options": {"seed": 3}})
    job = json.loads((a / "job.json").read_text())
    assert job == {"version": 1, "command": "digitize", "photo": "input/photo.jpg", "options": {"seed": 3}}
    env = job_client.backend_env("/repo", "/models", base={"PYTHONHOME": "/blender/python", "PATH": "/bin"})
    assert "PYTHONHOME" not in env and env["PYTHONPATH"] == "/repo" and env["PATH"] == "/bin"
    assert env["PHOTO_DIGITIZE_MODELS"] == "/models"
    assert job_client.backend_command("/py", a)[1:] == ["-u", "-m", "backend", "job", str(a)]


# --- cameras: the add-on's copy of backend/view_schedule.py + conventions.py -------------------------


def test_view_cameras_match_the_backend():
    sys.path.insert(0, str(ROOT))
    from backend.mesh import Mesh
    from backend.view_schedule import DEFAULT_VIEWS, view_cameras

    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(500, 3)) * [0.25, 0.15, 0.5] + [0.02, -0.01, 0.9]
    mesh = Mesh(vertices, np.zeros((1, 3), np.int64))
    theirs = view_cameras(mesh, DEFAULT_VIEWS[1:], 512)
    ours = cameras.view_cameras(vertices, cameras.DEFAULT_VIEWS[1:], 512)
    assert [(v.azimuth_deg, v.elevation_deg) for v in DEFAULT_VIEWS] == list(cameras.DEFAULT_VIEWS)
    assert len(theirs) == len(ours) == 11
    for t, o in zip(theirs, ours, strict=True):
        tj = t.to_json()
        assert tj["name"] == o["name"]
        for key in ("width", "height", "fx", "fy", "cx", "cy", "projection", "azimuth_deg", "elevation_deg"):
            assert tj[key] == pytest.approx(o[key]), key
        np.testing.assert_allclose(tj["world_to_camera"], o["world_to_camera"], atol=1e-12)
        np.testing.assert_allclose(tj["world_to_pixel"], o["world_to_pixel"], atol=1e-9)


def test_blender_camera_settings_reproject_like_the_backend():
    sys.path.insert(0, str(ROOT))
    from backend.conventions import Camera

    cam = cameras.make_camera(cameras.look_at([0.3, -10, 1.2], [0.0, 0.0, 0.9]), 640, 480, 200.0, 200.0,
                              300.0, 250.0, name="input")
    s = cameras.blender_camera_settings(cam)
    assert s["ortho_scale"] == pytest.approx(640 / 200.0) and s["resolution"] == (640, 480)
    # A point through Blender's camera: camera space from matrix_world, then the ortho frame with shift.
    p = np.array([0.1, 0.2, 1.3])
    pc = np.linalg.inv(s["matrix_world"]) @ np.append(p, 1.0)
    half_w, half_h = s["ortho_scale"] / 2, s["ortho_scale"] * 480 / 640 / 2
    x = pc[0] - s["shift_x"] * s["ortho_scale"]
    y = pc[1] - s["shift_y"] * s["ortho_scale"]
    u = (x + half_w) / (2 * half_w) * 640
    v = (half_h - y) / (2 * half_h) * 480
    ref, _ = Camera.from_json(cam).project(p[None])
    np.testing.assert_allclose([u, v], ref[0], atol=1e-9)


# --- OBJ --------------------------------------------------------------------------------------


def test_obj_round_trip_keeps_seams_and_the_backend_reads_it(tmp_path):
    sys.path.insert(0, str(ROOT))
    from backend.export.mesh_io import load_user_mesh

    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1.0]])
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    corner_uv = np.array([[[0, 0], [0.5, 0], [0.5, 0.5]], [[0.6, 0.6], [1, 1], [0.6, 1]]])  # a seam on 0-2
    path = obj_io.write_obj(tmp_path / "m.obj", vertices, tris, corner_uv, header="test")
    m = obj_io.read_obj(path)
    np.testing.assert_allclose(m.vertices, vertices)
    assert m.is_triangles and m.loop_vertex.reshape(-1, 3).tolist() == tris.tolist()
    np.testing.assert_allclose(m.uv.reshape(-1, 3, 2), corner_uv, atol=1e-7)
    theirs = load_user_mesh(path)
    assert len(theirs.vertices) == 4 and theirs.has_uv
    np.testing.assert_allclose(theirs.uv[theirs.faces_uv], corner_uv, atol=1e-7)

    (tmp_path / "q.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 1\n"
                                    "f 1/1 2/1 3/2 4/2\nf -4/-2 -2/-1 -1/-1\n")
    q = obj_io.read_obj(tmp_path / "q.obj")
    assert q.loop_total.tolist() == [4, 3] and q.loop_start.tolist() == [0, 4]
    assert q.loop_vertex.tolist() == [0, 1, 2, 3, 0, 2, 3]
    assert q.uv[4].tolist() == [0, 0] and q.uv[5].tolist() == [1, 1]


# --- EXR ---------------------------------------------------------------------------------------


def _exr_attr(name, kind, data):
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(data)) + data


def _exr_header(channels: dict[str, np.ndarray], part_name: str | None = None) -> bytes:
    names = sorted(channels)
    h, w = channels[names[0]].shape
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iBxxxii", 2, 0, 1, 1) for n in names) + b"\0"
    extra = b""
    if part_name is not None:  # the attributes a multi-part header must have
        extra = (_exr_attr("name", "string", part_name.encode()) + _exr_attr("type", "string", b"scanlineimage")
                 + _exr_attr("chunkCount", "int", struct.pack("<i", h)))
    return (_exr_attr("channels", "chlist", chlist) + _exr_attr("compression", "compression", b"\0")
            + _exr_attr("dataWindow", "box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
            + _exr_attr("displayWindow", "box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
            + _exr_attr("lineOrder", "lineOrder", b"\0") + extra + b"\0")


def _exr_rows(channels: dict[str, np.ndarray], part: int | None = None) -> list[bytes]:
    names = sorted(channels)
    h, w = channels[names[0]].shape
    prefix = b"" if part is None else struct.pack("<i", part)
    return [prefix + struct.pack("<ii", y, 4 * w * len(names))
            + b"".join(channels[n][y].astype("<f4").tobytes() for n in names) for y in range(h)]


def _write_exr(path: Path, channels: dict[str, np.ndarray], parts: int = 1) -> None:
    """A minimal uncompressed scanline EXR (the kind Cycles writes with codec NONE): one part, as
    Blender 4.x writes it, or the channels split over `parts` parts, as Blender 5.0 writes it."""
    if parts == 1:
        headers, row_lists, flags = _exr_header(channels), [_exr_rows(channels)], 2
    else:
        names = sorted(channels)
        groups = [{n: channels[n] for n in names[i::parts]} for i in range(parts)]
        headers = b"".join(_exr_header(g, f"part{i}") for i, g in enumerate(groups)) + b"\0"
        row_lists, flags = [_exr_rows(g, i) for i, g in enumerate(groups)], 2 | 0x1000
    head = struct.pack("<iI", 20000630, flags) + headers
    pos = len(head) + 8 * sum(len(rows) for rows in row_lists)
    tables = []
    for rows in row_lists:
        offsets = []
        for r in rows:
            offsets.append(pos)
            pos += len(r)
        tables.append(struct.pack(f"<{len(offsets)}Q", *offsets))
    path.write_bytes(head + b"".join(tables) + b"".join(b"".join(rows) for rows in row_lists))


@pytest.mark.parametrize("parts", [1, 2], ids=["one-part (Blender 4)", "multi-part (Blender 5)"])
def test_exr_reader(tmp_path, parts):
    rng = np.random.default_rng(1)
    chans = {"ViewLayer.Normal.X": rng.normal(size=(5, 7)).astype(np.float32),
             "ViewLayer.Normal.Y": rng.normal(size=(5, 7)).astype(np.float32),
             "ViewLayer.Combined.A": (rng.random((5, 7)) > 0.5).astype(np.float32)}
    _write_exr(tmp_path / "a.exr", chans, parts)
    got = exr.read_exr(tmp_path / "a.exr")
    assert set(got) == set(chans)
    for k, v in chans.items():
        np.testing.assert_array_equal(got[k], v)


def test_exr_reader_refuses_what_it_cannot_read(tmp_path):
    chans = {"ViewLayer.Normal.X": np.ones((4, 3), np.float32), "ViewLayer.Normal.Y": np.zeros((4, 3), np.float32)}
    _write_exr(tmp_path / "ok.exr", chans, parts=2)
    good = (tmp_path / "ok.exr").read_bytes()
    _parts, tables_at, _multipart = exr.read_headers(good)
    first_chunk = struct.unpack_from("<Q", good, tables_at)[0]  # part 0's first scanline
    broken = {
        "not an exr": b"not an exr",
        "tiled": good[:4] + struct.pack("<I", 2 | 0x200) + good[8:],
        # the first chunk claims to belong to part 1
        "wrong part": good[:first_chunk] + struct.pack("<i", 1) + good[first_chunk + 4:],
        # its scanline number lies outside the image
        "bad row": good[:first_chunk + 4] + struct.pack("<i", 99) + good[first_chunk + 8:],
    }
    for why, data in broken.items():
        (tmp_path / "b.exr").write_bytes(data)
        with pytest.raises(exr.ExrError):
            exr.read_exr(tmp_path / "b.exr")
            pytest.fail(why)
