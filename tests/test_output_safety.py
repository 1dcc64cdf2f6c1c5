"""The output folder belongs to the user: what may be replaced, one writer at a time, no leftovers, usual modes.

The refusals a user meets on the command line are in tests/test_bad_inputs.py ("where the result
goes"); here are the mechanisms behind them (backend/outputs.py), each also shown through the
real CLI where a process boundary matters: two runs at once, a run killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.errors import UserError
from backend.outputs import (
    MADE_BY,
    OutputTargetError,
    check_output_target,
    claimed_output,
    staged_output_dir,
    sweep_stale,
)
from tests.test_bad_inputs import BOX_OBJ, snapshot
from tests.test_cli import ROOT, SAMPLE, run_cli


@pytest.fixture()
def box(tmp_path) -> Path:
    path = tmp_path / "box.obj"
    path.write_text(BOX_OBJ)
    return path


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_result(folder: Path, files: dict[str, str]) -> None:
    """A folder as an earlier run of ours leaves it: the files, and result.json marked with their names."""
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "result.json").write_text(json.dumps({"output": {"made_by": MADE_BY,
                                                               "files": sorted([*files, "result.json"])}}))


# --- which folders may be replaced -----------------------------------------------------------


def test_empty_missing_and_marked_folders_may_be_replaced(tmp_path):
    check_output_target(tmp_path / "new")  # not there yet
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_text("")  # a file browser looked at it: still empty to the user
    check_output_target(tmp_path / "empty")
    write_result(tmp_path / "ours", {"mesh.obj": "v 0 0 0\n"})
    check_output_target(tmp_path / "ours")
    older = tmp_path / "older"  # before the marker: recognised by its result.json and the names it wrote
    older.mkdir()
    (older / "result.json").write_text(json.dumps({"version": "0.1.0", "input_camera": {}, "glb": "avatar.glb"}))
    for name in ("avatar.glb", "mesh.obj", "texture.png"):
        (older / name).write_text("")
    (older / "views").mkdir()
    check_output_target(older)


@pytest.mark.parametrize("case,words", [
    ("foreign", ["not empty and is not a result", "holds a.txt, b.txt, c.txt and 1 more", "--overwrite"]),
    ("older plus a file", ["older version", "also holds notes.txt", "--overwrite"]),
    ("ours plus a file", ["earlier result", "also holds notes.txt", "--overwrite"]),
    ("bad json", ["not a result"]),
])
def test_other_folders_are_refused_unless_overwrite(tmp_path, case, words):
    out = tmp_path / "out"
    if case == "foreign":
        out.mkdir()
        for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
            (out / name).write_text(name)
    elif case == "older plus a file":  # what versions before the marker wrote, and the user's notes
        out.mkdir()
        (out / "result.json").write_text(json.dumps({"version": "0.1.0", "input_camera": {}}))
        (out / "mesh.obj").write_text("")
        (out / "notes.txt").write_text("mine")
    elif case == "ours plus a file":
        write_result(out, {"mesh.obj": ""})
        (out / "notes.txt").write_text("mine")
    else:
        out.mkdir()
        (out / "result.json").write_text("{not json")
    before = snapshot(tmp_path)
    with pytest.raises(OutputTargetError) as e:
        check_output_target(out)
    for word in words:
        assert word in str(e.value), str(e.value)
    assert "\n" not in str(e.value)
    check_output_target(out, overwrite=True)
    assert snapshot(tmp_path) == before  # checking changes nothing


def test_overwrite_never_replaces_home_the_current_folder_or_the_inputs(tmp_path, monkeypatch):
    photo = tmp_path / "shoot" / "person.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"jpeg")
    with pytest.raises(OutputTargetError, match="holds the input"):
        check_output_target(tmp_path / "shoot", overwrite=True, keep=[photo])
    with pytest.raises(OutputTargetError, match="holds the input"):
        check_output_target(tmp_path, overwrite=True, keep=[None, photo])
    monkeypatch.chdir(photo.parent)
    with pytest.raises(OutputTargetError, match="the current folder or a folder above it"):
        check_output_target(tmp_path, overwrite=True)
    monkeypatch.setenv("HOME", str(tmp_path / "shoot"))
    with pytest.raises(OutputTargetError, match="your home folder"):
        check_output_target(tmp_path / "shoot", overwrite=True)


def test_a_folder_that_changes_during_the_run_is_not_replaced(tmp_path):
    """Checked again at the final rename: a file the user put there meanwhile survives, the staging goes."""
    out = tmp_path / "out"
    with pytest.raises(OutputTargetError, match="not a result"):
        with staged_output_dir(out) as tmp:
            (tmp / "result.json").write_text("{}")
            out.mkdir()
            (out / "report.docx").write_text("the user's")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder, no lock file
    assert (out / "report.docx").read_text() == "the user's" and len(list(out.iterdir())) == 1


def test_result_is_sealed_with_its_entries_and_replaced_whole(tmp_path):
    out = tmp_path / "out"
    write_result(out, {"old_only.png": "x", "mesh.obj": "old"})
    with staged_output_dir(out) as tmp:
        (tmp / "mesh.obj").write_text("new")
        (tmp / "maps").mkdir()
        (tmp / "result.json").write_text(json.dumps({"version": "x"}))
    assert sorted(p.name for p in out.iterdir()) == ["maps", "mesh.obj", "result.json"]  # old_only.png went
    assert json.loads((out / "result.json").read_text())["output"] == {
        "made_by": MADE_BY, "files": ["maps", "mesh.obj", "result.json"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- symbolic links ----------------------------------------------------------------------------


def test_a_linked_output_is_followed_and_the_link_kept(tmp_path):
    target = tmp_path / "real"
    write_result(target, {"mesh.obj": "old"})
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    with staged_output_dir(link) as tmp:
        (tmp / "mesh.obj").write_text("new")
        (tmp / "result.json").write_text("{}")
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert (link / "mesh.obj").read_text() == "new"


def test_a_link_to_a_foreign_folder_or_nowhere_is_refused_untouched(tmp_path):
    docs = tmp_path / "Documents"
    docs.mkdir()
    (docs / "thesis.tex").write_text("years of work")
    (tmp_path / "to docs").symlink_to(docs, target_is_directory=True)
    (tmp_path / "dangling").symlink_to(tmp_path / "gone", target_is_directory=True)
    before = snapshot(tmp_path)
    with pytest.raises(OutputTargetError, match="not a result"):
        with staged_output_dir(tmp_path / "to docs"):
            pytest.fail("no work may start")
    with pytest.raises(OutputTargetError, match="which does not exist"):
        with staged_output_dir(tmp_path / "dangling"):
            pytest.fail("no work may start")
    assert snapshot(tmp_path) == before
    assert (tmp_path / "to docs").is_symlink() and (tmp_path / "dangling").is_symlink()


# --- one writer per output ----------------------------------------------------------------------


def test_a_second_claim_is_refused_and_the_lock_file_goes_with_the_first(tmp_path, box):
    out = tmp_path / "out"
    with claimed_output(out) as held:
        assert held == out and (tmp_path / ".out.lock").is_file()
        r = run_cli("shape", SAMPLE, "--out", out, "--mesh", box)  # another process: refused at once
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"error: another run is writing to {out} (process {os.getpid()}): wait for it to finish, or choose "
            "another --out"]
        with claimed_output(out):  # the same process again: the outer claim holds
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.obj"]  # no lock file, no output, no staging


def start_shape(out, box, stderr):
    """`shape` on the sample with the box as the user's mesh, its JSON events on a pipe, in the background."""
    return subprocess.Popen([sys.executable, "-m", "backend", "shape", str(SAMPLE), "--out", str(out), "--mesh",
                             str(box), "--events", "jsonl"], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.skipif(os.name == "nt", reason="SIGSTOP")
def test_two_runs_at_once_make_one_whole_result_and_the_other_is_told_why(tmp_path, box):
    """Two terminals, the same --out: the second is refused while the first works; the first finishes.
    The first is paused (SIGSTOP) mid-run so that the two surely overlap."""
    out = tmp_path / "out"
    first = start_shape(out, box, stderr=subprocess.PIPE)
    try:
        for line in first.stdout:
            if json.loads(line).get("stage") == "shape":
                first.send_signal(signal.SIGSTOP)
                break
        second = run_cli("shape", SAMPLE, "--out", out, "--mesh", box)
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: another run is writing to {out} (process {first.pid}): wait for it to finish, or choose another --out"]
    result = json.loads((out / "result.json").read_text())
    assert {"mask.png", "mesh.obj", "result.json"} <= set(result["output"]["files"])
    assert sorted(p.name for p in out.iterdir()) == result["output"]["files"]  # one result, whole
    assert result["shape"]["method"] == "user_mesh"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.obj", "out"]


# --- leftovers of runs that died ----------------------------------------------------------------


def test_sweep_removes_only_dead_runs_staging_of_this_output(tmp_path):
    out = tmp_path / "out"
    dead, alive = dead_pid(), os.getppid()
    stale = [tmp_path / f".out.partial-{dead}-0123abcd", tmp_path / f".out.old-{dead}",
             tmp_path / f".out.old-{dead}-89abcdef", tmp_path / f".out.partial-{os.getpid()}-00000000"]
    kept = [tmp_path / f".out.partial-{alive}-0123abcd",  # a live run's
            tmp_path / f".other.partial-{dead}-0123abcd",  # another output's
            tmp_path / f".out.partial-{dead}-notours", tmp_path / "out.partial-1-0123abcd"]  # not our names
    for folder in stale + kept:
        folder.mkdir()
        (folder / "mesh.obj").write_text("half")
    (tmp_path / f".out.partial-{dead}-fedcba98").write_text("a file, not our folder")
    assert sorted(sweep_stale(out)) == sorted(stale)
    assert all(not p.exists() for p in stale) and all(p.exists() for p in kept)


def test_a_run_killed_between_its_final_renames_loses_no_result(tmp_path):
    """Killed after moving the earlier result aside (`.out.old-*`) and before moving the new one in: the next
    run puts the earlier result back first, so it survives even when that run fails."""
    dead = dead_pid()
    write_result(tmp_path / f".out.old-{dead}-0123abcd", {"mesh.obj": "the earlier result"})
    (tmp_path / f".out.partial-{dead}-89abcdef").mkdir()
    with pytest.raises(UserError, match="a bad photo"):
        with claimed_output(tmp_path / "out"):
            raise UserError("a bad photo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "mesh.obj").read_text() == "the earlier result"


def test_a_killed_runs_staging_is_gone_after_the_next_run(tmp_path, box):
    out = tmp_path / "out"
    proc = start_shape(out, box, stderr=subprocess.DEVNULL)
    try:
        for line in proc.stdout:
            if json.loads(line).get("stage") == "uv":
                proc.send_signal(signal.SIGKILL)  # no chance to clean up
                break
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith(".out.partial-") for n in left) and not out.exists(), left
    r = run_cli("shape", SAMPLE, "--out", out, "--mesh", box)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.obj", "out"]  # staging and lock file gone


# --- file modes ---------------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="no POSIX mode bits")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_output_file_gets_the_umask_modes(tmp_path, umask):
    """Writers that use mkstemp (texture, mesh, GLB, preview: write_atomic) make 0600 files; the result's
    files end up as any file the user makes: 0644 under the usual umask, readable by colleagues."""
    from backend.files import write_atomic

    old = os.umask(umask)
    try:
        with staged_output_dir(tmp_path / "out") as tmp:
            write_atomic(tmp / "avatar.glb", b"glTF")
            (tmp / "views").mkdir()
            write_atomic(tmp / "views" / "az+180.png", b"png")
            (tmp / "result.json").write_text("{}")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in out.rglob("*")}
    files = {k: v for k, v in modes.items() if not (out / k).is_dir()}
    assert set(files.values()) == {0o666 & ~umask}, modes
    assert modes["views"] == 0o777 & ~umask


@pytest.mark.skipif(os.name == "nt", reason="no POSIX mode bits")
def test_a_digitized_result_is_readable_by_group_and_others(tmp_path, box):
    out = tmp_path / "out"
    r = run_cli("digitize", SAMPLE, "--out", out, "--mesh", box, "--fusion-iterations", "1", "--inpainter",
                "classical", "--views", "paper")
    assert r.returncode == 0, r.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"avatar.glb", "texture.png", "mesh.obj", "mesh.mtl", "preview.png"}
    unreadable = [p.name for p in files if p.stat().st_mode & 0o044 != 0o044]
    assert not unreadable  # the default umask (022) gives 0644


def test_staging_errors_remove_the_parents_a_run_made(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(UserError, match="boom"):
        with staged_output_dir(out):
            raise UserError("boom")
    assert list(tmp_path.iterdir()) == []


def test_refusal_is_quick(tmp_path):
    """A refused --out costs no work: no photo read, no stage started."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("mine")
    t0 = time.monotonic()
    r = run_cli("digitize", SAMPLE, "--out", out)
    assert r.returncode == 2 and "[1/" not in r.stderr
    assert time.monotonic() - t0 < 5
