"""Multi-view synthesis: the views the photo never saw, one after another (DESIGN.md, "The method")."""

from __future__ import annotations

from ..errors import UserError
from .aggregate import Aggregate, SupportView, aggregate
from .inpaint import ClassicalInpainter, Inpainter, InpaintRequest, view_word
from .multiview import SynthesizedView, finish_view, synthesize_views
from .views import make_back_view, make_photo_view

INPAINTERS = ("auto", "classical", "diffusion")

__all__ = [
    "Aggregate", "ClassicalInpainter", "InpaintRequest", "Inpainter", "SupportView", "SynthesizedView",
    "aggregate", "choose_inpainter", "finish_view", "make_back_view", "make_photo_view", "synthesize_views",
    "view_word",
]


def choose_inpainter(name: str, preset, device: str) -> tuple[Inpainter, list[str]]:
    """The inpainter to use and plain-language notes on why (missing weights are never silent)."""
    if name not in INPAINTERS:
        raise UserError(f"unknown inpainter {name!r}: use one of {', '.join(INPAINTERS)}")
    if name == "diffusion":
        raise UserError("the diffusion inpainter is not available in this version yet; use --inpainter classical")
    notes = []
    if name == "auto":
        notes.append("no diffusion inpainting weights are available in this version: the views the photo "
                     "did not see are filled by the classical inpainter (smooth, without new detail)")
    return ClassicalInpainter(), notes
