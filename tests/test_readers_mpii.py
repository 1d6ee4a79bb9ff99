"""MPII readers: the HRNet/MMPose JSON and Newell's valid.h5 on the real fixtures, head boxes
from a gt_valid.mat-layout file, the official release .mat written in its exact struct layout
(property test over random annotations), and bad input."""
from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.data.readers import FormatError, read_dataset, read_mpii_h5, read_mpii_json, read_mpii_release
from posekit.data.readers.mpii import read_mpii_eval_gt, read_mpii_head_boxes

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
JSON = FIXTURES / "mpii" / "test_mpii.json"
H5 = FIXTURES / "mpii_eval" / "valid.h5"
needs_json = pytest.mark.skipif(not JSON.is_file(), reason="../shared/fixtures/mpii is absent")
needs_h5 = pytest.mark.skipif(not H5.is_file(), reason="../shared/fixtures/mpii_eval is absent")


# --- JSON conversion -----------------------------------------------------------------------------------


@needs_json
def test_json_fixture_values_shift_and_boxes():
    samples = list(read_mpii_json(JSON, image_dir="imgs"))
    names = ["005808361.jpg", "052475643.jpg", "051423444.jpg", "004645041.jpg", "060754485.jpg"]
    assert [s.meta["file"] for s in samples] == [f"imgs/{n}" for n in names]
    first = samples[0]
    assert first.skeleton.name == "mpii16" and first.ids.tolist() == [0]
    # record 0: upper_neck (982.7591, 235.9694), 1-based -> 0-based
    np.testing.assert_allclose(first.keypoints[0, 8], [981.7591, 234.9694], rtol=1e-6)
    np.testing.assert_allclose(first.meta["centers"], [[965.0, 339.0]])
    assert first.meta["scales"][0] == pytest.approx(4.718488)
    s = 4.718488  # MMPose 1.x box: centre moved down 15 s, side 200 s
    np.testing.assert_allclose(first.boxes[0], [965 - 100 * s, 339 + 15 * s - 100 * s, 965 + 100 * s,
                                                339 + 15 * s + 100 * s], rtol=1e-6)
    # record 2 (051423444): both ankles not annotated
    missing = samples[2]
    assert missing.visibility[0].tolist() == [0, 2, 2, 2, 2, 0] + [2] * 10
    np.testing.assert_array_equal(missing.keypoints[0, [0, 5]], 0)
    assert "head_boxes" not in missing.meta


@needs_json
def test_json_with_head_boxes_file(tmp_path):
    boxes = np.array([[10, 20, 40, 60], [1, 1, 4, 5], [0, 0, 3, 4], [5, 5, 8, 9], [2, 2, 2, 2]], float)
    src = np.stack([boxes[:, :2].T, boxes[:, 2:].T])  # (2 corners, 2 coords, N), 1-based
    gt = tmp_path / "gt_valid.mat"
    scipy.io.savemat(gt, {"headboxes_src": src, "jnt_missing": np.zeros((16, 5)),
                          "pos_gt_src": np.zeros((16, 2, 5))})
    np.testing.assert_array_equal(read_mpii_head_boxes(gt), boxes - 1)
    samples = list(read_mpii_json(JSON, head_boxes=gt))
    np.testing.assert_array_equal(samples[0].meta["head_boxes"], [[9, 19, 39, 59]])
    assert samples[0].meta["head_sizes"][0] == pytest.approx(0.6 * 50)
    assert samples[2].meta["head_sizes"][0] == pytest.approx(0.6 * 5)
    scipy.io.savemat(gt, {"headboxes_src": src[..., :4]})
    with pytest.raises(FormatError, match=r"gt_valid\.mat: field 'headboxes_src' has 4 boxes but .* has 5 people"):
        read_mpii_json(JSON, head_boxes=gt)


@needs_json
@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d[1].pop("center"), r"\[1\] \(image 052475643\.jpg\): field 'center' is missing"),
    (lambda d: d[1].__setitem__("joints", d[1]["joints"][:15]),
     r"\[1\] \(image 052475643\.jpg\): field 'joints' has shape \(15, 2\), expected \(16, 2\)"),
    (lambda d: d[3].pop("joints_vis"), r"\[3\] \(image 004645041\.jpg\): field 'joints_vis' is missing"),
    (lambda d: d[0].__setitem__("scale", "big"), r"\[0\] \(image 005808361\.jpg\): field 'scale' is not numeric"),
    (lambda d: d[4].pop("image"), r"\[4\]: field 'image' is missing"),
])
def test_bad_json_names_record_and_field(tmp_path, mutate, pattern):
    data = json.loads(JSON.read_text())
    mutate(data)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FormatError, match=re.escape(str(path)) + ": " + pattern):
        read_mpii_json(path)


def test_json_test_split_without_joints(tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps([{"image": "a.jpg", "center": [101, 51], "scale": 1.0},
                                {"image": "a.jpg", "center": [201, 51], "scale": 2.0}]))
    (sample,) = read_mpii_json(path)
    assert sample.ids.tolist() == [0, 1] and (sample.visibility == 0).all()
    np.testing.assert_allclose(sample.meta["centers"], [[100, 50], [200, 50]])


# --- Newell's valid.h5 -------------------------------------------------------------------------------------


@needs_h5
def test_h5_fixture_counts_and_occlusion():
    samples = list(read_dataset("mpii", H5))
    with h5py.File(H5, "r") as f:
        names = [n.decode() for n in f["imgname"][:]]
        part, visible, normalize = f["part"][:], f["visible"][:], f["normalize"][:]
    assert len(samples) == len(set(names)) == 2729
    ids = np.concatenate([s.ids for s in samples])
    assert sorted(ids.tolist()) == list(range(2958))
    for s in samples[:50]:
        for n, row in enumerate(s.ids):
            assert names[row] == s.meta["file"]
            annotated = (part[row] != 0).any(axis=1)
            np.testing.assert_array_equal(s.visibility[n], np.where(annotated, np.where(visible[row] > 0, 2, 1), 0))
            np.testing.assert_array_equal(s.keypoints[n][annotated], part[row][annotated] - 1)
            assert s.meta["head_sizes"][n] == pytest.approx(normalize[row])
    assert samples[0].meta["head_sizes"][0] == pytest.approx(117.96219733456985)
    occluded = next(s for s in samples if s.meta["file"] == "051423444.jpg")
    assert occluded.visibility[0].tolist() == [0, 2, 2, 2, 2, 0, 2, 2, 2, 2, 1, 1, 2, 2, 2, 2]


@needs_h5
@needs_json
def test_h5_and_json_agree_on_shared_people():
    h5 = {s.meta["file"]: s for s in read_mpii_h5(H5)}
    for js in read_mpii_json(JSON):
        other = h5[js.meta["file"]]
        np.testing.assert_allclose(other.meta["centers"][:1], js.meta["centers"], atol=1e-4)
        np.testing.assert_allclose(other.meta["scales"][:1], js.meta["scales"], rtol=1e-6)
        np.testing.assert_allclose(other.boxes[:1], js.boxes, atol=1e-3)
        np.testing.assert_array_equal(other.visibility[0] > 0, js.visibility[0] > 0)
        np.testing.assert_allclose(other.keypoints[0], js.keypoints[0], atol=1.0)  # the .h5 rounds to integers


@needs_h5
def test_h5_missing_dataset_and_truncated(tmp_path):
    path = tmp_path / "v.h5"
    with h5py.File(H5, "r") as src, h5py.File(path, "w") as dst:
        for key in src:
            if key != "visible":
                dst[key] = src[key][:10]
    with pytest.raises(FormatError, match=r"v\.h5: field 'visible' is missing"):
        read_mpii_h5(path)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(H5.read_bytes()[:40000])
    with pytest.raises(FormatError, match=r"cut\.h5: cannot be read as an HDF5 file"):
        read_mpii_h5(cut)
    with pytest.raises(FormatError, match="file not found"):
        read_mpii_h5(tmp_path / "none.h5")


def test_unknown_suffix(tmp_path):
    with pytest.raises(FormatError, match=r"a\.txt: has suffix '\.txt'"):
        read_dataset("mpii", tmp_path / "a.txt")


# --- the release .mat, written in its exact struct layout -------------------------------------------------

EMPTY = np.zeros((0, 0))


def _structs(records: list[dict], fields: list[str]):
    """A MATLAB 1 x n struct array (``[]`` when empty); absent fields are ``[]``, as in MATLAB."""
    if not records:
        return EMPTY
    array = np.empty((1, len(records)), dtype=[(f, object) for f in fields])
    for i, rec in enumerate(records):
        for f in fields:
            array[0, i][f] = rec.get(f, EMPTY)
    return array


def _write_release(path: Path, images: list[dict]) -> None:
    annolist = []
    for img in images:
        rects = []
        for rect in img["rects"]:
            out = {}
            if rect["points"] is not None:
                out["annopoints"] = _structs([{"point": _structs(
                    [{"x": x, "y": y, "id": float(j), "is_visible": vis} for j, x, y, vis in rect["points"]],
                    ["x", "y", "id", "is_visible"])}], ["point"])
            if rect["head"] is not None:
                out.update(zip(["x1", "y1", "x2", "y2"], rect["head"]))
            if rect["centre"] is not None:
                (cx, cy), scale = rect["centre"]
                out["objpos"] = _structs([{"x": cx, "y": cy}], ["x", "y"])
                out["scale"] = scale
            rects.append(out)
        fields = ["x1", "y1", "x2", "y2", "annopoints", "scale", "objpos"]
        annolist.append({"image": _structs([{"name": img["name"]}], ["name"]), "annorect": _structs(rects, fields),
                         "frame_sec": float(img["frame"]), "vididx": 3.0})
    n = len(images)
    single = np.empty((n, 1), dtype=object)
    act = np.empty((n, 1), dtype=[("cat_name", object), ("act_name", object), ("act_id", object)])
    for i, img in enumerate(images):
        single[i, 0] = np.array(img["single"], float).reshape(-1, 1) if img["single"] else EMPTY
        act[i, 0] = ("sports", "running", 7.0) if i % 2 == 0 else (EMPTY, EMPTY, -1.0)
    release = _structs([{"annolist": _structs(annolist, ["image", "annorect", "frame_sec", "vididx"]),
                         "img_train": np.array([[float(img["train"]) for img in images]]), "version": "12",
                         "single_person": single, "act": act, "video_list": np.array([["yt1"]], dtype=object)}],
                       ["annolist", "img_train", "version", "single_person", "act", "video_list"])
    scipy.io.savemat(path, {"RELEASE": release})


visible_values = st.sampled_from([1.0, 0.0, "1", "0", EMPTY])
point_sets = st.lists(st.tuples(st.floats(1, 2000, width=32), st.floats(1, 2000, width=32), visible_values),
                      min_size=16, max_size=16)
rects = st.fixed_dictionaries({
    "points": st.one_of(st.none(), st.tuples(point_sets, st.lists(st.booleans(), min_size=16, max_size=16))),
    "head": st.one_of(st.none(), st.tuples(*[st.floats(1, 500, width=32)] * 4)),
    "centre": st.one_of(st.none(), st.tuples(st.tuples(st.floats(1, 900, width=32), st.floats(1, 900, width=32)),
                                             st.floats(0.5, 8, width=32))),
})
images_strategy = st.lists(st.fixed_dictionaries({
    "name": st.from_regex(r"[0-9]{9}\.jpg", fullmatch=True), "rects": st.lists(rects, max_size=3),
    "train": st.booleans(), "frame": st.integers(0, 500),
    "single": st.lists(st.integers(1, 3), max_size=2, unique=True),
}), min_size=1, max_size=3)


def _materialise(images):
    """Turn the drawn points into (joint, x, y, is_visible) lists with at least one joint per rect."""
    for img in images:
        for rect in img["rects"]:
            if rect["points"] is not None:
                pts, keep = rect["points"]
                keep = list(keep)
                keep[0] = keep[0] or not any(keep)
                rect["points"] = [(j, x, y, v) for j, ((x, y, v), k) in enumerate(zip(pts, keep)) if k]
    return images


