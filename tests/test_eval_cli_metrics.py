"""``posekit eval`` for the metrics read from each dataset's native files: golden numbers on the
real fixtures through the command line, hand-derived 3D cases, bad input, and no torch/cv2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
REPO = Path(__file__).resolve().parents[1]
MPII = (FIXTURES / "mpii_eval" / "valid.h5", FIXTURES / "mpii_eval" / "bearpaw-hg_s2_b1.mat")
LSP = (FIXTURES / "lsp" / "lsp-joints-PC.mat", FIXTURES / "lsp" / "pred_keypoints_lsp_pc.mat")
FLIC_PRED = FIXTURES / "flic" / "pred_keypoints_flic_oc.mat"
H36M = FIXTURES / "h36m" / "test_h36m_body3d.npz"
DHP = FIXTURES / "mpi_inf_3dhp" / "test_3dhp_test.npz"
#: The H3.6M fixture holds training subjects only (S1, S5, S7, S8): score them all.
ALL_SUBJECTS = ("--subjects", "all")


def need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared fixtures not available: {missing}")


def posekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit.cli", "eval", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def eval_json(*args) -> dict:
    out = posekit(*args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2 and out.stdout == "", (out.returncode, out.stdout)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("posekit eval: error: ")
    return lines[0]


# --- 2D golden numbers on the real fixtures ----------------------------------------------------------


def test_pckh_official_golden_after_one_based_shift():
    need(*MPII)
    table = eval_json("--metric", "pckh", "--gt", MPII[0], "--results", MPII[1], "--one-based")["table"]
    assert table["Total"] == pytest.approx(87.30418943533698, abs=1e-9)
    assert table["Total@0.1"] == pytest.approx(24.473067915690866, abs=1e-9)
    assert table["Head"] == pytest.approx(96.74283765347886, abs=1e-9)


def test_pckh_variants_and_the_shift_matters():
    need(*MPII)
    hrnet = eval_json("--metric", "pckh", "--variant", "hrnet", "--gt", MPII[0], "--results", MPII[1], "--one-based")
    assert hrnet["table"]["Mean@0.1"] == pytest.approx(28.59744990892532, abs=1e-9)
    # Without --one-based every prediction sits 1 px off: PCKh@0.1 24.47 -> 28.78 (REFERENCE trap 6).
    unshifted = eval_json("--metric", "pckh", "--gt", MPII[0], "--results", MPII[1])["table"]
    assert round(unshifted["Total@0.1"], 2) == 28.78


def test_pckh_table_output():
    need(*MPII)
    out = posekit("--metric", "pckh", "--gt", MPII[0], "--results", MPII[1], "--one-based")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[1:3]
    assert header.split() == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "UBody", "Total",
                              "Total@0.1", "AUC"]
    assert row.split()[0] == "PCKh" and row.split()[9] == "87.30"


def test_pckh_from_npy_array_in_reader_order(tmp_path):
    """The same predictions as a 0-based (N, 16, 2) .npy give the same table."""
    need(*MPII)
    from scipy.io import loadmat

    np.save(tmp_path / "preds.npy", loadmat(MPII[1])["preds"].astype(np.float64) - 1.0)
    table = eval_json("--metric", "pckh", "--gt", MPII[0], "--results", tmp_path / "preds.npy")["table"]
    assert table["Total"] == pytest.approx(87.30418943533698, abs=1e-9)


def test_lsp_pck_pdj_pcp_golden():
    need(*LSP)
    pck = eval_json("--metric", "lsp-pck", "--gt", LSP[0], "--results", LSP[1], "--one-based")
    assert pck["images"] == 1000  # the predictions cover the test half: images 1001-2000 are scored
    assert pck["table"]["0.2"]["Mean"] == pytest.approx(73.5571, abs=5e-5)
    assert pck["AUC"] == pytest.approx(39.2521, abs=5e-5)
    row = eval_json("--metric", "pdj", "--gt", LSP[0], "--results", LSP[1], "--one-based")["table"]["0.1"]
    assert [row[g] for g in ("Ankle", "Knee", "Hip", "Wrist", "Elbow", "Shoulder", "Head")] == pytest.approx(
        [25.5, 39.5, 37.55, 43.45, 50.3, 48.4, 53.8], abs=5e-5)
    # PCP through the command equals the library on the raw eval_pose arrays (1-based both sides)
    from scipy.io import loadmat

    from posekit.metrics.pcp import pcp

    expected = pcp(loadmat(LSP[1])["pred"].transpose(2, 1, 0),
                   loadmat(LSP[0])["joints"][:2, :, 1000:].transpose(2, 1, 0))
    got = eval_json("--metric", "pcp", "--gt", LSP[0], "--results", LSP[1], "--one-based")["table"]["PCP"]
    assert got["Mean"] == pytest.approx(expected.mean, abs=1e-9)
    assert got["Torso"] == pytest.approx(expected.groups["Torso"], abs=1e-9)


@pytest.mark.parametrize("gt_name", ["flic-joints-test-oc.mat", "flic-joints-oc.mat"])
def test_flic_pck_golden_from_either_label_file(gt_name):
    """eval_pose's 10-joint test array and FLIC's own struct (test frames picked, neck made
    from the shoulders) give the published 93.563."""
    gt = FIXTURES / "flic" / gt_name
    need(gt, FLIC_PRED)
    values = eval_json("--metric", "flic-pck", "--gt", gt, "--results", FLIC_PRED, "--one-based")
    assert values["images"] == 1016 and values["layout"] == "flic10"
    assert values["table"]["0.2"]["Mean"] == pytest.approx(93.563, abs=5e-5)
    assert values["AUC"] == pytest.approx(61.0753, abs=5e-5)


def test_crowdpose_and_aic_equal_their_library_functions():
    cp = (FIXTURES / "crowdpose_eval" / "example_crowdpose_val.json",
          FIXTURES / "crowdpose_eval" / "example_crowdpose_preds.json")
    aic = (FIXTURES / "aic_eval" / "keypoint_annotations_example.json",
           FIXTURES / "aic_eval" / "keypoint_predictions_example.json")
    need(*cp, *aic)
    from posekit.metrics.aic_eval import aic_official_eval
    from posekit.metrics.crowdpose_eval import crowdpose_eval

    assert eval_json("--metric", "crowdpose", "--gt", cp[0], "--results", cp[1]) == crowdpose_eval(*cp)
    score = eval_json("--metric", "aic", "--gt", aic[0], "--results", aic[1])["score"]
    assert score == pytest.approx(100 * aic_official_eval(*aic), abs=1e-12)
    out = posekit("--metric", "crowdpose", "--gt", cp[0], "--results", cp[1])
    assert out.returncode == 0 and out.stdout.splitlines()[-1].split() == ["AP_hard", "0.4116"]


# --- 3D: hand-derived errors on the real npz files ---------------------------------------------------


def _gt3d(path: Path) -> np.ndarray:
    with np.load(path) as npz:
        return npz["S"][..., :3].astype(np.float64)


def test_h36m_mpjpe_and_3dpck(tmp_path):
    """One non-root joint moved by 10 mm (then 200 mm) in every frame: root-relative MPJPE is
    10/17 mm; 3DPCK@150 mm is 16/17. Tolerance 1e-3 mm: the readers keep 3D joints in float32
    metres (a rounding of about 1e-4 mm)."""
    need(H36M)
    gt = _gt3d(H36M)
    pred = gt.copy()
    pred[:, 5, 0] += 0.010
    np.save(tmp_path / "p.npy", pred)
    values = eval_json("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy", *ALL_SUBJECTS)
    assert values["dataset"] == "h36m" and values["frames"] == len(gt)
    assert values["frame_mean_mm"] == pytest.approx(10 / 17, abs=1e-3)
    assert values["action_mean_mm"] == pytest.approx(10 / 17, abs=1e-3)
    np.save(tmp_path / "mm.npy", pred * 1000.0)
    mm = eval_json("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "mm.npy", "--results-unit", "mm",
                   *ALL_SUBJECTS)
    assert mm["frame_mean_mm"] == pytest.approx(10 / 17, abs=1e-3)
    pred[:, 5, 0] += 0.190
    np.save(tmp_path / "far.npy", pred)
    pck = eval_json("--metric", "3dpck", "--gt", H36M, "--results", tmp_path / "far.npy", *ALL_SUBJECTS)
    assert pck["3DPCK"] == pytest.approx(100 * 16 / 17)


def test_h36m_p_mpjpe_ignores_similarity(tmp_path):
    need(H36M)
    gt = _gt3d(H36M)
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    np.save(tmp_path / "p.npy", 1.5 * gt @ rot.T + 0.2)
    values = eval_json("--metric", "p-mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy", *ALL_SUBJECTS)
    assert values["frame_mean_mm"] == pytest.approx(0.0, abs=1e-3)
    plain = eval_json("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy", *ALL_SUBJECTS)
    assert plain["frame_mean_mm"] > 10.0


def test_mpi_inf_3dhp_report(tmp_path):
    """Head (an official joint) moved by 200 mm in both frames. Frame 2 has both wrists flagged
    unlabelled in ``S`` (flag 0), so 14 + 12 official joints are scored and 2 are wrong:
    3DPCK 24/26, MPJPE 400/26 mm."""
    need(DHP)
    pred = _gt3d(DHP)
    pred[:, 0, 1] += 0.2
    np.save(tmp_path / "p.npy", pred)
    values = eval_json("--metric", "3dpck", "--gt", DHP, "--results", tmp_path / "p.npy")
    assert values["dataset"] == "mpi_inf_3dhp" and values["joint_set"] == "official"
    assert values["3DPCK"] == pytest.approx(100 * 24 / 26)
    assert values["MPJPE_mm"] == pytest.approx(400 / 26, abs=1e-3)
    assert values["per_group_3DPCK"]["Head"] == 0.0 and values["per_group_3DPCK"]["Neck"] == 100.0
    assert set(values["per_sequence"]) == {"TS1", "TS2"}


# --- bad input -------------------------------------------------------------------------------------


def test_prediction_count_mismatch_names_both_files(tmp_path):
    need(*LSP)
    np.save(tmp_path / "p.npy", np.zeros((999, 14, 2)))
    line = one_error_line(posekit("--metric", "lsp-pck", "--gt", LSP[0], "--results", tmp_path / "p.npy"))
    assert "p.npy: field 'predictions' holds 999 poses" in line and "lsp-joints-PC.mat has 2000 people" in line


def test_prediction_shape_is_named(tmp_path):
    need(*MPII)
    np.save(tmp_path / "p.npy", np.zeros((2958, 14, 2)))
    line = one_error_line(posekit("--metric", "pckh", "--gt", MPII[0], "--results", tmp_path / "p.npy"))
    assert "p.npy: field 'predictions' has shape (2958, 14, 2), expected (N, 16, 2)" in line


def test_several_arrays_need_a_key(tmp_path):
    need(*LSP)
    np.savez(tmp_path / "p.npz", a=np.zeros((1000, 14, 2)), b=np.zeros(3))
    line = one_error_line(posekit("--metric", "lsp-pck", "--gt", LSP[0], "--results", tmp_path / "p.npz"))
    assert "p.npz: holds 2 arrays ['a', 'b']; name one with --results-key" in line
    ok = posekit("--metric", "lsp-pck", "--gt", LSP[0], "--results", tmp_path / "p.npz", "--results-key", "a")
    assert ok.returncode == 0, ok.stderr


def test_mpii_json_without_head_boxes():
    gt = FIXTURES / "mpii" / "test_mpii.json"
    need(gt, MPII[1])
    line = one_error_line(posekit("--metric", "pckh", "--gt", gt, "--results", MPII[1]))
    assert "test_mpii.json" in line and "field 'head_sizes' is missing" in line and "--head-boxes" in line


def test_corrupt_ground_truth_and_missing_results(tmp_path):
    need(*LSP)
    bad = tmp_path / "joints.mat"
    bad.write_bytes(LSP[0].read_bytes()[:300])
    line = one_error_line(posekit("--metric", "lsp-pck", "--gt", bad, "--results", LSP[1]))
    assert str(bad) in line
    line = one_error_line(posekit("--metric", "pcp", "--gt", LSP[0], "--results", tmp_path / "none.mat"))
    assert "none.mat: No such file" in line


def test_3d_shape_mismatch(tmp_path):
    need(H36M)
    np.save(tmp_path / "p.npy", np.zeros((4, 16, 3)))
    line = one_error_line(posekit("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy", *ALL_SUBJECTS))
    assert "p.npy: field 'predictions' has shape (4, 16, 3), expected (4, 17, 3)" in line


def test_corrupt_npz_and_npy_are_named(tmp_path):
    need(H36M)
    (tmp_path / "gt.npz").write_bytes(H36M.read_bytes()[:500])
    np.save(tmp_path / "p.npy", _gt3d(H36M))
    line = one_error_line(posekit("--metric", "mpjpe", "--gt", tmp_path / "gt.npz", "--results", tmp_path / "p.npy"))
    assert "gt.npz: cannot be read as an npz" in line
    (tmp_path / "cut.npy").write_bytes((tmp_path / "p.npy").read_bytes()[:100])
    line = one_error_line(posekit("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "cut.npy"))
    assert "cut.npy: cannot be read as .npy" in line


# --- start-up cost ---------------------------------------------------------------------------------


def test_no_metric_imports_torch_or_cv2(tmp_path):
    """Every metric run in one process (an import persists), then neither torch nor cv2 loaded."""
    need(*MPII, *LSP, FLIC_PRED, H36M, DHP, FIXTURES / "crowdpose_eval", FIXTURES / "aic_eval")
    pred3d = tmp_path / "p.npy"
    np.save(pred3d, _gt3d(H36M))
    pred3dhp = tmp_path / "q.npy"
    np.save(pred3dhp, _gt3d(DHP))
    runs = [["--metric", "pckh", "--gt", MPII[0], "--results", MPII[1], "--one-based"],
            ["--metric", "flic-pck", "--gt", FIXTURES / "flic" / "flic-joints-oc.mat", "--results", FLIC_PRED]]
    runs += [["--metric", m, "--gt", LSP[0], "--results", LSP[1]] for m in ("lsp-pck", "pdj", "pcp")]
    runs += [["--metric", m, "--gt", H36M, "--results", pred3d, *ALL_SUBJECTS]
             for m in ("mpjpe", "p-mpjpe", "n-mpjpe", "3dpck")]
    runs += [["--metric", "3dpck", "--gt", DHP, "--results", pred3dhp]]
    runs += [["--metric", "crowdpose", "--gt", FIXTURES / "crowdpose_eval" / "example_crowdpose_val.json",
              "--results", FIXTURES / "crowdpose_eval" / "example_crowdpose_preds.json"],
             ["--metric", "aic", "--gt", FIXTURES / "aic_eval" / "keypoint_annotations_example.json",
              "--results", FIXTURES / "aic_eval" / "keypoint_predictions_example.json"]]
    code = ("import contextlib, io, sys; from posekit.cli import main\n"
            f"runs = {[[str(a) for a in r] for r in runs]!r}\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    codes = [main(['eval', *r, '--json']) for r in runs]\n"
            "print('CODES', codes, 'HEAVY', sorted(m for m in ('torch', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert f"CODES {[0] * len(runs)} HEAVY []" in out.stdout, out.stdout + out.stderr


def test_pck_torso_normalisation_from_the_cli(tmp_path):
    """`--norm torso` scores against ||left_shoulder - right_hip||: a 4.9 px error on a 50 px torso
    is within 0.1, a 5.1 px error is not."""
    import json as _json
    import subprocess as _sp
    import sys as _sys

    kps = [0.0] * 51
    for j, (x, y) in {5: (130, 100), 12: (100, 140), 0: (115, 80)}.items():  # l_shoulder, r_hip, nose
        kps[3 * j:3 * j + 3] = [x, y, 2]
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 300, "height": 300}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [90, 70, 60, 200], "area": 6000,
                           "iscrowd": 0, "num_keypoints": 3, "keypoints": kps}],
          "categories": [{"id": 1, "name": "person"}]}
    pred = list(kps)
    pred[0] += 4.9   # nose
    pred[15] += 5.1  # left shoulder
    for j in range(17):
        pred[3 * j + 2] = 0.9
    (tmp_path / "gt.json").write_text(_json.dumps(gt))
    (tmp_path / "res.json").write_text(_json.dumps([{"image_id": 1, "category_id": 1, "keypoints": pred,
                                                      "score": 0.9}]))
    out = _sp.run([_sys.executable, "-m", "posekit.cli", "eval", "--metric", "pck", "--norm", "torso", "--thr", "0.1",
                   "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "res.json"), "--json"],
                  capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    values = _json.loads(out.stdout)
    assert values["normaliser"] == "torso"
    assert values["per_keypoint"]["nose"] == 1.0 and values["per_keypoint"]["left_shoulder"] == 0.0
    assert values["PCK_pooled"] == pytest.approx(2 / 3)


# --- native ground-truth files and metrics added for issue 3's audit ------------------------------------


def _write_gt_valid_from_h5(path: Path) -> None:
    """``gt_valid.mat`` (HRNet / bearpaw layout) holding valid.h5's people: ``pos_gt_src (16, 2, N)``
    and ``jnt_missing (16, N)`` from ``part`` (1-based, (0, 0) = missing), and square head boxes
    whose ``0.6 * diagonal`` is the .h5's ``normalize``."""
    import h5py
    from scipy.io import savemat

    with h5py.File(MPII[0], "r") as f:
        part, normalize = f["part"][:].astype(np.float64), f["normalize"][:]
    side = normalize / 0.6 / np.sqrt(2.0)
    corners = np.stack([np.stack([np.full_like(side, 5.0), np.full_like(side, 7.0)]),
                        np.stack([5.0 + side, 7.0 + side])])  # (corner, coordinate, person)
    savemat(path, {"pos_gt_src": part.transpose(1, 2, 0), "jnt_missing": (part == 0).all(axis=2).T.astype(float),
                   "headboxes_src": corners})


