"""The mesh every stage passes around: geometry plus an optional UV layout (OBJ-style).

UVs have their own index buffer (`faces_uv` into `uv`), so seams split UVs but never
geometry: vertex normals stay smooth across UV seams, and the surface stays watertight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float64, world frame (metres)
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    uv: np.ndarray | None = None  # (T, 2) float64, (0, 0) bottom-left
    faces_uv: np.ndarray | None = None  # (F, 3) int64 into uv

    @property
    def has_uv(self) -> bool:
        return self.uv is not None and self.faces_uv is not None

    def uv_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """(uv, faces_uv) of a mesh that has them (`has_uv`)."""
        if self.uv is None or self.faces_uv is None:
            raise ValueError("the mesh has no UVs")
        return self.uv, self.faces_uv

    def face_normals(self) -> np.ndarray:
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)

    def vertex_normals(self) -> np.ndarray:
        """Area-weighted average of the adjacent faces' normals, unit length."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # length = 2 * area
        acc = np.zeros_like(self.vertices)
        for k in range(3):
            np.add.at(acc, self.faces[:, k], n)
        return acc / np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-20)

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)


def weld_vertices(mesh: Mesh) -> Mesh:
    """Merge vertices at the same position and drop the faces that collapse (marching cubes makes
    such duplicates where the field is exactly zero at a grid point). UVs are not kept."""
    unique, inverse = np.unique(mesh.vertices, axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[mesh.faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    return Mesh(unique, faces[keep])


def triangle_edges(faces: np.ndarray) -> np.ndarray:
    """(3F, 2) every triangle's three edges (v0-v1, v1-v2, v2-v0); an edge two triangles share
    comes twice, once from each."""
    faces = np.asarray(faces)
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def vertex_adjacency(faces: np.ndarray, count: int):
    """(count, count) sparse matrix with 1 where two vertices share an edge (an edge counts once)."""
    from scipy import sparse

    edges = triangle_edges(faces)
    a = sparse.csr_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                          shape=(count, count))
    a.data[:] = 1.0
    return a


def neighbour_mean(faces: np.ndarray, count: int):
    """(count, count) sparse operator: `neighbour_mean(...) @ values` is each vertex's neighbours' mean."""
    from scipy import sparse

    a = vertex_adjacency(faces, count)
    return sparse.diags(1.0 / np.maximum(np.asarray(a.sum(axis=1)).ravel(), 1.0)) @ a
