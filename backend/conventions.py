"""The project's one set of conventions (see docs/conventions.md).

World frame = Blender's: metres, Z up, the person stands on z = 0, centred on the Z
axis, facing -Y (what Blender's Front view shows).

Cameras orbit the Z axis. Azimuth 0 is the front camera (on -Y, looking +Y); azimuth
theta puts the camera at (sin theta, -cos theta, 0) * r, so +90 deg is Blender's Right
view (camera on +X, looking -X), which sees the person's left side. Elevation raises the
camera above the orbit plane and tilts it down toward the target.

Camera frame: x right, y up, the camera looks down its -z (as Blender and OpenGL).

Images: row 0 at the top. Continuous pixel coordinates (u right, v down) put pixel
(row r, column c) over [c, c+1) x [r, r+1), so its centre is (c + 0.5, r + 0.5).

UVs: (0, 0) at the bottom-left of the texture, as in Blender and glTF, so texel row
r of an image holds v = 1 - (r + 0.5) / height.

Normal maps: camera space (x right, y up, z toward the camera), stored as (n + 1) / 2.
Any model that wants another convention converts at its own door.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ORTHOGRAPHIC = "orthographic"
PERSPECTIVE = "perspective"

UP = np.array([0.0, 0.0, 1.0])
FRONT_VIEW_DIRECTION = np.array([0.0, 1.0, 0.0])  # the front camera looks along +Y
DEFAULT_HEIGHT_M = 1.7


def orbit_position(azimuth_deg: float, elevation_deg: float = 0.0, radius: float = 1.0) -> np.ndarray:
    """Camera position on the orbit around the Z axis, relative to the orbit's target."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return radius * np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), np.sin(el)])


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """4x4 world-to-camera matrix of a camera at `eye` looking at `target`, world Z kept up.

    Rows of the rotation are the camera's x (right), y (up) and z (backward) axes in world
    coordinates; the camera looks down its -z.
    """
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    backward = eye - target
    backward /= np.linalg.norm(backward)
    right = np.cross(UP, backward)
    if np.linalg.norm(right) < 1e-9:  # looking straight down or up: keep +X as right
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(backward, right)
    m = np.eye(4)
    m[:3, :3] = np.stack([right, up, backward])
    m[:3, 3] = -m[:3, :3] @ eye
    return m


