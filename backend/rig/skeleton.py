"""The skeleton delivered with the person: bones in the photo's pose (the bind pose), world frame.

A bone is a rigid frame: its head at the matrix's translation, its Y axis along the bone toward
its tail (Blender's convention, which Anny's bones follow), X and Z its roll. Posing a bone turns
it about its head in its own frame; its children follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Skeleton:
    names: list[str]
    parents: np.ndarray  # (B,) index of each bone's parent, -1 for a root; parents come first
    bind: np.ndarray  # (B, 4, 4) bone-to-world matrices in the bind pose (the mesh as delivered)
    lengths: np.ndarray  # (B,) metres, head to tail

    @property
    def heads(self) -> np.ndarray:
        return self.bind[:, :3, 3]

    @property
    def tails(self) -> np.ndarray:
        return self.heads + self.bind[:, :3, 1] * self.lengths[:, None]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def local_bind(self) -> np.ndarray:
        """(B, 4, 4) each bone relative to its parent (a root: relative to the world)."""
        local = self.bind.copy()
        has_parent = self.parents >= 0
        local[has_parent] = np.linalg.inv(self.bind[self.parents[has_parent]]) @ self.bind[has_parent]
        return local

    def posed(self, rotations: dict[str, np.ndarray]) -> np.ndarray:
        """(B, 4, 4) bone-to-world matrices after turning the named bones by 3x3 rotations, each in
        the bone's own frame about its head; children follow their parents."""
        local = self.local_bind()
        world = np.empty_like(self.bind)
        for b, parent in enumerate(self.parents):
            turn = np.eye(4)
            if self.names[b] in rotations:
                turn[:3, :3] = rotations[self.names[b]]
            world[b] = (world[parent] if parent >= 0 else np.eye(4)) @ local[b] @ turn
        return world


def rotation_about(axis, degrees: float) -> np.ndarray:
    """3x3 rotation by `degrees` about a unit `axis` (right-handed)."""
    from scipy.spatial.transform import Rotation

    axis = np.asarray(axis, float)
    return Rotation.from_rotvec(np.radians(degrees) * axis / np.linalg.norm(axis)).as_matrix()
