"""Texture fusion: splat, inverse rendering, determinism, fill/bleed, perceptual loader (no network)."""

from __future__ import annotations

import socket
import urllib.request

import cv2
import numpy as np
import pytest
import torch
import trimesh

from backend.fusion import (
    FusionOptions,
    FusionView,
    chart_labels,
    chart_mask,
    fill_and_bleed,
    fuse_texture,
    load_perceptual,
    splat_views,
)
from backend.fusion import perceptual as perc
from backend.fusion.fill import uv_charts
from backend.fusion.optimize import lr_schedule, uv_to_grid
from backend.imaging import push_pull
from backend.mesh import Mesh
from backend.raster import render_maps
from backend.uv.atlas import PaddingPlan, unwrap
from backend.view_schedule import PAPER_VIEWS, view_cameras

R = 256  # texture size of the test scene
VIEW_RES = 160


# --- the scene: a UV-mapped sphere with a known smooth procedural texture ---------------------


def ground_truth_texture(r: int = R) -> np.ndarray:
    yy, xx = np.mgrid[0:r, 0:r] + 0.5
    return np.stack([
        0.5 + 0.4 * np.sin(2 * np.pi * xx / 24),
        0.5 + 0.4 * np.cos(2 * np.pi * yy / 20),
        0.5 + 0.3 * np.sin(2 * np.pi * (xx + yy) / 40),
    ], axis=-1).astype(np.float32)


def sample_texture(tex: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Independent bilinear lookup (OpenCV): texel centres at ((c + .5) / R, 1 - (r + .5) / R)."""
    if tex.dtype == np.uint8:
        tex = tex.astype(np.float32) / 255.0
    r = tex.shape[0]
    x = (uv[..., 0] * r - 0.5).astype(np.float32)
    y = ((1.0 - uv[..., 1]) * r - 0.5).astype(np.float32)
    return cv2.remap(tex, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Scene:
    def __init__(self):
        tm = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
        raw = Mesh(np.asarray(tm.vertices, float) + [0.0, 0.0, 1.0], np.asarray(tm.faces, np.int64))
        atlas = unwrap(raw, R)
        self.mesh, self.plan, self.n_charts = atlas.mesh, atlas.plan, atlas.charts
        self.gt = ground_truth_texture()
        self.maps = render_maps(self.mesh, view_cameras(self.mesh, PAPER_VIEWS[:6], resolution=VIEW_RES), "cpu")
        self.images = [np.where(m.mask[..., None], sample_texture(self.gt, m.uv), 0.0).astype(np.float32)
                       for m in self.maps]

    def views(self, shift: int = 0, shifted_view: int = 2) -> list[FusionView]:
        """The views; view 0 is the input photo (counts double), `shifted_view` is moved by `shift` px."""
        out = []
        for i, (m, img) in enumerate(zip(self.maps, self.images, strict=True)):
            if i == shifted_view and shift:
                img = np.roll(img, shift, axis=1)  # a synthesized view misaligned by `shift` pixels
            out.append(FusionView(m, img, m.mask.copy(), np.ones(m.mask.shape, np.float32),
                                  loss_weight=2.0 if i == 0 else 1.0))
        return out

    def psnr(self, texture: np.ndarray) -> float:
        """PSNR of the texture's renders against the true (aligned) images, over all view pixels."""
        err = [((sample_texture(texture, m.uv) - img)[m.mask] ** 2).ravel()
               for m, img in zip(self.maps, self.images, strict=True)]
        return float(10 * np.log10(1.0 / np.mean(np.concatenate(err))))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a busy 2-core machine OpenMP's spinning threads make torch ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(perc.BACKBONE_ENV, raising=False)
    return tmp_path / "torch_home"


@pytest.fixture(scope="module")
def fake_backbone(tmp_path_factory):
    """torchvision AlexNet with random weights, saved where torch hub would keep the real file."""
    import torchvision

    torch.manual_seed(0)
    features = torchvision.models.alexnet().features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / perc.BACKBONE_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return home, path, state


# --- splat --------------------------------------------------------------------------------------


def test_splat_reproduces_the_views(scene):
    views = scene.views()
    s = splat_views(views, R)
    assert s.texture.shape == (R, R, 3) and s.texture.dtype == np.float32
    assert s.seen.any() and np.all(s.texture[~s.seen] == 0)
    res = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(iterations=0))
    assert res.texture.shape == (R, R, 3) and res.texture.dtype == np.uint8
    assert res.perceptual == "none" and res.iterations == 0
    assert np.isfinite(res.final_loss) and res.final_loss > 0  # the splat's L1 term
    assert scene.psnr(res.texture) > 25.0
    # seen texels lie in (or right beside) the charts
    assert (s.seen & ~res.chart_mask).sum() <= 0.001 * s.seen.sum()


