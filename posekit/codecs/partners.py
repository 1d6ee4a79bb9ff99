"""Separate left/right partners whose heatmaps peak at the same point.

A model can predict a left/right pair (left and right knee) with two near-identical channels:
both show *both* joints, with the same argmax, so one joint is predicted twice and the other
missed. Stage 3 of the shipped model did this for the knees (90.6 % of people) because its 1x1
final layer had too few channels for 17 heatmaps (``posekit.models.heads.heatmap.grow_final_kernel``);
stage 4 fixed it in training, and its record no longer turns this step on.

:func:`separate_partners` repairs it at decoding time. For each collapsed pair it takes the two
peaks of the pair's summed heatmap, gives each joint the peak nearer the mean decoded position
of its own skeleton neighbours (a knee's hip and ankle; ``Skeleton.links``), suppresses the
other peak in that joint's map and decodes it again with the codec (so DARK still refines it).
Pairs that are not collapsed, or whose summed map has no clear second peak, are left unchanged.
Only the pairs named are checked: on stage 3, the knees alone gained (OKS AP 0.641 -> 0.674);
every other pair lost, because partners that are truly close look collapsed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from posekit.codecs.heatmap import _as_numpy
from posekit.skeletons import Skeleton


def partner_pairs(skeleton: Skeleton, joints: Sequence[str]) -> list[tuple[int, int, list[int], list[int]]]:
    """``(i, j, neighbours of i, neighbours of j)`` for each left/right pair ``i < j``
    (``Skeleton.flip_pairs``) with a joint named in ``joints``; neighbours are the joints linked
    to it (``Skeleton.link_indices``) other than its partner. Raises ``ValueError`` for an
    unknown name, a joint without a partner, or a pair without such neighbours."""
    for name in joints:
        if name not in skeleton.names:
            raise ValueError(f"separate_partners: {name!r} is not a joint of skeleton {skeleton.name!r}")
        if skeleton.flip_indices[skeleton.index(name)] == skeleton.index(name):
            raise ValueError(f"separate_partners: {name!r} has no left/right partner")
    chosen = {skeleton.index(name) for name in joints}
    links = skeleton.link_indices
    pairs = []
    for i, j in skeleton.flip_pairs:
        if i not in chosen and j not in chosen:
            continue
        near = [sorted(int(n) for a, b in links for n in (a, b) if joint in (a, b) and n not in (i, j))
                for joint in (i, j)]
        if not (near[0] and near[1]):
            raise ValueError(f"separate_partners: {skeleton.names[i]!r} / {skeleton.names[j]!r} have no "
                             "linked neighbours to tell them apart")
        pairs.append((i, j, near[0], near[1]))
    return pairs


def separate_partners(heatmaps: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, codec,
                      skeleton: Skeleton, joints: Sequence[str], collapsed_within: float = 1.0, radius: float = 3.0,
                      min_ratio: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Re-decode collapsed left/right pairs.

    ``heatmaps (B, K, h, w)`` (numpy or torch); ``keypoints (B, K, 2)`` in input-crop pixels and
    ``scores (B, K)`` as ``codec.decode`` returned them (a :class:`~posekit.codecs.heatmap.HeatmapCodec`
    with ``scale`` and ``input_offset``); ``joints``: names whose left/right pairs are checked
    (only pairs a model is known to collapse: partners that are legitimately close, such as
    the eyes of a small face, would be pulled apart). A pair is collapsed when its two decoded
    points are within ``collapsed_within`` heatmap cells; its summed map's second peak is the
    maximum outside ``radius`` cells of the first, must be a local maximum and reach
    ``min_ratio`` of the first. Returns new arrays; the inputs are not modified.
    """
    maps = _as_numpy(heatmaps)
    keypoints, scores = np.array(keypoints, np.float32), np.array(scores, np.float32)
    cells = (keypoints - codec.input_offset) * np.asarray(codec.scale, np.float64)  # (B, K, 2) as (x, y)
    height, width = maps.shape[-2:]
    yy, xx = np.mgrid[:height, :width]
    for i, j, near_i, near_j in partner_pairs(skeleton, joints):
        collapsed = np.flatnonzero(np.hypot(*(cells[:, i] - cells[:, j]).T) <= collapsed_within)
        for b in collapsed:
            total = maps[b, i] + maps[b, j]
            first = np.array(np.unravel_index(total.argmax(), total.shape))[::-1]  # (x, y)
            around_first = np.hypot(xx - first[0], yy - first[1]) <= radius
            rest = np.where(around_first, -np.inf, total)
            second = np.array(np.unravel_index(rest.argmax(), rest.shape))[::-1]
            x, y = second
            if not rest.max() >= min_ratio * total.max() > 0 \
                    or rest.max() < total[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].max():
                continue  # no second peak: the maximum outside the first is on its slope
            anchor_i, anchor_j = cells[b, near_i].mean(axis=0), cells[b, near_j].mean(axis=0)
            keep = np.hypot(*(first - anchor_i)) + np.hypot(*(second - anchor_j)) \
                <= np.hypot(*(second - anchor_i)) + np.hypot(*(first - anchor_j))
            peak_i, peak_j = (first, second) if keep else (second, first)
            separated = np.stack([
                np.where(np.hypot(xx - peak_j[0], yy - peak_j[1]) <= radius, 0.0, maps[b, i]),
                np.where(np.hypot(xx - peak_i[0], yy - peak_i[1]) <= radius, 0.0, maps[b, j])]).astype(np.float32)
            new_kps, new_scores = codec.decode(separated)
            keypoints[b, [i, j]], scores[b, [i, j]] = new_kps, new_scores
    return keypoints, scores
