"""A running job's progress in an artist's words (standard library only).

The backend's events name stages by id ("views", "fusion") and its progress lines are for a
log ("fusion step 8/40, loss 0.0412"); the panel shows what is being made instead:
"Painting the sides and back — 3 of 6 views".
"""

from __future__ import annotations

STAGES = {
    "intake": "Finding the person in the photo",
    "shape": "Shaping the body",
    "uv": "Unfolding the surface for the texture",
    "raster": "Setting up the views around the person",
    "back": "Painting the back",
    "views": "Painting the sides and back",
    "fusion": "Blending the views into one texture",
    "export": "Saving the result",
    "write": "Saving the result",
}
RETEXTURE_STAGES = {  # a re-texture's shape is the artist's own mesh; the first three are the background Blender's
    "decimate": "Decimating a copy of your mesh",
    "unwrap": "Unwrapping your mesh (Smart UV Project)",
    "maps": "Rendering your mesh's views",
    "shape": "Reading your mesh",
}
STARTING = "Starting"
JOB_NAMES = {"digitize": "Digitize", "shape": "Reconstruct Shape", "retexture": "Texture Selected Mesh"}  # the buttons'


def job_name(kind: str) -> str:
    """A job by the button that started it, for the reports ("Reconstruct Shape failed: ...")."""
    return JOB_NAMES.get(kind) or kind.capitalize()


def stage_words(kind: str, stage: str) -> str:
    if not stage:
        return STARTING
    own = RETEXTURE_STAGES if kind == "retexture" else {}
    return own.get(stage) or STAGES.get(stage) or stage.replace("_", " ").capitalize()


def _count(data: dict) -> tuple[int, int] | None:
    try:
        index, total = int(data.get("index")), int(data.get("total"))
    except (TypeError, ValueError):
        return None
    return (index, total) if total > 0 else None


def progress_words(kind: str, stage: str, data: dict) -> str | None:
    """The line for a `progress` event inside a stage (a view made, fusion steps); None: keep the stage's line."""
    count = _count(data)
    if count is None or data.get("stage") not in ("views", "fusion"):
        return None  # a stage's own "done in 3.2 s" line: the next stage's words follow at once
    index, total = count
    words = stage_words(kind, data["stage"])
    if data["stage"] == "views":
        return f"{words} — {index} of {total} views"
    return f"{words} — {round(100 * index / total)}%"