def test_splat_weights_and_texel_centres():
    """One pixel exactly on a texel centre lands on that texel only; weights average colours."""
    from backend.raster.maps import ViewMaps

    r = 8
    uv = np.zeros((1, 2, 2), np.float32)
    uv[0, 0] = [(3 + 0.5) / r, 1 - (5 + 0.5) / r]  # column 3, row 5
    uv[0, 1] = uv[0, 0]
    maps = ViewMaps(None, np.ones((1, 2), bool), np.zeros((1, 2), np.int32), np.zeros((1, 2, 3), np.float32),
                    np.zeros((1, 2), np.float32), np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 3), np.float32),
                    uv)
    image = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    view = FusionView(maps, image, np.ones((1, 2), bool), np.array([[3.0, 1.0]], np.float32))
    s = splat_views([view], r)
    assert np.flatnonzero(s.seen.ravel()).tolist() == [5 * r + 3]
    np.testing.assert_allclose(s.texture[5, 3], [0.75, 0.0, 0.25], atol=1e-6)
    np.testing.assert_allclose(uv_to_grid(uv[0, 0]), [2 * (3.5 / r) - 1, 2 * (5.5 / r) - 1], atol=1e-6)


# --- optimisation -------------------------------------------------------------------------------


def test_optimisation_absorbs_a_misaligned_view(scene):
    views = scene.views(shift=1)
    splat = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(iterations=0))
    calls = []
    res = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(iterations=30, perceptual="substitute"),
                       progress=lambda i, n, loss: calls.append((i, n, loss)))
    assert res.perceptual == perc.SUBSTITUTE_NAME and res.iterations == 30
    assert [c[0] for c in calls] == list(range(1, 31)) and all(c[1] == 30 for c in calls)
    assert len(res.losses) == 31 and res.final_loss == res.losses[-1]
    assert res.final_loss < 0.9 * res.losses[0]  # the loss goes down
    assert min(res.losses[-5:]) <= min(res.losses[:-5])
    p_splat, p_opt = scene.psnr(splat.texture), scene.psnr(res.texture)
    print(f"PSNR splat {p_splat:.2f} dB, optimised {p_opt:.2f} dB; loss {res.losses[0]:.3f} -> {res.final_loss:.3f}")
    assert p_opt >= p_splat, (p_splat, p_opt)  # at least not worse (here: about +9 dB)
    assert res.seen.sum() >= splat.seen.sum()
    assert {"splat", "chart_mask", "optimize", "per_iteration", "total"} <= set(res.timings_s)


def test_a_few_steps_never_end_worse_than_the_start(scene):
    """One step at Adam's full rate from an aligned splat overshoots; the start is kept then."""
    views = scene.views()
    one = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(iterations=1, perceptual="substitute"))
    assert one.final_loss <= one.losses[0] + 1e-6
    none = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(iterations=0))
    assert scene.psnr(one.texture) >= scene.psnr(none.texture) - 0.05
    if any("is kept" in n for n in one.notes):  # the step overshot: the splat itself came back
        assert np.abs(one.texture.astype(int) - none.texture.astype(int)).max() <= 1  # 8-bit, logit round trip


def test_a_short_run_warms_up_over_its_whole_length(scene):
    """A preview's 10 steps must improve the texture: with a warm-up of 10% (one step) the first step
    at full rate jumped and 10 steps ended at 0.83 of the start; warming up over all 10, at 0.36."""
    at = lr_schedule(0.1, 10)
    assert at(0) == pytest.approx(0.01) and max(at(i) for i in range(10)) < 0.1
    assert lr_schedule(0.1, 200)(0) == pytest.approx(0.1 / 40)  # long runs: at least 40 steps, 10% beyond 400
    assert lr_schedule(0.1, 1000)(0) == pytest.approx(0.1 / 100)
    res = fuse_texture(scene.mesh, scene.views(), scene.plan, FusionOptions(iterations=10, perceptual="substitute"))
    assert res.final_loss < 0.5 * res.losses[0], (res.losses[0], res.final_loss)


def test_same_seed_same_texture(scene):
    views = scene.views(shift=1)
    kw = dict(iterations=6, perceptual="substitute", seed=3)
    a = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(**kw))
    b = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(**kw))
    assert np.array_equal(a.texture, b.texture) and a.losses == b.losses
    # a seeded random subset of views per step is deterministic too
    c = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(views_per_step=2, **kw))
    d = fuse_texture(scene.mesh, views, scene.plan, FusionOptions(views_per_step=2, **kw))
    assert np.array_equal(c.texture, d.texture) and c.losses == d.losses


def test_views_need_uv_maps(scene):
    v = scene.views()[0]
    maps = type(v.maps)(**{**v.maps.__dict__, "uv": None})
    with pytest.raises(ValueError, match="uv"):
        fuse_texture(scene.mesh, [FusionView(maps, v.image, v.mask, v.weight)], scene.plan, FusionOptions(iterations=0))


