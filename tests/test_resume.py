"""A digitize run killed at any stage leaves the output untouched and `--resume` finishes it,
with the same texture an uninterrupted run makes, without redoing the costly stages."""

import json
import shutil
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.test_digitize import ENV, ROOT, SAMPLE, digitize

# Few fusion steps, the outline's quick shape: what is tested is what is kept and restored, not the
# texture's quality or the body fit (tests/test_body.py).
OPTIONS = ("--fusion-iterations", "4", "--shape", "silhouette")


def warnings_of(stdout: str) -> list:
    """(message, code) of every warning event of a run with --events jsonl."""
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return sorted((e["message"], e.get("code")) for e in events if e["type"] == "warning")


def said(r) -> str:
    """Everything a run told: its events (JSON lines on stdout with --events jsonl) and stderr."""
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its texture, and its JSON events (the warnings a resumed run must repeat)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    r = digitize(SAMPLE, out, *OPTIONS, "--events", "jsonl")
    return SimpleNamespace(texture=np.array(Image.open(out / "texture.png")), stdout=r.stdout)


def kill_when_stage_starts(out, stage: str) -> None:
    """Run digitize with JSON events and SIGKILL it (no chance to clean up) as `stage` begins."""
    proc = subprocess.Popen([sys.executable, "-m", "backend", "digitize", str(SAMPLE), "--out", str(out), *OPTIONS,
                             "--events", "jsonl"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("type") == "stage" and event.get("stage") == stage:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"the run ended before stage {stage!r}")
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """`killed(out, stage)`: beside `out` (named "out"), what a run on `out` SIGKILLed as `stage` began
    leaves there (its lock file, staging folder, checkpoint), every file as it left it. One run is killed
    per stage, in a folder of its own, and each test gets a copy of what it left: a test's run changes it."""
    left: dict[str, object] = {}

    def kill(out, stage: str) -> None:
        assert out.name == "out" and not any(out.parent.iterdir())
        if stage not in left:
            folder = tmp_path_factory.mktemp(f"killed-at-{stage}")
            kill_when_stage_starts(folder / "out", stage)
            left[stage] = folder
        for entry in left[stage].iterdir():
            copy = shutil.copytree if entry.is_dir() else shutil.copy2
            copy(entry, out.parent / entry.name)

    return kill


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, killed):
    """`resumed(stage)`: (out, what the kill left, the --resume run with JSON events) of a run killed as
    `stage` began, then resumed; once per stage (the export stage's run serves two tests)."""
    runs: dict[str, tuple] = {}

    def run(stage: str):
        if stage not in runs:
            out = tmp_path_factory.mktemp(f"resumed-after-{stage}") / "out"
            killed(out, stage)
            checkpoint = out.parent / ".out.resume"
            left = {"out": out.exists(), "checkpoint": checkpoint.is_dir(),
                    "views": (checkpoint / "views.json").is_file(), "fused": (checkpoint / "fused.json").is_file()}
            runs[stage] = out, left, digitize(SAMPLE, out, *OPTIONS, "--resume", "--events", "jsonl")
        return runs[stage]

    return run


def stage_messages(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if line.startswith("["))


@pytest.mark.parametrize("stage, restored", [("raster", []), ("fusion", ["views"]),
                                             ("export", ["views", "fused texture"])])
def test_resume_after_a_kill_gives_the_uninterrupted_result(reference, resumed, stage, restored):
    out, left, r = resumed(stage)
    assert not left["out"]  # nothing half-written under the name asked for
    assert left["checkpoint"] == bool(restored)  # made when there is something to keep
    assert left["views"] == ("views" in restored)
    assert left["fused"] == ("fused texture" in restored)

    result = json.loads((out / "result.json").read_text())
    assert result["resumed"] == bool(restored)
    np.testing.assert_array_equal(np.array(Image.open(out / "texture.png")), reference.texture)
    if "views" in restored:
        assert "synthesized views come from the unfinished run" in said(r)
    if "fused texture" in restored:
        assert "fused texture comes from the unfinished run" in said(r)
        assert "fusion step" in reference.stdout  # said in these events when the optimisation runs
        assert "fusion step" not in said(r)  # the optimisation did not run again
    assert not (out.parent / ".out.resume").exists()  # a finished run leaves no checkpoint behind


