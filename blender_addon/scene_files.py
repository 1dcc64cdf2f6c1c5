"""Files the open .blend still reads from disk: what cleaning job folders must keep."""

from __future__ import annotations

from pathlib import Path

import bpy

from .blend_paths import BlendPathError, absolute


def files_in_use() -> set[Path]:
    """Every external file the open file uses (unpacked images, libraries, sounds, ...) and the
    photos it names: the panel's, and the one each digitized object remembers for Re-texture.

    Packed data is left out: it lives in the .blend (and in its undo steps), not in the file.
    """
    used = {Path(p) for p in bpy.utils.blend_paths(absolute=True)}  # packed paths are skipped by default
    photos = [scene.digitize.photo_path for scene in bpy.data.scenes if hasattr(scene, "digitize")]
    photos += [owner.get("digitize_photo") for owner in (*bpy.data.objects, *bpy.data.collections)]
    for photo in photos:
        if isinstance(photo, str) and photo:
            try:
                used.add(absolute(photo, "The photo path"))
            except BlendPathError:
                continue
    return used
