"""One backend job at a time, followed from Blender without blocking it.

``start`` launches the job (job_client.BackendProcess) and registers ``tick`` with
``bpy.app.timers``. Each tick drains the events that arrived (never waits on the pipes),
updates ``WindowManager.digitize_job`` (stage, progress, and the artist's words for both and for
the backend's warnings: progress_words.py, warning_words.py) and redraws the sidebar. When the
process has exited, a worker thread reads the result files (NumPy only) and a later tick
builds the Blender data, pushes an undo step and reports. ``run_blocking`` does the same in
a loop for ``wait=True`` (scripts, background mode). ``cancel`` stops the process; nothing
is added to the scene then.

In background mode timers never fire by themselves: either use ``wait=True``, or call
``tick()`` yourself until it returns None (the tests do).
"""

from __future__ import annotations

import atexit
import collections
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import bpy

from . import input_checks
from .job_client import BackendProcess
from .progress_words import StageSpan, job_name, progress_words, run_fraction, stage_words
from .warning_words import artist_notes

TICK_S = 0.1
MAX_EVENTS_PER_TICK = 200


@dataclass
class Job:
    kind: str  # "digitize" | "shape" | "retexture" (the job command)
    label: str  # what the user sees ("person.jpg")
    process: BackendProcess
    job_dir: object
    scene_uid: int  # the scene's session_uid: it survives a rename, unlike its name
    prepare: Callable  # prepare(out_dir) -> data; worker thread, no bpy
    finish: Callable  # finish(context, data) -> message, or a generator returning it (one step a tick)
    undo_message: str = ""
    conclude: Callable | None = None  # conclude(job), once when the job is over: tidy its folder
    keep_files: list = field(default_factory=list)  # files of the job folder the result still points to
    state: str = "running"  # running | loading | done | failed | cancelled
    stage: str = ""
    span: StageSpan = field(default_factory=StageSpan)  # where the running stage sits in the run
    fraction: float = 0.0
    message: str = ""
    error: str = ""
    warnings: list = field(default_factory=list)  # (code or None, the backend's text) of each warning event
    notes: list = field(default_factory=list)  # warning_words.Note: the warnings in an artist's words
    report_level: str = "INFO"  # the level of the final report (WARNING: done, but something is off)
    started: float = field(default_factory=time.monotonic)
    tick_seconds: list = field(default_factory=list)
    finish_seconds: float = 0.0  # main-thread time spent building the result in Blender
    _worker: threading.Thread | None = None
    _data: object = None
    _worker_error: str = ""
    _steps: object = None  # the running finish generator, if `finish` is one
    _concluded: bool = False

    @property
    def over(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Outcome:
    """What a `finish` may return instead of a plain message: the message and its report level."""

    message: str
    level: str = "INFO"  # INFO | WARNING


# Module-level on purpose: Blender's timer (bpy.app.timers) calls `tick` with no arguments, and the
# operators, the panel's draw and the status bar are separate callbacks that must all see the one job
# that runs; there is nothing to pass an object through. One job at a time is the rule they share.
ACTIVE: Job | None = None  # the job running now
LAST: Job | None = None  # the one that ran before it (its result and words stay on the panel)
TICK_SECONDS: collections.deque = collections.deque(maxlen=10000)  # every tick's UI-thread time (benchmark)


# --- status shown in the UI ----------------------------------------------------------------


def _status():
    wm = getattr(bpy.context, "window_manager", None) or (bpy.data.window_managers[0]
                                                          if bpy.data.window_managers else None)
    return getattr(wm, "digitize_job", None)


def _publish(job: Job) -> None:
    status = _status()
    if status is None:
        return
    status.running = not job.over
    status.kind = job.kind
    status.stage = job.stage
    status.message = job.message
    status.progress = min(max(job.fraction, 0.0), 1.0)
    if [(n.text, n.fix) for n in status.notes] != [(n.text, n.fix) for n in job.notes]:
        status.notes.clear()
        for note in job.notes:
            item = status.notes.add()
            item.text, item.fix = note.text, note.fix
    if job.state == "failed":
        status.last_error = job.error
    elif job.state == "running" and status.last_error:
        status.last_error = ""
    status.last_job_dir = str(job.job_dir)


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "STATUSBAR"):
                area.tag_redraw()


