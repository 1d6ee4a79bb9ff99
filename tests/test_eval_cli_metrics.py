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
    values = eval_json("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy")
    assert values["dataset"] == "h36m" and values["frames"] == len(gt)
    assert values["frame_mean_mm"] == pytest.approx(10 / 17, abs=1e-3)
    assert values["action_mean_mm"] == pytest.approx(10 / 17, abs=1e-3)
    np.save(tmp_path / "mm.npy", pred * 1000.0)
    mm = eval_json("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "mm.npy", "--results-unit", "mm")
    assert mm["frame_mean_mm"] == pytest.approx(10 / 17, abs=1e-3)
    pred[:, 5, 0] += 0.190
    np.save(tmp_path / "far.npy", pred)
    pck = eval_json("--metric", "3dpck", "--gt", H36M, "--results", tmp_path / "far.npy")
    assert pck["3DPCK"] == pytest.approx(100 * 16 / 17)


def test_h36m_p_mpjpe_ignores_similarity(tmp_path):
    need(H36M)
    gt = _gt3d(H36M)
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    np.save(tmp_path / "p.npy", 1.5 * gt @ rot.T + 0.2)
    values = eval_json("--metric", "p-mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy")
    assert values["frame_mean_mm"] == pytest.approx(0.0, abs=1e-3)
    plain = eval_json("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy")
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
    line = one_error_line(posekit("--metric", "mpjpe", "--gt", H36M, "--results", tmp_path / "p.npy"))
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
    runs += [["--metric", m, "--gt", H36M, "--results", pred3d] for m in ("mpjpe", "p-mpjpe", "n-mpjpe", "3dpck")]
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