def test_pckh_from_the_evaluators_gt_valid_mat(tmp_path):
    """The evaluators' own ground truth gives the valid.h5 table (same people, same head sizes)."""
    need(*MPII)
    _write_gt_valid_from_h5(tmp_path / "gt_valid.mat")
    for variant in ("official", "hrnet", "mmpose"):
        from_mat = eval_json("--metric", "pckh", "--variant", variant, "--gt", tmp_path / "gt_valid.mat",
                             "--results", MPII[1], "--one-based")
        from_h5 = eval_json("--metric", "pckh", "--variant", variant, "--gt", MPII[0], "--results", MPII[1],
                            "--one-based")
        assert from_mat["people"] == 2958
        assert from_mat["table"] == pytest.approx(from_h5["table"], abs=1e-9), variant


def test_pckh_counts_occluded_joints():
    """REFERENCE A2.1: the official PCKh ignores ``is_visible``; every annotated joint counts,
    occluded ones included (valid.h5 ``visible == 0`` on an annotated joint)."""
    need(*MPII)
    import h5py

    from posekit.commands.eval import mpii_ground_truth

    _, mask, heads = mpii_ground_truth(str(MPII[0]))
    with h5py.File(MPII[0], "r") as f:
        annotated = (f["part"][:] != 0).any(axis=2)
        occluded = annotated & (f["visible"][:] == 0)
        assert np.array_equal(heads, f["normalize"][:])
    assert occluded.sum() > 1000 and np.array_equal(mask, annotated)


