"""Top-down estimator: crops, batching, image-coordinate mapping, flip test, loading, predict CLI."""
import json

import cv2
import numpy as np
import pytest
import torch

import posekit
from posekit.codecs.heatmap import HeatmapCodec
from posekit.estimators.topdown import TopDownEstimator
from posekit.skeletons import get_skeleton

INPUT = (48, 64)
HEATMAP = (12, 16)


class OracleModel(torch.nn.Module):
    """Outputs heatmaps that put every joint at fixed crop coordinates ``points (K, 2)``."""

    def __init__(self, codec, points):
        super().__init__()
        hm, _ = codec.encode(points[None].astype(np.float32), np.full((1, len(points)), 2))
        self.register_buffer("hm", torch.from_numpy(hm))

    def forward(self, x):
        return self.hm.expand(x.shape[0], -1, -1, -1).clone()


def make_estimator(points, flip_test=False, unbiased=True):
    sk = get_skeleton("coco17")
    codec = HeatmapCodec(input_size=INPUT, heatmap_size=HEATMAP, sigma=1.5, unbiased=unbiased, decode_mode="dark")
    return TopDownEstimator(OracleModel(codec, points), codec, sk, INPUT, (0.5,) * 3, (0.25,) * 3,
                            box_padding=1.0, flip_test=flip_test)


def write_tiny_checkpoint(ckpt, **record_extra):
    """A checkpoint directory as `posekit train` writes it: a random HRNet-W16 at 48x64 and its record."""
    from posekit.atomic import atomic_write_json
    from posekit.estimators.topdown import DEFAULT_RECORD
    from posekit.models.checkpoints import save_safetensors
    from posekit.models.zoo import build_model

    torch.manual_seed(0)
    save_safetensors(build_model("hrnet_w16_small", num_keypoints=17).state_dict(), ckpt / "model.safetensors")
    atomic_write_json(ckpt / "record.json", {**DEFAULT_RECORD, "arch": "hrnet_w16_small", "input_size": [48, 64],
                                             "heatmap_size": [12, 16], **record_extra})
    return ckpt


def test_keypoints_come_back_in_image_coordinates():
    # joint j sits at the crop centre -> must come back at the centre of each box
    centre = np.array([(INPUT[0] - 1) / 2, (INPUT[1] - 1) / 2])
    est = make_estimator(np.tile(centre, (17, 1)))
    image = np.zeros((200, 300, 3), np.uint8)
    boxes = np.array([[10, 20, 58, 84], [100, 50, 160, 130], [0, 0, 299, 199]], np.float32)
    res = est(image, boxes=boxes)
    assert res.keypoints.shape == (3, 17, 2) and res.scores.shape == (3, 17)
    expected = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.allclose(res.keypoints, expected[:, None, :], atol=0.05)
    # no boxes: the whole image is one person box
    whole = est(image)
    assert np.allclose(whole.keypoints[0], [149.5, 99.5], atol=0.05)


def test_crop_corner_maps_to_box_corner():
    # box edges map to crop pixel edges (-0.5): crop pixel (0, 0) is half a crop pixel inside the box
    est = make_estimator(np.zeros((17, 2)))
    res = est(np.zeros((200, 200, 3), np.uint8), boxes=np.array([[10, 10, 106, 138]], np.float32))
    step = 96 / INPUT[0]  # image pixels per crop pixel
    assert np.allclose(res.keypoints[0], [10 + step / 2, 10 + step / 2], atol=0.1)


class MirrorAwareOracle(torch.nn.Module):
    """Heatmaps for ``points (K, 2)`` when the crop's left half is the brighter one, else ``mirrored_points``."""

    def __init__(self, codec, points, mirrored_points):
        super().__init__()
        vis = np.full((1, len(points)), 2)
        self.register_buffer("own", torch.from_numpy(codec.encode(points[None].astype(np.float32), vis)[0]))
        self.register_buffer("mirrored", torch.from_numpy(codec.encode(mirrored_points[None].astype(np.float32), vis)[0]))

    def forward(self, x):
        half = x.shape[3] // 2
        left_brighter = x[:, :, :, :half].mean(dim=(1, 2, 3)) > x[:, :, :, half:].mean(dim=(1, 2, 3))
        return torch.where(left_brighter[:, None, None, None], self.own, self.mirrored)


