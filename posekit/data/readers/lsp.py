"""Leeds Sports Pose (LSP) and LSP-extended ``joints.mat`` (14 joints, skeleton ``lsp14``),
REFERENCE-METRICS-FORMATS.md B3.

The variable ``joints`` holds x, y (MATLAB **1-based** pixels) and a per-joint flag, in one of
two orientations and with two flag conventions:

- LSP (``lsp_dataset/joints.mat``, and eval_pose's ``lsp-joints-{PC,OC}.mat``): ``3 x 14 x N``,
  flag **0 = visible, 1 = occluded**; images ``im0001.jpg`` ... (1-1000 train, 1001-2000 test);
- LSP-extended (``lspet_dataset/joints.mat``): ``14 x 3 x N``, flag **1 = visible,
  0 = occluded**; images ``im00001.jpg`` ..., all train.

Every joint is labelled in both, occluded ones included, so visibility is 2 (visible) or 1
(occluded). The readers subtract 1 from x and y (posekit's 0-based pixel centres). LSP/FLIC
PCK normalises by a distance between two ground-truth joints, so the shift does not change
it as long as predictions are 0-based too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from posekit.data.readers.common import (boxes_from_keypoints, check_shape, format_error, image_file, load_mat,
                                         require_keys)
from posekit.skeletons import get_skeleton
from posekit.structures import PoseSample

__all__ = ["read_lsp", "LSP_VISIBLE_FLAG"]

#: The flag value meaning "visible" in each variant (the other value means occluded).
LSP_VISIBLE_FLAG: dict[str, int] = {"lsp": 0, "lspet": 1}
_IMAGE_DIGITS = {"lsp": 4, "lspet": 5}
_LSP_TRAIN_IMAGES = 1000
_NUM_JOINTS = 14


def read_lsp(path: str | Path, image_dir: str | Path | None = None, visible_flag: int | None = None
             ) -> Iterator[PoseSample]:
    """A ``joints.mat`` as one ``PoseSample`` (one person) per image, image order.

    The variant is told by the orientation: ``3 x 14 x N`` is LSP, ``14 x 3 x N`` LSP-extended.
    ``visible_flag`` overrides the variant's flag convention (see :data:`LSP_VISIBLE_FLAG`) for
    files that were re-saved the other way. ``boxes`` are the
    tight boxes of the 14 joints (LSP has no person box); ``ids`` = ``[0]``. ``meta``: ``file``
    (``im0001.jpg`` / ``im00001.jpg``), ``index`` (1-based image number), ``split``
    (``"train"``/``"test"``; LSP's first 1000 images are train).
    """
    arrays = load_mat(path)
    require_keys(arrays, ["joints"], path)
    joints = np.asarray(arrays["joints"])
    if joints.ndim == 2:  # a single image, squeezed by the loader
        joints = joints[..., None]
    variant = {(3, _NUM_JOINTS): "lsp", (_NUM_JOINTS, 3): "lspet"}.get(joints.shape[:2])
    if joints.ndim != 3 or variant is None:
        raise format_error(path, None, "joints", f"has shape {joints.shape}, expected 3 x 14 x N (LSP) "
                                                 f"or 14 x 3 x N (LSP-extended)")
    joints = check_shape(joints, joints.shape, path, "joints")
    per_image = joints.transpose(2, 1, 0) if variant == "lsp" else joints.transpose(2, 0, 1)  # (N, 14, 3)
    flag = LSP_VISIBLE_FLAG[variant] if visible_flag is None else visible_flag
    flags = per_image[..., 2]
    bad = ~np.isin(flags, [0, 1])
    if bad.any():
        n, k = np.argwhere(bad)[0]
        raise format_error(path, f"image {n + 1}", "joints", f"has visibility flag {flags[n, k]:g} at joint {k}, "
                                                             f"expected 0 or 1")
    vis = np.where(flags == flag, 2, 1).astype(np.uint8)
    sk = get_skeleton("lsp14")
    digits = _IMAGE_DIGITS[variant]
    samples = []
    for n in range(per_image.shape[0]):
        kps = (per_image[n, :, :2] - 1.0)[None].astype(np.float32)
        split = "test" if variant == "lsp" and n >= _LSP_TRAIN_IMAGES else "train"
        samples.append(PoseSample(image=None, keypoints=kps, visibility=vis[n][None],
                                  boxes=boxes_from_keypoints(kps, vis[n][None]), skeleton=sk,
                                  ids=np.zeros(1, np.int64),
                                  meta={"file": image_file(image_dir, f"im{n + 1:0{digits}d}.jpg"),
                                        "index": n + 1, "split": split}))
    return iter(samples)
