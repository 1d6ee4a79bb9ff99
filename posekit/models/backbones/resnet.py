"""ResNet backbone (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016).

Layout of the common PyTorch ResNet ("v1.5"): in a Bottleneck the stride sits on the 3x3
convolution, and a projection shortcut (1x1 conv + BN, named ``downsample``) is used whenever
the block changes resolution or width. Module names (``conv1``, ``bn1``, ``layer1``..``layer4``,
``conv1/bn1/conv2/bn2[/conv3/bn3]``, ``downsample.0/1``) equal those of the released pose
checkpoints that embed a ResNet (SimpleBaseline, HRNet stage 1), so their state dicts load as-is.

Input ``(B, 3, H, W)``; output of :class:`ResNet` is the last stage, ``(B, out_channels, H/32, W/32)``
(sizes rounded up at each stride-2 step).
"""
from __future__ import annotations

import torch
from torch import nn

# depth -> (block type, blocks per stage); Table 1 of He et al. 2016.
RESNET_SPECS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm always follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or projection) shortcut; ``expansion = 1``."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand to ``4 * planes``, plus shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def make_res_layer(
    block: type[BasicBlock] | type[Bottleneck], in_channels: int, planes: int, num_blocks: int, stride: int = 1
) -> nn.Sequential:
    """A stage of ``num_blocks`` residual blocks; the first one carries ``stride`` and, when the
    resolution or width changes, the projection shortcut ``downsample = (1x1 conv, BN)``.
    Output width is ``planes * block.expansion``."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    blocks = [block(in_channels, planes, stride, downsample)]
    blocks += [block(out_channels, planes) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def init_backbone_weights(module: nn.Module) -> None:
    """He (Kaiming) normal init, fan-out, for every convolution; BatchNorm weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """ResNet-18/34/50/101/152 without the classifier.

    Stem: 7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool (stride 4); then four stages at
    strides 4, 8, 16, 32 with 64, 128, 256, 512 planes. ``out_channels`` is 512 (basic) or
    2048 (bottleneck). ``forward(x: (B, 3, H, W)) -> (B, out_channels, ~H/32, ~W/32)``.
    """

    def __init__(self, depth: int = 50):
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_SPECS)}, got {depth}")
        block_name, layers = RESNET_SPECS[depth]
        block = BLOCKS[block_name]
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_res_layer(block, 64, 64, layers[0])
        self.layer2 = make_res_layer(block, 64 * block.expansion, 128, layers[1], stride=2)
        self.layer3 = make_res_layer(block, 128 * block.expansion, 256, layers[2], stride=2)
        self.layer4 = make_res_layer(block, 256 * block.expansion, 512, layers[3], stride=2)
        self.out_channels = 512 * block.expansion
        init_backbone_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)
