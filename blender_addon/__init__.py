"""Digitize Human from Photo: Blender add-on (extension).

Works both as an installed extension (package ``bl_ext.<repo>.photo_digitize``, built by
tools/build_extension.py) and imported straight from the repository
(``import blender_addon; blender_addon.register()``). Blender's Python only ever imports
``bpy``, the standard library and NumPy (which Blender bundles): the heavy lifting runs in
the separate backend process (job_client.py). See docs/blender_addon.md.

Modules, one job each:
    prefs.py         add-on preferences, the installer buttons and their progress
    installer.py     install_deps.py as a subprocess: progress, Cancel (no bpy)
    props.py         Scene.digitize settings, WindowManager.digitize_job status
    job_client.py    the backend subprocess and its JSON-line events (no bpy)
    job_runner.py    following a job with a timer (or blocking), cancel, finishing
    operators.py     Digitize / Re-texture / Export / Cancel
    cleanup_ops.py   the Clean Up Old Jobs button
    job_folders.py   which job folders are the add-on's, and in use (no bpy)
    job_cleanup.py   deleting what ended jobs no longer need (no bpy)
    scene_files.py   the files the open .blend still reads from disk
    blend_paths.py   "//" paths, resolved against the .blend
    online.py        Blender's online-access rule for the installer's downloads
    scene_result.py  the result in the scene: collection, mesh, material, cameras, images
    maps_render.py   Cycles passes -> the backend's per-view maps
    mesh_data.py     Blender meshes <-> NumPy arrays
    obj_io.py        OBJ read/write (no bpy);  exr.py: EXR reader (no bpy)
    cameras.py       the backend's view set and camera conversion (no bpy)
    paths.py         where the backend, its environment and the job folders are
    progress_words.py, warning_words.py, result_words.py   the backend's progress, warnings and result
                     in an artist's words (no bpy)
    input_checks.py  bad input (Backend Python, photo, export path) in one line each (no bpy)
    model_files.py   whether the diffusion models are on disk (no bpy)
    ui.py            the sidebar panel;  status_bar.py: progress in Blender's status bar
"""

import bpy
from bpy.app.handlers import persistent

from . import cleanup_ops, job_runner, operators, prefs, props, status_bar, ui

# The single registration list: order matters (the panel uses the property groups).
classes = (*prefs.classes, *props.classes, *operators.classes, *cleanup_ops.classes, *ui.classes)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)
_added_prefs_entry = False


def _ensure_prefs_entry():
    """A plain ``import blender_addon; register()`` has no entry in Preferences > Add-ons; make one
    (as addon_utils.enable does) so the preferences exist, and remove it again on unregister."""
    global _added_prefs_entry
    addons = bpy.context.preferences.addons
    if __package__ not in addons:
        addons.new().module = __package__
        _added_prefs_entry = True


@persistent
def _on_load_pre(*_args):
    """Opening another .blend stops a running job: its result belongs to the file it started in."""
    if job_runner.running():
        job_runner.shutdown()
        print("photo_digitize: the running job was cancelled because another file is being opened")


def register():
    _register_classes()
    props.register()
    status_bar.register()
    _ensure_prefs_entry()
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister():
    global _added_prefs_entry
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    job_runner.shutdown()
    prefs.unregister_timers()
    if _added_prefs_entry:
        addon = bpy.context.preferences.addons.get(__package__)
        if addon is not None:
            bpy.context.preferences.addons.remove(addon)
        _added_prefs_entry = False
    status_bar.unregister()
    props.unregister()
    _unregister_classes()
