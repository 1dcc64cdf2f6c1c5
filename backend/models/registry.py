"""The model roles the backend can use, their public defaults, and where their weights are found.

No torch and no diffusers here (the download tool and the CLI import this); loading is in
`backend.models.loading`. See docs/models.md for the roles, their licences and sizes.

Where a role's weights come from, first match wins:
1. `--model KEY=VALUE`: VALUE is a folder (a diffusers `save_pretrained` folder), or a hub id
   that must already be on this machine: in the models cache (`install_deps.py --models`) or
   in the Hugging Face cache. Nothing is ever downloaded at run time.
2. `--models-dir DIR`: the folder `DIR/<key>/`.
3. the models cache (`install_deps.py --models`): `$PHOTO_DIGITIZE_MODELS/<key>/`, by
   default `~/.cache/photo-digitize/models/<key>/`.
A role found nowhere resolves to None and the caller falls back, saying so.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..notes import Note

MODELS_ENV = "PHOTO_DIGITIZE_MODELS"
DEFAULT_MODELS_DIR = Path("~/.cache/photo-digitize/models")
MANIFEST_NAME = "photo-digitize-model.json"  # written by the download tool into each role folder
GET_MODELS = "python3 install_deps.py --models"

PIPELINE = "pipeline"  # a whole diffusers pipeline folder (model_index.json + component folders)
MODEL = "model"  # one diffusers model folder (config.json + weights)


@dataclass(frozen=True)
class ModelRole:
    key: str
    kind: str  # PIPELINE or MODEL
    default_id: str  # public Hugging Face hub id
    what: str  # plain words for notes and docs
    licence: str
    download_by_default: bool  # fetched by a plain `install_deps.py --models`
    # The hub commit `install_deps.py --models` downloads (docs/models.md); None where no public hash was
    # found: the download then takes the repository's current commit and records it, saying it is unpinned.
    revision: str | None = None
    skip_components: tuple[str, ...] = ()  # pipeline sub-folders never fetched nor loaded

    @property
    def marker(self) -> str:
        """The file whose presence makes a folder count as this role's."""
        return "model_index.json" if self.kind == PIPELINE else "config.json"


ROLES: dict[str, ModelRole] = {r.key: r for r in (
    ModelRole("inpaint", PIPELINE, "stable-diffusion-v1-5/stable-diffusion-inpainting",
              "Stable Diffusion 1.5 inpainting (UNet, VAE, CLIP text encoder, tokenizer, scheduler)",
              "CreativeML OpenRAIL-M", True, skip_components=("safety_checker", "feature_extractor")),
    ModelRole("controlnet_normal", MODEL, "lllyasviel/control_v11p_sd15_normalbae",
              "ControlNet 1.1 normal-map guidance (trained on NormalBAE normals)", "OpenRAIL", True,
              revision="cb7296e6587a219068e9d65864e38729cd862aa8"),
    ModelRole("controlnet_silhouette", MODEL, "lllyasviel/control_v11p_sd15_seg",
              "ControlNet 1.1 segmentation guidance, fed the silhouette as ADE20K's person class (optional)",
              "OpenRAIL", False),
    ModelRole("normals", PIPELINE, "prs-eth/marigold-normals-v1-1",
              "Marigold normals estimator (the shape stage's front relief: nose, chest, folds)",
              "RAIL++-M (weights)", False, revision="09cfdd258cb281fa006cf1afcd2284376d16687d"),
)}

# The roles the diffusion inpainter cannot run without.
DIFFUSION_ROLES = ("inpaint", "controlnet_normal")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def role(key: str) -> ModelRole:
    try:
        return ROLES[key]
    except KeyError:
        raise UserError(f"unknown model role {key!r}: use one of {', '.join(ROLES)}") from None


def default_models_dir() -> Path:
    """The models cache that `install_deps.py --models` fills ($PHOTO_DIGITIZE_MODELS overrides)."""
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else DEFAULT_MODELS_DIR.expanduser()


