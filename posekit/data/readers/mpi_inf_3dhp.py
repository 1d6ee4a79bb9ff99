"""MPI-INF-3DHP as MMPose packs it (SPIN-style npz), REFERENCE-METRICS-FORMATS.md B8 and A4.3.

Arrays: ``imgname`` (train ``S4_Seq2_Cam0_001033.jpg``, test ``TS1_002001.jpg``), ``center
(N, 2)``, ``scale (N,)`` (box side / 200), ``part (N, 17, 3)`` (pixels + 0/1 flag; 0 marks
e.g. a joint outside the image, whose coordinates are still given), ``S (N, 17, 4)`` (camera
frame, metres + flag). The 17 joints are the test set's "relevant" joints (:data:`MPI_INF_3DHP17`).
Cameras (``cameras_{train,test}.pkl``, pickles): ``{"S1_Seq1_Cam0": {R, T, c, f, w, h, name}}``
for train, ``{"TS1": {c, f, w, h, name}}`` for test.

2D keypoints are the file's pixel coordinates, unchanged; the flag becomes COCO 0/2.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.common import boxes_from_center_scale, format_error, image_file, load_pickle
from posekit.data.readers.h36m import load_spin_npz
from posekit.skeletons import MPI_INF_3DHP17
from posekit.structures import PoseSample

__all__ = ["read_mpi_inf_3dhp", "parse_3dhp_image_name", "MPI_INF_3DHP17"]

_TRAIN_NAME = re.compile(r"(S\d+)_(Seq\d+)_Cam(\d+)_(\d+)\.\w+")
_TEST_NAME = re.compile(r"(TS\d+)_(\d+)\.\w+")


def parse_3dhp_image_name(name: str) -> dict[str, Any]:
    """``{subject, sequence, camera, frame, camera_key}`` of an MMPose 3DHP image name.

    Train ``S4_Seq2_Cam0_001033.jpg`` -> subject ``S4``, sequence ``Seq2``, camera ``0``, camera
    key ``S4_Seq2_Cam0``; test ``TS1_002001.jpg`` -> subject ``None``, sequence ``TS1``, camera
    ``None``, key ``TS1``. ``ValueError`` if the name does not parse.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    match = _TRAIN_NAME.fullmatch(base)
    if match:
        subject, sequence, camera, frame = match.groups()
        return {"subject": subject, "sequence": sequence, "camera": int(camera), "frame": int(frame),
                "camera_key": f"{subject}_{sequence}_Cam{camera}"}
    match = _TEST_NAME.fullmatch(base)
    if match:
        sequence, frame = match.groups()
        return {"subject": None, "sequence": sequence, "camera": None, "frame": int(frame), "camera_key": sequence}
    raise ValueError(f"{name!r} is neither S<n>_Seq<n>_Cam<n>_<frame>.<ext> nor TS<n>_<frame>.<ext>")


def read_mpi_inf_3dhp(path: str | Path, image_dir: str | Path | None = None, cameras: str | Path | None = None,
                      trust_pickle: bool = False) -> Iterator[PoseSample]:
    """The MMPose 3DHP npz as one ``PoseSample`` (one person) per row, skeleton :data:`MPI_INF_3DHP17`.

    ``keypoints (1, 17, 2)`` pixels, ``visibility (1, 17)`` (flag > 0 -> 2, else 0),
    ``keypoints_3d (1, 17, 3)`` camera frame in metres (``None`` without ``S``), ``boxes`` =
    square of side ``200 * scale`` around ``center``, ``ids`` = row index. ``meta``: ``file``,
    the fields of :func:`parse_3dhp_image_name`, ``centers (1, 2)``, ``scales (1,)``,
    ``visibility_3d (1, 17)``; with ``cameras`` (a pickle: needs ``trust_pickle=True``)
    ``camera_params``.
    """
    path = Path(path)
    arrays = load_spin_npz(path, 17)
    cams = load_pickle(cameras, trust_pickle) if cameras is not None else None
    if cams is not None and not isinstance(cams, dict):
        raise format_error(cameras, "top level", None, f"is a {type(cams).__name__}, expected a dict of cameras")
    part, s3d = arrays["part"], arrays.get("S")
    boxes = boxes_from_center_scale(arrays["center"], arrays["scale"])
    samples = []
    for i, name in enumerate(arrays["imgname"]):
        try:
            info = parse_3dhp_image_name(name)
        except ValueError as err:
            raise format_error(path, f"row {i}", "imgname", str(err)) from None
        meta: dict[str, Any] = {"file": image_file(image_dir, name), **info,
                                "centers": arrays["center"][i:i + 1].astype(np.float32),
                                "scales": arrays["scale"][i:i + 1].astype(np.float32)}
        if s3d is not None:
            meta["visibility_3d"] = np.where(s3d[i:i + 1, :, 3] > 0, 2, 0).astype(np.uint8)
        if cams is not None:
            if info["camera_key"] not in cams:
                raise format_error(cameras, None, info["camera_key"], f"is missing: no camera for row {i} of {path}")
            meta["camera_params"] = cams[info["camera_key"]]
        samples.append(PoseSample(
            image=None, keypoints=part[i:i + 1, :, :2].astype(np.float32),
            visibility=np.where(part[i:i + 1, :, 2] > 0, 2, 0).astype(np.uint8), boxes=boxes[i:i + 1],
            skeleton=MPI_INF_3DHP17, keypoints_3d=None if s3d is None else s3d[i:i + 1, :, :3].astype(np.float32),
            ids=np.array([i], np.int64), meta=meta))
    return iter(samples)
