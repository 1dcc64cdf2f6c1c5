"""Re-texture's Blender half, run in a second Blender in the background: OBJ + Cycles maps.

Rendering 11 views with Cycles takes seconds (about 1 s a view for a 100k-face mesh on 2
cores); one render call cannot be cut into ticks, so it runs in its own process and the
artist's Blender only follows its JSON-line events, as it follows the backend's
(job_client.ProcessChain). The add-on writes ``input/blender_mesh.npz`` (world-space
triangles, recentred; mesh_data.world_triangles) and job.json (the cameras); this writes
``input/mesh.obj`` and ``input/maps/`` and removes the npz.

    <blender> --background --factory-startup --python maps_job.py -- JOBDIR
    <python with bpy> maps_job.py JOBDIR          (bpy as a Python module: the tests)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MESH_ARRAYS = "input/blender_mesh.npz"
MAPS_SHARE = 0.1  # the share of the job's progress bar the maps take (the backend's stages report the rest)


def command(script_python: str, binary: str, job_dir) -> list[str]:
    """How to start this script: Blender's own executable, or (bpy as a module) its Python."""
    script = str(Path(__file__).resolve())
    if binary:
        return [binary, "--background", "--factory-startup", "--python-exit-code", "1", "--python", script,
                "--", str(job_dir)]
    return [script_python, "-u", script, str(job_dir)]


def _emit(kind: str, message: str, **data) -> None:
    print(json.dumps({"type": kind, "message": message, **data}), flush=True)


def run(job_dir: Path) -> None:
    import numpy as np

    from . import maps_render, obj_io

    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    arrays = np.load(job_dir / MESH_ARRAYS)
    vertices, triangles = arrays["vertices"], arrays["triangles"]
    corner_uv = arrays["corner_uv"] if "corner_uv" in arrays.files else None
    header = str(arrays["header"]) if "header" in arrays.files else ""
    cameras = job["cameras"]
    _emit("stage", f"rendering the mesh's maps in Blender ({len(cameras)} views, Cycles)", stage="maps")
    obj_io.write_obj(job_dir / job["mesh"], vertices, triangles, corner_uv, header=header)

    def progress(i, n):
        _emit("progress", f"map {i}/{n}", fraction=MAPS_SHARE * i / n)

    maps_render.render_maps(vertices, triangles, corner_uv, cameras, job_dir / job["maps"], progress=progress)
    (job_dir / MESH_ARRAYS).unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: maps_job.py JOBDIR", file=sys.stderr)
        return 2
    try:
        run(Path(argv[0]))
    except Exception as e:  # noqa: BLE001 (one line for the artist; the traceback for the log)
        import traceback

        traceback.print_exc()
        _emit("error", f"rendering the maps in Blender failed: {e}")
        return 1
    return 0


if __name__ == "__main__":
    # Started as a script: import the add-on package it belongs to, so its relative imports work
    # (a checkout's blender_addon, or an installed extension's folder).
    import importlib

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    job_module = importlib.import_module(f"{here.name}.maps_job")
    args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    sys.exit(job_module.main(args))
