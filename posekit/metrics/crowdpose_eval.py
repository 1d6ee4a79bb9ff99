"""CrowdPose keypoint AP/AR with the easy / medium / hard split, as the CrowdPose evaluators compute it.

Protocol (REFERENCE-METRICS-FORMATS.md A1.7; official ``crowdposetools`` of Jeff-sjtu/CrowdPose and
xtcocotools 1.14.3 ``COCOeval(iouType='keypoints_crowd', use_area=False)``, which MMPose uses):

- The COCO keypoint matching and accumulation of :mod:`posekit.metrics.coco_eval` (OKS
  thresholds 0.50:0.95, 101 recall points, top 20 detections per image) with the 14 CrowdPose
  sigmas :data:`CROWDPOSE_SIGMAS`.
- GT area ``0.53 * w * h`` of the annotation's bbox, in OKS and area ranges (CrowdPose files have
  no ``area``).
- A GT is ignored when it is crowd or its ``num_keypoints`` *field* is 0 (in CrowdPose that field
  counts only ``v == 2`` points).
- Stats: AP, AP50, AP75, AR, AR50, AR75 over all images (area range "all"), then AP_easy,
  AP_medium, AP_hard: the images are split by ``images[].crowdIndex`` into ``< 0.2``, ``< 0.8``
  and the rest; each subset is evaluated again on its own (``params.imgIds`` = the subset) and
  the value is ``round(mean(precision[:, :, :, 0, :]), 4)`` -- a plain mean over thresholds,
  recall points and categories of area range "all", -1 cells included, rounded to 4 decimals
  (numpy's rounding, as the evaluators' ``round`` of a numpy float). An empty subset gives -1.0.

Option: ``drop_zero_confidence=True`` leaves out detections none of whose keypoint confidences is
> 0, as xtcocotools does (official ``crowdposetools`` keeps them; default False).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from posekit.metrics.coco_eval import CocoEvalParams, coco_keypoint_eval, load_coco_gt
from posekit.metrics.json_io import CocoFormatError, CocoResults, load_json, read_coco_results

__all__ = ["CROWDPOSE_SIGMAS", "CROWDPOSE_STAT_NAMES", "crowd_index_split", "crowdpose_eval", "crowdpose_params"]

# crowdposetools cocoeval.py (Jeff-sjtu/CrowdPose @86fe5e1): hard-wired sigmas, written as there
# (``np.array([...]) / 10.0``) so that the float values are the official ones. Order: l/r
# shoulder, l/r elbow, l/r wrist, l/r hip, l/r knee, l/r ankle, head top, neck.
CROWDPOSE_SIGMAS = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
CROWDPOSE_STAT_NAMES = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
# ``get_type_result(first=0.2, second=0.8)`` as called by the CrowdPose summary.
_FIRST, _SECOND = 0.2, 0.8


def crowdpose_params(drop_zero_confidence: bool = False) -> CocoEvalParams:
    """The :class:`CocoEvalParams` of the CrowdPose protocol (14 sigmas, ``0.53 * w * h`` areas,
    ignore by the ``num_keypoints`` field)."""
    return CocoEvalParams(sigmas=CROWDPOSE_SIGMAS.copy(), use_area=False, gt_ignore="num_keypoints",
                          drop_zero_confidence=drop_zero_confidence)


def crowd_index_split(images: list, source: str = "<ground truth>",
                      first: float = _FIRST, second: float = _SECOND) -> tuple[list, list, list]:
    """Image ids split by ``crowdIndex``: ``(easy, medium, hard)`` = (``< first``,
    ``first <= c < second``, ``>= second``), each in file order.

    ``images``: the ground truth's ``images`` list. A record without a numeric ``crowdIndex``
    raises :class:`CocoFormatError` naming ``source``, the record and the field.
    """
    easy, medium, hard = [], [], []
    for i, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image:
            raise CocoFormatError(f"{source}: images[{i}]: missing field 'id'")
        value = image.get("crowdIndex")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CocoFormatError(f"{source}: images[{i}]: field 'crowdIndex' must be a number, got {value!r}")
        (easy if value < first else medium if value < second else hard).append(image["id"])
    return easy, medium, hard


def crowdpose_eval(gt: str | os.PathLike | dict, results: str | os.PathLike | list | CocoResults,
                   *, drop_zero_confidence: bool = False) -> dict:
    """The nine CrowdPose stats (:data:`CROWDPOSE_STAT_NAMES`) of keypoint ``results`` against
    CrowdPose ground truth ``gt`` (a path or a loaded dict with ``images[].crowdIndex``).

    See the module docstring for the protocol. ``results``: COCO keypoint results (14 keypoints).
    """
    if isinstance(gt, dict):
        data, name = gt, "<ground truth>"
    else:
        name = str(gt)
        data = load_json(Path(gt).read_bytes(), name)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoFormatError(f"{name}: missing or invalid field 'images' (a list)")
    params = crowdpose_params(drop_zero_confidence)
    truth = load_coco_gt(data if isinstance(gt, dict) else gt, num_keypoints=len(CROWDPOSE_SIGMAS))
    if not isinstance(results, CocoResults):
        results = read_coco_results(results, keypoint_scores=drop_zero_confidence)
    full = coco_keypoint_eval(truth, results, params).stats
    out = {key: full[key] for key in CROWDPOSE_STAT_NAMES[:6]}
    for key, ids in zip(CROWDPOSE_STAT_NAMES[6:], crowd_index_split(data["images"], name)):
        if not ids:
            out[key] = -1.0
            continue
        precision = coco_keypoint_eval(truth, results, replace(params, image_ids=tuple(ids))).precision
        out[key] = float(round(np.mean(precision[:, :, :, 0, :]), 4))
    return out
