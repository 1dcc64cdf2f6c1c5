"""The add-on's words for a result (blender_addon/result_words.py): which shape the artist got, and why."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _words():
    spec = importlib.util.spec_from_file_location("result_words", ROOT / "blender_addon" / "result_words.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # stands alone: no bpy, no backend
    return module


def test_the_report_says_which_shape_ran_and_why_not_the_body():
    words = _words().shape_words
    assert words({"shape": {"method": "body"}}) == "3D body fitted to the photo's pose"
    fell_back = {"shape": {"method": "silhouette"}, "fallbacks": [
        {"part": "segmentation", "why": "no mediapipe"},
        {"part": "shape", "why": "no person's pose was found in the photo: no 3D body was fitted; the shape is ..."}]}
    assert words(fell_back) == "flat shape from the outline (no 3D body): no person's pose was found in the photo"
    assert words({"shape": {"method": "silhouette"}, "fallbacks": []}) == "flat shape from the outline (no 3D body)"
    assert words({"shape": {"method": "user_mesh"}}) == "your own mesh"


def _addon_module(name: str):
    """A module of blender_addon/ that needs no bpy, imported with its package's relative imports but
    without the package's __init__ (which imports bpy)."""
    import sys
    import types

    package = "blender_addon_without_bpy"
    if package not in sys.modules:
        stub = types.ModuleType(package)
        stub.__path__ = [str(ROOT / "blender_addon")]
        sys.modules[package] = stub
    return importlib.import_module(f"{package}.{name}")


def test_every_warning_code_of_the_backend_has_the_artists_words():
    from backend.notes import CODES

    words = _addon_module("warning_words")
    assert set(words.WORDS) == set(CODES)
    for code in CODES:
        note = words.artist_note(code, "the mesh m.obj is 190 units tall: read as centimetres")
        assert note.text and "`" not in note.text and "install_deps" not in note.text and "--" not in note.text
        assert note.fix in ("", words.DOWNLOAD_MODELS, words.INSTALL_BACKEND)
    # A warning with no code keeps the backend's words, without its command-line advice.
    assert words.artist_note(None, "the mask looks odd; run `python3 -m backend doctor` to check").text == \
        "The mask looks odd."


def test_the_backends_warnings_carry_their_codes(tmp_path, monkeypatch):
    import io
    import json

    from backend.fusion import perceptual
    from backend.presets import PRESETS
    from backend.progress import Progress
    from backend.synthesis import choose_inpainter

    monkeypatch.setenv("PHOTO_DIGITIZE_MODELS", str(tmp_path / "cache"))
    (tmp_path / "models" / "inpiant").mkdir(parents=True)  # a typo: a folder that is no model's
    _, notes = choose_inpainter("auto", PRESETS["fast"], "cpu", models_dir=tmp_path / "models")
    assert [n.code for n in notes] == ["models_folder_stray", "diffusion_models_missing"]
    monkeypatch.setenv(perceptual.BACKBONE_ENV, str(tmp_path / "nowhere.pth"))
    monkeypatch.setattr(perceptual, "backbone_candidates", lambda: [tmp_path / "nowhere.pth"])
    _, name, notes = perceptual.load_perceptual("auto")
    assert name == perceptual.SUBSTITUTE_NAME and {n.code for n in notes} == {"lpips_missing"}
    stream = io.StringIO()
    progress = Progress(stream=stream, jsonl=True)
    progress.warning(notes[0])
    progress.warning("a rig needs the body", code="no_rig")
    progress.warning("no code")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e.get("code") for e in events] == ["lpips_missing", "no_rig", None]
    assert events[0]["message"] == str(notes[0])  # the command line's words stay as they were


def test_the_addon_finds_the_diffusion_models_where_the_backend_does(tmp_path, monkeypatch):
    from backend.models.registry import DIFFUSION_ROLES, ModelSources

    files = _addon_module("model_files")
    monkeypatch.setattr(files, "RECHECK_S", 0)
    monkeypatch.setenv("PHOTO_DIGITIZE_MODELS", str(tmp_path / "cache"))
    chosen = tmp_path / "chosen"

    def backend_finds(models_dir):  # the add-on makes a chosen Models Folder the backend's cache too
        if models_dir is not None:
            monkeypatch.setenv("PHOTO_DIGITIZE_MODELS", str(models_dir))
        found = all(ModelSources.from_options(models_dir, None).resolve(k)[0] for k in DIFFUSION_ROLES)
        monkeypatch.setenv("PHOTO_DIGITIZE_MODELS", str(tmp_path / "cache"))
        return found

    def put(folder, key, marker):
        (folder / key).mkdir(parents=True, exist_ok=True)
        (folder / key / marker).write_text("{}")

    for step in range(4):
        if step == 1:
            put(tmp_path / "cache", "inpaint", "model_index.json")
        if step == 2:
            put(tmp_path / "cache", "controlnet_normal", "config.json")
        if step == 3:
            chosen.mkdir()
            put(chosen, "inpaint", "model_index.json")
        for models_dir in (None, chosen if chosen.exists() else None):
            assert files.diffusion_models_present(models_dir) == backend_finds(models_dir), (step, models_dir)


def test_the_report_says_when_the_photo_and_the_mesh_do_not_match():
    words = _words().mismatch_words
    assert words({"mesh_fit": {"front_iou": 0.93, "threshold": 0.7, "matches": True}}) == ""
    assert words({}) == ""  # a digitize, or a backend from before mesh_fit: nothing to say
    said = words({"mesh_fit": {"front_iou": 0.28, "threshold": 0.7, "matches": False}})
    assert said.startswith("the photo and the mesh do not match (their outlines overlap 28 %")
