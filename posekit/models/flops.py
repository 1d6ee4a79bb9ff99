"""Model size and cost: parameter count and multiply-accumulates (MACs).

Pose papers quote "GFLOPs" that are in fact multiply-accumulates of the convolutions and linear
layers (SimpleBaseline-R50 at 256x192 is ~5.4 GMACs). :func:`count_macs` counts exactly those,
with batch 1, by forward hooks; BatchNorm, activations, pooling, additions and biases are not
counted (the same convention as ``torch.utils.flop_counter`` divided by two).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        # every output element is a dot product over (C_in / groups) * kh * kw inputs
        return output.numel() * module.weight[0].numel()
    if isinstance(module, nn.ConvTranspose2d):
        # every input element is scattered into (C_out / groups) * kh * kw outputs
        return inputs[0].numel() * module.weight[0].numel()
    if isinstance(module, nn.Linear):
        return math.prod(output.shape[:-1]) * module.in_features * module.out_features
    return 0


def count_macs(model: nn.Module, input_size: tuple[int, int] = (256, 192), in_channels: int = 3) -> int:
    """Multiply-accumulates of Conv2d / ConvTranspose2d / Linear for one ``(1, in_channels, h, w)`` input.

    The model is run once in eval mode under ``torch.no_grad`` on zeros (its training flag is
    restored afterwards). ``input_size`` is ``(height, width)``.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += _layer_macs(module, inputs, output)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, in_channels, *input_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total
