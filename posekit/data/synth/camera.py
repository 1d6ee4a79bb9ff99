"""Pinhole camera without distortion.

Camera frame follows OpenCV: x right, y down, z forward; ``X_cam = R @ X_world + t``.
Image coordinates are continuous with pixel centres at integers (as ``cv2.warpAffine``):
``x = fx * X / Z + cx``; the image centre of a W-wide image is at x = (W - 1) / 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORLD_UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Camera:
    """K (3, 3) intrinsics, R (3, 3) and t (3,) world-to-camera, image size in pixels."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @property
    def focal(self) -> float:
        return float(self.K[0, 0])

    @property
    def center(self) -> np.ndarray:
        """Camera position in world coordinates (3,)."""
        return -self.R.T @ self.t

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera coordinates."""
        return points_world @ self.R.T + self.t

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera points -> (..., 2) pixels. Points with Z <= 0 give meaningless values."""
        z = np.where(np.abs(points_cam[..., 2:3]) > 1e-9, points_cam[..., 2:3], 1e-9)
        uv = points_cam[..., :2] / z
        return uv * np.array([self.K[0, 0], self.K[1, 1]]) + np.array([self.K[0, 2], self.K[1, 2]])

    def to_json(self) -> dict:
        return {"cam_K": np.round(self.K, 6).tolist(), "cam_R": np.round(self.R, 8).tolist(),
                "cam_t": np.round(self.t, 6).tolist()}


def intrinsics(width: int, height: int, hfov_deg: float, principal_jitter: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """K for a horizontal field of view: f = W / (2 tan(hfov / 2)), square pixels."""
    f = width / (2.0 * np.tan(np.deg2rad(hfov_deg) / 2.0))
    cx = (width - 1) / 2.0 + principal_jitter[0]
    cy = (height - 1) / 2.0 + principal_jitter[1]
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray, roll_rad: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera (R, t) for a camera at ``eye`` looking at ``target`` with world y up,
    then rolled by ``roll_rad`` about its optical axis (positive = image rotates clockwise)."""
    fwd = np.asarray(target, float) - np.asarray(eye, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, WORLD_UP)
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.cross(fwd, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R
    return R, -R @ np.asarray(eye, float)
