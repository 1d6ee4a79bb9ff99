"""Evaluate a top-down estimator on a COCO-format set with ground-truth person boxes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.readers.coco import read_coco_keypoints


def gt_box_inputs(images) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image, the xyxy boxes of its non-crowd people with labelled keypoints (and unit scores)."""
    out = []
    for img in images:
        keep = ~img.iscrowd & ((img.visibility > 0).sum(axis=1) > 0)
        out.append((img.boxes[keep], np.ones(int(keep.sum()), np.float32)))
    return out


def predict_with_gt_boxes(estimator, ann_file: str | Path, image_dir: str | Path,
                          batch_images: int = 16) -> list[dict[str, Any]]:
    """COCO keypoint results of ``estimator`` run on every image with its GT person boxes."""
    images = read_coco_keypoints(ann_file, estimator.skeleton)
    boxes = gt_box_inputs(images)
    results: list[dict[str, Any]] = []
    for start in range(0, len(images), batch_images):
        chunk = images[start:start + batch_images]
        preds = estimator.predict_many([Path(image_dir) / im.file_name for im in chunk],
                                       [b for b, _ in boxes[start:start + batch_images]],
                                       [s for _, s in boxes[start:start + batch_images]])
        for im, res in zip(chunk, preds):
            results.extend(res.to_coco(im.image_id))
    return results


def evaluate_topdown(estimator, ann_file: str | Path, image_dir: str | Path) -> dict[str, Any]:
    """COCO OKS AP/AR (the ten stats) and box-normalised PCK@0.05/0.1 with GT boxes."""
    from posekit.metrics.coco_eval import evaluate_coco_keypoints, load_coco_gt
    from posekit.metrics.json_io import results_from_records
    from posekit.metrics.pck import coco_pck

    sigmas = estimator.skeleton.sigmas_array
    results = predict_with_gt_boxes(estimator, ann_file, image_dir)
    gt = load_coco_gt(ann_file, num_keypoints=len(sigmas))
    stats = evaluate_coco_keypoints(gt, results, sigmas=sigmas)
    parsed = results_from_records(results)
    for thr in (0.05, 0.1):
        stats[f"PCK@{thr}"] = coco_pck(gt, parsed, thr, sigmas)[0].macro
    return {k: round(float(v), 6) for k, v in stats.items()}
