"""COCO keypoint AP/AR, computed exactly as ``pycocotools`` ``COCOeval(iouType='keypoints')``.

The algorithm (REFERENCE-METRICS-FORMATS.md A1, observed on pycocotools 2.0.11):

- Ground truth: every annotation of a listed image and category. ``ignore = iscrowd or
  num_keypoints == 0`` (the *field* is read; an ``ignore`` key is not). For an area range
  ``[lo, hi]`` (closed) a GT outside it is ignored too.
- Detections: per image and category sorted by score (stable), the top ``max_dets`` (20) kept.
  A detection's area (for the area ranges only) follows ``COCO.loadRes``: when the *first*
  result has a non-empty ``bbox``, ``w * h`` of each result's box, otherwise the extent of all
  its keypoints ``(max x - min x) * (max y - min y)``.
- Matching, per image, area range and OKS threshold ``t``: detections in score order take the
  free ground truth with the highest OKS ``>= min(t, 1 - 1e-10)``, preferring non-ignored ones;
  ties go to the later annotation; crowd annotations can absorb any number of detections. A
  detection matched to an ignored GT is ignored; an unmatched one outside the area range too.
- Accumulation: detections of all images (image-id order, then score order) re-sorted by score
  (stable), precision made monotone, sampled at 101 recall points; cells without non-ignored
  GT stay -1 and are left out of the means.

Deliberate difference: pycocotools records matches by annotation *id* and treats id 0 as
"unmatched", so a detection matched to a GT with ``id == 0`` counts as a false positive. posekit
records matches by index (as xtcocotools does), which gives the intended result; everything
else agrees with pycocotools to the last bit (the tests compare all ten stats at 1e-9).

:func:`coco_keypoint_breakdown` adds per-keypoint AP (posekit's definition, see there) and the
stats per area range.

Two details of pycocotools' loaders are followed, with one extension each: ``loadRes`` decides
the area rule from the first result only (posekit then falls back to the keypoint extent for a
result without a box, where pycocotools raises ``KeyError``); a result's ``segmentation`` is not
read (pycocotools would take a mask area when the first result has a segmentation and no box).
A missing ``iscrowd`` in the ground truth means 0 (pycocotools raises ``KeyError``). A missing
``area`` means ``0.53 * w * h`` of the annotation's ``bbox``, as xtcocotools substitutes it
(pycocotools raises ``KeyError``).

xtcocotools 1.14.3 options (REFERENCE-METRICS-FORMATS.md A1.7, trap list items 4 and 5), all off
by default so that the defaults stay pycocotools': ``use_area=False`` (GT area ``0.53 * w * h``
in OKS and in the area ranges), ``gt_ignore="labelled"`` (a GT without a keypoint with ``v > 0``
is ignored -- xtcocotools ``iouType='keypoints'`` -- instead of reading ``num_keypoints``, which
``'keypoints_crowd'`` and pycocotools do), ``drop_zero_confidence=True`` (detections none of
whose keypoint confidences is > 0 are left out), custom ``sigmas`` (K is their count) and
``image_ids`` (pycocotools' ``params.imgIds``: evaluate a subset of the images).

Vectorisation: OKS is computed only for (detection, GT) pairs of the same image whose keypoint
extents are close enough to reach the lowest threshold (a bound that cannot drop a pair that
matters), in one batched call. A detection with a single candidate GT that no other detection
wants takes it directly; the others are matched in ``max_dets`` rounds -- round ``r`` handles the
``r``-th detection of every image at once, for all thresholds and area ranges -- so the Python
loop count does not grow with the number of images. Files are read with the exact fast JSON
readers of :mod:`posekit.metrics.json_io`.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from posekit.metrics.json_io import (
    CocoFormatError,
    CocoResults,
    Field,
    json_object_values,
    load_json,
    read_coco_results,
    read_fields,
)
from posekit.metrics.oks import oks_pairs, oks_reach_boxes

__all__ = [
    "STAT_NAMES",
    "BOX_AREA_FACTOR",
    "best_oks_match",
    "coco_keypoint_breakdown",
    "CocoEvalParams",
    "CocoEvalResult",
    "CocoGroundTruth",
    "GT_IGNORE_RULES",
    "coco_keypoint_eval",
    "evaluate_coco_keypoints",
    "load_coco_gt",
]

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

# ``CocoEvalParams.gt_ignore``: which GT (besides crowd ones) is ignored. "num_keypoints": the
# field is 0 (pycocotools; xtcocotools 'keypoints_crowd'); "labelled": no keypoint has v > 0
# (xtcocotools 'keypoints').
GT_IGNORE_RULES = ("num_keypoints", "labelled")

# xtcocotools / crowdposetools: the GT area used when ``use_area=False`` or ``area`` is missing.
BOX_AREA_FACTOR = 0.53


def _default_sigmas() -> np.ndarray:
    from posekit.skeletons import get_skeleton

    return get_skeleton("coco17").sigmas_array


@dataclass(frozen=True)
class CocoEvalParams:
    """Evaluation parameters; the defaults are pycocotools' ``Params.setKpParams``.

    - ``sigmas``: ``(K,)`` OKS sigmas (default COCO-17's, from ``posekit.skeletons``).
    - ``oks_thresholds``: ``(T,)``, 0.50:0.05:0.95.
    - ``recall_thresholds``: ``(R,)``, 0:0.01:1.
    - ``max_dets``: detections kept per image (20).
    - ``area_ranges``: ``(label, lo, hi)`` closed intervals of GT/DT area (all, medium, large).
    - ``use_area``: read the GT ``area`` field (True); False: ``0.53 * w * h`` of the GT bbox, in
      OKS and in the area ranges (xtcocotools ``use_area=False``).
    - ``gt_ignore``: one of :data:`GT_IGNORE_RULES` (default pycocotools' ``"num_keypoints"``).
    - ``drop_zero_confidence``: leave out detections none of whose keypoint confidences is > 0
      (xtcocotools); False keeps them (pycocotools).
    - ``image_ids``: evaluate only these images (pycocotools ``params.imgIds``); ``None``: all.
      Each must be an image of the ground truth; results of other images are left out.
    """

    sigmas: np.ndarray = field(default_factory=_default_sigmas)
    oks_thresholds: np.ndarray = field(
        default_factory=lambda: np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True))
    recall_thresholds: np.ndarray = field(
        default_factory=lambda: np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True))
    max_dets: int = 20
    area_ranges: tuple = (("all", 0.0, 1e5 ** 2), ("medium", 32.0 ** 2, 96.0 ** 2), ("large", 96.0 ** 2, 1e5 ** 2))
    use_area: bool = True
    gt_ignore: str = "num_keypoints"
    drop_zero_confidence: bool = False
    image_ids: tuple | None = None

    def __post_init__(self) -> None:
        if self.gt_ignore not in GT_IGNORE_RULES:
            raise ValueError(f"CocoEvalParams: gt_ignore must be one of {GT_IGNORE_RULES}, got {self.gt_ignore!r}")

    @property
    def num_keypoints(self) -> int:
        return int(np.asarray(self.sigmas).shape[0])


@dataclass(frozen=True)
class CocoGroundTruth:
    """COCO keypoint ground truth as arrays.

    Only annotations of listed images and categories, ordered by (category, image id, file
    order) -- pycocotools' order. ``image_ids`` / ``category_ids`` are sorted unique ids;
    ``image_index`` / ``category_index`` index into them. ``keypoints`` ``(NG, K, 2)`` and
    ``visible`` ``(NG, K)`` (``v > 0``); ``area``, ``bbox`` ``(NG, 4)`` ``[x, y, w, h]``,
    ``iscrowd`` and ``ignore`` (``iscrowd or num_keypoints == 0``) as in the file; ``area`` is
    ``0.53 * w * h`` where the file has none. :class:`CocoEvalParams` options (``use_area``,
    ``gt_ignore``, ``image_ids``) are applied at evaluation time, not stored here.
    """

    source: str
    image_ids: np.ndarray
    category_ids: np.ndarray
    ann_ids: np.ndarray
    image_index: np.ndarray
    category_index: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    area: np.ndarray
    bbox: np.ndarray
    iscrowd: np.ndarray
    ignore: np.ndarray


@dataclass(frozen=True)
class CocoEvalResult:
    """Stats plus pycocotools' accumulated arrays (``-1`` where there is no ground truth).

    - ``stats``: the ten summary values keyed by :data:`STAT_NAMES`.
    - ``precision``: ``(T, R, C, A, 1)``; ``recall``: ``(T, C, A, 1)``; ``scores``: ``(T, R, C, A, 1)``
      with T OKS thresholds, R recall points, C categories, A area ranges.
    """

    stats: dict
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    params: CocoEvalParams
    category_ids: np.ndarray

    def summary(self) -> str:
        """The ten stats as pycocotools prints them (with ``OKS`` for ``IoU``)."""
        thr = self.params.oks_thresholds
        rows = [
            ("Average Precision", "(AP)", f"{thr[0]:0.2f}:{thr[-1]:0.2f}", "all"),
            ("Average Precision", "(AP)", "0.50", "all"),
            ("Average Precision", "(AP)", "0.75", "all"),
            ("Average Precision", "(AP)", f"{thr[0]:0.2f}:{thr[-1]:0.2f}", "medium"),
            ("Average Precision", "(AP)", f"{thr[0]:0.2f}:{thr[-1]:0.2f}", "large"),
            ("Average Recall", "(AR)", f"{thr[0]:0.2f}:{thr[-1]:0.2f}", "all"),
            ("Average Recall", "(AR)", "0.50", "all"),
            ("Average Recall", "(AR)", "0.75", "all"),
            ("Average Recall", "(AR)", f"{thr[0]:0.2f}:{thr[-1]:0.2f}", "medium"),
            ("Average Recall", "(AR)", f"{thr[0]:0.2f}:{thr[-1]:0.2f}", "large"),
        ]
        lines = []
        for (title, kind, oks, area), name in zip(rows, STAT_NAMES):
            lines.append(f" {title:<18} {kind} @[ OKS={oks:<9} | area={area:>6s} | maxDets={self.params.max_dets:>3d} ]"
                         f" = {self.stats[name]:0.3f}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Loading the ground truth.


def _box_area(bbox: np.ndarray) -> np.ndarray:
    """``(N,)`` xtcocotools' box-based GT area ``w * h * 0.53`` of ``(N, 4)`` ``[x, y, w, h]``
    boxes, in its float order (``bbox[2] * bbox[3] * 0.53``)."""
    return bbox[:, 2] * bbox[:, 3] * BOX_AREA_FACTOR


def _require(record: dict, key: str, source: str, section: str, index: int) -> Any:
    if key not in record:
        raise CocoFormatError(f"{source}: {section}[{index}]: missing field {key!r}")
    return record[key]


def _record_id(record: Any, source: str, section: str, index: int) -> Any:
    if not isinstance(record, dict):
        raise CocoFormatError(f"{source}: {section}[{index}]: expected an object")
    value = _require(record, "id", source, section, index)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CocoFormatError(f"{source}: {section}[{index}]: field 'id' must be a number or a string, got {value!r}")
    return value


def _check_numbers(value: Any, length: int, source: str, where: str, key: str) -> None:
    if not isinstance(value, list) or len(value) != length:
        got = f"a list of {len(value)} values" if isinstance(value, list) else repr(value)
        raise CocoFormatError(f"{source}: {where}: field {key!r} must be a list of {length} numbers, got {got}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise CocoFormatError(f"{source}: {where}: field {key!r} holds a non-number {v!r}")


def _sorted_ids(values: list, source: str, what: str) -> np.ndarray:
    unique = set(values)
    try:
        ordered = sorted(unique)
    except TypeError:
        raise CocoFormatError(f"{source}: {what} ids mix types that cannot be ordered") from None
    if all(type(v) is int for v in ordered) and (not ordered or -(2**63) <= ordered[0] and ordered[-1] < 2**63):
        return np.array(ordered, dtype=np.int64).reshape(len(ordered))
    out = np.empty(len(ordered), dtype=object)
    out[:] = ordered
    return out


# What the evaluation reads from a ground-truth file; everything else is skipped unparsed.
_GT_FIELDS = {
    "images": {"id"},
    "categories": {"id"},
    "annotations": {"id", "image_id", "category_id", "keypoints", "num_keypoints", "area", "bbox", "iscrowd"},
}


_GT_ANNOTATION_FIELDS = (
    Field("id", "int"), Field("image_id", "int"), Field("category_id", "int"), Field("iscrowd", "int", required=False),
    Field("area", "number", required=False), Field("num_keypoints", "number"), Field("keypoints", "array"),
    Field("bbox", "array"),
)


def _ids_fast(text: bytes | None) -> np.ndarray | None:
    if text is None:
        return None
    got = read_fields(io.BytesIO(text), (Field("id", "int"),))
    return None if got is None else got[0]["id"][0]


def _bulky_annotations(raw: bytes) -> bool:
    """Whether annotations carry much more than the evaluation reads (more than ~2 kB each in
    the first MB of the list). Then cutting out the needed fields beats ``json``; for lean files
    ``json`` is faster (short numbers parse quickly). Both give the same values."""
    at = raw.find(b'"annotations"')
    sample = raw[at:at + (1 << 20)] if at >= 0 else b""
    count = sample.count(b'"keypoints"')
    return not count or len(sample) / count > 2048


def _load_gt_fast(values: dict, name: str, num_keypoints: int) -> CocoGroundTruth | None:
    """:class:`CocoGroundTruth` from the pruned texts with the fast number reader, or ``None``
    (then json and the checked loop below decide, and report any error)."""
    images = _ids_fast(values.get("images"))
    categories = _ids_fast(values.get("categories"))
    if images is None or categories is None or "annotations" not in values:
        return None
    got = read_fields(io.BytesIO(values["annotations"]), _GT_ANNOTATION_FIELDS)
    if got is None:
        return None
    cols, widths = got
    ids = cols["id"][0]
    n_all = ids.shape[0]
    if not n_all or np.unique(ids).shape[0] != n_all:
        return None  # no annotation (the checked path handles it) or duplicate ids (it reports them)
    if (widths.get("keypoints", (0,))[0] != 3 * num_keypoints or widths.get("bbox", (0,))[0] != 4
            or not cols["keypoints"][1].all() or not cols["bbox"][1].all()):
        return None
    image_ids = np.unique(images)
    category_ids = np.unique(categories)
    img = _lookup(cols["image_id"][0], image_ids)
    cat = _lookup(cols["category_id"][0], category_ids)
    keep = np.flatnonzero((img >= 0) & (cat >= 0))
    order = keep[np.lexsort((keep, img[keep], cat[keep]))]
    flat = cols["keypoints"][0][order].reshape(-1, num_keypoints, 3)
    crowd = (cols["iscrowd"][0][order] != 0) & cols["iscrowd"][1][order]
    ann_ids = np.empty(order.shape[0], dtype=object)
    ann_ids[:] = ids[order].tolist()
    bbox = cols["bbox"][0][order]
    area = np.where(cols["area"][1][order], cols["area"][0][order], _box_area(bbox))
    return CocoGroundTruth(
        source=name,
        image_ids=image_ids,
        category_ids=category_ids,
        ann_ids=ann_ids,
        image_index=img[order],
        category_index=cat[order],
        keypoints=np.ascontiguousarray(flat[:, :, :2]),
        visible=flat[:, :, 2] > 0,
        area=area,
        bbox=bbox,
        iscrowd=crowd,
        ignore=crowd | (cols["num_keypoints"][0][order] == 0),
    )


def _collect_annotations(anns: list, image_pos: dict, category_pos: dict) -> tuple:
    """Columns of the annotations of listed images and categories, without checks (fast)."""
    keep_img, keep_cat, ids, kps, nkp, area, bbox, crowd = [], [], [], [], [], [], [], []
    image_of = image_pos.get
    category_of = category_pos.get
    for ann in anns:
        img = image_of(ann["image_id"])
        cat = category_of(ann["category_id"])
        if img is None or cat is None:
            continue  # pycocotools only evaluates listed images and categories
        keep_img.append(img)
        keep_cat.append(cat)
        ids.append(ann["id"])
        kps.append(ann["keypoints"])
        nkp.append(ann["num_keypoints"] == 0)
        area.append(ann.get("area", np.nan))
        bbox.append(ann["bbox"])
        crowd.append(bool(ann.get("iscrowd", 0)))
    return keep_img, keep_cat, ids, kps, nkp, area, bbox, crowd


def _check_annotations(anns: list, image_pos: dict, category_pos: dict, k3: int, name: str) -> None:
    """Validate every annotation; raise :class:`CocoFormatError` naming the first bad field."""
    seen: dict = {}
    for i, ann in enumerate(anns):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise CocoFormatError(f"{name}: {where}: expected an object")
        ann_id = _require(ann, "id", name, "annotations", i)
        if isinstance(ann_id, bool) or not isinstance(ann_id, (int, float, str)):
            raise CocoFormatError(f"{name}: {where}: field 'id' must be a number or a string, got {ann_id!r}")
        if ann_id in seen:
            raise CocoFormatError(f"{name}: {where}: duplicate annotation id {ann_id!r} "
                                  f"(also annotations[{seen[ann_id]}])")
        seen[ann_id] = i
        for key in ("image_id", "category_id"):
            value = _require(ann, key, name, "annotations", i)
            if isinstance(value, (list, dict)):
                raise CocoFormatError(f"{name}: {where}: field {key!r} must be a number or a string, got {value!r}")
        if image_pos.get(ann["image_id"]) is None or category_pos.get(ann["category_id"]) is None:
            continue
        _check_numbers(_require(ann, "keypoints", name, "annotations", i), k3, name, where, "keypoints")
        count = _require(ann, "num_keypoints", name, "annotations", i)
        if isinstance(count, bool) or not isinstance(count, (int, float)):
            raise CocoFormatError(f"{name}: {where}: field 'num_keypoints' must be a number, got {count!r}")
        a = ann.get("area", 0.0)
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise CocoFormatError(f"{name}: {where}: field 'area' must be a number, got {a!r}")
        _check_numbers(_require(ann, "bbox", name, "annotations", i), 4, name, where, "bbox")


def load_coco_gt(source: str | os.PathLike | dict, num_keypoints: int = 17) -> CocoGroundTruth:
    """Read COCO keypoint ground truth (a path or a loaded dict) into :class:`CocoGroundTruth`.

    Required: ``images[].id``, ``categories[].id``, and per annotation ``id``, ``image_id``,
    ``category_id``, ``keypoints`` (``3 * num_keypoints`` numbers), ``num_keypoints``, ``bbox``.
    A missing ``iscrowd`` means 0; a missing (or null) ``area`` means ``0.53 * w * h`` of the bbox
    (xtcocotools' substitution; CrowdPose and AI Challenger conversions have no ``area``).
    Annotation ids must be unique (pycocotools indexes annotations by id and silently mixes up
    duplicates). Errors name the file, the record and the field. From a file, only these fields are parsed (see
    :func:`~posekit.metrics.json_io.json_object_values`); the rest is skipped unvalidated.
    """
    if isinstance(source, dict):
        data, name = source, "<ground truth>"
    else:
        path = Path(source)
        name = str(path)
        raw = path.read_bytes()
        values = json_object_values(raw, _GT_FIELDS) if _bulky_annotations(raw) else None
        fast = _load_gt_fast(values, name, num_keypoints) if values is not None else None
        if fast is not None:
            return fast
        if values is not None:  # parse only the kept parts
            raw = b"{" + b",".join(b'"' + k.encode() + b'":' + v for k, v in values.items()) + b"}"
        data = load_json(raw, name)
    if not isinstance(data, dict):
        raise CocoFormatError(f"{name}: ground truth must be a JSON object with images/annotations/categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise CocoFormatError(f"{name}: missing or invalid field {key!r} (a list)")
    images = data["images"]
    categories = data["categories"]
    anns = data["annotations"]
    image_ids = _sorted_ids([_record_id(im, name, "images", i) for i, im in enumerate(images)], name, "image")
    category_ids = _sorted_ids([_record_id(c, name, "categories", i) for i, c in enumerate(categories)],
                               name, "category")
    image_pos = {v: i for i, v in enumerate(image_ids.tolist())}
    category_pos = {v: i for i, v in enumerate(category_ids.tolist())}

    try:
        cols = _collect_annotations(anns, image_pos, category_pos)
        n = len(cols[0])
        ids_all = [ann["id"] for ann in anns]
        if len(set(ids_all)) != len(ids_all):
            raise ValueError("duplicate annotation ids")
        flat = np.array(cols[3], dtype=np.float64) if n else np.zeros((0, 3 * num_keypoints))
        boxes = np.array(cols[6], dtype=np.float64) if n else np.zeros((0, 4))
        areas = np.array(cols[5], dtype=np.float64)
        if flat.shape != (n, 3 * num_keypoints) or boxes.shape != (n, 4) or areas.shape != (n,):
            raise ValueError("wrong lengths")
    except (KeyError, TypeError, ValueError, AttributeError):
        _check_annotations(anns, image_pos, category_pos, 3 * num_keypoints, name)  # raises the precise error
        raise
    keep_img, keep_cat, ids, _, nkp, _, _, crowd = cols
    n = len(ids)
    keep_img_a = np.array(keep_img, dtype=np.int64)
    keep_cat_a = np.array(keep_cat, dtype=np.int64)
    order = np.lexsort((np.arange(n), keep_img_a, keep_cat_a))
    flat = flat.reshape(n, num_keypoints, 3)[order]
    crowd_a = np.array(crowd, dtype=bool)[order]
    ann_ids = np.empty(n, dtype=object)
    ann_ids[:] = ids
    boxes = boxes.reshape(n, 4)[order]
    areas = areas[order]
    areas = np.where(np.isnan(areas), _box_area(boxes), areas)
    return CocoGroundTruth(
        source=name,
        image_ids=image_ids,
        category_ids=category_ids,
        ann_ids=ann_ids[order],
        image_index=keep_img_a[order],
        category_index=keep_cat_a[order],
        keypoints=np.ascontiguousarray(flat[:, :, :2]),
        visible=flat[:, :, 2] > 0,
        area=areas,
        bbox=boxes,
        iscrowd=crowd_a,
        ignore=crowd_a | np.array(nkp, dtype=bool)[order],
    )


# --------------------------------------------------------------------------------------------
# Preparing the detections.


def _lookup(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Index of each id in the sorted unique ``table``; -1 where absent."""
    if ids.dtype != object and table.dtype != object:
        pos = np.searchsorted(table, ids)
        pos = np.minimum(pos, max(len(table) - 1, 0))
        found = (table[pos] == ids) if len(table) else np.zeros(ids.shape, dtype=bool)
        return np.where(found, pos, -1)
    index = {v: i for i, v in enumerate(table.tolist())}
    return np.array([index.get(v, -1) for v in ids.tolist()], dtype=np.int64).reshape(len(ids))


def _image_index(gt: CocoGroundTruth, results: CocoResults) -> np.ndarray:
    """Index into ``gt.image_ids`` of each result's image; an unknown id is an error (as in
    pycocotools' ``loadRes``, which asserts it)."""
    img = _lookup(results.image_id, gt.image_ids)
    if (img < 0).any():
        i = int(np.flatnonzero(img < 0)[0])
        raise CocoFormatError(f"{results.source}: record {i}: field 'image_id': "
                              f"{results.image_id[i:i + 1].tolist()[0]!r} is not an image of {gt.source}")
    return img


def _apply_gt_options(gt: CocoGroundTruth, params: CocoEvalParams) -> tuple[CocoGroundTruth, np.ndarray]:
    """The ground truth as ``params`` evaluates it: areas (``use_area``), ignore flags
    (``gt_ignore``) and the image subset (``image_ids``). Also returns ``(len(gt.image_ids),)``
    int64: the new index of each original image, -1 for images left out."""
    area = gt.area if params.use_area else _box_area(gt.bbox)
    ignore = gt.ignore if params.gt_ignore == "num_keypoints" else gt.iscrowd | ~gt.visible.any(axis=1)
    out = replace(gt, area=area, ignore=ignore)
    image_map = np.arange(len(gt.image_ids), dtype=np.int64)
    if params.image_ids is None:
        return out, image_map
    wanted = _sorted_ids(list(params.image_ids), gt.source, "image")
    pos = _lookup(wanted, gt.image_ids)
    if (pos < 0).any():
        missing = wanted[pos < 0].tolist()[0]
        raise CocoFormatError(f"{gt.source}: CocoEvalParams.image_ids: {missing!r} is not an image of the ground truth")
    image_map = np.full(len(gt.image_ids), -1, dtype=np.int64)
    image_map[pos] = np.arange(len(pos))
    rows = np.flatnonzero(image_map[gt.image_index] >= 0)
    out = replace(out, image_ids=wanted, ann_ids=out.ann_ids[rows], image_index=image_map[out.image_index[rows]],
                  category_index=out.category_index[rows], keypoints=out.keypoints[rows],
                  visible=out.visible[rows], area=out.area[rows], bbox=out.bbox[rows],
                  iscrowd=out.iscrowd[rows], ignore=out.ignore[rows])
    return out, image_map


def _confident(results: CocoResults, params: CocoEvalParams) -> np.ndarray:
    """``(N,)`` bool: results kept by ``drop_zero_confidence`` (xtcocotools ``_prepare``: a
    detection with no keypoint confidence > 0 is skipped); all True when the option is off."""
    if not params.drop_zero_confidence or not len(results):
        return np.ones(len(results), dtype=bool)
    return (results.keypoint_scores > 0).any(axis=1)


def _extent(xy: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per selected row of ``(N, K, 2)`` points: ``(min, max)``, each ``(len(rows), 2)``.

    Done in blocks on joint-major copies: numpy's reduction over the middle axis is slow.
    """
    lo = np.empty((rows.shape[0], 2))
    hi = np.empty((rows.shape[0], 2))
    for start in range(0, rows.shape[0], 16384):
        block = np.ascontiguousarray(xy[rows[start:start + 16384]].transpose(1, 0, 2))
        lo_b, hi_b = lo[start:start + 16384], hi[start:start + 16384]
        lo_b[:] = block[0]
        hi_b[:] = block[0]
        for j in range(1, xy.shape[1]):
            np.minimum(lo_b, block[j], out=lo_b)
            np.maximum(hi_b, block[j], out=hi_b)
    return lo, hi


def _result_areas(res: CocoResults, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Areas of the results ``rows`` as ``COCO.loadRes`` sets them (the first record of the
    file decides the rule); ``lo``/``hi``: their keypoint extent from :func:`_extent`."""
    extent = (hi[:, 0] - lo[:, 0]) * (hi[:, 1] - lo[:, 1])
    if len(res) and res.has_bbox[0]:
        # loadRes' bbox branch; pycocotools fails on records without a box there, posekit
        # falls back to their keypoint extent.
        box = res.bbox[rows]
        return np.where(res.has_bbox[rows], box[:, 2] * box[:, 3], extent)
    return extent


# --------------------------------------------------------------------------------------------
# Evaluation.


def _segment_last_argmax(key: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment (rows ``starts[s]:starts[s+1]``) and column: the last row holding the
    segment's maximum of ``key`` where that maximum is >= 0, else -1. ``key``: ``(P, C)``.

    Segments are short (a detection's candidate GTs), so they are padded into a dense
    ``(C, S, width)`` block and reduced with ``argmax`` over the reversed segments (the first
    maximum there is the last one here).
    """
    n_seg = starts.shape[0]
    lengths = np.diff(np.append(starts, key.shape[0]))
    width = int(lengths.max())
    seg = np.repeat(np.arange(n_seg), lengths)
    slot = width - 1 - (np.arange(key.shape[0]) - starts[seg])
    dense = np.full((key.shape[1], n_seg, width), -1.0)
    dense[:, seg, slot] = key.T
    j = dense.argmax(axis=2)
    best = np.take_along_axis(dense, j[:, :, None], axis=2)[:, :, 0]
    return np.where(best >= 0, starts[None, :] + (width - 1 - j), -1).T


def _match(oks: np.ndarray, pair_dt: np.ndarray, pair_gt: np.ndarray, dt_rank: np.ndarray,
           gt_ignore: np.ndarray, gt_crowd: np.ndarray, thresholds: np.ndarray):
    """Greedy matching for all images, thresholds and area ranges at once.

    ``oks``/``pair_dt``/``pair_gt``: candidate pairs (OKS >= the lowest threshold), grouped by
    detection, the GTs of a detection in annotation order. ``gt_ignore``: ``(NG, A)``.
    Returns the matches as four arrays ``(dt, threshold index, area index, gt)``.

    A detection with a single candidate GT that is no other detection's candidate simply takes
    it wherever the OKS reaches the threshold. The others are matched in rounds: round ``r``
    handles the ``r``-th detection (by score) of every image at once.
    """
    n_gt, n_area = gt_ignore.shape
    n_thr = thresholds.shape[0]
    dt_count = np.bincount(pair_dt, minlength=int(pair_dt.max(initial=-1)) + 1)
    gt_count = np.bincount(pair_gt, minlength=n_gt)
    simple = (dt_count[pair_dt] == 1) & (gt_count[pair_gt] == 1)
    p_idx, t_idx = np.nonzero(simple[:, None] & (oks[:, None] >= thresholds[None, :]))
    out = [(np.repeat(pair_dt[p_idx], n_area), np.repeat(t_idx, n_area),
            np.tile(np.arange(n_area), p_idx.size), np.repeat(pair_gt[p_idx], n_area))]
    hard = np.flatnonzero(~simple)
    if hard.size:
        oks, pair_dt, pair_gt = oks[hard], pair_dt[hard], pair_gt[hard]
        free = np.ones((n_gt, n_thr, n_area), dtype=bool)
        order = np.argsort(dt_rank[pair_dt], kind="stable")
        rank_sorted = dt_rank[pair_dt][order]
        bounds = np.searchsorted(rank_sorted, np.arange(rank_sorted[-1] + 2))
        for r in range(len(bounds) - 1):
            sel = order[bounds[r]:bounds[r + 1]]
            if sel.size == 0:
                continue
            d = pair_dt[sel]
            g = pair_gt[sel]
            o = oks[sel]
            starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
            cand = (o[:, None] >= thresholds[None, :])[:, :, None] & free[g]
            ign = gt_ignore[g][:, None, :]
            value = o[:, None, None]
            shape = (sel.shape[0], n_thr * n_area)
            pick = _segment_last_argmax(np.where(cand & ~ign, value, -1.0).reshape(shape), starts)
            if (pick < 0).any():
                fallback = _segment_last_argmax(np.where(cand & ign, value, -1.0).reshape(shape), starts)
                pick = np.where(pick >= 0, pick, fallback)
            pick = pick.reshape(-1, n_thr, n_area)
            s_idx, t_hit, a_hit = np.nonzero(pick >= 0)
            chosen = g[pick[s_idx, t_hit, a_hit]]
            out.append((d[starts][s_idx], t_hit, a_hit, chosen))
            regular = ~gt_crowd[chosen]
            free[chosen[regular], t_hit[regular], a_hit[regular]] = False
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _accumulate(matched: np.ndarray, ignored: np.ndarray, scores_sorted: np.ndarray, n_positive: int,
                recall_thresholds: np.ndarray):
    """pycocotools' accumulate for one category and area range.

    ``matched``/``ignored``: ``(T, nd)`` bool for the detections already in accumulation order
    (image order, then score order, then stably re-sorted by score); returns precision
    ``(T, R)``, recall ``(T,)`` and the scores at the recall points ``(T, R)``.

    Detections ignored at every threshold are dropped first: they change neither the TP nor the
    FP count, so recall and precision at them repeat the previous values, and the sampled points
    (the first position reaching each recall, the running maximum of precision behind it) are the
    same. Only the score reported for recall 0 refers to the very first detection.
    """
    n_thr, nd = matched.shape
    n_rec = recall_thresholds.shape[0]
    precision = np.zeros((n_thr, n_rec))
    score_at = np.zeros((n_thr, n_rec))
    if nd == 0:
        return precision, np.zeros(n_thr), score_at
    first_score = scores_sorted[0]
    keep = np.flatnonzero(~ignored.all(axis=0))
    if keep.size < nd:
        matched, ignored = np.take(matched, keep, axis=1), np.take(ignored, keep, axis=1)
        scores_sorted = scores_sorted[keep]
        nd = keep.size
        if nd == 0:
            score_at[:, recall_thresholds <= 0] = first_score
            return precision, np.zeros(n_thr), score_at
    counted = ~ignored
    tp_sum = np.cumsum(matched & counted, axis=1, dtype=np.float64)
    # fp + tp: the count of counted detections (exact small integers, as pycocotools' sum)
    seen = np.cumsum(counted, axis=1, dtype=np.float64)
    rc = tp_sum / n_positive
    pr = tp_sum / (seen + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    for t in range(n_thr):
        inds = np.searchsorted(rc[t], recall_thresholds, side="left")
        valid = inds < nd
        precision[t, valid] = pr[t, inds[valid]]
        score_at[t, valid] = scores_sorted[inds[valid]]
    score_at[:, recall_thresholds <= 0] = first_score
    return precision, rc[:, -1], score_at


def _summarize(precision: np.ndarray, recall: np.ndarray, params: CocoEvalParams) -> dict:
    labels = [label for label, _, _ in params.area_ranges]
    thr = params.oks_thresholds

    def mean(values: np.ndarray) -> float:
        kept = values[values > -1]
        return float(np.mean(kept)) if kept.size else -1.0

    def ap(iou=None, area="all"):
        s = precision
        if iou is not None:
            s = s[np.where(iou == thr)[0]]
        return mean(s[:, :, :, [labels.index(area)], :])

    def ar(iou=None, area="all"):
        s = recall
        if iou is not None:
            s = s[np.where(iou == thr)[0]]
        return mean(s[:, :, [labels.index(area)], :])

    values = [ap(), ap(0.5), ap(0.75), ap(area="medium"), ap(area="large"),
              ar(), ar(0.5), ar(0.75), ar(area="medium"), ar(area="large")]
    return dict(zip(STAT_NAMES, values))


def coco_keypoint_eval(gt: str | os.PathLike | dict | CocoGroundTruth,
                       results: str | os.PathLike | list | CocoResults,
                       params: CocoEvalParams | None = None) -> CocoEvalResult:
    """Evaluate keypoint results against ground truth; see the module docstring for the rules.

    ``gt``: a path, a loaded COCO dict or :class:`CocoGroundTruth`; ``results``: a path, a list
    of result dicts or :class:`~posekit.metrics.json_io.CocoResults`. Raises
    :class:`~posekit.metrics.json_io.CocoFormatError` (naming file, record and field) for bad
    input, including a result whose ``image_id`` is not an image of the ground truth.
    """
    params = params or CocoEvalParams()
    k = params.num_keypoints
    if not isinstance(gt, CocoGroundTruth):
        gt = load_coco_gt(gt, num_keypoints=k)
    if not isinstance(results, CocoResults):
        results = read_coco_results(results, keypoint_scores=params.drop_zero_confidence)
    if params.drop_zero_confidence and len(results) and results.keypoint_scores is None:
        raise CocoFormatError(f"{results.source}: drop_zero_confidence needs the keypoint confidences "
                              f"(read the results with keypoint_scores=True)")
    if gt.keypoints.shape[1] != k:
        raise CocoFormatError(f"{gt.source}: ground truth has {gt.keypoints.shape[1]} keypoints, "
                              f"the evaluation has {k} sigmas")
    if len(results) and results.keypoints.shape[1] != k:
        raise CocoFormatError(f"{results.source}: record 0: field 'keypoints' has {3 * results.keypoints.shape[1]} "
                              f"values, expected {3 * k} ({k} sigmas)")
    img = _image_index(gt, results)
    gt, image_map = _apply_gt_options(gt, params)
    img = image_map[img]
    n_img = len(gt.image_ids)
    n_cat = len(gt.category_ids)
    thresholds = np.minimum(params.oks_thresholds, 1 - 1e-10)
    areas = np.array([[lo, hi] for _, lo, hi in params.area_ranges], dtype=np.float64)
    n_thr, n_area, n_rec = len(thresholds), len(areas), len(params.recall_thresholds)

    # Detections: check image ids, drop unknown categories, order by (category, image, score).
    cat = _lookup(results.category_id, gt.category_ids)
    keep = np.flatnonzero((cat >= 0) & (img >= 0) & _confident(results, params))
    unit = cat[keep] * n_img + img[keep]
    by_score = np.argsort(-results.score[keep], kind="mergesort")
    order = keep[by_score[np.argsort(unit[by_score], kind="stable")]]
    dt_unit = cat[order] * n_img + img[order]
    first = np.r_[True, dt_unit[1:] != dt_unit[:-1]] if order.size else np.zeros(0, dtype=bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(order.size), 0)) if order.size else \
        first.astype(np.int64)
    rank = np.arange(order.size) - group_start
    kept = rank < params.max_dets
    order, dt_unit, rank = order[kept], dt_unit[kept], rank[kept]
    dt_score = results.score[order]
    kp_lo, kp_hi = _extent(results.keypoints, order)
    dt_area = _result_areas(results, order, kp_lo, kp_hi)
    n_dt = order.size

    # Ground truth per unit (category, image): contiguous thanks to load order.
    gt_unit = gt.category_index * n_img + gt.image_index
    gt_lo = np.searchsorted(gt_unit, dt_unit, side="left")
    gt_count = np.searchsorted(gt_unit, dt_unit, side="right") - gt_lo
    gt_ignore_area = (gt.ignore[:, None] | (gt.area[:, None] < areas[None, :, 0])
                      | (gt.area[:, None] > areas[None, :, 1]))

    # Candidate pairs: same unit, OKS possibly >= the lowest threshold.
    pair_dt = np.repeat(np.arange(n_dt), gt_count)
    within = np.arange(pair_dt.size) - np.repeat(np.cumsum(gt_count) - gt_count, gt_count)
    pair_gt = gt_lo[pair_dt] + within
    if pair_dt.size:
        lowest = float(thresholds.min())
        if lowest > 0:
            reach = oks_reach_boxes(gt.keypoints, gt.visible, gt.area, gt.bbox, params.sigmas, lowest)
            maybe = ((kp_lo[pair_dt, 0] <= reach[pair_gt, 2]) & (kp_hi[pair_dt, 0] >= reach[pair_gt, 0])
                     & (kp_lo[pair_dt, 1] <= reach[pair_gt, 3]) & (kp_hi[pair_dt, 1] >= reach[pair_gt, 1]))
            pair_dt, pair_gt = pair_dt[maybe], pair_gt[maybe]
        # A detection wholly inside the doubled box of a GT without labelled joints has all
        # distances 0 under pycocotools' rule: its OKS is exactly 1.0.
        bb = gt.bbox[pair_gt]
        inside = ((gt.visible.sum(axis=1) == 0)[pair_gt]
                  & (kp_lo[pair_dt, 0] >= bb[:, 0] - bb[:, 2]) & (kp_hi[pair_dt, 0] <= bb[:, 0] + bb[:, 2] * 2)
                  & (kp_lo[pair_dt, 1] >= bb[:, 1] - bb[:, 3]) & (kp_hi[pair_dt, 1] <= bb[:, 1] + bb[:, 3] * 2))
        oks = np.ones(pair_dt.shape[0])
        rest = np.flatnonzero(~inside)
        oks[rest] = oks_pairs(results.keypoints, gt.keypoints, gt.visible, gt.area, gt.bbox, params.sigmas,
                              order[pair_dt[rest]], pair_gt[rest], below=float(thresholds.min()))
        strong = oks >= thresholds.min()
        pair_dt, pair_gt, oks = pair_dt[strong], pair_gt[strong], oks[strong]
    else:
        oks = np.zeros(0)
    m_dt, m_thr, m_area, m_gt = _match(oks, pair_dt, pair_gt, rank, gt_ignore_area, gt.iscrowd, thresholds)

    # Per area range, threshold and detection (A, T, n_dt): matched, and ignored (matched to an
    # ignored GT, or unmatched and outside the area range).
    outside = (dt_area[None, :] < areas[:, 0, None]) | (dt_area[None, :] > areas[:, 1, None])
    matched = np.zeros((n_area, n_thr, n_dt), dtype=bool)
    matched[m_area, m_thr, m_dt] = True
    ignored = np.repeat(outside[:, None, :], n_thr, axis=1)
    ignored[m_area, m_thr, m_dt] = gt_ignore_area[m_gt, m_area]

    precision = -np.ones((n_thr, n_rec, n_cat, n_area, 1))
    recall = -np.ones((n_thr, n_cat, n_area, 1))
    scores = -np.ones((n_thr, n_rec, n_cat, n_area, 1))
    dt_cat = dt_unit // n_img if n_img else dt_unit
    for c in range(n_cat):
        rows = np.flatnonzero(dt_cat == c)
        rows = rows[np.argsort(-dt_score[rows], kind="mergesort")]
        matched_c = np.take(matched, rows, axis=2)  # C-contiguous, unlike matched[:, :, rows]
        ignored_c = np.take(ignored, rows, axis=2)
        gt_rows = gt.category_index == c
        for a in range(n_area):
            n_positive = int(np.count_nonzero(~gt_ignore_area[gt_rows, a]))
            if n_positive == 0:
                continue
            p, r, s = _accumulate(matched_c[a], ignored_c[a], dt_score[rows], n_positive,
                                  params.recall_thresholds)
            precision[:, :, c, a, 0] = p
            recall[:, c, a, 0] = r
            scores[:, :, c, a, 0] = s
    stats = _summarize(precision, recall, params)
    return CocoEvalResult(stats=stats, precision=precision, recall=recall, scores=scores, params=params,
                          category_ids=gt.category_ids)


def _area_table(result: CocoEvalResult, gt: CocoGroundTruth) -> dict:
    """Per area range of ``result.params``: AP, AP50, AP75, AR, AR50, AR75 (pycocotools' means
    over cells > -1, -1.0 where undefined) and ``num_gt``, the non-ignored GTs in the range."""
    params = result.params
    thr = params.oks_thresholds
    table = {}

    def mean(values: np.ndarray) -> float:
        kept = values[values > -1]
        return float(np.mean(kept)) if kept.size else -1.0

    for a, (label, lo, hi) in enumerate(params.area_ranges):
        prec = result.precision[:, :, :, a, :]
        rec = result.recall[:, :, a, :]
        at50, at75 = np.where(thr == 0.5)[0], np.where(thr == 0.75)[0]
        table[label] = {
            "AP": mean(prec), "AP50": mean(prec[at50]), "AP75": mean(prec[at75]),
            "AR": mean(rec), "AR50": mean(rec[at50]), "AR75": mean(rec[at75]),
            "num_gt": int(np.count_nonzero(~gt.ignore & (gt.area >= lo) & (gt.area <= hi))),
        }
    return table


def coco_keypoint_breakdown(gt: str | os.PathLike | dict | CocoGroundTruth,
                            results: str | os.PathLike | list | CocoResults,
                            params: CocoEvalParams | None = None,
                            keypoint_names: tuple[str, ...] | list[str] | None = None) -> dict:
    """Per-keypoint AP and the per-area-range table, beside the usual ten stats.

    Returns ``{"stats": {...ten stats...}, "areas": {label: {"AP", "AP50", "AP75", "AR",
    "AR50", "AR75", "num_gt"}}, "per_keypoint": {name: AP}}``. Names come from
    ``keypoint_names`` (``K`` of them), else ``"0"``..``"K-1"``.

    Area table: the pycocotools evaluation of ``params`` (all its options) summarised per area
    range (``all``, ``medium``, ``large`` by default; ``APm``/``APl`` of the stats are two of
    its cells).

    Per-keypoint AP is **posekit's definition** -- COCO defines no per-keypoint AP: for keypoint
    ``j`` the whole COCO protocol of ``params`` is rerun with the OKS of keypoint ``j`` alone,
    ``exp(-d_j**2 / (2 s**2 (2 sigma_j)**2))`` (the OKS formula restricted to that joint), and
    every GT whose keypoint ``j`` is not labelled (``v_j == 0``) is ignored in addition to the
    GTs the protocol ignores (like a GT without labelled joints: detections it absorbs count
    neither way). Matching, ``max_dets``, areas and the 101-point AP over OKS thresholds
    0.50:0.95 are unchanged; the value is that AP (``-1.0`` when no GT labels keypoint ``j``).
    """
    params = params or CocoEvalParams()
    k = params.num_keypoints
    if keypoint_names is not None and len(keypoint_names) != k:
        raise ValueError(f"coco_keypoint_breakdown: {len(keypoint_names)} keypoint_names for {k} sigmas")
    names = [str(n) for n in keypoint_names] if keypoint_names is not None else [str(j) for j in range(k)]
    if not isinstance(gt, CocoGroundTruth):
        gt = load_coco_gt(gt, num_keypoints=k)
    if not isinstance(results, CocoResults):
        results = read_coco_results(results, keypoint_scores=params.drop_zero_confidence)
    full = coco_keypoint_eval(gt, results, params)
    # Areas and ignore flags as params sets them (the image subset stays with params).
    prepared, _ = _apply_gt_options(gt, replace(params, image_ids=None))
    subset, _ = _apply_gt_options(gt, params)
    single = replace(params, use_area=True, gt_ignore="num_keypoints")
    per_keypoint = {}
    for j, name in enumerate(names):
        only = np.zeros_like(prepared.visible)
        only[:, j] = prepared.visible[:, j]
        gt_j = replace(prepared, visible=only, ignore=prepared.ignore | ~prepared.visible[:, j])
        per_keypoint[name] = coco_keypoint_eval(gt_j, results, single).stats["AP"]
    return {"stats": full.stats, "areas": _area_table(full, subset), "per_keypoint": per_keypoint}


def evaluate_coco_keypoints(gt: str | os.PathLike | dict | CocoGroundTruth,
                            results: str | os.PathLike | list | CocoResults,
                            sigmas: np.ndarray | None = None, *, max_dets: int = 20) -> dict:
    """COCO keypoint AP/AR as pycocotools computes them: a dict with keys
    ``AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl`` (``-1.0`` where undefined).

    ``gt``/``results``: paths or loaded objects (see :func:`coco_keypoint_eval`, which also
    returns the precision/recall arrays). ``sigmas``: ``(K,)`` OKS sigmas, default COCO-17.
    """
    params = CocoEvalParams(max_dets=max_dets) if sigmas is None else \
        CocoEvalParams(sigmas=np.asarray(sigmas, dtype=np.float64), max_dets=max_dets)
    return coco_keypoint_eval(gt, results, params).stats


def best_oks_match(gt: CocoGroundTruth, results: CocoResults, sigmas: np.ndarray | None = None) -> np.ndarray:
    """For each GT annotation (row of ``gt``): the result of the same image and category with
    the highest OKS, ``(NG,)`` int64 indices into ``results``, -1 where there is none.

    All results take part (no ``max_dets`` cut) and one result may serve several GTs; ties go
    to the earlier result in the file. Raises :class:`CocoFormatError` for unknown image ids.
    """
    sigmas = _default_sigmas() if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    n_img = len(gt.image_ids)
    img = _image_index(gt, results)
    cat = _lookup(results.category_id, gt.category_ids)
    keep = np.flatnonzero(cat >= 0)
    dt_unit = cat[keep] * n_img + img[keep]
    order = keep[np.argsort(dt_unit, kind="stable")]
    dt_unit = cat[order] * n_img + img[order]
    gt_unit = gt.category_index * n_img + gt.image_index
    lo = np.searchsorted(gt_unit, dt_unit, side="left")
    count = np.searchsorted(gt_unit, dt_unit, side="right") - lo
    pair_dt = np.repeat(order, count)
    pair_gt = np.repeat(lo, count) + (np.arange(pair_dt.size) - np.repeat(np.cumsum(count) - count, count))
    oks = oks_pairs(results.keypoints, gt.keypoints, gt.visible, gt.area, gt.bbox, sigmas, pair_dt, pair_gt)
    best = np.full(len(gt.area), -1, dtype=np.int64)
    if pair_dt.size:
        ranked = np.lexsort((pair_dt, -oks, pair_gt))
        first = ranked[np.r_[True, pair_gt[ranked][1:] != pair_gt[ranked][:-1]]]
        best[pair_gt[first]] = pair_dt[first]
    return best
