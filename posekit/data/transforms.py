"""Affine crops for top-down pose estimation, and the training augmentations.

Coordinates are continuous pixels with pixel centres at integers (the convention of
``cv2.warpAffine``): pixel ``i`` covers ``[i - 0.5, i + 0.5]``. A crop of ``size (w, h)``
around ``center`` maps the box edges ``center +- size/2`` onto the output edges
``-0.5`` and ``out - 0.5``, so the mapping is exact at every scale and has no half-pixel
bias (the bias that UDP discusses).
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def box_to_center_size(boxes: np.ndarray, aspect: float, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` xyxy -> centres ``(N, 2)`` and crop sizes ``(N, 2)`` (w, h).

    The box is enlarged to the crop aspect ratio ``aspect = w / h`` (keeping its centre)
    and then padded by ``padding`` (SimpleBaseline/HRNet use 1.25).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    w, h = np.where(w > aspect * h, w, aspect * h), np.where(w > aspect * h, w / aspect, h)
    return center, np.stack([w, h], axis=1) * padding


def crop_affine(center: np.ndarray, size: np.ndarray, output_size: tuple[int, int],
                rotation_deg: float = 0.0) -> np.ndarray:
    """The 2x3 matrix mapping image pixels to crop pixels.

    ``center (2,)`` and ``size (2,)`` (w, h) describe the crop region in the image;
    ``output_size`` is (w, h) of the crop; the crop is rotated by ``rotation_deg``
    counter-clockwise (as seen in the image) about ``center``.
    """
    out_w, out_h = output_size
    sx, sy = out_w / float(size[0]), out_h / float(size[1])
    a = math.radians(rotation_deg)
    cos, sin = math.cos(a), math.sin(a)
    # x' = S R (x - c) + (out - 1)/2, with R rotating image content by +a (y axis down)
    rot = np.array([[cos, sin], [-sin, cos]])
    lin = np.diag([sx, sy]) @ rot
    offset = np.array([(out_w - 1) / 2.0, (out_h - 1) / 2.0]) - lin @ np.asarray(center, np.float64)
    return np.concatenate([lin, offset[:, None]], axis=1)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (or a stack ``(N, 2, 3)``)."""
    m = np.asarray(matrix, np.float64)
    lin_inv = np.linalg.inv(m[..., :2])
    return np.concatenate([lin_inv, -(lin_inv @ m[..., 2:])], axis=-1)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map ``points (..., K, 2)`` through ``matrix`` (2x3, or ``(..., 2, 3)`` matching the leading dims)."""
    m = np.asarray(matrix, np.float64)
    p = np.asarray(points, np.float64)
    return p @ np.swapaxes(m[..., :2], -1, -2) + m[..., None, :, 2]


def warp(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Crop ``image (H, W, C)`` through ``matrix`` into ``output_size`` (w, h); bilinear, zero border."""
    return cv2.warpAffine(image, matrix.astype(np.float64), (int(output_size[0]), int(output_size[1])),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def flip_matrix(width: int) -> np.ndarray:
    """2x3 matrix of a horizontal flip of a ``width``-pixel-wide image: ``x' = width - 1 - x``."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


def compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``second o first``."""
    a = np.vstack([second, [0, 0, 1]]) @ np.vstack([first, [0, 0, 1]])
    return a[:2]


def color_jitter(image: np.ndarray, rng: np.random.Generator, strength: float = 0.3) -> np.ndarray:
    """Random brightness/contrast/saturation change of an RGB uint8 image."""
    img = image.astype(np.float32)
    gray = img.mean(axis=2, keepdims=True)
    sat = 1 + rng.uniform(-strength, strength)
    img = gray + (img - gray) * sat
    contrast = 1 + rng.uniform(-strength, strength)
    img = (img - img.mean()) * contrast + img.mean()
    img = img * (1 + rng.uniform(-strength, strength))
    return np.clip(img, 0, 255).astype(np.uint8)
