"""COCO keypoint AP/AR against pycocotools, the OKS kernel, and the fast results reader."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posekit.metrics import json_io
from posekit.metrics.coco_eval import (
    STAT_NAMES,
    coco_keypoint_eval,
    evaluate_coco_keypoints,
    load_coco_gt,
)
from posekit.metrics.json_io import CocoFormatError, read_coco_results, results_from_records
from posekit.metrics.oks import oks_matrix

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def _fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} not available")
    return path


def pycoco_eval(gt: dict, results: list) -> COCOeval:
    """pycocotools' COCOeval after summarize (loadRes skipped for an empty list, which it rejects)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def pycoco_stats(gt: dict, results: list) -> dict:
    """The ten stats from pycocotools."""
    return dict(zip(STAT_NAMES, (float(v) for v in pycoco_eval(gt, results).stats)))


def assert_same_stats(ours: dict, ref: dict) -> None:
    for key in STAT_NAMES:
        assert ours[key] == pytest.approx(ref[key], abs=1e-9), (key, ours, ref)


# --------------------------------------------------------------------------------------------
# Small hand-made COCO sets.


def make_gt(people: list, images=(1,), categories=(1,)) -> dict:
    """people: dicts with image_id, keypoints (17x3 list), area, bbox, optional id/iscrowd/
    num_keypoints/category_id/ignore."""
    anns = []
    for i, p in enumerate(people):
        kps = np.asarray(p["keypoints"], dtype=float).reshape(17, 3)
        ann = {
            "id": p.get("id", i + 1),
            "image_id": p["image_id"],
            "category_id": p.get("category_id", 1),
            "keypoints": kps.ravel().tolist(),
            "num_keypoints": p.get("num_keypoints", int((kps[:, 2] > 0).sum())),
            "area": p["area"],
            "bbox": p["bbox"],
            "iscrowd": p.get("iscrowd", 0),
        }
        if "ignore" in p:
            ann["ignore"] = p["ignore"]
        anns.append(ann)
    return {
        "images": [{"id": i, "width": 640, "height": 480} for i in images],
        "categories": [{"id": c, "name": f"c{c}"} for c in categories],
        "annotations": anns,
    }


def person(x: float, y: float, scale: float = 100.0, vis: int = 2) -> np.ndarray:
    """A 17x3 pose: a fixed template scaled and shifted (pixel coordinates)."""
    template = np.array([[0, -0.9], [0.03, -0.95], [-0.03, -0.95], [0.06, -0.92], [-0.06, -0.92],
                         [0.12, -0.8], [-0.12, -0.8], [0.17, -0.62], [-0.17, -0.62], [0.19, -0.45],
                         [-0.19, -0.45], [0.08, -0.48], [-0.08, -0.48], [0.09, -0.25], [-0.09, -0.25],
                         [0.09, -0.02], [-0.09, -0.02]])
    xy = template * scale + [x, y]
    return np.concatenate([xy, np.full((17, 1), vis)], axis=1)


def gt_person(image_id: int, x: float, y: float, scale: float = 100.0, **extra) -> dict:
    kps = person(x, y, scale)
    lo, hi = kps[:, :2].min(0), kps[:, :2].max(0)
    bbox = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    out = {"image_id": image_id, "keypoints": kps, "area": extra.pop("area", scale * scale * 0.3), "bbox": bbox}
    out.update(extra)
    return out


def result(image_id: int, kps: np.ndarray, score: float, **extra) -> dict:
    out = {"image_id": image_id, "category_id": 1, "keypoints": np.asarray(kps, float).ravel().tolist(),
           "score": score}
    out.update(extra)
    return out


def jitter(kps: np.ndarray, px: float, seed: int) -> np.ndarray:
    out = np.array(kps, dtype=float)
    out[:, :2] += np.random.default_rng(seed).normal(0, px, (17, 2))
    out[:, 2] = 0.9
    return out


# --------------------------------------------------------------------------------------------
# Real files.


def test_fixture_pair_matches_pycocotools():
    gt_path = _fixture("coco_eval", "example_coco_val.json")
    res_path = _fixture("coco_eval", "example_coco_preds.json")
    ours = evaluate_coco_keypoints(gt_path, res_path)
    ref = pycoco_stats(json.loads(gt_path.read_text()), json.loads(res_path.read_text()))
    assert_same_stats(ours, ref)
    assert 0.5 < ours["AP"] < 1.0  # a real, non-trivial score


