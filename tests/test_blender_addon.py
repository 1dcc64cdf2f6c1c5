"""Blender add-on skeleton: registration, manifest, extension build + install.

Everything that imports ``bpy`` runs in a subprocess (``sys.executable -c ...``) with the Blender
user folders pointed at tmp_path, so tests stay independent, ``bpy`` never shares a process with
torch, and the real user's Blender configuration is never touched. The pytest process only loads
standard-library modules (tools/build_extension.py, Blender's stand-alone blender_ext.py).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.blender_versions import BLENDERS, blender_env, blender_id

if importlib.util.find_spec("bpy") is None:  # like pytest.importorskip("bpy"), without importing it here
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parent.parent
PANEL = "VIEW3D_PT_photo_digitize"
EXT_MODULE = "bl_ext.user_default.photo_digitize"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses/NamedTuples look their module up
    spec.loader.exec_module(module)
    return module


build_extension = _load("build_extension_under_test", ROOT / "tools" / "build_extension.py")


@pytest.fixture(scope="module")
def blender_ext():
    """Blender's own extension CLI module (what `blender --command extension` runs), stdlib only."""
    found = build_extension.find_bpy_builder()
    assert found is not None, "bpy is installed but bl_pkg/cli/blender_ext.py was not found in it"
    script, tags = found
    return _load("blender_ext_under_test", script), tags


# Prologue of every bpy subprocess: check the user folders really are the throwaway ones.
_PROLOGUE = """
import os, sys
sys.path.insert(0, {root!r})
import bpy
if bpy.app.version < (4, 5, 0):
    # bpy 4.2 as a Python module segfaults at interpreter exit once any class with a property
    # callback (update/get/set) was registered, even after unregistering it; Blender 4.5 and 5.0
    # do not. Leave before that teardown: registered first, this runs after the script's own
    # atexit handlers. An uncaught exception still exits 1; an early sys.exit() is caught by
    # run_bpy's end marker, which such a script never prints.
    import atexit
    _failed = []
    _excepthook = sys.excepthook
    sys.excepthook = lambda *a: (_failed.append(1), _excepthook(*a))
    atexit.register(lambda: (sys.stdout.flush(), sys.stderr.flush(), os._exit(1 if _failed else 0)))
_tmp = os.environ["BLENDER_USER_RESOURCES"]
for _kind in ("CONFIG", "SCRIPTS", "EXTENSIONS"):
    assert bpy.utils.user_resource(_kind).startswith(_tmp), (_kind, bpy.utils.user_resource(_kind))
"""


# The add-on registered in a bpy process as a script uses it (the scripting contract): unregistered at
# exit (a bpy-module process with registered operators hangs at exit otherwise), and Blender's timer
# loop driven as the event loop drives it, each tick timed. Scripts that start jobs begin with it.
ADDON_SESSION = """
import time
from pathlib import Path
import blender_addon
from blender_addon import job_runner
blender_addon.register()
import atexit
atexit.register(lambda: blender_addon.unregister() if hasattr(bpy.types.Scene, "digitize") else None)
prefs = bpy.context.preferences.addons["blender_addon"].preferences
scene = bpy.context.scene

def drive_timer():
    ticks = []
    assert bpy.app.timers.is_registered(job_runner.tick)
    while True:
        t0 = time.perf_counter()
        again = job_runner.tick()
        ticks.append((time.perf_counter() - t0) * 1000)
        if again is None:
            return ticks
        time.sleep(0.02)
"""


# A fake backend's first lines (a template for str.format: {python}, then the script's own fields):
# the job it was given, and `event()`, which says a JSON line as the real backend does (docs/job.md).
FAKE_BACKEND_HEAD = r'''#!{python}
import json, os, sys, time
from pathlib import Path
job = Path(sys.argv[5])
spec = json.loads((job / "job.json").read_text())
photo = Path(spec["photo"]).name
def event(kind, message, **kw):
    line = json.dumps({{"type": kind, "message": message, **kw}})
    print(line, flush=True)
    with open(job / "events.jsonl", "a") as fh:
        fh.write(line + "\n")
'''
# What it writes as its result (format field {texture}: a PNG to use as the texture and a view).
FAKE_OUT_FILES = r'''out = job / "out"
(out / "views").mkdir(parents=True)
(out / "mesh.obj").write_text("v -0.5 0 0\nv 0.5 0 0\nv 0.5 0 1.7\nv -0.5 0 1.7\n"
                              "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
(out / "texture.png").write_bytes(Path({texture!r}).read_bytes())
(out / "views" / "az+180_el+00.png").write_bytes(Path({texture!r}).read_bytes())
'''


