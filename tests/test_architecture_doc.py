"""docs/architecture.md names every module of the backend, the add-on and the lab (issue 17, item 8):
the next engineer finds each file's job there, and a new file without a line fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def named(module: Path, lines: list[str]) -> bool:
    """Named: its whole path in backticks, or its file name in backticks on a line that names its folder
    (`backend/rig/`: `skeleton.py` ...). A package's __init__.py is named with its folder."""
    rel = module.relative_to(ROOT).as_posix()
    folder = rel.rsplit("/", 1)[0] + "/"
    if module.name == "__init__.py":
        return any(f"`{folder}" in line for line in lines)
    return any(f"`{rel}`" in line or (f"`{module.name}`" in line and f"`{folder}" in line) for line in lines)


def test_every_module_has_its_line_in_the_architecture_doc():
    lines = DOC.read_text(encoding="utf-8").splitlines()
    modules = [p for top in ("backend", "blender_addon", "lab") for p in sorted((ROOT / top).rglob("*.py"))]
    assert len(modules) > 90
    missing = [m.relative_to(ROOT).as_posix() for m in modules if not named(m, lines)]
    assert missing == [], f"docs/architecture.md does not name: {', '.join(missing)}"


def test_the_doc_names_no_module_that_is_gone():
    text = DOC.read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:backend|blender_addon|lab)/[\w/]+\.py)`", text))
    gone = sorted(p for p in paths if not (ROOT / p).is_file())
    assert gone == []
