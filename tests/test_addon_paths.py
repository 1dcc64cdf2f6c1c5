"""Where the add-on keeps job folders when the preferences name none and it runs from a checkout: a private
folder made by mkdtemp (unguessable name, only this user may enter), never a fixed name in the shared temp
folder that someone else could make first or point elsewhere. Loaded from its file: paths.py needs no bpy."""

from __future__ import annotations

import importlib.util
import os
import stat
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_paths():
    spec = importlib.util.spec_from_file_location("blender_addon_unit_paths", ROOT / "blender_addon" / "paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fallback_jobs_folder_is_private_and_unguessable(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    paths = load_paths()
    root = paths.jobs_root()
    assert root.parent == tmp_path and root.name.startswith("photo_digitize_jobs-")
    if os.name == "posix":
        st = root.stat()
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    assert paths.jobs_root() == root  # one folder for the session's jobs
    other = load_paths().jobs_root()  # another Blender session
    assert other != root and other.parent == tmp_path


def test_a_planted_fixed_name_is_not_used(tmp_path, monkeypatch):
    """Someone made `<temp>/photo_digitize_jobs` a link to their own folder: the add-on never writes there."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "theirs").mkdir()
    (tmp_path / "photo_digitize_jobs").symlink_to(tmp_path / "theirs", target_is_directory=True)
    root = load_paths().jobs_root()
    assert root.resolve() != (tmp_path / "theirs").resolve() and not root.is_symlink()


def test_the_preferences_folder_wins(tmp_path):
    assert load_paths().jobs_root(str(tmp_path / "my jobs")) == tmp_path / "my jobs"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_job_folder_made_there_is_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from tests.test_blender_units import job_client  # loaded from its file there (no bpy)

    root = load_paths().jobs_root()
    a, b = job_client.new_job_dir(root, "me"), job_client.new_job_dir(root, "me")
    assert a != b and a.parent == b.parent == root and not any(a.iterdir())
