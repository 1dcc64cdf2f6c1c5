"""Options are checked before any work, whatever the door: the command line and job.json (which the add-on
writes) share one table and one validator (backend/options.py). A wrong value gets exit 2, one `error:` line
naming the option and what it takes, in well under 5 s, with no stage run and nothing written."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend import options as opts
from backend.options import OPTIONS, OptionError, check_value, from_text, read_options
from tests.test_cli import ROOT, SAMPLE, run_cli


def assert_refused_early(r, seconds: float, *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr  # one line: no usage block, no traceback
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert seconds < 5, seconds
    return lines[0]


CLI_CASES = [
    # (command-line arguments, words the error line must hold)
    (["--height", "-1.7"], ["--height", "from 0.3 to 3", "got -1.7"]),
    (["--height", "1e9"], ["--height", "got 1e+09"]),
    (["--height", "NaN"], ["--height", "got nan"]),
    (["--height", "1,7"], ["--height", "a number of metres", "got '1,7'"]),
    (["--seed", "abc"], ["--seed", "a whole number", "got 'abc'"]),
    (["--seed", "-1"], ["--seed", "from 0 to 4294967295"]),
    (["--preset", "slow"], ["--preset", "one of fast, quality", "got 'slow'"]),
    (["--device", "gpu"], ["--device", "one of auto, cpu, cuda"]),
    (["--fusion-iterations", "0"], ["--fusion-iterations", "from 1 to"]),
    (["--steps", "2.5"], ["--steps", "a whole number"]),
    (["--views", "1,2"], ["--views", "the first view must be 180"]),
    (["--model", "depth=x"], ["--model", "unknown model role 'depth'"]),
    (["--models-dir", "/no/such/folder"], ["--models-dir /no/such/folder: no such folder"]),
    (["--colour", "red"], ["unrecognized arguments: --colour red"]),
]


@pytest.mark.parametrize("args,words", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_bad_option_on_the_command_line(tmp_path, args, words):
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = run_cli("digitize", SAMPLE, "--out", out, *args)
    assert_refused_early(r, time.monotonic() - t0, *words)
    assert list(tmp_path.iterdir()) == []  # no output, no lock file: nothing was started


def run_job(job_dir: Path, job) -> tuple[subprocess.CompletedProcess, float]:
    (job_dir / "job.json").write_text(job if isinstance(job, str) else json.dumps(job))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "backend", "job", str(job_dir)], cwd=ROOT, capture_output=True,
                       text=True)
    return r, time.monotonic() - t0


JOB_CASES = [
    # (options, or the whole job.json text, words the error line must hold)
    ({"height_m": -1.7}, ["options.height_m", "from 0.3 to 3", "got -1.7"]),
    ({"height_m": 1e9}, ["options.height_m", "got 1e+09"]),
    ('{"command": "digitize", "photo": "photo.jpg", "options": {"height_m": NaN}}', ["options.height_m", "got nan"]),
    ({"height_m": "1.7"}, ["options.height_m", "got the text '1.7' (write it without quotes)"]),
    ({"height_m": True}, ["options.height_m", "got true"]),
    ({"seed": "7"}, ["options.seed", "a whole number", "got the text '7'"]),
    ({"seed": 1.5}, ["options.seed", "got 1.5"]),
    ({"preset": "slow"}, ["options.preset", "one of fast, quality", "got 'slow'"]),
    ({"fusion_iterations": 0}, ["options.fusion_iterations", "(or null for the default)"]),
    ({"offload": "yes"}, ["options.offload", "true or false"]),
    ({"models": "inpaint=/m"}, ["options.models", "a list of KEY=ID_OR_FOLDER"]),
    ({"models": ["depth=x"]}, ["options.models: unknown model role 'depth'"]),
    ({"views": "45"}, ["options.views wants", "the first view must be 180"]),
    ({"prompt": 12}, ["options.prompt must be text, got 12"]),
    ({"heigth_m": 1.7}, ["options.heigth_m is not an option", "height_m"]),
    ([], ["options must be an object", "got a list"]),
    ('{"command": "digitize", "photo": 12}', ["'photo' must be a file path (text), got 12"]),
    ('{"command": "digitize", "photo": "photo.jpg", "Options": {}}', ["'Options' is not a job.json key"]),
    ('{"command": "digitize", "photo": "photo.jpg", "version": 2}',
     ["written by a newer add-on (job version 2; this backend reads 1)", "Install / Update Backend"]),
    ('{"command": "digitize", "photo": "photo.jpg", "version": "1"}', ["version '1' is not one this backend reads"]),
    ('{"command": "paint", "photo": "photo.jpg"}', ["'command' must be one of digitize, shape, retexture"]),
    ('["digitize"]', ["must hold one object"]),
]


@pytest.mark.parametrize("job,words", JOB_CASES, ids=[str(j)[:60] for j, _ in JOB_CASES])
def test_bad_option_in_job_json(tmp_path, job, words):
    (tmp_path / "photo.jpg").write_bytes(SAMPLE.read_bytes())
    if not isinstance(job, str):
        job = {"command": "digitize", "photo": "photo.jpg", "options": job}
    r, seconds = run_job(tmp_path, job)
    line = assert_refused_early(r, seconds, "job.json", *words)
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in events] == ["error"] and events[0]["exit_code"] == 2  # no stage started
    assert events[0]["message"] == line[len("error: "):]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "job.json", "photo.jpg"]


def test_one_table_for_both_doors():
    """Every option is a field of the pipeline's options with the same default (but overwrite, which is the
    output folder's), and the command line offers exactly the table's flags."""
    from backend.cli import build_parser
    from backend.pipeline import DigitizeOptions, ShapeOptions

    fields = {f.name: f for f in dataclasses.fields(DigitizeOptions)}
    shape_fields = {f.name for f in dataclasses.fields(ShapeOptions)}
    for key, o in OPTIONS.items():
        if key == "overwrite":
            continue
        f = fields[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert default == opts._default(o), key
        assert opts.SHAPE not in o.commands or key in shape_fields, key
    assert read_options({}) == {k: opts._default(o) for k, o in OPTIONS.items()}
    DigitizeOptions(**opts.pipeline_kwargs(read_options({})))
    ShapeOptions(**opts.pipeline_kwargs(read_options({}), opts.SHAPE))

    sub = build_parser()._subparsers._group_actions[0].choices
    for command in (opts.SHAPE, opts.DIGITIZE):
        flags = {s for a in sub[command]._actions for s in a.option_strings}
        assert {o.flag for o in OPTIONS.values() if command in o.commands} <= flags
        assert not {o.flag for o in OPTIONS.values() if command not in o.commands} & flags


@pytest.mark.parametrize("key,text,value", [("height_m", "1.5", 1.5), ("seed", "7", 7),
                                            ("preset", "quality", "quality"), ("views", "paper", "paper"),
                                            ("models", "inpaint=/m", "inpaint=/m")])
def test_good_values_pass_both_doors_alike(key, text, value):
    o = OPTIONS[key]
    assert from_text(o, text, o.flag) == value
    assert check_value(o, [value] if key == "models" else value, key) == ([value] if key == "models" else value)


def test_job_options_accept_integral_floats_null_defaults_and_a_models_object():
    values = read_options({"seed": 3.0, "fusion_iterations": None, "models": {"inpaint": "/m"}, "overwrite": True})
    assert values["seed"] == 3 and isinstance(values["seed"], int)
    assert values["fusion_iterations"] is None and values["models"] == ["inpaint=/m"] and values["overwrite"] is True
    with pytest.raises(OptionError, match="options.models must be"):
        read_options({"models": {"inpaint": 3}})


def test_a_good_job_reaches_the_pipeline_with_its_options(tmp_path, monkeypatch):
    """The job door hands the checked values on: overwrite to the output's claim, the rest to DigitizeOptions."""
    from backend import job, pipeline
    from backend.progress import Progress

    (tmp_path / "photo.jpg").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("x")  # replaced only because the job says overwrite
    (tmp_path / "job.json").write_text(json.dumps({"version": 1, "command": "digitize", "photo": "photo.jpg",
                                                   "options": {"seed": 5, "height_m": 1.6, "overwrite": True}}))
    seen = []
    monkeypatch.setattr(pipeline, "run_digitize", lambda photo, out, options, progress: seen.append(
        (photo, out, options)) or {})
    job.run_job(tmp_path, Progress(quiet=True))
    photo, out, options = seen[0]
    assert (photo, out) == (tmp_path / "photo.jpg", tmp_path / "out")
    assert (options.seed, options.height_m, options.preset) == (5, 1.6, "fast")
    (tmp_path / "job.json").write_text(json.dumps({"command": "digitize", "photo": "photo.jpg"}))
    with pytest.raises(opts.UserError, match="not a result of this program"):
        job.run_job(tmp_path, Progress(quiet=True))
    assert len(seen) == 1 and (tmp_path / "out" / "mine.txt").is_file()


def test_cli_refusal_happens_before_the_pipeline_is_imported():
    """The heavy imports (torch, the stages) come after the check: a refusal takes well under a second or two."""
    t0 = time.monotonic()
    r = run_cli("shape", SAMPLE, "--out", "/nonexistent/never", "--height", "0")
    assert r.returncode == 2 and time.monotonic() - t0 < 5
    code = ("import sys; from backend import cli; cli.build_parser().parse_args(sys.argv[1:]); "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, "shape", str(SAMPLE), "--out", "o"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr
