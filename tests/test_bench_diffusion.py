"""The full-size diffusion benchmark's command, run on the tiny models (the full size is for the docs)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_diffusion_runs_on_tiny_models_and_prints_its_row(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PHOTO_DIGITIZE_MODELS": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "lab.bench_diffusion", "--size", "tiny", "--device", "cpu",
                        "--runs", "1", "--steps", "2", "--no-digitize"], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stdout.splitlines() if line.startswith("|")]
    header, _, row = ([c.strip() for c in line.strip("|").split("|")] for line in lines[:3])
    values = dict(zip(header, row, strict=True))
    assert values["device"] == "cpu" and values["dtype"] == "float32" and values["steps"] == "2"
    for key in ("build_s", "load_s", "view_s", "back_redraw_s"):
        assert float(values[key]) > 0, key
    assert float(values["peak_rss_mb"]) > 100
