"""Bad input caught before anything starts, in one line each (standard library only, no bpy).

A wrong Backend Python, a folder chosen as the photo, an export folder that cannot be written:
each gets one sentence saying what is wrong and what to do, never "not found" alone or a
traceback, and nothing in the scene changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PREFERENCES = "the add-on's preferences (Edit > Preferences > Add-ons > Digitize Human from Photo)"
NO_ENVIRONMENT = (f"No backend environment: press Install / Update Backend in {PREFERENCES}, "
                  "or set Backend Python there")


def backend_python_problem(python: str, chosen: bool) -> str | None:
    """Why `python` cannot run the backend, or None. `chosen`: the artist set it (not found automatically)."""
    if not python:
        return NO_ENVIRONMENT
    path = Path(python)
    where = f"Backend Python ({path})" if chosen else f"The backend's Python ({path})"
    fix = "choose the python file inside the backend's environment (venv/bin/python), or clear the field to " \
          "find it automatically"
    if path.is_dir():
        return f"{where} is a folder: {fix}"
    if not path.exists():
        return f"{where} does not exist: {fix}"
    if not os.access(path, os.X_OK):
        return f"{where} is not a program: {fix}"
    return None


def not_the_backend(python: str, last_line: str) -> str:
    """The one line for a process that ran but never spoke the backend's events (a wrong interpreter,
    or an environment without the backend's packages)."""
    said = f" ({last_line.strip()})" if last_line.strip() else ""
    return (f"The Backend Python ({python}) did not run the backend{said}: press Install / Update Backend in "
            f"{PREFERENCES}, or choose the python of the environment it made")


def photo_problem(photo: Path, what: str = "The photo") -> str | None:
    if photo.is_dir():
        return f"{what} is a folder ({photo}): choose an image file in it"
    if not photo.is_file():
        return f"Photo not found: {photo}" if what == "The photo" else f"{what} is not found ({photo})"
    if not os.access(photo, os.R_OK):
        return f"{what} cannot be read ({photo}): check its permissions"
    return None


def export_problem(path: Path) -> str | None:
    """Why `path` cannot be written, or None; makes its folder when that is missing (as exporting would)."""
    if path.is_dir():
        return f"The export path is a folder ({path}): add a file name"
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Writing a throwaway file is the only sure test (permissions, read-only disks, root's exceptions).
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".photo_digitize_write_test"):
            pass
    except OSError as e:
        return f"Cannot export to {folder}: {e.strerror or e}; choose another folder"
    return None
