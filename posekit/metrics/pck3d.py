"""3D percentage of correct keypoints (3DPCK) and its area under the curve (AUC).

A joint is correct when its 3D Euclidean error is **strictly** below the threshold
(``err < thr``). AUC is the **mean** of the PCK values at evenly spaced thresholds
(``linspace(0, 150, 31)`` mm for MPI-INF-3DHP), not a trapezoid integral. Both pool the
selected joints over all frames. Source: REFERENCE-METRICS-FORMATS.md A4.3 and trap 10, from
the official MPI-INF-3DHP ``mpii_compute_3d_pck`` (``nnz(err < t) / numel``) and MMPose 0.x
``keypoint_3d_pck`` / ``keypoint_3d_auc`` (the same in metres with 0.15 and
``linspace(0, 0.15, 31)``, reported x100). Note the MuPoTS copy of the official function uses
``0:5:195`` (40 thresholds): pass those explicitly if that is what is wanted.

Values are fractions in [0, 1] (x100 for the published percentages). Thresholds are in the
unit of the errors / poses; the ``*_MM`` constants are in millimetres (see
:func:`posekit.metrics.mpjpe.to_mm` to convert metres). A non-finite error counts as wrong.
"""
from __future__ import annotations

import numpy as np

from posekit.metrics.mpjpe import Alignment, align, joint_errors

__all__ = ["PCK3D_THRESHOLD_MM", "AUC_THRESHOLDS_MM", "pck_curve_from_errors", "pck3d_from_errors",
           "auc3d_from_errors", "pck3d", "auc3d"]

#: MPI-INF-3DHP's 3DPCK threshold, millimetres.
PCK3D_THRESHOLD_MM: float = 150.0
#: MPI-INF-3DHP's AUC thresholds 0:5:150 mm (31 values).
AUC_THRESHOLDS_MM: np.ndarray = np.linspace(0.0, 150.0, 31)
AUC_THRESHOLDS_MM.setflags(write=False)


def _selected(errors: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        try:
            errors = errors[np.broadcast_to(mask, errors.shape)]
        except ValueError:
            raise ValueError(f"mask {mask.shape} does not match errors {errors.shape} (expected (..., J))") from None
    errors = errors.ravel()
    if errors.size == 0:
        raise ValueError("no joint to score: errors are empty or mask selects nothing")
    return np.where(np.isnan(errors), np.inf, errors)


def pck_curve_from_errors(errors: np.ndarray, thresholds: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Fraction of selected joints with ``error < t`` for each threshold: ``(T,)``.

    ``errors``: ``(..., J)`` joint errors; ``mask``: bool broadcastable to it (None: all);
    ``thresholds``: ``(T,)`` in the errors' unit."""
    err = _selected(errors, mask)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    return (err[None, :] < thr[:, None]).mean(axis=1)


def pck3d_from_errors(errors: np.ndarray, threshold: float, mask: np.ndarray | None = None) -> float:
    """Fraction of selected joints with ``error < threshold`` (strict), pooled over frames."""
    return float(pck_curve_from_errors(errors, np.array([threshold]), mask)[0])


def auc3d_from_errors(errors: np.ndarray, thresholds: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean of the PCK values at ``thresholds`` (the MPI-INF-3DHP AUC; not a trapezoid)."""
    return float(pck_curve_from_errors(errors, thresholds, mask).mean())


def pck3d(pred: np.ndarray, gt: np.ndarray, threshold: float, mask: np.ndarray | None = None, *,
          alignment: Alignment = "none") -> float:
    """3DPCK of ``pred`` against ``gt`` (``(..., J, 3)``, one unit; ``threshold`` in that unit,
    e.g. 150 for mm or 0.15 for metres), over ``mask`` ``(..., J)``, after per-frame
    ``alignment`` (``'procrustes'`` gives MMPose 0.x's P-3DPCK). No root subtraction here: pass
    root-relative poses, or use :func:`posekit.metrics.protocols.mpi_inf_3dhp_report`."""
    return pck3d_from_errors(joint_errors(align(pred, gt, alignment), gt), threshold, mask)


def auc3d(pred: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, mask: np.ndarray | None = None, *,
          alignment: Alignment = "none") -> float:
    """AUC of 3DPCK: mean PCK over ``thresholds`` (``(T,)``, the poses' unit; MPI-INF-3DHP:
    :data:`AUC_THRESHOLDS_MM` for mm, ``AUC_THRESHOLDS_MM / 1000`` for metres). As :func:`pck3d`."""
    return auc3d_from_errors(joint_errors(align(pred, gt, alignment), gt), thresholds, mask)
