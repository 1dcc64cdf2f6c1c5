"""Add-on preferences: the backend's Python, device, models folder, defaults; the install button.

``bl_idname`` is the package name, so the same class serves the installed extension
(``bl_ext.<repo>.photo_digitize``) and a plain ``import blender_addon`` from a checkout.
The install button runs ``install_deps.py --venv <folder>`` in a subprocess (installer.py); a
timer shows its progress and output lines here and in the status bar, never blocking the UI,
and Cancel stops it.
"""

from types import SimpleNamespace

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from . import paths
from .blend_paths import PATH_OPTIONS, BlendPathError, absolute
from .installer import MODELS_DOWNLOAD_SIZE, Installer
from .online import offline_reason, why_offline

PRESET_ITEMS = (
    ("fast", "Fast", "Quick preview-quality result"),
    ("quality", "Quality", "Slower, higher-quality result (the paper's settings)"),
)
DEVICE_ITEMS = (
    ("auto", "Auto", "CUDA when the backend finds an NVIDIA GPU, else the CPU"),
    ("cpu", "CPU", "Always run on the CPU"),
    ("cuda", "CUDA", "Run on the NVIDIA GPU (fails when there is none)"),
)
DEFAULT_HEIGHT_M = 1.7

# Fallback values when no preferences entry exists (e.g. registered from a script before the
# add-on entry was created).
DEFAULTS = SimpleNamespace(backend_python="", device="auto", models_dir="", default_preset="fast",
                           default_height_m=DEFAULT_HEIGHT_M, jobs_dir="", keep_job_folders=False)


class DIGITIZE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    backend_python: StringProperty(
        name="Backend Python",
        description="Python interpreter of the backend's environment (made by install_deps.py). "
        "Empty: found automatically",
        subtype="FILE_PATH",
        default="",
        options=PATH_OPTIONS,
    )
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="auto",
                         description="Where the backend runs its models")
    models_dir: StringProperty(
        name="Models Folder",
        description="Folder of the model weights (the backend's PHOTO_DIGITIZE_MODELS; the Download Models "
        "button fills it). Empty: the backend's default, ~/.cache/photo-digitize/models",
        subtype="DIR_PATH",
        default="",
        options=PATH_OPTIONS,
    )
    default_preset: EnumProperty(name="Default Preset", items=PRESET_ITEMS, default="fast",
                                 description="Preset of scenes that did not choose one")
    default_height_m: FloatProperty(name="Default Height", default=DEFAULT_HEIGHT_M, min=0.3, max=3.0,
                                    subtype="DISTANCE", unit="LENGTH",
                                    description="Person height of scenes that did not set one")
    jobs_dir: StringProperty(
        name="Jobs Folder",
        description="Where job folders (inputs, logs, results) are kept. Empty: the extension's user "
        "folder, or the system's temporary folder when running from a checkout",
        subtype="DIR_PATH",
        default="",
        options=PATH_OPTIONS,
    )
    keep_job_folders: BoolProperty(
        name="Keep Job Folders",
        description="Keep each ended job's folder whole (inputs, log, the full result) to inspect it or report a "
        "problem. Off: only the files the open file still uses are kept. Clean Up Old Jobs frees them either way",
        default=False,
    )

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_python")
        if not self.backend_python:
            found = paths.default_backend_python()
            col.label(text=f"Found: {found}" if found else "No backend environment found: install it below",
                      icon="CHECKMARK" if found else "ERROR")
        row = col.row()
        row.enabled = not INSTALLER.running
        target = paths.install_venv_dir()
        row.operator(DIGITIZE_OT_install_backend.bl_idname, icon="IMPORT", text="Install / Update Backend")
        op = row.operator(DIGITIZE_OT_install_backend.bl_idname, icon="WORLD",
                          text=f"Download Models ({MODELS_DOWNLOAD_SIZE})")
        op.models = True
        if target is not None:
            col.label(text=f"Environment: {target}")
        offline = offline_reason()
        if offline:
            col.label(text=offline, icon="INFO")
        draw_installer_progress(col)
        if INSTALLER.lines:
            box = col.box()
            for line in INSTALLER.lines:
                box.label(text=line)
        col.separator()
        col.prop(self, "device")
        col.prop(self, "models_dir")
        col.prop(self, "jobs_dir")
        col.prop(self, "keep_job_folders")
        from .cleanup_ops import DIGITIZE_OT_clean_jobs, button_text  # registered after the preferences

        col.operator(DIGITIZE_OT_clean_jobs.bl_idname, text=button_text(), icon="TRASH")
        col.prop(self, "default_preset")
        col.prop(self, "default_height_m")


def get_prefs():
    """The add-on's preferences, or DEFAULTS when there is no entry for this package."""
    addon = bpy.context.preferences.addons.get(__package__)
    prefs = getattr(addon, "preferences", None) if addon else None
    return prefs if prefs is not None else DEFAULTS