@settings(max_examples=30, deadline=None)
@given(images_strategy)
def test_release_mat_round_trip(tmp_path_factory, images):
    images = _materialise(images)
    path = tmp_path_factory.mktemp("mpii") / "release.mat"
    _write_release(path, images)
    samples = list(read_mpii_release(path))
    assert len(samples) == len(images)
    for img, s in zip(images, samples):
        assert s.meta["file"] == img["name"] and s.meta["img_train"] == img["train"]
        assert s.meta["single_person"] == img["single"] and s.meta["frame_sec"] == img["frame"]
        kept = [(j, r) for j, r in enumerate(img["rects"], 1) if r["points"] is not None or r["centre"] is not None]
        assert s.ids.tolist() == [j for j, _ in kept]
        for n, (_, rect) in enumerate(kept):
            expected_kps, expected_vis = np.zeros((16, 2)), np.zeros(16)
            for joint, x, y, v in rect["points"] or []:
                expected_kps[joint] = np.float32(x) - 1, np.float32(y) - 1
                expected_vis[joint] = 1 if isinstance(v, (str, float)) and float(v) == 0 else 2
            np.testing.assert_allclose(s.keypoints[n], expected_kps, atol=1e-3)
            np.testing.assert_array_equal(s.visibility[n], expected_vis)
            if rect["head"] is None:
                assert np.isnan(s.meta["head_boxes"][n]).all()
            else:
                np.testing.assert_allclose(s.meta["head_boxes"][n], np.float32(rect["head"]) - 1, atol=1e-3)
            if rect["centre"] is not None:
                (cx, cy), scale = rect["centre"]
                np.testing.assert_allclose(s.meta["centers"][n], [np.float32(cx) - 1, np.float32(cy) - 1], atol=1e-3)
                assert s.meta["scales"][n] == pytest.approx(np.float32(scale))
            else:
                labelled = expected_vis > 0
                np.testing.assert_allclose(s.boxes[n], [*expected_kps[labelled].min(0), *expected_kps[labelled].max(0)],
                                           atol=1e-3)


def _one_image(points):
    rect = {"points": points, "head": (1.0, 2.0, 11.0, 12.0), "centre": ((50.0, 60.0), 1.0)}
    return [{"name": "000000001.jpg", "train": True, "frame": 0, "single": [1], "rects": [rect]}]


def test_release_known_values(tmp_path):
    path = tmp_path / "r.mat"
    _write_release(path, _one_image([(9, 100.0, 20.0, "1"), (0, 5.0, 300.0, 0.0), (15, 7.0, 8.0, EMPTY)]))
    (s,) = read_dataset("mpii", path)
    np.testing.assert_array_equal(s.keypoints[0, [9, 0, 15]], [[99, 19], [4, 299], [6, 7]])
    assert s.visibility[0, [9, 0, 15, 1]].tolist() == [2, 1, 2, 0]
    np.testing.assert_array_equal(s.meta["head_boxes"], [[0, 1, 10, 11]])
    assert s.meta["head_sizes"][0] == pytest.approx(0.6 * np.hypot(10, 10))
    assert s.meta["activity"] == {"cat_name": "sports", "act_name": "running", "act_id": 7}


@pytest.mark.parametrize("points, pattern", [
    ([(16, 1.0, 2.0, 1.0)],
     r"annolist\(1\)\.annorect\(1\)\.annopoints\.point\(1\): field 'id' is 16, expected a joint id"),
    ([(3, 1.0, 2.0, 1.0), (3, 5.0, 6.0, 1.0)], r"annolist\(1\)\.annorect\(1\)\.annopoints\.point\(2\): field 'id' = 3 "
                                               r"repeats a joint"),
    ([(3, 1.0, 2.0, "x")], r"annolist\(1\)\.annorect\(1\)\.annopoints\.point\(1\): field 'is_visible' is 'x'"),
    ([(3, "a", 2.0, 1.0)], r"annolist\(1\)\.annorect\(1\)\.annopoints\.point\(1\): field 'x' is not a number"),
])
def test_bad_release_points(tmp_path, points, pattern):
    path = tmp_path / "r.mat"
    _write_release(path, _one_image(points))
    with pytest.raises(FormatError, match=r"r\.mat: " + pattern):
        list(read_mpii_release(path))


