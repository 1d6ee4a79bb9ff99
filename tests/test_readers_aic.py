"""AI Challenger readers: raw challenge JSON and the COCO-style conversion, on the real fixtures
(the raw example and test_aic.json share three images), bad input, and a property test of the
raw -> COCO-code mapping."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.data.readers import FormatError, read_aic, read_aic_coco, read_aic_raw

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
RAW = FIXTURES / "aic_eval" / "keypoint_annotations_example.json"
COCO_STYLE = FIXTURES / "aic" / "test_aic.json"
needs_fixtures = pytest.mark.skipif(not RAW.is_file() or not COCO_STYLE.is_file(),
                                    reason="../shared/fixtures/aic{,_eval} is absent")


@needs_fixtures
def test_raw_example_counts_and_visibility_mapping():
    samples = list(read_aic(RAW))
    assert len(samples) == 1000
    codes = np.concatenate([s.visibility.ravel() for s in samples])
    # raw counts 24158 visible (1) / 8578 occluded (2) / 5918 unlabelled (3), REFERENCE B5
    assert (codes == 2).sum() == 24158 and (codes == 1).sum() == 8578 and (codes == 0).sum() == 5918
    first = samples[0]
    assert first.skeleton.name == "aic14"
    assert first.meta["image_id"] == "d8eeddddcc042544a2570d4c452778b912726720"
    assert first.meta["file"] == "d8eeddddcc042544a2570d4c452778b912726720.jpg"
    assert first.ids.tolist() == [1, 2, 3]  # human1..3, although the file lists human3 first
    # human2: right_elbow (474, 375, raw 2 -> 1), right_knee (0, 0, raw 3 -> 0), box [407, 59, 665, 632]
    np.testing.assert_array_equal(first.keypoints[1, 1], [474, 375])
    assert first.visibility[1, 1] == 1 and first.visibility[1, 7] == 0 and first.visibility[1, 0] == 2
    np.testing.assert_array_equal(first.boxes[1], [407, 59, 665, 632])


@needs_fixtures
def test_raw_and_coco_style_agree_on_the_shared_images():
    raw = {s.meta["image_id"]: s for s in read_aic_raw(RAW)}
    converted = list(read_aic_coco(COCO_STYLE))
    assert len(converted) == 3
    for sample in converted:
        assert "areas" not in sample.meta
        twin = raw[sample.meta["file"][:-4]]
        np.testing.assert_array_equal(sample.keypoints, twin.keypoints)
        np.testing.assert_array_equal(sample.visibility, twin.visibility)
        np.testing.assert_array_equal(sample.boxes, twin.boxes)


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "aic.json"
    path.write_text(json.dumps(data))
    return path


def _record(**changes):
    record = {"url": "u", "image_id": "ab12", "human_annotations": {"human1": [1, 2, 30, 40]},
              "keypoint_annotations": {"human1": [5, 6, 1] * 14}}
    record.update(changes)
    return record


@pytest.mark.parametrize("record, pattern", [
    (_record(human_annotations={}),
     r"\[0\] \(image_id ab12\): field 'human_annotations.human1' is missing"),
    ({k: v for k, v in _record().items() if k != "keypoint_annotations"},
     r"\[0\] \(image_id ab12\): field 'keypoint_annotations' is missing"),
    (_record(keypoint_annotations={"human1": [5, 6, 1] * 13}),
     r"\[0\] \(image_id ab12\): field 'keypoint_annotations.human1' has 39 values, expected 42"),
    (_record(keypoint_annotations={"human1": [5, 6, 4] * 14}),
     r"\[0\] \(image_id ab12\): field 'keypoint_annotations.human1' has visibility 4 at joint 0 \(right_shoulder\)"),
    (_record(keypoint_annotations={"person1": [5, 6, 1] * 14}),
     r"\[0\] \(image_id ab12\): field 'keypoint_annotations' has key 'person1', expected 'human<number>'"),
    (_record(human_annotations={"human1": [1, 2, 3]}),
     r"\[0\] \(image_id ab12\): field 'human_annotations.human1' has shape \(3,\)"),
    (_record(human_annotations={"human1": [1, 2, 3, 4], "human2": [1, 2, 3, 4]}),
     r"\[0\] \(image_id ab12\): field 'keypoint_annotations.human2' is missing"),
    (_record(image_id=7), r"\[0\]: field 'image_id' is 7, expected a string"),
])
def test_bad_raw_records(tmp_path, record, pattern):
    path = _write(tmp_path, [record])
    with pytest.raises(FormatError, match=r"aic\.json: " + pattern):
        list(read_aic_raw(path))


def test_missing_truncated_and_wrong_top_level(tmp_path):
    with pytest.raises(FormatError, match="file not found"):
        read_aic(tmp_path / "none.json")
    cut = tmp_path / "cut.json"
    cut.write_text('[{"image_id": "ab", "keypoint_annotations": {"human1": [1, 2')
    with pytest.raises(FormatError, match=r"cut\.json: is not valid JSON"):
        read_aic(cut)
    with pytest.raises(FormatError, match=r"top level: is a dict, expected the raw AI Challenger list"):
        read_aic_raw(_write(tmp_path, {"images": []}))


human = st.tuples(st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999), st.sampled_from([1, 2, 3])),
                           min_size=14, max_size=14),
                  st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(1, 400), st.integers(1, 400)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(human, max_size=4), min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_raw_matches_its_coco_style_conversion(tmp_path_factory, images, rng):
    """The raw file and the COCO-style file built by the documented conversion (v 1->2, 2->1,
    3->0 with x = y = 0; bbox [x1, y1, x2 - x1, y2 - y1]) read the same."""
    raw, coco = [], {"images": [], "annotations": []}
    for i, people in enumerate(images):
        keys = [f"human{n + 1}" for n in range(len(people))]
        shuffled = list(zip(keys, people))
        rng.shuffle(shuffled)  # the raw dicts are not in human order
        kp_ann, box_ann = {}, {}
        for key, (joints, (x, y, w, h)) in shuffled:
            kp_ann[key] = [v for (jx, jy, c) in joints for v in ((0, 0, 3) if c == 3 else (jx, jy, c))]
            box_ann[key] = [x, y, x + w, y + h]
        raw.append({"url": "", "image_id": f"{i:040x}", "human_annotations": box_ann, "keypoint_annotations": kp_ann})
        coco["images"].append({"id": i + 1, "file_name": f"{i:040x}.jpg", "width": 1000, "height": 1000})
        for n, (joints, (x, y, w, h)) in enumerate(people):
            kps = [v for (jx, jy, c) in joints for v in ((0, 0, 0) if c == 3 else (jx, jy, {1: 2, 2: 1}[c]))]
            coco["annotations"].append({"id": 100 * i + n, "image_id": i + 1, "category_id": 1, "bbox": [x, y, w, h],
                                        "keypoints": kps, "num_keypoints": sum(c != 3 for *_, c in joints)})
    folder = tmp_path_factory.mktemp("aic")
    (folder / "raw.json").write_text(json.dumps(raw))
    (folder / "coco.json").write_text(json.dumps(coco))
    for a, b in zip(read_aic(folder / "raw.json"), read_aic(folder / "coco.json"), strict=True):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.visibility, b.visibility)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert a.ids.tolist() == list(range(1, len(a.ids) + 1))
