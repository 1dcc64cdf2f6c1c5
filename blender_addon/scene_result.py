"""A finished job's result in the scene: collection, mesh object, material, cameras, view images.

The result stands where the backend put it (on the world origin) unless that overlaps what is
already in the scene: then it moves along +X, clear of it (placement.py), cameras and rig with it.

Two halves: ``load_result_files`` reads out/ with NumPy only (safe in a worker thread, so the
UI does not wait on parsing); ``build_result`` makes the Blender data (main thread only).
Every image is packed into the .blend, so the result does not depend on the job folder.

    <stem>                      collection, linked under the scene's master collection
      <stem>                    mesh object: the OBJ's polygons, per-corner UVs ("UVMap"), smooth shading
                                material <stem>_material: Image Texture (<stem>_texture, packed)
                                -> Principled BSDF Base Color; a shape result (no texture yet):
                                <stem>_photo_preview, the photo projected through its camera
      <stem>_cameras            child collection, disabled in viewports and renders
        <stem>_<view>           orthographic cameras of the views (and "input": the photo's camera);
                                custom properties digitize_camera (JSON), digitize_resolution;
                                the view's synthesized image as the camera's background image
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from . import cameras as camlib
from .obj_io import ObjMesh, read_obj
from .rig_build import RigData, read_rig
from .steps import run_to_end

INPUT_VIEW = "input"
INPUT_CAMERA_KEY = "digitize_input_camera"  # the photo's camera, in the object's own frame (JSON)


@dataclass
class ResultFiles:
    out_dir: Path
    result: dict
    mesh: ObjMesh
    texture: Path
    views: list[tuple[str, Path]] = field(default_factory=list)  # (view name, RGBA png)
    cameras: list[dict] = field(default_factory=list)  # Camera.to_json() form, one per view
    rig: RigData | None = None  # rig.json, when the backend made a rig (docs/rig.md)
    rig_note: str = ""  # why a rig the backend made cannot be used
    photo_image: Path | None = None  # a shape result's photo.png: projected onto the untextured mesh

    @property
    def shape_only(self) -> bool:
        """A Reconstruct Shape result: a mesh to clean up, no texture yet."""
        return self.result.get("command") == "shape"


def png_size(path) -> tuple[int, int] | None:
    """(width, height) from a PNG header, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def result_cameras(result: dict, vertices, view_sizes: dict[str, tuple[int, int]]) -> list[dict]:
    """The cameras of the result's views: from result.json where it has them, else recomputed.

    ``input`` is result["input_camera"] (in the photo's pixels). The other views are the
    backend's orbit cameras (backend/view_schedule.py) around the result mesh, at the size of the
    view images; result["maps"]["views"] or a view's own "camera" entry win when present.
    """
    known = {c.get("name"): c for c in (result.get("maps") or {}).get("views", []) if isinstance(c, dict)}
    out = []
    target, extent = camlib.framing(vertices)
    for view in result.get("views", []):
        name = view.get("name")
        if not name:
            continue
        # The input view's camera is the photo's own (original pixels), so the artist can line
        # the photo up with it; the view's entry would be the backend's working crop.
        if name == INPUT_VIEW and isinstance(result.get("input_camera"), dict):
            cam = dict(result["input_camera"])
        elif isinstance(view.get("camera"), dict):
            cam = dict(view["camera"])
        elif name in known:
            cam = dict(known[name])
        elif view.get("azimuth_deg") is not None:
            size = view_sizes.get(name, (camlib.VIEW_RESOLUTION, camlib.VIEW_RESOLUTION))[0]
            cam = camlib.orbit_camera(float(view["azimuth_deg"]), float(view.get("elevation_deg") or 0.0),
                                      target=target, extent_m=extent, resolution=int(size))
        else:
            continue
        cam["name"] = name
        out.append(cam)
    return out


def load_result_files(out_dir) -> ResultFiles:
    """Read a result folder (README: mesh.obj + texture.png, views/, result.json). No bpy."""
    out_dir = Path(out_dir)
    result_path = out_dir / "result.json"
    result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else {}
    mesh_path = out_dir / (result.get("mesh") or {}).get("file", "mesh.obj")
    if not mesh_path.is_file():
        raise FileNotFoundError(f"the result has no mesh ({mesh_path})")
    mesh = read_obj(mesh_path)
    texture = out_dir / (result.get("texture") or {}).get("file", "texture.png")
    views = []
    names = [v.get("name") for v in result.get("views", []) if v.get("name")]
    if not names and (out_dir / "views").is_dir():
        names = sorted(p.stem for p in (out_dir / "views").glob("*.png") if not p.stem.endswith("_inpainted"))
    for name in names:
        p = out_dir / "views" / f"{name}.png"
        if p.is_file():
            views.append((name, p))
    sizes = {name: png_size(p) for name, p in views}
    cams = result_cameras(result, mesh.vertices, {k: v for k, v in sizes.items() if v})
    photo_image = out_dir / str((result.get("photo_image") or {}).get("file", ""))
    photo_image = photo_image if photo_image.is_file() and photo_image != out_dir else None
    if not cams and isinstance(result.get("input_camera"), dict):  # a shape result: the photo's camera only
        cams = [{**result["input_camera"], "name": INPUT_VIEW}]
    rig, rig_note = None, ""
    rig_file = (result.get("rig") or {}).get("file")
    if rig_file:
        try:
            rig = read_rig(out_dir / rig_file)
        except (OSError, ValueError, KeyError, TypeError) as e:  # the person still arrives, without the rig
            rig_note = f"the rig could not be read ({rig_file}: {type(e).__name__})"
    return ResultFiles(out_dir, result, mesh, texture, views, cams, rig, rig_note, photo_image)


