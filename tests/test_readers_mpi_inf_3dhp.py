"""MPI-INF-3DHP reader: MMPose npz fixtures (train and test) with camera pickles, the 17-joint
skeleton, name parsing and bad input."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from posekit.data.readers import MPI_INF_3DHP17, FormatError, read_dataset, read_mpi_inf_3dhp
from posekit.data.readers.mpi_inf_3dhp import parse_3dhp_image_name

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "mpi_inf_3dhp"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/mpi_inf_3dhp is absent")


def test_skeleton_matches_the_published_tables():
    assert MPI_INF_3DHP17.num_keypoints == 17 and MPI_INF_3DHP17.sigmas is None
    # MMPose flip pairs (REFERENCE B8) derive from the names
    assert MPI_INF_3DHP17.flip_pairs == ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13))
    assert MPI_INF_3DHP17.names[14] == "pelvis" and MPI_INF_3DHP17.parents[14] == -1
    assert sorted(map(tuple, MPI_INF_3DHP17.link_indices.tolist())) == sorted(
        [(1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (14, 8), (8, 9), (9, 10), (14, 11), (11, 12), (12, 13),
         (0, 16), (16, 1), (1, 15), (15, 14)])


@needs_fixtures
def test_train_fixture_with_cameras():
    raw = np.load(FIXTURES / "test_3dhp_train.npz")
    with pytest.raises(FormatError, match=r"cameras_train\.pkl: is stored as a Python pickle"):
        read_mpi_inf_3dhp(FIXTURES / "test_3dhp_train.npz", cameras=FIXTURES / "cameras_train.pkl")
    samples = list(read_dataset("mpi_inf_3dhp", FIXTURES / "test_3dhp_train.npz",
                                cameras=FIXTURES / "cameras_train.pkl", trust_pickle=True))
    assert len(samples) == 2
    s = samples[0]
    assert s.skeleton is MPI_INF_3DHP17 and s.meta["file"] == "S4_Seq2_Cam0_001033.jpg"
    assert (s.meta["subject"], s.meta["sequence"], s.meta["camera"], s.meta["frame"]) == ("S4", "Seq2", 0, 1033)
    np.testing.assert_allclose(s.keypoints[0, :2], [[1158.79, 1315.87], [1120.73, 1408.48]], rtol=1e-6)
    np.testing.assert_allclose(s.keypoints_3d[0], raw["S"][0, :, :3], rtol=1e-6)
    assert s.meta["camera_params"]["name"] == "train_cam_0"
    # the camera model projects S onto part to within ~2 px (no distortion terms in the pickle)
    cam = s.meta["camera_params"]
    uv = s.keypoints_3d[0, :, :2] / s.keypoints_3d[0, :, 2:] * cam["f"].ravel() + cam["c"].ravel()
    assert np.abs(uv - s.keypoints[0]).max() < 2.5


@needs_fixtures
def test_test_fixture_flags_out_of_image_joints():
    samples = list(read_mpi_inf_3dhp(FIXTURES / "test_3dhp_test.npz", cameras=FIXTURES / "cameras_test.pkl",
                                     trust_pickle=True))
    s = samples[1]
    assert s.meta["sequence"] == "TS2" and s.meta["subject"] is None and s.meta["frame"] == 1850
    assert s.visibility[0].tolist() == [2, 2, 2, 2, 0, 2, 2, 0] + [2] * 9
    assert s.keypoints[0, 4, 0] == pytest.approx(-20.2936)  # flagged 0 but its coordinates are kept
    assert s.meta["camera_params"]["name"] == "test_cam_2"


def test_name_parsing():
    assert parse_3dhp_image_name("S8_Seq1_Cam8_002165.jpg")["camera_key"] == "S8_Seq1_Cam8"
    assert parse_3dhp_image_name("a/TS6_000001.jpg")["camera_key"] == "TS6"
    with pytest.raises(ValueError, match="neither"):
        parse_3dhp_image_name("S1_Directions.54138969_000001.jpg")


def test_bad_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, imgname=np.array(["TS1_000001.jpg"]), center=np.zeros((1, 2)), scale=np.ones(1),
             part=np.zeros((1, 24, 3)))
    with pytest.raises(FormatError, match=r"d\.npz: field 'part' has 24 joints, expected 17"):
        read_mpi_inf_3dhp(path)
    np.savez(path, imgname=np.array(["TS1_000001.jpg"]), center=np.zeros((1, 2)), scale=np.ones(1),
             part=np.zeros((1, 17, 3)))
    (s,) = read_mpi_inf_3dhp(path)
    assert s.keypoints_3d is None and (s.visibility == 0).all()
    (tmp_path / "cams.pkl").write_bytes(pickle.dumps({"TS2": {}}))
    with pytest.raises(FormatError, match=r"cams\.pkl: field 'TS1' is missing: no camera for row 0"):
        read_mpi_inf_3dhp(path, cameras=tmp_path / "cams.pkl", trust_pickle=True)
    with pytest.raises(FormatError, match="file not found"):
        read_mpi_inf_3dhp(tmp_path / "none.npz")
