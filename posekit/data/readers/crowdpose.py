"""CrowdPose ground truth (COCO-style JSON, 14 joints), REFERENCE-METRICS-FORMATS.md B6.

Layout: ``images[{file_name, id, height, width, crowdIndex}]``, ``annotations[{num_keypoints,
iscrowd, keypoints [x, y, v]*14, image_id, bbox [x, y, w, h], category_id, id}]``. There is no
``area`` field, ``num_keypoints`` counts v = 2 only, and the ``categories`` skeleton is
COCO's by mistake (ignored here: the skeleton is posekit's ``crowdpose14``). Keypoints are
0-based pixels as in COCO and are kept as stored; v is the COCO 0/1/2 code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from posekit.data.readers.coco import coco_samples
from posekit.data.readers.common import float_array, get_field
from posekit.structures import PoseSample

__all__ = ["read_crowdpose"]


def read_crowdpose(path: str | Path, image_dir: str | Path | None = None) -> Iterator[PoseSample]:
    """CrowdPose ground truth as one ``PoseSample`` per image (skeleton ``crowdpose14``).

    As :func:`posekit.data.readers.coco.read_coco`, plus ``meta["crowd_index"]`` (the image's
    ``crowdIndex`` in [0, 1]; the evaluator's easy/medium/hard split is < 0.2, < 0.8, else).
    """
    samples, images = coco_samples(path, "crowdpose14", image_dir)
    for i, (sample, image) in enumerate(zip(samples, images)):
        where = f"images[{i}] (id {sample.meta['image_id']})"
        sample.meta["crowd_index"] = float(float_array(get_field(image, "crowdIndex", path, where), (),
                                                       path, where, "crowdIndex"))
    return iter(samples)
