"""Photos of synthetic people as a photographer takes them: a perspective lens from the front.

    photo = take_photo(person)                   # 768 x 1024 portrait, the figure's lens (50 mm by default)
    photo.rgb, photo.mask, photo.camera          # the image, the true mask, the exact Camera used
    save_photo(photo, "person.jpg")              # JPEG with the focal length in EXIF

The camera stands at azimuth 0 (on -Y, looking +Y: backend/conventions.py) at chest height,
tilted to centre the person, as far away as makes the person fill `fill` of the frame's
height. Its focal length is the lens's full-frame (35 mm) equivalent, defined on the diagonal
as EXIF's FocalLengthIn35mmFilm is: f_px = focal_35mm * image diagonal / 43.27 mm. Shading is
Lambert from the camera's upper left over an ambient term; the backdrop is a soft grey
gradient with a faint mottle; a little sensor noise is added. The image is rendered at twice
the resolution and averaged down (smooth edges, as a lens gives); the mask is the project's
rasteriser's at the photo's own resolution (a pixel is the person's when its centre is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.conventions import PERSPECTIVE, Camera, focal_px_from_35mm, look_at
from backend.raster import render_maps

PHOTO_SIZE = (768, 1024)  # width, height: a 3:4 portrait
CHEST_HEIGHT = 0.72  # of the person's height: where the photographer holds the camera
LIGHT = np.array([-0.4, 0.5, 0.77]) / np.linalg.norm([-0.4, 0.5, 0.77])  # camera space, from the upper left
AMBIENT = 0.45

# EXIF tags: the Exif IFD, FocalLength, FocalLengthIn35mmFilm, the focal plane's resolution.
_EXIF_IFD, _FOCAL_LENGTH, _FOCAL_35MM = 0x8769, 0x920A, 0xA405
_PLANE_X_RES, _PLANE_Y_RES, _PLANE_UNIT, _PIXEL_X, _PIXEL_Y = 0xA20E, 0xA20F, 0xA210, 0xA002, 0xA003


@dataclass
class SyntheticPhoto:
    rgb: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) bool: the person, as the rasteriser covers them through `camera`
    camera: Camera  # perspective, in the photo's pixels
    focal_35mm: float


def focal_px(focal_35mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a full-frame-equivalent lens on a width x height image."""
    return focal_px_from_35mm(focal_35mm, width, height)


