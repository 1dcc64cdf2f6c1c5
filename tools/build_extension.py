#!/usr/bin/env python3
"""Build the installable Blender extension zip: dist/<id>-<version>.zip.

    python tools/build_extension.py                 # -> dist/photo_digitize-0.1.0.zip
    python tools/build_extension.py --out DIR --validate
    python tools/build_extension.py --blender /path/to/blender   # use that Blender's CLI

The repository keeps the add-on in blender_addon/ and the manifest at the top level, so this
script assembles a staging folder first:

    blender_manifest.toml, __init__.py, ui.py, ...   (contents of blender_addon/)
    backend_bundle/backend/, backend_bundle/install_deps.py, backend_bundle/requirements/

(no __pycache__, .venv, tests or hidden files), then zips it with Blender's own extension
builder, i.e. what ``blender --command extension build`` runs, found in this order: a Blender
executable named by --blender or $BLENDER; the builder script (bl_pkg/cli/blender_ext.py,
standard library only) of a ``bpy`` wheel in this Python or in the repository's .venv
(``install_deps.py --dev``); a Blender installed on the machine (``blender`` on PATH, or the
usual install folders). Without any of them it zips with zipfile.
--validate checks the zip with Blender's validator (``... extension validate``) from the same
place; with no Blender anywhere (a fresh clone, a system Python) it checks what it can itself
(the manifest's required fields and formats, the zip's layout) and says so.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON_DIR = ROOT / "blender_addon"
BUNDLE_DIR = "backend_bundle"  # keep in sync with blender_addon/paths.py
BUNDLE_ITEMS = ("backend", "install_deps.py", "requirements")
EXCLUDE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*", "tests", "*.zip")

VENV = ROOT / ".venv"
# Where Blender usually lives when it is not on PATH (newest first once sorted).
BLENDER_INSTALLS = ("/Applications/Blender*.app/Contents/MacOS/Blender", "/snap/bin/blender",
                    "/opt/blender*/blender", os.path.expanduser("~/Applications/Blender*.app/Contents/MacOS/Blender"),
                    r"C:\Program Files\Blender Foundation\Blender*\blender.exe")
BL_EXT_REL = ("scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
TAGS_REL = ("scripts", "modules", "_bpy_internal", "extensions", "tags.py")


def read_manifest(path: Path = MANIFEST) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def stage(dest: Path) -> Path:
    """Lay out the extension's files under dest (created); returns dest."""
    dest.mkdir(parents=True)
    shutil.copy2(MANIFEST, dest / MANIFEST.name)
    shutil.copytree(ADDON_DIR, dest, ignore=EXCLUDE, dirs_exist_ok=True)
    bundle = dest / BUNDLE_DIR
    bundle.mkdir()
    for name in BUNDLE_ITEMS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, bundle / name, ignore=EXCLUDE)
        elif src.is_file():
            shutil.copy2(src, bundle / name)
        else:
            raise SystemExit(f"build_extension: missing {src}")
    return dest


def _builder_in(pkg_dirs) -> tuple[Path, Path | None] | None:
    """(blender_ext.py, tags.py) inside a bpy package folder."""
    for pkg_dir in map(Path, pkg_dirs):
        for version_dir in sorted(pkg_dir.glob("[0-9]*.[0-9]*"), reverse=True):
            script = version_dir.joinpath(*BL_EXT_REL)
            if script.is_file():
                tags = version_dir.joinpath(*TAGS_REL)
                return script, (tags if tags.is_file() else None)
    return None


def find_bpy_builder() -> tuple[Path, Path | None] | None:
    """(blender_ext.py, tags.py) from a bpy wheel installed in this Python, without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    return _builder_in(spec.submodule_search_locations)


def _venv_builder() -> tuple[list[str], list[str]] | None:
    """The builder of the bpy wheel in the repository's .venv, run by that venv's Python (3.11)."""
    python = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    packages = glob.glob(str(VENV / "lib" / "python3*" / "site-packages" / "bpy")) + \
        glob.glob(str(VENV / "Lib" / "site-packages" / "bpy"))
    found = _builder_in(packages) if python.is_file() else None
    if found is None:
        return None
    script, tags = found
    return [str(python), str(script)], ([f"--valid-tags={tags}"] if tags else [])


def _installed_blender() -> str | None:
    on_path = shutil.which("blender")
    if on_path:
        return on_path
    for pattern in BLENDER_INSTALLS:
        hits = sorted(glob.glob(pattern), reverse=True)
        if hits:
            return hits[0]
    return None


def _cli(blender: str | None) -> tuple[list[str], list[str]] | None:
    """(command prefix, extra tag arguments) for Blender's extension CLI, or None."""
    blender = blender or os.environ.get("BLENDER")
    if blender:
        return [blender, "--factory-startup", "--command", "extension"], []
    found = find_bpy_builder()
    if found is not None:
        script, tags = found
        return [sys.executable, str(script)], ([f"--valid-tags={tags}"] if tags else [])
    venv = _venv_builder()
    if venv is not None:
        return venv
    installed = _installed_blender()
    if installed:
        return [installed, "--factory-startup", "--command", "extension"], []
    return None


