"""Operators: Digitize from photo, Reconstruct shape, Texture (re-texture) selected mesh, Export, Cancel
(the scripting contract).

    bpy.ops.digitize.from_photo(wait=False)           # both steps in one
    bpy.ops.digitize.reconstruct_shape(wait=False)    # step 1: the untextured mesh, to clean up
    bpy.ops.digitize.retexture_selected(wait=False)   # step 2 ("Texture Selected Mesh"), and any later edit
    bpy.ops.digitize.export(format='GLB' | 'FBX', filepath=...)
    bpy.ops.digitize.cancel()

With wait=True an operator runs the job to its end before returning (scripts, background
mode) and on failure returns {'CANCELLED'} with a WARNING report holding the backend's
one-line message (an ERROR report would make bpy.ops raise RuntimeError instead). The
message is also left in ``WindowManager.digitize_job.last_error``.
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from . import input_checks, job_cleanup, job_client, job_folders, job_runner, paths, prefs, scene_files
from .blend_paths import PATH_OPTIONS, BlendPathError, absolute
from .progress_words import job_name


def _fail(op, wait: bool, message: str):
    """Report a failure; scripts (wait=True) get {'CANCELLED'} rather than a RuntimeError."""
    status = getattr(bpy.context.window_manager, "digitize_job", None)
    if status is not None:
        status.last_error = message
    op.report({"WARNING"} if wait else {"ERROR"}, message)
    return {"CANCELLED"}


def _options(settings, preferences) -> dict:
    options = {
        "preset": settings.preset,
        "seed": int(settings.seed),
        "height_m": round(float(settings.height_m), 4),
        "device": preferences.device,
        "prompt": settings.prompt,
    }
    if settings.fusion_iterations > 0:
        options["fusion_iterations"] = int(settings.fusion_iterations)
    models_dir = prefs.models_dir()
    if models_dir is not None:
        options["models_dir"] = str(models_dir)
    return options


def _photo(settings) -> Path | None:
    """The panel's photo; BlendPathError for a "//" path in an unsaved file."""
    path = absolute(settings.photo_path, "The photo path")
    return None if path is None else path.resolve()


def _check_environment(op, wait):
    """(backend python, backend root) or None after reporting what is missing."""
    try:
        python = prefs.backend_python()
    except BlendPathError as e:
        _fail(op, wait, str(e))
        return None
    problem = input_checks.backend_python_problem(python, chosen=bool(prefs.get_prefs().backend_python))
    if problem:
        _fail(op, wait, problem)
        return None
    root = paths.backend_root()
    if root is None:
        _fail(op, wait, "The backend source (backend/) was not found next to the add-on")
        return None
    return python, root


def jobs_root() -> Path:
    return paths.jobs_root(prefs.jobs_dir())


def _new_job_folder(stem: str) -> job_folders.JobFolder:
    return job_folders.JobFolder.create(jobs_root(), stem)


def _discard(folder: job_folders.JobFolder) -> None:
    """A job that never started: its folder holds nothing anyone needs."""
    folder.release()
    job_cleanup.apply(job_cleanup.tidy_plan(folder.path))


def _conclude(folder: job_folders.JobFolder):
    """What happens to the job folder when the job is over (docs/blender_addon.md, "Job folders")."""

    def conclude(job):
        folder.release()
        if job.process.running:  # still stopping: the backend's own lock guards it; Clean Up takes it later
            return
        if job.state == "failed" or prefs.get_prefs().keep_job_folders:  # kept whole: Open Job Folder
            job_folders.seal(folder.path)
            return
        keep = scene_files.files_in_use() | {Path(f) for f in job.keep_files}
        job_cleanup.apply(job_cleanup.tidy_plan(folder.path, keep))

    return conclude


