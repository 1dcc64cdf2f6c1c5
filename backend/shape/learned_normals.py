"""The person's front normal map from a learned monocular estimator: Marigold normals (diffusers).

The pipeline comes from a folder the model registry found (role `normals`, docs/models.md),
loaded by `backend.models.loading.load_normals_pipeline` (safetensors only, offline, no
remote code, fp16 on CUDA, fp32 on the CPU). It runs once per photo, deterministically: one
ensemble member, a fixed seed on a CPU generator, the model's own step count and processing
resolution unless told otherwise, and its prediction is resized back to the working image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# When the model's config names none (Marigold normals v1-1 names 4 steps at 768 px).
DEFAULT_STEPS = 4
DEFAULT_PROCESSING_RESOLUTION = 768

# Marigold's normal frame -> ours, the one place it is converted. Checked in the installed
# diffusers 0.42.1, diffusers/pipelines/marigold/marigold_image_processing.py, the docstring of
# MarigoldImageProcessor.visualize_normals (lines 499-503), which names the frame the
# predictions are in: x "Default direction is right", y "Default direction is top", z "Default
# direction is facing the observer". That is our camera space (x right, y up, z toward the
# camera; docs/conventions.md), so every axis keeps its sign. (The pipeline's decode_prediction
# agrees: without use_full_z_range it maps z into [0, 1], the half facing the viewer.)
# `rim_agreement` (normal_integration.py) re-checks the x/y signs on every photo.
MARIGOLD_TO_CAMERA = np.array([1.0, 1.0, 1.0])


def marigold_to_camera(prediction: np.ndarray) -> np.ndarray:
    """Marigold's (H, W, 3) prediction in [-1, 1] -> unit normals in our camera convention."""
    n = np.asarray(prediction, np.float64) * MARIGOLD_TO_CAMERA
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


class MarigoldNormals:
    """Loads the pipeline at construction (errors surface there) and predicts one normal map per call."""

    name = "marigold"

    def __init__(self, folder: Path, device: str = "cpu", *, steps: int | None = None,
                 processing_resolution: int | None = None, seed: int = 0):
        from ..models.loading import load_normals_pipeline

        self.folder = Path(folder)
        self.device = str(device)
        self.seed = seed
        self.pipe = load_normals_pipeline(self.folder, self.device)
        # The model's own choices (model_index.json) unless told otherwise.
        self.steps = int(steps or getattr(self.pipe, "default_denoising_steps", None) or DEFAULT_STEPS)
        res = (processing_resolution or getattr(self.pipe, "default_processing_resolution", None)
               or DEFAULT_PROCESSING_RESOLUTION)
        f = int(self.pipe.vae_scale_factor)
        self.processing_resolution = max(f, int(res) // f * f)  # the pipeline wants a multiple of its VAE factor

    def predict(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Working RGB (H, W, 3, uint8) -> (H, W, 3) unit normals in our convention; (0, 0, 1) off the mask."""
        import torch
        from PIL import Image

        if rgb is None:
            raise ValueError("the normals model needs the photo's pixels")
        image = Image.fromarray(np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., :3]))
        generator = torch.Generator("cpu").manual_seed(self.seed)
        with torch.inference_mode():
            out = self.pipe(image, num_inference_steps=self.steps, ensemble_size=1,
                            processing_resolution=self.processing_resolution, match_input_resolution=True,
                            generator=generator, output_type="np")
        prediction = np.asarray(out.prediction, np.float64)[0]  # (H, W, 3)
        if prediction.shape[:2] != tuple(np.shape(mask)):
            raise ValueError(f"the normals model answered {prediction.shape[:2]} for a {np.shape(mask)} image")
        if not np.isfinite(prediction).all():
            raise ValueError("the normals model's prediction is not finite")
        normals = marigold_to_camera(prediction)
        normals[~np.asarray(mask, bool)] = (0.0, 0.0, 1.0)
        return normals

    def close(self) -> None:
        """Free the pipeline (gigabytes) once the shape is made."""
        self.pipe = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