def test_release_missing_variable_and_truncated(tmp_path):
    path = tmp_path / "r.mat"
    scipy.io.savemat(path, {"annolist": np.zeros(3)})
    with pytest.raises(FormatError, match=r"r\.mat: field 'RELEASE' is missing"):
        read_mpii_release(path)
    _write_release(path, _one_image([(9, 100.0, 20.0, "1")]))
    cut = tmp_path / "cut.mat"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FormatError, match=r"cut\.mat: cannot be read as a MATLAB file"):
        read_mpii_release(cut)


# --- the evaluators' gt_valid.mat ---------------------------------------------------------------------------


def _gt_valid(path: Path, joints_1based: np.ndarray, missing: np.ndarray, head_boxes_1based: np.ndarray) -> None:
    """``gt_valid.mat`` in its layout: ``pos_gt_src (16, 2, N)``, ``jnt_missing (16, N)``,
    ``headboxes_src (2, 2, N)`` (corner x coordinate x person), MATLAB 1-based."""
    names = np.array(["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck", "head", "rwri",
                      "relb", "rsho", "lsho", "lelb", "lwri"], dtype=object)
    scipy.io.savemat(path, {"dataset_joints": names.reshape(1, 16), "jnt_missing": missing.T.astype(float),
                            "pos_gt_src": joints_1based.transpose(1, 2, 0),
                            "headboxes_src": head_boxes_1based.reshape(-1, 2, 2).transpose(1, 2, 0)})


def test_eval_gt_mat_layout(tmp_path):
    rng = np.random.default_rng(0)
    joints = rng.uniform(1, 500, (3, 16, 2))
    missing = np.zeros((3, 16), bool)
    missing[1, [0, 5]] = True
    joints[missing] = -1.0  # what the file stores for a missing joint does not matter
    boxes = np.array([[10.5, 20, 40, 60], [1, 1, 4, 5], [100, 100, 130, 140]])
    path = tmp_path / "gt_valid.mat"
    _gt_valid(path, joints, missing, boxes)
    got, annotated, head_boxes = read_mpii_eval_gt(path)
    assert got.dtype == np.float64 and head_boxes.dtype == np.float64
    np.testing.assert_array_equal(annotated, ~missing)
    np.testing.assert_array_equal(got[~missing], joints[~missing] - 1.0)
    np.testing.assert_array_equal(got[missing], 0.0)
    np.testing.assert_array_equal(head_boxes, boxes - 1.0)
    np.testing.assert_array_equal(read_mpii_head_boxes(path), (boxes - 1.0).astype(np.float32))
    with pytest.raises(FormatError, match=r"gt_valid\.mat: field 'RELEASE' is missing: this is an evaluation "
                                          r"ground truth"):
        read_mpii_release(path)
    scipy.io.savemat(path, {"pos_gt_src": joints.transpose(1, 2, 0), "jnt_missing": np.full((16, 3), 2.0),
                            "headboxes_src": boxes.reshape(-1, 2, 2).transpose(1, 2, 0)})
    with pytest.raises(FormatError, match=r"gt_valid\.mat: person 1: field 'jnt_missing' is 2 for joint 0"):
        read_mpii_eval_gt(path)
    scipy.io.savemat(path, {"pos_gt_src": joints.transpose(1, 2, 0), "jnt_missing": missing.T.astype(float)})
    with pytest.raises(FormatError, match=r"gt_valid\.mat: field 'headboxes_src' is missing"):
        read_mpii_eval_gt(path)


