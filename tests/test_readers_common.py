"""Tests for posekit.data.readers.common: error messages, container opening (missing,
truncated, pickled, MATLAB v7.3), MATLAB struct access and box helpers."""
from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.data.readers.common import (FormatError, boxes_from_center_scale, boxes_from_keypoints, float_array,
                                         format_error, keypoint_triplets, load_h5, load_mat, load_npz, load_pickle,
                                         mat_field, mat_items, mat_text, read_json)


def test_format_error_names_file_record_and_field():
    err = format_error("/d/a.json", "annotations[3]", "bbox", "has shape (3,), expected (4)")
    assert isinstance(err, ValueError)
    assert str(err) == "/d/a.json: annotations[3]: field 'bbox' has shape (3,), expected (4)"
    assert str(format_error("/d/a.json", None, None, "file not found")) == "/d/a.json: file not found"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.data())
def test_float_array_accepts_matching_shapes_and_rejects_others(rows, cols, data):
    values = data.draw(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=cols, max_size=cols),
                                min_size=rows, max_size=rows))
    out = float_array(values, (None, cols), "f.json", "rec", "pts")
    np.testing.assert_array_equal(out, np.array(values, np.float64))
    with pytest.raises(FormatError, match=rf"f\.json: rec: field 'pts' has shape \({rows}, {cols}\), "
                                          rf"expected \(N, {cols + 1}\)"):
        float_array(values, (None, cols + 1), "f.json", "rec", "pts")


def test_float_array_rejects_non_numbers():
    with pytest.raises(FormatError, match=r"f\.json: rec: field 'bbox' is not numeric"):
        float_array([1, "a", 3, 4], (4,), "f.json", "rec", "bbox")
    with pytest.raises(FormatError, match="is not numeric"):
        float_array([1, None, 3, 4], (4,), "f.json", "rec", "bbox")


def test_keypoint_triplets_names_expected_length():
    out = keypoint_triplets([1, 2, 2, 3, 4, 0], 2, "f.json", "annotations[0]", "keypoints", "sk")
    np.testing.assert_array_equal(out, [[1, 2, 2], [3, 4, 0]])
    with pytest.raises(FormatError, match=r"annotations\[0\]: field 'keypoints' has 5 values, expected 6"):
        keypoint_triplets([1, 2, 2, 3, 4], 2, "f.json", "annotations[0]", "keypoints", "sk")
    with pytest.raises(FormatError, match="has a dict, expected 6"):
        keypoint_triplets({}, 2, "f.json", "annotations[0]", "keypoints", "sk")


def test_read_json_missing_and_truncated(tmp_path):
    with pytest.raises(FormatError, match=r"nope\.json: file not found"):
        read_json(tmp_path / "nope.json")
    bad = tmp_path / "t.json"
    bad.write_text('{"images": [1, 2')
    with pytest.raises(FormatError, match=r"t\.json: is not valid JSON \(truncated"):
        read_json(bad)


