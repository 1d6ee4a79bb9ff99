"""Convolutional Pose Machines (Wei, Ramakrishna, Kanade, Sheikh, "Convolutional Pose Machines", CVPR 2016).

A sequence of ``T`` convolutional stages, each producing belief maps (heatmaps) at stride 8; every
stage after the first refines the previous stage's beliefs from shared image features, with large
receptive fields (11x11 convolutions) so that distant parts inform each other. Every stage is
supervised (intermediate supervision, the paper's answer to vanishing gradients, Sec. 3.3).

Data flow (Fig. 2 of the paper; ``c = round(128 * width)``, ``k = round(32 * width)``,
``m = round(512 * width)``; every convolution but the belief outputs is followed by a ReLU)::

    image (B,3,H,W)
      stage 1:  [9x9 c, pool] x 3 -> 5x5 k -> 9x9 m -> 1x1 m -> 1x1 K      b_1 (B,K,H/8,W/8)
      features: [9x9 c, pool] x 3                                         f   (B,c,H/8,W/8)  (shared)
      stage t >= 2:
        concat(5x5 k conv of f (B,k,..), b_{t-1} (B,K,..), centre map (B,1,..))
          -> 11x11 c -> 11x11 c -> 11x11 c -> 1x1 c -> 1x1 K              b_t (B,K,H/8,W/8)

Pools are 3x3 stride-2 max pools; ``forward`` returns ``b_T``, ``forward_train`` ``[b_1, ..., b_T]``.
``stride = 8``: the output is ``ceil(H/8) x ceil(W/8)``, exactly ``H/8 x W/8`` when 8 divides H, W
(the paper: 368x368 -> 46x46). The receptive field of belief cell ``(i, j)`` is centred on input
pixel ``(8j, 8i)`` (pixel centres at integers), which is the heatmap codec's MSRA mapping; with UDP
targets (``x_hm = x_in * (w - 1) / (W - 1)``) the network has to learn a small position-dependent
offset (up to 7/8 of a cell at the far border). The input is an RGB crop normalised with the
ImageNet mean/std. Each stage ``t >= 2`` has its own 5x5 convolution on the shared features, as
in the authors' released model (``conv4_stage2`` / ``conv1_stageN`` of
shihenw/convolutional-pose-machines-release); ``T = 6`` stages at 368x368 is the paper's model.

Loss: the paper's objective (Eq. 5-6) is the sum over stages of the squared L2 distance between
predicted and ideal Gaussian belief maps, which is the trainer's default (``heatmap_mse_loss``
summed over ``forward_train``'s outputs, up to a constant factor), so no ``loss`` is defined here.

Differences from the paper, and why:

- **Centre map generated inside the model.** The paper feeds a Gaussian at the person's centre
  (sigma 21 px at 368 px, average-pooled to the belief resolution) to every stage ``t >= 2`` to
  say which person to estimate. posekit's top-down crops are centred on the person, so the centre
  map is always a Gaussian at the crop centre: it is computed here directly at belief resolution
  with sigma ``21/368`` of the crop's shorter side, and no input channel is needed.
- **No background belief map.** The paper predicts ``P + 1`` maps (parts + background). posekit's
  model contract returns only the ``K`` part maps and the trainer passes those to the loss, so a
  background map could neither be returned nor supervised without hidden state on the module (which
  ``DataParallel`` replicas would lose). Its ideal target, ``1 - max`` over the part maps, is a
  function of the part targets, so it adds no information; it is left out and stages ``t >= 2``
  receive ``K`` rather than ``K + 1`` belief channels.
- **Padded pooling.** The released Caffe model pools 3x3/2 without padding and rounds up; here
  the pools have padding 1, which gives the same sizes (``ceil(H/2)``) with windows centred on
  their output cell.
- **Initialisation** (not from the paper): Kaiming-normal (fan-in) for ReLU convolutions, and
  normal(std 0.001) with zero bias for the belief outputs, as posekit's other heads.
- ``width`` and ``num_stages`` scale the network down for CPU training; ``width=1, num_stages=6``
  is the paper's network.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

# Centre-map sigma as a fraction of the crop size: 21 px at the paper's 368 px crops.
CENTRE_SIGMA_FRACTION = 21.0 / 368.0


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), nn.ReLU(inplace=True)]


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(3, stride=2, padding=1)


def make_image_features(channels: int) -> nn.Sequential:
    """``[9x9 conv, ReLU, 3x3/2 max-pool] x 3``: ``(B, 3, H, W) -> (B, channels, H/8, W/8)``."""
    layers: list[nn.Module] = []
    in_channels = 3
    for _ in range(3):
        layers += [*_conv_relu(in_channels, channels, 9), _pool()]
        in_channels = channels
    return nn.Sequential(*layers)


def centre_map(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Gaussian at the centre of a ``height x width`` belief map, peak 1, ``(1, 1, height, width)``.

    sigma is :data:`CENTRE_SIGMA_FRACTION` of the shorter side (2.625 cells on the paper's 46x46
    maps); dtype and device follow ``like``."""
    sigma = CENTRE_SIGMA_FRACTION * min(height, width)
    ys = torch.arange(height, device=like.device, dtype=torch.float32) - (height - 1) / 2
    xs = torch.arange(width, device=like.device, dtype=torch.float32) - (width - 1) / 2
    gauss = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
    return gauss.to(like.dtype)[None, None]


