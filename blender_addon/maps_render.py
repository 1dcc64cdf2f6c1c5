"""Render a mesh's per-view maps with Cycles and write them in the backend's format (docs/maps.md).

The one place where Blender's render passes meet the backend's conventions
(backend/conventions.py):

- Cameras: the backend's camera frame is Blender's (x right, y up, looking down -z), so
  ``matrix_world = inverse(world_to_camera)``; orthographic ``ortho_scale = width / fx``.
- Point sampling: 1 sample, a box filter 0.01 px wide, so every pixel holds what its centre
  sees (the backend's pixel (r, c) is centred on (c + 0.5, r + 0.5)); film transparent.
- Rows: Cycles writes the EXR top row first, which is the backend's row 0 (no flip needed;
  Blender's in-memory image buffers would be bottom-up).
- mask = Combined alpha > 0.5.
- normal: Cycles' Normal pass is in world space and flipped toward the viewer on back faces;
  it is rotated into camera space (x right, y up, z toward the camera) with the camera's
  rotation, and flipped back where the Backfacing AOV says so (the backend keeps the mesh's
  orientation: the inside of an open mesh shows normals with z < 0). The render mesh carries
  custom normals equal to the backend's smooth vertex normals (area-weighted, vertices at the
  same place welded), so both interpolate the same normals.
- depth: Cycles' Z pass, which for an orthographic camera is the distance in front of the
  camera along its axis: exactly the backend's depth (checked against the Position pass).
- position: the Position pass (world metres). uv: the UV pass (U, V); (0, 0) bottom-left on
  both sides.
- face_id: a face-domain attribute holding the triangle index, read through an AOV;
  bary: the world-space barycentrics of the Position pass on that triangle.

Everything happens in a temporary scene that is removed afterwards; the user's scene,
its render settings and its objects are not touched. The renders go to a slot of their own
("Digitize maps") in the Render Result image, so the user's last render stays in its slot.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from . import cameras as camlib
from .exr import read_exr
from .mesh_data import area_weighted_normals, mesh_from_triangles

FORMAT_VERSION = 1
FACE_ATTRIBUTE = "digitize_face_index"
AOV_FACE, AOV_BACKFACING = "digitize_face", "digitize_backfacing"
TMP_NAME = ".digitize_maps"
RENDER_SLOT = "Digitize maps"


def _configure_scene(scene) -> None:
    scene.render.engine = "CYCLES"
    cy = scene.cycles
    cy.device = "CPU"
    cy.samples = 1
    cy.preview_samples = 1
    cy.use_adaptive_sampling = False
    cy.use_denoising = False
    cy.pixel_filter_type = "BOX"
    cy.filter_width = 0.01
    cy.seed = 0
    cy.max_bounces = 0
    for name in ("diffuse_bounces", "glossy_bounces", "transmission_bounces", "volume_bounces",
                 "transparent_max_bounces"):
        if hasattr(cy, name):
            setattr(cy, name, 0)
    r = scene.render
    r.film_transparent = True
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.use_border = False
    r.use_compositing = False
    r.use_sequencer = False
    r.use_persistent_data = True
    settings = r.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0+: multilayer EXR is only offered for this media type
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.exr_codec = "NONE"
    settings.color_depth = "32"
    scene.world = None
    layer = scene.view_layers[0]
    layer.use_pass_combined = True
    layer.use_pass_z = True
    layer.use_pass_normal = True
    layer.use_pass_uv = True
    layer.use_pass_position = True
    for name in (AOV_FACE, AOV_BACKFACING):
        aov = layer.aovs.add()
        aov.name, aov.type = name, "VALUE"


def _material():
    mat = bpy.data.materials.new(TMP_NAME)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    emit = nodes.new("ShaderNodeEmission")
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = FACE_ATTRIBUTE
    geometry = nodes.new("ShaderNodeNewGeometry")
    for name, socket in ((AOV_FACE, attr.outputs["Fac"]), (AOV_BACKFACING, geometry.outputs["Backfacing"])):
        aov = nodes.new("ShaderNodeOutputAOV")
        aov.aov_name = name
        links.new(socket, aov.inputs["Value"])
    return mat


def _render_mesh(vertices, triangles, corner_uv, normals):
    me = mesh_from_triangles(TMP_NAME, vertices, triangles, corner_uv, smooth=True)
    attr = me.attributes.new(FACE_ATTRIBUTE, "FLOAT", "FACE")
    attr.data.foreach_set("value", np.arange(len(triangles), dtype=np.float32))
    me.normals_split_custom_set_from_vertices([tuple(n) for n in normals])
    return me


def _camera_object(scene, cam: dict):
    settings = camlib.blender_camera_settings(cam)
    data = bpy.data.cameras.new(TMP_NAME)
    apply_camera_settings(data, settings)
    obj = bpy.data.objects.new(TMP_NAME, data)
    obj.matrix_world = Matrix(settings["matrix_world"].tolist())
    scene.collection.objects.link(obj)
    return obj


def apply_camera_settings(data, settings: dict) -> None:
    """Blender camera data from cameras.blender_camera_settings()."""
    if settings["projection"] == camlib.ORTHOGRAPHIC:
        data.type = "ORTHO"
        data.ortho_scale = settings["ortho_scale"]
    else:
        data.type = "PERSP"
        data.sensor_width = settings["sensor_width"]
        data.lens = settings["lens"]
    data.sensor_fit = "AUTO"
    data.shift_x, data.shift_y = settings["shift_x"], settings["shift_y"]
    distance = float(np.linalg.norm(settings["matrix_world"][:3, 3]))
    data.clip_start = 0.01
    data.clip_end = max(100.0, 4.0 * distance)


@contextmanager
def _own_render_slot():
    """Render into a slot of our own, so the user's last render in "Render Result" is kept."""
    result = bpy.data.images.get("Render Result")
    slots = getattr(result, "render_slots", None) if result is not None else None
    if slots is None:
        yield
        return
    previous = slots.active_index
    ours = next((i for i, slot in enumerate(slots) if slot.name == RENDER_SLOT), None)
    if ours is None:
        slots.new(name=RENDER_SLOT)
        ours = len(slots) - 1
    slots.active_index = ours
    try:
        yield
    finally:
        slots.active_index = previous


