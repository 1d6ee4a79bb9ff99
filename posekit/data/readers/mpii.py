"""MPII Human Pose (16 joints, skeleton ``mpii16``), REFERENCE-METRICS-FORMATS.md B2 and A2.

Three layouts, one ``PoseSample`` per image in each:

- the official release ``mpii_human_pose_v1_u12_1.mat`` (struct ``RELEASE``):
  :func:`read_mpii_release`;
- the JSON conversion used by HRNet and MMPose (``annot/{train,valid,test}.json``, one record
  per person): :func:`read_mpii_json`, with head boxes from ``gt_valid.mat`` /
  ``mpii_gt_val.mat`` (:func:`read_mpii_head_boxes`);
- Newell's ``annot/{train,valid}.h5`` (pose-hg-train, one row per person): :func:`read_mpii_h5`.

The evaluators' own ground truth ``gt_valid.mat`` (joints, missing flags and head boxes, no
image names) is read by :func:`read_mpii_eval_gt` as arrays.

Coordinates: all three store MATLAB **1-based** pixels. The readers subtract 1 from joints,
centres and head boxes, giving posekit's 0-based coordinates (pixel centres at integers), as
HRNet's loader does. The official evaluators compare 1-based predictions with the 1-based
ground truth (HRNet / MMPose add +1 to 0-based predictions), so a posekit metric can compare
0-based predictions with these 0-based joints directly; the head size (a box diagonal) does
not change with the shift.

Visibility (COCO codes): the JSON's ``joints_vis`` means *annotated*, so annotated -> 2 and
not annotated -> 0. The release's ``is_visible`` and the ``.h5``'s ``visible`` give occlusion:
annotated and visible -> 2, annotated and ``is_visible`` 0 -> 1; in the release an annotated
point whose ``is_visible`` is empty (it happens) counts as visible (2). Unannotated joints
get coordinates (0, 0). The official PCKh ignores occlusion (all annotated joints count).

``meta`` (per image): ``file``, ``centers (N, 2)`` (0-based ``objpos``/``center``),
``scales (N,)`` (MPII ``scale``: person height / 200 px), ``head_sizes (N,)`` float64 (PCKh's
normaliser ``0.6 * |head box diagonal|``, where known, computed from the float64 boxes) and ``head_boxes (N, 4)`` (0-based xyxy,
where known). ``boxes`` are the MMPose 1.x person boxes: a square of side ``200 * scale`` around
the centre moved down by ``15 * scale`` px.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.common import (boxes_from_center_scale, boxes_from_keypoints,
                                         check_shape, float_array, format_error, get_field, image_file,
                                         load_h5, load_mat, mat_field, mat_float, mat_items, mat_text,
                                         read_json, require_keys)
from posekit.skeletons import get_skeleton
from posekit.structures import PoseSample

__all__ = ["read_mpii", "read_mpii_release", "read_mpii_json", "read_mpii_h5", "read_mpii_head_boxes",
           "read_mpii_eval_gt", "HEAD_SIZE_FACTOR"]

#: PCKh head size = HEAD_SIZE_FACTOR * |head box diagonal| (official ``util_get_head_size.m``: SC_BIAS = 0.6).
HEAD_SIZE_FACTOR = 0.6
#: MPII centre offset: the person-box centre is ``objpos`` moved down by this many ``scale`` units
#: (HRNet and MMPose 1.x loaders).
CENTER_Y_OFFSET = 15.0
#: Newell's ``.h5`` stores ``scale * 1.25`` and ``objpos + (0, 15 * scale)`` (checked on the fixtures:
#: ``valid.h5`` row 0 against ``test_mpii.json`` record 0).
_H5_SCALE_FACTOR = 1.25

_NUM_JOINTS = 16


def read_mpii(path: str | Path, **kwargs: Any) -> Iterator[PoseSample]:
    """Any MPII layout, chosen by suffix: ``.mat`` release, ``.json`` conversion, ``.h5`` (Newell)."""
    suffix = Path(path).suffix.lower()
    readers = {".mat": read_mpii_release, ".json": read_mpii_json, ".h5": read_mpii_h5}
    if suffix not in readers:
        raise format_error(path, None, None, f"has suffix {suffix!r}; MPII files are .mat (release), "
                                             f".json (HRNet/MMPose conversion) or .h5 (pose-hg-train)")
    return readers[suffix](path, **kwargs)


def _person_boxes(centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
    shifted = centers + np.stack([np.zeros_like(scales), CENTER_Y_OFFSET * scales], axis=1)
    return boxes_from_center_scale(shifted, scales)


def _head_sizes(head_boxes: np.ndarray) -> np.ndarray:
    """PCKh head sizes ``(N,)`` of ``(N, 4)`` xyxy head boxes, in float64 from float64 boxes: a
    float32 size (or box) moves joints lying exactly on a PCKh threshold."""
    boxes = np.asarray(head_boxes, np.float64)
    return HEAD_SIZE_FACTOR * np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=1)


def _grouped(names: list[str]) -> list[tuple[str, list[int]]]:
    """``(image name, record indices)`` in order of each image's first record."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    return list(groups.items())