class RefinementStage(nn.Module):
    """A stage ``t >= 2``: ``(features (B,c,h,w), beliefs (B,K,h,w), centre (B,1,h,w)) -> beliefs (B,K,h,w)``."""

    def __init__(self, feature_channels: int, stage_feature_channels: int, channels: int, num_keypoints: int):
        super().__init__()
        self.features = nn.Sequential(*_conv_relu(feature_channels, stage_feature_channels, 5))
        self.refine = nn.Sequential(
            *_conv_relu(stage_feature_channels + num_keypoints + 1, channels, 11),
            *_conv_relu(channels, channels, 11),
            *_conv_relu(channels, channels, 11),
            *_conv_relu(channels, channels, 1),
            nn.Conv2d(channels, num_keypoints, 1),
        )

    def forward(self, features: torch.Tensor, beliefs: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        return self.refine(torch.cat([self.features(features), beliefs, centre], dim=1))


class ConvolutionalPoseMachine(nn.Module):
    """``forward(x: (B, 3, H, W)) -> beliefs (B, num_keypoints, ceil(H/8), ceil(W/8))``; ``stride = 8``.

    Args:
        num_keypoints: ``K``, belief maps per stage.
        num_stages: ``T >= 1`` (the paper: 6).
        width: channel multiplier of every layer (1.0: the paper's 128 / 32 / 512 channels).
    """

    output_kind = "heatmap"
    stride = 8

    def __init__(self, num_keypoints: int = 17, num_stages: int = 6, width: float = 1.0):
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        if num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {num_stages}")
        if not (width > 0 and round(32 * width) >= 1):
            raise ValueError(f"width must be >= 1/64 so that every layer keeps a channel, got {width}")
        self.num_keypoints = num_keypoints
        self.num_stages = num_stages
        c, k, m = (round(n * width) for n in (128, 32, 512))
        self.stage1 = nn.Sequential(
            make_image_features(c),
            *_conv_relu(c, k, 5),
            *_conv_relu(k, m, 9),
            *_conv_relu(m, m, 1),
            nn.Conv2d(m, num_keypoints, 1),
        )
        self.features = make_image_features(c)
        self.stages = nn.ModuleList(RefinementStage(c, k, c, num_keypoints) for _ in range(num_stages - 1))
        self._init_weights()

    def _init_weights(self) -> None:
        belief_outputs = {self.stage1[-1], *(stage.refine[-1] for stage in self.stages)}
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module in belief_outputs:
                    nn.init.normal_(module.weight, std=0.001)
                else:
                    nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward_train(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Belief maps of every stage, ``[b_1, ..., b_T]``, each ``(B, K, ceil(H/8), ceil(W/8))``."""
        beliefs = [self.stage1(x)]
        if self.stages:
            features = self.features(x)
            centre = centre_map(*features.shape[-2:], like=features).expand(x.shape[0], -1, -1, -1)
            for stage in self.stages:
                beliefs.append(stage(features, beliefs[-1], centre))
        return beliefs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Belief maps of the last stage, ``(B, K, ceil(H/8), ceil(W/8))``."""
        return self.forward_train(x)[-1]


def _cpm(defaults: dict, num_keypoints: int, **overrides) -> ConvolutionalPoseMachine:
    return ConvolutionalPoseMachine(num_keypoints=num_keypoints, **{**defaults, **overrides})


#: Zoo names -> builders ``(num_keypoints, **overrides)``; ``cpm_6stage`` is the paper's 6-stage
#: network (Fig. 2; its input is 368x368 in the paper).
ZOO: dict[str, Callable[..., nn.Module]] = {
    "cpm_6stage": partial(_cpm, {"num_stages": 6, "width": 1.0}),
}

__all__ = ["ConvolutionalPoseMachine", "RefinementStage", "make_image_features", "centre_map",
           "CENTRE_SIGMA_FRACTION", "ZOO"]