def _channels(passes: dict, name: str, chans: str) -> np.ndarray:
    found = []
    for c in chans:
        key = next((k for k in passes if k.endswith(f".{name}.{c}") or k == f"{name}.{c}"), None)
        if key is None:
            raise RuntimeError(f"the render has no {name}.{c} pass")
        found.append(passes[key])
    return np.stack(found, axis=-1) if len(found) > 1 else found[0]


def barycentrics(position, face_id, vertices, triangles) -> np.ndarray:
    """World-space barycentric weights (N, 3) of points (N, 3) on their triangles."""
    tri = np.asarray(vertices, np.float64)[np.asarray(triangles)[face_id]]
    v0 = tri[:, 0]
    e0, e1, d = tri[:, 1] - v0, tri[:, 2] - v0, np.asarray(position, np.float64) - v0
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (d * e0).sum(1), (d * e1).sum(1)
    denom = d00 * d11 - d01 * d01
    denom = np.where(np.abs(denom) < 1e-30, 1e-30, denom)
    b1 = (d11 * d20 - d01 * d21) / denom
    b2 = (d00 * d21 - d01 * d20) / denom
    return np.stack([1.0 - b1 - b2, b1, b2], axis=1)


def passes_to_maps(passes: dict, cam: dict, vertices, triangles) -> dict:
    """Cycles passes of one camera -> the backend's arrays (docs/maps.md), background zeroed."""
    rot = np.asarray(cam["world_to_camera"], np.float64)[:3, :3]
    mask = _channels(passes, "Combined", "A") > 0.5
    h, w = mask.shape
    normal = _channels(passes, "Normal", "XYZ").astype(np.float64) @ rot.T
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    backfacing = _channels(passes, AOV_BACKFACING, "X") > 0.5
    normal[backfacing] *= -1.0
    position = _channels(passes, "Position", "XYZ")
    depth = _channels(passes, "Depth", "Z")
    uv = _channels(passes, "UV", "UV")
    face_id = np.full((h, w), -1, np.int32)
    face = np.rint(_channels(passes, AOV_FACE, "X")).astype(np.int64)
    face_id[mask] = np.clip(face[mask], 0, len(triangles) - 1)
    bary = np.zeros((h, w, 3), np.float32)
    bary[mask] = barycentrics(position[mask], face_id[mask], vertices, triangles)
    outside = ~mask
    normal[outside] = 0.0
    position = np.where(mask[..., None], position, 0.0)
    depth = np.where(mask, depth, 0.0)
    uv = np.where(mask[..., None], uv, 0.0)
    return {
        "mask": mask,
        "face_id": face_id,
        "bary": bary,
        "depth": depth.astype(np.float32),
        "position": position.astype(np.float32),
        "normal": normal.astype(np.float32),
        "uv": uv.astype(np.float32),
    }


