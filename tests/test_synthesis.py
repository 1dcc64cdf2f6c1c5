"""Multi-view synthesis on a figure whose true colours are known everywhere."""

import numpy as np
import pytest

from backend.raster import render_maps
from backend.synthesis import ClassicalInpainter, InpaintRequest, SupportView, aggregate, view_word
from backend.synthesis.back_view import classical_back_view, find_head
from backend.view_schedule import View, view_cameras
from lab.synthetic.figure import make_figure


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


def test_shade_is_not_a_hat_but_another_colour_is():
    """Hair in the shadow beside the face (darker, redder) is the crown's hair; a hat is another hue, colour
    against grey, or far lighter or darker (tests/test_unseen_side.py digitizes a person in a beanie)."""
    from backend.synthesis.back_view import another_material

    brown = np.array([0.55, 0.42, 0.28])
    in_shadow = np.array([[0.22, 0.15, 0.04], [0.30, 0.22, 0.13], [0.45, 0.33, 0.2]])  # the astronaut's curls
    assert not another_material(in_shadow, brown).any()
    assert not another_material(np.array([[0.07, 0.07, 0.08]]), np.array([0.15, 0.15, 0.16])).any()  # grey
    # Near black, hue and saturation are noise: a pixel of brown hair in deep shadow with a purple cast.
    assert not another_material(np.array([[40, 28, 30], [30, 20, 24]]) / 255.0, np.array([0.42, 0.28, 0.14])).any()
    red_hat, grey_hair, black_hair = np.array([0.81, 0.18, 0.27]), [0.16, 0.15, 0.16], [0.06, 0.05, 0.05]
    assert another_material(np.array([grey_hair, [0.42, 0.28, 0.14]]), red_hat).all()
    assert another_material(np.array([black_hair]), np.array([0.9, 0.9, 0.88])).all()  # a white hat


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hair_beside_the_face_is_not_taken_for_a_hat(seed):
    """Figures lit from the upper left, as in a photo (their hair darker on the shaded side and at the rim)."""
    from lab.synthetic.figure import render_figure

    fig = make_figure(seed=seed, height_m=1.7, voxel_m=0.015)
    cam = view_cameras(fig.mesh, [View(0)], resolution=512)[0]
    photo, mask = render_figure(fig, cam, shade=True)
    head = find_head(photo, mask, cam, fig.height_m, None)
    assert head.hat_colour is None and head.hat_edge_z is None
    assert np.allclose(head.hair_colours(np.array([[0.0, 0.1, fig.height_m - 0.05]])), head.hair_colour)