# --- the checks made without Blender ----------------------------------------------------------------

VERSION = re.compile(r"^\d+\.\d+\.\d+$")
REQUIRED_TEXT = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "blender_version_min")
PERMISSIONS = ("files", "network", "clipboard", "camera", "microphone")


def manifest_problems(manifest: dict) -> list[str]:
    """What Blender's validator would refuse in a manifest, as far as it can be told without Blender
    (its tag list, for one, comes with Blender)."""
    problems = [f"{key} is missing or not text" for key in REQUIRED_TEXT
                if not isinstance(manifest.get(key), str) or not manifest[key].strip()]
    if problems:
        return problems
    if not manifest["id"].isidentifier() or manifest["id"].startswith("_"):
        problems.append(f"id {manifest['id']!r} is not a Python identifier")
    for key in ("schema_version", "version", "blender_version_min"):
        if not VERSION.match(manifest[key]):
            problems.append(f"{key} {manifest[key]!r} is not a version like 1.2.3")
    if manifest["type"] not in ("add-on", "theme"):
        problems.append(f"type {manifest['type']!r} is neither add-on nor theme")
    if len(manifest["tagline"]) > 64 or manifest["tagline"][-1] in ".,;:!?":
        problems.append("tagline is over 64 characters or ends with punctuation")
    licenses = manifest.get("license")
    if not isinstance(licenses, list) or not licenses or not all(
            isinstance(x, str) and x.startswith("SPDX:") for x in licenses):
        problems.append("license must be a list of SPDX:... names")
    permissions = manifest.get("permissions", {})
    if not isinstance(permissions, dict) or any(
            k not in PERMISSIONS or not isinstance(v, str) or not v.strip() for k, v in permissions.items()):
        problems.append(f"permissions must map some of {', '.join(PERMISSIONS)} to a reason")
    return problems


def check_without_blender(zip_path: Path) -> None:
    """--validate with no Blender to ask: the manifest inside the zip and the zip's layout."""
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read(MANIFEST.name).decode()) if MANIFEST.name in names else {}
    problems = manifest_problems(manifest) if manifest else [f"{MANIFEST.name} is not at the zip's root"]
    if "__init__.py" not in names:
        problems.append("__init__.py is not at the zip's root")
    if problems:
        raise SystemExit(f"build_extension: {zip_path.name} is not a valid extension: {'; '.join(problems)}")
    print("build_extension: Blender's validator was not found (no --blender, $BLENDER, bpy, .venv with bpy or "
          "installed Blender); checked the manifest's fields and the zip's layout instead")


def _run(cmd: list[str]) -> None:
    print("build_extension: $", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"build_extension: command failed ({proc.returncode}): {' '.join(cmd)}")


def zip_with_zipfile(src: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src).as_posix())


def build(out_dir: Path, *, validate: bool = False, blender: str | None = None) -> Path:
    manifest = read_manifest()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = (out_dir / f"{manifest['id']}-{manifest['version']}.zip").resolve()
    if out.exists():
        out.unlink()

    cli = _cli(blender)
    with tempfile.TemporaryDirectory(prefix="build_extension_") as tmp:
        src = stage(Path(tmp) / manifest["id"])
        if cli is None:
            print("build_extension: Blender's builder not found (no --blender, $BLENDER or bpy); using zipfile")
            zip_with_zipfile(src, out)
        else:
            prefix, tag_args = cli
            _run([*prefix, "build", "--source-dir", str(src), "--output-filepath", str(out), *tag_args])

    if validate and cli is None:
        check_without_blender(out)
    elif validate:
        prefix, tag_args = cli
        _run([*prefix, "validate", *tag_args, str(out)])
    print(f"build_extension: wrote {out} ({out.stat().st_size} bytes)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--validate", action="store_true", help="check the zip with Blender's validator")
    parser.add_argument("--blender", help="Blender executable whose --command extension CLI to use ($BLENDER)")
    args = parser.parse_args(argv)
    build(args.out, validate=args.validate, blender=args.blender)
    return 0


if __name__ == "__main__":
    sys.exit(main())
