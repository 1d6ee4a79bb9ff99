"""Chained Predictions (Gkioxari, Toshev, Jaitly, "Chained Predictions Using Convolutional Neural
Networks", ECCV 2016), the single-image model.

The joints are predicted one after another in a fixed order, each conditioned on the image and on
the predictions already made: ``P(Y | X) = prod_t P(Y_t | X, Y_0, ..., Y_{t-1})``. An image encoder
gives the first hidden state; every later hidden state combines the previous one with the earlier
joints' predictions, and a per-joint decoder turns it into a spatial softmax over the joint's
location. Weights are not shared between steps ("untied", the paper's choice for a fixed-size
structure such as single-image pose).

Data flow (``C`` = ``hidden_channels``, ``D`` = ``deception_channels``, ``n`` = ``num_upsample``,
``s = 2**n``, ``E`` = the encoder's stride, 32 with all four ResNet stages, 16 with three;
chain step ``t`` predicts joint ``order[t]``)::

    image (B,3,H,W) -> ResNet (B, C_enc, H/E, W/E) -> 1x1 conv, BN, ReLU            h_0 (B,C,H/E,W/E)
    step t >= 1:  h_t = ReLU(BN(W^h_t * h_{t-1} + W^y_t * [e(p_0), ..., e(p_{t-1})]))   (B,C,H/E,W/E)
    step t:       p_t = softmax over positions of m_t(h_t)                             (B,1,H/E*s,W/E*s)
    forward -> [p_order^-1(0), ..., p_order^-1(K-1)]                                   (B,K,H/E*s,W/E*s)

- ``W^h_t``: ``hidden_kernel`` x ``hidden_kernel`` hidden-to-hidden convolution.
- ``W^y_t``: the "prediction convolution", ``prediction_kernel`` x ``prediction_kernel`` (7 cells:
  224 pixels at stride 32), from all previous predictions to the hidden state. The paper's
  recurrence sums one convolution ``w^y_{i,t} * e(y_i)`` per earlier joint ``i``; one convolution
  over their ``t`` stacked maps is the same sum.
- ``e(p_i)``: the predicted distribution of joint ``i`` scaled to peak 1 and max-pooled by ``s``
  to the hidden resolution.
- ``m_t``, the paper's multi-scale deconvolution ("deception"): ``n`` x [three parallel stride-2
  transposed convolutions, kernels 2, 4 and 6, ``D`` channels each, concatenated, BN, ReLU], then
  a 1x1 convolution to one map of logits.

Output: ``stride = E / 2**n`` (4 with ``E = 32, n = 3`` or ``E = 16, n = 2``); H and W must be
multiples of ``E`` for the maps to be exactly ``H/stride x W/stride``. ``forward`` returns the
joints' spatial-softmax distributions (each map sums to 1) in the skeleton's joint order; their
peaks are Gaussian-shaped after training (see the loss), so the heatmap codec decodes them (argmax
or DARK) with the same heatmap-to-crop mapping (MSRA or UDP) that encoded the training targets.
The input is an RGB crop normalised with the ImageNet mean/std.

Chain order for COCO-17 (:data:`COCO17_CHAIN`): the face (nose, eyes, ears), then each limb from
its root outwards, left before right: left shoulder, elbow, wrist; right shoulder, elbow, wrist;
left hip, knee, ankle; right hip, knee, ankle. Every joint comes after its kinematic parent. For a
skeleton with a kinematic tree in :mod:`posekit.skeletons` the order is a depth-first walk of the
tree (:func:`resolve_chain_order`).

Loss (:meth:`ChainedPredictions.loss`): the paper maximises the log-likelihood of the joints
under the per-step softmax, i.e. cross-entropy of the spatial softmax. The target distribution
here is the codec's Gaussian heatmap normalised to sum 1 (a smoothed one-hot at the sub-cell
position) instead of a one-hot cell: the trained softmax then has a Gaussian peak that sub-cell
(DARK/UDP) decoding can use. The target's entropy (a constant) is subtracted, so the loss is
``KL(target || prediction)``: same gradients as the cross-entropy, 0 at a perfect fit. Joints with
zero ``target_weight`` are ignored.

Differences from the paper, and why:

- **Feedback of predictions.** The paper's ``e(y_i)`` embeds the predicted location; here it is
  the whole predicted distribution (soft), the same in training and inference, so there is no
  teacher forcing, no train/test mismatch and the chain is differentiable end to end. (Whether
  the paper fed ground truth or predictions while training could not be checked against its text
  from the sources reachable here.)
- **Encoder.** posekit's ResNet (50 for ``chained_prediction``) replaces the paper's
  ImageNet-pretrained Inception-family encoder (as we recall it; not re-checked), so that the
  ResNet checkpoints posekit already loads can initialise it. The hidden width, kernel sizes and
  decoder width are our choices; the paper's exact sizes were not available here.
- **BatchNorm** before the ReLU of each hidden state and after each transposed convolution, for
  stable training from scratch; the paper's recurrence is ``h_t = sigma(...)`` without it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.backbones.resnet import ResNet, init_backbone_weights
from posekit.models.heads.heatmap import init_head_weights
from posekit.skeletons import get_skeleton

#: COCO-17 chain (indices into the COCO keypoint order): nose, left_eye, right_eye, left_ear,
#: right_ear, left_shoulder, left_elbow, left_wrist, right_shoulder, right_elbow, right_wrist,
#: left_hip, left_knee, left_ankle, right_hip, right_knee, right_ankle.
COCO17_CHAIN: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7, 9, 6, 8, 10, 11, 13, 15, 12, 14, 16)

# (kernel, padding) of stride-2 transposed convolutions that exactly double H and W
_DECEPTION_KERNELS = ((2, 0), (4, 1), (6, 2))


def resolve_chain_order(chain_order: str | Sequence[int], num_keypoints: int) -> tuple[int, ...]:
    """The chain as joint indices: ``"coco17"`` (:data:`COCO17_CHAIN`), the name of a skeleton with
    a kinematic tree (depth-first walk from the roots, children in index order), or an explicit
    permutation of ``range(num_keypoints)``. Raises ValueError naming ``chain_order``."""
    if isinstance(chain_order, str):
        if chain_order == "coco17":
            order: tuple[int, ...] = COCO17_CHAIN
        else:
            skeleton = get_skeleton(chain_order)
            if skeleton.parents is None:
                raise ValueError(f"chain_order {chain_order!r}: skeleton has no kinematic tree; "
                                 "give the chain as a list of joint indices")
            children: dict[int, list[int]] = {}
            for joint, parent in enumerate(skeleton.parents):
                children.setdefault(parent, []).append(joint)
            order, stack = (), list(reversed(children[-1]))
            while stack:
                joint = stack.pop()
                order += (joint,)
                stack += reversed(children.get(joint, []))
    else:
        order = tuple(int(j) for j in chain_order)
    if sorted(order) != list(range(num_keypoints)):
        raise ValueError(f"chain_order {chain_order!r} must be a permutation of the {num_keypoints} joints")
    return order


class MultiScaleUpsample(nn.Module):
    """Transposed convolutions with kernels 2, 4 and 6 (stride 2) in parallel, concatenated, BN, ReLU:
    ``(B, in_channels, h, w) -> (B, 3 * channels, 2h, 2w)``."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.ConvTranspose2d(in_channels, channels, k, stride=2, padding=p, bias=False) for k, p in _DECEPTION_KERNELS
        )
        self.bn = nn.BatchNorm2d(3 * channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(torch.cat([branch(x) for branch in self.branches], dim=1)))


