"""Human3.6M readers: MMPose npz fixtures (body3d and mesh variants) with cameras, the camera
convention checked against h36m_coco.json, VideoPose3D npz files written in their real layout,
pickle refusal, name parsing (property test) and bad input."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.data.readers import FormatError, read_dataset, read_h36m, read_h36m_mmpose, read_h36m_videopose3d
from posekit.data.readers.h36m import CAMERA_IDS, H36M32_TO_17, parse_h36m_image_name, world_to_camera

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "h36m"
BODY3D = FIXTURES / "test_h36m_body3d.npz"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/h36m is absent")


@needs_fixtures
def test_mmpose_body3d_fixture_values():
    raw = np.load(BODY3D)
    samples = list(read_dataset("h36m", BODY3D, image_dir="h36m/images"))
    assert len(samples) == 4
    s = samples[0]
    assert s.skeleton.name == "h36m17" and s.ids.tolist() == [0]
    assert s.meta["file"] == "h36m/images/S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg"
    assert (s.meta["subject"], s.meta["action"], s.meta["camera"], s.meta["frame"]) == ("S1", "Directions_1",
                                                                                        "54138969", 1)
    assert (samples[3].meta["subject"], samples[3].meta["action"], samples[3].meta["frame"]) == ("S8", "WalkDog_1", 26)
    np.testing.assert_allclose(s.keypoints[0], raw["part"][0, :, :2], rtol=1e-6)
    np.testing.assert_allclose(s.keypoints[0, 0], [473.68356323, 444.94241333], rtol=1e-6)
    np.testing.assert_allclose(s.keypoints_3d[0, 0], [-0.17673077, -0.32104862, 5.20388206], rtol=1e-6)
    assert (s.visibility == 2).all() and (s.meta["visibility_3d"] == 2).all()
    c, scale = raw["center"][0], raw["scale"][0]
    np.testing.assert_allclose(s.boxes[0], [*(c - 100 * scale), *(c + 100 * scale)], rtol=1e-6)
    assert "camera_params" not in s.meta and "smpl_pose" not in s.meta


@needs_fixtures
def test_mesh_variant_gives_the_same_17_joints():
    body = list(read_h36m(BODY3D))
    mesh = list(read_h36m(FIXTURES / "test_h36m.npz"))
    assert [m.meta["file"] for m in mesh] == [b.meta["file"].rsplit("/", 1)[-1] for b in body]
    for b, m in zip(body, mesh):
        np.testing.assert_allclose(m.keypoints_3d, b.keypoints_3d, atol=1e-6)
        np.testing.assert_allclose(m.keypoints, b.keypoints, atol=0.03)  # SPIN's pelvis differs by ~0.02 px
        assert m.meta["smpl_pose"].shape == (1, 72) and m.meta["smpl_betas"].shape == (1, 10)
        assert (m.visibility == 2).all()


@needs_fixtures
def test_cameras_need_trust_and_map_world_to_camera_frame():
    with pytest.raises(FormatError, match=r"cameras\.pkl: is stored as a Python pickle.*trust_pickle=True"):
        read_h36m_mmpose(BODY3D, cameras=FIXTURES / "cameras.pkl")
    samples = list(read_h36m_mmpose(BODY3D, cameras=FIXTURES / "cameras.pkl", trust_pickle=True))
    cam = samples[0].meta["camera_params"]
    assert cam["id"] == "54138969" and cam["w"] == 1000 and cam["h"] == 1002
    # h36m_coco.json holds the same four frames in world coordinates (metres)
    world = json.loads((FIXTURES / "h36m_coco.json").read_text())["annotations"]
    for s, ann in zip(samples, world):
        points = np.array(ann["keypoints_3d"]).reshape(17, 4)[:, :3]
        np.testing.assert_allclose(world_to_camera(points, s.meta["camera_params"]), s.keypoints_3d[0], atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 11), st.from_regex(r"[A-Z][a-zA-Z]{2,10}( ?_?[0-9])?", fullmatch=True),
       st.sampled_from(CAMERA_IDS), st.integers(0, 999999), st.booleans())
def test_image_name_round_trip(subject, action, camera, frame, nested):
    action = action.replace(" ", "_")
    base = f"S{subject}_{action}.{camera}_{frame:06d}.jpg"
    name = f"S{subject}/S{subject}_{action}.{camera}/{base}" if nested else base
    assert parse_h36m_image_name(name) == (f"S{subject}", action, camera, frame)


def _spin_npz(path: Path, **changes) -> None:
    n = 2
    arrays = {"imgname": np.array(["S9_Eating.60457274_000010.jpg", "S11_Walking_1.58860488_000003.jpg"]),
              "center": np.full((n, 2), 500.0), "scale": np.full(n, 2.0),
              "part": np.ones((n, 17, 3)), "S": np.ones((n, 17, 4))}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize("changes, pattern", [
    ({"part": None}, r"field 'part' is missing"),
    ({"part": np.ones((2, 16, 3))}, r"field 'part' has 16 joints, expected 17 or 24"),
    ({"S": np.ones((2, 17, 3))}, r"field 'S' has shape \(2, 17, 3\), expected \(2, 17, 4\)"),
    ({"center": np.ones((3, 2))}, r"field 'center' has shape \(3, 2\), expected \(2, 2\)"),
    ({"imgname": np.array(["a.jpg", "S11_Walking_1.58860488_000003.jpg"])},
     r"row 0: field 'imgname' 'a\.jpg' is not <subject>_<action>"),
])
def test_bad_mmpose_npz(tmp_path, changes, pattern):
    path = tmp_path / "h.npz"
    _spin_npz(path, **changes)
    with pytest.raises(FormatError, match=r"h\.npz: " + pattern):
        read_h36m_mmpose(path)


def test_good_synthetic_npz_and_truncated(tmp_path):
    path = tmp_path / "h.npz"
    _spin_npz(path)
    assert [s.meta["subject"] for s in read_h36m(path)] == ["S9", "S11"]
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:600])
    with pytest.raises(FormatError, match=r"cut\.npz: .*truncated or corrupt"):
        read_h36m(cut)
    with pytest.raises(FormatError, match="file not found"):
        read_h36m(tmp_path / "none.npz")


# --- VideoPose3D layout ----------------------------------------------------------------------------------


def _videopose3d(folder: Path, frames_2d: int = 6, layout: str | None = None):
    rng = np.random.default_rng(0)
    positions_3d = {"S1": {"Directions 1": rng.normal(size=(5, 32, 3)).astype(np.float32),
                           "Walking": rng.normal(size=(4, 32, 3)).astype(np.float32)}}
    positions_2d = {"S1": {a: [rng.uniform(0, 1000, size=(frames_2d, 17, 2)).astype(np.float32) for _ in CAMERA_IDS]
                           for a in positions_3d["S1"]}}
    metadata = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    if layout is not None:
        metadata["layout_name"] = layout
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=positions_3d)
    np.savez_compressed(folder / "data_2d_h36m_gt.npz", positions_2d=positions_2d, metadata=metadata)
    def rot_z(angle: float) -> np.ndarray:
        return np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])

    cameras = {("S1", cam): {"R": rot_z(0.3 + i), "T": np.array([[1.0 + i], [2.0], [3.0]]), "c": np.zeros((2, 1)),
                             "f": np.ones((2, 1))}
               for i, cam in enumerate(CAMERA_IDS)}
    (folder / "cameras.pkl").write_bytes(pickle.dumps(cameras))
    return positions_3d, positions_2d, cameras


def test_videopose3d_3d_and_2d_with_cameras(tmp_path):
    pos3d, pos2d, cameras = _videopose3d(tmp_path)
    samples = list(read_h36m(tmp_path / "data_3d_h36m.npz", path_2d=tmp_path / "data_2d_h36m_gt.npz",
                             cameras=tmp_path / "cameras.pkl", trust_pickle=True))
    assert len(samples) == (5 + 4) * 4  # 2D (6 frames) truncated to the mocap length
    s = samples[5 + 2]  # "Directions 1", second camera, frame 2
    assert (s.meta["subject"], s.meta["action"], s.meta["camera"], s.meta["frame"]) == ("S1", "Directions 1",
                                                                                        CAMERA_IDS[1], 2)
    world = pos3d["S1"]["Directions 1"][2][list(H36M32_TO_17)]
    np.testing.assert_allclose(s.meta["keypoints_3d_world"][0], world, rtol=1e-6)
    cam = cameras[("S1", CAMERA_IDS[1])]
    expected = (cam["R"].T @ (world.astype(np.float64) - cam["T"].ravel()).T).T
    np.testing.assert_allclose(s.keypoints_3d[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s.keypoints[0], pos2d["S1"]["Directions 1"][1][2])
    assert (s.visibility == 2).all() and s.skeleton.name == "h36m17"


def test_videopose3d_single_files(tmp_path):
    pos3d, pos2d, _ = _videopose3d(tmp_path, layout="h36m")
    only3d = list(read_h36m_videopose3d(path_3d=tmp_path / "data_3d_h36m.npz", trust_pickle=True))
    assert len(only3d) == 9 and only3d[0].meta["camera"] is None and only3d[0].keypoints_3d is None
    assert (only3d[0].visibility == 0).all() and np.isnan(only3d[0].boxes).all()
    only2d = list(read_dataset("h36m", tmp_path / "data_2d_h36m_gt.npz", trust_pickle=True))
    assert len(only2d) == 6 * 4 * 2 and "keypoints_3d_world" not in only2d[0].meta
    np.testing.assert_array_equal(only2d[7].keypoints[0], pos2d["S1"]["Directions 1"][1][1])


def test_videopose3d_needs_trust_and_consistent_files(tmp_path):
    _videopose3d(tmp_path)
    with pytest.raises(FormatError, match=r"data_3d_h36m\.npz: field 'positions_3d' is stored as a Python pickle"):
        read_h36m(tmp_path / "data_3d_h36m.npz")
    _videopose3d(tmp_path, frames_2d=3)
    with pytest.raises(FormatError, match=r"data_2d_h36m_gt\.npz: S1/Directions 1 camera 54138969: field "
                                          r"'positions_2d' has 3 frames, fewer than the 5"):
        list(read_h36m_videopose3d(tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz", trust_pickle=True))
    np.savez_compressed(tmp_path / "coco2d.npz", positions_2d={"S1": {}},
                        metadata={"layout_name": "coco", "num_joints": 17})
    with pytest.raises(FormatError, match=r"coco2d\.npz: field 'metadata' has the 'coco17' layout"):
        read_h36m_videopose3d(tmp_path / "data_3d_h36m.npz", tmp_path / "coco2d.npz", trust_pickle=True)
    np.savez_compressed(tmp_path / "bad3d.npz", positions_3d={"S1": {"Eating": np.zeros((3, 30, 3))}})
    with pytest.raises(FormatError, match=r"bad3d\.npz: S1/Eating: field 'positions_3d' has shape \(3, 30, 3\)"):
        list(read_h36m_videopose3d(tmp_path / "bad3d.npz", trust_pickle=True))


def test_videopose3d_bad_2d_shape_names_sequence_and_camera(tmp_path):
    _videopose3d(tmp_path)
    views = [np.zeros((6, 17, 2))] * 3 + [np.zeros((6, 16, 2))]
    np.savez_compressed(tmp_path / "bad2d.npz", positions_2d={"S1": {"Directions 1": views, "Walking": views}},
                        metadata={"layout_name": "h36m"})
    with pytest.raises(FormatError, match=r"bad2d\.npz: S1/Directions 1 camera 60457274: field 'positions_2d' has "
                                          r"shape \(6, 16, 2\), expected \(N, 17, 2\)"):
        list(read_h36m_videopose3d(tmp_path / "data_3d_h36m.npz", tmp_path / "bad2d.npz", trust_pickle=True))


@needs_fixtures
def test_h36m_coco_json_side_names_contradict_the_geometry():
    """REFERENCE B7: the fixture ``h36m_coco.json`` names joints 1-3 "left_*" and 4-6 "right_*",
    against MMPose's metainfo and VideoPose3D. Its own shoulder names (11 left, 14 right) show the
    file is wrong: in every frame the hip 1 -> hip 4 direction is the shoulder 14 -> shoulder 11
    direction, so joint 1 is on the right shoulder's side. posekit's ``h36m17`` (what the reader
    returns) follows the metainfo."""
    names = json.loads((FIXTURES / "h36m_coco.json").read_text())["categories"][0]["keypoints"]
    assert names[1] == "left_hip" and names[4] == "right_hip" and names[14] == "right_shoulder"
    samples = list(read_h36m(BODY3D))
    skeleton = samples[0].skeleton
    assert skeleton.names[1:7] == ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
    assert skeleton.names[11] == "left_shoulder" and skeleton.names[14] == "right_shoulder"
    for s in samples:
        pose = s.keypoints_3d[0].astype(np.float64)
        hips, shoulders = pose[4] - pose[1], pose[11] - pose[14]
        assert hips @ shoulders / np.linalg.norm(hips) / np.linalg.norm(shoulders) > 0.9


def test_videopose3d_2d_layout_from_symmetry_when_layout_name_is_absent(tmp_path):
    """``prepare_data_h36m.py``'s gt file has no ``layout_name``: the layout comes from
    ``keypoints_symmetry`` -- H3.6M's, or COCO's for ``detectron_pt_coco`` detections (REFERENCE B7)."""
    coco_symmetry = [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]
    views = [np.zeros((2, 17, 2), np.float32)] * 4
    np.savez_compressed(tmp_path / "det.npz", positions_2d={"S9": {"Walking": views}},
                        metadata={"num_joints": 17, "keypoints_symmetry": coco_symmetry})
    samples = list(read_h36m_videopose3d(path_2d=tmp_path / "det.npz", trust_pickle=True))
    assert len(samples) == 2 * 4 and samples[0].skeleton.name == "coco17"
    np.savez_compressed(tmp_path / "odd.npz", positions_2d={"S9": {"Walking": views}},
                        metadata={"num_joints": 17, "keypoints_symmetry": [[0], [1]]})
    with pytest.raises(FormatError, match=r"odd\.npz: field 'metadata' names layout None"):
        read_h36m_videopose3d(path_2d=tmp_path / "odd.npz", trust_pickle=True)
