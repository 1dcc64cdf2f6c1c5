"""Multi-view synthesis: the views the photo never saw, one after another (DESIGN.md, "The method")."""

from __future__ import annotations

from ..errors import UserError, brief
from ..notes import Note
from .aggregate import Aggregate, SupportView, aggregate
from .diffusion import DiffusionInpainter, normals_to_controlnet
from .inpaint import ClassicalInpainter, Inpainter, InpaintRequest, view_word
from .multiview import SynthesizedView, finish_view, synthesize_views
from .start_views import limb_source, make_back_view, make_photo_view

INPAINTERS = ("auto", "classical", "diffusion")

__all__ = [
    "Aggregate", "ClassicalInpainter", "DiffusionInpainter", "InpaintRequest", "Inpainter", "SupportView",
    "SynthesizedView", "aggregate", "choose_inpainter", "finish_view", "limb_source", "make_back_view",
    "make_photo_view", "normals_to_controlnet", "synthesize_views", "view_word",
]


def choose_inpainter(name: str, preset, device: str, *, models_dir=None, models=None, steps: int | None = None,
                     offload: bool = False) -> tuple[Inpainter, list[Note]]:
    """The inpainter to use and plain-language warnings about the choice (missing weights are never silent).

    "auto": the diffusion inpainter when the `inpaint` and `controlnet_normal` models are on
    disk (backend/models/registry.py says where they are looked for), else the classical one
    with a note naming what is missing and how to get it. "diffusion": those models or a
    UserError. "classical": always the classical one. `models` are `--model KEY=ID_OR_FOLDER`
    overrides, `models_dir` a folder with one sub-folder per role, `steps` overrides the
    preset's diffusion steps, `offload` keeps only the running model on the GPU.
    """
    if name not in INPAINTERS:
        raise UserError(f"unknown inpainter {name!r}: use one of {', '.join(INPAINTERS)}")
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    if name == "classical":
        return ClassicalInpainter(), []

    from ..models.registry import DIFFUSION_ROLES, ModelSources, missing_note

    sources = ModelSources.from_options(models_dir, models)
    notes = sources.warnings()
    folders = {k: sources.resolve(k)[0] for k in (*DIFFUSION_ROLES, "controlnet_silhouette")}
    absent = [k for k in DIFFUSION_ROLES if folders[k] is None]
    if absent:
        if name == "diffusion":
            raise UserError(f"--inpainter diffusion: {missing_note(absent, sources)}")
        notes.append(Note(f"{missing_note(absent, sources)}; until then the views the photo did not see are filled "
                          "by the classical inpainter (smooth, without new detail)", "diffusion_models_missing"))
        return ClassicalInpainter(), notes
    from .diffusion import build_diffusion_inpainter

    try:
        inpainter = build_diffusion_inpainter(folders, preset, device, steps=steps, offload=offload)
    except Exception as e:  # broken or incomplete weights: say which, never a silent downgrade
        why = brief(e)
        where = ", ".join(f"{k} from {folders[k]}" for k in DIFFUSION_ROLES)
        if name == "diffusion":
            raise UserError(f"the diffusion models could not be loaded ({why}; {where}); delete the broken "
                            "folder and fetch it again with `python3 install_deps.py --models`") from None
        notes.append(Note(f"the diffusion models could not be loaded ({why}; {where}): the classical inpainter is "
                          "used instead; delete the broken folder and fetch it again with `python3 install_deps.py "
                          "--models`", "diffusion_models_broken"))
        return ClassicalInpainter(), notes
    if offload and not str(device).startswith("cuda"):
        notes.append(Note("--offload only applies on a CUDA GPU; ignored on the CPU", "offload_ignored"))
    return inpainter, notes
