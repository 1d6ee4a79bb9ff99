"""Object keypoint similarity (OKS), computed exactly as COCO's evaluator computes it.

Definition (COCO keypoint evaluation; pycocotools ``COCOeval.computeOks``, described in
REFERENCE-METRICS-FORMATS.md A1.2): for a ground truth with visibility flags ``v`` and area
``s`` (the JSON ``area`` field) and a detection with keypoints ``(xd, yd)``::

    e_i = (dx_i**2 + dy_i**2) / (2 sigma_i)**2 / (s + eps) / 2,   eps = np.spacing(1)
    OKS = mean over the labelled joints (v_i > 0) of exp(-e_i)

When the ground truth has no labelled joint (``k1 == 0``, only ignored annotations), ``dx_i`` is
the distance from the detected joint to the box twice the size of the GT box
``[x - w, x + 2w] x [y - h, y + 2h]`` (0 inside it) and the mean runs over all ``K`` joints. The
detection's own confidences and area are not used.

Coordinates are the file's pixel coordinates (any consistent convention works: only
differences enter). The functions reproduce pycocotools' float64 operations in the same order,
including numpy's pairwise summation over the compressed list of labelled joints, so the values
are bit-identical to ``computeOks`` -- which keeps threshold and tie decisions identical too.
"""
from __future__ import annotations

import numpy as np

__all__ = ["oks_matrix", "oks_pairs", "oks_reach_boxes"]

_EPS = np.spacing(1)


def _variances(sigmas: np.ndarray) -> np.ndarray:
    return (np.asarray(sigmas, dtype=np.float64) * 2) ** 2