# --- Blender data (main thread) --------------------------------------------------------------


def load_image(path, name: str, pack: bool = True):
    import bpy

    image = bpy.data.images.load(str(path), check_existing=False)
    image.name = name
    if pack:
        image.pack()
    return image


def make_material(name: str, image):
    """Principled BSDF whose Base Color comes from an Image Texture node showing ``image``."""
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    set_base_color_image(mat, image)
    return mat


def _principled(mat):
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        out = next((n for n in nodes if n.type == "OUTPUT_MATERIAL"), None) or nodes.new("ShaderNodeOutputMaterial")
        out.location = (bsdf.location.x + 400, bsdf.location.y)
        links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def set_base_color_image(mat, image):
    """Make ``image`` the Base Color of the material's Principled BSDF (reusing its Image Texture node)."""
    if not mat.use_nodes:
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = _principled(mat)
    socket = bsdf.inputs["Base Color"]
    tex = None
    if socket.is_linked and socket.links[0].from_node.type == "TEX_IMAGE":
        tex = socket.links[0].from_node
    if tex is None:
        tex = nodes.new("ShaderNodeTexImage")
        tex.location = (bsdf.location.x - 400, bsdf.location.y)
        links.new(tex.outputs["Color"], socket)
    tex.image = image
    return tex


def add_camera(name: str, cam: dict, collection, image=None):
    import bpy
    from mathutils import Matrix

    from .maps_render import apply_camera_settings

    settings = camlib.blender_camera_settings(cam)
    data = bpy.data.cameras.new(name)
    apply_camera_settings(data, settings)
    if image is not None:
        bg = data.background_images.new()
        bg.image = image
        bg.alpha = 1.0
        data.show_background_images = True
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = Matrix(settings["matrix_world"].tolist())
    obj["digitize_camera"] = json.dumps(cam)
    obj["digitize_resolution"] = list(settings["resolution"])
    collection.objects.link(obj)
    return obj


def build_result(context, files: ResultFiles, name: str, *, photo_path: str = "", job_dir: str = "") -> dict:
    """Add the result to ``context.scene`` in a new collection; select it and make it active.

    Nothing that existed before is changed, except the selection (deselected) and the
    active object (the new mesh).
    """
    return run_to_end(build_result_steps(context, files, name, photo_path=photo_path, job_dir=job_dir))


def build_result_steps(context, files: ResultFiles, name: str, *, photo_path: str = "", job_dir: str = ""):
    """`build_result` as a generator that yields between its pieces of work (the mesh, each
    image, the cameras), so a timer can spread it over several ticks; returns the same dict."""
    import bpy

    from .mesh_data import mesh_from_obj_steps

    scene = context.scene
    coll = bpy.data.collections.new(name)
    scene.collection.children.link(coll)

    mesh = yield from mesh_from_obj_steps(name, files.mesh)
    obj = bpy.data.objects.new(name, mesh)
    coll.objects.link(obj)
    yield
    texture = load_image(files.texture, f"{name}_texture") if files.texture.is_file() else None
    photo = None
    if texture is None and files.photo_image is not None and isinstance(files.result.get("input_camera"), dict):
        from .photo_preview import make_photo_material

        photo = load_image(files.photo_image, f"{name}_photo")  # also the photo camera's background
        mat = make_photo_material(f"{name}_photo_preview", photo, files.result["input_camera"])
    else:
        mat = make_material(f"{name}_material", texture)
    mesh.materials.append(mat)
    yield
    armature, rig_note = None, files.rig_note
    if files.rig is not None:
        armature, rig_note = yield from _rig_steps(context, name, files.rig, obj, coll)

    cams_coll = bpy.data.collections.new(f"{name}_cameras")
    coll.children.link(cams_coll)
    cams_coll.hide_viewport = True
    cams_coll.hide_render = True
    view_images = {} if photo is None else {INPUT_VIEW: photo}
    for view, path in files.views:
        view_images[view] = load_image(path, f"{name}_{view}")
        yield
    camera_objects = []
    for cam in files.cameras:
        camera_objects.append(add_camera(f"{name}_{cam['name']}", cam, cams_coll, view_images.get(cam["name"])))
        yield
    for image in view_images.values():  # views without a camera still survive a save
        if image.users == 0:
            image.use_fake_user = True

    for target in (coll, obj):
        target["digitize_photo"] = str(photo_path)
        target["digitize_job_dir"] = str(job_dir)
    obj["digitize_result"] = json.dumps({k: files.result.get(k) for k in ("command", "preset", "seed", "device",
                                                                         "inpainter", "fallbacks")
                                         if k in files.result})
    if isinstance(files.result.get("input_camera"), dict):  # Texture Selected Mesh sees the photo through it
        obj[INPUT_CAMERA_KEY] = json.dumps(files.result["input_camera"])

    # Clear of what is already there (the startup Cube stands on the origin too): moved along +X.
    from .placement import place_clear

    vertices = files.mesh.vertices
    offset, cleared = place_clear(context, list(coll.all_objects), (vertices.min(axis=0), vertices.max(axis=0)))

    view_layer = context.view_layer
    for other in view_layer.objects:
        if other.select_get(view_layer=view_layer):
            other.select_set(False, view_layer=view_layer)
    obj.select_set(True, view_layer=view_layer)
    view_layer.objects.active = obj
    return {"collection": coll, "object": obj, "material": mat, "texture": texture,
            "cameras": camera_objects, "views": list(view_images.values()), "armature": armature,
            "rig_note": rig_note, "offset_x": offset, "cleared": cleared}


