"""What a synthetic person's surface looks like: materials, all-round patterns and front-only markings.

Everything here works on points of the surface in the body frame (facing -Y, before the pose's
yaw): people.Person turns world points into it. A point's material comes from the shape that
makes the surface there (body.Piece: its part and layer) and the outfit. On top of the materials:

- all-round structures, the same from every side: `stripes` (on a striped top), `hem` (a band
  along each garment's lower edge), `waistband` (a belt round the waist);
- front-only markings, which a view from behind must not show: `tie`, `logo` (on the chest, the
  person's left), `zip` (down the coat), `beard`, `face` (eyes and mouth), `hand_on_thigh` (the
  hand resting on the front of the thigh, where the pose has one).

`marking_masks` gives each marking's mask, so a test can ask where a detail is and whether a
rendered view shows it.
"""

from __future__ import annotations

import numpy as np

MATERIALS = ("skin", "hair", "top", "bottom", "dress", "coat", "shoes", "hat")
MARKINGS = {  # name -> front only
    "stripes": False, "hem": False, "waistband": False,
    "tie": True, "logo": True, "zip": True, "beard": True, "face": True, "hand_on_thigh": True,
}


def random_palette(rng: np.random.Generator) -> dict:
    """Colours of one person (RGB in [0, 1]) and their shirt's stripes, drawn from `rng`."""
    skins = [[0.94, 0.78, 0.66], [0.80, 0.60, 0.47], [0.58, 0.40, 0.30], [0.98, 0.86, 0.76]]
    hairs = [[0.12, 0.08, 0.05], [0.42, 0.28, 0.14], [0.82, 0.68, 0.40], [0.22, 0.22, 0.24]]
    return {
        "skin": np.array(skins[rng.integers(len(skins))]),
        "hair": np.array(hairs[rng.integers(len(hairs))]),
        "top": rng.uniform(0.15, 0.9, 3), "stripe": rng.uniform(0.05, 0.95, 3),
        "bottom": rng.uniform(0.08, 0.5, 3), "dress": rng.uniform(0.2, 0.85, 3),
        "coat": rng.uniform(0.1, 0.6, 3), "shoes": np.full(3, 0.08) + rng.uniform(0, 0.25),
        "hem": rng.uniform(0.0, 1.0, 3), "waistband": np.array([0.12, 0.09, 0.07]),
        "tie": rng.uniform(0.0, 1.0, 3), "logo": rng.uniform(0.0, 1.0, 3), "zip": np.array([0.75, 0.75, 0.72]),
        "stripe_period": float(rng.uniform(0.04, 0.08)), "striped": bool(rng.integers(2)),
        "hat": rng.uniform(0.1, 0.9, 3),  # drawn last: the other colours stay as they were before hats
    }


