"""Runs the stages in data-flow order and writes the result folder.

Each command is a table of named stages (`SHAPE_STAGES`, `DIGITIZE_STAGES`) that one loop,
`run_stages`, runs in order, timing each and reporting it as "[i/n] ..."; what the stages make
is kept on one `Run`. Stages take plain data and give plain data (see each package); only this
module touches the output folder, only the CLI and the add-on talk to users.

    intake    -> photo, person mask, working crop            (backend.intake)
    shape     -> closed body mesh + input camera              (backend.shape)
    uv        -> xatlas atlas + padding plan                  (backend.uv)
    raster    -> per-view maps for the view set               (backend.raster)
    back view -> the initial back view from the photo         (backend.synthesis.back_view)
    views     -> every other view: aggregate, then inpaint    (backend.synthesis)
    fusion    -> one UV texture matching all views            (backend.fusion)
    export    -> OBJ+MTL+PNG, GLB, views/, preview.png        (backend.export)
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .conventions import DEFAULT_HEIGHT_M, Camera
from .errors import UserError
from .export.mesh_io import obj_text
from .files import write_png
from .intake import crop_to_working, load_photo, segment_person
from .intake.crop import WorkingImage, mask_in_working
from .intake.lens import photo_lens, working_lens
from .intake.photo import Photo
from .intake.segment import Segmentation
from .outputs import OutputTargetError, claimed_output, staged_output_dir, write_json
from .presets import PRESETS, Preset
from .progress import Progress
from .raster import get_rasterizer, load_maps, save_maps
from .shape.base import ShapeResult
from .shape.choose import choose_shape_estimator
from .shape.silhouette import DEFAULT_TARGET_FACES
from .shape.user_mesh import front_match, maps_in_world, mismatch_warning
from .uv.atlas import PaddingPlan, UVAtlas, unwrap
from .view_schedule import parse_views, view_cameras

FINE_MASK_FACTOR = 2  # the shape stage carves the body to the photo's outline at twice the working resolution


@dataclass
class ShapeOptions:
    height_m: float = DEFAULT_HEIGHT_M
    mesh_path: Path | None = None
    working_resolution: int = 512
    map_resolution: int = 512
    texture_resolution: int = 1024
    segmenter: str = "auto"
    shape: str = "auto"  # auto: the fitted body, else the outline's; body: no fallback; silhouette (shape/choose.py)
    rasterizer: str = "auto"
    target_faces: int = DEFAULT_TARGET_FACES  # of the reconstructed body (a user's mesh is kept as it is)
    keep_mesh_uvs: bool = False  # re-texturing: bake onto the user mesh's own UVs when it has them
    input_camera: Camera | None = None  # re-texturing: the photo's camera the mesh was made for (photo pixels)
    shape_maps: bool = True  # shape: render the views' maps too (the add-on's Texture step renders its own)
    rig: str = "mixamo"  # the skeleton delivered with the person, or "none" (backend/rig)
    views: str = "default"  # the view schedule (`backend.view_schedule.parse_views`)
    # The learned models (the shape stage's normals; digitize's inpainter) and where they run.
    device: str = "auto"
    models_dir: Path | None = None  # one sub-folder per model role (docs/models.md)
    models: list[str] = field(default_factory=list)  # "KEY=ID_OR_FOLDER" overrides of model roles
    seed: int = 0


@dataclass
class DigitizeOptions(ShapeOptions):
    preset: str = "fast"
    inpainter: str = "auto"
    prompt: str = ""
    negative_prompt: str = ""
    fusion_iterations: int | None = None  # None: the preset's
    diffusion_steps: int | None = None  # None: the preset's
    offload: bool = False  # CUDA: keep only the running model on the GPU
    maps_path: Path | None = None  # maps rendered elsewhere (Blender) for the view set, instead of ours
    resume: bool = False  # continue a killed run of the same photo and options (backend/checkpoints.py)
    rest_pose: str = "photo"  # the pose it is delivered in: the photo's, "a_pose" or "t_pose" (rig/rest_pose.py)

    def resolved_preset(self) -> Preset:
        return PRESETS[self.preset]


@dataclass
class Body:
    """What the first three stages make: the person, their mesh with UVs, and the input camera."""

    photo: Photo
    segmentation: Segmentation
    working: WorkingImage
    shape: ShapeResult
    atlas: UVAtlas
    input_camera: Camera  # in the original photo's pixels

    @property
    def mesh(self):
        return self.atlas.mesh


def camera_in_photo(working_camera: Camera, x0: float, y0: float, scale: float, width: int, height: int) -> Camera:
    """The working-crop camera expressed in the original photo's pixels.

    working = (original - (x0, y0)) * scale, so original = working / scale + (x0, y0).
    """
    c = working_camera
    return Camera(c.world_to_camera, width, height, c.fx / scale, c.fy / scale, c.cx / scale + x0, c.cy / scale + y0,
                  c.projection, "input", c.azimuth_deg, c.elevation_deg)


def camera_in_working(photo_camera: Camera, working) -> Camera:
    """`camera_in_photo` the other way: a camera in the original photo's pixels, in the working crop's."""
    c, k = photo_camera, working.scale
    return Camera(c.world_to_camera, working.resolution, working.resolution, c.fx * k, c.fy * k,
                  (c.cx - working.x0) * k, (c.cy - working.y0) * k, c.projection, "input", c.azimuth_deg,
                  c.elevation_deg)


# --- the stages -------------------------------------------------------------------------------------
# Each command is a table of named stages (SHAPE_STAGES, DIGITIZE_STAGES), run in order by `run_stages`:
# each stage is timed and reported as "[i/n] what ...", with its share of the run by its weight (the
# add-on's progress bar moves by these), and what it passes on to the user afterwards (its notes and
# warnings) comes after its time. What the stages make is kept on one `Run`.


@dataclass
class Run:
    """One run of a command: what it was given and chose, and what each stage adds, in order."""

    photo_path: Path
    options: ShapeOptions
    progress: Progress
    out: Path  # the staging folder the results are written into
    rasterizer: Any
    # digitize only: its choices, made before any stage runs (a missing weight fails first)
    preset: Preset | None = None
    device: str = "cpu"
    inpainter: Any = None
    inpainter_notes: list = field(default_factory=list)
    checkpoints: Any = None
    # intake
    photo: Photo | None = None
    segmentation: Segmentation | None = None
    working: WorkingImage | None = None
    # shape, uv
    shape: ShapeResult | None = None
    atlas: UVAtlas | None = None
    body: Body | None = None
    digest: str = ""  # the mesh's, for the checkpoints
    # raster
    cameras: list = field(default_factory=list)
    input_maps: Any = None
    view_maps: list = field(default_factory=list)
    maps_entry: dict = field(default_factory=dict)
    mesh_fit: dict | None = None
    # back, views, fusion
    restored: Any = None  # the views and head region of an unfinished run (--resume)
    limbs: Any = None
    views: list = field(default_factory=list)
    head: Any = None
    fused: Any = None
    fused_restored: bool = False
    # export
    rig_entry: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    name: str  # in the events (`stage`) and in result.json's timings
    what: str | Callable[[Run], str]  # the progress line, in the user's words
    run: Callable[[Run], None]
    weight: float  # its usual seconds (the sample, fast preset, 2 CPU cores: docs/benchmarks.md): its progress share
    after: Callable[[Run], None] | None = None  # what it tells the user, and hands on, outside its time
    skip: Callable[[Run], bool] | None = None  # when true it does not run (its `after` still does)


def run_stages(stages: Sequence[Stage], run: Run) -> None:
    """Each stage in turn, timed and reported as [i/n], with its share of the run by its weight."""
    total_weight = sum(stage.weight for stage in stages)
    start = 0.0
    for index, stage in enumerate(stages, start=1):
        share = stage.weight / total_weight
        if stage.skip is None or not stage.skip(run):
            what = stage.what(run) if callable(stage.what) else stage.what
            with run.progress.stage(stage.name, index, len(stages), what, start=start, share=share):
                stage.run(run)
        if stage.after is not None:
            stage.after(run)
        start += share


def _intake(run: Run) -> None:
    run.photo = load_photo(run.photo_path)
    run.segmentation = segment_person(run.photo, method=run.options.segmenter)
    run.working = crop_to_working(run.photo, run.segmentation.mask, resolution=run.options.working_resolution)


def _after_intake(run: Run) -> None:
    seg = run.segmentation
    assert seg is not None
    for note in seg.notes:
        run.progress.warning(note, code="segmenter_missing") if seg.method == "grabcut" else run.progress.emit("log",
                                                                                                              note)


def _shape(run: Run) -> None:
    options, photo, working, seg = run.options, run.photo, run.working, run.segmentation
    assert photo is not None and working is not None and seg is not None
    # A user's mesh, else the fitted body, else the outline's shape (backend/shape/choose.py).
    estimator, close = choose_shape_estimator(options.mesh_path, options.target_faces, shape=options.shape,
                                              models_dir=options.models_dir, models=options.models,
                                              device=options.device, seed=options.seed,
                                              log=lambda message: run.progress.emit("log", message),
                                              camera=None if options.input_camera is None else
                                              camera_in_working(options.input_camera, working))
    lens = photo_lens(photo.width, photo.height, photo.exif_focal)
    try:
        run.shape = estimator.estimate(working.rgb, working.mask, height_m=options.height_m,
                                       lens=working_lens(lens, photo.width, photo.height, working.x0, working.y0,
                                                         working.scale),
                                       fine_mask=mask_in_working(seg.mask, working, FINE_MASK_FACTOR))
    finally:
        close()


def _after_shape(run: Run) -> None:
    shape = run.shape
    assert shape is not None
    if shape.fallback_why:  # weights there but failing: a warning; simply absent: a log line (and `fallbacks`)
        run.progress.warning(shape.fallback_why) if shape.fallback_failed else run.progress.emit("log",
                                                                                                 shape.fallback_why)
    for note in getattr(getattr(shape, "frame", None), "notes", ()):  # a user's mesh converted from cm, mm or Y-up
        run.progress.warning(note, code="mesh_converted")


def _keeps_mesh_uvs(run: Run) -> bool:
    assert run.shape is not None
    return run.options.keep_mesh_uvs and run.shape.mesh.has_uv


def _uv(run: Run) -> None:
    assert run.shape is not None
    run.atlas = unwrap(run.shape.mesh, run.options.texture_resolution)


def _after_uv(run: Run) -> None:
    """The body is whole: the person, their mesh with UVs, the photo's camera."""
    photo, working, shape = run.photo, run.working, run.shape
    assert photo is not None and working is not None and shape is not None and run.segmentation is not None
    if run.atlas is None:  # re-texturing a mesh with its own UVs
        run.atlas = UVAtlas(shape.mesh, PaddingPlan.for_resolution(run.options.texture_resolution), charts=0,
                            utilization=0.0)
        run.progress.emit("log", "kept the mesh's own UVs")
    camera = camera_in_photo(shape.camera, working.x0, working.y0, working.scale, photo.width, photo.height)
    run.body = Body(photo, run.segmentation, working, shape, run.atlas, camera)


