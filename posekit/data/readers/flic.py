"""FLIC ``examples.mat`` (Frames Labeled In Cinema), REFERENCE-METRICS-FORMATS.md B4.

A struct array (variable ``examples``; eval_pose's ``flic-joints-oc.mat`` stores the same
struct as ``flic_anno``) of 5003 frames with fields ``coords`` (2 x 29, MATLAB **1-based**
pixels, NaN where not labelled), ``filepath``, ``torsobox`` ([x1 y1 x2 y2]), ``imgdims``
([h w 3]), ``moviename``, ``currframe``, ``istrain``, ``istest``, ``poselet_hit_idx``.

Only 11 of the 29 slots are labelled; the skeleton ``flic`` holds those 11, in slot order
(:data:`posekit.skeletons.FLIC_SLOTS`). FLIC has no occlusion flag: a labelled joint is 2,
a NaN one 0 with coordinates (0, 0). The reader subtracts 1 from coordinates and torso
boxes (posekit's 0-based pixel centres); FLIC PCK/PDJ normalise by a ground-truth joint
distance, which the shift does not change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.common import (boxes_from_keypoints, float_array, format_error, image_file, load_mat,
                                         mat_field, mat_float, mat_items, mat_text)
from posekit.skeletons import FLIC_SLOTS, get_skeleton
from posekit.structures import PoseSample

__all__ = ["read_flic"]

_NUM_SLOTS = 29


def _find_struct(arrays: dict[str, Any], path: Path, variable: str | None) -> tuple[str, list]:
    if variable is not None:
        if variable not in arrays:
            raise format_error(path, None, variable, f"is missing (present: {sorted(arrays)})")
        return variable, mat_items(arrays[variable])
    found = [name for name, value in arrays.items()
             if mat_items(value) and hasattr(mat_items(value)[0], "coords")]
    if len(found) != 1:
        raise format_error(path, None, "examples", f"not found: expected one struct array with a 'coords' "
                                                   f"field, found {found or 'none'} among {sorted(arrays)}")
    return found[0], mat_items(arrays[found[0]])


def read_flic(path: str | Path, image_dir: str | Path | None = None, variable: str | None = None
              ) -> Iterator[PoseSample]:
    """FLIC frames as one ``PoseSample`` (one person) per struct element, in file order.

    ``variable`` names the struct (default: the one struct array with a ``coords`` field).
    ``keypoints (1, 11, 2)`` 0-based, ``visibility (1, 11)`` 2/0, ``boxes`` = tight box of the
    labelled joints, ``ids`` = ``[0]``. ``meta``: ``file`` (``filepath``, under ``image_dir``
    if given), ``index`` (1-based element), ``torso_boxes (1, 4)`` (0-based xyxy), and where
    present ``image_size`` (w, h), ``movie``, ``frame``, ``split`` (``"train"``/``"test"``
    from ``istrain``/``istest``).
    """
    path = Path(path)
    name, examples = _find_struct(load_mat(path), path, variable)
    sk = get_skeleton("flic")
    slots = np.asarray(FLIC_SLOTS)
    samples = []
    for i, ex in enumerate(examples):
        where = f"{name}({i + 1})"
        coords = mat_field(ex, "coords")
        if coords is None:
            raise format_error(path, where, "coords", "is missing or empty")
        coords = float_array(coords, (2, None), path, where, "coords")
        if coords.shape[1] != _NUM_SLOTS:
            raise format_error(path, where, "coords", f"has {coords.shape[1]} joint slots, expected {_NUM_SLOTS}")
        filepath = mat_text(mat_field(ex, "filepath"))
        if not filepath:
            raise format_error(path, where, "filepath", "is missing or empty")
        joints = coords[:, slots].T  # (11, 2), 1-based
        labelled = np.isfinite(joints).all(axis=1)
        kps = np.where(labelled[:, None], joints - 1.0, 0.0)[None].astype(np.float32)
        vis = np.where(labelled, 2, 0).astype(np.uint8)[None]
        meta: dict[str, Any] = {"file": image_file(image_dir, filepath), "index": i + 1}
        torso = mat_field(ex, "torsobox")
        if torso is not None:
            meta["torso_boxes"] = (float_array(torso, (4,), path, where, "torsobox") - 1.0)[None].astype(np.float32)
        dims = mat_field(ex, "imgdims")
        if dims is not None:
            dims = float_array(dims, (None,), path, where, "imgdims")
            meta["image_size"] = (int(dims[1]), int(dims[0]))
        if mat_field(ex, "moviename") is not None:
            meta["movie"] = mat_text(mat_field(ex, "moviename"))
        if mat_field(ex, "currframe") is not None:
            meta["frame"] = int(mat_float(ex, "currframe", path, where))
        if mat_field(ex, "istest") is not None:
            meta["split"] = "test" if mat_float(ex, "istest", path, where) else "train"
        samples.append(PoseSample(image=None, keypoints=kps, visibility=vis, boxes=boxes_from_keypoints(kps, vis),
                                  skeleton=sk, ids=np.zeros(1, np.int64), meta=meta))
    return iter(samples)
