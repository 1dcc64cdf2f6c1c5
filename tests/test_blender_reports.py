"""What the artist is told (issue 16, items 8-10), in real bpy on every tested release, against a fake
backend and a fake installer that answer at once:

8.  The backend's quality warnings reach the panel and the Info report in an artist's words, each
    with the button that fixes it, and never as a command line to run.
9.  Progress in words ("Painting the sides and back — 3 of 6 views"), not stage ids and losses; the
    Download Models size the docs give; the Prompt greyed out, with its reason, without the diffusion
    models; a bad Backend Python, a folder as the photo and an export folder that cannot be written
    each get one line, and the scene stays as it was.
10. The model installer shows its progress (preferences and status bar) and Cancel stops it, leaving
    no model folder that looks installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from tests.blender_versions import BLENDERS, blender_id  # noqa: E402
from tests.test_blender_addon import ADDON_SESSION, FAKE_BACKEND_HEAD, FAKE_OUT_FILES, run_bpy  # noqa: E402

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parent.parent

# What the real backend says (its words for the command line, and since issue 16 each warning's code).
WARNINGS = [
    ("diffusion_models_missing", "missing model weights for inpaint (stable-diffusion-v1-5/stable-diffusion-"
     "inpainting): looked in /home/a/.cache/photo-digitize/models/<role>/; get them once with `python3 "
     "install_deps.py --models`; until then the views the photo did not see are filled by the classical inpainter"),
    ("body_fit_failed", "no person's pose was found in the photo: no 3D body was fitted; the shape is the "
     "silhouette's inflation instead (a thin slab from the side)"),
    ("lpips_missing", "LPIPS backbone weights (alexnet-owt-7be5be79.pth) not found at /root/.cache/torch/hub"),
    ("lpips_missing", "used the substitute perceptual loss substitute-msgrad-ssim instead; `install_deps.py "
     "--models` will fetch the LPIPS backbone weights (or set PHOTO_DIGITIZE_LPIPS_BACKBONE)"),
    ("no_rig", "no rig: a rig needs the fitted 3D body, and this result is the outline's shape"),
    (None, "something new the add-on has no words for; run `python3 -m backend doctor` to see more"),
]
EXPECTED_NOTES = [
    ("The hidden sides were filled in smoothly, without new detail: the diffusion models are not downloaded yet. "
     "Download Models adds them (3.1 GB, once).", "models"),
    ("No 3D body could be fitted to this photo (no person's pose was found in the photo), so the shape is flat, "
     "made from the outline. A photo of the whole person, standing and facing the camera, works best.", ""),
    ("The views were blended into the texture with a simpler comparison: the LPIPS model is not downloaded yet. "
     "Download Models adds it.", "models"),
    ("No rig was added: a rig needs a 3D body fitted to the photo.", ""),
    ("Something new the add-on has no words for.", ""),
]

# A backend that computes nothing. It says what the real one says, in the real one's order (stages,
# views, fusion steps with their loss), and the photo's name picks the rest: warn* adds WARNINGS.
FAKE_BACKEND = FAKE_BACKEND_HEAD + r'''
stages = [("intake", "reading the photo and finding the person"), ("shape", "fitting the body"),
          ("uv", "unwrapping UVs (xatlas)"), ("raster", "rendering the views' maps"),
          ("back", "making the front and the initial back view"), ("views", "synthesizing 6 views"),
          ("fusion", "fusing the views into one texture"), ("export", "writing mesh, texture, GLB and preview")]
for i, (stage, what) in enumerate(stages, 1):
    event("stage", f"[{{i}}/8] {{what}} ...", stage=stage, index=i, total=8)
    if stage == "intake" and photo.startswith("warn"):
        for code, message in {warnings!r}:
            event("warning", message, **({{"code": code}} if code else {{}}))
    if stage == "views":
        for v in range(1, 7):
            event("progress", f"      view {{v}}/6 (az+045_el+00): classical, 31% new, 0.4 s", stage="views",
                  view="az+045_el+00", index=v, total=6)
            time.sleep(0.03)  # a view takes a while: the panel draws in between
    if stage == "fusion":
        for s in range(8, 41, 8):
            event("progress", f"      fusion step {{s}}/40, loss {{0.5 / s:.4f}}", stage="fusion", index=s, total=40)
    event("progress", f"[{{i}}/8] {{what}}: done in 0.1 s", stage=stage, seconds=0.1, fraction=i / 8)
''' + FAKE_OUT_FILES + r'''
(out / "avatar.glb").write_bytes(os.urandom(1000))
result = {{"views": [{{"name": "az+180_el+00", "azimuth_deg": 180.0, "elevation_deg": 0.0}}],
          "shape": {{"method": "silhouette"}},
          "fallbacks": [{{"part": "shape", "why": "no person's pose was found in the photo: no 3D body was fitted"}}]}}
result["output"] = {{"made_by": "photo-digitize", "files": sorted(["result.json", *os.listdir(out)])}}
(out / "result.json").write_text(json.dumps(result))
event("result", "done: " + str(out), out=str(out))
'''

# A Python that is not the backend's environment: what `python -m backend` says there.
NOT_THE_BACKEND = r'''#!/bin/sh
echo "Traceback (most recent call last):" >&2
echo "  File \"<frozen runpy>\", line 198, in _run_module_as_main" >&2
echo "ModuleNotFoundError: No module named 'numpy'" >&2
exit 1
'''

COMMON = ADDON_SESSION + """
import json, os, time, types
from blender_addon import model_files, prefs as prefs_module, status_bar
tmp = Path(sys.argv[1])
prefs.backend_python = sys.argv[2]
prefs.jobs_dir = str(tmp / "jobs")
prefs.models_dir = str(tmp / "models")  # empty: no diffusion models
(tmp / "models").mkdir(exist_ok=True)
status = bpy.context.window_manager.digitize_job
report = {}

