"""Which shape estimator runs for a job.

A user's mesh wins. Else the fitted, dressed body (`body/`), the default on any machine; when it
cannot run on a photo (no pose found, the body not all in the photo, a fit that does not
converge) the outline's shape runs instead: the learned normals' relief when that model is on
disk, else the silhouette's inflation. `shape="silhouette"` asks for the outline's shape
directly; `shape="body"` refuses the photo (one line) rather than fall back.
"""

from __future__ import annotations

from ..errors import UserError, brief
from ..notes import Note, code_of
from .base import ShapeResult
from .normals_shape import choose_outline_estimator
from .silhouette import DEFAULT_TARGET_FACES

SHAPES = ("auto", "body", "silhouette")


class BodyFirst:
    """The body estimator, with the outline's estimator as the fallback (the reason said).

    The outline's estimator is made only when needed: with the normals model on disk it loads
    a network that a fitted body does not use.
    """

    def __init__(self, body, make_outline, strict: bool = False):
        self.body, self.make_outline, self.strict = body, make_outline, strict
        self.name = body.name
        self._close = lambda: None

    def estimate(self, rgb, mask, *, height_m: float, lens=None, fine_mask=None) -> ShapeResult:
        from .body import BodyFitFailed

        landmarks = None
        try:
            return self.body.estimate(rgb, mask, height_m=height_m, lens=lens, fine_mask=fine_mask)
        except BodyFitFailed as e:
            why, landmarks = str(e), e.landmarks
        except ImportError as e:  # an environment without the body model's packages
            why = Note(f"the body model is not installed ({brief(e)}): run `python3 install_deps.py`",
                       "body_model_missing")
        if self.strict:
            raise UserError(f"{why} (--shape body); --shape auto falls back to the outline's shape")
        outline, self._close = self.make_outline()
        result = outline.estimate(rgb, mask, height_m=height_m, lens=lens, landmarks=landmarks)
        fallback = "the silhouette's inflation" if result.method == "silhouette" else f"the {result.method} shape"
        first = f"{why}: no 3D body was fitted; the shape is {fallback} instead (a thin slab from the side)"
        result.fallback_why = Note(f"{first}. {result.fallback_why}" if result.fallback_why else first,
                                   code_of(why) or "body_fit_failed")
        result.fallback_failed = True
        return result

    def close(self) -> None:
        self._close()


def choose_shape_estimator(mesh_path=None, target_faces: int = DEFAULT_TARGET_FACES, *, shape: str = "auto",
                           models_dir=None, models=None, device: str = "auto", seed: int = 0, log=lambda m: None,
                           camera=None):
    """(estimator, a closing function to call once it has run); see the module's docstring. `camera`: the
    photo's camera in the working crop's pixels, when a user's mesh comes with it (else it is fitted)."""
    def make_outline():
        return choose_outline_estimator(mesh_path, target_faces, models_dir=models_dir, models=models, device=device,
                                        seed=seed)

    if mesh_path:
        from .user_mesh import UserMeshShape

        return UserMeshShape(mesh_path, camera), lambda: None  # camera: the photo's, known from the shape step
    if shape == "silhouette":
        return make_outline()
    from ..models.registry import ModelSources
    from .body import BodyShape

    ModelSources.from_options(models_dir, models)  # a bad --model/--models-dir is refused now, not on fallback
    estimator = BodyFirst(BodyShape(target_faces, log=log), make_outline, strict=shape == "body")
    return estimator, estimator.close
