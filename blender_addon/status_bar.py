"""The status bar (bottom of Blender's window): the installer's or the job's progress, where the
artist sees it from any editor, the preferences closed."""

import bpy

from . import job_runner
from .prefs import INSTALLER


def draw(self, context):
    status = getattr(context.window_manager, "digitize_job", None)
    if INSTALLER.running:
        text, fraction = INSTALLER.activity, INSTALLER.fraction
    elif job_runner.running() and status is not None:
        text, fraction = status.message or "Starting", status.progress
    else:
        return
    row = self.layout.row(align=True)
    if fraction is None:
        row.label(text=text, icon="TIME")
    else:
        row.progress(factor=fraction, type="BAR", text=text)


def register():
    bpy.types.STATUSBAR_HT_header.append(draw)


def unregister():
    bpy.types.STATUSBAR_HT_header.remove(draw)
