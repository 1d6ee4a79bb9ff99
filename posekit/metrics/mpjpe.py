"""3D joint-position errors: MPJPE, root-relative MPJPE, P-MPJPE, N-MPJPE, MPJVE.

Poses are arrays ``(..., J, 3)`` (any leading frame/batch axes) in one unit of length, the same
for prediction and ground truth; every error comes back in that unit (:func:`to_mm` converts,
e.g. x1000 for the metres of the Human3.6M / MPI-INF-3DHP npz files). Definitions follow
REFERENCE-METRICS-FORMATS.md A4.1 and trap list items 8-9, implemented from the formulas:

- MPJPE: mean over frames and joints of ``||pred_j - gt_j||_2`` (MMPose ``keypoint_mpjpe``
  with ``alignment='none'``; VideoPose3D ``common/loss.py`` ``mpjpe``).
- Root-relative MPJPE (Human3.6M "protocol #1"): both poses are expressed relative to their
  root joint first. VideoPose3D zeroes the target root and scores the network's root-relative
  output as it is, keeping the root joint in the 17-joint mean (it adds a (near-)zero error);
  :func:`root_relative_mpjpe` makes both choices explicit (``include_root``,
  ``pred_is_root_relative``).
- P-MPJPE ("protocol #2"): per frame, the similarity transform (scale, rotation, translation)
  of the prediction that best fits the ground truth in least squares, with the reflection fix,
  then MPJPE (VideoPose3D ``p_mpjpe``; MMPose ``compute_similarity_transform``, Umeyama).
- N-MPJPE ("protocol #3", VideoPose3D after Rhodin et al.): per frame, the scale-only fit
  ``s = sum_j <gt_j, pred_j> / sum_j <pred_j, pred_j>`` *without centring*, then MPJPE; meant
  for root-relative poses (MMPose ``alignment='scale'``).
- MPJVE: MPJPE of the first differences along the time axis (VideoPose3D
  ``mean_velocity_error``), in length units per frame.

Masks are boolean ``(..., J)``: the joints that enter the mean (pooled over frames and joints,
as MMPose ``error[mask].mean()``). Alignments always fit on all joints of a frame, as both
VideoPose3D and MMPose do. Everything is float64 numpy, vectorised over frames.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["Alignment", "UNIT_TO_MM", "to_mm", "joint_errors", "root_relative", "procrustes_align", "scale_align",
           "align", "masked_mean", "mpjpe", "root_relative_mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"]

#: Alignment applied to the prediction before the error: none, similarity Procrustes, scale only.
Alignment = Literal["none", "procrustes", "scale"]
#: Factor from a unit of length to millimetres.
UNIT_TO_MM: dict[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0}


def to_mm(values: np.ndarray | float, unit: str) -> np.ndarray | float:
    """Lengths in ``unit`` (``'m'``, ``'cm'`` or ``'mm'``) as millimetres (x1000 for metres)."""
    if unit not in UNIT_TO_MM:
        raise ValueError(f"unit must be one of {sorted(UNIT_TO_MM)}, got {unit!r}")
    return values * UNIT_TO_MM[unit]


def _poses(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (..., J, 3)")
    return pred, gt


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error per joint, ``(..., J, 3)`` x2 -> ``(..., J)``, in the poses' unit."""
    pred, gt = _poses(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1)


