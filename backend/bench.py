"""Benchmark: `python -m backend.bench` prints tables of stage times and peak memory.

Every figure is the median of several runs taken side by side in this one invocation; each
end-to-end run is a fresh process, so its peak memory (max RSS) is its own. Results go to
stdout as Markdown (paste into docs/benchmarks.md with the machine they ran on).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from backend.pipeline import ShapeOptions, run_shape
from backend.progress import Progress
t0 = time.perf_counter()
result = run_shape(Path(sys.argv[1]), Path(sys.argv[2]), ShapeOptions(), Progress(quiet=True))
wall = time.perf_counter() - t0
print(json.dumps({"timings": result["timings_s"], "wall": wall,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def photo_of_size(size: int, folder: Path) -> Path:
    """The sample photo scaled so its longer side is `size` pixels."""
    from PIL import Image

    img = Image.open(SAMPLE)
    scale = size / max(img.size)
    path = folder / f"sample_{size}.png"
    img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS).save(path)
    return path


def bench_shape(sizes: list[int], runs: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in sizes:
            photo = photo_of_size(size, tmp)
            samples = []
            for i in range(runs):
                env = {**os.environ, "PYTHONPATH": str(ROOT)}
                r = subprocess.run([sys.executable, "-c", CHILD, str(photo), str(tmp / f"out{size}_{i}")],
                                   capture_output=True, text=True, env=env, cwd=ROOT)
                if r.returncode != 0:
                    raise SystemExit(f"shape run failed on {photo}:\n{r.stderr[-2000:]}")
                samples.append(json.loads(r.stdout.strip().splitlines()[-1]))
            stages = samples[0]["timings"].keys()
            row = {"input": f"{size} px", **{s: statistics.median(x["timings"][s] for x in samples) for s in stages}}
            row["wall"] = statistics.median(x["wall"] for x in samples)
            row["peak_mb"] = max(x["peak_mb"] for x in samples)
            rows.append(row)
    return rows


def sample_mask() -> np.ndarray:
    """The sample person's mask at 1024 px, so meshes of any density can be cut from it."""
    from .intake import crop_to_working, load_photo, segment_person

    photo = load_photo(SAMPLE)
    return crop_to_working(photo, segment_person(photo).mask, resolution=1024).mask


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_raster(face_counts: list[int], resolutions: list[int], runs: int) -> list[dict]:
    from .raster import render_maps
    from .shape.silhouette import SilhouetteShape
    from .views import view_cameras

    rows = []
    mask = sample_mask()
    for faces in face_counts:
        mesh = SilhouetteShape(target_faces=faces).estimate(None, mask, height_m=1.7).mesh
        for res in resolutions:
            cams = view_cameras(mesh, resolution=res)[:1]
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                render_maps(mesh, cams, backend="cpu")
                times.append(time.perf_counter() - t0)
            rows.append({"faces": len(mesh.faces), "resolution": f"{res}x{res}",
                         "s_per_view": statistics.median(times)})
    return rows


def table(rows: list[dict], fmt: dict | None = None) -> str:
    fmt = fmt or {}
    keys = list(rows[0].keys())
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [fmt.get(k, "{:.2f}" if isinstance(r[k], float) else "{}").format(r[k]) for k in keys]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m backend.bench", description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="photo sizes (longer side, px)")
    ap.add_argument("--faces", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[512, 1024])
    args = ap.parse_args(argv)

    import torch

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, Python {platform.python_version()}; median of {args.runs} runs\n")
    print("## shape (photo -> mask, mesh, UVs, 12 views of maps), seconds per stage\n")
    print(table(bench_shape(args.sizes, args.runs), {"peak_mb": "{:.0f}"}))
    print("\n## CPU rasteriser, one view (all maps)\n")
    print(table(bench_raster(args.faces, args.resolutions, args.runs), {"s_per_view": "{:.3f}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
