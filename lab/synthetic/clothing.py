"""Clothes and hair that hide the body's shape: the shapes they add over the body (body.py).

An outfit is a tuple of item names. Items with a shape of their own:

    skirt, dress    a flare hanging from the waist to below the knees: it does not follow the legs
    coat            a flare from the chest to below the knees, deeper front and back than the body,
                    with thick sleeves
    wide_trousers   a wide tube round each leg, widening to the hem, cut flat above the shoe
    long_hair       a curtain of hair down the back, to the shoulder blades (and a scalp of hair)
    short_hair      a scalp of hair over the top and back of the head
    beanie          a knitted hat over the top of the head, down to the brows and the tops of the ears
    shoes           a rounded box round each foot, pointing the way the foot does

Colour-only items (appearance.py): shirt (long sleeves), tshirt, trousers, shorts, belt, tie,
logo, beard. `hem_heights` says where each garment's lower edge is, for the hem bands.
"""

from __future__ import annotations

import numpy as np

from .body import Piece
from .figure import Capsule
from .sdf import Above, Ellipsoid, Flare, RoundCone, RoundedBox
from .skeleton import SIDES, Phenotype

GARMENT_ITEMS = ("skirt", "dress", "coat", "wide_trousers", "long_hair", "short_hair", "beanie", "shoes")
COLOUR_ITEMS = ("shirt", "tshirt", "trousers", "shorts", "belt", "tie", "logo", "beard")


def _frame(forward: np.ndarray) -> np.ndarray:
    """Rows: `forward`, a horizontal vector across it, and the third axis (up-ish)."""
    f = forward / np.linalg.norm(forward)
    across = np.cross(f, [0.0, 0.0, 1.0])
    across /= np.linalg.norm(across)
    return np.stack([f, across, np.cross(across, f)])


def shoe_bottom_m(ph: Phenotype) -> float:
    """How far the shoe's sole reaches below the foot's sole (the skeleton's heel and toe)."""
    return 0.015 * ph.stature_m / 1.75


def hem_heights(ph: Phenotype, j: dict[str, np.ndarray], outfit: tuple[str, ...]) -> dict[str, float]:
    """z of the lower edge of each garment the outfit has ("skirt", "coat", "trousers"), body frame."""
    s = ph.stature_m / 1.75
    knee = min(j["knee_l"][2], j["knee_r"][2])
    ankle = min(j["ankle_l"][2], j["ankle_r"][2])
    hems = {}
    if "skirt" in outfit or "dress" in outfit:
        hems["skirt"] = knee - 0.06 * s
    if "coat" in outfit:
        hems["coat"] = knee - 0.1 * s
    if "wide_trousers" in outfit:
        hems["trousers"] = ankle - 0.02 * s
    elif "trousers" in outfit:
        hems["trousers"] = ankle
    return hems


def garment_pieces(ph: Phenotype, j: dict[str, np.ndarray], outfit: tuple[str, ...]) -> list[Piece]:
    s, g = ph.stature_m / 1.75, ph.build
    female = ph.sex == "female"
    hems = hem_heights(ph, j, outfit)
    head, chest, waist, pelvis = j["head"], j["chest"], j["waist"], j["pelvis"]
    pieces: list[Piece] = []

    if "short_hair" in outfit or "long_hair" in outfit:
        pieces.append(Piece(Ellipsoid(head + np.array([0, 0.016, 0.014]) * s, np.array([0.083, 0.096, 0.114]) * s),
                            "head", "hair"))
    if "long_hair" in outfit:
        top = head + np.array([0, 0.075, -0.01]) * s
        bottom = np.array([0.0, chest[1] + 0.105 * s * g + 0.035 * s, chest[2] - 0.1 * s])
        axes = _frame(bottom - top)
        half = np.array([np.linalg.norm(bottom - top) / 2 + 0.03 * s, 0.085 * s, 0.028 * s])
        pieces.append(Piece(RoundedBox((top + bottom) / 2, half, axes, 0.026 * s), "torso", "hair"))
    if "beanie" in outfit:  # over the hair's scalp, its edge level with the brows all round
        pieces.append(Piece(Above(Ellipsoid(head + np.array([0, 0.014, 0.018]) * s, np.array([0.09, 0.104, 0.12]) * s),
                                  head[2] + 0.035 * s), "head", "hat"))

    if "skirt" in outfit or "dress" in outfit:
        # Fitted from the waist over the hips (a yoke), then flared straight down to the hem.
        hips_z = j["hip_l"][2] - 0.04 * s
        waist_r = np.array([0.13 if female else 0.14, 0.1]) * s * g
        hips_r = np.array([ph.hip_half_width + (0.088 * g + 0.035) * s, (0.088 * g + 0.04) * s])
        pieces += [Piece(Flare(pelvis[:2], waist[2], hips_z, waist_r, hips_r), "pelvis", "skirt"),
                   Piece(Flare(pelvis[:2], hips_z, hems["skirt"], hips_r, hips_r + np.array([0.1, 0.1]) * s),
                         "pelvis", "skirt")]
    if "coat" in outfit:
        top_r = np.array([0.16 if female else 0.17, 0.1]) * s * g
        pieces.append(Piece(Flare(pelvis[:2], chest[2], hems["coat"], top_r,
                                  np.array([0.25, 0.24]) * s * g ** 0.5), "torso", "coat"))
        for side in SIDES:
            sh, el, wr = (j[f"{k}_{side}"] for k in ("shoulder", "elbow", "wrist"))
            neck = j["neck"]
            pieces += [
                Piece(Capsule(f"upper_arm_{side}", neck + (sh - neck) * 0.35, sh, 0.064 * s * g), "torso", "coat"),
                Piece(RoundCone(sh, el, 0.066 * s * g, 0.055 * s * g), f"upper_arm_{side}", "coat"),
                Piece(RoundCone(el, wr + (el - wr) * 0.05, 0.056 * s * g, 0.05 * s * g ** 0.5), f"forearm_{side}",
                      "coat"),
            ]
    if "wide_trousers" in outfit:
        pieces.append(Piece(Ellipsoid(pelvis, np.array([0.172 if female else 0.16, 0.118, 0.12]) * s * g),
                            "pelvis", "trousers"))
        for side in SIDES:
            hip, knee, ankle = (j[f"{k}_{side}"] for k in ("hip", "knee", "ankle"))
            hem = ankle[2] - 0.02 * s
            pieces += [
                Piece(RoundCone(hip, knee, 0.11 * s * g, 0.095 * s * g ** 0.5), f"thigh_{side}", "trousers"),
                Piece(Above(RoundCone(knee, ankle, 0.095 * s * g ** 0.5, 0.115 * s * g ** 0.5), hem),
                      f"shin_{side}", "trousers"),
            ]
    if "shoes" in outfit:
        below = shoe_bottom_m(ph)
        for side in SIDES:
            heel, toe = j[f"heel_{side}"], j[f"toe_{side}"]
            axes = _frame(toe - heel)
            half = np.array([np.linalg.norm(toe - heel) / 2 + 0.012 * s, 0.048 * s * g ** 0.3, 0.045 * s])
            centre = (heel + toe) / 2 + axes[2] * (half[2] - below)
            pieces.append(Piece(RoundedBox(centre, half, axes, 0.03 * s), f"foot_{side}", "shoes"))
    return pieces
