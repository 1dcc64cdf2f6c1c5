"""Blender's rule for extensions: no network access unless the user allows it (``bpy.app.online_access``).

Only the preferences' installer reaches the network (pip's packages, the model weights); a
digitize job never does (the backend loads weights with ``local_files_only``, docs/models.md).
"""

from __future__ import annotations

import bpy

ALLOW_HOW = "Edit > Preferences > System > Network > Allow Online Access"


def offline_reason() -> str:
    """'' when Blender allows online access, else what keeps it off and how to allow it."""
    if bpy.app.online_access:
        return ""
    if getattr(bpy.app, "online_access_override", False):  # --offline-mode: the preference cannot change it
        return "Blender was started with --offline-mode: start it without that option (or with --online-mode)"
    return f"Blender's online access is off: turn on {ALLOW_HOW}"


def why_offline(button: str) -> str:
    """'' when online access is allowed, else one line for the button's report."""
    reason = offline_reason()
    return f"{button} needs the internet. {reason}, then press {button} again" if reason else ""
