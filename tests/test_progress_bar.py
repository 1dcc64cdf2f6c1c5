"""The add-on's progress bar follows the run's time, not the count of its stages (issue 17, item 3): the
backend's stages carry their share of a usual run (pipeline.Stage.weight), the add-on's bar reads it
(blender_addon/progress_words.py: StageSpan, run_fraction)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

from backend.pipeline import DIGITIZE_STAGES, SHAPE_STAGES
from backend.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def _words():
    spec = importlib.util.spec_from_file_location("progress_words", ROOT / "blender_addon" / "progress_words.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("progress_words", module)  # its dataclasses look their module up
    spec.loader.exec_module(sys.modules["progress_words"])  # stands alone: no bpy, no backend
    return sys.modules["progress_words"]


def _bar(events: list[dict]) -> list[float]:
    """The bar after each event, as the add-on's job runner moves it."""
    words = _words()
    fraction, span, out = 0.0, words.StageSpan(), []
    for e in events:
        data = {k: v for k, v in e.items() if k not in ("type", "message")}
        if e["type"] == "stage":
            span = words.StageSpan.from_event(data)
        if e["type"] in ("stage", "progress"):
            fraction = words.run_fraction(fraction, span, e["type"], data)
        out.append(fraction)
    return out


def _run_events(stages, seconds: dict) -> list[dict]:
    """The events of a run whose stages take `seconds`, with the views' and fusion's own steps."""
    from backend.pipeline import run_stages

    stream = io.StringIO()
    progress = Progress(stream, jsonl=True)
    total = sum(seconds.values())

    class FakeRun:
        pass

    run = FakeRun()
    run.progress = progress
    clock = []

    def timed(stage):
        def step(_run):
            clock.append((stage.name, seconds[stage.name] / total))
            if stage.name in ("views", "fusion"):
                for i in range(1, 5):
                    progress.emit("progress", f"{stage.name} {i}/4", stage=stage.name, index=i, total=4)
        return step

    from dataclasses import replace
    run_stages([replace(s, run=timed(s), after=None, skip=None, what=s.name) for s in stages], run)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_stage_announces_its_share_and_they_fill_the_run():
    for stages in (DIGITIZE_STAGES, SHAPE_STAGES):
        events = _run_events(stages, {s.name: s.weight for s in stages})
        starts = [e for e in events if e["type"] == "stage"]
        assert [e["index"] for e in starts] == list(range(1, len(stages) + 1))
        assert starts[0]["start"] == 0 and all(0 < e["share"] < 1 for e in starts)
        assert abs(starts[-1]["start"] + starts[-1]["share"] - 1) < 1e-3
        done = [e["fraction"] for e in events if "fraction" in e]
        assert done == sorted(done) and abs(done[-1] - 1) < 1e-3


def test_the_bar_follows_the_time_a_usual_run_takes():
    """On a run that takes its stages' usual times, the bar is never more than a few % from the share of
    the time gone by; by the count of stages it was 30 % off (fusion, the longest, is stage 7 of 8)."""
    weights = {s.name: s.weight for s in DIGITIZE_STAGES}
    events = _run_events(DIGITIZE_STAGES, weights)
    bar = _bar(events)
    total, elapsed = sum(weights.values()), 0.0
    worst_weighted = worst_counted = 0.0
    for i, e in enumerate(events):
        if e["type"] == "progress" and "fraction" in e:  # a stage done
            elapsed += weights[e["stage"]]
            worst_weighted = max(worst_weighted, abs(bar[i] - elapsed / total))
            index = [s.name for s in DIGITIZE_STAGES].index(e["stage"]) + 1
            worst_counted = max(worst_counted, abs(index / len(DIGITIZE_STAGES) - elapsed / total))
    assert worst_weighted < 0.01 and worst_counted > 0.2
    assert bar == sorted(bar) and abs(bar[-1] - 1) < 1e-3


def test_a_backend_without_shares_still_moves_the_bar_by_stage_count():
    """Events as older backends (and the background Blender of Re-texture) send them: index of total."""
    bar = _bar([{"type": "stage", "stage": "maps", "index": 2, "total": 4},
                {"type": "progress", "stage": "views", "index": 1, "total": 2},
                {"type": "stage", "stage": "maps", "index": 1, "total": 4},  # a second process starts over
                {"type": "progress", "stage": "maps", "fraction": 0.75}])
    assert bar == [0.25, 0.375, 0.375, 0.75]
