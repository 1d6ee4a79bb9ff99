"""Heatmap heads: transposed-convolution upsampling + a final convolution to K heatmaps.

The deconvolution head is the one of SimpleBaseline (Xiao, Wu, Wei, ECCV 2018, Sec. 2): each
layer is a 4x4 stride-2 transposed convolution (no bias), BatchNorm, ReLU, doubling the
resolution; a 1x1 convolution then predicts one heatmap per keypoint. ViTPose's "classic
decoder" uses the same head. The Sequential is flat (``deconv_layers.0`` conv, ``.1`` BN,
``.2`` ReLU, ``.3`` conv, ...) and the last conv is ``final_layer``, the names of the released
checkpoints.

Weight init follows those papers' reference practice: normal(std=0.001) for the transposed
convolutions and the final layer, zero bias, BatchNorm weight 1 / bias 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# kernel size -> (padding, output_padding) so that a stride-2 transposed conv exactly doubles H, W
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def make_deconv_layers(in_channels: int, channels: Sequence[int], kernel_size: int = 4) -> nn.Sequential:
    """``len(channels)`` x (ConvTranspose2d stride 2, BN, ReLU): ``(B, in, h, w) -> (B, channels[-1], h*2^n, w*2^n)``.

    An empty ``channels`` gives an empty Sequential (identity)."""
    if kernel_size not in _DECONV_PADDING:
        raise ValueError(f"deconv kernel_size must be one of {sorted(_DECONV_PADDING)}, got {kernel_size}")
    padding, output_padding = _DECONV_PADDING[kernel_size]
    layers: list[nn.Module] = []
    for out_channels in channels:
        layers += [
            nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride=2,
                padding=padding, output_padding=output_padding, bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    return nn.Sequential(*layers)


def make_final_layer(in_channels: int, num_keypoints: int, kernel_size: int = 1) -> nn.Conv2d:
    """Convolution (with bias, 'same' padding) from features to ``num_keypoints`` heatmaps."""
    if kernel_size % 2 != 1:
        raise ValueError(f"final_layer kernel_size must be odd, got {kernel_size}")
    return nn.Conv2d(in_channels, num_keypoints, kernel_size, padding=kernel_size // 2)


def init_head_weights(module: nn.Module) -> None:
    """normal(0, 0.001) for (transposed) convolutions, zero biases, BatchNorm 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class DeconvHead(nn.Module):
    """Deconvolution head as a standalone module (e.g. ``keypoint_head`` on a ViT backbone).

    ``forward(features: (B, in_channels, h, w)) -> heatmaps (B, num_keypoints, h*2^n, w*2^n)``
    with ``n = len(deconv_channels)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        deconv_channels: Sequence[int] = (256, 256, 256),
        deconv_kernel: int = 4,
        final_kernel: int = 1,
    ):
        super().__init__()
        self.deconv_layers = make_deconv_layers(in_channels, deconv_channels, deconv_kernel)
        self.final_layer = make_final_layer(
            deconv_channels[-1] if deconv_channels else in_channels, num_keypoints, final_kernel
        )
        self.upsample_factor = 2 ** len(deconv_channels)
        init_head_weights(self)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(features))


def grow_final_kernel(state_dict: dict[str, torch.Tensor], kernel_size: int, std: float = 0.001,
                      seed: int = 0, key: str = "final_layer.weight") -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` whose final convolution ``key`` ``(K, C, k0, k0)`` becomes
    ``(K, C, kernel_size, kernel_size)``: the old taps sit at the centre, the new ones are
    normal(0, ``std``) from ``seed``. With the centre taps alone the network computes what it did.

    Why: a 1x1 final layer maps C features to K heatmaps at each pixel, so with C < K (HRNet-W16:
    16 channels, 17 COCO joints) some combination of heatmaps is forced to be constant. Training
    puts that deficiency on a left/right pair (the shipped model's knees: ``left - right`` is the
    null direction of the layer), which then never escapes: the pair's left-minus-right error sends
    no gradient to the features. Wider taps see neighbouring pixels, lift the rank bound and,
    being random, pass that error back to the features.
    """
    weight = state_dict[key]
    k0 = weight.shape[-1]
    if kernel_size % 2 != 1 or kernel_size < k0:
        raise ValueError(f"{key}: kernel_size must be odd and >= the current {k0}, got {kernel_size}")
    generator = torch.Generator().manual_seed(seed)
    grown = (torch.randn(*weight.shape[:2], kernel_size, kernel_size, generator=generator) * std).to(weight.dtype)
    start = (kernel_size - k0) // 2
    grown[:, :, start:start + k0, start:start + k0] = weight
    return {**state_dict, key: grown}
