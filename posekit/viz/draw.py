"""2D overlays: skeletons, keypoints and boxes drawn on RGB images with OpenCV."""
from __future__ import annotations

import cv2
import numpy as np

from posekit.skeletons import Skeleton


def draw_poses(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None, skeleton: Skeleton,
               boxes: np.ndarray | None = None, kpt_thr: float = 0.3, radius: int | None = None,
               thickness: int | None = None) -> np.ndarray:
    """Return a copy of the RGB ``image`` with poses drawn.

    ``keypoints (N, K, 2)`` image pixels; ``scores (N, K)`` (joints below ``kpt_thr`` are not
    drawn; ``None`` draws all); ``boxes (N, 4)`` xyxy, optional. Colours come from the skeleton.
    Line width and dot size scale with the image size unless given.
    """
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    scale = max(h, w) / 512
    radius = radius or max(2, int(round(3 * scale)))
    thickness = thickness or max(1, int(round(2 * scale)))
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, skeleton.num_keypoints, 2)
    ok = np.ones(keypoints.shape[:2], bool) if scores is None else np.asarray(scores) >= kpt_thr
    ok &= np.isfinite(keypoints).all(axis=2)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    fixed = np.round(keypoints * (1 << shift)).astype(np.int64)
    if boxes is not None:
        for b in np.asarray(boxes, np.float64).reshape(-1, 4):
            p1 = tuple(int(v) for v in np.round(b[:2] * (1 << shift)))
            p2 = tuple(int(v) for v in np.round(b[2:] * (1 << shift)))
            cv2.rectangle(out, p1, p2, (255, 255, 255), max(1, thickness // 2), cv2.LINE_AA, shift)
    for n in range(len(keypoints)):
        for (a, b), color in zip(skeleton.link_indices, skeleton.link_colors):
            if ok[n, a] and ok[n, b]:
                cv2.line(out, tuple(map(int, fixed[n, a])), tuple(map(int, fixed[n, b])),
                         tuple(int(c) for c in color), thickness, cv2.LINE_AA, shift)
        for j, color in enumerate(skeleton.keypoint_colors):
            if ok[n, j]:
                cv2.circle(out, tuple(map(int, fixed[n, j])), radius << shift,
                           tuple(int(c) for c in color), -1, cv2.LINE_AA, shift)
    return out
