"""Posed, dressed synthetic people whose true 3D is known: the ground truth the shape stage is judged by.

    person = make_person("hands_on_hips")        # one of FIGURES, meshed at 1 cm
    person.mesh, person.joints                   # world frame: watertight mesh, named 3D joints
    person.colour(points), person.marking_masks(points)

Built from our own shapes (body.py, clothing.py: ellipsoids, round cones, capsules, flares),
not from a parametric body model, hung on a kinematic skeleton (skeleton.py) posed by joint
angles. World frame (docs/conventions.md): metres, Z up, facing -Y, the pelvis on the Z axis,
the lowest point of the shoes on z = 0 (a jump's `airborne_m` above it). The mesh is the
smooth union of the body's shapes, with the clothes and hair over it, meshed by marching cubes
without any rescaling, so the joints stay exactly where the skeleton put them.

Heights: `phenotype.stature_m` is the barefoot stature the skeleton is built for; `height_m` is
the mesh's vertical extent (shoes and hair included, crouched in the jump); `standing_height_m`
is the extent of the same person standing, which is what a user tells the shape stage
(`--height`: the person's height, whatever the pose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.mesh import Mesh

from .appearance import MARKINGS, MATERIALS, albedo, marking_masks, random_palette, surface_materials
from .body import BODY_PARTS, Piece, body_pieces
from .clothing import garment_pieces, hem_heights
from .sdf import Grid, largest_component, mesh_field, nearest_shape, union_field
from .skeleton import POSES, Phenotype, Pose, joint_positions, yaw_rotation

BODY_BLEND_M = 0.02  # smooth-union radius of the body's shapes (clothes join them with a crease)
CLOTH_ON_TOP_M = 0.002


@dataclass(frozen=True)
class FigureSpec:
    name: str
    phenotype: Phenotype
    pose: str  # a key of skeleton.POSES
    outfit: tuple[str, ...]
    focal_35mm: float = 50.0  # the lens its photo is taken with (full-frame equivalent)
    palette_seed: int = 0


FIGURES = (
    FigureSpec("standing", Phenotype(1.80, 1.0, "male"), "standing",
               ("shirt", "tie", "trousers", "belt", "shoes", "short_hair", "beard"), 50, 1),
    FigureSpec("a_pose", Phenotype(1.62, 0.85, "female"), "a_pose", ("dress", "logo", "long_hair", "shoes"), 50, 2),
    FigureSpec("walking", Phenotype(1.76, 1.25, "male"), "walking",
               ("shirt", "coat", "trousers", "shoes", "short_hair"), 35, 3),
    FigureSpec("arms_crossed", Phenotype(1.70, 1.05, "female"), "arms_crossed",
               ("tshirt", "wide_trousers", "belt", "long_hair", "shoes"), 50, 4),
    FigureSpec("hands_on_hips", Phenotype(1.90, 0.85, "male"), "hands_on_hips",
               ("tshirt", "logo", "trousers", "belt", "shoes", "short_hair", "beard"), 85, 5),
    FigureSpec("knee_raised", Phenotype(1.55, 1.0, "female"), "knee_raised",
               ("shirt", "trousers", "long_hair", "shoes"), 50, 6),
    FigureSpec("jumping", Phenotype(1.68, 0.9, "male"), "jumping", ("tshirt", "shorts", "shoes", "short_hair"), 50, 7),
    FigureSpec("turned_30", Phenotype(1.85, 1.0, "female"), "turned_30",
               ("shirt", "logo", "skirt", "belt", "long_hair", "shoes"), 50, 8),
)
FIGURE_NAMES = tuple(f.name for f in FIGURES)


@dataclass
class Person:
    spec: FigureSpec
    pose: Pose
    palette: dict
    pieces: list[Piece]  # body frame
    body_joints: dict[str, np.ndarray]  # body frame
    hems: dict[str, float]  # body frame
    lift_m: float  # body frame -> world: rotate by the pose's yaw after raising by lift_m
    mesh: Mesh  # world frame
    joints: dict[str, np.ndarray]  # world frame
    vertex_part: np.ndarray  # (V,) index into BODY_PARTS
    vertex_material: np.ndarray  # (V,) index into MATERIALS

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def phenotype(self) -> Phenotype:
        return self.spec.phenotype

    @property
    def height_m(self) -> float:
        """Vertical extent of the mesh: what the shape stage is told as the person's height."""
        z = self.mesh.vertices[:, 2]
        return float(z.max() - z.min())

    @property
    def standing_height_m(self) -> float:
        """The person's height standing (shoes and hair included): what a user gives as their height,
        whatever the pose (a jump's mesh is shorter)."""
        if self.pose.name == "standing":
            return self.height_m
        from dataclasses import replace

        return make_person(replace(self.spec, pose="standing"), voxel_m=0.01).height_m

    @property
    def yaw(self) -> np.ndarray:
        return yaw_rotation(self.pose.angle("yaw"))

    def to_body(self, points: np.ndarray) -> np.ndarray:
        """World points -> the body frame the shapes and colours are defined in."""
        return np.asarray(points, np.float64) @ self.yaw - np.array([0.0, 0.0, self.lift_m])

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(body-frame points, part names, material names) of world surface points."""
        p = self.to_body(points)
        # Where cloth and skin (nearly) coincide, the cloth is on top.
        bias = [0.0 if pc.layer == "body" else -CLOTH_ON_TOP_M for pc in self.pieces]
        idx = nearest_shape(p, [pc.shape for pc in self.pieces], bias)
        parts = np.array([pc.part for pc in self.pieces], object)[idx]
        layers = np.array([pc.layer for pc in self.pieces], object)[idx]
        return p, parts, surface_materials(p, parts, layers, self.spec.outfit, self.body_joints)

    def marking_masks(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Mask of each marking this person has (appearance.MARKINGS) at world surface points."""
        p, parts, materials = self.surface(points)
        return marking_masks(p, parts, materials, self.phenotype, self.pose, self.spec.outfit, self.body_joints,
                             self.hems, self.palette)

    @property
    def front_only_markings(self) -> tuple[str, ...]:
        probe = self.marking_masks(self.mesh.vertices[:1])
        return tuple(k for k in probe if MARKINGS[k])

    def colour(self, points: np.ndarray) -> np.ndarray:
        """Albedo (N, 3) in [0, 1] of world surface points."""
        p, parts, materials = self.surface(points)
        marks = marking_masks(p, parts, materials, self.phenotype, self.pose, self.spec.outfit, self.body_joints,
                              self.hems, self.palette)
        return albedo(materials, marks, self.palette)