# --- charts, fill and bleed ---------------------------------------------------------------------


def test_chart_mask_matches_brute_force(scene):
    r = 64
    got = chart_mask(scene.mesh, r, dilate=0)
    # reference: barycentric coordinates of every texel centre in every triangle
    yy, xx = np.mgrid[0:r, 0:r] + 0.5
    p = np.stack([xx.ravel() / r, 1 - yy.ravel() / r], axis=1)
    ref = np.zeros(r * r, bool)
    tri = scene.mesh.uv[scene.mesh.faces_uv]
    for a, b, c in tri:
        m = np.array([b - a, c - a]).T
        if abs(np.linalg.det(m)) < 1e-14:
            continue
        l12 = np.linalg.solve(m, (p - a).T).T
        ref |= (l12 >= -1e-9).all(axis=1) & (l12.sum(axis=1) <= 1 + 1e-9)
    ref = ref.reshape(r, r)
    assert (ref & ~got).sum() == 0  # every covered centre is found
    extra = got & ~ref  # only the texels holding UV vertices may be added
    used = scene.mesh.uv[np.unique(scene.mesh.faces_uv)]
    vertex_texels = np.zeros((r, r), bool)
    rows, cols = np.clip((1 - used[:, 1]) * r, 0, r - 1).astype(int), np.clip(used[:, 0] * r, 0, r - 1).astype(int)
    vertex_texels[rows, cols] = True
    assert not (extra & ~vertex_texels).any()
    dilated = chart_mask(scene.mesh, r)
    assert (dilated >= got).all() and dilated.sum() > got.sum()


def test_chart_labels_follow_the_atlas(scene):
    n, face_chart = uv_charts(scene.mesh)
    assert n == scene.n_charts and face_chart.shape == (len(scene.mesh.faces),)
    labels = chart_labels(scene.mesh, R)
    assert labels.dtype == np.int32 and labels.min() == -1
    assert set(np.unique(labels[labels >= 0]).tolist()) == set(range(n))
    np.testing.assert_array_equal(labels >= 0, chart_mask(scene.mesh, R))
    # a texel at a face's UV centroid carries that face's chart
    cen = scene.mesh.uv[scene.mesh.faces_uv].mean(axis=1)
    rows = np.clip(((1 - cen[:, 1]) * R).astype(int), 0, R - 1)
    cols = np.clip((cen[:, 0] * R).astype(int), 0, R - 1)
    assert np.mean(labels[rows, cols] == face_chart) > 0.99


def two_charts(r=64):
    charts = np.zeros((r, r), bool)
    charts[8:28, 8:28] = True  # chart A
    charts[36:56, 30:60] = True  # chart B
    tex = np.zeros((r, r, 3), np.float32)
    tex[8:28, 8:28] = [0.9, 0.2, 0.3]
    tex[36:56, 30:60] = [0.2, 0.7, 0.9]
    seen = charts.copy()
    seen[12:20, 12:20] = False  # a hole in chart A no view saw
    seen[40:44, 40:58] = False
    tex[~seen] = np.nan  # whatever an unseen texel holds must not matter
    return tex, seen, charts


def test_fill_and_bleed_leaves_nothing_black():
    tex, seen, charts = two_charts()
    plan = PaddingPlan(64, 2, 4)
    out = fill_and_bleed(tex, seen, charts, plan)
    assert np.isfinite(out).all() and out.dtype == np.float32
    # every texel is a mix of the two chart colours (sums 1.4 and 1.8): no black mixed in anywhere
    assert (out.sum(axis=-1) >= 1.4 - 1e-4).all() and (out.min(axis=-1) >= 0.2 - 1e-4).all()
    np.testing.assert_array_equal(out[seen], tex[seen])  # seen texels are kept exactly
    np.testing.assert_allclose(out[12:20, 12:20], 0.0 * out[12:20, 12:20] + [0.9, 0.2, 0.3], atol=1e-5)
    np.testing.assert_allclose(out[40:44, 40:58], 0.0 * out[40:44, 40:58] + [0.2, 0.7, 0.9], atol=1e-5)
    # gutter texels within the bleed width carry the chart's colour...
    np.testing.assert_allclose(out[8:28, 28:32], np.broadcast_to([0.9, 0.2, 0.3], (20, 4, 3)), atol=1e-5)
    np.testing.assert_allclose(out[4:8, 8:28], np.broadcast_to([0.9, 0.2, 0.3], (4, 20, 3)), atol=1e-5)
    # ...so a bilinear lookup right at a chart's edge is not mixed with anything else
    r = 64
    edge_uv = np.array([[[(28.0) / r, 1 - 18.0 / r]]], np.float32)  # the right edge of chart A
    np.testing.assert_allclose(sample_texture(out, edge_uv)[0, 0], [0.9, 0.2, 0.3], atol=1e-3)
    # uint8 in, uint8 out
    out8 = fill_and_bleed(np.nan_to_num(tex * 255).astype(np.uint8), seen, charts, plan)
    assert out8.dtype == np.uint8 and out8.astype(int).sum(axis=-1).min() >= 1.4 * 255 - 3


