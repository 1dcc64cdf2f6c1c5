"""UV-space chart mask, filling never-seen texels, and bleeding chart colours into the gutters.

    charts = chart_mask(mesh, 1024)                       # texels under a UV triangle (+1 texel)
    labels = chart_labels(mesh, 1024)                     # the same, as chart ids (-1 outside)
    final = fill_and_bleed(texture, seen, charts, plan)   # no texel left without a colour

Order of filling (gutter / background colours never flow into a chart):
1. chart texels no view saw: push-pull (a normalized-convolution pyramid) from the seen texels
   of the same chart only;
2. bleed: chart colours pushed outward ring by ring, `plan.bleed_texels` rings (scaled to the
   texture's size), each ring texel the mean of its already-coloured 8-neighbours;
3. the rest of the texture: push-pull from everything coloured so far, so mip levels and
   bilinear lookups near a chart never meet black.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from backend.imaging import push_pull
from backend.mesh import Mesh
from backend.uv.atlas import PaddingPlan

_MAX_CANDIDATES = 1 << 22  # texel/triangle pairs tested per block when rasterising UV triangles


def uv_charts(mesh: Mesh) -> tuple[int, np.ndarray]:
    """Number of UV charts and each face's chart: faces sharing a UV vertex are in the same chart."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    faces_uv = mesh.uv_layout()[1]
    f = len(faces_uv)
    t = int(faces_uv.max()) + 1 if f else 0
    rows = np.repeat(np.arange(f), 3)
    cols = f + faces_uv.reshape(-1)
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(f + t, f + t))
    _, comp = connected_components(graph, directed=False)
    _, face_chart = np.unique(comp[:f], return_inverse=True)
    return int(face_chart.max()) + 1 if f else 0, face_chart.astype(np.int32)


def _grow_labels(labels: np.ndarray, steps: int) -> np.ndarray:
    """Give unlabelled (-1) texels the label of a labelled 8-neighbour, `steps` times."""
    out = labels.copy()
    r, c = out.shape
    for _ in range(steps):
        pad = np.pad(out, 1, constant_values=-1)
        grown = out.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                nb = pad[1 + dy : 1 + dy + r, 1 + dx : 1 + dx + c]
                take = (grown < 0) & (nb >= 0)
                grown[take] = nb[take]
        out = grown
    return out


