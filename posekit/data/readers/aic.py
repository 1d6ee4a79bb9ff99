"""AI Challenger keypoints: the raw challenge JSON and its COCO-style conversion (14 joints),
REFERENCE-METRICS-FORMATS.md B5.

Raw: a list of ``{"url", "image_id": "<40 hex>", "human_annotations": {"human1": [x1, y1, x2,
y2], ...}, "keypoint_annotations": {"human1": [x, y, v]*14, ...}}``; the image file is
``image_id + ".jpg"``. Raw v: 1 visible, 2 labelled but not visible, 3 not labelled (x = y = 0);
mapped to COCO codes 1 -> 2, 2 -> 1, 3 -> 0 (the mapping of MMPose's conversion, checked on the
fixtures: the raw example and ``test_aic.json`` hold the same three images).

COCO-style (``aic_train.json`` / ``aic_val.json``): COCO layout with ``bbox = [x1, y1, x2 - x1,
y2 - y1]``, COCO visibility codes, no ``area`` and no ``iscrowd``.

Coordinates are the stored pixel values in both (no shift).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.coco import read_coco
from posekit.data.readers.common import (float_array, format_error, get_field, image_file,
                                         keypoint_triplets, read_json)
from posekit.skeletons import get_skeleton
from posekit.structures import PoseSample

__all__ = ["read_aic", "read_aic_raw", "read_aic_coco", "AIC_RAW_TO_COCO_VISIBILITY"]

#: Raw AI Challenger visibility code -> COCO code (1 visible -> 2, 2 occluded -> 1, 3 unlabelled -> 0).
AIC_RAW_TO_COCO_VISIBILITY: dict[int, int] = {1: 2, 2: 1, 3: 0}

_HUMAN_KEY = re.compile(r"human(\d+)")


def read_aic(path: str | Path, image_dir: str | Path | None = None) -> Iterator[PoseSample]:
    """Either AI Challenger layout, told apart by the top level (raw: a list; COCO-style: an object)."""
    data = read_json(path)
    if isinstance(data, list):
        return _raw_samples(data, Path(path), image_dir)
    return read_aic_coco(path, image_dir)


def read_aic_coco(path: str | Path, image_dir: str | Path | None = None) -> Iterator[PoseSample]:
    """The COCO-style conversion, as :func:`posekit.data.readers.coco.read_coco` with skeleton ``aic14``."""
    return read_coco(path, "aic14", image_dir)


def read_aic_raw(path: str | Path, image_dir: str | Path | None = None) -> Iterator[PoseSample]:
    """The raw challenge JSON as one ``PoseSample`` per image (skeleton ``aic14``), in file order.

    People are ordered by their ``humanN`` number, which is also their ``ids`` entry.
    ``keypoints (N, 14, 2)`` as stored, ``visibility (N, 14)`` COCO codes (see
    :data:`AIC_RAW_TO_COCO_VISIBILITY`), ``boxes (N, 4)`` = ``human_annotations`` (already
    xyxy). ``meta``: ``image_id`` (hex string), ``file`` (``image_id + ".jpg"``, under
    ``image_dir`` if given), ``url``.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise format_error(path, "top level", None, f"is a {type(data).__name__}, expected the raw AI "
                                                    f"Challenger list of images")
    return _raw_samples(data, Path(path), image_dir)


def _human_number(key: Any, path: Path, where: str, field: str) -> int:
    match = _HUMAN_KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise format_error(path, where, field, f"has key {key!r}, expected 'human<number>'")
    return int(match.group(1))


def _raw_samples(data: list, path: Path, image_dir: str | Path | None) -> Iterator[PoseSample]:
    sk = get_skeleton("aic14")
    k = sk.num_keypoints
    lut = np.zeros(4, np.uint8)
    for raw, coco in AIC_RAW_TO_COCO_VISIBILITY.items():
        lut[raw] = coco
    for i, record in enumerate(data):
        where = f"[{i}]"
        image_id = get_field(record, "image_id", path, where)
        if not isinstance(image_id, str):
            raise format_error(path, where, "image_id", f"is {image_id!r}, expected a string")
        where = f"[{i}] (image_id {image_id})"
        keypoints = get_field(record, "keypoint_annotations", path, where)
        humans = get_field(record, "human_annotations", path, where)
        for field, value in (("keypoint_annotations", keypoints), ("human_annotations", humans)):
            if not isinstance(value, dict):
                raise format_error(path, where, field, f"is a {type(value).__name__}, expected an object")
        numbers = {key: _human_number(key, path, where, "keypoint_annotations") for key in keypoints}
        for key in humans:
            if key not in keypoints:
                raise format_error(path, where, f"keypoint_annotations.{key}", "is missing (the person has "
                                                                               "a box but no keypoints)")
        order = sorted(keypoints, key=numbers.__getitem__)
        kps = np.zeros((len(order), k, 3), np.float64)
        boxes = np.zeros((len(order), 4), np.float64)
        for n, key in enumerate(order):
            kps[n] = keypoint_triplets(keypoints[key], k, path, where, f"keypoint_annotations.{key}", sk.name)
            if key not in humans:
                raise format_error(path, where, f"human_annotations.{key}", "is missing (the person has "
                                                                            "keypoints but no box)")
            boxes[n] = float_array(humans[key], (4,), path, where, f"human_annotations.{key}")
            codes = kps[n, :, 2]
            bad = ~np.isin(codes, list(AIC_RAW_TO_COCO_VISIBILITY))
            if bad.any():
                raise format_error(path, where, f"keypoint_annotations.{key}",
                                   f"has visibility {codes[bad][0]:g} at joint {int(np.flatnonzero(bad)[0])} "
                                   f"({sk.names[int(np.flatnonzero(bad)[0])]}), expected 1, 2 or 3")
        yield PoseSample(
            image=None, keypoints=kps[..., :2].astype(np.float32),
            visibility=lut[kps[..., 2].astype(np.int64)], boxes=boxes.astype(np.float32), skeleton=sk,
            ids=np.array([numbers[key] for key in order], np.int64),
            meta={"image_id": image_id, "file": image_file(image_dir, image_id + ".jpg"),
                  "url": record.get("url", "")})
