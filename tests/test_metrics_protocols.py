"""Human3.6M and MPI-INF-3DHP protocols: presets, action categories, action-averaged vs
frame-mean reporting (golden values by hand), frame selection, and the real fixtures."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from posekit.data.readers.h36m import CAMERA_IDS
from posekit.metrics.protocols import (H36M_ACTIONS, H36M_PROTOCOLS, MPI_INF_3DHP_GROUPS,
                                       MPI_INF_3DHP_OFFICIAL_JOINTS, MPI_INF_3DHP_ROOT, VIDEOPOSE3D_P1,
                                       VIDEOPOSE3D_P2, VIDEOPOSE3D_P3, evaluate_h36m_mmpose,
                                       h36m_action_category, h36m_report, mpi_inf_3dhp_report, select_h36m_frames,
                                       select_h36m_rows)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
H36M = FIXTURES / "h36m" / "test_h36m_body3d.npz"
MPI3DHP = FIXTURES / "mpi_inf_3dhp" / "test_3dhp_test.npz"
needs_h36m = pytest.mark.skipif(not H36M.is_file(), reason="../shared/fixtures/h36m is absent")
needs_3dhp = pytest.mark.skipif(not MPI3DHP.is_file(), reason="../shared/fixtures/mpi_inf_3dhp is absent")


# --- Human3.6M -------------------------------------------------------------------------------------

def test_videopose3d_presets():
    assert set(H36M_PROTOCOLS) == {"videopose3d-p1", "videopose3d-p2", "videopose3d-p3"}
    for p in (VIDEOPOSE3D_P1, VIDEOPOSE3D_P2, VIDEOPOSE3D_P3):
        assert p.train_subjects == ("S1", "S5", "S6", "S7", "S8") and p.test_subjects == ("S9", "S11")
        assert p.cameras == CAMERA_IDS and len(p.cameras) == 4 and p.frame_stride == 1
        assert p.root_relative and p.root == 0 and p.include_root and p.averaging == "action"
    assert (VIDEOPOSE3D_P1.alignment, VIDEOPOSE3D_P2.alignment, VIDEOPOSE3D_P3.alignment) == ("none", "procrustes",
                                                                                            "scale")
    assert len(H36M_ACTIONS) == 15
    with pytest.raises(ValueError, match="frame_stride"):
        dataclasses.replace(VIDEOPOSE3D_P1, frame_stride=0)
    with pytest.raises(ValueError, match="alignment"):
        dataclasses.replace(VIDEOPOSE3D_P1, alignment="affine")


@pytest.mark.parametrize("action, category", [
    ("Walking 1", "Walking"), ("Walking", "Walking"), ("Walking_1", "Walking"), ("WalkDog 1", "WalkDog"),
    ("WalkTogether", "WalkTogether"), ("TakingPhoto_1", "Photo"), ("WalkingDog", "WalkDog"),
    ("SittingDown 2", "SittingDown"),
])
def test_action_category(action, category):
    assert h36m_action_category(action) == category


def test_action_category_rejects_empty():
    with pytest.raises(ValueError):
        h36m_action_category(" ")


def golden_frames():
    """Two joints (root 0); joint 1 is off by 10, 20 and 60 mm in frames of "Walking",
    "Walking 1" and "Eating"; the whole pose also drifts, which root-relative removes."""
    gt = np.zeros((3, 2, 3))
    gt[:, 1] = [0.0, 0.5, 0.0]
    pred = gt + [[[1.0, 2.0, 3.0]]]
    pred[:, 1, 0] += [0.010, 0.020, 0.060]
    return pred, gt, ["Walking", "Walking 1", "Eating"]


def test_action_average_vs_frame_mean_golden():
    """Per frame (17-joint style, root counted) 5, 10, 30 mm. Walking pools 5 and 10 -> 7.5;
    Eating 30. Action mean (VideoPose3D) 18.75; frame mean (MMPose) 15."""
    pred, gt, actions = golden_frames()
    report = h36m_report(pred, gt, actions, VIDEOPOSE3D_P1)
    assert report.per_action == pytest.approx({"Walking": 7.5, "Eating": 30.0})
    assert report.action_mean == pytest.approx(18.75) and report.value == report.action_mean
    assert report.frame_mean == pytest.approx(15.0)
    assert report.num_frames == 3 and len(report.missing_actions) == 13 and "Eating" not in report.missing_actions
    by_frame = h36m_report(pred, gt, actions, dataclasses.replace(VIDEOPOSE3D_P1, averaging="frame"))
    assert by_frame.value == pytest.approx(15.0)
    no_root = h36m_report(pred, gt, actions, dataclasses.replace(VIDEOPOSE3D_P1, include_root=False))
    assert no_root.per_action == pytest.approx({"Walking": 15.0, "Eating": 60.0})
    assert no_root.action_mean == pytest.approx(37.5) and no_root.frame_mean == pytest.approx(30.0)
    absolute = h36m_report(pred, gt, actions, dataclasses.replace(VIDEOPOSE3D_P1, root_relative=False))
    assert absolute.frame_mean > 1000.0  # the drift of ~3.7 m now counts
    in_mm = h36m_report(pred * 1000.0, gt * 1000.0, actions, VIDEOPOSE3D_P1, unit="mm")
    assert in_mm.action_mean == pytest.approx(18.75)


def test_h36m_report_mask_and_errors():
    pred, gt, actions = golden_frames()
    mask = np.array([[True, True], [True, True], [True, False]])  # Eating keeps only its root joint
    report = h36m_report(pred, gt, actions, VIDEOPOSE3D_P1, mask)
    assert report.per_action == pytest.approx({"Walking": 7.5, "Eating": 0.0})
    with pytest.raises(ValueError, match="actions has 2 entries"):
        h36m_report(pred, gt, actions[:2])
    with pytest.raises(ValueError, match="mask must be"):
        h36m_report(pred, gt, actions, VIDEOPOSE3D_P1, np.ones((3, 3), bool))


def test_select_frames_by_subject_camera_stride():
    names = [f"S{s}/S{s}_Walking_1.{cam}/S{s}_Walking_1.{cam}_{f:06d}.jpg"
             for s in (1, 9) for cam in CAMERA_IDS[:2] for f in range(1, 6)]
    assert select_h36m_frames(names, ["S9"]).tolist() == list(range(10, 20))
    assert select_h36m_frames(names, ["S9"], [CAMERA_IDS[1]], 2).tolist() == [15, 17, 19]  # frames 1, 3, 5
    with pytest.raises(ValueError, match="image name 1"):
        select_h36m_frames([names[0], "nonsense.jpg"], ["S1"])


def test_select_rows_counts_frame_numbers_not_rows():
    """The stride keeps a sequence's first frame and every N-th after it, by frame number:
    MMPose names are 1-based (first_frame=1), VideoPose3D frames 0-based (first_frame=0); an
    fps10 file (frames 1, 6, 11, 16, ...) keeps frames 1 and 11 under stride 10, not every
    10th row. Rows without a camera pass only with cameras=None."""
    fps10 = [("S9", CAMERA_IDS[0], f) for f in (1, 6, 11, 16)]
    assert select_h36m_rows(fps10, ["S9"], frame_stride=10).tolist() == [0, 2]
    assert select_h36m_rows(fps10, ["S9"], frame_stride=5).tolist() == [0, 1, 2, 3]
    zero_based = [("S9", None, f) for f in range(5)] + [("S11", None, 0), ("S1", None, 0)]
    assert select_h36m_rows(zero_based, ["S9", "S11"], None, 2, first_frame=0).tolist() == [0, 2, 4, 5]
    with pytest.raises(ValueError, match=r"row 0 \(S9\) has no camera"):
        select_h36m_rows(zero_based, ["S9"])
    with pytest.raises(ValueError, match="frame_stride must be >= 1"):
        select_h36m_rows(fps10, ["S9"], frame_stride=0)


@needs_h36m
def test_h36m_fixture_known_noise_and_mirror():
    """The fixture holds S1, S5, S7, S8 only (no test subject): the VideoPose3D presets find
    nothing; with those subjects as the test set, GT + a constant (3, 4, 0) mm offset gives
    exactly 5 mm without root subtraction and 0 for P1/P2; a mirrored pose keeps P2 > 0."""
    data = np.load(H36M)
    gt, names = data["S"][..., :3], [str(n) for n in data["imgname"]]
    with pytest.raises(ValueError, match="no frame"):
        evaluate_h36m_mmpose(gt, gt, names, VIDEOPOSE3D_P1)
    subjects = dict(test_subjects=("S1", "S5", "S7", "S8"))
    shifted = gt + [0.003, 0.004, 0.0]
    plain = evaluate_h36m_mmpose(shifted, gt, names, dataclasses.replace(VIDEOPOSE3D_P1, root_relative=False,
                                                                         **subjects))
    assert plain.frame_mean == pytest.approx(5.0, abs=1e-9) and plain.action_mean == pytest.approx(5.0, abs=1e-9)
    assert set(plain.per_action) == {"Directions", "SittingDown", "Greeting", "WalkDog"}
    for protocol in (VIDEOPOSE3D_P1, VIDEOPOSE3D_P2, VIDEOPOSE3D_P3):
        assert evaluate_h36m_mmpose(shifted, gt, names, dataclasses.replace(protocol, **subjects)).value == \
            pytest.approx(0.0, abs=1e-9)
    mirrored = gt * [-1.0, 1.0, 1.0]
    p2 = evaluate_h36m_mmpose(mirrored, gt, names, dataclasses.replace(VIDEOPOSE3D_P2, **subjects))
    p1 = evaluate_h36m_mmpose(mirrored, gt, names, dataclasses.replace(VIDEOPOSE3D_P1, **subjects))
    assert 20.0 < p2.value < p1.value
    one_camera = dataclasses.replace(VIDEOPOSE3D_P1, cameras=(CAMERA_IDS[1],), **subjects)
    assert evaluate_h36m_mmpose(mirrored, gt, names, one_camera).num_frames == 2  # S7 and S8 use 55011271


# --- MPI-INF-3DHP ----------------------------------------------------------------------------------

def test_3dhp_joint_groups():
    assert MPI_INF_3DHP_ROOT == 14
    assert MPI_INF_3DHP_OFFICIAL_JOINTS == tuple(range(14))
    assert list(MPI_INF_3DHP_GROUPS) == ["Head", "Neck", "Shou", "Elbow", "Wrist", "Hip", "Knee", "Ankle"]
    assert MPI_INF_3DHP_GROUPS["Shou"] == (2, 5) and MPI_INF_3DHP_GROUPS["Ankle"] == (10, 13)


def synthetic_3dhp():
    rng = np.random.default_rng(5)
    return np.round(rng.normal(size=(4, 17, 3)) * 300.0)  # mm, integers: exact arithmetic


def test_3dhp_official_vs_all_joints_golden():
    """Head (joint 16, not in the official 14) off by 400 mm and r_elbow (3) off by 150 mm
    (exactly the threshold: wrong) in every frame. Official: 13 / 14 correct, Elbow group 1/2,
    MPJPE 150 / 14. MMPose 0.x "all": 15 / 17 (the pelvis is always right)."""
    gt = synthetic_3dhp()
    pred = gt.copy()
    pred[:, 16, 2] += 400.0
    pred[:, 3] += [90.0, 0.0, 120.0]
    pred += [[[7.0, 8.0, 9.0]]]  # a global offset: removed by the root-relative errors
    report = mpi_inf_3dhp_report(pred, gt, unit="mm")
    assert report.joints == tuple(range(14)) and report.num_frames == 4
    assert report.pck == pytest.approx(13 / 14)
    assert report.per_group_pck["Elbow"] == 0.5 and report.per_group_pck["Head"] == 1.0
    assert report.per_group_auc["Elbow"] == pytest.approx(30 / 31 / 2)  # 150 is below none of 0..150
    assert report.auc == pytest.approx((13 * 30 / 31) / 14)
    assert report.mpjpe == pytest.approx(150.0 / 14)
    everything = mpi_inf_3dhp_report(pred, gt, joint_set="all", unit="mm")
    assert everything.pck == pytest.approx(15 / 17)
    offset_only = mpi_inf_3dhp_report(gt + [7.0, 8.0, 9.0], gt, unit="mm", root_relative=False)
    assert offset_only.mpjpe == pytest.approx(np.sqrt(49 + 64 + 81)) and offset_only.pck == 1.0
    with pytest.raises(ValueError, match="joint_set"):
        mpi_inf_3dhp_report(pred, gt, joint_set="some")


def test_3dhp_mask_sequences_and_alignment():
    gt = synthetic_3dhp()
    pred = gt.copy()
    pred[:2, 0] += [0.0, 200.0, 0.0]  # head_top wrong in the first two frames
    mask = np.ones((4, 17), bool)
    mask[0, 0] = False
    report = mpi_inf_3dhp_report(pred, gt, mask, unit="mm", sequences=["TS1", "TS1", "TS2", "TS2"])
    assert report.pck == pytest.approx(1 - 1 / 55)  # 14 * 4 - 1 = 55 scored joints, one wrong
    assert report.per_group_pck["Head"] == pytest.approx(2 / 3)
    assert report.per_sequence["TS1"][0] == pytest.approx(26 / 27)
    assert report.per_sequence["TS2"] == pytest.approx((1.0, 30 / 31, 0.0))
    scaled = 1.2 * gt + 40.0
    assert mpi_inf_3dhp_report(scaled, gt, unit="mm", alignment="procrustes").pck == 1.0
    with pytest.raises(ValueError, match="no joint to score"):
        mpi_inf_3dhp_report(pred, gt, np.zeros((4, 17), bool), unit="mm")
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        mpi_inf_3dhp_report(pred[:, :14], gt[:, :14])


@needs_3dhp
def test_3dhp_fixture():
    """test_3dhp_test.npz: 2 frames (TS1, TS2), metres; frame 2 flags r_wrist (4) and l_wrist (7)
    as 0. GT vs GT: PCK 1, AUC 30/31. GT + 0.2 m on the right wrist: 26 scored, 1 wrong (frame 1)."""
    data = np.load(MPI3DHP)
    gt, mask = data["S"][..., :3], data["S"][..., 3] > 0
    assert (~mask).sum() == 2
    perfect = mpi_inf_3dhp_report(gt, gt, mask)
    assert perfect.pck == 1.0 and perfect.auc == pytest.approx(30 / 31) and perfect.mpjpe == 0.0
    noisy = gt.copy()
    noisy[:, 4, 0] += 0.2
    report = mpi_inf_3dhp_report(noisy, gt, mask, sequences=["TS1", "TS2"])
    assert report.pck == pytest.approx(25 / 26)
    assert report.per_group_pck["Wrist"] == pytest.approx(1 / 2)
    assert report.mpjpe == pytest.approx(200.0 / 26)
    assert report.per_sequence["TS2"][0] == 1.0
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert mpi_inf_3dhp_report(mirrored, gt, mask, alignment="procrustes").mpjpe > 10.0