def _h36m_npz(path: Path, rows: list[tuple], seed: int = 0) -> np.ndarray:
    """An MMPose H3.6M npz in its layout, rows ``(subject, action, frame[, camera])`` (1-based
    frame numbers, camera 54138969 unless given); returns ``S[..., :3]`` as float64."""
    rng = np.random.default_rng(seed)
    names = [f"{s}/{s}_{a}.{c}/{s}_{a}.{c}_{f:06d}.jpg" for s, a, f, c in ((*r, "54138969")[:4] for r in rows)]
    # float32, as the real files: the readers keep 3D joints in float32, so the values survive exactly
    s3d = np.concatenate([rng.normal(size=(len(rows), 17, 3)), np.ones((len(rows), 17, 1))], axis=2).astype(np.float32)
    np.savez(path, imgname=np.array(names), center=rng.uniform(400, 600, (len(rows), 2)),
             scale=rng.uniform(1, 3, len(rows)), part=np.concatenate([rng.uniform(0, 999, (len(rows), 17, 2)),
                                                                      np.ones((len(rows), 17, 1))], axis=2),
             S=s3d)
    return s3d[..., :3].astype(np.float64)


def test_h36m_mpjve_golden(tmp_path):
    """Walking_1 frames 1-4 and Eating frames 1-3, rows shuffled in the file. Joint 5 of the
    prediction drifts by 10 mm per frame (Walking) or 30 mm per frame (Eating) along x, and the
    whole pose drifts too (removed by the root-relative poses). Per step the velocity error is 10
    or 30 mm on one joint of 17: action mean (10 + 30) / 2 / 17, step mean (3 * 10 + 2 * 30) / 5 / 17."""
    rows = [("S9", "Eating", 3), ("S9", "Walking_1", 2), ("S9", "Walking_1", 1), ("S9", "Eating", 1),
            ("S9", "Walking_1", 4), ("S9", "Eating", 2), ("S9", "Walking_1", 3)]
    gt = _h36m_npz(tmp_path / "h36m.npz", rows)
    pred = gt.copy()
    for i, (_, action, frame) in enumerate(rows):
        pred[i, 5, 0] += (0.010 if action == "Walking_1" else 0.030) * frame
        pred[i] += [0.1 * frame, -0.2 * frame, 0.05]
    np.save(tmp_path / "p.npy", pred)
    values = eval_json("--metric", "mpjve", "--gt", tmp_path / "h36m.npz", "--results", tmp_path / "p.npy")
    assert values["steps"] == 5 and values["frames"] == 7
    assert values["per_action_mm"] == pytest.approx({"Walking": 10 / 17, "Eating": 30 / 17}, abs=1e-9)
    assert values["action_mean_mm"] == pytest.approx(20 / 17, abs=1e-9)
    assert values["frame_mean_mm"] == pytest.approx(18 / 17, abs=1e-9)
    out = posekit("--metric", "mpjve", "--gt", tmp_path / "h36m.npz", "--results", tmp_path / "p.npy")
    assert out.returncode == 0 and "MPJVE" in out.stdout and "5 frame steps" in out.stdout
    need(H36M)  # four frames of four different sequences: no velocity to measure
    np.save(tmp_path / "q.npy", _gt3d(H36M))
    line = one_error_line(posekit("--metric", "mpjve", "--gt", H36M, "--results", tmp_path / "q.npy", *ALL_SUBJECTS))
    assert "test_h36m_body3d.npz: no sequence holds two frames" in line