def oks_pairs(
    dt_xy: np.ndarray,
    gt_xy: np.ndarray,
    gt_visible: np.ndarray,
    gt_area: np.ndarray,
    gt_bbox: np.ndarray,
    sigmas: np.ndarray,
    dt_index: np.ndarray,
    gt_index: np.ndarray,
    below: float | None = None,
) -> np.ndarray:
    """OKS of the pairs ``(dt_index[p], gt_index[p])``: ``(P,)`` float64.

    ``below``: when given, pairs whose OKS is provably lower than it are returned as 0.0
    without evaluating ``exp`` (the bound ``exp(-e) <= 1 / (1 + e + e**2 / 2)``, with a 1e-9
    relative margin); all other values are exact.

    - ``dt_xy``: ``(ND, K, 2)`` detected x, y; ``gt_xy``: ``(NG, K, 2)``.
    - ``gt_visible``: ``(NG, K)`` bool, ``v > 0``; ``gt_area``: ``(NG,)``; ``gt_bbox``: ``(NG, 4)``
      ``[x, y, w, h]`` (only read for ground truths without a labelled joint).
    - ``sigmas``: ``(K,)`` per-joint sigmas.
    """
    dt_index = np.asarray(dt_index, dtype=np.int64)
    gt_index = np.asarray(gt_index, dtype=np.int64)
    n_pairs = dt_index.shape[0]
    k = len(sigmas)
    out = np.empty(n_pairs, dtype=np.float64)
    if n_pairs == 0:
        return out
    variances = _variances(sigmas)
    k1 = gt_visible.sum(axis=1)
    # Order of the joints in pycocotools' compressed array e[vg > 0]: labelled joints first.
    joint_order = np.argsort(~gt_visible, axis=1, kind="stable")
    # Number of summed terms per pair (all K for a GT without labelled joints); pairs sorted by
    # it so that each count is one contiguous block.
    n_terms = np.where(k1 == 0, k, k1)[gt_index]
    perm = np.argsort(n_terms, kind="stable")
    chunk = max(1, 500_000 // max(k, 1))  # small blocks: temporaries are reused, not re-faulted
    for start in range(0, n_pairs, chunk):
        rows = perm[start:start + chunk]
        d = dt_index[rows]
        g = gt_index[rows]
        n = n_terms[rows]
        dxy = dt_xy[d]
        gxy = gt_xy[g]
        xd = dxy[:, :, 0]
        yd = dxy[:, :, 1]
        dx = xd - gxy[:, :, 0]
        dy = yd - gxy[:, :, 1]
        boxed = np.flatnonzero(k1[g] == 0)
        if boxed.size:
            bb = gt_bbox[g[boxed]]
            x0 = (bb[:, 0] - bb[:, 2])[:, None]
            x1 = (bb[:, 0] + bb[:, 2] * 2)[:, None]
            y0 = (bb[:, 1] - bb[:, 3])[:, None]
            y1 = (bb[:, 1] + bb[:, 3] * 2)[:, None]
            xb = xd[boxed]
            yb = yd[boxed]
            dx[boxed] = np.maximum(0, x0 - xb) + np.maximum(0, xb - x1)
            dy[boxed] = np.maximum(0, y0 - yb) + np.maximum(0, yb - y1)
        e = (dx ** 2 + dy ** 2) / variances / (gt_area[g] + _EPS)[:, None] / 2
        res = np.zeros(rows.shape[0], dtype=np.float64)
        if below is not None and below > 0:
            bound = 1.0 / (1.0 + e + 0.5 * e * e)
            labelled = gt_visible[g] | (k1[g] == 0)[:, None]
            reach = np.where(labelled, bound, 0.0).sum(axis=1) / n
            alive = np.flatnonzero(reach >= below * (1 - 1e-9))
            if alive.size < rows.shape[0]:
                e, n, g = e[alive], n[alive], g[alive]
        else:
            alive = None
        terms = np.exp(-e)
        # Pairs with 0 < k1 < K come first (n sorted): bring their labelled joints to the front,
        # in order, so that numpy's pairwise sum over the first n entries adds them exactly as
        # pycocotools' np.sum(e[vg > 0]) does.
        partial = int(np.searchsorted(n, k, side="left"))
        if partial:
            terms[:partial] = np.take_along_axis(terms[:partial], joint_order[g[:partial]], axis=1)
        values = np.empty(n.shape[0], dtype=np.float64)
        edges = np.flatnonzero(np.r_[True, n[1:] != n[:-1], True]) if n.size else np.zeros(1, dtype=np.int64)
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
            count = int(n[a])
            values[a:b] = np.ascontiguousarray(terms[a:b, :count]).sum(axis=1) / count
        if alive is None or alive.size == rows.shape[0]:
            res = values
        else:
            res[alive] = values
        out[rows] = res
    return out


def oks_matrix(
    dt_xy: np.ndarray,
    gt_xy: np.ndarray,
    gt_visible: np.ndarray,
    gt_area: np.ndarray,
    sigmas: np.ndarray,
    gt_bbox: np.ndarray | None = None,
) -> np.ndarray:
    """OKS between every detection and every ground truth of one image: ``(D, G)`` float64.

    Shapes as in :func:`oks_pairs` with ``D`` detections and ``G`` ground truths. ``gt_bbox``
    is needed only when some ground truth has no labelled joint.
    """
    dt_xy = np.asarray(dt_xy, dtype=np.float64)
    gt_xy = np.asarray(gt_xy, dtype=np.float64)
    gt_visible = np.asarray(gt_visible, dtype=bool)
    gt_area = np.asarray(gt_area, dtype=np.float64)
    d_count, g_count = dt_xy.shape[0], gt_xy.shape[0]
    if gt_bbox is None:
        if (gt_visible.sum(axis=1) == 0).any():
            raise ValueError("oks_matrix: a ground truth without labelled joints needs gt_bbox")
        gt_bbox = np.zeros((g_count, 4))
    di, gi = np.meshgrid(np.arange(d_count), np.arange(g_count), indexing="ij")
    values = oks_pairs(dt_xy, gt_xy, gt_visible, gt_area, np.asarray(gt_bbox, dtype=np.float64),
                       sigmas, di.ravel(), gi.ravel())
    return values.reshape(d_count, g_count)


def oks_reach_boxes(
    gt_xy: np.ndarray,
    gt_visible: np.ndarray,
    gt_area: np.ndarray,
    gt_bbox: np.ndarray,
    sigmas: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Per ground truth, a box that any detection with ``OKS >= threshold`` must touch.

    Returns ``(G, 4)`` ``[x0, y0, x1, y1]``: the extent of the labelled joints -- or, for a GT
    without labelled joints, the doubled box of the ``k1 == 0`` rule -- grown by
    ``r = sqrt(-2 ln(threshold) max(var) (area + eps))``. A detected joint farther than ``r``
    from it has ``exp(-e_i) < threshold``; if the extent of *all* detected joints misses this
    box, every term is below the threshold and so is their mean. The radius carries a 1e-6
    relative margin for rounding.
    """
    k = gt_xy.shape[1]
    vis = np.asarray(gt_visible, dtype=bool)
    lo_x, lo_y = np.where(vis, gt_xy[:, :, 0], np.inf), np.where(vis, gt_xy[:, :, 1], np.inf)
    hi_x, hi_y = np.where(vis, gt_xy[:, :, 0], -np.inf), np.where(vis, gt_xy[:, :, 1], -np.inf)
    x0, y0, x1, y1 = lo_x[:, 0].copy(), lo_y[:, 0].copy(), hi_x[:, 0].copy(), hi_y[:, 0].copy()
    for j in range(1, k):
        np.minimum(x0, lo_x[:, j], out=x0)
        np.minimum(y0, lo_y[:, j], out=y0)
        np.maximum(x1, hi_x[:, j], out=x1)
        np.maximum(y1, hi_y[:, j], out=y1)
    empty = ~vis.any(axis=1)
    bb = np.asarray(gt_bbox, dtype=np.float64)[empty]
    x0[empty], x1[empty] = bb[:, 0] - bb[:, 2], bb[:, 0] + bb[:, 2] * 2
    y0[empty], y1[empty] = bb[:, 1] - bb[:, 3], bb[:, 1] + bb[:, 3] * 2
    radius = np.sqrt(-2.0 * np.log(threshold) * _variances(sigmas).max() * (np.asarray(gt_area) + _EPS)) \
        * (1 + 1e-6) + 1e-9
    return np.stack([x0 - radius, y0 - radius, x1 + radius, y1 + radius], axis=1)