def test_test_coco_with_synthesised_results_matches_pycocotools():
    gt = json.loads(_fixture("coco", "test_coco.json").read_text())
    rng = np.random.default_rng(3)
    results = []
    for ann in gt["annotations"]:
        kps = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
        scale = math.sqrt(max(ann["area"], 1.0))
        for dup in range(2):  # a detection and a worse duplicate
            noisy = kps.copy()
            noisy[:, :2] += rng.normal(0, 0.03 * scale * (1 + 2 * dup), (17, 2))
            noisy[:, 2] = rng.random(17)
            results.append(result(ann["image_id"], noisy, float(rng.random())))
    for image in gt["images"]:  # false positives
        for _ in range(3):
            fake = person(rng.uniform(0, image["width"]), rng.uniform(100, image["height"]), rng.uniform(40, 200))
            results.append(result(image["id"], fake, float(rng.random() * 0.5)))
    ours = evaluate_coco_keypoints(gt, results)
    assert_same_stats(ours, pycoco_stats(gt, results))
    # the same through files and the fast reader, with and without boxes
    boxed = [dict(r, bbox=[1.0, 2.0, 150.0, 150.0 + i]) for i, r in enumerate(results)]
    assert_same_stats(evaluate_coco_keypoints(gt, boxed), pycoco_stats(gt, boxed))


def test_official_fake_results_file_reads_exactly_and_needs_its_own_gt(tmp_path):
    path = _fixture("coco_eval", "person_keypoints_val2014_fakekeypoints100_results.json")
    records = json.loads(path.read_text())
    fast = read_coco_results(path)
    slow = results_from_records(records)
    assert np.array_equal(fast.keypoints, slow.keypoints) and np.array_equal(fast.score, slow.score)
    gt_path = _fixture("coco_eval", "example_coco_val.json")
    with pytest.raises(CocoFormatError, match=r"record 0: field 'image_id': 136 is not an image of"):
        evaluate_coco_keypoints(gt_path, path)


# --------------------------------------------------------------------------------------------
# Edge cases, each against pycocotools.


def test_crowd_region_absorbs_several_detections():
    crowd = gt_person(1, 300, 400, 150, iscrowd=1, num_keypoints=0)
    crowd["keypoints"][:, 2] = 0
    gt = make_gt([gt_person(1, 100, 300), crowd])
    res = [result(1, jitter(person(100, 300), 2, 0), 0.9)]
    res += [result(1, jitter(person(300, 400, 150), 3, s), 0.5 + 0.01 * s) for s in range(4)]
    ours = evaluate_coco_keypoints(gt, res)
    assert_same_stats(ours, pycoco_stats(gt, res))
    # crowd-absorbed detections are not false positives: same as without them
    assert ours == evaluate_coco_keypoints(gt, res[:1])


def test_num_keypoints_field_is_read_not_recounted():
    a = gt_person(1, 100, 300)
    b = gt_person(1, 400, 300, num_keypoints=0)  # labelled joints, but the field says 0 -> ignored
    gt = make_gt([a, b])
    res = [result(1, jitter(person(100, 300), 2, 1), 0.8), result(1, jitter(person(400, 300), 0.1, 2), 0.9)]
    ours = evaluate_coco_keypoints(gt, res)
    assert_same_stats(ours, pycoco_stats(gt, res))
    # b is ignored and so is the detection matched to it: as if neither existed
    assert ours == evaluate_coco_keypoints(make_gt([a]), res[:1])


def test_unlabelled_gt_uses_double_box_rule():
    empty = gt_person(1, 400, 300, num_keypoints=0)
    empty["keypoints"] = np.zeros((17, 3))
    gt = make_gt([gt_person(1, 100, 300), empty])
    inside = person(400, 300)  # inside twice the box: OKS 1 with the ignored GT
    res = [result(1, jitter(person(100, 300), 2, 3), 0.6), result(1, inside, 0.9)]
    assert_same_stats(evaluate_coco_keypoints(gt, res), pycoco_stats(gt, res))
    ev = load_coco_gt(gt)
    oks = oks_matrix(inside[None, :, :2], ev.keypoints, ev.visible, ev.area, SIGMAS, ev.bbox)
    assert oks[0, 1] == 1.0


