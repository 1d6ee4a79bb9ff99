"""DeepPose (Toshev & Szegedy, "DeepPose: Human Pose Estimation via Deep Neural Networks", CVPR 2014).

A cascade of convolutional regressors. Stage 1 sees the whole crop and regresses all K joints;
every later stage looks, for each joint, at a sub-image centred on that joint's previous estimate
and regresses its displacement. Data flow, B crops of ``(H, W)``, stage input ``s x s``:

    crop (B, 3, H, W) -> AlexNetRegressor (stage 1)                  -> y_1 (B, K, 2) normalised
    for t = 2..S (one AlexNetRegressor per stage, shared by the K joints):
        prev  = y_{t-1}.detach()                                      (B, K, 2)
        diam  = || prev[a] - prev[b] || in pixels (torso diameter)    (B,)
        side  = sigma * diam                                          (B,)  sub-image side, pixels
        c     = prev (evaluation) or prev + delta (training, see below)
        box_i = square of side ``side`` centred on c_i
        sub   = grid_sample(crop, box_i)                              (B*K, 3, s, s)
        d     = stage net (sub) -> (B*K, K, 2), keep joint i's pair   (B, K, 2) in the box frame
        y_t   = c + d * side / (W, H)                                 (B, K, 2)

``forward`` returns ``y_S``; ``forward_train`` returns ``[y_1, ..., y_S]``; :meth:`DeepPose.loss`
is the paper's squared L2 on normalised coordinates, summed over stages.

Coordinates: normalised to the crop, ``u = (x + 0.5) / W``, ``v = (y + 0.5) / H`` (pixel centres
at integers, the crop spans ``[0, 1]``; see :mod:`posekit.codecs.regression`). In the box frame
(the paper's ``N(y; b) = (y - b_c) / b_w``) the sub-image spans ``[-0.5, 0.5]``.

The AlexNet-like regressor is the paper's (Sec. 3.1): C(55x55x96) - LRN - P - C(27x27x256) - LRN - P -
C(13x13x384) - C(13x13x384) - C(13x13x256) - P - F(4096) - F(4096) - F(2K) at 220x220, filters
11x11 (stride 4), 5x5, 3x3, 3x3, 3x3, ReLU after every layer but the last, dropout on the F layers.
The same architecture is used by every stage, with its own parameters (Sec. 3.2).

Sources: the layer list at 220x220, S = 3 and the torso diameter are the paper's; the filter
sizes, sigma (2.0 for LSP, 1.0 for FLIC), dropout 0.6 and the augmentation statistics are the
paper's as recalled while writing this (its full text could not be consulted).

Choices where the paper leaves freedom or where posekit differs (and why):

- Torso diameter: the paper uses "the distance between opposing joints on the human torso, such
  as left shoulder and right hip"; with COCO-17 that is ``left_shoulder`` (5) to ``right_hip`` (12),
  the ``torso_joints`` default. ``sigma = 2.0`` is the paper's value for LSP (full-body, like COCO;
  1.0 was used for the upper-body FLIC). The side is clamped to
  ``[min_box * min(H, W), 2 * max(H, W)]`` pixels so that a degenerate early estimate still gives
  a usable sub-image.
- Last pooling: adaptive max pooling to ``pool_size x pool_size`` (6 by default). At 13x13 it
  uses the same 3-wide, stride-2 windows as the paper's ``P``; it lets any crop size (e.g.
  128x96) and a small stage input reach the F layers.
- Conv1 padding 4 gives the paper's 55x55 map at 220x220. No grouped convolutions: the layer
  list of Sec. 3.1 has none (AlexNet's groups came from its two-GPU split). LRN uses AlexNet's
  constants (size 5, alpha 1e-4, beta 0.75, k 2), which the paper does not restate.
- Training (the paper trains stage after stage; here all stages train jointly, which is the same
  optimisation because every stage's input is detached from the earlier stages).
- Augmentation of the stage inputs (Sec. 3.2): the paper centres the training boxes on the ground
  truth plus a displacement drawn from a normal with the mean and variance of the stage-(t-1)
  errors over the training set. ``forward_train`` does not see the ground truth (trainer
  contract), so the box is centred on the actual previous estimate plus ``delta ~ N(0, std_i^2)``,
  with ``std_i`` the per-joint, per-axis standard deviation of the stage-(t-1) errors, tracked by
  :meth:`DeepPose.loss` as a running average (momentum ``error_momentum``) of each training batch's
  value in the buffer ``error_std (S-1, K, 2)``. The simulated predictions thus spread like the
  previous stage's errors around where that stage really predicts. At evaluation no noise is added.
- Initialisation (not given in the paper): Kaiming normal for the convolutions and hidden F
  layers; the output layer has zero weights and bias 0.5 in stage 1 (the crop centre), 0 in later
  stages (no displacement), so an untrained cascade predicts the crop centre exactly.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.losses import coordinate_l2_loss

# Smallest input the AlexNet-like stack accepts: conv1 (11, stride 4, pad 4) must give >= 7 cells
# so that both 3x3 stride-2 poolings have a full window.
MIN_INPUT_SIZE = 27
# Channels of the paper's five convolutions (Sec. 3.1).
ALEXNET_CHANNELS = (96, 256, 384, 384, 256)


class AlexNetRegressor(nn.Module):
    """The paper's AlexNet-like regressor: ``(N, 3, h, w) -> (N, num_outputs)``.

    Args:
        num_outputs: size of the last F layer (2K).
        width: multiplier of the convolution channels ``(96, 256, 384, 384, 256)``.
        fc_channels: width of the two hidden F layers (4096 in the paper).
        pool_size: output side of the adaptive max pooling before the F layers.
        dropout: dropout probability on the hidden F layers.
        output_bias: initial bias of the output layer.
    """

    def __init__(self, num_outputs: int, width: float = 1.0, fc_channels: int = 4096, pool_size: int = 6,
                 dropout: float = 0.6, output_bias: float = 0.0):
        super().__init__()
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in ALEXNET_CHANNELS)
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 11, stride=4, padding=4), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveMaxPool2d(pool_size),
        )
        self.regressor = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c5 * pool_size * pool_size, fc_channels), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_channels, fc_channels), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_channels, num_outputs),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        output = self.regressor[-1]
        nn.init.zeros_(output.weight)
        nn.init.constant_(output.bias, output_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.features(x))


class DeepPose(nn.Module):
    """DeepPose cascade: ``forward(x: (B, 3, H, W)) -> (B, K, 2)`` normalised coordinates.

    Args:
        num_keypoints: K.
        num_stages: S >= 2 (stage 1 plus S - 1 refinement stages; 3 in the paper).
        sigma: sub-image side in torso diameters (2.0: the paper's LSP value).
        stage_input_size: side of the square sub-images fed to stages 2..S (220 in the paper).
        torso_joints: indices ``(a, b)`` of the joints whose distance is the torso diameter
            (COCO-17 left shoulder, right hip).
        width, fc_channels, pool_size, dropout: of every stage's :class:`AlexNetRegressor`.
        min_box: smallest sub-image side, as a fraction of the crop's shorter side.
        error_momentum: weight of each training batch in the running error std (augmentation).
    """

    output_kind = "regression"

    def __init__(
        self,
        num_keypoints: int = 17,
        num_stages: int = 3,
        sigma: float = 2.0,
        stage_input_size: int = 220,
        torso_joints: tuple[int, int] = (5, 12),
        width: float = 1.0,
        fc_channels: int = 4096,
        pool_size: int = 6,
        dropout: float = 0.6,
        min_box: float = 0.1,
        error_momentum: float = 0.1,
    ):
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"DeepPose: num_keypoints must be >= 1, got {num_keypoints}")
        if num_stages < 2:
            raise ValueError(f"DeepPose: num_stages must be >= 2 (the cascade is the method), got {num_stages}")
        if not sigma > 0:
            raise ValueError(f"DeepPose: sigma must be > 0, got {sigma}")
        if stage_input_size < MIN_INPUT_SIZE:
            raise ValueError(f"DeepPose: stage_input_size must be >= {MIN_INPUT_SIZE}, got {stage_input_size}")
        a, b = (int(j) for j in torso_joints)
        if a == b or not (0 <= a < num_keypoints and 0 <= b < num_keypoints):
            raise ValueError(
                f"DeepPose: torso_joints must be two different joint indices < num_keypoints={num_keypoints}, "
                f"got {tuple(torso_joints)}"
            )
        if not width > 0 or fc_channels < 1 or pool_size < 1:
            raise ValueError(
                f"DeepPose: width, fc_channels, pool_size must be positive, got {width}, {fc_channels}, {pool_size}"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"DeepPose: dropout must be in [0, 1), got {dropout}")
        if not 0 < min_box <= 1:
            raise ValueError(f"DeepPose: min_box must be in (0, 1], got {min_box}")
        if not 0 < error_momentum <= 1:
            raise ValueError(f"DeepPose: error_momentum must be in (0, 1], got {error_momentum}")
        self.num_keypoints = num_keypoints
        self.sigma = float(sigma)
        self.stage_input_size = int(stage_input_size)
        self.torso_joints = (a, b)
        self.min_box = float(min_box)
        self.error_momentum = float(error_momentum)
        net = partial(AlexNetRegressor, 2 * num_keypoints, width=width, fc_channels=fc_channels,
                      pool_size=pool_size, dropout=dropout)
        self.stages = nn.ModuleList([net(output_bias=0.5)] + [net() for _ in range(num_stages - 1)])
        # per refinement stage t = 2..S: std of the stage-(t-1) errors, normalised units, (x, y)
        self.register_buffer("error_std", torch.zeros(num_stages - 1, num_keypoints, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, 3, H, W)`` -> final estimate ``(B, K, 2)``, normalised to the crop."""
        return self.forward_train(x)[-1]

    def forward_train(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Estimates after each stage, ``[y_1, ..., y_S]``, each ``(B, K, 2)`` normalised."""
        batch = x.shape[0]
        estimates = [self.stages[0](x).view(batch, self.num_keypoints, 2)]
        for t, stage in enumerate(self.stages[1:]):
            prev = estimates[-1].detach().float()
            centre = prev
            if self.training:
                centre = prev + torch.randn_like(prev) * self.error_std[t]
            side = self._box_side(prev, x.shape[-2:])  # (B,) pixels
            crops = self._sub_images(x, centre, side)  # (B*K, 3, s, s)
            out = stage(crops).view(batch, self.num_keypoints, self.num_keypoints, 2)
            shift = out.diagonal(dim1=1, dim2=2).transpose(1, 2)  # (B, K, 2): joint i from sub-image i
            scale = side[:, None, None] / x.new_tensor([x.shape[-1], x.shape[-2]], dtype=torch.float32)
            estimates.append(centre + shift * scale)
        return estimates

    def _box_side(self, estimate: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """Sub-image side in pixels, ``sigma * diam`` clamped, ``(B,)``; ``size`` is ``(H, W)``."""
        height, width = size
        a, b = self.torso_joints
        torso = (estimate[:, a] - estimate[:, b]) * estimate.new_tensor([width, height])
        side = self.sigma * torso.norm(dim=-1)
        return side.clamp(self.min_box * min(height, width), 2.0 * max(height, width))

    def _sub_images(self, x: torch.Tensor, centre: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """Square sub-images of side ``side[b]`` px centred on ``centre (B, K, 2)``, resized to ``s x s``.

        With ``align_corners=False`` the sampling frame is ``g = 2u - 1``, so the affine map from the
        output grid ``o in [-1, 1]`` is ``g = (2u - 1) + o * side / (W, H)``. Outside the crop reads
        zeros (the ImageNet mean after normalisation). Returns ``(B*K, 3, s, s)``.
        """
        batch, joints = centre.shape[:2]
        height, width = x.shape[-2:]
        theta = centre.new_zeros(batch, joints, 2, 3)
        theta[..., 0, 0] = (side / width)[:, None]
        theta[..., 1, 1] = (side / height)[:, None]
        theta[..., :, 2] = 2 * centre - 1
        s, channels = self.stage_input_size, x.shape[1]
        grid = F.affine_grid(theta.view(-1, 2, 3), [batch * joints, channels, s, s], align_corners=False)
        # the K grids of a crop stacked vertically sample that crop once: (B, C, K*s, s)
        sampled = F.grid_sample(x.float(), grid.view(batch, joints * s, s, 2), mode="bilinear",
                                padding_mode="zeros", align_corners=False)
        return sampled.view(batch, channels, joints, s, s).transpose(1, 2).reshape(batch * joints, channels, s, s)

    def loss(self, outputs: list[torch.Tensor], target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        """Sum over stages of the weighted squared L2 on normalised coordinates (float32).

        In training mode it also updates ``error_std`` from the stage 1..S-1 errors of the labelled
        joints of this batch (the augmentation statistics of the next stages).
        """
        if self.training:
            self._update_error_std(outputs[:-1], target, target_weight)
        return sum(coordinate_l2_loss(out, target, target_weight) for out in outputs)

    @torch.no_grad()
    def _update_error_std(self, outputs: list[torch.Tensor], target: torch.Tensor, weight: torch.Tensor) -> None:
        labelled = (weight > 0).float()[..., None]  # (B, K, 1)
        count = labelled.sum(dim=0)  # (K, 1)
        has_stats = count >= 2
        for t, out in enumerate(outputs):
            error = (out.float() - target.float()) * labelled
            mean = error.sum(dim=0) / count.clamp(min=1)
            var = (((error - mean) * labelled) ** 2).sum(dim=0) / (count - 1).clamp(min=1)
            updated = torch.lerp(self.error_std[t], var.sqrt(), self.error_momentum)
            self.error_std[t] = torch.where(has_stats, updated, self.error_std[t])


# Paper scale: AlexNet-like stages (Sec. 3.1) at 220x220 with 4096-wide F layers, S = 3, sigma = 2 (LSP).
ZOO: dict[str, Callable[..., nn.Module]] = {
    "deeppose_alexnet": partial(DeepPose, num_stages=3, sigma=2.0, stage_input_size=220, width=1.0,
                                fc_channels=4096),
}
