"""Backend runs that several test files need with the same input and options: each is made once per
session, on first use, in a folder of its own (so whichever test asks first gets the same result).

They are shared read-only: a test that changes an output folder works on a copy of it (`copy_of`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"


# `python -m backend ARGS` with every socket refused (what `-m` does, through runpy), saying so first on stderr.
NO_NETWORK_SAID = "every socket refused for this run"
NO_NETWORK = ("import socket, runpy, sys\n"
              "def refuse(*a, **k):\n    raise OSError('network disabled for this test')\n"
              "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
              f"print({NO_NETWORK_SAID!r}, file=sys.stderr)\n"
              "sys.argv = ['backend', *sys.argv[1:]]\n"
              "runpy.run_module('backend', run_name='__main__')\n")


@pytest.fixture(scope="session")
def sample_shape(tmp_path_factory):
    """`python -m backend shape` on the bundled sample photo with the default options, as a user runs it:
    (the output folder, the finished process). The photo is a copy of the sample under a path with spaces
    and non-ASCII letters, and the result goes to such a path too, as users have them (the paths are
    tests/test_bad_inputs.py's check), and every socket is refused (tests/test_body.py's check that the
    shape stage needs no network). tests/test_cli.py checks the outputs, tests/test_blender_maps.py
    renders the mesh in Blender. `out.parent` holds nothing but `out`."""
    base = tmp_path_factory.mktemp("sample shape")
    photo = base / "фото 写真 ü" / "my photo é.jpg"
    photo.parent.mkdir()
    shutil.copy(SAMPLE, photo)
    out = base / "résultat 出力" / "out dir"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "0"}  # nothing may rely on the hub's offline mode
    r = subprocess.run([sys.executable, "-c", NO_NETWORK, "shape", str(photo), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, f"shape of the sample (every socket refused) failed:\n{r.stderr[-3000:]}"
    return out, r


def copy_of(folder: Path, parent: Path) -> Path:
    """A copy of a shared output folder under `parent`, with the same name, for a test that changes it."""
    return Path(shutil.copytree(folder, parent / folder.name, symlinks=True))


# The sample's digitize that two files share: few fusion steps, a seed of its own.
SAMPLE_DIGITIZE = ("--fusion-iterations", "3", "--seed", "7")


@pytest.fixture(scope="session")
def no_models(tmp_path_factory) -> Path:
    """An empty models cache (PHOTO_DIGITIZE_MODELS): the weight-free path, whatever this machine has."""
    return tmp_path_factory.mktemp("no models")


@pytest.fixture(scope="session")
def sample_digitize(tmp_path_factory, no_models) -> Path:
    """`python -m backend digitize` on the bundled sample with SAMPLE_DIGITIZE and no model weights: its
    output folder, read-only. tests/test_rig.py's rigged person, and the first of tests/test_digitize.py's
    two runs with the same seed."""
    out = tmp_path_factory.mktemp("sample digitize") / "sample"
    digitize(SAMPLE, out, *SAMPLE_DIGITIZE, models=no_models)
    return out


def digitize(photo, out, *extra, models=None) -> dict:
    """`python -m backend digitize PHOTO --out OUT [extra]` (with `models` as PHOTO_DIGITIZE_MODELS when
    given); it must succeed. Its result.json."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if models is not None:
        env["PHOTO_DIGITIZE_MODELS"] = str(models)
    r = subprocess.run([sys.executable, "-m", "backend", "digitize", str(photo), "--out", str(out), *extra],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((Path(out) / "result.json").read_text())