@pytest.mark.parametrize("rank", [19, 20])
def test_only_top_twenty_detections_count(rank):
    gt = make_gt([gt_person(1, 300, 300)])
    res = [result(1, person(50 + 20 * i, 100, 30), 0.99 - 0.01 * i) for i in range(rank)]
    res.append(result(1, jitter(person(300, 300), 0.1, 4), 0.99 - 0.01 * rank))
    ours = evaluate_coco_keypoints(gt, res)
    assert_same_stats(ours, pycoco_stats(gt, res))
    if rank == 20:  # the true positive is the 21st: dropped
        assert ours["AP"] == 0.0 and ours["AR"] == 0.0
    else:  # 20th: kept with precision 1/20 at every recall point and OKS threshold -> AP 0.05
        assert ours["AR"] == pytest.approx(1.0) and ours["AP"] == pytest.approx(0.05, abs=1e-12)


def test_area_boundary_9216_is_in_medium_and_large():
    gt = make_gt([gt_person(1, 100, 300, area=9216.0), gt_person(1, 400, 300, area=20000.0)])
    res = [result(1, jitter(person(100, 300), 0.1, 5), 0.9), result(1, jitter(person(400, 300), 0.1, 6), 0.8)]
    ours = evaluate_coco_keypoints(gt, res)
    assert_same_stats(ours, pycoco_stats(gt, res))
    assert ours["APm"] > 0.9 and ours["APl"] > 0.9


def test_all_large_gives_minus_one_for_medium():
    gt = make_gt([gt_person(1, 300, 300, area=50000.0)])
    res = [result(1, jitter(person(300, 300), 1, 7), 0.9)]
    ours = evaluate_coco_keypoints(gt, res)
    assert_same_stats(ours, pycoco_stats(gt, res))
    assert ours["APm"] == -1.0 and ours["ARm"] == -1.0


def test_result_area_from_bbox_or_keypoint_extent():
    # An unmatched detection whose keypoint extent is "large" but whose box is "medium".
    gt = make_gt([gt_person(1, 100, 300, area=30000.0)])
    fp = person(450, 400, 200)
    plain = [result(1, jitter(person(100, 300), 0.1, 8), 0.5), result(1, fp, 0.9)]
    boxed = [dict(r, bbox=[0.0, 0.0, 50.0, 50.0]) for r in plain]
    ours_plain, ours_boxed = evaluate_coco_keypoints(gt, plain), evaluate_coco_keypoints(gt, boxed)
    assert_same_stats(ours_plain, pycoco_stats(gt, plain))
    assert_same_stats(ours_boxed, pycoco_stats(gt, boxed))
    assert ours_plain["APl"] < 0.9 < ours_boxed["APl"]  # the FP is ignored for "large" only when boxed
    # the first record decides (pycocotools' loadRes): a box on a later record is not used
    mixed = [plain[0], boxed[1]]
    assert_same_stats(evaluate_coco_keypoints(gt, mixed), pycoco_stats(gt, mixed))


def test_image_without_gt_and_ignore_key_and_unknown_category():
    gt = make_gt([gt_person(1, 100, 300, ignore=1)], images=(1, 2))  # 'ignore' is discarded
    res = [result(1, jitter(person(100, 300), 1, 9), 0.7), result(2, person(200, 300), 0.9),
           dict(result(1, person(300, 300), 0.95), category_id=7)]  # unknown category: dropped
    ours = evaluate_coco_keypoints(gt, res)
    assert_same_stats(ours, pycoco_stats(gt, res[:2]))
    assert ours["AP"] < 1.0  # the FP in image 2 counts


def test_empty_results():
    gt = make_gt([gt_person(1, 100, 300)])
    ours = evaluate_coco_keypoints(gt, [])
    assert_same_stats(ours, pycoco_stats(gt, []))
    assert ours["AP"] == 0.0 and ours["APl"] == -1.0  # area 3000: medium only


def test_score_ties_keep_image_then_file_order():
    gt = make_gt([gt_person(1, 100, 300), gt_person(2, 100, 300), gt_person(2, 400, 300)], images=(1, 2))
    res = [result(2, person(250, 200, 60), 0.5), result(1, jitter(person(100, 300), 1, 10), 0.5),
           result(2, jitter(person(400, 300), 1, 11), 0.5), result(2, jitter(person(100, 300), 30, 12), 0.5)]
    assert_same_stats(evaluate_coco_keypoints(gt, res), pycoco_stats(gt, res))