def report(level: str, message: str) -> None:
    """A report outside an operator (from a timer): status bar and Info log when there is a window."""
    print(f"photo_digitize: {level.lower()}: {message}")
    wm = getattr(bpy.context, "window_manager", None)
    windows = list(getattr(wm, "windows", ()))
    if not windows:
        return
    try:
        with bpy.context.temp_override(window=windows[0]):
            bpy.ops.digitize.report("EXEC_DEFAULT", level=level, message=message)
    except (RuntimeError, AttributeError, TypeError):
        pass


def undo_push(message: str) -> None:
    wm = getattr(bpy.context, "window_manager", None)
    windows = list(getattr(wm, "windows", ()))
    try:
        if windows:
            with bpy.context.temp_override(window=windows[0]):
                bpy.ops.ed.undo_push(message=message)
        else:
            bpy.ops.ed.undo_push(message=message)
    except RuntimeError as e:
        print(f"photo_digitize: no undo step: {e}")


def conclude(job: Job) -> None:
    """Run the job's `conclude` once it is over; a failure there must not leave the runner stuck."""
    if not job.over or job._concluded or job.conclude is None:
        return
    job._concluded = True
    try:
        job.conclude(job)
    except Exception:
        traceback.print_exc()


# --- events ----------------------------------------------------------------------------------


def handle_events(job: Job, events) -> None:
    for e in events:
        d = e.data
        if e.type == "stage":
            job.stage = str(d.get("stage", "")) or e.message
            job.span = StageSpan.from_event(d)
            job.message = stage_words(job.kind, job.stage)
            job.fraction = run_fraction(job.fraction, job.span, "stage", d)
        elif e.type == "progress":
            job.message = progress_words(job.kind, job.stage, d) or job.message
            job.fraction = run_fraction(job.fraction, job.span, "progress", d)
        elif e.type == "warning":
            job.warnings.append((d.get("code"), e.message))
            job.notes = artist_notes(job.warnings)
        elif e.type == "error":
            job.error = e.message


def _context_for(job: Job):
    scene = next((s for s in bpy.data.scenes if s.session_uid == job.scene_uid), None)
    if scene is None:
        raise RuntimeError("the scene the job started in is gone")
    current = getattr(bpy.context, "scene", None)
    view_layer = bpy.context.view_layer if current == scene else scene.view_layers[0]
    return SimpleNamespace(scene=scene, view_layer=view_layer)


def _finish_main(job: Job, push_undo: bool, one_step: bool = False) -> None:
    """Main-thread half of finishing a successful job: Blender data, undo step, report.

    A `finish` that is a generator is advanced one step per call when `one_step` (the timer:
    each tick stays short); the job is done when the generator returns its message.
    """
    t0 = time.perf_counter()
    try:
        if job._steps is None:
            result = job.finish(_context_for(job), job._data)
            if not inspect.isgenerator(result):
                job.finish_seconds += time.perf_counter() - t0
                _done(job, result, push_undo)
                return
            job._steps = result
        while True:
            try:
                next(job._steps)
            except StopIteration as finished:
                job.finish_seconds += time.perf_counter() - t0
                _done(job, finished.value, push_undo)
                return
            if one_step:
                job.finish_seconds += time.perf_counter() - t0
                return
    except Exception as e:  # a broken result must not leave the runner stuck
        traceback.print_exc()
        job.state, job.error = "failed", f"could not load the result: {e}"


def _done(job: Job, message, push_undo: bool) -> None:
    if isinstance(message, Outcome):
        job.report_level, message = message.level, message.message
    job.state, job.fraction, job.message = "done", 1.0, message
    if push_undo and job.undo_message:
        undo_push(job.undo_message)


def _process_exited(job: Job) -> None:
    proc = job.process
    spoke = any(e.type not in ("text", "stderr") for e in proc.events)  # the backend always sends events
    if proc.cancelled:
        job.state, job.message = "cancelled", "Cancelled"
    elif not spoke:  # another program, or a Python without the backend's packages: say so, not its traceback
        last = next((line for line in reversed(proc.stderr_tail) if line.strip()), "")
        job.state, job.error = "failed", input_checks.not_the_backend(proc.argv[0], last)
    elif proc.returncode != 0:
        job.state, job.error = "failed", proc.error_message()
    else:
        job.state, job.message = "loading", "Loading the result"