def test_videopose3d_ground_truth_needs_trust_pickle(tmp_path):
    """VideoPose3D's data_3d_h36m.npz (a pickled dict subject -> action -> (frames, 32, 3) world
    metres) as --gt: rows in file order, the 17 kept joints. Joint 5 off by 10 mm in every frame:
    MPJPE 10/17 mm; a constant error has no velocity error."""
    from posekit.data.readers.h36m import H36M32_TO_17

    rng = np.random.default_rng(1)
    positions = {"S9": {"Walking 1": rng.normal(size=(3, 32, 3)).astype(np.float32),
                        "Eating": rng.normal(size=(2, 32, 3)).astype(np.float32)}}
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d=positions)
    gt = np.concatenate([positions["S9"][a][:, list(H36M32_TO_17)] for a in ("Walking 1", "Eating")]).astype(float)
    pred = gt.copy()
    pred[:, 5, 2] += 0.010
    np.save(tmp_path / "p.npy", pred)
    args = ["--gt", tmp_path / "data_3d_h36m.npz", "--results", tmp_path / "p.npy"]
    line = one_error_line(posekit("--metric", "mpjpe", *args))
    assert "data_3d_h36m.npz: field 'positions_3d' is stored as a Python pickle" in line and "--trust-pickle" in line
    values = eval_json("--metric", "mpjpe", *args, "--trust-pickle")
    assert values["dataset"] == "h36m" and values["frames"] == 5
    assert values["per_action_mm"] == pytest.approx({"Walking": 10 / 17, "Eating": 10 / 17}, abs=1e-9)
    velocity = eval_json("--metric", "mpjve", *args, "--trust-pickle")
    assert velocity["steps"] == 3 and velocity["frame_mean_mm"] == pytest.approx(0.0, abs=1e-9)


