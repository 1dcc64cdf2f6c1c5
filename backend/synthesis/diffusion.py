"""The paper's inpainter: latent-diffusion inpainting guided by the view's normal map (ControlNet).

    DiffusionInpainter(loaded, steps=25, guidance_scale=15.0).inpaint(request) -> image

One call per view (InpaintRequest, see inpaint.py):
1. crop a square around the person (the silhouette's bounding box plus a margin), resize it
   to the model's native size (512 px for SD 1.5; 64 px for the tiny test models);
2. the masked image holds the known body pixels on a plain white background, so the model
   sees exactly what the prompt says (a person on white) and nothing outside the body moves;
3. the inpainting mask is the missing pixels, grown to whole latent cells (8x8 pixels for
   SD): the pipeline shrinks the mask to the latent grid with nearest-neighbour sampling,
   which would otherwise drop one- or two-pixel slivers and let grey fill them;
4. the control image is our normal map converted at the ControlNet's door (see
   `normals_to_controlnet`); with the optional silhouette ControlNet, the silhouette drawn
   in ADE20K's person colour on its wall grey is a second control image;
5. the prompt is fixed but for the view word (`view_word(azimuth)`), plus the user's words;
   guidance, steps and scheduler come from the preset; the noise comes from a seeded CPU
   generator, so the same seed gives the same pixels on any device;
6. the result is resized back and written ONLY into the missing pixels: known pixels are
   returned bit-identical. At the seam, the colour difference between the model's version of
   the known pixels and the real ones (mostly the VAE's slight colour shift) is carried into
   the new pixels and fades out over about one latent cell inside the missing region, so
   no edge shows and no known pixel is touched.

The initial back view is the exception to "only missing pixels": `refine_back` redraws the
whole body of the classical back view (the front carried round, hair on the head) at a
strength below 1 (img2img), guided by the back's normal map, with words that ask for the
back of a head and a negative prompt against faces. The classical view gives colours and
layout; the model gives the back its own folds and hair.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ..imaging import push_pull
from .aggregate import PAPER_MIN_SUPPORT_WEIGHT
from .inpaint import InpaintRequest, view_word

PROMPT = "a photo of a well-dressed person, {view} view, plain white background, best quality"
NEGATIVE_PROMPT = ("lowres, blurry, deformed, bad anatomy, extra limbs, text, watermark, shadow, cropped, "
                   "worst quality, low quality")
# Added for the back view only: the model must draw the back of a head, never a face.
BACK_PROMPT = "seen from behind, back of the head covered with hair"
# When the photo shows a hat (back_view.find_hat; the request's extras["hat"]): the hat continues round the
# back of the head, the hair below it; asked for hair alone, the model paints hair over the hat.
BACK_PROMPT_HAT = "seen from behind, a hat on the back of the head, hair below the hat"
BACK_NEGATIVE_PROMPT = "face, eyes, nose, mouth, front view"

# What the normalbae ControlNet reads where there is no surface: a plane facing the camera,
# (0, 0, 1) in its convention, which is also what Blender-side renderers clear to.
NO_SURFACE = (0.5, 0.5, 1.0)
# ADE20K palette (as drawn by ControlNet 1.1's segmentation annotators): person, and wall for the backdrop.
ADE20K_PERSON = (150 / 255, 5 / 255, 61 / 255)
ADE20K_WALL = (120 / 255, 120 / 255, 120 / 255)

# Preset name -> sampler. quality: DDIM, the latent-diffusion sampler the paper's setting
# (25 steps) assumes; fast: UniPC, good in 10-20 steps.
SCHEDULERS = {"quality": "ddim", "fast": "unipc"}


def normals_to_controlnet(normal: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Our camera-space unit normals -> the control image control_v11p_sd15_normalbae was trained on.

    Ours (backend/conventions.py): x right, y up, z toward the camera. The ControlNet 1.1
    normal model was trained on NormalBAE's estimates, whose colours follow ScanNet's
    protocol: red grows as the surface turns to the image's LEFT, green as it turns up, blue
    as it faces the camera; each channel is (c + 1) / 2. So red = (1 - n_x) / 2,
    green = (1 + n_y) / 2, blue = (1 + n_z) / 2 (docs/models.md has the sources).
    Outside `mask`: NO_SURFACE. Returns (H, W, 3) float32 in [0, 1], RGB.
    """
    n = np.asarray(normal, np.float32)
    out = np.empty(n.shape[:2] + (3,), np.float32)
    out[..., 0] = (1.0 - n[..., 0]) * 0.5
    out[..., 1] = (1.0 + n[..., 1]) * 0.5
    out[..., 2] = (1.0 + n[..., 2]) * 0.5
    out[~np.asarray(mask, bool)] = NO_SURFACE
    return np.clip(out, 0.0, 1.0)