def save_report():
    (tmp / "report.json").write_text(json.dumps(report))

class Layout:
    # A recording stand-in for UILayout (no window in background mode); `enabled` is inherited, as Blender's is.
    def __init__(self, log, parent=None):
        self.log, self.parent, self.enabled = log, parent, True
        self.use_property_split = self.use_property_decorate = False
    def active(self):
        return self.enabled and (self.parent is None or self.parent.active())
    def prop(self, data, name, **kw):
        self.log.append({"kind": "prop", "name": name, "enabled": self.active()})
    def label(self, text="", **kw):
        self.log.append({"kind": "label", "text": text, "enabled": self.active()})
    def operator(self, idname, text="", **kw):
        op = types.SimpleNamespace()
        self.log.append({"kind": "operator", "name": idname, "text": text, "enabled": self.active(), "op": op})
        return op
    def progress(self, factor=0.0, type="BAR", text=""):
        self.log.append({"kind": "progress", "factor": factor, "text": text, "enabled": self.active()})
    def template_icon(self, **kw):
        pass
    def separator(self, **kw):
        pass
    def row(self, **kw):
        return Layout(self.log, self)
    column = box = row

def plain(log):
    # The operator's properties as set by draw() (e.g. models=True), JSON-friendly.
    return [{**e, "op": vars(e["op"])} if "op" in e else e for e in log]

def draw_panel():
    log = []
    bpy.types.VIEW3D_PT_photo_digitize.draw(types.SimpleNamespace(layout=Layout(log)), bpy.context)
    return plain(log)

class PrefsView:
    def __init__(self, layout):
        self.layout = layout
    def __getattr__(self, name):
        return getattr(prefs, name)

def draw_prefs():
    log = []
    type(prefs).draw(PrefsView(Layout(log)), bpy.context)
    return plain(log)

def draw_status_bar():
    log = []
    status_bar.draw(types.SimpleNamespace(layout=Layout(log)), bpy.context)
    return plain(log)

def until_done(job):
    while job_runner.tick() is not None:
        time.sleep(0.02)
"""


@pytest.fixture
def setup(tmp_path):
    """(user folder, argv): a fake backend and photos named for what it does."""
    from PIL import Image

    texture = tmp_path / "red.png"
    Image.new("RGB", (16, 16), (220, 30, 30)).save(texture)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("person", "warn"):
        Image.new("RGB", (16, 16), (90, 90, 90)).save(photos / f"{name}.png")
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_BACKEND.format(python=sys.executable, texture=str(texture), warnings=WARNINGS))
    fake.chmod(0o755)
    user = tmp_path / "blender_user"
    user.mkdir()
    return user, (str(tmp_path), str(fake))


def _run(script, setup, tmp_path, blender) -> tuple[dict, str]:
    user, args = setup
    stdout = run_bpy(COMMON + script, user, *args, timeout=180, blender=blender)
    return json.loads((tmp_path / "report.json").read_text()), stdout


def _labels(log) -> list[str]:
    return [e["text"] for e in log if e["kind"] == "label"]


def _panel_text(log) -> str:
    """The panel's words, wrapped lines joined again."""
    return " ".join(t for t in _labels(log) if t)


