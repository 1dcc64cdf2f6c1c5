"""Body mesh with relief: a learned front normal map integrated on the silhouette's inflation.

The mesh is built exactly as SilhouetteShape builds it (one planar triangulation of the mask,
a front and a back height field sewn along the outline: closed, manifold, covering the mask
from the input camera); only the depth maps differ:

- front: the predicted normals integrated inside the silhouette on top of the inflation prior
  (normal_integration.py): the nose, the chest, cloth folds, at the prior's overall thickness;
- back: the inflation, as without the model. One photo shows no back; mirroring the front's
  relief would put a face on the back of the head and the chest's folds on the back, so the
  back stays the smooth, plausible guess it was.

The front is kept in front of the back (thickness >= MIN_THICKNESS_M, or the prior's own
thickness where that is less, near the outline), so the two surfaces never cross.
"""

from __future__ import annotations

import numpy as np

from ..errors import brief
from ..notes import Note
from .inflate import HALF_DEPTH_CAP_M
from .normal_integration import RELIEF_SCALE, integrate_with_prior, rim_agreement
from .silhouette import DEFAULT_TARGET_FACES, SILHOUETTE_NOTE, SilhouetteShape, SurfaceDepths, inflation_depth

# Thinnest the body may get between front and back, for a 1.7 m person (scaled with the height).
MIN_THICKNESS_M = 0.02
# Below this rim agreement the predicted normals point into the silhouette at its outline: an axis
# is flipped (or the model failed), and they are not used. Noise scores about 0, a good map near 1.
RIM_AGREEMENT_MIN = -0.25


class LearnedNormalsShape(SilhouetteShape):
    name = "normals"

    def __init__(self, predictor, target_faces: int = DEFAULT_TARGET_FACES, relief_scale: float = RELIEF_SCALE):
        """`predictor.predict(rgb, mask)` gives the front normal map in our camera convention."""
        super().__init__(target_faces)
        self.predictor = predictor
        self.relief_scale = relief_scale

    def surface_depths(self, rgb, mask: np.ndarray, metres_per_px: float, height_m: float,
                       body_height_px: float) -> SurfaceDepths:
        prior = inflation_depth(mask, metres_per_px, height_m)
        what = getattr(self.predictor, "name", "normals model")
        try:
            normals = self.predictor.predict(rgb, mask)
        except Exception as e:  # a model that loads but cannot run: the silhouette, with the reason
            why = f"the normals model ({what}) failed on this photo ({brief(e)}); the depth comes from the outline"
            return SurfaceDepths(prior, prior, "silhouette", [SILHOUETTE_NOTE, why], why, True)
        agreement = rim_agreement(normals, mask)
        if agreement < RIM_AGREEMENT_MIN:
            why = (f"the normals model's ({what}) map points into the silhouette at its outline (agreement "
                   f"{agreement:.2f}; a flipped axis?), so it is not used; the depth comes from the outline")
            return SurfaceDepths(prior, prior, "silhouette", [SILHOUETTE_NOTE, why], why, True)

        front = self.front_depth(normals, mask, prior, metres_per_px, height_m, body_height_px)
        notes = [f"front relief from the normals model ({what}) integrated on the silhouette's inflation "
                 f"(rim agreement {agreement:.2f}); back from the silhouette's inflation"]
        return SurfaceDepths(front, prior, self.name, notes)

    def front_depth(self, normals: np.ndarray, mask: np.ndarray, prior: np.ndarray, metres_per_px: float,
                    height_m: float, body_height_px: float) -> np.ndarray:
        """The front depth map (metres toward the camera) from the normals and the prior (metres)."""
        m = metres_per_px
        z = integrate_with_prior(normals, mask, prior / m, self.relief_scale * body_height_px) * m
        scale = height_m / 1.7
        # Relief no larger than the prior's own cap (junk normals cannot make spikes), and the
        # front stays in front of the back (at -prior): thickness >= min(MIN_THICKNESS_M, 2 prior).
        cap = HALF_DEPTH_CAP_M * scale
        z = prior + np.clip(z - prior, -cap, cap)
        z = np.maximum(z, -prior + np.minimum(MIN_THICKNESS_M * scale, 2.0 * prior))
        return np.where(np.asarray(mask, bool), z, 0.0)


def choose_outline_estimator(mesh_path=None, target_faces: int = DEFAULT_TARGET_FACES, *, models_dir=None,
                           models=None, device: str = "auto", seed: int = 0):
    """The shape estimator for a job: (estimator, a closing function to call once it has run).

    A user's mesh wins. Else the learned normals when the `normals` role resolves (--model,
    --models-dir, the models cache: backend/models/registry.py) and loads; else the silhouette,
    whose result then says why (`ShapeResult.fallback_why`): the weights are missing (and how
    to get them), or they failed to load. A bad --model/--models-dir value is a UserError.
    """
    if mesh_path:
        from .user_mesh import UserMeshShape

        return UserMeshShape(mesh_path), lambda: None

    from ..models.registry import ModelSources, missing_note

    sources = ModelSources.from_options(models_dir, models)
    folder, _ = sources.resolve("normals")
    if folder is None:
        why = f"{missing_note(['normals'], sources)}; until then the depth comes from the outline alone (no relief)"
        return SilhouetteShape(target_faces, fallback_why=why), lambda: None
    from ..torch_device import resolve_device

    device = resolve_device(device)  # --device cuda without a GPU is the user's to fix, not a fallback
    try:
        from .learned_normals import MarigoldNormals

        predictor = MarigoldNormals(folder, device, seed=seed)
    except Exception as e:  # broken or incomplete weights: say which, never a silent downgrade
        why = Note(f"the normals model could not be loaded ({brief(e)}; normals from {folder}): the depth comes "
                   "from the outline; delete the broken folder and fetch it again with `python3 install_deps.py "
                   "--models normals`", "normals_model_broken")
        return SilhouetteShape(target_faces, fallback_why=why, fallback_failed=True), lambda: None
    return LearnedNormalsShape(predictor, target_faces), predictor.close
