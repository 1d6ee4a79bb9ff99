"""PCP strict and loose: hand-derived cases, properties, and a regression on the LSP fixtures."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.metrics.pcp import LSP_STICKS, pcp, stick_endpoints

LSP_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lsp"


def lsp_figure() -> np.ndarray:
    """A frontal LSP stick figure: every limb and the head 10 px long, the torso (mid-hips
    (5, 20) to mid-shoulders (5, 0)) 20 px."""
    return np.array([[[0, 40], [0, 30], [0, 20], [10, 20], [10, 30], [10, 40],
                      [-20, 0], [-10, 0], [0, 0], [10, 0], [20, 0], [30, 0], [5, -2], [5, -12]]], dtype=np.float64)


def hand_case():
    """Only end joints move, so each error touches one part (alpha 0.5 -> 5 px on a limb):
    r_ankle +5 (exactly half: strict and loose correct), l_ankle +6 (strict wrong, loose mean 3
    correct), r_wrist +11 (both wrong: mean 5.5), l_wrist NaN (both wrong), head top +10
    (strict wrong, loose mean exactly 5 correct)."""
    gt = lsp_figure()
    pred = gt.copy()
    pred[0, 0, 1] += 5.0
    pred[0, 5, 1] += 6.0
    pred[0, 6, 1] += 11.0
    pred[0, 11] = np.nan
    pred[0, 13, 1] += 10.0
    return pred, gt


def test_stick_endpoints_and_lengths():
    ends = stick_endpoints(lsp_figure())
    assert ends.shape == (1, 10, 2, 2)
    lengths = np.linalg.norm(ends[0, :, 0] - ends[0, :, 1], axis=-1)
    assert lengths.tolist() == [10.0] * 9 + [20.0]
    assert ends[0, 9].tolist() == [[5.0, 20.0], [5.0, 0.0]]  # torso: mid-hips -> mid-shoulders


def test_strict_hand_case():
    res = pcp(*hand_case(), mode="strict")
    assert res.per_part.tolist() == [100, 100, 100, 0, 0, 100, 100, 0, 0, 100]
    assert res.symmetric.tolist() == [50, 100, 100, 50, 0, 100, 100, 0, 0, 100]
    assert res.groups == {"Torso": 100.0, "Upper Leg": 100.0, "Lower Leg": 50.0, "Upper Arm": 100.0,
                          "Forearm": 0.0, "Head": 0.0}
    assert res.mean == pytest.approx(60.0)


def test_loose_hand_case():
    res = pcp(*hand_case(), mode="loose")
    assert res.per_part.tolist() == [100, 100, 100, 100, 0, 100, 100, 0, 100, 100]
    assert res.groups["Lower Leg"] == 100.0 and res.groups["Forearm"] == 0.0 and res.groups["Head"] == 100.0
    assert res.mean == pytest.approx(80.0)


def test_alpha_and_zero_length_part():
    pred, gt = hand_case()
    assert pcp(pred, gt, alpha=0.6, mode="strict").per_part[3] == 100.0  # 6 <= 0.6 * 10
    gt2 = gt.copy()
    gt2[0, 13] = gt2[0, 12]  # zero-length head: wrong even for a perfect prediction
    assert pcp(gt2.copy(), gt2).per_part[8] == 0.0


def test_bad_input_is_named():
    pred, gt = hand_case()
    with pytest.raises(ValueError, match="mode"):
        pcp(pred, gt, mode="medium")
    with pytest.raises(ValueError, match="pred must be"):
        pcp(pred[:, :10], gt)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.1, 1.0))
def test_strict_implies_loose(seed, alpha):
    rng = np.random.default_rng(seed)
    gt = lsp_figure() + rng.normal(0, 3, (4, 14, 2))
    pred = gt + rng.normal(0, 4, gt.shape)
    strict = pcp(pred, gt, alpha=alpha, mode="strict")
    loose = pcp(pred, gt, alpha=alpha, mode="loose")
    assert np.all(loose.per_part >= strict.per_part)
    assert loose.mean >= strict.mean


def _loop_strict_pcp(pred, gt, alpha):
    """Independent loop over images and sticks (LSP 10, both endpoints within alpha * length)."""
    def ends(p, s):
        (a1, a2), (b1, b2) = [(e if len(e) == 2 else e * 2) for e in LSP_STICKS.ends[s]]
        return (p[a1] + p[a2]) / 2, (p[b1] + p[b2]) / 2

    hits = np.zeros(10)
    for i in range(gt.shape[0]):
        for s in range(10):
            g1, g2 = ends(gt[i], s)
            p1, p2 = ends(pred[i], s)
            limit = alpha * math.hypot(*(g1 - g2))
            hits[s] += math.hypot(*(p1 - g1)) <= limit and math.hypot(*(p2 - g2)) <= limit
    return 100 * hits / gt.shape[0]


@pytest.mark.parametrize("labels", ["PC", "OC"])
def test_lsp_fixture_regression(labels):
    """Values pinned from this implementation and checked against the loop above; eval_pose
    prints strict PCP only, and the reference has no PCP table to compare with."""
    from scipy.io import loadmat

    gt_file, pred_file = LSP_DIR / f"lsp-joints-{labels}.mat", LSP_DIR / f"pred_keypoints_lsp_{labels.lower()}.mat"
    if not gt_file.exists() or not pred_file.exists():
        pytest.skip(f"LSP eval fixtures not found in {LSP_DIR}")
    gt = loadmat(gt_file)["joints"][:2, :, 1000:].transpose(2, 1, 0)
    pred = loadmat(pred_file)["pred"].transpose(2, 1, 0)
    strict = pcp(pred, gt, mode="strict")
    assert strict.per_part == pytest.approx(_loop_strict_pcp(pred, gt, 0.5), abs=1e-9)
    expected = {"PC": (74.83, 79.61), "OC": (81.13, 85.73)}[labels]
    assert strict.mean == pytest.approx(expected[0], abs=1e-9)
    assert pcp(pred, gt, mode="loose").mean == pytest.approx(expected[1], abs=1e-9)
