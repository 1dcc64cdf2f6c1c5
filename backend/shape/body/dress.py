"""Dressing the fitted body: the clothed surface that contains the body and, seen from the photo's
camera, covers exactly the person mask.

The surface is the zero level of a field F sampled on a voxel grid and meshed by marching cubes:

    F = max(cone, min(cloth, round garment, extrusion))

- cone: the signed distance (metres, at the point's depth) of the point's projection to the
  mask's outline: the viewing cone of the outline. Intersecting with it carves the surface to
  the person's outline, so the front view covers the mask and nothing more.
- cloth: the body's signed distance minus a clothing offset o, a smooth field over the body
  surface. The offset is measured where the photo shows it, at the body's outline: how far the
  person mask reaches beyond the body there, outward in the image, over pixels that no other
  body part covers (so an arm hanging against the torso does not swell into it). It is then
  spread over the whole body surface by diffusion: a skirt measured at the thighs' outline
  stands out as much in front and behind (a round skirt, not a board), hair measured beside
  the head covers the back of the head. The face keeps a thin offset: hair does not grow in
  front of it; the hands at most a glove's. Where the surface faces the camera or away from
  it, the offset is cut to DEPTH_GROWTH of it (the outline shows width, not depth; the head
  keeps it whole).
- round garment: where the photo shows cloth between the legs, the garment below the hips is
  one ellipse per slice round both legs (skirt.py), not a tube round each.
- extrusion: mask pixels that the dressed body still misses (a held bag, a wide sleeve, an arm
  the fit placed a little off the photo's) are filled over the depth band that the nearest covered
  pixel spans, but no deeper than the missed region is wide, except beside the head (hair, a hat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.spatial import cKDTree
from skimage import measure

from ...conventions import PERSPECTIVE, Camera
from ...mesh import Mesh, neighbour_mean, vertex_adjacency, weld_vertices
from .model import PARTS
from .skirt import round_garment

CLOTH_M = 0.008  # the thinnest clothing (or skin) over the body
MAX_OFFSET_M = 0.35  # no garment stands further than this from the body
FACE_OFFSET_M = 0.004
HAND_OFFSET_M = 0.015  # a glove at most
VOXEL_M = 0.01
SURFACE_SAMPLES = 120_000
SMOOTHING = 40  # diffusion steps over the body's surface after the measured offsets are spread
NEIGHBOURS = 8  # the offset at a point: inverse-distance mean over this many nearest body samples
RING_M = 0.03  # the legs' offsets are averaged over rings this tall (a garment round both legs)
# How much of the offset measured beside the body (at its outline) the surface gets toward and away
# from the camera. The outline cannot say whether the person is broader than Anny's average build
# or wears loose cloth; grown as much in depth as sideways (1.0), the dressed synthetic people were
# 2-5 cm too thick in every 10 cm slab while their bare fitted bodies were within 1-2 cm. 0 fits those
# tightly dressed figures best; loose cloth (a puffy jacket) stands out in front as much as beside,
# so 0.4 is the compromise (docs/evaluation.md). Skirts, dresses and long coats (skirt.py) and hair
# stay round.
DEPTH_GROWTH = 0.4


@dataclass
class PinholeView:
    """The photo's camera in fit space (see fit.py): level camera at the origin looking +Y, tilted by pitch."""

    f: float
    cx: float
    cy: float
    pitch: float

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) fit-space points -> (N, 2) pixel coordinates and (N,) depth along the view axis."""
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        y = c * points[:, 1] - s * points[:, 2]
        z = s * points[:, 1] + c * points[:, 2]
        safe = np.maximum(y, 1e-6)
        return np.stack([self.f * points[:, 0] / safe + self.cx, -self.f * z / safe + self.cy], axis=1), y

    def camera(self, shape: tuple[int, int]) -> Camera:
        """The same camera as a conventions.Camera over an image of `shape` (rows, columns), fit space as world."""
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        w2c = np.eye(4)
        w2c[:3, :3] = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]) @ np.array(
            [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        return Camera(w2c, shape[1], shape[0], self.f, self.f, self.cx, self.cy, PERSPECTIVE, "input")

    def toward_camera(self, points: np.ndarray) -> np.ndarray:
        """Unit vectors from the points to the camera (at the origin)."""
        return -points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-9)


def signed_mask_distance(mask: np.ndarray) -> np.ndarray:
    """Pixels: signed distance to the mask's outline (negative inside), the outline half a pixel out."""
    mask = np.asarray(mask, bool)
    return (ndimage.distance_transform_edt(~mask) - ndimage.distance_transform_edt(mask)).astype(np.float32) + \
        np.where(mask, 0.5, -0.5).astype(np.float32)


