"""`python -m backend job JOBDIR`: run the job a caller described in JOBDIR/job.json (docs/job.md).

Events go to stdout as JSON lines and to JOBDIR/events.jsonl; the result to JOBDIR/out/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UserError
from .progress import Progress

COMMANDS = ("digitize", "retexture")
OPTION_KEYS = {"preset", "seed", "height_m", "device", "inpainter", "prompt", "negative_prompt",
               "fusion_iterations", "segmenter", "rasterizer", "models_dir", "models", "diffusion_steps", "offload",
               "resume", "views"}


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
    path = job_dir / "job.json"
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no job.json in {job_dir}") from None
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if not isinstance(job, dict) or job.get("command") not in COMMANDS:
        raise UserError(f"{path}: 'command' must be one of {', '.join(COMMANDS)}")
    if not job.get("photo"):
        raise UserError(f"{path}: 'photo' is missing")
    if job["command"] == "retexture" and not job.get("mesh"):
        raise UserError(f"{path}: a retexture job needs 'mesh'")
    return job


def resolve(job_dir: Path, value: str | None) -> Path | None:
    if not value:
        return None
    p = Path(value)
    return p if p.is_absolute() else job_dir / p


def run_job(job_dir: Path, progress: Progress) -> dict:
    from .pipeline import DigitizeOptions, run_digitize

    job = read_job(job_dir)
    opts = {k: v for k, v in (job.get("options") or {}).items() if k in OPTION_KEYS}
    if opts.get("models_dir"):
        opts["models_dir"] = Path(opts["models_dir"])
    options = DigitizeOptions(**opts, mesh_path=resolve(job_dir, job.get("mesh")),
                              maps_path=resolve(job_dir, job.get("maps")),
                              keep_mesh_uvs=job["command"] == "retexture")
    (job_dir / "work").mkdir(exist_ok=True)
    return run_digitize(resolve(job_dir, job["photo"]), job_dir / "out", options, progress)


def main(job_dir: Path) -> Progress:
    """Sets up the event stream; the CLI runs `run_job` inside its usual error handling."""
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise UserError(f"job folder not found: {job_dir}")
    return Progress(stream=TeeStream(job_dir / "events.jsonl"), jsonl=True)
