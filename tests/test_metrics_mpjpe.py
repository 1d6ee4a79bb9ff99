"""MPJPE family: golden values derived by hand, Procrustes properties (hypothesis), a
cross-check against scipy's Kabsch rotation, and the Human3.6M fixture."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from posekit.metrics.mpjpe import (align, joint_errors, masked_mean, mpjpe, mpjve, n_mpjpe, p_mpjpe, procrustes_align,
                                   root_relative, root_relative_mpjpe, scale_align, to_mm)

H36M = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "h36m" / "test_h36m_body3d.npz"
needs_h36m = pytest.mark.skipif(not H36M.is_file(), reason="../shared/fixtures/h36m is absent")

ROT_Z_90 = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # row vectors: (x, y) -> (-y, x)


def chiral_pose() -> np.ndarray:
    """A non-planar 5-joint pose with no mirror symmetry."""
    return np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.5]])


# --- plain MPJPE and helpers ----------------------------------------------------------------------

def test_mpjpe_golden_3_4_5():
    gt = np.zeros((2, 2, 3))
    pred = np.zeros((2, 2, 3))
    pred[0, 0] = [3.0, 4.0, 0.0]  # 5
    pred[0, 1] = [0.0, 0.0, 1.0]  # 1
    pred[1, 0] = [0.0, 6.0, 8.0]  # 10
    assert joint_errors(pred, gt).tolist() == [[5.0, 1.0], [10.0, 0.0]]
    assert mpjpe(pred, gt) == 4.0
    mask = np.array([[True, False], [True, True]])
    assert mpjpe(pred, gt, mask) == pytest.approx(15.0 / 3)
    assert mpjpe(pred, gt, np.array([True, False])) == 7.5  # (J,) mask broadcast over frames


def test_to_mm_and_units():
    assert to_mm(0.15, "m") == pytest.approx(150.0)
    assert to_mm(2.0, "cm") == 20.0 and to_mm(7.0, "mm") == 7.0
    with pytest.raises(ValueError, match="unit"):
        to_mm(1.0, "inch")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="mask selects nothing"):
        mpjpe(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), np.zeros((1, 2), bool))
    with pytest.raises(ValueError, match="mask"):
        masked_mean(np.zeros((2, 3)), np.ones((4,), bool))
    with pytest.raises(ValueError, match="alignment"):
        align(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), "affine")
    with pytest.raises(ValueError, match="root 5"):
        root_relative(np.zeros((1, 3, 3)), 5)


# --- root-relative ---------------------------------------------------------------------------------

def test_root_relative_mpjpe_variants():
    """3 joints, root 0. After subtracting each pose's root, only joint 1 is off, by 3."""
    gt = np.array([[[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [1.0, 3.0, 1.0]]])
    pred = gt + [10.0, -4.0, 2.0]
    pred[0, 1] += [0.0, 3.0, 0.0]
    assert mpjpe(pred, gt) > 10
    assert root_relative_mpjpe(pred, gt) == pytest.approx(1.0)  # 17-joint style: (0 + 3 + 0) / 3
    assert root_relative_mpjpe(pred, gt, include_root=False) == pytest.approx(1.5)  # (3 + 0) / 2
    # VideoPose3D: the target root is zeroed, the prediction is scored as given.
    net = root_relative(pred, 0)
    net[0, 0] = [0.0, 0.0, 0.4]  # a network output whose root is only near zero
    assert root_relative_mpjpe(net, gt, pred_is_root_relative=True) == pytest.approx((0.4 + 3.0 + 0.0) / 3)
    assert root_relative_mpjpe(net, gt) == pytest.approx((0.0 + np.hypot(3.0, 0.4) + 0.4) / 3)


# --- P-MPJPE ---------------------------------------------------------------------------------------

def test_p_mpjpe_similarity_is_zero():
    gt = chiral_pose()[None]
    pred = 2.5 * gt @ ROT_Z_90 + [4.0, -1.0, 7.0]
    assert mpjpe(pred, gt) > 1
    assert p_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-12)


