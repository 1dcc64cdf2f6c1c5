"""The learned shape cue: normal integration, the Marigold normals model, and its fallback, without a network.

The integration is checked on cases small enough to check by hand (a hemisphere's analytic
normals, a flat map) and, for its signs, on normal maps the project's own rasteriser renders
from meshes with a known bump. The model is a tiny Marigold normals pipeline with random
weights, built from configs, saved with save_pretrained(safe_serialization=True) in the
models-dir layout and loaded back through the registry like real weights. Sockets refuse to
connect for the whole file, and a test fails if anything tried.
"""

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import trimesh

from backend.metrics import mask_iou
from backend.models import registry
from backend.raster import render_maps
from backend.shape.inflate import half_depth_pixels
from backend.shape.learned_normals import MarigoldNormals, marigold_to_camera
from backend.shape.normal_integration import (
    RELIEF_SCALE,
    integrate_normals,
    integrate_with_prior,
    rim_agreement,
)
from backend.shape.normals_shape import LearnedNormalsShape, choose_outline_estimator
from backend.shape.silhouette import SilhouetteShape, SurfaceDepths, inflation_depth
from tests.test_shape import person_mask

ROOT = Path(__file__).resolve().parent.parent

FACES = 12_000  # enough triangles for a 3 cm bump, few enough to be quick
HEIGHT_M = 1.7
BUMP_UV = (236.0, 160.0)  # on the chest, left of the image centre and above the torso's middle: catches x and y flips
BUMP_SIGMA_PX = 9.0
BUMP_M = 0.03


# --- no network, anywhere ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    attempts = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append((what, repr(args)[:120]))
            raise OSError(f"network disabled in tests ({what})")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    empty = tmp_path / "empty-models-cache"
    empty.mkdir()
    monkeypatch.setenv(registry.MODELS_ENV, str(empty))  # never the user's own models cache
    yield
    assert not attempts, f"something tried the network: {attempts}"


# --- cases by hand ---------------------------------------------------------------------------------


def hemisphere(size=160, radius=60.0):
    """Mask, analytic camera-space normals and depth (pixels toward the camera) of a hemisphere facing us."""
    v, u = np.mgrid[0:size, 0:size] + 0.5
    x, y = u - size / 2, -(v - size / 2)  # camera x right, y up
    r2 = x**2 + y**2
    mask = r2 < radius**2
    z = np.sqrt(np.clip(radius**2 - r2, 0.0, None))
    normals = np.where(mask[..., None], np.stack([x, y, z], axis=-1) / radius, [0.0, 0.0, 1.0])
    return mask, normals, z


def test_hemisphere_normals_integrate_back_to_the_hemisphere():
    radius = 60.0
    mask, normals, truth = hemisphere(radius=radius)
    z = integrate_normals(normals, mask)
    assert (z[~mask] == 0).all()
    inner = mask & (truth > 0.45 * radius)  # away from the grazing rim, where slopes are clamped
    err = (z - truth)[inner]
    assert np.abs(err - err.mean()).max() < 0.03 * radius  # the shape, to 3 % of the radius
    assert abs(z[80, 80] - radius) < 0.1 * radius  # and its height: the top is toward the camera


def test_flat_normal_map_keeps_the_prior_shape():
    mask, _, _ = hemisphere()
    prior = half_depth_pixels(mask)  # the inflation, pixels
    flat = np.zeros(mask.shape + (3,))
    flat[..., 2] = 1.0
    z = integrate_with_prior(flat, mask, prior, RELIEF_SCALE * 120)
    assert (z[~mask] == 0).all()
    # A flat map says "no bump": nothing comes out in front of the prior (but for a pixel or so
    # where the prior's steep rim, kept near the outline, meets the flat slopes) ...
    assert (z - prior).max() < 0.05 * prior.max()
    # ... and the body keeps the prior's overall shape (sizes beyond the relief scale).
    assert z[80, 80] > 0.95 * prior[80, 80]
    assert np.corrcoef(z[mask], prior[mask])[0, 1] > 0.99


def test_the_priors_own_normals_give_back_the_prior():
    mask, normals, truth = hemisphere()
    z = integrate_with_prior(normals, mask, truth, RELIEF_SCALE * 120)
    assert np.abs(z - truth)[mask].max() < 0.03 * truth.max()


def test_marigold_frame_is_ours():
    """diffusers names Marigold's frame x right, y up, z toward the viewer: converted, a sphere's
    normals in that frame (outward on the right half, up on the top half) score as ours at the rim."""
    mask, normals, _ = hemisphere()
    converted = marigold_to_camera(normals)
    assert rim_agreement(converted, mask) > 0.8
    assert converted[..., 2][mask].min() >= 0.0  # facing the viewer stays facing the camera


