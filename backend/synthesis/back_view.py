"""The initial back view, made from the front photo without learned weights.

Each back pixel is a point on the body's back; it takes the photo's colour at the same
height and the same side of the body (the front seen through the back: clothes usually
look alike front and back). The head is the exception: the back of a head shows hair, not
a face, so above the chin every pixel of the head gets the colour of the photo's hair (the
top of the head), or of the hat down to its edge and the hair below it when the crown is a hat
(find_hat). Prints, badges, ties and zips are front-only too: front_details.py finds
them, the back view leaves them out and the inpainter fills their place from the same height
(stripes and hems run on round the back).
A learned back-view model can replace this behind the same call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..conventions import Camera
from ..raster import ViewMaps, sample_map
from ..shape.body.pose import LEFT_EAR, LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, RIGHT_EAR, RIGHT_EYE
from .limbs import LIMBS, LimbSource

# MediaPipe pose landmark indices (nose, eyes, ears, mouth corners).
FACE_LANDMARKS = list(range(11))
# Without landmarks: the chin sits at about 87 % of the body's height (a head is ~1/7.5 of it).
CHIN_FRACTION = 0.87
# Hair that hangs below the chin in the photo (beside the neck, over the shoulders) hangs down the
# back as far: pixels this close to the hair's colour (any channel, 0-1), joined to the top of the
# head, within this many head half-widths of its centre, and no lower than this many head heights
# below the chin (a dark top the colour of dark hair must not turn the whole back into hair).
HAIR_COLOUR_STEP = 0.12
HAIR_MAX_HALF_WIDTHS = 2.5
HAIR_MAX_HEAD_HEIGHTS = 2.0
# Hair that reaches up beside the face to above this fraction of the way from the chin to the crown
# hangs from the head, even where shading parts it from the crown's colour (a collar never reaches it).
BESIDE_FACE_FRACTION = 0.2
# Hair seen to end on the person (behind the shoulders) hangs on down the back this many head heights:
# about to the shoulder blades, where long hair falls (the photo cannot say how far).
HAIR_BEHIND_BODY_HEAD_HEIGHTS = 0.5
# ... when the locks end on clothes, not on skin, and are at least this wide where they end (half-widths
# of the head, both sides together).
HANGING_MIN_WIDTH_HALF_WIDTHS = 0.3
# Long hair seen from behind: its tips at its sides end this share of its length below the chin higher than
# in its middle (rounded ends, the middle nearly level), and its outline is blended over this many metres.
HAIR_TIPS_RISE = 0.25
HAIR_SOFT_M = 0.02
SKIN_CHROMA_STEP = 0.03
# The ears sit about halfway between the front and the back of the head (hair included): behind that
# plane the photo never saw the head, and its side and back are hair (or the hat). The change from
# the photo's face to hair is spread over this depth so it does not read as a cut.
EAR_DEPTH_FRACTION = 0.5
EAR_BLEND_M = 0.03
# A hat: the crown's colour is the hat's when, beside the face and below the crown, the photo shows hair of
# another colour. Read beside the face (between the face's half-width, half the distance between the ears,
# and HAT_BAND_HALF_WIDTHS of the head's half-width), off the mask's outline, not of the face's skin tone;
# another colour is what shade cannot make of the crown's (`another_material`: another hue, grey against
# colour, or HAT_BRIGHTNESS_RATIO times darker or lighter). It must fill at least HAT_MIN_ROWS of the rows
# from the hat's edge to the chin (a lock or an earring is not the hair under a hat), and those rows must be
# at least HAT_MIN_HEIGHT of the crown-to-chin height. Hair of the face's skin tone (light brown, some
# blond) is taken for skin there: under a hat it is not found.
FACE_HALF_WIDTH = 0.77  # of the head's half-width, without landmarks
HAT_BAND_HALF_WIDTHS = 1.6
HAT_HUE_STEP_DEG = 35.0  # both coloured (saturation above HAT_COLOURED), hues this far apart
HAT_COLOURED = 0.25
HAT_GREY, HAT_VIVID = 0.12, 0.4  # grey against colour: saturation below the one, and above the other
HAT_BRIGHTNESS_RATIO = 4.0  # a shadow beside the face makes hair about 3 times darker than its lit crown
HAT_BRIGHTNESS_GAP = 0.25  # ... and that far apart in HSV value (0-1)
HAT_LIT = 0.2  # HSV value below which hue and saturation are noise
HAT_MIN_ROWS = 0.6
HAT_MIN_HEIGHT = 0.15
HAT_MIN_PIXELS_PER_ROW = 2
HAT_BLEND_M = 0.01  # the hat's edge, softened
EDGE_PX = 1  # the outline's pixels mix the person with the backdrop: not read


@dataclass
class HeadRegion:
    chin_z: float  # world z of the chin: above it lies the head
    half_width_m: float  # the head's half-width around its centre
    centre_x: float  # world x of the head's centre
    hair_colour: np.ndarray  # (3,) float in [0, 1]
    from_landmarks: bool
    # Long hair: down the back to hair_end_z, hair_half_width_m either side of centre_x. Short hair
    # (or none seen below the chin): the hairline at the nape, hair_end_z = chin_z.
    hair_end_z: float | None = None
    hair_half_width_m: float = 0.0
    # World y of the plane through the ears (the person faces -Y): None until measured on the mesh.
    ear_y: float | None = None
    # A hat (find_hat): its colour above hat_edge_z, the hair's (hair_colour) below; None: no hat seen.
    hat_colour: np.ndarray | None = None
    hat_edge_z: float | None = None

    def hair_colours(self, points: np.ndarray) -> np.ndarray:
        """(N, 3): the colour of the back and sides of the head at world points: the hair, or the hat above its
        edge (a hat continues as the hat all round, the hair below it)."""
        hair = np.broadcast_to(np.asarray(self.hair_colour, np.float64), (len(points), 3))
        if self.hat_colour is None or self.hat_edge_z is None:
            return hair.copy()
        hat = np.clip((points[:, 2] - self.hat_edge_z) / HAT_BLEND_M + 0.5, 0.0, 1.0)[:, None]
        return hat * np.asarray(self.hat_colour, np.float64) + (1 - hat) * hair

    def hair_cover(self, points: np.ndarray) -> np.ndarray:
        """(N,) in [0, 1]: how much the back of the head's hair (or long hair down the back) covers each world
        point: the head above the chin, its hairline at the nape soft. Long hair hangs as a curtain as wide as
        the photo shows it, its tips a little higher at its sides than in its middle, its edges soft
        (HAIR_SOFT_M): not a rectangle cut out of the back."""
        off_centre = np.abs(points[:, 0] - self.centre_x)
        # The nape's hairline: full above the chin, fading over HAIR_SOFT_M below it (not a cut at the chin's
        # height; above it nothing of the front, a beard's colour included, mixes in).
        nape = np.clip(1.0 + (points[:, 2] - self.chin_z) / HAIR_SOFT_M, 0.0, 1.0)
        head = np.where(off_centre < self.half_width_m, nape, 0.0)
        if self.hair_end_z is None or self.hair_end_z >= self.chin_z:
            return head
        half = max(self.hair_half_width_m, 1e-3)
        rise = HAIR_TIPS_RISE * (self.chin_z - self.hair_end_z)
        tips_z = self.hair_end_z + rise * np.minimum(off_centre / half, 1.0) ** 4
        inside = np.minimum(half - off_centre, points[:, 2] - tips_z)  # metres inside the curtain's outline
        return np.maximum(head, np.clip(inside / HAIR_SOFT_M + 0.5, 0.0, 1.0))

    def hair_behind_ears(self, points: np.ndarray) -> np.ndarray:
        """(N,) in [0, 1]: how much of each world point's colour is the hair's because it lies on the head
        behind the ears (1 well behind the ear plane, 0 in front of it; 0 everywhere before `ear_y` is
        measured). The side views take it: they see the head where the photo saw only its rim."""
        if self.ear_y is None:
            return np.zeros(len(points))
        off_centre = np.abs(points[:, 0] - self.centre_x)
        head = (points[:, 2] > self.chin_z) & (off_centre < self.half_width_m)
        behind = np.clip((points[:, 1] - self.ear_y) / EAR_BLEND_M + 0.5, 0.0, 1.0)
        return np.where(head, behind, 0.0)

    def measure_ears(self, vertices: np.ndarray) -> None:
        """Set `ear_y` from the surface's head (`vertices`, world frame): halfway through its depth."""
        v = np.asarray(vertices, np.float64)
        head = v[(v[:, 2] > self.chin_z) & (np.abs(v[:, 0] - self.centre_x) < self.half_width_m)]
        if len(head) >= 10:
            front, back = np.percentile(head[:, 1], [2, 98])
            self.ear_y = float(front + EAR_DEPTH_FRACTION * (back - front))


