"""Stacked hourglass with Pyramid Residual Modules (Yang, Li, Ouyang, Li, Wang, "Learning Feature
Pyramids for Human Pose Estimation", ICCV 2017).

A Pyramid Residual Module (PRM) adds to the residual unit's bottleneck branch ``f_0`` a branch
that convolves the input at ``C`` smaller scales (paper Eq. 3, Fig. 3)::

    P(x) = g( sum_{c=1..C} f_c(x) ) + f_0(x),      x_out = x + conv1x1(BN-ReLU(P(x)))

    f_0:  BN-ReLU-1x1 (C_out/2) -> BN-ReLU-3x3 (C_out/2)           the residual unit's branch
    f_c:  [shared: BN-ReLU-1x1 (D) -> BN-ReLU]                      PRM-B: one input transform
          -> fractional max-pool by s_c = 2^(-M c / C) -> 3x3 conv (D) -> bilinear upsample
    g:    BN-ReLU-1x1 (D -> C_out/2)

This is PRM-B (the pyramid levels share the 1x1 reduction), the variant the authors' released
code (bearpaw/PyraNet, ``models/layers/PRM.lua``) builds and, by the paper's ablation (Sec. 5),
as accurate as the other variants at a lower cost. ``M = 1``, ``C = 4`` and ``D = C_out // 9``
(28 for 256 channels) are the released MPII configuration (``experiments/mpii``:
``baseWidth=9``, ``cardinality=4``), so the scales are 2^-1/4, 2^-2/4, 2^-3/4, 2^-1. A level
of an ``h x w`` map is pooled to ``floor(s_c h) x floor(s_c w)`` and upsampled back with
``align_corners=True`` (Torch's ``SpatialUpSamplingBilinear``).

The network is the stacked hourglass (:mod:`posekit.models.stacked_hourglass`) with PRMs
in place of residual units, laid out as the authors' ``models/hg-prm.lua``::

    x (B, 3, 256, 256) ImageNet-normalised
      -> stem: 7x7 conv stride 2 + BN + ReLU (B, 64, 128, 128) -> PRM (B, 128, 128, 128)
               -> 2x2 max-pool -> PRM (B, 128, 64, 64) -> PRM (B, 256, 64, 64)
      -> per stack i: hourglass (depth 4, PRMs at 64, 32, 16 px; plain residual units at 8
         and 4 px, too small for a pyramid) (B, 256, 64, 64)
         -> head: BN-ReLU, 1x1 conv + BN + ReLU (B, 256, 64, 64) -> 1x1 conv (B, K, 64, 64)
         -> re-injection x = x + 1x1(features) + 1x1(heatmaps)  (i < S-1)
      -> forward: last stack (B, K, 64, 64); forward_train: every stack (intermediate
         supervision, MSE: the trainer's default loss).

Output stride 4, coordinates as the stacked hourglass. Two measures of the paper's Sec. 3.3
control the variance of the multi-branch network:

- initialisation (:func:`multibranch_normal_`): a convolution whose input is the sum of
  ``C_i`` branches gets ``Var[w] = 1 / (alpha * C_i * n_i)`` (``n_i`` = fan-in, ``alpha`` =
  1/2 for ReLU), i.e. He et al.'s initialisation divided by ``C_i``: ``g`` sums ``C`` levels;
  every other convolution has ``C_i = 1``.
- output variance accumulation: the residual unit feeding each hourglass addition (``low3``)
  has a BN-ReLU-1x1 convolution shortcut instead of the identity (``useConv`` in hg-prm.lua).

Difference from the paper and why: fractional max-pooling draws random pooling regions in
training (Graham 2014, as in the paper); in ``eval()`` this implementation fixes the
pseudo-random offset to 0.5 so that inference is deterministic.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.backbones.hourglass import Hourglass


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


def multibranch_normal_(conv: nn.Conv2d, input_branches: int = 1) -> None:
    """Paper Sec. 3.3 initialisation: ``w ~ N(0, 2 / (input_branches * fan_in))``, bias 0.

    ``input_branches`` is the number of branches summed into the convolution's input
    (``C_i`` of the paper; 1 gives He et al.'s initialisation)."""
    fan_in = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
    nn.init.normal_(conv.weight, std=math.sqrt(2.0 / (input_branches * fan_in)))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class PyramidResidualModule(nn.Module):
    """PRM-B: ``forward(x: (B, in_channels, h, w)) -> (B, out_channels, h, w)``.

    Args:
        in_channels, out_channels: widths; the bottleneck width is ``out_channels // 2``.
        levels: C, pyramid levels. ``0`` gives the plain pre-activation residual unit
            (no pyramid branch), used where maps are too small for a pyramid.
        octaves: M, the smallest scale is ``2^-M``.
        pyramid_divisor: the pyramid branch has ``D = out_channels // pyramid_divisor`` channels.
        preact: BN-ReLU at the start of the branches (False right after a conv-BN-ReLU stem).
        conv_shortcut: BN-ReLU-1x1 conv shortcut even when ``in_channels == out_channels``
            (the identity otherwise).
    """

    def __init__(self, in_channels: int, out_channels: int, levels: int = 4, octaves: int = 1,
                 pyramid_divisor: int = 9, preact: bool = True, conv_shortcut: bool = False):
        super().__init__()
        if out_channels < 2 or out_channels % 2:
            raise ValueError(f"PyramidResidualModule: out_channels must be even and >= 2, got {out_channels}")
        if levels < 0 or octaves < 1:
            raise ValueError(f"PyramidResidualModule: levels must be >= 0 and octaves >= 1, got {levels}, {octaves}")
        width = out_channels // pyramid_divisor
        if levels and width < 1:
            raise ValueError(f"PyramidResidualModule: pyramid_divisor {pyramid_divisor} leaves no channels "
                             f"of {out_channels} for the pyramid")
        mid = out_channels // 2
        pre = _bn_relu(in_channels) if preact else []
        self.levels = levels
        self.branch0 = nn.Sequential(
            *pre, nn.Conv2d(in_channels, mid, 1), *_bn_relu(mid), nn.Conv2d(mid, mid, 3, padding=1))
        if levels:
            self.scales = tuple(2.0 ** (-octaves * c / levels) for c in range(1, levels + 1))
            self.pyramid_reduce = nn.Sequential(
                *(_bn_relu(in_channels) if preact else []), nn.Conv2d(in_channels, width, 1), *_bn_relu(width))
            self.pyramid_convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(levels))
            self.pyramid_expand = nn.Sequential(*_bn_relu(width), nn.Conv2d(width, mid, 1))
        self.fuse = nn.Sequential(*_bn_relu(mid), nn.Conv2d(mid, out_channels, 1))
        if in_channels == out_channels and not conv_shortcut:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(*_bn_relu(in_channels), nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch0(x)
        if self.levels:
            reduced = self.pyramid_reduce(x)
            size = reduced.shape[-2:]
            pyramid = sum(
                F.interpolate(conv(self._subsample(reduced, scale)), size=size, mode="bilinear", align_corners=True)
                for conv, scale in zip(self.pyramid_convs, self.scales)
            )
            out = out + self.pyramid_expand(pyramid)
        return self.fuse(out) + self.shortcut(x)

    def _subsample(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """Fractional max-pooling (2x2 regions) to ``floor(scale * h) x floor(scale * w)``; random
        region offsets in training, fixed (0.5) in eval."""
        offsets = None if self.training else x.new_full((x.shape[0], x.shape[1], 2), 0.5)
        return F.fractional_max_pool2d(x, 2, output_ratio=(scale, scale), _random_samples=offsets)


class PRMHourglass(nn.Module):
    """Stacked hourglass network with Pyramid Residual Modules.

    Args:
        num_keypoints: K, heatmaps per stack (MPII: 16).
        num_stacks: S (paper: 8).
        features: channels inside the hourglasses (paper: 256); even.
        depth: 2x poolings per hourglass (paper: 4).
        stem_width: channels of the 7x7 stem convolution; the stem PRMs have twice as many.
        levels: C, pyramid levels per PRM (paper: 4).
        octaves: M, smallest pyramid scale ``2^-M`` (paper: 1).
        pyramid_divisor: pyramid branch width ``D = C_out // pyramid_divisor`` (released code: 9).
        pyramid_depth: hourglass blocks up to this many poolings below the hourglass input are
            PRMs, deeper ones plain residual units (released code: 3, i.e. PRMs at 64, 32, 16 px).

    ``forward(x: (B, 3, H, W)) -> (B, K, H/4, W/4)``; ``forward_train(x) -> [S x (B, K, H/4, W/4)]``.
    H and W must be multiples of ``4 * 2**depth`` for exact alignment (other sizes also run).
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 16, num_stacks: int = 8, features: int = 256, depth: int = 4,
                 stem_width: int = 64, levels: int = 4, octaves: int = 1, pyramid_divisor: int = 9,
                 pyramid_depth: int = 3):
        super().__init__()
        for name, value in (("num_keypoints", num_keypoints), ("num_stacks", num_stacks), ("depth", depth),
                            ("stem_width", stem_width), ("octaves", octaves), ("pyramid_divisor", pyramid_divisor)):
            if value < 1:
                raise ValueError(f"PRMHourglass: {name} must be >= 1, got {value}")
        if features < 2 or features % 2:
            raise ValueError(f"PRMHourglass: features must be even and >= 2, got {features}")
        if levels < 0 or pyramid_depth < 0:
            raise ValueError(f"PRMHourglass: levels and pyramid_depth must be >= 0, got {levels}, {pyramid_depth}")
        self.num_keypoints = num_keypoints
        self.num_stacks = num_stacks
        prm = partial(PyramidResidualModule, levels=levels, octaves=octaves, pyramid_divisor=pyramid_divisor)
        wide = 2 * stem_width
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, 7, stride=2, padding=3), *_bn_relu(stem_width),
            prm(stem_width, wide, preact=False),
            nn.MaxPool2d(2, 2),
            prm(wide, wide),
            prm(wide, features),
        )

        def block(level: int, name: str) -> nn.Module:
            return prm(features, features, levels=levels if level < pyramid_depth else 0,
                       conv_shortcut=name == "low3")

        self.hourglasses = nn.ModuleList(Hourglass(depth, block) for _ in range(num_stacks))
        self.heads = nn.ModuleList(
            nn.Sequential(*_bn_relu(features), nn.Conv2d(features, features, 1), *_bn_relu(features))
            for _ in range(num_stacks)
        )
        self.outs = nn.ModuleList(nn.Conv2d(features, num_keypoints, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(features, features, 1) for _ in range(num_stacks - 1))
        self.merge_preds = nn.ModuleList(nn.Conv2d(num_keypoints, features, 1) for _ in range(num_stacks - 1))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                multibranch_normal_(m)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, PyramidResidualModule) and m.levels:
                multibranch_normal_(m.pyramid_expand[-1], input_branches=m.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` ImageNet-normalised -> heatmaps of the last stack ``(B, K, H/4, W/4)``."""
        return self.forward_train(x)[-1]

    def forward_train(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` ImageNet-normalised -> every stack's heatmaps, first to last."""
        x = self.stem(x)
        heatmaps = []
        for i in range(self.num_stacks):
            feature = self.heads[i](self.hourglasses[i](x))
            heatmap = self.outs[i](feature)
            heatmaps.append(heatmap)
            if i < self.num_stacks - 1:
                x = x + self.merge_features[i](feature) + self.merge_preds[i](heatmap)
        return heatmaps


def _build(defaults: dict[str, Any], num_keypoints: int, **overrides: Any) -> PRMHourglass:
    return PRMHourglass(num_keypoints=num_keypoints, **{**defaults, **overrides})


ZOO: dict[str, Callable[..., nn.Module]] = {
    "prm_hourglass_8": partial(_build, {"num_stacks": 8}),
}
