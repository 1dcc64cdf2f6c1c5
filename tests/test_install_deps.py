"""install_deps.py run by a Python other than 3.11 (what the add-on's Install button does in a
Blender that embeds another Python): it hands itself over to a Python 3.11 on the machine, or
says in one line what to do. Nothing here installs anything."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "install_deps.py"


def _load():
    spec = importlib.util.spec_from_file_location("install_deps_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


install_deps = _load()


def _other_python() -> str | None:
    """An interpreter that is not 3.11 (pyenv's, or on PATH), to run the script as Blender 5.1+ would."""
    names = [f"python3.{minor}" for minor in (13, 12, 10)]
    found = [shutil.which(n) for n in names]
    found += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[023]*/bin/python3"))]
    for exe in filter(None, found):
        r = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2] != (3, 11))"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() == "True":
            return exe
    return None


def test_finds_a_python_311_on_this_machine():
    cmd = install_deps.find_supported_python()
    assert cmd is not None  # the tests themselves run on 3.11
    r = subprocess.run([*cmd, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert r.stdout.strip() == "(3, 11)"


def test_without_a_python_311_one_clear_line(monkeypatch, capsys):
    monkeypatch.setattr(install_deps, "find_supported_python", lambda: None)
    with pytest.raises(SystemExit) as e:
        install_deps.hand_over_to_supported_python(["--dev"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Python 3.11 is needed" in err and "python3.11 install_deps.py" in err


def test_another_python_hands_over_to_311(tmp_path):
    other = _other_python()
    if other is None:
        pytest.skip("no Python other than 3.11 on this machine")
    # A venv folder that cannot be created: the 3.11 run stops at once, after the hand-over.
    blocked = tmp_path / "file"
    blocked.write_text("")
    r = subprocess.run([other, str(SCRIPT), "--venv", str(blocked / "venv")], capture_output=True, text=True,
                       timeout=120)
    out = r.stdout + r.stderr
    assert "building the environment with Python 3.11" in out, out
    assert f"cannot create {blocked / 'venv'}" in out, out  # said by the 3.11 run: the version check passed
    assert r.returncode == 1 and "Traceback" not in out


def test_the_handed_over_run_never_hands_over_again(monkeypatch, capsys):
    monkeypatch.setenv(install_deps._DELEGATED, "1")
    monkeypatch.setattr(install_deps, "find_supported_python", lambda: pytest.fail("looked again"))
    with pytest.raises(SystemExit):
        install_deps.hand_over_to_supported_python([])
    assert "Python 3.11 is needed" in capsys.readouterr().err


def test_models_run_the_checked_download_and_pass_its_refusal_on(monkeypatch, tmp_path):
    """`--models` hands the roles and the folder to the download tool (which pins and checks every file,
    tests/test_model_pinning.py) and exits with its code: a refused download is not a finished install."""
    seen = []

    def fake_run(cmd, cwd=None, env=None):
        seen.append((cmd, cwd, env))
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(install_deps.subprocess, "run", fake_run)
    with pytest.raises(SystemExit) as e:
        install_deps.download_models(Path("/venv/bin/python"), "all", tmp_path / "models")
    assert e.value.code == 1
    cmd, cwd, env = seen[0]
    assert cmd == ["/venv/bin/python", "-m", "backend.models.download", "--roles", "all", "--models-dir",
                   str((tmp_path / "models").resolve())]
    assert cwd == ROOT and env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


def test_the_body_models_cache_step_is_quick_when_built(tmp_path):
    """install_deps.py builds Anny's cache once (backend.shape.body.model); a built cache is only checked."""
    from backend.shape.body.model import READY_FILE

    (tmp_path / READY_FILE).write_text("{}")
    env = {**os.environ, "PHOTO_DIGITIZE_ANNY_CACHE": str(tmp_path), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "backend.shape.body.model"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and f"cache is ready in {tmp_path}" in r.stdout
    assert "building" not in r.stdout  # nothing parsed again
