"""`python -m lab.eval shape`: how true to life is the shape stage's 3D, on people whose 3D is known.

For each synthetic person (lab/synthetic/people.py): take their photo (perspective, their
lens, JPEG with the focal length in EXIF), run the shape stage on it as a user would
(`python -m backend shape PHOTO --out DIR --height H` plus --shape-args), read back mesh.obj and
result.json, and compare the mesh with the true one (lab/eval/shape_metrics.py: front IoU
through the result's own input camera, side IoU, Chamfer distance, slab thickness error, after
aligning the mesh's horizontal position) and ask the anatomy questions of it
(lab/eval/body_checks.py). Prints markdown tables, per figure and the mean, and writes under --out:

    summary.md          what was printed
    shape_eval.csv      one row per figure
    <figure>/photo.jpg, mask.png, truth.obj, shape/   the photo, its true mask, the true mesh, the stage's output
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..synthetic.photo import CHEST_HEIGHT

ROOT = Path(__file__).resolve().parents[2]
METRIC_FORMATS = {"front_iou": "{:.3f}", "side_iou": "{:.3f}", "chamfer_cm": "{:.2f}", "thickness_err_cm": "{:.2f}",
                  "shape_s": "{:.1f}"}
POSE_FORMATS = {"knee_bend_error_deg": "{:.1f}", "lean_error_deg": "{:+.1f}", "pitch_error_deg": "{:+.1f}"}


def run_shape_stage(photo: Path, out: Path, height_m: float, shape_args: list[str],
                    landmarks: Path | None = None) -> tuple[int, str]:
    """`python -m backend shape PHOTO --out OUT --height H [shape_args]` in a child process, as a user
    runs it; (exit code, the last lines of its output). With `landmarks` (true_landmarks.py), the
    same command with the pose detector answering from that file."""
    runner = ["backend"] if landmarks is None else ["lab.eval.true_landmarks", str(landmarks)]
    cmd = [sys.executable, "-m", *runner, "shape", str(photo), "--out", str(out), "--height", f"{height_m:.4f}",
           *shape_args]
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return r.returncode, "\n".join((r.stdout + r.stderr).strip().splitlines()[-5:])


def anatomy(mesh, person) -> dict:
    """The anatomy checks on `mesh` (aligned to the person's truth), with the person's true joints."""
    from .body_checks import arm_torso_gap_cm, back_of_head_is_round, feet_point_forward, knee_flexion_deg

    j = person.joints
    knees = [knee_flexion_deg(mesh, j[f"hip_{s}"], j[f"knee_{s}"], j[f"ankle_{s}"]) for s in ("l", "r")]
    gaps = [arm_torso_gap_cm(mesh, j, s) for s in ("l", "r")]
    facing = person.yaw @ np.array([0.0, -1.0, 0.0])
    return {"knee_deg": knees, "arm_gap_cm": gaps, "feet_forward": feet_point_forward(mesh, j, facing),
            "round_head": back_of_head_is_round(mesh, j)}


def knee_error_deg(pred: dict, truth: dict) -> float | None:
    """Mean |knee flexion on the prediction - on the truth| over the legs the truth shows (a knee the
    prediction lacks counts as 90 degrees off); None when no leg is visible in the truth."""
    errors = [90.0 if np.isnan(p) else abs(p - t) for p, t in zip(pred["knee_deg"], truth["knee_deg"], strict=True)
              if not np.isnan(t)]
    return float(np.mean(errors)) if errors else None


def evaluate_figure(name: str, out: Path, shape_args: list[str], voxel_m: float, exif: bool,
                    eye_height: float = CHEST_HEIGHT, given_landmarks: bool = False) -> dict:
    """Photograph one figure, run the shape stage on it and score its mesh: one row of the table."""
    from PIL import Image

    from backend.conventions import Camera
    from backend.export.mesh_io import load_user_mesh, obj_text

    from ..synthetic.people import make_person
    from ..synthetic.photo import save_photo, take_photo
    from .shape_metrics import (
        align_to_truth,
        chamfer_cm,
        front_silhouette_iou,
        side_silhouette_iou,
        slab_thickness_error_cm,
    )

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    person = make_person(name, voxel_m=voxel_m)
    photo = take_photo(person, eye_height=eye_height)
    photo_path = save_photo(photo, folder / "photo.jpg", exif=exif)
    Image.fromarray(photo.mask.astype(np.uint8) * 255).save(folder / "mask.png")
    (folder / "truth.obj").write_text(obj_text(person.mesh))

    landmarks = None
    if given_landmarks:  # the true pose instead of mediapipe's (true_landmarks.py)
        from .true_landmarks import true_landmarks

        landmarks = folder / "true_landmarks.json"
        landmarks.write_text(json.dumps(true_landmarks(person, photo.camera)))
    t0 = time.perf_counter()
    code, tail = run_shape_stage(photo_path, folder / "shape", person.standing_height_m, shape_args, landmarks)
    seconds = time.perf_counter() - t0
    row = {"figure": name, "pose": person.pose.name, "lens_mm": photo.focal_35mm, "height_m": round(person.height_m, 3)}
    if code != 0:
        return {**row, "method": "failed", "error": tail.splitlines()[-1] if tail else f"exit code {code}"}
    result = json.loads((folder / "shape" / "result.json").read_text())
    pred = load_user_mesh(folder / "shape" / "mesh.obj")
    aligned = align_to_truth(pred, person.mesh)
    truth_checks, pred_checks = anatomy(person.mesh, person), anatomy(aligned, person)
    pose = {}
    if (folder / "shape" / "body.json").is_file():  # the fitted skeleton against the true joints
        from .pose_checks import pose_errors

        body = json.loads((folder / "shape" / "body.json").read_text())
        pose = pose_errors(body, person.joints, person.yaw @ np.array([0.0, -1.0, 0.0]),
                           Camera.from_json(result["input_camera"]), photo.camera)
    return {
        **row,
        "method": result["shape"]["method"],
        "front_iou": front_silhouette_iou(pred, Camera.from_json(result["input_camera"]), photo.mask),
        "side_iou": side_silhouette_iou(aligned, person.mesh),
        "chamfer_cm": chamfer_cm(aligned, person.mesh),
        "thickness_err_cm": slab_thickness_error_cm(aligned, person.mesh),
        "shape_s": seconds,
        "knee_err_deg": knee_error_deg(pred_checks, truth_checks),
        "arm_gap_cm": f"{min(pred_checks['arm_gap_cm']):.1f} ({min(truth_checks['arm_gap_cm']):.1f})",
        "feet_forward": f"{_yes(pred_checks['feet_forward'])} ({_yes(truth_checks['feet_forward'])})",
        "round_head": f"{_yes(pred_checks['round_head'])} ({_yes(truth_checks['round_head'])})",
        **pose,
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def summary_tables(rows: list[dict]) -> str:
    """The markdown the command prints: the metrics per figure with their mean, then the anatomy checks."""
    from lab.tables import table

    ok = [r for r in rows if r["method"] != "failed"]
    metrics = [{"figure": r["figure"], "lens_mm": int(r["lens_mm"]), "method": r["method"],
                **{k: r.get(k) for k in METRIC_FORMATS}} for r in rows]
    if ok:
        metrics.append({"figure": f"mean ({len(ok)})", "lens_mm": "", "method": "",
                        **{k: float(np.mean([r[k] for r in ok])) for k in METRIC_FORMATS}})
    checks = [{"figure": r["figure"], "knee_err_deg": r.get("knee_err_deg"), "arm_gap_cm": r.get("arm_gap_cm"),
               "feet_forward": r.get("feet_forward"), "round_head": r.get("round_head")} for r in ok]
    text = table(metrics, {**METRIC_FORMATS, "lens_mm": "{}"})
    if checks:
        text += ("\n\nAnatomy on the prediction (the truth in brackets): knee flexion error in degrees (legs the "
                 "truth shows), the smaller arm-torso gap in the section through the elbows (cm), feet pointing "
                 "forward, back of the head round.\n\n" + table(checks, {"knee_err_deg": "{:.1f}"}))
    posed = [r for r in ok if "lean_error_deg" in r]
    if posed:
        pose_rows = [{"figure": r["figure"], **{k: f.format(r[k]) for k, f in POSE_FORMATS.items()}} for r in posed]
        pose_rows.append({"figure": f"mean of the sizes ({len(posed)})",
                          **{k: f"{np.mean([abs(r[k]) for r in posed]):.1f}" for k in POSE_FORMATS}})
        text += ("\n\nThe fitted skeleton against the true joints (lab/eval/pose_checks.py): knee bend error "
                 "(degrees, both legs), the trunk's forward lean and the camera's look-down, fitted minus true "
                 "(degrees).\n\n" + table(pose_rows))
    failed = [r for r in rows if r["method"] == "failed"]
    for r in failed:
        text += f"\n\nfailed: {r['figure']}: {r['error']}"
    return text


def main(argv: list[str] | None = None) -> int:
    from lab.tables import machine_line

    from ..synthetic.people import FIGURE_NAMES
    from .report import write_csv

    ap = argparse.ArgumentParser(prog="python -m lab.eval shape", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figures", type=int, default=len(FIGURE_NAMES),
                    help=f"how many of the figures, in order ({', '.join(FIGURE_NAMES)})")
    ap.add_argument("--names", help="comma-separated figure names instead (overrides --figures)")
    ap.add_argument("--shape-args", default="", help='extra arguments for `shape`, e.g. "--shape silhouette"')
    ap.add_argument("--voxel", type=float, default=0.01, help="the true meshes' marching-cubes voxel (metres)")
    ap.add_argument("--no-exif", action="store_true", help="write the photos without their focal length")
    ap.add_argument("--eye-height", type=float, default=CHEST_HEIGHT,
                    help="the camera's height as a fraction of the person's (default: chest height, tilted down "
                         "to centre them; 0.5: level)")
    ap.add_argument("--true-landmarks", action="store_true",
                    help="give the fit the figures' true landmarks instead of mediapipe's (a ceiling for the pose "
                         "detector's part: lab/eval/true_landmarks.py)")
    ap.add_argument("--out", type=Path, default=Path("results/shape_eval"))
    args = ap.parse_args(argv)
    names = args.names.split(",") if args.names else list(FIGURE_NAMES[: max(1, args.figures)])
    unknown = [n for n in names if n not in FIGURE_NAMES]
    if unknown:
        print(f"error: no figure {', '.join(unknown)}; choose from {', '.join(FIGURE_NAMES)}", file=sys.stderr)
        return 2

    shape_args = shlex.split(args.shape_args)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    for name in names:
        print(f"{name}: photo, shape stage, scores ...", file=sys.stderr, flush=True)
        rows.append(evaluate_figure(name, args.out, shape_args, args.voxel, not args.no_exif, args.eye_height,
                                    args.true_landmarks))
    command = " ".join(["python -m lab.eval shape", *(argv if argv is not None else sys.argv[2:])])
    text = "\n".join([f"machine: {machine_line()}", f"command: {command}; {time.perf_counter() - t0:.0f} s in all",
                      "", summary_tables(rows)])
    print(text)
    write_csv(args.out / "shape_eval.csv", [{k: r.get(k) for k in _columns(rows)} for r in rows])
    (args.out / "summary.md").write_text(text + "\n")
    print(f"\nwrote {args.out}/summary.md, shape_eval.csv and one folder per figure", file=sys.stderr)
    return 0 if all(r["method"] != "failed" for r in rows) else 1


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))
