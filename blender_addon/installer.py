"""install_deps.py in a subprocess: its output lines, its progress, Cancel (standard library only, no bpy).

The preferences' buttons (prefs.py) start it and a timer calls ``tick``; nothing here waits.
The model download prints lines such as ``[models] inpaint: 42% (0.88 GB of 2.10 GB)``
(backend/models/download.py): they become the progress bar and an artist's line. Cancel stops
the whole process group; the downloader keeps a half download in its hidden staging folder,
so no model folder ever looks complete before it is (docs/models.md).
"""

from __future__ import annotations

import re
import sys
import time

from . import job_client

INSTALL_LINES = 12
# docs/models.md, "Getting them": the default roles + the LPIPS backbone (a test holds them equal).
MODELS_DOWNLOAD_SIZE = "3.1 GB"

PROGRESS_LINE = re.compile(r"^\[models\] (?P<role>[\w.-]+): (?P<percent>\d{1,3})% \((?P<amount>[^)]*)\)")
ROLE_WORDS = {
    "inpaint": "the painting model",
    "controlnet_normal": "the shape guide",
    "controlnet_silhouette": "the outline guide",
    "normals": "the surface-detail model",
}
CANCELLED = "Cancelled. Nothing half-downloaded was installed; Download Models picks up where it stopped"


class Installer:
    """One install_deps.py run at a time; a timer moves its output lines here."""

    def __init__(self):
        self.process = None
        self.lines: list[str] = []
        self.started = 0.0
        self.models = False
        self.fraction: float | None = None  # None: no measure of how far (installing packages)
        self.activity = ""  # what it is doing, in an artist's words

    @property
    def running(self) -> bool:
        return self.process is not None and not self.process.finished

    @property
    def stopping(self) -> bool:
        return self.running and self.process.cancelled

    def start(self, root, venv, models: bool = False, models_dir: str = "") -> None:
        argv = [sys.executable, "-u", str(root / "install_deps.py"), "--venv", str(venv)]
        if models:
            argv.append("--models")
            if models_dir:
                argv += ["--models-dir", models_dir]
        self.lines = ["$ " + " ".join(argv[2:])]
        self.started = time.monotonic()
        self.models, self.fraction = models, None
        self.activity = "Preparing the download" if models else "Installing the backend"
        self.process = job_client.BackendProcess(argv, cwd=root, env=job_client.backend_env()).start()

    def _take(self, line: str) -> None:
        m = PROGRESS_LINE.match(line)
        if m:
            what = ROLE_WORDS.get(m["role"], m["role"])
            self.fraction = min(int(m["percent"]), 100) / 100
            self.activity = f"Downloading {what} — {m['percent']}% ({m['amount']})"
            if self.lines and PROGRESS_LINE.match(self.lines[-1]):  # one line per role, updated in place
                self.lines[-1] = line
                return
        elif line.startswith("[models] ") and ": done" in line:
            self.fraction = 1.0
        elif line.startswith("[install_deps] "):  # a step of the install: its own words are plain enough
            step = line.removeprefix("[install_deps] ").split(" (log: ")[0]
            self.activity = step[:1].upper() + step[1:]
        self.lines.append(line)

    def tick(self) -> bool:
        """Take new lines; returns True while the process runs."""
        if self.process is None:
            return False
        for event in self.process.poll(max_items=200):
            if event.message.strip():
                self._take(event.message.strip()[:200])
        del self.lines[:-INSTALL_LINES]
        if self.process.finished:
            code = self.process.returncode
            took = time.monotonic() - self.started
            if self.process.cancelled:
                self.activity = CANCELLED
            elif code == 0:
                self.activity, self.fraction = f"Done in {took:.0f} s", 1.0
            else:
                self.activity = f"Failed (exit code {code}): {self.process.error_message()}"
            self.lines.append(self.activity)
            del self.lines[:-INSTALL_LINES]
            return False
        return True

    def cancel(self) -> bool:
        """Stop install_deps.py and what it started (SIGTERM, SIGKILL after a grace); True when one ran."""
        if not self.running:
            return False
        self.activity = "Cancelling"
        self.process.cancel(grace_s=5.0, wait_s=0.2)
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.running:
            self.process.cancel(wait_s=0.5)