def test_load_mat_reads_and_rejects_truncated_and_v73(tmp_path):
    good = tmp_path / "good.mat"
    scipy.io.savemat(good, {"joints": np.arange(3 * 14 * 5, dtype=float).reshape(3, 14, 5)})
    assert load_mat(good)["joints"].shape == (3, 14, 5)
    cut = tmp_path / "cut.mat"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(FormatError, match=r"cut\.mat: cannot be read as a MATLAB file \(truncated or corrupt"):
        load_mat(cut)
    v73 = tmp_path / "v73.mat"
    with h5py.File(v73, "w", userblock_size=512) as f:
        f["joints"] = np.zeros((5, 14, 3))
    with v73.open("r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(128))
    with pytest.raises(FormatError, match=r"v73\.mat: is a MATLAB v7\.3 \(HDF5\) file"):
        load_mat(v73)
    plain = tmp_path / "plain.h5"  # an HDF5 file without MATLAB's header, e.g. valid.h5 passed as a .mat
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(FormatError, match=r"plain\.h5: is an HDF5 file, not a MATLAB v4-v7 \.mat"):
        load_mat(plain)
    with pytest.raises(FormatError, match="file not found"):
        load_mat(tmp_path / "missing.mat")


def test_load_npz_refuses_pickles_without_trust(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, positions_3d=np.array({"S1": 1}, dtype=object), plain=np.arange(3))
    with pytest.raises(FormatError, match=r"p\.npz: field 'positions_3d' is stored as a Python pickle.*"
                                          r"trust_pickle=True"):
        load_npz(path)
    arrays = load_npz(path, trust_pickle=True)
    assert arrays["positions_3d"].item() == {"S1": 1}
    np.testing.assert_array_equal(arrays["plain"], [0, 1, 2])


def test_load_npz_truncated(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.arange(1000.0), b=np.arange(1000.0))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(FormatError, match=r"cut\.npz: .*(truncated or corrupt)"):
        load_npz(cut)


def test_load_pickle_needs_trust(tmp_path):
    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(FormatError, match=r"c\.pkl: is stored as a Python pickle, and unpickling a file can run "
                                          r"arbitrary code; pass trust_pickle=True"):
        load_pickle(path)
    assert load_pickle(path, trust_pickle=True) == {"a": 1}
    path.write_bytes(pickle.dumps({"a": 1})[:5])
    with pytest.raises(FormatError, match=r"c\.pkl: cannot be unpickled"):
        load_pickle(path, trust_pickle=True)


def test_load_h5_reads_and_rejects_truncated(tmp_path):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f["part"] = np.ones((4, 16, 2))
        f["imgname"] = np.array([b"a.jpg"] * 4)
    arrays = load_h5(path)
    assert arrays["part"].shape == (4, 16, 2) and arrays["imgname"][0] == b"a.jpg"
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(FormatError, match=r"cut\.h5: cannot be read as an HDF5 file \(truncated or corrupt"):
        load_h5(cut)


def test_mat_items_and_fields_normalise_squeezed_structs(tmp_path):
    path = tmp_path / "s.mat"
    one = np.empty((1, 1), dtype=[("x", object), ("e", object)])
    one[0, 0] = (3.0, np.zeros((0, 0)))
    many = np.empty((1, 3), dtype=[("x", object)])
    for i in range(3):
        many[0, i] = (float(i),)
    scipy.io.savemat(path, {"one": one, "many": many, "empty": np.zeros((0, 0)), "name": "abc"})
    data = load_mat(path)
    assert [s.x for s in mat_items(data["one"])] == [3.0]
    assert [s.x for s in mat_items(data["many"])] == [0.0, 1.0, 2.0]
    assert mat_items(data["empty"]) == []
    assert mat_field(data["one"], "e") is None and mat_field(data["one"], "absent") is None
    assert mat_text(data["name"]) == "abc" and mat_text(np.array([b"ab"])) == "ab"


def test_box_helpers():
    np.testing.assert_allclose(boxes_from_center_scale(np.array([[100.0, 50.0]]), np.array([1.5])),
                               [[-50.0, -100.0, 250.0, 200.0]])
    kps = np.array([[[1.0, 2.0], [5.0, 9.0], [100.0, 100.0]], [[0, 0], [0, 0], [0, 0]]])
    vis = np.array([[2, 1, 0], [0, 0, 0]])
    boxes = boxes_from_keypoints(kps, vis)
    np.testing.assert_array_equal(boxes[0], [1, 2, 5, 9])
    assert np.isnan(boxes[1]).all()


def test_float_array_rejects_ragged_and_string_numbers():
    with pytest.raises(FormatError, match="is not numeric"):
        float_array([[1, 2], [3]], (2, 2), "f.json", "rec", "joints")
    with pytest.raises(FormatError, match="is not numeric"):
        float_array(["1", "2"], (2,), "f.json", "rec", "center")


def test_load_npz_rejects_a_plain_npy(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((4, 17, 3)))
    with pytest.raises(FormatError, match=r"d\.npy: is a single \.npy array, expected an \.npz archive"):
        load_npz(path)
