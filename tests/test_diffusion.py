"""The diffusion inpainter, its model registry and the model download, without a network.

Tiny models with random weights are built from configs (as diffusers' own tests build them),
saved with save_pretrained(safe_serialization=True) in the models-dir layout, and loaded
through the very code path real weights take (registry -> from_pretrained, offline). Every
test runs with sockets that refuse to connect; a test fails if anything tried.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backend.errors import UserError
from backend.models import registry
from backend.models.download import plan_files
from backend.presets import PRESETS
from backend.synthesis import ClassicalInpainter, DiffusionInpainter, InpaintRequest, choose_inpainter
from backend.synthesis.diffusion import (
    ADE20K_PERSON,
    BACK_NEGATIVE_PROMPT,
    BACK_PROMPT,
    BACK_PROMPT_HAT,
    NO_SURFACE,
    latent_cell_mask,
    normals_to_controlnet,
    person_crop,
    steps_for_strength,
)
from lab.random_weights import TINY, build_models

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "person.jpg"
STEPS = 3  # per inpainting call in the in-process tests: the tiny models make each step a few ms


# --- no network, anywhere ------------------------------------------------------------------------


class NetworkGuard:
    def __init__(self):
        self.attempts = []

    def refuse(self, what):
        def blocked(*args, **kwargs):
            self.attempts.append((what, repr(args)[:120]))
            raise OSError(f"network disabled in tests ({what})")

        return blocked


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    guard = NetworkGuard()
    monkeypatch.setattr(socket.socket, "connect", guard.refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guard.refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", guard.refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", guard.refuse("getaddrinfo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    empty = tmp_path / "empty-models-cache"
    empty.mkdir()
    monkeypatch.setenv(registry.MODELS_ENV, str(empty))  # never the user's own models cache
    yield guard
    assert not guard.attempts, f"something tried the network: {guard.attempts}"


# --- tiny models ----------------------------------------------------------------------------------


def build_tiny_models(root: Path) -> Path:
    """root/inpaint (a whole SD inpainting pipeline), root/controlnet_normal (fp16), root/controlnet_silhouette."""
    return build_models(root, TINY)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    """All tiny models, built once."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


def models_dir_with(tmp: Path, store: Path, *roles: str, extra: tuple[str, ...] = ()) -> Path:
    d = tmp / "models"
    d.mkdir(exist_ok=True)
    for r in roles:
        (d / r).symlink_to(store / r, target_is_directory=True)
    for name in extra:
        (d / name).mkdir()
    return d


@pytest.fixture(scope="session")
def tiny_dir(tiny_store, tmp_path_factory):
    """A --models-dir with exactly what the diffusion inpainter needs."""
    return models_dir_with(tmp_path_factory.mktemp("tiny-dir"), tiny_store, "inpaint", "controlnet_normal")


@pytest.fixture()
def inpainter(tiny_dir):
    inp, notes = choose_inpainter("diffusion", PRESETS["fast"], "cpu", models_dir=tiny_dir, steps=STEPS)
    assert isinstance(inp, DiffusionInpainter) and notes == []
    return inp


# --- a view to inpaint ---------------------------------------------------------------------------


def make_request(h=96, w=96, box=(8, 44, 52, 80), seed=0, normal=None) -> InpaintRequest:
    """A person-shaped blob inside `box` (y0, y1, x0, x1) of an h x w view; its lower-left part is missing."""
    rng = np.random.default_rng(7)
    y0, y1, x0, x1 = box
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, ry, rx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
    r2 = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    sil = r2 <= 1.0
    missing = sil & (yy > cy) & (xx < cx + 2)
    image = np.zeros((h, w, 3), np.float32)
    image[sil] = rng.uniform(0.2, 0.9, (int(sil.sum()), 3)).astype(np.float32)
    image[missing] = 0.0  # what an aggregate leaves there
    if normal is None:  # an ellipsoid facing the camera
        nx = np.where(sil, (xx - cx) / rx, 0.0)
        ny = np.where(sil, -(yy - cy) / ry, 0.0)
        nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))
        normal = np.stack([nx, ny, nz], -1)
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
        normal[~sil] = 0
    return InpaintRequest(image, missing, sil, normal.astype(np.float32), azimuth_deg=135.0, elevation_deg=0.0,
                          seed=seed)


