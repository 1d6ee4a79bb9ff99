"""Dataset readers: one module per file format, one uniform entry point.

``read_dataset(format, path, **kw)`` (or ``READERS[format](path, **kw)``) returns an iterator
of :class:`~posekit.structures.PoseSample` (one per image or frame; AMASS: one
:class:`~posekit.data.readers.amass.MotionSequence` per file). The file is opened and checked
when the function is called; records are turned into samples as the iterator is consumed
(formats whose records are cheap are parsed eagerly).

Every sample has ``image=None`` (readers never decode images), ``keypoints (N, K, 2)``
float32, ``visibility (N, K)`` uint8 COCO codes (0 unlabelled with coordinates (0, 0) unless
the format keeps coordinates for unflagged joints, 1 occluded, 2 visible), ``boxes (N, 4)``
float32 xyxy, ``skeleton`` = the dataset's own skeleton, ``ids (N,)``, optional
``keypoints_3d (N, K, 3)`` (camera frame, metres) and ``meta`` (always ``file`` for image
datasets; per-instance arrays in ``meta`` have a leading ``N`` axis). Coordinates are 0-based
pixel centres: files in MATLAB 1-based pixels (MPII, LSP, FLIC) are shifted by -1.

Common keyword arguments: ``image_dir`` (prefix for ``meta["file"]``; every image dataset,
not AMASS or the VideoPose3D arrays, which name no images); ``trust_pickle=True`` for pickled
inputs (H3.6M ``cameras.pkl`` and VideoPose3D files, 3DHP camera pickles). Errors in a file
raise :class:`FormatError` naming the file, the record and the field. ``.mat`` files need
scipy and ``.h5`` files h5py, imported only when such a file is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from posekit.data.readers.aic import read_aic, read_aic_coco, read_aic_raw
from posekit.data.readers.amass import MotionSequence, read_amass
from posekit.data.readers.coco import read_coco, read_coco_detections, read_coco_keypoints, read_coco_results
from posekit.data.readers.common import FormatError
from posekit.data.readers.crowdpose import read_crowdpose
from posekit.data.readers.flic import read_flic
from posekit.data.readers.h36m import read_h36m, read_h36m_mmpose, read_h36m_videopose3d
from posekit.data.readers.lsp import read_lsp
from posekit.data.readers.mpi_inf_3dhp import MPI_INF_3DHP17, read_mpi_inf_3dhp
from posekit.data.readers.mpii import read_mpii, read_mpii_h5, read_mpii_json, read_mpii_release
from posekit.structures import PoseSample

__all__ = [
    "READERS", "read_dataset", "FormatError", "MotionSequence", "MPI_INF_3DHP17",
    "read_coco", "read_coco_keypoints", "read_coco_results", "read_coco_detections", "read_crowdpose",
    "read_aic", "read_aic_raw", "read_aic_coco", "read_mpii", "read_mpii_release", "read_mpii_json",
    "read_mpii_h5", "read_lsp", "read_flic", "read_h36m", "read_h36m_mmpose", "read_h36m_videopose3d",
    "read_mpi_inf_3dhp", "read_amass",
]

#: Format name -> reader ``(path, **kw) -> Iterator``. Formats with several layouts pick the
#: layout from the file (AIC: raw list or COCO object; MPII: .mat / .json / .h5 suffix;
#: H3.6M: MMPose or VideoPose3D arrays; LSP: orientation of ``joints``).
READERS: dict[str, Callable[..., Iterator[Any]]] = {
    "coco": read_coco,
    "crowdpose": read_crowdpose,
    "aic": read_aic,
    "mpii": read_mpii,
    "lsp": read_lsp,
    "flic": read_flic,
    "h36m": read_h36m,
    "mpi_inf_3dhp": read_mpi_inf_3dhp,
    "amass": read_amass,
}


def read_dataset(format: str, path: str | Path, **kwargs: Any) -> Iterator[PoseSample] | Iterator[MotionSequence]:
    """Read ``path`` with the reader of ``format`` (a key of :data:`READERS`), passing ``kwargs`` on."""
    try:
        reader = READERS[format]
    except KeyError:
        raise ValueError(f"unknown dataset format {format!r}; known: {sorted(READERS)}") from None
    return reader(path, **kwargs)
