"""Which downloaded models are on this computer, asked without the backend (standard library only).

The panel greys out the Prompt when the diffusion models are absent: the prompt only steers
them. The rule is the backend's (backend/models/registry.py: a role's folder holds its marker
file, in the Models Folder or else the models cache); a test holds the two together.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MODELS_ENV = "PHOTO_DIGITIZE_MODELS"
DEFAULT_MODELS_DIR = Path("~/.cache/photo-digitize/models")
DIFFUSION_MARKERS = {"inpaint": "model_index.json", "controlnet_normal": "config.json"}
RECHECK_S = 2.0  # the panel redraws often; the disk is asked at most this often

_cache: dict = {}


def models_cache() -> Path:
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else DEFAULT_MODELS_DIR.expanduser()


def _present(folders: tuple[Path, ...]) -> bool:
    return all(any((base / key / marker).is_file() for base in folders) for key, marker in DIFFUSION_MARKERS.items())


def diffusion_models_present(models_dir: Path | None) -> bool:
    """True when every role the diffusion inpainter needs is in the folder the backend will look in: the
    preferences' Models Folder (the add-on also makes it the backend's cache), else the models cache."""
    folders = (Path(models_dir),) if models_dir else (models_cache(),)
    now = time.monotonic()
    hit = _cache.get(folders)
    if hit is not None and now - hit[0] < RECHECK_S:
        return hit[1]
    found = _present(folders)
    _cache[folders] = (now, found)
    return found
