"""Time on Blender's UI thread to build a digitize result, piece by piece (one piece per timer tick),
or to start and follow a re-texture.

    .venv/bin/python tools/bench_blender_ticks.py out/sample                  # the venv's Blender
    PYTHONPATH=.venv/blender/4.5.4 .venv/bin/python tools/bench_blender_ticks.py out/sample
    .venv/bin/python tools/bench_blender_ticks.py --retexture 100000          # a 100k-face mesh
    .venv/bin/python tools/bench_blender_ticks.py --retexture 100000 --no-uvs --decimate   # unwrap, decimate
    .venv/bin/python tools/bench_blender_ticks.py --shape samples/person.jpg --texture --builds 3   # both steps

OUT_DIR is a finished `digitize` (or `shape`) output. Builds the result `--builds` times in this bpy process
(a fresh empty scene each time) with `scene_result.build_result_steps`, as the add-on's timer
does, and prints one table row: the first build's longest piece (first-use costs inside Blender),
then the median over the other builds of the longest piece and of all pieces together.

--retexture FACES: a mesh of about FACES faces (with UVs) is re-textured `--builds` times with
`digitize.retexture_selected(wait=False)` against a backend that answers at once (what is timed is
Blender's side: the operator's call, then every timer tick until the texture is on). Prints the
median over runs of the operator's call, of the longest tick and of the median tick, and of the
whole run's wall time. --no-uvs removes the mesh's UV map (the re-texture unwraps it); --decimate lowers the
face limit to half the mesh's faces and ticks Decimate a Copy (the decimated copy is what gets textured).

--shape PHOTO: `digitize.reconstruct_shape(wait=False)` on PHOTO `--builds` times with the REAL backend
(this venv's Python), the timer driven as Blender drives it: the operator's call, the longest and the
median tick, the whole run from the click to the mesh in the scene, and the backend's own time
(result.json's `timings_s.total`); medians over the runs. With --texture, each run then presses
Texture Selected Mesh on the result (the scene's fusion steps: the preset's), timed the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from blender_addon import scene_result  # noqa: E402
from lab.tables import table  # noqa: E402


def build_once(out_dir: Path, name: str) -> list[float]:
    """Milliseconds of each piece of one build."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    steps = scene_result.build_result_steps(bpy.context, scene_result.load_result_files(out_dir), name)
    ticks, done = [], False
    while not done:
        t0 = time.perf_counter()
        try:
            next(steps)
        except StopIteration:  # the last piece runs in the call that ends the generator
            done = True
        ticks.append((time.perf_counter() - t0) * 1000)
    return ticks


FAKE_BACKEND = """#!/bin/sh
job="$5"
mkdir -p "$job/out"
cp "$job/input/mesh.obj" "$job/out/mesh.obj"
cp "{texture}" "$job/out/texture.png"
echo '{{"type": "result", "message": "fake result"}}'
"""


def retexture_once(faces: int, work: Path, run: int, no_uvs: bool = False, decimate: bool = False) -> dict:
    """Milliseconds of the operator's call and of each timer tick of one re-texture. ``no_uvs``: the mesh has
    no UV map (the re-texture unwraps it); ``decimate``: the face limit is lowered to half the mesh's faces
    and Decimate a Copy is ticked (the copy is what gets textured)."""
    import blender_addon
    from blender_addon import retexture_input

    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    try:
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.backend_python = str(work / "fake_python")
        prefs.jobs_dir = str(work / f"jobs{run}")
        bpy.context.scene.digitize.photo_path = str(work / "photo.png")
        segments = max(8, round((2 * faces) ** 0.5))  # a UV sphere: segments x segments/2 faces
        bpy.ops.mesh.primitive_uv_sphere_add(segments=segments, ring_count=max(4, segments // 2), radius=0.5,
                                             location=(0.0, 0.0, 0.9))
        obj = bpy.context.active_object
        obj.scale = (0.5, 0.35, 1.8)
        while no_uvs and obj.data.uv_layers:
            obj.data.uv_layers.remove(obj.data.uv_layers[0])
        limits = retexture_input.MAX_FACES, retexture_input.MAX_TRIANGLES
        if decimate:
            n = len(obj.data.polygons)
            retexture_input.MAX_FACES, retexture_input.MAX_TRIANGLES = n // 2, n
        try:
            return {**follow(bpy.ops.digitize.retexture_selected, use_panel_photo=True, decimate_copy=decimate),
                    "faces": len(obj.data.polygons)}
        finally:
            retexture_input.MAX_FACES, retexture_input.MAX_TRIANGLES = limits
    finally:
        blender_addon.unregister()


def follow(operator, **kwargs) -> dict:
    """One job operator started with wait=False and its timer driven to the end: the call's and each
    tick's milliseconds, the whole run's seconds, the backend's own (result.json `timings_s.total`)."""
    import json

    from blender_addon import job_runner

    t0 = time.perf_counter()
    operator(wait=False, **kwargs)
    start_ms = (time.perf_counter() - t0) * 1000
    ticks = []
    while job_runner.ACTIVE is not None:
        t = time.perf_counter()
        job_runner.tick()
        ticks.append((time.perf_counter() - t) * 1000)
        time.sleep(job_runner.TICK_S)
    job = job_runner.LAST
    result = Path(job.job_dir) / "out" / "result.json"
    backend_s = json.loads(result.read_text())["timings_s"]["total"] if result.is_file() else float("nan")
    return {"state": job.state, "error": job.error, "start_ms": start_ms, "ticks": ticks,
            "wall_s": time.perf_counter() - t0, "backend_s": backend_s}


def two_steps_once(photo: Path, work: Path, run: int, texture: bool) -> list[dict]:
    """Reconstruct Shape (and Texture Selected Mesh on its result) with the real backend."""
    import blender_addon

    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    try:
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.backend_python = sys.executable
        prefs.jobs_dir = str(work / f"jobs{run}")
        prefs.keep_job_folders = True  # result.json says how long the backend took
        settings = bpy.context.scene.digitize
        settings.photo_path = str(photo)
        runs = [{"step": "Reconstruct Shape", **follow(bpy.ops.digitize.reconstruct_shape)}]
        if texture and runs[0]["state"] == "done":
            obj = settings.result_object
            obj.select_set(True)
            bpy.context.view_layer.objects.active = obj
            runs.append({"step": "Texture Selected Mesh", **follow(bpy.ops.digitize.retexture_selected)})
        faces = len(settings.result_object.data.polygons) if settings.result_object else 0
        return [{**r, "faces": faces} for r in runs]
    finally:
        blender_addon.unregister()


def bench_shape(photo: Path, builds: int, texture: bool) -> int:
    import tempfile

    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="bench_shape_") as tmp:
        runs = [two_steps_once(photo.resolve(), Path(tmp), i, texture) for i in range(max(1, builds))]
    bad = [r for steps in runs for r in steps if r["state"] != "done"]
    if bad:
        print(f"error: {bad[0]['step']} did not finish: {bad[0]['error']}", file=sys.stderr)
        return 1
    with Image.open(photo) as im:
        size = f"{im.width}x{im.height}"
    rows = []
    for i, step in enumerate(r["step"] for r in runs[0]):
        of = [steps[i] for steps in runs]
        rows.append({"blender": bpy.app.version_string, "step": step, "photo": size, "faces": of[0]["faces"],
                     "start_ms": statistics.median(r["start_ms"] for r in of),
                     "longest_tick_ms": statistics.median(max(r["ticks"]) for r in of),
                     "median_tick_ms": statistics.median(statistics.median(r["ticks"]) for r in of),
                     "backend_s": statistics.median(r["backend_s"] for r in of),
                     "wall_s": statistics.median(r["wall_s"] for r in of)})
    print(table(rows, {"faces": "{:,}", "start_ms": "{:.1f}", "longest_tick_ms": "{:.1f}",
                       "median_tick_ms": "{:.2f}", "backend_s": "{:.1f}", "wall_s": "{:.1f}"}))
    return 0


