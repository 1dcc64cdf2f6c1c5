"""`python -m backend.eval`: digitize the ground-truth figures and score the result all the way round.

For each figure (backend/eval/groundtruth.py): write its photo, run the whole `digitize` job on
it, then render the truth, our result and the mirror baseline (backend/eval/baselines.py) from
90 orbit views 4 degrees apart, and score each against the truth (PSNR, SSIM, LPIPS when its
weights exist, silhouette IoU). Prints a table per view group (front, side, back) and the
median time of each stage; writes under --out:

    views.csv     every figure x view x method
    summary.csv   the group table
    timings.csv   seconds per stage per figure
    figure.png    truth / ours / mirror from 8 sides, one block of rows per figure
    summary.md    what was printed
    seed<N>/      the figure's photo and the digitize output, to look at

`python -m backend.eval shape [--figures N] [--shape-args "..."] [--out DIR]` scores the shape
stage's mesh against posed, dressed people of known 3D instead (backend/eval/shape_eval.py).
`python -m backend.eval faces OUT_DIR [...]` asks MediaPipe's face detector whether a result shows a
face from the front and none from the back (backend/eval/faces.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

FIGURE_AZIMUTHS = (0, 44, 88, 132, 180, -132, -88, -44)  # protocol views shown in figure.png


def evaluate_figure(seed: int, out: Path, args, lpips) -> tuple[list[dict], dict, list[list], list[list]]:
    """Score one figure: (per-view rows, stage timings, figure tiles, tile labels)."""
    from PIL import Image

    from ..conventions import Camera
    from ..export.mesh_io import load_user_mesh
    from ..pipeline import DigitizeOptions, run_digitize
    from ..progress import Progress
    from ..raster import render_maps
    from ..synthetic.figure import make_figure
    from .baselines import photo_filled_outside, render_mirrored
    from .groundtruth import protocol_cameras, view_group, write_photo
    from .scoring import compare, render_figure_albedo, render_textured

    folder = out / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    figure = make_figure(seed=seed, voxel_m=0.012)
    photo = write_photo(figure, folder / "photo.png")
    options = DigitizeOptions(height_m=figure.height_m, preset=args.preset, inpainter=args.inpainter, seed=0)
    result = run_digitize(photo, folder / "result", options, Progress(quiet=True))

    mesh = load_user_mesh(folder / "result" / "mesh.obj")
    texture = np.array(Image.open(folder / "result" / "texture.png").convert("RGB"))
    photo_rgb = np.asarray(Image.open(photo).convert("RGB"), np.float32) / 255.0
    photo_mask = np.asarray(Image.open(folder / "result" / "mask.png")) > 127
    filled = photo_filled_outside(photo_rgb, photo_mask)
    input_camera = Camera.from_json(result["input_camera"])

    rows, tiles, labels = [], [[], [], []], [[], [], []]
    for cam in protocol_cameras(figure.mesh, args.resolution, args.views):
        truth, truth_mask = render_figure_albedo(figure, cam)
        maps = render_maps(mesh, [cam], backend="cpu")[0]
        renders = {"ours": render_textured(mesh, texture, cam, maps=maps),
                   "mirror": render_mirrored(mesh, filled, input_camera, cam, maps=maps)}
        for method, (img, mask) in renders.items():
            score = compare(img, mask, truth, truth_mask, lpips=lpips)
            rows.append({"seed": seed, "azimuth": cam.azimuth_deg, "group": view_group(cam.azimuth_deg),
                         "method": method, **score.row()})
        if round(cam.azimuth_deg) in FIGURE_AZIMUTHS:
            for k, (name, img) in enumerate((("truth", truth), ("ours", renders["ours"][0]),
                                             ("mirror", renders["mirror"][0]))):
                tiles[k].append(img)
                labels[k].append(f"seed {seed} {name} az {cam.azimuth_deg:g}" if not tiles[k][:-1] else
                                 f"{name} az {cam.azimuth_deg:g}")
    return rows, result["timings_s"], tiles, labels


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["shape"]:  # the shape stage's 3D against the truth (backend/eval/shape_eval.py)
        from .shape_eval import main as shape_main

        return shape_main(argv[1:])
    if argv[:1] == ["faces"]:  # a face on the back of a result? (backend/eval/faces.py)
        from .faces import main as faces_main

        return faces_main(argv[1:])
    from ..errors import UserError
    from ..tables import machine_line, table
    from .groundtruth import DEFAULT_SEEDS, PROTOCOL_VIEWS
    from .report import FORMATS, contact_sheet, stage_times, summarise, write_csv
    from .scoring import load_lpips_metric

    ap = argparse.ArgumentParser(prog="python -m backend.eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="figures to evaluate")
    ap.add_argument("--views", type=int, default=PROTOCOL_VIEWS, help="orbit views, evenly spaced (paper: 90)")
    ap.add_argument("--resolution", type=int, default=256, help="pixels per side of each scored view")
    ap.add_argument("--preset", default="fast", choices=["fast", "quality"])
    ap.add_argument("--inpainter", default="auto", choices=["auto", "classical", "diffusion"])
    ap.add_argument("--out", type=Path, default=Path("results/eval"))
    args = ap.parse_args(argv)
    if args.views < 4 or args.resolution < 64:
        print("error: --views must be at least 4 and --resolution at least 64", file=sys.stderr)
        return 2

    lpips, lpips_note = load_lpips_metric()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, timings, tiles, labels = [], [], [], []
    t0 = time.perf_counter()
    for seed in args.seeds:
        print(f"figure {seed}: digitizing and scoring {args.views} views ...", file=sys.stderr, flush=True)
        try:
            r, t, fig_tiles, fig_labels = evaluate_figure(seed, args.out, args, lpips)
        except UserError as e:
            print(f"error: figure {seed}: {e}", file=sys.stderr)
            return 2
        rows += r
        timings.append({"seed": seed, **t})
        tiles += fig_tiles
        labels += fig_labels

    summary = summarise(rows, ["ours", "mirror"])
    stages = stage_times([{k: v for k, v in t.items() if k != "seed"} for t in timings])
    lines = [
        f"machine: {machine_line()}",
        f"figures {' '.join(map(str, args.seeds))}; {args.views} views at {args.resolution} px; preset "
        f"{args.preset}, inpainter {args.inpainter}; {lpips_note}; {time.perf_counter() - t0:.0f} s in all",
        "", "## Against the truth, mean over figures and views, per view group", "",
        table(summary, FORMATS), "", "## Seconds per stage (median and max over figures)", "",
        table(stages, {"median_s": "{:.2f}", "max_s": "{:.2f}"}),
    ]
    text = "\n".join(lines)
    print(text)
    write_csv(args.out / "views.csv", rows)
    write_csv(args.out / "summary.csv", summary)
    write_csv(args.out / "timings.csv", timings)
    (args.out / "summary.md").write_text(text + "\n")
    from PIL import Image

    Image.fromarray(contact_sheet(tiles, labels, size=160)).save(args.out / "figure.png")
    print(f"\nwrote {args.out}/views.csv, summary.csv, timings.csv, summary.md, figure.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
