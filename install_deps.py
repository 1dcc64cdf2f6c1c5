#!/usr/bin/env python3
"""Create (or update) the backend's Python environment in one command.

    python3 install_deps.py            # backend environment in .venv/ beside this file
    python3 install_deps.py --dev      # plus the test tools (pytest, ruff, mypy, bpy, and the older
                                       #   Blender releases the add-on is also tested on)
    python3 install_deps.py --venv DIR # put the environment elsewhere
    python3 install_deps.py --models   # also download the models once (about 3 GB; docs/models.md)
        [--models-dir DIR]             #   where to (default ~/.cache/photo-digitize/models,
                                       #   or $PHOTO_DIGITIZE_MODELS)
    python3 install_deps.py --models all   # every registered model, not only the default ones

Idempotent: when the pinned requirements have not changed since the last successful run and
the environment still imports, it returns in about a second. Uses only the standard library,
so Blender's own Python can run it (the add-on's preferences button does); run by a Python
other than 3.11, it looks for a Python 3.11 on the machine and hands itself over to it. The model download
runs inside the environment (`python -m backend.models.download`, huggingface_hub), takes only
safetensors weights and configs at the commit each model is pinned to (docs/models.md), checks
every file's size and sha256 against what the hub publishes before it is moved into the models
cache (a mismatch is refused in one line and nothing half-installed is left), skips what is
already there, and stops with one line when there is no network. Nothing else in the project
ever downloads a model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements"
STAMP_NAME = "photo-digitize-install.json"
SUPPORTED_PYTHON = (3, 11)
# One import line that must succeed for the environment to count as whole.
SMOKE_IMPORTS = ("import numpy, torch, torchvision, lpips, cv2, mediapipe, scipy, skimage, trimesh, xatlas, triangle, "
                 "diffusers, transformers, accelerate, safetensors, huggingface_hub, roma, warp")
DEV_SMOKE_IMPORTS = "import pytest, hypothesis, ruff, mypy"
# Older Blender releases the add-on is also tested on: one bpy per interpreter, so each goes into
# its own folder <venv>/blender/<version>/ (the tests put it first on PYTHONPATH), not into the venv.
OLDER_BLENDERS = REQUIREMENTS / "older-blenders.txt"


def say(msg: str) -> None:
    print(f"[install_deps] {msg}", flush=True)


def fail(msg: str, code: int = 1) -> None:
    print(f"[install_deps] error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirement_files(dev: bool) -> list[Path]:
    files = [REQUIREMENTS / "backend.txt"]
    if dev:
        files.append(REQUIREMENTS / "dev.txt")
    for f in files:
        if not f.is_file():
            fail(f"missing {f}: is this a complete copy of the project?")
    return files


def fingerprint(files: list[Path], dev: bool) -> str:
    h = hashlib.sha256()
    h.update(f"{sys.version_info[:2]} dev={dev}".encode())
    for f in files + ([OLDER_BLENDERS] if dev else []):
        h.update(f.read_bytes())
    return h.hexdigest()


def older_blenders() -> list[str]:
    """The bpy versions pinned in requirements/older-blenders.txt (`bpy==X` lines); ValueError if malformed."""
    versions = []
    for line in OLDER_BLENDERS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if name.strip() != "bpy" or not sep or not version.strip():
                raise ValueError(f"{OLDER_BLENDERS}: expected lines like 'bpy==4.5.4', got {line!r}")
            versions.append(version.strip())
    return versions


def older_blender_dir(venv: Path, version: str) -> Path:
    """Where `install_deps.py --dev` puts that Blender's bpy (one bpy per interpreter: not in the venv)."""
    return venv / "blender" / version


def _older_blenders_or_fail() -> list[str]:
    try:
        return older_blenders()
    except ValueError as e:
        fail(str(e))


