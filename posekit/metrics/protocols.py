"""Evaluation protocols: Human3.6M (VideoPose3D protocols #1-#3, action-averaged and frame-mean
reporting) and MPI-INF-3DHP (3DPCK@150mm, AUC, official joint groups).

Facts from REFERENCE-METRICS-FORMATS.md A4.2, A4.3, B7 and trap list items 8-10:

**Human3.6M** (VideoPose3D ``run.py`` / ``arguments.py``): train S1, S5, S6, S7, S8; test S9,
S11; all frames (50 fps, ``--downsample 1``) of all four cameras. Reported numbers are the
"action-wise average": per action category the mean error over all its frames (all subjects,
takes and cameras pooled), then the unweighted mean over the 15 categories, where the category
is the action name before the take suffix ("Walking 1" pools with "Walking"). P1 = root-relative
MPJPE, P2 = P-MPJPE, P3 = N-MPJPE, in mm. MMPose's ``MPJPE`` metric instead reports the mean
over all frames plus one value per category (the image-name action before ``_``): both are in
:class:`H36MReport`. Older papers use other splits, strides and cameras; every choice is an
explicit field of :class:`H36MProtocol`, and the presets are named after VideoPose3D's.

**MPI-INF-3DHP** (official ``mpii_compute_3d_pck``): errors root-relative at the pelvis (joint
14 of the 17 "relevant" joints), PCK = fraction with error < 150 mm (strict), AUC = mean PCK at
0:5:150 mm. "All" is the 14 joints of the official groups (pelvis, spine and head excluded);
MMPose 0.x averages over every joint its mask allows (all 17), selectable by ``joint_set``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from posekit.data.readers.h36m import CAMERA_IDS, parse_h36m_image_name
from posekit.metrics.mpjpe import Alignment, align, joint_errors, to_mm
from posekit.metrics.mpjpe import root_relative as to_root_relative
from posekit.metrics.pck3d import AUC_THRESHOLDS_MM, PCK3D_THRESHOLD_MM, pck_curve_from_errors

__all__ = ["H36M_ACTIONS", "H36MProtocol", "H36MReport", "VIDEOPOSE3D_P1", "VIDEOPOSE3D_P2", "VIDEOPOSE3D_P3",
           "H36M_PROTOCOLS", "h36m_action_category", "select_h36m_frames", "select_h36m_rows", "h36m_errors",
           "h36m_report",
           "evaluate_h36m_mmpose", "MPI_INF_3DHP_ROOT", "MPI_INF_3DHP_GROUPS", "MPI_INF_3DHP_OFFICIAL_JOINTS",
           "MPI3DHPReport", "mpi_inf_3dhp_report"]

# --- Human3.6M ---------------------------------------------------------------------------------

#: The 15 action categories under VideoPose3D's canonical names (REFERENCE B7: "TakingPhoto" ->
#: "Photo", "WalkingDog" -> "WalkDog"), in the column order of its tables.
H36M_ACTIONS: tuple[str, ...] = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
                                 "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
                                 "WalkTogether")
_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
_TAKE_SUFFIX = re.compile(r"[ _].*$")

Averaging = Literal["action", "frame"]


def h36m_action_category(action: str) -> str:
    """The category of a Human3.6M action name: the part before the first space (VideoPose3D,
    ``"Walking 1"`` -> ``"Walking"``) or underscore (MMPose image names, ``"Walking_1"``), with the
    raw names ``TakingPhoto``/``WalkingDog`` canonicalised to ``Photo``/``WalkDog``. Takes the
    action only, not ``"S9_Walking_1"`` (use :func:`select_h36m_frames` or
    :func:`evaluate_h36m_mmpose` for image names)."""
    name = _TAKE_SUFFIX.sub("", action.strip())
    if not name:
        raise ValueError(f"{action!r} is not a Human3.6M action name")
    return _ACTION_ALIASES.get(name, name)


@dataclass(frozen=True)
class H36MProtocol:
    """A Human3.6M evaluation protocol, every choice explicit.

    - ``train_subjects`` / ``test_subjects``: subject ids (``"S9"``).
    - ``cameras``: camera ids evaluated (``CAMERA_IDS`` = all four).
    - ``frame_stride``: keep every ``frame_stride``-th frame (1 = all 50 fps frames).
    - ``root_relative``: subtract the root joint (``root``, 0 = pelvis) of both poses first.
    - ``include_root``: keep the root joint in the per-frame mean (VideoPose3D: 17 joints).
    - ``alignment``: ``'none'`` (MPJPE), ``'procrustes'`` (P-MPJPE), ``'scale'`` (N-MPJPE).
    - ``averaging``: the headline number, ``'action'`` (mean of the per-category errors,
      VideoPose3D) or ``'frame'`` (mean over all frames, MMPose).
    """

    name: str
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    cameras: tuple[str, ...]
    frame_stride: int
    alignment: Alignment
    root_relative: bool = True
    root: int = 0
    include_root: bool = True
    averaging: Averaging = "action"

    def __post_init__(self) -> None:
        if self.frame_stride < 1:
            raise ValueError(f"H36MProtocol {self.name!r}: frame_stride must be >= 1, got {self.frame_stride}")
        if self.alignment not in ("none", "procrustes", "scale"):
            raise ValueError(f"H36MProtocol {self.name!r}: unknown alignment {self.alignment!r}")
        if self.averaging not in ("action", "frame"):
            raise ValueError(f"H36MProtocol {self.name!r}: averaging must be 'action' or 'frame'")


_VP3D = dict(train_subjects=("S1", "S5", "S6", "S7", "S8"), test_subjects=("S9", "S11"), cameras=CAMERA_IDS,
             frame_stride=1, root_relative=True, root=0, include_root=True, averaging="action")
#: VideoPose3D protocol #1: root-relative MPJPE, action-wise average.
VIDEOPOSE3D_P1 = H36MProtocol(name="videopose3d-p1", alignment="none", **_VP3D)
#: VideoPose3D protocol #2: P-MPJPE (per-frame similarity Procrustes), action-wise average.
VIDEOPOSE3D_P2 = H36MProtocol(name="videopose3d-p2", alignment="procrustes", **_VP3D)
#: VideoPose3D protocol #3: N-MPJPE (per-frame scale fit on root-relative poses), action-wise average.
VIDEOPOSE3D_P3 = H36MProtocol(name="videopose3d-p3", alignment="scale", **_VP3D)
#: The presets by name.
H36M_PROTOCOLS: dict[str, H36MProtocol] = {p.name: p for p in (VIDEOPOSE3D_P1, VIDEOPOSE3D_P2, VIDEOPOSE3D_P3)}


def select_h36m_rows(rows: Sequence[tuple[str, str | None, int]], subjects: Sequence[str],
                     cameras: Sequence[str] | None = CAMERA_IDS, frame_stride: int = 1, *,
                     first_frame: int = 1) -> np.ndarray:
    """Indices ``(M,)``, ascending, of the Human3.6M rows ``(subject, camera, frame)`` that a
    protocol evaluates: subject in ``subjects``, camera in ``cameras`` and frame number ``f`` with
    ``(f - first_frame) % frame_stride == 0``.

    The stride counts each sequence's **frame numbers**, not the rows of a file, as VideoPose3D's
    ``[::downsample]`` does on every sequence: a file that already holds every 5th frame (MMPose's
    fps10 npz) keeps its frames 1, 6, 11, ... under stride 5, and stride 64 keeps those with
    ``f - 1`` a multiple of 64. ``first_frame`` is the number of a sequence's first frame: 1 for
    MMPose image names (``..._000001.jpg``), 0 for VideoPose3D arrays (``meta["frame"]`` is the
    0-based index in the sequence). ``cameras=None`` selects no camera: for rows that carry none
    (VideoPose3D's world-frame ``positions_3d``); a row without a camera under a camera filter is
    a ``ValueError`` naming it, as is ``frame_stride < 1``.
    """
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    subjects = set(subjects)
    camera_set = None if cameras is None else set(cameras)
    keep = []
    for i, (subject, camera, frame) in enumerate(rows):
        if camera_set is not None:
            if camera is None:
                raise ValueError(f"row {i} ({subject}) has no camera, so cameras {sorted(camera_set)} cannot "
                                 f"select it (pass cameras=None)")
            if camera not in camera_set:
                continue
        if subject in subjects and (int(frame) - first_frame) % frame_stride == 0:
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def select_h36m_frames(image_names: Sequence[str], subjects: Sequence[str], cameras: Sequence[str] = CAMERA_IDS,
                       frame_stride: int = 1) -> np.ndarray:
    """Indices ``(M,)`` of the MMPose image names (``S9/S9_Walking_1.54138969/..._000001.jpg``)
    whose subject is in ``subjects``, camera in ``cameras`` and frame number ``f`` (1-based in
    MMPose's names) satisfies ``(f - 1) % frame_stride == 0`` (:func:`select_h36m_rows`).
    ``ValueError`` naming the index of a name that does not parse."""
    rows = []
    for i, name in enumerate(image_names):
        try:
            subject, _, camera, frame = parse_h36m_image_name(name)
        except ValueError as err:
            raise ValueError(f"image name {i}: {err}") from None
        rows.append((subject, camera, frame))
    return select_h36m_rows(rows, subjects, cameras, frame_stride, first_frame=1)


def h36m_errors(pred: np.ndarray, gt: np.ndarray, protocol: H36MProtocol, *,
                pred_is_root_relative: bool = False) -> np.ndarray:
    """Per-joint errors ``(N, J)`` of ``pred`` against ``gt`` (``(N, J, 3)``, one unit) under
    ``protocol``: root-relative first if ``protocol.root_relative`` (``pred`` kept as given when
    ``pred_is_root_relative``, as VideoPose3D scores its network's root-relative output), then
    the per-frame alignment. In the poses' unit; the root joint is not removed here."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (N, J, 3)")
    if protocol.root_relative:
        gt = to_root_relative(gt, protocol.root)
        if not pred_is_root_relative:
            pred = to_root_relative(pred, protocol.root)
    return joint_errors(align(pred, gt, protocol.alignment), gt)


@dataclass(frozen=True)
class H36MReport:
    """Human3.6M results, in millimetres.

    - ``value``: the protocol's headline (``action_mean`` or ``frame_mean`` per ``averaging``).
    - ``action_mean``: mean over the categories present of ``per_action`` (VideoPose3D).
    - ``frame_mean``: mean over all scored joints of all frames (MMPose).
    - ``per_action``: category -> mean error over its frames (joints pooled).
    - ``num_frames``; ``missing_actions``: categories of :data:`H36M_ACTIONS` with no frame (a
      full test set has none; otherwise ``action_mean`` is not comparable with published tables).
    """

    protocol: str
    value: float
    action_mean: float
    frame_mean: float
    per_action: dict[str, float]
    num_frames: int
    missing_actions: tuple[str, ...] = field(default=())


def h36m_report(pred: np.ndarray, gt: np.ndarray, actions: Sequence[str], protocol: H36MProtocol = VIDEOPOSE3D_P1,
                mask: np.ndarray | None = None, *, unit: str = "m", pred_is_root_relative: bool = False) -> H36MReport:
    """Evaluate already selected frames under ``protocol``.

    ``pred``, ``gt``: ``(N, J, 3)`` in ``unit`` (``'m'`` for VideoPose3D / MMPose files);
    ``actions``: ``(N,)`` action name of each frame (``"Walking 1"`` or ``"Walking_1"``; the
    category is :func:`h36m_action_category`); ``mask``: ``(N, J)`` bool joints to score (None:
    all; the root is dropped when ``protocol.include_root`` is False). A category's error pools
    its frames' scored joints; the action mean is the unweighted mean over categories.
    """
    errors = to_mm(h36m_errors(pred, gt, protocol, pred_is_root_relative=pred_is_root_relative), unit)
    n, j = errors.shape
    if len(actions) != n:
        raise ValueError(f"actions has {len(actions)} entries for {n} frames")
    keep = np.ones((n, j), dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if keep.shape != (n, j):
        raise ValueError(f"mask must be (N, J) = {(n, j)}, got {keep.shape}")
    if not protocol.include_root:
        keep[:, protocol.root] = False
    if not keep.any():
        raise ValueError("h36m_report: no joint to score")
    categories = np.array([h36m_action_category(a) for a in actions])
    per_action = {}
    for category in sorted(set(categories.tolist())):
        rows = categories == category
        if keep[rows].any():
            per_action[category] = float(errors[rows][keep[rows]].mean())
    action_mean = float(np.mean(list(per_action.values())))
    frame_mean = float(errors[keep].mean())
    return H36MReport(protocol=protocol.name, value=action_mean if protocol.averaging == "action" else frame_mean,
                      action_mean=action_mean, frame_mean=frame_mean, per_action=per_action, num_frames=n,
                      missing_actions=tuple(a for a in H36M_ACTIONS if a not in per_action))


def evaluate_h36m_mmpose(pred: np.ndarray, gt: np.ndarray, image_names: Sequence[str],
                         protocol: H36MProtocol = VIDEOPOSE3D_P1, mask: np.ndarray | None = None, *,
                         unit: str = "m", pred_is_root_relative: bool = False) -> H36MReport:
    """:func:`h36m_report` on the frames of MMPose image names (``imgname`` of
    ``h36m_test.npz``) that ``protocol`` evaluates: its ``test_subjects``, ``cameras`` and
    ``frame_stride`` (:func:`select_h36m_frames`); actions come from the names. ``pred``,
    ``gt``: ``(N, J, 3)`` aligned with ``image_names``; ``mask`` ``(N, J)``."""
    if len(image_names) != len(pred):
        raise ValueError(f"image_names has {len(image_names)} entries for {len(pred)} predictions")
    index = select_h36m_frames(image_names, protocol.test_subjects, protocol.cameras, protocol.frame_stride)
    if index.size == 0:
        raise ValueError(f"no frame of subjects {protocol.test_subjects} / cameras {protocol.cameras} "
                         f"among {len(image_names)} image names")
    actions = [parse_h36m_image_name(image_names[i])[1] for i in index]
    sub_mask = None if mask is None else np.asarray(mask, dtype=bool)[index]
    return h36m_report(np.asarray(pred)[index], np.asarray(gt)[index], actions, protocol, sub_mask, unit=unit,
                       pred_is_root_relative=pred_is_root_relative)


# --- MPI-INF-3DHP ------------------------------------------------------------------------------

#: The pelvis, root of the 17 "relevant" joints (``posekit.data.readers.mpi_inf_3dhp.MPI_INF_3DHP17``).
MPI_INF_3DHP_ROOT: int = 14
#: Official joint groups of ``mpii_compute_3d_pck`` over the 17 relevant joints (REFERENCE A4.3).
MPI_INF_3DHP_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (0,), "Neck": (1,), "Shou": (2, 5), "Elbow": (3, 6), "Wrist": (4, 7), "Hip": (8, 11), "Knee": (9, 12),
    "Ankle": (10, 13),
}
#: The official "All" set: the 14 joints of the groups (pelvis 14, spine 15 and head 16 excluded).
MPI_INF_3DHP_OFFICIAL_JOINTS: tuple[int, ...] = tuple(sorted(j for g in MPI_INF_3DHP_GROUPS.values() for j in g))

JointSet = Literal["official", "all"]


@dataclass(frozen=True)
class MPI3DHPReport:
    """MPI-INF-3DHP results: ``pck`` (3DPCK, fraction < threshold), ``auc`` (mean PCK over the
    AUC thresholds), ``mpjpe`` (mm) over the chosen joint set; ``per_group_pck`` /
    ``per_group_auc`` for the official groups; ``per_sequence`` label -> ``(pck, auc, mpjpe)``
    when sequence labels were given; ``joints`` scored, ``num_frames``. Fractions: x100 for the
    published percentages."""

    pck: float
    auc: float
    mpjpe: float
    per_group_pck: dict[str, float]
    per_group_auc: dict[str, float]
    per_sequence: dict[str, tuple[float, float, float]]
    joints: tuple[int, ...]
    num_frames: int


def mpi_inf_3dhp_report(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, *,
                        joint_set: JointSet = "official", root_relative: bool = True, root: int = MPI_INF_3DHP_ROOT,
                        alignment: Alignment = "none", unit: str = "m", threshold_mm: float = PCK3D_THRESHOLD_MM,
                        auc_thresholds_mm: np.ndarray = AUC_THRESHOLDS_MM,
                        sequences: Sequence[str] | None = None) -> MPI3DHPReport:
    """3DPCK, AUC and MPJPE on MPI-INF-3DHP's 17 relevant joints.

    ``pred``, ``gt``: ``(N, 17, 3)`` in ``unit`` (``'m'`` for MMPose's npz); ``mask``: ``(N,
    17)`` bool joints to score (e.g. ``S[..., 3] > 0``; None: all). Errors are root-relative at
    ``root`` (the pelvis) when ``root_relative``, then ``alignment`` per frame (``'procrustes'``
    for MMPose 0.x's P-3DPCK). ``joint_set='official'`` scores the 14 joints of the official
    groups; ``'all'`` every masked joint, MMPose 0.x's ``keypoint_3d_pck`` (its root-relative
    pelvis then always counts as correct). PCK uses ``error < threshold_mm`` (strict); AUC is the
    mean PCK over ``auc_thresholds_mm``. Everything pools joints over frames. ``sequences``:
    ``(N,)`` labels (e.g. ``TS1``..``TS6``) for a per-sequence breakdown.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (17, 3):
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (N, 17, 3)")
    n = pred.shape[0]
    keep = np.ones((n, 17), dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if keep.shape != (n, 17):
        raise ValueError(f"mask must be (N, 17) = {(n, 17)}, got {keep.shape}")
    if joint_set == "official":
        joints = MPI_INF_3DHP_OFFICIAL_JOINTS
    elif joint_set == "all":
        joints = tuple(range(17))
    else:
        raise ValueError(f"joint_set must be 'official' or 'all', got {joint_set!r}")
    in_set = np.zeros(17, dtype=bool)
    in_set[list(joints)] = True
    keep &= in_set
    if not keep.any():
        raise ValueError("mpi_inf_3dhp_report: no joint to score")
    if root_relative:
        pred, gt = to_root_relative(pred, root), to_root_relative(gt, root)
    errors = to_mm(joint_errors(align(pred, gt, alignment), gt), unit)
    thresholds = np.asarray(auc_thresholds_mm, dtype=np.float64)

    def scores(rows: np.ndarray, cols: np.ndarray) -> tuple[float, float, float]:
        sel = keep & rows[:, None] & cols[None, :]
        if not sel.any():
            return float("nan"), float("nan"), float("nan")
        curve = pck_curve_from_errors(errors, np.append(thresholds, threshold_mm), sel)
        return float(curve[-1]), float(curve[:-1].mean()), float(errors[sel].mean())

    every_frame = np.ones(n, dtype=bool)
    pck, auc, mean_error = scores(every_frame, in_set)
    per_group_pck, per_group_auc = {}, {}
    for group, members in MPI_INF_3DHP_GROUPS.items():
        cols = np.zeros(17, dtype=bool)
        cols[list(members)] = True
        per_group_pck[group], per_group_auc[group], _ = scores(every_frame, cols)
    per_sequence = {}
    if sequences is not None:
        labels = np.asarray(list(sequences))
        if labels.shape != (n,):
            raise ValueError(f"sequences has {labels.shape} entries for {n} frames")
        for label in sorted(set(labels.tolist())):
            per_sequence[str(label)] = scores(labels == label, in_set)
    return MPI3DHPReport(pck=pck, auc=auc, mpjpe=mean_error, per_group_pck=per_group_pck,
                         per_group_auc=per_group_auc, per_sequence=per_sequence, joints=joints, num_frames=n)
