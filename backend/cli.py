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
from typing import Any

from . import options as opts
from .errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


class Parser(argparse.ArgumentParser):
    """argparse with the house's one line: `error: ...` and exit code 2, no usage block."""

    def error(self, message: str):
        if message.startswith("argument "):  # "argument --height: --height must be ..." -> the second half
            flag, _, rest = message[len("argument "):].partition(": ")
            message = rest if rest.startswith(flag.split("/")[-1]) else f"{flag}: {rest}"
        print(f"error: {message}", file=sys.stderr)
        self.exit(EXIT_BAD_INPUT)


def option_type(option: opts.Option):
    """An argparse type that converts and checks through the shared option table (backend/options.py)."""

    def parse(text: str):
        try:
            return opts.from_text(option, text, option.flag)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = option.key  # argparse names the type in some messages
    return parse


def add_options(p: argparse.ArgumentParser, command: str) -> None:
    """The table's options that `command` takes, as flags."""
    for o in opts.OPTIONS.values():
        if command not in o.commands:
            continue
        kw: dict[str, Any] = {"dest": o.dest, "help": o.help}
        if o.kind == opts.SWITCH:
            p.add_argument(o.flag, action="store_true", **kw)
        elif o.kind == opts.MODELS:
            p.add_argument(o.flag, action="append", default=[], type=option_type(o), metavar="KEY=ID_OR_FOLDER", **kw)
        else:
            metavar = "{" + ",".join(o.choices) + "}" if o.choices else o.key.upper()
            p.add_argument(o.flag, type=option_type(o), default=o.default, metavar=metavar, **kw)


def add_common(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("photo", type=Path, help="photo of one person (JPEG, PNG, ...), or a folder of photos")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder: new, empty, or an earlier result (replaced as a whole when done); for a "
                        "folder of photos, one sub-folder each")
    p.add_argument("--mesh", type=Path, help="use this mesh (OBJ/PLY/GLB, world frame) instead of reconstructing")
    add_options(p, command)
    p.add_argument("--events", choices=["text", "jsonl"], default="text", help="progress format on stderr")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m backend", description="Photo of a person -> textured 3D human.")
    sub = ap.add_subparsers(dest="command", required=True)

    dg = sub.add_parser("digitize", help="photo -> textured avatar (OBJ+MTL+PNG, GLB, views, preview)")
    add_common(dg, opts.DIGITIZE)
    sh = sub.add_parser("shape", help="photo -> person mask, body mesh with UVs, per-view maps")
    add_common(sh, opts.SHAPE)

    jb = sub.add_parser("job", help="run the job described in JOBDIR/job.json (docs/job.md; the add-on uses this)")
    jb.add_argument("job_dir", type=Path)
    jb.add_argument("--debug", action="store_true", help="show tracebacks")
    return ap


def option_values(args) -> dict:
    """The command line's options by their table keys (what job.json's `options` holds)."""
    return {o.key: getattr(args, o.dest) for o in opts.OPTIONS.values() if hasattr(args, o.dest)}


def photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def run_one(args, photo: Path, out: Path, progress) -> None:
    from . import pipeline
    from .outputs import claimed_output

    values = option_values(args)
    # The output is claimed (locked, checked that it may be replaced) before the photo is read.
    keep = (photo, args.mesh, values["models_dir"])
    with claimed_output(out, overwrite=values["overwrite"], keep=keep) as out:
        kwargs = {**opts.pipeline_kwargs(values, args.command), "mesh_path": args.mesh}
        if args.command == "shape":
            pipeline.run_shape(photo, out, pipeline.ShapeOptions(**kwargs), progress)
            what = "mesh.obj, mask.png, maps/, result.json"
        else:
            pipeline.run_digitize(photo, out, pipeline.DigitizeOptions(**kwargs), progress)
            what = "preview.png, avatar.glb, mesh.obj + texture.png, views/, result.json"
            if (out / "rig.json").is_file():
                what = what.replace("avatar.glb", "avatar.glb (rigged)") + ", rig.json"
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
        opts.preflight(option_values(args))
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