# --- the normal convention at the ControlNet's door ------------------------------------------------


def test_normals_convert_to_the_normalbae_convention():
    # ours: x right, y up, z toward the camera; normalbae: red = left, green = up, blue = toward camera
    n = np.array([[[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0.6, 0, 0.8], [0, 0, 1]]], np.float32)
    mask = np.array([[True] * 6 + [False]])
    got = normals_to_controlnet(n, mask)[0]
    want = [[0, .5, .5], [1, .5, .5], [.5, 1, .5], [.5, 0, .5], [.5, .5, 1], [.2, .5, .9], list(NO_SURFACE)]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got.dtype == np.float32


def test_the_pipeline_gets_the_converted_normals_and_a_latent_aligned_mask(inpainter, monkeypatch):
    req = make_request()
    seen = {}
    original = inpainter._generate

    def spy(image, mask, controls, prompt, negative, seed):
        seen.update(image=image, mask=mask, controls=controls, prompt=prompt, negative=negative)
        return original(image, mask, controls, prompt, negative, seed)

    monkeypatch.setattr(inpainter, "_generate", spy)
    inpainter.inpaint(req)
    n = inpainter.resolution
    assert n == 64  # the tiny UNet's native size: sample_size 32 x VAE factor 2
    (ctrl,) = seen["controls"]
    assert ctrl.shape == (n, n, 3)
    assert np.allclose(ctrl[0, 0], NO_SURFACE)  # background corner
    # the middle of the blob faces the camera: (0.5, 0.5, 1); its right edge turns right: red < 0.5
    crop = person_crop(req.silhouette)
    sil_rows, sil_cols = np.nonzero(req.silhouette)
    cy, cx = sil_rows.mean(), sil_cols.mean()
    u, v = ((np.array([cx, cy]) - [crop.x0, crop.y0] + 0.5) * n / crop.size - 0.5).round().astype(int)
    np.testing.assert_allclose(ctrl[v, u], [0.5, 0.5, 1.0], atol=0.08)
    assert ctrl[v, u + 10, 0] < 0.4 and ctrl[v - 8, u, 1] > 0.6  # right edge: red down; top: green up
    # white background in the masked image, and a mask of whole latent cells
    assert np.allclose(seen["image"][0, 0], 1.0)
    cell = inpainter.loaded.latent_factor
    blocks = seen["mask"].reshape(n // cell, cell, n // cell, cell)
    assert np.all(blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3)))
    assert seen["prompt"].startswith("a photo of a well-dressed person, back view, plain white background")


def test_latent_cell_mask_keeps_thin_slivers():
    m = np.zeros((16, 16), bool)
    m[5, 3:12] = True  # one pixel thin: nearest-neighbour downsampling by 4 would drop it
    cells = latent_cell_mask(m, 4)
    assert cells[4:8, 0:12].all() and cells.sum() == 4 * 12 and (cells | ~m).all()


# --- the inpainter on tiny models ---------------------------------------------------------------------


def test_only_missing_pixels_change(inpainter):
    req = make_request()
    out = inpainter.inpaint(req)
    assert out.dtype == np.float32 and out.shape == req.image.shape
    assert np.array_equal(out[~req.missing], req.image[~req.missing])  # bit-identical, background included
    made = out[req.missing]
    assert np.isfinite(made).all() and made.min() >= 0.0 and made.max() <= 1.0
    assert np.abs(made).sum() > 0  # filled, not left black


