"""The "Clean Up Old Jobs" button: frees the job folders' space, keeping what the open file still uses."""

from __future__ import annotations

import time

import bpy

from . import job_cleanup, job_folders, scene_files
from .blend_paths import BlendPathError

SIZE_REFRESH_S = 5.0  # the button's label walks the jobs folder at most this often (draw() runs a lot)
_shown: dict = {"root": None, "at": 0.0, "size": 0}


def _jobs_root():
    from .operators import jobs_root  # the one place that knows where jobs go

    return jobs_root()


def current_plan() -> job_cleanup.Plan:
    """What the button would do now (BlendPathError: the Jobs Folder is "//" in an unsaved file)."""
    return job_cleanup.plan(_jobs_root(), scene_files.files_in_use())


def button_text() -> str:
    """"Clean Up Old Jobs (12.3 MB)": the size it frees, refreshed every few seconds."""
    try:
        root = _jobs_root()
    except BlendPathError:
        return DIGITIZE_OT_clean_jobs.bl_label
    now = time.monotonic()
    if _shown["root"] != root or now - _shown["at"] > SIZE_REFRESH_S:
        _shown.update(root=root, at=now, size=job_cleanup.plan(root, scene_files.files_in_use()).size)
    return f"{DIGITIZE_OT_clean_jobs.bl_label} ({job_cleanup.human_size(_shown['size'])})"


def forget_size() -> None:
    _shown["root"] = None


class DIGITIZE_OT_clean_jobs(bpy.types.Operator):
    """Delete what finished, failed and cancelled jobs left in the Jobs Folder. Files the open file still
    uses stay; folders that are not the add-on's job folders, or that hold files of yours, are not touched"""

    bl_idname = "digitize.clean_jobs"
    bl_label = "Clean Up Old Jobs"

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        try:
            plan = current_plan()
        except BlendPathError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        freed = job_cleanup.clean(plan)
        forget_size()
        message = f"Freed {job_cleanup.human_size(freed)} from {len(plan.tidies)} old job folders in {plan.root}"
        kept = [(f, why) for f, why in plan.left if job_folders.FOLDER_NAME.match(f.name)]  # job-like ones
        if kept:
            folder, why = kept[0]
            message += f"; left {len(kept)} alone ({folder.name}: {why})"
        self.report({"INFO"}, message)
        return {"FINISHED"}


classes = (DIGITIZE_OT_clean_jobs,)
