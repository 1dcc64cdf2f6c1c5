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
from backend import pipeline
from backend.progress import Progress
command, photo, out, height = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
t0 = time.perf_counter()
if command == "shape":
    result = pipeline.run_shape(photo, out, pipeline.ShapeOptions(height_m=height), Progress(quiet=True))
else:
    result = pipeline.run_digitize(photo, out, pipeline.DigitizeOptions(height_m=height, preset=command),
                                   Progress(quiet=True))
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


def run_child(command: str, photo: Path, out: Path, height: float = 1.7) -> dict:
    """One end-to-end run in a fresh process: its stage timings, wall time and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if command != "shape":  # the classical path unless asked otherwise: time what CI and users without weights run
        env.setdefault("PHOTO_DIGITIZE_MODELS", tempfile.mkdtemp(prefix="no-models-"))
    r = subprocess.run([sys.executable, "-c", CHILD, command, str(photo), str(out), str(height)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{command} run failed on {photo}:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_end_to_end(command: str, sizes: list[int], runs: int) -> list[dict]:
    """Median stage times of `command` ("shape", or a digitize preset) on the sample at each size."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in sizes:
            photo = photo_of_size(size, tmp)
            samples = [run_child(command, photo, tmp / f"out{size}_{i}") for i in range(runs)]
            stages = samples[0]["timings"].keys()
            row = {"input": f"{size} px", **{s: statistics.median(x["timings"][s] for x in samples) for s in stages}}
            row["peak_mb"] = max(x["peak_mb"] for x in samples)
            rows.append(row)
    return rows


def bench_quality(seeds: list[int]) -> list[dict]:
    """Novel views against ground truth on synthetic figures (backend/synthetic), per azimuth.

    Each figure is rendered from the front with its true colours (no shading) as the photo,
    digitized with its true height, and its textured result compared with the truth from
    orbit cameras framed on the true body (so shape errors count as well as colour errors).
    """
    from PIL import Image

    from .conventions import ORTHOGRAPHIC, Camera, look_at
    from .evaluation import compare, render_figure_albedo, render_textured
    from .export.mesh_io import load_user_mesh
    from .synthetic.figure import make_figure
    from .views import View, view_cameras

    azimuths = [0, 45, -45, 90, -90, 135, -135, 180]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for seed in seeds:
            fig = make_figure(seed=seed, voxel_m=0.012)
            zc = fig.height_m / 2
            f = 900 / (fig.height_m * 1.2)
            cam = Camera(look_at(np.array([0, -10.0, zc]), np.array([0, 0, zc])), 640, 900, f, f, 320, 450,
                         ORTHOGRAPHIC)
            img, _ = render_figure_albedo(fig, cam, background=(0.95, 0.95, 0.95))
            photo = tmp / f"figure{seed}.png"
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(photo)
            out = tmp / f"out{seed}"
            run_child("fast", photo, out, fig.height_m)
            mesh = load_user_mesh(out / "mesh.obj")
            texture = np.array(Image.open(out / "texture.png").convert("RGB"))
            for az in azimuths:
                cam = view_cameras(fig.mesh, [View(az)], resolution=384)[0]
                truth, truth_mask = render_figure_albedo(fig, cam)
                got, got_mask = render_textured(mesh, texture, cam)
                rows.append({"seed": seed, "azimuth": az, **compare(got, got_mask, truth, truth_mask).row()})
    return summarise_by_azimuth(rows)


def summarise_by_azimuth(rows: list[dict]) -> list[dict]:
    out = []
    for az in dict.fromkeys(r["azimuth"] for r in rows):
        sel = [r for r in rows if r["azimuth"] == az]
        out.append({"azimuth": az, "figures": len(sel),
                    **{k: statistics.median(r[k] for r in sel) for k in ("psnr_db", "ssim", "iou")}})
    return out


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
    ap.add_argument("--figures", type=int, nargs="+", default=[1, 3, 5], help="synthetic figure seeds (quality)")
    ap.add_argument("--only", choices=["shape", "digitize", "raster", "quality"], nargs="+",
                    default=["shape", "digitize", "raster", "quality"])
    args = ap.parse_args(argv)

    import torch

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, Python {platform.python_version()}; median of {args.runs} runs\n")
    if "shape" in args.only:
        print("## shape (photo -> mask, mesh, UVs, 12 views of maps), seconds per stage\n")
        print(table(bench_end_to_end("shape", args.sizes, args.runs), {"peak_mb": "{:.0f}"}), flush=True)
    if "digitize" in args.only:
        print("\n## digitize, preset fast, classical inpainter, seconds per stage\n")
        print(table(bench_end_to_end("fast", args.sizes, args.runs), {"peak_mb": "{:.0f}"}), flush=True)
    if "raster" in args.only:
        print("\n## CPU rasteriser, one view (all maps)\n")
        print(table(bench_raster(args.faces, args.resolutions, args.runs), {"s_per_view": "{:.3f}"}), flush=True)
    if "quality" in args.only:
        print("\n## novel views against ground truth (synthetic figures, preset fast), median over figures\n")
        print(table(bench_quality(args.figures), {"psnr_db": "{:.2f}", "ssim": "{:.3f}", "iou": "{:.3f}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
