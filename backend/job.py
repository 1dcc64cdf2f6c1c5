"""`python -m backend job JOBDIR`: run the job a caller described in JOBDIR/job.json (docs/job.md).

Events go to stdout as JSON lines and to JOBDIR/events.jsonl; the result to JOBDIR/out/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import options as opts
from .errors import UserError
from .progress import Progress

COMMANDS = ("digitize", "shape", "retexture")
VERSION = 1
# job.json's own keys and what each must be; `options` is checked by backend/options.py.
PATH_KEYS = ("photo", "mesh", "maps")
JOB_KEYS = ("version", "command", *PATH_KEYS, "cameras", "input_camera", "options")


class TeeStream:
    """Writes every event line to stdout and to the job's events.jsonl."""

    def __init__(self, path: Path):
        self.file = path.open("a", encoding="utf-8")

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        self.file.write(text)

    def flush(self) -> None:
        sys.stdout.flush()
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_job(job_dir: Path) -> dict:
    """job.json, every key and option checked (docs/job.md): a wrong one is refused before any work."""
    path = job_dir / "job.json"
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no job.json in {job_dir}") from None
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if not isinstance(job, dict):
        raise UserError(f"{path}: must hold one object ({{\"command\": ..., \"photo\": ...}})")
    unknown = [k for k in job if k not in JOB_KEYS]
    if unknown:
        raise UserError(f"{path}: {unknown[0]!r} is not a job.json key; the keys are {', '.join(JOB_KEYS)}")
    version = job.get("version", VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise UserError(f"{path}: written by a newer add-on (job version {version}; this backend reads {VERSION}): "
                        "update the backend with Install / Update Backend in the add-on's preferences")
    if version != VERSION:
        raise UserError(f"{path}: version {opts.shown(version)} is not one this backend reads (it reads {VERSION})")
    if job.get("command") not in COMMANDS:
        raise UserError(f"{path}: 'command' must be one of {', '.join(COMMANDS)}")
    for key in PATH_KEYS:
        value = job.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"{path}: '{key}' must be a file path (text), got {opts.shown(value)}")
    if not job.get("photo"):
        raise UserError(f"{path}: 'photo' is missing")
    if job["command"] == "retexture" and not job.get("mesh"):
        raise UserError(f"{path}: a retexture job needs 'mesh'")
    if not isinstance(job.get("cameras", []), list):
        raise UserError(f"{path}: 'cameras' must be a list of cameras, got {opts.shown(job['cameras'])}")
    if job.get("input_camera") is not None:
        job["input_camera"] = read_camera(job["input_camera"], f"{path}: 'input_camera'")
    try:
        job["options"] = opts.read_options(job.get("options"), "options.")
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    return job


def read_camera(value, name: str):
    """A camera as Camera.to_json writes it (docs/job.md), checked: one line naming what is wrong."""
    import math

    from .conventions import Camera

    if not isinstance(value, dict):
        raise UserError(f"{name} must be a camera object (Camera.to_json), got {opts.shown(value)}")
    try:
        camera = Camera.from_json(value)
        numbers = [*camera.world_to_camera.ravel(), camera.fx, camera.fy, camera.cx, camera.cy]
        ok = camera.world_to_camera.shape == (4, 4) and all(math.isfinite(x) for x in numbers)
        ok = ok and camera.width > 0 and camera.height > 0 and camera.fx > 0 and camera.fy > 0
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{name} is not a camera ({type(e).__name__}: {e}): write it as Camera.to_json does") from None
    if not ok:
        raise UserError(f"{name} is not a camera: a 4x4 world_to_camera, a positive size and focal length, "
                        "all finite")
    return camera


def resolve(job_dir: Path, value: str | None) -> Path | None:
    if not value:
        return None
    p = Path(value)
    return p if p.is_absolute() else job_dir / p


def run_job(job_dir: Path, progress: Progress) -> dict:
    job = read_job(job_dir)  # every value checked before the heavy imports below and before any work
    values = job["options"]
    opts.preflight(values)
    from .outputs import claimed_output
    from .pipeline import DigitizeOptions, ShapeOptions, run_digitize, run_shape

    photo, mesh = resolve(job_dir, job["photo"]), resolve(job_dir, job.get("mesh"))
    assert photo is not None  # read_job refused a job without one
    maps = resolve(job_dir, job.get("maps"))
    keep = (job_dir / "job.json", photo, mesh, maps, values["models_dir"])
    with claimed_output(job_dir / "out", overwrite=values["overwrite"], keep=keep) as out:
        (job_dir / "work").mkdir(exist_ok=True)
        if job["command"] == "shape":  # the first step of two: no views' maps, Blender renders the edited mesh's
            options = ShapeOptions(**opts.pipeline_kwargs(values, opts.SHAPE), mesh_path=mesh, shape_maps=False)
            return run_shape(photo, out, options, progress)
        options = DigitizeOptions(**opts.pipeline_kwargs(values), mesh_path=mesh, maps_path=maps,
                                  keep_mesh_uvs=job["command"] == "retexture", input_camera=job.get("input_camera"))
        return run_digitize(photo, out, options, progress)


def main(job_dir: Path) -> Progress:
    """Sets up the event stream; the CLI runs `run_job` inside its usual error handling."""
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise UserError(f"job folder not found: {job_dir}")
    return Progress(stream=TeeStream(job_dir / "events.jsonl"), jsonl=True)