def make_deception(in_channels: int, channels: int, num_upsample: int) -> nn.Sequential:
    """A joint's decoder ``m_t``: ``(B, in_channels, h, w) -> logits (B, 1, h * 2**n, w * 2**n)``,
    ``n = num_upsample``."""
    layers: list[nn.Module] = []
    for _ in range(num_upsample):
        layers.append(MultiScaleUpsample(in_channels, channels))
        in_channels = 3 * channels
    layers.append(nn.Conv2d(in_channels, 1, 1))
    return nn.Sequential(*layers)


def spatial_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the positions of each map, in float32: ``(B, C, h, w) -> (B, C, h, w)`` summing to 1 per map."""
    b, c, h, w = logits.shape
    return logits.float().reshape(b, c, h * w).softmax(dim=-1).reshape(b, c, h, w)


class ChainedPredictions(nn.Module):
    """``forward(x: (B, 3, H, W)) -> (B, num_keypoints, H/stride, W/stride)`` spatial-softmax maps.

    Args:
        num_keypoints: ``K``.
        depth: ResNet depth of the encoder (18, 34, 50, 101, 152).
        encoder_stages: ResNet stages used, 4 (stride 32) or 3 (stride 16: ``layer4`` is dropped,
            a finer hidden grid and fewer parameters for small CPU crops).
        hidden_channels: ``C``, channels of the hidden states.
        deception_channels: ``D``, channels of each transposed-convolution branch of the decoders.
        num_upsample: ``n`` doublings in each decoder; ``stride = E / 2**n`` must be >= 1.
        hidden_kernel: odd kernel size of the hidden-to-hidden convolutions.
        prediction_kernel: odd kernel size of the prediction convolutions.
        chain_order: see :func:`resolve_chain_order`.
    """

    output_kind = "heatmap"

    def __init__(
        self,
        num_keypoints: int = 17,
        depth: int = 50,
        encoder_stages: int = 4,
        hidden_channels: int = 128,
        deception_channels: int = 32,
        num_upsample: int = 3,
        hidden_kernel: int = 3,
        prediction_kernel: int = 7,
        chain_order: str | Sequence[int] = "coco17",
    ):
        super().__init__()
        if encoder_stages not in (3, 4):
            raise ValueError(f"encoder_stages must be 3 or 4, got {encoder_stages}")
        encoder_stride = 2 ** (encoder_stages + 1)
        if not 0 <= num_upsample <= encoder_stages + 1:
            raise ValueError(f"num_upsample must be in 0..{encoder_stages + 1} (stride {encoder_stride} -> 1), "
                             f"got {num_upsample}")
        for name, kernel in (("hidden_kernel", hidden_kernel), ("prediction_kernel", prediction_kernel)):
            if kernel < 1 or kernel % 2 == 0:
                raise ValueError(f"{name} must be odd and >= 1, got {kernel}")
        for name, channels in (("hidden_channels", hidden_channels), ("deception_channels", deception_channels)):
            if channels < 1:
                raise ValueError(f"{name} must be >= 1, got {channels}")
        self.num_keypoints = num_keypoints
        self.order = resolve_chain_order(chain_order, num_keypoints)
        self.chain_position = tuple(self.order.index(joint) for joint in range(num_keypoints))
        self.stride = encoder_stride // 2**num_upsample
        self.upsample_factor = 2**num_upsample

        self.encoder = ResNet(depth)
        if encoder_stages == 3:  # stop after layer3, at stride 16
            self.encoder.layer4 = nn.Identity()
            self.encoder.out_channels //= 2
        self.init_hidden = nn.Sequential(
            nn.Conv2d(self.encoder.out_channels, hidden_channels, 1, bias=False),
            nn.BatchNorm2d(hidden_channels),
            nn.ReLU(inplace=True),
        )
        # step t (1..K-1) reads h_{t-1} and the t previous predictions
        self.hidden_convs = nn.ModuleList(
            nn.Conv2d(hidden_channels, hidden_channels, hidden_kernel, padding=hidden_kernel // 2, bias=False)
            for _ in range(1, num_keypoints)
        )
        self.prediction_convs = nn.ModuleList(
            nn.Conv2d(t, hidden_channels, prediction_kernel, padding=prediction_kernel // 2, bias=False)
            for t in range(1, num_keypoints)
        )
        self.hidden_norms = nn.ModuleList(nn.BatchNorm2d(hidden_channels) for _ in range(1, num_keypoints))
        self.decoders = nn.ModuleList(
            make_deception(hidden_channels, deception_channels, num_upsample) for _ in range(num_keypoints)
        )
        init_backbone_weights(self.init_hidden)
        init_backbone_weights(self.hidden_convs)
        init_backbone_weights(self.prediction_convs)
        init_backbone_weights(self.hidden_norms)
        init_head_weights(self.decoders)

    def _feedback(self, probs: torch.Tensor) -> torch.Tensor:
        """``e(p)``: ``(B, 1, h, w)`` distribution -> peak-1 map max-pooled to the hidden resolution."""
        peak_one = probs / probs.amax(dim=(2, 3), keepdim=True)
        return F.max_pool2d(peak_one, self.upsample_factor) if self.upsample_factor > 1 else peak_one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.init_hidden(self.encoder(x))
        chain: list[torch.Tensor] = []  # p_t in chain order, (B, 1, h, w) each
        feedback: list[torch.Tensor] = []
        for t in range(self.num_keypoints):
            if t > 0:
                step = self.hidden_convs[t - 1](hidden) + self.prediction_convs[t - 1](torch.cat(feedback, dim=1))
                hidden = F.relu(self.hidden_norms[t - 1](step))
            chain.append(spatial_softmax(self.decoders[t](hidden)))
            if t + 1 < self.num_keypoints:
                feedback.append(self._feedback(chain[-1]))
        return torch.cat([chain[t] for t in self.chain_position], dim=1)

    def loss(self, outputs: list[torch.Tensor], target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        """Spatial KL divergence, ``mean over (B, K) of weight * sum_xy q (log q - log p)``, summed over ``outputs``.

        ``outputs``: ``[forward(x)]``, each ``(B, K, h, w)`` distributions; ``target (B, K, h, w)``:
        the codec's heatmaps, normalised here to distributions ``q``; ``target_weight (B, K)``.
        """
        q = target.float().flatten(2)
        q = q / q.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        neg_entropy = torch.special.xlogy(q, q).sum(dim=-1)  # sum q log q, 0 log 0 = 0
        tiny = torch.finfo(torch.float32).tiny
        total = target.new_zeros((), dtype=torch.float32)
        for probs in outputs:
            log_p = torch.log(probs.float().flatten(2).clamp_min(tiny))
            kl = neg_entropy - (q * log_p).sum(dim=-1)
            total = total + (kl * target_weight.float()).mean()
        return total


def _chained(defaults: dict, num_keypoints: int, **overrides) -> ChainedPredictions:
    return ChainedPredictions(num_keypoints=num_keypoints, **{**defaults, **overrides})


#: Zoo names -> builders ``(num_keypoints, **overrides)``.
ZOO: dict[str, Callable[..., nn.Module]] = {
    "chained_prediction": partial(_chained, {"depth": 50, "encoder_stages": 4, "hidden_channels": 128,
                                             "deception_channels": 32,
                                             "num_upsample": 3, "hidden_kernel": 3, "prediction_kernel": 7}),
}

__all__ = ["ChainedPredictions", "MultiScaleUpsample", "make_deception", "spatial_softmax",
           "resolve_chain_order", "COCO17_CHAIN", "ZOO"]
