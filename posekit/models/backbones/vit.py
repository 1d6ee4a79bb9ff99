"""Plain Vision Transformer backbone, as ViTPose uses it.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale", ICLR 2021, with the choices of Xu, Zhang, Zhang, Tao, "ViTPose: Simple Vision
Transformer Baselines for Human Pose Estimation", NeurIPS 2022 (Sec. 3.1) and of its released
checkpoints (ViTAE-Transformer/ViTPose):

    image (B, 3, H, W)
      -> patch_embed.proj: Conv2d k=P, stride P, padding p   (B, C, H/P, W/P)
      -> tokens (B, N, C), N = (H/P)(W/P), + pos_embed           (B, N, C)
      -> depth x Block: x + DropPath(Attn(LN(x))); x + DropPath(MLP(LN(x)))
      -> last_norm (LayerNorm)                                    (B, N, C)
      -> feature map (B, C, H/P, W/P), token (i, j) at row i, column j

Token (i, j) sees input pixels ``[P*j - p, P*j - p + P)`` horizontally (likewise vertically):
the ViTPose patch embedding pads by ``p = 2`` pixels (``4 + 2 * (ratio // 2 - 1)`` with
``ratio = 1`` in the reference), which shifts each patch 2 px up-left and, as long as
``2p < P``, still gives exactly ``H/P x W/P`` tokens when ``P`` divides ``H`` and ``W``.

Position embedding: a learned ``(1, 1 + N, C)`` table whose first row is the slot of a class
token that ViTPose does not use; the reference adds that row to *every* patch token
(``x + pos[:, 1:] + pos[:, :1]``), and so do we, because the released weights were trained
that way (``cls_pos_embed=False`` drops the slot). The table is sized for ``image_size``;
for another input size the patch rows are resampled bicubically to the new token grid.

Module names equal the released checkpoints (``patch_embed.proj``, ``pos_embed``,
``blocks.N.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2``, ``last_norm``). LayerNorm eps is
1e-6, the MLP uses exact GELU, q/k/v come from one linear layer whose output is laid out
``[q | k | v]``, each split into heads of ``C / heads`` channels. Stochastic depth (Huang et
al., ECCV 2016) rises linearly from 0 at the first block to ``drop_path_rate`` at the last.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-6


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a residual branch per sample with probability
    ``p`` and scale the kept ones by ``1 / (1 - p)``; identity in eval mode."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class PatchEmbed(nn.Module):
    """``(B, 3, H, W) -> tokens (B, (H/P)(W/P), C)`` and the grid ``(H/P, W/P)``."""

    def __init__(self, patch_size: int, embed_dim: int, padding: int, in_channels: int = 3):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size, padding=padding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid


class Attention(nn.Module):
    """Multi-head self-attention: ``(B, N, C) -> (B, N, C)``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        # (B, N, 3C) -> (3, B, heads, N, C/heads)
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C/heads)) v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """``fc1 (C -> ratio*C), GELU, fc2 (ratio*C -> C)``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``(B, N, C) -> (B, N, C)``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """ViT feature extractor: ``forward(x: (B, 3, H, W)) -> (B, embed_dim, H/P, W/P)``.

    Args:
        image_size: ``(height, width)`` the position table is sized for; both must be
            multiples of ``patch_size``. Other multiples of ``patch_size`` are accepted at
            run time (the table is interpolated).
        patch_size: ``P``, the side of a patch and the stride of the feature map.
        embed_dim, depth, num_heads: token width ``C`` (divisible by ``num_heads``), number
            of blocks, attention heads.
        mlp_ratio: MLP hidden width / ``C``.
        qkv_bias: bias in the q/k/v projection.
        drop_path_rate: stochastic-depth rate of the last block.
        patch_padding: zero padding of the patch convolution (2 in ViTPose; ``2p < P``).
        cls_pos_embed: keep the class-token row of the position table (added to every token).
        final_norm: apply ``last_norm`` after the blocks.
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (256, 192),
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        patch_padding: int = 2,
        cls_pos_embed: bool = True,
        final_norm: bool = True,
    ):
        super().__init__()
        height, width = (int(s) for s in image_size)
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        if height % patch_size or width % patch_size or height < patch_size or width < patch_size:
            raise ValueError(f"image_size {tuple(image_size)} must be positive multiples of patch_size {patch_size}")
        if not 0 <= 2 * patch_padding < patch_size:
            raise ValueError(f"patch_padding must satisfy 0 <= 2 * patch_padding < patch_size, got {patch_padding}")
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.grid = (height // patch_size, width // patch_size)
        self.num_extra_pos = 1 if cls_pos_embed else 0

        self.patch_embed = PatchEmbed(patch_size, embed_dim, patch_padding)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_extra_pos + self.grid[0] * self.grid[1], embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias, r) for r in rates)
        self.last_norm = nn.LayerNorm(embed_dim, eps=LAYER_NORM_EPS) if final_norm else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        """Truncated normal (std 0.02) for the position table and linear weights, zero
        biases, LayerNorm 1/0; the patch convolution keeps PyTorch's default."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def position_embedding(self, grid: tuple[int, int]) -> torch.Tensor:
        """``(1, grid_h * grid_w, C)`` position term for a token grid: the patch rows
        (bicubically resampled when ``grid`` differs from the trained grid) plus the
        class-token row, if any."""
        pos = self.pos_embed[:, self.num_extra_pos:]
        if tuple(grid) != self.grid:
            table = pos.reshape(1, *self.grid, -1).permute(0, 3, 1, 2)
            table = F.interpolate(table, size=grid, mode="bicubic", align_corners=False)
            pos = table.flatten(2).transpose(1, 2)
        if self.num_extra_pos:
            pos = pos + self.pos_embed[:, :1]
        return pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"input height and width {(height, width)} must be multiples of patch_size {self.patch_size}"
            )
        tokens, grid = self.patch_embed(x)
        tokens = tokens + self.position_embedding(grid)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.last_norm(tokens)
        return tokens.transpose(1, 2).reshape(x.shape[0], self.embed_dim, *grid)
