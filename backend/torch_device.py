"""Which torch device a job runs on: `auto` takes CUDA where it works, else the CPU."""

from __future__ import annotations

from .errors import UserError


def resolve_device(requested: str = "auto") -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available to torch; use --device cpu")
    if requested not in ("cpu", "cuda"):
        raise UserError(f"unknown device {requested!r}: use auto, cpu or cuda")
    return requested
