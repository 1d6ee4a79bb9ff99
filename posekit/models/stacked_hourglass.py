"""Stacked Hourglass network (Newell, Yang, Deng, "Stacked Hourglass Networks for Human Pose
Estimation", ECCV 2016).

Data flow for a 256x256 crop with the paper's configuration (``features=256``, ``depth=4``,
``stem_width=64``; ``S`` stacks, ``K`` keypoints)::

    x (B, 3, 256, 256) ImageNet-normalised
      -> pre: 7x7 conv stride 2 + BN + ReLU (B, 64, 128, 128) -> Residual (B, 128, 128, 128)
              -> 2x2 max-pool (B, 128, 64, 64) -> Residual (B, 128, 64, 64) -> Residual (B, 256, 64, 64)
      -> for each stack i = 0 .. S-1:
           hg      = hgs[i](x)                       hourglass, 4 poolings: 64 -> 4 -> 64  (B, 256, 64, 64)
           feature = features[i](hg)                 Residual, 1x1 conv + BN + ReLU        (B, 256, 64, 64)
           heatmap = outs[i](feature)                1x1 conv                               (B, K, 64, 64)
           x = x + merge_preds[i](heatmap) + merge_features[i](feature)   (re-injection, i < S-1)
      -> forward: heatmaps of the last stack (B, K, 64, 64); forward_train: all S of them.

Output stride 4: heatmap cell ``(i, j)`` covers input pixels ``4i .. 4i+3`` (the posekit codec
defines the exact coordinate mapping of its targets). The training loss is the MSE of every
stack's heatmaps against the same target (intermediate supervision, paper Sec. 3.3): the
trainer's default loss over :meth:`StackedHourglass.forward_train`.

Checkpoint compatibility: module and attribute names equal princeton-vl/pytorch_stacked_hourglass
``models/posenet.py`` (``pre``, ``hgs.<i>.0``, ``features``, ``outs``, ``merge_features``,
``merge_preds``), so the released MPII checkpoints (``checkpoint['state_dict']``, keys prefixed
``model.module.``) load strictly through :func:`posekit.models.checkpoints.load_checkpoint`, and
the parameter counts equal theirs: 8,429,088 for 2 stacks, 32,819,328 for 8 stacks (16
keypoints). These counts include one unused 1x1 ``skip_layer`` convolution in every residual
unit whose input and output widths are equal (that implementation builds it unconditionally;
the forward pass never uses it; 7.4 M of the 8-stack network's parameters).

That network takes NHWC RGB in [0, 1] (pixel / 255, no mean/std). To use its weights with the
posekit contract (NCHW ImageNet-normalised input), build the model with ``network_input="unit"``:
``forward`` then maps its input back to [0, 1] (``x * std + mean``) before the stem. See
:data:`PRINCETON_RECORD` for the rest of its preprocessing and :func:`princeton_forward` for
its calling convention. ``PRINCETON_RECORD`` is also a posekit model record (codec with their
``input_offset``, MPII skeleton, 256x256 crops):
``estimator_from_record({**PRINCETON_RECORD, "arch": "stacked_hourglass_8"}, weights=CKPT)``.

Differences from the paper: none in the architecture. Convolutions have biases and are
initialised with PyTorch's defaults, as in the princeton-vl reference.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from posekit.models.backbones.hourglass import ConvUnit, Hourglass, Residual

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NETWORK_INPUTS = ("imagenet", "unit")

# Preprocessing of the released princeton-vl/pytorch_stacked_hourglass MPII models (facts from
# that repository: task/pose.py config, data/MPII/dp.py, test.py, utils/group.py). Build the
# model with ``arch_kwargs`` and feed it posekit's ImageNet-normalised crops; ``network_mean`` /
# ``network_std`` describe what the network itself sees after the adapter (pixel / 255).
PRINCETON_RECORD: dict[str, Any] = {
    "source": "princeton-vl/pytorch_stacked_hourglass",
    "skeleton": "mpii16",
    "num_keypoints": 16,
    "arch_kwargs": {"network_input": "unit"},
    "input_size": (256, 256),      # (w, h): a square crop
    "heatmap_size": (64, 64),      # (w, h), stride 4
    "input_layout": "NHWC",        # their forward permutes (B, H, W, 3) -> (B, 3, H, W)
    "color": "RGB",
    "network_mean": (0.0, 0.0, 0.0),
    "network_std": (1.0, 1.0, 1.0),  # input = RGB pixel / 255, in [0, 1]
    # training targets: an unnormalised Gaussian, sigma = 1 heatmap cell, centred on cell
    # floor(x_in / 4) of the 256x256 crop; their decoder returns (argmax +- 0.25 + 0.5) * 4
    # crop pixels. With pixel centres at integers, cell k's centre is input pixel 4k + 1.5 (to
    # about 1 px: the reference rounds 1-based integer coordinates), hence the codec's
    # input_offset (posekit's own MSRA recipes decode x_in = 4 * x_hm):
    "codec": {"type": "heatmap", "sigma": 1.0, "unbiased": False, "decode_mode": "quarter",
              "input_offset": 1.5},
    # posekit's crops are ImageNet-normalised; the network_input="unit" adapter undoes that
    "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "color": "RGB"},
    "box_padding": 1.25,
    "flip_test": True,             # test.py averages in the mirrored crop's heatmaps (flip_shift 0 here)
}


class StackedHourglass(nn.Module):
    """Stacked hourglass network.

    Args:
        num_keypoints: K, heatmaps per stack (MPII: 16).
        num_stacks: S, hourglasses in sequence (paper: 8; the released checkpoints: 2 and 8).
        features: channels inside the hourglasses (paper: 256); even.
        depth: 2x poolings per hourglass (paper: 4; 64x64 -> 4x4).
        stem_width: channels of the 7x7 stem convolution; the stem's residual units have
            ``2 * stem_width`` (paper: 64 / 128).
        network_input: the input normalisation the weights expect. ``"imagenet"`` (default):
            the ImageNet-normalised crop is used as is. ``"unit"``: the weights expect RGB in
            [0, 1] (the princeton-vl checkpoints); ``forward`` still takes an
            ImageNet-normalised crop and converts it.

    ``forward(x: (B, 3, H, W)) -> (B, K, H/4, W/4)`` (the last stack); H and W multiples of
    ``4 * 2**depth`` (64 for depth 4) give exact alignment, other sizes also run.
    ``forward_train(x) -> [S x (B, K, H/4, W/4)]``.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 16, num_stacks: int = 8, features: int = 256, depth: int = 4,
                 stem_width: int = 64, network_input: str = "imagenet"):
        super().__init__()
        for name, value in (("num_keypoints", num_keypoints), ("num_stacks", num_stacks), ("depth", depth),
                            ("stem_width", stem_width)):
            if value < 1:
                raise ValueError(f"StackedHourglass: {name} must be >= 1, got {value}")
        if features < 2 or features % 2:
            raise ValueError(f"StackedHourglass: features must be even and >= 2, got {features}")
        if network_input not in NETWORK_INPUTS:
            raise ValueError(f"StackedHourglass: network_input must be one of {NETWORK_INPUTS}, got {network_input!r}")
        self.num_keypoints = num_keypoints
        self.num_stacks = num_stacks
        self.network_input = network_input
        wide = 2 * stem_width
        self.pre = nn.Sequential(
            ConvUnit(3, stem_width, 7, stride=2, bn=True, relu=True),
            Residual(stem_width, wide),
            nn.MaxPool2d(2, 2),
            Residual(wide, wide),
            Residual(wide, features),
        )

        def residual(level: int, name: str) -> nn.Module:
            return Residual(features, features)

        # each hourglass sits in a one-element Sequential: the checkpoints' names are hgs.<i>.0.*
        self.hgs = nn.ModuleList(nn.Sequential(Hourglass(depth, residual)) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(features, features), ConvUnit(features, features, 1, bn=True, relu=True))
            for _ in range(num_stacks)
        )
        self.outs = nn.ModuleList(ConvUnit(features, num_keypoints, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(_Merge(features, features) for _ in range(num_stacks - 1))
        self.merge_preds = nn.ModuleList(_Merge(num_keypoints, features) for _ in range(num_stacks - 1))
        # ImageNet mean/std for the "unit" adapter; not saved in the state dict
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` ImageNet-normalised -> heatmaps of the last stack ``(B, K, H/4, W/4)``."""
        return self.forward_train(x)[-1]

    def forward_train(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` ImageNet-normalised -> every stack's heatmaps, first to last."""
        if self.network_input == "unit":
            x = x * self._std + self._mean
        return self.run_stacks(x)

    def run_stacks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The network proper on ``x`` already normalised as ``network_input`` says -> S heatmaps."""
        x = self.pre(x)
        heatmaps = []
        for i in range(self.num_stacks):
            feature = self.features[i](self.hgs[i](x))
            heatmap = self.outs[i](feature)
            heatmaps.append(heatmap)
            if i < self.num_stacks - 1:
                x = x + self.merge_preds[i](heatmap) + self.merge_features[i](feature)
        return heatmaps


class _Merge(nn.Module):
    """1x1 convolution re-injecting features or predictions (``merge_*.<i>.conv.conv`` in the checkpoints)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvUnit(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def princeton_forward(model: StackedHourglass, images: torch.Tensor) -> torch.Tensor:
    """The released network's calling convention: ``images (B, H, W, 3)`` RGB in [0, 1] ->
    ``(B, S, K, H/4, W/4)``, every stack's heatmaps. ``model`` must be built with
    ``network_input="unit"`` (the weights of the princeton-vl checkpoints)."""
    if model.network_input != "unit":
        raise ValueError(f"princeton_forward: the model's network_input must be 'unit', got {model.network_input!r}")
    return torch.stack(model.run_stacks(images.permute(0, 3, 1, 2)), dim=1)


def _build(defaults: dict[str, Any], num_keypoints: int, **overrides: Any) -> StackedHourglass:
    return StackedHourglass(num_keypoints=num_keypoints, **{**defaults, **overrides})


ZOO: dict[str, Callable[..., nn.Module]] = {
    "stacked_hourglass_2": partial(_build, {"num_stacks": 2}),
    "stacked_hourglass_8": partial(_build, {"num_stacks": 8}),
}
