"""COCO readers (ground truth, results, detections) on the real fixtures, bad input, and a
round-trip property test of the results reader."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.data.readers.coco import (FormatError, read_coco, read_coco_detections, read_coco_keypoints,
                                       read_coco_results)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "coco").is_dir(), reason="../shared/fixtures/coco is absent")
GT = FIXTURES / "coco" / "test_coco.json"


@needs_fixtures
def test_ground_truth_stream_matches_the_file():
    raw = json.loads(GT.read_text())
    samples = list(read_coco(GT, image_dir="/imgs"))
    assert [s.meta["image_id"] for s in samples] == [785, 40083, 196141, 197388]
    assert sum(len(s.ids) for s in samples) == len(raw["annotations"]) == 14
    first = samples[0]
    assert first.skeleton.name == "coco17" and first.image is None
    assert first.meta["file"] == "/imgs/000000000785.jpg" and first.meta["width"] == 640
    # annotation 442619 (image 785): nose (367, 81, v=2), bbox [280.79, 44.73, 218.7, 346.68]
    assert first.ids.tolist() == [442619]
    np.testing.assert_array_equal(first.keypoints[0, 0], [367, 81])
    np.testing.assert_array_equal(first.keypoints[0, 16], [396, 341])
    assert first.visibility.tolist() == [[2] * 17]
    np.testing.assert_allclose(first.boxes[0], [280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68], rtol=1e-6)
    np.testing.assert_allclose(first.meta["areas"], [27789.11055], rtol=1e-6)
    # every annotation's keypoints, visibility and box, independently from the JSON
    by_id = {a["id"]: a for a in raw["annotations"]}
    for s in samples:
        for n, ann_id in enumerate(s.ids):
            kps = np.array(by_id[ann_id]["keypoints"], np.float32).reshape(17, 3)
            np.testing.assert_array_equal(s.keypoints[n], kps[:, :2])
            np.testing.assert_array_equal(s.visibility[n], kps[:, 2])
    # annotations 1202706 and 508900 have num_keypoints 0: all joints unlabelled
    zero = [s.visibility[list(s.ids).index(a)] for s in samples for a in (1202706, 508900) if a in s.ids]
    assert len(zero) == 2 and all((z == 0).all() for z in zero)


@needs_fixtures
def test_legacy_reader_agrees_with_the_stream():
    images = read_coco_keypoints(GT)
    for img, sample in zip(images, read_coco(GT)):
        assert img.image_id == sample.meta["image_id"]
        np.testing.assert_array_equal(img.keypoints, sample.keypoints)
        np.testing.assert_array_equal(img.boxes, sample.boxes)


@needs_fixtures
def test_results_file_groups_by_image_with_keypoint_extent_boxes():
    path = FIXTURES / "coco_eval" / "example_coco_preds.json"
    raw = json.loads(path.read_text())
    results = read_coco_results(path)
    assert sum(len(r) for r in results.values()) == len(raw) == 73
    assert list(results) == [785, 197388, 40083, 196141]
    first = results[785]
    kps = np.array(raw[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(first.keypoints[0], kps[:, :2], rtol=1e-6)
    np.testing.assert_allclose(first.scores[0], kps[:, 2], rtol=1e-6)
    assert first.instance_scores[0] == pytest.approx(0.833312571006104)
    # no bbox in these results: the box is the extent of all 17 keypoints
    np.testing.assert_allclose(first.boxes[0], [*kps[:, :2].min(0), *kps[:, :2].max(0)], rtol=1e-6)


@needs_fixtures
def test_official_fake_results_file():
    path = FIXTURES / "coco_eval" / "person_keypoints_val2014_fakekeypoints100_results.json"
    results = read_coco_results(path)
    assert sum(len(r) for r in results.values()) == 125
    # first result (image 136): nose (36, 181) with "score" 2, left eye (20.25, 191) with 0
    np.testing.assert_array_equal(results[136].keypoints[0, :2], [[36, 181], [20.25, 191]])
    np.testing.assert_array_equal(results[136].scores[0, :2], [2, 0])


@needs_fixtures
def test_detections_file():
    path = FIXTURES / "coco" / "test_coco_det_AP_H_56.json"
    dets = read_coco_detections(path)
    assert sum(len(b) for b, _ in dets.values()) == 118
    boxes, scores = dets[785]
    np.testing.assert_allclose(boxes[0], [277.1183158543966, 45.699667786163765, 277.1183158543966 + 225.09126579259754,
                                          45.699667786163765 + 333.5602652943344], rtol=1e-6)
    assert scores[0] == pytest.approx(0.9999731779098511)
    assert read_coco_detections(path, category_id=2) == {}


def _mutated(tmp_path: Path, mutate) -> Path:
    data = json.loads(GT.read_text())
    mutate(data)
    out = tmp_path / "bad.json"
    out.write_text(json.dumps(data))
    return out


@needs_fixtures
@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d["annotations"][3].pop("keypoints"), r"annotations\[3\] \(id 1202706\): field 'keypoints' is missing"),
    (lambda d: d["annotations"][3].__setitem__("keypoints", d["annotations"][3]["keypoints"][:48]),
     r"annotations\[3\] \(id 1202706\): field 'keypoints' has 48 values, expected 51"),
    (lambda d: d["annotations"][0].__setitem__("bbox", [1, 2, 3]),
     r"annotations\[0\] \(id 442619\): field 'bbox' has shape \(3,\), expected \(4\)"),
    (lambda d: d["annotations"][0].__setitem__("image_id", 5), r"annotations\[0\] \(id 442619\): field 'image_id' = 5"),
    (lambda d: d["images"][1].pop("file_name"), r"images\[1\]: field 'file_name' is missing"),
    (lambda d: d.pop("images"), r"top level: field 'images' is missing"),
])
def test_bad_ground_truth_names_file_record_and_field(tmp_path, mutate, pattern):
    path = _mutated(tmp_path, mutate)
    with pytest.raises(FormatError, match=re.escape(str(path)) + ": " + pattern):
        read_coco(path)


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(FormatError, match=r"none\.json: file not found"):
        read_coco(tmp_path / "none.json")
    with pytest.raises(FormatError, match="file not found"):
        read_coco_results(tmp_path / "none.json")
    cut = tmp_path / "cut.json"
    cut.write_text('[{"image_id": 1, "category_id": 1, "keypoints": [1, 2')
    with pytest.raises(FormatError, match=r"cut\.json: is not valid JSON"):
        read_coco_detections(cut)


def test_bad_results_name_the_record(tmp_path):
    path = tmp_path / "res.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [0] * 51, "score": 1},
                                {"image_id": 1, "category_id": 1, "keypoints": [0] * 51}]))
    with pytest.raises(FormatError, match=r"res\.json: results\[1\]: field 'score' is missing"):
        read_coco_results(path)
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [0] * 42, "score": 1}]))
    with pytest.raises(FormatError, match=r"results\[0\]: field 'keypoints' has 42 values, expected 51"):
        read_coco_results(path)
    assert len(read_coco_results(path, skeleton="crowdpose14")[1]) == 1


results_strategy = st.lists(st.fixed_dictionaries({
    "image_id": st.integers(1, 4),
    "keypoints": st.lists(st.floats(-500, 500, width=32), min_size=51, max_size=51),
    "score": st.floats(0, 1, width=32),
    "bbox": st.one_of(st.none(), st.lists(st.floats(0, 300, width=32), min_size=4, max_size=4)),
}), max_size=12)


@settings(max_examples=40, deadline=None)
@given(results_strategy)
def test_results_round_trip(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("res") / "r.json"
    path.write_text(json.dumps([{k: v for k, v in r.items() if v is not None} for r in records]))
    results = read_coco_results(path)
    seen: dict[int, int] = {}
    for rec in records:
        n = seen.get(rec["image_id"], 0)
        seen[rec["image_id"]] = n + 1
        res = results[rec["image_id"]]
        kps = np.array(rec["keypoints"], np.float32).reshape(17, 3)
        np.testing.assert_array_equal(res.keypoints[n], kps[:, :2])
        np.testing.assert_array_equal(res.scores[n], kps[:, 2])
        assert res.instance_scores[n] == np.float32(rec["score"])
        if rec["bbox"]:
            x, y, w, h = np.array(rec["bbox"], np.float64)
            np.testing.assert_allclose(res.boxes[n], [x, y, x + w, y + h], rtol=1e-6)
        else:
            np.testing.assert_array_equal(res.boxes[n], [*kps[:, :2].min(0), *kps[:, :2].max(0)])
    assert {k: len(v) for k, v in results.items()} == seen


@pytest.mark.parametrize("field, value, pattern", [
    ("id", "abc", r"field 'id' is 'abc', expected an integer annotation id"),
    ("id", None, r"field 'id' is None, expected an integer annotation id"),
    ("area", "abc", r"field 'area' is not numeric"),
    ("iscrowd", [1, 2], r"field 'iscrowd' has shape \(2,\), expected \(\)"),
    ("keypoints", [0.0, 0.0, 3.0] * 17, r"field 'keypoints' has visibility 3 at joint 0 \(nose\), expected 0, 1 or 2"),
])
def test_bad_annotation_values_name_the_field(tmp_path, field, value, pattern):
    """Values of the wrong type in optional fields get the same named error as missing fields
    (found by fuzzing the fixture: they used to surface as bare numpy errors)."""
    data = json.loads(GT.read_text())
    data["annotations"][2][field] = value
    path = tmp_path / "g.json"
    path.write_text(json.dumps(data))
    ann_id = data["annotations"][2].get("id") if field != "id" else value
    with pytest.raises(FormatError, match=re.escape(f"{path}: annotations[2] (id {ann_id}): ") + pattern):
        list(read_coco(path))