# --- 8: the backend's warnings --------------------------------------------------------------------

WARNED = """
try:
    scene.digitize.photo_path = str(tmp / "photos" / "warn.png")
    # A script (wait=True): the operator's own reports.
    ret = sorted(bpy.ops.digitize.from_photo(wait=True))
    report["blocking"] = {"ret": ret, "notes": [[n.text, n.fix] for n in status.notes], "panel": draw_panel()}
    # The button (wait=False): the timer's reports, what the status bar and the Info editor show.
    reports = []
    job_runner.report = lambda level, message: reports.append([level, message])
    bpy.ops.digitize.from_photo()
    until_done(job_runner.ACTIVE)
    report["timer"] = {"notes": [[n.text, n.fix] for n in status.notes], "reports": reports, "panel": draw_panel()}
    # The next job starts with a clean slate: no warnings of the last one.
    scene.digitize.photo_path = str(tmp / "photos" / "person.png")
    bpy.ops.digitize.from_photo(wait=True)
    report["next_notes"] = len(status.notes)
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_backend_warnings_reach_the_panel_and_the_info_report_in_an_artists_words(setup, tmp_path, blender):
    r, stdout = _run(WARNED, setup, tmp_path, blender)
    expected = [list(n) for n in EXPECTED_NOTES]
    assert r["blocking"]["ret"] == ["FINISHED"]
    assert r["blocking"]["notes"] == expected  # one note per warning code, in the order they came
    assert r["timer"]["notes"] == expected
    # The Info report: the result (which shape ran) then each note, as a WARNING.
    levels = [level for level, _ in r["timer"]["reports"]]
    assert levels == ["INFO"] + ["WARNING"] * len(expected), r["timer"]["reports"]
    assert "flat shape from the outline (no 3D body)" in r["timer"]["reports"][0][1]
    assert [m for _, m in r["timer"]["reports"][1:]] == [text for text, _ in expected]
    for text, _ in expected:  # the script's own reports (bpy prints them in background mode)
        assert text in stdout.replace("\n", " ")
    for panel in (r["blocking"]["panel"], r["timer"]["panel"]):
        words = _panel_text(panel)
        assert "flat shape from the outline (no 3D body)" in words  # which shape path ran
        for text, _ in expected:
            assert text in words, (text, words)
        # No command line for the artist to run.
        assert not re.search(r"`|install_deps|python|--\w", words), words
        # The one button that fixes both model warnings (and the Prompt's reason): Download Models.
        fixes = [e for e in panel if e["kind"] == "operator" and e["name"] == "digitize.install_backend"]
        assert fixes and all(e["op"] == {"models": True} and e["text"] == "Download Models (3.1 GB)" for e in fixes)
    assert r["next_notes"] == 0


# --- 9: progress words, the download size, the Prompt, bad input -----------------------------------

PROGRESS = """
try:
    seen, shown = [], []
    handle = job_runner.handle_events
    def spy(job, events):  # what the status says after each event the backend sent
        for e in events:
            handle(job, [e])
            if not seen or seen[-1] != job.message:
                seen.append(job.message)
    job_runner.handle_events = spy
    scene.digitize.photo_path = str(tmp / "photos" / "person.png")
    bpy.ops.digitize.from_photo()
    job = job_runner.ACTIVE
    while job_runner.tick() is not None:
        if job_runner.running():
            shown.append([_ for _ in (draw_panel(), draw_status_bar())])
        time.sleep(0.01)
    report["seen"] = seen
    report["while_running"] = shown
    report["prefs"] = draw_prefs()
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_progress_is_told_in_words_and_the_download_size_is_the_docs(setup, tmp_path, blender):
    r, _ = _run(PROGRESS, setup, tmp_path, blender)
    seen = r["seen"]
    for words in ("Finding the person in the photo", "Shaping the body", "Painting the back",
                  "Painting the sides and back — 3 of 6 views", "Painting the sides and back — 6 of 6 views",
                  "Blending the views into one texture — 20%", "Saving the result"):
        assert words in seen, (words, seen)
    for message in seen:  # no stage ids, log lines or losses
        assert not re.search(r"loss|fusion step|\[\d|az[+-]\d|^(views|fusion|raster|uv)$|done in", message), message
    # The panel (a bar and the words) and the status bar (a bar with the words) while it runs.
    shown = r["while_running"]
    assert shown and all(any(e["kind"] == "progress" for e in panel) for panel, _ in shown)
    assert any(t in seen and t.startswith("Painting") for panel, _ in shown for t in _labels(panel)), shown
    assert all(e["text"] in [*seen, "Starting", "Loading the result"]
               for _, bar in shown for e in bar if e["kind"] == "progress"), shown
    # The Download Models button says the size docs/models.md gives for what it downloads.
    docs = (ROOT / "docs" / "models.md").read_text()
    size = re.search(r"install_deps\.py --models +# the default roles \+ the LPIPS backbone \(≈ ([\d.]+ GB)\)", docs)
    labels = [e["text"] for e in r["prefs"] if e["kind"] == "operator" and e["name"] == "digitize.install_backend"]
    assert size and f"Download Models ({size[1]})" in labels, labels
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"install_deps\.py --models`, about {re.escape(size[1])}", readme)


