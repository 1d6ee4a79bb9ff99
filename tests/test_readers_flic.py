"""FLIC reader: the real struct (eval_pose's flic-joints-oc.mat, variable flic_anno), checked
against eval_pose's 10-joint test labels, an examples.mat written in its real layout, and bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from posekit.data.readers import FormatError, read_dataset, read_flic

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "flic"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/flic is absent")


@needs_fixtures
def test_flic_fixture_values_and_splits():
    samples = list(read_flic(FIXTURES / "flic-joints-oc.mat", image_dir="FLIC/images"))
    assert len(samples) == 5003
    assert sum(s.meta["split"] == "train" for s in samples) == 3987
    assert sum(s.meta["split"] == "test" for s in samples) == 1016
    raw = scipy.io.loadmat(FIXTURES / "flic-joints-oc.mat")["flic_anno"][0, 0]  # read independently
    first = samples[0]
    assert first.skeleton.name == "flic" and first.meta["movie"] == "12-oclock-high-special-edition"
    assert first.meta["file"] == "FLIC/images/12-oclock-high-special-edition-00006361.jpg"
    assert first.meta["frame"] == 6361 and first.meta["image_size"] == (720, 480)
    # slots 0 (lsho), 9 (rhip), 16 (nose) of the 29, 1-based -> 0-based
    np.testing.assert_allclose(first.keypoints[0, [0, 7, 10]], raw["coords"][:, [0, 9, 16]].T - 1, rtol=1e-6)
    np.testing.assert_allclose(first.meta["torso_boxes"], raw["torsobox"] - 1, rtol=1e-6)
    assert (first.visibility == 2).all()
    np.testing.assert_allclose(first.boxes[0], [*first.keypoints[0].min(0), *first.keypoints[0].max(0)])


@needs_fixtures
def test_flic_test_frames_match_eval_pose_ten_joint_labels():
    """eval_pose's flic-joints-test-oc.mat (2 x 10 x 1016) is the raw test coords reordered as
    nose, neck (= mid-shoulders), r_sho, r_elb, r_wri, r_hip, l_sho, l_elb, l_wri, l_hip."""
    test = [s for s in read_flic(FIXTURES / "flic-joints-oc.mat") if s.meta["split"] == "test"]
    expected = scipy.io.loadmat(FIXTURES / "flic-joints-test-oc.mat")["joints"]
    sk = test[0].skeleton
    order = ["right_shoulder", "right_elbow", "right_wrist", "right_hip", "left_shoulder", "left_elbow", "left_wrist",
             "left_hip"]
    ours = []
    for s in test:
        k = s.keypoints[0].astype(np.float64) + 1  # back to 1-based
        neck = (k[sk.index("left_shoulder")] + k[sk.index("right_shoulder")]) / 2
        ours.append([k[sk.index("nose")], neck, *[k[sk.index(n)] for n in order]])
    np.testing.assert_allclose(np.array(ours).transpose(2, 1, 0), expected, atol=1e-4)


def _examples(path: Path, frames: list[dict], variable: str = "examples") -> None:
    fields = ["poselet_hit_idx", "moviename", "coords", "filepath", "imgdims", "currframe", "torsobox", "istrain",
              "istest"]
    array = np.empty((1, len(frames)), dtype=[(f, object) for f in fields])
    for i, frame in enumerate(frames):
        for f in fields:
            array[0, i][f] = frame.get(f, np.zeros((0, 0)))
    scipy.io.savemat(path, {variable: array})


def _frame(**changes) -> dict:
    coords = np.full((2, 29), np.nan)
    coords[:, 0] = [101, 51]   # lsho
    coords[:, 16] = [121, 31]  # nose
    frame = {"poselet_hit_idx": np.array([[3.0]]), "moviename": "movie-a", "coords": coords,
             "filepath": "movie-a-00000042.jpg", "imgdims": np.array([[480, 720, 3]], np.uint16),
             "currframe": np.array([[42]], np.uint16), "torsobox": np.array([[11, 21, 61, 91]], np.float32),
             "istrain": np.array([[0]], np.uint8), "istest": np.array([[1]], np.uint8)}
    frame.update(changes)
    return frame


def test_examples_mat_in_release_layout(tmp_path):
    path = tmp_path / "examples.mat"
    _examples(path, [_frame(), _frame(filepath="movie-a-00000043.jpg", istest=np.array([[0]], np.uint8))])
    samples = list(read_dataset("flic", path))
    assert [s.meta["split"] for s in samples] == ["test", "train"]
    s = samples[0]
    np.testing.assert_array_equal(s.keypoints[0, 0], [100, 50])
    np.testing.assert_array_equal(s.keypoints[0, 10], [120, 30])
    assert s.visibility[0].tolist() == [2] + [0] * 9 + [2]
    np.testing.assert_array_equal(s.keypoints[0, 1:10], 0)
    np.testing.assert_array_equal(s.meta["torso_boxes"], [[10, 20, 60, 90]])
    np.testing.assert_array_equal(s.boxes, [[100, 30, 120, 50]])
    assert s.meta["frame"] == 42 and s.meta["movie"] == "movie-a"


@pytest.mark.parametrize("frame, pattern", [
    (_frame(coords=np.zeros((2, 28))), r"examples\(2\): field 'coords' has 28 joint slots, expected 29"),
    (_frame(coords=np.zeros((3, 29))), r"examples\(2\): field 'coords' has shape \(3, 29\), expected \(2, N\)"),
    (_frame(filepath=np.zeros((0, 0))), r"examples\(2\): field 'filepath' is missing or empty"),
    (_frame(torsobox=np.array([[1.0, 2.0]])), r"examples\(2\): field 'torsobox' has shape \(2,\), expected \(4\)"),
])
def test_bad_frames_name_record_and_field(tmp_path, frame, pattern):
    path = tmp_path / "examples.mat"
    _examples(path, [_frame(), frame])
    with pytest.raises(FormatError, match=r"examples\.mat: " + pattern):
        read_flic(path)


def test_missing_struct_missing_file_and_truncated(tmp_path):
    path = tmp_path / "examples.mat"
    scipy.io.savemat(path, {"other": np.zeros(3)})
    with pytest.raises(FormatError, match=r"examples\.mat: field 'examples' not found"):
        read_flic(path)
    with pytest.raises(FormatError, match=r"examples\.mat: field 'flic' is missing"):
        read_flic(path, variable="flic")
    with pytest.raises(FormatError, match="file not found"):
        read_flic(tmp_path / "none.mat")
    _examples(path, [_frame()] * 20)
    cut = tmp_path / "cut.mat"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size - 100])
    with pytest.raises(FormatError, match=r"cut\.mat: cannot be read as a MATLAB file"):
        read_flic(cut)


@needs_fixtures
def test_only_eleven_of_the_29_slots_are_labelled():
    """REFERENCE B4: of FLIC's 29 ``lookupPart`` slots only 0-5, 6 (lhip), 9 (rhip), 12 (leye),
    13 (reye) and 16 (nose) are ever labelled (the NaN pattern of all 5003 frames); the reader's
    ``flic`` skeleton is exactly those slots, in slot order."""
    from posekit.skeletons import FLIC_SLOTS, get_skeleton

    frames = scipy.io.loadmat(FIXTURES / "flic-joints-oc.mat")["flic_anno"][0]
    coords = np.stack([f["coords"] for f in frames])  # (5003, 2, 29)
    labelled = np.flatnonzero(np.isfinite(coords).all(axis=1).any(axis=0))
    assert labelled.tolist() == [0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16] == list(FLIC_SLOTS)
    assert get_skeleton("flic").num_keypoints == 11