def test_gt_id_zero_is_correct_here_and_wrong_in_pycocotools():
    gt = make_gt([gt_person(1, 100, 300, id=0)])
    res = [result(1, person(100, 300), 0.9)]
    ours = evaluate_coco_keypoints(gt, res)
    ref = pycoco_stats(gt, res)
    assert ref["AP"] == 0.0 and ref["AR"] == 0.0  # pycocotools: matched to id 0 == "unmatched"
    assert ours["AP"] == pytest.approx(1.0) and ours["AR"] == pytest.approx(1.0)  # xtcocotools' answer
    shifted = make_gt([gt_person(1, 100, 300, id=1)])
    assert_same_stats(ours, pycoco_stats(shifted, res))


def test_several_categories_are_averaged_like_pycocotools():
    gt = make_gt([gt_person(1, 100, 300), gt_person(1, 400, 300, category_id=2)], categories=(1, 2))
    res = [result(1, jitter(person(100, 300), 1, 13), 0.9),
           dict(result(1, jitter(person(400, 300), 20, 14), 0.8), category_id=2)]
    assert_same_stats(evaluate_coco_keypoints(gt, res), pycoco_stats(gt, res))


def test_bad_inputs_name_file_record_and_field(tmp_path):
    gt = make_gt([gt_person(1, 100, 300)])
    with pytest.raises(CocoFormatError, match=r"record 0: field 'image_id': 5 is not an image"):
        evaluate_coco_keypoints(gt, [result(5, person(1, 1), 0.5)])
    broken = copy.deepcopy(gt)
    del broken["annotations"][0]["num_keypoints"]
    with pytest.raises(CocoFormatError, match=r"annotations\[0\]: missing field 'num_keypoints'"):
        load_coco_gt(broken)
    broken = copy.deepcopy(gt)
    broken["annotations"][0]["keypoints"] = broken["annotations"][0]["keypoints"][:-3]
    with pytest.raises(CocoFormatError, match=r"annotations\[0\]: field 'keypoints' must be a list of 51"):
        load_coco_gt(broken)
    path = tmp_path / "res.json"
    path.write_text(json.dumps([result(1, person(1, 1), 0.5), {"image_id": 1, "category_id": 1, "score": 1}]))
    with pytest.raises(CocoFormatError, match=rf"{path}: record 1: missing field 'keypoints'"):
        read_coco_results(path)
    path.write_text(json.dumps([result(1, person(1, 1), 0.5), result(1, person(1, 1)[:16], 0.5)]))
    with pytest.raises(CocoFormatError, match=r"record 1: field 'keypoints' has 48 values, record 0 has 51"):
        read_coco_results(path)


def test_precision_recall_arrays_are_kept():
    gt = make_gt([gt_person(1, 100, 300)])
    out = coco_keypoint_eval(gt, [result(1, jitter(person(100, 300), 1, 15), 0.9)])
    assert out.precision.shape == (10, 101, 1, 3, 1) and out.recall.shape == (10, 1, 3, 1)
    assert "Average Precision" in out.summary()


# --------------------------------------------------------------------------------------------
# Property test: random small scenes.