def save_view(folder: Path, cam: dict, arrays: dict) -> Path:
    path = folder / f"{cam['name']}.npz"
    np.savez_compressed(path, camera_json=np.array(json.dumps(cam)),
                        format_version=np.array(FORMAT_VERSION, np.int32), **arrays)
    return path


def render_maps(vertices, triangles, corner_uv, cameras: list[dict], out_dir, *, progress=None) -> list[Path]:
    """Render every camera's maps of a triangle mesh (world metres) into ``out_dir`` (npz + views.json).

    ``corner_uv`` (F, 3, 2) or None; cameras in the backend's Camera.to_json() form, with
    unique names. ``progress(i, n)`` is called after each view. Returns the npz paths.
    """
    vertices = np.asarray(vertices, np.float64)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [c["name"] for c in cameras]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"camera names must be unique and non-empty: {names}")

    scene = bpy.data.scenes.new(TMP_NAME)
    made = {"meshes": [], "materials": [], "cameras": [], "objects": []}
    paths = []
    try:
        _configure_scene(scene)
        normals = area_weighted_normals(vertices, triangles)
        me = _render_mesh(vertices, triangles, corner_uv, normals)
        made["meshes"].append(me)
        mat = _material()
        made["materials"].append(mat)
        me.materials.append(mat)
        obj = bpy.data.objects.new(TMP_NAME, me)
        made["objects"].append(obj)
        scene.collection.objects.link(obj)
        with tempfile.TemporaryDirectory(prefix="digitize_maps_") as tmp, _own_render_slot():
            for i, cam in enumerate(cameras):
                cam_obj = _camera_object(scene, cam)
                made["objects"].append(cam_obj)
                made["cameras"].append(cam_obj.data)
                scene.camera = cam_obj
                scene.render.resolution_x, scene.render.resolution_y = int(cam["width"]), int(cam["height"])
                exr = Path(tmp) / f"view{i:02d}.exr"
                scene.render.filepath = str(exr)
                bpy.ops.render.render(write_still=True, scene=scene.name)
                if not exr.is_file():
                    raise RuntimeError(f"Cycles wrote no image for the view {cam['name']}")
                arrays = passes_to_maps(read_exr(exr), cam, vertices, triangles)
                if corner_uv is None:  # docs/maps.md: no "uv" array for a mesh without UVs
                    del arrays["uv"]
                exr.unlink()
                paths.append(save_view(out_dir, cam, arrays))
                if progress:
                    progress(i + 1, len(cameras))
    finally:
        for obj in made["objects"]:
            bpy.data.objects.remove(obj)
        for cam_data in made["cameras"]:
            bpy.data.cameras.remove(cam_data)
        for me in made["meshes"]:
            bpy.data.meshes.remove(me)
        for mat in made["materials"]:
            bpy.data.materials.remove(mat)
        bpy.data.scenes.remove(scene)
    (out_dir / "views.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "views": names}, indent=1))
    return paths


def render_view_set(vertices, triangles, corner_uv, out_dir, *, resolution: int = camlib.VIEW_RESOLUTION,
                    progress=None) -> tuple[list[dict], list[Path]]:
    """The backend's view set for this mesh (all but the front view) and their maps."""
    cams = camlib.view_cameras(vertices, camlib.DEFAULT_VIEWS[1:], resolution)
    t0 = time.perf_counter()
    paths = render_maps(vertices, triangles, corner_uv, cams, out_dir, progress=progress)
    print(f"photo_digitize: rendered {len(cams)} views' maps with Cycles in {time.perf_counter() - t0:.1f} s")
    return cams, paths

