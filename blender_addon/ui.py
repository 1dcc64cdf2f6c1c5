"""User interface: the "Digitize" tab of the 3D Viewport sidebar (N panel)."""

import bpy


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

        layout.prop(settings, "photo_path")
        layout.prop(settings, "preset")
        layout.prop(settings, "seed")
        layout.prop(settings, "prompt")

        row = layout.row()
        row.enabled = False
        row.label(text="Digitize operator comes in a later version", icon="INFO")


classes = (VIEW3D_PT_photo_digitize,)
