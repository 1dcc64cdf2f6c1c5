"""Which limb each surface point belongs to, and which of the photo's pixels show that limb.

With a fitted body (shape.body.FittedBody), every point of the dressed surface belongs to the limb
of the nearest point of the bare body: a sleeve to its arm, a trouser leg to its leg, the hair to
the head. The photo's pixels get a limb the same way, from the surface point each one shows, and each bare
limb rendered alone says how far away it would be seen if nothing stood in front of it. The back
view, and every later view that reads the photo, take a point's colour from the photo pixel it projects
to, unless another limb stands well in front of the point's own limb there (a hand resting on a knee,
an arm across the belly, the other leg), or the photo sees the point edge-on (the side of a thigh, at
the rim of the photo's person: stretched, shaded dark, blended with the hand beside it); then from the
nearest photo pixel where its own limb is seen well (face-on, away from its edges), at the same
height where one is near: the back of a leg from that leg, never the hand on it.

The hands are read from the photo itself where it shows them (photo_hands.py): the fitted hand lies a
few centimetres off the photo's, so its pixels are not the fit's. The fitted hand's points the photo
does not see face-on read from the photo's hand wherever they lie; a point more than a hand's depth
behind a photo hand (the back of a waist under a hand on the hip) reads from its own limb elsewhere; no
limb reads from a photo hand's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

LIMBS = ("torso", "head", "arm.L", "arm.R", "leg.L", "leg.R")
# Parts of one limb share their colours' source (a hand in front of its own forearm is fine:
# it is the same arm), parts of different limbs never do.
LIMB_OF_PART = {
    "torso": "torso", "head": "head",
    "upperarm.L": "arm.L", "forearm.L": "arm.L", "hand.L": "arm.L",
    "upperarm.R": "arm.R", "forearm.R": "arm.R", "hand.R": "arm.R",
    "thigh.L": "leg.L", "shin.L": "leg.L", "foot.L": "leg.L",
    "thigh.R": "leg.R", "shin.R": "leg.R", "foot.R": "leg.R",
}
NO_LIMB = -1
HANDS = ("L", "R")  # the person's left and right hand, as photo_hands.find_photo_hands names them
NO_HAND = -1
# Source pixels are taken this far inside their limb's region (a fraction of the image's size): the
# photo's edge between two limbs blends them, and the fitted body's limbs are a little off the photo's
# (a forearm fitted a few centimetres low leaves a sliver of skin labelled torso above it).
EDGE_FRACTION = 0.015
# Another limb is *in front* of a point's limb only when it is this much nearer the camera than the
# bare limb would be: a hand on a hip or a forearm across the belly lie a hand's thickness or more in
# front; where two limbs merely meet (the shoulder between torso and arm, the crotch) the depths agree
# and the photo's pixel is the point's own garment.
IN_FRONT_M = 0.03
FAR_IN_FRONT_M = 0.08  # more than clothes add over the body they cover (a shirt, trousers)
ROW_COST = 8.0  # a source pixel one row higher or lower counts as this many pixels further sideways
# The head's rim is hair at one height and skin at the next (a fringe above, the face's side below): a
# rim pixel reads the face-on pixel of its own row, else stripes of hair cross the cheek.
HEAD_ROW_COST = 100.0
# The photo sees a surface edge-on where it turns more than this far from the camera (cosine): there its
# colour is stretched over a few pixels, shaded dark and blended with what lies beside it.
EDGE_ON_COS = 0.4
BLEND_PX = 2  # pixels at a region's edge that mix two colours
# The dressing gives a hand at most 1.5 cm of clothing (a glove); beyond that a surface is something else's.
HAND_SKIN_M = 0.02
HAND_DEPTH_M = 0.1  # a hand, with what the dressing adds to fill the photo's outline of it, is no deeper
SEEN_M = 0.015  # a point this much behind the surface the photo shows at its pixel is not what the photo shows


def in_front_by(behind: np.ndarray, front: np.ndarray) -> np.ndarray:
    """How far the surface at depth `front` stands in front of `behind`; -inf where either is absent (inf)."""
    with np.errstate(invalid="ignore"):  # inf - inf
        gap = np.asarray(behind) - np.asarray(front)
    return np.where(np.isfinite(gap), gap, -np.inf)


@dataclass
class LimbSource:
    """The fitted body's limbs, and the photo's pixels sorted by the limb they show."""

    tree: cKDTree  # over the bare body's vertices (world frame)
    vertex_limbs: np.ndarray  # (V,) index into LIMBS
    photo_limbs: np.ndarray  # (H, W) int: the limb each photo pixel shows, NO_LIMB off the body
    limb_depth: np.ndarray  # (len(LIMBS), H, W): each bare limb's depth alone in the photo, inf where absent
    shown_depth: np.ndarray  # (H, W): the depth of the dressed surface the photo shows, inf off it
    facing: np.ndarray  # (H, W): cosine between the shown surface's normal and the direction to the camera
    vertex_hands: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # (V,) HANDS index, -1: not a hand
    photo_hands: np.ndarray | None = None  # (H, W) int8: the HANDS index of the hand the photo shows there, -1 none
    camera: Any = None  # the photo's camera (conventions.Camera), with photo_hands
    _cache: dict = field(default_factory=dict, repr=False)
    _known_alive: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_body(cls, fitted, photo_maps, photo_hands: dict[str, np.ndarray] | None = None) -> LimbSource:
        """`fitted`: shape.body.FittedBody; `photo_maps`: the dressed mesh's maps through the photo's camera;
        `photo_hands`: photo_hands.find_photo_hands of the same photo (side -> pixels), if any."""
        from ..mesh import Mesh
        from ..raster import render_maps
        from ..shape.body.model import PARTS

        part_limb = np.array([LIMBS.index(LIMB_OF_PART[p]) for p in PARTS])
        vertex_limbs = part_limb[np.asarray(fitted.vertex_parts)]
        part_hand = np.array([HANDS.index(p[-1]) if p.startswith("hand.") else NO_HAND for p in PARTS], np.int8)
        tree = cKDTree(np.asarray(fitted.mesh.vertices, np.float64))
        source = cls(tree, vertex_limbs, np.full(photo_maps.mask.shape, NO_LIMB),
                     np.full((len(LIMBS), *photo_maps.mask.shape), np.inf, np.float32),
                     np.where(photo_maps.mask, photo_maps.depth, np.inf).astype(np.float32),
                     np.where(photo_maps.mask, photo_maps.normal[..., 2], 0.0).astype(np.float32),
                     vertex_hands=part_hand[np.asarray(fitted.vertex_parts)], camera=photo_maps.camera)
        # Each limb of the bare body alone through the photo's camera: how far away it would be seen
        # if nothing stood in front of it.
        face_limbs = vertex_limbs[np.asarray(fitted.mesh.faces)[:, 0]]
        for limb in np.unique(face_limbs):
            alone = Mesh(fitted.mesh.vertices, np.asarray(fitted.mesh.faces)[face_limbs == limb])
            seen = render_maps(alone, [photo_maps.camera])[0]
            source.limb_depth[limb][seen.mask] = seen.depth[seen.mask]
        # What a pixel shows is the nearest limb of the bare body there, even where the clothes join
        # two limbs into one surface (a forearm across the belly); clothes beyond the body (a skirt,
        # hair), and a surface standing far in front of the bare limb under it (a forearm the fit put
        # a little lower than the photo's), take the limb of the body nearest to them.
        dressed = photo_maps.mask
        source.photo_limbs[dressed] = source.limbs_of(photo_maps.position[dressed])
        gap = in_front_by(source.limb_depth.min(axis=0), source.shown_depth)  # -inf: no bare limb there
        on_body = dressed & np.isfinite(gap) & (gap < FAR_IN_FRONT_M)
        source.photo_limbs[on_body] = np.argmin(source.limb_depth, axis=0)[on_body]
        if photo_hands:  # the photo's own hands, wherever the fit put its hands
            source.photo_hands = np.full(photo_maps.mask.shape, NO_HAND, np.int8)
            for side, pixels in photo_hands.items():
                source.photo_hands[np.asarray(pixels, bool) & dressed] = HANDS.index(side)
        return source

    def limbs_of(self, points: np.ndarray) -> np.ndarray:
        """(N,) limb index of each surface point (world frame)."""
        _, nearest = self.tree.query(np.asarray(points, np.float64))
        return self.vertex_limbs[nearest]

    def hands_of(self, points: np.ndarray) -> np.ndarray:
        """(N,) HANDS index of each surface point on a hand's skin (its nearest bare body point is on a hand,
        HAND_SKIN_M from it at most: the cloth of a skirt beside a hand is not the hand), else NO_HAND."""
        distance, nearest = self.tree.query(np.asarray(points, np.float64))
        return np.where(distance <= HAND_SKIN_M, self.vertex_hands[nearest], NO_HAND).astype(np.int8)

    def redirect(self, points: np.ndarray, uv: np.ndarray, known: np.ndarray,
                 point_limbs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Where in the photo each point's colour comes from: its own projection `uv` (N, 2), except in two
        cases. Another limb stands in front of the point's limb at its pixel (a hand on a thigh: the hand
        is not the thigh's colour): the nearest `known` pixel well inside its own limb's region. The pixel
        shows the point's own limb edge-on, or lies off the photo's person: the nearest pixel where the
        photo sees that limb face-on (its colour at the rim is stretched, shaded dark and blended with
        whatever lies beside it). Both prefer the same height.

        Returns the new coordinates and (N,) bool: whether that limb shows anywhere in the photo
        (when it does not, the point is left to the inpainter)."""
        h, w = known.shape
        limbs = self.limbs_of(points) if point_limbs is None else np.asarray(point_limbs)
        col = np.clip(np.floor(uv[:, 0]), 0, w - 1).astype(np.int64)
        row = np.clip(np.floor(uv[:, 1]), 0, h - 1).astype(np.int64)
        shown = self.photo_limbs[row, col]
        # Hidden: the photo shows another limb there, well in front of where this limb's bare body
        # would be seen. Where the bare limb is not under the pixel at all (clothes or hair beyond
        # the body, the seam between two limbs), the photo's pixel is the best guess: kept.
        own_depth = self.limb_depth[limbs, row, col]
        hidden = (shown != limbs) & (shown != NO_LIMB) & np.isfinite(own_depth)
        hidden[hidden] = in_front_by(own_depth[hidden], self.shown_depth[row[hidden], col[hidden]]) > IN_FRONT_M
        out = np.asarray(uv, np.float64).copy()
        found = np.ones(len(points), bool)
        read_from_hand = np.zeros(len(points), bool)
        if self.photo_hands is not None:
            # The photo's hand stands in front of what lies more than a hand's depth behind it (the back of
            # a waist under a hand on the hip); nearer, the dressed surface is the hand the dressing made of
            # the photo's. A fitted hand reads from the photo's hand of its side wherever it lies: its points
            # the photo does not see face-on (behind the surface it shows, or at a slant) from the middle
            # of the photo's hand at their height. What the photo sees face-on keeps the photo's pixel: the
            # front is the photo.
            hands = self.hands_of(points)
            at_hand = self.photo_hands[row, col]
            _, depth = self.camera.project(np.asarray(points, np.float64))
            behind = depth - self.shown_depth[row, col]
            hidden |= (behind > HAND_DEPTH_M) & (at_hand != NO_HAND) & (hands != at_hand)
            unseen = (behind > SEEN_M) | (self.facing[row, col] < EDGE_ON_COS)
            for k in range(len(HANDS)):
                nearest = self._nearest_hand(k, known)
                if nearest is not None:
                    mine = hands == k
                    read_from_hand |= mine  # seen face-on, the photo's own pixel; else the photo's hand
                    self._move(out, mine & unseen, row, col, nearest)
        for limb in np.unique(limbs):
            mine = (limbs == limb) & ~read_from_hand
            nearest = self._nearest(limb, known, "behind")
            if nearest is None:  # the limb shows nowhere: hidden points are left to the inpainter
                found[mine & hidden] = False
            else:
                self._move(out, mine & hidden, row, col, nearest)
            # Seen edge-on (or off the photo's person): from where the photo sees the same limb face-on.
            nearest = self._nearest(limb, known, "face_on")
            if nearest is not None:
                inside = nearest[0]
                edge_on = mine & ~hidden & ((shown == limb) | (shown == NO_LIMB)) & ~inside[row, col]
                self._move(out, edge_on, row, col, nearest)
        return out, found

    @staticmethod
    def _move(out: np.ndarray, moved: np.ndarray, row: np.ndarray, col: np.ndarray, nearest) -> None:
        _, near_r, near_c = nearest
        r, c = near_r[row[moved], col[moved]], near_c[row[moved], col[moved]]
        out[moved] = np.stack([c + 0.5, r + 0.5], axis=1)

    def _nearest(self, limb: int, known: np.ndarray, kind: str):
        """(region, nearest row, nearest column): the `known` pixels where the photo shows `limb` as `kind` asks,
        and for every pixel the nearest of them to read a colour from, at the same height where there is one
        not too far (stripes, hems and waistbands run round at their height); None when there are none.
        `kind`: "behind" (for a point hidden by another limb): well inside the limb's region
        (EDGE_FRACTION); "face_on" (for a point the photo sees edge-on): where the photo sees the limb
        face-on. The photo's hands are in the region but never read from: they have their own source
        (`_nearest_hand`). Cached per limb, kind and mask: every view asks."""
        key = (limb, kind, id(known))
        if key not in self._cache:
            h, w = known.shape
            shows_limb = self.photo_limbs == limb
            if kind == "behind":
                own = known & ndimage.binary_erosion(shows_limb, iterations=max(1, round(EDGE_FRACTION * max(h, w))))
                if not own.any():
                    own = known & shows_limb
            else:
                own = known & ndimage.binary_erosion(shows_limb, iterations=BLEND_PX) & (self.facing >= EDGE_ON_COS)
            sources = own if self.photo_hands is None else own & (self.photo_hands == NO_HAND)
            if not sources.any():
                sources = own
            if not own.any():
                self._cache[key] = None
            else:
                row_cost = HEAD_ROW_COST if LIMBS[limb] == "head" else ROW_COST
                _, (near_r, near_c) = ndimage.distance_transform_edt(~sources, sampling=(row_cost, 1.0),
                                                                      return_indices=True)
                self._cache[key] = (own, near_r, near_c)
            self._known_alive[id(known)] = known  # keeps the id valid while it is a key
        return self._cache[key]

    def _nearest_hand(self, hand: int, known: np.ndarray):
        """Like `_nearest`, for the photo's hand `hand` (HANDS index): every pixel reads from the middle of the
        hand's row nearest its own (the pixel deepest inside the hand on that row); None where it shows none.
        The middle, not the nearest pixel: the hand's rim is shaded dark and blends with what lies beside it,
        and a fitted hand beside the photo's read it row by row in streaks."""
        key = ("hand", hand, id(known))
        if key not in self._cache:
            shown = known & (self.photo_hands == hand)
            if not shown.any():
                self._cache[key] = None
            else:
                middle = np.argmax(ndimage.distance_transform_edt(shown), axis=1)  # per row, its deepest pixel
                # Per row of the image, the nearest row of the hand.
                _, (row_of,) = ndimage.distance_transform_edt(~shown.any(axis=1), return_indices=True)
                w = shown.shape[1]
                self._cache[key] = (shown, np.repeat(row_of[:, None], w, axis=1),
                                    np.repeat(middle[row_of][:, None], w, axis=1))
            self._known_alive[id(known)] = known
        return self._cache[key]