# --- signs, through the rasteriser -----------------------------------------------------------------


class BumpShape(SilhouetteShape):
    """The silhouette body with a round bump on its front: the ground truth whose normals we render."""

    name = "bump"

    def surface_depths(self, rgb, mask, metres_per_px, height_m, body_height_px):
        d = inflation_depth(mask, metres_per_px, height_m)
        v, u = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]] + 0.5
        bump = BUMP_M * np.exp(-((u - BUMP_UV[0]) ** 2 + (v - BUMP_UV[1]) ** 2) / (2 * BUMP_SIGMA_PX**2))
        return SurfaceDepths(np.where(mask, d + bump, 0.0), d, self.name)


class FixedNormals:
    """A stand-in predictor: always the same normal map."""

    name = "fixed"

    def __init__(self, normals):
        self.normals = normals

    def predict(self, rgb, mask):
        return self.normals


@pytest.fixture(scope="module")
def rendered():
    """The person mask, the bump body's normal map as the input camera sees it, and the plain body's."""
    mask = person_mask()
    bump = BumpShape(FACES).estimate(None, mask, height_m=HEIGHT_M)
    plain = SilhouetteShape(FACES).estimate(None, mask, height_m=HEIGHT_M)
    maps_bump, maps_plain = (render_maps(r.mesh, [r.camera], backend="cpu")[0] for r in (bump, plain))
    flat = np.array([0.0, 0.0, 1.0])
    return {
        "mask": mask,
        "plain": plain,
        "bump_normals": np.where(maps_bump.mask[..., None], maps_bump.normal, flat),
        "plain_normals": np.where(maps_plain.mask[..., None], maps_plain.normal, flat),
        "camera": plain.camera,
    }


def front_depth_at(result, u, v, radius_px=4.0):
    """Mean depth toward the camera (metres, -y) of the front vertices within radius_px of pixel (u, v)."""
    uv, _ = result.camera.project(result.mesh.vertices)
    near = np.hypot(uv[:, 0] - u, uv[:, 1] - v) < radius_px
    front = near & (result.mesh.vertices[:, 1] < 0)
    assert front.any()
    return float(-result.mesh.vertices[front, 1].mean())


def test_a_bump_toward_the_camera_comes_out_toward_the_camera(rendered):
    mask, normals = rendered["mask"], rendered["bump_normals"]
    m = 1.0 / rendered["camera"].fx
    body_px = HEIGHT_M / m
    prior = inflation_depth(mask, m, HEIGHT_M) / m
    z = integrate_with_prior(normals, mask, prior, RELIEF_SCALE * body_px)
    relief = (z - prior) * m  # metres toward the camera
    u, v = int(BUMP_UV[0]), int(BUMP_UV[1])
    assert relief[v, u] > 0.5 * BUMP_M
    # Not its mirror images: a flipped x or y would put it (or a dent) elsewhere.
    du = int(2 * (256 - BUMP_UV[0]))
    assert abs(relief[v, u + du]) < 0.2 * BUMP_M
    assert abs(relief[v + 80, u]) < 0.2 * BUMP_M


def test_rim_agreement_tells_our_convention_from_a_flipped_one(rendered):
    mask, normals = rendered["mask"], rendered["plain_normals"]
    assert rim_agreement(normals, mask) > 0.5
    for flip in ([-1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, -1.0, 1.0]):  # both axes, x alone, y alone
        assert rim_agreement(normals * np.array(flip), mask) < -0.5, flip
    rng = np.random.default_rng(0)
    noise = rng.normal(size=normals.shape)
    assert abs(rim_agreement(noise, mask)) < 0.1


def test_learned_shape_shows_the_relief_and_keeps_the_outline(rendered):
    mask, plain = rendered["mask"], rendered["plain"]
    res = LearnedNormalsShape(FixedNormals(rendered["bump_normals"]), FACES).estimate(None, mask, height_m=HEIGHT_M)
    assert res.method == "normals" and not res.fallback_why
    tm = trimesh.Trimesh(res.mesh.vertices, res.mesh.faces, process=False)
    assert tm.is_watertight and tm.is_winding_consistent and tm.is_volume and tm.volume > 0
    # The same planar triangulation, so the same outline, in the same place.
    assert np.array_equal(res.mesh.faces, plain.mesh.faces)
    outline = np.abs(res.mesh.vertices[:, 1]) < 1e-12
    assert np.allclose(res.mesh.vertices[outline], plain.mesh.vertices[outline])
    assert np.allclose(res.camera.world_to_pixel(), plain.camera.world_to_pixel())
    maps = render_maps(res.mesh, [res.camera], backend="cpu")[0]
    assert mask_iou(maps.mask, mask) >= 0.97
    # The bump stands out of the front; the back is the plain body's.
    gain = front_depth_at(res, *BUMP_UV) - front_depth_at(plain, *BUMP_UV)
    assert gain > 0.5 * BUMP_M
    back = res.mesh.vertices[:, 1] > 0
    assert np.allclose(res.mesh.vertices[back], plain.mesh.vertices[back])