def silhouette_to_segmentation(mask: np.ndarray) -> np.ndarray:
    """The silhouette as an ADE20K segmentation map: person colour on wall grey (for control_v11p_sd15_seg)."""
    m = np.asarray(mask, bool)
    person, wall = np.asarray(ADE20K_PERSON, np.float32), np.asarray(ADE20K_WALL, np.float32)
    return np.where(m[..., None], person, wall).astype(np.float32)


@dataclass(frozen=True)
class Crop:
    """A square window of the image (may reach past its edges; those pixels are padding)."""

    y0: int
    x0: int
    size: int

    def cut(self, arr: np.ndarray, fill) -> np.ndarray:
        h, w = arr.shape[:2]
        out = np.empty((self.size, self.size) + arr.shape[2:], arr.dtype)
        out[...] = fill
        ys, xs, cy, cx = self.overlap(h, w)
        out[cy, cx] = arr[ys, xs]
        return out

    def overlap(self, h: int, w: int) -> tuple[slice, slice, slice, slice]:
        """(image rows, image cols, crop rows, crop cols) of the part inside the image."""
        y1, x1 = max(self.y0, 0), max(self.x0, 0)
        y2, x2 = min(self.y0 + self.size, h), min(self.x0 + self.size, w)
        return (slice(y1, y2), slice(x1, x2), slice(y1 - self.y0, y2 - self.y0), slice(x1 - self.x0, x2 - self.x0))


def person_crop(silhouette: np.ndarray, margin: float = 0.08, min_size: int = 16) -> Crop:
    """The square around the silhouette's bounding box, `margin` of its side added on each side."""
    rows = np.flatnonzero(silhouette.any(axis=1))
    cols = np.flatnonzero(silhouette.any(axis=0))
    y1, y2, x1, x2 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(y2 - y1, x2 - x1)
    size = max(int(np.ceil(side * (1 + 2 * margin))), min_size)
    cy, cx = (y1 + y2) / 2.0, (x1 + x2) / 2.0
    return Crop(int(np.floor(cy - size / 2.0)), int(np.floor(cx - size / 2.0)), size)


def resize(arr: np.ndarray, size: int) -> np.ndarray:
    """Square resize: area averaging when shrinking, bilinear when growing."""
    a = np.ascontiguousarray(arr, np.float32)
    if a.shape[0] == size and a.shape[1] == size:
        return a.copy()
    interp = cv2.INTER_AREA if a.shape[0] > size else cv2.INTER_LINEAR
    out = cv2.resize(a, (size, size), interpolation=interp)
    return out.reshape((size, size) + a.shape[2:])