def _launch(op, context, wait: bool, folder: job_folders.JobFolder, job_json: dict, kind: str, label: str,
            finish, undo_message: str, keep_files: list | None = None, before=None, prepare=None):
    """Start the backend on the job folder (after ``before``: the work that makes its inputs, a
    job_client.ProcessChain without its last process) and follow it."""
    job_dir = folder.path
    env_ok = _check_environment(op, wait)
    if env_ok is None:
        _discard(folder)
        return {"CANCELLED"}
    python, root = env_ok
    job_client.write_job(job_dir, job_json)
    models_dir = prefs.models_dir()
    process = job_client.BackendProcess(
        job_client.backend_command(python, job_dir), cwd=root,
        env=job_client.backend_env(root, str(models_dir) if models_dir else None),
    )
    if before is not None:
        before.processes.append(process)
        process = before
    try:
        process.start()
    except OSError as e:
        _discard(folder)
        return _fail(op, wait, f"Cannot start the backend ({python}): {e}")
    job = job_runner.Job(kind, label, process, job_dir, context.scene.session_uid, prepare=prepare or _load_out,
                         finish=finish, undo_message=undo_message, conclude=_conclude(folder),
                         keep_files=[] if keep_files is None else keep_files)
    if not wait:
        job_runner.start(job)
        op.report({"INFO"}, f"{job_name(kind)} started: {label} (job folder {job_dir})")
        return {"FINISHED"}
    job_runner.run_blocking(job)
    if job.state != "done":
        return _fail(op, wait, job.error or job.message or "the job did not finish")
    op.report({job.report_level}, job.message)
    for note in job.notes:  # the backend's warnings, in an artist's words (warning_words.py)
        op.report({"WARNING"}, note.text)
    return {"FINISHED"}


def _load_out(job_dir):
    from . import scene_result  # NumPy only here, in the loader thread: registering stays light

    return scene_result.load_result_files(Path(job_dir) / "out")


class _JobOperator:
    wait: BoolProperty(
        name="Wait",
        description="Run the job to its end before returning (for scripts and background mode)",
        default=False,
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context):
        if job_runner.running():
            cls.poll_message_set("A job is running")
            return False
        return context.scene is not None


def _photo_job(op, settings, command: str, options: dict):
    """(photo, job.json, job folder) for a job on the panel's photo, or the operator's return value
    after reporting what is wrong (no photo, not an image, a "//" path in an unsaved file)."""
    try:
        photo = _photo(settings)
        if photo is None:
            return _fail(op, op.wait, "Choose a photo first")
        problem = input_checks.photo_problem(photo)
        if problem:
            return _fail(op, op.wait, problem)
        # The photo stays where it is (absolute path): the backend's messages then name the user's file.
        job_json = {"command": command, "photo": str(photo), "options": options}
        folder = _new_job_folder(photo.stem or "person")
    except BlendPathError as e:
        return _fail(op, op.wait, str(e))
    except OSError as e:
        return _fail(op, op.wait, f"Cannot make a job folder: {e}")
    return photo, job_json, folder


class DIGITIZE_OT_from_photo(_JobOperator, bpy.types.Operator):
    """Reconstruct a textured 3D human from the photo (the backend runs in the background)"""

    bl_idname = "digitize.from_photo"
    bl_label = "Digitize from Photo"
    bl_options = {"REGISTER"}  # the undo step is pushed when the result is in

    def execute(self, context):
        settings = context.scene.digitize
        started = _photo_job(self, settings, "digitize", {**_options(settings, prefs.get_prefs()), "rig": settings.rig,
                                                          "rest_pose": settings.rest_pose})
        if isinstance(started, set):
            return started
        photo, job_json, folder = started
        stem, job_dir = photo.stem or "person", folder.path
        keep_files = []  # files of the job folder the result's report sends the artist to

        def finish(ctx, files):
            # A generator: the timer runs one piece of the build per tick (job_runner).
            from . import scene_result

            made = yield from scene_result.build_result_steps(ctx, files, stem, photo_path=str(photo),
                                                              job_dir=str(job_dir))
            ctx.scene.digitize.result_object = made["object"]
            if made["armature"] is None and files.rig is not None:  # the report points to the rigged GLB
                keep_files.append(files.out_dir / "avatar.glb")
            from .result_words import shape_words

            return f"Digitized {photo.name}: {made['object'].name} ({shape_words(files.result)}){_made_words(made)}"

        return _launch(self, context, self.wait, folder, job_json, "digitize", photo.name, finish,
                       "Digitize from photo", keep_files)


REST_POSE_WORDS = {"a_pose": "an A-pose", "t_pose": "a T-pose"}