def install_older_blenders(python: Path, venv: Path, log: Path, force: bool) -> None:
    """bpy of each older Blender into its folder (its dependencies are the main bpy's). pip fills a
    sibling `.partial` folder that is renamed only once pip has succeeded, so an interrupted install
    never looks finished; folders of versions no longer listed are removed."""
    versions = _older_blenders_or_fail()
    root = venv / "blender"
    try:
        for old in root.iterdir() if root.is_dir() else []:
            if old.name not in versions:
                shutil.rmtree(old)  # a version no longer tested, or an interrupted attempt's .partial
        for version in versions:
            target = older_blender_dir(venv, version)
            if target.is_dir() and not force:
                continue
            partial = target.with_name(version + ".partial")
            for stale in (partial, target):
                if stale.exists():
                    shutil.rmtree(stale)
            cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps",
                   "--target", str(partial), f"bpy=={version}"]
            run_logged(cmd, log, f"installing Blender {version} (bpy) for the tests")
            partial.replace(target)
    except OSError as e:
        fail(f"cannot set up the older Blenders in {root}: {e}")


def read_stamp(venv: Path) -> dict:
    try:
        return json.loads((venv / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def environment_ok(python: Path, venv: Path, dev: bool) -> bool:
    """The environment imports; with dev, the older Blenders are installed too."""
    code = SMOKE_IMPORTS + ("; " + DEV_SMOKE_IMPORTS if dev else "")
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return False
    return not dev or all(older_blender_dir(venv, v).is_dir() for v in _older_blenders_or_fail())


def cuda_present() -> bool:
    """True where an NVIDIA driver answers; the pinned torch then runs on the GPU."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def run_logged(cmd: list[str], log: Path, what: str) -> None:
    """Run a command, its output going to a log; on failure show the lines that matter."""
    say(f"{what} (log: {log})")
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        errors = [ln for ln in lines if ln.startswith("ERROR") or "error:" in ln.lower()]
        for ln in (errors or lines)[-8:]:
            print(f"    {ln}", file=sys.stderr)
        fail(f"{what} failed (exit {r.returncode}); the full log is {log}")


def build_body_model_cache(python: Path) -> None:
    """Parse the body model's (Anny's) assets into its cache once (about a minute and 0.8 GB, inside
    the environment), so that an artist's first click does not wait for it; at once when it is there."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([str(python), "-m", "backend.shape.body.model"], cwd=HERE, env=env)
    if r.returncode != 0:
        fail("building the body model's cache failed (see above); run `python3 install_deps.py` again, or the shape "
             "stage falls back to the silhouette")


def download_models(python: Path, roles: str, models_dir: Path | None) -> None:
    """Run the model download inside the environment (it needs huggingface_hub and torch)."""
    cmd = [str(python), "-m", "backend.models.download", "--roles", roles]
    if models_dir is not None:
        cmd += ["--models-dir", str(models_dir.expanduser().resolve())]
    say("downloading the models at their pinned commits, every file checked (first time: about 3.1 GB; later runs "
        "skip what is there)")
    env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(cmd, cwd=HERE, env=env)
    if r.returncode != 0:
        # The download tool has already said why in one line.
        sys.exit(r.returncode)


_DELEGATED = "PHOTO_DIGITIZE_INSTALL_DELEGATED"  # set for the Python 3.11 this script hands itself over to


def _python_candidates(want: str) -> list[list[str]]:
    """Commands that may start a Python `want` ("3.11"): on PATH, the Windows launcher, usual homes."""
    cands: list[list[str]] = []
    if os.name == "nt" and shutil.which("py"):
        cands.append([shutil.which("py"), f"-{want}"])
    for name in (f"python{want}", "python3", "python"):
        if shutil.which(name):
            cands.append([shutil.which(name)])
    home = Path.home()
    patterns = [
        (home / ".pyenv" / "versions", f"{want}.*/bin/python{want}"),
        (Path("/opt/homebrew/bin"), f"python{want}"),
        (Path("/usr/local/bin"), f"python{want}"),
        (Path("/usr/bin"), f"python{want}"),
        (Path(f"/Library/Frameworks/Python.framework/Versions/{want}/bin"), f"python{want}"),
        (Path(os.environ.get("LOCALAPPDATA", home)) / "Programs" / "Python",
         f"Python{want.replace('.', '')}/python.exe"),
    ]
    for folder, pattern in patterns:
        if folder.is_dir():
            cands += [[str(p)] for p in sorted(folder.glob(pattern))]
    return cands


def find_supported_python() -> list[str] | None:
    """A command that starts Python 3.11 on this machine, or None."""
    want = ".".join(map(str, SUPPORTED_PYTHON))
    for cmd in _python_candidates(want):
        try:
            r = subprocess.run([*cmd, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0 and r.stdout.strip() == want:
            return cmd
    return None


def hand_over_to_supported_python(argv: list[str]) -> int:
    """Run by another Python (the add-on's button runs this with Blender's own Python, and a Blender
    newer than 5.0 may embed a newer one; the pinned wheels are for 3.11): re-run this script with
    a Python 3.11 found on the machine, or say in one line how to get one."""
    want = ".".join(map(str, SUPPORTED_PYTHON))
    this = sys.version.split()[0]
    cmd = None if os.environ.get(_DELEGATED) else find_supported_python()
    if cmd is None:
        fail(f"Python {want} is needed to build the backend's environment (this is {this}) and none was found: "
             f"install Python {want} (python.org), then run this again, or run: python{want} install_deps.py")
    say(f"this is Python {this}; building the environment with Python {want}: {' '.join(cmd)}")
    env = {**os.environ, _DELEGATED: "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*cmd, str(Path(__file__).resolve()), *argv], env=env).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=HERE / ".venv", help="where the environment goes (default: .venv/)")
    ap.add_argument("--dev", action="store_true", help="also install the test tools (pytest, ruff, mypy, bpy)")
    ap.add_argument("--force", action="store_true", help="reinstall even if nothing changed")
    ap.add_argument("--models", nargs="?", const="default", metavar="ROLES",
                    help="also download the models once: the default ones (inpaint, controlnet_normal, and the "
                         "LPIPS backbone), 'all', or a comma list of roles (docs/models.md)")
    ap.add_argument("--models-dir", type=Path, metavar="DIR",
                    help="where --models puts them (default: $PHOTO_DIGITIZE_MODELS or ~/.cache/photo-digitize/models)")
    args = ap.parse_args(argv)
    if args.models_dir is not None and args.models is None:
        fail("--models-dir only goes with --models")
    if sys.version_info[:2] != SUPPORTED_PYTHON:
        return hand_over_to_supported_python(argv)

    python = ensure_environment(args)
    build_body_model_cache(python)
    if args.models:
        download_models(python, args.models, args.models_dir)
    return 0


def ensure_environment(args) -> Path:
    """Create or update the environment; returns its Python."""
    t0 = time.monotonic()
    venv = args.venv.expanduser().resolve()
    python = venv_python(venv)
    files = requirement_files(args.dev)
    want = fingerprint(files, args.dev)

    stamp = read_stamp(venv)
    # A --dev environment is a superset of the plain one, so it also satisfies a plain run.
    up_to_date = stamp.get("fingerprint") == want or (
        not args.dev and stamp.get("backend_fingerprint") == fingerprint(files, False)
    )
    if not args.force and up_to_date and environment_ok(python, venv, args.dev):
        say(f"environment is up to date: {venv} ({time.monotonic() - t0:.1f} s)")
        return python

    try:
        venv.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {venv}: {e.strerror}")
    log = venv / "install.log"
    if not python.exists():
        run_logged([sys.executable, "-m", "venv", str(venv)], log, f"creating the environment in {venv}")
    else:
        say(f"updating the environment in {venv}")

    cuda = cuda_present()
    say("NVIDIA GPU found: torch will use CUDA" if cuda else "no NVIDIA GPU found: torch will run on the CPU")
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    for f in files:
        cmd += ["-r", str(f)]
    run_logged(cmd, log, "installing pinned packages (first run: a few minutes, several GB)")
    if args.dev:
        install_older_blenders(python, venv, log, args.force)

    if not environment_ok(python, venv, args.dev):
        fail(f"the packages installed but do not import together; see {log}")
    (venv / STAMP_NAME).write_text(json.dumps({
        "fingerprint": want,
        "backend_fingerprint": fingerprint(files[:1], False),
        "dev": args.dev,
        "cuda": cuda,
    }, indent=2))
    say(f"done in {time.monotonic() - t0:.0f} s: backend Python is {python}")
    return python


if __name__ == "__main__":
    sys.exit(main())