PROMPT = """
try:
    model_files.RECHECK_S = 0  # the test changes the disk between two draws
    report["without"] = draw_panel()
    models = tmp / "models"
    (models / "inpaint").mkdir()
    (models / "inpaint" / "model_index.json").write_text("{}")
    (models / "controlnet_normal").mkdir()
    (models / "controlnet_normal" / "config.json").write_text("{}")
    report["with"] = draw_panel()
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_the_prompt_is_disabled_with_its_reason_without_the_diffusion_models(setup, tmp_path, blender):
    r, _ = _run(PROMPT, setup, tmp_path, blender)
    prompt = [e for e in r["without"] if e["kind"] == "prop" and e["name"] == "prompt"]
    assert prompt and not prompt[0]["enabled"]
    assert "The prompt needs the diffusion models:" in _labels(r["without"])
    assert any(e["kind"] == "operator" and e["op"] == {"models": True} for e in r["without"])
    prompt = [e for e in r["with"] if e["kind"] == "prop" and e["name"] == "prompt"]
    assert prompt and prompt[0]["enabled"]
    assert "The prompt needs the diffusion models:" not in _labels(r["with"])
    assert not any(e["kind"] == "operator" and e["name"] == "digitize.install_backend" for e in r["with"])


BAD_INPUT = """
import fcntl
def state():
    return {"objects": sorted(o.name for o in bpy.data.objects), "meshes": len(bpy.data.meshes),
            "images": sorted(i.name for i in bpy.data.images), "materials": len(bpy.data.materials),
            "collections": sorted(c.name for c in bpy.data.collections),
            "selected": sorted(o.name for o in bpy.context.view_layer.objects if o.select_get()),
            "active": getattr(bpy.context.view_layer.objects.active, "name", None)}

def attempt(call):
    # The button's report (an ERROR raises for a Python caller) and a script's (wait=True: no exception).
    job_runner.LAST = None
    status.last_error = ""
    try:
        ret, message = sorted(call()), None
    except RuntimeError as e:
        ret, message = ["ERROR"], str(e).removeprefix("Error: ").strip()
    job = job_runner.LAST or job_runner.ACTIVE
    if job is not None and not job.over:
        until_done(job)
    message = message or status.last_error
    return {"ret": ret, "message": message}

