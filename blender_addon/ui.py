"""User interface: the "Digitize" tab of the 3D Viewport sidebar (N panel)."""

import textwrap

import bpy

from . import cleanup_ops, job_runner, model_files, prefs
from .blend_paths import BlendPathError
from .installer import MODELS_DOWNLOAD_SIZE
from .operators import (
    DIGITIZE_OT_cancel,
    DIGITIZE_OT_export,
    DIGITIZE_OT_from_photo,
    DIGITIZE_OT_open_job_folder,
    DIGITIZE_OT_reconstruct_shape,
    DIGITIZE_OT_retexture_selected,
    export_target,
)

THUMBNAIL_SCALE = 6.0
KIND_WORDS = {"digitize": "Digitizing", "shape": "Reconstructing the shape", "retexture": "Texturing"}
NO_PROMPT = "The prompt needs the diffusion models:"
FIX_BUTTONS = {"models": ("Download Models", "WORLD"), "backend": ("Install / Update Backend", "IMPORT")}


def wrapped_label(layout, text: str, context=None, icon: str = "NONE") -> None:
    """A label that wraps to the sidebar's width (Blender's labels cut long text off)."""
    region = getattr(context, "region", None)
    width = max(24, int(getattr(region, "width", 0) or 420) // 7)
    column = layout.column(align=True)
    for i, line in enumerate(textwrap.wrap(text, width) or [""]):
        column.label(text=line, icon=icon if i == 0 else "BLANK1" if icon != "NONE" else "NONE")


def fix_button(layout, fix: str) -> None:
    """The button that fixes a note (prefs.py's installer): Download Models or Install / Update Backend."""
    if fix not in FIX_BUTTONS:
        return
    text, icon = FIX_BUTTONS[fix]
    if fix == "models":
        text = f"{text} ({MODELS_DOWNLOAD_SIZE})"
    op = layout.operator(prefs.DIGITIZE_OT_install_backend.bl_idname, text=text, icon=icon)
    op.models = fix == "models"


def draw_notes(layout, status, context) -> None:
    """The job's warnings, each with its fix; one button per fix however many notes share it."""
    if status is None or not len(status.notes):
        return
    box = layout.box()
    fixes = []
    for note in status.notes:
        wrapped_label(box, note.text, context, icon="ERROR" if note.fix else "INFO")
        if note.fix and note.fix not in fixes:
            fixes.append(note.fix)
    for fix in fixes:
        fix_button(box, fix)


class VIEW3D_PT_photo_digitize(bpy.types.Panel):
    bl_label = "Digitize Human from Photo"  # the product's name (README, manifest); its button says what it does
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Digitize"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        settings = context.scene.digitize
        status = getattr(context.window_manager, "digitize_job", None)
        busy = job_runner.running()

        layout.prop(settings, "photo_path")
        image = settings.photo_image
        preview = getattr(image, "preview", None) if image is not None else None
        if preview is not None and preview.icon_id:
            layout.template_icon(icon_value=preview.icon_id, scale=THUMBNAIL_SCALE)

        col = layout.column()
        col.enabled = not busy
        col.prop(settings, "preset")
        col.prop(settings, "rig")
        row = col.row()
        row.enabled = settings.rig != "none"  # nothing to repose without a rig
        row.prop(settings, "rest_pose")
        col.prop(settings, "seed")
        col.prop(settings, "height_m")
        # The prompt only steers the diffusion models: without them it would do nothing, silently.
        try:
            models_dir = prefs.models_dir()
        except BlendPathError:  # a "//" Models Folder in an unsaved file: Digitize says why
            models_dir = None
        has_models = model_files.diffusion_models_present(models_dir)
        row = col.row()
        row.enabled = has_models
        row.prop(settings, "prompt")
        if not has_models:
            reason = col.row()
            reason.label(text=NO_PROMPT, icon="INFO")
            fix_button(col, "models")

        col = layout.column(align=True)
        col.enabled = not busy
        col.operator(DIGITIZE_OT_from_photo.bl_idname, icon="OUTLINER_OB_ARMATURE")
        # The artist's two-step flow: the shape first (seconds), cleaned by hand, then its texture.
        col.separator()
        col.label(text="Or in two steps, cleaning the mesh between:")
        col.operator(DIGITIZE_OT_reconstruct_shape.bl_idname, text="1. Reconstruct Shape", icon="MESH_DATA")
        op = col.operator(DIGITIZE_OT_retexture_selected.bl_idname, text="2. Texture Selected Mesh", icon="TEXTURE")
        op.use_panel_photo = settings.retexture_use_panel_photo
        op.decimate_copy = settings.retexture_decimate_copy
        col.prop(settings, "retexture_use_panel_photo")
        col.prop(settings, "retexture_decimate_copy")
        col.separator()
        row = col.row(align=True)
        op = row.operator(DIGITIZE_OT_export.bl_idname, text="Export GLB", icon="EXPORT")
        op.format = "GLB"
        op = row.operator(DIGITIZE_OT_export.bl_idname, text="Export FBX", icon="EXPORT")
        op.format = "FBX"
        target, _ = export_target(context)
        if target is not None:  # which object the export buttons write
            col.label(text=f"Exports {target.name}", icon="OBJECT_DATA")

        if busy and status is not None:
            box = layout.box()
            box.label(text=f"{KIND_WORDS.get(status.kind, status.kind.capitalize())}...", icon="TIME")
            box.progress(factor=status.progress, type="BAR", text=f"{100 * status.progress:.0f}%")
            wrapped_label(box, status.message or "Starting", context)
            box.operator(DIGITIZE_OT_cancel.bl_idname, icon="CANCEL")
        elif status is not None and status.last_error:
            box = layout.box()
            box.label(text="Last job failed:", icon="ERROR")
            wrapped_label(box, status.last_error, context)
            box.operator(DIGITIZE_OT_open_job_folder.bl_idname, icon="FILE_FOLDER")
        elif status is not None and status.kind and status.message:
            box = layout.box()  # the last result: what was made, and which shape it has
            wrapped_label(box, status.message, context, icon="CHECKMARK" if status.progress >= 1 else "INFO")
        draw_notes(layout, status, context)


class VIEW3D_PT_photo_digitize_advanced(bpy.types.Panel):
    bl_label = "Advanced"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Digitize"
    bl_parent_id = "VIEW3D_PT_photo_digitize"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(context.scene.digitize, "fusion_iterations")
        layout.operator(DIGITIZE_OT_open_job_folder.bl_idname, icon="FILE_FOLDER")
        layout.operator(cleanup_ops.DIGITIZE_OT_clean_jobs.bl_idname, text=cleanup_ops.button_text(), icon="TRASH")


classes = (VIEW3D_PT_photo_digitize, VIEW3D_PT_photo_digitize_advanced)