def _after_uv_digitize(run: Run) -> None:
    from .checkpoints import mesh_digest

    _after_uv(run)
    assert run.body is not None
    run.digest = mesh_digest(run.body.mesh)
    for note in run.inpainter_notes:
        run.progress.warning(note)


def _shape_maps(run: Run) -> None:
    """The shape command's maps of the views (the add-on's two-step flow renders its own)."""
    assert run.body is not None
    run.cameras = view_cameras(run.body.mesh, parse_views(run.options.views), run.options.map_resolution)
    run.view_maps = run.rasterizer.render(run.body.mesh, run.cameras)


def _write_shape(run: Run) -> None:
    from .rig import rig_json

    body, tmp = run.body, run.out
    assert body is not None
    (tmp / "mesh.obj").write_text(obj_text(body.mesh))
    write_png(tmp / "mask.png", body.segmentation.mask)
    write_png(tmp / PHOTO_IMAGE, photo_with_mask(body.photo.rgb, body.segmentation.mask))
    if run.cameras:
        save_maps(run.view_maps, tmp / "maps")
    write_fitted_body(tmp, body)
    rig, run.rig_entry = make_rig_for(body, run.options.rig)
    if rig is not None:
        write_json(tmp / "rig.json", rig_json(rig))
        del run.rig_entry["glb"]  # no GLB without a texture
    elif run.options.rig != "none":
        run.progress.warning(run.rig_entry["why"], code="no_rig")


