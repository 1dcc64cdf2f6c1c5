"""Command line: `python -m backend shape PHOTO --out DIR`.

Talks to people: progress on stderr, and for anything wrong with the input one line that
starts with `error:` and exit code 2 (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback
from pathlib import Path

from .conventions import DEFAULT_HEIGHT_M
from .errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def positive_height(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.3 <= value <= 3.0:
        raise argparse.ArgumentTypeError(f"height must be between 0.3 and 3.0 metres, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m backend", description="Photo of a person -> 3D body mesh.")
    sub = ap.add_subparsers(dest="command", required=True)

    sh = sub.add_parser("shape", help="photo -> person mask, body mesh with UVs, per-view maps")
    sh.add_argument("photo", type=Path, help="photo of one person (JPEG, PNG, ...)")
    sh.add_argument("--out", type=Path, required=True, help="output folder (replaced as a whole when done)")
    sh.add_argument("--height", type=positive_height, default=DEFAULT_HEIGHT_M, metavar="METRES",
                    help=f"the person's height in metres (default {DEFAULT_HEIGHT_M})")
    sh.add_argument("--mesh", type=Path, help="use this mesh (OBJ/PLY/GLB, world frame) instead of reconstructing")
    sh.add_argument("--segmenter", choices=["auto", "alpha", "mediapipe", "grabcut"], default="auto")
    sh.add_argument("--rasterizer", choices=["auto", "cpu", "nvdiffrast"], default="auto")
    sh.add_argument("--events", choices=["text", "jsonl"], default="text", help="progress format on stderr")
    sh.add_argument("--debug", action="store_true", help="show tracebacks")
    return ap


def run_shape_command(args) -> int:
    from .pipeline import ShapeOptions, run_shape
    from .progress import Progress

    options = ShapeOptions(height_m=args.height, mesh_path=args.mesh, segmenter=args.segmenter,
                           rasterizer=args.rasterizer)
    run_shape(args.photo, args.out, options, Progress(jsonl=args.events == "jsonl"))
    print(f"wrote {args.out}/ (mesh.obj, mask.png, maps/, result.json)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    try:
        return run_shape_command(args)
    except UserError as e:
        return fail(str(e), EXIT_BAD_INPUT, args.debug)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            return fail(f"the disk is full while writing {e.filename or args.out}", EXIT_BAD_INPUT, args.debug)
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            return fail(f"permission denied: {e.filename or args.out}", EXIT_BAD_INPUT, args.debug)
        return fail(f"{e.strerror or e}: {e.filename or ''}", EXIT_FAILED, args.debug)
    except KeyboardInterrupt:
        return fail("cancelled", 130, False)
    except MemoryError:
        return fail("out of memory; try a smaller photo", EXIT_FAILED, args.debug)
    except Exception as e:  # a bug: still one line for the user, the traceback with --debug
        return fail(f"internal error ({type(e).__name__}: {e}); rerun with --debug and report it", EXIT_FAILED,
                    args.debug)


def fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    return code