def test_the_plain_bodys_own_normals_change_little(rendered):
    mask, plain = rendered["mask"], rendered["plain"]
    res = LearnedNormalsShape(FixedNormals(rendered["plain_normals"]), FACES).estimate(None, mask, height_m=HEIGHT_M)
    diff = np.abs(res.mesh.vertices[:, 1] - plain.mesh.vertices[:, 1])
    assert np.median(diff) < 0.003 and diff.max() < 0.03


def test_front_never_crosses_the_back(rendered):
    """A map that asks for a deep dent everywhere: the body gets thin, never inside out."""
    dent = rendered["plain_normals"] * np.array([-1.0, -1.0, 1.0])  # every slope reversed
    shape = LearnedNormalsShape(FixedNormals(dent), FACES)
    mask = rendered["mask"]
    m = 1.0 / rendered["camera"].fx
    prior = inflation_depth(mask, m, HEIGHT_M)
    front = shape.front_depth(dent, mask, prior, m, HEIGHT_M, HEIGHT_M / m)
    assert (front + prior >= -1e-12).all()
    thick = mask & (prior > 0.02)
    assert (front + prior)[thick].min() >= 0.02 - 1e-9


# --- failures fall back to the silhouette, and say why --------------------------------------------


class Broken:
    name = "broken"

    def predict(self, rgb, mask):
        raise RuntimeError("CUDA out of memory\nlots of detail")


def test_a_failing_prediction_falls_back_with_the_reason(rendered):
    res = LearnedNormalsShape(Broken(), FACES).estimate(None, rendered["mask"], height_m=HEIGHT_M)
    assert res.method == "silhouette" and res.fallback_failed
    assert "RuntimeError: CUDA out of memory" in res.fallback_why and "\n" not in res.fallback_why
    assert np.allclose(res.mesh.vertices, rendered["plain"].mesh.vertices)


def test_a_flipped_normal_map_is_refused(rendered):
    flipped = rendered["plain_normals"] * np.array([-1.0, -1.0, 1.0])
    res = LearnedNormalsShape(FixedNormals(flipped), FACES).estimate(None, rendered["mask"], height_m=HEIGHT_M)
    assert res.method == "silhouette" and "flipped" in res.fallback_why


def test_without_the_folder_the_silhouette_runs_and_says_how_to_get_the_model(tmp_path):
    (tmp_path / "models").mkdir()
    estimator, close = choose_outline_estimator(models_dir=tmp_path / "models")
    assert type(estimator) is SilhouetteShape
    close()
    res = estimator.estimate(None, person_mask(256), height_m=HEIGHT_M)
    assert res.method == "silhouette" and not res.fallback_failed
    assert "normals (prs-eth/marigold-normals-v1-1)" in res.fallback_why
    assert "install_deps.py --models normals" in res.fallback_why


def test_a_user_mesh_wins(tmp_path, tiny_dir):
    estimator, _ = choose_outline_estimator(tmp_path / "body.obj", models_dir=tiny_dir)
    assert estimator.name == "user_mesh"


def test_broken_weights_fall_back_naming_the_folder(tmp_path, tiny_dir):
    broken = tmp_path / "models" / "normals"
    broken.mkdir(parents=True)
    (broken / "model_index.json").write_text((tiny_dir / "normals" / "model_index.json").read_text())
    estimator, _ = choose_outline_estimator(models_dir=tmp_path / "models", device="cpu")
    assert type(estimator) is SilhouetteShape and estimator.fallback_failed
    assert "could not be loaded" in estimator.fallback_why and str(broken.resolve()) in estimator.fallback_why


# --- a tiny Marigold normals pipeline, loaded like real weights --------------------------------------