try:
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    bpy.ops.ed.undo_push(message="the artist's scene")
    photo = tmp / "photos" / "person.png"
    scene.digitize.photo_path = str(photo)  # loads the panel's thumbnail (an image), as choosing it does
    before = state()
    cases = {}
    # Backend Python: missing, a folder, a file that is no program, a Python without the backend.
    for name, value in (("missing", str(tmp / "nowhere" / "python")), ("folder", str(tmp)),
                        ("not_a_program", str(photo)), ("not_the_backend", sys.argv[3])):
        prefs.backend_python = value
        cases["python_" + name] = attempt(lambda: bpy.ops.digitize.from_photo())
        cases["python_" + name + "_script"] = attempt(lambda: bpy.ops.digitize.from_photo(wait=True))
    prefs.backend_python = sys.argv[2]
    # A folder chosen as the photo.
    scene.digitize.photo_path = str(tmp / "photos")
    cases["photo_folder"] = attempt(lambda: bpy.ops.digitize.from_photo())
    cases["photo_folder_script"] = attempt(lambda: bpy.ops.digitize.from_photo(wait=True))
    # Export: a folder that cannot be written, and a folder given as the file.
    cube.select_set(True)
    bpy.context.view_layer.objects.active = cube
    after_jobs = state()
    cases["export_unwritable"] = attempt(lambda: bpy.ops.digitize.export(format="GLB", filepath=sys.argv[4]))
    cases["export_fbx_unwritable"] = attempt(lambda: bpy.ops.digitize.export(format="FBX", filepath=sys.argv[4]))
    cases["export_folder"] = attempt(lambda: bpy.ops.digitize.export(format="GLB", filepath=str(tmp) + os.sep))
    report["cases"] = cases
    report["before"], report["after_jobs"], report["after"] = before, after_jobs, state()
    report["jobs"] = sorted(os.listdir(tmp / "jobs")) if (tmp / "jobs").exists() else []
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_bad_input_gets_one_line_and_leaves_the_scene_alone(setup, tmp_path, blender):
    user, (tmp, fake) = setup
    wrong = tmp_path / "system_python"
    wrong.write_text(NOT_THE_BACKEND)
    wrong.chmod(0o755)
    if os.geteuid() == 0:  # root writes through permissions: a folder of the kernel's refuses even root
        unwritable = Path("/sys/kernel/person.glb")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        unwritable = locked / "person.glb"
    stdout = run_bpy(COMMON + BAD_INPUT, user, tmp, fake, str(wrong), str(unwritable), timeout=180, blender=blender)
    r = json.loads((tmp_path / "report.json").read_text())
    cases = r["cases"]
    expect = {
        "python_missing": ["Backend Python", "does not exist", "clear the field"],
        "python_folder": ["Backend Python", "is a folder", "venv/bin/python"],
        "python_not_a_program": ["Backend Python", "is not a program"],
        "python_not_the_backend": ["did not run the backend", "No module named 'numpy'", "Install / Update Backend"],
        "photo_folder": ["The photo is a folder", "choose an image file"],
        "export_unwritable": [f"Cannot export to {unwritable.parent}", "choose another folder"],
        "export_fbx_unwritable": [f"Cannot export to {unwritable.parent}"],
        "export_folder": ["The export path is a folder", "add a file name"],
    }
    for name, words in expect.items():
        for case in (name, name + "_script"):
            if case not in cases:
                continue
            got = cases[case]
            started = case == "python_not_the_backend"  # the button starts it; the timer reports its failure
            assert got["ret"] in ([["FINISHED"]] if started else [["ERROR"], ["CANCELLED"]]), (case, got)
            message = got["message"]
            assert message and "\n" not in message and "Traceback" not in message, (case, message)
            for w in words:
                assert w in message, (case, w, message)
    assert "Traceback" not in stdout
    # Nothing in the scene changed; no job folder was left by the jobs that could not start.
    assert r["before"] == r["after_jobs"]
    assert r["after"]["objects"] == r["before"]["objects"] and r["after"]["meshes"] == r["before"]["meshes"]
    assert r["after"]["selected"] == r["after_jobs"]["selected"]
    assert r["jobs"] == [] or all("person" in j for j in r["jobs"])  # only the failed "not the backend" runs


# --- 10: the model installer's progress and Cancel ---------------------------------------------------

# install_deps.py --models as the add-on starts it, with the real downloader behind a slow hub on disk.
FAKE_INSTALLER = r'''
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from backend.models import download, registry
from backend.models.download import RemoteFile, file_digests
from backend.models.registry import MODEL, ModelRole

args = sys.argv[1:]
models_dir = args[args.index("--models-dir") + 1]
print("[install_deps] environment is up to date: " + args[args.index("--venv") + 1], flush=True)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROLE = ModelRole("controlnet_normal", MODEL, "someone/tiny-controlnet", "a test model", "MIT", True, revision=COMMIT)
repo = Path({repo!r})

class SlowHub:
    def files(self, repo_id, revision):
        out = {{}}
        for p in repo.iterdir():
            sha, blob = file_digests(p)
            large = p.name.endswith(".safetensors")
            out[p.name] = RemoteFile(p.name, p.stat().st_size, sha if large else None, None if large else blob)
        return COMMIT, out
    def fetch(self, repo_id, commit, names, dest):  # a slow network
        for name in names:
            data = (repo / name).read_bytes()
            with open(dest / name, "wb") as fh:
                for i in range(0, len(data), 2048):
                    fh.write(data[i:i + 2048])
                    fh.flush()
                    time.sleep(0.05)

download.HUB = SlowHub()
download.check_network = lambda url: None
download.PROGRESS_EVERY_S = 0.1
registry.ROLES[ROLE.key] = ROLE
sys.exit(download.main(["--models-dir", models_dir, "--roles", ROLE.key, "--no-lpips"]))
'''

