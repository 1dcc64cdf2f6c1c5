"""Which Blender a test's bpy process runs: the venv's own bpy (requirements/dev.txt), or one of the
older releases the add-on is also tested on (requirements/older-blenders.txt).

`install_deps.py --dev` puts each older bpy in its own folder, <venv>/blender/<version>/, because
one interpreter can hold only one bpy; a process gets that Blender by having the folder first on
PYTHONPATH. Tests that cover what changes between Blender releases (Cycles' EXR output, mesh
attributes, operators, exporters) take ``BLENDERS`` as a fixture parameter.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _install_deps():
    """install_deps.py (standard library only) owns the list and the folder layout."""
    spec = importlib.util.spec_from_file_location("install_deps_for_tests", ROOT / "install_deps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_INSTALL = _install_deps()


BLENDERS: list[str | None] = [None, *_INSTALL.older_blenders()]  # None: the venv's own bpy


def blender_id(version: str | None) -> str:
    return "blender-main" if version is None else f"blender-{version}"


def blender_env(env: dict, version: str | None) -> dict:
    """`env` changed so that a Python started with it imports that Blender's bpy."""
    if version is None:
        return env
    folder = _INSTALL.older_blender_dir(Path(sys.prefix), version)
    if not (folder / "bpy").is_dir():
        pytest.fail(f"Blender {version} (bpy) is not installed in {folder}: run python3 install_deps.py --dev")
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)}
