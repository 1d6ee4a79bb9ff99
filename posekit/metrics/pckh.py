"""MPII PCKh (head-normalised PCK) with the official table and its published variants.

Protocol (official MPII MATLAB ``evalMPII.zip``; REFERENCE-METRICS-FORMATS.md A2):

- joints: the 16 MPII joints in MPII order (0 r_ankle ... 15 l_wrist); **pelvis (6) and
  thorax (7) are dropped**, the other 14 are scored;
- normaliser: the person's head size, ``0.6 * ||head box diagonal||`` (``util_get_head_size.m``;
  Newell's ``valid.h5`` stores it as ``normalize``, posekit's MPII readers as
  ``meta["head_sizes"]``);
- a joint counts where it is annotated (``mask``; occluded-but-annotated joints count, the
  ``is_visible`` flag is not used); a non-finite prediction counts as wrong;
- correct when ``||pred - gt|| / head_size <= thr`` (``<`` in the ``mmpose`` variant), at the 51
  thresholds ``0:0.01:0.5``;
- "Total" pools all annotated joints of the 14 (correct / annotated); "UBody" pools wrists,
  elbows and shoulders; the part columns are means of the left and right joint's PCKh;
- AUC: the area under the Total curve over ``0:0.01:0.5`` rescaled to ``[0, 1]``, trapezoid
  rule on the 51 points (equal to the official ``quadgk`` of the linear interpolant).

Coordinates: ``pred`` and ``gt`` only need the same origin. The official evaluators compare
1-based predictions with the 1-based release labels (HRNet and MMPose add +1 to their 0-based
predictions); posekit's MPII readers return 0-based ground truth, so 0-based predictions are
compared with it directly and no shift is applied here. Mixing the two conventions costs
real accuracy: on the MPII validation fixture a 1 px shift of every prediction moves PCKh@0.1
from 24.47 to 28.78 (tests/test_metrics_pckh.py).

Variants (the table's columns and threshold choices differ between published evaluators):

- ``official`` (MPII ``genTablePCK.m``): ``<=``; Head = mean of upper-neck and head-top PCKh;
  the low-threshold column is Total at 0.10.
- ``hrnet`` (HRNet ``lib/dataset/mpii.py``, bearpaw ``eval_PCKh.py``): ``<=``; Head = head top
  only; "Mean@0.1" is Total at **0.11** (``pckAll[11]``).
- ``mmpose`` (MMPose 1.x ``MpiiPCKAccuracy``): strict ``<``; Head = head top only; "PCK@0.1"
  is Total at 0.10 (``pckAll[10]``).

Thresholds are the doubles nearest the decimals 0.00 ... 0.50. HRNet's ``np.arange(0, 0.51, 0.01)``
differs from them by one ulp at 0.35, 0.41 and 0.47 only, which can matter only for an error
lying exactly on one of those thresholds (never for the reported 0.1, 0.11 and 0.5 columns).
Head sizes should be float64: rounding them to float32 moves a joint lying exactly on a threshold
(on the validation fixture the ``mmpose`` Total moves by 0.0026 points and Hip by 0.017).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.metrics.auc import normalized_auc, threshold_range
from posekit.metrics.pck import normalized_errors

__all__ = ["PCKH_THRESHOLDS", "PCKH_VARIANTS", "PCKH_JOINTS", "PCKhResult", "PCKhVariant", "mpii_pckh"]

#: The 51 thresholds of every MPII evaluator: ``0:0.01:0.5``.
PCKH_THRESHOLDS = threshold_range(0.5)
#: MPII joints scored by PCKh, in the official matrix order (``annolist2matrix.m``): MPII ids 0-5,
#: 10-15, then 8 (upper neck) and 9 (head top). Pelvis (6) and thorax (7) are dropped.
PCKH_JOINTS = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)
_UBODY = (10, 11, 12, 13, 14, 15)
# (column, MPII joints averaged); Head is filled in per variant.
_PAIRS = (("Shoulder", (12, 13)), ("Elbow", (11, 14)), ("Wrist", (10, 15)), ("Hip", (2, 3)),
          ("Knee", (1, 4)), ("Ankle", (0, 5)))


@dataclass(frozen=True)
class PCKhVariant:
    """How one published evaluator reports PCKh.

    ``strict``: ``<`` instead of ``<=``; ``head_joints``: MPII joints averaged into "Head";
    ``low_name`` / ``low_index``: name of the low-threshold Total column and its index into
    :data:`PCKH_THRESHOLDS` (10 -> 0.10, 11 -> 0.11); ``source``: the evaluator.
    """

    name: str
    strict: bool
    head_joints: tuple[int, ...]
    low_name: str
    low_index: int
    source: str


PCKH_VARIANTS: dict[str, PCKhVariant] = {
    "official": PCKhVariant("official", False, (8, 9), "Total@0.1", 10,
                            "MPII evalMPII.zip (evaluatePCKh.m, genTablePCK.m)"),
    "hrnet": PCKhVariant("hrnet", False, (9,), "Mean@0.1", 11,
                         "HRNet lib/dataset/mpii.py::evaluate (pckAll[11] = threshold 0.11)"),
    "mmpose": PCKhVariant("mmpose", True, (9,), "PCK@0.1", 10,
                          "MMPose 1.x MpiiPCKAccuracy (strict <, pckAll[10])"),
}


@dataclass(frozen=True)
class PCKhResult:
    """PCKh curves and the table of one variant, all in percent.

    - ``thresholds``: ``(51,)`` = ``0:0.01:0.5``;
    - ``per_joint``: ``(51, 16)`` PCKh of each MPII joint (NaN for pelvis, thorax and joints
      without any annotated instance); ``counts``: ``(16,)`` annotated instances scored
      (0 for pelvis and thorax);
    - ``total``: ``(51,)`` pooled over the 14 scored joints; ``ubody``: ``(51,)`` pooled over
      wrists, elbows and shoulders;
    - ``table``: ordered ``{column: value}``: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle,
      UBody and Total at 0.5, the variant's low-threshold Total, and AUC (of Total over 0-0.5);
    - ``variant``: the :class:`PCKhVariant` used.
    """

    thresholds: np.ndarray
    per_joint: np.ndarray
    counts: np.ndarray
    total: np.ndarray
    ubody: np.ndarray
    table: dict[str, float]
    variant: PCKhVariant


def _pooled(correct: np.ndarray, valid: np.ndarray, joints: tuple[int, ...]) -> np.ndarray:
    count = valid[:, list(joints)].sum()
    hits = correct[:, :, list(joints)].sum(axis=(1, 2))
    return 100.0 * hits / count if count else np.full(correct.shape[0], np.nan)


def mpii_pckh(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, head_size: np.ndarray,
              variant: str = "official") -> PCKhResult:
    """PCKh of ``pred`` against ``gt`` under one of :data:`PCKH_VARIANTS` (module docstring).

    ``pred``, ``gt``: ``(N, 16, 2)`` MPII joints in the same pixel coordinates (posekit
    readers: 0-based, pixel centres at integers); ``mask``: ``(N, 16)`` bool, joint annotated
    in the ground truth; ``head_size``: ``(N,)`` the PCKh normaliser in pixels. A person whose
    head size is not finite and positive is left out. Returns a :class:`PCKhResult`.
    """
    if variant not in PCKH_VARIANTS:
        raise ValueError(f"pckh: unknown variant {variant!r}; choose one of {sorted(PCKH_VARIANTS)}")
    spec = PCKH_VARIANTS[variant]
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[1:] != (16, 2):
        raise ValueError(f"pckh: pred must be (N, 16, 2) MPII joints, got {pred.shape}")
    keep = np.zeros(16, dtype=bool)
    keep[list(PCKH_JOINTS)] = True
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"pckh: mask must be (N, 16) = {pred.shape[:2]}, got {mask.shape}")
    dist = normalized_errors(pred, gt, mask & keep, head_size)  # (N, 16), NaN = not scored
    valid = ~np.isnan(dist)
    thr = PCKH_THRESHOLDS[:, None, None]
    with np.errstate(invalid="ignore"):
        correct = ((dist[None] < thr) if spec.strict else (dist[None] <= thr)) & valid[None]
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(counts > 0, 100.0 * correct.sum(axis=1) / counts, np.nan)
    total = _pooled(correct, valid, PCKH_JOINTS)
    ubody = _pooled(correct, valid, _UBODY)
    at = PCKH_THRESHOLDS.size - 1  # 0.5
    table = {"Head": float(np.mean(per_joint[at, list(spec.head_joints)]))}
    for name, joints in _PAIRS:
        table[name] = float(np.mean(per_joint[at, list(joints)]))
    table["UBody"] = float(ubody[at])
    table["Total"] = float(total[at])
    table[spec.low_name] = float(total[spec.low_index])
    table["AUC"] = float(normalized_auc(PCKH_THRESHOLDS, total))
    return PCKhResult(thresholds=PCKH_THRESHOLDS.copy(), per_joint=per_joint, counts=counts, total=total,
                      ubody=ubody, table=table, variant=spec)
