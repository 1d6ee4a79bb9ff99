"""LSP and FLIC PCK and PDJ with torso normalisation, as Wei Yang's ``eval_pose`` computes them.

Protocol (``bearpaw/eval_pose`` ``utils/eval_pck.m``, ``utils/eval_pdj.m``; PCK as defined by
Sapp & Taskar, CVPR 2013; PDJ by Toshev & Szegedy, CVPR 2014; REFERENCE-METRICS-FORMATS.md A3.1):

- normaliser per image: the **torso diameter of the ground truth**, ``||gt[a] - gt[b]||`` for the
  layout's reference pair (LSP: left shoulder - right hip; FLIC 10-joint: joint 7 - joint 6,
  1-based, i.e. left shoulder - right hip);
- a joint is correct when ``||pred - gt|| / torso <= thr``; PCK is read at 0.2 on the curve
  ``0:0.01:0.2``, PDJ at 0.1/0.2/0.3/0.4 on the curve ``0:0.01:0.5``;
- **no visibility mask**: every joint of every image counts, occluded LSP joints included; a
  NaN in the ground truth or the prediction (or a zero torso) makes the joint wrong;
- per joint the curve is **symmetrised**: ``(PCK_j + PCK_sym(j)) / 2`` with the layout's
  left/right partner ``sym(j)``; a group column (Ankle, Knee, ...) is the mean over its joints;
- "Mean" pools all joints and images (every joint has the same count, so it equals the mean of
  the per-joint values, symmetrised or not);
- AUC: area under the Mean curve with thresholds rescaled to ``[0, 1]`` (trapezoid rule, as
  :mod:`posekit.metrics.auc`), in percent.

PDJ and PCK share one computation: eval_pose normalises PDJ by the same joint pair (LSP
``[3, 10]``, FLIC ``[6, 7]``, 1-based), so PDJ@a equals PCK@a; only the threshold range and the
columns printed differ.

Labels: LSP's released labels are person-centric (PC, anatomical left/right); eval_pose's
observer-centric (OC) relabelling names limbs by image side. Both use the same layout here; which
one a number refers to is decided by the ground-truth file (``lsp-joints-PC.mat`` or
``lsp-joints-OC.mat``). FLIC labels are observer-centric. The LSP test set is images 1001-2000.

Yang & Ramanan's original PCK (``alpha * max(h, w)`` of the tight box around the ground-truth
joints) is a different normaliser and is not computed here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.metrics.auc import normalized_auc, threshold_range

__all__ = ["FLIC10", "LSP14", "TORSO_LAYOUTS", "TorsoLayout", "TorsoPCKResult", "torso_pck", "pdj",
           "PCK_THRESHOLDS", "PDJ_THRESHOLDS"]

#: eval_pose's PCK curve ``0:0.01:0.2`` (PCK read at 0.2).
PCK_THRESHOLDS = threshold_range(0.2)
#: eval_pose's PDJ curve ``0:0.01:0.5`` (printed at 0.1, 0.2, 0.3, 0.4).
PDJ_THRESHOLDS = threshold_range(0.5)


@dataclass(frozen=True)
class TorsoLayout:
    """A joint layout for torso-normalised PCK.

    ``joints``: joint names in array order; ``torso``: 0-based ``(a, b)``, normaliser
    ``||gt[a] - gt[b]||``; ``symmetry``: 0-based left/right partner of each joint (itself for
    none); ``groups``: ``(column, joints)`` in the printed order.
    """

    name: str
    joints: tuple[str, ...]
    torso: tuple[int, int]
    symmetry: tuple[int, ...]
    groups: tuple[tuple[str, tuple[int, ...]], ...]


#: LSP 14 joints (LSP order); torso = l_shoulder (10, 1-based) - r_hip (3); eval_pose symmetry
#: ``[6,5,4,3,2,1,12,11,10,9,8,7,14,13]`` (1-based: neck and head top are averaged as "Head").
LSP14 = TorsoLayout(
    name="lsp14",
    joints=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder",
            "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top"),
    torso=(9, 2),
    symmetry=(5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 13, 12),
    groups=(("Ankle", (0, 5)), ("Knee", (1, 4)), ("Hip", (2, 3)), ("Wrist", (6, 11)), ("Elbow", (7, 10)),
            ("Shoulder", (8, 9)), ("Head", (12, 13))),
)

#: FLIC 10-joint observer-centric layout of eval_pose (neck = mid-shoulders); torso = joint 7 -
#: joint 6 (1-based); symmetry ``[2,1,7,8,9,10,3,4,5,6]`` (1-based: nose and neck form "Head").
FLIC10 = TorsoLayout(
    name="flic10",
    joints=("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "r_hip", "l_shoulder", "l_elbow", "l_wrist",
            "l_hip"),
    torso=(6, 5),
    symmetry=(1, 0, 6, 7, 8, 9, 2, 3, 4, 5),
    groups=(("Head", (0, 1)), ("Shoulder", (2, 6)), ("Elbow", (3, 7)), ("Wrist", (4, 8)), ("Hip", (5, 9))),
)

TORSO_LAYOUTS: dict[str, TorsoLayout] = {"lsp14": LSP14, "flic10": FLIC10}


@dataclass(frozen=True)
class TorsoPCKResult:
    """Torso-normalised PCK curves, in percent.

    - ``thresholds``: ``(T,)``;
    - ``per_joint``: ``(T, K)`` unsymmetrised accuracy of each joint;
    - ``symmetric``: ``(T, K)`` ``(per_joint + per_joint[:, sym]) / 2``;
    - ``groups``: ``{column: (T,)}`` mean of ``symmetric`` over the group's joints;
    - ``mean``: ``(T,)`` pooled over all joints and images; ``auc``: area under ``mean`` over
      the thresholds rescaled to ``[0, 1]``;
    - ``layout``: the :class:`TorsoLayout`.
    """

    thresholds: np.ndarray
    per_joint: np.ndarray
    symmetric: np.ndarray
    groups: dict[str, np.ndarray]
    mean: np.ndarray
    auc: float
    layout: TorsoLayout

    def at(self, thr: float) -> dict[str, float]:
        """``{group: value, ..., "Mean": value}`` at the threshold equal to ``thr``."""
        hit = np.flatnonzero(np.isclose(self.thresholds, thr, rtol=0.0, atol=1e-12))
        if hit.size == 0:
            raise ValueError(f"torso pck: threshold {thr} is not on the curve {self.thresholds.tolist()}")
        i = int(hit[0])
        row = {name: float(v[i]) for name, v in self.groups.items()}
        row["Mean"] = float(self.mean[i])
        return row


def torso_pck(pred: np.ndarray, gt: np.ndarray, layout: TorsoLayout | str = "lsp14",
              thresholds: np.ndarray = PCK_THRESHOLDS) -> TorsoPCKResult:
    """eval_pose PCK (module docstring) of ``pred`` against ``gt``.

    ``pred``, ``gt``: ``(N, K, 2)`` joints in ``layout`` order, same pixel coordinates;
    ``layout``: a :class:`TorsoLayout` or a name in :data:`TORSO_LAYOUTS`; ``thresholds``:
    ``(T,)`` increasing, default ``0:0.01:0.2``. Comparison ``<=``; no mask; NaN -> wrong.
    """
    if isinstance(layout, str):
        if layout not in TORSO_LAYOUTS:
            raise ValueError(f"torso pck: unknown layout {layout!r}; choose one of {sorted(TORSO_LAYOUTS)}")
        layout = TORSO_LAYOUTS[layout]
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    k = len(layout.joints)
    for name, arr in (("pred", pred), ("gt", gt)):
        if arr.ndim != 3 or arr.shape[1:] != (k, 2):
            raise ValueError(f"torso pck: {name} must be (N, {k}, 2) {layout.name} joints, got {arr.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"torso pck: pred {pred.shape} and gt {gt.shape} differ in N")
    if pred.shape[0] == 0:
        raise ValueError("torso pck: pred and gt hold no images")
    thr = np.asarray(thresholds, dtype=np.float64)
    a, b = layout.torso
    torso = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.linalg.norm(pred - gt, axis=-1) / torso[:, None]  # (N, K); NaN compares false
        correct = dist[None] <= thr[:, None, None]  # (T, N, K)
    per_joint = 100.0 * correct.mean(axis=1)
    symmetric = (per_joint + per_joint[:, list(layout.symmetry)]) / 2.0
    groups = {name: symmetric[:, list(joints)].mean(axis=1) for name, joints in layout.groups}
    mean = 100.0 * correct.mean(axis=(1, 2))
    return TorsoPCKResult(thresholds=thr, per_joint=per_joint, symmetric=symmetric, groups=groups, mean=mean,
                          auc=float(normalized_auc(thr, mean)), layout=layout)


def pdj(pred: np.ndarray, gt: np.ndarray, layout: TorsoLayout | str = "lsp14",
        thresholds: np.ndarray = PDJ_THRESHOLDS) -> TorsoPCKResult:
    """eval_pose PDJ: :func:`torso_pck` on the PDJ curve ``0:0.01:0.5`` (read it with ``.at(0.1)``).

    eval_pose normalises PDJ by the same reference pair as PCK (module docstring), so the
    values equal PCK at the same thresholds.
    """
    return torso_pck(pred, gt, layout, thresholds)