def test_push_pull_fills_from_known_texels_only():
    img = np.zeros((33, 17, 3), np.float32)
    known = np.zeros((33, 17), bool)
    known[5, 3], known[30, 14] = True, True
    img[5, 3], img[30, 14] = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]
    out = push_pull(img, known)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)  # only mixes of the two known colours
    assert out[4, 3, 0] > out[4, 3, 2] and out[31, 14, 2] > out[31, 14, 0]


def test_fused_texture_has_no_black(scene):
    res = fuse_texture(scene.mesh, scene.views(), scene.plan, FusionOptions(iterations=0))
    assert res.texture.min() >= 0.05 * 255  # the ground truth never goes below 0.1
    assert res.chart_mask.sum() > 0.3 * R * R


# --- perceptual loss ------------------------------------------------------------------------------


def test_substitute_when_backbone_weights_are_absent(no_weights, no_network):
    fn, name, notes = load_perceptual("auto")
    assert name == perc.SUBSTITUTE_NAME and isinstance(fn, perc.MsGradSsim)
    text = " ".join(notes)
    assert perc.BACKBONE_FILE in text and str(no_weights) in text and "install_deps.py --models" in text
    fn2, name2, notes2 = load_perceptual("lpips")  # asked for LPIPS: still never a random backbone
    assert name2 == perc.SUBSTITUTE_NAME and "requested" in notes2[0]
    assert load_perceptual("none")[:2] == (None, "none")
    with pytest.raises(ValueError):
        load_perceptual("vgg")
    # the substitute: 0 on equal images, positive otherwise, deterministic, differentiable
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, 64, 48, generator=g)
    x = (y + 0.1 * torch.rand(1, 3, 64, 48, generator=g)).clamp(0, 1).requires_grad_(True)
    assert float(fn(y, y)) == pytest.approx(0.0, abs=1e-6)
    loss = fn(x, y)
    assert float(loss.detach()) > 0.0 and float(fn(x, y).detach()) == float(loss.detach())
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_lpips_from_a_local_backbone_file(fake_backbone, monkeypatch, no_network):
    home, path, state = fake_backbone
    monkeypatch.delenv(perc.BACKBONE_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(home))
    fn, name, notes = load_perceptual("auto")
    assert name == perc.LPIPS_NAME == "lpips-alex" and str(path) in notes[0]
    assert not fn.official and "sha256" in notes[1]  # random weights are not torchvision's file
    net = fn.model.net
    for i, k in ((0, 1), (3, 2), (6, 3), (8, 4), (10, 5)):  # every conv layer landed in its slice
        assert torch.equal(getattr(net, f"slice{k}")._modules[str(i)].weight, state[f"features.{i}.weight"])
        assert torch.equal(getattr(net, f"slice{k}")._modules[str(i)].bias, state[f"features.{i}.bias"])
    # our prepared-target path computes exactly what lpips.LPIPS.forward computes
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 1, 3, 64, 64, generator=g)
    ref = fn.model(x, y, normalize=True).mean()
    assert float(fn(x, y)) == pytest.approx(float(ref), rel=1e-5)
    # the env var (file or folder) is found through the same code path
    monkeypatch.setenv("TORCH_HOME", str(home / "elsewhere"))
    monkeypatch.setenv(perc.BACKBONE_ENV, str(path.parent))
    assert load_perceptual("lpips")[1] == perc.LPIPS_NAME
    monkeypatch.setenv(perc.BACKBONE_ENV, str(path))
    assert load_perceptual("auto")[1] == perc.LPIPS_NAME


def test_unreadable_backbone_falls_back(tmp_path, monkeypatch, no_network):
    bad = tmp_path / perc.BACKBONE_FILE
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setenv(perc.BACKBONE_ENV, str(bad))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    fn, name, notes = load_perceptual("auto")
    assert name == perc.SUBSTITUTE_NAME and "could not be loaded" in notes[0]


def test_fuse_with_lpips(scene, fake_backbone, monkeypatch, no_network):
    home, _, _ = fake_backbone
    monkeypatch.delenv(perc.BACKBONE_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(home))
    res = fuse_texture(scene.mesh, scene.views()[:3], scene.plan,
                       FusionOptions(iterations=3, perceptual="auto", perceptual_resolution=64))
    assert res.perceptual == "lpips-alex" and res.iterations == 3 and np.isfinite(res.final_loss)
