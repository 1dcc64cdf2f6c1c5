"""Skin weights for the dressed mesh, carried over from the fitted body, and skinning itself.

Each vertex of the clothed surface takes the weights of the nearest point on the bare body's
surface (interpolated across that triangle), then the weights are smoothed over the clothed
surface. The smoothing is stronger where the cloth stands farther from the body: a skirt's hem
between the legs blends both legs' weights, so it stretches when a leg moves instead of
tearing along the line where the nearest leg changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mesh import Mesh, neighbour_mean

INFLUENCES = 4  # bones per vertex: what glTF's JOINTS_0/WEIGHTS_0 and game engines take
SMOOTHING_ITERATIONS = 10
LOOSE_M = 0.04  # cloth this far from the body (or farther) is smoothed fully each iteration


@dataclass
class Skin:
    joints: np.ndarray  # (N, INFLUENCES) bone index per vertex, weight-sorted (heaviest first)
    weights: np.ndarray  # (N, INFLUENCES) float, rows sum to 1


def dense_weights(indices: np.ndarray, weights: np.ndarray, bones: int) -> np.ndarray:
    """(V, bones) weight matrix from per-vertex (index, weight) lists."""
    dense = np.zeros((len(indices), bones))
    np.add.at(dense, (np.repeat(np.arange(len(indices)), indices.shape[1]), indices.ravel()), weights.ravel())
    return dense


def nearest_on_surface(points: np.ndarray, mesh: Mesh, candidates: int = 8) -> tuple[np.ndarray, ...]:
    """For each point: the nearest point on `mesh`, the triangle it lies on and its barycentric
    weights. The candidates are the triangles whose centroids are nearest (exact when the mesh is
    evenly meshed, as the body is)."""
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point, points_to_barycentric

    tri = mesh.vertices[mesh.faces]
    k = min(candidates, len(tri))
    _, near = cKDTree(tri.mean(axis=1)).query(points, k=k)
    near = near.reshape(len(points), k)
    flat = closest_point(tri[near.ravel()], np.repeat(points, k, axis=0)).reshape(len(points), k, 3)
    best = np.argmin(np.linalg.norm(flat - points[:, None], axis=2), axis=1)
    rows = np.arange(len(points))
    faces, nearest = near[rows, best], flat[rows, best]
    return nearest, faces, points_to_barycentric(tri[faces], nearest)


def transfer_skin(body: Mesh, body_indices: np.ndarray, body_weights: np.ndarray, bones: int, target: Mesh,
                  iterations: int = SMOOTHING_ITERATIONS) -> Skin:
    """The body's skin weights carried onto `target` (the clothed surface), smoothed over it."""
    weights_body = dense_weights(body_indices, body_weights, bones)
    nearest, faces, bary = nearest_on_surface(np.asarray(target.vertices, float), body)
    w = np.einsum("nk,nkb->nb", np.clip(bary, 0.0, 1.0), weights_body[body.faces[faces]])
    distance = np.linalg.norm(target.vertices - nearest, axis=1)
    w = _smooth(w, target, strength=np.clip(0.2 + 0.8 * distance / LOOSE_M, 0.2, 1.0), iterations=iterations)
    return top_influences(w)


def _smooth(w: np.ndarray, mesh: Mesh, strength: np.ndarray, iterations: int) -> np.ndarray:
    """Move each vertex's weights toward its neighbours' mean by `strength` (per vertex), repeatedly."""
    mean = neighbour_mean(mesh.faces, len(mesh.vertices))
    s = strength[:, None]
    for _ in range(iterations):
        w = (1.0 - s) * w + s * (mean @ w)
    return w


def top_influences(w: np.ndarray, count: int = INFLUENCES) -> Skin:
    """The `count` heaviest bones per vertex, renormalised to sum to 1."""
    if w.shape[1] < count:  # fewer bones than influences: the rest weigh nothing
        w = np.pad(w, ((0, 0), (0, count - w.shape[1])))
    joints = np.argsort(-w, axis=1, kind="stable")[:, :count]
    weights = np.take_along_axis(w, joints, axis=1)
    weights = np.where(weights > 1e-4, weights, 0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.where(total > 0, weights / np.maximum(total, 1e-12), np.eye(count)[0])
    joints = np.where(weights > 0, joints, 0)  # an unused influence points at bone 0 with weight 0
    return Skin(joints.astype(np.int64), weights)


def skinned(vertices: np.ndarray, skin: Skin, bind: np.ndarray, posed: np.ndarray) -> np.ndarray:
    """Linear blend skinning: the vertices (bound at `bind`) moved to the bones' `posed` matrices."""
    moves = posed @ np.linalg.inv(bind)  # (B, 4, 4): where each bone carries what it held at bind
    h = np.c_[vertices, np.ones(len(vertices))]
    out = np.zeros((len(vertices), 3))
    for k in range(skin.joints.shape[1]):
        out += skin.weights[:, k, None] * np.einsum("nij,nj->ni", moves[skin.joints[:, k]], h)[:, :3]
    return out