def _rig_steps(context, name: str, rig: RigData, obj, coll):
    """(the armature or None, a note for the report when there is none)."""
    import bpy

    from .rig_build import add_armature_steps, why_no_armature

    why = why_no_armature(bpy.context.mode, rig, len(obj.data.vertices))
    if why:
        return None, why
    try:
        armature = yield from add_armature_steps(context, name, rig, obj, coll)
    except RuntimeError as e:  # Blender refused Edit Mode here (e.g. the scene is not in any window)
        return None, f"the rig could not be added ({str(e).strip().splitlines()[0]})"
    return armature, ""


def apply_texture(obj, texture_path, name: str):
    """Put a new texture (packed) on ``obj``'s materials as Base Color; make a material if it has none.

    Only ``obj`` changes: a material that anything else also shows is copied first, and the copy
    goes into ``obj``'s slot (see `own_materials`); the shared one is left as it was.
    """
    image = load_image(texture_path, name)
    _drop_photo_previews(obj)
    materials = own_materials(obj)
    if not materials:
        import bpy

        mat = bpy.data.materials.new(f"{obj.name}_material")
        mat.use_nodes = True
        if not obj.material_slots:
            obj.data.materials.append(None)  # an empty slot: other users of the mesh still show none
        _assign_to_object_only(obj, obj.material_slots[0], mat)
        materials = [mat]
    for mat in dict.fromkeys(materials):
        set_base_color_image(mat, image)
    return image


def _drop_photo_previews(obj) -> None:
    """The projected photo of a shape result gives way to a plain material for the texture (its image
    node reads the photo's projection, not the mesh's UVs)."""
    import bpy

    from .photo_preview import is_photo_preview

    for slot in obj.material_slots:
        if is_photo_preview(slot.material):
            mat = bpy.data.materials.new(f"{obj.name}_material")
            mat.use_nodes = True
            _assign_to_object_only(obj, slot, mat)


def find_object(session_uid: int):
    """The object with this ``session_uid``: unlike its name, it stays the same through renames and
    undo, and a copy (Shift+D) gets a new one. None when the object is gone."""
    import bpy

    return next((o for o in bpy.data.objects if o.session_uid == session_uid), None)


def own_materials(obj) -> list:
    """``obj``'s materials, each one ``obj``'s alone: a shared one is replaced by a copy in its slot.

    Shared means anything else uses it (another object or mesh, e.g. after Shift+D, or a fake
    user), it sits on a mesh that other objects also use (Alt+D), or it is linked from a library:
    writing into it would change what the others show too.
    """
    copies = {}
    for slot in obj.material_slots:
        mat = slot.material
        if mat is None:
            continue
        if (slot.link == "DATA" and _mesh_is_shared(obj)) or not _owned_by(obj, mat):
            if mat not in copies:
                copies[mat] = mat.copy()
                copies[mat].name = f"{obj.name}_{mat.name}"
            _assign_to_object_only(obj, slot, copies[mat])
    return [slot.material for slot in obj.material_slots if slot.material is not None]


def _mesh_is_shared(obj) -> bool:
    return obj.data.users > 1


def _owned_by(obj, mat) -> bool:
    """Nothing but ``obj`` (and its mesh, when only ``obj`` has it) uses ``mat``, and it is local."""
    import bpy

    users = bpy.data.user_map(subset=[mat])[mat]
    own = {obj} if _mesh_is_shared(obj) else {obj, obj.data}
    return users <= own and not mat.use_fake_user and mat.library is None


def _assign_to_object_only(obj, slot, mat) -> None:
    """Put ``mat`` in ``slot`` without touching a mesh that other objects use too."""
    if slot.link == "DATA" and _mesh_is_shared(obj):
        slot.link = "OBJECT"  # the shared mesh keeps its material; this object shows its own
    slot.material = mat
