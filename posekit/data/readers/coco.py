"""COCO person-keypoints files: ground truth, keypoint results and person detections.

Ground truth (cocodataset.org/#format-data, REFERENCE-METRICS-FORMATS.md B1):
``images[{id, file_name, width, height}]``, ``annotations[{id, image_id, category_id,
bbox [x, y, w, h], keypoints [x, y, v]*K, num_keypoints, iscrowd, area}]``. Keypoints are
0-based pixel coordinates (pixel centres at integers, posekit's convention) and are kept
as they are; v is 0 (unlabeled, x = y = 0), 1 (labeled, occluded) or 2 (visible). Boxes
are converted to xyxy. The same layout carries CrowdPose and the COCO-style AI Challenger
conversion (other skeletons; no ``area``/``iscrowd``).

Results: a list of ``{image_id, category_id, keypoints [x, y, score]*K, score}`` with an
optional ``bbox``. Person detections: a list of ``{image_id, category_id, bbox [x, y, w, h],
score}`` (e.g. ``COCO_val2017_detections_AP_H_56_person.json``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.common import (FormatError, float_array, format_error, get_field, get_list,
                                         image_file, keypoint_triplets, read_json)
from posekit.skeletons import Skeleton, as_skeleton
from posekit.structures import PoseResult, PoseSample

__all__ = ["FormatError", "CocoImage", "read_coco_keypoints", "iter_person_instances", "read_coco", "coco_samples",
           "read_coco_results", "read_coco_detections"]

#: GT area where a file has no ``area`` field: ``0.53 * w * h`` of the bbox (xtcocotools ``use_area=False``,
#: crowdposetools; REFERENCE-METRICS-FORMATS.md trap 5).
BOX_AREA_FACTOR = 0.53

_STANDARD_FIELDS = {"id", "image_id", "category_id", "bbox", "keypoints", "num_keypoints", "iscrowd",
                    "area", "segmentation"}


@dataclass
class CocoImage:
    """One image of a COCO keypoints file and its person annotations.

    ``keypoints (N, K, 2)`` float32, ``visibility (N, K)`` uint8, ``boxes (N, 4)`` xyxy,
    ``areas (N,)`` (the ``area`` field, or ``0.53 * w * h`` of the bbox where the file has none,
    the xtcocotools / CrowdPose substitute), ``iscrowd (N,)`` bool, ``ann_ids (N,)``.
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


def _image_id(value: Any, path: Path, where: str, field: str = "image_id") -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise format_error(path, where, field, f"is {value!r}, expected an integer (or string) id")
    return value


def _ann_where(i: int, ann: Any) -> str:
    return f"annotations[{i}] (id {ann.get('id', '?')})" if isinstance(ann, dict) else f"annotations[{i}]"


def _parse_images(data: Any, path: Path, sk: Skeleton, keep_extras: bool) -> list[CocoImage]:
    images = get_list(data, "images", path, "top level")
    anns = get_list(data, "annotations", path, "top level")
    k = sk.num_keypoints
    per_image: dict[int | str, list[_Annotation]] = {}
    for i, img in enumerate(images):
        per_image[_image_id(get_field(img, "id", path, f"images[{i}]"), path, f"images[{i}]", "id")] = []
    for i, ann in enumerate(anns):
        where = _ann_where(i, ann)
        image_id = _image_id(get_field(ann, "image_id", path, where), path, where)
        if image_id not in per_image:
            raise format_error(path, where, "image_id", f"= {image_id!r} is not in 'images'")
        per_image[image_id].append(_annotation(ann, path, where, sk))
    out = []
    for i, img in enumerate(images):
        image_id = img["id"]
        group = per_image[image_id]
        kps = np.array([g.keypoints for g in group], np.float32).reshape(-1, k, 3)
        boxes = np.array([g.box for g in group], np.float32).reshape(-1, 4)
        areas = np.array([g.area for g in group], np.float32)
        boxes[:, 2:] += boxes[:, :2]
        out.append(CocoImage(
            image_id=image_id,
            file_name=str(get_field(img, "file_name", path, f"images[{i}]")),
            width=int(float_array(img.get("width", 0), (), path, f"images[{i}]", "width")),
            height=int(float_array(img.get("height", 0), (), path, f"images[{i}]", "height")),
            keypoints=kps[..., :2].copy(), visibility=kps[..., 2].astype(np.uint8),
            boxes=boxes, areas=areas,
            iscrowd=np.array([g.iscrowd for g in group], bool),
            ann_ids=np.array([g.ann_id for g in group], np.int64),
            extras=[{key: v for key, v in g.record.items() if key not in _STANDARD_FIELDS} for g in group]
            if keep_extras else []))
    return out