def _sample(name: str, image_dir: str | Path | None, keypoints: np.ndarray, visibility: np.ndarray,
            boxes: np.ndarray, ids: np.ndarray, meta: dict[str, Any]) -> PoseSample:
    keypoints = np.where(visibility[..., None] > 0, keypoints, 0.0)
    return PoseSample(image=None, keypoints=keypoints.astype(np.float32), visibility=visibility.astype(np.uint8),
                      boxes=boxes.astype(np.float32), skeleton=get_skeleton("mpii16"), ids=ids,
                      meta={"file": image_file(image_dir, name), **meta})


# --- JSON conversion (HRNet / MMPose) --------------------------------------------------------------------


def read_mpii_head_boxes(path: str | Path) -> np.ndarray:
    """Head boxes ``(N, 4)`` xyxy, 0-based, of ``gt_valid.mat`` / ``mpii_gt_val.mat``.

    Those files hold ``headboxes_src`` of shape ``(2, 2, N)``: (top-left, bottom-right) x (x, y)
    x person, 1-based, in the order of ``valid.json``.
    """
    return _head_boxes(load_mat(path), path).astype(np.float32)


def _one_person_axis(array: Any, person_shape: tuple[int, ...]) -> np.ndarray:
    """``array`` with its trailing person axis restored when the file holds one person.

    :func:`load_mat` reads with ``squeeze_me=True``, which drops every length-1 axis: a
    ``gt_valid.mat`` of one person stores ``pos_gt_src (16, 2, 1)``, ``jnt_missing (16, 1)`` and
    ``headboxes_src (2, 2, 1)`` but they load as ``(16, 2)``, ``(16,)`` and ``(2, 2)``. An array of
    exactly ``person_shape`` (one person's block) gets the axis back; anything else is returned
    unchanged for the caller's shape check. Only length-1 axes are squeezed, so ``N >= 2`` files
    keep their layout and this cannot misread them.
    """
    array = np.asarray(array)
    return array[..., None] if array.shape == person_shape else array


def _head_boxes(arrays: dict[str, Any], path: str | Path) -> np.ndarray:
    """``(N, 4)`` float64 0-based xyxy head boxes of ``headboxes_src (2, 2, N)`` (a one-person
    file's squeezed ``(2, 2)`` is read as ``N = 1``)."""
    require_keys(arrays, ["headboxes_src"], path)
    src = check_shape(_one_person_axis(arrays["headboxes_src"], (2, 2)), (2, 2, None), path, "headboxes_src")
    return src.transpose(2, 0, 1).reshape(-1, 4) - 1.0


