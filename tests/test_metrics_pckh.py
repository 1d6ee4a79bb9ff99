"""MPII PCKh: hand-derived cases for every variant, and the golden table on the real
validation split (Newell's valid.h5) with a 2-stack hourglass's predictions."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.metrics.auc import normalized_auc, threshold_range
from posekit.metrics.pckh import PCKH_JOINTS, PCKH_THRESHOLDS, mpii_pckh

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MPII_EVAL = SHARED / "fixtures" / "mpii_eval"


def hand_case():
    """Two people. Person 0: head size 10, all 16 joints annotated, errors along x (px):
    r_ankle 5 (exactly 0.5), r_knee 6, neck 100, head top 1 (exactly 0.1), r_wrist NaN,
    pelvis/thorax 100 (dropped), all others 0. Person 1: head size 20, ankles not annotated,
    r_knee error 10 (exactly 0.5), all others 0."""
    gt = np.arange(2 * 16 * 2, dtype=np.float64).reshape(2, 16, 2)
    pred = gt.copy()
    for joint, err in ((0, 5.0), (1, 6.0), (8, 100.0), (9, 1.0), (6, 100.0), (7, 100.0)):
        pred[0, joint, 0] += err
    pred[0, 10] = np.nan
    pred[1, 1, 0] += 10.0
    pred[1, [0, 5]] += 1000.0  # unannotated: must not count
    mask = np.ones((2, 16), dtype=bool)
    mask[1, [0, 5]] = False
    return pred, gt, mask, np.array([10.0, 20.0])


def test_official_hand_case():
    res = mpii_pckh(*hand_case(), variant="official")
    t = res.table
    # person 0: 11 of 14 correct (r_knee, neck, r_wrist wrong); person 1: 12 of 12.
    assert t["Total"] == pytest.approx(100 * 23 / 26, abs=1e-12)
    assert t["Head"] == pytest.approx((50.0 + 100.0) / 2)  # neck 1/2, head top 2/2
    assert t["Ankle"] == 100.0 and t["Knee"] == pytest.approx(75.0) and t["Wrist"] == pytest.approx(75.0)
    assert t["Hip"] == 100.0 and t["Shoulder"] == 100.0 and t["Elbow"] == 100.0
    assert t["UBody"] == pytest.approx(100 * 11 / 12)
    # at 0.10: person 0 loses r_ankle (0.5) too, keeps head top (0.1 <= 0.1); person 1 loses r_knee
    assert t["Total@0.1"] == pytest.approx(100 * (10 + 11) / 26)
    assert res.counts.tolist() == [1, 2, 2, 2, 2, 1, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2]
    assert math.isnan(res.per_joint[-1, 6]) and math.isnan(res.per_joint[-1, 7])
    assert list(t) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "UBody", "Total",
                       "Total@0.1", "AUC"]


def test_hrnet_and_mmpose_hand_case():
    hr = mpii_pckh(*hand_case(), variant="hrnet").table
    mm = mpii_pckh(*hand_case(), variant="mmpose").table
    assert hr["Head"] == 100.0 and mm["Head"] == 100.0  # head top only
    assert hr["Total"] == pytest.approx(100 * 23 / 26)
    # strict <: r_ankle of person 0 and r_knee of person 1 (both exactly 0.5) become wrong
    assert mm["Total"] == pytest.approx(100 * 21 / 26)
    assert mm["Ankle"] == pytest.approx(50.0) and mm["Knee"] == pytest.approx(50.0)
    # HRNet's "Mean@0.1" is at 0.11: same joints as official at 0.10 here (head top 0.1 counts)
    assert hr["Mean@0.1"] == pytest.approx(100 * 21 / 26)
    # MMPose at 0.10 with <: head top (exactly 0.1) is wrong
    assert mm["PCK@0.1"] == pytest.approx(100 * 20 / 26)


def test_auc_is_trapezoid_over_rescaled_thresholds():
    assert float(normalized_auc(np.array([0.0, 0.25, 0.5]), np.array([0.0, 100.0, 100.0]))) == pytest.approx(75.0)
    # one joint at normalised error 0.1: Total is 0 below 0.1 and 100 from 0.1 on (x step 1/50)
    gt = np.zeros((1, 16, 2))
    pred = gt.copy()
    pred[0, :, 0] = 1.0
    res = mpii_pckh(pred, gt, np.ones((1, 16), bool), np.array([10.0]))
    assert res.table["AUC"] == pytest.approx(100 * (0.5 * (1 / 50) + 40 / 50), abs=1e-12)


def test_thresholds_are_matlab_range():
    assert PCKH_THRESHOLDS.size == 51 and PCKH_THRESHOLDS[11] == 0.11 and PCKH_THRESHOLDS[-1] == 0.5
    assert threshold_range(0.2).tolist() == [round(i * 0.01, 2) for i in range(21)]


def test_bad_input_is_named():
    pred, gt, mask, hs = hand_case()
    with pytest.raises(ValueError, match="variant"):
        mpii_pckh(pred, gt, mask, hs, variant="coco")
    with pytest.raises(ValueError, match="pred must be"):
        mpii_pckh(pred[:, :14], gt[:, :14], mask[:, :14], hs)
    with pytest.raises(ValueError, match="mask"):
        mpii_pckh(pred, gt, mask[:1], hs)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["official", "hrnet", "mmpose"]))
def test_curves_monotone_and_translation_invariant(seed, variant):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 3200, (5, 16, 2)) / 16.0  # on a 1/16 grid: sums and differences are exact
    pred = gt + rng.integers(-320, 320, gt.shape) / 16.0
    mask = rng.random((5, 16)) > 0.2
    hs = rng.uniform(5, 40, 5)
    res = mpii_pckh(pred, gt, mask, hs, variant=variant)
    assert np.all(np.diff(res.total) >= 0)
    shift = np.array([64.0, -32.0])  # exact on the grid: distances unchanged bit for bit
    moved = mpii_pckh(pred + shift, gt + shift, mask, hs, variant=variant)
    assert moved.table.keys() == res.table.keys()
    for key in res.table:  # NaN (a column with no annotated joint) must stay NaN
        np.testing.assert_equal(moved.table[key], res.table[key])


# --- golden: real MPII validation split ------------------------------------------------------------------


def _fixture():
    if not (MPII_EVAL / "valid.h5").exists() or not (MPII_EVAL / "bearpaw-hg_s2_b1.mat").exists():
        pytest.skip(f"MPII eval fixtures not found in {MPII_EVAL}")
    import h5py
    from scipy.io import loadmat

    from posekit.data.readers.mpii import read_mpii_h5

    samples = list(read_mpii_h5(MPII_EVAL / "valid.h5"))
    n = sum(len(s.ids) for s in samples)
    gt = np.zeros((n, 16, 2))
    mask = np.zeros((n, 16), dtype=bool)
    for s in samples:
        gt[s.ids] = s.keypoints
        mask[s.ids] = s.visibility > 0
    with h5py.File(MPII_EVAL / "valid.h5", "r") as f:
        raw_part = f["part"][:]
        head_size = f["normalize"][:]  # float64; the reader's meta["head_sizes"] is float32
    # The predictions are 1-based (eval-mpii-pose compares them unchanged with the 1-based
    # labels); the reader's ground truth is 0-based, so shift them by -1.
    preds_1based = loadmat(MPII_EVAL / "bearpaw-hg_s2_b1.mat")["preds"].astype(np.float64)
    return preds_1based - 1.0, gt, mask, head_size, raw_part


def _loop_pckh(pred, gt_part, head_size, thr, strict):
    """Independent straightforward evaluator on the raw 1-based .h5 (annotated = part != 0):
    per-joint hit and count tallies over the 14 joints."""
    hits = dict.fromkeys(PCKH_JOINTS, 0)
    counts = dict.fromkeys(PCKH_JOINTS, 0)
    for i in range(gt_part.shape[0]):
        for j in PCKH_JOINTS:
            gx, gy = gt_part[i, j]
            if gx == 0 and gy == 0:
                continue
            d = math.hypot(pred[i, j, 0] - gx, pred[i, j, 1] - gy) / head_size[i]
            counts[j] += 1
            hits[j] += (d < thr) if strict else (d <= thr)
    return hits, counts


@pytest.mark.parametrize("variant", ["official", "mmpose"])
def test_golden_table_matches_independent_loop(variant):
    pred, gt, mask, head_size, raw_part = _fixture()
    assert np.array_equal(mask, np.any(raw_part != 0, axis=2))
    assert np.array_equal(gt[mask], raw_part[mask] - 1.0)
    res = mpii_pckh(pred, gt, mask, head_size, variant=variant)
    strict = variant == "mmpose"
    for thr_index in (10, 11, 50):
        hits, counts = _loop_pckh(pred + 1.0, raw_part, head_size, PCKH_THRESHOLDS[thr_index], strict)
        total = 100 * sum(hits.values()) / sum(counts.values())
        assert res.total[thr_index] == pytest.approx(total, abs=1e-9)
        for j in PCKH_JOINTS:
            assert res.per_joint[thr_index, j] == pytest.approx(100 * hits[j] / counts[j], abs=1e-9)
    assert res.counts.sum() == mask[:, list(PCKH_JOINTS)].sum()


# Pinned once from the straightforward loop above (full precision).
GOLDEN = {
    "official": {"Head": 96.74283765347886, "Shoulder": 94.56521739130434, "Elbow": 88.11996392970941,
                 "Wrist": 83.31238834820147, "Hip": 86.25579377886702, "Knee": 80.87866180131637,
                 "Ankle": 77.46858603404746, "UBody": 88.68235561618917, "Total": 87.30418943533698,
                 "Total@0.1": 24.473067915690866, "AUC": 57.550741608118656},
    "hrnet": {"Head": 95.83901773533424, "Total": 87.30418943533698, "Mean@0.1": 28.59744990892532},
    "mmpose": {"Head": 95.83901773533424, "Hip": 86.23848075947643, "Total": 87.3015873015873,
               "PCK@0.1": 24.473067915690866, "AUC": 57.54790528233151},
}


@pytest.mark.parametrize("variant", sorted(GOLDEN))
def test_golden_table_pinned(variant):
    pred, gt, mask, head_size, _ = _fixture()
    table = mpii_pckh(pred, gt, mask, head_size, variant=variant).table
    for column, value in GOLDEN[variant].items():
        assert table[column] == pytest.approx(value, abs=1e-9), column


def test_one_pixel_shift_moves_pckh_at_0_1_by_4_3_points():
    """REFERENCE A2 trap 6: +1 px on every prediction moves PCKh@0.1 24.47 -> 28.78 and
    PCKh@0.5 by only about 0.2 on this fixture."""
    pred, gt, mask, head_size, _ = _fixture()
    base = mpii_pckh(pred, gt, mask, head_size).table
    shifted = mpii_pckh(pred + 1.0, gt, mask, head_size).table
    assert round(base["Total@0.1"], 2) == 24.47 and round(shifted["Total@0.1"], 2) == 28.78
    assert shifted["Total"] - base["Total"] == pytest.approx(0.2081, abs=1e-4)


def test_joint_without_annotations_is_nan_not_an_error():
    """HRNet's port divides by zero for a joint that no person has annotated (REFERENCE A2.2);
    posekit reports NaN for that joint and leaves it out of Total."""
    pred, gt, mask, head_size = hand_case()
    mask[:, 13] = False  # no annotated l_shoulder at all
    res = mpii_pckh(pred, gt, mask, head_size)
    assert res.counts[13] == 0 and math.isnan(res.per_joint[-1, 13])
    assert math.isnan(res.table["Shoulder"])  # mean of r and l shoulder
    assert res.table["Total"] == pytest.approx(100 * 21 / 24)  # 26 scored joints minus the two l_shoulders
