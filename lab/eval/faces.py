"""Is there a face on the back? MediaPipe's face detector looks at the result's head from each side.

Nobody who looks behind a person sees a face there: a result whose back render shows one (the photo's
face carried round, a chin and a mouth under a block of hair) fails this check at a glance. The head
is framed as a portrait (the top of the mesh, a 0.5 m square), rendered with the result's texture and
shown to MediaPipe's short-range face detector (its model ships inside the wheel: no download).

    python -m lab.eval faces OUT_DIR [OUT_DIR ...]

prints, per result, the detector's best score from the front, the sides and the back; a result
passes when the front (where the photo shows a face) has one and the back has none.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from backend.conventions import orbit_camera
from backend.export.mesh_io import load_user_mesh
from backend.mesh import Mesh

from .scoring import render_textured

AZIMUTHS = {"front": 0.0, "left": 90.0, "back": 180.0, "right": 270.0}
PORTRAIT_M = 0.5  # the square the head is framed in
HEAD_CENTRE_BELOW_TOP_M = 0.12
MIN_SCORE = 0.5  # MediaPipe's own default


@dataclass
class FaceCheck:
    scores: dict[str, float]  # side -> the detector's best score there (0: no face)

    @property
    def passes(self) -> bool:
        return self.scores["front"] >= MIN_SCORE and self.scores["back"] < MIN_SCORE


def head_portraits(mesh: Mesh, paint, resolution: int = 256) -> dict[str, np.ndarray]:
    """uint8 renders of the head from the front, the sides and the back (grey backdrop).
    `paint(camera, background)` renders the coloured mesh: (image, mask)."""
    head = np.array([0.0, 0.0, float(mesh.vertices[:, 2].max()) - HEAD_CENTRE_BELOW_TOP_M])
    out = {}
    for side, azimuth in AZIMUTHS.items():
        cam = orbit_camera(azimuth, 0.0, target=head, extent_m=PORTRAIT_M, resolution=resolution, name=side)
        img, _ = paint(cam, (0.9, 0.9, 0.9))
        out[side] = (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return out


def detect_faces(portraits: dict[str, np.ndarray]) -> FaceCheck:
    from backend.intake.segment import import_mediapipe
    from backend.native_logs import quiet_stderr

    mp = import_mediapipe()
    if mp is None:
        raise RuntimeError("the face check needs mediapipe (installed by install_deps.py)")
    scores = {}
    with quiet_stderr(), mp.solutions.face_detection.FaceDetection(model_selection=0,
                                                                    min_detection_confidence=0.1) as detector:
        for side, image in portraits.items():
            found = detector.process(image).detections or []
            scores[side] = round(max((d.score[0] for d in found), default=0.0), 3)
    return FaceCheck(scores)


def check_faces(mesh: Mesh, texture: np.ndarray) -> FaceCheck:
    """The check on a textured result."""
    return detect_faces(head_portraits(mesh, lambda cam, bg: render_textured(mesh, texture, cam, background=bg)))


def check_result(out_dir: Path) -> FaceCheck:
    mesh = load_user_mesh(Path(out_dir) / "mesh.obj")
    texture = np.asarray(Image.open(Path(out_dir) / "texture.png").convert("RGB"))
    return check_faces(mesh, texture)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m lab.eval faces OUT_DIR [OUT_DIR ...]", file=sys.stderr)
        return 2
    print(f"{'result':40s} " + " ".join(f"{s:>6s}" for s in AZIMUTHS) + "  verdict")
    failed = 0
    for folder in argv:
        check = check_result(Path(folder))
        failed += not check.passes
        print(f"{str(folder)[-40:]:40s} " + " ".join(f"{check.scores[s]:6.2f}" for s in AZIMUTHS)
              + ("  ok" if check.passes else "  FAIL (a face on the back, or none on the front)"))
    return 1 if failed else 0