def flip_estimator(points, mirrored_view):
    """Flip-test estimator whose model sees ``points`` in the crop and ``mirrored_view`` in the mirrored crop
    (given in mirrored-crop coordinates and joint order)."""
    sk = get_skeleton("coco17")
    codec = HeatmapCodec(input_size=INPUT, heatmap_size=HEATMAP, sigma=1.5, unbiased=True, decode_mode="dark")
    return TopDownEstimator(MirrorAwareOracle(codec, points, mirrored_view), codec, sk, INPUT, (0.5,) * 3,
                            (0.25,) * 3, box_padding=1.0, flip_test=True)


def mirror(points):
    """Crop keypoints ``(17, 2)`` as the mirrored crop shows them: x -> w - 1 - x, left/right swapped."""
    return (points * [-1, 1] + [INPUT[0] - 1, 0])[get_skeleton("coco17").flip_indices]


def bright_left_image():
    image = np.zeros((64, 48, 3), np.uint8)
    image[:, :24] = 255
    return image


BOX = np.array([[0, 0, 47, 63]], np.float32)


def test_flip_test_is_exact_for_a_mirror_consistent_model():
    pts = np.random.default_rng(1).uniform([4, 4], [INPUT[0] - 5, INPUT[1] - 5], (17, 2))
    est = flip_estimator(pts, mirror(pts))
    res = est(bright_left_image(), boxes=BOX)
    est.flip_test = False
    plain = est(bright_left_image(), boxes=BOX)
    np.testing.assert_allclose(res.keypoints, plain.keypoints, atol=1e-4)
    np.testing.assert_allclose(res.scores, plain.scores, atol=1e-6)
    assert np.abs(res.keypoints[0] - pts).max() < 0.5  # the codec's round trip on 12x16 maps


def test_flip_test_averages_heatmaps_not_coordinates():
    pts = np.tile([[12.0, 20.0]], (17, 1))
    # small disagreement: the mirrored view says 2 px further right -> the peak of the mean map is midway
    near = flip_estimator(pts, mirror(pts + [2.0, 0.0]))(bright_left_image(), boxes=BOX)
    assert np.allclose(near.keypoints[0], [13.0, 20.0], atol=0.2)
    # large disagreement (24 px): averaging coordinates would land midway (x = 24), on neither
    # hypothesis; the mean heatmap keeps one of the two peaks (the first maximum: the crop's own,
    # x = 12, which DARK's 11-cell blur pulls ~1.6 px towards the other on these 12x16 maps)
    far = flip_estimator(pts, mirror(pts + [24.0, 0.0]))(bright_left_image(), boxes=BOX)
    assert np.abs(far.keypoints[0, :, 0] - 12.0).max() < 2.0
    assert np.allclose(far.keypoints[0, :, 1], 20.0, atol=0.3)
    assert np.allclose(far.scores[0], 0.5, atol=0.02)


def test_load_architecture_without_weights_warns_and_runs():
    with pytest.warns(UserWarning, match="randomly initialised"):
        est = posekit.load("hrnet_w16_small")
    res = est(np.zeros((64, 64, 3), np.uint8))
    assert res.keypoints.shape == (1, 17, 2)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        posekit.load("nope")