def root_relative(poses: np.ndarray, root: int = 0) -> np.ndarray:
    """``poses - poses[..., root, :]``: ``(..., J, 3)`` with the root joint at the origin.

    ``root``: index of the root joint (0 = pelvis in ``h36m17``, 14 = pelvis in MPI-INF-3DHP's 17).
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim < 2 or poses.shape[-1] != 3 or not -poses.shape[-2] <= root < poses.shape[-2]:
        raise ValueError(f"root {root} is not a joint of poses with shape {poses.shape} (expected (..., J, 3))")
    return poses - poses[..., [root], :]


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` after the per-frame similarity transform that best fits ``gt``: ``(..., J, 3)``.

    Per frame, minimises ``sum_j ||s * pred_j @ R + t - gt_j||^2`` over scale ``s``, rotation
    ``R`` (proper, det +1) and translation ``t`` (Procrustes / Umeyama). With ``Y``, ``X`` the
    centred prediction and ground truth, ``Y.T @ X = V S U.T`` (SVD of ``H = X.T @ Y = U S V.T``)
    and ``R = V U.T``; if ``det R < 0`` the last column of ``V`` and the last singular value are
    negated (the reflection fix: a mirrored pose is not aligned by a reflection). Then
    ``s = sum(S) / ||Y||_F^2`` and ``t = mean(gt) - s * mean(pred) @ R``. A frame whose
    prediction has no spread (all joints equal) maps to the ground-truth centroid. Protocol:
    Human3.6M P-MPJPE (VideoPose3D ``p_mpjpe``, MMPose ``compute_similarity_transform``).
    """
    pred, gt = _poses(pred, gt)
    mu_pred = pred.mean(axis=-2, keepdims=True)
    mu_gt = gt.mean(axis=-2, keepdims=True)
    y = pred - mu_pred
    x = gt - mu_gt
    h = np.swapaxes(x, -1, -2) @ y
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    flip = np.linalg.det(v @ np.swapaxes(u, -1, -2)) < 0
    v[..., :, -1] = np.where(flip[..., None], -v[..., :, -1], v[..., :, -1])
    s[..., -1] = np.where(flip, -s[..., -1], s[..., -1])
    rotation = v @ np.swapaxes(u, -1, -2)
    spread = np.sum(y * y, axis=(-2, -1))
    scale = np.divide(s.sum(axis=-1), spread, out=np.zeros_like(spread), where=spread > 0)
    return scale[..., None, None] * (y @ rotation) + mu_gt


def scale_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``s * pred`` per frame with ``s = sum_j <gt_j, pred_j> / sum_j <pred_j, pred_j>``:
    ``(..., J, 3)``. No centring: meant for root-relative poses. A frame with an all-zero
    prediction keeps it. Protocol: VideoPose3D N-MPJPE (``n_mpjpe``), MMPose ``alignment='scale'``.
    """
    pred, gt = _poses(pred, gt)
    num = np.sum(gt * pred, axis=(-2, -1))
    den = np.sum(pred * pred, axis=(-2, -1))
    scale = np.divide(num, den, out=np.ones_like(den), where=den > 0)
    return scale[..., None, None] * pred


def align(pred: np.ndarray, gt: np.ndarray, alignment: Alignment) -> np.ndarray:
    """``pred`` aligned to ``gt`` by ``'none'``, ``'procrustes'`` (:func:`procrustes_align`) or
    ``'scale'`` (:func:`scale_align`); ``(..., J, 3)``."""
    if alignment == "none":
        return _poses(pred, gt)[0]
    if alignment == "procrustes":
        return procrustes_align(pred, gt)
    if alignment == "scale":
        return scale_align(pred, gt)
    raise ValueError(f"alignment must be 'none', 'procrustes' or 'scale', got {alignment!r}")


def masked_mean(errors: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean of ``errors`` ``(..., J)`` over the joints where ``mask`` (broadcastable bool) is set,
    pooled over frames; all joints when ``mask`` is None. ``ValueError`` when nothing is selected."""
    errors = np.asarray(errors, dtype=np.float64)
    if mask is None:
        selected = errors.ravel()
    else:
        mask = np.asarray(mask, dtype=bool)
        try:
            mask = np.broadcast_to(mask, errors.shape)
        except ValueError:
            raise ValueError(f"mask {mask.shape} does not match errors {errors.shape} (expected (..., J))") from None
        selected = errors[mask]
    if selected.size == 0:
        raise ValueError("no joint to average: errors are empty or mask selects nothing")
    return float(selected.mean())


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, *,
          alignment: Alignment = "none") -> float:
    """Mean per-joint position error of ``pred`` against ``gt`` (both ``(..., J, 3)``, same unit;
    the result is in that unit), over the joints in ``mask`` ``(..., J)``; ``alignment`` applied
    to each frame first. Plain MPJPE: no root subtraction (MMPose ``keypoint_mpjpe``)."""
    return masked_mean(joint_errors(align(pred, gt, alignment), gt), mask)