def chart_labels(mesh: Mesh, resolution: int, dilate: int = 1) -> np.ndarray:
    """(R, R) int32: the UV chart (uv_charts) of every texel whose centre lies in a UV triangle, -1 elsewhere.

    Vectorised over triangles: every texel centre in a triangle's bounding box is tested
    against its three edge functions (edges included), in blocks of at most ~4M pairs. The
    texel holding each UV vertex is marked too, so triangles smaller than a texel still leave
    a mark. Then grown by `dilate` texels into unlabelled texels.
    """
    if not mesh.has_uv:
        raise ValueError("chart_labels needs a mesh with uv and faces_uv")
    r = int(resolution)
    _, face_chart = uv_charts(mesh)
    out = np.full(r * r, -1, np.int32)
    uv, faces_uv = mesh.uv_layout()
    xy = np.stack([uv[:, 0] * r, (1.0 - uv[:, 1]) * r], axis=1)  # continuous texel coordinates
    tri = xy[faces_uv]  # (F, 3, 2)
    # texels holding the UV vertices first: triangles drawn next take precedence
    corner = tri.reshape(-1, 2)
    vx = np.clip(np.floor(corner[:, 0]), 0, r - 1).astype(np.int64)
    vy = np.clip(np.floor(corner[:, 1]), 0, r - 1).astype(np.int64)
    out[vy * r + vx] = np.repeat(face_chart, 3)
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    # texel centres c + 0.5 inside [lo, hi]
    cmin = np.clip(np.ceil(lo[:, 0] - 0.5), 0, r).astype(np.int64)
    cmax = np.clip(np.floor(hi[:, 0] - 0.5), -1, r - 1).astype(np.int64)
    rmin = np.clip(np.ceil(lo[:, 1] - 0.5), 0, r).astype(np.int64)
    rmax = np.clip(np.floor(hi[:, 1] - 0.5), -1, r - 1).astype(np.int64)
    bw, bh = np.maximum(cmax - cmin + 1, 0), np.maximum(rmax - rmin + 1, 0)
    counts = bw * bh
    faces = np.flatnonzero(counts)
    start = 0
    while start < len(faces):
        csum = np.cumsum(counts[faces[start:]])
        stop = start + max(1, int(np.searchsorted(csum, _MAX_CANDIDATES, side="right")))
        block = faces[start:stop]
        start = stop
        n = counts[block]
        t = np.repeat(block, n)
        local = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
        col = cmin[t] + local % bw[t]
        row = rmin[t] + local // bw[t]
        px, py = col + 0.5, row + 0.5
        a, b, c = tri[t, 0], tri[t, 1], tri[t, 2]

        def edge(p0, p1, px=px, py=py):
            return (p1[:, 0] - p0[:, 0]) * (py - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (px - p0[:, 0])

        e0, e1, e2 = edge(a, b), edge(b, c), edge(c, a)
        tol = 1e-9
        inside = ((e0 >= -tol) & (e1 >= -tol) & (e2 >= -tol)) | ((e0 <= tol) & (e1 <= tol) & (e2 <= tol))
        out[row[inside] * r + col[inside]] = face_chart[t[inside]]
    labels = out.reshape(r, r)
    return _grow_labels(labels, dilate) if dilate > 0 else labels


def chart_mask(mesh: Mesh, resolution: int, dilate: int = 1) -> np.ndarray:
    """(R, R) bool: texels inside the UV charts (chart_labels >= 0), dilated by `dilate` texels."""
    return chart_labels(mesh, resolution, dilate) >= 0


def bleed_rings(image: np.ndarray, known: np.ndarray, rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Grow `known` by `rings` texels; each new texel gets the mean of its coloured 8-neighbours."""
    out = np.where(known[..., None], np.nan_to_num(image), 0.0).astype(np.float32)
    known = known.copy()
    kernel = np.ones((3, 3), np.float32)
    for _ in range(rings):
        w = known.astype(np.float32)
        s = cv2.filter2D(out * w[..., None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
        n = cv2.filter2D(w, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        ring = (n > 0.5) & ~known
        if not ring.any():
            break
        out[ring] = s.reshape(out.shape)[ring] / n[ring][:, None]
        known |= ring
    return out, known


def bleed_texels_for(plan: PaddingPlan, resolution: int) -> int:
    """The plan's bleed width, scaled to a texture of `resolution` texels."""
    return max(1, math.ceil(plan.bleed_texels * resolution / plan.resolution))


def label_charts(charts: np.ndarray) -> np.ndarray:
    """Chart labels (-1 outside) of a bool chart mask: its 8-connected components."""
    n, lab = cv2.connectedComponents(np.asarray(charts, np.uint8), connectivity=8)
    return lab.astype(np.int32) - 1


def fill_charts(image: np.ndarray, seen: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fill the unseen texels of every chart by push-pull from that chart's seen texels only.

    Charts no view saw at all take a push-pull of every seen texel (the nearest charts' colours).
    """
    from scipy import ndimage

    out = np.where(seen[..., None], np.nan_to_num(image), 0.0).astype(np.float32)
    need = (labels >= 0) & ~seen
    if not need.any():
        return out
    if not seen.any():
        out[need] = 0.5
        return out
    boxes = ndimage.find_objects(labels + 1)
    leftover = np.zeros_like(need)
    for lab in np.unique(labels[need]):
        sl = boxes[lab]
        inside = labels[sl] == lab
        known = seen[sl] & inside
        holes = need[sl] & inside
        if known.any():
            out[sl][holes] = push_pull(out[sl], known)[holes]
        else:
            leftover[sl] |= holes
    if leftover.any():
        out[leftover] = push_pull(out, seen)[leftover]
    return out


def fill_and_bleed(texture: np.ndarray, seen: np.ndarray, charts: np.ndarray, plan: PaddingPlan) -> np.ndarray:
    """Colour every texel: fill unseen chart texels from seen ones, bleed into gutters, fill the rest.

    texture: (R, R, 3) float in [0, 1] or uint8 (unseen texels may hold anything, NaN included);
    seen: (R, R) bool, texels whose colour is known; charts: (R, R) bool (chart_mask; its
    8-connected components are taken as the charts) or int chart labels, -1 outside (chart_labels).
    Returns the same dtype as `texture`. Seen texels keep their colour exactly; an unseen chart
    texel only takes colours of its own chart's seen texels (unless its chart was never seen).
    If no texel was seen at all, the charts get mid-grey.
    """
    tex = np.asarray(texture)
    is_uint8 = tex.dtype == np.uint8
    img = tex.astype(np.float32) / 255.0 if is_uint8 else tex.astype(np.float32)
    r = img.shape[0]
    seen = np.asarray(seen, bool)
    charts = np.asarray(charts)
    labels = label_charts(charts) if charts.dtype == bool else charts.astype(np.int32)
    out = fill_charts(img, seen, labels)
    known = seen | (labels >= 0)
    if known.any():
        out, known = bleed_rings(out, known, bleed_texels_for(plan, r))
        if not known.all():
            filled = push_pull(out, known)
            out[~known] = filled[~known]
    else:
        out[:] = 0.5
    out = np.clip(out, 0.0, 1.0)
    if is_uint8:
        return np.rint(out * 255.0).astype(np.uint8)
    return out.astype(tex.dtype if np.issubdtype(tex.dtype, np.floating) else np.float32)
