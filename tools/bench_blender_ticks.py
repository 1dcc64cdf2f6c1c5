"""Time on Blender's UI thread to build a digitize result, piece by piece (one piece per timer tick).

    .venv/bin/python tools/bench_blender_ticks.py out/sample                  # the venv's Blender
    PYTHONPATH=.venv/blender/4.5.4 .venv/bin/python tools/bench_blender_ticks.py out/sample

OUT_DIR is a finished `digitize` output. Builds the result `--builds` times in this bpy process
(a fresh empty scene each time) with `scene_result.build_result_steps`, as the add-on's timer
does, and prints one table row: the first build's longest piece (first-use costs inside Blender),
then the median over the other builds of the longest piece and of all pieces together.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from backend.tables import table  # noqa: E402
from blender_addon import scene_result  # noqa: E402


def build_once(out_dir: Path, name: str) -> list[float]:
    """Milliseconds of each piece of one build."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    steps = scene_result.build_result_steps(bpy.context, scene_result.load_result_files(out_dir), name)
    ticks, done = [], False
    while not done:
        t0 = time.perf_counter()
        try:
            next(steps)
        except StopIteration:  # the last piece runs in the call that ends the generator
            done = True
        ticks.append((time.perf_counter() - t0) * 1000)
    return ticks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path, help="a finished digitize output folder")
    ap.add_argument("--builds", type=int, default=7)
    args = ap.parse_args(argv)
    if not (args.out_dir / "result.json").is_file():
        print(f"error: {args.out_dir} is not a finished digitize output (no result.json)", file=sys.stderr)
        return 2
    runs = [build_once(args.out_dir, f"bench{i}") for i in range(max(2, args.builds))]
    warm = runs[1:]
    row = {"blender": bpy.app.version_string, "pieces": len(runs[0]),
           "first_build_longest_ms": max(runs[0]),
           "longest_ms": statistics.median(max(r) for r in warm),
           "all_pieces_ms": statistics.median(sum(r) for r in warm)}
    print(table([row], {"pieces": "{}", "first_build_longest_ms": "{:.1f}", "longest_ms": "{:.1f}",
                        "all_pieces_ms": "{:.1f}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
