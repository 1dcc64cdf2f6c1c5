"""Command line: `python -m backend digitize PHOTO --out DIR` (and `shape`, its first half).

Talks to people: progress on stderr, and for anything wrong with the input one line that
starts with `error:` and exit code 2 (`--debug` shows the traceback). With `--events jsonl`
the progress is JSON lines instead, for the Blender add-on.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import traceback
from pathlib import Path

from .conventions import DEFAULT_HEIGHT_M
from .errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


def positive_height(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.3 <= value <= 3.0:
        raise argparse.ArgumentTypeError(f"height must be between 0.3 and 3.0 metres, got {value}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def checked_by(check):
    """An argparse type that keeps the text but refuses it, as argparse does, when `check` raises a UserError."""

    def parse(text: str) -> str:
        try:
            check(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text

    return parse


def model_override(text: str) -> str:
    from .models.registry import parse_model_override

    return checked_by(parse_model_override)(text)


def view_schedule(text: str) -> str:
    from .views import parse_views

    return checked_by(parse_views)(text)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", type=Path, help="photo of one person (JPEG, PNG, ...), or a folder of photos")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder (replaced as a whole when done; for a folder of photos, one sub-folder each)")
    p.add_argument("--height", type=positive_height, default=DEFAULT_HEIGHT_M, metavar="METRES",
                   help=f"the person's height in metres (default {DEFAULT_HEIGHT_M})")
    p.add_argument("--mesh", type=Path, help="use this mesh (OBJ/PLY/GLB, world frame) instead of reconstructing")
    p.add_argument("--segmenter", choices=["auto", "alpha", "mediapipe", "grabcut"], default="auto")
    p.add_argument("--rasterizer", choices=["auto", "cpu", "nvdiffrast"], default="auto")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--models-dir", type=Path, metavar="DIR",
                   help="a folder, one sub-folder per model role (inpaint/, controlnet_normal/, normals/, ...: "
                        "docs/models.md)")
    p.add_argument("--model", action="append", default=[], type=model_override, metavar="KEY=ID_OR_FOLDER",
                   help="use this folder, or this hub id already on this machine, for a model role (repeatable)")
    p.add_argument("--views", default="default", type=view_schedule, metavar="SCHEDULE",
                   help="view schedule: default (the paper's 8 views + 4 from above/below), paper (its 8), or the "
                        "views after the input in order, e.g. 180,45,-45,90,-90,135,-135,0@60 (AZIMUTH[@ELEVATION])")
    p.add_argument("--events", choices=["text", "jsonl"], default="text", help="progress format on stderr")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m backend", description="Photo of a person -> textured 3D human.")
    sub = ap.add_subparsers(dest="command", required=True)

    dg = sub.add_parser("digitize", help="photo -> textured avatar (OBJ+MTL+PNG, GLB, views, preview)")
    add_common(dg)
    dg.add_argument("--seed", type=int, default=0, help="same seed, same inputs -> same texture")
    dg.add_argument("--preset", choices=["fast", "quality"], default="fast")
    dg.add_argument("--inpainter", choices=["auto", "classical", "diffusion"], default="auto")
    dg.add_argument("--prompt", default="", help="words added to the inpainting prompt (diffusion only)")
    dg.add_argument("--negative-prompt", default="", help="negative prompt (diffusion only)")
    dg.add_argument("--fusion-iterations", type=int, help="texture optimisation steps (default: the preset's)")
    dg.add_argument("--steps", type=positive_int, metavar="N", help="diffusion steps per view (default: the preset's)")
    dg.add_argument("--offload", action="store_true",
                    help="CUDA: keep only the running model on the GPU (for GPUs with little memory)")
    dg.add_argument("--resume", action="store_true",
                    help="continue a killed run of the same photo and options from its last finished stage")

    sh = sub.add_parser("shape", help="photo -> person mask, body mesh with UVs, per-view maps")
    add_common(sh)

    jb = sub.add_parser("job", help="run the job described in JOBDIR/job.json (docs/job.md; the add-on uses this)")
    jb.add_argument("job_dir", type=Path)
    jb.add_argument("--debug", action="store_true", help="show tracebacks")
    return ap


def photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def run_one(args, photo: Path, out: Path, progress) -> None:
    from . import pipeline

    common = dict(height_m=args.height, mesh_path=args.mesh, segmenter=args.segmenter, rasterizer=args.rasterizer,
                  device=args.device, models_dir=args.models_dir, models=args.model, views=args.views)
    if args.command == "shape":
        pipeline.run_shape(photo, out, pipeline.ShapeOptions(**common), progress)
        what = "mesh.obj, mask.png, maps/, result.json"
    else:
        options = pipeline.DigitizeOptions(**common, preset=args.preset, seed=args.seed, inpainter=args.inpainter,
                                           prompt=args.prompt, negative_prompt=args.negative_prompt,
                                           fusion_iterations=args.fusion_iterations, diffusion_steps=args.steps,
                                           offload=args.offload, resume=args.resume)
        pipeline.run_digitize(photo, out, options, progress)
        what = "preview.png, avatar.glb, mesh.obj + texture.png, views/, result.json"
    if not args.events == "jsonl":
        print(f"wrote {out}/ ({what})")


def run_folder(args, progress) -> int:
    photos = photos_in(args.photo)
    if not photos:
        raise UserError(f"no photos (JPEG, PNG, TIFF, WebP, BMP) in the folder {args.photo}")
    failed = []
    for i, photo in enumerate(photos, 1):
        progress.emit("log", f"=== photo {i}/{len(photos)}: {photo.name}")
        try:
            run_one(args, photo, args.out / photo.stem, progress)
        except UserError as e:
            failed.append(photo.name)
            progress.emit("error", f"{photo.name}: {e} (skipped)")
    if failed:
        print(f"error: {len(failed)} of {len(photos)} photos failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def exit_on_sigterm(signum, frame):
    """Cancel (the add-on terminates the job): unwind, so half-written outputs are removed."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = build_parser().parse_args(argv)
    from .progress import Progress

    progress = Progress(jsonl=getattr(args, "events", "text") == "jsonl")
    try:
        if args.command == "job":
            from . import job

            progress = job.main(args.job_dir)
            job.run_job(args.job_dir, progress)
            return EXIT_OK
        if args.photo.is_dir():
            return run_folder(args, progress)
        run_one(args, args.photo, args.out, progress)
        return EXIT_OK
    except UserError as e:
        return fail(progress, str(e), EXIT_BAD_INPUT, args.debug)
    except OSError as e:
        return fail(progress, *os_error_message(e, getattr(args, "out", None)), args.debug)
    except KeyboardInterrupt:
        return fail(progress, "cancelled", 130, False)
    except MemoryError:
        return fail(progress, "out of memory; try a smaller photo", EXIT_FAILED, args.debug)
    except Exception as e:  # a bug: still one line for the user, the traceback with --debug
        return fail(progress, f"internal error ({type(e).__name__}: {e}); rerun with --debug and report it",
                    EXIT_FAILED, args.debug)


def os_error_message(e: OSError, out: Path | None) -> tuple[str, int]:
    """(one line, exit code) for an OSError that reached the top.

    A full disk or a denied write is the user's to fix (exit 2); anything else is a failure
    (exit 1). A file in the hidden staging folder, or none, is named by the --out folder given.
    """
    from .outputs import DISK_FULL, why_not_writable

    name = e.filename
    staged = name is not None and ".partial-" in str(name)
    if e.errno in DISK_FULL:
        where = out if (staged or name is None) and out is not None else name
        where = f" while writing {where}" if where else ""
        return f"the disk is full{where}: free some space and try again", EXIT_BAD_INPUT
    if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        if name is not None and not staged:  # may be a file being read
            return f"permission denied: {name}", EXIT_BAD_INPUT
        return f"cannot write to {out or 'the output folder'}: {why_not_writable(e)}", EXIT_BAD_INPUT
    what = e.strerror or str(e)
    return (f"{what}: {name}" if name else what), EXIT_FAILED


def fail(progress, message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    if progress.jsonl:
        progress.emit("error", message, exit_code=code)
    print(f"error: {message}", file=sys.stderr)
    return code
