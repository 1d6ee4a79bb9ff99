"""HRNet backbone (Sun, Xiao, Liu, Wang, "Deep High-Resolution Representation Learning for
Human Pose Estimation", CVPR 2019).

Read top to bottom like Fig. 1/2 of the paper:

    stem       3x3 s2 conv (64) -> BN -> ReLU -> 3x3 s2 conv (64) -> BN -> ReLU      stride 4
    stage 1    ``layer1``: residual Bottlenecks, 4 x planes channels (256)            stride 4
    transition1 -> 2 branches (C, 2C) at strides 4, 8
    stage 2    modules of [per-branch BasicBlocks -> exchange (fuse) unit]
    transition2 -> adds branch 4C at stride 16;  stage 3 (same pattern)
    transition3 -> adds branch 8C at stride 32;  stage 4 (same pattern); the last module
               may output only the highest-resolution branch (``multi_scale_output=False``)

Exchange unit (Sec. 3, "Repeated multi-scale fusion"): output ``i`` is ReLU of the sum over
inputs ``j`` of: identity (j == i); 1x1 conv + BN then nearest upsampling (j > i);
``i - j`` 3x3 stride-2 conv + BN steps, ReLU between them (j < i). Upsampling goes to the exact
size of branch ``i`` (the reference uses a fixed scale factor), so inputs whose sides are not
multiples of 32 also work; for multiples of 32 both are identical.

Module names equal leoxiaobin/deep-high-resolution-net.pytorch (``transition1``, ``stage2.0.branches``,
``stage2.0.fuse_layers.i.j``...). Where the reference stores ``None`` (identity fuse entry,
unchanged branch in a transition) this code uses ``nn.Identity``, which has no parameters, so the
state-dict keys are the same.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.backbones.resnet import BasicBlock, Bottleneck, init_backbone_weights, make_res_layer


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by the exchange unit.

    ``forward(xs: list of (B, channels[b], h_b, w_b)) -> list`` of the same shapes (all branches),
    or of only branch 0 when ``multi_scale_output`` is False.
    """

    def __init__(self, channels: Sequence[int], num_blocks: int, multi_scale_output: bool = True):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(make_res_layer(BasicBlock, c, c, num_blocks) for c in channels)
        fuse_layers = []
        for i in range(n if multi_scale_output else 1):
            row: list[nn.Module] = []
            for j in range(n):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:  # lower resolution -> 1x1 conv to C_i, BN; upsampled in forward
                    row.append(_conv_bn(channels[j], channels[i], 1, 1, relu=False))
                else:  # higher resolution -> (i - j) stride-2 3x3 convs
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if len(xs) == 1:
            return xs
        outputs = []
        for i, row in enumerate(self.fuse_layers):
            total = None
            for j, fuse in enumerate(row):
                y = fuse(xs[j])
                if j > i:
                    y = F.interpolate(y, size=xs[i].shape[-2:], mode="nearest")
                total = y if total is None else total + y
            outputs.append(self.relu(total))
        return outputs


def _transition(pre_channels: Sequence[int], cur_channels: Sequence[int]) -> nn.ModuleList:
    """Maps the previous stage's branches to the next stage's: an existing branch keeps its
    tensor (identity) or gets a 3x3 conv-BN-ReLU when its width changes; each new branch is made
    from the previous lowest-resolution branch by 3x3 stride-2 conv-BN-ReLU steps."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur_channels):
        if i < len(pre_channels):
            same = c == pre_channels[i]
            layers.append(nn.Identity() if same else _conv_bn(pre_channels[i], c, 3, 1, relu=True))
        else:
            n_down = i + 1 - len(pre_channels)
            c_in = pre_channels[-1]
            steps = [_conv_bn(c_in, c_in, 3, 2, relu=True) for _ in range(n_down - 1)]
            steps.append(_conv_bn(c_in, c, 3, 2, relu=True))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """HRNet-W``width`` backbone.

    Args:
        width: channels C of the highest-resolution branch; branch b has ``C * 2**b``.
        stage1_planes, stage1_blocks: Bottleneck planes (output 4x) and count of stage 1.
        stage_modules: number of HighResolutionModules in stages 2, 3, 4 (paper: 1, 4, 3).
        stage_blocks: BasicBlocks per branch in each module of stages 2, 3, 4 (paper: 4, 4, 4).
        multi_scale_output: if False the very last module fuses into branch 0 only.

    ``forward(x: (B, 3, H, W)) -> list`` of branch features, branch b ``(B, C*2**b, ~H/2**(b+2), ~W/2**(b+2))``;
    a single element (``(B, C, H/4, W/4)``) when ``multi_scale_output`` is False.
    """

    def __init__(
        self,
        width: int = 32,
        stage1_planes: int = 64,
        stage1_blocks: int = 4,
        stage_modules: Sequence[int] = (1, 4, 3),
        stage_blocks: Sequence[int] = (4, 4, 4),
        multi_scale_output: bool = False,
    ):
        super().__init__()
        if len(stage_modules) != 3 or len(stage_blocks) != 3 or min(stage_modules) < 1:
            raise ValueError("stage_modules and stage_blocks need 3 entries (stages 2-4), modules >= 1")
        self.width = width
        # stem: two 3x3 stride-2 convolutions
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        # stage 1: Bottlenecks at stride 4
        self.layer1 = make_res_layer(Bottleneck, 64, stage1_planes, stage1_blocks)
        channels = [stage1_planes * Bottleneck.expansion]
        # stages 2-4, each preceded by a transition that adds one lower-resolution branch
        for stage, (n_modules, n_blocks) in enumerate(zip(stage_modules, stage_blocks), start=2):
            cur = [width * 2**b for b in range(stage)]
            setattr(self, f"transition{stage - 1}", _transition(channels, cur))
            last_stage = stage == 4
            modules = [
                HighResolutionModule(cur, n_blocks, multi_scale_output or not (last_stage and m == n_modules - 1))
                for m in range(n_modules)
            ]
            setattr(self, f"stage{stage}", nn.Sequential(*modules))
            channels = cur
        self.out_channels = channels if multi_scale_output else channels[:1]
        init_backbone_weights(self)

    def _run_stage(self, transition: nn.ModuleList, stage: nn.Sequential, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        inputs = [t(xs[i]) if i < len(xs) else t(xs[-1]) for i, t in enumerate(transition)]
        return stage(inputs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        xs = self._run_stage(self.transition1, self.stage2, xs)
        xs = self._run_stage(self.transition2, self.stage3, xs)
        return self._run_stage(self.transition3, self.stage4, xs)
