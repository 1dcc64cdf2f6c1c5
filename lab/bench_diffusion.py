"""Full-size diffusion benchmark: `python -m lab.bench_diffusion` prints one table row.

The diffusion inpainter's cost does not depend on its weights, only on its shapes, so this
builds models shaped exactly like SD-1.5 inpainting + the normal ControlNet 1.1 from their
configs with random weights (nothing is downloaded; `lab/random_weights.py`),
saves them as safetensors (the ControlNet in fp16, as downloads are) and loads them back
through the registry, as a real run does. Then it times, on `--device`:
- loading the models;
- one view's inpainting (the median of `--runs` calls on a 512 px view, 30 % missing);
- the back view's whole-body redraw (`refine_back`, median of `--runs`);
- one whole `digitize` of the sample with `--inpainter diffusion` (every view, fusion, export).
Peak memory: the process's max RSS, and on CUDA the peak VRAM torch allocated.

Defaults: 2 diffusion steps on the CPU (a full run would take hours), the preset's steps
(20 fast, 25 quality) on CUDA. Random weights make noise, not people: only the times count.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lab.tables import machine_line, table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"
VIEW_PX = 512


def build_in_child(root: Path, size: str = "sd15") -> float:
    """Build the random models into `root` in a fresh process (its memory is not ours); seconds."""
    t0 = time.perf_counter()
    code = ("import sys; from pathlib import Path; from lab.random_weights import SHAPES, build_models; "
            "build_models(Path(sys.argv[1]), SHAPES[sys.argv[2]], silhouette=False)")
    r = subprocess.run([sys.executable, "-c", code, str(root), size], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"building the random-weight models failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def view_request(seed: int, missing_share: float = 0.3):
    """A 512 px view of an upright ellipsoid 'person' facing the camera, its lower part missing."""
    from backend.synthesis import InpaintRequest

    h = w = VIEW_PX
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, ry, rx = h / 2, w / 2, 0.45 * h, 0.18 * w
    r2 = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    sil = r2 <= 1.0
    cut = np.quantile(yy[sil], 1.0 - missing_share)
    missing = sil & (yy >= cut)
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.float32)
    image[sil & ~missing] = rng.uniform(0.2, 0.9, (int((sil & ~missing).sum()), 3)).astype(np.float32)
    nx, ny = np.where(sil, (xx - cx) / rx, 0.0), np.where(sil, -(yy - cy) / ry, 0.0)
    normal = np.stack([nx, ny, np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))], -1)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    normal[~sil] = 0
    return InpaintRequest(image, missing, sil, normal.astype(np.float32), azimuth_deg=90.0, elevation_deg=0.0,
                          seed=seed)


def timed(fn, runs: int, sync) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.bench_diffusion", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--steps", type=int, default=None, help="diffusion steps per view (default: 2 on the CPU, "
                    "the preset's on CUDA)")
    ap.add_argument("--preset", default="fast", choices=["fast", "quality"])
    ap.add_argument("--runs", type=int, default=3, help="runs of each single-view timing (median)")
    ap.add_argument("--offload", action="store_true", help="CUDA: model CPU offload + attention slicing")
    ap.add_argument("--models-dir", type=Path, default=None,
                    help="reuse random-weight models built before (else built into a temporary folder)")
    ap.add_argument("--no-digitize", action="store_true", help="skip the whole-job timing")
    ap.add_argument("--size", choices=["sd15", "tiny"], default="sd15",
                    help="sd15: the real models' shapes (the benchmark); tiny: the test models (checks the command)")
    args = ap.parse_args(argv)

    import torch

    from backend import pipeline
    from backend.presets import PRESETS
    from backend.progress import Progress
    from backend.synthesis import choose_inpainter
    from backend.synthesis.diffusion import DiffusionInpainter
    from backend.torch_device import resolve_device

    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    steps = args.steps or (PRESETS[args.preset].diffusion_steps if cuda else 2)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gpu = torch.cuda.get_device_name(0) if cuda else "none"
    print(f"machine: {machine_line()}; GPU: {gpu}\n", flush=True)

    with tempfile.TemporaryDirectory(prefix="sd15-random-") as tmp:
        models = args.models_dir
        build_s = None
        if models is None:
            models = Path(tmp) / "models"
            print(f"building {args.size} inpainting + normal ControlNet with random weights ...", flush=True)
            build_s = build_in_child(models, args.size)
        size_gb = sum(p.stat().st_size for p in Path(models).rglob("*.safetensors")) / 1e9

        t0 = time.perf_counter()
        inpainter, notes = choose_inpainter("diffusion", PRESETS[args.preset], device, models_dir=models,
                                            steps=steps, offload=args.offload)
        sync()
        load_s = time.perf_counter() - t0
        assert isinstance(inpainter, DiffusionInpainter)  # "diffusion" gives it or refuses
        params = sum(p.numel() for m in (inpainter.loaded.pipe.unet, inpainter.loaded.pipe.vae,
                                         inpainter.loaded.pipe.text_encoder, inpainter.loaded.pipe.controlnet)
                     for p in m.parameters())
        print(f"{params / 1e9:.2f} B parameters, {size_gb:.1f} GB on disk; {inpainter.describe()}", flush=True)
        for note in notes:
            print(f"note: {note}")

        view_s = timed(lambda: inpainter.inpaint(view_request(1)), args.runs, sync)
        back = view_request(2, missing_share=0.0)
        back.azimuth_deg = 180.0
        redraw_s = timed(lambda: inpainter.refine_back(back), args.runs, sync)

        row = {"device": gpu if cuda else "cpu", "dtype": str(inpainter.loaded.dtype).replace("torch.", ""),
               "steps": steps, "build_s": build_s, "load_s": load_s, "view_s": view_s, "back_redraw_s": redraw_s}
        if not args.no_digitize:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            with tempfile.TemporaryDirectory(prefix="bench-diffusion-") as out:
                options = pipeline.DigitizeOptions(preset=args.preset, device=device, inpainter="diffusion",
                                                   models_dir=models, diffusion_steps=steps, offload=args.offload)
                t0 = time.perf_counter()
                result = pipeline.run_digitize(SAMPLE, Path(out) / "job", options, Progress(quiet=True))
                sync()
                row["digitize_s"] = time.perf_counter() - t0
            timings = result["timings_s"]
            row.update(views_n=len(result["views"]), back_s=timings.get("back"), views_s=timings.get("views"),
                       fusion_s=timings.get("fusion"))
        row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row["peak_vram_mb"] = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    print()
    print(table([row], {"peak_rss_mb": "{:.0f}", "peak_vram_mb": "{:.0f}", "steps": "{}", "views_n": "{}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