def sample_image(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a (H, W) map at continuous pixel coordinates (pixel centres at +0.5)."""
    return ndimage.map_coordinates(image, [uv[:, 1] - 0.5, uv[:, 0] - 0.5], order=1, mode="nearest")


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    return Mesh(vertices, faces).vertex_normals()


def body_silhouette(vertices: np.ndarray, faces: np.ndarray, view: PinholeView, shape: tuple[int, ...]) -> np.ndarray:
    """The mesh's own mask through the photo's camera (pixel centres covered, as the rasteriser decides)."""
    from ...raster import render_maps

    return render_maps(Mesh(vertices, faces), view.camera((shape[0], shape[1])), backend="cpu")[0].mask


def rim_offsets(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray, view: PinholeView, mask: np.ndarray,
                silhouette: np.ndarray, max_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(offset metres, measured?) per body vertex at the body's outline in the photo.

    A vertex is on the outline when its normal is nearly perpendicular to its viewing ray. From
    its projection, walk outward (its normal projected into the image) over pixels that are in
    the person mask but not on the body: the walk's length, at the vertex's depth, is how far
    the clothing or hair stands out there.
    """
    uv, depth = view.project(vertices)
    to_cam = view.toward_camera(vertices)
    facing = np.sum(normals * to_cam, axis=1)
    # The outward direction in the image: project a point a little along the normal.
    uv2, _ = view.project(vertices + 0.01 * normals)
    d = uv2 - uv
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    rim = np.abs(facing) < 0.25
    free = mask & ~silhouette
    h, w = mask.shape
    steps = np.arange(1, max_px + 1, dtype=np.float64)
    idx = np.flatnonzero(rim)
    pts = uv[idx, None, :] + (steps[None, :, None] + 0.5) * d[idx, None, :]
    col = np.clip(np.floor(pts[..., 0]).astype(int), 0, w - 1)
    row = np.clip(np.floor(pts[..., 1]).astype(int), 0, h - 1)
    inside_img = (pts[..., 0] >= 0) & (pts[..., 0] < w) & (pts[..., 1] >= 0) & (pts[..., 1] < h)
    run = np.cumprod(free[row, col] & inside_img, axis=1).sum(axis=1)
    # A rim hidden behind another part (the next pixel out is body) says nothing: left to the
    # spreading. A vertex projecting outside the mask (the body leaks out) gets no clothing.
    u0 = np.clip(np.floor(uv[idx, 0]).astype(int), 0, w - 1)
    v0 = np.clip(np.floor(uv[idx, 1]).astype(int), 0, h - 1)
    leaks = ~mask[v0, u0]
    hidden = silhouette[row[:, 0], col[:, 0]] & ~leaks
    run = np.where(leaks, 0, run)
    offsets = np.zeros(len(vertices))
    offsets[idx] = run * depth[idx] / view.f
    measured = np.zeros(len(vertices), bool)
    measured[idx[~hidden]] = True
    return offsets, measured


def spread_offsets(offsets: np.ndarray, measured: np.ndarray, faces: np.ndarray, iterations: int = 150) -> np.ndarray:
    """Diffuse the measured offsets over the body surface (measured vertices held)."""
    step = neighbour_mean(faces, len(offsets))
    # Start unmeasured vertices at the mean of the measured ones (a good guess that diffusion refines).
    out = np.where(measured, offsets, offsets[measured].mean() if measured.any() else 0.0)
    for _ in range(iterations):
        out = np.where(measured, offsets, step @ out)
    # Then smooth everything: single-vertex spikes of the measurement are noise, and a lumpy
    # offset makes a lumpy garment.
    for _ in range(SMOOTHING):
        out = 0.5 * out + 0.5 * (step @ out)
    return out


def ring_means(values: np.ndarray, heights: np.ndarray, ring_m: float) -> np.ndarray:
    """Each value replaced by the mean over its horizontal ring (heights binned by `ring_m`, linearly
    blended between rings). A skirt or a coat stands out as far in front of and behind the legs as
    beside them, and both legs wear the same garment: what the photo measured at the legs' outline
    goes all the way round, on both legs alike."""
    z0 = heights.min()
    pos = (heights - z0) / ring_m
    k = np.floor(pos).astype(int)
    n = k.max() + 2
    sums = np.bincount(k, values, n) + np.bincount(k + 1, 0 * values, n)
    counts = np.bincount(k, minlength=n).astype(float)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    filled = np.interp(np.arange(n), np.flatnonzero(np.isfinite(means)), means[np.isfinite(means)])
    t = pos - k
    return (1 - t) * filled[k] + t * filled[np.minimum(k + 1, n - 1)]


def facing_scaled_offsets(offsets: np.ndarray, normals: np.ndarray, to_camera: np.ndarray,
                          whole: np.ndarray) -> np.ndarray:
    """The clothing offsets (beyond the thinnest cloth) in full where the surface faces sideways, cut
    to DEPTH_GROWTH of it where it faces toward or away from the camera, smoothly between (by the
    squared cosine of the angle to the viewing ray); `whole` points (the head: hair) keep theirs."""
    along = np.sum(normals * to_camera, axis=1) ** 2
    scale = np.where(whole, 1.0, 1.0 - (1.0 - DEPTH_GROWTH) * along)
    return CLOTH_M + (offsets - CLOTH_M) * scale


def surface_samples(vertices: np.ndarray, faces: np.ndarray, values: np.ndarray, count: int, seed: int = 0):
    """Area-uniform points on the mesh with their interpolated normals and per-vertex values."""
    rng = np.random.default_rng(seed)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    pick = rng.choice(len(faces), size=count, p=area / area.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    points = np.einsum("nk,nkd->nd", bary, tri[pick])
    vn = _vertex_normals(vertices, faces)
    normals = np.einsum("nk,nkd->nd", bary, vn[faces[pick]])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    vals = np.einsum("nk,nk->n", bary, values[faces[pick]])
    return points, normals, vals, pick


@dataclass
class Dressing:
    mesh: Mesh  # fit space
    offsets: np.ndarray  # per body vertex, metres
    voxel_m: float
    extruded_pixels: int  # mask pixels the clothed body missed, filled by extrusion


def dress_body(vertices: np.ndarray, faces: np.ndarray, parts: np.ndarray, mask: np.ndarray, view: PinholeView,
               voxel_m: float = VOXEL_M) -> Dressing:
    """The clothed, watertight surface around the body (fit space). `parts`: per vertex, an index into model.PARTS."""
    head = parts == PARTS.index("head")
    legs = np.isin(parts, [PARTS.index(p) for p in PARTS if p.startswith(("thigh", "shin", "foot"))])
    hands = np.isin(parts, [PARTS.index("hand.L"), PARTS.index("hand.R")])
    mask = np.asarray(mask, bool)
    normals = _vertex_normals(vertices, faces)
    silhouette = body_silhouette(vertices, faces, view, mask.shape)
    mean_depth = float(np.median(view.project(vertices)[1]))
    max_px = int(np.ceil(MAX_OFFSET_M * view.f / mean_depth))
    offsets, measured = rim_offsets(vertices, faces, normals, view, mask, silhouette, max_px)
    # The face: thin (hair grows around it, not in front of it).
    facing = np.sum(normals * view.toward_camera(vertices), axis=1)
    face = head & (facing > 0.3)
    offsets[face], measured[face] = FACE_OFFSET_M, True
    offsets = spread_offsets(offsets, measured, faces)
    offsets[legs] = ring_means(offsets[legs], vertices[legs, 2], RING_M)
    offsets = np.clip(offsets, 0.0, MAX_OFFSET_M) + CLOTH_M
    # Hands wear no loose cloth: a hand hanging beside a skirt measured the skirt's flare beyond it and swelled
    # against the skirt's side. What a hand holds beyond it (a bag) is the extrusion's.
    offsets[hands] = np.minimum(offsets[hands], HAND_OFFSET_M)

    points, sample_normals, sample_offsets, sample_faces = surface_samples(vertices, faces, offsets, SURFACE_SAMPLES)
    sample_offsets = facing_scaled_offsets(sample_offsets, sample_normals, view.toward_camera(points),
                                           whole=head[faces[sample_faces, 0]])
    tree = cKDTree(points)

    # The grid: the body's box grown by the largest offset, and the mask's cone over that depth range.
    lo = vertices.min(axis=0) - offsets.max() - 2 * voxel_m
    hi = vertices.max(axis=0) + offsets.max() + 2 * voxel_m
    rows, cols = np.nonzero(mask)
    for y in (lo[1], hi[1]):  # the mask's corners back-projected at the nearest and farthest depth
        for u in (cols.min(), cols.max() + 1):
            for v in (rows.min(), rows.max() + 1):
                x, z = _unproject(view, u, v, y)
                lo[[0, 2]] = np.minimum(lo[[0, 2]], [x - voxel_m, z - voxel_m])
                hi[[0, 2]] = np.maximum(hi[[0, 2]], [x + voxel_m, z + voxel_m])
    axes = [np.arange(lo[i], hi[i] + voxel_m, voxel_m) for i in range(3)]
    shape = tuple(len(a) for a in axes)
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)

    mask_sdf = signed_mask_distance(mask)
    uv, depth = view.project(grid)
    cone = sample_image(mask_sdf, uv) * depth / view.f
    field = np.full(len(grid), 1.0, np.float32)
    near = cone < 2 * voxel_m  # only points inside (or next to) the cone can be inside the surface
    # Points farther from the body than any offset reaches are outside: the bound prunes the search.
    reach = float(offsets.max()) + 2 * voxel_m
    dists, nearests = tree.query(grid[near], k=NEIGHBOURS, distance_upper_bound=reach, workers=-1)
    dist, nearest = dists[:, 0], nearests[:, 0]
    found = np.isfinite(dist)
    cloth = np.full(len(dist), reach, np.float64)
    hit = nearest[found]
    side = np.sign(np.sum((grid[near][found] - points[hit]) * sample_normals[hit], axis=1))
    # The offset as an inverse-distance mean of the nearest samples': a continuous field, so the
    # garment is as smooth as the offsets are (the nearest sample's alone steps between samples).
    ok = np.isfinite(dists[found])
    w = np.where(ok, 1.0 / np.maximum(dists[found], 1e-4), 0.0)
    neighbour_offsets = sample_offsets[np.where(ok, nearests[found], 0)]
    local_offset = (w * neighbour_offsets).sum(axis=1) / w.sum(axis=1)
    cloth[found] = side * dist[found] - local_offset
    # Beyond the search bound is deep inside the body or far outside it: the pockets of such
    # points that the band around the body's surface encloses are inside.
    banded = np.zeros(len(grid), bool)
    banded[np.flatnonzero(near)[found]] = True
    pockets, _ = ndimage.label(~banded.reshape(shape))
    border = np.unique(np.concatenate([pockets[[0, -1]].ravel(), pockets[:, [0, -1]].ravel(),
                                       pockets[:, :, [0, -1]].ravel()]))
    deep = ~np.isin(pockets, border).ravel()[near][~found]
    cloth[np.flatnonzero(~found)[deep]] = -reach
    # A skirt, a dress or a long coat hangs round both legs, not round each (skirt.py).
    arm_parts = np.isin(parts, [PARTS.index(p) for p in PARTS if p.startswith(("upperarm", "forearm", "hand"))])
    arm_faces = faces[arm_parts[faces].all(axis=1)]
    arms = body_silhouette(vertices, arm_faces, view, mask.shape) if len(arm_faces) else np.zeros_like(mask)
    garment = round_garment(vertices, parts, mask, silhouette, arms, view, axes[2])
    cloth = np.minimum(cloth, garment.signed_distance(grid[near], voxel_m))
    field[near] = np.maximum(cone[near], cloth)

    # Mask pixels the clothed body misses: extrude over the nearest covered pixel's depth band.
    inside_pts = near.copy()
    inside_pts[near] = field[near] <= 0
    voxel_px = voxel_m * view.f / mean_depth
    front, back, covered = _depth_band(uv[inside_pts], depth[inside_pts], mask.shape, voxel_px)
    missed = mask & ~covered
    extruded = int(missed.sum())
    if extruded:
        # Grown into the covered pixels around them, so the filling joins the dressed body (a
        # piece of its own would be dropped as a floater).
        reach_px = max(3, int(np.ceil(3 * voxel_px)))
        beside = _part_beside(uv[inside_pts], depth[inside_pts], tree.query(grid[inside_pts], workers=-1)[1],
                              parts[faces[sample_faces, 0]], mask.shape)
        centre_map, half_map, grown = missed_depth_bands(mask, covered, front, back, beside, reach_px,
                                                         mean_depth / view.f, voxel_m)
        col = np.clip(np.floor(uv[:, 0]).astype(int), 0, mask.shape[1] - 1)
        row = np.clip(np.floor(uv[:, 1]).astype(int), 0, mask.shape[0] - 1)
        hit = grown[row, col] & near
        extrusion = np.abs(depth[hit] - centre_map[row[hit], col[hit]]) - half_map[row[hit], col[hit]]
        field[hit] = np.maximum(cone[hit], np.minimum(field[hit], extrusion))

    volume = field.reshape(shape)
    volume = np.pad(volume, 1, constant_values=1.0)  # closed at the grid's walls
    # A grid value of exactly zero puts a surface vertex on a grid point, shared by the cubes
    # around it: nudged off, every vertex lies inside one edge and the surface stays manifold.
    volume[np.abs(volume) < 1e-6] = 1e-6
    verts, tris, _, _ = measure.marching_cubes(volume, 0.0, spacing=(voxel_m,) * 3)
    verts += lo - voxel_m
    mesh = _largest_component(weld_vertices(Mesh(verts.astype(np.float64), tris.astype(np.int64))))
    if _signed_volume(mesh) < 0:  # wound outward, whatever the library's convention
        mesh = Mesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    return Dressing(mesh, offsets, voxel_m, extruded)


def _unproject(view: PinholeView, u: float, v: float, y_depth: float) -> tuple[float, float]:
    """Fit-space (x, z) of the pixel (u, v) at view depth `y_depth` (along the tilted view axis)."""
    x = (u - view.cx) * y_depth / view.f
    z_cam = -(v - view.cy) * y_depth / view.f
    c, s = np.cos(view.pitch), np.sin(view.pitch)
    # Undo the tilt: (y', z') = R(pitch) (y, z)  ->  (y, z) = R(-pitch) (y', z')
    z = -s * y_depth + c * z_cam
    return float(x), float(z)


def missed_depth_bands(mask: np.ndarray, covered: np.ndarray, front: np.ndarray, back: np.ndarray,
                       part_beside: np.ndarray, reach_px: int, metres_per_px: float, voxel_m: float):
    """(centre, half-depth) maps, metres along the view axis, for the mask's pixels the dressed body misses
    and the covered pixels within `reach_px` of them (which of them: the third map).

    Each takes the depth band of the nearest covered pixel, but no deeper than the missed region is wide
    there: what the body misses (an arm the fit placed off the photo's, a hand, a bag) is about as deep as
    it is wide, not as deep as what lies beside it. Unbounded, the strip between a misplaced arm and the
    torso became a wall as deep as the torso, and a hand beside a skirt a brick as deep as the skirt.
    Beside the head it keeps the head's band: hair and a hat cover the skull all round, however thin they
    look from the front."""
    missed = mask & ~covered
    _, (ri, ci) = ndimage.distance_transform_edt(~covered, return_indices=True)
    band_front, band_back = front[ri, ci], back[ri, ci]
    grown = ndimage.binary_dilation(missed, iterations=reach_px) & mask
    centre = (band_front + band_back) / 2
    half = np.maximum((band_back - band_front) / 2, voxel_m)
    wide = ndimage.maximum_filter(ndimage.distance_transform_edt(missed), size=2 * reach_px + 1) * metres_per_px
    beside_head = part_beside[ri, ci] == PARTS.index("head")
    half = np.where(beside_head, half, np.minimum(half, np.maximum(wide, voxel_m)))
    return np.where(grown, centre, 0.0), np.where(grown, half, 0.0), grown


def _part_beside(uv: np.ndarray, depth: np.ndarray, nearest_sample: np.ndarray, sample_parts: np.ndarray,
                 shape: tuple[int, ...]) -> np.ndarray:
    """Per pixel: the body part (index into PARTS) of the point nearest the camera that projects there, or
    of the nearest such pixel's; a point's part is that of its nearest body surface sample."""
    part = sample_parts[nearest_sample]
    h, w = shape
    col, row = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    order = np.argsort(-depth[ok])  # farthest first: the nearest point is written last and stays
    out = np.full(shape, -1, np.int64)
    out[row[ok][order], col[ok][order]] = part[ok][order]
    if (out >= 0).any():
        _, (ri, ci) = ndimage.distance_transform_edt(out < 0, return_indices=True)
        out = out[ri, ci]
    return out


def _depth_band(uv: np.ndarray, depth: np.ndarray, shape: tuple[int, ...], footprint_px: float):
    """Per pixel: the nearest and farthest depth of the points projecting there, and which pixels got any."""
    h, w = shape
    col = np.floor(uv[:, 0]).astype(int)
    row = np.floor(uv[:, 1]).astype(int)
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    front = np.full(shape, np.inf)
    back = np.full(shape, -np.inf)
    np.minimum.at(front, (row[ok], col[ok]), depth[ok])
    np.maximum.at(back, (row[ok], col[ok]), depth[ok])
    covered = np.isfinite(front)
    # A pixel sees only the one or two voxel centres that land on it: the band a pixel spans is
    # that of the voxels around it, within a voxel's footprint.
    r = max(1, int(np.ceil(footprint_px / 2)))
    size = 2 * r + 1
    front = ndimage.minimum_filter(front, size=size, mode="constant", cval=np.inf)
    back = ndimage.maximum_filter(back, size=size, mode="constant", cval=-np.inf)
    grown = ndimage.binary_closing(covered, iterations=r) | covered
    if (grown & ~covered).any():
        _, (ri, ci) = ndimage.distance_transform_edt(~covered, return_indices=True)
        fill = grown & ~covered
        front[fill], back[fill] = front[ri[fill], ci[fill]], back[ri[fill], ci[fill]]
    return front, back, grown


def _signed_volume(mesh: Mesh) -> float:
    t = mesh.vertices[mesh.faces]
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)


def _largest_component(mesh: Mesh) -> Mesh:
    """Marching cubes may leave small floating pieces (a carved-off fingertip): keep the body."""
    n = len(mesh.vertices)
    a = vertex_adjacency(mesh.faces, n)
    count, labels = sparse.csgraph.connected_components(a, directed=False)
    if count == 1:
        return mesh
    sizes = np.bincount(labels[mesh.faces[:, 0]], minlength=count)
    keep_label = int(np.argmax(sizes))
    keep_faces = mesh.faces[labels[mesh.faces[:, 0]] == keep_label]
    used = np.unique(keep_faces)
    remap = np.full(n, -1, np.int64)
    remap[used] = np.arange(len(used))
    return Mesh(mesh.vertices[used], remap[keep_faces])
