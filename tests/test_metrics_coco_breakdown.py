"""xtcocotools options of the COCO evaluator and the per-keypoint / per-area breakdown.

Expected values come from pycocotools run on transformed copies of the input (area replaced,
flags edited, keypoints masked), i.e. from an independent implementation of the same protocol.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from posekit.metrics.coco_eval import (
    STAT_NAMES,
    CocoEvalParams,
    coco_keypoint_breakdown,
    coco_keypoint_eval,
    load_coco_gt,
)
from posekit.metrics.json_io import CocoFormatError, read_coco_results

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def _fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} not available")
    return path


def pycoco(gt: dict, results: list, sigmas: np.ndarray = COCO_SIGMAS, img_ids=None) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_stats(ours: dict, ev: COCOeval) -> None:
    for key, ref in zip(STAT_NAMES, ev.stats):
        assert ours[key] == pytest.approx(float(ref), abs=1e-12), (key, ours, ev.stats)


def person(image_id: int, ann_id: int, x0: float, y0: float, k: int = 17, scale: float = 100.0,
           vis: int = 2, **extra) -> dict:
    rng = np.random.default_rng(ann_id)
    xy = np.stack([x0 + rng.uniform(0, scale * 0.6, k), y0 + rng.uniform(0, scale, k)], axis=1)
    kps = np.concatenate([xy, np.full((k, 1), vis)], axis=1).round(1)
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "keypoints": kps.ravel().tolist(),
           "num_keypoints": k if vis else 0, "bbox": [x0, y0, scale * 0.6, scale], "area": scale * scale * 0.45}
    ann.update(extra)
    return ann


def gt_dict(anns: list, images=(1, 2, 3)) -> dict:
    return {"images": [{"id": i} for i in images], "categories": [{"id": 1}], "annotations": anns}


def detect(ann: dict, shift: float, score: float, conf: float = 0.9, seed: int = 0) -> dict:
    kps = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    kps[:, :2] += rng.normal(0, shift, (kps.shape[0], 2))
    kps[:, 2] = conf
    return {"image_id": ann["image_id"], "category_id": 1, "keypoints": kps.ravel().tolist(), "score": score}


def _scene() -> tuple[dict, list]:
    anns = [person(1, 1, 10, 10, scale=60), person(1, 2, 200, 30, scale=150), person(2, 3, 50, 50, scale=110),
            person(2, 4, 300, 40, scale=40), person(3, 5, 20, 20, scale=200)]
    res = [detect(a, shift, score, seed=i) for i, (a, shift, score) in
           enumerate(zip(anns, (1.0, 6.0, 3.0, 2.0, 12.0), (0.9, 0.8, 0.7, 0.95, 0.6)))]
    res.append(detect(anns[2], 30.0, 0.85, seed=9))  # a poor duplicate
    return gt_dict(anns), res


# --------------------------------------------------------------------------------------------
# xtcocotools options.


def test_use_area_false_is_pycocotools_with_box_area():
    gt, res = _scene()
    boxed = copy.deepcopy(gt)
    for ann in boxed["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3] * 0.53
    ours = coco_keypoint_eval(gt, res, CocoEvalParams(use_area=False)).stats
    assert_stats(ours, pycoco(boxed, res))
    assert ours != coco_keypoint_eval(gt, res).stats  # the option changes the result here


def test_missing_area_means_box_area():
    gt, res = _scene()
    missing = copy.deepcopy(gt)
    for ann in missing["annotations"]:
        del ann["area"]
    got = load_coco_gt(missing)
    boxes = np.array([a["bbox"] for a in gt["annotations"]])
    assert np.array_equal(got.area, boxes[:, 2] * boxes[:, 3] * 0.53)
    assert coco_keypoint_eval(missing, res).stats == coco_keypoint_eval(gt, res, CocoEvalParams(use_area=False)).stats


def test_gt_ignore_rules():
    # GT 1: num_keypoints 0 but labelled joints; GT 2: num_keypoints > 0 but no labelled joint.
    a = person(1, 1, 10, 10, num_keypoints=0)
    b = person(2, 2, 10, 10, vis=0, num_keypoints=5)
    gt = gt_dict([a, b, person(3, 3, 10, 10)])
    res = [detect(a, 0.5, 0.9), detect(gt["annotations"][2], 0.5, 0.8)]
    field = coco_keypoint_eval(gt, res).stats
    assert_stats(field, pycoco(gt, res))
    # pycocotools' field rule: a is ignored (its detection neither TP nor FP), b counts: recall 1/2.
    assert field["AR"] == pytest.approx(0.5) and field["AP"] == pytest.approx(51 / 101)
    labelled = coco_keypoint_eval(gt, res, CocoEvalParams(gt_ignore="labelled")).stats
    # xtcocotools 'keypoints' rule: a counts (and is found), b is ignored.
    recounted = copy.deepcopy(gt)
    for ann in recounted["annotations"]:
        ann["num_keypoints"] = int(np.count_nonzero(np.array(ann["keypoints"][2::3]) > 0))
    assert_stats(labelled, pycoco(recounted, res))
    assert labelled["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="gt_ignore"):
        CocoEvalParams(gt_ignore="visible")


def test_drop_zero_confidence():
    gt, res = _scene()
    zero = detect(gt["annotations"][0], 40.0, 0.99, conf=0.0, seed=5)  # a top-scored false positive
    res = res + [zero]
    kept = coco_keypoint_eval(gt, res).stats
    assert_stats(kept, pycoco(gt, res))
    dropped = coco_keypoint_eval(gt, res, CocoEvalParams(drop_zero_confidence=True)).stats
    assert_stats(dropped, pycoco(gt, res[:-1]))
    assert dropped["AP"] > kept["AP"]
    with pytest.raises(CocoFormatError, match="keypoint confidences"):
        coco_keypoint_eval(gt, read_coco_results(res), CocoEvalParams(drop_zero_confidence=True))


def test_custom_sigmas_set_the_keypoint_count():
    sigmas = np.array([0.05, 0.1, 0.08, 0.12, 0.07])
    anns = [person(1, 1, 10, 10, k=5), person(1, 2, 120, 10, k=5, scale=50), person(2, 3, 30, 30, k=5)]
    gt = gt_dict(anns, images=(1, 2))
    res = [detect(a, s, 1 - 0.1 * i, seed=i) for i, (a, s) in enumerate(zip(anns, (1.0, 3.0, 6.0)))]
    assert_stats(coco_keypoint_eval(gt, res, CocoEvalParams(sigmas=sigmas)).stats, pycoco(gt, res, sigmas))
    with pytest.raises(CocoFormatError, match="keypoints"):
        coco_keypoint_eval(gt, res)  # 17 COCO sigmas for 5-keypoint data


def test_image_subset_is_pycocotools_img_ids():
    gt, res = _scene()
    ev = coco_keypoint_eval(gt, res, CocoEvalParams(image_ids=(3, 1)))
    ref = pycoco(gt, res, img_ids=[1, 3])
    assert_stats(ev.stats, ref)
    assert np.allclose(ev.precision, ref.eval["precision"], atol=1e-12)
    with pytest.raises(CocoFormatError, match="image_ids: 7 is not an image"):
        coco_keypoint_eval(gt, res, CocoEvalParams(image_ids=(1, 7)))


# --------------------------------------------------------------------------------------------
# Breakdowns.


def _single_keypoint_copy(gt: dict, j: int) -> dict:
    """GT for pycocotools with only keypoint j labelled; GTs without it get num_keypoints 0."""
    out = copy.deepcopy(gt)
    for ann in out["annotations"]:
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        has_j = kps[j, 2] > 0
        kps[np.arange(kps.shape[0]) != j, 2] = 0
        ann["keypoints"] = kps.ravel().tolist()
        ann["num_keypoints"] = 1 if has_j and ann["num_keypoints"] != 0 else 0
    return out


def test_per_keypoint_ap_hand_made():
    a = person(1, 1, 10, 10)
    det = np.array(a["keypoints"], dtype=np.float64).reshape(17, 3)
    det[1, 0] += 80.0  # left eye far off, everything else exact
    res = [{"image_id": 1, "category_id": 1, "keypoints": det.ravel().tolist(), "score": 0.9}]
    kps = np.array(a["keypoints"]).reshape(17, 3)
    kps[2, 2] = 0  # right eye unlabelled: no GT for that keypoint
    a["keypoints"] = kps.ravel().tolist()
    a["num_keypoints"] = 16
    out = coco_keypoint_breakdown(gt_dict([a], images=(1,)), res)
    per = out["per_keypoint"]
    assert per["0"] == pytest.approx(1.0) and per["1"] == 0.0 and per["2"] == -1.0
    assert all(per[str(j)] == pytest.approx(1.0) for j in range(3, 17))


def test_per_keypoint_ap_matches_pycocotools_on_fixture():
    gt = json.loads(_fixture("coco_eval", "example_coco_val.json").read_text())
    res = json.loads(_fixture("coco_eval", "example_coco_preds.json").read_text())
    names = [f"k{j}" for j in range(17)]
    out = coco_keypoint_breakdown(gt, res, keypoint_names=names)
    assert_stats(out["stats"], pycoco(gt, res))
    for j in (0, 5, 9, 16):
        ref = pycoco(_single_keypoint_copy(gt, j), res)
        assert out["per_keypoint"][f"k{j}"] == pytest.approx(float(ref.stats[0]), abs=1e-12), j
    assert len(set(out["per_keypoint"].values())) > 3  # the keypoints do differ


def test_area_table():
    gt, res = _scene()
    out = coco_keypoint_breakdown(gt, res)
    ref = pycoco(gt, res)
    areas = out["areas"]
    assert list(areas) == ["all", "medium", "large"]
    assert areas["all"]["AP"] == out["stats"]["AP"] and areas["medium"]["AP"] == out["stats"]["APm"]
    assert areas["large"]["AR"] == out["stats"]["ARl"]
    assert areas["large"]["AP50"] == pytest.approx(float(np.mean(ref.eval["precision"][0, :, :, 2, 0])), abs=1e-12)
    assert areas["medium"]["AR75"] == pytest.approx(float(ref.eval["recall"][5, 0, 1, 0]), abs=1e-12)
    area = np.array([a["area"] for a in gt["annotations"]])
    assert areas["medium"]["num_gt"] == int(np.count_nonzero((area >= 1024) & (area <= 9216)))
    assert areas["all"]["num_gt"] == 5
    with pytest.raises(ValueError, match="keypoint_names"):
        coco_keypoint_breakdown(gt, res, keypoint_names=["a", "b"])


def test_missing_area_from_file_fast_and_json_paths(tmp_path):
    from posekit.metrics.coco_eval import _GT_FIELDS, _bulky_annotations, _load_gt_fast
    from posekit.metrics.json_io import json_object_values

    gt, _ = _scene()
    for i, ann in enumerate(gt["annotations"]):
        if i % 2:
            del ann["area"]
        ann["padding"] = "x" * 3000  # large records: load_coco_gt takes the field-cutting reader
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    assert _bulky_annotations(path.read_bytes())
    assert _load_gt_fast(json_object_values(path.read_bytes(), _GT_FIELDS), str(path), 17) is not None
    from_file, from_dict = load_coco_gt(path), load_coco_gt(gt)
    assert np.array_equal(from_file.area, from_dict.area)
    expected = [a["area"] if "area" in a else a["bbox"][2] * a["bbox"][3] * 0.53 for a in gt["annotations"]]
    assert np.array_equal(from_dict.area, expected)


def test_missing_iscrowd_means_not_crowd():
    """xtcocotools reads a missing ``iscrowd`` as 0 (REFERENCE A1.7); pycocotools needs the key."""
    gt, res = _scene()
    missing = copy.deepcopy(gt)
    for ann in missing["annotations"]:
        del ann["iscrowd"]
    assert_stats(coco_keypoint_eval(missing, res).stats, pycoco(gt, res))
    assert not load_coco_gt(missing).iscrowd.any()
