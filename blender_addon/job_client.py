"""The backend as a subprocess: start it, read its JSON-line events without blocking, cancel it.

Standard library only (no ``bpy``), so it is unit-testable anywhere. The contract is
docs/job.md: ``<python> -m backend job JOBDIR`` with the working directory set to the folder
that holds ``backend/``; events are JSON lines on stdout; the result lands in JOBDIR/out/.

Two daemon threads only move lines from the pipes into a queue; whoever owns the process
(a ``bpy.app.timers`` callback in Blender) drains the queue with ``poll()``, which never
blocks. The same class runs ``install_deps.py`` for the preferences' install button.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STDOUT, STDERR, EOF = "stdout", "stderr", "eof"
STDERR_TAIL = 200


@dataclass
class Event:
    """One line from the process: a backend event (parsed JSON) or a plain text line."""

    type: str  # stage | progress | log | warning | result | error | text | stderr
    message: str = ""
    data: dict = field(default_factory=dict)

    @staticmethod
    def from_line(stream: str, line: str) -> Event:
        line = line.rstrip("\r\n")
        if stream == STDERR:
            return Event("stderr", line)
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("type"), str):
                return Event(data["type"], str(data.get("message", "")), data)
        return Event("text", line)


class BackendProcess:
    """A child process whose output lines arrive as Events; never blocks the caller unless asked."""

    def __init__(self, argv: list[str], cwd=None, env: dict | None = None):
        self.argv = [str(a) for a in argv]
        self.cwd = None if cwd is None else str(cwd)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._open_streams = 0
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.events: list[Event] = []  # everything drained so far
        self.cancelled = False
        self._term_sent_at: float | None = None
        self._grace = 3.0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> BackendProcess:
        kwargs = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # its own process group: Cancel reaches its children too
        elif os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs,
        )
        for stream, pipe in ((STDOUT, self.proc.stdout), (STDERR, self.proc.stderr)):
            self._open_streams += 1
            threading.Thread(target=self._pump, args=(stream, pipe), daemon=True,
                             name=f"photo-digitize-{stream}").start()
        return self

    def _pump(self, stream: str, pipe) -> None:
        try:
            for line in pipe:
                self._queue.put((stream, line))
        except (OSError, ValueError):
            pass
        finally:
            self._queue.put((EOF, stream))

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def finished(self) -> bool:
        """The process has exited and every line it wrote has been drained."""
        return self.proc is not None and self.proc.poll() is not None and self._open_streams == 0 \
            and self._queue.empty()

    # --- events ---------------------------------------------------------------------------

    def _take(self, item) -> Event | None:
        stream, payload = item
        if stream == EOF:
            self._open_streams -= 1
            return None
        event = Event.from_line(stream, payload)
        if stream == STDERR:
            self.stderr_tail.append(event.message)
        self.events.append(event)
        return event

    def poll(self, max_items: int = 500) -> list[Event]:
        """Every line that arrived since the last call (at most max_items); never blocks."""
        out = []
        for _ in range(max_items):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            event = self._take(item)
            if event is not None:
                out.append(event)
        self._escalate()
        return out

    def wait_events(self, timeout: float) -> list[Event]:
        """Block up to `timeout` seconds for the next line, then return it and whatever else is there."""
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            self._escalate()
            return []
        event = self._take(first)
        return ([event] if event else []) + self.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the process has exited and its output is drained; returns the exit code."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            self.wait_events(0.1 if left is None else min(0.1, left))
        return self.returncode

    # --- cancel ---------------------------------------------------------------------------

    def _signal(self, sig) -> None:
        if not self.running:
            return
        try:
            if os.name == "posix":
                os.killpg(self.proc.pid, sig)
            elif sig == signal.SIGTERM:
                self.proc.terminate()
            else:
                self.proc.kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass

    def cancel(self, grace_s: float = 3.0, wait_s: float = 0.5) -> None:
        """Ask the process (and its children) to stop: SIGTERM now, SIGKILL after `grace_s`.

        Waits at most `wait_s` here; later `poll()` calls send the SIGKILL if it is needed.
        """
        self.cancelled = True
        self._grace = grace_s
        if self._term_sent_at is None:
            self._term_sent_at = time.monotonic()
            self._signal(signal.SIGTERM)
        if wait_s > 0 and self.proc is not None:
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass
        self._escalate()

    def _escalate(self) -> None:
        if self._term_sent_at is not None and self.running \
                and time.monotonic() - self._term_sent_at > self._grace:
            self._signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    # --- results --------------------------------------------------------------------------

    def last(self, kind: str) -> Event | None:
        for event in reversed(self.events):
            if event.type == kind:
                return event
        return None

    def error_message(self) -> str:
        """One line for the user: the `error` event's message, else the last `error:` line of stderr."""
        event = self.last("error")
        if event and event.message:
            return event.message
        for line in reversed(self.stderr_tail):
            m = re.match(r"^\s*(?:\[[\w-]+\]\s*)?error:\s*(.+)$", line, re.IGNORECASE)
            if m:
                return m.group(1).strip()
        if self.cancelled:
            return "cancelled"
        lines = [ln.strip() for ln in self.stderr_tail if ln.strip()]
        code = self.returncode
        tail = f": {lines[-1]}" if lines else ""
        return f"the backend stopped with exit code {code}{tail}"


