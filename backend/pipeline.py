"""Runs the stages in data-flow order and writes the result folder.

Stages take plain data and give plain data (see each package); only this module touches
the output folder, only the CLI and the add-on talk to users.

    intake  -> photo, person mask, working crop        (backend.intake)
    shape   -> closed body mesh + input camera          (backend.shape)
    uv      -> xatlas atlas + padding plan              (backend.uv)
    raster  -> per-view maps for the view set           (backend.raster)
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .conventions import DEFAULT_HEIGHT_M, Camera
from .export.mesh_io import obj_text
from .intake import crop_to_working, load_photo, segment_person
from .outputs import staged_output_dir, write_json, write_png
from .progress import Progress
from .raster import get_rasterizer, save_maps
from .shape.silhouette import SilhouetteShape
from .shape.user_mesh import UserMeshShape
from .uv.atlas import unwrap
from .views import DEFAULT_VIEWS, view_cameras


@dataclass
class ShapeOptions:
    height_m: float = DEFAULT_HEIGHT_M
    mesh_path: Path | None = None
    working_resolution: int = 512
    map_resolution: int = 512
    texture_resolution: int = 1024
    segmenter: str = "auto"
    rasterizer: str = "auto"


def camera_in_photo(working_camera: Camera, x0: float, y0: float, scale: float, width: int, height: int) -> Camera:
    """The working-crop camera expressed in the original photo's pixels.

    working = (original - (x0, y0)) * scale, so original = working / scale + (x0, y0).
    """
    c = working_camera
    return Camera(c.world_to_camera, width, height, c.fx / scale, c.fy / scale, c.cx / scale + x0, c.cy / scale + y0,
                  c.projection, "input", c.azimuth_deg, c.elevation_deg)


def run_shape(photo_path: Path, out_dir: Path, options: ShapeOptions, progress: Progress | None = None) -> dict:
    """photo -> mask -> mesh -> UV atlas -> maps, written to `out_dir` (whole or not at all)."""
    progress = progress or Progress()
    t_start = time.perf_counter()
    total = 5
    with staged_output_dir(out_dir) as tmp:
        with progress.stage("intake", 1, total, "reading the photo and finding the person"):
            photo = load_photo(photo_path)
            seg = segment_person(photo, method=options.segmenter)
            working = crop_to_working(photo, seg.mask, resolution=options.working_resolution)
        for note in seg.notes:
            progress.warning(note) if seg.method == "grabcut" else progress.emit("log", note)

        with progress.stage("shape", 2, total, "building the body mesh"):
            estimator = UserMeshShape(options.mesh_path) if options.mesh_path else SilhouetteShape()
            shape = estimator.estimate(working.rgb, working.mask, height_m=options.height_m)

        with progress.stage("uv", 3, total, "unwrapping UVs (xatlas)"):
            atlas = unwrap(shape.mesh, options.texture_resolution)
        mesh = atlas.mesh

        with progress.stage("raster", 4, total, "rendering normal, silhouette, UV and depth maps"):
            cameras = view_cameras(mesh, DEFAULT_VIEWS, options.map_resolution)
            rasterizer = get_rasterizer(options.rasterizer)
            maps = rasterizer.render(mesh, cameras)

        with progress.stage("write", 5, total, "writing the results"):
            (tmp / "mesh.obj").write_text(obj_text(mesh))
            write_png(tmp / "mask.png", seg.mask)
            save_maps(maps, tmp / "maps")
            input_camera = camera_in_photo(shape.camera, working.x0, working.y0, working.scale,
                                           photo.width, photo.height)
        progress.timings["total"] = round(time.perf_counter() - t_start, 3)
        result = {
            "version": __version__,
            "photo": str(Path(photo_path).absolute()),
            "input_camera": input_camera.to_json(),
            "working_camera": shape.camera.to_json(),
            "working_crop": {"x0": working.x0, "y0": working.y0, "scale": working.scale,
                             "resolution": options.working_resolution},
            "segmentation": {"method": seg.method, "notes": seg.notes},
            "shape": {"method": shape.method, "notes": shape.notes, "height_m": options.height_m},
            "mesh": {"file": "mesh.obj", "vertices": len(mesh.vertices), "faces": len(mesh.faces)},
            "uv": {"charts": atlas.charts, "utilization": round(atlas.utilization, 4), **atlas.plan.to_json()},
            "maps": {"folder": "maps", "format": "docs/maps.md", "rasterizer": rasterizer.name,
                     "views": [c.to_json() for c in cameras]},
            "fallbacks": fallbacks(seg.method, shape.method),
            "timings_s": dict(progress.timings),
            "platform": platform.platform(),
        }
        write_json(tmp / "result.json", result)
    progress.emit("result", f"done: {Path(out_dir)}", out=str(out_dir))
    return result


def fallbacks(segmentation_method: str, shape_method: str) -> list[dict]:
    """Which parts ran without their learned model, in plain words."""
    out = []
    if segmentation_method == "grabcut":
        out.append({"part": "segmentation", "used": "OpenCV GrabCut",
                    "why": "the bundled person segmenter (mediapipe) is not available"})
    if shape_method == "silhouette":
        out.append({"part": "shape", "used": "silhouette inflation",
                    "why": "no learned shape model is used yet; the depth profile is estimated from the outline"})
    return out

