"""Multi-Context Attention network (Chu, Yang, Ouyang, Ma, Yuille, Wang, "Multi-Context Attention
for Human Pose Estimation", CVPR 2017).

A stacked hourglass (Newell et al., ECCV 2016) whose hourglasses contain Hourglass Residual Units
(HRUs) and whose stacks refine their features with attention maps before predicting heatmaps:

    image (B, 3, H, W)
    -> stem: 7x7 stride-2 conv, BN, ReLU, residual, 2x2 max-pool, 2 residuals   (B, C, H/4, W/4)
    -> S stacks, each:
         hourglass of depth D on x (B, C, R)  -> up-path features at R, R/2, ..., R/2^(D-1)
         2 x (1x1 conv, BN, ReLU)              -> f1, f (B, C, R)
         multi-resolution holistic attention:  A = sum_r CRF_r(features at R/2^r) upsampled to R,
                                               r = 0 .. n-1 (r = 0 uses f itself);  h = A * f
         stacks 1 .. S-P (holistic):           heatmaps = 1x1 conv(h)                (B, K, R)
         stacks S-P+1 .. S (hierarchical):     one part attention map per keypoint,
                                               a_k = CRF_parts(h)[k];  heatmap_k = w_k . (a_k * h) + b_k
         x <- x + 1x1 conv(heatmaps) + (1x1 conv, BN, ReLU)(f1)     (input of the next stack)
    -> the last stack's heatmaps (B, K, H/4, W/4); every stack is supervised (``forward_train``).

Building blocks (as the paper describes them; settings it leaves open are taken from the authors'
released Torch code, bearpaw/pose-attention, as facts only):

- **Residual unit**: the pre-activation bottleneck of the stacked hourglass (BN-ReLU-1x1 conv to C/2,
  BN-ReLU-3x3 conv, BN-ReLU-1x1 conv to C) plus identity (a 1x1 conv when the width changes).
- **HRU**: ``x + residual_branch(x) + hourglass_branch(x)`` where the hourglass branch is a micro
  hourglass: BN-ReLU, 2x2 max-pool, 3x3 conv, BN-ReLU, 3x3 conv, nearest 2x upsampling; it widens the
  receptive field of the unit. HRUs sit in the skip (upper) branches of each hourglass level: the skip
  branch of a level with ``d`` levels below and including it is one residual unit followed by
  ``max(d - 2, 0)`` HRUs (at depth 4: 2, 1, 0, 0 HRUs from the finest level down), so the
  high-resolution skips get the deepest, widest context (the layout of the authors' released
  ``hg-attention.lua``, bearpaw/pose-attention).
- **CRF attention**: an attention map is a sigmoid of a 3x3 convolution of the features
  (the unary term ``u``), refined by a spatial CRF whose mean-field iterations are a convolution with
  a kernel shared across iterations: ``q0 = sigmoid(u)``, ``q_t = sigmoid(u + w_k * q_{t-1})`` for
  ``t = 1 .. crf_iterations`` (``crf_iterations = 0`` is plain sigmoid attention). Maps are in
  (0, 1) and multiply every feature channel. Kernel 11 and 3 iterations are the released settings
  (bearpaw/pose-attention ``train/exp/train.sh`` ``-LRNKer 11``, ``AttentionPartsCRF.lua``).
- **Multi-resolution attention**: holistic maps are generated from the hourglass's up-sampling
  features at several resolutions (Fig. 2: "in each stack of hourglass, we generate multi-resolution
  attention maps"), upsampled (bilinear) to the output resolution and summed; different stacks give
  attention of different semantics ("multi-semantics").
- **Hierarchical attention**: on the later stacks (stacks 5-8 of 8 in the paper) the
  holistically refined features ``h`` get one CRF part-attention map per keypoint, and keypoint ``k``'s
  heatmap is predicted from ``a_k * h`` alone. Because the 1x1 classifier is linear per pixel,
  ``w_k . (a_k * h) + b_k == a_k * (w_k . h) + b_k``; the code computes the right-hand side so the
  K refined feature tensors (K x C x R, 67 MB per sample in float32 at paper scale) are never materialised.

Coordinates: the network is fully convolutional with stride 4 (``self.stride``): heatmaps
``(B, K, H/4, W/4)``; how cells map to input pixels (MSRA or UDP) is the codec's choice
(``posekit.codecs.heatmap``), the model does not depend on it. The input is an ImageNet-normalised
RGB crop; H and W must be multiples of ``4 * 2**depth`` (64 at paper depth 4, e.g. 256x256; 32 at
depth 3), else ``forward`` raises ValueError.

Paper scale (zoo ``multicontext_attention_8``): 8 stacks, 256 features, hourglass depth 4 (64 -> 4),
256x256 input, 64x64 heatmaps, holistic attention at 4 resolutions (64, 32, 16, 8), part attention on
stacks 5-8. What differs from the paper / released code, and why:

- The paper does not give the stem; this one is the stacked hourglass's (7x7 stride-2 conv, three
  residuals), with widths C/4 and C/2 (64 and 128 at C = 256) so that CPU-scale models shrink too. The
  released code uses a stride-1 7x7 conv and five residuals instead (about 1.8 GMACs more at 256x256).
- The released code widens the last stack's 1x1 layers to 2C channels and generates attention only
  from the stack's output features (no multi-resolution maps); here every stack has width C and the
  holistic attention is multi-resolution as the paper describes.
- Mean-field starts from ``sigmoid(u)`` (the unary-only marginal); the released code passes ``u``
  itself through the first shared convolution.
- No parameter count was found in the paper. Measured: 57,981,984 parameters (K = 16) and 60.9 GMACs
  (``posekit.models.flops.count_macs``) at 256x256.
- The hourglass and residual unit are written here rather than imported from
  ``posekit.models.backbones.hourglass``: multi-resolution attention needs every level's up-path
  features, which that module's ``Hourglass`` does not return, and its ``Residual`` keeps an unused
  ``skip_layer`` for princeton-vl checkpoint compatibility that this network has no use for.
- The authors train with RMSProp (released ``opts.lua``) and the MSE loss on every stack; the
  trainer's default loss (the heatmap MSE summed over ``forward_train`` outputs) is that loss, so no
  ``loss`` method is defined.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    """Pre-activation convolution: BN, ReLU, conv ('same' padding)."""
    return [
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
    ]


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 conv, BN, ReLU (the hourglass's "lin" layer between stacks)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ResidualUnit(nn.Module):
    """Stacked-hourglass bottleneck residual: ``(B, in, h, w) -> (B, out, h, w)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        self.branch = nn.Sequential(
            *_bn_relu_conv(in_channels, mid, 1), *_bn_relu_conv(mid, mid, 3), *_bn_relu_conv(mid, out_channels, 1)
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.branch(x)


class HourglassResidualUnit(nn.Module):
    """HRU: identity + bottleneck residual branch + micro-hourglass branch, ``(B, C, h, w) -> (B, C, h, w)``.

    The micro hourglass (BN-ReLU, 2x2 max-pool, 3x3 conv, BN-ReLU, 3x3 conv, 2x nearest upsampling)
    needs even ``h`` and ``w``."""

    def __init__(self, channels: int):
        super().__init__()
        mid = channels // 2
        self.branch = nn.Sequential(
            *_bn_relu_conv(channels, mid, 1), *_bn_relu_conv(mid, mid, 3), *_bn_relu_conv(mid, channels, 1)
        )
        self.hourglass_branch = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            *_bn_relu_conv(channels, channels, 3),
            nn.Upsample(scale_factor=2, mode="nearest"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x) + self.hourglass_branch(x)


class Hourglass(nn.Module):
    """One hourglass level, recursive: ``forward(x: (B, C, R, R')) -> [features at R, R/2, ..., R/2^(depth-1)]``.

    The first entry is the hourglass output; the others are the up-path features of the nested
    levels (the inputs of multi-resolution attention). ``R`` and ``R'`` must be multiples of
    ``2**depth``."""

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.skip = nn.Sequential(
            ResidualUnit(channels, channels), *(HourglassResidualUnit(channels) for _ in range(max(depth - 2, 0)))
        )
        self.down = nn.Sequential(nn.MaxPool2d(2), ResidualUnit(channels, channels))
        self.inner: nn.Module = Hourglass(depth - 1, channels) if depth > 1 else ResidualUnit(channels, channels)
        self.up = ResidualUnit(channels, channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        low = self.down(x)
        if isinstance(self.inner, Hourglass):
            nested = self.inner(low)
            low = nested[0]
        else:
            nested = []
            low = self.inner(low)
        out = self.skip(x) + F.interpolate(self.up(low), scale_factor=2.0, mode="nearest")
        return [out, *nested]


class CRFAttention(nn.Module):
    """``maps`` attention maps refined by mean-field CRF iterations: ``(B, C, h, w) -> (B, maps, h, w)`` in (0, 1).

    Unary: a 3x3 conv ``C -> maps``; pairwise: a depthwise ``kernel_size`` conv per map, shared by
    every iteration: ``q0 = sigmoid(u)``, ``q_t = sigmoid(u + pairwise(q_{t-1}))``."""

    def __init__(self, in_channels: int, maps: int, kernel_size: int, iterations: int):
        super().__init__()
        self.iterations = iterations
        self.unary = nn.Conv2d(in_channels, maps, 3, padding=1)
        self.pairwise = nn.Conv2d(maps, maps, kernel_size, padding=kernel_size // 2, groups=maps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        unary = self.unary(features)
        q = torch.sigmoid(unary)
        for _ in range(self.iterations):
            q = torch.sigmoid(unary + self.pairwise(q))
        return q


class AttentionStack(nn.Module):
    """One stack: hourglass, two 1x1 layers, multi-resolution holistic attention, then a holistic or a
    part-attention (hierarchical) heatmap head.

    ``forward(x: (B, C, R, R')) -> (heatmaps (B, K, R, R'), f1 (B, C, R, R'))`` with ``f1`` the first
    1x1 layer's output (fed forward to the next stack)."""

    def __init__(
        self,
        num_keypoints: int,
        channels: int,
        depth: int,
        attention_resolutions: int,
        crf_kernel: int,
        crf_iterations: int,
        part_attention: bool,
    ):
        super().__init__()
        self.hourglass = Hourglass(depth, channels)
        self.lin1 = _conv_bn_relu(channels, channels)
        self.lin2 = _conv_bn_relu(channels, channels)
        # holistic_attention[r] reads features at R / 2^r: r = 0 the stack features f, r > 0 the hourglass up path
        self.holistic_attention = nn.ModuleList(
            CRFAttention(channels, 1, crf_kernel, crf_iterations) for _ in range(attention_resolutions)
        )
        if part_attention:
            self.part_attention = CRFAttention(channels, num_keypoints, crf_kernel, crf_iterations)
            self.classifier = nn.Conv2d(channels, num_keypoints, 1, bias=False)
            self.part_bias = nn.Parameter(torch.zeros(num_keypoints))
        else:
            self.part_attention = None
            self.classifier = nn.Conv2d(channels, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        levels = self.hourglass(x)
        f1 = self.lin1(levels[0])
        f = self.lin2(f1)
        size = f.shape[-2:]
        attention = self.holistic_attention[0](f)
        for r, crf in enumerate(self.holistic_attention[1:], start=1):
            coarse = crf(levels[r])
            attention = attention + F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
        h = f * attention
        if self.part_attention is None:
            return self.classifier(h), f1
        parts = self.part_attention(h)  # (B, K, R, R'): a_k
        # w_k . (a_k * h) + b_k computed as a_k * (w_k . h) + b_k (identical, the 1x1 conv is per pixel)
        heatmaps = parts * self.classifier(h) + self.part_bias[:, None, None]
        return heatmaps, f1


class MultiContextAttention(nn.Module):
    """Stacked hourglass with HRUs and multi-context attention.

    ``forward(x: (B, 3, H, W)) -> heatmaps (B, num_keypoints, H/4, W/4)`` (the last stack's);
    ``forward_train(x)`` -> the ``stacks`` heatmaps, first stack first. H and W must be multiples of
    ``4 * 2**depth``.

    Args:
        num_keypoints: K, heatmaps per stack.
        stacks: hourglass stacks (8 in the paper).
        features: channels C of the hourglasses (256); the stem narrows to C/4 and C/2. Must be a
            multiple of 4.
        depth: poolings per hourglass (4: 64 -> 4 at 256x256 input).
        attention_resolutions: holistic attention maps per stack, from the output resolution down
            by factors of 2 (4: 64, 32, 16, 8); 1 <= value <= depth.
        crf_iterations: mean-field iterations of every attention CRF (3); 0 gives sigmoid attention.
        crf_kernel: odd size of the shared CRF pairwise kernel (11).
        part_attention_stacks: how many of the last stacks use hierarchical part attention;
            ``None``: the later half, ``stacks // 2`` (stacks 5-8 of 8 in the paper).
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(
        self,
        num_keypoints: int = 17,
        stacks: int = 8,
        features: int = 256,
        depth: int = 4,
        attention_resolutions: int = 4,
        crf_iterations: int = 3,
        crf_kernel: int = 11,
        part_attention_stacks: int | None = None,
    ):
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        if stacks < 1:
            raise ValueError(f"stacks must be >= 1, got {stacks}")
        if features < 4 or features % 4:
            raise ValueError(f"features must be a positive multiple of 4, got {features}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not 1 <= attention_resolutions <= depth:
            raise ValueError(f"attention_resolutions must be in [1, depth={depth}], got {attention_resolutions}")
        if crf_iterations < 0:
            raise ValueError(f"crf_iterations must be >= 0, got {crf_iterations}")
        if crf_kernel < 1 or crf_kernel % 2 == 0:
            raise ValueError(f"crf_kernel must be odd and >= 1, got {crf_kernel}")
        if part_attention_stacks is None:
            part_attention_stacks = stacks // 2
        if not 0 <= part_attention_stacks <= stacks:
            raise ValueError(f"part_attention_stacks must be in [0, stacks={stacks}], got {part_attention_stacks}")
        self.num_keypoints = num_keypoints
        self.depth = depth
        c = features
        self.stem = nn.Sequential(
            nn.Conv2d(3, c // 4, 7, stride=2, padding=3),
            nn.BatchNorm2d(c // 4),
            nn.ReLU(inplace=True),
            ResidualUnit(c // 4, c // 2),
            nn.MaxPool2d(2),
            ResidualUnit(c // 2, c // 2),
            ResidualUnit(c // 2, c),
        )
        self.stacks = nn.ModuleList(
            AttentionStack(
                num_keypoints, c, depth, attention_resolutions, crf_kernel, crf_iterations,
                part_attention=i >= stacks - part_attention_stacks,
            )
            for i in range(stacks)
        )
        # between stacks i and i+1: x + remap_heatmaps(heatmaps) + remap_features(f1)
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(num_keypoints, c, 1) for _ in range(stacks - 1))
        self.remap_features = nn.ModuleList(_conv_bn_relu(c, c) for _ in range(stacks - 1))

    def forward_train(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Heatmaps of every stack, ``stacks x (B, K, H/4, W/4)``, first stack first."""
        multiple = 4 * 2**self.depth
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"input size {tuple(x.shape[-2:])} (h, w) must be a multiple of {multiple} "
                f"(4 * 2**depth, depth={self.depth})"
            )
        x = self.stem(x)
        outputs = []
        for i, stack in enumerate(self.stacks):
            heatmaps, f1 = stack(x)
            outputs.append(heatmaps)
            if i < len(self.stacks) - 1:
                x = x + self.remap_heatmaps[i](heatmaps) + self.remap_features[i](f1)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)[-1]


ZOO: dict[str, Callable[..., nn.Module]] = {
    # the paper's model: 8 stacks, 256 features, depth 4 at 256x256, part attention on stacks 5-8
    "multicontext_attention_8": functools.partial(
        MultiContextAttention, stacks=8, features=256, depth=4, attention_resolutions=4,
        crf_iterations=3, crf_kernel=11,
    ),
}
