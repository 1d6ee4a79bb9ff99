"""3DPCK and AUC: strict threshold, mean-not-trapezoid AUC, masks; golden values by hand."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from posekit.metrics.pck3d import (AUC_THRESHOLDS_MM, PCK3D_THRESHOLD_MM, auc3d, auc3d_from_errors, pck3d,
                                   pck3d_from_errors, pck_curve_from_errors)


def test_constants():
    assert PCK3D_THRESHOLD_MM == 150.0
    assert AUC_THRESHOLDS_MM.shape == (31,) and AUC_THRESHOLDS_MM[1] == 5.0 and AUC_THRESHOLDS_MM[-1] == 150.0


def test_error_of_exactly_150mm_is_wrong():
    gt = np.zeros((1, 3, 3))
    pred = np.zeros((1, 3, 3))
    pred[0, 0, 0] = 150.0  # exactly on the threshold: wrong (strict <)
    pred[0, 1, 1] = 149.999
    pred[0, 2] = [90.0, 120.0, 0.0]  # 150 again, as a 3-4-5 triangle
    assert pck3d(pred, gt, 150.0) == pytest.approx(1.0 / 3.0)
    assert pck3d(pred / 1000.0, gt, 0.15) == pytest.approx(1.0 / 3.0)  # metres, MMPose 0.x style


def test_auc_is_mean_not_trapezoid():
    """15 joints with errors 0, 10, ..., 140 mm. At t = 5k, ceil(k/2) joints are below t, so
    the 31 PCK values sum to 2 * (1 + ... + 15) / 15 = 16 and AUC = 16 / 31; a trapezoid over
    [0, 150] would give (16 - 0.5) / 30."""
    errors = np.arange(0.0, 150.0, 10.0)[None, :]
    curve = pck_curve_from_errors(errors, AUC_THRESHOLDS_MM)
    assert curve.tolist() == [np.ceil(k / 2) / 15 for k in range(31)]
    assert auc3d_from_errors(errors, AUC_THRESHOLDS_MM) == pytest.approx(16.0 / 31.0)
    assert auc3d_from_errors(errors, AUC_THRESHOLDS_MM) != pytest.approx((16.0 - 0.5) / 30.0)
    assert pck3d_from_errors(errors, 150.0) == 1.0 and pck3d_from_errors(errors, 140.0) == 14 / 15


def test_perfect_prediction_auc_is_30_of_31():
    """With zero error every threshold but 0 counts the joint (0 < 0 is false)."""
    gt = np.random.default_rng(0).normal(size=(2, 17, 3))
    assert auc3d(gt, gt, AUC_THRESHOLDS_MM) == pytest.approx(30.0 / 31.0)
    assert pck3d(gt, gt, 150.0) == 1.0


def test_mask_and_non_finite():
    errors = np.array([[10.0, 200.0, np.nan], [20.0, 30.0, np.inf]])
    assert pck3d_from_errors(errors, 150.0) == pytest.approx(3 / 6)  # NaN and inf count as wrong
    mask = np.array([[True, False, False], [True, True, False]])
    assert pck3d_from_errors(errors, 150.0, mask) == 1.0
    assert pck3d_from_errors(errors, 150.0, np.array([False, True, False])) == 0.5  # (J,) broadcast
    with pytest.raises(ValueError, match="mask selects nothing"):
        pck3d_from_errors(errors, 150.0, np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="does not match"):
        pck3d_from_errors(errors, 150.0, np.ones((3, 2), bool))


def test_procrustes_alignment_option():
    gt = np.random.default_rng(1).normal(size=(3, 17, 3)) * 300.0
    moved = 1.3 * gt @ Rotation.from_euler("z", 70, degrees=True).as_matrix() + 500.0
    assert pck3d(moved, gt, 150.0) < 0.5
    assert pck3d(moved, gt, 150.0, alignment="procrustes") == 1.0
    assert auc3d(moved, gt, AUC_THRESHOLDS_MM, alignment="procrustes") == pytest.approx(30.0 / 31.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 400.0), min_size=1, max_size=40), st.floats(0.0, 300.0), st.floats(0.0, 300.0))
def test_pck_is_monotone_and_matches_count(errs, t1, t2):
    errors = np.asarray(errs)[None, :]
    lo, hi = sorted((t1, t2))
    assert pck3d_from_errors(errors, lo) <= pck3d_from_errors(errors, hi)
    assert pck3d_from_errors(errors, hi) == np.count_nonzero(errors < hi) / errors.size
    assert 0.0 <= auc3d_from_errors(errors, AUC_THRESHOLDS_MM) <= 30.0 / 31.0