def build_tiny_marigold(folder):
    """A MarigoldNormalsPipeline with random weights, shaped like the real one at a toy size, saved in fp16."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, MarigoldNormalsPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from lab.random_weights import write_tokenizer

    torch.manual_seed(0)
    # 8 input channels: the image's latent and the normals' latent, side by side.
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=8,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, layers_per_block=1)
    # As Marigold v1-1 ships it: DDIM, trailing timesteps, v-prediction.
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, timestep_spacing="trailing", prediction_type="v_prediction")
    text_encoder = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=32,
                                                intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                                layer_norm_eps=1e-05, vocab_size=1000, max_position_embeddings=77))
    write_tokenizer(folder.parent / "_tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder.parent / "_tokenizer"), local_files_only=True)
    pipe = MarigoldNormalsPipeline(unet=unet, vae=vae, scheduler=scheduler, text_encoder=text_encoder,
                                   tokenizer=tokenizer, prediction_type="normals", use_full_z_range=True,
                                   default_denoising_steps=2, default_processing_resolution=64)
    pipe.to(torch.float16).save_pretrained(str(folder), safe_serialization=True)  # half, as downloads are


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-normals") / "models"
    build_tiny_marigold(root / "normals")
    return root


def test_tiny_model_is_saved_as_safetensors_only(tiny_dir):
    files = [p.name for p in (tiny_dir / "normals").rglob("*") if p.is_file()]
    assert any(f.endswith(".safetensors") for f in files)
    assert not any(f.endswith((".bin", ".ckpt", ".pt", ".py")) for f in files)
    index = json.loads((tiny_dir / "normals" / "model_index.json").read_text())
    assert index["_class_name"] == "MarigoldNormalsPipeline"


def test_tiny_model_loads_through_the_registry_and_predicts(tiny_dir):
    estimator, close = choose_outline_estimator(models_dir=tiny_dir, device="cpu", seed=3)
    assert isinstance(estimator, LearnedNormalsShape)
    predictor = estimator.predictor
    assert isinstance(predictor, MarigoldNormals) and predictor.pipe.dtype.is_floating_point
    assert str(predictor.pipe.dtype) == "torch.float32"  # fp16 weights, upcast on the CPU
    mask = person_mask(128)
    rgb = np.where(mask[..., None], np.array([180, 120, 90], np.uint8), np.uint8(255))
    n1 = predictor.predict(rgb, mask)
    n2 = predictor.predict(rgb, mask)
    assert n1.shape == (128, 128, 3) and np.array_equal(n1, n2)  # deterministic
    assert np.allclose(np.linalg.norm(n1, axis=-1), 1.0, atol=1e-5)
    assert (n1[~mask] == [0.0, 0.0, 1.0]).all()
    close()
    assert predictor.pipe is None


def test_tiny_model_makes_a_closed_body_covering_the_mask(tiny_dir):
    estimator, close = choose_outline_estimator(None, FACES, models_dir=tiny_dir, device="cpu")
    mask = person_mask(256)
    rgb = np.where(mask[..., None], np.array([180, 120, 90], np.uint8), np.uint8(255))
    try:
        res = estimator.estimate(rgb, mask, height_m=HEIGHT_M)
    finally:
        close()
    # Random weights predict smooth noise: about 0 on the rim check, so it is integrated like a real map.
    assert res.method == "normals", res.fallback_why
    tm = trimesh.Trimesh(res.mesh.vertices, res.mesh.faces, process=False)
    assert tm.is_watertight and tm.is_winding_consistent and tm.is_volume and tm.volume > 0
    maps = render_maps(res.mesh, [res.camera], backend="cpu")[0]
    assert mask_iou(maps.mask, mask) >= 0.97


def test_shape_run_with_models_dir_uses_the_normals_model(tiny_dir, tmp_path, monkeypatch):
    """The pipeline's wiring: `--models-dir DIR` with DIR/normals/ reaches the shape stage."""
    from PIL import Image

    from backend import cli, pipeline

    # The command line hands the model options to the shape stage.
    seen = []
    override = f"normals={tiny_dir / 'normals'}"
    with monkeypatch.context() as m:
        m.setattr(pipeline, "run_shape", lambda photo, out, options, progress=None: seen.append(options))
        assert cli.main(["shape", str(ROOT / "samples" / "person.jpg"), "--out", str(tmp_path / "o"),
                         "--models-dir", str(tiny_dir), "--device", "cpu", "--model", override]) == 0
    assert (seen[0].models_dir, seen[0].device, seen[0].models) == (tiny_dir, "cpu", [override])

    # The tiny model's noise may fail the rim check; the wiring is what is tested, so predict a clean map.
    monkeypatch.setattr(MarigoldNormals, "predict", lambda self, rgb, mask: np.dstack(
        [np.zeros(mask.shape), np.zeros(mask.shape), np.ones(mask.shape)]))
    rgba = np.zeros((512, 512, 4), np.uint8)
    rgba[person_mask()] = (180, 120, 90, 255)
    photo = tmp_path / "cutout.png"
    Image.fromarray(rgba).save(photo)
    # The normals model shapes the outline (the body fit, the default, would not use it).
    options = pipeline.ShapeOptions(models_dir=tiny_dir, device="cpu", target_faces=FACES, map_resolution=64,
                                    texture_resolution=256, shape="silhouette")
    result = pipeline.run_shape(photo, tmp_path / "out", options)
    assert result["shape"]["method"] == "normals"
    assert not any(f["part"] == "shape" for f in result["fallbacks"])
