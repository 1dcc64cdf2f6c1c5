"""A running job's progress in an artist's words (standard library only).

The backend's events name stages by id ("views", "fusion") and its progress lines are for a
log ("fusion step 8/40, loss 0.0412"); the panel shows what is being made instead:
"Painting the sides and back — 3 of 6 views".
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class StageSpan:
    """Where the running stage sits in the whole run, as its `stage` event announced it: `start` and `share`
    of the run by the stage's usual time (the backend's stage weights), else stage `index` of `total`."""

    index: int = 0
    total: int = 0
    start: float | None = None
    share: float | None = None

    @classmethod
    def from_event(cls, data: dict) -> StageSpan:
        def number(key):
            value = data.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

        count = _count(data) or (0, 0)
        start, share = number("start"), number("share")
        if start is None or share is None or not (0 <= start <= 1 and 0 <= share <= 1):
            start = share = None
        return cls(count[0], count[1], start, share)

    def done(self, part: float = 0.0) -> float | None:
        """The run's fraction done when `part` (0-1) of this stage is; None: no measure."""
        if self.start is not None and self.share is not None:
            return self.start + part * self.share
        return (self.index - 1 + part) / self.total if self.total else None


def run_fraction(fraction: float, span: StageSpan, kind: str, data: dict) -> float:
    """The progress bar after an event of `kind` ("stage" or "progress"); it never moves back."""
    if kind == "stage":
        now = span.done(0.0)
    elif isinstance(data.get("fraction"), int | float):  # a stage done: the backend says where the run is
        now = float(data["fraction"])
    else:  # a view made, a fusion step: part of the running stage
        count = _count(data)
        now = span.done(count[0] / count[1]) if count else None
    return fraction if now is None else max(fraction, min(now, 1.0))


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