def backend_python() -> str:
    """The preferences' backend Python, else the auto-found one, else '' (nothing installed).

    Like every path setting below: BlendPathError for a "//" path while the open file is unsaved.
    """
    value = absolute(get_prefs().backend_python, "Backend Python (preferences)")
    if value is not None:
        return str(value)
    found = paths.default_backend_python()
    return str(found) if found else ""


def models_dir():
    """The preferences' Models Folder, or None (the backend's default)."""
    return absolute(get_prefs().models_dir, "Models Folder (preferences)")


def jobs_dir():
    """The preferences' Jobs Folder, or None (paths.jobs_root's default)."""
    return absolute(get_prefs().jobs_dir, "Jobs Folder (preferences)")


# --- the install button -------------------------------------------------------------------


class TimedInstaller(Installer):
    """The installer, followed by a Blender timer (``timer=False``: the caller waits, e.g. scripts)."""

    def start(self, root, venv, timer: bool = True, models: bool = False, models_dir: str = "") -> None:
        super().start(root, venv, models=models, models_dir=models_dir)
        if timer and not bpy.app.timers.is_registered(_install_tick):
            bpy.app.timers.register(_install_tick, first_interval=0.2)


INSTALLER = TimedInstaller()


def draw_installer_progress(layout) -> None:
    """While the installer runs: what it does, a bar (when it can be measured) and Cancel."""
    if not INSTALLER.running:
        return
    row = layout.row(align=True)
    if INSTALLER.fraction is None:
        row.label(text=INSTALLER.activity, icon="TIME")
    else:
        row.progress(factor=INSTALLER.fraction, type="BAR", text=INSTALLER.activity)
    sub = row.row(align=True)
    sub.enabled = not INSTALLER.stopping
    sub.operator(DIGITIZE_OT_cancel_install.bl_idname, text="Cancel", icon="CANCEL")


def _redraw_preferences():
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type in ("PREFERENCES", "STATUSBAR"):
                area.tag_redraw()


def _install_tick():
    alive = INSTALLER.tick()
    _redraw_preferences()
    return 0.25 if alive else None


class DIGITIZE_OT_install_backend(bpy.types.Operator):
    """Create or update the backend's Python environment (install_deps.py) without blocking Blender"""

    bl_idname = "digitize.install_backend"
    bl_label = "Install / Update Backend"

    wait: bpy.props.BoolProperty(name="Wait", default=False, options={"SKIP_SAVE"},
                                 description="Block until the installer finishes (scripts)")
    models: bpy.props.BoolProperty(name="Models", default=False, options={"SKIP_SAVE"},
                                   description="Also download the model weights (install_deps.py --models; "
                                   "needs the network)")

    def _refuse(self, message: str):
        """One line in the preferences' box and the report; scripts (wait=True) get {'CANCELLED'}, no exception."""
        INSTALLER.lines = [message]
        self.report({"WARNING"} if self.wait else {"ERROR"}, message)
        return {"CANCELLED"}

    def execute(self, context):
        if INSTALLER.running:
            self.report({"WARNING"}, "The installer is already running")
            return {"CANCELLED"}
        # Both buttons download (packages from PyPI, or the model weights): Blender's online rule first.
        offline = why_offline("Download Models" if self.models else "Install / Update Backend")
        if offline:
            return self._refuse(offline)
        root = paths.backend_root()
        venv = paths.install_venv_dir()
        if root is None or venv is None:
            return self._refuse("install_deps.py was not found next to the add-on")
        try:
            folder = models_dir()
            INSTALLER.start(root, venv, timer=not self.wait, models=self.models,
                            models_dir=str(folder) if folder else "")
        except BlendPathError as e:
            return self._refuse(str(e))
        except OSError as e:
            return self._refuse(f"Cannot start the installer: {e}")
        if self.wait:
            INSTALLER.process.wait()
            INSTALLER.tick()
            if INSTALLER.process.returncode != 0:
                self.report({"WARNING"}, INSTALLER.lines[-1])
                return {"CANCELLED"}
        self.report({"INFO"}, f"Downloading the models into {folder or 'the models cache'}" if self.models
                    else f"Installing the backend into {venv}")
        return {"FINISHED"}


class DIGITIZE_OT_cancel_install(bpy.types.Operator):
    """Stop the installer; a model it was downloading is not installed (Download Models resumes it)"""

    bl_idname = "digitize.cancel_install"
    bl_label = "Cancel Install"

    @classmethod
    def poll(cls, context):
        return INSTALLER.running and not INSTALLER.stopping

    def execute(self, context):
        if not INSTALLER.cancel():
            return {"CANCELLED"}
        self.report({"INFO"}, "Cancelling the installer")
        return {"FINISHED"}


classes = (DIGITIZE_AP_preferences, DIGITIZE_OT_install_backend, DIGITIZE_OT_cancel_install)


def unregister_timers():
    INSTALLER.stop()
    if bpy.app.timers.is_registered(_install_tick):
        bpy.app.timers.unregister(_install_tick)
