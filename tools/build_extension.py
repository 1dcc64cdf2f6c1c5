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
builder, i.e. what ``blender --command extension build`` runs: either a Blender executable
(--blender or $BLENDER) or the same builder script (bl_pkg/cli/blender_ext.py, standard library
only) found inside an installed ``bpy`` wheel. Without either it falls back to zipfile.
--validate checks the zip with Blender's validator (``... extension validate``); that needs one
of the two.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
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


def find_bpy_builder() -> tuple[Path, Path | None] | None:
    """(blender_ext.py, tags.py) from an installed bpy wheel, without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for pkg_dir in map(Path, spec.submodule_search_locations):
        for version_dir in sorted(pkg_dir.glob("[0-9]*.[0-9]*"), reverse=True):
            script = version_dir.joinpath(*BL_EXT_REL)
            if script.is_file():
                tags = version_dir.joinpath(*TAGS_REL)
                return script, (tags if tags.is_file() else None)
    return None


def _cli(blender: str | None) -> tuple[list[str], list[str]] | None:
    """(command prefix, extra tag arguments) for Blender's extension CLI, or None."""
    blender = blender or os.environ.get("BLENDER")
    if blender:
        return [blender, "--factory-startup", "--command", "extension"], []
    found = find_bpy_builder()
    if found is None:
        return None
    script, tags = found
    return [sys.executable, str(script)], ([f"--valid-tags={tags}"] if tags else [])


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
    if validate and cli is None:
        raise SystemExit("build_extension: --validate needs Blender (--blender/$BLENDER) or the bpy wheel")
    with tempfile.TemporaryDirectory(prefix="build_extension_") as tmp:
        src = stage(Path(tmp) / manifest["id"])
        if cli is None:
            print("build_extension: Blender's builder not found (no --blender, $BLENDER or bpy); using zipfile")
            zip_with_zipfile(src, out)
        else:
            prefix, tag_args = cli
            _run([*prefix, "build", "--source-dir", str(src), "--output-filepath", str(out), *tag_args])

    if validate:
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