def unproject_to_middle(camera: Camera, uv: np.ndarray | list) -> np.ndarray:
    """World points where the rays of pixel coordinates (N, 2) cross the person's middle plane (y = 0):
    the photo's camera may be a pinhole or orthographic."""
    origins, dirs = camera.rays(np.asarray(uv, np.float64))
    t = -origins[:, 1] / np.where(np.abs(dirs[:, 1]) < 1e-9, 1e-9, dirs[:, 1])
    return origins + t[:, None] * dirs


def find_head(photo_rgb: np.ndarray, photo_mask: np.ndarray, camera: Camera, height_m: float,
              landmarks_working: np.ndarray | None) -> HeadRegion:
    """Where the head is (in the world) and what colour its hair is, from the working photo."""
    rows, cols = np.nonzero(photo_mask)
    top_v = rows.min() + 0.0
    lm = landmarks_working
    have = lm is not None and bool(np.all(lm[FACE_LANDMARKS, 2] > 0.3))
    if lm is not None and have:
        eyes_v = lm[[LEFT_EYE, RIGHT_EYE], 1].mean()
        mouth_v = lm[[MOUTH_LEFT, MOUTH_RIGHT], 1].mean()
        chin_v = mouth_v + 0.9 * (mouth_v - eyes_v)
        ears_u = lm[[LEFT_EAR, RIGHT_EAR], 0]
        centre_u, half_u = ears_u.mean(), 0.65 * abs(ears_u[0] - ears_u[1]) + 2
        chin_z = unproject_to_middle(camera, [[centre_u, chin_v]])[0, 2]
    else:
        chin_z = CHIN_FRACTION * height_m
        chin_v = sample_row_of_height(camera, chin_z)
        band = photo_mask[int(top_v) : max(int(chin_v), int(top_v) + 1)]
        head_cols = np.nonzero(band.any(axis=0))[0]
        # The head is the mask's topmost blob: take the columns of its topmost rows.
        top_rows = photo_mask[int(top_v) : int(top_v) + max(3, int(0.25 * (chin_v - top_v)))]
        top_cols = np.nonzero(top_rows.any(axis=0))[0] if top_rows.any() else head_cols
        centre_u = top_cols.mean() + 0.5
        half_u = max(np.ptp(top_cols) / 2 + 2, 0.5 * (chin_v - top_v) * 0.8)
    centre = unproject_to_middle(camera, [[centre_u, chin_v], [centre_u + half_u, chin_v]])
    half_width = abs(centre[1, 0] - centre[0, 0])

    # Hair: the photo's pixels in the top fifth of the head.
    hair_v = top_v + 0.2 * max(chin_v - top_v, 4)
    sel = (rows < hair_v) & (np.abs(cols + 0.5 - centre_u) < half_u)
    hair = np.median(photo_rgb[rows[sel], cols[sel]].astype(np.float64), axis=0) / 255.0 if sel.any() \
        else np.array([0.2, 0.15, 0.1])
    head = HeadRegion(float(chin_z), float(half_width), float(centre[0, 0]), hair, bool(have))
    if sel.any():
        face_half_u = 0.5 * abs(ears_u[0] - ears_u[1]) if have else FACE_HALF_WIDTH * half_u
        hat = find_hat(photo_rgb, photo_mask, hair, crown_v=hair_v, chin_v=chin_v, centre_u=centre_u,
                       half_u=half_u, face_half_u=face_half_u)
        if hat is not None:  # the crown is a hat: the hair is what shows below it
            edge_v, under = hat
            head.hat_colour, head.hair_colour = hair, under
            head.hat_edge_z = float(unproject_to_middle(camera, [[centre_u, edge_v]])[0, 2])
            hair = under
        hanging = hanging_hair(photo_rgb, photo_mask, hair, crown_v=hair_v, chin_v=chin_v, centre_u=centre_u,
                               half_u=half_u, lowest_v=chin_v + HAIR_MAX_HEAD_HEIGHTS * max(chin_v - top_v, 4),
                               hat=head.hat_colour)
        if hanging is not None:
            end_v, hair_half_u = hanging
            ends = unproject_to_middle(camera, [[centre_u, end_v], [centre_u + hair_half_u, end_v]])
            head.hair_end_z = float(ends[0, 2])
            head.hair_half_width_m = float(abs(ends[1, 0] - ends[0, 0]))
    return head


