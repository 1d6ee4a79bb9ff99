"""Convert a stream of :class:`~posekit.structures.PoseSample` to a COCO keypoints JSON object.

Output layout (COCO person keypoints, as ``person_keypoints_*.json``):

- ``images``: one per sample, ``{id, file_name, width, height}``; ``id`` is ``meta["image_id"]``
  where the reader gives one, else the 1-based sample index; ``width``/``height`` come from
  ``meta["width"]``/``meta["height"]`` or ``meta["image_size"]`` (w, h) and are left out when
  the format does not record them;
- ``annotations``: one per person, ``{id, image_id, category_id: 1, keypoints [x, y, v]*K,
  num_keypoints, bbox [x, y, w, h], area, iscrowd}``. Keypoints are in the dataset's own
  skeleton and posekit's 0-based pixel centres (COCO's own convention; labels read from
  MATLAB 1-based files are therefore 1 less than in those files); an unlabelled joint is
  written ``0, 0, 0``. ``num_keypoints`` is ``meta["num_keypoints"]`` where the reader keeps
  the source file's field (CrowdPose counts only ``v == 2`` there, and the evaluators read the
  field: keeping it keeps which people are ignored), else the count of labelled joints. ``area``
  is ``meta["areas"]`` where the reader has it, else ``0.53 * w * h`` of the box -- what
  xtcocotools and the CrowdPose evaluator use for files without ``area`` (CrowdPose, AIC; MMPose
  also gives MPII people that area), so pycocotools on the converted file scores like those
  evaluators on the original. ``iscrowd`` is ``meta["iscrowd"]`` or 0; ``id`` is the 1-based
  running annotation number (never 0: pycocotools miscounts a match with annotation id 0).
  Where a sample has 3D ground truth, ``keypoints_3d`` ``[X, Y, Z]*K`` (camera frame, metres)
  is added, as the synthetic benchmark's writer does;
- ``categories``: one ``person`` category with the skeleton's ``keypoints`` names and its
  links as 1-based index pairs (``skeleton``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from posekit.atomic import atomic_write_json
from posekit.data.readers.coco import BOX_AREA_FACTOR  # area of a person whose source has none
from posekit.skeletons import Skeleton
from posekit.structures import PoseSample

__all__ = ["ConversionError", "coco_category", "sample_to_coco", "samples_to_coco", "write_json_atomic"]


class ConversionError(ValueError):
    """A sample that cannot be written as COCO keypoints; the message names the source and record."""


def coco_category(skeleton: Skeleton, category_id: int = 1) -> dict[str, Any]:
    """The COCO ``person`` category of ``skeleton``: joint names and 1-based link pairs."""
    return {"id": category_id, "name": "person", "supercategory": "person", "keypoints": list(skeleton.names),
            "skeleton": [[int(a) + 1, int(b) + 1] for a, b in skeleton.link_indices]}


def _image_size(meta: dict[str, Any]) -> tuple[int, int] | None:
    if "width" in meta and "height" in meta:
        return int(meta["width"]), int(meta["height"])
    if meta.get("image_size") is not None:
        w, h = meta["image_size"]
        return int(w), int(h)
    return None


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in values.reshape(-1)]


def sample_to_coco(sample: PoseSample, image_id: int | str, first_ann_id: int) -> tuple[dict, list[dict]]:
    """``(image record, annotation records)`` of one sample; annotation ids from ``first_ann_id``.

    ``sample.keypoints (N, K, 2)``, ``visibility (N, K)`` COCO codes, ``boxes (N, 4)`` xyxy.
    """
    meta = sample.meta
    image: dict[str, Any] = {"id": image_id, "file_name": str(meta.get("file", ""))}
    size = _image_size(meta)
    if size is not None:
        image["width"], image["height"] = size
    n = len(sample.keypoints)
    areas = meta.get("areas")
    crowd = meta.get("iscrowd")
    counts = meta.get("num_keypoints")
    anns = []
    for i in range(n):
        vis = np.asarray(sample.visibility[i], dtype=np.int64)
        kps = np.zeros((len(vis), 3))
        labelled = vis > 0
        kps[labelled, :2] = sample.keypoints[i][labelled]
        kps[:, 2] = vis
        if not np.all(np.isfinite(kps)):
            raise ConversionError(f"image {image['file_name'] or image_id}: person {i}: field 'keypoints' "
                                  f"has a non-finite coordinate on a labelled joint")
        x1, y1, x2, y2 = (float(v) for v in sample.boxes[i])
        if not np.all(np.isfinite([x1, y1, x2, y2])):
            raise ConversionError(f"image {image['file_name'] or image_id}: person {i}: field 'boxes' is not finite "
                                  f"(the format gives no box and the person has no labelled 2D joint to make one "
                                  f"from)")
        w, h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
        ann: dict[str, Any] = {
            "id": first_ann_id + i, "image_id": image_id, "category_id": 1,
            "keypoints": [round(float(v), 3) if j % 3 != 2 else int(v) for j, v in enumerate(kps.reshape(-1))],
            "num_keypoints": int(counts[i]) if counts is not None else int(labelled.sum()),
            "bbox": [round(x1, 3), round(y1, 3), round(w, 3), round(h, 3)],
            "area": round(float(areas[i]) if areas is not None else w * h * BOX_AREA_FACTOR, 3),
            "iscrowd": int(bool(crowd[i])) if crowd is not None else 0,
        }
        if sample.keypoints_3d is not None:
            ann["keypoints_3d"] = _rounded(np.asarray(sample.keypoints_3d[i], dtype=np.float64))
        anns.append(ann)
    return image, anns


def samples_to_coco(samples: Iterable[Any], source: str = "<samples>") -> dict[str, Any]:
    """A COCO keypoints object (module docstring) of ``samples``, all in one skeleton.

    ``source`` names the input in errors. Raises :class:`ConversionError` for an item that is not
    a ``PoseSample`` (e.g. AMASS motion sequences, which have no 2D keypoints), for mixed
    skeletons, for repeated image ids and for an empty stream.
    """
    images, annotations, skeleton = [], [], None
    seen: set = set()
    for index, sample in enumerate(samples):
        if not isinstance(sample, PoseSample):
            raise ConversionError(f"{source}: record {index}: is a {type(sample).__name__}, not a 2D pose sample; "
                                  f"this format has no 2D keypoints to write as COCO")
        if skeleton is None:
            skeleton = sample.skeleton
        elif sample.skeleton.name != skeleton.name:
            raise ConversionError(f"{source}: record {index}: field 'skeleton' is {sample.skeleton.name!r}, "
                                  f"earlier records have {skeleton.name!r}")
        image_id = sample.meta.get("image_id", index + 1)
        if image_id in seen:
            raise ConversionError(f"{source}: record {index}: field 'image_id' {image_id!r} repeats an earlier image")
        seen.add(image_id)
        try:
            image, anns = sample_to_coco(sample, image_id, len(annotations) + 1)
        except ConversionError as err:
            raise ConversionError(f"{source}: record {index}: {err}") from None
        images.append(image)
        annotations.extend(anns)
    if skeleton is None:
        raise ConversionError(f"{source}: holds no samples")
    return {"images": images, "annotations": annotations, "categories": [coco_category(skeleton)]}


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as compact JSON to ``path`` atomically (see :mod:`posekit.atomic`)."""
    atomic_write_json(path, obj, indent=None)