def read_mpii_eval_gt(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The evaluation ground truth ``gt_valid.mat`` (HRNet / bearpaw ``eval_PCKh.py``) or MMPose's
    ``mpii_gt_val.mat``: ``(joints (N, 16, 2), annotated (N, 16) bool, head_boxes (N, 4))``.

    Those files hold ``pos_gt_src (16, 2, N)`` (joint x joint-coordinate x person, MATLAB
    1-based pixels), ``jnt_missing (16, N)`` (1 = not annotated; the evaluators' mask is
    ``1 - jnt_missing``) and ``headboxes_src (2, 2, N)``, people in the order of ``valid.json``
    (a one-person file, whose arrays scipy / MATLAB squeeze to ``(16, 2)``, ``(16,)`` and
    ``(2, 2)``, is read as ``N = 1``).
    Joints and head boxes come back 0-based float64 (as every posekit MPII reader gives them;
    float64 so that head sizes equal the evaluators' to the last bit); unannotated joints are
    (0, 0). The file names no images, so it is not a ``PoseSample`` stream.
    """
    arrays = load_mat(path)
    require_keys(arrays, ["pos_gt_src", "jnt_missing", "headboxes_src"], path)
    pos = check_shape(_one_person_axis(arrays["pos_gt_src"], (_NUM_JOINTS, 2)), (_NUM_JOINTS, 2, None), path,
                      "pos_gt_src")
    n = pos.shape[2]
    missing = check_shape(_one_person_axis(arrays["jnt_missing"], (_NUM_JOINTS,)), (_NUM_JOINTS, n), path,
                          "jnt_missing")
    bad = ~np.isin(missing, (0, 1))
    if bad.any():
        joint, person = np.argwhere(bad)[0]
        raise format_error(path, f"person {person + 1}", "jnt_missing", f"is {missing[joint, person]:g} for joint "
                                                                         f"{joint}, expected 0 or 1")
    head_boxes = _head_boxes(arrays, path)
    if len(head_boxes) != n:
        raise format_error(path, None, "headboxes_src", f"has {len(head_boxes)} boxes for the {n} people of "
                                                        f"'pos_gt_src'")
    annotated = (missing == 0).T
    joints = np.where(annotated[..., None], pos.transpose(2, 0, 1) - 1.0, 0.0)
    return joints, annotated, head_boxes


def read_mpii_json(path: str | Path, image_dir: str | Path | None = None,
                   head_boxes: str | Path | None = None) -> Iterator[PoseSample]:
    """The HRNet/MMPose JSON (a list of ``{image, center, scale, joints [[x, y]]*16, joints_vis}``).

    Records are grouped by image; ``ids`` are the record indices in the file (the order of
    ``gt_valid.mat`` and of the evaluators' prediction arrays). ``test.json`` records without
    ``joints``/``joints_vis`` give people with no labelled joint. ``head_boxes``: the path of
    ``gt_valid.mat`` / ``mpii_gt_val.mat`` (one box per record), which adds ``meta["head_boxes"]``
    and ``meta["head_sizes"]``.
    """
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list):
        raise format_error(path, "top level", None, f"is a {type(records).__name__}, expected a list of people")
    n = len(records)
    names, centers, scales = [], np.zeros((n, 2)), np.zeros(n)
    joints, labelled = np.zeros((n, _NUM_JOINTS, 2)), np.zeros((n, _NUM_JOINTS), bool)
    for i, rec in enumerate(records):
        where = f"[{i}]"
        name = get_field(rec, "image", path, where)
        if not isinstance(name, str):
            raise format_error(path, where, "image", f"is {name!r}, expected a file name")
        where = f"[{i}] (image {name})"
        names.append(name)
        centers[i] = float_array(get_field(rec, "center", path, where), (2,), path, where, "center") - 1.0
        scales[i] = float_array(get_field(rec, "scale", path, where), (), path, where, "scale")
        if "joints" in rec or "joints_vis" in rec:
            joints[i] = float_array(get_field(rec, "joints", path, where), (_NUM_JOINTS, 2), path, where,
                                    "joints") - 1.0
            labelled[i] = float_array(get_field(rec, "joints_vis", path, where), (_NUM_JOINTS,), path, where,
                                      "joints_vis") > 0
    boxes_all = None
    if head_boxes is not None:
        boxes_all = _head_boxes(load_mat(head_boxes), head_boxes)  # float64: exact head sizes
        if len(boxes_all) != n:
            raise format_error(head_boxes, None, "headboxes_src", f"has {len(boxes_all)} boxes but {path} has "
                                                                  f"{n} people")
    samples = []
    for name, idx in _grouped(names):
        meta: dict[str, Any] = {"centers": centers[idx].astype(np.float32),
                                "scales": scales[idx].astype(np.float32)}
        if boxes_all is not None:
            meta["head_boxes"] = boxes_all[idx].astype(np.float32)
            meta["head_sizes"] = _head_sizes(boxes_all[idx])
        samples.append(_sample(name, image_dir, joints[idx], np.where(labelled[idx], 2, 0),
                               _person_boxes(centers[idx], scales[idx]), np.array(idx, np.int64), meta))
    return iter(samples)


# --- Newell's .h5 ----------------------------------------------------------------------------------------


def read_mpii_h5(path: str | Path, image_dir: str | Path | None = None) -> Iterator[PoseSample]:
    """pose-hg-train's ``annot/{train,valid}.h5``: rows ``imgname``, ``part (N, 16, 2)``,
    ``visible (N, 16)``, ``center (N, 2)``, ``scale (N,)``, ``normalize (N,)`` (head size).

    Rows are grouped by image; ``ids`` are the row indices. A joint is annotated where
    ``part`` is not (0, 0) (Newell's marker for a missing joint). The stored centre and
    scale are converted back to the release's ``objpos`` and ``scale`` (``meta["centers"]``,
    ``meta["scales"]``), so all MPII readers agree. ``meta["head_sizes"]`` = ``normalize``.
    """
    path = Path(path)
    arrays = load_h5(path)
    require_keys(arrays, ["imgname", "part", "visible", "center", "scale", "normalize"], path)
    part = check_shape(arrays["part"], (None, _NUM_JOINTS, 2), path, "part")
    n = len(part)
    visible = check_shape(arrays["visible"], (n, _NUM_JOINTS), path, "visible")
    center = check_shape(arrays["center"], (n, 2), path, "center")
    scale = check_shape(arrays["scale"], (n,), path, "scale") / _H5_SCALE_FACTOR
    head_sizes = check_shape(arrays["normalize"], (n,), path, "normalize")
    raw_names = np.asarray(arrays["imgname"])
    if raw_names.shape != (n,):
        raise format_error(path, None, "imgname", f"has shape {raw_names.shape}, expected ({n},)")
    names = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in raw_names]
    centers = center - np.stack([np.zeros(n), CENTER_Y_OFFSET * scale], axis=1) - 1.0
    annotated = np.any(part != 0, axis=2)
    vis = np.where(annotated, np.where(visible > 0, 2, 1), 0)
    return iter([_sample(name, image_dir, part[idx] - 1.0, vis[idx], _person_boxes(centers[idx], scale[idx]),
                         np.array(idx, np.int64),
                         {"centers": centers[idx].astype(np.float32), "scales": scale[idx].astype(np.float32),
                          "head_sizes": head_sizes[idx].astype(np.float64)})
                 for name, idx in _grouped(names)])


# --- official release .mat ---------------------------------------------------------------------------------


def _visible_flag(value: Any, path: Path, where: str) -> int | None:
    """``is_visible`` as 0/1, or ``None`` where it is empty (unknown)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, np.ndarray)):
        value = mat_text(value).strip()
    try:
        flag = float(value)
    except (TypeError, ValueError):
        raise format_error(path, where, "is_visible", f"is {value!r}, expected 0, 1 or empty") from None
    if flag not in (0, 1):
        raise format_error(path, where, "is_visible", f"is {flag:g}, expected 0, 1 or empty")
    return int(flag)


def _rect_points(rect: Any, path: Path, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(joints (16, 2) 1-based, visibility (16,) COCO codes)`` of an annorect, or ``None``."""
    annopoints = mat_field(rect, "annopoints")
    if annopoints is None:
        return None
    points = mat_items(mat_field(annopoints, "point"))
    if not points:
        return None
    joints, vis = np.zeros((_NUM_JOINTS, 2)), np.zeros(_NUM_JOINTS, np.uint8)
    for k, point in enumerate(points, 1):
        pwhere = f"{where}.annopoints.point({k})"
        joint = mat_float(point, "id", path, pwhere)
        if joint != int(joint) or not 0 <= joint < _NUM_JOINTS:
            raise format_error(path, pwhere, "id", f"is {joint:g}, expected a joint id 0..{_NUM_JOINTS - 1}")
        joint = int(joint)
        if vis[joint]:
            raise format_error(path, pwhere, "id", f"= {joint} repeats a joint of the same person")
        joints[joint] = mat_float(point, "x", path, pwhere), mat_float(point, "y", path, pwhere)
        vis[joint] = 1 if _visible_flag(mat_field(point, "is_visible"), path, pwhere) == 0 else 2
    return joints, vis


def read_mpii_release(path: str | Path, image_dir: str | Path | None = None) -> Iterator[PoseSample]:
    """The official ``mpii_human_pose_v1_u12_1.mat`` (struct ``RELEASE``), one sample per ``annolist`` entry.

    People are the ``annorect`` entries that have keypoints or ``objpos`` + ``scale`` (test
    images have only the latter: people with no labelled joint). ``ids`` are the 1-based
    ``annorect`` indices (the numbering ``single_person`` uses). Person ``boxes`` come from
    centre and scale, or from the labelled joints where those are missing. ``meta`` adds
    ``head_boxes``/``head_sizes`` (NaN where a rect has no head box), ``img_train`` (bool),
    ``single_person`` (list of 1-based rect indices), ``activity`` (``cat_name``,
    ``act_name``, ``act_id``), ``frame_sec`` and ``vididx`` where the file has them.
    Records in errors use MATLAB's 1-based indexing: ``annolist(12).annorect(2)``.
    """
    path = Path(path)
    data = load_mat(path)
    if "RELEASE" not in data and "pos_gt_src" in data:
        raise format_error(path, None, "RELEASE", "is missing: this is an evaluation ground truth (gt_valid.mat "
                                                  "layout), read it with read_mpii_eval_gt or posekit eval "
                                                  "--metric pckh --gt")
    require_keys(data, ["RELEASE"], path)
    release = data["RELEASE"]
    annolist = mat_items(mat_field(release, "annolist"))
    if not annolist:
        raise format_error(path, "RELEASE", "annolist", "is missing or empty")
    img_train = mat_field(release, "img_train")
    img_train = None if img_train is None else np.atleast_1d(np.asarray(img_train, np.float64))
    single = getattr(release, "single_person", None)  # an (N, 1) cell, squeezed; one image: its content
    if single is not None:
        single = [single] if len(annolist) == 1 else list(np.asarray(single, dtype=object).ravel())
    act = mat_field(release, "act")
    act = None if act is None else mat_items(act)
    for name, table in (("img_train", img_train), ("single_person", single), ("act", act)):
        if table is not None and len(table) != len(annolist):
            raise format_error(path, "RELEASE", name, f"has {len(table)} entries for {len(annolist)} images")
    return _release_samples(path, annolist, img_train, single, act, image_dir)


def _release_samples(path: Path, annolist: list, img_train: np.ndarray | None, single: list | None,
                     act: list | None, image_dir: str | Path | None) -> Iterator[PoseSample]:
    for i, entry in enumerate(annolist):
        where = f"annolist({i + 1})"
        image = mat_field(entry, "image")
        name = mat_text(mat_field(image, "name")) if image is not None else ""
        if not name:
            raise format_error(path, where, "image.name", "is missing or empty")
        ids, kps, vis, centers, scales, heads = [], [], [], [], [], []
        for j, rect in enumerate(mat_items(mat_field(entry, "annorect")), 1):
            rwhere = f"{where}.annorect({j})"
            points = _rect_points(rect, path, rwhere)
            objpos, scale = mat_field(rect, "objpos"), mat_field(rect, "scale")
            has_centre = objpos is not None and scale is not None
            if points is None and not has_centre:
                continue
            ids.append(j)
            joints, codes = points if points is not None else (np.zeros((_NUM_JOINTS, 2)), np.zeros(_NUM_JOINTS))
            kps.append(joints - 1.0)
            vis.append(codes)
            if has_centre:
                centers.append([mat_float(objpos, "x", path, f"{rwhere}.objpos") - 1.0,
                                mat_float(objpos, "y", path, f"{rwhere}.objpos") - 1.0])
                scales.append(mat_float(rect, "scale", path, rwhere))
            else:
                centers.append([np.nan, np.nan])
                scales.append(np.nan)
            corners = [mat_field(rect, c) for c in ("x1", "y1", "x2", "y2")]
            heads.append([mat_float(rect, c, path, rwhere) - 1.0 for c in ("x1", "y1", "x2", "y2")]
                         if all(v is not None for v in corners) else [np.nan] * 4)
        kps_a = np.array(kps, np.float64).reshape(-1, _NUM_JOINTS, 2)
        vis_a = np.array(vis, np.uint8).reshape(-1, _NUM_JOINTS)
        centers_a = np.array(centers, np.float64).reshape(-1, 2)
        scales_a = np.array(scales, np.float64)
        heads_a = np.array(heads, np.float64).reshape(-1, 4)
        boxes = _person_boxes(centers_a, scales_a)
        missing = np.isnan(scales_a)
        boxes[missing] = boxes_from_keypoints(kps_a[missing], vis_a[missing])
        meta: dict[str, Any] = {"centers": centers_a.astype(np.float32), "scales": scales_a.astype(np.float32),
                                "head_boxes": heads_a.astype(np.float32), "head_sizes": _head_sizes(heads_a)}
        if img_train is not None:
            meta["img_train"] = bool(img_train[i])
        if single is not None:
            meta["single_person"] = [int(v) for v in mat_items(single[i])]
        if act is not None:
            act_id = mat_field(act[i], "act_id")
            meta["activity"] = {"cat_name": mat_text(mat_field(act[i], "cat_name")),
                                "act_name": mat_text(mat_field(act[i], "act_name")),
                                "act_id": -1 if act_id is None else int(act_id)}
        for key in ("frame_sec", "vididx"):
            value = mat_field(entry, key)
            if value is not None:
                meta[key] = int(value)
        yield _sample(name, image_dir, kps_a, vis_a, boxes, np.array(ids, np.int64), meta)

