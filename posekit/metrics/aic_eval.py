"""The AI Challenger 2017 official keypoint score (not COCO AP).

Protocol (REFERENCE-METRICS-FORMATS.md A1.9; official ``Evaluation/keypoint_eval/keypoint_eval.py``
of AIChallenger/AI_Challenger_2017, Apache-2.0), on the raw challenge JSON (B5):

- Per GT person (``keypoint_annotations[key]``, 14 ``[x, y, v]``; box
  ``human_annotations[key] = [x1, y1, x2, y2]``): ``scale = (y2 - y1) * (x2 - x1)`` and
  ``OKS = mean over joints with v == 1 of exp(-d**2 / 2 / delta**2 / (scale + 1))`` with
  ``delta = 2 * sigma`` (:data:`AIC_DELTA`); only *visible* joints (``v == 1``) count, and a
  person without one gets OKS 0.
- Each GT person takes the **maximum** OKS over all predicted persons of its image (no
  one-to-one matching, no scores).
- Denominator: per image ``max(#GT persons, #predicted persons)``; an image absent from the
  predictions adds its ``#GT persons`` (their OKS count as 0).
- Score = mean over ``t`` in ``linspace(0.5, 0.95, 10)`` of ``count(OKS > t) / denominator``
  (strict ``>``).

Details kept from the official script: the box area is rounded to float32 (``np.float32``) before
the ``+ 1``; a later record with the same ``image_id`` replaces an earlier one (in both files);
prediction ids are compared after dropping a file extension (``"abc.jpg"`` -> ``"abc"``).
Deviations: malformed records raise :class:`~posekit.metrics.json_io.CocoFormatError` naming the
file, record and field (the official script skips prediction records without ``image_id`` or
``keypoint_annotations`` with a warning, and fails on other malformed input); ``scale + 1`` is
taken in float64 (identical below a box area of 2**24 px).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from posekit.metrics.json_io import CocoFormatError, load_json

__all__ = ["AIC_DELTA", "AIC_NUM_KEYPOINTS", "aic_official_eval", "aic_oks"]

AIC_NUM_KEYPOINTS = 14
# keypoint_eval.py ``load_annotations``: delta = 2 * sigmas, in the AIC order (r/l shoulder,
# elbow, wrist, hip, knee, ankle, then head top, neck; see posekit.skeletons "aic14").
AIC_DELTA = 2 * np.array([0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
                          0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173])
_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def _load(source: str | os.PathLike | list, default_name: str) -> tuple[list, str]:
    if isinstance(source, list):
        return source, default_name
    name = str(source)
    data = load_json(Path(source).read_bytes(), name)
    if not isinstance(data, list):
        raise CocoFormatError(f"{name}: expected a JSON list of image records")
    return data, name


def _people(record: dict, field: str, name: str, index: int) -> dict:
    value = record.get(field)
    if not isinstance(value, dict):
        raise CocoFormatError(f"{name}: record {index}: field {field!r} must be an object of persons, got {value!r}")
    return value


def _keypoints(value: object, name: str, index: int, person: str) -> np.ndarray:
    """``(14, 3)`` float64 from a flat list of 42 numbers."""
    if not isinstance(value, list) or len(value) != 3 * AIC_NUM_KEYPOINTS or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise CocoFormatError(f"{name}: record {index}: field 'keypoint_annotations.{person}' must be a list of "
                              f"{3 * AIC_NUM_KEYPOINTS} numbers")
    return np.array(value, dtype=np.float64).reshape(AIC_NUM_KEYPOINTS, 3)


def _image_id(record: object, name: str, index: int) -> str:
    if not isinstance(record, dict):
        raise CocoFormatError(f"{name}: record {index}: expected an object")
    value = record.get("image_id")
    if not isinstance(value, str):
        raise CocoFormatError(f"{name}: record {index}: field 'image_id' must be a string, got {value!r}")
    return value


def aic_oks(gt_keypoints: np.ndarray, gt_box: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Official AIC OKS of one GT person against each predicted person: ``(P,)`` float64.

    ``gt_keypoints``: ``(14, 3)`` ``[x, y, v]`` (v: 1 visible, 2 labelled but invisible,
    3 unlabelled); ``gt_box``: ``[x1, y1, x2, y2]``; ``predicted``: ``(P, 14, 2+)`` x, y (any
    third column is ignored). Zeros when the GT has no ``v == 1`` joint.
    """
    visible = gt_keypoints[:, 2] == 1
    if not visible.any() or predicted.shape[0] == 0:
        return np.zeros(predicted.shape[0])
    scale = float(np.float32((gt_box[3] - gt_box[1]) * (gt_box[2] - gt_box[0])))
    dis = np.sum((gt_keypoints[visible, :2][None] - predicted[:, visible, :2]) ** 2, axis=2)
    return np.mean(np.exp(-dis / 2 / AIC_DELTA[visible] ** 2 / (scale + 1)), axis=1)


def aic_official_eval(annotations: str | os.PathLike | list, predictions: str | os.PathLike | list) -> float:
    """The AI Challenger official keypoint score of ``predictions`` against ``annotations``.

    Both are raw challenge JSON (a path or the loaded list): annotations
    ``[{"image_id", "human_annotations": {key: [x1, y1, x2, y2]}, "keypoint_annotations":
    {key: [x, y, v] * 14}}]``, predictions ``[{"image_id", "keypoint_annotations": {...}}]``.
    See the module docstring for the protocol; returns a float in [0, 1].
    """
    gt_list, gt_name = _load(annotations, "<annotations>")
    pred_list, pred_name = _load(predictions, "<predictions>")
    gt_records: dict = {}
    for i, record in enumerate(gt_list):
        gt_records[_image_id(record, gt_name, i)] = (i, record)
    predicted: dict = {}
    for i, record in enumerate(pred_list):
        image_id = _image_id(record, pred_name, i).split(".")[0]
        people = _people(record, "keypoint_annotations", pred_name, i)
        xy = [_keypoints(v, pred_name, i, key) for key, v in people.items()]
        predicted[image_id] = np.stack(xy) if xy else np.zeros((0, AIC_NUM_KEYPOINTS, 3))

    best: list = []
    total = 0
    for image_id, (i, record) in gt_records.items():
        boxes = _people(record, "human_annotations", gt_name, i)
        people = _people(record, "keypoint_annotations", gt_name, i)
        if image_id not in predicted:
            total += len(boxes)
            continue
        preds = predicted[image_id]
        total += max(len(people), preds.shape[0])
        if preds.shape[0] == 0:
            continue
        for key, value in people.items():
            if key not in boxes:
                raise CocoFormatError(f"{gt_name}: record {i}: field 'human_annotations' has no box for {key!r}")
            box = boxes[key]
            if not isinstance(box, list) or len(box) != 4:
                raise CocoFormatError(f"{gt_name}: record {i}: field 'human_annotations.{key}' must be "
                                      f"[x1, y1, x2, y2], got {box!r}")
            best.append(float(aic_oks(_keypoints(value, gt_name, i, key), np.array(box, dtype=np.float64),
                                      preds).max()))
    if total == 0:
        raise CocoFormatError(f"{gt_name}: no persons to evaluate (no GT and no predicted person)")
    values = np.array(best)
    return float(np.mean([np.count_nonzero(values > t) / total for t in _THRESHOLDS]))