def test_resume_ignores_a_checkpoint_made_with_other_options(tmp_path, killed):
    out = tmp_path / "out"
    killed(out, "export")
    r = digitize(SAMPLE, out, "--fusion-iterations", "3", "--resume")
    assert "another photo or other options" in r.stderr
    assert json.loads((out / "result.json").read_text())["resumed"] is False
    assert not (tmp_path / ".out.resume").exists()


def test_a_run_without_resume_starts_over_and_bad_input_keeps_the_unfinished_run(tmp_path, reference, killed):
    out = tmp_path / "out"
    killed(out, "export")
    r = digitize(SAMPLE, out, *OPTIONS)
    assert "unfinished run" not in r.stderr
    np.testing.assert_array_equal(np.array(Image.open(out / "texture.png")), reference.texture)
    assert not (tmp_path / ".out.resume").exists()

    # A mistyped photo with --resume fails cleanly and does not cost the unfinished run its progress.
    again = tmp_path / "again" / "out"
    again.parent.mkdir()
    killed(again, "fusion")
    bad = tmp_path / "not_a_photo.jpg"
    bad.write_text("hello")
    r = digitize(bad, again, "--resume", check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error:")
    assert "Traceback" not in r.stderr
    assert (again.parent / ".out.resume" / "views.json").is_file() and not again.exists()
    r = digitize(SAMPLE, again, *OPTIONS, "--resume")
    assert "synthesized views come from the unfinished run" in r.stderr
    np.testing.assert_array_equal(np.array(Image.open(again / "texture.png")), reference.texture)
    assert not (again.parent / ".out.resume").exists()


def test_bad_input_drops_the_runs_own_checkpoint(tmp_path):
    """A checkpoint made for this very photo and options, then bad input found: nothing to resume."""
    from backend.checkpoints import Checkpoints
    from backend.progress import Progress

    out = tmp_path / "out"
    ckpt = Checkpoints.open(out, "key-a", resume=False, progress=Progress(quiet=True))
    assert ckpt._writable() and (tmp_path / ".out.resume" / "key.json").is_file()
    ckpt.abandon()
    assert not (tmp_path / ".out.resume").exists()
    ckpt = Checkpoints.open(out, "key-a", resume=False, progress=Progress(quiet=True))
    ckpt._writable()
    other = Checkpoints.open(out, "key-b", resume=True, progress=Progress(quiet=True))
    other.abandon()  # another run's checkpoint: kept
    assert (tmp_path / ".out.resume" / "key.json").is_file()


def test_the_fused_textures_warnings_keep_their_codes(tmp_path):
    """The add-on words a warning by its code (backend/notes.py): a resumed run's must still carry it."""
    from backend.checkpoints import Checkpoints
    from backend.fusion import FusionResult
    from backend.notes import Note, code_of
    from backend.progress import Progress

    square = np.zeros((4, 4), bool)
    warnings = [Note("LPIPS backbone weights not found", "lpips_missing"), "a warning without a code"]
    fused = FusionResult(np.zeros((4, 4, 3), np.uint8), square, square, "substitute-msgrad-ssim", [], 4, 0.5, {},
                         warnings=warnings)
    ckpt = Checkpoints.open(tmp_path / "out", "key", resume=False, progress=Progress(quiet=True))
    ckpt.save_fused(fused, "digest")
    back = Checkpoints.open(tmp_path / "out", "key", resume=True, progress=Progress(quiet=True)).load_fused("digest")
    assert back.warnings == warnings
    assert [code_of(w) for w in back.warnings] == ["lpips_missing", None]


def test_a_resumed_run_sends_the_warning_codes_an_uninterrupted_one_sends(reference, resumed):
    out, _, r = resumed("export")  # the fused texture and its warnings come from the checkpoint
    assert json.loads((out / "result.json").read_text())["resumed"]
    expected = warnings_of(reference.stdout)
    assert any(code for _, code in expected), expected  # the fused texture's fallback at least (lpips_missing)
    assert warnings_of(r.stdout) == expected