def latent_cell_mask(mask: np.ndarray, cell: int) -> np.ndarray:
    """Every cell x cell block that holds a masked pixel, masked whole (what survives the latent downsampling)."""
    h, w = mask.shape
    hc, wc = -(-h // cell), -(-w // cell)
    padded = np.zeros((hc * cell, wc * cell), bool)
    padded[:h, :w] = mask
    blocks = padded.reshape(hc, cell, wc, cell).any(axis=(1, 3))
    return np.repeat(np.repeat(blocks, cell, axis=0), cell, axis=1)[:h, :w]


def make_scheduler(kind: str, base_config: dict):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    classes = {"ddim": DDIMScheduler, "unipc": UniPCMultistepScheduler, "dpmsolver++": DPMSolverMultistepScheduler}
    if kind not in classes:
        raise ValueError(f"unknown scheduler {kind!r}: use one of {', '.join(classes)}")
    extra = {"algorithm_type": "dpmsolver++"} if kind == "dpmsolver++" else {}
    return classes[kind].from_config(base_config, **extra)


class DiffusionInpainter:
    """SD-1.5 inpainting + normal ControlNet (+ optional silhouette ControlNet), behind the Inpainter protocol."""

    name = "diffusion"
    min_support_weight = PAPER_MIN_SUPPORT_WEIGHT  # 0.03: the paper's threshold

    def __init__(self, loaded, *, steps: int = 25, guidance_scale: float = 15.0, scheduler: str = "ddim",
                 resolution: int | None = None, controlnet_scale: float = 1.0, silhouette_scale: float = 0.5,
                 margin: float = 0.08, prompt: str = PROMPT, negative_prompt: str = NEGATIVE_PROMPT,
                 back_refine_strength: float = 0.6):
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if not (back_refine_strength == 0.0 or 0.01 <= back_refine_strength <= 1.0):
            raise ValueError("back_refine_strength must be 0 (no redraw) or lie in [0.01, 1]")
        self.loaded = loaded
        self.steps = int(steps)
        self.guidance_scale = float(guidance_scale)
        self.scheduler_kind = scheduler
        self.scheduler = make_scheduler(scheduler, loaded.base_scheduler_config)
        self.resolution = int(resolution or loaded.native_resolution)
        if self.resolution % loaded.size_multiple:
            raise ValueError(f"resolution {self.resolution} must be a multiple of {loaded.size_multiple}")
        self.controlnet_scale = float(controlnet_scale)
        self.silhouette_scale = float(silhouette_scale)
        self.margin = float(margin)
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.back_refine_strength = float(back_refine_strength)

    @property
    def uses_silhouette(self) -> bool:
        return "controlnet_silhouette" in self.loaded.controlnets

    def describe(self) -> str:
        nets = " + ".join(self.loaded.controlnets)
        return (f"diffusion inpainting (SD-1.5 inpainting + {nets}), {self.steps} {self.scheduler_kind} steps, "
                f"guidance {self.guidance_scale:g}, {self.resolution} px, {self.loaded.device} "
                f"{str(self.loaded.dtype).replace('torch.', '')}")

    def prompts(self, request: InpaintRequest) -> tuple[str, str]:
        prompt = self.prompt.format(view=view_word(request.azimuth_deg))
        if request.prompt_extra.strip():
            prompt = f"{prompt}, {request.prompt_extra.strip()}"
        negative = self.negative_prompt
        if request.negative_prompt.strip():
            negative = f"{negative}, {request.negative_prompt.strip()}"
        return prompt, negative

    def control_images(self, normal: np.ndarray, silhouette: np.ndarray) -> list[np.ndarray]:
        """Control images (N, N, 3) in [0, 1], in the order of loaded.controlnets."""
        by_role = {"controlnet_normal": normals_to_controlnet(normal, silhouette),
                   "controlnet_silhouette": silhouette_to_segmentation(silhouette)}
        return [by_role[k] for k in self.loaded.controlnets]

    def _generate(self, image: np.ndarray, mask: np.ndarray, controls: list[np.ndarray], prompt: str,
                  negative: str, seed: int, strength: float = 1.0) -> np.ndarray:
        """One pipeline call at the native size; (N, N, 3) float32 in [0, 1].

        strength < 1 starts from `image` noised part way (img2img) and runs that share of the steps.
        """
        import torch

        def chw(a):
            return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()

        pipe = self.loaded.pipe
        pipe.scheduler = self.scheduler
        n = self.resolution
        control = [chw(c) for c in controls]
        scales = [self.controlnet_scale if k == "controlnet_normal" else self.silhouette_scale
                  for k in self.loaded.controlnets]
        with torch.inference_mode():
            out = pipe(prompt=prompt, negative_prompt=negative, image=chw(image),
                       mask_image=torch.from_numpy(mask.astype(np.float32))[None, None],
                       control_image=control[0] if len(control) == 1 else control, height=n, width=n,
                       strength=strength, num_inference_steps=steps_for_strength(self.steps, strength),
                       guidance_scale=self.guidance_scale,
                       controlnet_conditioning_scale=scales[0] if len(scales) == 1 else scales,
                       generator=torch.Generator("cpu").manual_seed(int(seed) % (2**63)), output_type="np")
        return np.asarray(out.images[0], np.float32)

    def inpaint(self, request: InpaintRequest) -> np.ndarray:
        img = np.asarray(request.image, np.float32)
        sil = np.asarray(request.silhouette, bool)
        missing = np.asarray(request.missing, bool) & sil
        if not missing.any():
            return img.copy()
        known = sil & ~missing
        crop = person_crop(sil, self.margin)
        n, cell = self.resolution, self.loaded.latent_factor

        c_img = crop.cut(img, 1.0)
        c_sil = crop.cut(sil, False)
        c_missing = crop.cut(missing, False)
        c_known = c_sil & ~c_missing
        # The masked image: known body pixels, white everywhere else. The missing pixels get a
        # smooth body colour; the pipeline blanks them anyway, this only keeps the resize clean.
        base = np.where(c_known[..., None], c_img, 1.0).astype(np.float32)
        if c_known.any():
            base[c_missing] = push_pull(c_img, c_known)[c_missing]
        else:
            base[c_missing] = np.asarray(request.fallback_colour, np.float32)
        n_image, n_mask, controls = self._model_inputs(base, c_missing, c_sil, crop.cut(request.normal, 0.0))

        prompt, negative = self.prompts(request)
        made = self._generate(n_image, n_mask, controls, prompt, negative, request.seed)

        # Back to the image: only the missing pixels change.
        full = self._paste(img, made, crop)
        out = img.copy()
        if known.any():
            feather = max(2.0, cell * crop.size / n)
            residual = np.where(known[..., None], img - full, 0.0).astype(np.float32)
            carried = push_pull(residual, known)
            carried = cv2.GaussianBlur(carried, (0, 0), sigmaX=feather / 3.0)
            depth = ndimage.distance_transform_edt(missing)
            fade = (1.0 - np.clip((depth - 1.0) / feather, 0.0, 1.0))[..., None]
            full = full + fade * carried
        out[missing] = np.clip(full[missing], 0.0, 1.0)
        return out.astype(np.float32, copy=False)


    def refine_back(self, request: InpaintRequest) -> np.ndarray:
        """The initial back view redrawn: every body pixel at `back_refine_strength`, nothing outside moves.

        `request.image` is the finished classical back view (no missing pixels left); the
        result keeps the background as it was and replaces the silhouette's pixels.
        """
        img = np.asarray(request.image, np.float32)
        sil = np.asarray(request.silhouette, bool)
        if self.back_refine_strength <= 0.0 or not sil.any():
            return img.copy()
        crop = person_crop(sil, self.margin)
        c_sil = crop.cut(sil, False)
        base = np.where(c_sil[..., None], crop.cut(img, 1.0), 1.0).astype(np.float32)
        n_image, n_mask, controls = self._model_inputs(base, c_sil, c_sil, crop.cut(request.normal, 0.0))
        prompt, negative = self.prompts(request)
        back = BACK_PROMPT_HAT if request.extras.get("hat") else BACK_PROMPT
        made = self._generate(n_image, n_mask, controls, f"{prompt}, {back}",
                              f"{negative}, {BACK_NEGATIVE_PROMPT}", request.seed, strength=self.back_refine_strength)
        full = self._paste(img, made, crop)
        out = img.copy()
        out[sil] = full[sil]
        return out

    def _model_inputs(self, base: np.ndarray, c_regenerate: np.ndarray, c_sil: np.ndarray, c_normal: np.ndarray):
        """Crop-sized arrays -> the pipeline's inputs at its native size: image, latent-aligned mask, controls."""
        n, cell = self.resolution, self.loaded.latent_factor
        n_image = np.clip(resize(base, n), 0.0, 1.0)
        n_regenerate = resize(c_regenerate.astype(np.float32), n) > 0.0  # any coverage: regenerate it
        n_mask = latent_cell_mask(ndimage.binary_dilation(n_regenerate), cell)
        controls = [resize(c, n) for c in self.control_images(c_normal, c_sil)]
        return n_image, n_mask, controls

    def _paste(self, img: np.ndarray, made: np.ndarray, crop: Crop) -> np.ndarray:
        """The model's output (native size) resized back into a copy of the whole view at the crop."""
        full = img.copy()
        ys, xs, cy, cx = crop.overlap(*img.shape[:2])
        full[ys, xs] = np.clip(resize(made, crop.size), 0.0, 1.0)[cy, cx]
        return full


def steps_for_strength(steps: int, strength: float) -> int:
    """Steps to ask the pipeline for so that at least one runs at this strength (it runs int(steps * strength))."""
    return max(int(steps), int(np.ceil(1.0 / max(strength, 1e-3)))) if strength < 1.0 else int(steps)


def build_diffusion_inpainter(folders: dict, preset, device: str, *, steps: int | None = None,
                              offload: bool = False) -> DiffusionInpainter:
    """Load the resolved folders (role key -> folder) and wrap them with the preset's sampling settings."""
    from ..models.loading import load_inpaint_pipeline

    nets = {k: folders[k] for k in ("controlnet_normal", "controlnet_silhouette") if folders.get(k)}
    loaded = load_inpaint_pipeline(folders["inpaint"], nets, device, offload=offload, attention_slicing=offload)
    return DiffusionInpainter(loaded, steps=steps or preset.diffusion_steps, guidance_scale=preset.guidance_scale,
                              scheduler=SCHEDULERS.get(preset.name, "unipc"),
                              back_refine_strength=preset.back_refine_strength)
