"""Per-person annotations: keypoint visibility from the z-buffer and COCO fields.

Visibility rule (REFERENCE-SYNTHETIC 4.6), COCO codes:
  * v = 0 if the point lies behind the camera or projects outside the image
    (x < -0.5 or x >= W - 0.5, same for y); its COCO x = y = 0;
  * else, with zbuf the depth rendered at the point's pixel,
    v = 2 if zbuf >= z_point - 1.3 * r_point - 0.01 m, otherwise v = 1,
    where r_point is the local body radius around the point. One rule covers
    self-occlusion, other people and occluders.

Small-person policy (as COCO): a person whose mask area is < 32^2 px or who has fewer than
4 labelled (v > 0) COCO keypoints gets ``num_keypoints = 0`` and all 17 keypoints (0, 0, 0),
so COCOeval ignores it; the extras (``joints_2d_all``, ``vis_all``, 3D) stay complete.

Boxes follow COCO: ``bbox`` = pycocotools ``toBbox`` of the mask ([x, y, w, h] where the
pixel with index c spans [c, c + 1)); keypoints use pixel centres at integers, so a point at
the centre of pixel c has coordinate c (as in posekit everywhere).
"""
from __future__ import annotations

import numpy as np

from . import rle
from .points import COCO17_FROM_SYNTH

VIS_RADIUS_FACTOR = 1.3
VIS_MARGIN_M = 0.01
SMALL_AREA = 32 * 32
MIN_LABELLED = 4


def visibility(points_cam: np.ndarray, radius: np.ndarray, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """COCO visibility (N,) int for points (N, 3) in camera coordinates projecting to ``uv``
    (N, 2) pixels, with local body radius (N,) metres, against the z-buffer (H, W)."""
    h, w = depth.shape
    ix = np.floor(uv[:, 0] + 0.5)
    iy = np.floor(uv[:, 1] + 0.5)
    inside = (points_cam[:, 2] > 1e-6) & (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    vis = np.zeros(len(points_cam), np.int64)
    if inside.any():
        zb = depth[iy[inside].astype(np.intp), ix[inside].astype(np.intp)]
        z = points_cam[inside, 2]
        unoccluded = zb >= z - VIS_RADIUS_FACTOR * radius[inside] - VIS_MARGIN_M
        vis[inside] = np.where(unoccluded, 2, 1)
    return vis


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO [x, y, w, h] of a non-empty boolean mask (pixel c spans [c, c + 1))."""
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


def coco_keypoints(uv: np.ndarray, vis: np.ndarray) -> tuple[list[float], int]:
    """Flat COCO keypoints (17 * 3) and num_keypoints from superset uv (30, 2) and vis (30,)."""
    kp_uv = uv[COCO17_FROM_SYNTH]
    kp_v = vis[COCO17_FROM_SYNTH]
    out = np.zeros((17, 3))
    lab = kp_v > 0
    out[lab, :2] = np.round(kp_uv[lab], 2)
    out[:, 2] = kp_v
    return out.ravel().tolist(), int(lab.sum())


def person_annotation(mask: np.ndarray, points_cam: np.ndarray, uv: np.ndarray, vis: np.ndarray,
                      amodal: tuple[float, float, float, float]) -> dict:
    """COCO person fields plus extras for one person; ``mask`` (H, W) bool must be non-empty.

    amodal: continuous (xmin, xmax, ymin, ymax) extent of the projected body (pixel-centre
    convention); written as ``bbox_amodal`` in the COCO box convention (+0.5).
    """
    area = int(mask.sum())
    keypoints, num = coco_keypoints(uv, vis)
    small = area < SMALL_AREA or num < MIN_LABELLED
    if small:
        keypoints, num = [0.0] * 51, 0
    front = points_cam[:, 2] > 1e-6
    uv_all = np.where(front[:, None], uv, 0.0)
    x0, x1, y0, y1 = amodal
    return {
        "category_id": 1,
        "iscrowd": 0,
        "area": area,
        "bbox": mask_bbox(mask),
        "segmentation": rle.encode(mask),
        "keypoints": keypoints,
        "num_keypoints": num,
        "small": bool(small),
        "bbox_amodal": [round(x0 + 0.5, 2), round(y0 + 0.5, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
        "keypoints_3d": np.round(points_cam[COCO17_FROM_SYNTH], 5).tolist(),
        "joints_3d_cam": np.round(points_cam, 5).tolist(),
        "joints_2d_all": np.round(uv_all, 3).tolist(),
        "vis_all": vis.astype(int).tolist(),
    }
