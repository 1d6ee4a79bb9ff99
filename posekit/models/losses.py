"""Training losses."""
from __future__ import annotations

import torch


def heatmap_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Keypoint-weighted mean squared error of heatmaps (SimpleBaseline/HRNet's loss, with their 0.5 factor).

    ``pred``/``target`` ``(B, K, H, W)``; ``weight (B, K)`` (0 for unlabeled joints).
    """
    diff = (pred - target) ** 2 * weight[:, :, None, None]
    return 0.5 * diff.mean()