def test_pose_result_helpers():
    centre = np.array([(INPUT[0] - 1) / 2, (INPUT[1] - 1) / 2])
    est = make_estimator(np.tile(centre, (17, 1)))
    image = np.zeros((100, 100, 3), np.uint8)
    res = est(image, boxes=np.array([[0, 0, 40, 60], [50, 20, 90, 90]], np.float32), box_scores=np.array([0.9, 0.2]))
    assert len(res) == 2 and len(res[0]) == 1 and len(res.filter(0.5)) == 1
    assert res.named("left_wrist").shape == (2, 3)
    coco = res.to_coco(7)
    assert coco[0]["image_id"] == 7 and len(coco[0]["keypoints"]) == 51 and "bbox" not in coco[0]
    assert json.loads(res.to_json())["skeleton"] == "coco17"
    assert res.plot(image).shape == image.shape


def test_predict_cli_skips_corrupt_image_and_exits_nonzero(tmp_path, monkeypatch):
    from posekit.cli import main
    ckpt = write_tiny_checkpoint(tmp_path / "ckpt")
    src = tmp_path / "imgs"
    src.mkdir()
    for i in (1, 2):
        cv2.imwrite(str(src / f"{i:06d}.jpg"), np.full((80, 60, 3), 100 * i, np.uint8))
    (src / "000003.jpg").write_bytes(b"not a jpeg")
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps([{"image_id": 1, "bbox": [5, 5, 30, 60], "score": 0.9, "category_id": 1},
                                 {"image_id": 1, "bbox": [20, 10, 30, 60], "score": 0.8, "category_id": 1}]))
    out = tmp_path / "out"
    status = main(["predict", str(src), "--model", str(ckpt), "--out", str(out), "--boxes", str(boxes)])
    assert status == 1
    results = json.loads((out / "results.json").read_text())
    assert [r["image_id"] for r in results] == [1, 1]  # image 2 has no boxes in the file
    assert sorted(p.name for p in (out / "vis").iterdir()) == ["000001.jpg", "000002.jpg"]
    status = main(["predict", str(src / "000002.jpg"), "--model", str(ckpt), "--out", str(out / "b")])
    assert status == 0
    assert len(json.loads((out / "b" / "results.json").read_text())) == 1