def test_p_mpjpe_translation_only_golden():
    """A pure translation error is removed entirely; a collinear pose scaled by 0 maps to the
    GT centroid: errors = distances to the centroid (1, 0, 1) -> 2/3."""
    gt = np.array([[[-1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    assert p_mpjpe(gt + 5.0, gt) == pytest.approx(0.0, abs=1e-12)
    assert p_mpjpe(np.full_like(gt, 3.0), gt) == pytest.approx(2.0 / 3.0)


def _improper_procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best orthogonal (rotation *or reflection*) similarity, to show what the fix prevents."""
    y, x = pred - pred.mean(0), gt - gt.mean(0)
    u, s, vt = np.linalg.svd(x.T @ y)
    r = vt.T @ u.T
    return s.sum() / (y * y).sum() * y @ r + gt.mean(0)


def test_reflection_fix_keeps_mirrored_error():
    gt = chiral_pose()
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert joint_errors(_improper_procrustes(mirrored, gt), gt).max() < 1e-12  # a reflection would hide it
    assert p_mpjpe(mirrored[None], gt[None]) > 0.1


@st.composite
def pose_pairs(draw, max_frames: int = 4, max_joints: int = 8):
    frames = draw(st.integers(1, max_frames))
    joints = draw(st.integers(4, max_joints))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=(frames, joints, 3))
    pred = gt + draw(st.floats(0.0, 2.0)) * rng.normal(size=gt.shape)
    return pred, gt, rng


@settings(max_examples=60, deadline=None)
@given(pose_pairs(), st.floats(0.1, 10.0), st.booleans())
def test_procrustes_invariant_to_similarity_of_prediction(pair, scale, mirror):
    pred, gt, rng = pair
    if mirror:  # the invariance holds for mirrored predictions too (they stay mirrored)
        pred = pred * [-1.0, 1.0, 1.0]
    rot = Rotation.random(len(pred), random_state=int(rng.integers(1 << 31))).as_matrix()
    moved = scale * np.einsum("fjk,fkl->fjl", pred, rot) + rng.normal(size=(len(pred), 1, 3)) * 5
    np.testing.assert_allclose(procrustes_align(moved, gt), procrustes_align(pred, gt), atol=1e-7)
    assert p_mpjpe(moved, gt) == pytest.approx(p_mpjpe(pred, gt), abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(pose_pairs())
def test_procrustes_never_increases_squared_error(pair):
    """Procrustes (and the scale fit) minimise the *sum of squared* errors, so that never exceeds
    the unaligned one (nor the one of any other similarity, e.g. the identity after scaling)."""
    pred, gt, _ = pair
    sq = lambda p: (joint_errors(p, gt) ** 2).sum(axis=-1)  # noqa: E731
    assert np.all(sq(procrustes_align(pred, gt)) <= sq(pred) + 1e-9)
    assert np.all(sq(procrustes_align(pred, gt)) <= sq(0.7 * pred) + 1e-9)
    assert np.all(sq(scale_align(pred, gt)) <= sq(pred) + 1e-9)


def test_p_mpjpe_can_exceed_mpjpe_of_the_mean_distance():
    """Why the property above is about squared errors: least squares spreads a single large
    error over all joints, so the *mean distance* may grow. The 8 corners of a unit cube, one
    moved by 3 along z: MPJPE = 3 / 8, yet P-MPJPE is about 0.62."""
    gt = np.array([[[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)]])
    pred = gt.copy()
    pred[0, 0] += [0.0, 0.0, 3.0]
    assert mpjpe(pred, gt) == 0.375
    assert p_mpjpe(pred, gt) > 0.6


@settings(max_examples=40, deadline=None)
@given(pose_pairs(max_frames=3))
def test_procrustes_matches_scipy_kabsch(pair):
    """Independent reference: scipy's proper-rotation Kabsch fit on the centred poses, then the
    least-squares scale ``sum <x_i, R y_i> / sum |y_i|^2``."""
    pred, gt, _ = pair
    for f in range(len(pred)):
        y, x = pred[f] - pred[f].mean(0), gt[f] - gt[f].mean(0)
        rot, _ = Rotation.align_vectors(x, y)
        ry = rot.apply(y)
        ref = (x * ry).sum() / (y * y).sum() * ry + gt[f].mean(0)
        np.testing.assert_allclose(procrustes_align(pred[f:f + 1], gt[f:f + 1])[0], ref, atol=1e-7)


def test_batched_procrustes_equals_per_frame():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(2, 3, 6, 3))
    pred = gt + rng.normal(size=gt.shape)
    batched = procrustes_align(pred, gt)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(batched[i, j], procrustes_align(pred[i, j], gt[i, j]), atol=1e-12)


# --- N-MPJPE ---------------------------------------------------------------------------------------

def test_n_mpjpe_scaled_pose_is_zero():
    gt = root_relative(chiral_pose()[None], 0)
    assert n_mpjpe(0.4 * gt, gt) == pytest.approx(0.0, abs=1e-12)
    assert mpjpe(0.4 * gt, gt) > 0.5


def test_n_mpjpe_does_not_centre_golden():
    """gt (0,0,0), (1,0,0); pred = gt + (1,0,0). s = (0*1 + 1*2) / (1 + 4) = 0.4, scaled pred
    (0.4,0,0), (0.8,0,0): errors 0.4 and 0.2 -> 0.3."""
    gt = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    assert n_mpjpe(gt + [1.0, 0.0, 0.0], gt) == pytest.approx(0.3)
    assert n_mpjpe(np.zeros_like(gt), gt) == pytest.approx(0.5)  # zero prediction kept as is


# --- MPJVE -----------------------------------------------------------------------------------------

def test_mpjve_golden():
    """One joint over 3 frames: gt static, pred at x = 0, 5, 5 -> velocity errors 5, 0 -> 2.5.
    A constant offset has no velocity error."""
    gt = np.zeros((3, 1, 3))
    pred = np.zeros((3, 1, 3))
    pred[1:, 0, 0] = 5.0
    assert mpjve(pred, gt) == 2.5
    assert mpjve(gt + 7.0, gt) == 0.0
    batch = np.stack([pred, gt])  # (B, T, J, 3), time on axis 1
    assert mpjve(batch, np.zeros_like(batch), time_axis=1) == pytest.approx(2.5 / 2)
    with pytest.raises(ValueError, match="time_axis"):
        mpjve(pred, gt, time_axis=-2)
    with pytest.raises(ValueError, match="2 frames"):
        mpjve(pred[:1], gt[:1])


# --- Human3.6M fixture -----------------------------------------------------------------------------

@needs_h36m
def test_h36m_fixture_known_noise():
    """S: (4, 17, 4) camera-frame metres + flag. GT + a constant (3, 4, 0) mm offset: MPJPE is
    5 mm, root-relative MPJPE and P-MPJPE are 0; GT rotated, scaled, moved: P-MPJPE 0."""
    gt = np.load(H36M)["S"][..., :3]
    shifted = gt + [0.003, 0.004, 0.0]
    assert to_mm(mpjpe(shifted, gt), "m") == pytest.approx(5.0, abs=1e-9)
    assert to_mm(root_relative_mpjpe(shifted, gt), "m") == pytest.approx(0.0, abs=1e-9)
    moved = 1.1 * gt @ Rotation.from_euler("xyz", [10, -30, 45], degrees=True).as_matrix() + [0.2, 0.0, -1.0]
    assert to_mm(p_mpjpe(moved, gt), "m") == pytest.approx(0.0, abs=1e-9)
    noisy = gt + np.random.default_rng(0).normal(scale=0.02, size=gt.shape)
    assert 0 < p_mpjpe(noisy, gt) < mpjpe(noisy, gt)


@needs_h36m
def test_h36m_fixture_mirrored_is_not_explained_away():
    gt = root_relative(np.load(H36M)["S"][..., :3], 0)
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert to_mm(p_mpjpe(mirrored, gt), "m") > 20.0
    for f in range(len(gt)):  # an improper fit would make it vanish
        assert joint_errors(_improper_procrustes(mirrored[f], gt[f]), gt[f]).max() < 1e-9