@st.composite
def scenes(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    n_img = draw(st.integers(1, 3))
    people = []
    for img in range(1, n_img + 1):
        for _ in range(draw(st.integers(0, 3))):
            scale = float(rng.uniform(20, 200))
            p = gt_person(img, float(rng.uniform(0, 600)), float(rng.uniform(scale, 480)), scale,
                          area=float(rng.choice([scale * scale * 0.3, 9216.0, 1024.0])))
            p["keypoints"][:, 2] = rng.choice([0, 1, 2], 17)
            p["iscrowd"] = int(rng.random() < 0.15)
            people.append(p)
    gt = make_gt(people, images=range(1, n_img + 1))
    res = []
    for ann in gt["annotations"]:
        for _ in range(draw(st.integers(0, 2))):
            kps = np.array(ann["keypoints"]).reshape(17, 3)
            res.append(result(ann["image_id"], jitter(kps, float(rng.uniform(0, 15)), int(rng.integers(1e9))),
                              float(rng.choice([0.5, rng.random()]))))
    for img in range(1, n_img + 1):
        for _ in range(draw(st.integers(0, 3))):
            res.append(result(img, person(float(rng.uniform(0, 600)), float(rng.uniform(50, 480)),
                                          float(rng.uniform(20, 200))), float(rng.random())))
    if res and draw(st.booleans()):
        res = [dict(r, bbox=[0.0, 0.0, float(rng.uniform(10, 200)), float(rng.uniform(10, 200))]) for r in res]
    return gt, res


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_random_scenes_match_pycocotools(scene):
    gt, res = scene
    ours = coco_keypoint_eval(gt, res)
    ref = pycoco_eval(gt, res)
    assert_same_stats(ours.stats, dict(zip(STAT_NAMES, (float(v) for v in ref.stats))))
    # the accumulated arrays too, bit for bit (pycocotools keeps them for maxDets=20 only)
    assert np.array_equal(ours.precision, ref.eval["precision"])
    assert np.array_equal(ours.recall, ref.eval["recall"])
    assert np.array_equal(ours.scores, ref.eval["scores"])


# --------------------------------------------------------------------------------------------
# OKS kernel: bit-identical to pycocotools' computeOks.


def test_oks_matrix_is_bit_identical_to_pycocotools():
    rng = np.random.default_rng(0)
    people = []
    for i in range(12):
        p = gt_person(1, float(rng.uniform(50, 500)), float(rng.uniform(100, 450)), float(rng.uniform(30, 200)))
        p["keypoints"][:, 2] = rng.choice([0, 1, 2], 17, p=[0.2 + 0.05 * i, 0.1, 0.7 - 0.05 * i])
        people.append(p)
    people[-1]["keypoints"][:, 2] = 0
    gt = make_gt(people)
    res = [result(1, jitter(np.array(a["keypoints"]).reshape(17, 3), 8, i), float(rng.random()))
           for i, a in enumerate(gt["annotations"])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(res)), "keypoints")
        ev.params.maxDets = [100]
        ev._prepare()
        ref = ev.computeOks(1, 1)
    order = np.argsort([-r["score"] for r in res], kind="mergesort")
    dts = np.array([res[i]["keypoints"] for i in order]).reshape(-1, 17, 3)[:, :, :2]
    g = load_coco_gt(gt)
    ours = oks_matrix(dts, g.keypoints, g.visible, g.area, SIGMAS, g.bbox)
    assert np.array_equal(ours, ref)  # bitwise, not approximately


# --------------------------------------------------------------------------------------------
# Fast results reader: the same float64 values as json.


def _write_and_read(tmp_path: Path, text: str, chunk: int | None = None, monkeypatch=None):
    path = tmp_path / "res.json"
    path.write_text(text)
    if chunk is not None:
        monkeypatch.setattr(json_io, "_CHUNK_BYTES", chunk)
    return read_coco_results(path, keypoint_scores=True), results_from_records(json.loads(text), keypoint_scores=True)


def _assert_same_results(a, b):
    for field in ("image_id", "category_id", "keypoints", "keypoint_scores", "score", "has_bbox"):
        x, y = getattr(a, field), getattr(b, field)
        if x is None or y is None:
            assert x is None and y is None, field
            continue
        assert x.shape == y.shape and np.array_equal(x.view(np.uint8), y.view(np.uint8)), field
    assert np.array_equal(a.bbox, b.bbox, equal_nan=True)


def test_reader_tricky_numbers_and_layouts(tmp_path, monkeypatch):
    kp = [0.5, -0.25, 1, -0.0, 3e-05, 2, 12345678.123456789, 1e-07, 0.0027385002467781305,
          0.00012345678901234567, 407.6554870605469, 129.49761962890625] + [7] * 39
    records = [
        {"image_id": 1, "category_id": 1, "keypoints": kp, "score": 0.0027385002467781305},
        {"score": 1, "keypoints": kp[::-1], "category_id": 1, "image_id": 2, "bbox": [1.5, 2, 3, 4.25]},
        {"image_id": 3, "category_id": 1, "keypoints": [-x if isinstance(x, float) else x for x in kp],
         "score": 0.5, "bbox": [], "center": [1.0, 2.0], "file": "a.jpg"},
        {"image_id": 4, "category_id": 1, "keypoints": [1e+22, -1.5e-300] + kp[2:], "score": 9.87654321e-05},
    ] * 5
    for text in (json.dumps(records), json.dumps(records, indent=2), json.dumps(records, separators=(",", ":"))):
        fast, slow = _write_and_read(tmp_path, text)
        _assert_same_results(fast, slow)
        fast, slow = _write_and_read(tmp_path, text, chunk=700, monkeypatch=monkeypatch)
        _assert_same_results(fast, slow)
        monkeypatch.undo()


