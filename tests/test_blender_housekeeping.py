"""The add-on as an artist lives in it (issue 16, items 11-13), in real bpy on every tested release,
against a fake backend that answers at once:

11. The installer's downloads wait for Blender's online access: with it off, one line says where
    to allow it, and nothing is started (no process, no connection).
12. Path settings take Blender's "//" paths and resolve them against the saved .blend; in a file
    never saved, a "//" path gets one line instead of a guess.
13. Job folders: a finished job leaves only what the scene still reads from disk (nothing, as the
    result is packed), a cancelled one leaves nothing; "Clean Up Old Jobs" frees the bytes its
    button shows, never touches what is not the add-on's, and the open scene's images still load.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from tests.blender_versions import BLENDERS, blender_id  # noqa: E402
from tests.test_blender_addon import ADDON_SESSION, FAKE_BACKEND_HEAD, FAKE_OUT_FILES, run_bpy  # noqa: E402

pytestmark = pytest.mark.blender

RED = (220, 30, 30)

# A backend with nothing to compute, writing what the real one writes into a job folder: events.jsonl,
# work/, a checkpoint (.out.resume/) while it runs, then out/ sealed with the backend's marker.
# The photo's name picks what it does: cancel* waits to be cancelled, fail* fails as bad input does.
FAKE_BACKEND = FAKE_BACKEND_HEAD + r'''
(job / "work").mkdir(exist_ok=True)
(job / "work" / "scratch.bin").write_bytes(os.urandom(200_000))
resume = job / ".out.resume"
resume.mkdir(exist_ok=True)
(resume / "views.npz").write_bytes(os.urandom(300_000))
event("stage", "Synthesizing views", stage="views", index=1, total=2)
if photo.startswith("fail"):
    event("error", "no person found in " + photo + ": crop the photo to the person", exit_code=2)
    sys.exit(2)
if photo.startswith("cancel"):
    time.sleep(60)
''' + FAKE_OUT_FILES + r'''
(out / "avatar.glb").write_bytes(os.urandom(100_000))
result = {{"views": [{{"name": "az+180_el+00", "azimuth_deg": 180.0, "elevation_deg": 0.0}}]}}
result["output"] = {{"made_by": "photo-digitize", "files": sorted(["result.json", *os.listdir(out)])}}
(out / "result.json").write_text(json.dumps(result))
for f in resume.iterdir():  # a finished run removes its checkpoint
    f.unlink()
resume.rmdir()
event("result", "fake result", out=str(out))
'''

COMMON = ADDON_SESSION + """
import json, os, time
import numpy as np
from blender_addon import prefs as prefs_module
tmp = Path(sys.argv[1])
prefs.backend_python = sys.argv[2]
prefs.jobs_dir = str(tmp / "jobs")
report = {}

def save_report():
    (tmp / "report.json").write_text(json.dumps(report))

def files_under(folder):
    folder = Path(folder)
    if not folder.exists():
        return None
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir() or p.is_symlink())

def bytes_under(folder):
    return sum(p.lstat().st_size for p in Path(folder).rglob("*") if p.is_file() or p.is_symlink())