INSTALL = """
from blender_addon import paths
fake_root = tmp / "fake_root"
bpy.context.preferences.system.use_online_access = True
paths.backend_root = lambda: fake_root
paths.install_venv_dir = lambda: fake_root / "venv"
installer = prefs_module.INSTALLER
try:
    report["start"] = sorted(bpy.ops.digitize.install_backend(models=True))
    ticks, t0 = [], time.monotonic()
    while (installer.fraction or 0) < 0.25 and time.monotonic() - t0 < 60:
        t = time.perf_counter()
        prefs_module._install_tick()
        ticks.append(time.perf_counter() - t)
        time.sleep(0.05)
    report["activity"], report["fraction"] = installer.activity, installer.fraction
    report["prefs"], report["status_bar"] = draw_prefs(), draw_status_bar()
    report["cancel"] = sorted(bpy.ops.digitize.cancel_install())
    t0 = time.monotonic()
    while prefs_module._install_tick() is not None and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    report["stopped_in_s"] = time.monotonic() - t0
    report["pid"], report["returncode"] = installer.process.pid, installer.process.returncode
    report["after"] = {"activity": installer.activity, "lines": installer.lines, "prefs": draw_prefs(),
                       "status_bar": draw_status_bar()}
    report["max_tick_s"] = max(ticks)
finally:
    save_report()
"""


@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_the_model_installer_shows_progress_and_cancel_installs_nothing(setup, tmp_path, blender):
    user, args = setup
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "config.json").write_text('{"_class_name": "ControlNetModel"}')
    (hub / "diffusion_pytorch_model.fp16.safetensors").write_bytes(os.urandom(200_000))
    fake_root = tmp_path / "fake_root"
    fake_root.mkdir()
    (fake_root / "install_deps.py").write_text(FAKE_INSTALLER.format(root=str(ROOT), repo=str(hub)))
    run_bpy(COMMON + INSTALL, user, *args, timeout=180, blender=blender)
    r = json.loads((tmp_path / "report.json").read_text())
    assert r["start"] == ["FINISHED"]
    # Progress, measured from the downloader's own lines, in the preferences and the status bar.
    assert 0.25 <= r["fraction"] < 1, r
    assert re.fullmatch(r"Downloading the shape guide — \d+% \(\d+ KB of 200 KB\)", r["activity"]), r["activity"]
    bars = [e for e in r["prefs"] if e["kind"] == "progress"]
    assert bars and bars[0]["text"] == r["activity"] and bars[0]["factor"] == r["fraction"]
    assert any(e["kind"] == "operator" and e["name"] == "digitize.cancel_install" and e["enabled"] for e in r["prefs"])
    assert [e["text"] for e in r["status_bar"] if e["kind"] == "progress"] == [r["activity"]]
    assert r["max_tick_s"] < 0.05  # the timer never waits on the installer
    # Cancel: stopped at once, the process gone, and no model folder that looks installed.
    assert r["cancel"] == ["FINISHED"] and r["stopped_in_s"] < 10
    assert r["returncode"] not in (0, None)
    with pytest.raises(ProcessLookupError):
        os.kill(r["pid"], 0)
    assert r["after"]["activity"].startswith("Cancelled. Nothing half-downloaded was installed")
    assert r["after"]["lines"][-1] == r["after"]["activity"]
    models = tmp_path / "models"
    assert not (models / "controlnet_normal").exists()
    assert [p.name for p in models.iterdir()] == [".downloading"]  # hidden: the next Download Models resumes it
    assert not any(e["kind"] == "progress" for e in r["after"]["prefs"] + r["after"]["status_bar"])
