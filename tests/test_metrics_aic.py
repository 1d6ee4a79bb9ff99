"""AI Challenger official keypoint score: golden value on the challenge's example pair and hand-made cases.

The golden value is derived independently in :func:`reference_score`: straight Python loops over
the raw JSON following REFERENCE-METRICS-FORMATS.md A1.9 (math.exp, float32 box area by
``struct``), compared with posekit's numpy implementation.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.metrics.aic_eval import AIC_DELTA, aic_official_eval, aic_oks
from posekit.metrics.json_io import CocoFormatError

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SIGMAS = [0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
          0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173]


def _fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} not available")
    return path


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def reference_score(annotations: list, predictions: list) -> float:
    preds = {}
    for p in predictions:
        preds[p["image_id"].split(".")[0]] = p["keypoint_annotations"]
    gts = {a["image_id"]: a for a in annotations}
    matched, total = [], 0
    for image_id, a in gts.items():
        people = a["keypoint_annotations"]
        if image_id not in preds:
            total += len(a["human_annotations"])
            continue
        humans = list(preds[image_id].values())
        total += max(len(people), len(humans))
        if not humans:
            continue
        for key, kps in people.items():
            x1, y1, x2, y2 = a["human_annotations"][key]
            scale = _float32((y2 - y1) * (x2 - x1))
            best = 0.0
            for h in humans:
                terms = []
                for j in range(14):
                    if kps[3 * j + 2] != 1:
                        continue
                    d2 = (kps[3 * j] - h[3 * j]) ** 2 + (kps[3 * j + 1] - h[3 * j + 1]) ** 2
                    terms.append(math.exp(-d2 / 2 / (2 * SIGMAS[j]) ** 2 / (scale + 1)))
                oks = sum(terms) / len(terms) if terms else 0.0
                best = max(best, oks)
            matched.append(best)
    thresholds = [0.5 + 0.05 * i for i in range(10)]
    return sum(sum(1 for v in matched if v > t) / total for t in thresholds) / len(thresholds)


def test_golden_challenge_example():
    ann_path = _fixture("aic_eval", "keypoint_annotations_example.json")
    pred_path = _fixture("aic_eval", "keypoint_predictions_example.json")
    ours = aic_official_eval(ann_path, pred_path)
    ref = reference_score(json.loads(ann_path.read_text()), json.loads(pred_path.read_text()))
    assert ours == pytest.approx(ref, abs=1e-12)
    assert 0.9 < ours < 1.0


def test_golden_with_perturbed_predictions():
    """Noisier predictions move the score well inside (0, 1); both implementations agree."""
    annotations = json.loads(_fixture("aic_eval", "keypoint_annotations_example.json").read_text())[:200]
    predictions = json.loads(_fixture("aic_eval", "keypoint_predictions_example.json").read_text())
    rng = np.random.default_rng(0)
    for p in predictions:
        for key, kps in p["keypoint_annotations"].items():
            arr = np.array(kps, dtype=np.float64).reshape(14, 3)
            arr[:, :2] += rng.normal(0, 6, (14, 2))
            p["keypoint_annotations"][key] = arr.ravel().tolist()
    ours = aic_official_eval(annotations, predictions)
    assert ours == pytest.approx(reference_score(annotations, predictions), abs=1e-12)
    assert 0.2 < ours < 0.9


def _person(x0: float, y0: float, v: int = 1) -> tuple[list, list]:
    kps = []
    for j in range(14):
        kps += [x0 + 5 * j, y0 + 7 * j, v]
    return kps, [x0, y0, x0 + 80, y0 + 120]


def test_missing_image_counts_its_people_as_zero():
    a1, b1 = _person(10, 10)
    a2, b2 = _person(200, 10)
    annotations = [
        {"image_id": "img1", "human_annotations": {"human1": b1, "human2": b2},
         "keypoint_annotations": {"human1": a1, "human2": a2}},
        {"image_id": "img2", "human_annotations": {"human1": b1, "human2": b2},
         "keypoint_annotations": {"human1": a1, "human2": a2}},
    ]
    predictions = [{"image_id": "img1.jpg", "keypoint_annotations": {"human1": a1, "human2": a2}}]
    assert aic_official_eval(annotations, predictions) == pytest.approx(0.5)


def test_more_predictions_than_gt_and_no_one_to_one():
    a1, b1 = _person(10, 10)
    annotations = [{"image_id": "img", "human_annotations": {"human1": b1}, "keypoint_annotations": {"human1": a1}}]
    # Three predictions, two of them the same perfect pose: the GT takes the max, the
    # denominator is max(1, 3) = 3.
    far, _ = _person(500, 500)
    predictions = [{"image_id": "img", "keypoint_annotations": {"a": a1, "b": a1, "c": far}}]
    assert aic_official_eval(annotations, predictions) == pytest.approx(1 / 3)
    # Two GTs served by one prediction: both take it (no one-to-one), denominator 2.
    annotations[0]["human_annotations"]["human2"] = b1
    annotations[0]["keypoint_annotations"]["human2"] = a1
    predictions = [{"image_id": "img", "keypoint_annotations": {"a": a1}}]
    assert aic_official_eval(annotations, predictions) == pytest.approx(1.0)


def test_only_visible_joints_count():
    hidden, box = _person(10, 10, v=2)  # labelled but invisible everywhere: OKS 0
    seen, box2 = _person(300, 10)
    annotations = [{"image_id": "img", "human_annotations": {"h1": box, "h2": box2},
                    "keypoint_annotations": {"h1": hidden, "h2": seen}}]
    predictions = [{"image_id": "img", "keypoint_annotations": {"a": hidden, "b": seen}}]
    assert aic_official_eval(annotations, predictions) == pytest.approx(0.5)
    # A wrong invisible joint does not matter; a wrong visible one does.
    gt = np.array(seen, dtype=np.float64).reshape(14, 3)
    gt[3, 2] = 2
    pred = gt.copy()
    pred[3, :2] += 50
    assert aic_oks(gt, np.array(box2, dtype=np.float64), pred[None])[0] == 1.0
    pred[4, 0] += 10
    area = 80.0 * 120.0
    expected = (12 + math.exp(-100 / 2 / AIC_DELTA[4] ** 2 / (area + 1))) / 13
    assert aic_oks(gt, np.array(box2, dtype=np.float64), pred[None])[0] == pytest.approx(expected, abs=1e-15)


def test_image_with_empty_prediction_dict():
    a1, b1 = _person(10, 10)
    annotations = [{"image_id": "img", "human_annotations": {"h": b1}, "keypoint_annotations": {"h": a1}},
                   {"image_id": "img2", "human_annotations": {"h": b1}, "keypoint_annotations": {"h": a1}}]
    predictions = [{"image_id": "img", "keypoint_annotations": {}},
                   {"image_id": "img2", "keypoint_annotations": {"h": a1}}]
    assert aic_official_eval(annotations, predictions) == pytest.approx(0.5)


def test_malformed_input_names_file_record_field(tmp_path):
    a1, b1 = _person(10, 10)
    annotations = [{"image_id": "img", "human_annotations": {"h": b1}, "keypoint_annotations": {"h": a1}}]
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([{"image_id": "img", "keypoint_annotations": {"h": a1}}, {"image_id": "x"}]))
    with pytest.raises(CocoFormatError, match=rf"{path}: record 1: field 'keypoint_annotations'"):
        aic_official_eval(annotations, path)
    with pytest.raises(CocoFormatError, match=r"record 0: field 'keypoint_annotations.h' must be a list of 42"):
        aic_official_eval(annotations, [{"image_id": "img", "keypoint_annotations": {"h": a1[:-3]}}])
    with pytest.raises(CocoFormatError, match=r"record 0: field 'image_id'"):
        aic_official_eval(annotations, [{"keypoint_annotations": {}}])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_scenes_match_the_loop_reference(seed):
    """Random images: 0-3 GT people, 0-4 predictions (or the image left out), mixed v codes."""
    rng = np.random.default_rng(seed)
    annotations, predictions = [], []
    for i in range(int(rng.integers(1, 4))):
        boxes, people = {}, {}
        for h in range(int(rng.integers(0, 4))):
            x0, y0 = rng.uniform(0, 300, 2)
            w, hgt = rng.uniform(5, 200, 2)
            xy = np.stack([x0 + rng.uniform(0, w, 14), y0 + rng.uniform(0, hgt, 14)], axis=1).round()
            v = rng.choice([1, 2, 3], 14, p=[0.6, 0.2, 0.2])
            xy[v == 3] = 0
            people[f"human{h + 1}"] = np.concatenate([xy, v[:, None]], axis=1).astype(int).ravel().tolist()
            boxes[f"human{h + 1}"] = [float(x0), float(y0), float(x0 + w), float(y0 + hgt)]
        annotations.append({"image_id": f"im{i}", "human_annotations": boxes, "keypoint_annotations": people})
        if rng.random() < 0.2:
            continue
        guesses = {}
        gt_people = list(people.values())
        for p in range(int(rng.integers(0, 5))):
            base = np.array(gt_people[p % len(gt_people)] if gt_people else [0] * 42, dtype=np.float64).reshape(14, 3)
            base[:, :2] += rng.normal(0, rng.choice([0.5, 3, 20]), (14, 2))
            base[:, 2] = 1
            guesses[f"human{p + 1}"] = base.ravel().tolist()
        predictions.append({"image_id": f"im{i}", "keypoint_annotations": guesses})
    try:
        expected = reference_score(annotations, predictions)
    except ZeroDivisionError:  # no GT and no predicted person anywhere: the denominator is 0
        with pytest.raises(CocoFormatError, match="no persons"):
            aic_official_eval(annotations, predictions)
        return
    assert aic_official_eval(annotations, predictions) == pytest.approx(expected, abs=1e-12)


def test_oks_equal_to_a_threshold_does_not_count():
    """The official score counts ``OKS > t`` (strict). Two visible joints, one exact and one
    1000 px off (its term underflows to 0.0): OKS is exactly 0.5, the lowest threshold, so it
    counts at no threshold and the score is 0 (with ``>=`` it would be 0.1)."""
    kps, box = _person(10, 10)
    gt = np.array(kps, dtype=np.float64).reshape(14, 3)
    gt[2:, 2] = 2  # only joints 0 and 1 visible
    pred = gt.copy()
    pred[1, 0] += 1000.0
    assert aic_oks(gt, np.array(box, dtype=np.float64), pred[None])[0] == 0.5
    annotations = [{"image_id": "img", "human_annotations": {"h": box},
                    "keypoint_annotations": {"h": gt.ravel().tolist()}}]
    predictions = [{"image_id": "img", "keypoint_annotations": {"p": pred.ravel().tolist()}}]
    assert aic_official_eval(annotations, predictions) == 0.0
