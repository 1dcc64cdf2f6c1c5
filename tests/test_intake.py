"""Tests of the photo intake stage: loading, segmentation, cropping (all images built on the fly)."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from backend.errors import InputImageError, NoPersonError, UserError
from backend.intake import (
    Photo,
    Segmentation,
    WorkingImage,
    crop_to_working,
    load_photo,
    mask_to_original,
    segment_person,
)
from backend.intake import segment as segment_module

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(not HAS_MEDIAPIPE, reason="mediapipe is not installed")


# --- helpers ------------------------------------------------------------------------------


def noisy_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def person_shape(h: int = 400, w: int = 300) -> np.ndarray:
    """A standing figure: head, neck, torso, arms, legs (bool (h, w))."""
    m = np.zeros((h, w), np.uint8)
    cx = w // 2
    cv2.circle(m, (cx, int(0.12 * h)), int(0.065 * h), 1, -1)  # head
    cv2.rectangle(m, (cx - 10, int(0.17 * h)), (cx + 10, int(0.22 * h)), 1, -1)  # neck
    cv2.rectangle(m, (cx - int(0.15 * w), int(0.21 * h)), (cx + int(0.15 * w), int(0.55 * h)), 1, -1)  # torso
    for side in (-1, 1):
        sx = cx + side * int(0.15 * w)
        arm = np.array([[sx, int(0.22 * h)], [sx + side * int(0.16 * w), int(0.52 * h)],
                        [sx + side * int(0.10 * w), int(0.53 * h)], [sx - side * 2, int(0.30 * h)]], np.int32)
        cv2.fillPoly(m, [arm], 1)  # arm, held away from the body
        lx = cx + side * int(0.07 * w)
        cv2.rectangle(m, (lx - int(0.06 * w), int(0.54 * h)), (lx + int(0.06 * w), int(0.94 * h)), 1, -1)  # leg
    return m.astype(bool)


def person_photo(h: int = 400, w: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A dark textured silhouette on a light, slightly uneven background; returns (rgb, true mask)."""
    rng = np.random.default_rng(seed)
    mask = person_shape(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = 215 + 15 * (xx / w) - 10 * (yy / h)
    rgb = np.repeat(bg[..., None], 3, axis=2) + rng.normal(0, 6, (h, w, 3))
    rgb[..., 2] += 8  # a slightly warm wall
    body = np.stack([60 + 10 * np.sin(yy / 7), 55 + 0 * yy, 75 + 10 * np.cos(xx / 5)], axis=-1)
    body += rng.normal(0, 8, (h, w, 3))
    rgb = np.where(mask[..., None], body, rgb)
    return np.clip(rgb, 0, 255).astype(np.uint8), mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def centroid(img: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre in continuous pixel coordinates (u, v)."""
    g = img.astype(np.float64)
    if g.ndim == 3:
        g = g.sum(axis=2)
    v, u = np.mgrid[0 : g.shape[0], 0 : g.shape[1]] + 0.5
    return np.array([(g * u).sum(), (g * v).sum()]) / g.sum()


# --- load_photo ---------------------------------------------------------------------------


def test_jpeg_exif_orientation_is_applied(tmp_path):
    stored = np.full((80, 120, 3), 230, np.uint8)  # stored 120 wide x 80 tall
    stored[:20, :30] = (220, 30, 30)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    photo = load_photo(path)
    assert (photo.width, photo.height) == (80, 120)
    assert photo.rgb.shape == (120, 80, 3) and photo.rgb.dtype == np.uint8
    expected = np.rot90(stored, k=-1)  # clockwise
    assert np.abs(photo.rgb.astype(int) - expected).mean() < 4
    assert photo.rgb[5, 75, 0] > 180 and photo.rgb[5, 75, 1] < 80  # red now at the top-right
    assert photo.alpha is None and photo.source_mode == "RGB"


def test_rgba_cutout_uses_alpha(tmp_path):
    rgb, shape = person_photo(200, 150)
    rgba = np.dstack([rgb, np.where(shape, 255, 0).astype(np.uint8)])
    rgba[~shape, :3] = 0  # what most cut-out tools leave under transparency
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    photo = load_photo(path)
    assert photo.alpha is not None and photo.alpha.dtype == np.float32
    assert photo.alpha.min() == 0.0 and photo.alpha.max() == 1.0
    seg = segment_person(photo)
    assert isinstance(seg, Segmentation)
    assert seg.method == "alpha" and seg.confidence == 1.0
    assert seg.mask.dtype == bool and np.array_equal(seg.mask, shape)
    assert np.array_equal(segment_person(photo, method="alpha").mask, shape)


def test_opaque_png_has_no_alpha(tmp_path):
    path = tmp_path / "opaque.png"
    Image.fromarray(np.dstack([noisy_rgb(80, 90), np.full((80, 90), 255, np.uint8)]), "RGBA").save(path)
    photo = load_photo(path)
    assert photo.alpha is None and photo.source_mode == "RGBA"
    with pytest.raises(UserError, match="no transparent background"):
        segment_person(photo, method="alpha")


def test_16bit_grayscale_png_scaled_to_8bit(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (80, 1))
    path = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(path)
    photo = load_photo(path)
    assert photo.source_mode.startswith("I")
    assert photo.rgb.shape == (80, 256, 3)
    expected = np.rint(ramp / 257.0)
    assert np.abs(photo.rgb[..., 0].astype(int) - expected).max() <= 1
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 2])
    assert photo.rgb.max() == 255 and photo.rgb.min() == 0


def test_16bit_rgb_tiff_and_png(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 200).astype(np.uint16), (70, 1))
    bgr16 = np.dstack([ramp // 4, ramp // 2, ramp])  # cv2 writes BGR: red is the brightest
    for ext in ("tif", "png"):
        path = tmp_path / f"rgb16.{ext}"
        assert cv2.imwrite(str(path), bgr16)
        photo = load_photo(path)
        assert photo.rgb.shape == (70, 200, 3)
        assert abs(int(photo.rgb[10, -1, 0]) - 255) <= 1 and abs(int(photo.rgb[10, -1, 1]) - 128) <= 1


def test_cmyk_jpeg(tmp_path):
    rgb = np.zeros((80, 120, 3), np.uint8)
    rgb[:, :40] = (200, 40, 40)
    rgb[:, 40:80] = (40, 200, 40)
    rgb[:, 80:] = (40, 40, 200)
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    photo = load_photo(path)
    assert photo.source_mode == "CMYK"
    assert np.abs(photo.rgb[:, 5:35].astype(int) - (200, 40, 40)).mean() < 8
    assert np.abs(photo.rgb[:, 85:115].astype(int) - (40, 40, 200)).mean() < 8


def test_palette_png_with_transparency(tmp_path):
    idx = np.ones((100, 100), np.uint8)
    idx[20:80, 30:70] = 2
    idx[:10] = 0  # transparent band
    img = Image.fromarray(idx, "P")
    img.putpalette([0, 0, 0, 250, 250, 250, 20, 60, 200] + [0] * (256 - 3) * 3)
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    photo = load_photo(path)
    assert photo.source_mode == "P"
    assert photo.alpha is not None
    assert np.array_equal(photo.alpha < 0.5, idx == 0)
    assert tuple(photo.rgb[50, 50]) == (20, 60, 200) and tuple(photo.rgb[90, 5]) == (250, 250, 250)


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_grayscale(tmp_path, mode):
    g = noisy_rgb(70, 90)[..., 0]
    arr = g if mode == "L" else np.dstack([g, np.full_like(g, 255)])
    path = tmp_path / f"gray_{mode}.png"
    Image.fromarray(arr, mode).save(path)
    photo = load_photo(path)
    assert photo.rgb.shape == (70, 90, 3) and np.array_equal(photo.rgb[..., 1], g)


@pytest.mark.parametrize("ext", ["webp", "bmp", "tiff"])
def test_other_formats(tmp_path, ext):
    rgb, _ = person_photo(100, 80)
    path = tmp_path / f"photo.{ext}"
    Image.fromarray(rgb).save(path, **({"lossless": True} if ext == "webp" else {}))
    photo = load_photo(path)
    assert np.array_equal(photo.rgb, rgb)
    assert (photo.width, photo.height) == (80, 100)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "half.jpg"
    Image.fromarray(noisy_rgb(300, 300)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputImageError, match="half.jpg") as e:
        load_photo(path)
    assert "truncated" in str(e.value) and "\n" not in str(e.value)


def test_truncated_png(tmp_path):
    path = tmp_path / "half.png"
    Image.fromarray(noisy_rgb(200, 200)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputImageError, match="half.png"):
        load_photo(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 20)
    with pytest.raises(InputImageError, match="notes.jpg.*not an image"):
        load_photo(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputImageError, match="not found"):
        load_photo(tmp_path / "nope.jpg")
    with pytest.raises(InputImageError, match="not a file"):
        load_photo(tmp_path)


@pytest.mark.parametrize("size", [(1, 1), (63, 500), (500, 40)])
def test_too_small(tmp_path, size):
    path = tmp_path / "small.png"
    Image.fromarray(noisy_rgb(size[1], size[0])).save(path)
    with pytest.raises(InputImageError, match=r"small\.png is too small"):
        load_photo(path)


def test_too_large_is_rejected_from_the_header(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    Image.new("L", (50000, 100), 128).save(path)  # a few kB on disk
    assert path.stat().st_size < 200_000

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(InputImageError, match=r"wide\.png is too large \(50000x100 px\)"):
        load_photo(path)


def test_too_many_megapixels(tmp_path, monkeypatch):
    from backend.intake import photo as photo_module

    path = tmp_path / "big.png"
    Image.fromarray(noisy_rgb(100, 120)).save(path)
    monkeypatch.setattr(photo_module, "MAX_PIXELS", 10_000)
    with pytest.raises(InputImageError, match="too large"):
        load_photo(path)


def test_decompression_bomb_becomes_too_large(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.fromarray(noisy_rgb(100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL refuses > 2x this
    with pytest.raises(InputImageError, match="bomb.png is too large"):
        load_photo(path)


def test_blank_images(tmp_path):
    white = tmp_path / "white.jpg"
    Image.new("RGB", (300, 200), (255, 255, 255)).save(white)
    with pytest.raises(InputImageError, match="white.jpg is blank"):
        load_photo(white)
    clear = tmp_path / "clear.png"
    Image.fromarray(np.dstack([noisy_rgb(100, 100), np.zeros((100, 100), np.uint8)]), "RGBA").save(clear)
    with pytest.raises(InputImageError, match="has no visible pixels"):
        load_photo(clear)


def test_flat_silhouette_cutout_is_not_blank(tmp_path):
    """One flat colour, but its transparency outlines a shape: usable."""
    shape = person_shape(120, 90)
    rgba = np.zeros((120, 90, 4), np.uint8)
    rgba[..., 3] = np.where(shape, 255, 0)
    path = tmp_path / "flat.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert load_photo(path).alpha is not None


def test_messages_are_one_line(tmp_path):
    path = tmp_path / "bad\nname.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 garbage")
    with pytest.raises(InputImageError) as e:
        load_photo(path)
    assert "bad\\nname.jpg" in str(e.value) and "\n" not in str(e.value)


# --- segment_person -----------------------------------------------------------------------


def test_grabcut_finds_synthetic_person():
    rgb, shape = person_photo()
    seg = segment_person(Photo.from_array(rgb, path="person.png"), method="grabcut")
    assert seg.method == "grabcut"
    assert seg.mask.shape == shape.shape and seg.mask.dtype == bool
    assert iou(seg.mask, shape) >= 0.95
    assert seg.notes and "GrabCut" in seg.notes[0]


def test_grabcut_keeps_legs_cut_by_the_bottom_edge():
    rgb, shape = person_photo()
    seg = segment_person(Photo.from_array(rgb[:340]), method="grabcut")
    assert iou(seg.mask, shape[:340]) >= 0.95
    assert seg.mask[-1][shape[339]].mean() > 0.9


def test_a_gap_showing_the_backdrop_stays_a_hole_and_speckle_is_filled():
    """A small hole enclosed by the mask was always filled: the backdrop seen between an elbow and the body
    (crossed arms) became 'person', and its wall colour was carried onto the back and sides of the shirt.
    It stays a hole now; a hole of the clothes' own colour (the segmenter's speckle) is still filled."""
    rgb, shape = person_photo()
    gap = np.zeros_like(shape)
    gap[150:156, 140:146] = True  # 36 px of wall seen through the torso, well under the small-hole limit
    speckle = np.zeros_like(shape)
    speckle[180:185, 160:165] = True  # 25 px the segmenter missed on the clothes
    photo = rgb.copy()
    photo[gap] = rgb[20:26, 20:26].reshape(-1, 3)  # the wall's own pixels
    found = shape & ~gap & ~speckle
    cleaned, _ = segment_module._clean(found, photo)
    assert not cleaned[gap].any()
    assert cleaned[speckle].all()
    assert segment_module._clean(found)[0][gap].all()  # without the photo: filled, as before


def test_same_photo_same_mask_whatever_ran_before():
    """GrabCut seeds its colour models from OpenCV's process-wide random generator: a long-lived process
    (the add-on's backend, a test session) must not get another mask, and so another body, for the same
    photo because something else ran first. A photo of noise leaves k-means most room to differ."""
    rgb = noisy_rgb(120, 90, seed=0)
    init = np.full(rgb.shape[:2], cv2.GC_PR_BGD, np.uint8)
    init[20:100, 20:70] = cv2.GC_PR_FGD
    first = segment_module._grabcut(rgb, init, iterations=1)
    cv2.randu(np.zeros((64, 64), np.float32), 0.0, 1.0)  # anything else that draws from the generator
    assert np.array_equal(segment_module._grabcut(rgb, init, iterations=1), first)


def test_auto_falls_back_to_grabcut_without_mediapipe(monkeypatch):
    monkeypatch.setattr(segment_module, "import_mediapipe", lambda: None)
    rgb, shape = person_photo(260, 200)
    seg = segment_person(Photo.from_array(rgb))
    assert seg.method == "grabcut"
    assert segment_module.GRABCUT_ONLY_NOTE in seg.notes
    assert iou(seg.mask, shape) >= 0.9
    with pytest.raises(UserError, match="mediapipe"):
        segment_person(Photo.from_array(rgb), method="mediapipe")


def test_unknown_method():
    with pytest.raises(UserError, match="unknown segmentation method"):
        segment_person(Photo.from_array(person_photo(100, 80)[0]), method="magic")


def test_coverage_limits():
    photo = Photo.from_array(noisy_rgb(200, 200), path="p.png")
    small = np.zeros((200, 200), bool)
    small[100:110, 100:110] = True  # 0.25 %
    with pytest.raises(NoPersonError, match="no person found in p.png"):
        segment_module._check_coverage(Segmentation(small, "grabcut"), photo)
    nearly_all = np.ones((200, 200), np.float32)
    nearly_all[:, :3] = 0.0  # 1.5 % transparent: a real cut-out, but of the whole frame
    with pytest.raises(NoPersonError, match="plain background"):
        segment_person(Photo.from_array(noisy_rgb(200, 200), nearly_all), method="alpha")
    grey = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(NoPersonError, match="plain background"):
        segment_module._check_coverage(Segmentation(np.ones((200, 200), bool), "grabcut"), Photo.from_array(grey))


def test_auto_ignores_alpha_that_is_only_a_frame(monkeypatch):
    """A photo with transparent rounded corners is not a cut-out: auto goes on to the next method."""
    monkeypatch.setattr(segment_module, "import_mediapipe", lambda: None)
    rgb, shape = person_photo(260, 200)
    frame = np.ones((260, 200), np.float32)
    frame[:, :3] = 0.0
    seg = segment_person(Photo.from_array(rgb, frame))
    assert seg.method == "grabcut" and any("transparency" in n for n in seg.notes)


@needs_mediapipe
def test_mediapipe_on_a_real_photo(capfd):
    skimage_data = pytest.importorskip("skimage.data")
    rgb = skimage_data.astronaut()  # 512 x 512, upper body of a person
    capfd.readouterr()
    seg = segment_person(Photo.from_array(rgb, path="astronaut.png"))
    out = capfd.readouterr()
    assert out.err == "" and out.out == "", "mediapipe log noise reached the terminal"
    assert seg.method == "mediapipe"
    assert seg.mask.shape == (512, 512)
    assert seg.mask[130, 230] and seg.mask[300, 180]  # face, suit
    assert not seg.mask[:40, :40].any() and not seg.mask[20, 480]  # background corners
    assert 0.2 < seg.mask.mean() < 0.7
    assert seg.confidence > 0.8
    assert seg.landmarks is not None and seg.landmarks.shape == (33, 3)
    nose = seg.landmarks[0]
    assert 180 < nose[0] < 280 and 80 < nose[1] < 180 and nose[2] > 0.5


@needs_mediapipe
def test_mediapipe_finds_no_person_in_noise_or_objects():
    skimage_data = pytest.importorskip("skimage.data")
    with pytest.raises(NoPersonError, match="no person found in noise.png"):
        segment_person(Photo.from_array(noisy_rgb(300, 300), path="noise.png"))
    with pytest.raises(NoPersonError, match="no person found"):
        segment_person(Photo.from_array(skimage_data.coffee(), path="coffee.png"), method="mediapipe")


# --- crop_to_working ----------------------------------------------------------------------


def test_working_transform_round_trip():
    rng = np.random.default_rng(3)
    for _ in range(20):
        w = WorkingImage(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool),
                         x0=float(rng.integers(-500, 500)), y0=float(rng.integers(-500, 500)),
                         scale=float(rng.uniform(0.05, 8)))
        p = rng.uniform(-1000, 1000, (50, 2))
        assert np.allclose(w.to_working(w.to_original(p)), p)
        assert np.allclose(w.to_original(w.to_working(p)), p)


@pytest.mark.parametrize(
    ("resolution", "box"),
    [
        (128, (50, 350, 100, 200)),  # shrink by a non-integer factor (box-average by 2, then INTER_AREA)
        (512, (50, 350, 100, 200)),  # enlarge (INTER_CUBIC)
        (100, (0, 300, 0, 90)),  # person touching the top-left corner: padded, negative x0/y0
        (64, (10, 390, 40, 300)),  # big shrink
    ],
)
def test_bright_pixel_lands_where_predicted(resolution, box):
    h, w = 400, 300
    r0, r1, c0, c1 = box
    rgb = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), bool)
    mask[r0:r1, c0:c1] = True
    pr, pc = (r0 + r1) // 2 + 7, c0 + 20
    rgb[pr, pc] = 255  # one bright pixel
    rgb[pr - 60 : pr - 39, pc + 10 : pc + 31] = 255  # and a 21 x 21 block (enough signal after shrinking)
    wi = crop_to_working(Photo.from_array(rgb), mask, resolution=resolution)
    assert wi.rgb.shape == (resolution, resolution, 3) and wi.mask.shape == (resolution, resolution)
    assert wi.background == (0, 0, 0)
    predicted = wi.to_working(np.array([[pc + 0.5, pr + 0.5], [pc + 20.5, pr - 49.5]]))
    lower = wi.rgb.copy()
    lower[: int(predicted[1, 1]) + int(20 * wi.scale) + 3] = 0  # keep only the single pixel's part
    # enlarged: its spread-out image is centred where predicted; shrunk: a few faint, quantised pixels
    assert np.allclose(centroid(lower), predicted[0], atol=0.02 if wi.scale >= 1 else 0.5)
    upper = wi.rgb.copy()
    upper[int(predicted[1, 1]) + int(20 * wi.scale) + 3 :] = 0
    assert np.allclose(centroid(upper), predicted[1], atol=0.06)  # quantised, resampled edges
    if r0 == 0:
        assert wi.x0 < 0 and wi.y0 < 0


def test_affine_matches_cv2_warp():
    rgb, shape = person_photo(300, 240)
    wi = crop_to_working(Photo.from_array(rgb), shape, resolution=700)  # enlarging: bilinear mask
    warped = cv2.warpAffine(shape.astype(np.float32), wi.affine_to_working(), (700, 700), flags=cv2.INTER_LINEAR)
    assert iou(warped >= 0.5, wi.mask) > 0.995


@pytest.mark.parametrize("resolution", [256, 512, 1024])
def test_crop_mask_aligned_and_framed(resolution):
    rgb, shape = person_photo(400, 300)
    rgb[shape] = (230, 20, 20)  # a red person on a light background
    margin = 0.08
    wi = crop_to_working(Photo.from_array(rgb), shape, resolution=resolution, margin=margin)
    red = (wi.rgb[..., 0].astype(int) - wi.rgb[..., 1]) > 105
    assert iou(red, wi.mask) > 0.97
    rows = np.flatnonzero(wi.mask.any(axis=1))
    fill = (rows[-1] + 1 - rows[0]) / resolution
    assert abs(fill - (1 - 2 * margin)) <= 2.0 / resolution + wi.scale / resolution
    top_gap, bottom_gap = rows[0], resolution - 1 - rows[-1]
    assert abs(top_gap - bottom_gap) <= 2 + wi.scale
    # padding uses the background colour (median outside the mask)
    assert np.abs(np.array(wi.background) - np.median(rgb[~shape], axis=0)).max() <= 1


def test_cutout_is_composited_over_background():
    rgb, shape = person_photo(200, 150)
    rgb[~shape] = 0
    wi = crop_to_working(Photo.from_array(rgb, shape.astype(np.float32)), shape, resolution=128)
    assert wi.background == (255, 255, 255)
    assert (wi.rgb[~wi.mask] > 200).mean() > 0.9  # transparent parts show white, not black


@pytest.mark.parametrize(("resolution", "min_iou"), [(128, 0.95), (512, 0.98), (900, 0.98)])
def test_mask_to_original_round_trip(resolution, min_iou):
    _, shape = person_photo(400, 300)
    wi = crop_to_working(Photo.from_array(noisy_rgb(400, 300)), shape, resolution=resolution)
    back = mask_to_original(wi.mask, wi, 300, 400)
    assert back.shape == (400, 300) and back.dtype == bool
    assert iou(back, shape) >= min_iou
    soft = mask_to_original(wi.mask.astype(np.float32), wi, 300, 400)
    assert np.array_equal(soft, back)


def test_crop_input_checks():
    photo = Photo.from_array(noisy_rgb(100, 100))
    with pytest.raises(ValueError):
        crop_to_working(photo, np.ones((50, 50), bool))
    with pytest.raises(NoPersonError):
        crop_to_working(photo, np.zeros((100, 100), bool))