@dataclass
class _Annotation:
    """One checked annotation: ``keypoints (K, 3)``, ``box`` ``[x, y, w, h]``, ``area`` (the field
    or ``0.53 * w * h``), ``iscrowd``, ``ann_id`` (-1 where the file has none) and the raw record."""

    record: dict
    keypoints: np.ndarray
    box: np.ndarray
    area: float
    iscrowd: bool
    ann_id: int


def _annotation(ann: dict, path: Path, where: str, sk: Skeleton) -> _Annotation:
    kps = keypoint_triplets(get_field(ann, "keypoints", path, where), sk.num_keypoints, path, where, "keypoints",
                            sk.name)
    bad = ~np.isin(kps[:, 2], (0, 1, 2))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise format_error(path, where, "keypoints", f"has visibility {kps[j, 2]:g} at joint {j} ({sk.names[j]}), "
                                                     f"expected 0, 1 or 2")
    box = float_array(get_field(ann, "bbox", path, where), (4,), path, where, "bbox")
    area = (float(float_array(ann["area"], (), path, where, "area")) if "area" in ann
            else float(box[2] * box[3] * BOX_AREA_FACTOR))
    crowd = ann.get("iscrowd", 0)
    iscrowd = crowd if isinstance(crowd, bool) else bool(float_array(crowd, (), path, where, "iscrowd"))
    ann_id = ann.get("id", -1)
    if isinstance(ann_id, bool) or not isinstance(ann_id, int):
        raise format_error(path, where, "id", f"is {ann_id!r}, expected an integer annotation id")
    return _Annotation(ann, kps, box, area, iscrowd, ann_id)


def read_coco_keypoints(path: str | Path, skeleton: Skeleton | str = "coco17",
                        keep_extras: bool = False) -> list[CocoImage]:
    """Read a COCO keypoints JSON into one ``CocoImage`` per image, in file order.

    ``keep_extras`` keeps each annotation's non-standard fields (e.g. the synthetic
    benchmark's ``joints_3d_cam``) in ``CocoImage.extras``.
    """
    path = Path(path)
    return _parse_images(read_json(path), path, as_skeleton(skeleton), keep_extras)


def iter_person_instances(images: list[CocoImage], min_keypoints: int = 1) -> Iterator[tuple[int, int]]:
    """``(image index, person index)`` of every non-crowd person with at least ``min_keypoints`` labelled."""
    for i, img in enumerate(images):
        labelled = (img.visibility > 0).sum(axis=1)
        for j in np.flatnonzero((labelled >= min_keypoints) & ~img.iscrowd):
            yield i, int(j)


def coco_samples(path: str | Path, skeleton: Skeleton | str, image_dir: str | Path | None = None,
                 keep_extras: bool = False) -> tuple[list[PoseSample], list[dict[str, Any]]]:
    """The samples of :func:`read_coco` as a list, with each image's raw ``images[i]`` record
    (for readers of COCO-style files that carry extra image fields, e.g. CrowdPose)."""
    path = Path(path)
    data = read_json(path)
    sk = as_skeleton(skeleton)
    images = _parse_images(data, path, sk, keep_extras)
    has_area = all(isinstance(ann, dict) and "area" in ann for ann in data["annotations"])
    num_keypoints = _num_keypoints_by_image(data["annotations"], path)
    samples = []
    for img in images:
        meta: dict[str, Any] = {"image_id": img.image_id, "file": image_file(image_dir, img.file_name),
                                "width": img.width, "height": img.height, "iscrowd": img.iscrowd}
        if has_area:
            meta["areas"] = img.areas
        if num_keypoints is not None:
            meta["num_keypoints"] = np.array(num_keypoints.get(img.image_id, []), np.int64)
        if keep_extras:
            meta["extras"] = img.extras
        samples.append(PoseSample(image=None, keypoints=img.keypoints, visibility=img.visibility,
                                  boxes=img.boxes, skeleton=sk, ids=img.ann_ids, meta=meta))
    return samples, data["images"]


def _num_keypoints_by_image(anns: list, path: Path) -> dict[int | str, list[int]] | None:
    """Each image's ``num_keypoints`` fields in annotation order, or ``None`` unless every
    annotation has one. The field is kept as written: CrowdPose counts only ``v == 2`` there, and
    its evaluator reads the field rather than recounting (REFERENCE-METRICS-FORMATS.md A1.7, B6)."""
    if not all("num_keypoints" in ann for ann in anns):
        return None
    out: dict[int | str, list[int]] = {}
    for i, ann in enumerate(anns):
        value = float_array(ann["num_keypoints"], (), path, _ann_where(i, ann), "num_keypoints")
        out.setdefault(ann["image_id"], []).append(int(value))
    return out


