"""TFPose (Mao, Ge, Shen, Tian, Wang, Wang, "TFPose: Direct Human Pose Estimation with Transformers",
arXiv 2103.15320, 2021): pose estimation as a sequence prediction solved by a DETR-like transformer
with one query per keypoint, regressing coordinates directly.

Data flow, crop ``(B, 3, H, W)`` (H, W multiples of 32 keep every level aligned with the crop),
d = ``d_model``:

    ResNet C3, C4, C5 (strides 8, 16, 32)
      -> per level: 1x1 conv + GroupNorm to d, flattened        tokens (B, N, d), N = sum h_l * w_l
      + positional encoding: 2-D sine (DETR) + a learned embedding per level
      -> transformer encoder (num_encoder_layers x [self-attention, FFN])      memory (B, N, d)
    K learned keypoint queries (content + positional embedding, (K, d) each)
      -> transformer decoder (num_decoder_layers x [self-attention over the K queries,
         cross-attention to the memory, FFN])
      -> after decoder layer l an FFN predicts an offset in logit space, layer-wise refinement:
         y_l = sigmoid(logit(y_{l-1}) + FFN_l(q_l)),  y_0 = sigmoid(Linear(query_pos))    (B, K, 2)
    auxiliary (training only): the C3 part of the memory, reshaped to (B, d, H/8, W/8)
      -> 3x3 conv, ReLU, 1x1 conv -> heatmaps (B, K, H/8, W/8)

``forward`` returns ``y_L`` (the last decoder layer); ``forward_train`` returns
``[heatmaps, y_1, ..., y_L]`` (heatmaps first, only when ``aux_heatmap``; the final estimate is
always last). :meth:`TFPose.loss` understands that list: the L1 loss of every decoder layer's
coordinates (the auxiliary decoding losses), plus ``aux_heatmap_weight`` times a heatmap loss
whose Gaussian targets (``heatmap_sigma`` cells) are rendered from the coordinate target.

Coordinates: normalised to the crop, ``u = (x + 0.5) / W``, ``v = (y + 0.5) / H`` (pixel centres at
integers, the crop spans ``[0, 1]``; see :mod:`posekit.codecs.regression`); the sigmoid keeps
predictions inside the crop. Heatmap cell ``j`` of a map of width ``w`` is centred at
``u = (j + 0.5) / w``.

Sources. Checked with the search tool, which reached only the abstract and the benchmark
listings: direct regression of keypoint coordinates by a transformer on CNN features, ResNet-50,
"ND = 6" decoder layers (72.2 AP on COCO test-dev). Taken from the paper as recalled, not re-read
while this was written: C3-C5 backbone features, one query per keypoint, layer-wise refinement
with a prediction and an L1 loss after every decoder layer, an auxiliary heatmap loss on the
encoder output used only in training, d_model 256 with 8 heads, 256x192 input. Plain choices
(mostly Deformable DETR's conventions, on which TFPose builds):

- Attention is ordinary dense multi-head attention (``F.scaled_dot_product_attention``) over all
  C3-C5 tokens (1,008 at 256x192), post-norm layers as DETR, FFN width 1024, dropout 0.1,
  6 encoder layers.
- Refinement as Deformable DETR's iterative refinement: offsets added in inverse-sigmoid space,
  one FFN (3-layer MLP, last layer zero-initialised) per decoder layer; each layer's estimate is
  detached before the next layer refines it (``y_0`` is not, so its Linear is trained through
  layer 1's loss).
- Auxiliary heatmaps at stride 8 (the C3 memory), ``heatmap_sigma = 1`` cell (the usual
  sigma 2 at stride 4), loss ``0.5 * mean_{b,k} w_bk * sum_pixels (pred - target)^2``
  (a per-heatmap sum, so that it is of the order of the L1 term at initialisation), weight 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.backbones.resnet import ResNet
from posekit.models.heads.heatmap import init_head_weights
from posekit.models.losses import coordinate_l1_loss


def sine_position_encoding(height: int, width: int, dim: int, device: torch.device,
                           temperature: float = 10000.0) -> torch.Tensor:
    """DETR's 2-D sine encoding of an ``height x width`` grid: ``(height * width, dim)``, row-major.

    Half the channels encode y, half x; cell centres are normalised to ``(i + 0.5) / n * 2 pi``;
    channel pairs ``(sin, cos)`` share the frequency ``temperature ** (2 * (c // 2) / (dim / 2))``.
    """
    half = dim // 2
    freq = temperature ** (2 * (torch.arange(half, device=device) // 2) / half)

    def encode(n: int) -> torch.Tensor:  # (n, half)
        angle = (torch.arange(n, device=device) + 0.5) / n * 2 * math.pi
        phase = angle[:, None] / freq
        return torch.stack([phase[:, 0::2].sin(), phase[:, 1::2].cos()], dim=2).flatten(1)

    pos_y = encode(height)[:, None, :].expand(height, width, half)
    pos_x = encode(width)[None, :, :].expand(height, width, half)
    return torch.cat([pos_y, pos_x], dim=-1).reshape(height * width, dim)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``log(x / (1 - x))`` with ``x`` clamped to ``[eps, 1 - eps]``."""
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


def gaussian_heatmaps(coords: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """Unnormalised Gaussians (peak 1) at normalised ``coords (B, K, 2)`` on a ``height x width`` grid.

    The centre in cells is ``(u * width - 0.5, v * height - 0.5)``. Returns ``(B, K, height, width)``.
    """
    cx = coords[..., 0:1] * width - 0.5
    cy = coords[..., 1:2] * height - 0.5
    gx = torch.exp(-((torch.arange(width, device=coords.device) - cx) ** 2) / (2 * sigma**2))  # (B, K, w)
    gy = torch.exp(-((torch.arange(height, device=coords.device) - cy) ** 2) / (2 * sigma**2))  # (B, K, h)
    return gy[..., :, None] * gx[..., None, :]


class Attention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017) on ``F.scaled_dot_product_attention``.

    ``forward(query (B, Lq, d), key (B, Lk, d), value (B, Lk, d)) -> (B, Lq, d)``; query, key and
    value projections with bias, ``num_heads`` heads of ``d / num_heads`` channels, dropout on the
    attention weights in training, output projection.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        batch, length, channels = query.shape

        def heads(x: torch.Tensor) -> torch.Tensor:  # (B, L, d) -> (B, heads, L, d / heads)
            return x.view(batch, -1, self.num_heads, channels // self.num_heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.q_proj(query)), heads(self.k_proj(key)),
                                             heads(self.v_proj(value)),
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, channels))


def _ffn(d_model: int, ffn_channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, ffn_channels), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(ffn_channels, d_model))


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer; the positional encoding is added to queries and keys."""

    def __init__(self, d_model: int, num_heads: int, ffn_channels: int, dropout: float):
        super().__init__()
        self.self_attn = Attention(d_model, num_heads, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = _ffn(d_model, ffn_channels, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``src (B, N, d)``, ``pos (1 | B, N, d)`` -> ``(B, N, d)``."""
        qk = src + pos
        src = self.norm1(src + self.dropout(self.self_attn(qk, qk, src)))
        return self.norm2(src + self.dropout(self.ffn(src)))


