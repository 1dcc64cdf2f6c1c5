"""The backend's cameras on the add-on side: the view set, its framing, and Blender camera settings.

A few lines of NumPy that mirror ``backend/conventions.py`` (``look_at``, ``orbit_camera``,
``Camera.to_json``) and ``backend/view_schedule.py`` (``DEFAULT_VIEWS``, ``framing``), so that
Blender never imports the backend package. tests/test_blender_units.py holds the two
together. No ``bpy`` here: cameras are plain dicts in the backend's ``Camera.to_json()`` form.

Both sides use the same camera frame (x right, y up, looking down -z), so a camera's Blender
``matrix_world`` is simply ``inverse(world_to_camera)``.
"""

from __future__ import annotations

import math

import numpy as np

ORTHOGRAPHIC = "orthographic"
PERSPECTIVE = "perspective"
UP = np.array([0.0, 0.0, 1.0])

# backend/view_schedule.py: the paper's eight views, then four from above/below. The first one (the
# front, azimuth 0) is the photo's own view: the backend renders it through the input camera.
PAPER_VIEWS = ((0, 0), (180, 0), (45, 0), (-45, 0), (90, 0), (-90, 0), (135, 0), (-135, 0))
COVER_VIEWS = ((0, 60), (180, 60), (0, -60), (180, -60))
DEFAULT_VIEWS = PAPER_VIEWS + COVER_VIEWS
VIEW_RESOLUTION = 512  # every preset's view_resolution (backend/presets.py)
CAMERA_DISTANCE_M = 10.0
FRAMING_MARGIN = 1.04


def view_name(azimuth_deg: float, elevation_deg: float = 0.0) -> str:
    """backend.view_schedule.View.name, e.g. ``az+045_el+00``."""
    return f"az{azimuth_deg:+04.0f}_el{elevation_deg:+03.0f}"


def orbit_position(azimuth_deg: float, elevation_deg: float = 0.0, radius: float = 1.0) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return radius * np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])


def look_at(eye, target) -> np.ndarray:
    """4x4 world-to-camera matrix of a camera at ``eye`` looking at ``target``, world Z kept up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    backward = eye - target
    backward /= np.linalg.norm(backward)
    right = np.cross(UP, backward)
    if np.linalg.norm(right) < 1e-9:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(backward, right)
    m = np.eye(4)
    m[:3, :3] = np.stack([right, up, backward])
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def world_to_pixel(cam: dict) -> np.ndarray:
    """3x4 matrix of Camera.world_to_pixel() (backend/conventions.py)."""
    w2c = np.asarray(cam["world_to_camera"], float)
    k = np.array([[cam["fx"], 0.0, cam["cx"]], [0.0, -cam["fy"], cam["cy"]], [0.0, 0.0, 1.0]])
    rt = w2c[:3, :]
    if cam.get("projection", ORTHOGRAPHIC) == ORTHOGRAPHIC:
        p = np.zeros((3, 4))
        p[:2] = k[:2, :2] @ rt[:2] + np.outer(k[:2, 2], [0, 0, 0, 1])
        p[2] = [0, 0, 0, 1]
        return p
    return k @ np.diag([1.0, 1.0, -1.0]) @ rt


def camera_for_moved_mesh(cam: dict, matrix, shift) -> dict | None:
    """``cam``, made for a mesh in its object's own frame, for the same mesh moved by ``matrix`` (the
    object's matrix_world) and then by ``shift``: the pixels it sees stay the same. A uniform scale
    moves the camera with it (a pinhole sees a scaled scene from a scaled place alike; an orthographic
    camera takes fewer pixels per metre). None for a mirrored or unevenly scaled object: the backend
    then fits a camera of its own."""
    m = np.asarray(matrix, float).copy()
    m[:3, 3] += np.asarray(shift, float)
    scale = abs(np.linalg.det(m[:3, :3])) ** (1.0 / 3.0)
    q = m[:3, :3] / max(scale, 1e-12)
    if scale < 1e-9 or not np.allclose(q.T @ q, np.eye(3), atol=1e-5) or np.linalg.det(q) < 0:
        return None
    # Camera coordinates times `scale`: the camera's frame stays rigid.
    w2c = np.diag([scale, scale, scale, 1.0]) @ np.asarray(cam["world_to_camera"], float) @ np.linalg.inv(m)
    moved = dict(cam, world_to_camera=w2c.tolist())
    if cam.get("projection", ORTHOGRAPHIC) == ORTHOGRAPHIC:
        moved["fx"], moved["fy"] = cam["fx"] / scale, cam["fy"] / scale
    moved["world_to_pixel"] = world_to_pixel(moved).tolist()
    return moved


def make_camera(world_to_camera, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                projection: str = ORTHOGRAPHIC, name: str = "", azimuth_deg=None, elevation_deg=None) -> dict:
    """A camera in the backend's ``Camera.to_json()`` form."""
    cam = {
        "name": name, "projection": projection, "width": int(width), "height": int(height),
        "fx": float(fx), "fy": float(fy), "cx": float(cx), "cy": float(cy),
        "azimuth_deg": None if azimuth_deg is None else float(azimuth_deg),
        "elevation_deg": None if elevation_deg is None else float(elevation_deg),
        "world_to_camera": np.asarray(world_to_camera, float).tolist(),
    }
    cam["world_to_pixel"] = world_to_pixel(cam).tolist()
    return cam