def _load_worker(job: Job) -> None:
    try:
        job._data = job.prepare(job.job_dir)
    except Exception as e:
        traceback.print_exc()
        job._worker_error = f"could not read the result: {e}"


# --- timer mode -----------------------------------------------------------------------------


def tick():
    """The ``bpy.app.timers`` callback: a few milliseconds of work, never a wait."""
    global ACTIVE, LAST
    t0 = time.perf_counter()
    job = ACTIVE
    if job is None:
        return None
    if job.state == "running":
        handle_events(job, job.process.poll(MAX_EVENTS_PER_TICK))
        if job.process.finished:
            _process_exited(job)
            if job.state == "loading":
                job._worker = threading.Thread(target=_load_worker, args=(job,), daemon=True,
                                               name="photo-digitize-load")
                job._worker.start()
    elif job.state == "loading" and not job._worker.is_alive():
        if job._worker_error:
            job.state, job.error = "failed", job._worker_error
        else:
            _finish_main(job, push_undo=True, one_step=True)
    _publish(job)
    _redraw()
    if job.over:
        ACTIVE, LAST = None, job
        conclude(job)
        if job.state == "failed":
            report("ERROR", f"{job_name(job.kind)} failed: {job.error}")
        elif job.state == "done":
            report(job.report_level, job.message)
        if job.state in ("done", "failed"):
            for note in job.notes:  # the Info log keeps them after the panel has moved on
                report("WARNING", note.text)
    elapsed = time.perf_counter() - t0
    job.tick_seconds.append(elapsed)
    TICK_SECONDS.append(elapsed)
    if job.over:
        _unregister_timer()
        return None
    return TICK_S


def _unregister_timer() -> None:
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)


def start(job: Job) -> None:
    """Make ``job`` the active job and follow it with a timer (its process is already started)."""
    global ACTIVE
    if ACTIVE is not None and not ACTIVE.over:
        raise RuntimeError("a job is already running")
    ACTIVE = job
    _publish(job)
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_S)


def run_blocking(job: Job) -> Job:
    """Follow ``job`` to its end right here (wait=True); the caller reports the outcome."""
    global ACTIVE, LAST
    if ACTIVE is not None and not ACTIVE.over:
        raise RuntimeError("a job is already running")
    ACTIVE = job
    try:
        while not job.process.finished:
            handle_events(job, job.process.wait_events(0.25))
            _publish(job)
        handle_events(job, job.process.poll(10_000))
        _process_exited(job)
        if job.state == "loading":
            _load_worker(job)
            if job._worker_error:
                job.state, job.error = "failed", job._worker_error
            else:
                _finish_main(job, push_undo=True)
        _publish(job)
    finally:
        ACTIVE, LAST = None, job
        conclude(job)
    return job


def cancel() -> bool:
    """Stop the running job's process (SIGTERM, then SIGKILL); True when there was one."""
    job = ACTIVE
    if job is None or job.over:
        return False
    if job.state == "loading":  # the process is done; drop the result instead of loading it
        job.process.cancelled = True
        job.state, job.message = "cancelled", "Cancelled"
        _abandon_steps(job)
        return True  # the next tick sees it over and concludes it
    job.message = "Cancelling"
    job.process.cancel(wait_s=0.2)
    _publish(job)
    return True


def _abandon_steps(job: Job) -> None:
    """Stop a result that is being built a piece per tick: closing its generator lets it take back what
    it already made (retexture_result.py does), so a cancelled job adds nothing."""
    if job._steps is not None:
        steps, job._steps = job._steps, None
        try:
            steps.close()
        except Exception:  # a failure to take back must not leave the runner stuck
            traceback.print_exc()


def running() -> bool:
    return ACTIVE is not None and not ACTIVE.over


def shutdown() -> None:
    """Stop any job and the timer (unregister, or another file is opened); nothing is added."""
    global ACTIVE, LAST
    job = ACTIVE
    if job is not None:
        if job.process.running:
            job.process.cancel(wait_s=1.0)
        if not job.over:
            job.state, job.message = "cancelled", "Cancelled"
            _abandon_steps(job)
        _publish(job)
        conclude(job)
        LAST = job
    ACTIVE = None
    _unregister_timer()


atexit.register(_unregister_timer)  # a registered timer would keep a `bpy` module process from exiting
