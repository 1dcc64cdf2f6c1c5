"""File paths as the artist types them: ``//photo.jpg`` is relative to the open .blend file.

Every path property of the add-on goes through ``absolute()``: a ``//`` path is resolved against
the .blend's folder, ``~`` against the home folder. A ``//`` path in a file that was never saved
has no folder to be relative to; Blender's own ``bpy.path.abspath`` would then quietly resolve it
against Blender's working folder, so it is refused with one line instead.
"""

from __future__ import annotations

from pathlib import Path

import bpy

BLEND_RELATIVE = "//"


def _supports_blend_relative_flag() -> bool:
    # Blender 4.5 added the flag (4.2 refuses an unknown option at registration).
    return "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties


# Options for a FILE_PATH / DIR_PATH property: marked as taking "//" paths where Blender knows the flag.
PATH_OPTIONS: set[str] = {"PATH_SUPPORTS_BLEND_RELATIVE"} if _supports_blend_relative_flag() else set()


class BlendPathError(ValueError):
    """A path that cannot be resolved; its message is one line for the artist."""


def absolute(value: str, what: str) -> Path | None:
    """``value`` as an absolute path (not resolved through links), or None when it is empty.

    ``what`` names the setting in the message ("The photo path", "Jobs Folder").
    """
    value = (value or "").strip()
    if not value:
        return None
    if value.startswith(BLEND_RELATIVE) and not bpy.data.filepath:
        raise BlendPathError(f"{what} {value} is relative to the .blend file, which is not saved yet: "
                             "save the file first, or choose the path again")
    return Path(bpy.path.abspath(value)).expanduser().absolute()