def test_a_small_off_centre_person_is_filled_in_place(inpainter, monkeypatch):
    box = (70, 100, 6, 24)  # near the bottom-left corner of a 128 px view
    req = make_request(h=128, w=128, box=box)
    n = inpainter.resolution
    ramp = (np.arange(n, dtype=np.float32) + 0.5) / n
    gradient = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.float32(0.5)), -1)  # x, y, 0.5
    masks = []

    def fake(image, mask, controls, prompt, negative, seed):
        masks.append(mask)
        return gradient.copy()

    monkeypatch.setattr(inpainter, "_generate", fake)
    out = inpainter.inpaint(req)
    crop = person_crop(req.silhouette)
    rows, cols = np.nonzero(req.silhouette)
    assert crop.y0 <= rows.min() and rows.max() < crop.y0 + crop.size
    assert crop.x0 <= cols.min() and cols.max() < crop.x0 + crop.size
    assert crop.size < 40  # a crop around the person, not the whole view
    # every missing pixel lies under the pipeline's mask
    ys, xs = np.nonzero(req.missing)
    u = np.clip(((xs - crop.x0 + 0.5) * n / crop.size).astype(int), 0, n - 1)
    v = np.clip(((ys - crop.y0 + 0.5) * n / crop.size).astype(int), 0, n - 1)
    assert masks[0][v, u].all()
    # deep inside the hole (past the seam blend) a pixel shows the model's output from the right place
    from scipy import ndimage

    deep = req.missing & (ndimage.distance_transform_edt(req.missing) > 1 + 2 * crop.size / n + 1)
    assert deep.sum() >= 5
    ys, xs = np.nonzero(deep)
    np.testing.assert_allclose(out[ys, xs, 0], (xs - crop.x0 + 0.5) / crop.size, atol=0.03)
    np.testing.assert_allclose(out[ys, xs, 1], (ys - crop.y0 + 0.5) / crop.size, atol=0.03)
    assert np.array_equal(out[~req.missing], req.image[~req.missing])


def test_same_seed_same_pixels_other_seed_other_pixels(inpainter):
    a = inpainter.inpaint(make_request(seed=11))
    b = inpainter.inpaint(make_request(seed=11))
    c = inpainter.inpaint(make_request(seed=12))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# --- the initial back view, redrawn -------------------------------------------------------------------


def back_request(seed=0) -> InpaintRequest:
    """A finished classical back view: the blob wholly coloured, nothing missing, seen from behind."""
    req = make_request(seed=seed)
    rng = np.random.default_rng(3)
    req.image = np.zeros_like(req.image)
    req.image[req.silhouette] = rng.uniform(0.2, 0.9, (int(req.silhouette.sum()), 3)).astype(np.float32)
    req.missing = np.zeros_like(req.silhouette)
    req.azimuth_deg = 180.0
    return req


def test_the_back_view_is_redrawn_whole_from_the_classical_one(inpainter, monkeypatch):
    req = back_request()
    n = inpainter.resolution
    ramp = (np.arange(n, dtype=np.float32) + 0.5) / n
    gradient = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.float32(0.5)), -1)
    seen = {}

    def fake(image, mask, controls, prompt, negative, seed, strength=1.0):
        seen.update(image=image, mask=mask, prompt=prompt, negative=negative, strength=strength)
        return gradient.copy()

    monkeypatch.setattr(inpainter, "_generate", fake)
    out = inpainter.refine_back(req)
    assert seen["strength"] == inpainter.back_refine_strength == PRESETS["fast"].back_refine_strength
    assert 0.0 < seen["strength"] < 1.0  # img2img: the classical view's colours and layout carry over
    assert "back view" in seen["prompt"] and BACK_PROMPT in seen["prompt"]
    assert BACK_NEGATIVE_PROMPT in seen["negative"] and "face" in BACK_NEGATIVE_PROMPT
    # the model starts from the classical view (not a blanked body) and may redraw all of the body
    crop = person_crop(req.silhouette)
    ys, xs = np.nonzero(req.silhouette)
    u = np.clip(((xs - crop.x0 + 0.5) * n / crop.size).astype(int), 0, n - 1)
    v = np.clip(((ys - crop.y0 + 0.5) * n / crop.size).astype(int), 0, n - 1)
    assert seen["mask"][v, u].all() and not seen["mask"][0, 0]
    assert np.abs(seen["image"][v, u].mean(axis=0) - req.image[req.silhouette].mean(axis=0)).max() < 0.05
    assert np.allclose(seen["image"][0, 0], 1.0)  # white around the person, as the prompt says
    # every body pixel is the model's, from the right place; nothing outside the body moves
    np.testing.assert_allclose(out[ys, xs, 0], (xs - crop.x0 + 0.5) / crop.size, atol=0.03)
    np.testing.assert_allclose(out[ys, xs, 1], (ys - crop.y0 + 0.5) / crop.size, atol=0.03)
    assert np.array_equal(out[~req.silhouette], req.image[~req.silhouette])


