"""Learned models: which roles exist, where their weights are found, how they are loaded (docs/models.md).

`registry` needs no torch (the CLI and the download tool use it); `loading` imports diffusers.
"""

from .registry import (
    DIFFUSION_ROLES,
    GET_MODELS,
    MODELS_ENV,
    ROLES,
    ModelRole,
    ModelSources,
    default_models_dir,
    missing_note,
    offline,
    parse_model_override,
    parse_model_overrides,
)

__all__ = [
    "DIFFUSION_ROLES", "GET_MODELS", "MODELS_ENV", "ROLES", "ModelRole", "ModelSources", "default_models_dir",
    "missing_note", "offline", "parse_model_override", "parse_model_overrides",
]
