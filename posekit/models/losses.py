"""Training losses."""
from __future__ import annotations

import torch


def heatmap_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Keypoint-weighted mean squared error of heatmaps (SimpleBaseline/HRNet's loss, with their 0.5 factor).

    ``pred``/``target`` ``(B, K, H, W)``; ``weight (B, K)`` (0 for unlabeled joints).
    """
    diff = (pred - target) ** 2 * weight[:, :, None, None]
    return 0.5 * diff.mean()


def partner_difference_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                            pairs: torch.Tensor) -> torch.Tensor:
    """Squared error of the left-minus-right difference of each left/right pair's heatmaps.

    ``pred``/``target`` ``(B, K, H, W)``; ``weight (B, K)``; ``pairs (P, 2)`` int64, the channel indices
    of each pair ``(l, r)`` (order within a pair does not matter). Returns
    ``0.5 * sum_{b,p,y,x} w_bl w_br ((pred_l - pred_r) - (target_l - target_r))^2 / (B K H W)``: a pair
    counts only where both joints are labelled, and the normalisation is ``heatmap_mse_loss``'s.

    Why: the heatmap MSE of a pair splits into a symmetric part (``pred_l + pred_r``) and this
    antisymmetric part with weight 1/4 each. A network whose two partner channels predict the same
    map (both knees at one knee, the symmetric state flip-augmented training starts from) gets a
    gradient towards telling the sides apart only through this part, and it is proportional to the
    difference of the two channels' weights, which is near zero there. Adding ``lambda`` times this
    term raises the antisymmetric weight from 1/4 to 1/4 + lambda/2. It cannot help where the pair's
    difference is a null direction of a 1x1 final layer (see ``heads.heatmap.grow_final_kernel``):
    one epoch at lambda = 5 left stage 3's collapsed knees as they were.
    """
    left, right = pairs[:, 0], pairs[:, 1]
    diff = (pred[:, left] - pred[:, right]) - (target[:, left] - target[:, right])
    both = (weight[:, left] * weight[:, right])[:, :, None, None]
    return 0.5 * (diff ** 2 * both).sum() / pred.numel()


def coordinate_l1_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Keypoint-weighted L1 distance of coordinates, ``mean_{b,k} w_bk * (|dx| + |dy|)``, in float32.

    ``pred``/``target`` ``(B, K, 2)`` (normalised crop coordinates); ``weight (B, K)`` (0 for
    unlabelled or outside joints). TFPose's regression loss.
    """
    diff = (pred.float() - target.float()).abs().sum(dim=-1)
    return (diff * weight.float()).mean()


def coordinate_l2_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Keypoint-weighted squared L2 distance of coordinates, ``mean_{b,k} w_bk * ||pred - target||^2``, in float32.

    ``pred``/``target`` ``(B, K, 2)`` (normalised crop coordinates); ``weight (B, K)``. DeepPose's
    loss (Toshev & Szegedy 2014, Sec. 3: squared L2 between normalised joint vectors).
    """
    diff = (pred.float() - target.float()).pow(2).sum(dim=-1)
    return (diff * weight.float()).mean()
