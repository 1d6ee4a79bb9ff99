"""Point sets of the synthetic generator, taken from :mod:`posekit.skeletons`.

The superset ``synth30`` is the 24 SMPL joints in SMPL order followed by six rigid
landmarks on the head (nose, eyes, ears, head top); COCO-17 is taken from it by name.
"""
from __future__ import annotations

import numpy as np

from posekit.skeletons import get_skeleton

_SYNTH = get_skeleton("synth30")
_COCO = get_skeleton("coco17")

POINT_NAMES: tuple[str, ...] = tuple(_SYNTH.names)
PARENTS: tuple[int, ...] = tuple(int(p) for p in _SYNTH.parents)
NUM_JOINTS = 24  # articulated joints; points 24..29 are rigid landmarks of ``head``
INDEX = {name: i for i, name in enumerate(POINT_NAMES)}

COCO17_NAMES: tuple[str, ...] = tuple(_COCO.names)
# 1-based limb list of the COCO person category, as in person_keypoints_*.json.
COCO17_SKELETON: tuple[tuple[int, int], ...] = tuple((int(a) + 1, int(b) + 1) for a, b in _COCO.link_indices)
COCO17_FROM_SYNTH = np.array([INDEX[n] for n in COCO17_NAMES], dtype=np.int64)


def mirror_index() -> np.ndarray:
    """Index array ``m`` with ``m[i]`` = the point that ``i`` becomes under a left/right mirror."""
    return np.asarray(_SYNTH.flip_indices, dtype=np.int64)