def _raster_what(run: Run) -> str:
    return ("reading Blender's maps; rendering the photo's view" if _digitize_options(run).maps_path
            else "rendering the views' maps")


def _raster(run: Run) -> None:
    body, options, preset = run.body, _digitize_options(run), run.preset
    assert body is not None and preset is not None
    name = run.rasterizer.name
    if options.maps_path:  # Blender rendered the views: only the photo's view is ours (its camera is fitted here)
        run.input_maps = run.rasterizer.render(body.mesh, [body.shape.camera])[0]
        run.view_maps = back_view_first(maps_in_world(body.shape, load_maps(options.maps_path)))
        run.maps_entry = {"rendered_by": {"blender": [m.camera.name for m in run.view_maps],
                                          name: [body.shape.camera.name]}}
    else:
        cameras = view_cameras(body.mesh, parse_views(options.views)[1:], preset.view_resolution)
        run.input_maps, *run.view_maps = run.rasterizer.render(body.mesh, [body.shape.camera, *cameras])
        run.maps_entry = {"rendered_by": {name: [body.shape.camera.name, *(c.name for c in cameras)]}}


def _after_raster(run: Run) -> None:
    body = run.body
    assert body is not None
    if body.shape.method == "user_mesh":  # a mesh that is not the photo's person: say so, do not just "succeed"
        run.mesh_fit = front_match(run.input_maps.mask, body.working.mask)
        if not run.mesh_fit["matches"]:
            run.progress.warning(mismatch_warning(run.mesh_fit), code="mesh_photo_mismatch")
    if run.checkpoints.created:
        run.restored = run.checkpoints.load_views([run.input_maps, *run.view_maps], run.digest)
    if run.restored:
        run.views, run.head = run.restored
        run.progress.emit("log", "--resume: the synthesized views come from the unfinished run")


