"""Digitize Human from Photo: Blender add-on (extension) skeleton.

Works both as an installed extension (package ``bl_ext.<repo>.photo_digitize``, built by
tools/build_extension.py) and imported straight from the repository
(``import blender_addon; blender_addon.register()``). Only ``bpy`` and the standard library
are imported here: the heavy lifting runs in the separate backend process.
"""

import bpy
from bpy.props import EnumProperty, IntProperty, PointerProperty, StringProperty

from . import ui


class DIGITIZE_PG_settings(bpy.types.PropertyGroup):
    """Per-scene settings, stored at ``Scene.digitize``."""

    photo_path: StringProperty(
        name="Photo",
        description="Photo of one person to digitize",
        subtype="FILE_PATH",
        default="",
    )
    preset: EnumProperty(
        name="Preset",
        description="Speed/quality trade-off of the backend run",
        items=(
            ("fast", "Fast", "Quick preview-quality result"),
            ("quality", "Quality", "Slower, higher-quality result"),
        ),
        default="fast",
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


# The single registration list: order matters (the panel uses the property group).
classes = (DIGITIZE_PG_settings, *ui.classes)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.Scene.digitize = PointerProperty(type=DIGITIZE_PG_settings)


def unregister():
    if hasattr(bpy.types.Scene, "digitize"):
        del bpy.types.Scene.digitize
    _unregister_classes()
