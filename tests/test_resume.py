"""A digitize run killed at any stage leaves the output untouched and `--resume` finishes it,
with the same texture an uninterrupted run makes, without redoing the costly stages."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.test_digitize import ENV, ROOT, SAMPLE, digitize

# Few fusion steps, the outline's quick shape: what is tested is what is kept and restored, not the
# texture's quality or the body fit (tests/test_body.py).
OPTIONS = ("--fusion-iterations", "4", "--shape", "silhouette")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "out"
    digitize(SAMPLE, out, *OPTIONS)
    return np.array(Image.open(out / "texture.png"))


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


def stage_messages(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if line.startswith("["))


@pytest.mark.parametrize("stage, restored", [("raster", []), ("fusion", ["views"]),
                                             ("export", ["views", "fused texture"])])
def test_resume_after_a_kill_gives_the_uninterrupted_result(tmp_path, reference, stage, restored):
    out = tmp_path / "out"
    kill_when_stage_starts(out, stage)
    assert not out.exists()  # nothing half-written under the name asked for
    checkpoint = tmp_path / ".out.resume"
    assert checkpoint.is_dir() == bool(restored)  # made when there is something to keep
    assert (checkpoint / "views.json").is_file() == ("views" in restored)
    assert (checkpoint / "fused.json").is_file() == ("fused texture" in restored)

    r = digitize(SAMPLE, out, *OPTIONS, "--resume")
    result = json.loads((out / "result.json").read_text())
    assert result["resumed"] == bool(restored)
    np.testing.assert_array_equal(np.array(Image.open(out / "texture.png")), reference)
    if "views" in restored:
        assert "synthesized views come from the unfinished run" in r.stderr
    if "fused texture" in restored:
        assert "fused texture comes from the unfinished run" in r.stderr
        assert "fusion step" not in r.stderr  # the optimisation did not run again
    assert not checkpoint.exists()  # a finished run leaves no checkpoint behind


def test_resume_ignores_a_checkpoint_made_with_other_options(tmp_path, reference):
    out = tmp_path / "out"
    kill_when_stage_starts(out, "export")
    r = digitize(SAMPLE, out, "--fusion-iterations", "3", "--resume")
    assert "another photo or other options" in r.stderr
    assert json.loads((out / "result.json").read_text())["resumed"] is False
    assert not (tmp_path / ".out.resume").exists()


def test_a_run_without_resume_starts_over_and_bad_input_keeps_the_unfinished_run(tmp_path, reference):
    out = tmp_path / "out"
    kill_when_stage_starts(out, "export")
    r = digitize(SAMPLE, out, *OPTIONS)
    assert "unfinished run" not in r.stderr
    np.testing.assert_array_equal(np.array(Image.open(out / "texture.png")), reference)
    assert not (tmp_path / ".out.resume").exists()

    # A mistyped photo with --resume fails cleanly and does not cost the unfinished run its progress.
    again = tmp_path / "again"
    kill_when_stage_starts(again, "fusion")
    bad = tmp_path / "not_a_photo.jpg"
    bad.write_text("hello")
    r = digitize(bad, again, "--resume", check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error:")
    assert "Traceback" not in r.stderr
    assert (tmp_path / ".again.resume" / "views.json").is_file() and not again.exists()
    r = digitize(SAMPLE, again, *OPTIONS, "--resume")
    assert "synthesized views come from the unfinished run" in r.stderr
    np.testing.assert_array_equal(np.array(Image.open(again / "texture.png")), reference)
    assert not (tmp_path / ".again.resume").exists()


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


def test_a_resumed_run_sends_the_warning_codes_an_uninterrupted_one_sends(tmp_path):
    def warnings_of(stdout: str) -> list:
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return sorted((e["message"], e.get("code")) for e in events if e["type"] == "warning")

    whole = digitize(SAMPLE, tmp_path / "whole", *OPTIONS, "--events", "jsonl")
    out = tmp_path / "out"
    kill_when_stage_starts(out, "export")
    resumed = digitize(SAMPLE, out, *OPTIONS, "--resume", "--events", "jsonl")
    assert json.loads((out / "result.json").read_text())["resumed"]
    expected = warnings_of(whole.stdout)
    assert any(code for _, code in expected), expected  # the fused texture's fallback at least (lpips_missing)
    assert warnings_of(resumed.stdout) == expected
