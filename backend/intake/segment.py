"""Finding the person in the photo: a boolean mask at the photo's original resolution.

Methods, in the order "auto" tries them:
  alpha      the photo's own transparency (a cut-out PNG), thresholded at 0.5;
  mediapipe  MediaPipe Pose (bundled model, offline): landmarks + a soft person mask, whose
             edges are then refined to the image with OpenCV GrabCut;
  grabcut    OpenCV GrabCut alone, started from a centred rectangle (no person detector).

A photo of several people is refused (SeveralPeopleError: "found N people ...; crop the photo
to one person"): MediaPipe finds one person at a time, so each person found is painted out
and the photo searched again; a cut-out counts its separate figures. Someone much smaller
than the person (under PEOPLE_AREA_RATIO of their area: far in the background) does not count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from backend.errors import NoPersonError, SeveralPeopleError, UserError
from backend.intake.photo import Photo
from backend.metrics import mask_iou
from backend.native_logs import quiet_stderr

METHODS = ("auto", "alpha", "mediapipe", "grabcut")
MIN_COVERAGE = 0.01  # a mask smaller than this fraction of the photo is no person
MAX_COVERAGE = 0.95  # ... and one larger than this did not separate the person from anything
ALPHA_MIN_FRACTION = 0.01  # "real transparency": at least this fraction transparent AND opaque
WORK_SIDE = 640  # longest side of the copy GrabCut works on (speed)
MEDIAPIPE_SIDE = 1024  # longest side of the copy given to MediaPipe (its models run at 256 px)
GRABCUT_ONLY_NOTE = "no person segmenter available: used OpenCV GrabCut; check the mask"
PEOPLE_AREA_RATIO = 0.2  # another person counts when their mask is at least this fraction of the first's
MAX_PEOPLE = 5  # stop looking for more people after this many
# A small hole enclosed by the mask is the backdrop (kept a hole) when its colour is within this much (0-255,
# any channel) of at least HOLE_BACKDROP_SHARE percent of the background near the person, and nearer it than
# to the person round the hole; else it is the segmenter's speckle (filled).
HOLE_BACKDROP_STEP = 24.0
HOLE_BACKDROP_SHARE = 5.0


@dataclass
class Segmentation:
    """Where the person is.

    mask: bool (H, W) at the photo's original resolution, True on the person.
    method: "alpha", "mediapipe" or "grabcut".
    notes: plain-language remarks for the user (fallbacks, doubts).
    confidence: 0..1, how much to trust the mask (1 for an alpha cut-out; for mediapipe the
        mean person probability inside the mask; a fixed low 0.3 for GrabCut alone).
    landmarks: (33, 3) MediaPipe pose landmarks as (u, v, visibility) with (u, v) continuous
        pixel coordinates of the original photo, or None.
    """

    mask: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.0
    landmarks: np.ndarray | None = None

    @property
    def coverage(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


# --- quieting MediaPipe -------------------------------------------------------------------


def import_mediapipe():
    """The mediapipe module, or None when it cannot be imported."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with quiet_stderr():
            import mediapipe as mp  # heavy and optional: imported only when needed

            _ = mp.solutions.pose.Pose
    except Exception:  # ImportError, or a broken install (missing native library, ...)
        return None
    return mp


# --- mask helpers -------------------------------------------------------------------------


