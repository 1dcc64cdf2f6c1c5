"""How close a predicted body mesh is to the true one: small pure functions, both meshes in the world frame.

Alignment protocol (`align_to_truth`, applied before every 3D comparison): both meshes stand on
the floor and are as tall as the shape stage was told, so only the horizontal position is left
to chance (a single photo cannot know how far away the person stood): the prediction is
translated in x and y so that its surface-area-weighted centroid matches the truth's, and in z
so that its lowest point matches the truth's (a no-op for a person standing on z = 0; a jump
is in the air while the shape stage puts its mesh on the floor). No rotation, no scaling.

    side_silhouette_iou    silhouettes from the right and left (orthographic, same framing)
    chamfer_cm             symmetric mean nearest-surface distance
    slab_thickness_error_cm  front-to-back thickness per 10 cm slab of height, mean abs difference
    front_silhouette_iou   the prediction through its own input camera against the photo's mask
"""

from __future__ import annotations

import numpy as np

from backend.conventions import ORTHOGRAPHIC, Camera, look_at, orbit_camera
from backend.mesh import Mesh
from backend.metrics import mask_iou
from backend.raster import render_maps

SAMPLES = 20_000
SLAB_M = 0.10


def face_areas(mesh: Mesh) -> np.ndarray:
    v = mesh.vertices[mesh.faces]
    return 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)


def area_centroid(mesh: Mesh) -> np.ndarray:
    """Centroid of the surface (not the volume): the triangles' centroids weighted by their areas."""
    a = face_areas(mesh)
    return (mesh.vertices[mesh.faces].mean(axis=1) * a[:, None]).sum(axis=0) / a.sum()


def translated(mesh: Mesh, offset) -> Mesh:
    return Mesh(mesh.vertices + np.asarray(offset, float), mesh.faces, mesh.uv, mesh.faces_uv)


def align_to_truth(pred: Mesh, truth: Mesh) -> Mesh:
    """The prediction translated so that its area-weighted centroid matches the truth's in x and y,
    and its lowest point the truth's in z (see the module's docstring)."""
    dx, dy = (area_centroid(truth) - area_centroid(pred))[:2]
    dz = truth.vertices[:, 2].min() - pred.vertices[:, 2].min()
    return translated(pred, [dx, dy, dz])