def _back_what(run: Run) -> str:
    return "front and back view: from the unfinished run" if run.restored else \
        "making the front and the initial back view"


def _back(run: Run) -> None:
    from .synthesis import limb_source, make_back_view, make_photo_view

    if run.restored:
        return
    body, options = run.body, _digitize_options(run)
    assert body is not None
    photo_view = make_photo_view(run.input_maps, body.working, run.inpainter, seed=options.seed)
    run.limbs = limb_source(body, photo_view)
    back_view, run.head = make_back_view(run.view_maps[0], photo_view, body, run.inpainter,
                                         seed=options.seed + 1, options=options, limbs=run.limbs)
    run.views = [photo_view, back_view]


def _views_what(run: Run) -> str:
    return "the other views: from the unfinished run" if run.restored else \
        f"synthesizing {len(run.view_maps) - 1} views"


def _views(run: Run) -> None:
    from .synthesis import synthesize_views

    if run.restored:
        return
    options, progress = _digitize_options(run), run.progress

    def on_view(i, n, view):
        progress.emit("progress", f"      view {i}/{n} ({view.name}): {view.inpainter}, "
                      f"{100 * view.summary()['missing_fraction']:.0f}% new, {view.seconds:.1f} s",
                      stage="views", view=view.name, index=i, total=n)

    limbs = run.limbs
    run.views += synthesize_views(run.views[:2], run.view_maps[1:], run.inpainter, seed=options.seed,
                                  prompt_extra=options.prompt, negative_prompt=options.negative_prompt,
                                  on_view=on_view, limbs_of=None if limbs is None else limbs.limbs_of, head=run.head)


def _after_views(run: Run) -> None:
    if not run.restored:
        run.checkpoints.save_views(run.views, run.head, run.digest)
    # The benchmark's finer split of "back" + "views": inpainting and the rest (mostly aggregation).
    run.progress.timings["inpaint"] = round(sum(v.inpaint_seconds for v in run.views), 3)
    run.progress.timings["aggregation"] = round(sum(v.seconds - v.inpaint_seconds for v in run.views[2:]), 3)
    run.fused = run.checkpoints.load_fused(run.digest) if run.restored else None
    if run.fused is not None:
        run.fused_restored = True
        run.progress.emit("log", "--resume: the fused texture comes from the unfinished run")


def _fusion_what(run: Run) -> str:
    return "fusing the views: from the unfinished run" if run.fused_restored else "fusing the views into one texture"


