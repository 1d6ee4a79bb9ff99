"""``posekit eval``: output formats, bad input handling, and no torch at start-up."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posekit.metrics.coco_eval import STAT_NAMES, evaluate_coco_keypoints

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def small_set(tmp_path: Path) -> tuple[Path, Path]:
    """Two images, three people, four results (one false positive)."""
    rng = np.random.default_rng(0)
    anns, results = [], []
    for i, (img, x) in enumerate([(1, 100.0), (1, 300.0), (2, 200.0)]):
        kps = np.zeros((17, 3))
        kps[:, 0] = x + rng.uniform(-40, 40, 17)
        kps[:, 1] = 200 + rng.uniform(-120, 120, 17)
        kps[:, 2] = 2
        anns.append({"id": i + 1, "image_id": img, "category_id": 1, "keypoints": kps.ravel().tolist(),
                     "num_keypoints": 17, "area": 20000.0, "bbox": [x - 40, 80.0, 80.0, 240.0], "iscrowd": 0})
        det = kps.copy()
        det[:, :2] += rng.normal(0, 3, (17, 2))
        results.append({"image_id": img, "category_id": 1, "keypoints": det.ravel().tolist(), "score": 0.9 - 0.1 * i})
    results.append({"image_id": 2, "category_id": 1, "keypoints": (kps + 200).ravel().tolist(), "score": 0.95})
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "person"}], "annotations": anns}
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(results))
    return gt_path, res_path


def posekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit.cli", "eval", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_json_output_equals_api(tmp_path):
    gt, res = small_set(tmp_path)
    out = posekit("--gt", str(gt), "--results", str(res), "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert list(stats) == list(STAT_NAMES)
    assert stats == evaluate_coco_keypoints(gt, res)


def test_table_output(tmp_path):
    gt, res = small_set(tmp_path)
    out = posekit("--gt", str(gt), "--results", str(res))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.rstrip("\n").splitlines()
    assert len(lines) == 10
    assert lines[0].startswith(" Average Precision  (AP) @[ OKS=0.50:0.95 | area=   all | maxDets= 20 ] = ")


def test_pck_output(tmp_path):
    gt, res = small_set(tmp_path)
    out = posekit("--gt", str(gt), "--results", str(res), "--metric", "pck", "--thr", "0.1", "--json")
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)
    assert values["instances"] == 3 and values["instances_without_result"] == 0
    assert values["comparison"] == "<" and values["threshold"] == 0.1
    # 3 px noise on boxes of 240 px: every joint within 0.1 * 240
    assert values["PCK"] == 1.0 and values["PCK_pooled"] == 1.0 and len(values["per_keypoint"]) == 17


def test_fixture_pair_through_the_cli():
    gt = FIXTURES / "coco_eval" / "example_coco_val.json"
    res = FIXTURES / "coco_eval" / "example_coco_preds.json"
    if not gt.exists() or not res.exists():
        pytest.skip(f"shared fixtures not available under {FIXTURES}")
    out = posekit("--gt", str(gt), "--results", str(res), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == evaluate_coco_keypoints(gt, res)


@pytest.mark.parametrize("case, expected", [
    ("missing", "missing.json: No such file or directory"),
    ("gt_field", r"gt.json: annotations[1]: missing field 'bbox'"),
    ("kp_length", "results.json: record 2: field 'keypoints' has 48 values, record 0 has 51"),
    ("not_json", "results.json: not valid JSON"),
    ("unknown_image", "results.json: record 0: field 'image_id': 9 is not an image of"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, case, expected):
    gt, res = small_set(tmp_path)
    if case == "missing":
        res = tmp_path / "missing.json"
    elif case == "gt_field":
        data = json.loads(gt.read_text())
        del data["annotations"][1]["bbox"]
        gt.write_text(json.dumps(data))
    elif case == "kp_length":
        data = json.loads(res.read_text())
        data[2]["keypoints"] = data[2]["keypoints"][:48]
        res.write_text(json.dumps(data))
    elif case == "not_json":
        res.write_text("[{]")
    elif case == "unknown_image":
        data = json.loads(res.read_text())
        data[0]["image_id"] = 9
        res.write_text(json.dumps(data))
    out = posekit("--gt", str(gt), "--results", str(res))
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("posekit eval: error: ") and expected in lines[0], lines[0]


def test_eval_imports_neither_torch_nor_cv2(tmp_path):
    gt, res = small_set(tmp_path)
    code = ("import sys; from posekit.cli import main; "
            f"rc = main(['eval', '--gt', {str(gt)!r}, '--results', {str(res)!r}, '--json']); "
            "heavy = sorted(m for m in ('torch', 'cv2') if m in sys.modules); "
            "print('HEAVY', heavy, rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "HEAVY [] 0" in out.stderr, out.stderr
    for args in (["--metric", "pck"], []):
        timing = subprocess.run([sys.executable, "-X", "importtime", "-m", "posekit.cli", "eval", "--gt", str(gt),
                                 "--results", str(res), *args], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert timing.returncode == 0
        imported = {line.split("|")[-1].strip() for line in timing.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "numpy" in imported  # the probe works
        assert not {"torch", "cv2"} & imported



def test_bad_results_while_the_ground_truth_child_is_busy(tmp_path):
    """The results reader fails while the forked ground-truth parse is still running: the
    results' own error comes back (not a pool error), and the child is waited for, not killed."""
    from posekit.commands.eval import load_inputs

    gt, _ = small_set(tmp_path)
    data = json.loads(gt.read_text())
    template = data["annotations"][0]
    data["images"] = [{"id": i} for i in range(1, 2001)]
    data["annotations"] = [{**template, "id": i + 1, "image_id": i // 10 + 1} for i in range(20000)]
    gt.write_text(json.dumps(data))
    bad = tmp_path / "results.json"
    bad.write_text("[{]")
    for _ in range(3):
        with pytest.raises(ValueError, match="results.json: not valid JSON"):
            load_inputs(str(gt), str(bad), 17)


def test_shared_reading_gives_the_one_pass_inputs(tmp_path):
    """Ground truth and results read by two processes (the results file cut in two) are the
    arrays a one-process read gives."""
    from posekit.commands.eval import load_inputs
    from posekit.metrics import json_io
    from posekit.metrics.coco_eval import load_coco_gt

    gt, res = small_set(tmp_path)
    records = json.loads(res.read_text()) * 40
    res.write_text(json.dumps(records, indent=1))
    assert gt.stat().st_size < res.stat().st_size  # so the results are cut
    fraction = (gt.stat().st_size + res.stat().st_size) / (2 * res.stat().st_size)
    assert json_io.results_split_offset(res, fraction) is not None
    got_gt, got_res = load_inputs(str(gt), str(res), 17)
    one_gt, one_res = load_coco_gt(str(gt)), json_io.read_coco_results(res)
    for a, b in ((got_gt, one_gt), (got_res, one_res)):
        for field, value in vars(a).items():
            if isinstance(value, np.ndarray):
                other = getattr(b, field)
                assert value.dtype == other.dtype and value.shape == other.shape, field
                same = value.tobytes() == other.tobytes() if value.dtype != object else value.tolist() == other.tolist()
                assert same, field
            else:
                assert value == getattr(b, field), field
