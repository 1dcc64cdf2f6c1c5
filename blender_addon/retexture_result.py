"""What a finished re-texture changes in the scene, a piece per timer tick: the UVs the background
Blender made for a mesh without them, or the decimated copy it made (maps_job.py), then the texture.

Nothing is written before the backend has succeeded, so a cancelled or failed re-texture leaves the
mesh as it was. Once the pieces begin, whatever they made is taken back if a later piece fails or the
job is cancelled (job_runner closes the steps): a UV map removed, a copy deleted. The whole change is
one undo step ("Texture selected mesh", pushed by job_runner when the last piece is done).
"""

from __future__ import annotations

from pathlib import Path


def load_result(job_dir):
    """(the backend's result files, the arrays the background Blender made or None). Loader thread, no bpy."""
    import numpy as np

    from .maps_job import MADE
    from .scene_result import load_result_files

    files = load_result_files(Path(job_dir) / "out")
    made = Path(job_dir) / MADE
    if not made.is_file():
        return files, None
    with np.load(made) as z:
        return files, {k: z[k] for k in z.files}


def finish_steps(obj, source, from_photo: str):
    """The job's `finish` for re-texturing ``obj`` (read into ``source``: retexture_input.Source)."""
    # The object is found again by its session_uid, not its name: the artist may rename it meanwhile.
    uid, name = obj.session_uid, obj.name

    def finish(ctx, data):
        from . import scene_result
        from .job_runner import Outcome
        from .photo_preview import is_photo_preview
        from .result_words import mismatch_words

        files, made_arrays = data
        target = scene_result.find_object(uid)
        if target is None:
            raise RuntimeError(f"the object {name!r} is gone")
        if not files.texture.is_file():
            raise RuntimeError("the result has no texture.png")
        made, words = [], ""  # what the pieces made (to take back), the report's words for a copy
        try:
            if source.decimate is not None:
                target, words = yield from _copy_steps(ctx, target, made_arrays, source.count.faces, made)
            elif source.corners is not None:
                uv = source.uv if source.uv is not None else made_arrays["loop_uv"]
                yield from _uv_steps(target, uv, source.corners, made)
            if made:
                yield
            first = any(is_photo_preview(slot.material) for slot in target.material_slots)
            scene_result.apply_texture(target, files.texture, f"{target.name}_texture")
        except BaseException:  # a failure, or Cancel while the pieces arrive: the scene as it was
            for take_back in reversed(made):
                take_back()
            raise
        message = f"{'Textured' if first else 'Re-textured'} {target.name} from {from_photo}{words}"
        mismatch = mismatch_words(files.result)
        return Outcome(f"{message}; {mismatch}", "WARNING") if mismatch else message

    return finish


def _uv_steps(target, uv, corners, made: list):
    """The background Blender's Smart UV Project onto the artist's mesh (two pieces)."""
    from .mesh_data import add_uv_map_steps, same_corners

    me = target.data
    if me.is_editmode:  # leaving Edit Mode would write the edit mesh back over the new UVs
        raise RuntimeError(f"{target.name} is in Edit Mode, so its new UVs cannot be written: leave Edit Mode "
                           "and press Texture Selected Mesh again")
    if not same_corners(me, corners):
        raise RuntimeError(f"{target.name}'s faces were edited while it was being textured, so its new UVs no "
                           "longer fit: press Texture Selected Mesh again")
    yield from add_uv_map_steps(me, uv.reshape(-1, 2), made)


def _copy_steps(ctx, original, arrays: dict, faces_before: int, made: list):
    """Decimate a Copy: the copy the background Blender made, beside ``original`` (which is unchanged),
    selected and active. Returns (the copy, the report's words)."""
    import bpy

    from .mesh_data import PolygonMesh, mesh_from_polygons_steps
    from .placement import place_beside
    from .retexture_input import copy_name, select_only

    materials = [slot.material for slot in original.material_slots]
    me = yield from mesh_from_polygons_steps(copy_name(original.name), PolygonMesh.from_npz(arrays), materials, made)
    copy = bpy.data.objects.new(copy_name(original.name), me)
    made.append(lambda: bpy.data.objects.remove(copy))
    copy.matrix_world = original.matrix_world  # the mesh as shown: its modifiers (and pose) applied
    for key in original.keys():
        if key.startswith("digitize_"):  # the photo it was digitized from and that photo's camera
            copy[key] = original[key]
    for coll in original.users_collection:
        coll.objects.link(copy)
    place_beside(ctx, copy, original)
    select_only(ctx, copy)
    words = (f"; made {copy.name} ({int(arrays['faces']):,} faces) from {original.name} ({faces_before:,} faces), "
             "which is unchanged")
    return copy, words
