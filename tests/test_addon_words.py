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


def test_the_report_says_when_the_photo_and_the_mesh_do_not_match():
    words = _words().mismatch_words
    assert words({"mesh_fit": {"front_iou": 0.93, "threshold": 0.7, "matches": True}}) == ""
    assert words({}) == ""  # a digitize, or a backend from before mesh_fit: nothing to say
    said = words({"mesh_fit": {"front_iou": 0.28, "threshold": 0.7, "matches": False}})
    assert said.startswith("the photo and the mesh do not match (their outlines overlap 28 %")
