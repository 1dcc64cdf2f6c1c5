"""The naked body of a synthetic person: labelled shapes hung on the skeleton's joints.

Ellipsoids for the head, chest, waist and hips, tapering round cones for the limbs, capsules
(figure.py's) for the neck, collar bones, hands and feet. Sizes are for a 1.75 m person of
average build, scaled by the stature and (girths) by the build. Each piece says which body
part it is; the clothes (clothing.py) go over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .figure import Capsule
from .sdf import Ellipsoid, RoundCone
from .skeleton import SIDES, Phenotype

BODY_PARTS = ("head", "neck", "torso", "pelvis",
              *(f"{p}_{s}" for p in ("upper_arm", "forearm", "hand", "thigh", "shin", "foot") for s in SIDES))


@dataclass
class Piece:
    """One shape of a person: the body part it belongs to and the layer it is made of
    ("body" for the skin's own shape, else a garment or hair)."""

    shape: object
    part: str
    layer: str = "body"


def body_pieces(ph: Phenotype, j: dict[str, np.ndarray]) -> list[Piece]:
    s, g = ph.stature_m / 1.75, ph.build
    female = ph.sex == "female"
    head, chest, waist, pelvis, neck = j["head"], j["chest"], j["waist"], j["pelvis"], j["neck"]
    trunk_up = (neck - pelvis) / np.linalg.norm(neck - pelvis)
    pieces = [
        Piece(Ellipsoid(head, np.array([0.076, 0.096, 0.112]) * s), "head"),
        Piece(Ellipsoid(head + np.array([0, -0.035, -0.062]) * s, np.array([0.055, 0.06, 0.05]) * s), "head"),  # jaw
        Piece(Ellipsoid(head + np.array([0, -0.094, -0.01]) * s, np.array([0.011, 0.016, 0.022]) * s), "head"),  # nose
        Piece(Capsule("neck", neck - trunk_up * 0.02 * s, head - np.array([0, -0.01, 0.07]) * s, 0.052 * s * g ** 0.5),
              "neck"),
        # Chest, waist and hips overlap deeply, so the trunk tapers instead of pinching. Depths
        # (front to back) after ANSUR II's adult means (chest ~25 cm, waist ~23 cm, buttocks ~25 cm):
        # a trunk thinner than that makes every reconstruction look too thick.
        Piece(Ellipsoid(chest + np.array([0, 0, 0.02]) * s,
                        np.array([0.15 if female else 0.165, 0.115 if female else 0.125, 0.2]) * s * g), "torso"),
        Piece(Ellipsoid(waist, np.array([0.13 if female else 0.14, 0.112, 0.16]) * s * g), "torso"),
        Piece(Ellipsoid(pelvis, np.array([0.165 if female else 0.15, 0.122, 0.13]) * s * g), "pelvis"),
    ]
    if female:
        for sign in (-1, 1):
            pieces.append(Piece(Ellipsoid(chest + np.array([sign * 0.055, -0.07 * g, -0.035]) * s,
                                          np.array([0.06, 0.055, 0.055]) * s * g), "torso"))
    if g > 1.1:  # a belly that shows from the side
        pieces.append(Piece(Ellipsoid(waist + np.array([0, -0.045 * g, -0.02]) * s,
                                      np.array([0.12, 0.085, 0.11]) * s * g), "torso"))
    for side in SIDES:
        sh, el, wr, hand = (j[f"{k}_{side}"] for k in ("shoulder", "elbow", "wrist", "hand"))
        hip, knee, ankle, heel, toe = (j[f"{k}_{side}"] for k in ("hip", "knee", "ankle", "heel", "toe"))
        up = (ankle - j[f"heel_{side}"])
        up = up - (toe - heel) * (up @ (toe - heel)) / ((toe - heel) @ (toe - heel))
        up /= np.linalg.norm(up)
        foot_r = 0.032 * s
        pieces += [
            Piece(Capsule(f"upper_arm_{side}", neck + (sh - neck) * 0.35, sh, 0.05 * s * g), "torso"),  # collar bone
            Piece(RoundCone(sh, el, 0.05 * s * g, 0.037 * s * g), f"upper_arm_{side}"),
            Piece(RoundCone(el, wr, 0.038 * s * g, 0.026 * s * g ** 0.5), f"forearm_{side}"),
            Piece(Capsule(f"hand_{side}", wr + (hand - wr) * 0.15, hand - (hand - wr) * 0.2, 0.026 * s),
                  f"hand_{side}"),
            Piece(RoundCone(hip, knee, 0.088 * s * g, 0.055 * s * g ** 0.5), f"thigh_{side}"),
            Piece(RoundCone(knee, ankle, 0.056 * s * g ** 0.5, 0.034 * s), f"shin_{side}"),
            Piece(Capsule(f"foot_{side}", heel + up * foot_r + (toe - heel) * 0.08, toe + up * foot_r * 0.8
                          - (toe - heel) * 0.12, foot_r), f"foot_{side}"),
        ]
    return pieces
