"""Synthetic people with known shape and colour: the sample photo and ground truth for tests.

A figure is a smooth union of capsules and ellipsoids (head, torso, arms, legs, feet) in
the world frame (metres, Z up, facing -Y), meshed by marching cubes. Its colour is a
function of the surface point: skin, hair, a face on the front of the head only, a shirt
with stripes and a chest badge on the front only, patterned trousers, shoes. Every figure
is drawn from a seed, so a test can make the same person again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import measure

from backend.conventions import Camera
from backend.mesh import Mesh

PARTS = ("head", "torso", "upper_arm", "forearm", "thigh", "shin", "foot", "neck", "hips")


@dataclass
class Capsule:
    part: str
    a: np.ndarray
    b: np.ndarray
    radius: float
    squash_y: float = 1.0  # < 1 flattens the capsule front-to-back (torso, hips)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = p.copy()
        mid = (self.a + self.b) / 2
        q[:, 1] = mid[1] + (q[:, 1] - mid[1]) / self.squash_y
        ab = self.b - self.a
        t = np.clip(((q - self.a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
        d = np.linalg.norm(q - (self.a + t[:, None] * ab), axis=1) - self.radius
        return d * min(self.squash_y, 1.0)


@dataclass
class Figure:
    seed: int
    height_m: float
    capsules: list[Capsule]
    palette: dict
    mesh: Mesh

    def part_of(self, points: np.ndarray) -> np.ndarray:
        d = np.stack([c.sdf(points) for c in self.capsules], axis=1)
        return np.array([PARTS.index(self.capsules[i].part) for i in range(len(self.capsules))])[d.argmin(axis=1)]

    def colour(self, points: np.ndarray) -> np.ndarray:
        """Albedo (N, 3) in [0, 1] of surface points."""
        return figure_albedo(self, np.asarray(points, dtype=np.float64))


def _smooth_min(d: np.ndarray, k: float = 0.03) -> np.ndarray:
    """Polynomial smooth minimum over axis 1: blends joints instead of creasing them."""
    out = d[:, 0]
    for i in range(1, d.shape[1]):
        h = np.clip(0.5 + 0.5 * (d[:, i] - out) / k, 0.0, 1.0)
        out = d[:, i] * (1 - h) + out * h - k * h * (1 - h)
    return out


def mesh_capsules(caps: list[Capsule], lo: np.ndarray, hi: np.ndarray, height_m: float, voxel_m: float) -> Mesh:
    """The smooth union of the capsules, meshed by marching cubes on a grid over the box lo..hi,
    feet on z = 0, scaled to exactly `height_m`, faces wound outward."""
    axes = [np.arange(lo[i], hi[i] + voxel_m, voxel_m) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    sdf = _smooth_min(np.stack([c.sdf(grid) for c in caps], axis=1)).reshape([len(a) for a in axes])
    verts, faces, _, _ = measure.marching_cubes(sdf, 0.0, spacing=(voxel_m,) * 3)
    verts += lo
    verts[:, 2] -= verts[:, 2].min()  # feet on z = 0
    verts *= height_m / verts[:, 2].max()  # exactly as tall as stated
    # skimage's triangles wind so that normals point toward increasing sdf (outward): keep.
    mesh = Mesh(verts.astype(np.float64), faces[:, ::-1].astype(np.int64))
    if mesh_signed_volume(mesh) < 0:
        mesh = Mesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    return mesh


def make_figure(seed: int = 0, height_m: float | None = None, voxel_m: float = 0.01) -> Figure:
    rng = np.random.default_rng(seed)
    h = float(height_m or rng.uniform(1.55, 1.9))
    s = h / 1.75  # every length below is for a 1.75 m person
    arm_spread = np.radians(rng.uniform(12, 35))
    leg_spread = rng.uniform(0.07, 0.11) * s
    shoulder = rng.uniform(0.17, 0.21) * s
    girth = rng.uniform(0.9, 1.15)

    def P(x, y, z):
        return np.array([x, y, z]) * s

    caps = [
        Capsule("head", P(0, 0, 1.60), P(0, 0.005, 1.66), 0.095 * s),
        Capsule("neck", P(0, 0, 1.44), P(0, 0, 1.55), 0.055 * s),
        Capsule("torso", P(-0.07 * girth, 0, 1.30), P(0.07 * girth, 0, 1.30), 0.14 * s * girth, 0.62),
        Capsule("torso", P(0, 0, 1.05), P(0, 0, 1.32), 0.15 * s * girth, 0.6),
        Capsule("hips", P(-0.06, 0, 0.92), P(0.06, 0, 0.92), 0.14 * s * girth, 0.65),
    ]
    for side in (-1, 1):
        sh = np.array([side * shoulder, 0, 1.40 * s])
        d = np.array([side * np.sin(arm_spread), 0.0, -np.cos(arm_spread)])
        elbow = sh + d * 0.30 * s
        wrist = elbow + (d + np.array([0, -0.15, 0])) / np.linalg.norm(d + np.array([0, -0.15, 0])) * 0.27 * s
        caps += [Capsule("upper_arm", sh, elbow, 0.048 * s * girth), Capsule("forearm", elbow, wrist, 0.038 * s)]
        hip = np.array([side * leg_spread, 0, 0.88 * s])
        knee = np.array([side * (leg_spread + 0.01 * s), -0.01 * s, 0.48 * s])
        ankle = np.array([side * (leg_spread + 0.02 * s), 0.0, 0.08 * s])
        caps += [
            Capsule("thigh", hip, knee, 0.075 * s * girth),
            Capsule("shin", knee, ankle, 0.055 * s),
            Capsule("foot", ankle + P(0, 0.03, -0.035), ankle + P(0, -0.13, -0.045), 0.04 * s),
        ]

    mesh = mesh_capsules(caps, np.array([-0.75, -0.4, -0.05]) * s, np.array([0.75, 0.4, 1.85]) * s, h, voxel_m)

    palette = {
        "skin": rng.choice([[0.94, 0.78, 0.66], [0.78, 0.57, 0.44], [0.55, 0.38, 0.28], [0.98, 0.85, 0.74]]),
        "hair": rng.choice([[0.12, 0.08, 0.05], [0.45, 0.3, 0.15], [0.85, 0.7, 0.4], [0.2, 0.2, 0.22]]),
        "shirt": rng.uniform(0.15, 0.9, 3),
        "stripe": rng.uniform(0.05, 0.95, 3),
        "badge": rng.uniform(0.0, 1.0, 3),
        "trousers": rng.uniform(0.05, 0.5, 3),
        "shoes": np.array([0.1, 0.1, 0.1]) + rng.uniform(0, 0.3),
        "stripe_period": rng.uniform(0.04, 0.09) * s,
        "sleeve_end": rng.choice(["short", "long"]),
    }
    return Figure(seed, h, caps, palette, mesh)


def mesh_signed_volume(mesh: Mesh) -> float:
    v = mesh.vertices[mesh.faces]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


def figure_albedo(fig: Figure, p: np.ndarray) -> np.ndarray:
    pal = fig.palette
    part = np.array(PARTS)[fig.part_of(p)]
    s = fig.height_m / 1.75
    out = np.tile(np.asarray(pal["skin"], float), (len(p), 1))

    shirt = np.isin(part, ["torso", "upper_arm"]) | ((part == "forearm") & (pal["sleeve_end"] == "long"))
    stripes = (np.floor(p[:, 2] / pal["stripe_period"]) % 2) == 1
    out[shirt] = np.where(stripes[shirt, None], pal["stripe"], pal["shirt"])
    badge = shirt & (part == "torso") & (p[:, 1] < 0) & (np.abs(p[:, 0] + 0.08 * s) < 0.05 * s) \
        & (np.abs(p[:, 2] - 1.28 * s) < 0.05 * s)
    out[badge] = pal["badge"]

    legs = np.isin(part, ["thigh", "shin", "hips"])
    checks = ((np.floor(p[:, 0] / (0.05 * s)) + np.floor(p[:, 2] / (0.05 * s))) % 2) == 1
    out[legs] = np.asarray(pal["trousers"]) * np.where(checks[legs, None], 1.0, 0.75)
    out[part == "foot"] = pal["shoes"]

    head = part == "head"
    hz = 1.63 * s
    hair = head & ((p[:, 2] > hz + 0.03 * s) | (p[:, 1] > -0.02 * s))
    out[hair] = pal["hair"]
    face = head & ~hair
    eyes = face & (np.abs(p[:, 2] - (hz + 0.01 * s)) < 0.012 * s) & (np.abs(np.abs(p[:, 0]) - 0.035 * s) < 0.014 * s)
    mouth = face & (np.abs(p[:, 2] - (hz - 0.05 * s)) < 0.008 * s) & (np.abs(p[:, 0]) < 0.03 * s)
    out[eyes] = [0.1, 0.15, 0.3]
    out[mouth] = [0.6, 0.2, 0.2]
    return np.clip(out, 0.0, 1.0)


def render_figure(fig: Figure, camera: Camera, background=(0.97, 0.97, 0.97), shade: bool = True):
    """RGB image (H, W, 3) uint8 and mask of the figure seen by `camera`, lit from the camera's upper left."""
    from backend.raster import render_maps

    maps = render_maps(fig.mesh, [camera], backend="cpu")[0]
    img = np.tile(np.asarray(background, float), (camera.height, camera.width, 1))
    m = maps.mask
    albedo = fig.colour(maps.position[m])
    if shade:
        light = np.array([-0.4, 0.5, 0.77])
        light /= np.linalg.norm(light)
        lambert = np.clip(maps.normal[m] @ light, 0.0, 1.0)
        albedo = albedo * (0.45 + 0.55 * lambert[:, None])
    img[m] = albedo
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), m
