"""PCP: percentage of correctly localised parts (sticks), strict and loose.

Definitions (alpha = 0.5 by default; a part's length ``L`` is its ground-truth length):

- **strict**: a part is correct when **both** predicted endpoints lie within ``alpha * L`` of
  the corresponding ground-truth endpoints, ``d1 <= alpha L and d2 <= alpha L``. This is what
  ``bearpaw/eval_pose`` ``utils/eval_pcp.m`` computes and prints as "strict PCP" for LSP. PCP is
  due to Ferrari, Marin-Jimenez & Zisserman (CVPR 2008, "Progressive search space reduction for
  human pose estimation"); the strict/loose naming follows Eichner et al. (IJCV 2012). Both
  attributions are from memory: the paper texts were not available to check here.
- **loose**: the **mean** of the two endpoint errors lies within ``alpha * L``,
  ``(d1 + d2) / 2 <= alpha L``, as public MATLAB PCP evaluators implement the ``'loose'`` type
  (``getPCPscore``). Every strict-correct part is loose-correct.

Comparison ``<=``; no visibility mask; a NaN endpoint or a zero-length ground-truth part makes
the part wrong. Per part the result is symmetrised like eval_pose, ``(PCP_s + PCP_sym(s)) / 2``;
"Mean" pools all parts of all images.

Sticks (eval_pose ``utils/keypoints2sticks.m``): LSP's 10 parts from its 14 joints are the
lower and upper legs, lower and upper arms, the head (neck - head top) and the torso (mid-hips -
mid-shoulders). eval_pose's comment lists torso as part 9 and head as part 10, but its arrays
put neck - head top at 9 and the torso at 10; :data:`LSP_STICKS` names them by content.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LSP_STICKS", "PCPResult", "StickLayout", "pcp", "stick_endpoints"]


@dataclass(frozen=True)
class StickLayout:
    """Parts as pairs of endpoints; an endpoint is the mean of the listed joints (0-based).

    ``names``: ``(S,)`` part names; ``ends``: per part ``(endpoint 1 joints, endpoint 2
    joints)``; ``symmetry``: 0-based left/right partner of each part (itself for none);
    ``groups``: ``(column, parts)`` in the printed order; ``num_joints``: K of the input.
    """

    name: str
    num_joints: int
    names: tuple[str, ...]
    ends: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    symmetry: tuple[int, ...]
    groups: tuple[tuple[str, tuple[int, ...]], ...]


#: LSP's 10 PCP sticks over the 14 LSP joints (0 r_ankle ... 11 l_wrist, 12 neck, 13 head_top).
LSP_STICKS = StickLayout(
    name="lsp14",
    num_joints=14,
    names=("r_lower_leg", "r_upper_leg", "l_upper_leg", "l_lower_leg", "r_lower_arm", "r_upper_arm",
           "l_upper_arm", "l_lower_arm", "head", "torso"),
    ends=(((0,), (1,)), ((1,), (2,)), ((3,), (4,)), ((4,), (5,)), ((6,), (7,)), ((7,), (8,)),
          ((9,), (10,)), ((10,), (11,)), ((12,), (13,)), ((2, 3), (8, 9))),
    symmetry=(3, 2, 1, 0, 7, 6, 5, 4, 8, 9),
    groups=(("Torso", (9,)), ("Upper Leg", (1, 2)), ("Lower Leg", (0, 3)), ("Upper Arm", (5, 6)),
            ("Forearm", (4, 7)), ("Head", (8,))),
)


@dataclass(frozen=True)
class PCPResult:
    """PCP in percent: ``per_part (S,)``, ``symmetric (S,)``, ``groups {column: value}``,
    ``mean`` (pooled over parts and images), ``mode`` ("strict"/"loose"), ``alpha``, ``layout``."""

    per_part: np.ndarray
    symmetric: np.ndarray
    groups: dict[str, float]
    mean: float
    mode: str
    alpha: float
    layout: StickLayout


def stick_endpoints(keypoints: np.ndarray, layout: StickLayout = LSP_STICKS) -> np.ndarray:
    """``(N, K, 2)`` joints -> ``(N, S, 2, 2)`` part endpoints ``[part, end, xy]``."""
    kp = np.asarray(keypoints, dtype=np.float64)
    ends = [np.stack([kp[:, list(e1)].mean(axis=1), kp[:, list(e2)].mean(axis=1)], axis=1)
            for e1, e2 in layout.ends]
    return np.stack(ends, axis=1)


def pcp(pred: np.ndarray, gt: np.ndarray, layout: StickLayout = LSP_STICKS, alpha: float = 0.5,
        mode: str = "strict") -> PCPResult:
    """PCP (module docstring) of ``pred`` against ``gt``.

    ``pred``, ``gt``: ``(N, K, 2)`` joints in the layout's order (LSP 14 by default), same
    pixel coordinates; ``alpha``: fraction of the ground-truth part length; ``mode``:
    ``"strict"`` (both endpoints) or ``"loose"`` (mean of the two endpoint errors).
    """
    if mode not in ("strict", "loose"):
        raise ValueError(f"pcp: mode must be 'strict' or 'loose', got {mode!r}")
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    k = layout.num_joints
    for name, arr in (("pred", pred), ("gt", gt)):
        if arr.ndim != 3 or arr.shape[1:] != (k, 2):
            raise ValueError(f"pcp: {name} must be (N, {k}, 2) {layout.name} joints, got {arr.shape}")
    if pred.shape != gt.shape or pred.shape[0] == 0:
        raise ValueError(f"pcp: pred {pred.shape} and gt {gt.shape} must hold the same N > 0 images")
    p, g = stick_endpoints(pred, layout), stick_endpoints(gt, layout)
    length = np.linalg.norm(g[:, :, 0] - g[:, :, 1], axis=-1)  # (N, S)
    err = np.linalg.norm(p - g, axis=-1)  # (N, S, 2)
    limit = alpha * length
    with np.errstate(invalid="ignore"):
        if mode == "strict":
            correct = (err[..., 0] <= limit) & (err[..., 1] <= limit)
        else:
            correct = err.mean(axis=-1) <= limit
        correct &= length > 0
    per_part = 100.0 * correct.mean(axis=0)
    symmetric = (per_part + per_part[list(layout.symmetry)]) / 2.0
    groups = {name: float(symmetric[list(parts)].mean()) for name, parts in layout.groups}
    return PCPResult(per_part=per_part, symmetric=symmetric, groups=groups, mean=float(100.0 * correct.mean()),
                     mode=mode, alpha=float(alpha), layout=layout)
