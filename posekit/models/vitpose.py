"""ViTPose (Xu, Zhang, Zhang, Tao, "ViTPose: Simple Vision Transformer Baselines for Human Pose
Estimation", NeurIPS 2022): a plain ViT backbone and a light heatmap decoder (Sec. 3.1, Fig. 2).

    image (B, 3, H, W) -> backbone: ViT, patch P = 16   (B, C, H/16, W/16)   256x192 -> 16x12
      classic decoder ("keypoint_head"):
        -> 2 x [4x4 stride-2 deconv, 256 ch, BN, ReLU]  (B, 256, H/4, W/4)
        -> final_layer 1x1 conv                          (B, K, H/4, W/4)     -> 64x48
      simple decoder:
        -> ReLU, bilinear x4 upsampling                  (B, C, H/4, W/4)
        -> final_layer 3x3 conv                          (B, K, H/4, W/4)

``stride = P / 4`` (4 at the paper's patch 16). The input is an ImageNet-normalised RGB crop;
which input pixel a heatmap cell stands for is the heatmap codec's convention (MSRA or UDP
targets, :mod:`posekit.codecs.heatmap`): the network learns whatever mapping its targets use.

Configurations (the released configs, ``ViTPose_{small,base,large,huge}_coco_256x192.py``):

    name    embed_dim  depth  heads  drop_path  params (manifest)
    small       384     12     12      0.1       24,290,577
    base        768     12     12      0.3       89,994,513
    large      1024     24     16      0.5      308,544,785
    huge       1280     32     16      0.55     637,208,849

Checkpoints: parameter and buffer names equal the official mmpose-0.x checkpoints
(``backbone.*``, ``keypoint_head.deconv_layers.{0,1,3,4}``, ``keypoint_head.final_layer``);
the files wrap them as ``checkpoint['state_dict']``, which
:func:`posekit.models.checkpoints.load_checkpoint` unwraps, so they load strictly with no key
map (checked against ``shared/manifests/vitpose_*_coco_256x192.json``). A simple-decoder
checkpoint has ``keypoint_head.final_layer`` (3x3) only, as here.

Differences from the paper's text: the simple decoder applies the ReLU *before* the
bilinear upsampling, as the reference code (and so its released weights) does; the paper
describes upsampling, then ReLU. The patch embedding pads by 2 pixels and the class-token
position is added to every token, both as in the reference (see
:mod:`posekit.models.backbones.vit`). Training uses the default heatmap MSE loss with target
weights, which is ViTPose's loss; MAE pre-training and layer-wise learning-rate decay are
training recipes, not part of the model.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.backbones.vit import VisionTransformer
from posekit.models.heads.heatmap import DeconvHead, init_head_weights, make_final_layer

DECODERS = ("classic", "simple")


class SimpleDecoder(nn.Module):
    """ViTPose's simple decoder: ``(B, C, h, w) -> ReLU -> bilinear x4 -> 3x3 conv -> (B, K, 4h, 4w)``."""

    upsample_factor = 4

    def __init__(self, in_channels: int, num_keypoints: int, final_kernel: int = 3):
        super().__init__()
        self.final_layer = make_final_layer(in_channels, num_keypoints, final_kernel)
        init_head_weights(self)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(F.relu(features), scale_factor=self.upsample_factor, mode="bilinear", align_corners=False)
        return self.final_layer(x)


class ViTPose(nn.Module):
    """ViT backbone + classic or simple heatmap decoder.

    ``forward(x: (B, 3, H, W)) -> heatmaps (B, num_keypoints, H/stride, W/stride)``,
    ``stride = patch_size / 4``; H and W must be multiples of ``patch_size``.

    Args:
        num_keypoints: K, the number of heatmaps.
        image_size: ``(height, width)`` the position embedding is sized for (the training
            crop; other multiples of ``patch_size`` work through interpolation).
        patch_size, embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_path_rate,
        patch_padding: see :class:`~posekit.models.backbones.vit.VisionTransformer`.
        decoder: ``"classic"`` (two deconvolutions) or ``"simple"`` (bilinear upsampling).
        deconv_channels: widths of the two classic-decoder deconvolutions.
    """

    output_kind = "heatmap"

    def __init__(
        self,
        num_keypoints: int = 17,
        image_size: tuple[int, int] = (256, 192),
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.3,
        patch_padding: int = 2,
        decoder: str = "classic",
        deconv_channels: Sequence[int] = (256, 256),
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if patch_size % 4:
            raise ValueError(f"patch_size must be a multiple of 4 (the decoders upsample by 4), got {patch_size}")
        if len(deconv_channels) != 2:
            raise ValueError(f"deconv_channels must hold the widths of 2 deconvolutions, got {tuple(deconv_channels)}")
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        self.num_keypoints = num_keypoints
        self.decoder = decoder
        self.stride = patch_size // 4
        self.backbone = VisionTransformer(
            image_size=image_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
            num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
            drop_path_rate=drop_path_rate, patch_padding=patch_padding,
        )
        if decoder == "classic":
            self.keypoint_head: nn.Module = DeconvHead(embed_dim, num_keypoints, deconv_channels)
        else:
            self.keypoint_head = SimpleDecoder(embed_dim, num_keypoints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.keypoint_head(self.backbone(x))


def _vitpose(defaults: dict[str, Any], num_keypoints: int, **overrides: Any) -> ViTPose:
    return ViTPose(num_keypoints=num_keypoints, **{**defaults, **overrides})


# Backbone sizes and drop-path rates of the released ViTPose_*_coco_256x192 configs.
_SMALL = {"embed_dim": 384, "depth": 12, "num_heads": 12, "drop_path_rate": 0.1}
_BASE = {"embed_dim": 768, "depth": 12, "num_heads": 12, "drop_path_rate": 0.3}
_LARGE = {"embed_dim": 1024, "depth": 24, "num_heads": 16, "drop_path_rate": 0.5}
_HUGE = {"embed_dim": 1280, "depth": 32, "num_heads": 16, "drop_path_rate": 0.55}

ZOO: dict[str, Callable[..., nn.Module]] = {
    "vitpose_small": partial(_vitpose, _SMALL),
    "vitpose_base": partial(_vitpose, _BASE),
    "vitpose_large": partial(_vitpose, _LARGE),
    "vitpose_huge": partial(_vitpose, _HUGE),
}
