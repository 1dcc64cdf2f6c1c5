"""The backend's warnings in an artist's words, with the button that fixes each (standard library only).

The backend writes its warnings for the command line (they name flags and `install_deps.py`)
and tags each with a stable code (backend/notes.py, docs/job.md). The add-on keys its own
words on that code, never on the English, so either side can reword freely; a test holds the
two code lists together. A warning without a known code keeps the backend's text, with any
command-line advice cut off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .installer import MODELS_DOWNLOAD_SIZE

DOWNLOAD_MODELS = "models"  # the preferences' Download Models button
INSTALL_BACKEND = "backend"  # the preferences' Install / Update Backend button
FIX_LABELS = {DOWNLOAD_MODELS: "Download Models", INSTALL_BACKEND: "Install / Update Backend"}


@dataclass(frozen=True)
class Note:
    code: str
    text: str
    fix: str = ""  # "", DOWNLOAD_MODELS or INSTALL_BACKEND


WORDS = {
    "diffusion_models_missing": (
        "The hidden sides were filled in smoothly, without new detail: the diffusion models are not downloaded "
        f"yet. Download Models adds them ({MODELS_DOWNLOAD_SIZE}, once).", DOWNLOAD_MODELS),
    "diffusion_models_broken": (
        "The diffusion models could not be loaded, so the hidden sides were filled in smoothly. Delete the broken "
        "model folder in the Models Folder, then press Download Models.", DOWNLOAD_MODELS),
    "lpips_missing": (
        "The views were blended into the texture with a simpler comparison: the LPIPS model is not downloaded "
        "yet. Download Models adds it.", DOWNLOAD_MODELS),
    "lpips_unofficial": (
        "The LPIPS model file on this computer is not the expected one; the texture may blend a little "
        "differently.", ""),
    "segmenter_missing": (
        "The person was cut out of the photo without the person detector: check the outline. Install / Update "
        "Backend adds the detector.", INSTALL_BACKEND),
    "body_fit_failed": (
        "No 3D body could be fitted to this photo{why}, so the shape is flat, made from the outline. A photo of "
        "the whole person, standing and facing the camera, works best.", ""),
    "body_model_missing": (
        "The body model is not installed, so the shape is flat, made from the outline. Install / Update Backend "
        "installs it.", INSTALL_BACKEND),
    "normals_model_broken": (
        "The surface-detail (normals) model could not be loaded, so the shape has no extra relief: delete its "
        "broken folder in the Models Folder.", ""),
    "mesh_converted": ("Your mesh was converted: {message}.", ""),
    "models_folder_stray": ("A folder in the Models Folder is not one of the models and was ignored: check its "
                            "name.", ""),
    "offload_ignored": ("Offloading only helps on an NVIDIA GPU, so it was ignored.", ""),
    "no_rig": ("No rig was added: a rig needs a 3D body fitted to the photo.", ""),
    "rest_pose_ignored": ("The person is in the photo's pose: the A-pose or T-pose needs a rig.", ""),
    "mesh_photo_mismatch": ("The photo and the mesh do not match (seen from the photo's camera their outlines "
                            "differ): the texture was made anyway; check that this is the person's photo and mesh.",
                            ""),
}


def without_commands(text: str) -> str:
    """The text with every clause that gives command-line advice (a `backquoted` command, a --flag) cut off."""
    clauses = re.split(r"(?<=[;.:])\s+", text.strip())
    kept = [c for c in clauses if "`" not in c and not re.search(r"(^|\s)--\w", c)]
    out = " ".join(kept).rstrip(";:,. ") or "The backend reported a problem"
    return out[:1].upper() + out[1:] + "."


def _why_no_body(message: str) -> str:
    """The backend's reason before its ': no 3D body was fitted' (plain words), as ' (reason)'."""
    head = message.split(": no 3D body was fitted")[0] if "no 3D body was fitted" in message else ""
    return f" ({head})" if head and "`" not in head else ""


def artist_note(code: str | None, message: str) -> Note:
    if code not in WORDS:
        return Note(code or "", without_commands(message))
    text, fix = WORDS[code]
    return Note(code, text.format(why=_why_no_body(message), message=message.strip().rstrip(".")), fix)


def artist_notes(warnings) -> list[Note]:
    """(code, message) pairs -> one note per code, in the order they came (a fallback may warn twice)."""
    notes, seen = [], set()
    for code, message in warnings:
        note = artist_note(code, message)
        key = note.code or note.text
        if key not in seen:
            seen.add(key)
            notes.append(note)
    return notes
