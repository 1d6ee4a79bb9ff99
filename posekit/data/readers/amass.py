"""AMASS motion files (``*_poses.npz``; SMPL-X ``*_stageii.npz``), REFERENCE-METRICS-FORMATS.md B9.

An AMASS file is one motion-capture sequence of body-model *parameters*, not keypoints, so
the reader returns a :class:`MotionSequence` per file instead of ``PoseSample`` s: joint
rotations of the SMPL-24 kinematic tree (skeleton ``smpl24``) plus translation, shape and
frame rate. Positions need a body model (posekit's fitting part) to be computed.

SMPL+H "G" release keys: ``poses (T, 156)`` axis-angle (0-2 root orientation, 3-65 the 21
body joints, 66-155 the 2 x 15 finger joints), ``trans (T, 3)`` metres (Z-up world),
``betas (16,)``, ``gender`` ('male', 'female', 'neutral'), ``mocap_framerate``, ``dmpls (T, 8)``.
SMPL-24 rotations are ``poses[:, :66]`` (root + 21 body joints) with zero rotations for the
two hand joints (``left_hand``/``right_hand``), which SMPL+H replaces by the fingers.
``poses (T, 72)`` (plain SMPL) is taken as the 24 rotations directly. SMPL-X files
(``root_orient``, ``pose_body``, ``pose_hand``, ``mocap_frame_rate``, ...) are read from
those keys; the reference lists them from memory, so they are parsed defensively.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.common import check_shape, existing_file, format_error, load_npz, require_keys
from posekit.skeletons import Skeleton, get_skeleton

__all__ = ["MotionSequence", "read_amass", "read_amass_file"]

_FILE_PATTERNS = ("*_poses.npz", "*_stageii.npz")
_BODY_JOINTS = 22  # root + 21 body joints shared by SMPL, SMPL+H and SMPL-X
_SMPL_JOINTS = 24


@dataclass
class MotionSequence:
    """One body-model motion sequence.

    ``rotations (T, 24, 3)`` float32 axis-angle (radians) per SMPL-24 joint, parent-relative
    (``skeleton`` = ``smpl24``; joint 0 is the global root orientation); ``trans (T, 3)`` root
    translation in metres; ``betas (B,)`` shape coefficients; ``gender``; ``framerate`` (Hz);
    ``hand_pose (T, 90)`` the SMPL+H / SMPL-X finger rotations (15 per hand) or ``None``;
    ``dmpls (T, 8)`` or ``None``; ``meta``: ``file``, ``model`` (``"smplh"``, ``"smplx"`` or
    ``"smpl"``).
    """

    rotations: np.ndarray
    trans: np.ndarray
    betas: np.ndarray
    gender: str
    framerate: float
    skeleton: Skeleton
    hand_pose: np.ndarray | None = None
    dmpls: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rotations.shape[0])


def _text(array: np.ndarray, path: Path, key: str) -> str:
    value = array.reshape(-1)[0] if array.size == 1 else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise format_error(path, None, key, f"is {array!r}, expected a string")
    return value


def _scalar(arrays: dict[str, np.ndarray], keys: tuple[str, ...], path: Path) -> float:
    for key in keys:
        if key in arrays:
            return float(check_shape(np.asarray(arrays[key]).reshape(-1), (1,), path, key)[0])
    raise format_error(path, None, keys[0], f"is missing (present: {sorted(arrays)})")


def read_amass_file(path: str | Path, trust_pickle: bool = False) -> MotionSequence:
    """One AMASS ``.npz`` as a :class:`MotionSequence`.

    ``trust_pickle`` allows object arrays (stored as pickles), which some re-saved files use
    for ``gender``; the AMASS release itself needs none.
    """
    path = Path(path)
    arrays = load_npz(path, trust_pickle)
    require_keys(arrays, ["trans", "betas", "gender"], path)
    trans = check_shape(arrays["trans"], (None, 3), path, "trans")
    frames = len(trans)
    hand_pose = None
    if "root_orient" in arrays and "pose_body" in arrays:
        model = "smplx"
        body = np.concatenate([check_shape(arrays["root_orient"], (frames, 3), path, "root_orient"),
                               check_shape(arrays["pose_body"], (frames, 63), path, "pose_body")], axis=1)
        if "pose_hand" in arrays:
            hand_pose = check_shape(arrays["pose_hand"], (frames, 90), path, "pose_hand")
    else:
        require_keys(arrays, ["poses"], path)
        poses = check_shape(arrays["poses"], (frames, None), path, "poses")
        if poses.shape[1] == 3 * _SMPL_JOINTS:
            model, body = "smpl", poses
        elif poses.shape[1] == 156:
            model, body, hand_pose = "smplh", poses[:, :3 * _BODY_JOINTS], poses[:, 3 * _BODY_JOINTS:]
        else:
            raise format_error(path, None, "poses", f"has {poses.shape[1]} values per frame, expected 156 (SMPL+H) "
                                                    f"or 72 (SMPL)")
    rotations = np.zeros((frames, _SMPL_JOINTS, 3), np.float32)
    rotations[:, :body.shape[1] // 3] = body.reshape(frames, -1, 3)
    dmpls = check_shape(arrays["dmpls"], (frames, None), path, "dmpls").astype(np.float32) if "dmpls" in arrays \
        else None
    return MotionSequence(
        rotations=rotations, trans=trans.astype(np.float32),
        betas=check_shape(np.asarray(arrays["betas"]).reshape(-1), (None,), path, "betas").astype(np.float32),
        gender=_text(np.asarray(arrays["gender"]), path, "gender"),
        framerate=_scalar(arrays, ("mocap_framerate", "mocap_frame_rate"), path),
        skeleton=get_skeleton("smpl24"),
        hand_pose=None if hand_pose is None else hand_pose.astype(np.float32), dmpls=dmpls,
        meta={"file": str(path), "model": model})


def read_amass(path: str | Path, trust_pickle: bool = False) -> Iterator[MotionSequence]:
    """AMASS sequences: the file ``path``, or every ``*_poses.npz`` / ``*_stageii.npz`` under the
    folder ``path`` (recursively, sorted by path). Files are read one at a time, lazily."""
    path = Path(path)
    if path.is_dir():
        files = sorted({f for pattern in _FILE_PATTERNS for f in path.rglob(pattern)})
        if not files:
            raise format_error(path, None, None, f"holds no AMASS motion file ({' or '.join(_FILE_PATTERNS)})")
    else:
        files = [existing_file(path)]
    return (read_amass_file(f, trust_pickle) for f in files)