@dataclass(frozen=True)
class Camera:
    """A pinhole or orthographic camera with its image size.

    world_to_camera: 4x4 (camera frame x right, y up, looking down -z).
    Orthographic: u = fx * x + cx, v = -fy * y + cy (fx, fy in pixels per metre).
    Perspective:  u = fx * x / -z + cx, v = -fy * y / -z + cy (fx, fy in pixels).
    """

    world_to_camera: np.ndarray
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    projection: str = ORTHOGRAPHIC
    name: str = ""
    azimuth_deg: float | None = None
    elevation_deg: float | None = None
    extras: dict = field(default_factory=dict, compare=False)

    @property
    def rotation(self) -> np.ndarray:
        return self.world_to_camera[:3, :3]

    @property
    def position(self) -> np.ndarray:
        r, t = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return -r.T @ t

    @property
    def forward(self) -> np.ndarray:
        """Unit viewing direction in world coordinates (the camera's -z)."""
        return -self.world_to_camera[2, :3]

    def intrinsics(self) -> np.ndarray:
        """3x3 K with the y flip folded in: [u, v, 1] ~ K @ [x, y, 1] (ortho) or K @ [x, y, -z]."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, -self.fy, self.cy], [0.0, 0.0, 1.0]])

    def world_to_pixel(self) -> np.ndarray:
        """3x4 matrix taking homogeneous world points to homogeneous pixel coordinates.

        Orthographic: the third row is (0, 0, 0, 1), so the result is (u, v, 1) directly.
        Perspective: divide by the third component (the point's depth in front of the camera).
        """
        rt = self.world_to_camera[:3, :]
        if self.projection == ORTHOGRAPHIC:
            k = self.intrinsics()
            p = np.zeros((3, 4))
            p[:2] = k[:2, :2] @ rt[:2] + np.outer(k[:2, 2], [0, 0, 0, 1])
            p[2] = [0, 0, 0, 1]
            return p
        flip_z = np.diag([1.0, 1.0, -1.0])  # depth in front of the camera is -z
        return self.intrinsics() @ flip_z @ rt

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        return points @ self.rotation.T + self.world_to_camera[:3, 3]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> continuous pixel coordinates (N, 2) and depth (N,).

        Depth is the distance in front of the camera along its viewing axis (-z), in metres.
        """
        pc = self.to_camera(points)
        depth = -pc[:, 2]
        if self.projection == ORTHOGRAPHIC:
            u = self.fx * pc[:, 0] + self.cx
            v = -self.fy * pc[:, 1] + self.cy
        else:
            safe = np.where(np.abs(depth) < 1e-12, 1e-12, depth)
            u = self.fx * pc[:, 0] / safe + self.cx
            v = -self.fy * pc[:, 1] / safe + self.cy
        return np.stack([u, v], axis=1), depth

    def rays(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ray origins and unit directions (N, 3) in world space through continuous pixel coordinates (N, 2)."""
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        x = (uv[:, 0] - self.cx) / self.fx
        y = -(uv[:, 1] - self.cy) / self.fy
        r = self.rotation
        if self.projection == ORTHOGRAPHIC:
            origins = self.position + x[:, None] * r[0] + y[:, None] * r[1]
            return origins, np.broadcast_to(self.forward, origins.shape).copy()
        d = x[:, None] * r[0] + y[:, None] * r[1] - r[2]
        return np.broadcast_to(self.position, d.shape).copy(), d / np.linalg.norm(d, axis=1, keepdims=True)

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Ray origins and unit directions (H, W, 3) in world space through every pixel centre."""
        v, u = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64) + 0.5
        x = (u - self.cx) / self.fx
        y = -(v - self.cy) / self.fy
        r = self.rotation
        if self.projection == ORTHOGRAPHIC:
            origins = self.position + x[..., None] * r[0] + y[..., None] * r[1]
            dirs = np.broadcast_to(self.forward, origins.shape).copy()
        else:
            d = x[..., None] * r[0] + y[..., None] * r[1] - r[2]
            dirs = d / np.linalg.norm(d, axis=-1, keepdims=True)
            origins = np.broadcast_to(self.position, dirs.shape).copy()
        return origins, dirs

    def scaled(self, factor: float) -> Camera:
        """The same camera with its image resized by `factor` (pixel grid kept aligned)."""
        return Camera(
            self.world_to_camera, round(self.width * factor), round(self.height * factor),
            self.fx * factor, self.fy * factor, self.cx * factor, self.cy * factor,
            self.projection, self.name, self.azimuth_deg, self.elevation_deg, dict(self.extras),
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "projection": self.projection,
            "width": self.width,
            "height": self.height,
            "fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
            "azimuth_deg": self.azimuth_deg,
            "elevation_deg": self.elevation_deg,
            "world_to_camera": self.world_to_camera.tolist(),
            "world_to_pixel": self.world_to_pixel().tolist(),
        }

    @staticmethod
    def from_json(d: dict) -> Camera:
        return Camera(
            np.array(d["world_to_camera"], dtype=np.float64), int(d["width"]), int(d["height"]),
            float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]),
            d.get("projection", ORTHOGRAPHIC), d.get("name", ""),
            d.get("azimuth_deg"), d.get("elevation_deg"),
        )


