"""LSP / FLIC torso-normalised PCK and PDJ: hand-derived cases, properties, and the golden
eval_pose table (REFERENCE-METRICS-FORMATS.md A3.1) on the real label and prediction files."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.metrics.lsp_flic import FLIC10, LSP14, PCK_THRESHOLDS, PDJ_THRESHOLDS, pdj, torso_pck

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LSP_DIR = SHARED / "fixtures" / "lsp"
FLIC_DIR = SHARED / "fixtures" / "flic"


def lsp_hand_case():
    """One image; l_shoulder (9) at (0, 0), r_hip (2) at (0, 10): torso 10, so 0.2 -> 2 px.
    Errors along x: r_ankle 2 (exactly 0.2), l_ankle 3, neck NaN, head top 1 (0.1), rest 0."""
    gt = np.zeros((1, 14, 2))
    gt[0, :, 0] = np.arange(14) * 7.0
    gt[0, 9] = (0.0, 0.0)
    gt[0, 2] = (0.0, 10.0)
    pred = gt.copy()
    pred[0, 0, 0] += 2.0
    pred[0, 5, 0] += 3.0
    pred[0, 12] = np.nan
    pred[0, 13, 0] += 1.0
    return pred, gt


def test_lsp_hand_case():
    res = torso_pck(*lsp_hand_case(), layout="lsp14")
    row = res.at(0.2)
    assert row["Ankle"] == 50.0 and row["Head"] == 50.0
    assert all(row[g] == 100.0 for g in ("Knee", "Hip", "Wrist", "Elbow", "Shoulder"))
    assert row["Mean"] == pytest.approx(100 * 12 / 14)
    i = int(np.flatnonzero(res.thresholds == 0.2)[0])
    assert res.per_joint[i, 0] == 100.0 and res.per_joint[i, 5] == 0.0
    assert res.symmetric[i, 0] == 50.0 and res.symmetric[i, 5] == 50.0  # (PCK_j + PCK_sym(j)) / 2
    assert res.at(0.1)["Head"] == 50.0 and res.at(0.09)["Head"] == 0.0  # head top at exactly 0.1


def test_flic_hand_case_torso_is_joint7_minus_joint6():
    gt = np.zeros((2, 10, 2))
    gt[:, :, 1] = np.arange(10) * 3.0
    gt[:, 6] = (0.0, 0.0)  # l_shoulder
    gt[:, 5] = (0.0, 20.0)  # r_hip: torso 20 -> 0.2 is 4 px
    pred = gt.copy()
    pred[0, 4, 0] += 4.0  # r_wrist exactly 0.2: correct
    pred[1, 4, 0] += 4.5  # wrong
    pred[1, 8] = np.nan  # l_wrist wrong
    row = torso_pck(pred, gt, layout=FLIC10).at(0.2)
    assert row["Wrist"] == pytest.approx((50.0 + 50.0) / 2)
    assert row["Mean"] == pytest.approx(100 * 18 / 20)


def test_nan_ground_truth_and_zero_torso_count_as_wrong():
    pred, gt = lsp_hand_case()
    gt2 = np.concatenate([gt, gt])
    pred2 = np.concatenate([pred, pred])
    gt2[1, 9] = gt2[1, 2]  # zero torso: every joint of image 1 wrong
    assert torso_pck(pred2, gt2).at(0.2)["Mean"] == pytest.approx(100 * 12 / 28)
    gt3 = gt.copy()
    gt3[0, 4] = np.nan
    assert torso_pck(pred, gt3).at(0.2)["Mean"] == pytest.approx(100 * 11 / 14)


def test_auc_on_hand_curve():
    """All joints at normalised error 0.1: Mean is 0 below 0.1 and 100 from 0.1 on; 21 points
    rescaled to [0, 1] (step 0.05): 0.05 * 50 + 10 * 0.05 * 100 = 52.5."""
    gt = np.zeros((1, 14, 2))
    gt[0, 2] = (0.0, 10.0)
    pred = gt + np.array([1.0, 0.0])
    assert torso_pck(pred, gt).auc == pytest.approx(52.5, abs=1e-12)


def test_pdj_is_pck_on_wider_range():
    pred, gt = lsp_hand_case()
    res = pdj(pred, gt)
    assert res.thresholds.size == 51 and res.thresholds[-1] == 0.5
    assert res.at(0.2) == torso_pck(pred, gt).at(0.2)


def test_bad_input_is_named():
    pred, gt = lsp_hand_case()
    with pytest.raises(ValueError, match="layout"):
        torso_pck(pred, gt, layout="parse")
    with pytest.raises(ValueError, match="gt must be"):
        torso_pck(pred, gt[:, :10])
    with pytest.raises(ValueError, match="not on the curve"):
        torso_pck(pred, gt).at(0.25)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_properties(seed):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 1600, (6, 14, 2)) / 16.0  # on a 1/16 grid: sums and differences are exact
    pred = gt + rng.integers(-160, 160, gt.shape) / 16.0
    res = torso_pck(pred, gt)
    assert np.all(np.diff(res.mean) >= 0)
    assert np.allclose(res.mean, res.symmetric.mean(axis=1))  # equal counts: pooled == joint mean
    # translation and power-of-two scaling leave every normalised distance bit for bit unchanged
    shift = np.array([32.0, 64.0])
    assert torso_pck(pred + shift, gt + shift).at(0.2) == res.at(0.2)
    assert torso_pck(pred * 4.0, gt * 4.0).at(0.1) == res.at(0.1)


# --- golden: eval_pose fixtures ------------------------------------------------------------------------


def _lsp(labels: str):
    from scipy.io import loadmat

    gt_file = LSP_DIR / f"lsp-joints-{labels}.mat"
    pred_file = LSP_DIR / f"pred_keypoints_lsp_{labels.lower()}.mat"
    if not gt_file.exists() or not pred_file.exists():
        pytest.skip(f"LSP eval fixtures not found in {LSP_DIR}")
    joints = loadmat(gt_file)["joints"]  # (3, 14, 2000): x, y, occlusion flag; 1-based pixels
    pred = loadmat(pred_file)["pred"]  # (2, 14, 1000): the test half, images 1001-2000
    assert joints.shape == (3, 14, 2000) and pred.shape == (2, 14, 1000)
    return pred.transpose(2, 1, 0), joints[:2, :, 1000:].transpose(2, 1, 0)


def _flic():
    from scipy.io import loadmat

    gt_file = FLIC_DIR / "flic-joints-test-oc.mat"
    pred_file = FLIC_DIR / "pred_keypoints_flic_oc.mat"
    if not gt_file.exists() or not pred_file.exists():
        pytest.skip(f"FLIC eval fixtures not found in {FLIC_DIR}")
    gt = loadmat(gt_file)["joints"]  # (2, 10, 1016): the 1016 test frames, 10-joint OC layout
    pred = loadmat(pred_file)["pred"]
    assert gt.shape == (2, 10, 1016) and pred.shape == (2, 10, 1016)
    return pred.transpose(2, 1, 0), gt.transpose(2, 1, 0)


def _loop_pck(pred, gt, torso, sym, thr):
    """Independent per-joint loop: symmetrised PCK (percent) per joint and the pooled mean."""
    n, k, _ = gt.shape
    hits = [0] * k
    for i in range(n):
        ref = math.hypot(*(gt[i, torso[0]] - gt[i, torso[1]]))
        for j in range(k):
            d = math.hypot(*(pred[i, j] - gt[i, j])) / ref
            hits[j] += d <= thr  # NaN compares False
    raw = [100 * h / n for h in hits]
    return [(raw[j] + raw[sym[j]]) / 2 for j in range(k)], 100 * sum(hits) / (n * k)


A31 = {  # REFERENCE-METRICS-FORMATS.md A3.1 (values printed to 4 decimals)
    "PC": ({"Ankle": 58.95, "Knee": 69.95, "Hip": 74.75, "Wrist": 68.75, "Elbow": 73.85, "Shoulder": 78.05,
            "Head": 90.6, "Mean": 73.5571}, 39.2521,
           [25.5, 39.5, 37.55, 43.45, 50.3, 48.4, 53.8]),
    "OC": ({"Ankle": 68.8, "Knee": 82.8, "Hip": 85.45, "Wrist": 73.5, "Elbow": 80.3, "Shoulder": 89.05,
            "Head": 90.6, "Mean": 81.5}, 43.3836, None),
}


@pytest.mark.parametrize("labels", ["PC", "OC"])
def test_lsp_reference_table(labels):
    pred, gt = _lsp(labels)
    res = torso_pck(pred, gt, LSP14, PCK_THRESHOLDS)
    expected, auc, pdj_row = A31[labels]
    row = res.at(0.2)
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, abs=5e-5), column
    assert res.auc == pytest.approx(auc, abs=5e-5)
    if pdj_row is not None:
        got = pdj(pred, gt, LSP14).at(0.1)
        assert [got[g] for g, _ in LSP14.groups] == pytest.approx(pdj_row, abs=5e-5)
    sym, mean = _loop_pck(pred, gt, LSP14.torso, LSP14.symmetry, 0.2)
    i = int(np.flatnonzero(res.thresholds == 0.2)[0])
    assert res.symmetric[i] == pytest.approx(sym, abs=1e-9)
    assert res.mean[i] == pytest.approx(mean, abs=1e-9)


def test_lsp_pc_and_oc_labels_differ_in_756_images():
    from scipy.io import loadmat

    if not (LSP_DIR / "lsp-joints-PC.mat").exists():
        pytest.skip(f"LSP eval fixtures not found in {LSP_DIR}")
    pc = loadmat(LSP_DIR / "lsp-joints-PC.mat")["joints"]
    oc = loadmat(LSP_DIR / "lsp-joints-OC.mat")["joints"]
    assert int(np.any(pc[:2] != oc[:2], axis=(0, 1)).sum()) == 756


def test_flic_reference_table():
    pred, gt = _flic()
    res = torso_pck(pred, gt, "flic10")
    expected = {"Head": 98.6713, "Shoulder": 98.5728, "Elbow": 96.752, "Wrist": 94.2421, "Hip": 79.5768,
                "Mean": 93.563}
    row = res.at(0.2)
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, abs=5e-5), column
    assert res.auc == pytest.approx(61.0753, abs=5e-5)
    got = pdj(pred, gt, FLIC10).at(0.1)
    assert [got[g] for g, _ in FLIC10.groups] == pytest.approx([93.0118, 87.2047, 78.7894, 74.9016, 38.3858],
                                                               abs=5e-5)
    assert pdj(pred, gt, FLIC10).thresholds.tolist() == PDJ_THRESHOLDS.tolist()
    sym, mean = _loop_pck(pred, gt, FLIC10.torso, FLIC10.symmetry, 0.2)
    assert res.mean[-1] == pytest.approx(mean, abs=1e-9)
    assert res.symmetric[-1] == pytest.approx(sym, abs=1e-9)


def test_flic_test_labels_are_raw_flic_test_frames_reordered():
    """flic-joints-test-oc.mat = the istest frames of the FLIC struct, joints (29-slot indices)
    nose 16, neck = mean(lsho 0, rsho 3), rsho 3, relb 4, rwri 5, rhip 9, lsho 0, lelb 1,
    lwri 2, lhip 6: the order of :data:`FLIC10`."""
    from scipy.io import loadmat

    if not (FLIC_DIR / "flic-joints-oc.mat").exists():
        pytest.skip(f"FLIC eval fixtures not found in {FLIC_DIR}")
    frames = loadmat(FLIC_DIR / "flic-joints-oc.mat")["flic_anno"][0]
    coords = np.stack([f["coords"] for f in frames if bool(f["istest"].item())]).transpose(0, 2, 1)
    _, gt = _flic()
    assert coords.shape == (1016, 29, 2)
    order = [16, None, 3, 4, 5, 9, 0, 1, 2, 6]
    for j, slot in enumerate(order):
        expected = (coords[:, 0] + coords[:, 3]) / 2 if slot is None else coords[:, slot]
        assert np.allclose(gt[:, j], expected), FLIC10.joints[j]