def root_relative_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, *, root: int = 0,
                        include_root: bool = True, pred_is_root_relative: bool = False) -> float:
    """Root-relative MPJPE, Human3.6M protocol #1, in the poses' unit.

    ``gt`` is made root-relative (its root joint zeroed, VideoPose3D ``inputs_3d[:, :, 0] = 0``
    after removing the global offset). ``pred`` is made root-relative too unless
    ``pred_is_root_relative`` (then it is scored as given, like VideoPose3D's network output,
    whose root joint is only near zero). ``include_root=True`` keeps the root joint in the mean
    (VideoPose3D's 17-joint mean, the root adding a (near-)zero error); ``False`` averages over
    the other joints only. ``root``: index of the root joint (0 in ``h36m17``).
    """
    pred, gt = _poses(pred, gt)
    target = root_relative(gt, root)
    moved = pred if pred_is_root_relative else root_relative(pred, root)
    return masked_mean(joint_errors(moved, target), _drop_root(mask, gt.shape[:-1], root, include_root))


def _drop_root(mask: np.ndarray | None, shape: tuple[int, ...], root: int, include_root: bool) -> np.ndarray | None:
    if include_root:
        return mask
    if mask is None:
        keep = np.ones(shape, dtype=bool)
    else:
        try:
            keep = np.array(np.broadcast_to(np.asarray(mask, dtype=bool), shape))
        except ValueError:
            raise ValueError(f"mask {np.shape(mask)} does not match poses {shape} (expected (..., J))") from None
    keep[..., root] = False
    return keep


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """P-MPJPE (Human3.6M protocol #2): MPJPE after per-frame similarity Procrustes alignment
    with the reflection fix (:func:`procrustes_align`), in the poses' unit. Invariant to any
    similarity transform of ``pred`` frame by frame, and never above the plain MPJPE (both
    without mask). Source: VideoPose3D ``p_mpjpe``; MMPose ``alignment='procrustes'``."""
    return mpjpe(pred, gt, mask, alignment="procrustes")


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """N-MPJPE (VideoPose3D protocol #3): MPJPE after the per-frame scale-only fit without
    centring (:func:`scale_align`), in the poses' unit. Pass root-relative poses, as VideoPose3D
    does (e.g. ``root_relative(pred), root_relative(gt)``)."""
    return mpjpe(pred, gt, mask, alignment="scale")


def mpjve(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, *, time_axis: int = 0) -> float:
    """Mean per-joint velocity error: MPJPE of ``np.diff(pose, axis=time_axis)`` (VideoPose3D
    ``mean_velocity_error``), in the poses' unit per frame. ``pred``, ``gt``: ``(..., J, 3)``
    sequences with time along ``time_axis`` (default 0: ``(T, J, 3)``); ``mask`` ``(..., J)``
    applies to the ``T - 1`` differences (shape of the difference array without the last axis).
    """
    pred, gt = _poses(pred, gt)
    axis = time_axis % pred.ndim
    if axis >= pred.ndim - 2:
        raise ValueError(f"time_axis {time_axis} must be a leading axis of poses with shape {pred.shape}")
    if pred.shape[axis] < 2:
        raise ValueError(f"mpjve needs at least 2 frames along axis {axis}, got shape {pred.shape}")
    return masked_mean(joint_errors(np.diff(pred, axis=axis), np.diff(gt, axis=axis)), mask)
