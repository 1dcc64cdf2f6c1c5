"""What every shape estimator gives back, and how the pipeline picks one.

A shape estimator turns the working image (person cropped to a square, its mask) into a
closed mesh in the world frame, plus the front camera, in working-image pixels, through which
the mesh lines up with that image: the photo's pinhole camera for the fitted body, an
orthographic one for the silhouette's inflation and a user's mesh. Learned estimators and a
user-supplied mesh plug in behind the same call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..conventions import Camera
from ..intake.lens import WorkingLens
from ..mesh import Mesh

if TYPE_CHECKING:  # the body model's package imports this one
    from .body import FittedBody


@dataclass
class ShapeResult:
    mesh: Mesh
    camera: Camera  # the input view, in working-image pixels
    method: str
    notes: list[str] = field(default_factory=list)
    # Why a learned shape model that could have run did not (missing weights, a failed load or
    # prediction), in plain words for result.json's `fallbacks`; "" when nothing was given up.
    fallback_why: str = ""
    fallback_failed: bool = False  # the model was there but failed (a warning), rather than absent (a log line)
    body: FittedBody | None = None  # the fitted body model when one was fitted


class ShapeEstimator(Protocol):
    name: str

    def estimate(self, rgb, mask, *, height_m: float, lens: WorkingLens | None = None,
                 fine_mask=None) -> ShapeResult:
        """`fine_mask`: the same mask at a whole multiple of the working resolution, for estimators that
        follow the outline closely (intake.crop.mask_in_working); others ignore it."""