def _made_words(made: dict) -> str:
    """What the report adds after the result's name: its rig (and rest pose), why not, where it was put."""
    from .placement import placement_words

    arm, words = made["armature"], ""
    if arm is not None:
        words = f", rigged with {arm.name}"
        pose = arm.get("digitize_rest_pose", "photo")
        if pose in REST_POSE_WORDS:
            words += f" at rest in {REST_POSE_WORDS[pose]} (the photo's pose kept as an Action)"
    if made["rig_note"]:
        words += f"; {made['rig_note']}"
    placed = placement_words(made["offset_x"], made["cleared"])
    return f"{words}; {placed}" if placed else words


def _shape_options(settings, preferences) -> dict:
    """What a shape job takes of the panel's settings: no texture options (docs/job.md)."""
    options = {"height_m": round(float(settings.height_m), 4), "device": preferences.device, "rig": settings.rig}
    models_dir = prefs.models_dir()
    if models_dir is not None:
        options["models_dir"] = str(models_dir)
    return options


class DIGITIZE_OT_reconstruct_shape(_JobOperator, bpy.types.Operator):
    """Reconstruct the person's 3D shape from the photo, without a texture (seconds): clean the mesh up by
    hand, then press Texture Selected Mesh. The photo is projected onto the mesh as a preview"""

    bl_idname = "digitize.reconstruct_shape"
    bl_label = "Reconstruct Shape"
    bl_options = {"REGISTER"}  # the undo step is pushed when the result is in

    def execute(self, context):
        settings = context.scene.digitize
        try:
            options = _shape_options(settings, prefs.get_prefs())
        except BlendPathError as e:
            return _fail(self, self.wait, str(e))
        started = _photo_job(self, settings, "shape", options)
        if isinstance(started, set):
            return started
        photo, job_json, folder = started
        stem, job_dir = photo.stem or "person", folder.path

        def finish(ctx, files):
            from . import scene_result
            from .result_words import shape_words

            made = yield from scene_result.build_result_steps(ctx, files, stem, photo_path=str(photo),
                                                              job_dir=str(job_dir))
            ctx.scene.digitize.result_object = made["object"]
            return (f"Reconstructed the shape of {photo.name}: {made['object'].name} ({shape_words(files.result)})"
                    f"{_made_words(made)}; clean it up, then press Texture Selected Mesh")

        return _launch(self, context, self.wait, folder, job_json, "shape", photo.name, finish,
                       "Reconstruct shape")


def _selected_mesh(context):
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and obj.select_get():
        return obj
    return next((o for o in context.selected_objects if o.type == "MESH"), None)


def _digitized_photo(obj) -> Path | None:
    """The photo ``obj`` was digitized from (stored on it by Digitize), or None."""
    stored = obj.get("digitize_photo")
    if not isinstance(stored, str) or not stored:
        return None
    return absolute(stored, f"The photo {obj.name} was digitized from,").resolve()


def _retexture_photo(settings, obj, use_panel_photo: bool) -> tuple[Path | None, bool]:
    """The photo to re-texture ``obj`` from, and whether it is the panel's.

    The photo the object was digitized from, unless the user asks for the panel's on purpose;
    an object Digitize did not make has only the panel's.
    """
    digitized = _digitized_photo(obj)
    if digitized is None or use_panel_photo:
        return _photo(settings), True
    return digitized, False


def _photo_words(photo: Path, from_panel: bool, obj) -> str:
    if from_panel:
        return f"{photo.name}, the panel's photo"
    try:
        shape_only = json.loads(obj.get("digitize_result") or "{}").get("command") == "shape"
    except (ValueError, AttributeError):
        shape_only = False
    return f"{photo.name}, the photo {'its shape was reconstructed' if shape_only else 'it was digitized'} from"


