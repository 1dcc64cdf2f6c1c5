"""Pure NumPy rasteriser: nearest triangle per pixel centre, for orthographic and perspective cameras.

How it works (all vectorised, no per-triangle Python loop):
1. Project the vertices to continuous pixel coordinates (Camera.project).
2. Per triangle, the box of pixel centres its projection can cover, and its barycentric
   coordinates and depth (orthographic) or 1 / depth (perspective) written as affine
   functions of the pixel offset inside that box.
3. Per (triangle, row of its box), the span of columns whose pixel centres are inside: each
   barycentric >= -INSIDE_EPS is a half-line in the column (inclusive edges with a tiny
   slack, so pixel centres on a shared edge land in both triangles: no cracks).
4. Enumerate the pixels of all spans in chunks of at most CHUNK fragments (bounded memory)
   and resolve visibility with a z-buffer: a scatter-min (np.minimum.at) of an int64 key,
   quantised depth in the high bits and the triangle's index in the low bits.
5. For the winning face of each pixel recompute the exact barycentrics in float64 and make
   them perspective-correct (screen-space weights divided by vertex depth, renormalised).

No back-face culling: the nearest surface wins whatever its orientation.
Perspective triangles with a vertex closer than NEAR to the camera are dropped (no
near-plane clipping); orthographic fragments behind the camera (depth <= 0) are dropped.
"""

from __future__ import annotations

import numpy as np

from backend.conventions import ORTHOGRAPHIC, Camera
from backend.mesh import Mesh

from .maps import ViewMaps, maps_from_fragments

CHUNK = 1 << 17  # fragments (and pixels) per batch: small batches stay in cache and bound memory
ROW_CHUNK = 1 << 18  # (triangle, row) spans per batch
NEAR = 1e-3  # metres; perspective triangles closer than this are dropped
INSIDE_EPS = 1e-7  # barycentric slack so pixel centres on a shared edge land in both triangles
_DEPTH_BITS = 31  # quantised depth in the key's high bits, candidate triangle (< 2**32) in the low bits


def _setup(pix: np.ndarray, depth: np.ndarray, faces: np.ndarray, width: int, height: int, perspective: bool):
    """Per-triangle boxes and affine barycentric coefficients for the triangles that can cover a pixel."""
    p = pix[faces]  # (F, 3, 2)
    d = depth[faces]  # (F, 3)
    ok = np.isfinite(p).all(axis=(1, 2)) & np.isfinite(d).all(axis=1)
    ok &= (d.min(axis=1) > NEAR) if perspective else (d.max(axis=1) > 0.0)

    # Box of pixel centres (c + 0.5, r + 0.5) inside the triangle's bounding box, clipped to the image.
    lo, hi = p.min(axis=1), p.max(axis=1)
    with np.errstate(invalid="ignore"):
        c0 = np.maximum(np.ceil(lo[:, 0] - 0.5), 0)
        c1 = np.minimum(np.floor(hi[:, 0] - 0.5), width - 1)
        r0 = np.maximum(np.ceil(lo[:, 1] - 0.5), 0)
        r1 = np.minimum(np.floor(hi[:, 1] - 0.5), height - 1)
    ok &= (c1 >= c0) & (r1 >= r0)

    # Vertex coordinates relative to the box's first pixel centre keep the numbers small (precision).
    x = p[..., 0] - (c0 + 0.5)[:, None]
    y = p[..., 1] - (r0 + 0.5)[:, None]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    ok &= np.abs(area) > 1e-12  # edge-on or degenerate: its neighbours cover those pixels

    idx = np.flatnonzero(ok)
    x, y, area, d = x[idx], y[idx], area[idx], d[idx]
    # Weight of vertex i at offset (dx, dy) is A_i dx + B_i dy + C_i (edge function of the
    # opposite edge divided by the signed area, so either winding gives positive weights).
    j, k = [1, 2, 0], [2, 0, 1]
    a = (y[:, j] - y[:, k]) / area[:, None]
    b = (x[:, k] - x[:, j]) / area[:, None]
    c = (x[:, j] * y[:, k] - x[:, k] * y[:, j]) / area[:, None]
    # Depth (orthographic) or 1 / depth (perspective) is affine in screen space too.
    z = 1.0 / d if perspective else d
    zc = np.stack([(a * z).sum(1), (b * z).sum(1), (c * z).sum(1)])
    # Coefficients as (3, n): per-vertex rows are contiguous, so gathers and arithmetic run
    # along the long axis (an (n, 3) layout makes numpy loop over 3-element rows).
    a, b, c = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), np.ascontiguousarray(c.T)
    # (4, n): first column, first row, width, height of each box.
    box = np.stack([c0[idx], r0[idx], c1[idx] - c0[idx] + 1, r1[idx] - r0[idx] + 1]).astype(np.int64)
    return idx, box, a, b, c, zc


def _chunks(counts: np.ndarray, limit: int):
    """(start, stop) ranges of consecutive items whose counts sum to at most `limit` (or one item)."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        yield start, stop
        start = stop


def _ranges(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts (n_i): the item of every element and the element's offset inside its item."""
    item = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(len(item)) - np.repeat(np.cumsum(counts) - counts, counts)
    return item, offset