def surface_samples(mesh: Mesh, count: int = SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` points uniformly distributed over the surface's area, and the face each lies on.
    The same mesh and seed give the same points."""
    rng = np.random.default_rng(seed)
    a = face_areas(mesh)
    faces = rng.choice(len(a), size=count, p=a / a.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)  # uniform barycentrics
    return np.einsum("nk,nkd->nd", w, mesh.vertices[mesh.faces[faces]]), faces


def distance_to_surface(points: np.ndarray, mesh: Mesh, mesh_samples: np.ndarray, sample_faces: np.ndarray,
                        candidates: int = 16) -> np.ndarray:
    """Distance from each point to the mesh's surface: the nearest point on any of the triangles that
    the point's `candidates` nearest surface samples lie on (exact when the samples are dense
    enough that the nearest triangle is among them, as 20k samples on a body are)."""
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point

    k = min(candidates, len(mesh_samples))
    _, idx = cKDTree(mesh_samples).query(points, k=k)
    idx = idx.reshape(len(points), k)
    tri = mesh.vertices[mesh.faces[sample_faces[idx]]].reshape(-1, 3, 3)
    nearest = closest_point(tri, np.repeat(points, k, axis=0))
    d = np.linalg.norm(nearest - np.repeat(points, k, axis=0), axis=1).reshape(len(points), k)
    return d.min(axis=1)


def chamfer_cm(pred: Mesh, truth: Mesh, samples: int = SAMPLES, seed: int = 0) -> float:
    """Symmetric Chamfer distance in cm: the mean of (mean distance from the prediction's surface samples
    to the truth's surface) and (the same from the truth to the prediction); `samples` area-uniform
    points on each. Both meshes as given (align first)."""
    pa, fa = surface_samples(pred, samples, seed)
    pb, fb = surface_samples(truth, samples, seed)
    forward = distance_to_surface(pa, truth, pb, fb).mean()
    backward = distance_to_surface(pb, pred, pa, fa).mean()
    return float(50.0 * (forward + backward))


def _box(meshes) -> tuple[np.ndarray, np.ndarray]:
    v = np.concatenate([m.vertices for m in meshes])
    return v.min(axis=0), v.max(axis=0)


def side_silhouette_iou(pred: Mesh, truth: Mesh, resolution: int = 384) -> float:
    """Mean IoU of the two meshes' silhouettes from azimuth 90 and 270 (the person's left and right
    sides), orthographic cameras framing both meshes' joint bounding box with a 5 % margin, square
    `resolution` px images. (Orthographic views from opposite sides are mirror images, so the two
    IoUs agree up to rasterisation; the mean keeps the protocol symmetric.)"""
    lo, hi = _box([pred, truth])
    extent = 1.05 * max(hi[1] - lo[1], hi[2] - lo[2])
    ious = []
    for az in (90.0, 270.0):
        cam = orbit_camera(az, 0.0, target=(lo + hi) / 2, extent_m=extent, resolution=resolution,
                           projection=ORTHOGRAPHIC)
        a, b = (m.mask for m in render_maps(pred, [cam], backend="cpu") + render_maps(truth, [cam], backend="cpu"))
        ious.append(mask_iou(a, b))
    return float(np.mean(ious))


def front_back_cameras(lo: np.ndarray, hi: np.ndarray, pixel_m: float) -> tuple[Camera, Camera]:
    """Orthographic cameras from the front (-Y) and the back (+Y) over the box's x-z extent, `pixel_m`
    pixels, column c of the back view seeing the same x as column W-1-c of the front view."""
    centre = (lo + hi) / 2
    w = int(np.ceil((hi[0] - lo[0]) / pixel_m)) + 2
    h = int(np.ceil((hi[2] - lo[2]) / pixel_m)) + 2
    f = 1.0 / pixel_m
    out = []
    for sign, name in ((-1.0, "front"), (1.0, "back")):
        eye = centre + np.array([0.0, sign * (hi[1] - lo[1] + 1.0), 0.0])
        out.append(Camera(look_at(eye, centre), w, h, f, f, w / 2, h / 2, ORTHOGRAPHIC, name))
    return out[0], out[1]


def thickness_map(mesh: Mesh, front: Camera, back: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thickness, z, covered) per front-view pixel: the mesh's extent along Y on that line of sight
    (the farthest back surface minus the nearest front surface), the pixel's height, and whether the
    mesh is there."""
    mf, mb = render_maps(mesh, [front, back], backend="cpu")
    back_pos, back_mask = mb.position[:, ::-1], mb.mask[:, ::-1]  # the back view mirrored onto the front's
    covered = mf.mask & back_mask
    thickness = np.where(covered, back_pos[..., 1] - mf.position[..., 1], 0.0)
    return thickness, mf.position[..., 2], covered


def slab_thickness_profile(mesh: Mesh, slabs: int, slab_m: float = SLAB_M, pixel_m: float = 0.005,
                           box: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Mean front-to-back thickness (metres) of the mesh in each horizontal slab [k, k+1) * slab_m,
    k = 0 .. slabs-1: the mean, over the pixels of a `pixel_m` orthographic front view whose line of
    sight meets the mesh within the slab's heights, of the mesh's extent along Y on that line of sight
    (so: the mean over x-columns and heights of the y-extent). 0 for a slab the mesh does not reach."""
    lo, hi = box if box is not None else (mesh.vertices.min(axis=0), mesh.vertices.max(axis=0))
    lo = np.array([lo[0], lo[1], 0.0 if lo[2] >= 0 else lo[2]])
    front, back = front_back_cameras(lo, hi, pixel_m)
    thickness, z, covered = thickness_map(mesh, front, back)
    slab = np.floor(z / slab_m).astype(int)
    out = np.zeros(slabs)
    for k in range(slabs):
        sel = covered & (slab == k)
        if sel.any():
            out[k] = thickness[sel].mean()
    return out


def slab_thickness_error_cm(pred: Mesh, truth: Mesh, slab_m: float = SLAB_M, pixel_m: float = 0.005) -> float:
    """Mean absolute difference in cm between the two meshes' slab thickness profiles
    (`slab_thickness_profile`, the same front view over both meshes' joint box), over the slabs from
    z = 0 up to the taller mesh's top that either mesh reaches (a missing slab counts as 0 thick)."""
    box = _box([pred, truth])
    slabs = int(np.ceil(box[1][2] / slab_m))
    a = slab_thickness_profile(pred, slabs, slab_m, pixel_m, box)
    b = slab_thickness_profile(truth, slabs, slab_m, pixel_m, box)
    used = (a > 0) | (b > 0)
    return float(100.0 * np.abs(a - b)[used].mean())


def front_silhouette_iou(mesh: Mesh, camera: Camera, mask: np.ndarray) -> float:
    """IoU of the mesh's silhouette through `camera` (e.g. the prediction's own input camera, in the
    photo's pixels) with `mask` (the photo's true person mask, same size)."""
    if mask.shape != (camera.height, camera.width):
        raise ValueError(f"mask is {mask.shape[::-1]} but the camera is {camera.width}x{camera.height}")
    return mask_iou(render_maps(mesh, [camera], backend="cpu")[0].mask, mask)
