"""Diffusion models with random weights, built from configs and saved in the models-dir layout.

Nothing is downloaded: the tests build TINY models to drive the real loading and inpainting
code, and the full-size benchmark (`python -m lab.bench_diffusion`) builds models shaped
exactly like SD-1.5 inpainting + a ControlNet 1.1, so their cost is the real models' cost.
Both are saved with `save_pretrained(safe_serialization=True)` into `root/inpaint/` and
`root/controlnet_normal/` (+ `root/controlnet_silhouette/`), and loaded back through the
registry like real weights (`--models-dir root`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Shape:
    """The sizes that differ between the tiny test models and SD 1.5."""

    name: str
    block_out_channels: tuple[int, ...]
    unet_down: tuple[str, ...]
    unet_up: tuple[str, ...]
    sample_size: int  # latent side; x the VAE factor = the native image size
    cross_attention_dim: int
    vae_channels: tuple[int, ...]
    text_layers: int
    text_heads: int
    text_intermediate: int
    text_vocab: int
    controlnet_embedding: tuple[int, ...]


TINY = Shape("tiny", (32, 64), ("DownBlock2D", "CrossAttnDownBlock2D"), ("CrossAttnUpBlock2D", "UpBlock2D"),
             32, 32, (32, 64), 5, 4, 37, 1000, (16, 32))
# stable-diffusion-v1-5/stable-diffusion-inpainting and lllyasviel/control_v11p_sd15_normalbae, by their configs.
SD15 = Shape("sd15", (320, 640, 1280, 1280), ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, 64, 768, (128, 256, 512, 512), 12, 12, 3072, 49408,
             (16, 32, 96, 256))
SHAPES = {s.name: s for s in (TINY, SD15)}


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's byte -> printable character table (what a byte-level BPE vocabulary holds)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def write_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer folder as SD repositories ship it (vocab.json, merges.txt, config), no merges:
    every character is a token, which is all random weights need."""
    vocab = {"<|startoftext|>": 0, "!": 1, "<|endoftext|>": 2}
    for ch in _bytes_to_unicode():
        for tok in (ch, ch + "</w>"):
            vocab.setdefault(tok, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>"}))


def controlnet(shape: Shape, seed: int):
    """A ControlNet of `shape` whose zero convolutions are not zero (else it would have no effect at all)."""
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    net: Any = ControlNetModel(block_out_channels=shape.block_out_channels, layers_per_block=2, in_channels=4,
                          down_block_types=shape.unet_down, cross_attention_dim=shape.cross_attention_dim,
                          conditioning_embedding_out_channels=shape.controlnet_embedding)
    # As diffusers' multi-ControlNet tests do, so the control image really changes the output.
    for m in net.controlnet_down_blocks.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
    torch.nn.init.normal_(net.controlnet_mid_block.weight, std=0.05)
    return net


def inpainting_pipeline(shape: Shape, tokenizer_folder: Path):
    """A StableDiffusionInpaintPipeline of `shape` (9-channel UNet, VAE, CLIP text encoder, DDIM)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=shape.block_out_channels, layers_per_block=2,
                                sample_size=shape.sample_size, in_channels=9, out_channels=4,
                                down_block_types=shape.unet_down, up_block_types=shape.unet_up,
                                cross_attention_dim=shape.cross_attention_dim)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    torch.manual_seed(0)
    n = len(shape.vae_channels)
    vae = AutoencoderKL(block_out_channels=list(shape.vae_channels), in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
                        latent_channels=4, layers_per_block=2 if shape is SD15 else 1,
                        sample_size=shape.sample_size * 2 ** (n - 1))
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=shape.cross_attention_dim,
        intermediate_size=shape.text_intermediate, num_attention_heads=shape.text_heads,
        num_hidden_layers=shape.text_layers, layer_norm_eps=1e-05, vocab_size=shape.text_vocab,
        max_position_embeddings=77))
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_folder), local_files_only=True)
    return StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)


def build_models(root: Path, shape: Shape = TINY, *, silhouette: bool = True, half: bool = True) -> Path:
    """root/inpaint (a whole SD inpainting pipeline), root/controlnet_normal (in fp16 when `half`, as
    `install_deps.py --models` fetches weights), and with `silhouette` root/controlnet_silhouette."""
    import torch

    root = Path(root)
    write_tokenizer(root / "_tokenizer")
    inpainting_pipeline(shape, root / "_tokenizer").save_pretrained(str(root / "inpaint"), safe_serialization=True)
    # The tokenizer as SD's repositories ship it (not transformers' own save format).
    shutil.rmtree(root / "inpaint" / "tokenizer")
    shutil.move(str(root / "_tokenizer"), str(root / "inpaint" / "tokenizer"))
    normal = controlnet(shape, 1)
    (normal.to(torch.float16) if half else normal).save_pretrained(str(root / "controlnet_normal"),
                                                                 safe_serialization=True)
    if silhouette:
        controlnet(shape, 2).save_pretrained(str(root / "controlnet_silhouette"), safe_serialization=True)
    return root
