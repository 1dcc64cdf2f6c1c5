"""Where the add-on finds the backend and keeps its own data (standard library only, bpy on demand)."""

import os
import tempfile
from pathlib import Path

# Folder inside the extension zip that carries backend/, install_deps.py and requirements/
# (tools/build_extension.py writes it under the same name).
BUNDLE_DIR = "backend_bundle"
VENV_DIR = "venv"  # the backend environment inside the extension's user folder
JOBS_DIR = "jobs"

_HERE = Path(__file__).resolve().parent


def backend_root():
    """Folder holding ``backend/`` and ``install_deps.py``, or None when missing.

    Installed extension: ``<extension>/backend_bundle``; repository checkout: the repository root.
    """
    for candidate in (_HERE / BUNDLE_DIR, _HERE.parent):
        if (candidate / "backend" / "__init__.py").is_file() and (candidate / "install_deps.py").is_file():
            return candidate
    return None


def is_extension() -> bool:
    return (__package__ or "").startswith("bl_ext.")


def user_data_dir(create=False):
    """Writable per-user folder for this extension (backend environment, model weights), or None.

    Only installed extensions have one (``bpy.utils.extension_path_user``); a plain import from the
    repository returns None and callers pick their own location.
    """
    if not is_extension():
        return None
    import bpy

    return Path(bpy.utils.extension_path_user(__package__, create=create))


def venv_python(venv) -> Path:
    return Path(venv) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_venv_dir():
    """Where the preferences' install button puts the backend environment.

    Installed extension: ``<extension user folder>/venv``; checkout: ``<repository>/.venv``.
    """
    data = user_data_dir(create=True)
    if data is not None:
        return data / VENV_DIR
    root = backend_root()
    return None if root is None else root / ".venv"


def default_backend_python():
    """The backend's Python when the preferences leave it empty, or None when none is installed.

    Checked in order: ``<repository>/.venv`` (running from a checkout) and the environment in
    the extension's user folder (made by the install button).
    """
    candidates = []
    root = backend_root()
    if root is not None and not is_extension():
        candidates.append(venv_python(root / ".venv"))
    data = user_data_dir(create=False)
    if data is not None:
        candidates.append(venv_python(data / VENV_DIR))
    for python in candidates:
        if python.is_file():
            return python
    return None


_private_jobs = None  # this Blender session's job folder in the temp dir, once made


def jobs_root(preferred: str = "") -> Path:
    """Where job folders go: the preferences' folder, else the extension's user folder, else a private
    folder in the temp dir (``private_temp_jobs_dir``)."""
    if preferred:
        return Path(preferred).expanduser()
    data = user_data_dir(create=True)
    if data is not None:
        return data / JOBS_DIR
    return private_temp_jobs_dir()


def private_temp_jobs_dir() -> Path:
    """``<temp>/photo_digitize_jobs-XXXXXXXX``: made by ``tempfile.mkdtemp`` once per session, so its name
    cannot be guessed and only this user may enter it (0700). A fixed name in a world-writable folder
    could be made first by someone else, or be a link to somewhere else."""
    global _private_jobs
    if _private_jobs is None or not _private_jobs.is_dir() or _private_jobs.is_symlink():
        _private_jobs = Path(tempfile.mkdtemp(prefix="photo_digitize_jobs-"))
    return _private_jobs
