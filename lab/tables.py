"""Markdown tables and a one-line machine description, for the benchmark and the evaluation."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def table(rows: list[dict], fmt: dict | None = None) -> str:
    """Rows (dicts with the same keys) as a Markdown table; `fmt` maps a key to a format string.
    None prints as "n/a"."""
    fmt = fmt or {}
    keys = list(rows[0].keys())
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = ["n/a" if r[k] is None else
                 fmt.get(k, "{:.2f}" if isinstance(r[k], float) else "{}").format(r[k]) for k in keys]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    import torch

    return (f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__.split('+')[0]} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")