def test_coco_breakdown_and_xtcocotools_options_from_the_cli():
    gt, res = FIXTURES / "coco_eval" / "example_coco_val.json", FIXTURES / "coco_eval" / "example_coco_preds.json"
    need(gt, res)
    from posekit.metrics.coco_eval import CocoEvalParams, coco_keypoint_breakdown, coco_keypoint_eval
    from posekit.metrics.json_io import read_coco_results
    from posekit.skeletons import get_skeleton

    names = get_skeleton("coco17").names
    assert eval_json("--gt", gt, "--results", res, "--breakdown") == json.loads(json.dumps(
        coco_keypoint_breakdown(gt, res, keypoint_names=names)))
    params = CocoEvalParams(use_area=False, gt_ignore="labelled", drop_zero_confidence=True)
    expected = coco_keypoint_eval(gt, read_coco_results(res, keypoint_scores=True), params).stats
    got = eval_json("--gt", gt, "--results", res, "--box-area", "--gt-ignore", "labelled", "--drop-zero-confidence")
    assert got == expected and got != eval_json("--gt", gt, "--results", res)
    table = posekit("--gt", gt, "--results", res, "--breakdown")
    assert table.returncode == 0 and "per area range" in table.stdout and "left_wrist" in table.stdout


def test_aic_coco_style_ap_uses_the_box_area(tmp_path):
    """MMPose's "AIC AP": the COCO protocol with the AIC sigmas on the COCO-style conversion, which
    has no ``area`` (REFERENCE A1.9, trap 5): the GT area is 0.53 * w * h of its box."""
    gt = FIXTURES / "aic" / "test_aic.json"
    need(gt)
    from posekit.metrics.coco_eval import CocoEvalParams, coco_keypoint_eval
    from posekit.skeletons import get_skeleton

    data = json.loads(gt.read_text())
    rng = np.random.default_rng(2)
    results = []
    for ann in data["annotations"]:
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(14, 3)
        kps[:, :2] += rng.normal(0, 4.0, (14, 2))
        kps[:, 2] = 0.9
        results.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kps.ravel().tolist(),
                        "score": float(rng.uniform(0.5, 1.0))})
    (tmp_path / "res.json").write_text(json.dumps(results))
    sigmas = get_skeleton("aic14").sigmas_array
    got = eval_json("--gt", gt, "--results", tmp_path / "res.json", "--skeleton", "aic14")
    assert got == coco_keypoint_eval(gt, results, CocoEvalParams(sigmas=sigmas, use_area=False)).stats
    with_area = json.loads(gt.read_text())
    for ann in with_area["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]  # the full box area would give another number
    assert coco_keypoint_eval(with_area, results, CocoEvalParams(sigmas=sigmas)).stats != got


def test_pckh_from_the_release_mat(tmp_path):
    """The official release struct as --gt (written in its layout by the reader tests' helper).
    One annotated person, head box (1, 1)-(31, 41): head size 0.6 * 50 = 30 px; a second rect with
    only objpos/scale (a test-set person, nothing annotated). Predictions in reader order (image,
    then rect), 0-based: all 16 joints exact except r_ankle off by 15 px = exactly 0.5 head sizes,
    correct with the official ``<=``, wrong with MMPose's ``<`` (13 of 14 scored joints)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_readers_mpii import _write_release

    points = [(j, 100.0 + 10 * j, 200.0 + 5 * j, 1.0) for j in range(16)]  # 1-based pixels
    rects = [{"points": points, "head": (1.0, 1.0, 31.0, 41.0), "centre": ((150.0, 250.0), 2.0)},
             {"points": None, "head": None, "centre": ((400.0, 250.0), 1.5)}]
    _write_release(tmp_path / "release.mat", [{"name": "000000001.jpg", "train": True, "frame": 0, "single": [1],
                                               "rects": rects}])
    pred = np.zeros((2, 16, 2))
    pred[0] = [[x - 1.0, y - 1.0] for _, x, y, _ in points]
    pred[0, 0, 0] += 15.0
    np.save(tmp_path / "p.npy", pred)
    args = ["--metric", "pckh", "--gt", tmp_path / "release.mat", "--results", tmp_path / "p.npy"]
    official = eval_json(*args)
    assert official["people"] == 2 and official["table"]["Total"] == 100.0
    assert eval_json(*args, "--variant", "mmpose")["table"]["Total"] == pytest.approx(100 * 13 / 14)


# --- a one-person gt_valid.mat ---------------------------------------------------------------------


def test_pckh_of_a_one_person_gt_valid_mat(tmp_path):
    """``gt_valid.mat`` holding one person, written as the evaluators' file is (``dataset_joints``
    (1, 16), ``jnt_missing (16, 1)``, ``pos_gt_src (16, 2, 1)``, ``headboxes_src (2, 2, 1)``,
    1-based); scipy squeezes the person axis away on reading. Head box (11, 21)-(41, 61): head
    size 0.6 * 50 = 30 px, so PCKh@0.5 accepts 15 px. r_ankle is not annotated, pelvis and thorax
    are never scored: 13 joints. r_wrist is 16 px off (wrong), l_wrist exactly 15 px (right under
    the official ``<=``, wrong under MMPose's ``<``), the rest exact: official Total 12/13, Wrist
    50, Knee 100, Ankle NaN (no annotated r_ankle); MMPose 11/13, Wrist 0."""
    from scipy.io import loadmat, savemat

    names = np.array(["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck", "head", "rwri",
                      "relb", "rsho", "lsho", "lelb", "lwri"], dtype=object)
    gt = 50.0 + 10.0 * np.arange(32, dtype=float).reshape(16, 2)  # 1-based pixels
    missing = np.zeros(16)
    missing[0] = 1.0
    savemat(tmp_path / "gt_valid.mat", {"dataset_joints": names.reshape(1, 16), "jnt_missing": missing[:, None],
                                        "pos_gt_src": gt[:, :, None],
                                        "headboxes_src": np.array([[11.0, 21.0], [41.0, 61.0]])[:, :, None]})
    stored = loadmat(tmp_path / "gt_valid.mat")
    assert [stored[k].shape for k in ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src")] == \
        [(1, 16), (16, 1), (16, 2, 1), (2, 2, 1)]
    pred = gt - 1.0  # 0-based
    pred[10, 0] += 16.0
    pred[15, 1] -= 15.0
    np.save(tmp_path / "p.npy", pred[None])
    official = eval_json("--metric", "pckh", "--gt", tmp_path / "gt_valid.mat", "--results", tmp_path / "p.npy")
    assert official["people"] == 1
    assert official["table"]["Total"] == pytest.approx(100 * 12 / 13, abs=1e-9)
    assert official["table"]["Wrist"] == pytest.approx(50.0) and official["table"]["Knee"] == pytest.approx(100.0)
    assert np.isnan(official["table"]["Ankle"])  # r_ankle never annotated: NaN, as MATLAB's mean of the pair
    mmpose = eval_json("--metric", "pckh", "--variant", "mmpose", "--gt", tmp_path / "gt_valid.mat",
                       "--results", tmp_path / "p.npy")
    assert mmpose["table"]["Total"] == pytest.approx(100 * 11 / 13, abs=1e-9) and mmpose["table"]["Wrist"] == 0.0


# --- Human3.6M protocol frames: --subjects / --cameras / --frame-stride --------------------------------

_CAMS = ("54138969", "55011271", "58860488", "60457274")
#: (subject, action, 1-based frame, camera) and the error (mm) put on joint 5 of that row: the
#: root-relative MPJPE of a row is error / 17, i.e. 10, 1, 2, 3, 4, 5 mm.
_PROTOCOL_ROWS = [(("S1", "Walking", 1, _CAMS[0]), 170.0), (("S9", "Walking", 1, _CAMS[0]), 17.0),
                  (("S9", "Walking", 2, _CAMS[0]), 34.0), (("S9", "Walking", 3, _CAMS[1]), 51.0),
                  (("S11", "Eating", 1, _CAMS[2]), 68.0), (("S11", "Eating", 6, _CAMS[3]), 85.0)]


def _protocol_files(tmp_path: Path) -> tuple[Path, np.ndarray]:
    gt = _h36m_npz(tmp_path / "h36m.npz", [row for row, _ in _PROTOCOL_ROWS])
    pred = gt.copy()
    pred[:, 5, 0] += np.array([e for _, e in _PROTOCOL_ROWS]) / 1000.0
    np.save(tmp_path / "p.npy", pred)
    return tmp_path / "h36m.npz", pred


def test_h36m_protocol_frames_default_and_overrides(tmp_path):
    """Per-row MPJPE 10 (S1), 1, 2, 3 (S9 Walking frames 1-3), 4, 5 (S11 Eating frames 1, 6) mm.
    Default = VideoPose3D's test set: S9 + S11, all cameras, every frame -> frame mean 15/5 = 3,
    Walking 2, Eating 4.5, action mean 3.25. Stride 5 keeps frames 1 and 6 (1-based numbers:
    ``(f - 1) % 5 == 0``) -> (1 + 4 + 5) / 3. One camera keeps S9 frames 1-2 -> 1.5. 'all' adds
    S1 -> 25 / 6."""
    gt, pred = _protocol_files(tmp_path)
    args = ("--metric", "mpjpe", "--gt", gt, "--results", tmp_path / "p.npy")
    default = eval_json(*args)
    assert default["frames"] == 5 and default["frame_mean_mm"] == pytest.approx(3.0, abs=1e-9)
    assert default["per_action_mm"] == pytest.approx({"Walking": 2.0, "Eating": 4.5}, abs=1e-9)
    assert default["action_mean_mm"] == pytest.approx(3.25, abs=1e-9)
    assert default["selection"] == {"subjects": ["S9", "S11"], "cameras": list(_CAMS), "frame_stride": 1,
                                    "rows_in_file": 6, "kept_per_subject": {"S9": 3, "S11": 2}}
    stride = eval_json(*args, "--frame-stride", "5")
    assert stride["frames"] == 3 and stride["frame_mean_mm"] == pytest.approx(10 / 3, abs=1e-9)
    assert stride["selection"]["kept_per_subject"] == {"S9": 1, "S11": 2}
    one_camera = eval_json(*args, "--cameras", _CAMS[0])
    assert one_camera["frames"] == 2 and one_camera["frame_mean_mm"] == pytest.approx(1.5, abs=1e-9)
    assert one_camera["selection"]["kept_per_subject"] == {"S9": 2, "S11": 0}
    everyone = eval_json(*args, "--subjects", "all")
    assert everyone["frames"] == 6 and everyone["frame_mean_mm"] == pytest.approx(25 / 6, abs=1e-9)
    assert eval_json(*args, "--subjects", "s11,9")["selection"]["subjects"] == ["S11", "S9"]
    # predictions for the kept frames only give the same numbers
    np.save(tmp_path / "kept.npy", pred[1:])
    kept = eval_json("--metric", "mpjpe", "--gt", gt, "--results", tmp_path / "kept.npy")
    assert kept["frame_mean_mm"] == pytest.approx(3.0, abs=1e-9)
    # the filter reaches every Human3.6M metric
    assert eval_json("--metric", "3dpck", "--gt", gt, "--results", tmp_path / "p.npy")["frames"] == 5
    velocity = eval_json("--metric", "mpjve", "--gt", gt, "--results", tmp_path / "p.npy", "--cameras", _CAMS[0])
    assert velocity["steps"] == 1 and velocity["frame_mean_mm"] == pytest.approx(1.0, abs=1e-9)  # (34 - 17) / 17
    text = posekit(*args, "--frame-stride", "5")
    assert text.returncode == 0, text.stderr
    assert ("frames kept: 3 of 6 rows (subjects S9 1, S11 2; cameras all 4; frame stride 5: every 5-th frame)"
            in text.stdout)


def test_h36m_protocol_frames_errors(tmp_path):
    gt, _ = _protocol_files(tmp_path)
    args = ("--metric", "mpjpe", "--gt", gt, "--results", tmp_path / "p.npy")
    line = one_error_line(posekit(*args, "--subjects", "S1", "--cameras", _CAMS[3]))
    assert "h36m.npz: field 'imgname': no row is kept by the Human3.6M protocol filter (subjects S1; cameras " \
           "60457274; frame stride 1); the file holds subjects S1, S9, S11" in line
    assert "--subjects / --cameras / --frame-stride" in line
    np.save(tmp_path / "three.npy", np.zeros((3, 17, 3)))
    line = one_error_line(posekit("--metric", "mpjpe", "--gt", gt, "--results", tmp_path / "three.npy"))
    assert "three.npy: field 'predictions' has shape (3, 17, 3), expected (6, 17, 3)" in line
    assert "or (5, 17, 3) (one per kept frame)" in line
    for flag, value, message in (("--subjects", "P9", "'P9' is not a Human3.6M subject"),
                                 ("--cameras", "123", "123 is not a Human3.6M camera id"),
                                 ("--frame-stride", "0", "'0' is not a positive integer")):
        out = posekit(*args, flag, value)
        assert out.returncode == 2 and message in out.stderr, out.stderr
    need(DHP)
    np.save(tmp_path / "q.npy", _gt3d(DHP))
    line = one_error_line(posekit("--metric", "3dpck", "--gt", DHP, "--results", tmp_path / "q.npy",
                                  "--subjects", "S9"))
    assert "--subjects select Human3.6M frames; this file is mpi_inf_3dhp" in line


def test_h36m_fixture_has_no_test_subject(tmp_path):
    """The real fixture holds S1, S5, S7, S8: the default protocol (S9, S11) keeps nothing."""
    need(H36M)
    np.save(tmp_path / "p.npy", _gt3d(H36M))
    line = one_error_line(posekit("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy"))
    assert "test_h36m_body3d.npz: field 'imgname': no row is kept" in line
    assert "the file holds subjects S1, S5, S7, S8 and cameras 54138969, 55011271" in line


def test_videopose3d_protocol_frames(tmp_path):
    """VideoPose3D's world-frame data_3d_h36m.npz: frames are 0-based per sequence and carry no
    camera. Joint 5 is off by 500 mm in S1, 17 (f + 1) mm in frame f of S9 "Walking 1" and 170 mm
    in S9 "Eating" (per-frame MPJPE: error / 17). S1 is left out by default: (1 + 2 + 3 + 10 +
    10) / 5 mm; stride 2 keeps frames 0 and 2 of "Walking 1" and 0 of "Eating": (1 + 3 + 10) / 3."""
    from posekit.data.readers.h36m import H36M32_TO_17

    rng = np.random.default_rng(2)
    positions = {"S1": {"Walking 1": rng.normal(size=(2, 32, 3)).astype(np.float32)},
                 "S9": {"Walking 1": rng.normal(size=(3, 32, 3)).astype(np.float32),
                        "Eating": rng.normal(size=(2, 32, 3)).astype(np.float32)}}
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d=positions)
    gt = np.concatenate([positions[s][a][:, list(H36M32_TO_17)] for s, a in
                         (("S1", "Walking 1"), ("S9", "Walking 1"), ("S9", "Eating"))]).astype(float)
    pred = gt.copy()
    pred[:, 5, 2] += np.array([0.5, 0.5, 0.017, 0.034, 0.051, 0.17, 0.17])
    np.save(tmp_path / "p.npy", pred)
    args = ("--metric", "mpjpe", "--gt", tmp_path / "data_3d_h36m.npz", "--results", tmp_path / "p.npy",
            "--trust-pickle")
    default = eval_json(*args)
    assert default["frames"] == 5 and default["frame_mean_mm"] == pytest.approx(26 / 5, abs=1e-6)
    assert default["selection"]["cameras"] is None and default["selection"]["kept_per_subject"] == {"S9": 5, "S11": 0}
    stride = eval_json(*args, "--frame-stride", "2")
    assert stride["frames"] == 3 and stride["frame_mean_mm"] == pytest.approx(14 / 3, abs=1e-6)
    text = posekit(*args)
    assert "frames kept: 5 of 7 rows (subjects S9 5, S11 0; cameras none in the file (world frame)" in text.stdout
    line = one_error_line(posekit(*args, "--cameras", _CAMS[0]))
    assert "data_3d_h36m.npz: field 'positions_3d' holds world-frame poses with no camera" in line
