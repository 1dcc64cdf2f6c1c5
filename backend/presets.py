"""Complete recipes the user picks by name (`--preset`): one place that lists every knob.

quality follows the paper's settings (25 diffusion steps, guidance 15, LPIPS + 10 L1 fusion);
fast trades some of it for time on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    view_resolution: int  # pixels of each synthesized view (square)
    fusion_iterations: int  # Adam steps of the texture optimisation
    perceptual_resolution: int  # views are resized to this for the perceptual loss
    diffusion_steps: int
    guidance_scale: float
    # How much of the classical back view the diffusion model redraws (img2img strength: 0
    # keeps it, 1 ignores it). High enough to turn the carried-round front into a back with
    # its own folds and hair; low enough to keep its colours and layout.
    back_refine_strength: float


PRESETS = {
    "fast": Preset("fast", view_resolution=512, fusion_iterations=40, perceptual_resolution=224,
                   diffusion_steps=20, guidance_scale=7.5, back_refine_strength=0.6),
    "quality": Preset("quality", view_resolution=512, fusion_iterations=200, perceptual_resolution=512,
                      diffusion_steps=25, guidance_scale=15.0, back_refine_strength=0.6),
}
