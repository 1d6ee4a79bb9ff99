"""COCO person-keypoints files (``person_keypoints_*.json``) as ``PoseSample`` records.

Format (cocodataset.org/#format-data): ``images[{id, file_name, width, height}]``,
``annotations[{id, image_id, category_id, bbox [x, y, w, h], keypoints [x, y, v]*K,
num_keypoints, iscrowd, area}]``. Keypoints are 0-based pixel coordinates; v is 0
(unlabeled), 1 (occluded) or 2 (visible). Boxes are converted to xyxy.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.skeletons import Skeleton, get_skeleton


class FormatError(ValueError):
    """A dataset file that does not follow its format; the message names file, record and field."""


@dataclass
class CocoImage:
    """One image of a COCO keypoints file and its person annotations.

    ``keypoints (N, K, 2)`` float32, ``visibility (N, K)`` uint8, ``boxes (N, 4)`` xyxy,
    ``areas (N,)``, ``iscrowd (N,)`` bool, ``ann_ids (N,)``.
    """

    image_id: int
    file_name: str
    width: int
    height: int
    keypoints: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    iscrowd: np.ndarray
    ann_ids: np.ndarray
    extras: list[dict[str, Any]]


def _field(record: dict, key: str, path: Path, where: str) -> Any:
    try:
        return record[key]
    except (KeyError, TypeError):
        raise FormatError(f"{path}: {where}: missing field {key!r}") from None


def read_coco_keypoints(path: str | Path, skeleton: Skeleton | str = "coco17",
                        keep_extras: bool = False) -> list[CocoImage]:
    """Read a COCO keypoints JSON into one ``CocoImage`` per image, in file order.

    ``keep_extras`` keeps each annotation's non-standard fields (e.g. the synthetic
    benchmark's ``joints_3d_cam``) in ``CocoImage.extras``.
    """
    path = Path(path)
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    k = sk.num_keypoints
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FormatError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}: not valid JSON ({err})") from None
    images = _field(data, "images", path, "top level")
    anns = _field(data, "annotations", path, "top level")
    per_image: dict[int, list[dict]] = {}
    for i, img in enumerate(images):
        per_image[int(_field(img, "id", path, f"images[{i}]"))] = []
    for i, ann in enumerate(anns):
        where = f"annotations[{i}] (id {ann.get('id', '?') if isinstance(ann, dict) else '?'})"
        image_id = int(_field(ann, "image_id", path, where))
        if image_id not in per_image:
            raise FormatError(f"{path}: {where}: field 'image_id' = {image_id} is not in 'images'")
        kps = _field(ann, "keypoints", path, where)
        if len(kps) != 3 * k:
            raise FormatError(f"{path}: {where}: field 'keypoints' has {len(kps)} values, "
                              f"expected {3 * k} for skeleton {sk.name!r}")
        per_image[image_id].append(ann)
    out = []
    for i, img in enumerate(images):
        image_id = int(img["id"])
        group = per_image[image_id]
        kps = np.array([a["keypoints"] for a in group], np.float32).reshape(-1, k, 3)
        boxes = np.array([_field(a, "bbox", path, f"annotation id {a.get('id')}") for a in group],
                         np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        standard = {"id", "image_id", "category_id", "bbox", "keypoints", "num_keypoints",
                    "iscrowd", "area", "segmentation"}
        out.append(CocoImage(
            image_id=image_id,
            file_name=str(_field(img, "file_name", path, f"images[{i}]")),
            width=int(img.get("width", 0)), height=int(img.get("height", 0)),
            keypoints=kps[..., :2].copy(), visibility=kps[..., 2].astype(np.uint8),
            boxes=boxes,
            areas=np.array([a.get("area", (a["bbox"][2] * a["bbox"][3])) for a in group], np.float32),
            iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in group], bool),
            ann_ids=np.array([a.get("id", -1) for a in group], np.int64),
            extras=[{key: v for key, v in a.items() if key not in standard} for a in group]
            if keep_extras else []))
    return out


def iter_person_instances(images: list[CocoImage], min_keypoints: int = 1) -> Iterator[tuple[int, int]]:
    """``(image index, person index)`` of every non-crowd person with at least ``min_keypoints`` labelled."""
    for i, img in enumerate(images):
        labelled = (img.visibility > 0).sum(axis=1)
        for j in np.flatnonzero((labelled >= min_keypoints) & ~img.iscrowd):
            yield i, int(j)
