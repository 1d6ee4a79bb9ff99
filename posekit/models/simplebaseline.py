"""SimpleBaseline (Xiao, Wu, Wei, "Simple Baselines for Human Pose Estimation and Tracking", ECCV 2018).

    image (B,3,H,W) -> ResNet C5 (B, 2048|512, H/32, W/32)
                    -> 3 x [4x4 stride-2 deconv, 256 ch, BN, ReLU]  (B, 256, H/4, W/4)
                    -> 1x1 conv                                     (B, K, H/4, W/4) heatmaps

Attribute names equal the released checkpoints of microsoft/human-pose-estimation.pytorch
(``conv1``, ``bn1``, ``layer1``..``layer4``, ``deconv_layers``, ``final_layer``), so their flat
state dicts load strictly. The input is an RGB crop normalised with the ImageNet mean/std.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from posekit.models.backbones.resnet import ResNet
from posekit.models.heads.heatmap import init_head_weights, make_deconv_layers, make_final_layer


class SimpleBaseline(ResNet):
    """ResNet backbone + deconvolution head.

    ``forward(x: (B, 3, H, W)) -> heatmaps (B, num_keypoints, H/stride, W/stride)`` where
    ``stride = 32 / 2**len(deconv_channels)`` (4 with the paper's three deconvolutions).
    H and W must be multiples of 32 for the output to be exactly ``H/stride x W/stride``
    (e.g. 256x192, 160x128, 128x96; a 192x144 input gives 48x40 maps).
    """

    def __init__(
        self,
        depth: int = 50,
        num_keypoints: int = 17,
        deconv_channels: Sequence[int] = (256, 256, 256),
        deconv_kernel: int = 4,
        final_kernel: int = 1,
    ):
        super().__init__(depth)
        if len(deconv_channels) > 5:
            raise ValueError(f"at most 5 deconvolution layers (stride 32 -> 1), got {len(deconv_channels)}")
        self.num_keypoints = num_keypoints
        self.deconv_layers = make_deconv_layers(self.out_channels, deconv_channels, deconv_kernel)
        self.final_layer = make_final_layer(
            deconv_channels[-1] if deconv_channels else self.out_channels, num_keypoints, final_kernel
        )
        self.stride = 32 // 2 ** len(deconv_channels)
        init_head_weights(self.deconv_layers)
        init_head_weights(self.final_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(super().forward(x)))
