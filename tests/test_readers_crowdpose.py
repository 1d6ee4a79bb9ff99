"""CrowdPose reader on the real fixtures and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posekit.data.readers import FormatError, read_crowdpose, read_dataset

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "crowdpose").is_dir(),
                                    reason="../shared/fixtures/crowdpose is absent")


@needs_fixtures
def test_crowdpose_fixture_values():
    samples = list(read_crowdpose(FIXTURES / "crowdpose" / "test_crowdpose.json"))
    assert len(samples) == 2 and sum(len(s.ids) for s in samples) == 5
    first = samples[0]
    assert first.skeleton.name == "crowdpose14" and first.skeleton.names[12] == "head_top"
    assert first.meta["image_id"] == 106848 and first.meta["crowd_index"] == pytest.approx(0.33)
    assert "areas" not in first.meta  # CrowdPose has no area field
    # annotation 123803: right_shoulder (208, 108, v=2), top_head (256, 27, v=1), neck (220, 89, v=1);
    # 7 labelled joints although num_keypoints = 5 (it counts v = 2 only)
    n = list(first.ids).index(123803)
    np.testing.assert_array_equal(first.keypoints[n, [1, 12, 13]], [[208, 108], [256, 27], [220, 89]])
    assert first.visibility[n].tolist() == [0, 2, 0, 2, 2, 2, 0, 2, 0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(first.boxes[n], [106.01, 13.43, 106.01 + 273.15, 13.43 + 352.42], rtol=1e-6)


@needs_fixtures
def test_crowdpose_eval_ground_truth_via_registry():
    path = FIXTURES / "crowdpose_eval" / "example_crowdpose_val.json"
    raw = json.loads(path.read_text())
    samples = list(read_dataset("crowdpose", path))
    assert len(samples) == 4 and sum(len(s.ids) for s in samples) == len(raw["annotations"]) == 10
    crowd = {img["id"]: img["crowdIndex"] for img in raw["images"]}
    assert {s.meta["image_id"]: s.meta["crowd_index"] for s in samples} == crowd


@needs_fixtures
def test_crowdpose_missing_crowd_index_and_short_keypoints(tmp_path):
    data = json.loads((FIXTURES / "crowdpose" / "test_crowdpose.json").read_text())
    del data["images"][1]["crowdIndex"]
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FormatError, match=r"cp\.json: images\[1\] \(id 103319\): field 'crowdIndex' is missing"):
        read_crowdpose(path)
    data = json.loads((FIXTURES / "crowdpose" / "test_crowdpose.json").read_text())
    data["annotations"][2]["keypoints"] = data["annotations"][2]["keypoints"] + [0, 0, 0]
    path.write_text(json.dumps(data))
    with pytest.raises(FormatError, match=r"cp\.json: annotations\[2\] \(id \d+\): field 'keypoints' has 45 values, "
                                          r"expected 42"):
        read_crowdpose(path)


def test_crowdpose_missing_file(tmp_path):
    with pytest.raises(FormatError, match=r"x\.json: file not found"):
        read_crowdpose(tmp_path / "x.json")
