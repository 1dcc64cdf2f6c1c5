"""Job folders the add-on made, told apart from anything else (standard library only, no bpy).

Only a folder that is recognisably ours is ever cleaned, and only while no job uses it:

- **Ours**: a direct subfolder of the jobs folder, named as ``job_client.new_job_dir`` names them,
  holding the marker file ``.photo_digitize_job`` that the add-on writes when it makes the folder.
  When a job ends the marker lists every file of the folder ("sealed"), so a file added later
  (the artist's notes, an edited texture) shows up as foreign and the folder is left alone. A
  folder whose job never ended (Blender was killed) or that an earlier version made (no marker)
  is ours only when it holds nothing but what jobs write, and its ``out/`` is a result the backend
  sealed (backend/outputs.py's rule: its result.json marker lists every entry).
- **In use**: the add-on holds a lock on the marker while its job runs (whatever Blender process
  runs it), and the backend holds ``.out.lock`` while it writes. A dead process's lock is gone.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from . import job_client

MARKER = ".photo_digitize_job"
MADE_BY = "photo-digitize add-on"
BACKEND_MADE_BY = "photo-digitize"  # backend/outputs.py MADE_BY: out/result.json's marker
# What a job writes at its folder's top (docs/job.md), and the backend's hidden neighbours of out/.
JOB_ENTRIES = {MARKER, "job.json", "job.json.tmp", "events.jsonl", "input", "work", "out"}
BACKEND_HIDDEN = re.compile(r"^\.out\.(lock|resume|(partial|old)-\d+-[0-9a-f]{8})$")
INPUT_ENTRIES = {"mesh.obj", "maps"}  # what Re-texture writes into input/
OS_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}
FOLDER_NAME = re.compile(r"^\d{8}-\d{6}_[\w.-]+$")  # <date>-<time>_<stem>[_N]
COMMANDS = ("digitize", "retexture")

if os.name == "nt":
    import msvcrt

    _LOCK_OFFSET = 1 << 20  # a byte past the marker's text: Windows locks keep others from reading what they cover

    def _try_lock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class JobFolder:
    """A new job folder, marked as ours and locked until ``release()`` (the job is over)."""

    def __init__(self, path: Path):
        self.path = path
        _write_marker(path, marker_text())
        self._fd: int | None = os.open(path / MARKER, os.O_RDWR)
        _try_lock(self._fd)

    @classmethod
    def create(cls, root, stem: str) -> JobFolder:
        return cls(job_client.new_job_dir(root, stem))

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def marker_text(files: list[str] | None = None) -> str:
    """The marker's content: ours, and once the job is over, every file the folder holds."""
    data = {"made_by": MADE_BY} if files is None else {"made_by": MADE_BY, "files": files}
    return json.dumps(data, indent=1)


def _write_marker(folder: Path, text: str) -> None:
    (folder / MARKER).write_text(text, encoding="utf-8")


def read_marker(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("made_by") == MADE_BY else None


def files_of(folder: Path) -> list[str]:
    """Every file (and link) under ``folder``, as paths relative to it, the marker left out."""
    found = []
    for top, dirs, files in os.walk(folder):  # links to folders are listed in dirs, never entered
        rel = Path(top).relative_to(folder)
        found += [(rel / d).as_posix() for d in dirs if os.path.islink(os.path.join(top, d))]
        found += [(rel / f).as_posix() for f in files]
    return sorted(f for f in found if f != MARKER)


def seal(folder: Path) -> None:
    """The job is over: the marker lists what the folder holds now, so anything added later is foreign."""
    _write_marker(folder, marker_text(files_of(folder)))


def _locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False  # no such lock file: nobody holds it
    try:
        _try_lock(fd)
    except OSError:
        return True
    finally:
        os.close(fd)  # a lock we just took goes with the descriptor
    return False


def in_use(folder: Path) -> bool:
    """A job runs in it: the add-on's lock on the marker, or the backend's on .out.lock."""
    return _locked(folder / MARKER) or _locked(folder / ".out.lock")


def why_not_ours(folder: Path) -> str:
    """'' when ``folder`` is a job folder the add-on made, else why it is not (plain words)."""
    if folder.is_symlink() or not folder.is_dir():
        return "not a folder"
    if not FOLDER_NAME.match(folder.name):
        return "not named as a job folder"
    marker = read_marker(folder)
    if marker is not None and isinstance(marker.get("files"), list):
        foreign = sorted(set(files_of(folder)) - set(marker["files"]))
        return f"holds {_some(foreign)}, which its job did not write" if foreign else ""
    if marker is None and _command(folder) not in COMMANDS:
        return "no job.json of a digitize or re-texture job"
    try:
        entries = [p.name for p in folder.iterdir() if p.name not in OS_LITTER]
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    foreign = [n for n in entries if n not in JOB_ENTRIES and not BACKEND_HIDDEN.match(n)]
    if foreign:
        return f"holds {_some(sorted(foreign))}, which no job writes"
    if (folder / "input").is_dir() and not {p.name for p in (folder / "input").iterdir()} <= INPUT_ENTRIES:
        return "its input/ holds files no job writes"
    if (folder / "out").exists() and not _backend_result(folder / "out"):
        return "its out/ is not a result the backend sealed"
    return ""


def _command(folder: Path):
    try:
        job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return job.get("command") if isinstance(job, dict) else None


def _backend_result(out: Path) -> bool:
    """backend/outputs.py's test: result.json's marker is the backend's and lists every entry of out/."""
    if out.is_symlink() or not out.is_dir():
        return False
    try:
        result = json.loads((out / "result.json").read_text(encoding="utf-8"))
        marker = result["output"]
        entries = {p.name for p in out.iterdir()} - OS_LITTER
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(marker, dict) and marker.get("made_by") == BACKEND_MADE_BY \
        and entries <= set(marker.get("files") or ())


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown if len(names) <= 3 else f"{shown} and {len(names) - 3} more"