def find_hat(photo_rgb: np.ndarray, photo_mask: np.ndarray, crown: np.ndarray, *, crown_v: float, chin_v: float,
             centre_u: float, half_u: float, face_half_u: float) -> tuple[float, np.ndarray] | None:
    """(row of the hat's edge, the hair's colour below it) when the crown's colour (`crown`, 0-1) is a hat's,
    else None. Beside the face, each row from the crown down to the chin either shows another colour than the
    crown's or not; the hat's edge is the top of the rows that do, when they fill HAT_MIN_ROWS of the rows
    from there to the chin."""
    h, w = photo_mask.shape
    top, bottom = max(int(np.ceil(crown_v)), 0), min(int(chin_v), h)
    if bottom - top < 4:
        return None
    rgb = photo_rgb[top:bottom].astype(np.float32) / 255.0
    off = np.abs(np.arange(w) + 0.5 - centre_u)
    band = (off > face_half_u) & (off < HAT_BAND_HALF_WIDTHS * half_u)
    read = ndimage.binary_erosion(photo_mask, iterations=EDGE_PX)[top:bottom] & band[None, :]
    skin = face_skin_colour(photo_rgb, photo_mask, crown, crown_v=crown_v, chin_v=chin_v, centre_u=centre_u,
                            half_u=half_u)
    read &= ~_skin_like(photo_rgb[top:bottom].reshape(-1, 3), skin).reshape(read.shape)
    other = read & another_material(rgb.reshape(-1, 3), crown).reshape(read.shape)
    shows = other.sum(axis=1) >= HAT_MIN_PIXELS_PER_ROW
    if not shows.any():
        return None
    edge = int(np.argmax(shows))  # the topmost row beside the face that shows another colour
    if shows[edge:].mean() < HAT_MIN_ROWS or (bottom - top - edge) < HAT_MIN_HEIGHT * (chin_v - crown_v):
        return None
    under = np.median(rgb[edge:][other[edge:]], axis=0)
    return float(top + edge), under.astype(np.float64)


