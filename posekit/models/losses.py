"""Training losses."""
from __future__ import annotations

import torch


def heatmap_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Keypoint-weighted mean squared error of heatmaps (SimpleBaseline/HRNet's loss, with their 0.5 factor).

    ``pred``/``target`` ``(B, K, H, W)``; ``weight (B, K)`` (0 for unlabeled joints).
    """
    diff = (pred - target) ** 2 * weight[:, :, None, None]
    return 0.5 * diff.mean()


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
