"""The xatlas call itself, run in a child process by backend/uv/atlas.py.

xatlas 0.0.11 can crash the whole interpreter (a segfault, no Python exception) on very
regular meshes, e.g. a finely subdivided icosphere (upstream jpcy/xatlas#146). Running it
here lets the job see the crash as an exit status, retry, and explain, instead of dying
without a word. Only numpy and xatlas are imported, so the child starts in a blink.

    python -m backend.uv.xatlas_child IN.npz OUT.npz
"""

from __future__ import annotations

import sys

import numpy as np


def generate(vertices: np.ndarray, faces: np.ndarray, resolution: int, padding: int,
             max_chart_area: float) -> dict:
    """Chart and pack one mesh: the arrays xatlas gives back, plus its chart count and utilization."""
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices.astype(np.float32), faces.astype(np.uint32))
    chart_options = xatlas.ChartOptions()
    # Unbounded chart growing costs xatlas about a minute on a 60k-face body; one growing
    # pass and charts of at most 1/25 of the surface bring that to about 2 s (docs/benchmarks.md).
    chart_options.max_iterations = 0
    chart_options.max_chart_area = max_chart_area
    pack_options = xatlas.PackOptions()
    pack_options.resolution = resolution
    pack_options.padding = padding
    pack_options.bilinear = True
    atlas.generate(chart_options, pack_options)
    vmapping, indices, uvs = atlas[0]
    return {"vmapping": vmapping, "indices": indices, "uvs": uvs,
            "chart_count": np.int64(atlas.chart_count), "utilization": np.float64(atlas.utilization)}


def main(argv: list[str]) -> int:
    src, dst = argv
    with np.load(src) as job:
        out = generate(job["vertices"], job["faces"], int(job["resolution"]), int(job["padding"]),
                       float(job["max_chart_area"]))
    np.savez(dst, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
