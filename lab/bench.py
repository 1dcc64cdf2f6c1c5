"""Benchmark: `python -m lab.bench` prints tables of stage times and peak memory.

Every figure is the median of several runs taken side by side in this one invocation; each
end-to-end run is a fresh process, so its peak memory (max RSS; the larger of the job's and
its xatlas child process's) is its own. Results go to
stdout as Markdown (paste into docs/benchmarks.md with the machine they ran on).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from backend.shape.silhouette import DEFAULT_TARGET_FACES
from lab.tables import machine_line, table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from backend import pipeline
from backend.progress import Progress
command, photo, out, height, faces, shape = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]), \
    int(sys.argv[5]), sys.argv[6]
t0 = time.perf_counter()
if command == "shape":
    result = pipeline.run_shape(photo, out, pipeline.ShapeOptions(height_m=height, target_faces=faces, shape=shape),
                                Progress(quiet=True))
else:
    result = pipeline.run_digitize(photo, out, pipeline.DigitizeOptions(height_m=height, preset=command,
                                                                        target_faces=faces, shape=shape),
                                   Progress(quiet=True))
wall = time.perf_counter() - t0
# The job's own peak, or its xatlas child's if that was higher (Linux: ru_maxrss in KiB).
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"timings": result["timings_s"], "wall": wall, "peak_mb": peak / 1024}))
"""


def photo_of_size(size: int, folder: Path) -> Path:
    """The sample photo scaled so its longer side is `size` pixels."""
    from PIL import Image

    img = Image.open(SAMPLE)
    scale = size / max(img.size)
    path = folder / f"sample_{size}.png"
    img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS).save(path)
    return path


def run_child(command: str, photo: Path, out: Path, height: float = 1.7,
              faces: int = DEFAULT_TARGET_FACES, shape: str = "auto") -> dict:
    """One end-to-end run in a fresh process: its stage timings, wall time and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if command != "shape":  # the classical path unless asked otherwise: time what CI and users without weights run
        env.setdefault("PHOTO_DIGITIZE_MODELS", tempfile.mkdtemp(prefix="no-models-"))
    r = subprocess.run([sys.executable, "-c", CHILD, command, str(photo), str(out), str(height), str(faces), shape],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{command} run failed on {photo}:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_end_to_end(command: str, configs: list[tuple[int, int, str]], runs: int) -> list[dict]:
    """Median stage times of `command` ("shape", or a digitize preset) on the sample, per
    (photo size in px, target mesh faces, shape method) in `configs`. The runs go round the
    configurations in turn, so that the machine's load falls on all of them alike."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        photos = {size: photo_of_size(size, tmp) for size in {c[0] for c in configs}}
        samples: dict[tuple, list] = {c: [] for c in configs}
        for i in range(runs):
            for size, faces, shape in configs:
                out = tmp / f"out{size}_{faces}_{shape}_{i}"
                samples[(size, faces, shape)].append(run_child(command, photos[size], out, faces=faces, shape=shape))
        for (size, faces, shape), runs_of in samples.items():
            stages = runs_of[0]["timings"].keys()
            row = {"input": f"{size} px", "faces": f"{faces // 1000}k", "method": shape,
                   **{s: statistics.median(x["timings"][s] for x in runs_of) for s in stages}}
            row["peak_mb"] = max(x["peak_mb"] for x in runs_of)
            rows.append(row)
    return rows


def sample_mask() -> np.ndarray:
    """The sample person's mask at 1024 px, so meshes of any density can be cut from it."""
    from backend.intake import crop_to_working, load_photo, segment_person

    photo = load_photo(SAMPLE)
    return crop_to_working(photo, segment_person(photo).mask, resolution=1024).mask


def bench_raster(face_counts: list[int], resolutions: list[int], runs: int) -> list[dict]:
    from backend.raster import render_maps
    from backend.shape.silhouette import SilhouetteShape
    from backend.view_schedule import view_cameras

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="photo sizes (longer side, px)")
    ap.add_argument("--faces", type=int, nargs="+", default=[10_000, 50_000, 200_000],
                    help="mesh densities (digitize at 512 px, and the rasteriser)")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--shapes", nargs="+", choices=["auto", "body", "silhouette"], default=["body", "silhouette"],
                    help="shape methods, timed side by side (docs/shape.md)")
    ap.add_argument("--only", choices=["shape", "digitize", "density", "raster"], nargs="+",
                    default=["shape", "digitize", "density", "raster"])
    args = ap.parse_args(argv)

    print(f"machine: {machine_line()}; median of {args.runs} runs\n")
    if "shape" in args.only:
        print("## shape (photo -> mask, mesh, UVs, 12 views of maps), seconds per stage\n")
        configs = [(size, DEFAULT_TARGET_FACES, shape) for size in args.sizes for shape in args.shapes]
        print(table(bench_end_to_end("shape", configs, args.runs), {"peak_mb": "{:.0f}"}), flush=True)
    if "digitize" in args.only:
        print("\n## digitize, preset fast, classical inpainter, seconds per stage\n")
        configs = [(size, DEFAULT_TARGET_FACES, shape) for size in args.sizes for shape in args.shapes]
        print(table(bench_end_to_end("fast", configs, args.runs), {"peak_mb": "{:.0f}"}), flush=True)
    if "density" in args.only:
        print("\n## digitize at 512 px by mesh density, preset fast, classical inpainter, seconds per stage\n")
        configs = [(512, faces, "silhouette") for faces in args.faces]  # the face budget is the outline's option
        print(table(bench_end_to_end("fast", configs, args.runs), {"peak_mb": "{:.0f}"}), flush=True)
    if "raster" in args.only:
        print("\n## CPU rasteriser, one view (all maps)\n")
        print(table(bench_raster(args.faces, args.resolutions, args.runs), {"s_per_view": "{:.3f}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
