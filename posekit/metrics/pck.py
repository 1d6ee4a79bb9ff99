"""Percentage of correct keypoints (PCK) with a per-instance normaliser.

A joint is correct when its normalised error ``||(pred - gt) / norm||`` is below the threshold.
Two choices decide the number and differ between the published evaluators
(REFERENCE-METRICS-FORMATS.md A2, A3 and trap 7):

- comparison: ``strict=True`` counts ``d < thr`` (MMPose ``keypoint_pck_accuracy``);
  ``strict=False`` counts ``d <= thr`` (official MPII MATLAB, LSP/FLIC ``eval_pck.m``);
- averaging: ``macro`` is the mean over keypoints of each keypoint's accuracy over its valid
  instances, keypoints without any valid instance left out (MMPose's ``PCK``); ``pooled`` is
  correct joints / valid joints over everything (MPII "Total", LSP/FLIC "Mean").

Box normalisation (MMPose ``norm_item='bbox'``) uses ``max(w, h)`` of the ground-truth box,
see :func:`bbox_norm`. Worked example (MMPose's test case): normalised errors
``[[0.01, 0.04, 0.10], [0.018, -, 0.18]]`` at 0.05 give per-keypoint ``[1, 1, 0]``, macro
0.6667 and pooled 0.6.

Instances whose normaliser is zero, negative or not finite are left out entirely (MMPose masks
zero norms but counts negative ones as correct; posekit does not guess). Errors are computed
in float64 (MMPose stores them as float32, which can flip a joint lying exactly on the
threshold).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PCKResult", "bbox_norm", "coco_pck", "head_norm", "normalized_errors", "pck", "torso_norm"]


@dataclass(frozen=True)
class PCKResult:
    """PCK at one threshold.

    - ``per_keypoint``: ``(K,)`` accuracy of each keypoint over its valid instances (NaN where a
      keypoint has none).
    - ``counts``: ``(K,)`` number of valid instances per keypoint.
    - ``macro``: mean of ``per_keypoint`` over keypoints with a valid instance (NaN if none).
    - ``pooled``: correct / valid over all joints (NaN if none).
    - ``strict``: whether ``<`` (True) or ``<=`` (False) was used; ``threshold``.
    """

    per_keypoint: np.ndarray
    counts: np.ndarray
    macro: float
    pooled: float
    strict: bool
    threshold: float


def bbox_norm(bbox_xywh: np.ndarray) -> np.ndarray:
    """``max(w, h)`` per box: ``(N, 4)`` ``[x, y, w, h]`` -> ``(N,)`` (MMPose's ``'bbox'`` norm)."""
    box = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    return np.maximum(box[:, 2], box[:, 3])


def torso_norm(gt: np.ndarray, skeleton, pair: tuple[str, str] = ("left_shoulder", "right_hip")) -> np.ndarray:
    """Torso size per instance: ``||gt[a] - gt[b]||`` of the joints named ``pair`` -> ``(N,)``.

    The default pair is the diagonal used by LSP/FLIC's PCK (Sapp & Taskar) and MMPose's
    ``norm_item='torso'`` (JHMDB l_shoulder, r_hip). ``skeleton`` is a
    :class:`~posekit.skeletons.Skeleton` or a name; ``gt`` is ``(N, K, 2)``. Instances where
    either joint is missing (NaN) get NaN and are then left out by :func:`normalized_errors`.
    """
    from posekit.skeletons import as_skeleton

    sk = as_skeleton(skeleton)
    a, b = sk.index(pair[0]), sk.index(pair[1])
    gt = np.asarray(gt, dtype=np.float64)
    return np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)


def head_norm(head_boxes: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """MPII head size per instance: ``factor * ||(x2, y2) - (x1, y1)||`` of ``(N, 4)`` head boxes
    (SC_BIAS = 0.6 in the official ``util_get_head_size.m``) -> ``(N,)``."""
    boxes = np.asarray(head_boxes, dtype=np.float64).reshape(-1, 4)
    return factor * np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=1)