def shown_image(obj):
    bsdf = next(n for n in obj.active_material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    return bsdf.inputs["Base Color"].links[0].from_node.image

def mean_rgb(image):
    # Loads the pixels (from the packed copy, or the file): what the viewport would show.
    px = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(px)
    return [round(float(c), 3) for c in px.reshape(-1, 4)[:, :3].mean(0)] if len(px) else None

def digitize(photo, **kw):
    scene.digitize.photo_path = str(photo)
    job_runner.LAST = None
    try:
        ret = sorted(bpy.ops.digitize.from_photo(**kw))
        error = bpy.context.window_manager.digitize_job.last_error
    except RuntimeError as e:  # an ERROR report (wait=False): the message is the exception's
        ret, error = ["ERROR"], str(e)
    job = job_runner.LAST
    return {"ret": ret, "error": error, "job_dir": str(job.job_dir) if job else None}
"""


@pytest.fixture
def setup(tmp_path):
    """(user folder, argv): a fake backend and photos named for what the fake does."""
    from PIL import Image

    texture = tmp_path / "red.png"
    Image.new("RGB", (16, 16), RED).save(texture)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("person", "cancel", "fail"):
        Image.new("RGB", (16, 16), (90, 90, 90)).save(photos / f"{name}.png")
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_BACKEND.format(python=sys.executable, texture=str(texture)))
    fake.chmod(0o755)
    user = tmp_path / "blender_user"
    user.mkdir()
    return user, (str(tmp_path), str(fake))


def _run(script, setup, tmp_path, blender, *extra) -> tuple[dict, str]:
    user, args = setup
    stdout = run_bpy(COMMON + script, user, *args, *extra, timeout=180, blender=blender)
    return json.loads((tmp_path / "report.json").read_text()), stdout


def _is_red(rgb) -> bool:
    return rgb is not None and rgb[0] > 0.7 and rgb[1] < 0.2


# --- 11: online access ------------------------------------------------------------------------

ONLINE = """
import socket
from blender_addon import job_client, paths
fake_root = tmp / "fake_root"
fake_root.mkdir()
ran = tmp / "installer_ran.txt"
(fake_root / "install_deps.py").write_text(f"import sys; open({str(ran)!r}, 'w').write(' '.join(sys.argv[1:]))")
paths.backend_root = lambda: fake_root
paths.install_venv_dir = lambda: fake_root / "venv"
started, connections = [], []
_start, _connect = job_client.BackendProcess.start, socket.socket.connect
job_client.BackendProcess.start = lambda self: (started.append(self.argv), _start(self))[1]
socket.socket.connect = lambda self, address: (connections.append(str(address)), _connect(self, address))[1]
try:
    bpy.context.preferences.system.use_online_access = False
    report["online_access_off"] = bpy.app.online_access
    report["offline"] = []
    for models in (False, True):
        try:
            bpy.ops.digitize.install_backend(models=models)  # the button: an ERROR report raises here
            error = None
        except RuntimeError as e:
            error = str(e)
        ret = sorted(bpy.ops.digitize.install_backend(models=models, wait=True))  # a script: no exception
        report["offline"].append({"error": error, "script_ret": ret, "box": list(prefs_module.INSTALLER.lines)})
    report["started_offline"], report["connections_offline"] = list(started), list(connections)
    report["ran_offline"] = ran.exists()
    bpy.context.preferences.system.use_online_access = True
    report["online_ret"] = sorted(bpy.ops.digitize.install_backend(models=True, wait=True))
    report["ran_online"] = ran.read_text() if ran.exists() else None
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_downloads_wait_for_online_access(setup, tmp_path, blender):
    r, stdout = _run(ONLINE, setup, tmp_path, blender)
    assert r["online_access_off"] is False
    for button, attempt in zip(("Install / Update Backend", "Download Models"), r["offline"], strict=True):
        message = attempt["error"].removeprefix("Error: ").strip()
        assert "\n" not in message, message  # one line, no traceback
        assert message.startswith(f"{button} needs the internet")
        assert "Edit > Preferences > System > Network > Allow Online Access" in message
        assert attempt["box"] == [message]  # the preferences show the same line under the buttons
        assert attempt["script_ret"] == ["CANCELLED"]
    assert "Traceback" not in stdout
    # Nothing reached for the network: no installer process, no connection, the installer never ran.
    assert r["started_offline"] == [] and r["connections_offline"] == [] and not r["ran_offline"]
    # Allowed again, the same button runs the installer (with --models).
    assert r["online_ret"] == ["FINISHED"] and "--models" in r["ran_online"]


# --- 12: "//" paths ----------------------------------------------------------------------------

RELATIVE = """
project = tmp / "project"
(project / "photos").mkdir(parents=True)
(project / "photos" / "person.png").write_bytes((tmp / "photos" / "person.png").read_bytes())
# A decoy where Blender's working folder would put "//photos/person.png" in an unsaved file.
(Path.cwd() / "photos").mkdir()
(Path.cwd() / "photos" / "person.png").write_bytes((tmp / "photos" / "person.png").read_bytes())
prefs.keep_job_folders = True  # to read job.json afterwards
try:
    report["unsaved"] = digitize("//photos/person.png")
    report["unsaved_thumbnail"] = scene.digitize.photo_image is not None
    report["unsaved_jobs"] = files_under(tmp / "jobs")
    bpy.ops.wm.save_as_mainfile(filepath=str(project / "scene.blend"))
    prefs.jobs_dir = "//jobs"
    scene.digitize.photo_path = ""
    report["saved"] = digitize("//photos/person.png", wait=True)
    job_dir = Path(report["saved"]["job_dir"])
    report["job_photo"] = json.loads((job_dir / "job.json").read_text())["photo"]
    report["thumbnail"] = bpy.path.abspath(scene.digitize.photo_image.filepath)
    report["export"] = sorted(bpy.ops.digitize.export(format="GLB", filepath="//export/person.glb"))
    props = {"photo_path": bpy.types.Scene.bl_rna.properties["digitize"].fixed_type.properties["photo_path"],
             "export filepath": bpy.ops.digitize.export.get_rna_type().properties["filepath"]}
    props.update({name: type(prefs).bl_rna.properties[name] for name in ("backend_python", "models_dir", "jobs_dir")})
    report["flags"] = {name: getattr(p, "is_path_supports_blend_relative", None) for name, p in props.items()}
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_blend_relative_paths_resolve_against_the_saved_file(setup, tmp_path, blender):
    r, stdout = _run(RELATIVE, setup, tmp_path, blender)
    project = tmp_path / "project"
    # Never saved: no folder for "//" to be relative to. One line, no job, no guess at the working folder.
    unsaved = r["unsaved"]
    assert unsaved["ret"] == ["ERROR"] and unsaved["job_dir"] is None, unsaved
    message = unsaved["error"].removeprefix("Error: ").strip()
    assert "\n" not in message and "//photos/person.png" in message and "not saved" in message, message
    assert not r["unsaved_thumbnail"] and r["unsaved_jobs"] is None
    assert "Traceback" not in stdout
    # Saved: the photo, the jobs folder, the thumbnail and the export all beside the .blend.
    assert r["saved"]["ret"] == ["FINISHED"], r["saved"]
    assert r["job_photo"] == str(project / "photos" / "person.png")
    assert r["saved"]["job_dir"].startswith(str(project / "jobs") + "/")
    assert r["thumbnail"] == str(project / "photos" / "person.png")
    assert r["export"] == ["FINISHED"] and (project / "export" / "person.glb").is_file()
    # Blender 4.5+ marks path properties that take "//" (4.2 has no such flag).
    expected = None if blender == "4.2.23" else True
    assert set(r["flags"].values()) == {expected}, r["flags"]


# --- 13: job folders ---------------------------------------------------------------------------

FINISHED = """
bpy.ops.ed.undo_push(message="before")  # background mode starts with undo off
try:
    report["digitize"] = digitize(tmp / "photos" / "person.png", wait=True)
    report["job_files"] = files_under(report["digitize"]["job_dir"])
    obj = scene.digitize.result_object
    image = shown_image(obj)
    report["packed"] = image.packed_file is not None
    report["shown"] = mean_rgb(image)
    name = image.name
    bpy.ops.ed.undo()
    report["after_undo"] = name in bpy.data.images
    bpy.ops.ed.redo()
    report["after_redo"] = mean_rgb(bpy.data.images[name])
    blend = tmp / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    report["reopened"] = mean_rgb(bpy.data.images[name])
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_a_finished_job_keeps_only_what_the_scene_uses(setup, tmp_path, blender):
    r, _ = _run(FINISHED, setup, tmp_path, blender)
    assert r["digitize"]["ret"] == ["FINISHED"], r["digitize"]
    # The scene reads nothing from the job folder (every image is packed), so nothing of it is left.
    assert r["packed"] and r["job_files"] is None, r["job_files"]
    assert list((tmp_path / "jobs").iterdir()) == []
    # The texture still shows: now, after Undo + Redo, and in the saved file opened again.
    assert _is_red(r["shown"]) and not r["after_undo"] and _is_red(r["after_redo"]) and _is_red(r["reopened"])


CANCELLED = """
try:
    started = digitize(tmp / "photos" / "cancel.png")
    job = job_runner.ACTIVE
    while job.stage == "" and time.monotonic() - job.started < 30:  # the backend is at work
        job_runner.tick()
        time.sleep(0.05)
    report["left_while_running"] = files_under(job.job_dir)
    bpy.ops.digitize.cancel()
    while job_runner.tick() is not None:
        time.sleep(0.05)
    report["state"] = job.state
    report["left"] = files_under(job.job_dir)
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_a_cancelled_job_leaves_nothing(setup, tmp_path, blender):
    r, _ = _run(CANCELLED, setup, tmp_path, blender)
    assert ".out.resume/views.npz" in r["left_while_running"]  # what a cancelled job used to leave
    assert r["state"] == "cancelled"
    assert r["left"] is None and list((tmp_path / "jobs").iterdir()) == []


CLEAN_UP = """
import fcntl
from blender_addon import cleanup_ops, job_cleanup
jobs = tmp / "jobs"
try:
    # Ended jobs of this session: a failed one (kept whole for Open Job Folder) and a finished one kept
    # whole ("Keep Job Folders"), whose texture the artist then unpacked to the job's out/texture.png.
    report["failed"] = digitize(tmp / "photos" / "fail.png", wait=True)
    prefs.keep_job_folders = True
    report["kept"] = digitize(tmp / "photos" / "person.png", wait=True)
    prefs.keep_job_folders = False
    texture = shown_image(scene.digitize.result_object)
    texture.unpack(method="USE_ORIGINAL")
    report["texture_file"] = bpy.path.abspath(texture.filepath)
    # A job folder an earlier version left (no marker), with the checkpoint of a cancelled run.
    old = jobs / "20240101-120000_old"
    (old / "out").mkdir(parents=True)
    (old / ".out.resume").mkdir()
    (old / "job.json").write_text(json.dumps({"version": 1, "command": "digitize", "photo": "/photos/old.jpg"}))
    (old / "events.jsonl").write_text("{}\\n")
    (old / "out" / "texture.png").write_bytes(os.urandom(50_000))
    (old / "out" / "result.json").write_text(json.dumps({"output": {"made_by": "photo-digitize",
                                                                     "files": ["result.json", "texture.png"]}}))
    (old / ".out.resume" / "views.npz").write_bytes(os.urandom(70_000))
    # A job of another Blender that is running now (the backend holds out/'s lock).
    running = jobs / "20240101-123000_running"
    running.mkdir()
    (running / ".photo_digitize_job").write_text(json.dumps({"made_by": "photo-digitize add-on"}))
    (running / "job.json").write_text(json.dumps({"version": 1, "command": "digitize", "photo": "/p.jpg"}))
    lock = open(running / ".out.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # What is not ours: a file and a folder of the user's, a job-like folder holding a photo of theirs,
    # our failed job's folder after they saved notes into it, and a job-like link to a folder of theirs.
    (jobs / "notes.txt").write_text("mine")
    (jobs / "renders").mkdir()
    (jobs / "renders" / "final.png").write_bytes(os.urandom(10_000))
    mine = jobs / "20240101-130000_mine"
    mine.mkdir()
    (mine / "job.json").write_text(json.dumps({"version": 1, "command": "digitize", "photo": "/p.jpg"}))
    (mine / "holiday.jpg").write_bytes(os.urandom(20_000))
    precious = tmp / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not lose")
    (jobs / "20240101-140000_link").symlink_to(precious, target_is_directory=True)
    report["before"] = {"jobs": files_under(jobs), "bytes": bytes_under(jobs)}

    bpy.ops.ed.undo_push(message="before cleaning")
    report["label"] = cleanup_ops.button_text()
    report["planned"] = cleanup_ops.current_plan().size
    report["ret"] = sorted(bpy.ops.digitize.clean_jobs())
    report["after"] = {"jobs": files_under(jobs), "bytes": bytes_under(jobs)}
    report["freed_words"] = job_cleanup.human_size(report["before"]["bytes"] - report["after"]["bytes"])
    report["precious"] = files_under(precious)
    report["running_kept"] = files_under(running)
    # Every image of the open scene still loads, read again from where it lives (file or packed copy).
    loads = {}
    for image in bpy.data.images:
        if image.source == "FILE":
            if image.packed_file is None:
                image.reload()
            loads[image.name] = mean_rgb(image)
    report["images"] = loads
    report["texture_packed"] = texture.packed_file is not None
    bpy.ops.ed.undo()
    bpy.ops.ed.redo()
    report["after_undo_redo"] = {name: mean_rgb(bpy.data.images[name]) for name in loads if name in bpy.data.images}
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_clean_up_old_jobs_frees_what_it_says_and_nothing_else(setup, tmp_path, blender):
    r, stdout = _run(CLEAN_UP, setup, tmp_path, blender)
    jobs = tmp_path / "jobs"
    assert r["failed"]["ret"] == ["CANCELLED"] and "no person found" in r["failed"]["error"]
    assert r["kept"]["ret"] == ["FINISHED"], r["kept"]
    failed, kept = (r[k]["job_dir"].removeprefix(str(jobs) + "/") for k in ("failed", "kept"))
    before = r["before"]["jobs"]
    assert f"{failed}/events.jsonl" in before and f"{kept}/out/avatar.glb" in before
    assert r["texture_file"] == str(jobs / kept / "out" / "texture.png") and not r["texture_packed"]

    assert r["ret"] == ["FINISHED"]
    # Exactly the bytes the button showed were freed, and the report says so.
    freed = r["before"]["bytes"] - r["after"]["bytes"]
    assert freed == r["planned"] > 0
    assert r["label"] == f"Clean Up Old Jobs ({r['freed_words']})"
    assert f"Freed {r['freed_words']} from 3 old job folders" in stdout, stdout[-2000:]
    # What is left: the texture the scene reads from disk, the running job, and everything of the user's.
    assert r["after"]["jobs"] == sorted([
        f"{kept}/out/texture.png", f"{kept}/.photo_digitize_job",
        "20240101-123000_running/.photo_digitize_job", "20240101-123000_running/job.json",
        "20240101-123000_running/.out.lock",
        "notes.txt", "renders/final.png", "20240101-130000_mine/job.json", "20240101-130000_mine/holiday.jpg",
        "20240101-140000_link",
    ]), r["after"]["jobs"]
    assert r["precious"] == ["thesis.txt"]
    # The scene's images all load (the unpacked texture from the file that was kept), after Undo/Redo too.
    assert r["images"] and all(rgb is not None for rgb in r["images"].values()), r["images"]
    texture_name = next(name for name in r["images"] if name.endswith("_texture"))
    assert _is_red(r["images"][texture_name]) and _is_red(r["after_undo_redo"][texture_name])