def orbit_camera(
    azimuth_deg: float,
    elevation_deg: float = 0.0,
    *,
    target: np.ndarray,
    extent_m: float,
    resolution: int,
    distance_m: float = 10.0,
    projection: str = ORTHOGRAPHIC,
    name: str = "",
) -> Camera:
    """A square camera on the orbit, looking at `target`, framing `extent_m` metres edge to edge.

    Perspective cameras get the focal length that frames `extent_m` at the target's distance.
    """
    eye = np.asarray(target, float) + orbit_position(azimuth_deg, elevation_deg, distance_m)
    w2c = look_at(eye, target)
    f = resolution / extent_m
    if projection == PERSPECTIVE:
        f *= distance_m
    c = resolution / 2.0
    name = name or f"az{azimuth_deg:+.0f}_el{elevation_deg:+.0f}"
    return Camera(w2c, resolution, resolution, f, f, c, c, projection, name, float(azimuth_deg), float(elevation_deg))


FULL_FRAME_DIAGONAL_MM = float(np.hypot(36.0, 24.0))  # 43.27 mm: what a "35 mm equivalent" focal length refers to


def focal_px_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a lens given as a full-frame (35 mm) equivalent, on a width x height image."""
    return float(focal_35mm * np.hypot(width, height) / FULL_FRAME_DIAGONAL_MM)


def portrait_camera(height_m: float, width: int, height: int, *, focal_35mm: float = 50.0, fill: float = 0.8,
                    eye_height: float = 0.5, shift_px: tuple[float, float] = (0.0, 0.0), name: str = "photo") -> Camera:
    """A photographer's camera on a person standing at the origin: a level pinhole in front (-Y).

    `focal_35mm`: the lens as a full-frame equivalent (on the 43.27 mm diagonal); the distance is
    chosen so that the person spans `fill` of the frame's height; the camera stands at
    `eye_height` of the person's height; `shift_px` moves the principal point (an off-centre crop).
    """
    f = focal_px_from_35mm(focal_35mm, width, height)
    distance = f * height_m / (fill * height)
    zc = eye_height * height_m
    w2c = look_at(np.array([0.0, -distance, zc]), np.array([0.0, 0.0, zc]))
    return Camera(w2c, width, height, f, f, width / 2 + shift_px[0], height / 2 + shift_px[1], PERSPECTIVE, name,
                  0.0, 0.0)


# --- images, UVs and normal maps --------------------------------------------------------


def pixel_centers(width: int, height: int) -> np.ndarray:
    """(H, W, 2) continuous (u, v) coordinates of every pixel centre."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    return np.stack([u, v], axis=-1)


def uv_to_texel(uv: np.ndarray, size: int) -> np.ndarray:
    """UV (0,0 bottom-left) -> continuous texel coordinates (x right, y down) of a size^2 image."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([uv[..., 0] * size, (1.0 - uv[..., 1]) * size], axis=-1)


def texel_to_uv(xy: np.ndarray, size: int) -> np.ndarray:
    """Inverse of uv_to_texel."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([xy[..., 0] / size, 1.0 - xy[..., 1] / size], axis=-1)


def encode_normals(n: np.ndarray) -> np.ndarray:
    """Unit camera-space normals in [-1, 1] -> stored values (n + 1) / 2 in [0, 1]."""
    return (np.asarray(n) + 1.0) * 0.5


def decode_normals(stored: np.ndarray) -> np.ndarray:
    """Stored (n + 1) / 2 values (float in [0, 1], or uint8/uint16) -> unit normals."""
    stored = np.asarray(stored)
    if stored.dtype == np.uint8:
        stored = stored.astype(np.float64) / 255.0
    elif stored.dtype == np.uint16:
        stored = stored.astype(np.float64) / 65535.0
    n = stored * 2.0 - 1.0
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    return n / np.maximum(norm, 1e-12)


def world_normals_to_camera(normals: np.ndarray, camera: Camera) -> np.ndarray:
    """World-space normals (..., 3) -> the camera's frame (x right, y up, z toward the camera)."""
    return np.asarray(normals) @ camera.rotation.T
