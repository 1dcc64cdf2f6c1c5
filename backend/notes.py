"""Warnings for people with a code for programs.

The backend's warnings are written for the command line (they name flags and commands). A
`Note` is such a text that also carries a stable `code`; `Progress.warning` puts the code into
the `warning` event (docs/job.md), so the Blender add-on can say the same thing in its own
words, with its own button, without reading the English. A Note is a `str`: wherever a
plain text goes (logs, result.json, joins), it still does.
"""

from __future__ import annotations

# Every code a warning event may carry; the add-on has words for each (a test holds them together).
CODES = {
    "segmenter_missing": "the person segmenter is not installed: GrabCut cut the person out",
    "body_fit_failed": "no 3D body could be fitted to the photo: the shape is the outline's",
    "body_model_missing": "the body model's packages are not installed: the shape is the outline's",
    "normals_model_broken": "the normals model is on disk but could not be loaded",
    "mesh_converted": "the user's mesh was in other units or Y-up and was converted",
    "diffusion_models_missing": "the diffusion models are not on disk: the classical inpainter ran",
    "diffusion_models_broken": "the diffusion models are on disk but could not be loaded",
    "models_folder_stray": "the models folder holds a folder that is no model's",
    "offload_ignored": "--offload asked for on the CPU",
    "lpips_missing": "the LPIPS weights are not on disk (or broken): the substitute perceptual loss ran",
    "lpips_unofficial": "the LPIPS weights file is not torchvision's",
    "no_rig": "no rig was made: a rig needs the fitted 3D body",
    "rest_pose_ignored": "--rest-pose asked for a neutral pose, but there is no rig: the photo's pose stays",
    "mesh_photo_mismatch": "re-texture: the mesh's outline from the photo's camera does not match the person's",
}


class Note(str):
    """A warning's text (for people) with its `code` (for programs; one of CODES)."""

    code: str

    def __new__(cls, text: str, code: str) -> Note:
        if code not in CODES:
            raise ValueError(f"unknown warning code {code!r}")
        note = super().__new__(cls, text)
        note.code = code
        return note


def code_of(text) -> str | None:
    return getattr(text, "code", None)