def normalized_errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """``||(pred - gt) / norm||`` per joint: ``(N, K)`` float64, NaN where not valid, +inf
    where valid but the prediction is not finite.

    ``pred``, ``gt``: ``(N, K, 2)`` in the same pixel coordinates; ``mask``: ``(N, K)`` bool,
    the joints to score; ``norm``: ``(N,)`` (isotropic) or ``(N, 2)`` (per axis). A joint is
    valid when ``mask`` is set and its instance's normaliser is finite and positive.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    norm = np.asarray(norm, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f"pck: pred {pred.shape} and gt {gt.shape} must both be (N, K, 2)")
    n, k, _ = pred.shape
    if mask.shape != (n, k):
        raise ValueError(f"pck: mask must be (N, K) = {(n, k)}, got {mask.shape}")
    if norm.shape == (n,):
        norm = np.repeat(norm[:, None], 2, axis=1)
    if norm.shape != (n, 2):
        raise ValueError(f"pck: norm must be (N,) or (N, 2) with N = {n}, got {norm.shape}")
    good_norm = np.all(np.isfinite(norm) & (norm > 0), axis=1)
    valid = mask & good_norm[:, None]
    safe = np.where(good_norm[:, None], norm, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        dist = np.linalg.norm((pred - gt) / safe[:, None, :], axis=-1)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    return np.where(valid, dist, np.nan)


def pck(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray, thr: float,
        *, strict: bool = True) -> PCKResult:
    """PCK of ``pred`` against ``gt`` at threshold ``thr`` (see the module docstring).

    Shapes as in :func:`normalized_errors`. A prediction that is not finite counts as wrong.
    """
    dist = normalized_errors(pred, gt, mask, norm)
    valid = ~np.isnan(dist)
    with np.errstate(invalid="ignore"):
        correct = ((dist < thr) if strict else (dist <= thr)) & valid
    counts = valid.sum(axis=0)
    hits = correct.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_keypoint = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    scored = counts > 0
    macro = float(per_keypoint[scored].mean()) if scored.any() else float("nan")
    pooled = float(hits.sum() / counts.sum()) if counts.sum() else float("nan")
    return PCKResult(per_keypoint=per_keypoint, counts=counts, macro=macro, pooled=pooled,
                     strict=strict, threshold=float(thr))


def coco_pck(gt, results, thr: float, sigmas: np.ndarray | None = None, *,
             strict: bool = True, norm: str = "bbox", skeleton="coco17") -> tuple[PCKResult, int, int]:
    """Box-normalised PCK of COCO keypoint results against COCO ground truth.

    ``gt``: a :class:`~posekit.metrics.coco_eval.CocoGroundTruth`; ``results``: a
    :class:`~posekit.metrics.json_io.CocoResults`. Every non-crowd GT person with a labelled
    keypoint is scored against the result of its image with the highest OKS (``sigmas``); a
    person without any result counts as wrong on all its labelled joints. The normaliser is
    ``max(w, h)`` of the GT box (``norm="bbox"``, MMPose ``norm_item='bbox'``) or the GT torso
    diagonal of ``skeleton`` (``norm="torso"``, see :func:`torso_norm`; people without both
    joints labelled are left out). Returns the :class:`PCKResult`,
    the number of people scored and how many had no result.
    """
    from posekit.metrics.coco_eval import best_oks_match

    best = best_oks_match(gt, results, sigmas)
    people = np.flatnonzero(~gt.iscrowd & gt.visible.any(axis=1))
    pred = np.full((people.size,) + gt.keypoints.shape[1:], np.nan)
    found = best[people] >= 0
    pred[found] = results.keypoints[best[people][found]]
    if norm == "bbox":
        scale = bbox_norm(gt.bbox[people])
    elif norm == "torso":
        torso_gt = np.where(gt.visible[people][..., None], gt.keypoints[people], np.nan)
        scale = torso_norm(torso_gt, skeleton)
    else:
        raise ValueError(f"coco_pck: norm must be 'bbox' or 'torso', got {norm!r}")
    res = pck(pred, gt.keypoints[people], gt.visible[people], scale, thr, strict=strict)
    return res, int(people.size), int((~found).sum())
