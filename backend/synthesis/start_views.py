"""The two views every job starts from: the photo itself and the initial back view."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from ..raster import ViewMaps
from .back_view import HeadRegion, classical_back_view, find_head
from .front_details import front_only_details
from .inpaint import ClassicalInpainter, Inpainter, InpaintRequest
from .limbs import LimbSource
from .multiview import BACK_TRUST, PHOTO_TRUST, SynthesizedView, finish_view
from .photo_hands import find_photo_hands

# Photo pixels this close to the silhouette mix in background colour: leave them to the inpainter.
PHOTO_EDGE_PX = 1
# A mask a few pixels too generous (a sliver of wall between the legs) shows as background
# colour on the body: inside this band, pixels that look like the nearest background are left out.
BLEED_BAND_PX = 4
BLEED_TOLERANCE = 0.08  # largest per-channel difference (0-1) still counted as background


def background_bleed(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: mask pixels near its edge whose colour matches the nearest pixel outside it."""
    if mask.all() or not mask.any():
        return np.zeros_like(mask)
    dist, (ri, ci) = ndimage.distance_transform_edt(mask, return_indices=True)
    band = mask & (dist <= BLEED_BAND_PX)
    nearest_outside = rgb[ri, ci].astype(np.float32)
    diff = np.abs(rgb.astype(np.float32) - nearest_outside).max(axis=-1) / 255.0
    return band & (diff < BLEED_TOLERANCE)


def make_photo_view(maps: ViewMaps, working, inpainter: Inpainter, *, seed: int) -> SynthesizedView:
    """The input view: the working photo seen through its own camera.

    Body pixels the photo's mask misses (the mesh's outline differs by a pixel here and there)
    are inpainted like any other missing pixel.
    """
    known = working.mask & ndimage.binary_erosion(maps.mask, iterations=PHOTO_EDGE_PX)
    known &= ~background_bleed(working.rgb, working.mask)
    image = np.where(maps.mask[..., None], working.rgb.astype(np.float32) / 255.0, 0.0).astype(np.float32)
    fallback = image[known].mean(axis=0) if known.any() else (0.5, 0.5, 0.5)
    return finish_view(maps, image, maps.mask & ~known, inpainter, seed=seed, trust=PHOTO_TRUST,
                       fallback_colour=fallback)


def working_landmarks(body) -> np.ndarray | None:
    """mediapipe's (33, 3) landmarks (u, v, visibility) from the segmentation, in working-image pixels."""
    landmarks = body.segmentation.landmarks
    if landmarks is None:
        return None
    landmarks = landmarks.copy()
    landmarks[:, :2] = body.working.to_working(landmarks[:, :2])
    return landmarks


def limb_source(body, photo_view: SynthesizedView) -> LimbSource | None:
    """With a fitted body: which limb each photo pixel shows. From then on the photo offers every later view
    each point's colour from well inside the point's own limb (LimbSource.redirect): the side of a thigh
    takes the trousers' colour, not the hand hanging beside it or the dark, stretched rim."""
    fitted = getattr(body.shape, "body", None)
    if fitted is None:
        return None
    hands = find_photo_hands(body.working.rgb, body.working.mask, working_landmarks(body))
    limbs = LimbSource.from_body(fitted, photo_view.maps, hands)
    photo_known = photo_view.known & ~photo_view.inpainted
    photo_view.colour_source = lambda points, uv: limbs.redirect(points, uv, photo_known)[0]
    return limbs


def make_back_view(maps: ViewMaps, photo_view: SynthesizedView, body, inpainter: Inpainter, *, seed: int,
                   options, limbs: LimbSource | None = None) -> tuple[SynthesizedView, HeadRegion]:
    """The initial back view (azimuth 180): the front carried round, each limb from its own pixels of the
    photo when a body was fitted, hair on the back of the head.

    An inpainter that can redraw a whole view (the diffusion one: `refine_back`) then redraws
    its body, guided by the back's normals, so the back gets its own folds and hair.
    """
    working, camera = body.working, body.shape.camera
    landmarks = working_landmarks(body)
    # The mesh's own height (feet on z = 0), not the option's: a user's mesh keeps its own size.
    head = find_head(working.rgb, working.mask, camera, float(body.mesh.vertices[:, 2].max()), landmarks)
    head.measure_ears(body.mesh.vertices)
    known = photo_view.known & ~photo_view.inpainted
    known &= ~front_only_details(working.rgb, known, landmarks)
    image, filled, _ = classical_back_view(maps, working.rgb, known, camera, head, limbs)
    fallback = photo_view.image[known].mean(axis=0) if known.any() else (0.5, 0.5, 0.5)
    refine = getattr(inpainter, "refine_back", None)
    # When the model redraws the whole body anyway, its holes only seed the redraw's start:
    # the classical fill does that in a fraction of a second instead of a full diffusion call.
    hole_filler = ClassicalInpainter() if refine is not None else inpainter
    view = finish_view(maps, image, maps.mask & ~filled, hole_filler, seed=seed, trust=BACK_TRUST,
                       fallback_colour=fallback, prompt_extra=options.prompt, negative_prompt=options.negative_prompt,
                       limbs_of=None if limbs is None else limbs.limbs_of)
    if refine is not None and maps.mask.any():
        t0 = time.perf_counter()
        req = InpaintRequest(view.image, np.zeros_like(maps.mask), maps.mask, maps.normal, 180.0, 0.0,
                             seed=seed, prompt_extra=options.prompt, negative_prompt=options.negative_prompt,
                             fallback_colour=tuple(fallback), position=maps.position,
                             extras={"hat": head.hat_colour is not None})
        view.image = np.where(maps.mask[..., None], refine(req), 0.0).astype(np.float32)
        spent = time.perf_counter() - t0
        view.inpainted = maps.mask.copy()  # every body pixel is the model's now
        view.inpainter = inpainter.name
        view.redrawn = True
        view.seconds += spent
        view.inpaint_seconds += spent
    return view, head