def _along(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Position of each point's projection on segment a -> b (0 at a, 1 at b)."""
    ab = b - a
    return (p - a) @ ab / (ab @ ab)


def surface_materials(p: np.ndarray, parts: list[str] | np.ndarray, layers: list[str] | np.ndarray, outfit,
                      joints: dict) -> np.ndarray:
    """Material name (MATERIALS) of each point from its part, its layer and the outfit."""
    has = set(outfit).__contains__
    out = np.full(len(p), "skin", dtype=object)
    parts, layers = np.asarray(parts, object), np.asarray(layers, object)
    top = "coat" if has("coat") else "dress" if has("dress") else "top"
    bottom = "dress" if has("dress") else "bottom"
    covered_legs = has("trousers") or has("wide_trousers")
    long_sleeves, short_sleeves = has("coat") or has("shirt"), has("tshirt") or has("dress")
    for side in ("l", "r"):
        upper = parts == f"upper_arm_{side}"
        near_shoulder = _along(p, joints[f"shoulder_{side}"], joints[f"elbow_{side}"]) < 0.55
        if long_sleeves:
            out[upper | (parts == f"forearm_{side}")] = top
        elif short_sleeves:
            out[upper & near_shoulder] = top
        for leg in ("thigh", "shin"):
            sel = parts == f"{leg}_{side}"
            if covered_legs:
                out[sel] = bottom
            elif has("shorts") and leg == "thigh":
                out[sel & (_along(p, joints[f"hip_{side}"], joints[f"knee_{side}"]) < 0.5)] = bottom
    out[parts == "torso"] = top
    out[parts == "pelvis"] = bottom if (covered_legs or has("shorts") or has("skirt") or has("dress")) else top
    if has("coat"):  # a long coat covers the hips too
        out[(parts == "pelvis")] = "coat"
    out[np.isin(parts, ["foot_l", "foot_r"]) & has("shoes")] = "shoes"
    for layer, material in (("hair", "hair"), ("hat", "hat"), ("shoes", "shoes"), ("coat", "coat"),
                            ("trousers", bottom), ("skirt", bottom)):
        out[layers == layer] = material
    return out


def marking_masks(p: np.ndarray, parts, materials: np.ndarray, ph, pose, outfit, joints: dict,
                  hems: dict, palette: dict) -> dict[str, np.ndarray]:
    """Boolean mask of each of the person's markings (MARKINGS) at the points p (body frame)."""
    s = ph.stature_m / 1.75
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    parts = np.asarray(parts, object)
    head, chest, neck, waist, pelvis = (joints[k] for k in ("head", "chest", "neck", "waist", "pelvis"))
    has = set(outfit).__contains__
    out: dict[str, np.ndarray] = {}
    if palette["striped"] and (has("shirt") or has("tshirt")):
        out["stripes"] = (materials == "top") & ((np.floor(z / palette["stripe_period"]) % 2) == 1)
    if hems:
        hem = np.zeros(len(p), bool)
        for name, h in hems.items():
            material = {"skirt": ("bottom", "dress"), "coat": ("coat",), "trousers": ("bottom",)}[name]
            hem |= np.isin(materials, material) & (z >= h - 0.01) & (z < h + 0.035 * s)
        out["hem"] = hem
    if has("belt"):
        band_z = (waist[2] + pelvis[2]) / 2
        out["waistband"] = np.isin(materials, ["bottom", "dress"]) & (np.abs(z - band_z) < 0.022 * s)
    if has("tie"):
        top_z, bottom_z = neck[2] - 0.035 * s, chest[2] - 0.17 * s
        half_width = 0.012 * s + 0.03 * s * np.clip((top_z - z) / (top_z - bottom_z), 0, 1)
        out["tie"] = (materials == "top") & (y < chest[1] - 0.03 * s) & (np.abs(x) < half_width) \
            & (z < top_z) & (z > bottom_z)
    if has("logo"):
        out["logo"] = np.isin(materials, ["top", "dress"]) & (y < chest[1] - 0.03 * s) \
            & (np.abs(x - 0.085 * s) < 0.045 * s) & (np.abs(z - chest[2] - 0.03 * s) < 0.045 * s)
    if has("coat"):
        out["zip"] = (materials == "coat") & (y < pelvis[1] - 0.04 * s) & (np.abs(x) < 0.008 * s) \
            & (z < neck[2] - 0.04 * s)
    on_face = (parts == "head") & (materials == "skin") & (y < head[1] - 0.03 * s)
    if has("beard"):
        out["beard"] = on_face & (z < head[2] - 0.035 * s)
    eyes = (np.abs(z - head[2] - 0.012 * s) < 0.011 * s) & (np.abs(np.abs(x) - 0.033 * s) < 0.013 * s)
    mouth = (np.abs(z - head[2] + 0.058 * s) < 0.007 * s) & (np.abs(x) < 0.025 * s)
    out["face"] = on_face & (y < head[1] - 0.06 * s) & (eyes | mouth)
    if pose.hand_on_thigh:
        out["hand_on_thigh"] = parts == f"hand_{pose.hand_on_thigh}"
    return out


def albedo(materials: np.ndarray, markings: dict[str, np.ndarray], palette: dict) -> np.ndarray:
    """(N, 3) colours in [0, 1]: the materials, then the markings painted over them."""
    out = np.zeros((len(materials), 3))
    for m in MATERIALS:
        out[materials == m] = palette[m]
    paint = {"stripes": palette["stripe"], "hem": palette["hem"], "waistband": palette["waistband"],
             "tie": palette["tie"], "logo": palette["logo"], "zip": palette["zip"],
             "beard": palette["hair"] * 0.7, "face": None, "hand_on_thigh": None}
    for name, mask in markings.items():
        if name == "face":
            out[mask] = [0.12, 0.12, 0.25]
        elif paint[name] is not None:
            out[mask] = paint[name]
    return np.clip(out, 0.0, 1.0)