class ProcessChain:
    """Work done before a process, then processes one after another, followed as one process.

    ``prepare`` (no bpy: it runs in a thread, e.g. writing the arrays the first process reads)
    runs first; each process starts when the one before it exited with 0. It has the interface
    of a BackendProcess (start, poll, wait_events, finished, returncode, cancel, error_message),
    so the job runner follows a re-texture (Blender's map render, then the backend) as one job.
    """

    def __init__(self, processes: list[BackendProcess], prepare=None):
        self.processes = list(processes)
        self.prepare = prepare
        self.index = 0
        self.cancelled = False
        self._thread: threading.Thread | None = None
        self._prepare_error = ""
        self._failed_rc: int | None = None

    @property
    def current(self) -> BackendProcess:
        return self.processes[self.index]

    @property
    def proc(self):
        return self.current.proc

    @property
    def pid(self) -> int | None:
        return self.current.pid

    def start(self) -> ProcessChain:
        if self.prepare is None:
            self.current.start()
        else:
            self._thread = threading.Thread(target=self._run_prepare, daemon=True, name="photo-digitize-prepare")
            self._thread.start()
        return self

    def _run_prepare(self) -> None:
        try:
            self.prepare()
        except Exception as e:  # noqa: BLE001 (reported as the job's one-line error)
            self._prepare_error = f"could not write the job's inputs: {e}"

    def _advance(self) -> None:
        """Start the next piece of work when the one before has ended well (never waits)."""
        if self._thread is not None:
            if self._thread.is_alive():
                return
            self._thread = None
            if self._prepare_error:
                self._failed_rc = 1
            elif not self.cancelled:
                self._start_current()
            return
        if self.cancelled or self._failed_rc is not None:
            return
        cur = self.current
        if cur.finished and cur.returncode == 0 and self.index + 1 < len(self.processes):
            self.index += 1
            self._start_current()
        elif cur.finished and cur.returncode != 0:
            self._failed_rc = cur.returncode

    def _start_current(self) -> None:
        try:
            self.current.start()
        except OSError as e:
            self._prepare_error, self._failed_rc = f"cannot start {self.current.argv[0]}: {e}", 1

    @property
    def returncode(self) -> int | None:
        if self._failed_rc is not None:
            return self._failed_rc
        return self.current.returncode if self.current.proc is not None else None

    @property
    def running(self) -> bool:
        return not self.finished

    @property
    def finished(self) -> bool:
        if self._failed_rc is not None:
            return True
        if self._thread is not None or self.current.proc is None:
            return self.cancelled and self._thread is None  # cancelled before any process started
        return self.current.finished and (self.current.returncode != 0 or self.index + 1 == len(self.processes)
                                          or self.cancelled)

    @property
    def events(self) -> list[Event]:
        return [e for p in self.processes for e in p.events]

    def poll(self, max_items: int = 500) -> list[Event]:
        out = self.current.poll(max_items) if self.current.proc is not None else []
        self._advance()
        return out

    def wait_events(self, timeout: float) -> list[Event]:
        if self._thread is not None or self.current.proc is None:
            if self._thread is not None:
                self._thread.join(timeout)
            self._advance()
            return []
        out = self.current.wait_events(timeout)
        self._advance()
        return out

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished and (deadline is None or time.monotonic() < deadline):
            self.wait_events(0.1)
        return self.returncode

    def cancel(self, grace_s: float = 3.0, wait_s: float = 0.5) -> None:
        self.cancelled = True
        if self.current.proc is not None:
            self.current.cancel(grace_s, wait_s)
        elif self._thread is not None and wait_s > 0:
            self._thread.join(wait_s)
            if not self._thread.is_alive():
                self._thread = None

    def error_message(self) -> str:
        if self._prepare_error:
            return self._prepare_error
        return self.current.error_message()


# --- the job directory -----------------------------------------------------------------------


def backend_command(python, job_dir) -> list[str]:
    return [str(python), "-u", "-m", "backend", "job", str(job_dir)]


def backend_env(backend_root=None, models_dir: str | None = None, base: dict | None = None) -> dict:
    """Environment for the backend: Blender's own Python settings removed, output unbuffered.

    ``models_dir`` (the preferences' models folder) becomes PHOTO_DIGITIZE_MODELS, where the
    backend looks for the weights that ``install_deps.py --models`` downloads (docs/models.md).
    """
    env = dict(os.environ if base is None else base)
    for key in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONNOUSERSITE", "PYTHONEXECUTABLE"):
        env.pop(key, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if backend_root:
        env["PYTHONPATH"] = str(backend_root)
    if models_dir:
        env["PHOTO_DIGITIZE_MODELS"] = str(Path(models_dir).expanduser())
    return env


def new_job_dir(root, stem: str) -> Path:
    """A fresh folder ``root/<date>-<time>_<stem>`` (with a counter when that exists)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "job"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}_{safe}"
    for i in range(1000):
        path = root / (base if i == 0 else f"{base}_{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise OSError(f"cannot make a job folder in {root}")


def write_job(job_dir, job: dict) -> Path:
    """Write job.json (docs/job.md) atomically."""
    job_dir = Path(job_dir)
    job = {"version": 1, **job}
    tmp = job_dir / "job.json.tmp"
    tmp.write_text(json.dumps(job, indent=1), encoding="utf-8")
    tmp.replace(job_dir / "job.json")
    return job_dir / "job.json"


def read_result(out_dir) -> dict:
    path = Path(out_dir) / "result.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
