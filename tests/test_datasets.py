"""Top-down training dataset: crops, targets, flip augmentation by skeleton, determinism."""
import numpy as np
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.data.datasets import Augment, TopDownDataset
from posekit.data.readers.coco import read_coco_keypoints
from posekit.skeletons import get_skeleton

from test_trainer import tiny_coco


def make(tmp_path, augment, train=True):
    ann, img_dir = tiny_coco(tmp_path)
    codec = HeatmapCodec(input_size=(64, 96), heatmap_size=(16, 24), sigma=1.5, unbiased=True, decode_mode="dark")
    sk = get_skeleton("coco17")
    return TopDownDataset(read_coco_keypoints(ann, sk), img_dir, codec, sk, (64, 96), train=train, seed=1,
                          augment=augment), codec, read_coco_keypoints(ann, sk)


def decoded_in_image(item, codec):
    kps, _ = codec.decode(item["target"][None])
    m = item["affine"].double().numpy()
    lin_inv = np.linalg.inv(m[:, :2])
    return (kps[0] - m[:, 2]) @ lin_inv.T


def test_targets_decode_back_to_the_annotation(tmp_path):
    ds, codec, images = make(tmp_path, Augment(scale=0.3, rotation=40, rotation_prob=1.0, flip_prob=0.0, color=0.3))
    for index in range(len(ds)):
        item = ds[index]
        assert item["image"].shape == (3, 96, 64) and item["target"].shape == (17, 24, 16)
        back = decoded_in_image(item, codec)
        ok = item["target_weight"].numpy() > 0
        assert np.abs(back[ok] - images[index].keypoints[0][ok]).max() < 0.2


def test_flip_swaps_left_and_right_labels(tmp_path):
    ds, codec, images = make(tmp_path, Augment(scale=0.0, rotation=0.0, flip_prob=1.0, color=0.0))
    item = ds[0]
    back = decoded_in_image(item, codec)  # the flip is part of the affine: image coordinates again
    sk = get_skeleton("coco17")
    gt = images[0].keypoints[0]
    # channel "left_wrist" of a flipped crop is the mirrored right wrist, i.e. in image
    # coordinates it lands on the annotated right wrist
    ok = item["target_weight"].numpy() > 0
    assert np.abs(back[ok] - gt[sk.flip_indices][ok]).max() < 0.2
    # and the crop itself is mirrored
    plain = make(tmp_path / "b", Augment(scale=0.0, rotation=0.0, flip_prob=0.0, color=0.0))[0][0]
    assert torch.allclose(item["image"], torch.flip(plain["image"], dims=[2]), atol=1e-5)


def test_augmentation_depends_only_on_seed_epoch_index(tmp_path):
    ds = make(tmp_path, Augment())[0]
    a, b = ds[1], ds[1]
    assert torch.equal(a["image"], b["image"])
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["image"], a["image"])