def _resize_to(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with the right filter for the direction (continuous pixel coordinates preserved)."""
    shrinking = width * height < img.shape[0] * img.shape[1]
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _work_size(width: int, height: int, side: int) -> tuple[int, int]:
    s = min(1.0, side / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


def _disk(radius: int) -> np.ndarray:
    r = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, areas) of the 8-connected components of a bool mask; areas[0] is the background."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats[:, cv2.CC_STAT_AREA]


def _largest_component(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Keep the largest connected component; also return the second largest's area over the largest's."""
    labels, areas = _components(mask)
    if len(areas) <= 2:
        return mask.astype(bool), 0.0
    order = np.argsort(areas[1:])[::-1] + 1
    keep = labels == order[0]
    return keep, float(areas[order[1]] / areas[order[0]])


def _fill_small_holes(mask: np.ndarray, rgb: np.ndarray | None = None, max_fraction: float = 0.003) -> np.ndarray:
    """Fill background regions enclosed by the mask that are smaller than max_fraction of its area: the
    segmenter's speckle inside dark or busy clothes. With the photo (`rgb`, same size), a hole that shows
    the backdrop (the gap between an elbow and the body, between crossed arms) stays a hole: filled, its
    backdrop colour would be painted on the person's back and sides."""
    inv = ~mask
    labels, areas = _components(inv)
    if len(areas) <= 1:
        return mask
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    limit = max_fraction * max(1, int(mask.sum()))
    small = areas <= limit
    small[0] = False
    small[border] = False
    if not small.any():
        return mask
    if rgb is not None:
        # The background near the person (within 3 % of the image), what a hole's colour is compared with.
        near = cv2.dilate(mask.astype(np.uint8), _disk(max(2, round(0.03 * max(mask.shape))))).astype(bool)
        backdrop = rgb[inv & ~small[labels] & near].astype(np.float32)
        for i in np.flatnonzero(small):
            if _shows_backdrop(rgb, mask, labels == i, backdrop):
                small[i] = False
    return mask | small[labels]


def _shows_backdrop(rgb: np.ndarray, mask: np.ndarray, hole: np.ndarray, backdrop: np.ndarray) -> bool:
    """Whether an enclosed hole's colour is the backdrop's (some of the `backdrop` colours (N, 3) have it,
    within HOLE_BACKDROP_STEP) more than the person's round it."""
    if not len(backdrop):
        return False
    colour = np.median(rgb[hole].astype(np.float32), axis=0)
    rim = mask & cv2.dilate(hole.astype(np.uint8), _disk(2)).astype(bool)
    to_backdrop = np.percentile(np.abs(backdrop - colour).max(axis=1), HOLE_BACKDROP_SHARE)
    to_person = np.abs(np.median(rgb[rim].astype(np.float32), axis=0) - colour).max() if rim.any() else np.inf
    return bool(to_backdrop < HOLE_BACKDROP_STEP and to_backdrop < to_person)


def _clean(mask: np.ndarray, rgb: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    mask, second = _largest_component(mask)
    return _fill_small_holes(mask, rgb), second


def _grabcut(rgb: np.ndarray, init: np.ndarray, iterations: int) -> np.ndarray | None:
    """Run GrabCut from a label mask (cv2.GC_*); None when it cannot run (one class missing)."""
    fg = np.isin(init, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if not fg.any() or fg.all():
        return None
    labels = init.astype(np.uint8).copy()
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means from OpenCV's process-wide random generator:
    # reseeded here, the same photo gets the same mask whatever ran before it in this process.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def _to_original(mask_small: np.ndarray, width: int, height: int) -> np.ndarray:
    if mask_small.shape == (height, width):
        return mask_small.astype(bool)
    return _resize_to(mask_small.astype(np.float32), width, height) >= 0.5


def several_people_error(photo: Photo, count: int, how: str = "") -> SeveralPeopleError:
    n = f"at least {count}" if count >= MAX_PEOPLE else str(count)
    return SeveralPeopleError(f"found {n} people in {photo.name}{how}: crop the photo to the one person to "
                              "digitize and try again")


def _count_figures(mask: np.ndarray) -> int:
    """Separate figures in a cut-out's mask: 8-connected parts at least PEOPLE_AREA_RATIO of the largest."""
    h, w = mask.shape
    sw, sh = _work_size(w, h, WORK_SIDE)
    # Shrunk with "any pixel set" so that thin joins (wrists, ankles) never come apart.
    small = mask if (sw, sh) == (w, h) else _resize_to(mask.astype(np.float32), sw, sh) > 0.0
    _, areas = _components(small)
    areas = areas[1:]
    if areas.size == 0:
        return 0
    return int((areas >= PEOPLE_AREA_RATIO * areas.max()).sum())


def _count_people(mp, rgb: np.ndarray, prob: np.ndarray) -> int:
    """People of about the first one's size in `rgb`, where MediaPipe found one with the soft mask `prob`.

    MediaPipe Pose finds one person per run: paint each person found out (with the median colour
    of the rest) and run it again, until it finds nobody new.
    """
    first_area = int((prob >= 0.5).sum())
    if first_area == 0:
        return 1
    img = rgb.copy()
    grow = _disk(round(0.03 * max(rgb.shape[:2])))
    erased = np.zeros(prob.shape, bool)
    people = 1
    for _ in range(MAX_PEOPLE):
        erased |= cv2.dilate((prob >= 0.2).astype(np.uint8), grow).astype(bool)
        rest = ~erased
        if not rest.any():
            break
        img[erased] = np.median(img[rest][:: max(1, int(rest.sum()) // 200_000)], axis=0).astype(np.uint8)
        result = _run_pose(mp, img)
        if result.pose_landmarks is None or result.segmentation_mask is None:
            break
        prob = np.clip(np.asarray(result.segmentation_mask, dtype=np.float32), 0.0, 1.0)
        new = int(((prob >= 0.5) & rest).sum())
        if new == 0:  # only what was painted out already
            break
        if new >= PEOPLE_AREA_RATIO * first_area:
            people += 1
            if people >= MAX_PEOPLE:
                break
    return people


# --- the methods --------------------------------------------------------------------------


def _has_real_transparency(alpha: np.ndarray | None) -> bool:
    if alpha is None:
        return False
    a = alpha[::2, ::2] if alpha.size > 4_000_000 else alpha
    return float((a < 0.5).mean()) >= ALPHA_MIN_FRACTION and float((a > 0.5).mean()) >= ALPHA_MIN_FRACTION


def _segment_alpha(photo: Photo) -> Segmentation:
    assert photo.alpha is not None  # chosen only for a photo with transparency
    return Segmentation(mask=photo.alpha >= 0.5, method="alpha", notes=["used the photo's transparency as the mask"],
                        confidence=1.0)


def _segment_grabcut(photo: Photo, notes: list[str]) -> Segmentation:
    w, h = _work_size(photo.width, photo.height, WORK_SIDE)
    small = _resize_to(photo.rgb, w, h)
    init = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    mx, my = max(2, round(0.06 * w)), max(2, round(0.03 * h))  # the person is assumed roughly centred
    init[my : h - my, mx : w - mx] = cv2.GC_PR_FGD
    border = max(1, round(0.01 * max(w, h)))
    # the image border is background, except the bottom edge, which often cuts the legs of a photo
    init[:border], init[:, :border], init[:, -border:] = (cv2.GC_BGD,) * 3
    fg = _grabcut(small, init, iterations=8)
    if fg is None:
        fg = np.zeros((h, w), bool)
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, _disk(1)).astype(bool)
    fg, second = _clean(fg, small)
    if second > 0.3:
        notes.append("found several separate regions: kept the largest one")
    return Segmentation(mask=_to_original(fg, photo.width, photo.height), method="grabcut", notes=notes,
                        confidence=0.3)


def _run_pose(mp, rgb: np.ndarray):
    with quiet_stderr():
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True,
                                    min_detection_confidence=0.5) as pose:
            result = pose.process(np.ascontiguousarray(rgb))
    return result


def _refine_with_grabcut(small: np.ndarray, prob: np.ndarray) -> np.ndarray | None:
    """Snap a soft person mask's edges to the image with GrabCut; None when that looks wrong."""
    fg0 = prob >= 0.5
    ys, xs = np.nonzero(fg0)
    if ys.size == 0:
        return None
    size = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    band = max(2, round(0.02 * size))
    sure_fg = cv2.erode(fg0.astype(np.uint8), _disk(band)).astype(bool) | (prob >= 0.98)
    sure_fg &= cv2.erode(fg0.astype(np.uint8), _disk(max(1, band // 2))).astype(bool)
    near = cv2.dilate(fg0.astype(np.uint8), _disk(2 * band)).astype(bool)
    init = np.full(fg0.shape, cv2.GC_BGD, np.uint8)
    init[near] = cv2.GC_PR_BGD
    init[fg0] = cv2.GC_PR_FGD
    init[sure_fg] = cv2.GC_FGD
    if not (init == cv2.GC_BGD).any() and not (init == cv2.GC_PR_BGD).any():
        return None
    refined = _grabcut(small, init, iterations=4)
    if refined is None:
        return None
    refined = cv2.morphologyEx(refined.astype(np.uint8), cv2.MORPH_OPEN, _disk(1)).astype(bool)
    if mask_iou(refined, fg0) < 0.8:  # GrabCut wandered off (background colours like the clothes)
        return None
    return refined


def _segment_mediapipe(photo: Photo, mp, notes: list[str]) -> Segmentation:
    W, H = photo.width, photo.height
    mw, mh = _work_size(W, H, MEDIAPIPE_SIDE)
    mp_rgb = _resize_to(photo.rgb, mw, mh)
    result = _run_pose(mp, mp_rgb)
    if result.pose_landmarks is None or result.segmentation_mask is None:
        raise NoPersonError(
            f"no person found in {photo.name}: use a photo where one person is clearly visible, "
            "facing the camera, head to feet if possible"
        )
    landmarks = np.array([[lm.x * W, lm.y * H, lm.visibility] for lm in result.pose_landmarks.landmark],
                         dtype=np.float64)
    prob_mp = np.clip(np.asarray(result.segmentation_mask, dtype=np.float32), 0.0, 1.0)
    people = _count_people(mp, mp_rgb, prob_mp)
    if people > 1:
        raise several_people_error(photo, people)

    w, h = _work_size(W, H, WORK_SIDE)
    small = _resize_to(photo.rgb, w, h)
    prob = _resize_to(prob_mp, w, h)
    fg0 = prob >= 0.5
    refined = _refine_with_grabcut(small, prob)
    if refined is None:
        if fg0.any():
            notes.append("could not sharpen the mask's edges to the photo: used the segmenter's mask as is")
        refined = fg0
    mask_small, second = _clean(refined, small)
    if second > 0.3:
        notes.append("there may be several people in the photo: kept the largest one")
    inside = prob[mask_small]
    confidence = float(inside.mean()) if inside.size else 0.0
    if confidence < 0.6 and inside.size:
        notes.append("the person segmenter was unsure about this photo: check the mask")
    return Segmentation(mask=_to_original(mask_small, W, H), method="mediapipe", notes=notes,
                        confidence=confidence, landmarks=landmarks)


def _check_coverage(seg: Segmentation, photo: Photo) -> Segmentation:
    cov = seg.coverage
    if cov < MIN_COVERAGE:
        raise NoPersonError(
            f"no person found in {photo.name}: nothing person-sized stands out from the background "
            "(use a photo where the person fills most of the frame)"
        )
    if cov > MAX_COVERAGE:
        raise NoPersonError(
            f"could not separate the person from the background in {photo.name}: use a photo on a plain "
            "background, or a cut-out PNG with a transparent background"
        )
    return seg


def segment_person(photo: Photo, method: str = "auto") -> Segmentation:
    """Find the person in `photo`; see the module docstring for the methods.

    Raises NoPersonError when no person is found (or the mask covers < 1% or > 95% of the
    photo), SeveralPeopleError when it shows several people of about the same size, and
    UserError for an unknown method, method="alpha" on a photo without transparency, or
    method="mediapipe" when MediaPipe is not installed.
    """
    if method not in METHODS:
        raise UserError(f"unknown segmentation method {method!r}: use one of {', '.join(METHODS)}")
    notes: list[str] = []
    if method == "alpha" or (method == "auto" and _has_real_transparency(photo.alpha)):
        if not _has_real_transparency(photo.alpha):
            raise UserError(
                f"photo {photo.name} has no transparent background, so its alpha channel cannot be the mask: "
                "use method 'auto' or a cut-out PNG"
            )
        seg = _segment_alpha(photo)
        if method == "alpha" or seg.coverage <= MAX_COVERAGE:
            figures = _count_figures(seg.mask)
            if figures > 1:
                raise several_people_error(photo, figures, " (separate figures in its transparent cut-out)")
            return _check_coverage(seg, photo)
        notes.append("the photo's transparency covers almost the whole image, so it was not used as the mask")
    if method == "grabcut":
        notes.append("used OpenCV GrabCut (no person detector): check the mask")
        return _check_coverage(_segment_grabcut(photo, notes), photo)
    mp = import_mediapipe()
    if mp is None:
        if method == "mediapipe":
            raise UserError("the person segmenter (mediapipe) is not installed or does not load: "
                            "reinstall the dependencies, or use method 'grabcut'")
        notes.append(GRABCUT_ONLY_NOTE)
        return _check_coverage(_segment_grabcut(photo, notes), photo)
    return _check_coverage(_segment_mediapipe(photo, mp, notes), photo)