def test_flip_test_batches_crops_with_their_mirrors_and_matches_two_passes():
    from posekit.data.datasets import normalize_image
    from posekit.models.zoo import build_model

    torch.manual_seed(0)
    model = build_model("hrnet_w16_small", num_keypoints=17, width=8).eval()
    sk = get_skeleton("coco17")
    codec = HeatmapCodec(input_size=(48, 64), heatmap_size=(12, 16), sigma=1.5, unbiased=True, decode_mode="dark")
    est = TopDownEstimator(model, codec, sk, (48, 64), (0.5,) * 3, (0.25,) * 3, flip_test=True)
    crops = list(np.random.default_rng(0).integers(0, 255, (3, 64, 48, 3), dtype=np.uint8))
    kps, scores = est._predict_crops(crops)
    with torch.inference_mode():
        x = torch.from_numpy(normalize_image(np.stack(crops), (0.5,) * 3, (0.25,) * 3))
        mean = (model(x) + codec.flip_back(model(torch.flip(x, dims=[3])), sk.flip_indices)) / 2
    want_kps, want_scores = codec.decode(mean)
    np.testing.assert_allclose(kps, want_kps, atol=1e-4)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def predict_cli_estimators(tmp_path, monkeypatch, ckpt, flag_sets):
    """The estimators `posekit predict --model CKPT` builds, once per list of extra flags."""
    from posekit.cli import main

    seen = []
    real_load = posekit.load

    def spy_load(*args, **kwargs):
        seen.append(real_load(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(posekit, "load", spy_load)
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((80, 60, 3), 90, np.uint8))
    for flags in flag_sets:
        assert main(["predict", str(image), "--model", str(ckpt), "--out", str(tmp_path / "o"), *flags]) == 0
    return seen


def test_record_sets_the_flip_test_default_and_callers_override_it(tmp_path, monkeypatch):
    assert posekit.load(str(write_tiny_checkpoint(tmp_path / "plain"))).flip_test is False
    ckpt = write_tiny_checkpoint(tmp_path / "ckpt", flip_test=True)
    assert posekit.load(str(ckpt)).flip_test is True
    assert posekit.load(str(ckpt), flip_test=False).flip_test is False

    # the CLI passes --flip-test / --no-flip-test through, and the record's choice without either
    seen = predict_cli_estimators(tmp_path, monkeypatch, ckpt, [[], ["--no-flip-test"], ["--flip-test"]])
    assert [est.flip_test for est in seen] == [True, False, True]


def test_bfloat16_precision_runs_a_cast_copy_and_leaves_the_model_in_float32():
    points = np.random.default_rng(3).uniform([4, 4], [INPUT[0] - 5, INPUT[1] - 5], (17, 2))
    est32, est16 = make_estimator(points), make_estimator(points)
    est16 = TopDownEstimator(est16.model, est16.codec, est16.skeleton, INPUT, (0.5,) * 3, (0.25,) * 3,
                             box_padding=1.0, precision="bfloat16")
    # the oracle model has nothing to fold, so the estimator must cast a copy, not the model
    assert est16.dtype == torch.bfloat16 and est16.inference_model is not est16.model
    assert est16.model.hm.dtype == torch.float32 and est16.inference_model.hm.dtype == torch.bfloat16
    crops = list(np.zeros((2, INPUT[1], INPUT[0], 3), np.uint8))
    kps32, scores32 = est32._predict_crops(crops)
    kps16, scores16 = est16._predict_crops(crops)
    assert kps16.dtype == np.float32
    np.testing.assert_allclose(kps16, kps32, atol=0.1)  # bfloat16 heatmaps, decoded in float32
    np.testing.assert_allclose(scores16, scores32, rtol=1e-2)


def test_bfloat16_precision_of_a_folded_network_stays_close_to_float32():
    from posekit.codecs.heatmap import HeatmapCodec
    from posekit.models.zoo import build_model

    torch.manual_seed(0)
    model = build_model("hrnet_w16_small", num_keypoints=17, width=8).eval()
    codec = HeatmapCodec(input_size=(48, 64), heatmap_size=(12, 16), sigma=1.5, unbiased=True, decode_mode="dark")
    est = TopDownEstimator(model, codec, get_skeleton("coco17"), (48, 64), (0.5,) * 3, (0.25,) * 3,
                           precision="bfloat16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.dtype == torch.bfloat16 for p in est.inference_model.parameters())
    x = torch.randn(2, 3, 64, 48)
    with torch.inference_mode():
        want = model(x)
        got = est.inference_model(x.to(torch.bfloat16)).float()
    assert (got - want).abs().max() <= 0.05 * want.abs().max()


def test_precision_auto_follows_the_hardware_and_bad_names_are_refused(monkeypatch):
    from posekit.estimators import topdown

    cpu = torch.device("cpu")
    monkeypatch.setattr(topdown, "native_bfloat16", lambda device: True)
    assert topdown.inference_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(topdown, "native_bfloat16", lambda device: False)
    assert topdown.inference_dtype("auto", cpu) == torch.float32
    assert topdown.inference_dtype("bfloat16", cpu) == torch.bfloat16
    assert topdown.inference_dtype("float32", cpu) == torch.float32
    with pytest.raises(ValueError, match="precision 'fp16'"):
        topdown.inference_dtype("fp16", cpu)


def test_record_sets_the_precision_default_and_callers_override_it(tmp_path, monkeypatch):
    assert posekit.load(str(write_tiny_checkpoint(tmp_path / "plain"))).dtype == torch.float32
    ckpt = write_tiny_checkpoint(tmp_path / "ckpt", precision="bfloat16")
    assert posekit.load(str(ckpt)).dtype == torch.bfloat16
    assert posekit.load(str(ckpt), precision="float32").dtype == torch.float32
    seen = predict_cli_estimators(tmp_path, monkeypatch, ckpt, [[], ["--precision", "float32"]])
    assert [est.dtype for est in seen] == [torch.bfloat16, torch.float32]