def parse_model_override(text: str) -> tuple[str, str]:
    """"KEY=ID_OR_FOLDER" -> (key, value); UserError for anything else."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise UserError(f"--model wants KEY=ID_OR_FOLDER (KEY one of {', '.join(ROLES)}), got {text!r}")
    role(key)
    return key, value


def parse_model_overrides(items: Iterable[str] | dict | None) -> dict[str, str]:
    if not items:
        return {}
    if isinstance(items, dict):
        pairs = [(k, str(v)) for k, v in items.items()]
        for k, _ in pairs:
            role(k)
        return dict(pairs)
    return dict(parse_model_override(t) for t in items)


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}


def is_role_folder(folder: Path, key: str) -> bool:
    return (folder / role(key).marker).is_file()


@contextmanager
def offline() -> Iterator[None]:
    """Nothing below may reach the network: the Hugging Face libraries' offline switches, on.

    huggingface_hub reads HF_HUB_OFFLINE when it is imported, so its constant is set too.
    """
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
             "DO_NOT_TRACK")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({n: "1" for n in names})
    constants: Any
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - the environment always has it
        constants = None
    saved_const = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v
        if constants is not None:
            constants.HF_HUB_OFFLINE = saved_const


def _from_caches(key: str, hub_id: str, cache_dir: Path) -> Path | None:
    """A hub id that is already on this machine: our models cache first, then Hugging Face's."""
    if cache_dir.is_dir():
        for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir()):
            if read_manifest(folder).get("repo_id") == hub_id and is_role_folder(folder, key):
                return folder
    try:
        from huggingface_hub import snapshot_download

        with offline():
            path = Path(snapshot_download(hub_id, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError and friends): never a download
        return None
    return path if is_role_folder(path, key) else None


@dataclass
class ModelSources:
    """Where to look for weights: the user's overrides, a models folder, and the models cache."""

    overrides: dict[str, str]
    models_dir: Path | None = None
    cache_dir: Path | None = None  # None: default_models_dir()

    @classmethod
    def from_options(cls, models_dir=None, models=None, cache_dir=None) -> ModelSources:
        md = Path(models_dir).expanduser() if models_dir else None
        if md is not None and not md.is_dir():
            raise UserError(f"--models-dir {md}: no such folder")
        return cls(parse_model_overrides(models), md, Path(cache_dir).expanduser() if cache_dir else None)

    @property
    def cache(self) -> Path:
        return self.cache_dir or default_models_dir()

    def resolve(self, key: str) -> tuple[Path | None, str]:
        """(folder, where it came from) for one role; (None, "") when it is nowhere."""
        r = role(key)
        if key in self.overrides:
            value = self.overrides[key]
            path = Path(value).expanduser()
            if path.exists():
                if not is_role_folder(path, key):
                    raise UserError(f"--model {key}={value}: the folder has no {r.marker}; give a diffusers "
                                    f"save_pretrained folder of {r.what}")
                return path.resolve(), f"--model {key}"
            if not _HUB_ID.match(value):
                raise UserError(f"--model {key}={value}: no such folder")
            found = _from_caches(key, value, self.cache)
            if found is None:
                raise UserError(f"--model {key}={value}: {value} is not on this machine (nothing is downloaded at run "
                                f"time); get it with `{GET_MODELS}` (the default ids) or give a folder")
            return found.resolve(), f"--model {key} ({value}, cached)"
        for base, where in ((self.models_dir, "--models-dir"), (self.cache, "models cache")):
            if base is not None and is_role_folder(base / key, key):
                return (base / key).resolve(), where
        return None, ""

    def resolve_all(self, keys: Iterable[str]) -> dict[str, Path | None]:
        return {k: self.resolve(k)[0] for k in keys}

    def warnings(self) -> list[Note]:
        """Folders inside --models-dir that are no role's (a typo would otherwise go unnoticed)."""
        if self.models_dir is None or not self.models_dir.is_dir():
            return []
        out: list[Note] = []
        for p in sorted(self.models_dir.iterdir()):
            if p.is_dir() and not p.name.startswith(".") and p.name not in ROLES:
                out.append(Note(f"--models-dir {self.models_dir}: the folder {p.name!r} is not a model role and is "
                                f"ignored (roles: {', '.join(ROLES)})", "models_folder_stray"))
        return out


def missing_note(keys: Iterable[str], sources: ModelSources) -> str:
    keys = list(keys)
    names = ", ".join(f"{k} ({ROLES[k].default_id})" for k in keys)
    where = f"{sources.models_dir}/<role>/ or " if sources.models_dir else ""
    # A plain `--models` fetches the default roles only; the others must be named.
    how = GET_MODELS if all(ROLES[k].download_by_default for k in keys) else f"{GET_MODELS} {','.join(keys)}"
    return (f"missing model weights for {names}: looked in {where}{sources.cache}/<role>/; "
            f"get them once with `{how}`")
