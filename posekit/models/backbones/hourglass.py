"""Building blocks of hourglass networks (Newell, Yang, Deng, "Stacked Hourglass Networks for
Human Pose Estimation", ECCV 2016, Sec. 3.1 and Fig. 3-4).

Public names (stable; also used by the PRM and Multi-Context Attention networks):

- :class:`ConvUnit`: convolution with bias ("same" padding), optional BatchNorm, optional ReLU,
  in that order; attributes ``conv`` and ``bn``.
- :class:`Residual`: the paper's pre-activation bottleneck residual unit
  ``BN-ReLU-1x1(C/2) -> BN-ReLU-3x3(C/2) -> BN-ReLU-1x1(C)`` plus a shortcut
  (identity, or a 1x1 convolution ``skip_layer`` when the channel count changes).
- :class:`Hourglass`: the recursive hourglass module, parameterised by a block constructor
  (:data:`BlockFactory`) so that other residual units (e.g. Pyramid Residual Modules) can
  replace the paper's residual unit at any resolution.

The attribute names (``conv``/``bn``; ``bn1``, ``conv1``, ..., ``skip_layer``; ``up1``,
``low1``, ``low2``, ``low3``) equal those of princeton-vl/pytorch_stacked_hourglass
(``models/layers.py``), so that the released checkpoints load strictly. That implementation
builds ``skip_layer`` in every residual unit, also where input and output channels are equal
and the shortcut is the identity; :class:`Residual` keeps it too (``need_skip`` is False,
the forward pass never uses it) so that the parameter count and the state dict keys match.

Shapes: a residual unit maps ``(B, C_in, h, w) -> (B, C_out, h, w)``; a hourglass of depth
``d`` maps ``(B, C, h, w) -> (B, C, h, w)`` through ``d`` 2x2 max-poolings down to
``(h / 2^d, w / 2^d)`` and ``d`` nearest-neighbour upsamplings back (each upsampled to the
exact size of the skip branch, so sizes that are not multiples of ``2^d`` also work).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# block(level, name) -> module mapping (B, C, h, w) -> (B, C, h, w). ``level`` is the number of
# 2x poolings between the hourglass input and the block's input (0: the top skip branch ``up1``;
# 1: ``low1``/``low3`` of the top level, ...); ``name`` is the attribute the block is stored
# under: "up1", "low1", "low2" (only in the innermost level) or "low3".
BlockFactory = Callable[[int, str], nn.Module]


class ConvUnit(nn.Module):
    """``conv`` (k x k, stride, padding (k-1)//2, with bias) -> optional ``bn`` -> optional ReLU.

    ``forward(x: (B, C_in, h, w)) -> (B, C_out, ceil(h / stride), ceil(w / stride))`` for odd k."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 bn: bool = False, relu: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2)
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    """Pre-activation bottleneck residual unit of the stacked hourglass paper (Fig. 4 left).

    ``forward(x: (B, in_channels, h, w)) -> (B, out_channels, h, w)``; the bottleneck width is
    ``out_channels // 2``. The shortcut is the identity when ``in_channels == out_channels``,
    else ``skip_layer`` (1x1 convolution). ``skip_layer`` always exists (see the module
    docstring): unused when the shortcut is the identity.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        if out_channels < 2 or out_channels % 2:
            raise ValueError(f"Residual: out_channels must be even and >= 2, got {out_channels}")
        mid = out_channels // 2
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = ConvUnit(in_channels, mid, 1)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = ConvUnit(mid, mid, 3)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = ConvUnit(mid, out_channels, 1)
        self.skip_layer = ConvUnit(in_channels, out_channels, 1)
        self.need_skip = in_channels != out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.skip_layer(x) if self.need_skip else x
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut


class Hourglass(nn.Module):
    """Recursive hourglass module (paper Fig. 3), ``depth`` levels, one block per position.

    ``forward(x: (B, C, h, w)) -> (B, C, h, w)``::

        up1  = block(level, "up1")(x)                          # skip branch, same resolution
        low1 = block(level + 1, "low1")(maxpool2x2(x))         # (h/2, w/2)
        low2 = Hourglass(depth - 1)(low1) if depth > 1 else block(level + 1, "low2")(low1)
        low3 = block(level + 1, "low3")(low2)
        out  = up1 + nearest_upsample(low3, size=(h, w))

    ``block`` is a :data:`BlockFactory`; ``level`` is this module's distance (in poolings)
    from the outermost hourglass (0 for the outermost, which callers construct).
    """

    def __init__(self, depth: int, block: BlockFactory, level: int = 0):
        super().__init__()
        if depth < 1:
            raise ValueError(f"Hourglass: depth must be >= 1, got {depth}")
        self.up1 = block(level, "up1")
        self.pool1 = nn.MaxPool2d(2, 2)
        self.low1 = block(level + 1, "low1")
        self.low2 = Hourglass(depth - 1, block, level + 1) if depth > 1 else block(level + 1, "low2")
        self.low3 = block(level + 1, "low3")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up1 = self.up1(x)
        low3 = self.low3(self.low2(self.low1(self.pool1(x))))
        return up1 + F.interpolate(low3, size=up1.shape[-2:], mode="nearest")
