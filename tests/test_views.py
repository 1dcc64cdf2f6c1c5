"""The view schedule is configurable (`--views`): named schedules, explicit lists, clear refusals."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend import pipeline
from backend.errors import UserError
from backend.raster import load_maps
from backend.view_schedule import DEFAULT_VIEWS, PAPER_VIEWS, View, parse_views

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"


def test_named_schedules():
    assert parse_views("default") == DEFAULT_VIEWS and len(DEFAULT_VIEWS) == 12
    assert parse_views("paper") == PAPER_VIEWS and len(PAPER_VIEWS) == 8
    assert {(v.azimuth_deg, v.elevation_deg) for v in PAPER_VIEWS} == {(a, 0.0) for a in (0, 180, 45, -45, 90, -90,
                                                                                          135, -135)}


def test_an_explicit_list_keeps_its_order_after_the_input_view():
    views = parse_views("180, 90,-90, 270@30, 0@60, -180@-20")
    assert views == (View(0), View(180), View(90), View(-90), View(-90, 30), View(0, 60), View(180, -20))


@pytest.mark.parametrize("spec, why", [
    ("45,180", "first view must be 180"),
    ("180,abc", "is not AZIMUTH"),
    ("180,0", "not 0"),
    ("180,45,405", "each view once"),
    ("180,0@90", "strictly between -90 and 90"),
    ("180,nan", "finite"),
    ("", "is not AZIMUTH"),
])
def test_bad_schedules_are_refused_with_the_reason(spec, why):
    with pytest.raises(UserError, match=why):
        parse_views(spec)


def test_cli_refuses_a_bad_schedule_before_any_work(tmp_path):
    r = subprocess.run([sys.executable, "-m", "backend", "digitize", str(SAMPLE), "--out", str(tmp_path / "o"),
                        "--views", "45,180"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "the first view must be 180" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_shape_and_digitize_follow_the_schedule(tmp_path):
    spec = "180,90,-90,0@45"
    shape = pipeline.run_shape(SAMPLE, tmp_path / "shape",
                               pipeline.ShapeOptions(views=spec, map_resolution=96, texture_resolution=256,
                                                     shape="silhouette"))
    names = [v.name for v in parse_views(spec)]
    assert [v["name"] for v in shape["maps"]["views"]] == names
    maps = load_maps(tmp_path / "shape" / "maps")
    assert [m.camera.name for m in maps] == names and all(m.mask.any() for m in maps)
    el = next(m for m in maps if m.camera.name == "az+000_el+45")
    assert np.isclose(el.camera.elevation_deg, 45.0)

    result = pipeline.run_digitize(SAMPLE, tmp_path / "digitize",
                                   pipeline.DigitizeOptions(views=spec, inpainter="classical", fusion_iterations=2,
                                                            shape="silhouette"))
    synthesized = ["input", *names[1:]]  # the photo's own view is named "input" in a digitize
    assert result["view_schedule"] == synthesized
    assert sorted(p.stem for p in (tmp_path / "digitize" / "views").glob("*.png")
                  if not p.stem.endswith("_inpainted")) == sorted(synthesized)
    assert json.loads((tmp_path / "digitize" / "result.json").read_text())["view_schedule"] == synthesized
