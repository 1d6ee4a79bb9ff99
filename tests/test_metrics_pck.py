"""PCK with box normalisation: golden values derived by hand, and properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.metrics.pck import bbox_norm, normalized_errors, pck


def mmpose_worked_example():
    """REFERENCE-METRICS-FORMATS.md A3.2: 2 instances x 3 keypoints, keypoint 1 unlabelled in
    instance 2, GT boxes 60x100 and 60x110 -> norms 100 and 110. Errors (pixels, along x) give
    normalised errors [[0.01, 0.04, 0.10], [0.018182, -, 0.181818]]."""
    gt = np.zeros((2, 3, 2))
    pred = np.zeros((2, 3, 2))
    pred[0, :, 0] = [1.0, 4.0, 10.0]
    pred[1, :, 0] = [2.0, 0.0, 20.0]
    mask = np.array([[True, True, True], [True, False, True]])
    norm = bbox_norm(np.array([[0, 0, 60, 100], [5, 5, 60, 110]]))
    return pred, gt, mask, norm


def test_bbox_norm_is_max_side():
    assert bbox_norm(np.array([[0, 0, 60, 100], [1, 2, 130, 40]])).tolist() == [100.0, 130.0]


def test_mmpose_worked_example_macro_vs_pooled():
    pred, gt, mask, norm = mmpose_worked_example()
    dist = normalized_errors(pred, gt, mask, norm)
    assert np.allclose(dist[0], [0.01, 0.04, 0.10])
    assert dist[1, 0] == pytest.approx(2 / 110) and math.isnan(dist[1, 1]) and dist[1, 2] == pytest.approx(20 / 110)
    res = pck(pred, gt, mask, norm, 0.05)
    assert res.per_keypoint.tolist() == [1.0, 1.0, 0.0]
    assert res.counts.tolist() == [2, 1, 2]
    assert res.macro == pytest.approx(2 / 3)  # MMPose 'PCK' 0.6666667
    assert res.pooled == pytest.approx(3 / 5)  # MPII/LSP-style pooled 0.6


def test_strict_and_inclusive_differ_exactly_at_the_threshold():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[5.0, 0.0], [3.0, 4.0]]])  # errors 5 and 5 px, norm 100 -> 0.05 each
    mask = np.ones((1, 2), dtype=bool)
    assert pck(pred, gt, mask, np.array([100.0]), 0.05, strict=True).pooled == 0.0
    assert pck(pred, gt, mask, np.array([100.0]), 0.05, strict=False).pooled == 1.0


def test_per_axis_norm_zero_norm_and_non_finite_prediction():
    gt = np.zeros((3, 1, 2))
    pred = np.array([[[3.0, 4.0]], [[1.0, 1.0]], [[np.nan, 0.0]]])
    mask = np.ones((3, 1), dtype=bool)
    norm = np.array([[30.0, 40.0], [0.0, 10.0], [10.0, 10.0]])
    dist = normalized_errors(pred, gt, mask, norm)
    assert dist[0, 0] == pytest.approx(math.sqrt(0.1 ** 2 + 0.1 ** 2))
    assert math.isnan(dist[1, 0])  # zero norm: instance left out
    assert dist[2, 0] == math.inf  # invalid prediction: counted, wrong
    res = pck(pred, gt, mask, norm, 0.2)
    assert res.counts.tolist() == [2] and res.pooled == 0.5


def test_no_valid_joint_gives_nan():
    res = pck(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), np.zeros((1, 2), dtype=bool), np.ones(1), 0.1)
    assert math.isnan(res.macro) and math.isnan(res.pooled) and np.isnan(res.per_keypoint).all()


def test_shape_errors_are_explicit():
    with pytest.raises(ValueError, match="mask must be"):
        pck(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.ones((2, 2), dtype=bool), np.ones(2), 0.1)
    with pytest.raises(ValueError, match="norm must be"):
        pck(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.ones((2, 3), dtype=bool), np.ones(3), 0.1)


coords = st.floats(-500, 500, allow_nan=False, width=32)


@st.composite
def pck_inputs(draw):
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 5))
    arr = st.lists(coords, min_size=n * k * 2, max_size=n * k * 2)
    pred = np.array(draw(arr), dtype=np.float64).reshape(n, k, 2)
    gt = np.array(draw(arr), dtype=np.float64).reshape(n, k, 2)
    mask = np.array(draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k))).reshape(n, k)
    norm = np.array(draw(st.lists(st.floats(1, 300), min_size=n, max_size=n)))
    return pred, gt, mask, norm


@settings(max_examples=80, deadline=None)
@given(pck_inputs(), st.floats(0.01, 2.0), st.floats(0.1, 10.0))
def test_properties(inputs, thr, factor):
    pred, gt, mask, norm = inputs
    res = pck(pred, gt, mask, norm, thr)
    # pooled = correct / valid, bounded, and inclusive >= strict
    assert res.counts.sum() == mask.sum()
    if mask.any():
        assert 0.0 <= res.pooled <= 1.0 and 0.0 <= res.macro <= 1.0
        assert pck(pred, gt, mask, norm, thr, strict=False).pooled >= res.pooled
        # monotone in the threshold
        assert pck(pred, gt, mask, norm, thr * 2).pooled >= res.pooled
        # scale invariance: scaling coordinates and norms together changes nothing
        # (up to rounding at the threshold, so compare the errors)
        scaled = normalized_errors(pred * factor, gt * factor, mask, norm * factor)
        assert np.allclose(scaled, normalized_errors(pred, gt, mask, norm), equal_nan=True, rtol=1e-9, atol=1e-12)


def test_torso_and_head_normalisers():
    from posekit.metrics.pck import head_norm, torso_norm
    from posekit.skeletons import get_skeleton

    sk = get_skeleton("coco17")
    gt = np.zeros((2, 17, 2))
    gt[0, sk.index("left_shoulder")] = [30, 0]
    gt[0, sk.index("right_hip")] = [0, 40]          # torso diagonal 50
    gt[1, sk.index("left_shoulder")] = [np.nan, 0]  # missing -> instance left out
    norm = torso_norm(gt, "coco17")
    assert norm[0] == 50 and np.isnan(norm[1])
    pred = gt.copy()
    pred[0, 0] += [4.9, 0]                       # 0.098 of the torso: correct at 0.1
    pred[0, 1] += [5.0, 0]                       # exactly 0.1: wrong with '<', right with '<='
    mask = np.zeros((2, 17), bool)
    mask[:, :2] = True
    assert pck(pred, gt, mask, norm, 0.1).pooled == 0.5
    assert pck(pred, gt, mask, norm, 0.1, strict=False).pooled == 1.0
    # MPII head size: 0.6 x the head-box diagonal (a 30 x 40 box -> 0.6 * 50)
    assert head_norm(np.array([[10, 10, 40, 50]]))[0] == pytest.approx(30.0)