def test_reader_rejects_malformed_json(tmp_path):
    path = tmp_path / "res.json"
    good = json.dumps([result(1, person(1, 1), 0.5)])
    pretty = json.dumps([result(1, person(1, 1), 1), result(2, person(1, 1), 1)], indent=2)
    for bad in (good.replace(": 0.5", ": "), good.replace(": 0.5", ": 0.5 0.6"), good[:-1], good.replace("[", "[[", 1),
                good.replace(": 0.5", ": 0.5,"), good.replace('"image_id": 1', '"image_id": 1 2'),
                good.replace('"image_id": 1', '"image_id": '), good.replace(", 2.0,", ", ,", 1),
                pretty.replace('"score": 1', '"score": ', 1), pretty.replace('"score": 1\n  }\n]', '"score":\n  }\n]')):
        path.write_text(bad)
        with pytest.raises(CocoFormatError):
            read_coco_results(path)


@contextlib.contextmanager
def _chunk_bytes(chunk: int | None):
    """The readers' chunk size set to ``chunk`` (``None``: unchanged) inside the block; hypothesis
    tests cannot use the function-scoped ``monkeypatch``."""
    saved = json_io._CHUNK_BYTES
    json_io._CHUNK_BYTES = chunk or saved
    try:
        yield
    finally:
        json_io._CHUNK_BYTES = saved


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
small_int = st.integers(-10**6, 10**6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.one_of(finite, small_int, st.floats(-1e4, 1e4, width=32)), min_size=51,
                                   max_size=51), st.one_of(finite, small_int), st.booleans(), st.booleans()),
                min_size=1, max_size=12),
       st.sampled_from([None, 256, 4096]))
def test_reader_equals_json_on_random_records(tmp_path_factory, rows, chunk):
    records = []
    for i, (kps, score, with_box, compact) in enumerate(rows):
        rec = {"image_id": i, "category_id": 1, "keypoints": kps, "score": score}
        if with_box:
            rec["bbox"] = kps[:4]
        records.append(rec)
    text = json.dumps(records, separators=(",", ":") if rows[0][3] else (", ", ": "))
    path = tmp_path_factory.mktemp("reader") / "res.json"
    path.write_text(text)
    with _chunk_bytes(chunk):
        fast = read_coco_results(path, keypoint_scores=True)
    _assert_same_results(fast, results_from_records(json.loads(text), keypoint_scores=True))


def _read_in_two_windows(path: Path, fraction: float, keypoint_scores: bool = True):
    cut = json_io.results_split_offset(path, fraction)
    if cut is None:
        return None
    windows = [json_io.read_results_window(path, 0, cut, keypoint_scores),
               json_io.read_results_window(path, cut, None, keypoint_scores)]
    return json_io.results_from_windows(windows, path, keypoint_scores=keypoint_scores), windows


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.one_of(finite, small_int), min_size=51, max_size=51), st.one_of(finite, small_int),
                          st.booleans()), min_size=1, max_size=12),
       st.booleans(), st.floats(0, 1), st.sampled_from([None, 256]))
def test_two_windows_equal_one_read(tmp_path_factory, rows, compact, fraction, chunk):
    """Cut anywhere a split offset lands, the two windows give exactly the one-pass reader's arrays."""
    records = [{"image_id": i, "category_id": 1, "keypoints": kps, "score": score, **({"bbox": kps[:4]} if box else {})}
               for i, (kps, score, box) in enumerate(rows)]
    text = json.dumps(records, separators=(",", ":") if compact else (", ", ": "), indent=None if compact else 1)
    path = tmp_path_factory.mktemp("windows") / "res.json"
    path.write_text(text)
    with _chunk_bytes(chunk):
        got = _read_in_two_windows(path, fraction)
    if got is None:
        assert text.rfind("},") < len(text) * fraction  # no cut after the fraction
        return
    joined, _ = got
    cut = json_io.results_split_offset(path, fraction)
    assert text[cut - 2:cut] == "},"
    _assert_same_results(joined, read_coco_results(path, keypoint_scores=True))


