"""Load the diffusion models (the inpainter's, the normals estimator) from local folders: safetensors only,
offline, no remote code.

Every `from_pretrained` here gets a folder that `registry.ModelSources.resolve` found on
disk, `use_safetensors=True` (a folder with only pickled .bin weights is refused) and
`local_files_only=True`, inside `registry.offline()`, so nothing can reach the network.
Remote code is never run: the pipeline class is named here, never read from the folder.

Precision: fp16 on CUDA, fp32 on the CPU (half-precision weights, as `install_deps.py
--models` fetches them, are upcast on load).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import offline


@dataclass
class LoadedPipeline:
    """A ready StableDiffusionControlNetInpaintPipeline and what it was built from."""

    pipe: Any  # a diffusers pipeline, imported with the weights
    device: str
    dtype: Any  # torch.dtype
    controlnets: tuple[str, ...]  # role keys, in the order the pipeline takes their control images
    folders: dict[str, Path] = field(default_factory=dict)
    base_scheduler_config: dict = field(default_factory=dict)
    offload: bool = False

    @property
    def native_resolution(self) -> int:
        """The pixel size the UNet was trained at (512 for SD 1.5): its latent size times the VAE's factor."""
        return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)

    @property
    def latent_factor(self) -> int:
        return int(self.pipe.vae_scale_factor)

    @property
    def size_multiple(self) -> int:
        """Image sizes must be multiples of this: the VAE's factor times the UNet's downsampling."""
        return self.latent_factor * 2 ** (len(self.pipe.unet.config.block_out_channels) - 1)


# The loaded diffusion pipeline, kept for the process's life: it is gigabytes, read in tens of seconds,
# and a process that builds the inpainter again (the tests, the benchmarks) gets it back at once.
# Module-level because the loaders are plain functions called from wherever an inpainter is built;
# `clear_cache` frees it.
_CACHE: dict[tuple, LoadedPipeline] = {}


def dtype_for(device: str):
    import torch

    return torch.float16 if str(device).startswith("cuda") else torch.float32


def quiet_libraries() -> None:
    """No download/loading progress bars or deprecation chatter on the user's terminal."""
    try:
        from diffusers.utils import logging as dlog

        dlog.disable_progress_bar()
        dlog.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


def load_controlnet(folder: Path, dtype):
    from diffusers import ControlNetModel

    with offline():
        return ControlNetModel.from_pretrained(str(folder), use_safetensors=True, local_files_only=True, dtype=dtype)


def load_inpaint_pipeline(inpaint: Path, controlnets: dict[str, Path], device: str = "cpu", *,
                          offload: bool = False, attention_slicing: bool = False) -> LoadedPipeline:
    """SD inpainting pipeline folder + ControlNet folders -> a pipeline on `device` (cached per process).

    `controlnets` maps role keys to folders, in the order their control images will be given.
    offload (CUDA only): keep each model on the GPU only while it runs (enable_model_cpu_offload).
    attention_slicing: compute attention in slices (less memory, a little slower).
    """
    key = (str(Path(inpaint).resolve()), tuple((k, str(Path(p).resolve())) for k, p in controlnets.items()),
           str(device), bool(offload), bool(attention_slicing))
    if key in _CACHE:
        return _CACHE[key]
    _CACHE.clear()  # one pipeline at a time: they are gigabytes each

    quiet_libraries()
    from diffusers import StableDiffusionControlNetInpaintPipeline
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    dtype = dtype_for(device)
    nets = [load_controlnet(Path(p), dtype) for p in controlnets.values()]
    if not nets:
        raise ValueError("the inpainting pipeline needs at least one ControlNet")
    controlnet = nets[0] if len(nets) == 1 else MultiControlNetModel(nets)
    with offline():
        pipe = StableDiffusionControlNetInpaintPipeline.from_pretrained(
            str(inpaint), controlnet=controlnet, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False, use_safetensors=True, local_files_only=True, trust_remote_code=False,
            dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    on_cuda = str(device).startswith("cuda")
    if on_cuda and offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if attention_slicing:
        pipe.enable_attention_slicing()
    loaded = LoadedPipeline(pipe, str(device), dtype, tuple(controlnets), {"inpaint": Path(inpaint), **controlnets},
                            dict(pipe.scheduler.config), offload=on_cuda and offload)
    _CACHE[key] = loaded
    return loaded


def clear_cache() -> None:
    _CACHE.clear()


def load_normals_pipeline(folder: Path, device: str = "cpu"):
    """A Marigold normals pipeline folder -> a MarigoldNormalsPipeline on `device` (not cached).

    The shape stage runs it once per photo, before the inpainter's views, so it is not kept in
    memory after that (the caller drops it); same rules as above: safetensors only, offline,
    local files only, the class named here, fp16 on CUDA and fp32 on the CPU.
    """
    quiet_libraries()
    from diffusers import MarigoldNormalsPipeline

    with offline():
        pipe = MarigoldNormalsPipeline.from_pretrained(
            str(folder), use_safetensors=True, local_files_only=True, trust_remote_code=False,
            dtype=dtype_for(device))
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    return pipe
