"""Blender's maps (Cycles passes through blender_addon/maps_render.py) against the backend's rasteriser.

One body mesh (``backend shape`` of the sample photo, xatlas UVs with seams), the backend's
view set and the photo's own (non-square, off-centre) input camera; plus the same mesh with
its back half cut off, so some views look into it and see back faces. Blender renders in a
bpy subprocess and writes the backend's map format; this process reads those files with
``backend.raster.load_maps`` and renders the same mesh and cameras with
``backend.raster.render_maps``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from tests.blender_versions import BLENDERS, blender_id  # noqa: E402
from tests.test_blender_addon import ROOT, run_bpy  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.slow]

TEXELS = 1024  # UV error is measured in texels of a 1024^2 texture
SEAM_JUMP = 8.0 / TEXELS  # neighbouring pixels whose UVs differ more than this straddle a seam

RENDER = """
import json
import numpy as np
from blender_addon import maps_render, obj_io
shape, out = sys.argv[1], sys.argv[2]
m = obj_io.read_obj(os.path.join(shape, "mesh.obj"))
tris, uv = m.loop_vertex.reshape(-1, 3), m.uv.reshape(-1, 3, 2)
result = json.load(open(os.path.join(shape, "result.json")))
cams = result["maps"]["views"] + [dict(result["input_camera"], name="input")]
maps_render.render_maps(m.vertices, tris, uv, cams, os.path.join(out, "closed"))
keep = m.vertices[tris].mean(axis=1)[:, 1] < 0.0  # the front half only: open at the back
back = [c for c in cams if c["name"] in ("az+180_el+00", "az+135_el+00", "az-090_el+00")]
maps_render.render_maps(m.vertices, tris[keep], uv[keep], back, os.path.join(out, "open"))
json.dump({"open_faces": int(keep.sum()), "modules": sorted(sys.modules)}, open(os.path.join(out, "info.json"), "w"))
print("OK")
"""


@pytest.fixture(scope="module")
def shape_dir(sample_shape):
    """`backend shape` of the sample, the run tests/test_cli.py checks too (tests/conftest.py); only read here."""
    return sample_shape[0]


# Cycles' passes and the EXR it writes change between releases (5.0: one part per pass).
@pytest.fixture(scope="module", params=BLENDERS, ids=blender_id)
def rendered(request, shape_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("render")
    user = tmp / "blender_user"
    user.mkdir()
    out = tmp / "blender"
    assert "OK" in run_bpy(RENDER, user, str(shape_dir), str(out), timeout=300, blender=request.param)
    return shape_dir, out


def _mesh(shape: Path, keep_front_only: bool = False):
    sys.path.insert(0, str(ROOT))
    from backend.mesh import Mesh
    from tests.test_blender_units import obj_io

    m = obj_io.read_obj(shape / "mesh.obj")
    faces = m.loop_vertex.reshape(-1, 3)
    faces_uv = np.arange(len(m.loop_vertex)).reshape(-1, 3)
    if keep_front_only:
        keep = m.vertices[faces].mean(axis=1)[:, 1] < 0.0
        faces, faces_uv = faces[keep], faces_uv[keep]
    return Mesh(m.vertices, faces, m.uv, faces_uv)


def _seam_free(uv: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixels whose 8 neighbours are covered and continue the same UV chart."""
    ok = mask.copy()
    h, w = mask.shape
    pad_uv = np.pad(uv, ((1, 1), (1, 1), (0, 0)), mode="edge")
    pad_m = np.pad(mask, 1)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            n_uv = pad_uv[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            n_m = pad_m[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            ok &= n_m & (np.abs(n_uv - uv).max(-1) < SEAM_JUMP)
    return ok


def compare(ours, theirs) -> dict:
    """Agreement of two ViewMaps of the same camera."""
    m1, m2 = theirs.mask, ours.mask
    both = m1 & m2
    iou = float((m1 & m2).sum() / max((m1 | m2).sum(), 1))
    cos = np.clip((theirs.normal[both] * ours.normal[both]).sum(-1), -1.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    interior = _seam_free(theirs.uv, m1) & _seam_free(ours.uv, m2)
    uv_err = np.abs(theirs.uv[interior] - ours.uv[interior]).max(-1) * TEXELS
    return {
        "name": theirs.camera.name,
        "iou": iou,
        "angle_median": float(np.median(angle)),
        "angle_p99": float(np.percentile(angle, 99)),
        "uv_median": float(np.median(uv_err)),
        "uv_p999": float(np.percentile(uv_err, 99.9)),
        "uv_max": float(uv_err.max()),
        "uv_pixels": int(interior.sum()),
        "depth_p99_mm": float(np.percentile(np.abs(theirs.depth[both] - ours.depth[both]), 99) * 1000),
        "position_within_1mm": float((np.linalg.norm(theirs.position[both] - ours.position[both], axis=-1)
                                      < 1e-3).mean()),
        "same_face": float((theirs.face_id[both] == ours.face_id[both]).mean()),
        "back_facing": float((theirs.normal[both][:, 2] < 0).mean()),
        "back_facing_agree": float(((theirs.normal[both][:, 2] < 0) == (ours.normal[both][:, 2] < 0)).mean()),
    }


def _check(stats: dict) -> None:
    assert stats["iou"] >= 0.99, stats
    assert stats["angle_median"] < 2.0, stats
    assert stats["uv_median"] < 0.1 and stats["uv_p999"] < 1.0, stats
    # Depth and position agree except at the odd pixel whose centre grazes a silhouette edge.
    assert stats["depth_p99_mm"] < 0.1 and stats["position_within_1mm"] > 0.999, stats
    assert stats["same_face"] > 0.99, stats


def test_blender_maps_match_the_backend_rasteriser(rendered):
    sys.path.insert(0, str(ROOT))
    from backend.raster import load_maps, render_maps

    shape, out = rendered
    ours = load_maps(out / "closed")  # the backend reads Blender's files as they are
    names = [m.camera.name for m in ours]
    assert names == json.loads((out / "closed" / "views.json").read_text())["views"]
    assert len(ours) == 13 and names[-1] == "input"
    assert (ours[-1].width, ours[-1].height) != (512, 512)  # the photo's own camera: not square, off-centre
    theirs = render_maps(_mesh(shape), [m.camera for m in ours], backend="cpu")
    report = [compare(o, t) for o, t in zip(ours, theirs, strict=True)]
    print(json.dumps(report, indent=1))
    for stats in report:
        _check(stats)
    # Bary + face_id reproduce the position (what the backend would interpolate from them).
    mesh = _mesh(shape)
    o = ours[1]
    tri = mesh.vertices[mesh.faces[o.face_id[o.mask]]]
    pos = np.einsum("nk,nkc->nc", o.bary[o.mask].astype(np.float64), tri)
    assert np.abs(pos - o.position[o.mask]).max() < 1e-4
    np.testing.assert_allclose(o.bary[o.mask].sum(-1), 1.0, atol=1e-5)
    assert (o.face_id[~o.mask] == -1).all() and (o.normal[~o.mask] == 0).all()


def test_back_faces_keep_the_mesh_orientation(rendered):
    sys.path.insert(0, str(ROOT))
    from backend.raster import load_maps, render_maps

    shape, out = rendered
    ours = load_maps(out / "open")
    theirs = render_maps(_mesh(shape, keep_front_only=True), [m.camera for m in ours], backend="cpu")
    report = [compare(o, t) for o, t in zip(ours, theirs, strict=True)]
    print(json.dumps(report, indent=1))
    back = next(s for s in report if s["name"] == "az+180_el+00")
    assert back["back_facing"] > 0.9  # from behind, an open front half shows its inside
    for stats in report:
        _check(stats)
        assert stats["back_facing_agree"] > 0.99, stats


def test_render_process_stays_light(rendered):
    _, out = rendered
    modules = set(json.loads((out / "info.json").read_text())["modules"])
    assert not {m for m in modules if m.split(".")[0] in {"torch", "cv2", "diffusers", "backend"}}