def framing(vertices) -> tuple[np.ndarray, float]:
    """backend.view_schedule.framing: orbit target at mid-height on the Z axis, square extent fitting any side."""
    v = np.asarray(vertices, float)
    lo, hi = v.min(axis=0), v.max(axis=0)
    target = np.array([0.0, 0.0, (lo[2] + hi[2]) / 2.0])
    radius = float(np.linalg.norm(v - target, axis=1).max())
    return target, 2.0 * radius * FRAMING_MARGIN


def orbit_camera(azimuth_deg: float, elevation_deg: float, *, target, extent_m: float, resolution: int,
                 distance_m: float = CAMERA_DISTANCE_M, name: str = "") -> dict:
    """backend.conventions.orbit_camera for orthographic cameras."""
    eye = np.asarray(target, float) + orbit_position(azimuth_deg, elevation_deg, distance_m)
    f = resolution / extent_m
    c = resolution / 2.0
    return make_camera(look_at(eye, target), resolution, resolution, f, f, c, c, ORTHOGRAPHIC,
                       name or view_name(azimuth_deg, elevation_deg), azimuth_deg, elevation_deg)


def view_cameras(vertices, views=DEFAULT_VIEWS[1:], resolution: int = VIEW_RESOLUTION) -> list[dict]:
    """backend.view_schedule.view_cameras(mesh, views, resolution) for (azimuth, elevation) pairs."""
    target, extent = framing(vertices)
    return [orbit_camera(az, el, target=target, extent_m=extent, resolution=resolution) for az, el in views]


def blender_camera_settings(cam: dict) -> dict:
    """What a Blender camera needs to see exactly what ``cam`` sees.

    matrix_world = inverse(world_to_camera) (same camera frame on both sides). Orthographic:
    ``ortho_scale`` is the image's larger side in metres; ``shift_x/y`` (in units of that
    side) move the image centre to where the principal point (cx, cy) puts it. Perspective:
    ``lens`` for a sensor as wide as the larger side. Assumes square pixels (fx == fy).
    """
    w, h = int(cam["width"]), int(cam["height"])
    fx = float(cam["fx"])
    side = max(w, h)
    w2c = np.asarray(cam["world_to_camera"], float)
    out = {"matrix_world": np.linalg.inv(w2c), "resolution": (w, h), "projection": cam.get("projection", ORTHOGRAPHIC)}
    # Image centre relative to the principal point, in pixels; +y is up in Blender's shift.
    dx, dy = w / 2.0 - float(cam["cx"]), float(cam["cy"]) - h / 2.0
    out["shift_x"], out["shift_y"] = dx / side, dy / side
    if out["projection"] == ORTHOGRAPHIC:
        out["ortho_scale"] = side / fx
    else:
        out["sensor_width"] = 36.0
        out["lens"] = fx * 36.0 / side
    return out