def test_the_back_view_of_a_person_in_a_hat_asks_for_the_hat(inpainter, monkeypatch):
    """A hat found in the photo (back_view.find_hat) continues round the back of the head: the redraw asks
    for it, not for a head covered with hair, and still not for a face."""
    seen = {}

    def fake(image, mask, controls, prompt, negative, seed, strength=1.0):
        seen.update(prompt=prompt, negative=negative)
        return image

    monkeypatch.setattr(inpainter, "_generate", fake)
    req = back_request()
    req.extras = {"hat": True}
    inpainter.refine_back(req)
    assert BACK_PROMPT_HAT in seen["prompt"] and BACK_PROMPT not in seen["prompt"]
    assert BACK_NEGATIVE_PROMPT in seen["negative"]
    inpainter.refine_back(back_request())  # no hat: hair
    assert BACK_PROMPT in seen["prompt"] and "hat" not in seen["prompt"]


def test_the_redrawn_back_view_on_tiny_models_is_seeded_and_stays_inside_the_body(inpainter):
    a = inpainter.refine_back(back_request(seed=5))
    b = inpainter.refine_back(back_request(seed=5))
    c = inpainter.refine_back(back_request(seed=6))
    req = back_request()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a[~req.silhouette], req.image[~req.silhouette])
    body = a[req.silhouette]
    assert np.isfinite(body).all() and body.min() >= 0.0 and body.max() <= 1.0
    assert (np.abs(body - req.image[req.silhouette]).max(axis=1) > 1e-4).mean() > 0.9  # redrawn, not copied


def test_steps_for_strength_always_runs_at_least_one_step(inpainter):
    for steps, strength in ((20, 0.6), (25, 0.6), (1, 0.6), (3, 0.1), (2, 0.99)):
        asked = steps_for_strength(steps, strength)
        assert asked >= steps and int(asked * strength) >= 1
    assert steps_for_strength(5, 1.0) == 5
    inpainter.back_refine_strength = 0.0  # a strength of 0 keeps the classical view as it is
    req = back_request()
    assert np.array_equal(inpainter.refine_back(req), req.image)


def test_half_precision_weights_load_as_fp32_on_the_cpu(inpainter):
    import torch

    assert inpainter.loaded.dtype == torch.float32
    assert inpainter.loaded.pipe.controlnet.dtype == torch.float32  # saved as fp16
    assert inpainter.min_support_weight == 0.03 and inpainter.name == "diffusion"


