"""Top-down HRNet pose network (Sun et al., CVPR 2019): HRNet backbone whose last exchange unit
outputs only the highest-resolution branch, then a 1x1 conv to K heatmaps ("we regress the
heatmaps simply from the high-resolution representations output by the last exchange unit").

    image (B,3,H,W) -> HRNet branch 0 (B, C, H/4, W/4) -> final_layer 1x1 -> (B, K, H/4, W/4)

Names equal leoxiaobin/deep-high-resolution-net.pytorch ``pose_hrnet.py``, so the released
flat state dicts load strictly. The input is an RGB crop normalised with the ImageNet mean/std.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from posekit.models.backbones.hrnet import HRNet
from posekit.models.heads.heatmap import init_head_weights, make_final_layer


class PoseHRNet(HRNet):
    """``forward(x: (B, 3, H, W)) -> heatmaps (B, num_keypoints, ~H/4, ~W/4)``; ``stride = 4``.

    See :class:`~posekit.models.backbones.hrnet.HRNet` for the structural arguments."""

    stride = 4

    def __init__(
        self,
        width: int = 32,
        num_keypoints: int = 17,
        stage1_planes: int = 64,
        stage1_blocks: int = 4,
        stage_modules: Sequence[int] = (1, 4, 3),
        stage_blocks: Sequence[int] = (4, 4, 4),
        final_kernel: int = 1,
    ):
        super().__init__(width, stage1_planes, stage1_blocks, stage_modules, stage_blocks, multi_scale_output=False)
        self.num_keypoints = num_keypoints
        self.final_layer = make_final_layer(width, num_keypoints, final_kernel)
        init_head_weights(self.final_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(super().forward(x)[0])