def bench_retexture(faces: int, builds: int, no_uvs: bool = False, decimate: bool = False) -> int:
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory(prefix="bench_ticks_") as tmp:
        work = Path(tmp)
        image = bpy.data.images.new("bench", 16, 16)
        image.pixels.foreach_set(np.tile([0.8, 0.1, 0.1, 1.0], 256).astype(np.float32))
        for name in ("photo.png", "texture.png"):
            image.filepath_raw, image.file_format = str(work / name), "PNG"
            image.save()
        (work / "fake_python").write_text(FAKE_BACKEND.format(texture=work / "texture.png"))
        (work / "fake_python").chmod(0o755)
        runs = [retexture_once(faces, work, i, no_uvs, decimate) for i in range(max(1, builds))]
    bad = [r for r in runs if r["state"] != "done"]
    if bad:
        print(f"error: a re-texture did not finish: {bad[0]['error']}", file=sys.stderr)
        return 1
    row = {"blender": bpy.app.version_string, "faces": runs[0]["faces"],
           "mesh": "no UVs" if no_uvs else "UVs", "decimate_copy": decimate,
           "start_ms": statistics.median(r["start_ms"] for r in runs),
           "longest_tick_ms": statistics.median(max(r["ticks"]) for r in runs),
           "median_tick_ms": statistics.median(statistics.median(r["ticks"]) for r in runs),
           "wall_s": statistics.median(r["wall_s"] for r in runs)}
    print(table([row], {"faces": "{:,}", "start_ms": "{:.1f}", "longest_tick_ms": "{:.1f}",
                        "median_tick_ms": "{:.2f}", "wall_s": "{:.1f}"}))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path, nargs="?", help="a finished digitize output folder")
    ap.add_argument("--builds", type=int, default=7)
    ap.add_argument("--retexture", type=int, metavar="FACES", help="time a re-texture of a mesh of FACES faces")
    ap.add_argument("--no-uvs", action="store_true", help="with --retexture: the mesh has no UVs")
    ap.add_argument("--decimate", action="store_true",
                    help="with --retexture: Decimate a Copy, the face limit lowered to half the mesh's faces")
    ap.add_argument("--shape", type=Path, metavar="PHOTO", help="time Reconstruct Shape on PHOTO (the real backend)")
    ap.add_argument("--texture", action="store_true", help="with --shape: then Texture Selected Mesh on its result")
    args = ap.parse_args(argv)
    if args.shape:
        return bench_shape(args.shape, args.builds, args.texture)
    if args.retexture:
        return bench_retexture(args.retexture, args.builds, args.no_uvs, args.decimate)
    if args.out_dir is None:
        ap.error("give OUT_DIR, --retexture FACES or --shape PHOTO")
    if not (args.out_dir / "result.json").is_file():
        print(f"error: {args.out_dir} is not a finished digitize or shape output (no result.json)", file=sys.stderr)
        return 2
    runs = [build_once(args.out_dir, f"bench{i}") for i in range(max(2, args.builds))]
    warm = runs[1:]
    row = {"blender": bpy.app.version_string, "pieces": len(runs[0]),
           "first_build_longest_ms": max(runs[0]),
           "longest_ms": statistics.median(max(r) for r in warm),
           "all_pieces_ms": statistics.median(sum(r) for r in warm)}
    print(table([row], {"pieces": "{}", "first_build_longest_ms": "{:.1f}", "longest_ms": "{:.1f}",
                        "all_pieces_ms": "{:.1f}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
