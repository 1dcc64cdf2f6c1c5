"""Signed-distance shapes for synthetic people, and the mesher that unions them.

Every shape has `sdf(points) -> (N,)` (negative inside, metres) and `bounds() -> (lo, hi)`.
figure.py's `Capsule` (uniform radius, optional front-to-back squash) is used as it is, with
`shape_bounds` giving its box. `mesh_union` evaluates each shape only inside its own box (plus
a margin), which is what keeps a 1 cm figure to about a second: a dense grid times forty shapes
is forty times slower, and far from a shape its distance does not change the surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from skimage import measure

from backend.mesh import Mesh

from .figure import Capsule, mesh_signed_volume


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", v, v))


@dataclass
class Ellipsoid:
    centre: np.ndarray
    radii: np.ndarray  # semi-axes along x, y, z

    def sdf(self, p: np.ndarray) -> np.ndarray:
        # Inigo Quilez's bound: exact on the surface and along the axes, close elsewhere.
        q = (p - self.centre) / self.radii
        k0 = _norm(q)
        k1 = _norm(q / self.radii)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)

    def bounds(self):
        return self.centre - self.radii, self.centre + self.radii


@dataclass
class RoundCone:
    """A capsule whose radius changes linearly from `ra` at `a` to `rb` at `b` (limbs taper)."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float

    def sdf(self, p: np.ndarray) -> np.ndarray:
        # Exact distance to a round cone (Inigo Quilez), vectorised.
        ba = self.b - self.a
        l2 = float(ba @ ba)
        rr = self.ra - self.rb
        a2 = l2 - rr * rr
        pa = p - self.a
        y = pa @ ba
        z = y - l2
        x2 = np.einsum("ij,ij->i", pa * l2 - np.outer(y, ba), pa * l2 - np.outer(y, ba))
        y2, z2 = y * y * l2, z * z * l2
        k = np.sign(rr) * rr * rr * x2
        far_end = np.sign(z) * a2 * z2 > k
        near_end = np.sign(y) * a2 * y2 < k
        side = (np.sqrt(np.maximum(x2 * a2 / l2, 0.0)) + y * rr) / l2 - self.ra
        return np.where(far_end, np.sqrt(x2 + z2) / l2 - self.rb,
                        np.where(near_end, np.sqrt(x2 + y2) / l2 - self.ra, side))

    def bounds(self):
        r = max(self.ra, self.rb)
        return np.minimum(self.a, self.b) - r, np.maximum(self.a, self.b) + r


@dataclass
class Flare:
    """A solid of elliptical cross-section round a vertical axis, its radii changing linearly from
    `top_radii` at `z_top` to `bottom_radii` at `z_bottom` (x and y semi-axes), flat at both ends:
    skirts and coats, which hang from the waist or the chest and do not follow the legs."""

    centre_xy: np.ndarray
    z_top: float
    z_bottom: float
    top_radii: np.ndarray
    bottom_radii: np.ndarray

    def radii_at(self, z: np.ndarray) -> np.ndarray:
        t = np.clip((self.z_top - z) / (self.z_top - self.z_bottom), 0.0, 1.0)[:, None]
        return self.top_radii * (1 - t) + self.bottom_radii * t

    def sdf(self, p: np.ndarray) -> np.ndarray:
        r = self.radii_at(p[:, 2])
        rho = _norm((p[:, :2] - self.centre_xy) / r)
        # Scaled by the smaller radius: a distance in metres near the surface, good enough to mesh.
        side = (rho - 1.0) * r.min(axis=1)
        ends = np.maximum(p[:, 2] - self.z_top, self.z_bottom - p[:, 2])
        return np.maximum(side, ends)

    def bounds(self):
        r = np.maximum(self.top_radii, self.bottom_radii)
        return (np.array([*(self.centre_xy - r), self.z_bottom]), np.array([*(self.centre_xy + r), self.z_top]))


@dataclass
class RoundedBox:
    """A box with rounded edges, its axes the rows of `axes` (shoes: along the foot, across, up)."""

    centre: np.ndarray
    half_size: np.ndarray
    axes: np.ndarray  # (3, 3), rows are unit vectors
    rounding: float

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = np.abs((p - self.centre) @ self.axes.T) - (self.half_size - self.rounding)
        return _norm(np.maximum(q, 0.0)) + np.minimum(q.max(axis=1), 0.0) - self.rounding

    def bounds(self):
        reach = np.abs(self.axes.T) @ self.half_size
        return self.centre - reach, self.centre + reach


@dataclass
class Above:
    """`shape` cut flat below `z_min` (a trouser hem above the shoe)."""

    shape: Any  # any shape with an `sdf`
    z_min: float

    def sdf(self, p: np.ndarray) -> np.ndarray:
        return np.maximum(self.shape.sdf(p), self.z_min - p[:, 2])

    def bounds(self):
        lo, hi = shape_bounds(self.shape)
        return np.array([lo[0], lo[1], max(lo[2], self.z_min)]), hi


