"""`python -m lab.eval`: digitize the ground-truth figures and score the result all the way round.

For each figure (lab/eval/groundtruth.py): write its photo, run the whole `digitize` job on
it, then render the truth, our result and the mirror baseline (lab/eval/baselines.py) from
90 orbit views 4 degrees apart, and score each against the truth (PSNR, SSIM, LPIPS when its
weights exist, silhouette IoU). Prints a table per view group (front, side, back) and the
median time of each stage; writes under --out:

    views.csv     every figure x view x method
    summary.csv   the group table
    timings.csv   seconds per stage per figure
    figure.png    truth / ours / mirror from 8 sides, one block of rows per figure
    summary.md    what was printed
    seed<N>/, NAME/   the figure's photo and the digitize output, to look at

`--people NAME... | all` scores the posed, dressed people of lab/synthetic/people.py instead of
(or beside `--seeds`) the capsule figures: their photos are shaded and taken through their own lens.
`python -m lab.eval shape [--figures N] [--shape-args "..."] [--out DIR]` scores the shape
stage's mesh against posed, dressed people of known 3D instead (lab/eval/shape_eval.py).
`python -m lab.eval faces OUT_DIR [...]` asks MediaPipe's face detector whether a result shows a
face from the front and none from the back (lab/eval/faces.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

FIGURE_AZIMUTHS = (0, 44, 88, 132, 180, -132, -88, -44)  # protocol views shown in figure.png


def prepare_subject(subject: str, folder: Path):
    """The figure to score and its photo: `subject` is a capsule figure's seed ("3") or a person's name.

    A capsule figure (lab/synthetic/figure.py) is photographed unshaded through a 50 mm portrait
    lens; a person (lab/synthetic/people.py: posed, dressed, a tie, a beard, crossed arms) as a
    photographer takes them (shaded, their own lens, JPEG). Either is scored against its true colours."""
    from ..synthetic.figure import make_figure
    from ..synthetic.people import make_person
    from ..synthetic.photo import save_photo, take_photo
    from .groundtruth import write_photo

    if subject.isdigit():
        figure = make_figure(seed=int(subject), voxel_m=0.012)
        return figure, write_photo(figure, folder / "photo.png"), figure.height_m
    person = make_person(subject)
    return person, save_photo(take_photo(person), folder / "photo.jpg"), round(person.standing_height_m, 4)


def subject_folder(subject: str) -> str:
    return f"seed{subject}" if subject.isdigit() else subject


def evaluate_figure(subject: str, out: Path, args, lpips) -> tuple[list[dict], dict, list[list], list[list]]:
    """Score one figure: (per-view rows, stage timings, figure tiles, tile labels)."""
    from PIL import Image

    from backend.conventions import Camera
    from backend.export.mesh_io import load_user_mesh
    from backend.pipeline import DigitizeOptions, run_digitize
    from backend.progress import Progress
    from backend.raster import render_maps

    from .baselines import photo_filled_outside, render_mirrored
    from .groundtruth import protocol_cameras, view_group
    from .scoring import compare, render_figure_albedo, render_textured
    from .shape_metrics import align_to_truth

    folder = out / subject_folder(subject)
    folder.mkdir(parents=True, exist_ok=True)
    figure, photo, height_m = prepare_subject(subject, folder)
    options = DigitizeOptions(height_m=height_m, preset=args.preset, inpainter=args.inpainter, seed=0)
    result = run_digitize(photo, folder / "result", options, Progress(quiet=True))

    mesh = load_user_mesh(folder / "result" / "mesh.obj")
    moved_by = np.zeros(3)
    if not subject.isdigit():
        # A person stands where the fit placed them in depth, not where the truth stood: translated onto the
        # truth as the shape evaluation does (lab/eval/shape_metrics.py), so the scores compare colours.
        aligned = align_to_truth(mesh, figure.mesh)
        moved_by = aligned.vertices[0] - mesh.vertices[0]
        mesh = aligned
    texture = np.array(Image.open(folder / "result" / "texture.png").convert("RGB"))
    photo_rgb = np.asarray(Image.open(photo).convert("RGB"), np.float32) / 255.0
    photo_mask = np.asarray(Image.open(folder / "result" / "mask.png")) > 127
    filled = photo_filled_outside(photo_rgb, photo_mask)
    input_camera = Camera.from_json(result["input_camera"])

    rows: list[dict] = []
    tiles: list[list] = [[], [], []]
    labels: list[list[str]] = [[], [], []]
    for cam in protocol_cameras(figure.mesh, args.resolution, args.views):
        truth, truth_mask = render_figure_albedo(figure, cam)
        maps = render_maps(mesh, [cam], backend="cpu")[0]
        renders = {"ours": render_textured(mesh, texture, cam, maps=maps),
                   "mirror": render_mirrored(mesh, filled, input_camera, cam, maps=maps, moved_by=moved_by)}
        azimuth = float(cam.azimuth_deg or 0.0)  # the protocol's cameras are orbit cameras: never None
        for method, (img, mask) in renders.items():
            score = compare(img, mask, truth, truth_mask, lpips=lpips)
            rows.append({"figure": subject, "azimuth": azimuth, "group": view_group(azimuth),
                         "method": method, **score.row()})
        if round(azimuth) in FIGURE_AZIMUTHS:
            for k, (name, img) in enumerate((("truth", truth), ("ours", renders["ours"][0]),
                                             ("mirror", renders["mirror"][0]))):
                tiles[k].append(img)
                labels[k].append(f"{subject} {name} az {cam.azimuth_deg:g}" if not tiles[k][:-1] else
                                 f"{name} az {cam.azimuth_deg:g}")
    return rows, result["timings_s"], tiles, labels


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["shape"]:  # the shape stage's 3D against the truth (lab/eval/shape_eval.py)
        from .shape_eval import main as shape_main

        return shape_main(argv[1:])
    if argv[:1] == ["faces"]:  # a face on the back of a result? (lab/eval/faces.py)
        from .faces import main as faces_main

        return faces_main(argv[1:])
    from backend.errors import UserError
    from lab.tables import machine_line, table

    from ..synthetic.people import FIGURE_NAMES
    from .groundtruth import DEFAULT_SEEDS, PROTOCOL_VIEWS
    from .report import FORMATS, contact_sheet, figure_table, stage_times, summarise, write_csv
    from .scoring import load_lpips_metric

    ap = argparse.ArgumentParser(prog="python -m lab.eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help=f"capsule figures to evaluate (default {' '.join(map(str, DEFAULT_SEEDS))} unless --people)")
    ap.add_argument("--people", nargs="+", default=[], metavar="NAME",
                    help=f"posed, dressed people to evaluate ({', '.join(FIGURE_NAMES)}, or all)")
    ap.add_argument("--views", type=int, default=PROTOCOL_VIEWS, help="orbit views, evenly spaced (paper: 90)")
    ap.add_argument("--resolution", type=int, default=256, help="pixels per side of each scored view")
    ap.add_argument("--preset", default="fast", choices=["fast", "quality"])
    ap.add_argument("--inpainter", default="auto", choices=["auto", "classical", "diffusion"])
    ap.add_argument("--out", type=Path, default=Path("results/eval"))
    args = ap.parse_args(argv)
    if args.views < 4 or args.resolution < 64:
        print("error: --views must be at least 4 and --resolution at least 64", file=sys.stderr)
        return 2
    people = list(FIGURE_NAMES) if args.people == ["all"] else args.people
    unknown = [p for p in people if p not in FIGURE_NAMES]
    if unknown:
        print(f"error: no person called {unknown[0]!r}; the people are {', '.join(FIGURE_NAMES)}", file=sys.stderr)
        return 2
    seeds = args.seeds if args.seeds is not None else ([] if people else list(DEFAULT_SEEDS))
    subjects = [str(s) for s in seeds] + people

    lpips, lpips_note = load_lpips_metric()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, timings, tiles, labels = [], [], [], []
    t0 = time.perf_counter()
    for subject in subjects:
        print(f"figure {subject}: digitizing and scoring {args.views} views ...", file=sys.stderr, flush=True)
        try:
            r, t, fig_tiles, fig_labels = evaluate_figure(subject, args.out, args, lpips)
        except UserError as e:
            print(f"error: figure {subject}: {e}", file=sys.stderr)
            return 2
        rows += r
        timings.append({"figure": subject, **t})
        tiles += fig_tiles
        labels += fig_labels

    summary = summarise(rows, ["ours", "mirror"])
    per_figure = figure_table(rows)
    stages = stage_times([{k: v for k, v in t.items() if k != "figure"} for t in timings])
    lines = [
        f"machine: {machine_line()}",
        f"figures {' '.join(subjects)}; {args.views} views at {args.resolution} px; preset "
        f"{args.preset}, inpainter {args.inpainter}; {lpips_note}; {time.perf_counter() - t0:.0f} s in all",
        "", "## Against the truth, mean over figures and views, per view group", "",
        table(summary, FORMATS), "", "## Per figure: PSNR dB / SSIM, ours vs mirror", "",
        table(per_figure, {}), "", "## Seconds per stage (median and max over figures)", "",
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