def test_windows_fall_back_to_the_file_and_name_the_bad_record(tmp_path):
    records = [result(i, person(1 + i, 1), 0.5) for i in range(6)]
    path = tmp_path / "res.json"
    path.write_text(json.dumps(records))
    assert json_io.results_split_offset(path, 1.0) is None
    joined, windows = _read_in_two_windows(path, 0.5, keypoint_scores=False)
    assert windows[0] is not None and windows[1] is not None  # both read by the fast path
    head, tail = (w[0]["image_id"][0].tolist() for w in windows)
    assert head == [0, 1, 2, 3] and tail == [4, 5]  # the cut follows the record that spans the middle
    _assert_same_results(joined, read_coco_results(path))
    # arrays of different lengths in the two windows: joined through the generic reader's error
    records[5]["keypoints"] = records[5]["keypoints"][:48]
    text = json.dumps(records)
    path.write_text(text)
    cut = json_io.results_split_offset(path, (text.index('"image_id": 5') - 4) / len(text))
    windows = [json_io.read_results_window(path, 0, cut), json_io.read_results_window(path, cut, None)]
    assert windows[0] is not None and windows[1] is not None
    assert json_io.join_columns(windows, json_io._results_fields(False)) is None
    with pytest.raises(CocoFormatError, match=r"res\.json: record 5: field 'keypoints' has 48 values, record 0 has 51"):
        json_io.results_from_windows(windows, path)
    # a record the fast path cannot read in the tail window: the same error as a one-pass read
    records[5]["keypoints"] = "oops"
    path.write_text(json.dumps(records))
    cut = json_io.results_split_offset(path, 0.6)
    windows = [json_io.read_results_window(path, 0, cut), json_io.read_results_window(path, cut, None)]
    with pytest.raises(CocoFormatError) as one_pass:
        read_coco_results(path)
    with pytest.raises(CocoFormatError) as joined:
        json_io.results_from_windows(windows, path)
    assert str(joined.value) == str(one_pass.value) and "record 5" in str(one_pass.value)


# --------------------------------------------------------------------------------------------
# Ground-truth files: only the needed fields are parsed, with the same values as json.


def _heavy_gt(rng: np.random.Generator) -> dict:
    """A COCO GT with extras the evaluation skips: nested lists, dicts, strings with escapes,
    braces and quotes inside strings, keys in varying order, optional iscrowd."""
    people = [gt_person(1 + i % 3, float(rng.uniform(50, 500)), float(rng.uniform(100, 450)), 80.0) for i in range(9)]
    gt = make_gt(people, images=(1, 2, 3))
    for i, ann in enumerate(gt["annotations"]):
        ann["segmentation"] = {"size": [480, 640], "counts": 'ab\\"{}[]:,\\' + str(i)}
        ann["keypoints_3d"] = rng.normal(size=(17, 3)).tolist()
        ann["body"] = {"betas": rng.normal(size=10).tolist(), "name": "x}{", "child": i % 2 == 0, "id": 99}
        if i % 2:
            del ann["iscrowd"]
        if i % 3 == 0:
            gt["annotations"][i] = dict(reversed(list(ann.items())))
    gt["images"][0]["cam"] = {"K": [[1.5, 0, 2], [0, 1.5, 2], [0, 0, 1]], "note": "quote \" brace {"}
    gt["info"] = {"description": "test", "nested": [{"a": [1, 2]}, {"b": "}"}]}
    return gt


def _same_gt(a, b):
    for name in ("image_ids", "category_ids", "ann_ids", "image_index", "category_index", "keypoints", "visible",
                 "area", "bbox", "iscrowd", "ignore"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and (x == y).all(), name


@pytest.mark.parametrize("indent", [None, 2])
def test_gt_file_fast_path_equals_json(tmp_path, indent):
    from posekit.metrics.coco_eval import _GT_FIELDS, _bulky_annotations, _load_gt_fast
    from posekit.metrics.json_io import json_object_values

    gt = _heavy_gt(np.random.default_rng(0))
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt, indent=indent))
    assert _bulky_annotations(path.read_bytes())  # load_coco_gt takes the pruning path
    values = json_object_values(path.read_bytes(), _GT_FIELDS)
    assert values is not None and _load_gt_fast(values, str(path), 17) is not None  # the fast path ran
    _same_gt(load_coco_gt(path), load_coco_gt(gt))
    res = [result(a["image_id"], jitter(np.array(a["keypoints"]).reshape(17, 3), 2, i), 0.5 + 0.01 * i)
           for i, a in enumerate(gt["annotations"])]
    complete = copy.deepcopy(gt)  # pycocotools needs iscrowd; posekit reads a missing one as 0
    for ann in complete["annotations"]:
        ann.setdefault("iscrowd", 0)
    assert_same_stats(evaluate_coco_keypoints(path, res), pycoco_stats(complete, res))