_END = "--- end of the bpy script ---"  # printed last: a script that stopped early (sys.exit) lacks it


def bpy_process_env(user_dir: Path, blender: str | None = None) -> dict:
    """Environment for a bpy process: Blender's user folders in `user_dir` (the real user's
    configuration is never touched) and that Blender release (tests/blender_versions.py)."""
    env = blender_env(dict(os.environ), blender)
    env.update(
        BLENDER_USER_RESOURCES=str(user_dir),
        BLENDER_USER_CONFIG=str(user_dir / "config"),
        BLENDER_USER_SCRIPTS=str(user_dir / "scripts"),
        BLENDER_USER_EXTENSIONS=str(user_dir / "extensions"),
        XDG_CONFIG_HOME=str(user_dir / "xdg"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_bpy(code: str, user_dir: Path, *args: str, timeout: float = 60, blender: str | None = None) -> str:
    """Run code under the bpy interpreter in a fresh process with throwaway Blender user folders;
    `blender`: an older release's version (tests/blender_versions.py), None = the venv's bpy."""
    env = bpy_process_env(user_dir, blender)
    script = _PROLOGUE.format(root=str(ROOT)) + textwrap.dedent(code) + f"\nprint({_END!r}, flush=True)\n"
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=user_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"bpy subprocess failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    assert _END in proc.stdout, f"bpy script stopped before its end\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def user_dir(tmp_path):
    d = tmp_path / "blender_user"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    """Build (and validate, with Blender's validator) the extension zip once for this module."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_extension.py"), "--out", str(out), "--validate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success parsing TOML" in proc.stdout  # Blender's validator ran on the zip
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    path = out / f"{manifest['id']}-{manifest['version']}.zip"
    assert path.is_file()
    return path


# --- direct import from the repository -----------------------------------------------------------


def test_register_unregister_twice_leaves_nothing_behind(user_dir):
    out = run_bpy(
        f"""
        import blender_addon
        names = [cls.__name__ for cls in blender_addon.classes]
        assert {PANEL!r} in names
        for cycle in range(2):
            blender_addon.register()
            assert hasattr(bpy.types, {PANEL!r})
            assert hasattr(bpy.types.Scene, "digitize")
            panel = getattr(bpy.types, {PANEL!r})
            assert (panel.bl_space_type, panel.bl_region_type) == ("VIEW_3D", "UI")
            assert (panel.bl_category, panel.bl_label) == ("Digitize", "Digitize Human from Photo")
            blender_addon.unregister()
            leftovers = [n for n in names if hasattr(bpy.types, n)]
            assert not leftovers, leftovers
            assert not hasattr(bpy.types.Scene, "digitize")
            assert all(not c.is_registered for c in blender_addon.classes)
        print("OK")
        """,
        user_dir,
    )
    assert "OK" in out


def test_scene_settings_defaults_and_set(user_dir):
    out = run_bpy(
        """
        import blender_addon
        blender_addon.register()
        s = bpy.context.scene.digitize
        assert (s.photo_path, s.preset, s.seed, s.prompt) == ("", "fast", 0, ""), tuple(s.items())
        rna = s.bl_rna.properties
        assert rna["photo_path"].subtype == "FILE_PATH"
        assert {i.identifier for i in rna["preset"].enum_items} == {"fast", "quality"}
        s.photo_path = "//photos/person.jpg"
        s.preset = "quality"
        s.seed = 1234
        s.prompt = "denim jacket"
        s = bpy.context.scene.digitize
        assert (s.photo_path, s.preset, s.seed, s.prompt) == ("//photos/person.jpg", "quality", 1234, "denim jacket")
        try:
            s.preset = "nonsense"
        except TypeError:
            pass
        else:
            raise AssertionError("preset accepted an unknown value")
        blender_addon.unregister()
        print("OK")
        """,
        user_dir,
    )
    assert "OK" in out


def test_panel_draws_settings_buttons_and_job_status(user_dir):
    # No window in background mode, so call draw() with a recording stand-in for UILayout.
    out = run_bpy(
        f"""
        import types
        import blender_addon
        from blender_addon import job_runner
        blender_addon.register()

        class Layout:
            def __init__(self, log):
                self.log, self.enabled = log, True
                self.use_property_split = self.use_property_decorate = False
            def prop(self, data, name, **kw):
                self.log.append(("prop", name, self.enabled))
            def label(self, text="", **kw):
                self.log.append(("label", text, self.enabled))
            def operator(self, idname, text="", **kw):
                self.log.append(("operator", idname, self.enabled))
                return types.SimpleNamespace()
            def progress(self, factor=0.0, type="BAR", text=""):
                self.log.append(("progress", factor, self.enabled))
            def template_icon(self, icon_value=0, scale=1.0):
                self.log.append(("icon", icon_value, self.enabled))
            def separator(self, **kw):
                pass
            def row(self, **kw):
                return Layout(self.log)
            column = box = row

        def draw():
            log = []
            panel = getattr(bpy.types, {PANEL!r})
            panel.draw(types.SimpleNamespace(layout=Layout(log)), bpy.context)
            return log

        log = draw()
        props = [name for kind, name, _ in log if kind == "prop"]
        assert props[0] == "photo_path", log
        assert {{"preset", "seed", "height_m", "prompt"}} <= set(props), log
        # (without the diffusion models the Prompt's reason comes with a Download Models button: not counted here)
        ops = [name for kind, name, _ in log if kind == "operator" and name != "digitize.install_backend"]
        assert ops[:5] == ["digitize.from_photo", "digitize.reconstruct_shape", "digitize.retexture_selected",
                           "digitize.export", "digitize.export"], ops
        assert not any(kind == "progress" for kind, *_ in log)

        # While a job runs: stage, progress bar and Cancel; the action buttons are disabled.
        status = bpy.context.window_manager.digitize_job
        status.kind, status.stage, status.progress = "digitize", "fusion", 0.75
        job_runner.ACTIVE = types.SimpleNamespace(over=False)
        try:
            log = draw()
        finally:
            job_runner.ACTIVE = None
        assert ("progress", 0.75, True) in [(k, round(v, 2) if k == "progress" else v, e) for k, v, e in log], log
        assert any(kind == "label" and "fusion" in text for kind, text, _ in log), log
        assert ("operator", "digitize.cancel", True) in log, log
        assert ("operator", "digitize.from_photo", False) in log, log

        # After a failure the panel shows the backend's message.
        status.last_error = "the photo is not an image"
        log = draw()
        assert any(kind == "label" and text == "the photo is not an image" for kind, text, _ in log), log
        blender_addon.unregister()
        print("OK")
        """,
        user_dir,
    )
    assert "OK" in out


def test_preferences_follow_the_package_in_both_modes(user_dir):
    out = run_bpy(
        """
        import blender_addon
        from blender_addon import prefs
        assert prefs.DIGITIZE_AP_preferences.bl_idname == "blender_addon"
        assert "blender_addon" not in bpy.context.preferences.addons
        blender_addon.register()
        p = bpy.context.preferences.addons["blender_addon"].preferences
        assert (p.device, p.default_preset, round(p.default_height_m, 3)) == ("auto", "fast", 1.7)
        assert {i.identifier for i in p.bl_rna.properties["device"].enum_items} == {"auto", "cpu", "cuda"}
        # The scene's preset and height follow the preferences until the scene sets its own.
        s = bpy.context.scene.digitize
        p.default_preset, p.default_height_m = "quality", 1.85
        assert (s.preset, round(s.height_m, 3)) == ("quality", 1.85)
        s.preset, s.height_m = "fast", 1.6
        p.default_preset, p.default_height_m = "quality", 1.9
        assert (s.preset, round(s.height_m, 3)) == ("fast", 1.6)
        # From a checkout the backend's Python is found in <repo>/.venv.
        assert p.backend_python == ""
        found = prefs.backend_python()
        assert found.endswith(os.path.join(".venv", "bin", "python")), found
        assert os.path.isfile(found)
        p.backend_python = sys.executable
        assert prefs.backend_python() == sys.executable
        blender_addon.unregister()
        assert "blender_addon" not in bpy.context.preferences.addons  # the entry register() made is gone
        print("OK")
        """,
        user_dir,
    )
    assert "OK" in out


def test_addon_import_stays_light(user_dir):
    out = run_bpy(
        """
        before = set(sys.modules)
        import blender_addon
        blender_addon.register()
        new = {m.split(".")[0] for m in set(sys.modules) - before}
        heavy = new & {"torch", "numpy", "cv2", "scipy", "trimesh", "PIL", "backend"}
        assert not heavy, heavy
        blender_addon.unregister()
        print("OK")
        """,
        user_dir,
    )
    assert "OK" in out


def test_mesh_arrays_go_straight_into_blenders_attributes(user_dir):
    """mesh_data writes positions and corner vertices into the attributes that hold them (the fast
    path that keeps the mesh's timer tick short), and the mesh comes out as given, seams and all."""
    out = run_bpy(
        """
        import numpy as np
        import bpy
        from blender_addon import mesh_data

        calls = []
        original = mesh_data._fill
        def spy(me, attribute, field, values, collection, prop):
            attr = me.attributes.get(attribute)
            calls.append((attribute, attr is not None and len(attr.data) == len(collection)))
            original(me, attribute, field, values, collection, prop)
        mesh_data._fill = spy
        verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]], np.float32)
        tris = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4], [0, 2, 1], [0, 3, 2]])
        uv = np.random.default_rng(0).uniform(size=(len(tris) * 3, 2)).astype(np.float32)
        me = mesh_data.mesh_from_triangles("m", verts, tris, uv)
        assert calls == [("position", True), (".corner_vert", True)], calls
        co = np.empty(len(verts) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        lv = np.empty(len(tris) * 3, np.int32)
        me.loops.foreach_get("vertex_index", lv)
        got_uv = np.empty(len(uv) * 2, np.float32)
        me.uv_layers[0].uv.foreach_get("vector", got_uv)
        assert np.allclose(co, verts.ravel()) and (lv == tris.ravel()).all() and np.allclose(got_uv, uv.ravel())
        assert len(me.edges) == 9 and not me.validate(verbose=False)  # edges made, nothing to repair
        print("OK")
        """,
        user_dir,
    )
    assert "OK" in out


def test_paths_find_backend_in_checkout():
    paths = _load("blender_addon_paths_under_test", ROOT / "blender_addon" / "paths.py")
    assert paths.BUNDLE_DIR == build_extension.BUNDLE_DIR
    assert paths.backend_root() == ROOT
    assert paths.user_data_dir() is None  # not an installed extension


# --- manifest -------------------------------------------------------------------------------------


def test_manifest_passes_blenders_validator(blender_ext, tmp_path):
    module, tags = blender_ext
    manifest_path = ROOT / "blender_manifest.toml"
    data = tomllib.loads(manifest_path.read_text())
    manifest = module.pkg_manifest_from_toml_and_validate_all_errors(str(manifest_path), strict=True)
    assert not isinstance(manifest, list), manifest  # a list holds the error messages
    assert manifest.id == "photo_digitize" and manifest.version == "0.1.0"
    assert manifest.type == "add-on" and manifest.blender_version_min == "4.2.0"
    assert manifest.license == ["SPDX:GPL-3.0-or-later"]
    assert data["permissions"]["files"] and data["permissions"]["network"]
    assert len(manifest.tagline) < 64 and not manifest.tagline.endswith(".")
    if tags is not None:  # tags must be on Blender's list (what `blender --command extension` checks)
        valid = module.pkg_manifest_tags_load_valid_map(str(tags))
        assert module.pkg_manifest_tags_valid_or_error(valid, manifest.type, manifest.tags) is None

    # The validator does bite: a trailing period in the tagline is rejected.
    bad = tmp_path / "blender_manifest.toml"
    bad.write_text(manifest_path.read_text().replace(f'tagline = "{manifest.tagline}"', 'tagline = "Oops."'))
    errors = module.pkg_manifest_from_toml_and_validate_all_errors(str(bad), strict=True)
    assert isinstance(errors, list) and any("tagline" in e for e in errors), errors


# --- built extension ------------------------------------------------------------------------------


def test_built_zip_layout(built_zip):
    with zipfile.ZipFile(built_zip) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert {"blender_manifest.toml", "__init__.py", "ui.py", "paths.py", "prefs.py", "props.py", "operators.py",
            "job_client.py", "job_runner.py", "scene_result.py", "maps_render.py", "mesh_data.py", "obj_io.py",
            "exr.py", "cameras.py"} <= names
    assert manifest["version"] == "0.1.0" and built_zip.name == "photo_digitize-0.1.0.zip"
    bundle = "backend_bundle/"
    assert {bundle + "backend/__init__.py", bundle + "install_deps.py"} <= names
    assert any(n.startswith(bundle + "requirements/") and n.endswith(".txt") for n in names)
    parts = {p for n in names for p in n.split("/")[:-1]}
    assert not parts & {"__pycache__", ".venv", "tests", "blender_addon"}, parts
    assert not any(n.endswith(".pyc") for n in names)


# On every tested release: the zip is built with the newest Blender's builder, and the extension
# system (validate, install, enable, disable) is what users of each release go through.
@pytest.mark.parametrize("blender", BLENDERS, ids=blender_id)
def test_built_zip_installs_and_enables_as_extension(built_zip, user_dir, blender):
    out = run_bpy(
        f"""
        import importlib
        import bl_pkg
        zip_path = sys.argv[1]
        # The handler behind `blender --command extension validate` (applies Blender's tag list).
        assert bl_pkg.cli_extension(["validate", zip_path]) == 0
        result = bpy.ops.extensions.package_install_files(
            filepath=zip_path, repo="user_default", enable_on_install=True
        )
        assert result == {{"FINISHED"}}, result
        assert {EXT_MODULE!r} in bpy.context.preferences.addons
        panel = getattr(bpy.types, {PANEL!r})
        assert panel.__module__ == {EXT_MODULE!r} + ".ui", panel.__module__
        assert bpy.context.scene.digitize.preset == "fast"
        prefs = bpy.context.preferences.addons[{EXT_MODULE!r}].preferences
        assert type(prefs).bl_idname == {EXT_MODULE!r} and prefs.device == "auto"
        installed = os.path.join(bpy.utils.user_resource("EXTENSIONS"), "user_default", "photo_digitize")
        assert os.path.isfile(os.path.join(installed, "blender_manifest.toml"))

        paths = importlib.import_module({EXT_MODULE!r} + ".paths")
        root = paths.backend_root()
        assert root is not None and str(root) == os.path.join(installed, "backend_bundle"), root
        assert str(paths.user_data_dir()).startswith(os.environ["BLENDER_USER_RESOURCES"])
        # Installed: the install button targets <extension user folder>/venv; jobs go there too.
        assert str(paths.install_venv_dir()) == os.path.join(str(paths.user_data_dir()), "venv")
        assert str(paths.jobs_root()).startswith(str(paths.user_data_dir()))
        assert paths.default_backend_python() is None  # nothing installed in the throwaway folder

        # Without a backend environment the operators say so (and scripts get CANCELLED, not an exception).
        bpy.context.scene.digitize.photo_path = {str(ROOT / "samples" / "person.jpg")!r}
        assert bpy.ops.digitize.from_photo(wait=True) == {{"CANCELLED"}}
        assert "backend environment" in bpy.context.window_manager.digitize_job.last_error

        bpy.ops.preferences.addon_disable(module={EXT_MODULE!r})
        assert not hasattr(bpy.types, {PANEL!r})
        assert not hasattr(bpy.types.Scene, "digitize")
        print("OK")
        """,
        user_dir,
        str(built_zip),
        blender=blender,
    )
    assert "OK" in out


def test_zipfile_fallback_still_validates(tmp_path, monkeypatch, blender_ext):
    """Without Blender's builder the script zips by itself; Blender's validator still accepts the zip."""
    monkeypatch.delenv("BLENDER", raising=False)
    monkeypatch.setattr(build_extension, "find_bpy_builder", lambda: None)
    out = build_extension.build(tmp_path, validate=False)
    module, tags = blender_ext
    proc = subprocess.run(
        [sys.executable, module.__file__, "validate", f"--valid-tags={tags or ''}", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr


def test_install_button_streams_lines_without_blocking(user_dir):
    fake_root = user_dir / "fake_root"
    fake_root.mkdir()
    (fake_root / "install_deps.py").write_text(
        "import sys, time\n"
        "print('[install_deps] creating the environment', flush=True)\n"
        "time.sleep(0.5)\n"
        "print('[install_deps] args: ' + ' '.join(sys.argv[1:]), flush=True)\n"
    )
    out = run_bpy(
        """
        import time
        from pathlib import Path
        import blender_addon
        from blender_addon import prefs
        blender_addon.register()
        root = Path(sys.argv[1])
        prefs.INSTALLER.start(root, root / "venv")
        assert prefs.INSTALLER.running and bpy.app.timers.is_registered(prefs._install_tick)
        ticks = []
        while True:  # what Blender's timer loop would do
            t0 = time.perf_counter()
            again = prefs._install_tick()
            ticks.append(time.perf_counter() - t0)
            if again is None:
                break
            time.sleep(0.05)
        lines = prefs.INSTALLER.lines
        assert any("creating the environment" in line for line in lines), lines
        assert any("--venv " + str(root / "venv") in line for line in lines), lines
        assert lines[-1].startswith("Done"), lines
        assert max(ticks) < 0.02 and len(ticks) > 3, ticks
        blender_addon.unregister()
        assert not bpy.app.timers.is_registered(prefs._install_tick)
        print("OK")
        """,
        user_dir,
        str(fake_root),
    )
    assert "OK" in out
