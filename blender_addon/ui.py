"""User interface: the "Digitize" tab of the 3D Viewport sidebar (N panel)."""

import bpy

from . import cleanup_ops, job_runner
from .operators import (
    DIGITIZE_OT_cancel,
    DIGITIZE_OT_export,
    DIGITIZE_OT_from_photo,
    DIGITIZE_OT_open_job_folder,
    DIGITIZE_OT_retexture_selected,
    export_target,
)

THUMBNAIL_SCALE = 6.0


class VIEW3D_PT_photo_digitize(bpy.types.Panel):
    bl_label = "Digitize from Photo"
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
        col.prop(settings, "seed")
        col.prop(settings, "height_m")
        col.prop(settings, "prompt")

        col = layout.column(align=True)
        col.enabled = not busy
        col.operator(DIGITIZE_OT_from_photo.bl_idname, icon="OUTLINER_OB_ARMATURE")
        op = col.operator(DIGITIZE_OT_retexture_selected.bl_idname, icon="TEXTURE")
        op.use_panel_photo = settings.retexture_use_panel_photo
        op.decimate_copy = settings.retexture_decimate_copy
        col.prop(settings, "retexture_use_panel_photo")
        col.prop(settings, "retexture_decimate_copy")
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
            box.label(text=f"{status.kind.capitalize()}: {status.stage or 'starting'}", icon="TIME")
            box.progress(factor=status.progress, type="BAR", text=f"{100 * status.progress:.0f}%")
            if status.message:
                box.label(text=status.message)
            box.operator(DIGITIZE_OT_cancel.bl_idname, icon="CANCEL")
        elif status is not None and status.last_error:
            box = layout.box()
            box.label(text="Last job failed:", icon="ERROR")
            box.label(text=status.last_error)
            box.operator(DIGITIZE_OT_open_job_folder.bl_idname, icon="FILE_FOLDER")


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