def test_long_hair_in_the_photo_hangs_down_the_back(figure, gt_views):
    """Hair the photo shows below the chin (over the shoulders) goes down the back of the neck and the
    upper back as far (further where the clothes hide its end, not where it ends on the neck's skin),
    with the hair's width; short hair ends at the nape."""
    front_maps, front_img = gt_views[0]
    cam = front_maps.camera
    photo = (front_img * 255).astype(np.uint8)
    short = find_head(photo, front_maps.mask, cam, figure.height_m, None)
    assert short.hair_end_z is None

    hair = np.asarray(figure.palette["hair"])
    (crown_u, crown_v), (chin_u, chin_v) = cam.project(np.array([[short.centre_x, 0.0, figure.height_m],
                                                                  [short.centre_x, 0.0, short.chin_z]]))[0]
    head_px = chin_v - crown_v
    long_photo, long_mask = photo.copy(), front_maps.mask.copy()
    rows = slice(int(crown_v + 0.3 * head_px), int(chin_v + 1.0 * head_px))
    locks = []
    for side in (-1, 1):  # two locks of hair from the temples down over the shoulders
        cols = slice(*sorted((int(crown_u + side * 0.3 * head_px), int(crown_u + side * 0.55 * head_px))))
        long_photo[rows, cols] = (hair * 255).astype(np.uint8)
        long_mask[rows, cols] = True
        locks.append(cols)
    end_z = cam.rays(np.array([[crown_u, rows.stop]]))[0][0, 2]  # orthographic: the row's height
    # Locks that end in the air end there.
    in_the_air = long_mask.copy()
    for cols in locks:
        in_the_air[rows.stop : rows.stop + 4, cols] = False
    assert abs(find_head(long_photo, in_the_air, cam, figure.height_m, None).hair_end_z - end_z) < 0.02
    # Locks that end on the person (the chest in front of them) hang on behind it, half a head further.
    head = find_head(long_photo, long_mask, cam, figure.height_m, None)
    assert abs(head.hair_end_z - (end_z - 0.5 * (figure.height_m - short.chin_z))) < 0.03
    assert head.hair_half_width_m > short.half_width_m
    # Locks that end on the neck's skin (a bob's tips) end there: no strip of hair down the back. The
    # pixels under them take the face's own colour, as a neck below the jaw does.
    face_rows = slice(int(crown_v + 0.5 * head_px), int(chin_v))
    face_cols = slice(int(crown_u - 0.1 * head_px), int(crown_u + 0.1 * head_px))
    skin = np.median(photo[face_rows, face_cols].reshape(-1, 3), axis=0)
    on_the_neck = long_photo.copy()
    for cols in locks:
        on_the_neck[rows.stop : rows.stop + 4, cols] = skin
    assert abs(find_head(on_the_neck, long_mask, cam, figure.height_m, None).hair_end_z - end_z) < 0.02
    # Locks shaded apart from the crown at the temples still hang from the head: they reach up beside the face.
    parted = long_photo.copy()
    for cols in locks:
        parted[rows.start : rows.start + int(0.15 * head_px), cols] = (0.9 * 255, 0.75 * 255, 0.65 * 255)
    assert abs(find_head(parted, long_mask, cam, figure.height_m, None).hair_end_z - head.hair_end_z) < 0.01

    back_maps, _ = gt_views[180]
    image, _, _ = classical_back_view(back_maps, long_photo, long_mask, cam, head)
    p = back_maps.position
    on_axis = back_maps.mask & (np.abs(p[..., 0] - head.centre_x) < 0.5 * head.hair_half_width_m)
    neck_and_back = on_axis & (p[..., 2] < head.chin_z - 0.02) & (p[..., 2] > head.hair_end_z + 0.02)
    below = on_axis & (p[..., 2] < head.hair_end_z - 0.05)
    assert neck_and_back.sum() > 50 and below.sum() > 50
    assert np.mean(np.abs(image[neck_and_back] - hair).max(axis=1) < 0.05) > 0.95
    assert np.mean(np.abs(image[below] - hair).max(axis=1) < 0.05) < 0.05
    short_image, _, _ = classical_back_view(back_maps, photo, front_maps.mask, cam, short)
    assert np.mean(np.abs(short_image[neck_and_back] - hair).max(axis=1) < 0.05) < 0.05


@pytest.mark.parametrize("az,word", [(0, "front"), (45, "left"), (-45, "right"), (90, "side"), (-90, "side"),
                                     (135, "back"), (-135, "back"), (180, "back")])
def test_view_words(az, word):
    assert view_word(az) == word