def _row_spans(t: np.ndarray, dy: np.ndarray, box: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """First column offset and column count of the inside pixel centres of triangle t's box row dy."""
    width = box[2, t].astype(np.float64)
    first, last = np.zeros(len(t)), width - 1
    for i in range(3):
        # Barycentric i >= -eps along the row: a_i dx + rest >= 0, a half-line in dx.
        ai = a[i, t]
        rest = b[i, t] * dy + c[i, t] + INSIDE_EPS
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -rest / ai
        first = np.where(ai > 0, np.maximum(first, bound), first)
        last = np.where(ai < 0, np.minimum(last, bound), last)
        last = np.where((ai == 0) & (rest < 0), -1.0, last)  # parallel to the row and outside
    first = np.ceil(np.clip(first, 0, width))  # clip before the int cast: bounds can be huge
    last = np.floor(np.clip(last, -1, width - 1))
    return first.astype(np.int64), np.maximum(last - first + 1, 0).astype(np.int64)


def rasterize(vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) int32 face ids (-1 for background) and (H, W, 3) float32 perspective-correct barycentrics."""
    w, h = camera.width, camera.height
    perspective = camera.projection != ORTHOGRAPHIC
    faces = np.asarray(faces, dtype=np.int64)
    pix, depth = camera.project(np.asarray(vertices, dtype=np.float64))
    face_id = np.full((h, w), -1, np.int32)
    bary = np.zeros((h, w, 3), np.float32)
    if len(faces) == 0:
        return face_id, bary
    if len(faces) >= 1 << 32:
        raise ValueError("too many faces for the CPU rasteriser (face ids must fit in 32 bits)")

    idx, box, a, b, c, zc = _setup(pix, depth, faces, w, h, perspective)
    if len(idx) == 0:
        return face_id, bary

    # Depth quantisation range over the candidate triangles' vertices (exact depth is recomputed later).
    dv = depth[faces[idx]]
    dmin, dmax = max(float(dv.min()), 0.0), float(dv.max())
    scale = ((1 << _DEPTH_BITS) - 2) / max(dmax - dmin, 1e-12)

    zbuf = np.full(h * w, np.iinfo(np.int64).max, np.int64)
    for t0, t1 in _chunks(box[3], ROW_CHUNK):
        # One entry per (triangle, row of its box) and that row's span of inside pixel centres.
        t, dy = _ranges(box[3, t0:t1])
        t += t0
        first, count = _row_spans(t, dy, box, a, b, c)
        keep = count > 0
        t, dy, first, count = t[keep], dy[keep], first[keep], count[keep]
        # Per span: depth (or 1 / depth) at its first pixel, its step along the row, its pixel index.
        z0 = zc[0, t] * first + zc[1, t] * dy + zc[2, t]
        dz = zc[0, t]
        pix0 = (box[1, t] + dy) * w + box[0, t] + first

        for s0, s1 in _chunks(count, CHUNK):
            span, k = _ranges(count[s0:s1])  # every fragment: its span and column offset in it
            span += s0
            zq = z0[span] + dz[span] * k
            with np.errstate(divide="ignore"):
                frag_depth = 1.0 / zq if perspective else zq
            front = frag_depth > 0.0
            span, k, frag_depth = span[front], k[front], frag_depth[front]
            q = np.clip((frag_depth - dmin) * scale, 0, (1 << _DEPTH_BITS) - 1).astype(np.int64)
            # Nearest wins; the low bits hold the triangle's index in idx (ties -> lower face id).
            np.minimum.at(zbuf, pix0[span] + k, (q << 32) | t[span])

    hit = np.flatnonzero(zbuf != np.iinfo(np.int64).max)
    key_tri = zbuf[hit] & 0xFFFFFFFF  # winning candidate triangle of each covered pixel
    del zbuf
    # Exact float64 barycentrics of each covered pixel centre on its winning face, from the
    # same affine coefficients as the inside test (so they agree with it). In blocks: small
    # temporaries are much faster than a few huge ones.
    bary_flat, face_flat = bary.reshape(-1, 3), face_id.reshape(-1)
    for s0 in range(0, len(hit), CHUNK):
        px = hit[s0 : s0 + CHUNK]
        t = key_tri[s0 : s0 + CHUNK]
        fid = idx[t]
        face_flat[px] = fid
        dx = (px % w - box[0, t]).astype(np.float64)
        dy = (px // w - box[1, t]).astype(np.float64)
        lam = np.take(a, t, axis=1) * dx
        lam += np.take(b, t, axis=1) * dy
        lam += np.take(c, t, axis=1)
        np.maximum(lam, 0.0, out=lam)  # (3, n); clip the edge slack
        if perspective:
            lam /= depth[faces[fid].T]  # screen-space weights -> perspective-correct (world-space) ones
        lam /= lam.sum(axis=0)
        bary_flat[px] = lam.T
    return face_id, bary


class CpuRasterizer:
    """NumPy rasteriser; works everywhere."""

    name = "cpu"

    def render(self, mesh: Mesh, cameras: list[Camera]) -> list[ViewMaps]:
        vn = mesh.vertex_normals()  # once for all views
        out = []
        for cam in cameras:
            face_id, bary = rasterize(mesh.vertices, mesh.faces, cam)
            out.append(maps_from_fragments(mesh, cam, face_id, bary, vertex_normals=vn))
        return out