def read_coco(path: str | Path, skeleton: Skeleton | str = "coco17", image_dir: str | Path | None = None,
              keep_extras: bool = False) -> Iterator[PoseSample]:
    """COCO keypoints ground truth as one ``PoseSample`` per image, in file order.

    ``keypoints (N, K, 2)`` (0-based pixels, as stored), ``visibility (N, K)`` COCO codes,
    ``boxes (N, 4)`` xyxy, ``ids`` = annotation ids; ``image`` is ``None`` (readers do not
    decode images). ``meta``: ``image_id``, ``file`` (``image_dir / file_name`` when
    ``image_dir`` is given), ``width``, ``height``, ``iscrowd (N,)``, ``areas (N,)`` (only when
    every annotation has an ``area`` field: CrowdPose and AIC files have none, and their
    evaluators use ``0.53 * w * h`` instead), ``num_keypoints (N,)`` (the field as written, only
    when every annotation has one; CrowdPose counts ``v == 2`` only) and, with ``keep_extras``,
    ``extras`` (each annotation's non-standard fields).
    """
    return iter(coco_samples(path, skeleton, image_dir, keep_extras)[0])


def read_coco_results(path: str | Path, skeleton: Skeleton | str = "coco17") -> dict[int | str, PoseResult]:
    """A COCO keypoint results file as one ``PoseResult`` per ``image_id`` (first-appearance order).

    ``scores (N, K)`` are the third values of ``keypoints``; ``instance_scores`` the ``score``
    field; ``boxes`` the result's ``bbox`` (converted to xyxy) where present, else the extent of
    all its keypoints, which is the area pycocotools' ``loadRes`` uses (REFERENCE trap 3).
    """
    path = Path(path)
    results = read_json(path)
    if not isinstance(results, list):
        raise format_error(path, "top level", None, f"is a {type(results).__name__}, expected a list of results")
    sk = as_skeleton(skeleton)
    k = sk.num_keypoints
    grouped: dict[int | str, list[tuple[np.ndarray, np.ndarray, float]]] = {}
    for i, res in enumerate(results):
        where = f"results[{i}]"
        image_id = _image_id(get_field(res, "image_id", path, where), path, where)
        kps = keypoint_triplets(get_field(res, "keypoints", path, where), k, path, where, "keypoints", sk.name)
        score = float_array(get_field(res, "score", path, where), (), path, where, "score")
        if res.get("bbox"):
            box = float_array(res["bbox"], (4,), path, where, "bbox")
            box[2:] += box[:2]
        else:
            box = np.concatenate([kps[:, :2].min(axis=0), kps[:, :2].max(axis=0)])
        grouped.setdefault(image_id, []).append((kps, box, float(score)))
    return {image_id: PoseResult(
        keypoints=np.array([g[0][:, :2] for g in group], np.float32),
        scores=np.array([g[0][:, 2] for g in group], np.float32),
        boxes=np.array([g[1] for g in group], np.float32),
        instance_scores=np.array([g[2] for g in group], np.float32), skeleton=sk)
        for image_id, group in grouped.items()}


def read_coco_detections(path: str | Path, category_id: int | None = 1
                         ) -> dict[int | str, tuple[np.ndarray, np.ndarray]]:
    """A COCO detection results file as ``{image_id: (boxes (N, 4) xyxy float32, scores (N,) float32)}``.

    Only detections of ``category_id`` (1 = person) are kept; ``None`` keeps all. The
    ``(boxes, scores)`` pair is what the top-down estimator takes per image.
    """
    path = Path(path)
    dets = read_json(path)
    if not isinstance(dets, list):
        raise format_error(path, "top level", None, f"is a {type(dets).__name__}, expected a list of detections")
    grouped: dict[int | str, tuple[list, list]] = {}
    for i, det in enumerate(dets):
        where = f"detections[{i}]"
        image_id = _image_id(get_field(det, "image_id", path, where), path, where)
        if category_id is not None and get_field(det, "category_id", path, where) != category_id:
            continue
        box = float_array(get_field(det, "bbox", path, where), (4,), path, where, "bbox")
        score = float_array(get_field(det, "score", path, where), (), path, where, "score")
        boxes, scores = grouped.setdefault(image_id, ([], []))
        boxes.append([box[0], box[1], box[0] + box[2], box[1] + box[3]])
        scores.append(float(score))
    return {image_id: (np.array(b, np.float32).reshape(-1, 4), np.array(s, np.float32))
            for image_id, (b, s) in grouped.items()}
