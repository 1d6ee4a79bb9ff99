"""Top-down training/evaluation dataset: one item per person crop.

Each item is the person's box crop (affine warp to ``input_size``), augmented in
training (random scale, rotation, horizontal flip by the skeleton's flip indices,
colour jitter), encoded into targets by the codec. Augmentation randomness depends only
on ``(seed, epoch, index)``, so an epoch is reproducible whatever the worker count, and
training resumed at an epoch boundary continues exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.data.readers.coco import CocoImage, iter_person_instances
from posekit.data.transforms import (apply_affine, box_to_center_size, color_jitter, compose,
                                     crop_affine, flip_matrix, warp)
from posekit.skeletons import Skeleton

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Augment:
    """Training augmentation ranges (SimpleBaseline's recipe: scale +-25-35 %, rotation +-40 deg w.p. 0.6, flip 0.5)."""

    scale: float = 0.25
    rotation: float = 30.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    color: float = 0.3


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 ``(H, W, 3)``; raises ``OSError`` naming the file if unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"{path}: cannot read image (missing, corrupt or unsupported format)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def normalize_image(crop: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """RGB uint8 ``(..., H, W, 3)`` -> float32 ``(..., 3, H, W)``, ``(x/255 - mean) / std``."""
    x = crop.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.moveaxis(x, -1, -3)


class TopDownDataset(torch.utils.data.Dataset):
    """Person crops of COCO-style images with heatmap targets.

    Returns dicts with ``image`` float32 ``(3, h, w)``, ``target`` ``(K, hh, hw)``,
    ``target_weight`` ``(K,)``, ``affine`` (2x3, image -> crop), ``image_id``, ``box`` (xyxy).
    """

    def __init__(self, images: list[CocoImage], image_dir: str | Path, codec, skeleton: Skeleton,
                 input_size: tuple[int, int], train: bool, seed: int = 0,
                 augment: Augment | None = None, box_padding: float = 1.25, min_keypoints: int = 1):
        self.images = images
        self.image_dir = Path(image_dir)
        self.codec = codec
        self.skeleton = skeleton
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.train = train
        self.seed = seed
        self.augment = augment or Augment()
        self.box_padding = box_padding
        self.items = list(iter_person_instances(images, min_keypoints))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        i, j = self.items[index]
        record = self.images[i]
        image = read_rgb(self.image_dir / record.file_name)
        kps = record.keypoints[j].astype(np.float64)
        vis = record.visibility[j].copy()
        w_in, h_in = self.input_size
        center, size = box_to_center_size(record.boxes[j:j + 1], w_in / h_in, self.box_padding)
        center, size = center[0], size[0]
        rotation = 0.0
        if self.train:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            aug = self.augment
            size = size * np.clip(1 + rng.normal(0, aug.scale), 1 - aug.scale, 1 + aug.scale)
            if rng.random() < aug.rotation_prob:
                rotation = float(np.clip(rng.normal(0, aug.rotation), -2 * aug.rotation, 2 * aug.rotation))
            flip = rng.random() < aug.flip_prob
            jitter_seed = rng.integers(1 << 31)
        matrix = crop_affine(center, size, self.input_size, rotation)
        if self.train and flip:
            matrix = compose(flip_matrix(w_in), matrix)
            order = self.skeleton.flip_indices
            kps, vis = kps[order], vis[order]
        crop = warp(image, matrix, self.input_size)
        if self.train and self.augment.color > 0:
            crop = color_jitter(crop, np.random.default_rng(jitter_seed), self.augment.color)
        kps_crop = apply_affine(kps, matrix)
        inside = ((kps_crop[:, 0] >= -0.5) & (kps_crop[:, 0] <= w_in - 0.5)
                  & (kps_crop[:, 1] >= -0.5) & (kps_crop[:, 1] <= h_in - 0.5))
        vis = np.where(inside, vis, 0)
        target, weight = self.codec.encode(kps_crop[None].astype(np.float32), vis[None])
        return {"image": torch.from_numpy(normalize_image(crop)),
                "target": torch.from_numpy(target[0]),
                "target_weight": torch.from_numpy(weight[0].astype(np.float32)),
                "affine": torch.from_numpy(matrix.astype(np.float32)),
                "image_id": record.image_id,
                "box": torch.from_numpy(record.boxes[j].astype(np.float32))}