def shape_bounds(shape) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box (lo, hi) holding the shape's inside."""
    if isinstance(shape, Capsule):  # figure.py's capsule has no bounds of its own
        r = np.array([shape.radius, shape.radius * max(shape.squash_y, 1.0), shape.radius])
        return np.minimum(shape.a, shape.b) - r, np.maximum(shape.a, shape.b) + r
    return shape.bounds()


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields (figure.py's blend): joints without creases.
    Where the two differ by k or more it is the plain minimum."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


@dataclass
class Grid:
    """Regular sample points lo + voxel * (i, j, k) over a box."""

    lo: np.ndarray
    voxel: float
    shape: tuple[int, int, int]

    @staticmethod
    def around(shapes, voxel: float, pad: float) -> Grid:
        boxes = [shape_bounds(s) for s in shapes]
        lo = np.min([b[0] for b in boxes], axis=0) - pad
        hi = np.max([b[1] for b in boxes], axis=0) + pad
        lo = np.floor(lo / voxel) * voxel  # on a fixed lattice: the same person meshes the same anywhere
        n = np.ceil((hi - lo) / voxel).astype(int) + 1
        return Grid(lo, voxel, (int(n[0]), int(n[1]), int(n[2])))

    def window(self, lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
        """The index window covering lo..hi, and its points (M, 3)."""
        i0 = np.clip(np.floor((lo - self.lo) / self.voxel).astype(int), 0, np.array(self.shape))
        i1 = np.clip(np.ceil((hi - self.lo) / self.voxel).astype(int) + 1, 0, np.array(self.shape))
        axes = [self.lo[d] + self.voxel * np.arange(i0[d], i1[d]) for d in range(3)]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        return tuple(slice(a, b) for a, b in zip(i0, i1, strict=True)), pts


def union_field(grid: Grid, shapes, blend: float, far: float) -> np.ndarray:
    """The (smooth, when blend > 0) union of `shapes` sampled on `grid`, clamped to `far` away from them.

    Only the window of each shape's box grown by `far` is evaluated; `far` must exceed `blend` plus a
    few voxels, so that every value near the surface is exact and every value far out stays positive.
    """
    field = np.full(grid.shape, far, np.float64)
    for s in shapes:
        lo, hi = shape_bounds(s)
        window, pts = grid.window(lo - far, hi + far)
        if len(pts):
            d = s.sdf(pts).reshape(field[window].shape)
            field[window] = smooth_min(field[window], d, blend)
    return field


def mesh_field(grid: Grid, field: np.ndarray) -> Mesh:
    """Marching cubes of field = 0, in world coordinates (no rescaling), faces wound outward."""
    verts, faces, _, _ = measure.marching_cubes(field, 0.0, spacing=(grid.voxel,) * 3)
    mesh = Mesh((verts + grid.lo).astype(np.float64), faces[:, ::-1].astype(np.int64))
    if mesh_signed_volume(mesh) < 0:
        mesh = Mesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    return mesh


def largest_component(mesh: Mesh) -> Mesh:
    """The mesh's largest connected piece: drops the voxel-sized air pockets marching cubes finds
    where several shapes meet without filling every corner between them."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = mesh.faces
    n = len(mesh.vertices)
    graph = coo_matrix((np.ones(2 * len(f)), (np.r_[f[:, 0], f[:, 1]], np.r_[f[:, 1], f[:, 2]])), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    if count == 1:
        return mesh
    keep = label == np.bincount(label[f[:, 0]]).argmax()
    new_index = np.cumsum(keep) - 1
    faces = f[keep[f[:, 0]]]
    return Mesh(mesh.vertices[keep], new_index[faces])


def nearest_shape(points: np.ndarray, shapes, bias=None, reach: float = 0.05) -> np.ndarray:
    """Index of the shape with the smallest signed distance (plus its `bias`) at each point: on the
    surface of a union, the shape that makes it there. A shape is only asked about the points within
    `reach` of its box (the rest are at least that far from it), so points farther than `reach` from
    every shape get an arbitrary answer; surface points are within millimetres of their shape."""
    best, index = np.full(len(points), np.inf), np.zeros(len(points), np.int64)
    for i, s in enumerate(shapes):
        lo, hi = shape_bounds(s)
        near = np.flatnonzero(((points >= lo - reach) & (points <= hi + reach)).all(axis=1))
        if len(near):
            d = s.sdf(points[near]) + (0.0 if bias is None else bias[i])
            better = d < best[near]  # ties keep the earlier shape, as argmin does
            best[near[better]], index[near[better]] = d[better], i
    return index