class DecoderLayer(nn.Module):
    """Post-norm decoder layer: self-attention over the K queries, cross-attention to the memory, FFN."""

    def __init__(self, d_model: int, num_heads: int, ffn_channels: int, dropout: float):
        super().__init__()
        self.self_attn = Attention(d_model, num_heads, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.cross_attn = Attention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = _ffn(d_model, ffn_channels, dropout)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor,
                pos: torch.Tensor) -> torch.Tensor:
        """``tgt (B, K, d)``, ``query_pos (1, K, d)``, ``memory (B, N, d)``, ``pos (1, N, d)`` -> ``(B, K, d)``."""
        qk = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout(self.self_attn(qk, qk, tgt)))
        attended = self.cross_attn(tgt + query_pos, memory + pos, memory)
        tgt = self.norm2(tgt + self.dropout(attended))
        return self.norm3(tgt + self.dropout(self.ffn(tgt)))


class CoordinateHead(nn.Module):
    """3-layer MLP ``(..., d) -> (..., 2)``: a coordinate offset in logit space (zero at init)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(inplace=True),
                                    nn.Linear(d_model, d_model), nn.ReLU(inplace=True),
                                    nn.Linear(d_model, 2))
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TFPose(nn.Module):
    """TFPose: ``forward(x: (B, 3, H, W)) -> (B, K, 2)`` normalised coordinates.

    Args:
        num_keypoints: K (one decoder query per keypoint).
        depth: ResNet depth (18, 34, 50, 101, 152); C3-C5 feed the encoder.
        d_model: transformer width (divisible by 32 for GroupNorm and by ``num_heads``).
        num_heads: attention heads.
        num_encoder_layers, num_decoder_layers: layer counts (>= 1).
        ffn_channels: hidden width of the transformer FFNs.
        dropout: dropout in attention and FFNs.
        aux_heatmap: add the training-only auxiliary heatmap branch.
        aux_heatmap_weight: its weight in :meth:`loss`.
        heatmap_sigma: Gaussian sigma of the auxiliary targets, in stride-8 cells.
    """

    output_kind = "regression"
    num_levels = 3  # C3, C4, C5

    def __init__(
        self,
        num_keypoints: int = 17,
        depth: int = 50,
        d_model: int = 256,
        num_heads: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        ffn_channels: int = 1024,
        dropout: float = 0.1,
        aux_heatmap: bool = True,
        aux_heatmap_weight: float = 1.0,
        heatmap_sigma: float = 1.0,
    ):
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"TFPose: num_keypoints must be >= 1, got {num_keypoints}")
        if d_model % 32 != 0:
            raise ValueError(f"TFPose: d_model must be a multiple of 32 (GroupNorm, sine halves), got {d_model}")
        if num_heads < 1 or d_model % num_heads != 0:
            raise ValueError(f"TFPose: num_heads must divide d_model={d_model}, got {num_heads}")
        if num_encoder_layers < 1 or num_decoder_layers < 1:
            raise ValueError(
                f"TFPose: num_encoder_layers and num_decoder_layers must be >= 1, got {num_encoder_layers}, "
                f"{num_decoder_layers}"
            )
        if ffn_channels < 1:
            raise ValueError(f"TFPose: ffn_channels must be >= 1, got {ffn_channels}")
        if not 0 <= dropout < 1:
            raise ValueError(f"TFPose: dropout must be in [0, 1), got {dropout}")
        if aux_heatmap_weight < 0 or not heatmap_sigma > 0:
            raise ValueError(
                f"TFPose: aux_heatmap_weight must be >= 0 and heatmap_sigma > 0, "
                f"got {aux_heatmap_weight}, {heatmap_sigma}"
            )
        self.num_keypoints = num_keypoints
        self.d_model = d_model
        self.aux_heatmap_weight = float(aux_heatmap_weight)
        self.heatmap_sigma = float(heatmap_sigma)

        self.backbone = ResNet(depth)
        expansion = self.backbone.out_channels // 512
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c * expansion, d_model, 1), nn.GroupNorm(32, d_model)) for c in (128, 256, 512)
        )
        self.level_embed = nn.Parameter(torch.empty(self.num_levels, d_model))
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, num_heads, ffn_channels, dropout) for _ in range(num_encoder_layers)
        )
        self.query_content = nn.Embedding(num_keypoints, d_model)
        self.query_pos = nn.Embedding(num_keypoints, d_model)
        self.reference = nn.Linear(d_model, 2)
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, num_heads, ffn_channels, dropout) for _ in range(num_decoder_layers)
        )
        self.coord_heads = nn.ModuleList(CoordinateHead(d_model) for _ in range(num_decoder_layers))
        self.heatmap_head = (
            nn.Sequential(nn.Conv2d(d_model, d_model, 3, padding=1), nn.ReLU(inplace=True),
                          nn.Conv2d(d_model, num_keypoints, 1))
            if aux_heatmap else None
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """Xavier for the projections and transformer linears (as DETR); heads as described above."""
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight)
            nn.init.zeros_(proj[0].bias)
        nn.init.normal_(self.level_embed)
        for layer in [*self.encoder, *self.decoder]:
            for m in layer.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.reference.weight)
        nn.init.zeros_(self.reference.bias)
        if self.heatmap_head is not None:
            init_head_weights(self.heatmap_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, 3, H, W)`` -> last decoder layer's estimate ``(B, K, 2)``, normalised to the crop."""
        memory, pos, _ = self._encode(x)
        return self._decode(memory, pos)[-1]

    def forward_train(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[heatmaps (B, K, h3, w3), y_1, ..., y_L]`` (``y_l (B, K, 2)``); no heatmaps without ``aux_heatmap``."""
        memory, pos, c3_size = self._encode(x)
        outputs = self._decode(memory, pos)
        if self.heatmap_head is None:
            return outputs
        h3, w3 = c3_size
        c3 = memory[:, : h3 * w3].transpose(1, 2).reshape(x.shape[0], self.d_model, h3, w3)
        return [self.heatmap_head(c3), *outputs]

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Backbone + encoder: ``(memory (B, N, d), pos (1, N, d), (h3, w3))``, tokens C3 first, row-major."""
        b = self.backbone
        c2 = b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(x)))))
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        tokens, pos = [], []
        for level, (feature, proj) in enumerate(zip((c3, c4, c5), self.input_proj)):
            height, width = feature.shape[-2:]
            tokens.append(proj(feature).flatten(2).transpose(1, 2))
            encoding = sine_position_encoding(height, width, self.d_model, x.device)
            pos.append(encoding + self.level_embed[level])
        src = torch.cat(tokens, dim=1)
        pos_all = torch.cat(pos, dim=0)[None].to(src.dtype)
        for layer in self.encoder:
            src = layer(src, pos_all)
        return src, pos_all, (c3.shape[-2], c3.shape[-1])

    def _decode(self, memory: torch.Tensor, pos: torch.Tensor) -> list[torch.Tensor]:
        """Decoder with layer-wise refinement: ``[y_1, ..., y_L]``, each ``(B, K, 2)`` in (0, 1)."""
        batch = memory.shape[0]
        query_pos = self.query_pos.weight[None]
        tgt = self.query_content.weight[None].expand(batch, -1, -1)
        reference = self.reference(query_pos).float().sigmoid().expand(batch, -1, -1)
        outputs = []
        for layer, head in zip(self.decoder, self.coord_heads):
            tgt = layer(tgt, query_pos, memory, pos)
            outputs.append((inverse_sigmoid(reference) + head(tgt).float()).sigmoid())
            reference = outputs[-1].detach()
        return outputs

    def loss(self, outputs: list[torch.Tensor], target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        """L1 of every decoder layer's coordinates plus the weighted auxiliary heatmap loss (float32).

        ``outputs`` as from :meth:`forward_train` (4-D items are heatmaps, 3-D items coordinates);
        ``target (B, K, 2)`` normalised coordinates, ``target_weight (B, K)``.
        """
        total = target.new_zeros((), dtype=torch.float32)
        for out in outputs:
            if out.ndim == 4:
                heatmaps = out.float()
                gaussians = gaussian_heatmaps(target.float(), *heatmaps.shape[-2:], self.heatmap_sigma)
                per_joint = (heatmaps - gaussians).pow(2).sum(dim=(-2, -1))
                total = total + self.aux_heatmap_weight * 0.5 * (per_joint * target_weight.float()).mean()
            else:
                total = total + coordinate_l1_loss(out, target, target_weight)
        return total


# Paper scale: ResNet-50, 256x192, d_model 256, 8 heads, 6 encoder / 6 decoder layers.
ZOO: dict[str, Callable[..., nn.Module]] = {
    "tfpose_r50": partial(TFPose, depth=50, d_model=256, num_heads=8, num_encoder_layers=6,
                          num_decoder_layers=6, ffn_channels=1024),
}
