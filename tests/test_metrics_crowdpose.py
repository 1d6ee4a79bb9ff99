"""CrowdPose protocol: golden values on the xtcocoapi example and hand-made crowd-index cases.

How the golden values are obtained: xtcocotools cannot be imported here (numpy 2), so the test
runs pycocotools -- an independent implementation of the same matching and accumulation -- on a
copy of the ground truth whose ``area`` is set to ``bbox_w * bbox_h * 0.53`` (what
``use_area=False`` substitutes), with ``params.kpt_oks_sigmas`` set to the CrowdPose sigmas.
pycocotools ignores a GT by its ``num_keypoints`` field, as xtcocotools' ``'keypoints_crowd'``
does. AP_easy/medium/hard repeat ``get_type_result``: ``params.imgIds`` set to the subset,
evaluate, accumulate, ``round(np.mean(precision[:, :, :, 0, :]), 4)``.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from posekit.metrics.crowdpose_eval import (
    CROWDPOSE_SIGMAS,
    CROWDPOSE_STAT_NAMES,
    crowd_index_split,
    crowdpose_eval,
)
from posekit.metrics.json_io import CocoFormatError

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def _fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} not available")
    return path


def _pycoco_precision_and_stats(gt: dict, results: list, img_ids=None) -> tuple[np.ndarray, np.ndarray]:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(results)), "keypoints")
        ev.params.kpt_oks_sigmas = CROWDPOSE_SIGMAS
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.eval["precision"], ev.stats


def expected_crowdpose(gt: dict, results: list) -> dict:
    boxed = copy.deepcopy(gt)
    for ann in boxed["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3] * 0.53
    _, stats = _pycoco_precision_and_stats(boxed, results)
    out = dict(zip(CROWDPOSE_STAT_NAMES[:6], (float(stats[i]) for i in (0, 1, 2, 5, 6, 7))))
    easy = [im["id"] for im in gt["images"] if im["crowdIndex"] < 0.2]
    medium = [im["id"] for im in gt["images"] if 0.2 <= im["crowdIndex"] < 0.8]
    hard = [im["id"] for im in gt["images"] if im["crowdIndex"] >= 0.8]
    for key, ids in zip(CROWDPOSE_STAT_NAMES[6:], (easy, medium, hard)):
        precision, _ = _pycoco_precision_and_stats(boxed, results, ids)
        out[key] = float(round(np.mean(precision[:, :, :, 0, :]), 4))
    return out


def test_golden_xtcocoapi_example():
    gt_path = _fixture("crowdpose_eval", "example_crowdpose_val.json")
    res_path = _fixture("crowdpose_eval", "example_crowdpose_preds.json")
    ours = crowdpose_eval(gt_path, res_path)
    ref = expected_crowdpose(json.loads(gt_path.read_text()), json.loads(res_path.read_text()))
    assert list(ours) == list(CROWDPOSE_STAT_NAMES)
    for key in CROWDPOSE_STAT_NAMES:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), (key, ours, ref)
    # The file has one image per split besides the medium pair; the values are not trivial.
    assert 0 < ours["AP_hard"] < ours["AP_medium"] < ours["AP_easy"] == 1.0


def test_golden_is_sensitive_to_the_protocol():
    """Area as 0.53*w*h and the field-based ignore both matter on this file."""
    gt = json.loads(_fixture("crowdpose_eval", "example_crowdpose_val.json").read_text())
    res = json.loads(_fixture("crowdpose_eval", "example_crowdpose_preds.json").read_text())
    ours = crowdpose_eval(gt, res)
    full_box = copy.deepcopy(gt)
    for ann in full_box["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    _, stats = _pycoco_precision_and_stats(full_box, res)
    assert ours["AP"] != pytest.approx(float(stats[0]), abs=1e-6)


def test_crowd_index_split_boundaries():
    images = [{"id": i, "crowdIndex": c} for i, c in enumerate([0.0, 0.2, 0.1999, 0.8, 0.7999, 1.0, 0.5])]
    assert crowd_index_split(images) == ([0, 2], [1, 4, 6], [3, 5])
    with pytest.raises(CocoFormatError, match=r"gt.json: images\[1\]: field 'crowdIndex'"):
        crowd_index_split([{"id": 1, "crowdIndex": 0.1}, {"id": 2}], "gt.json")


def _person(image_id: int, ann_id: int, x0: float, y0: float) -> dict:
    rng = np.random.default_rng(ann_id)
    xy = np.stack([x0 + rng.uniform(0, 60, 14), y0 + rng.uniform(0, 100, 14)], axis=1).round(1)
    kps = np.concatenate([xy, np.full((14, 1), 2.0)], axis=1)
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "num_keypoints": 14,
            "keypoints": kps.ravel().tolist(), "bbox": [x0, y0, 60.0, 100.0]}


def _result(ann: dict, shift: float, score: float) -> dict:
    kps = np.array(ann["keypoints"]).reshape(14, 3)
    kps[:, 0] += shift
    kps[:, 2] = 0.8
    return {"image_id": ann["image_id"], "category_id": 1, "keypoints": kps.ravel().tolist(), "score": score}


def _shift_for_oks(target: float) -> float:
    """The x shift of every joint giving OKS == target on a 60x100 box (area 0.53*6000)."""
    s2 = 60.0 * 100.0 * 0.53
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        oks = np.mean([math.exp(-mid * mid / (2 * sigma) ** 2 / (s2 + np.spacing(1)) / 2)
                       for sigma in CROWDPOSE_SIGMAS])
        lo, hi = (mid, hi) if oks > target else (lo, mid)
    return lo


def test_hand_made_splits():
    # easy: one GT found exactly; medium: one of two GTs found (precision 1 up to recall 0.5);
    # hard: one GT found with OKS 0.725 (a match at thresholds 0.50..0.70, 5 of 10).
    easy = _person(1, 1, 10, 10)
    medium = [_person(2, 2, 10, 10), _person(2, 3, 200, 10)]
    hard = _person(3, 4, 10, 10)
    gt = {"images": [{"id": 1, "crowdIndex": 0.05}, {"id": 2, "crowdIndex": 0.5}, {"id": 3, "crowdIndex": 0.9}],
          "categories": [{"id": 1}], "annotations": [easy, *medium, hard]}
    res = [_result(easy, 0.0, 0.9), _result(medium[0], 0.0, 0.8), _result(hard, _shift_for_oks(0.725), 0.7)]
    out = crowdpose_eval(gt, res)
    assert out["AP_easy"] == 1.0
    assert out["AP_medium"] == round(51 / 101, 4) == 0.505  # rounded to 4 decimals
    assert out["AP_hard"] == 0.5
    assert out["AR50"] == pytest.approx(0.75) and out["AR"] == pytest.approx((3 * 5 + 2 * 5) / 40)
    assert out == pytest.approx(expected_crowdpose(gt, res), abs=1e-12)


def test_empty_split_and_field_ignore():
    """No image is easy -> AP_easy -1; a GT with num_keypoints 0 is ignored even if labelled."""
    labelled_but_zero = dict(_person(1, 1, 10, 10), num_keypoints=0)
    other = _person(1, 2, 200, 10)
    gt = {"images": [{"id": 1, "crowdIndex": 0.3}], "categories": [{"id": 1}],
          "annotations": [labelled_but_zero, other]}
    res = [_result(other, 0.0, 0.9), _result(labelled_but_zero, 0.0, 0.95)]
    out = crowdpose_eval(gt, res)
    assert out["AP_easy"] == -1.0 and out["AP_hard"] == -1.0
    assert out["AP"] == pytest.approx(1.0) and out["AP_medium"] == 1.0


def test_drop_zero_confidence_option():
    a = _person(1, 1, 10, 10)
    gt = {"images": [{"id": 1, "crowdIndex": 0.1}], "categories": [{"id": 1}], "annotations": [a]}
    fp = _result(_person(1, 9, 300, 300), 0.0, 0.99)
    fp["keypoints"][2::3] = [0.0] * 14
    res = [_result(a, 0.0, 0.5), fp]
    kept = crowdpose_eval(gt, res)
    dropped = crowdpose_eval(gt, res, drop_zero_confidence=True)
    assert kept["AP"] == pytest.approx(0.5) and dropped["AP"] == pytest.approx(1.0)


def test_crowdpose_sigmas_are_the_official_ones():
    """crowdposetools hard-wires ``[.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89,
    .79, .79] / 10`` (REFERENCE A1.7, B6); posekit's ``crowdpose14`` skeleton carries the same."""
    from posekit.skeletons import get_skeleton

    official = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
    assert np.array_equal(CROWDPOSE_SIGMAS, official)
    np.testing.assert_allclose(get_skeleton("crowdpose14").sigmas_array, official, rtol=0, atol=1e-15)