def striped_surface(h=80, w=120):
    """A flat patch of horizontal stripes whose position map says: x goes round, z goes up."""
    rows, cols = np.mgrid[0:h, 0:w]
    green, pink = np.array([0.1, 0.7, 0.5], np.float32), np.array([0.8, 0.4, 0.5], np.float32)
    img = np.where(((rows // 8) % 2 == 0)[..., None], green, pink).astype(np.float32)
    position = np.dstack([cols / 100.0, np.zeros((h, w)), 1.5 - rows / 100.0]).astype(np.float32)
    normal = np.dstack([np.zeros((h, w, 2)), np.ones((h, w))]).astype(np.float32)
    return img, position, normal


def test_classical_inpainter_continues_stripes_from_the_same_height():
    """A hidden band of the body (the torso's side under an arm) takes the colours beside it at its
    own height: the stripes run on through it instead of averaging into a grey smear."""
    truth, position, normal = striped_surface()
    sil = np.ones(truth.shape[:2], bool)
    missing = np.zeros_like(sil)
    missing[:, 50:70] = True  # a full-height band, 20 px wide
    image = np.where(missing[..., None], 0.0, truth).astype(np.float32)
    with_pos = ClassicalInpainter().inpaint(InpaintRequest(image, missing, sil, normal, 90.0, 0.0, position=position))
    without = ClassicalInpainter().inpaint(InpaintRequest(image, missing, sil, normal, 90.0, 0.0))
    err_with = np.abs(with_pos[missing] - truth[missing]).max(axis=1)
    err_without = np.abs(without[missing] - truth[missing]).max(axis=1)
    assert np.mean(err_with < 0.05) > 0.85  # all but the rows where two stripes meet
    assert err_with.mean() < 0.5 * err_without.mean()
    assert np.array_equal(with_pos[~missing], image[~missing])


def test_front_only_details_finds_a_badge_not_the_stripes():
    from backend.synthesis.front_details import front_only_details

    truth, _, _ = striped_surface(120, 120)
    rgb = (truth * 255).astype(np.uint8)
    rgb[40:56, 30:46] = [250, 220, 40]  # a yellow badge on the chest
    known = np.ones(rgb.shape[:2], bool)
    details = front_only_details(rgb, known, torso_landmarks())
    assert details[40:56, 30:46].all()
    assert not details[:, 60:].any() and not details[70:].any()  # stripes elsewhere are kept
    assert not front_only_details(rgb, known, None).any()  # no pose, no guess


def torso_landmarks(shoulders=((100, 10), (10, 10)), hips=((100, 110), (10, 110))) -> np.ndarray:
    """MediaPipe-shaped landmarks with only the shoulders and hips, confident."""
    from backend.synthesis.front_details import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER

    landmarks = np.zeros((33, 3))
    for joint, (u, v) in zip((LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP), (*shoulders, *hips), strict=True):
        landmarks[joint] = (u, v, 0.99)
    return landmarks


def test_closures_find_a_tie_down_the_middle_not_vertical_stripes_or_the_legs_gap():
    """A tie on a striped shirt is front-only; a pattern of vertical stripes runs round; the dark gap
    between the legs starts at the crotch, not at the collar, and is not a closure."""
    from backend.synthesis.front_details import closure_details

    truth, _, _ = striped_surface(200, 120)
    rgb = (truth * 255).astype(np.uint8)
    known = np.ones(rgb.shape[:2], bool)
    landmarks = torso_landmarks()
    tie = rgb.copy()
    tie[12:100, 50:60] = [200, 30, 40]
    found = closure_details(tie, known, landmarks)
    assert found[12:100, 50:60].mean() > 0.95
    assert not found[:, :44].any() and not found[:, 66:].any()
    assert not closure_details(rgb, known, landmarks).any()  # the stripes alone
    legs = rgb.copy()
    legs[115:, 52:58] = 20  # shadow between the legs, below the hips
    assert not closure_details(legs, known, landmarks).any()
    pinstripes = rgb.copy()
    pinstripes[12:100, 46:64:6] = [250, 250, 250]  # four thin vertical stripes in the middle
    assert not closure_details(pinstripes, known, landmarks).any()
    assert not closure_details(tie, known, None).any()  # no pose, no guess


def test_back_view_leaves_the_front_badge_out(figure, gt_views):
    """The figure's chest badge is on its front only: the back view made from the front must not show it."""
    from backend.synthesis.front_details import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER, front_only_details

    front_maps, front_img = gt_views[0]
    cam = front_maps.camera
    photo = (front_img * 255).astype(np.uint8)
    shoulders = [c.a for c in figure.capsules if c.part == "upper_arm"]
    hips = [c.a for c in figure.capsules if c.part == "thigh"]
    landmarks = np.zeros((33, 3))
    for joint, point in zip((LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP), (*shoulders, *hips), strict=True):
        landmarks[joint, :2] = cam.project(np.asarray(point)[None])[0][0]
        landmarks[joint, 2] = 1.0
    known = front_maps.mask & ~front_only_details(photo, front_maps.mask, landmarks)
    head = find_head(photo, front_maps.mask, cam, figure.height_m, None)
    back_maps, _ = gt_views[180]
    image, filled, _ = classical_back_view(back_maps, photo, known, cam, head)
    image = ClassicalInpainter().inpaint(InpaintRequest(image, back_maps.mask & ~filled, back_maps.mask,
                                                        back_maps.normal, 180.0, 0.0, position=back_maps.position))
    s = figure.height_m / 1.75
    p = back_maps.position
    behind_badge = back_maps.mask & (np.abs(p[..., 0] + 0.08 * s) < 0.04 * s) \
        & (np.abs(p[..., 2] - 1.28 * s) < 0.04 * s)
    assert behind_badge.sum() > 20
    badge = np.asarray(figure.palette["badge"], float)
    shirt = np.stack([figure.palette["shirt"], figure.palette["stripe"]])
    colours = image[behind_badge]
    assert np.abs(colours - badge).max(axis=1).mean() > 0.2
    assert np.abs(colours[:, None] - shirt[None]).max(axis=2).min(axis=1).mean() < 0.1  # the shirt's own colours


def torso_and_hand():
    """A torso block and, a hand's width in front of its belly, a hand block: mesh and fitted body
    (the same boxes, finely meshed so every face has vertices of its own part nearby)."""
    import trimesh

    from backend.mesh import Mesh
    from backend.shape.body import FittedBody
    from backend.shape.body.model import PARTS

    torso = trimesh.creation.box(extents=(0.36, 0.22, 0.6), transform=trimesh.transformations.translation_matrix(
        (0, 0, 1.2)))
    hand = trimesh.creation.box(extents=(0.1, 0.04, 0.12), transform=trimesh.transformations.translation_matrix(
        (0.05, -0.16, 1.1)))
    meshes = [trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(b.vertices, b.faces, 0.02)) for b in (torso, hand)]
    parts = np.concatenate([np.full(len(meshes[0].vertices), PARTS.index("torso")),
                            np.full(len(meshes[1].vertices), PARTS.index("hand.L"))])
    both = trimesh.util.concatenate(meshes)
    mesh = Mesh(np.asarray(both.vertices, np.float32), np.asarray(both.faces, np.int32))
    return mesh, FittedBody(mesh, parts, {})


def test_back_takes_each_limbs_colour_not_what_lies_in_front_of_it():
    """A hand resting on the belly is the hand's colour in the photo; the back behind it is the shirt's."""
    from backend.synthesis.back_view import HeadRegion
    from backend.synthesis.limbs import LIMBS, LimbSource

    mesh, fitted = torso_and_hand()
    front, back = render_maps(mesh, view_cameras(mesh, [View(0), View(180)], resolution=128), backend="cpu")
    shirt, skin = np.array([0.8, 0.1, 0.1]), np.array([0.9, 0.7, 0.55])
    limbs = LimbSource.from_body(fitted, front)
    hand_px = limbs.photo_limbs == LIMBS.index("arm.L")
    assert hand_px.sum() > 50 and (limbs.photo_limbs == LIMBS.index("torso")).sum() > 10 * hand_px.sum()
    photo = np.where(hand_px[..., None], skin, shirt) * front.mask[..., None]
    photo = (photo * 255).astype(np.uint8)
    no_head = HeadRegion(chin_z=10.0, half_width_m=0.0, centre_x=0.0, hair_colour=np.zeros(3), from_landmarks=False)
    # The torso's back, where the photo's ray through it meets the hand first.
    behind = back.mask.copy()
    behind[back.mask] = limbs.limbs_of(back.position[back.mask]) == LIMBS.index("torso")
    uv, _ = front.camera.project(back.position[behind])
    rows, cols = np.floor(uv[:, 1]).astype(int), np.floor(uv[:, 0]).astype(int)
    under_hand = np.zeros_like(behind)
    under_hand[behind] = hand_px[rows.clip(0, 127), cols.clip(0, 127)]
    assert under_hand.sum() > 30

    carried, _, _ = classical_back_view(back, photo, front.mask, front.camera, no_head)  # straight through
    assert np.abs(carried[under_hand] - skin).max(axis=1).mean() < 0.05  # the hand shows on the back
    image, filled, _ = classical_back_view(back, photo, front.mask, front.camera, no_head, limbs)
    assert filled[back.mask].all()
    assert np.abs(image[under_hand] - shirt).max() < 0.02  # the shirt, all of it
    torso_back = behind & ~under_hand
    assert np.abs(image[torso_back] - shirt).max() < 0.02
    hand_back = back.mask & ~behind  # the back of the hand (seen from behind only round the torso's edge: none)
    assert np.abs(image[hand_back] - skin).max(initial=0) < 0.02


def test_the_photos_hand_colours_the_fitted_hand_and_nothing_behind_it():
    """The photo's hand lies a few centimetres beside the fitted one (as fits do): the torso's back behind the
    photo's hand is not painted from it, and the fitted hand's surfaces the photo does not see are, wherever
    the fitted hand lies. What the photo sees face-on keeps its own pixel (the front is the photo)."""
    from scipy import ndimage

    from backend.synthesis.limbs import LIMBS, NO_HAND, SEEN_M, LimbSource

    mesh, fitted = torso_and_hand()
    front, left, back, right = render_maps(
        mesh, view_cameras(mesh, [View(0), View(90), View(180), View(270)], resolution=128), backend="cpu")
    fitted_hand = LimbSource.from_body(fitted, front).photo_limbs == LIMBS.index("arm.L")
    photo_hand = np.roll(fitted_hand, 7, axis=1) & front.mask  # about 4 cm to the side, half over the torso
    assert (photo_hand & ~fitted_hand).sum() > 50
    limbs = LimbSource.from_body(fitted, front, {"L": photo_hand})
    known = front.mask

    def read_from(maps):
        points = maps.position[maps.mask].astype(np.float64)
        uv, depth = front.camera.project(points)
        moved, found = limbs.redirect(points, uv, known)
        rows, cols = (np.clip(np.floor(moved[:, k]).astype(int), 0, 127) for k in (1, 0))
        return points, uv, depth, photo_hand[rows, cols], found

    # The torso's back, where the photo's ray through it meets the photo's hand first.
    points, uv, _, reads_hand, found = read_from(back)
    rows, cols = (np.floor(uv[:, k]).astype(int).clip(0, 127) for k in (1, 0))
    behind_hand = (limbs.hands_of(points) == NO_HAND) & photo_hand[rows, cols]
    assert behind_hand.sum() > 30
    assert found[behind_hand].all() and not reads_hand[behind_hand].any()  # straight through, all of them would
    # The fitted hand from the side: its surfaces behind what the photo shows read from the photo's hand, also
    # where the fitted hand lies over the shirt in the photo.
    over_shirt = 0
    for side in (left, right):
        points, uv, depth, reads_hand, _ = read_from(side)
        rows, cols = (np.floor(uv[:, k]).astype(int).clip(0, 127) for k in (1, 0))
        hand = (limbs.hands_of(points) == 0) & (depth > front.depth[rows, cols] + SEEN_M)
        assert hand.sum() > 30 and reads_hand[hand].all()
        over_shirt += (hand & ~photo_hand[rows, cols]).sum()
    assert over_shirt > 10
    # The torso's front, seen face-on under the photo's hand, keeps the photo's pixel (the hand's colour).
    points, uv, _, reads_hand, _ = read_from(front)
    rows, cols = (np.floor(uv[:, k]).astype(int).clip(0, 127) for k in (1, 0))
    away_from_fitted_hand = ~ndimage.binary_dilation(fitted_hand, iterations=3)  # an edge between two limbs blends
    seen_torso = (limbs.hands_of(points) == NO_HAND) & (photo_hand & away_from_fitted_hand)[rows, cols]
    assert seen_torso.sum() > 10 and reads_hand[seen_torso].all()


def test_a_side_seen_edge_on_takes_the_colour_the_photo_sees_face_on():
    """The photo's rim (where the body turns away: shaded dark, blended with the backdrop) is not the side's
    colour: with a fitted body the side view reads each limb's colour where the photo sees it face-on."""
    import trimesh

    from backend.mesh import Mesh
    from backend.shape.body import FittedBody
    from backend.shape.body.model import PARTS
    from backend.synthesis.limbs import EDGE_ON_COS, LimbSource

    body = trimesh.creation.cylinder(radius=0.15, height=0.6, sections=48,
                                     transform=trimesh.transformations.translation_matrix((0, 0, 1.2)))
    body = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(body.vertices, body.faces, 0.02))
    mesh = Mesh(np.asarray(body.vertices, np.float32), np.asarray(body.faces, np.int32))
    fitted = FittedBody(mesh, np.full(len(mesh.vertices), PARTS.index("torso")), {})
    front, side = render_maps(mesh, view_cameras(mesh, [View(0), View(90)], resolution=128), backend="cpu")
    shirt, rim = np.array([0.2, 0.5, 0.8], np.float32), np.array([0.05, 0.05, 0.05], np.float32)
    edge_on = front.mask & (front.normal[..., 2] < EDGE_ON_COS)
    assert edge_on.sum() > 100
    photo = np.where(edge_on[..., None], rim, shirt) * front.mask[..., None]
    limbs = LimbSource.from_body(fitted, front)

    def side_from_photo(colour_source):
        support = SupportView(front, photo.astype(np.float32), front.mask, colour_source=colour_source)
        return aggregate(side, [support], min_weight=1e-6)

    plain = side_from_photo(None)
    cleaned = side_from_photo(lambda points, uv: limbs.redirect(points, uv, front.mask)[0])
    from backend.synthesis.aggregate import world_normals

    towards_photo = np.zeros(side.mask.shape)
    towards_photo[side.mask] = -world_normals(side)[:, 1]  # the photo looks along +Y
    seen = plain.explained & cleaned.explained & (towards_photo < EDGE_ON_COS - 0.05)
    assert seen.sum() > 200
    assert np.abs(plain.image[seen] - rim).max(axis=1).mean() < 0.2  # the dark rim stretched over the side
    assert np.abs(cleaned.image[seen] - shirt).max() < 0.02  # the shirt, all of it


def test_long_hair_from_behind_has_rounded_tips_and_soft_edges():
    """Long hair down the back was a rectangle cut out of the back, its corners square and its edges a
    one-pixel step. Now its tips rise toward its sides and its outline blends over a couple of cm."""
    from backend.synthesis.back_view import HAIR_SOFT_M, HeadRegion

    head = HeadRegion(chin_z=1.5, half_width_m=0.09, centre_x=0.0, hair_colour=np.zeros(3), from_landmarks=True,
                      hair_end_z=1.2, hair_half_width_m=0.12)

    def cover(x, z):
        return head.hair_cover(np.array([[x, 0.1, z]]))[0]

    # The middle hangs to the hair's end; near its sides, at the same height, the tips have risen above it.
    assert cover(0.0, 1.23) > 0.99 and cover(0.11, 1.23) < 0.5
    assert cover(0.11, 1.35) > 0.99  # higher up the curtain is as wide as the photo shows it
    # Across its side edge and its lower end, the cover goes from all to none through every share between.
    across = [cover(x, 1.4) for x in np.linspace(0.08, 0.16, 81)]
    down = [cover(0.0, z) for z in np.linspace(1.25, 1.15, 101)]
    for profile in (across, down):
        assert profile[0] == 1.0 and profile[-1] == 0.0 and np.all(np.diff(profile) <= 1e-9)
        assert sum(0.1 < c < 0.9 for c in profile) >= 0.7 * HAIR_SOFT_M / 0.001  # blended over ~HAIR_SOFT_M
    # Short hair (no long hair seen): the whole head above the chin, its hairline at the nape fading out
    # over HAIR_SOFT_M below the chin, and nothing lower.
    short = HeadRegion(chin_z=1.5, half_width_m=0.09, centre_x=0.0, hair_colour=np.zeros(3), from_landmarks=True)
    nape = short.hair_cover(np.array([[0.0, 0.1, z] for z in (1.505, 1.5 - HAIR_SOFT_M / 2, 1.5 - HAIR_SOFT_M, 1.45)]))
    assert np.allclose(nape, [1.0, 0.5, 0.0, 0.0])


def test_the_side_views_paint_the_head_behind_the_ears_with_hair():
    """The photo sees the side of the head only at its rim; read from the face, it carried skin to the
    back of the head beside the back view's hair. Behind the ear plane every view now shows the hair."""
    from types import SimpleNamespace

    from backend.synthesis.aggregate import Aggregate
    from backend.synthesis.back_view import HeadRegion
    from backend.synthesis.limbs import LIMBS
    from backend.synthesis.multiview import hair_on_head

    hair = np.array([0.4, 0.25, 0.1])
    head = HeadRegion(chin_z=1.5, half_width_m=0.1, centre_x=0.0, hair_colour=hair, from_landmarks=True)
    # A head 0.2 m deep, its face toward -Y: the ears halfway through, at y = 0.
    rng = np.random.default_rng(0)
    ball = rng.normal(size=(2000, 3))
    head.measure_ears(0.1 * ball / np.linalg.norm(ball, axis=1, keepdims=True) + [0.0, 0.0, 1.6])
    assert abs(head.ear_y) < 0.01
    head.ear_y = 0.0  # exactly, for the blend's numbers below

    points = np.array([[0.09, 0.06, 1.6],    # the side, behind the ear: hair
                       [0.09, -0.06, 1.6],   # the side of the face: left as the photo has it
                       [0.0, 0.09, 1.45],    # the neck, below the chin: not the head
                       [0.0, 0.0, 1.6]])     # on the ear plane: half and half
    assert np.allclose(head.hair_behind_ears(points), [1.0, 0.0, 0.0, 0.5])

    mask = np.ones((1, 4), bool)
    maps = SimpleNamespace(mask=mask, position=points[None].astype(np.float32))
    skin = np.array([0.9, 0.7, 0.55], np.float32)
    agg = Aggregate(np.tile(skin, (1, 4, 1)), np.ones((1, 4), np.float32), np.zeros((1, 4), bool), mask.copy())
    agg.explained[0, 0] = False  # nobody saw the back of the head's side: painted, no longer missing
    agg.missing[0, 0] = True
    hair_on_head(agg, maps, head, limbs_of=None)
    assert np.allclose(agg.image[0, 0], hair) and np.allclose(agg.image[0, 1], skin)
    assert np.allclose(agg.image[0, 2], skin) and np.allclose(agg.image[0, 3], (hair + skin) / 2)
    assert agg.explained.all() and not agg.missing.any()
    # A hand raised beside the head is not hair.
    agg.image[:] = skin
    hair_on_head(agg, maps, head, limbs_of=lambda p: np.full(len(p), LIMBS.index("arm.L")))
    assert np.allclose(agg.image, skin)