def another_material(rgb: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(N,) bool: which colours (N, 3; 0-1) cannot be `reference` in another light. Shade darkens a colour and
    can saturate it (hair in shadow beside the face is darker and redder than at the crown) but keeps its hue;
    so another material is another hue (both coloured), coloured against grey, or far lighter or darker."""
    hue, sat, val = _hsv(rgb)
    (ref_hue,), (ref_sat,), (ref_val,) = _hsv(np.asarray(reference, np.float64)[None])
    # Near black, hue and saturation are the sensor's noise: only colours this bright have them.
    lit, ref_lit = val > HAT_LIT, ref_val > HAT_LIT
    hue_step = np.abs((hue - ref_hue + 0.5) % 1.0 - 0.5) * 360.0
    other_hue = lit & ref_lit & (sat > HAT_COLOURED) & (ref_sat > HAT_COLOURED) & (hue_step > HAT_HUE_STEP_DEG)
    grey_against_colour = lit & ref_lit & (((sat < HAT_GREY) & (ref_sat > HAT_VIVID))
                                           | ((sat > HAT_VIVID) & (ref_sat < HAT_GREY)))
    ratio = (val + 1e-3) / (ref_val + 1e-3)
    far = np.abs(val - ref_val) > HAT_BRIGHTNESS_GAP  # black and dark grey are 4 times apart, and alike
    lighter_or_darker = far & ((ratio > HAT_BRIGHTNESS_RATIO) | (ratio < 1 / HAT_BRIGHTNESS_RATIO))
    return other_hue | grey_against_colour | lighter_or_darker


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (0-1 round the circle), saturation and value of (N, 3) colours in 0-1."""
    import cv2

    hsv = cv2.cvtColor(np.clip(np.asarray(rgb, np.float32), 0, 1)[None], cv2.COLOR_RGB2HSV)[0]
    return hsv[:, 0] / 360.0, hsv[:, 1], hsv[:, 2]


def face_skin_colour(photo_rgb: np.ndarray, photo_mask: np.ndarray, hair: np.ndarray, *, crown_v: float,
                     chin_v: float, centre_u: float, half_u: float, hat: np.ndarray | None = None) -> np.ndarray | None:
    """The face's skin colour (0-255 scale): the median of the photo's pixels down the middle of the face that
    are not of the crown's colour (hair, a fringe, a hat) nor of the hat's, when there is one."""
    h, w = photo_mask.shape
    top, bottom = max(int(crown_v), 0), min(int(chin_v), h)
    if bottom <= top:
        return None
    rgb = photo_rgb[top:bottom].astype(np.float32)
    face = photo_mask[top:bottom] & (np.abs(rgb / 255.0 - hair).max(axis=2) >= HAIR_COLOUR_STEP)
    if hat is not None:
        face &= np.abs(rgb / 255.0 - np.asarray(hat)).max(axis=2) >= HAIR_COLOUR_STEP
    face &= (np.abs(np.arange(w) + 0.5 - centre_u) < 0.5 * half_u)[None, :]
    return np.median(rgb[face], axis=0) if face.any() else None


def _chroma(c) -> np.ndarray:
    """(N, 2) red and green shares of each colour's sum: its hue and saturation whatever its brightness."""
    c = np.asarray(c, np.float32).reshape(-1, 3)
    return c[:, :2] / np.maximum(c.sum(axis=1, keepdims=True), 1e-6)


def hanging_hair(photo_rgb: np.ndarray, photo_mask: np.ndarray, hair: np.ndarray, *, crown_v: float, chin_v: float,
                 centre_u: float, half_u: float, lowest_v: float,
                 hat: np.ndarray | None = None) -> tuple[float, float] | None:
    """(row where the hair ends, half-width in pixels) of hair hanging below the chin, or None.

    Hair is what has the crown's colour and joins the crown, or reaches up beside the face: hair over
    the shoulders does (the strands beside the face are often shaded apart from the crown), a dark
    shirt below a bare neck does not."""
    h, w = photo_mask.shape
    top, bottom = 0, int(min(max(lowest_v, chin_v), h - 1)) + 1
    near = np.abs(np.arange(w) + 0.5 - centre_u) < HAIR_MAX_HALF_WIDTHS * half_u
    hairlike = photo_mask[top:bottom] & near[None, :]
    hairlike &= np.abs(photo_rgb[top:bottom].astype(np.float32) / 255.0 - hair).max(axis=2) < HAIR_COLOUR_STEP
    labels, _ = ndimage.label(hairlike)

    beside_face_v = chin_v - BESIDE_FACE_FRACTION * (chin_v - crown_v)
    crown = labels[: max(int(crown_v), 1)]
    beside_face = labels[: max(int(beside_face_v), 1)]
    joined = np.isin(labels, np.union1d(np.unique(crown[crown > 0]), np.unique(beside_face[beside_face > 0])))
    below = joined[int(np.ceil(chin_v)):]
    if not below.any():
        return None
    rows, cols = np.nonzero(below)
    if len(rows) < 0.5 * half_u:  # a few strands or stray pixels: not hair worth painting down the back
        return None
    end_v = np.ceil(chin_v) + rows.max() + 1.0
    # Where the strands end on the clothes (the shoulders in front of them) rather than on the
    # background or the neck's skin, the photo shows only where the hair goes behind the body: it
    # hangs on down the back. A bob's tips end on the neck or in the air; a few strands prove nothing.
    last = rows >= rows.max() - 1
    ends = np.ceil(chin_v) + rows[last]
    under = np.clip(ends.astype(int) + 2, 0, h - 1), cols[last]
    wide = len(np.unique(cols[last])) >= HANGING_MIN_WIDTH_HALF_WIDTHS * half_u
    on_clothes = False
    if wide:  # (the face's skin is read only for locks this wide)
        skin = face_skin_colour(photo_rgb, photo_mask, hair, crown_v=crown_v, chin_v=chin_v, centre_u=centre_u,
                                half_u=half_u, hat=hat)
        on_clothes = (photo_mask[under] & ~_skin_like(photo_rgb[under], skin)).mean() > 0.5
    if on_clothes:
        head_px = (chin_v - crown_v) / 0.8  # crown_v is a fifth of the way down from the top of the head
        end_v = min(end_v + HAIR_BEHIND_BODY_HEAD_HEIGHTS * head_px, max(lowest_v, end_v))
    return float(end_v), float(np.percentile(np.abs(cols + 0.5 - centre_u), 95))


def _skin_like(rgb: np.ndarray, skin: np.ndarray | None) -> np.ndarray:
    """Which of the (N, 3) uint8 colours have the face's skin tone: its chromaticity within SKIN_CHROMA_STEP
    at any brightness (a neck in the chin's shadow is darker, not another colour; a grey shirt is not)."""
    if skin is None:
        return np.zeros(len(rgb), bool)
    return np.abs(_chroma(rgb) - _chroma(skin)).max(axis=1) < SKIN_CHROMA_STEP


def sample_row_of_height(camera: Camera, z: float) -> float:
    """Image row (continuous v) where the front camera sees height z on the person's axis."""
    uv, _ = camera.project(np.array([[0.0, 0.0, z]]))
    return float(uv[0, 1])


def classical_back_view(back: ViewMaps, photo_rgb: np.ndarray, photo_known: np.ndarray, photo_camera: Camera,
                        head: HeadRegion, limbs: LimbSource | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back view image (H, W, 3) float32, the pixels it filled, and the head pixels it repainted.

    `limbs` (with a fitted body): each point takes its colour from photo pixels of its own limb, not
    from whatever lies in front of it in the photo (see limbs.py). Without it, straight through."""
    h, w = back.mask.shape
    pts = back.position[back.mask].astype(np.float64)
    uv, _ = photo_camera.project(pts)  # the front shows through: clothes look alike front and back
    found = np.ones(len(pts), bool)
    if limbs is not None:
        point_limbs = limbs.limbs_of(pts)
        uv, found = limbs.redirect(pts, uv, photo_known, point_limbs)
    k = photo_known.astype(np.float32)
    num = sample_map(photo_rgb.astype(np.float32) / 255.0 * k[..., None], uv)
    den = sample_map(k, uv)
    ok = (den > 0.5) & found
    colours = np.where(ok[:, None], num / np.maximum(den, 1e-6)[:, None], 0.0)

    hair = head.hair_cover(pts)
    if limbs is not None:  # a hand raised beside the head stays a hand; long hair covers the neck and back
        neck_or_back = (point_limbs == LIMBS.index("torso")) & (pts[:, 2] <= head.chin_z)
        hair = np.where((point_limbs == LIMBS.index("head")) | neck_or_back, hair, 0.0)
    if head.ear_y is not None:  # the head's rim in front of the ears is the face's side: the photo's
        above_chin = pts[:, 2] > head.chin_z
        hair[above_chin] *= head.hair_behind_ears(pts[above_chin])
    a = hair[:, None]
    hair_colours = head.hair_colours(pts)
    colours = np.where(ok[:, None], (1 - a) * colours + a * hair_colours, hair_colours)
    in_head = hair >= 0.5
    ok |= in_head

    image = np.zeros((h, w, 3), np.float32)
    image[back.mask] = colours
    filled = np.zeros((h, w), bool)
    filled[back.mask] = ok
    head_px = np.zeros((h, w), bool)
    head_px[back.mask] = in_head
    # Soften the hairline so it does not read as a cut.
    m = filled.astype(np.float32)
    blurred = ndimage.gaussian_filter(image * m[..., None], sigma=(1.5, 1.5, 0)) / np.maximum(
        ndimage.gaussian_filter(m, 1.5), 1e-6)[..., None]
    edge = ndimage.binary_dilation(head_px, iterations=2) & ~ndimage.binary_erosion(head_px, iterations=2)
    image[edge & filled] = blurred[edge & filled]
    return image, filled, head_px