def photographer_camera(vertices: np.ndarray, focal_35mm: float = 50.0, size=PHOTO_SIZE, fill: float = 0.85,
                        eye_height: float = CHEST_HEIGHT, name: str = "photo") -> Camera:
    """Perspective camera at azimuth 0 framing the points so they fill `fill` of the height, centred.

    The eye is on -Y at `eye_height` of the points' height (default: chest height), aimed at a point
    on the Z axis; the distance and the aim are found by a few fixed-point steps.
    """
    w, h = size
    f = focal_px(focal_35mm, w, h)
    pts = np.asarray(vertices, np.float64)[:: max(1, len(vertices) // 20000)]
    z0, z1 = float(pts[:, 2].min()), float(pts[:, 2].max())
    eye_z = z0 + eye_height * (z1 - z0)
    distance, aim_z = f * (z1 - z0) / (fill * h), (z0 + z1) / 2

    def camera(distance: float, aim_z: float) -> Camera:
        eye, target = np.array([0.0, -distance, eye_z]), np.array([0.0, 0.0, aim_z])
        elevation = math.degrees(math.atan2(eye_z - aim_z, distance))
        return Camera(look_at(eye, target), w, h, f, f, w / 2, h / 2, PERSPECTIVE, name, 0.0, elevation)

    for _ in range(12):
        uv, _ = camera(distance, aim_z).project(pts)
        span_v = uv[:, 1].max() - uv[:, 1].min()
        span_u = 2 * np.abs(uv[:, 0] - w / 2).max()
        # Apparent size goes as 1 / distance; keep the arms inside the frame's width too.
        distance *= max(span_v / (fill * h), span_u / (0.96 * w))
        middle = (uv[:, 1].max() + uv[:, 1].min()) / 2
        aim_z -= (middle - h / 2) * distance / f
    return camera(distance, aim_z)


def shade(albedo: np.ndarray, camera_normals: np.ndarray) -> np.ndarray:
    """Lambert shading of albedo by camera-space normals, over an ambient term."""
    lambert = np.clip(camera_normals @ LIGHT, 0.0, 1.0)
    return albedo * (AMBIENT + (1 - AMBIENT) * lambert[:, None])


def backdrop(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A studio backdrop: light grey, darker toward the floor, with a faint low-frequency mottle."""
    import cv2

    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    base = np.array([0.93, 0.93, 0.91], np.float32) - 0.08 * rows ** 2
    mottle = cv2.resize(rng.normal(0.0, 0.012, (12, 9)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    return np.clip(base + mottle[..., None], 0.0, 1.0)


def render_person(person, camera: Camera, background: np.ndarray) -> np.ndarray:
    """Shaded float image (H, W, 3) of the person through `camera` over `background`."""
    maps = render_maps(person.mesh, [camera], backend="cpu")[0]
    img = background.copy()
    m = maps.mask
    img[m] = shade(person.colour(maps.position[m]), maps.normal[m])
    return img


def take_photo(person, focal_35mm: float | None = None, size=PHOTO_SIZE, fill: float = 0.85, seed: int = 0,
               supersample: int = 2, eye_height: float = CHEST_HEIGHT) -> SyntheticPhoto:
    """The person's photo through the lens `focal_35mm` (default: the figure's own lens), the camera at
    `eye_height` of the person's height (0.5: level with the middle of the body, so not tilted)."""
    import cv2

    focal_35mm = float(focal_35mm or person.spec.focal_35mm)
    camera = photographer_camera(person.mesh.vertices, focal_35mm, size, fill, eye_height)
    rng = np.random.default_rng(seed)
    w, h = size
    k = max(1, int(supersample))
    img = render_person(person, camera.scaled(k), backdrop(w * k, h * k, rng))
    if k > 1:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    noisy = img * 255.0 + rng.normal(0.0, 1.5, img.shape)
    mask = render_maps(person.mesh, [camera], backend="cpu")[0].mask
    return SyntheticPhoto(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), mask, camera, focal_35mm)


def save_photo(photo: SyntheticPhoto, path: str | Path, exif: bool = True, quality: int = 92) -> Path:
    """Write the photo: JPEG (by the suffix, else PNG) with the lens in EXIF when `exif`.

    Tags: FocalLengthIn35mmFilm (the lens, whole millimetres), FocalLength (the same: the photo
    is taken as if on a full-frame sensor) and the focal plane's resolution, which give the same
    focal length in pixels by either route.
    """
    from PIL import Image

    path = Path(path)
    img = Image.fromarray(photo.rgb)
    kwargs: dict[str, Any] = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    if exif:
        tags = Image.Exif()
        ifd = tags.get_ifd(_EXIF_IFD)
        w, h = img.size
        px_per_mm = photo.camera.fx / photo.focal_35mm
        ifd[_FOCAL_LENGTH] = float(photo.focal_35mm)
        ifd[_FOCAL_35MM] = int(round(photo.focal_35mm))
        ifd[_PLANE_X_RES] = ifd[_PLANE_Y_RES] = float(px_per_mm * 10.0)
        ifd[_PLANE_UNIT] = 3  # centimetres
        ifd[_PIXEL_X], ifd[_PIXEL_Y] = w, h
        kwargs["exif"] = tags
    img.save(path, **kwargs)
    return path


def render_marking_masks(person, camera: Camera) -> dict[str, np.ndarray]:
    """(H, W) mask of each of the person's markings (appearance.MARKINGS) as `camera` sees them."""
    maps = render_maps(person.mesh, [camera], backend="cpu")[0]
    out = {}
    for name, hit in person.marking_masks(maps.position[maps.mask]).items():
        full = np.zeros(maps.mask.shape, bool)
        full[maps.mask] = hit
        out[name] = full
    return out
