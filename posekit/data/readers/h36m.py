"""Human3.6M (skeleton ``h36m17``), REFERENCE-METRICS-FORMATS.md B7, in two layouts.

**MMPose / SPIN npz** (``h36m_{train,test}.npz``, fixture ``test_h36m_body3d.npz``): arrays
``imgname`` (``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg``), ``center``
``(N, 2)``, ``scale (N,)`` (box side / 200), ``part (N, 17, 3)`` (pixels + 0/1 flag), ``S (N,
17, 4)`` (camera frame, metres + flag). The mesh variant (``test_h36m.npz``) stores ``part``/
``S`` in SPIN's 24 slots and adds SMPL ``pose (N, 72)`` and ``shape (N, 10)``; the reader takes
the 17 H3.6M joints out of those slots (:data:`SPIN24_TO_H36M17`).

**VideoPose3D npz**: ``data_3d_h36m.npz`` holds ``positions_3d``, a pickled dict subject ->
action -> ``(frames, 32, 3)`` world coordinates in metres (the 17 kept joints are
:data:`H36M32_TO_17`); ``data_2d_h36m_<source>.npz`` holds ``positions_2d`` (subject ->
action -> a list of 4 ``(frames, 17, 2)`` pixel arrays, one per camera in the order of
:data:`CAMERA_IDS`) and ``metadata`` (layout, symmetry). Both are pickles, so they are read
only with ``trust_pickle=True``.

**Cameras** (MMPose ``cameras.pkl``, a pickle): ``{(subject, camera_id): {R, T, c, f, k, p, w,
h, name, id}}`` with ``T`` the camera centre in world metres and ``R`` such that
``X_cam = R.T @ (X_world - T)`` (:func:`world_to_camera`; checked on the fixtures: it maps the
world joints of ``h36m_coco.json`` onto ``S`` of ``test_h36m_body3d.npz`` exactly).

2D keypoints are the files' pixel coordinates, unchanged (projections of the camera
model, no 0/1-based convention to undo). Visibility: the 0/1 flag becomes COCO 0/2;
VideoPose3D 2D has no flag (all 2).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posekit.data.readers.common import (boxes_from_center_scale, boxes_from_keypoints, check_shape,
                                         existing_file, float_array, format_error, image_file, load_npz,
                                         load_pickle, require_keys)
from posekit.skeletons import Skeleton, get_skeleton
from posekit.structures import PoseSample

__all__ = ["read_h36m", "read_h36m_mmpose", "read_h36m_videopose3d", "load_h36m_cameras", "world_to_camera",
           "parse_h36m_image_name", "load_spin_npz", "CAMERA_IDS", "H36M32_TO_17", "SPIN24_TO_H36M17"]

#: The four H3.6M cameras in VideoPose3D's order (the order of each ``positions_2d`` list).
CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
#: The 17 joints VideoPose3D keeps of the 32 in the mocap (REFERENCE B7).
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
#: Slot of each ``h36m17`` joint in SPIN's 24-joint ground-truth layout (r_ankle, r_knee, r_hip,
#: l_hip, l_knee, l_ankle, r_wrist, r_elbow, r_shoulder, l_shoulder, l_elbow, l_wrist, neck,
#: head_top, pelvis, thorax, spine, jaw, head, nose, eyes, ears), as MMPose's mesh npz fills it:
#: checked on the fixtures, ``test_h36m.npz`` matches ``test_h36m_body3d.npz`` joint for joint.
SPIN24_TO_H36M17: tuple[int, ...] = (14, 2, 1, 0, 3, 4, 5, 16, 12, 17, 18, 9, 10, 11, 8, 7, 6)

_IMAGE_NAME = re.compile(r"(S\d+)_(.+)\.(\d+)_(\d+)\.\w+")
_COCO_SYMMETRY = [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]
_H36M_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


def parse_h36m_image_name(name: str) -> tuple[str, str, str, int]:
    """``(subject, action, camera_id, frame)`` of an MMPose H3.6M image name such as
    ``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg`` (directories ignored;
    ``action`` keeps its take suffix, ``Directions_1``). ``ValueError`` if it does not parse."""
    match = _IMAGE_NAME.fullmatch(name.replace("\\", "/").rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"{name!r} is not <subject>_<action>.<camera>_<frame>.<ext>")
    subject, action, camera, frame = match.groups()
    return subject, action, camera, int(frame)


def world_to_camera(points: np.ndarray, camera: dict[str, Any]) -> np.ndarray:
    """World points ``(..., 3)`` (metres) to the camera frame: ``R.T @ (X - T)`` for an MMPose
    ``cameras.pkl`` entry (``R`` 3x3, ``T`` 3x1 camera centre in world metres)."""
    rotation = np.asarray(camera["R"], np.float64).reshape(3, 3)
    centre = np.asarray(camera["T"], np.float64).reshape(3)
    return (np.asarray(points, np.float64) - centre) @ rotation


def load_h36m_cameras(path: str | Path, trust_pickle: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    """MMPose's ``cameras.pkl``: ``{(subject, camera_id): {R, T, c, f, k, p, w, h, name, id}}``.

    A pickle: read only with ``trust_pickle=True`` (:class:`FormatError` explaining why otherwise).
    """
    cameras = load_pickle(path, trust_pickle)
    if not isinstance(cameras, dict):
        raise format_error(path, "top level", None, f"is a {type(cameras).__name__}, expected a dict of cameras")
    for key, cam in cameras.items():
        if not (isinstance(key, tuple) and len(key) == 2) or not isinstance(cam, dict):
            raise format_error(path, f"camera {key!r}", None, "expected a (subject, camera_id) key and a dict")
        require_keys(cam, ["R", "T", "c", "f"], path, f"camera {key!r}")
    return cameras


def load_spin_npz(path: str | Path, num_joints: int | tuple[int, ...]) -> dict[str, Any]:
    """The arrays of a SPIN-style npz (MMPose H3.6M / MPI-INF-3DHP), shapes checked, as float64
    (``imgname`` as a list of ``str``).

    Required: ``imgname (N,)``, ``center (N, 2)``, ``scale (N,)``, ``part (N, J, 3)``; optional
    ``S (N, J, 4)``, ``pose (N, 72)``, ``shape (N, 10)``; ``J`` one of ``num_joints``.
    """
    arrays = load_npz(path)
    require_keys(arrays, ["imgname", "center", "scale", "part"], path)
    allowed = (num_joints,) if isinstance(num_joints, int) else num_joints
    names = arrays["imgname"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise format_error(path, None, "imgname", f"has shape {names.shape} and dtype {names.dtype}, "
                                                  f"expected (N,) strings")
    n = len(names)
    part = check_shape(arrays["part"], (n, None, 3), path, "part")
    if part.shape[1] not in allowed:
        raise format_error(path, None, "part", f"has {part.shape[1]} joints, expected {' or '.join(map(str, allowed))}")
    out: dict[str, Any] = {"imgname": [str(name) for name in names], "part": part,
           "center": check_shape(arrays["center"], (n, 2), path, "center"),
           "scale": check_shape(arrays["scale"], (n,), path, "scale")}
    for key, shape in (("S", (n, part.shape[1], 4)), ("pose", (n, 72)), ("shape", (n, 10))):
        if key in arrays:
            out[key] = check_shape(arrays[key], shape, path, key)
    return out


def read_h36m(path: str | Path, **kwargs: Any) -> Iterator[PoseSample]:
    """Either H3.6M layout, told by the arrays in ``path``: ``imgname`` -> MMPose npz;
    ``positions_3d`` / ``positions_2d`` -> VideoPose3D (the other file may come as
    ``path_2d=`` / ``path_3d=``). Keyword arguments go to the chosen reader; ``image_dir`` is
    dropped for VideoPose3D, whose arrays name no images."""
    path = Path(path)
    names = _npz_names(path)
    if "imgname" in names:
        return read_h36m_mmpose(path, **kwargs)
    kwargs.pop("image_dir", None)
    if "positions_3d" in names:
        return read_h36m_videopose3d(path_3d=path, **kwargs)
    if "positions_2d" in names:
        return read_h36m_videopose3d(path_2d=path, **kwargs)
    raise format_error(path, None, None, f"is neither an MMPose H3.6M npz ('imgname') nor a VideoPose3D npz "
                                         f"('positions_3d' / 'positions_2d'); arrays: {sorted(names)}")


def _npz_names(path: Path) -> list[str]:
    """Array names of an npz without reading (or unpickling) the arrays."""
    existing_file(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return [n[:-4] if n.endswith(".npy") else n for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError) as err:
        raise format_error(path, None, None, f"cannot be read as a NumPy .npz (truncated or corrupt?): {err}") from None


def _camera(cameras: dict | None, subject: str, camera_id: str | None, path: str | Path | None
            ) -> dict[str, Any] | None:
    """The ``(subject, camera_id)`` entry of loaded cameras (``None`` when no cameras were given)."""
    if cameras is None:
        return None
    if (subject, camera_id) not in cameras:
        raise format_error(path, f"camera ({subject!r}, {camera_id!r})", None, "is missing")
    return cameras[(subject, camera_id)]


def read_h36m_mmpose(path: str | Path, image_dir: str | Path | None = None, cameras: str | Path | None = None,
                     trust_pickle: bool = False) -> Iterator[PoseSample]:
    """The MMPose/SPIN H3.6M npz as one ``PoseSample`` (one person) per row.

    ``keypoints (1, 17, 2)`` pixels, ``visibility (1, 17)`` (flag > 0 -> 2, else 0),
    ``keypoints_3d (1, 17, 3)`` camera frame in metres (``None`` without ``S``), ``boxes`` =
    square of side ``200 * scale`` around ``center``, ``ids`` = row index. ``meta``: ``file``
    (``imgname``, under ``image_dir`` if given), ``subject``, ``action`` (e.g.
    ``Directions_1``), ``camera`` (id), ``frame``, ``centers (1, 2)``, ``scales (1,)``,
    ``visibility_3d (1, 17)`` (the flag of ``S``); with the mesh variant ``smpl_pose (1, 72)`` and
    ``smpl_betas (1, 10)``; with ``cameras`` (``cameras.pkl``, needs ``trust_pickle=True``)
    ``camera_params`` (that camera's dict).
    """
    path = Path(path)
    arrays = load_spin_npz(path, (17, 24))
    cams = load_h36m_cameras(cameras, trust_pickle) if cameras is not None else None
    select = np.asarray(SPIN24_TO_H36M17 if arrays["part"].shape[1] == 24 else range(17))
    part = arrays["part"][:, select]
    s3d = arrays["S"][:, select] if "S" in arrays else None
    boxes = boxes_from_center_scale(arrays["center"], arrays["scale"])
    sk = get_skeleton("h36m17")
    samples = []
    for i, name in enumerate(arrays["imgname"]):
        try:
            subject, action, camera_id, frame = parse_h36m_image_name(name)
        except ValueError as err:
            raise format_error(path, f"row {i}", "imgname", str(err)) from None
        meta: dict[str, Any] = {"file": image_file(image_dir, name), "subject": subject, "action": action,
                                "camera": camera_id, "frame": frame,
                                "centers": arrays["center"][i:i + 1].astype(np.float32),
                                "scales": arrays["scale"][i:i + 1].astype(np.float32)}
        if s3d is not None:
            meta["visibility_3d"] = np.where(s3d[i:i + 1, :, 3] > 0, 2, 0).astype(np.uint8)
        if "pose" in arrays:
            meta["smpl_pose"] = arrays["pose"][i:i + 1].astype(np.float32)
        if "shape" in arrays:
            meta["smpl_betas"] = arrays["shape"][i:i + 1].astype(np.float32)
        camera = _camera(cams, subject, camera_id, cameras)
        if camera is not None:
            meta["camera_params"] = camera
        samples.append(PoseSample(
            image=None, keypoints=part[i:i + 1, :, :2].astype(np.float32),
            visibility=np.where(part[i:i + 1, :, 2] > 0, 2, 0).astype(np.uint8), boxes=boxes[i:i + 1],
            skeleton=sk, keypoints_3d=None if s3d is None else s3d[i:i + 1, :, :3].astype(np.float32),
            ids=np.array([i], np.int64), meta=meta))
    return iter(samples)


# --- VideoPose3D ------------------------------------------------------------------------------------------


def _pickled_dict(arrays: dict[str, np.ndarray], key: str, path: Path) -> dict:
    value = arrays[key]
    value = value.item() if value.dtype == object and value.shape == () else value
    if not isinstance(value, dict):
        raise format_error(path, None, key, f"is a {type(value).__name__}, expected a pickled dict")
    return value


def _layout_2d(metadata: dict, path: Path) -> Skeleton:
    layout = metadata.get("layout_name")
    if layout is None:
        symmetry = [list(map(int, side)) for side in metadata.get("keypoints_symmetry", [])]
        layout = {repr(_H36M_SYMMETRY): "h36m", repr(_COCO_SYMMETRY): "coco"}.get(repr(symmetry))
    if layout not in ("h36m", "coco"):
        raise format_error(path, None, "metadata", f"names layout {layout!r} (symmetry "
                                                   f"{metadata.get('keypoints_symmetry')}); posekit reads 'h36m' "
                                                   f"and 'coco' 2D layouts")
    return get_skeleton("h36m17" if layout == "h36m" else "coco17")


def _frames_3d(positions: Any, path: Path, where: str) -> np.ndarray:
    array = np.asarray(positions)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[1] not in (32, 17):
        raise format_error(path, where, "positions_3d", f"has shape {array.shape}, expected (frames, 32 or 17, 3)")
    return (array[:, list(H36M32_TO_17)] if array.shape[1] == 32 else array).astype(np.float64)


def read_h36m_videopose3d(path_3d: str | Path | None = None, path_2d: str | Path | None = None,
                          cameras: str | Path | None = None, trust_pickle: bool = False) -> Iterator[PoseSample]:
    """VideoPose3D's ``data_3d_h36m.npz`` and/or ``data_2d_h36m_<source>.npz``, one ``PoseSample``
    (one person) per frame, ordered subject -> action -> camera -> frame as in the files.

    Both files are pickles: ``trust_pickle=True`` is required. With a 2D file (or with
    ``cameras``), there is one sample per camera of :data:`CAMERA_IDS`; 2D sequences longer than
    the mocap are truncated to it (VideoPose3D does the same). Without 2D, ``keypoints`` are
    zeros with visibility 0. ``meta``: ``subject``, ``action`` (e.g. ``"Directions 1"``),
    ``camera`` (id or ``None``), ``frame`` (0-based), ``keypoints_3d_world (1, 17, 3)`` metres
    (with a 3D file); with ``cameras`` also ``camera_params``, and ``keypoints_3d`` is the
    camera-frame pose (:func:`world_to_camera`), else ``None``. A COCO-layout 2D file (e.g.
    ``detectron_pt_coco``) gives skeleton ``coco17`` and cannot be combined with 3D.
    """
    if path_3d is None and path_2d is None:
        raise ValueError("read_h36m_videopose3d: give path_3d, path_2d or both")
    poses_3d = skeleton = poses_2d = None
    if path_3d is not None:
        arrays = load_npz(path_3d, trust_pickle)
        require_keys(arrays, ["positions_3d"], path_3d)
        poses_3d = _pickled_dict(arrays, "positions_3d", Path(path_3d))
    if path_2d is not None:
        arrays = load_npz(path_2d, trust_pickle)
        require_keys(arrays, ["positions_2d", "metadata"], path_2d)
        poses_2d = _pickled_dict(arrays, "positions_2d", Path(path_2d))
        skeleton = _layout_2d(_pickled_dict(arrays, "metadata", Path(path_2d)), Path(path_2d))
        if poses_3d is not None and skeleton.name != "h36m17":
            raise format_error(path_2d, None, "metadata", f"has the {skeleton.name!r} layout, which cannot be "
                                                          f"paired with the 17 H3.6M joints of {path_3d}")
    cams = load_h36m_cameras(cameras, trust_pickle) if cameras is not None else None
    return _videopose3d_samples(poses_3d, poses_2d, skeleton or get_skeleton("h36m17"), cams,
                                Path(path_3d) if path_3d is not None else None,
                                Path(path_2d) if path_2d is not None else None,
                                Path(cameras) if cameras is not None else None)


def _videopose3d_samples(poses_3d: dict | None, poses_2d: dict | None, sk: Skeleton, cams: dict | None,
                         path_3d: Path | None, path_2d: Path | None, path_cams: Path | None) -> Iterator[PoseSample]:
    source = poses_3d if poses_3d is not None else poses_2d
    k = sk.num_keypoints
    for subject, actions in source.items():
        for action in actions:
            where = f"{subject}/{action}"
            world = _frames_3d(poses_3d[subject][action], path_3d, where) if poses_3d is not None else None
            views: list[np.ndarray | None]
            if poses_2d is not None:
                if subject not in poses_2d or action not in poses_2d[subject]:
                    raise format_error(path_2d, where, "positions_2d", f"has no 2D for this sequence of {path_3d}")
                views = list(poses_2d[subject][action])
                if len(views) != len(CAMERA_IDS):
                    raise format_error(path_2d, where, "positions_2d", f"has {len(views)} cameras, expected "
                                                                       f"{len(CAMERA_IDS)}")
            else:
                views = [None] * (len(CAMERA_IDS) if cams is not None else 1)
            for c, view in enumerate(views):
                camera_id = CAMERA_IDS[c] if poses_2d is not None or cams is not None else None
                if view is not None:
                    view = float_array(view, (None, k, 2), path_2d, f"{where} camera {camera_id}", "positions_2d")
                frames = len(world) if world is not None else len(view)
                if view is not None and len(view) < frames:
                    raise format_error(path_2d, f"{where} camera {camera_id}", "positions_2d",
                                       f"has {len(view)} frames, fewer than the {frames} of {path_3d}")
                camera = _camera(cams, subject, camera_id, path_cams)
                cam_frame = world_to_camera(world, camera) if camera is not None and world is not None else None
                for f in range(frames):
                    kps = view[f:f + 1] if view is not None else np.zeros((1, k, 2))
                    vis = np.full((1, k), 2 if view is not None else 0, np.uint8)
                    meta: dict[str, Any] = {"subject": subject, "action": action, "camera": camera_id, "frame": f}
                    if world is not None:
                        meta["keypoints_3d_world"] = world[f:f + 1].astype(np.float32)
                    if camera is not None:
                        meta["camera_params"] = camera
                    yield PoseSample(image=None, keypoints=kps.astype(np.float32), visibility=vis,
                                     boxes=boxes_from_keypoints(kps, vis),
                                     skeleton=sk, ids=np.zeros(1, np.int64), meta=meta,
                                     keypoints_3d=None if cam_frame is None else cam_frame[f:f + 1].astype(np.float32))