class DIGITIZE_OT_retexture_selected(_JobOperator, bpy.types.Operator):
    """Texture the selected (edited) mesh from the photo it was reconstructed from (or the panel's):
    Blender renders the mesh's maps, the backend synthesizes the unseen views and fuses them onto the
    mesh's own UVs; the mesh itself is not changed. Again after later edits to re-texture. Only this
    object changes: a material it shares is copied first"""

    bl_idname = "digitize.retexture_selected"
    bl_label = "Texture Selected Mesh"
    bl_options = {"REGISTER"}  # the undo step is pushed when the result is in

    use_panel_photo: BoolProperty(
        name="Use Panel Photo",
        description="Texture from the panel's photo instead of the one the object was digitized from",
        default=False,
        options={"SKIP_SAVE"},
    )
    decimate_copy: BoolProperty(
        name="Decimate a Copy",
        description="When the mesh has more faces than Re-texture takes, re-texture a decimated copy of it "
                    "(placed beside it) and leave the mesh itself unchanged",
        default=False,
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        if _selected_mesh(context) is None:
            cls.poll_message_set("Select a mesh object")
            return False
        return True

    def execute(self, context):
        from . import retexture_input

        settings = context.scene.digitize
        obj = _selected_mesh(context)
        try:
            photo, from_panel = _retexture_photo(settings, obj, self.use_panel_photo)
            # No rig: the mesh keeps the one it has in Blender (a texture job's rig would be no body's, and said so).
            options = {**_options(settings, prefs.get_prefs()), "rig": "none"}
            root = jobs_root()
        except BlendPathError as e:
            return _fail(self, self.wait, str(e))
        if photo is None:
            return _fail(self, self.wait, "Choose the person's photo first (the texture comes from it)")
        problem = input_checks.photo_problem(photo, "The photo" if from_panel else
                                             f"The photo {obj.name} was digitized from")
        if problem:
            if not from_panel:
                problem += ": choose it in the panel and tick Use Panel Photo"
            return _fail(self, self.wait, problem)
        if _check_environment(self, self.wait) is None:
            return {"CANCELLED"}
        # The face limit first, in the faces Blender shows: nothing slow has happened yet.
        if obj.mode == "EDIT":  # what the artist sees in Edit Mode is not in the mesh's arrays yet
            obj.update_from_editmode()
        count = retexture_input.face_count(obj, context.evaluated_depsgraph_get())
        if count.faces == 0:
            return _fail(self, self.wait, f"{obj.name} has no faces")
        if count.over and not self.decimate_copy:
            return _fail(self, self.wait, retexture_input.too_many_words(obj.name, count))
        try:
            source, posed_back = _read_source(context, obj, count)
        except RuntimeError as e:  # Smart UV Project refused the mesh (only on the UI thread's fallback)
            return _fail(self, self.wait, f"{obj.name} has no UVs and Smart UV Project failed: {e}")
        self._report_source(obj, source, posed_back)
        try:
            folder = job_folders.JobFolder.create(root, obj.name)
        except OSError as e:
            return _fail(self, self.wait, f"Cannot make a job folder: {e}")
        job_json = {"command": "retexture", "photo": str(photo), "mesh": "input/mesh.obj",
                    "maps": "input/maps", "cameras": [], "options": options}  # cameras: written by _maps_chain
        from_photo = _photo_words(photo, from_panel, obj)
        # The camera the shape was seen through belongs to its photo: with the panel's photo it is fitted anew.
        camera = None if from_panel else _stored_camera(obj)
        from .retexture_result import finish_steps, load_result

        return _launch(self, context, self.wait, folder, job_json, "retexture", f"{obj.name} from {from_photo}",
                       finish_steps(obj, source, from_photo), "Texture selected mesh",
                       before=_maps_chain(folder.path, job_json, source, obj.name, camera), prepare=load_result)

    def _report_source(self, obj, source, posed_back: bool) -> None:
        from .retexture_input import copy_name

        if source.decimate is not None:
            self.report({"INFO"}, f"Re-texturing {copy_name(obj.name)}, a decimated copy of {obj.name} (at most "
                                  f"{source.limits[0]:,} faces instead of {source.count.faces:,}); it is made in "
                                  "the background and added when the texture is in")
        elif source.corners is not None:
            self.report({"INFO"}, f"{obj.name} has no UVs: Smart UV Project unwraps it; its UVs are written when "
                                  "the texture is in")
        if posed_back:
            self.report({"INFO"}, f"Re-texturing {obj.name} as it stands in the photo's pose (its armature "
                                  "was posed so for the maps, then put back)")


def _read_source(context, obj, count):
    """(retexture_input.Source, whether the armature was posed for it): the arrays the re-texture needs,
    copied out of Blender. A result delivered in an A- or T-pose is read in the photo's pose: the
    photo's camera sees the person only in that pose (the texture fits the mesh's UVs in any pose)."""
    from . import mesh_data, retexture_input
    from .rig_build import bound_armature, photo_pose_shown

    with photo_pose_shown(context, bound_armature(obj)) as posed_back:
        depsgraph = context.evaluated_depsgraph_get()
        if count.over:  # Decimate a Copy: the copy is made from the mesh as shown, in the background
            shown, matrix = mesh_data.read_evaluated_polygons(obj, depsgraph)
            source = retexture_input.Source(decimate=shown, count=count, matrix_world=matrix,
                                            limits=(retexture_input.MAX_FACES, retexture_input.MAX_TRIANGLES))
        elif mesh_data.has_uvs(obj):
            source = retexture_input.Source(raw=mesh_data.read_triangles(obj, depsgraph))
        else:
            source = _unwrap_source(context, obj, depsgraph)
    return source, posed_back


def _unwrap_source(context, obj, depsgraph):
    """A mesh without UVs: Smart UV Project runs in the background Blender on the mesh's own faces. Where
    its modifiers change its faces, the UVs must pass through them, which only this Blender can do: then
    a temporary copy is unwrapped here (the one case left on the UI thread; the mesh itself stays as it
    is until the texture is in)."""
    import numpy as np

    from . import mesh_data, retexture_input

    raw = mesh_data.read_triangles(obj, depsgraph)
    own = mesh_data.read_polygons(obj.data, uv=False, faces=False)
    if np.array_equal(own.corner_vert, raw.corner_vert):
        return retexture_input.Source(raw=raw, unwrap=own, corners=own.corner_vert)
    raw, uv = mesh_data.unwrapped_copy(context, obj)
    return retexture_input.Source(raw=raw, uv=uv, corners=own.corner_vert)


def _stored_camera(obj) -> dict | None:
    """The photo's camera a digitized or reconstructed object keeps (scene_result.INPUT_CAMERA_KEY), or None."""
    from .scene_result import INPUT_CAMERA_KEY

    try:
        camera = json.loads(obj.get(INPUT_CAMERA_KEY) or "null")
    except ValueError:
        return None
    return camera if isinstance(camera, dict) else None


def _maps_chain(job_dir: Path, job_json: dict, source, name: str, camera: dict | None) -> job_client.ProcessChain:
    """Re-texture's work before the backend, none of it on Blender's UI thread: a thread writes the
    arrays (retexture_input.Source.write: world space, centred, the view cameras, the photo's camera moved
    with the mesh, job.json), then a second Blender unwraps or decimates where asked, writes the OBJ and
    renders the maps (maps_job.py)."""
    import sys

    from . import maps_job

    maps = job_client.BackendProcess(maps_job.command(sys.executable, bpy.app.binary_path, job_dir), cwd=job_dir)
    return job_client.ProcessChain([maps], prepare=lambda: source.write(job_dir, job_json, name, camera))


def _is_digitized(obj) -> bool:
    return "digitize_photo" in obj or "digitize_result" in obj


def export_target(context):
    """(the object Export writes, why that one): what the artist means, never an object merely left active.

    A selected digitized mesh (the active one first), else a selected mesh (the active one first),
    else, with no mesh selected, the scene's last digitized result. The startup Cube stays active
    when the artist clicks away; being active without being selected does not make it the target.
    """
    active = context.active_object
    selected = [o for o in context.selected_objects if o.type == "MESH"]
    for pool, why in (([o for o in selected if _is_digitized(o)], "the selected digitized mesh"),
                      (selected, "the selected mesh")):
        if pool:
            return (active if active in pool else pool[0]), why
    obj = context.scene.digitize.result_object
    if obj is not None and obj.type == "MESH" and context.scene.objects.get(obj.name) == obj:
        return obj, "the last digitized result; no mesh is selected"
    return None, ""


FORMATS = (("GLB", "glTF Binary (.glb)", "One file with the mesh and its texture embedded"),
           ("FBX", "FBX (.fbx)", "FBX with the texture embedded"))


class DIGITIZE_OT_export(bpy.types.Operator):
    """Export the selected digitized mesh (else the selected mesh, else the last digitized one) with its
    texture embedded"""

    bl_idname = "digitize.export"
    bl_label = "Export Digitized Mesh"
    bl_options = {"REGISTER"}

    format: EnumProperty(name="Format", items=FORMATS, default="GLB")
    filepath: StringProperty(name="File Path", subtype="FILE_PATH", default="", options={"SKIP_SAVE", *PATH_OPTIONS})
    filter_glob: StringProperty(default="*.glb;*.fbx", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        if export_target(context)[0] is None:
            cls.poll_message_set("Select a mesh, or digitize one first")
            return False
        return True

    def invoke(self, context, event):
        if not self.filepath:
            obj, _ = export_target(context)
            folder = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path.home()
            self.filepath = str(folder / f"{bpy.path.clean_name(obj.name)}.{self.format.lower()}")
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        obj, why = export_target(context)
        if obj is None:
            self.report({"ERROR"}, "Nothing to export: select a mesh, or digitize one first")
            return {"CANCELLED"}
        try:
            path = absolute(self.filepath, "The export path")
        except BlendPathError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if path is None:
            self.report({"ERROR"}, "No file path given")
            return {"CANCELLED"}
        suffix = "." + self.format.lower()
        if path.suffix.lower() != suffix and not path.is_dir():
            path = path.with_suffix(suffix)
        problem = input_checks.export_problem(path)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        try:
            _export(context, obj, path, self.format)
        except RuntimeError as e:
            self.report({"ERROR"}, f"Export failed: {e}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {obj.name} ({why}) to {path}")
        return {"FINISHED"}


def _export(context, obj, path: Path, fmt: str) -> None:
    view_layer = context.view_layer
    selected = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    # A rigged result goes out with its armature (skin and bones), else a mesh alone.
    rig = obj.parent if obj.parent is not None and obj.parent.type == "ARMATURE" else None
    exported = [o for o in (obj, rig) if o is not None and o.name in view_layer.objects]
    hidden = {o: o.hide_get() for o in exported}
    try:
        for o in selected:
            o.select_set(False)
        for o in exported:
            o.hide_set(False)
            o.select_set(True)
        view_layer.objects.active = obj
        if fmt == "GLB":
            bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB", use_selection=True,
                                      export_apply=True, export_materials="EXPORT", export_image_format="AUTO",
                                      export_cameras=False, export_lights=False)
        else:
            for slot in obj.material_slots:
                _pack_images(slot.material)
            bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, object_types={"MESH", "ARMATURE"},
                                     path_mode="COPY", embed_textures=True, use_mesh_modifiers=True,
                                     add_leaf_bones=False)
    finally:
        for o in exported:
            o.select_set(False)
            o.hide_set(hidden[o])
        for o in selected:
            if o.name in view_layer.objects:
                o.select_set(True)
        view_layer.objects.active = active


