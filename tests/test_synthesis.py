"""Multi-view synthesis on a figure whose true colours are known everywhere."""

import numpy as np
import pytest

from backend.raster import render_maps
from backend.synthesis import ClassicalInpainter, InpaintRequest, SupportView, aggregate, view_word
from backend.synthesis.back_view import classical_back_view, find_head
from backend.synthetic.figure import make_figure
from backend.views import View, view_cameras


@pytest.fixture(scope="module")
def figure():
    return make_figure(seed=1, height_m=1.7, voxel_m=0.015)


@pytest.fixture(scope="module")
def gt_views(figure):
    """Ground-truth colour images of the figure from the front, ±45, ±90 and the back."""
    views = [View(0), View(45), View(90), View(180), View(-45)]
    maps = render_maps(figure.mesh, view_cameras(figure.mesh, views, resolution=256), backend="cpu")
    out = {}
    for v, m in zip(views, maps, strict=True):
        img = np.zeros(m.mask.shape + (3,), np.float32)
        img[m.mask] = figure.colour(m.position[m.mask])
        out[v.azimuth_deg] = (m, img)
    return out


def psnr(a, b):
    mse = float(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def test_aggregation_carries_true_colours_to_a_new_view(gt_views):
    front_maps, front_img = gt_views[0]
    target_maps, target_img = gt_views[45]
    agg = aggregate(target_maps, [SupportView(front_maps, front_img, front_maps.mask)])
    ex = agg.explained
    assert ex.sum() > 0.4 * target_maps.mask.sum()  # most of what the front saw head-on
    assert psnr(agg.image[ex], target_img[ex]) > 24
    assert not (agg.missing & ~target_maps.mask).any() and not (agg.explained & agg.missing).any()


def test_occluded_surfaces_get_no_colour_through_the_body(gt_views):
    """The back is hidden from the front camera: nothing may be taken from the front for it."""
    front_maps, front_img = gt_views[0]
    back_maps, _ = gt_views[180]
    agg = aggregate(back_maps, [SupportView(front_maps, front_img, front_maps.mask)])
    assert agg.explained.sum() < 0.01 * back_maps.mask.sum()


def test_grazing_and_edge_pixels_are_left_to_the_inpainter(gt_views):
    front_maps, front_img = gt_views[0]
    side_maps, _ = gt_views[90]
    agg = aggregate(side_maps, [SupportView(front_maps, front_img, front_maps.mask)])
    # From the side, the front camera saw the body at grazing angles: most of it stays missing.
    assert agg.missing.sum() > 0.5 * side_maps.mask.sum()
    loose = aggregate(side_maps, [SupportView(front_maps, front_img, front_maps.mask)], min_weight=0.0)
    assert loose.explained.sum() > agg.explained.sum()


def test_two_supports_blend_and_more_support_explains_more(gt_views):
    front_maps, front_img = gt_views[0]
    right_maps, right_img = gt_views[-45]
    target_maps, target_img = gt_views[45]
    one = aggregate(target_maps, [SupportView(front_maps, front_img, front_maps.mask)])
    two = aggregate(target_maps, [SupportView(front_maps, front_img, front_maps.mask),
                                  SupportView(right_maps, right_img, right_maps.mask)])
    assert two.explained.sum() >= one.explained.sum()
    assert psnr(two.image[two.explained], target_img[two.explained]) > 24


def test_classical_inpainter_changes_only_missing_pixels_with_body_colours():
    rng = np.random.default_rng(0)
    h = w = 96
    sil = np.zeros((h, w), bool)
    sil[10:90, 30:70] = True
    img = np.zeros((h, w, 3), np.float32)
    img[~sil] = [1.0, 0.0, 0.0]  # a loud background colour that must never leak in
    img[sil] = [0.2, 0.4, 0.6]
    img[10:50, 30:70] = [0.3, 0.6, 0.3]
    img[sil] += rng.normal(0, 0.01, (sil.sum(), 3)).astype(np.float32)
    missing = np.zeros_like(sil)
    missing[40:60, 30:70] = True
    req = InpaintRequest(img, missing, sil, np.dstack([np.zeros((h, w, 2)), np.ones((h, w))]), 90.0, 0.0)
    out = ClassicalInpainter().inpaint(req)
    assert np.array_equal(out[~missing], img[~missing])
    filled = out[missing]
    assert filled[:, 0].max() < 0.4  # no red from the background
    assert filled.min() > 0.1  # no black holes
    # The fill continues the colours above and below it.
    assert np.allclose(out[42, 50], [0.3, 0.6, 0.3], atol=0.08)
    assert np.allclose(out[58, 50], [0.2, 0.4, 0.6], atol=0.08)


def test_back_view_has_hair_not_a_face(figure, gt_views):
    # The "photo": the figure's front, shaded like a photo, through an orthographic input camera.
    front_maps, front_img = gt_views[0]
    cam = front_maps.camera
    photo = (front_img * 255).astype(np.uint8)
    head = find_head(photo, front_maps.mask, cam, figure.height_m, None)
    hair = np.asarray(figure.palette["hair"], float)
    assert np.abs(head.hair_colour - hair).max() < 0.1
    back_maps, back_gt = gt_views[180]
    image, filled, head_px = classical_back_view(back_maps, photo, front_maps.mask, cam, head)
    assert filled.mean() > 0.9 * back_maps.mask.mean()
    assert head_px.any()
    # No eye or mouth colour anywhere on the back of the head, and it matches the true back of the head.
    eye = np.array([0.1, 0.15, 0.3])
    assert np.linalg.norm(image[head_px] - eye, axis=1).min() > 0.1
    assert np.abs(image[head_px].mean(axis=0) - back_gt[head_px].mean(axis=0)).max() < 0.15


@pytest.mark.parametrize("az,word", [(0, "front"), (45, "left"), (-45, "right"), (90, "side"), (-90, "side"),
                                     (135, "back"), (-135, "back"), (180, "back")])
def test_view_words(az, word):
    assert view_word(az) == word
