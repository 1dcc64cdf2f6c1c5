"""Turn per-view scores into what the evaluation prints and writes: group tables, CSV, a figure.

Rows are dicts: figure, azimuth, group, method, psnr_db, ssim, lpips (None without weights), iou.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import numpy as np

from .groundtruth import GROUPS

METRICS = ("psnr_db", "ssim", "lpips", "iou")
FORMATS = {"psnr_db": "{:.2f}", "ssim": "{:.3f}", "lpips": "{:.3f}", "iou": "{:.3f}"}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(rows: list[dict], methods: list[str]) -> list[dict]:
    """Mean of every metric over all figures and views in each group (and all views), per method."""
    out = []
    for group in (*GROUPS, "all"):
        for method in methods:
            sel = [r for r in rows if r["method"] == method and (group == "all" or r["group"] == group)]
            if sel:
                out.append({"group": group, "method": method, "views": len(sel),
                            **{m: _mean([r[m] for r in sel]) for m in METRICS}})
    return out


def figure_table(rows: list[dict]) -> list[dict]:
    """One row per figure: "PSNR / SSIM ours vs mirror" in each view group (means over its views)."""
    out = []
    for figure in dict.fromkeys(r["figure"] for r in rows):
        row = {"figure": figure}
        for group in GROUPS:
            cells = []
            for method in ("ours", "mirror"):
                sel = [r for r in rows if r["figure"] == figure and r["group"] == group and r["method"] == method]
                if sel:
                    cells.append(f"{_mean([r['psnr_db'] for r in sel]):.2f}/{_mean([r['ssim'] for r in sel]):.3f}")
            row[group] = " vs ".join(cells)
        out.append(row)
    return out


def stage_times(timings: list[dict]) -> list[dict]:
    """Median seconds per pipeline stage over the figures (one row per stage)."""
    stages = list(dict.fromkeys(k for t in timings for k in t))
    return [{"stage": s, "median_s": statistics.median(t[s] for t in timings if s in t),
             "max_s": max(t[s] for t in timings if s in t)} for s in stages]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return path


def to_uint8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def contact_sheet(tiles: list[list[np.ndarray]], labels: list[list[str]], size: int) -> np.ndarray:
    """Rows of equally sized RGB tiles (float [0, 1] or uint8), each resized to `size` and labelled."""
    import cv2

    from backend.export.preview import label_tile

    rows = []
    for tile_row, label_row in zip(tiles, labels, strict=True):
        cells = []
        for tile, text in zip(tile_row, label_row, strict=True):
            t = tile if tile.dtype == np.uint8 else to_uint8(tile)
            t = np.ascontiguousarray(cv2.resize(t, (size, size), interpolation=cv2.INTER_AREA))
            if text:
                label_tile(t, text)
            cells.append(t)
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)