def figure_spec(name: str) -> FigureSpec:
    for f in FIGURES:
        if f.name == name:
            return f
    raise KeyError(f"no synthetic figure {name!r}; choose one of {', '.join(FIGURE_NAMES)}")


def make_person(spec: FigureSpec | str, voxel_m: float = 0.01) -> Person:
    """Build, pose, dress and mesh one person (about a second at 1 cm on one core)."""
    spec = figure_spec(spec) if isinstance(spec, str) else spec
    pose = POSES[spec.pose]
    joints = joint_positions(spec.phenotype, pose)
    body = body_pieces(spec.phenotype, joints)
    garments = garment_pieces(spec.phenotype, joints, spec.outfit)
    pieces = body + garments

    far = max(BODY_BLEND_M + 3 * voxel_m, 0.04)
    grid = Grid.around([p.shape for p in pieces], voxel_m, pad=2 * voxel_m)
    sdf = union_field(grid, [p.shape for p in body], BODY_BLEND_M, far)
    if garments:
        sdf = np.minimum(sdf, union_field(grid, [p.shape for p in garments], 0.0, far))
    local = largest_component(mesh_field(grid, sdf))

    lift = pose.airborne_m - float(local.vertices[:, 2].min())  # the shoes' lowest point on the floor
    yaw = yaw_rotation(pose.angle("yaw"))
    up = np.array([0.0, 0.0, lift])
    world = Mesh((local.vertices + up) @ yaw.T, local.faces)
    person = Person(spec, pose, random_palette(np.random.default_rng(spec.palette_seed)), pieces, joints,
                    hem_heights(spec.phenotype, joints, spec.outfit), lift, world,
                    {k: yaw @ (v + up) for k, v in joints.items()},
                    np.zeros(len(world.vertices), np.int64), np.zeros(len(world.vertices), np.int64))
    _, parts, materials = person.surface(world.vertices)
    person.vertex_part = np.array([BODY_PARTS.index(p) for p in parts], np.int64)
    person.vertex_material = np.array([MATERIALS.index(m) for m in materials], np.int64)
    return person