@pytest.mark.parametrize("stored", ["scipy", "matlab"])
def test_eval_gt_mat_with_one_person(tmp_path, stored):
    """A one-person ``gt_valid.mat``: scipy's ``savemat`` stores ``pos_gt_src (16, 2, 1)``,
    ``jnt_missing (16, 1)``, ``headboxes_src (2, 2, 1)``; MATLAB drops the trailing singleton and
    stores ``(16, 2)`` and ``(2, 2)``. Reading with ``squeeze_me`` gives ``(16, 2)``, ``(16,)``
    and ``(2, 2)`` either way, which used to fail the ``(16, 2, N)`` shape check. Head box
    (11, 21)-(41, 61) 1-based: diagonal 50, head size 30."""
    joints = np.arange(32, dtype=float).reshape(1, 16, 2) + 100.0
    missing = np.zeros((1, 16), bool)
    missing[0, 3] = True
    boxes = np.array([[11.0, 21.0, 41.0, 61.0]])
    path = tmp_path / "gt_valid.mat"
    _gt_valid(path, joints, missing, boxes)
    if stored == "matlab":
        raw = scipy.io.loadmat(path)
        scipy.io.savemat(path, {"dataset_joints": raw["dataset_joints"], "jnt_missing": raw["jnt_missing"],
                                "pos_gt_src": raw["pos_gt_src"][:, :, 0],
                                "headboxes_src": raw["headboxes_src"][..., 0]})
    raw = scipy.io.loadmat(path)
    expected_shapes = {"scipy": [(16, 2, 1), (16, 1), (2, 2, 1)], "matlab": [(16, 2), (16, 1), (2, 2)]}[stored]
    assert [raw[k].shape for k in ("pos_gt_src", "jnt_missing", "headboxes_src")] == expected_shapes
    assert raw["dataset_joints"].shape == (1, 16)
    got, annotated, head_boxes = read_mpii_eval_gt(path)
    assert got.shape == (1, 16, 2) and annotated.shape == (1, 16) and head_boxes.shape == (1, 4)
    np.testing.assert_array_equal(annotated, ~missing)
    np.testing.assert_array_equal(got[~missing], joints[~missing] - 1.0)
    np.testing.assert_array_equal(got[0, 3], [0.0, 0.0])
    np.testing.assert_array_equal(head_boxes, [[10.0, 20.0, 40.0, 60.0]])
    np.testing.assert_array_equal(read_mpii_head_boxes(path), [[10.0, 20.0, 40.0, 60.0]])
    # a one-person jnt_missing beside a two-person pos_gt_src is still a named shape error
    scipy.io.savemat(path, {"pos_gt_src": np.ones((16, 2, 2)), "jnt_missing": np.zeros((16, 1)),
                            "headboxes_src": np.ones((2, 2, 2))})
    with pytest.raises(FormatError, match=r"gt_valid\.mat: field 'jnt_missing' has shape \(16, 1\)"):
        read_mpii_eval_gt(path)


@needs_json
def test_head_sizes_are_exact_float64(tmp_path):
    """PCKh compares ``error / head_size`` with thresholds such as 0.5, so a joint can lie exactly on
    one: head sizes must be the float64 ``0.6 * diagonal`` the evaluators compute. A 30 x 40 head box
    gives exactly 30.0 (in float32 arithmetic it was 30.0000019, turning an error of exactly half a
    head size into a miss under ``<=``)."""
    path = tmp_path / "r.mat"
    _write_release(path, _one_image([(9, 100.0, 20.0, "1")]))  # head box (1, 2)-(11, 12)
    (s,) = read_dataset("mpii", path)
    assert s.meta["head_sizes"].dtype == np.float64 and s.meta["head_sizes"][0] == 0.6 * np.hypot(10.0, 10.0)
    boxes = np.array([[1, 1, 31, 41]] * 5, float)
    gt = tmp_path / "gt_valid.mat"
    scipy.io.savemat(gt, {"headboxes_src": np.stack([boxes[:, :2].T, boxes[:, 2:].T])})
    samples = list(read_mpii_json(JSON, head_boxes=gt))
    assert samples[0].meta["head_sizes"].dtype == np.float64 and samples[0].meta["head_sizes"][0] == 30.0
    assert samples[0].meta["head_boxes"].dtype == np.float32