def test_json_object_values_layouts():
    from posekit.metrics.json_io import json_object_values

    keep = {"annotations": {"id", "bbox"}, "images": {"id"}}
    text = b'{"images": [{"id": 1, "s": "a\\"}{"}], "annotations": [{"x": {"id": 5}, "id": 2, "bbox": [1, 2]},' \
           b' {"bbox": [], "id": 3}], "other": [1, {"id": 4}]}'
    got = json_object_values(text, keep)
    assert json.loads(got["annotations"]) == [{"id": 2, "bbox": [1, 2]}, {"bbox": [], "id": 3}]
    assert json.loads(got["images"]) == [{"id": 1}]
    assert json_object_values(b'[{"id": 1}]', keep) is None  # not an object
    assert json_object_values(b'{"images": [], "images": []}', keep) is None  # duplicate key
    assert json_object_values(b'{"images": [{"\\u0069d": 1}]}', keep) is None  # escaped key name
    assert json_object_values(b'{"images": [{"id": 1}], "x": "unterminated}', keep) is None



# --------------------------------------------------------------------------------------------
# Reference-page traps not covered above (REFERENCE-METRICS-FORMATS.md A1.1-A1.2, trap 3).


def test_params_are_pycocotools_keypoint_params():
    """Thresholds, recall points, maxDets 20 (not 100) and the three area ranges (no "small")
    equal pycocotools' ``Params(iouType='keypoints')`` bit for bit; 0.5 and 0.75 are exact
    entries (AP50/AP75 select them with ``==``)."""
    from pycocotools.cocoeval import Params

    from posekit.metrics.coco_eval import CocoEvalParams

    ref, ours = Params(iouType="keypoints"), CocoEvalParams()
    assert np.array_equal(ours.oks_thresholds, ref.iouThrs) and np.array_equal(ours.recall_thresholds, ref.recThrs)
    assert [ours.max_dets] == ref.maxDets == [20]
    assert [label for label, _, _ in ours.area_ranges] == ref.areaRngLbl == ["all", "medium", "large"]
    assert [[lo, hi] for _, lo, hi in ours.area_ranges] == ref.areaRng
    assert np.array_equal(ours.sigmas, ref.kpt_oks_sigmas)
    assert 0.5 in ours.oks_thresholds.tolist() and 0.75 in ours.oks_thresholds.tolist()


def test_keypoints_reported_at_origin_inflate_the_result_area():
    """Trap 3: without ``bbox`` a result's area is the extent of *all* its keypoints, including
    joints a model reports at (0, 0). A small unmatched detection far from the origin is
    "medium" (ignored for the large range) until one joint sits at (0, 0): then it is "large"
    and a false positive for APl. The keypoint confidences play no part (A1.2)."""
    gt = make_gt([gt_person(1, 300, 300, area=30000.0)])
    tp = result(1, jitter(person(300, 300), 0.1, 20), 0.5)
    fp_kps = person(500, 400, 60)  # extent about 23 x 56 px: medium
    fp_kps[:, 2] = 0.9
    at_origin = fp_kps.copy()
    at_origin[15:, :2] = 0.0  # both ankles "missing", reported at (0, 0)
    clean, inflated = [tp, result(1, fp_kps, 0.9)], [tp, result(1, at_origin, 0.9)]
    ours_clean, ours_inflated = evaluate_coco_keypoints(gt, clean), evaluate_coco_keypoints(gt, inflated)
    assert_same_stats(ours_clean, pycoco_stats(gt, clean))
    assert_same_stats(ours_inflated, pycoco_stats(gt, inflated))
    assert ours_clean["APl"] == pytest.approx(1.0) and ours_inflated["APl"] < 0.9
    low_conf = [dict(r, keypoints=np.where(np.arange(51) % 3 == 2, 0.01, r["keypoints"]).tolist()) for r in inflated]
    assert evaluate_coco_keypoints(gt, low_conf) == ours_inflated