def test_the_silhouette_controlnet_joins_when_present(tiny_store, tmp_path, monkeypatch):
    d = models_dir_with(tmp_path, tiny_store, "inpaint", "controlnet_normal", "controlnet_silhouette")
    inp, notes = choose_inpainter("auto", PRESETS["quality"], "cpu", models_dir=d, steps=2)
    assert isinstance(inp, DiffusionInpainter) and notes == []
    assert inp.loaded.controlnets == ("controlnet_normal", "controlnet_silhouette")
    assert inp.scheduler_kind == "ddim" and inp.guidance_scale == 15.0 and inp.steps == 2
    seen = []
    original = inp._generate
    monkeypatch.setattr(inp, "_generate", lambda *a: seen.append(a[2]) or original(*a))
    req = make_request()
    out = inp.inpaint(req)
    assert np.array_equal(out[~req.missing], req.image[~req.missing])
    normal_ctrl, seg_ctrl = seen[0]
    centre = seg_ctrl[seg_ctrl.shape[0] // 2, seg_ctrl.shape[1] // 2]
    np.testing.assert_allclose(centre, ADE20K_PERSON, atol=1e-6)


# --- choosing, fallbacks, notes --------------------------------------------------------------------


def test_auto_falls_back_to_classical_and_says_what_is_missing(tmp_path):
    inp, notes = choose_inpainter("auto", PRESETS["fast"], "cpu", models_dir=tmp_path)
    assert isinstance(inp, ClassicalInpainter)
    text = " ".join(notes)
    assert "inpaint" in text and "controlnet_normal" in text and "install_deps.py --models" in text
    with pytest.raises(UserError) as e:
        choose_inpainter("diffusion", PRESETS["fast"], "cpu", models_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "controlnet_normal" in msg and "install_deps.py --models" in msg
    inp, notes = choose_inpainter("auto", PRESETS["fast"], "cpu")  # no --models-dir, empty cache
    assert isinstance(inp, ClassicalInpainter) and "install_deps.py --models" in notes[0]
    assert choose_inpainter("classical", PRESETS["fast"], "cpu")[1] == []


def test_one_missing_role_is_named(tiny_store, tmp_path):
    d = models_dir_with(tmp_path, tiny_store, "inpaint")
    inp, notes = choose_inpainter("auto", PRESETS["fast"], "cpu", models_dir=d)
    assert isinstance(inp, ClassicalInpainter)
    assert "controlnet_normal (lllyasviel/control_v11p_sd15_normalbae)" in notes[0]
    assert "inpaint (" not in notes[0]


def test_an_unknown_folder_in_models_dir_is_warned_about(tiny_store, tmp_path):
    d = models_dir_with(tmp_path, tiny_store, "inpaint", "controlnet_normal", extra=("controlnet_depth",))
    inp, notes = choose_inpainter("auto", PRESETS["fast"], "cpu", models_dir=d, steps=2)
    assert isinstance(inp, DiffusionInpainter)
    assert len(notes) == 1 and "'controlnet_depth'" in notes[0] and "ignored" in notes[0]


def test_resolution_order(tiny_store, tmp_path, monkeypatch):
    other = models_dir_with(tmp_path, tiny_store, "inpaint", "controlnet_normal")
    src = registry.ModelSources.from_options(None, [f"inpaint={tiny_store / 'inpaint'}"])
    assert src.resolve("inpaint") == ((tiny_store / "inpaint").resolve(), "--model inpaint")
    assert src.resolve("controlnet_normal") == (None, "")
    monkeypatch.setenv(registry.MODELS_ENV, str(other))  # the models cache
    src = registry.ModelSources.from_options(None, None)
    assert src.resolve("controlnet_normal")[1] == "models cache"
    with pytest.raises(UserError, match="has no model_index.json"):
        registry.ModelSources.from_options(None, [f"inpaint={tiny_store / 'controlnet_normal'}"]).resolve("inpaint")
    with pytest.raises(UserError, match="unknown model role"):
        registry.parse_model_override("depth=somewhere")
    with pytest.raises(UserError, match="KEY=ID_OR_FOLDER"):
        registry.parse_model_override("inpaint")
    with pytest.raises(UserError, match="no such folder"):
        registry.ModelSources.from_options(tmp_path / "nope", None)


def test_a_hub_id_not_on_this_machine_fails_fast_without_the_network(no_network):
    t0 = time.perf_counter()
    with pytest.raises(UserError) as e:
        choose_inpainter("auto", PRESETS["fast"], "cpu", models=["inpaint=photo-digitize-tests/not-here"])
    assert time.perf_counter() - t0 < 5.0
    msg = str(e.value)
    assert "not on this machine" in msg and "install_deps.py --models" in msg and "\n" not in msg
    assert no_network.attempts == []


def test_a_hub_id_in_the_models_cache_resolves(tiny_store, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(tiny_store / "controlnet_normal", cache / "controlnet_normal")
    (cache / "controlnet_normal" / registry.MANIFEST_NAME).write_text(json.dumps({"repo_id": "someone/cn-normal"}))
    monkeypatch.setenv(registry.MODELS_ENV, str(cache))
    src = registry.ModelSources.from_options(None, ["controlnet_normal=someone/cn-normal"])
    path, where = src.resolve("controlnet_normal")
    assert path == (cache / "controlnet_normal").resolve() and "cached" in where


def test_cli_checks_model_options_up_front():
    from backend.cli import build_parser

    p = build_parser()
    a = p.parse_args(["digitize", "x.jpg", "--out", "o", "--model", "inpaint=/m/a", "--model",
                      "controlnet_normal=org/cn", "--steps", "7", "--offload", "--models-dir", "/m"])
    assert a.model == ["inpaint=/m/a", "controlnet_normal=org/cn"] and a.steps == 7 and a.offload
    for bad in (["--model", "depth=x"], ["--model", "inpaint"], ["--steps", "0"]):
        with pytest.raises(SystemExit):
            p.parse_args(["digitize", "x.jpg", "--out", "o", *bad])


# --- the download tool (planning only; nothing is fetched) -----------------------------------------


SD_INPAINTING_FILES = """.gitattributes README.md model_index.json sd-v1-5-inpainting.ckpt config.json
feature_extractor/preprocessor_config.json safety_checker/config.json safety_checker/model.safetensors
safety_checker/pytorch_model.bin scheduler/scheduler_config.json text_encoder/config.json
text_encoder/model.safetensors text_encoder/model.fp16.safetensors text_encoder/pytorch_model.bin
tokenizer/merges.txt tokenizer/special_tokens_map.json tokenizer/tokenizer_config.json tokenizer/vocab.json
unet/config.json unet/diffusion_pytorch_model.bin unet/diffusion_pytorch_model.fp16.bin
unet/diffusion_pytorch_model.fp16.safetensors vae/config.json vae/diffusion_pytorch_model.bin
vae/diffusion_pytorch_model.fp16.safetensors""".split()


def test_download_plan_takes_safetensors_and_configs_only():
    plan = dict(plan_files(registry.ROLES["inpaint"], SD_INPAINTING_FILES))
    assert plan["unet/diffusion_pytorch_model.fp16.safetensors"] == "unet/diffusion_pytorch_model.safetensors"
    assert plan["text_encoder/model.fp16.safetensors"] == "text_encoder/model.safetensors"
    assert "text_encoder/model.safetensors" not in plan  # one file per weight: the half-size variant
    assert {"model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
            "unet/config.json", "vae/config.json"} <= set(plan)
    assert not [f for f in plan if f.endswith((".bin", ".ckpt")) or f.startswith(("safety_checker", "feature_"))]
    cn = ["README.md", "config.json", "control_net_normalbae.py", "diffusion_pytorch_model.bin",
          "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors", "images/input.png"]
    assert plan_files(registry.ROLES["controlnet_normal"], cn) == [
        ("config.json", "config.json"),
        ("diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors")]


def test_download_without_network_says_so_in_one_line(no_network, monkeypatch, tmp_path, capsys):
    from backend.models import download

    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert download.main(["--models-dir", str(tmp_path / "m"), "--no-lpips"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("[models] error: cannot reach")
    assert "install_deps.py --models" in err[0]
    assert not (tmp_path / "m").exists()
    assert no_network.attempts  # it did try, and stopped at once
    no_network.attempts.clear()


def test_download_skips_what_is_there_without_touching_the_network(no_network, monkeypatch, tmp_path, capsys):
    from backend.models import download

    monkeypatch.delenv("HF_HUB_OFFLINE")
    d = tmp_path / "m"
    for key, marker in (("inpaint", "model_index.json"), ("controlnet_normal", "config.json")):
        (d / key).mkdir(parents=True)
        (d / key / marker).write_text("{}")
        (d / key / registry.MANIFEST_NAME).write_text(json.dumps(  # as a download at the pinned commit records
            {"repo_id": registry.ROLES[key].default_id, "revision": registry.ROLES[key].revision,
             "files": [marker]}))
    (d / "controlnet_silhouette").mkdir()  # the user's own model, put there by hand
    (d / "controlnet_silhouette" / "config.json").write_text("{}")
    backbone = tmp_path / "alexnet-owt-7be5be79.pth"
    backbone.write_bytes(b"0" * 10)
    monkeypatch.setenv("PHOTO_DIGITIZE_LPIPS_BACKBONE", str(backbone))
    assert download.main(["--models-dir", str(d), "--roles", "default,controlnet_silhouette"]) == 0, \
        capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("already there") == 3 and "put there by hand" in out
    assert (d / "controlnet_silhouette" / "config.json").is_file()
    assert no_network.attempts == []


# --- end to end --------------------------------------------------------------------------------------

# Runs the CLI with every socket refusing to connect; any attempt is written to a file.
BOOTSTRAP = """
import runpy, socket, sys
log = sys.argv.pop(1)
def refuse(*args, **kwargs):
    with open(log, "a") as fh:
        fh.write(repr(args)[:200] + "\\n")
    raise OSError("network disabled in tests")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.argv[0] = "backend"
runpy.run_module("backend", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_digitize_end_to_end_with_the_diffusion_inpainter(tiny_dir, tmp_path):
    out, attempts = tmp_path / "out", tmp_path / "network-attempts.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           registry.MODELS_ENV: str(tmp_path / "no-cache")}
    r = subprocess.run([sys.executable, "-c", BOOTSTRAP, str(attempts), "digitize", str(SAMPLE), "--out", str(out),
                        "--inpainter", "diffusion", "--models-dir", str(tiny_dir), "--fusion-iterations", "2"],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not attempts.exists(), attempts.read_text()
    result = json.loads((out / "result.json").read_text())
    assert result["inpainter"] == "diffusion"
    synthesized = [v for v in result["views"] if v["name"] != "input"]
    assert {v["inpainter"] for v in synthesized} <= {"diffusion", "none"}
    assert sum(v["inpainter"] == "diffusion" for v in synthesized) >= len(synthesized) - 2
    # the initial back view: the classical one redrawn whole by the model
    back = next(v for v in result["views"] if v["name"] == "az+180_el+00")
    assert back["inpainter"] == "diffusion" and back["redrawn"] and back["missing_fraction"] == 1.0
    assert not any(v["redrawn"] for v in result["views"] if v["name"] != "az+180_el+00")
    assert "inpainting" not in {f["part"] for f in result["fallbacks"]}
    assert (out / "avatar.glb").is_file()


# --- CUDA --------------------------------------------------------------------------------------------


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("offload", [False, True])
def test_cuda_fp16_and_offload(tiny_dir, offload):
    import torch

    inp, notes = choose_inpainter("diffusion", PRESETS["fast"], "cuda", models_dir=tiny_dir, steps=STEPS,
                                  offload=offload)
    assert notes == [] and inp.loaded.dtype == torch.float16 and inp.loaded.offload == offload
    req = make_request(seed=3)
    a = inp.inpaint(req)
    assert np.array_equal(a[~req.missing], req.image[~req.missing])
    assert np.isfinite(a).all()
    assert np.array_equal(a, inp.inpaint(make_request(seed=3)))