def _pack_images(mat) -> None:
    """FBX embeds only images it can read: pack generated or unsaved ones."""
    if mat is None or not mat.use_nodes:
        return
    for node in mat.node_tree.nodes:
        image = getattr(node, "image", None)
        if image is not None and image.packed_file is None and image.source in {"FILE", "GENERATED"}:
            if image.source == "GENERATED" or not Path(bpy.path.abspath(image.filepath)).is_file():
                image.pack()


class DIGITIZE_OT_cancel(bpy.types.Operator):
    """Stop the running job; nothing is added to the scene"""

    bl_idname = "digitize.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return job_runner.running()

    def execute(self, context):
        if not job_runner.cancel():
            return {"CANCELLED"}
        self.report({"INFO"}, "Cancelling the job")
        return {"FINISHED"}


class DIGITIZE_OT_report(bpy.types.Operator):
    """Show a message from a background job in the status bar and the Info log"""

    bl_idname = "digitize.report"
    bl_label = "Digitize Report"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=(("INFO", "Info", ""), ("WARNING", "Warning", ""), ("ERROR", "Error", "")),
                        default="INFO")
    message: StringProperty(default="")

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


class DIGITIZE_OT_open_job_folder(bpy.types.Operator):
    """Open the last job's folder (inputs, events.jsonl, out/) in the file browser of the system"""

    bl_idname = "digitize.open_job_folder"
    bl_label = "Open Job Folder"

    @classmethod
    def poll(cls, context):
        status = getattr(context.window_manager, "digitize_job", None)
        return bool(status and status.last_job_dir and Path(status.last_job_dir).is_dir())

    def execute(self, context):
        bpy.ops.wm.path_open(filepath=context.window_manager.digitize_job.last_job_dir)
        return {"FINISHED"}


classes = (DIGITIZE_OT_from_photo, DIGITIZE_OT_retexture_selected, DIGITIZE_OT_export, DIGITIZE_OT_cancel,
           DIGITIZE_OT_reconstruct_shape, DIGITIZE_OT_report, DIGITIZE_OT_open_job_folder)