def _fusion(run: Run) -> None:
    from .fusion import FusionOptions, fuse_texture

    if run.fused_restored:
        return
    body, options, preset, progress = run.body, _digitize_options(run), run.preset, run.progress
    assert body is not None and preset is not None
    iterations = options.fusion_iterations
    if iterations is None:
        iterations = preset.fusion_iterations

    def on_iter(i, n, loss):
        if i == n or i % max(1, n // 5) == 0:
            progress.emit("progress", f"      fusion step {i}/{n}, loss {loss:.4f}", stage="fusion", index=i, total=n)

    fusion = FusionOptions(iterations=iterations, device=run.device, seed=options.seed,
                           perceptual_resolution=preset.perceptual_resolution)
    run.fused = fuse_texture(body.mesh, views_to_fusion(run.views), body.atlas.plan, fusion, progress=on_iter)


def _after_fusion(run: Run) -> None:
    if not run.fused_restored:
        run.checkpoints.save_fused(run.fused, run.digest)
    for note in run.fused.warnings:
        run.progress.warning(note)
    for note in run.fused.notes:
        run.progress.emit("log", note)


def _export(run: Run) -> None:
    from .export.glb import write_glb
    from .export.preview import write_preview
    from .export.textured import write_obj_with_texture
    from .rig import rig_json

    body, options, tmp, texture = run.body, _digitize_options(run), run.out, run.fused.texture
    assert body is not None
    rig, rig_entry = make_rig_for(body, options.rig)
    if rig is None and options.rig != "none":
        run.progress.warning(rig_entry["why"], code="no_rig")
    # mesh.obj, avatar.glb and rig.json in the rest pose asked for; the views, the preview and
    # body.obj stay in the photo's pose, the one the texture was fused in (docs/rig.md).
    rig, delivered, run.rig_entry = rest_pose_for(rig, rig_entry, body, options.rest_pose, run.progress)
    write_obj_with_texture(delivered, texture, tmp)
    write_png(tmp / "mask.png", body.segmentation.mask)
    write_fitted_body(tmp, body)
    write_views(tmp / "views", run.views)
    write_preview(tmp / "preview.png", body.mesh, texture)
    if rig is not None:
        write_json(tmp / "rig.json", rig_json(rig))
    # The GLB goes last: its presence means the rest is there too.
    write_glb(delivered, texture, tmp / "avatar.glb", rig=rig)


def _digitize_options(run: Run) -> DigitizeOptions:
    assert isinstance(run.options, DigitizeOptions)
    return run.options


# The weights are seconds of the default run (docs/benchmarks.md, 2026-12-04: the body, fast preset, the
# classical inpainter, 2 CPU cores). With the diffusion inpainter the views take longer; their own
# "view i of n" events move the bar through the views' share.
INTAKE = Stage("intake", "reading the photo and finding the person", _intake, 1.0, after=_after_intake)
SHAPE = Stage("shape", "fitting the body to the pose and dressing it", _shape, 8.0, after=_after_shape)
UV = Stage("uv", "unwrapping UVs (xatlas)", _uv, 3.5, after=_after_uv, skip=_keeps_mesh_uvs)
SHAPE_STAGES = (INTAKE, SHAPE, UV, Stage("raster", "rendering normal, silhouette, UV and depth maps", _shape_maps, 0.5),
                Stage("write", "writing the results", _write_shape, 1.5))
DIGITIZE_STAGES = (
    INTAKE, SHAPE, replace(UV, after=_after_uv_digitize),
    Stage("raster", _raster_what, _raster, 0.5, after=_after_raster),
    Stage("back", _back_what, _back, 0.5),
    Stage("views", _views_what, _views, 2.0, after=_after_views),
    Stage("fusion", _fusion_what, _fusion, 12.5, after=_after_fusion),
    Stage("export", "writing mesh, texture, GLB and preview", _export, 1.5),
)


def write_fitted_body(folder: Path, body: Body) -> None:
    """body.obj and body.json: the bare body model under the clothes, when one was fitted."""
    fitted = body.shape.body
    if fitted is not None:
        (folder / "body.obj").write_text(obj_text(fitted.mesh))
        write_json(folder / "body.json", fitted.info)


def make_rig_for(body: Body, name: str):
    """(the rig, or None; result.json's `rig` entry). A rig needs the fitted body's bones."""
    from .rig import make_rig

    if name == "none":
        return None, {"name": None, "why": "no rig was asked for (--rig none)"}
    if body.shape.body is None or body.shape.body.skeleton is None:
        shape = {"silhouette": "the outline's shape", "user_mesh": "your own mesh"}.get(body.shape.method,
                                                                                       body.shape.method)
        return None, {"name": None, "why": f"no rig: a rig needs the fitted 3D body, and this result is {shape}"}
    rig = make_rig(name, body.shape.body, body.mesh)
    return rig, {"name": name, "file": "rig.json", "glb": "avatar.glb", "bones": len(rig.skeleton.names),
                 "bind_pose": "the photo's pose", "rest_pose": "photo"}


REST_POSE_WORDS = {"a_pose": "an A-pose", "t_pose": "a T-pose"}


def rest_pose_for(rig, rig_entry: dict, body: Body, pose: str, progress: Progress):
    """(the rig, the mesh to deliver, result.json's `rig` entry) in the asked rest pose: the photo's
    mesh and rig as they are, or both reposed (backend/rig/rest_pose.py). Without a rig the photo's
    pose stays, with a warning that says why."""
    from .rig.rest_pose import to_rest_pose

    if pose == "photo":
        return rig, body.mesh, rig_entry
    if rig is None:
        why = rig_entry["why"].removeprefix("no rig: ")
        progress.warning(f"--rest-pose {pose} was ignored: it needs a rig ({why}); the person is in the photo's "
                         "pose", code="rest_pose_ignored")
        return rig, body.mesh, {**rig_entry, "rest_pose": "photo"}
    t0 = time.perf_counter()
    rig, mesh = to_rest_pose(rig, body.shape.body, body.mesh, pose)
    progress.emit("log", f"reposed the person to {REST_POSE_WORDS[pose]} in {time.perf_counter() - t0:.2f} s "
                         "(the photo's pose kept as the animation photo_pose)")
    return rig, mesh, {**rig_entry, "bind_pose": REST_POSE_WORDS[pose], "rest_pose": pose,
                       "photo_pose": {"glb_animation": "photo_pose", "rig_json": "poses.photo_pose"}}


def base_result(photo_path: Path, body: Body, options: ShapeOptions, command: str) -> dict:
    """The result.json fields `shape` and `digitize` share; `command` says which made it."""
    mesh, atlas = body.mesh, body.atlas
    working = body.working
    # A user's mesh keeps its own size: say what it is, not what --height asked for.
    height_m = round(float(np.ptp(mesh.vertices[:, 2])), 4) if body.shape.method == "user_mesh" else options.height_m
    return {
        "version": __version__,
        "command": command,
        "photo": str(Path(photo_path).absolute()),
        "input_camera": body.input_camera.to_json(),
        "working_camera": body.shape.camera.to_json(),
        "working_crop": {"x0": working.x0, "y0": working.y0, "scale": working.scale,
                         "resolution": options.working_resolution},
        "segmentation": {"method": body.segmentation.method, "notes": body.segmentation.notes},
        "shape": {"method": body.shape.method, "notes": body.shape.notes, "height_m": height_m,
                  **({"body": "body.json", "body_mesh": "body.obj"} if body.shape.body is not None else {})},
        "mesh": {"file": "mesh.obj", "vertices": len(mesh.vertices), "faces": len(mesh.faces)},
        "uv": {"charts": atlas.charts, "utilization": round(atlas.utilization, 4), **atlas.plan.to_json()},
        "platform": platform.platform(),
    }


def run_shape(photo_path: Path, out_dir: Path, options: ShapeOptions, progress: Progress | None = None) -> dict:
    """photo -> mask -> mesh -> UV atlas (-> maps), written to `out_dir` (whole or not at all).

    What the texture step needs next: the mesh with its UVs, the photo's camera (result.json), the
    photo as it was read (photo.png, the person mask as alpha) and, with a fitted body, its rig.
    """
    progress = progress or Progress()
    t_start = time.perf_counter()
    rasterizer = get_rasterizer(options.rasterizer)
    stages = SHAPE_STAGES if options.shape_maps else tuple(s for s in SHAPE_STAGES if s.name != "raster")
    with claimed_output(out_dir) as out_dir, staged_output_dir(out_dir) as tmp:  # checked and locked first
        run = Run(photo_path, options, progress, tmp, rasterizer)
        run_stages(stages, run)
        body = run.body
        assert body is not None
        progress.timings["total"] = round(time.perf_counter() - t_start, 3)
        result = base_result(photo_path, body, options, "shape")
        result["photo_image"] = {"file": PHOTO_IMAGE, "camera": "input_camera",
                                 "what": "the photo as read (EXIF orientation applied), the person mask as alpha"}
        result["rig"] = run.rig_entry
        if run.cameras:
            result["maps"] = {"folder": "maps", "format": "docs/maps.md", "rasterizer": rasterizer.name,
                              "views": [c.to_json() for c in run.cameras]}
        result["fallbacks"] = fallbacks(body)
        result["timings_s"] = dict(progress.timings)
        write_json(tmp / "result.json", result)
    progress.emit("result", f"done: {Path(out_dir)}", out=str(out_dir))
    return result


PHOTO_IMAGE = "photo.png"
PHOTO_IMAGE_MAX_SIDE = 2048  # a preview to project, not the texture's source: the job reads the photo itself


def photo_with_mask(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo as RGBA with the person mask as alpha, its longer side at most PHOTO_IMAGE_MAX_SIDE."""
    from PIL import Image

    rgba = np.dstack([rgb, np.where(mask, 255, 0).astype(np.uint8)])
    h, w = mask.shape
    k = PHOTO_IMAGE_MAX_SIDE / max(h, w)
    if k >= 1:
        return rgba
    small = Image.fromarray(rgba).resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BILINEAR)
    return np.asarray(small)


def run_digitize(photo_path: Path, out_dir: Path, options: DigitizeOptions, progress: Progress | None = None) -> dict:
    """photo -> textured avatar (OBJ+MTL+PNG, GLB, views, preview), written whole or not at all.

    With `options.resume`, the views and the fused texture of a killed run of the same photo and
    options are taken from its checkpoints (backend/checkpoints.py) instead of being made again.
    """
    with claimed_output(out_dir) as out_dir:  # checked and locked before anything is loaded or read
        return _run_digitize(photo_path, out_dir, options, progress)


def _run_digitize(photo_path: Path, out_dir: Path, options: DigitizeOptions, progress: Progress | None) -> dict:
    from .checkpoints import Checkpoints, run_key
    from .synthesis import choose_inpainter
    from .torch_device import resolve_device

    progress = progress or Progress()
    preset = options.resolved_preset()
    device = resolve_device(options.device)
    t_start = time.perf_counter()
    # Choices that can fail (missing weights, no GPU) fail before any work is done.
    inpainter, inpainter_notes = choose_inpainter(options.inpainter, preset, device, models_dir=options.models_dir,
                                                  models=options.models, steps=options.diffusion_steps,
                                                  offload=options.offload)
    rasterizer = get_rasterizer(options.rasterizer)
    checkpoints = Checkpoints.open(out_dir, run_key(photo_path, options), resume=options.resume, progress=progress)
    try:
        with staged_output_dir(out_dir) as tmp:
            run = Run(photo_path, options, progress, tmp, rasterizer, preset=preset, device=device,
                      inpainter=inpainter, inpainter_notes=list(inpainter_notes), checkpoints=checkpoints)
            run_stages(DIGITIZE_STAGES, run)
            progress.timings["total"] = round(time.perf_counter() - t_start, 3)
            result = digitize_result(run)
            write_json(tmp / "result.json", result)
    except UserError as e:
        if not isinstance(e, OutputTargetError):  # the output changed during the run: the work may be resumed
            checkpoints.abandon()  # bad input: nothing worth resuming
        raise
    checkpoints.finish()
    progress.emit("result", f"done: {Path(out_dir)} (open preview.png first)", out=str(out_dir))
    return result


def digitize_result(run: Run) -> dict:
    """result.json of a finished digitize run."""
    body, fused, head, options, preset = run.body, run.fused, run.head, _digitize_options(run), run.preset
    assert body is not None and preset is not None
    result = base_result(run.photo_path, body, options, "digitize")
    result.update({
        "texture": {"file": "texture.png", "resolution": int(fused.texture.shape[0]),
                    "seen_fraction": round(float(fused.seen[fused.chart_mask].mean()), 4),
                    "perceptual_loss": fused.perceptual, "fusion_iterations": fused.iterations,
                    "final_loss": round(float(fused.final_loss), 6)},
        "glb": "avatar.glb",
        "rig": run.rig_entry,
        "preview": "preview.png",
        "views": [v.summary() for v in run.views],
        "view_schedule": [v.name for v in run.views],
        "head": {"chin_z": round(head.chin_z, 4), "hair_colour": [round(float(c), 3) for c in head.hair_colour],
                 "from_landmarks": head.from_landmarks,
                 "hair_end_z": None if head.hair_end_z is None else round(head.hair_end_z, 4),
                 "hat": None if head.hat_colour is None else {
                     "colour": [round(float(c), 3) for c in head.hat_colour],
                     "edge_z": round(float(head.hat_edge_z), 4)}},
        "preset": preset.name,
        "seed": options.seed,
        "device": run.device,
        "inpainter": run.inpainter.name,
        "fallbacks": fallbacks(body, inpainter=run.inpainter.name, inpainter_notes=run.inpainter_notes,
                               perceptual=fused.perceptual, perceptual_notes=fused.warnings),
        "timings_s": dict(run.progress.timings),
        "resumed": bool(run.restored),
        "maps": run.maps_entry,
    })
    if run.mesh_fit is not None:
        result["mesh_fit"] = run.mesh_fit
    return result


def back_view_first(maps: list) -> list:
    """Maps from elsewhere, reordered so the back view (azimuth 180, elevation 0) comes first."""
    def is_back(m):
        c = m.camera
        return c.azimuth_deg is not None and abs(abs(c.azimuth_deg) - 180) < 1 and abs(c.elevation_deg or 0) < 1

    backs = [m for m in maps if is_back(m)]
    if not backs:
        raise UserError("the supplied maps have no back view (azimuth 180, elevation 0)")
    return [backs[0], *[m for m in maps if m is not backs[0]]]


# The photo counts most in the texture optimisation: it is the only view that was seen.
PHOTO_LOSS_WEIGHT = 2.0


def views_to_fusion(views) -> list:
    """Finished views as fusion inputs: per-pixel trust falls off as the surface turns away."""
    from .fusion import FusionView

    out = []
    for i, v in enumerate(views):
        facing = np.clip(v.maps.normal[..., 2], 0.0, 1.0)  # cos of the angle to the viewer (orthographic)
        weight = (v.trust * np.exp(-3.0 * np.arccos(facing)) * v.known).astype(np.float32)
        loss_weight = PHOTO_LOSS_WEIGHT if i == 0 else v.trust
        out.append(FusionView(v.maps, v.image, v.known, weight, loss_weight))
    return out


def write_views(folder: Path, views) -> None:
    """Every view's image and the mask of the pixels the inpainter made, as PNGs."""
    folder.mkdir()
    for v in views:
        rgb = (np.clip(v.image, 0, 1) * 255 + 0.5).astype(np.uint8)
        alpha = (v.maps.mask * 255).astype(np.uint8)
        write_png(folder / f"{v.name}.png", np.dstack([rgb, alpha]))
        write_png(folder / f"{v.name}_inpainted.png", v.inpainted)


def fallbacks(body: Body, *, inpainter: str | None = None, inpainter_notes=(), perceptual: str | None = None,
              perceptual_notes=()) -> list[dict]:
    """Which parts ran without their learned model, in plain words."""
    out = []
    if body.segmentation.method == "grabcut":
        out.append({"part": "segmentation", "used": "OpenCV GrabCut",
                    "why": "the bundled person segmenter (mediapipe) is not available"})
    if body.shape.method == "silhouette":
        out.append({"part": "shape", "used": "silhouette inflation",
                    "why": body.shape.fallback_why or "the depth profile is estimated from the outline"})
    elif body.shape.method == "normals" and body.shape.fallback_why:  # the body fit failed, the normals ran
        out.append({"part": "shape", "used": "the outline's inflation with the normals model's relief",
                    "why": body.shape.fallback_why})
    if inpainter == "classical":
        out.append({"part": "inpainting", "used": "classical (nearest seen surface at the same height)",
                    "why": " ".join(inpainter_notes) or "chosen with --inpainter classical"})
    if perceptual and not perceptual.startswith("lpips"):
        out.append({"part": "fusion perceptual loss", "used": perceptual, "why": " ".join(perceptual_notes)})
    return out

