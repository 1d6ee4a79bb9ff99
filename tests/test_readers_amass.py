"""AMASS reader on files written in the real layouts (SMPL+H "G" *_poses.npz, SMPL-X
*_stageii.npz keys, plain SMPL poses), folder walking and bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posekit.data.readers import FormatError, MotionSequence, read_amass, read_dataset


def _smplh(path: Path, frames: int = 5, gender=np.array("female"), **changes) -> np.ndarray:
    rng = np.random.default_rng(1)
    arrays = {"trans": rng.normal(size=(frames, 3)), "gender": gender, "mocap_framerate": np.array(120.0),
              "betas": rng.normal(size=16), "dmpls": rng.normal(size=(frames, 8)),
              "poses": rng.normal(size=(frames, 156))}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays["poses"]


def test_smplh_poses_file(tmp_path):
    poses = _smplh(tmp_path / "walk_poses.npz")
    (seq,) = read_dataset("amass", tmp_path / "walk_poses.npz")
    assert isinstance(seq, MotionSequence) and len(seq) == 5 and seq.skeleton.name == "smpl24"
    assert seq.gender == "female" and seq.framerate == 120.0 and seq.betas.shape == (16,)
    assert seq.meta["model"] == "smplh" and seq.dmpls.shape == (5, 8)
    # SMPL-24: root + 21 body joints from poses[:, :66], the two hand joints zero
    np.testing.assert_allclose(seq.rotations[:, :22].reshape(5, 66), poses[:, :66], rtol=1e-6)
    np.testing.assert_array_equal(seq.rotations[:, 22:], 0)
    np.testing.assert_allclose(seq.rotations[2, 16], poses[2, 48:51], rtol=1e-6)  # left_shoulder = joint 16
    np.testing.assert_allclose(seq.hand_pose, poses[:, 66:], rtol=1e-6)


def test_bytes_gender_smpl_and_smplx_layouts(tmp_path):
    _smplh(tmp_path / "a_poses.npz", gender=np.array(b"male"))
    assert next(read_amass(tmp_path / "a_poses.npz")).gender == "male"
    poses72 = np.arange(4 * 72, dtype=float).reshape(4, 72)
    _smplh(tmp_path / "b_poses.npz", frames=4, poses=poses72, dmpls=None)
    seq = next(read_amass(tmp_path / "b_poses.npz"))
    assert seq.meta["model"] == "smpl" and seq.hand_pose is None and seq.dmpls is None
    np.testing.assert_array_equal(seq.rotations.reshape(4, 72), poses72)
    np.savez(tmp_path / "c_stageii.npz", trans=np.zeros((3, 3)), gender=np.array("neutral"),
             mocap_frame_rate=np.array(60.0), betas=np.zeros(16), root_orient=np.ones((3, 3)),
             pose_body=np.full((3, 63), 2.0), pose_hand=np.full((3, 90), 3.0))
    seq = next(read_amass(tmp_path / "c_stageii.npz"))
    assert seq.meta["model"] == "smplx" and seq.framerate == 60.0
    np.testing.assert_array_equal(seq.rotations[:, 0], 1)
    np.testing.assert_array_equal(seq.rotations[:, 1:22], 2)
    np.testing.assert_array_equal(seq.hand_pose, 3)


def test_folder_walk_is_sorted_and_ignores_shape_files(tmp_path):
    (tmp_path / "CMU" / "01").mkdir(parents=True)
    (tmp_path / "CMU" / "02").mkdir(parents=True)
    _smplh(tmp_path / "CMU" / "02" / "02_01_poses.npz")
    _smplh(tmp_path / "CMU" / "01" / "01_01_poses.npz")
    np.savez(tmp_path / "CMU" / "01" / "shape.npz", betas=np.zeros(16), gender=np.array("male"))
    files = [Path(s.meta["file"]).name for s in read_amass(tmp_path)]
    assert files == ["01_01_poses.npz", "02_01_poses.npz"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormatError, match=r"empty: holds no AMASS motion file"):
        read_amass(empty)


@pytest.mark.parametrize("changes, pattern", [
    ({"poses": None}, r"field 'poses' is missing"),
    ({"poses": np.zeros((5, 100))}, r"field 'poses' has 100 values per frame, expected 156"),
    ({"poses": np.zeros((4, 156))}, r"field 'poses' has shape \(4, 156\), expected \(5, N\)"),
    ({"mocap_framerate": None}, r"field 'mocap_framerate' is missing"),
    ({"gender": np.array(3)}, r"field 'gender' is array\(3\), expected a string"),
    ({"trans": np.zeros((5, 2))}, r"field 'trans' has shape \(5, 2\), expected \(N, 3\)"),
])
def test_bad_files_name_the_field(tmp_path, changes, pattern):
    path = tmp_path / "x_poses.npz"
    _smplh(path, **changes)
    with pytest.raises(FormatError, match=r"x_poses\.npz: " + pattern):
        next(read_amass(path))


def test_missing_truncated_and_pickled(tmp_path):
    with pytest.raises(FormatError, match="file not found"):
        read_amass(tmp_path / "none_poses.npz")
    path = tmp_path / "x_poses.npz"
    _smplh(path, frames=200)
    cut = tmp_path / "cut_poses.npz"
    cut.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(FormatError, match=r"cut_poses\.npz: .*truncated or corrupt"):
        next(read_amass(cut))
    _smplh(path, gender=np.array("male", dtype=object))
    with pytest.raises(FormatError, match=r"field 'gender' is stored as a Python pickle"):
        next(read_amass(path))
    assert next(read_amass(path, trust_pickle=True)).gender == "male"
