"""Re-texture's Blender half, run in a second Blender in the background: OBJ + Cycles maps.

Rendering 11 views with Cycles takes seconds (about 1 s a view for a 100k-face mesh on 2
cores); one render call cannot be cut into ticks, so it runs in its own process and the
artist's Blender only follows its JSON-line events, as it follows the backend's
(job_client.ProcessChain). The add-on writes ``input/blender_mesh.npz`` (world-space
triangles, recentred; mesh_data.world_triangles) and job.json (the cameras); this writes
``input/mesh.obj`` and ``input/maps/`` and removes the npz.

Two slow Blender calls of Re-texture happen here too (background_mesh.py), each on arrays the add-on
wrote, so the artist's UI never waits on them:

- ``input/blender_unwrap.npz`` (a mesh without UVs: its own polygons): Smart UV Project; the
  maps and the OBJ get those UVs, and ``input/blender_made.npz`` (``loop_uv``) takes them back to
  the artist's Blender, which writes them onto the mesh once the re-texture has succeeded.
- ``input/blender_decimate.npz`` (Decimate a Copy: the mesh as shown, modifiers applied): the
  Decimate modifier brings it under the face limit (unwrapped when it has no UVs); this process
  then writes ``blender_mesh.npz`` and job.json's cameras itself, and ``blender_made.npz`` holds
  the copy's mesh for the artist's Blender to build.

    <blender> --background --factory-startup --python maps_job.py -- JOBDIR
    <python with bpy> maps_job.py JOBDIR          (bpy as a Python module: the tests)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MESH_ARRAYS = "input/blender_mesh.npz"
UNWRAP = "input/blender_unwrap.npz"
DECIMATE = "input/blender_decimate.npz"
MADE = "input/blender_made.npz"  # what this process made for the artist's Blender (UVs, or the decimated copy)
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


class JobError(Exception):
    """A failure whose message is the artist's whole line (no "rendering the maps failed" before it)."""


def write_inputs(job_dir: Path, job_json: dict, raw, name: str, camera: dict | None) -> None:
    """The maps' inputs from an object's triangles (mesh_data.RawTriangles): the centred arrays, the view
    cameras and the photo's camera moved with the mesh, into job.json. NumPy only: the add-on runs it in
    a thread, this process for a decimated copy."""
    from . import cameras, job_client
    from .retexture_input import centred

    arrays = centred(raw)
    extra = {}
    moved = None if camera is None else cameras.camera_for_moved_mesh(camera, raw.matrix_world, arrays.shift)
    if moved is not None:
        extra["input_camera"] = moved
    job_client.write_job(job_dir, {**job_json, **extra, "cameras": cameras.view_cameras(arrays.vertices)})
    header = f"{name} from Blender; world frame: metres, Z up, facing -Y; moved by {arrays.shift.round(6).tolist()}"
    arrays.save(job_dir / MESH_ARRAYS, header)


def save_npz(path: Path, **arrays) -> None:
    """Arrays to ``path`` whole or not at all (written beside it, then renamed): the other Blender reads it."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _unwrap(job_dir: Path):
    """Smart UV Project of the artist's mesh: its corners' UVs go back to the add-on (MADE); returns the
    triangles' corner UVs (T, 3, 2) for the OBJ and the maps."""
    import numpy as np

    from . import background_mesh
    from .mesh_data import PolygonMesh

    with np.load(job_dir / UNWRAP) as z:
        pm, tri_loops = PolygonMesh.from_npz(z), z["tri_loops"]
    _emit("stage", "unwrapping the mesh (Smart UV Project)", stage="unwrap")
    uv = background_mesh.unwrap(pm)
    save_npz(job_dir / MADE, loop_uv=uv)
    (job_dir / UNWRAP).unlink()
    return uv.reshape(-1, 2)[tri_loops]


def _decimate(job_dir: Path) -> None:
    """Decimate a Copy: the copy's mesh (MADE) and the maps' inputs from it (MESH_ARRAYS, job.json)."""
    import numpy as np

    from . import background_mesh
    from .mesh_data import PolygonMesh, RawTriangles
    from .retexture_input import FaceCount, too_many_words

    with np.load(job_dir / DECIMATE) as z:
        source, matrix = PolygonMesh.from_npz(z), z["matrix_world"]
        count, limits = FaceCount(int(z["faces"]), int(z["triangles"])), (int(z["max_faces"]), int(z["max_triangles"]))
        name, copy, camera = str(z["name"]), str(z["copy_name"]), json.loads(str(z["camera"]))
    _emit("stage", f"decimating a copy of {name}", stage="decimate")
    try:
        made = background_mesh.decimate(source, count, *limits)
    except background_mesh.StillTooMany as e:
        raise JobError(f"Decimating a copy of {name} left {too_many_words(copy, e.count, *limits)}") from None
    pm = made.mesh
    if pm.uv is None:
        _emit("stage", "unwrapping the decimated copy (Smart UV Project)", stage="unwrap")
        pm.uv, pm.uv_name = background_mesh.unwrap(pm), "UVMap"
    save_npz(job_dir / MADE, faces=np.array(made.count.faces), **pm.to_npz())
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    write_inputs(job_dir, job, RawTriangles(pm.co, pm.corner_vert, made.loops, pm.uv, matrix), copy, camera)
    (job_dir / DECIMATE).unlink()


def run(job_dir: Path) -> None:
    import numpy as np

    from . import maps_render, obj_io

    if (job_dir / DECIMATE).is_file():
        _decimate(job_dir)
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    arrays = np.load(job_dir / MESH_ARRAYS)
    vertices, triangles = arrays["vertices"], arrays["triangles"]
    corner_uv = arrays["corner_uv"] if "corner_uv" in arrays.files else None
    if (job_dir / UNWRAP).is_file():
        corner_uv = _unwrap(job_dir)
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
    except JobError as e:
        _emit("error", str(e))
        return 1
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
