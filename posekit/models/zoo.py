"""User-facing model names -> architecture builders.

The model contract: every model takes an ImageNet-normalised RGB crop ``(B, 3, H, W)`` (float32)
and its ``forward`` returns the final prediction, according to ``model.output_kind``:

- ``"heatmap"``: heatmaps ``(B, K, H/stride, W/stride)``, ``model.stride`` (4 for most models);
- ``"regression"``: coordinates ``(B, K, 2)`` normalised to the crop, ``u = (x + 0.5) / W``.

Optional ``forward_train(x) -> list[Tensor]`` returns every supervised output (intermediate
supervision), and optional ``loss(outputs, target, target_weight)`` is the method's own loss
(default: heatmap MSE summed over the outputs; see ``posekit.engine.trainer.training_loss``).
``overrides`` are passed to the model constructor. Each method's module exposes ``ZOO``
(name -> builder); the registry below merges them.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from posekit.models.hrnet import PoseHRNet
from posekit.models.simplebaseline import SimpleBaseline


def _simplebaseline(depth: int, num_keypoints: int, **overrides: Any) -> nn.Module:
    return SimpleBaseline(depth=depth, num_keypoints=num_keypoints, **overrides)


def _hrnet(defaults: dict[str, Any], num_keypoints: int, **overrides: Any) -> nn.Module:
    return PoseHRNet(num_keypoints=num_keypoints, **{**defaults, **overrides})


# HRNet-W32/W48 of the paper (Sec. 4.1 / the reference w32_256x192 and w48 configs).
_HRNET_PAPER = {"stage1_planes": 64, "stage1_blocks": 4, "stage_modules": (1, 4, 3), "stage_blocks": (4, 4, 4)}
# A CPU-sized HRNet with the depths of HRNet-W18-Small-V1 (HRNet-Image-Classification config
# cls_hrnet_w18_small_v1: stage 1 one Bottleneck of 32 planes, one module per stage, 2 blocks per
# branch; branch widths 16/32/64/128).
_HRNET_SMALL = {"stage1_planes": 32, "stage1_blocks": 1, "stage_modules": (1, 1, 1), "stage_blocks": (2, 2, 2)}

MODELS: dict[str, Callable[..., nn.Module]] = {
    "simplebaseline_r18": partial(_simplebaseline, 18),
    "simplebaseline_r34": partial(_simplebaseline, 34),
    "simplebaseline_r50": partial(_simplebaseline, 50),
    "simplebaseline_r101": partial(_simplebaseline, 101),
    "simplebaseline_r152": partial(_simplebaseline, 152),
    "hrnet_w32": partial(_hrnet, {**_HRNET_PAPER, "width": 32}),
    "hrnet_w48": partial(_hrnet, {**_HRNET_PAPER, "width": 48}),
    "hrnet_w16_small": partial(_hrnet, {**_HRNET_SMALL, "width": 16}),
}


def _method_zoos() -> dict[str, Callable[..., nn.Module]]:
    """The ``ZOO`` entries of the method modules (one architecture per module)."""
    from posekit.models import (chained, cpm, deeppose, multicontext_attention, prm_hourglass,
                                stacked_hourglass, tfpose, vitpose)

    entries: dict[str, Callable[..., nn.Module]] = {}
    for module in (deeppose, tfpose, cpm, stacked_hourglass, chained, multicontext_attention,
                   prm_hourglass, vitpose):
        entries.update(module.ZOO)
    return entries


MODELS.update(_method_zoos())


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted."""
    return sorted(MODELS)


def build_model(name: str, num_keypoints: int = 17, **overrides: Any) -> nn.Module:
    """Build the architecture ``name`` with freshly initialised weights.

    ``overrides`` replace constructor arguments, e.g.
    ``build_model("simplebaseline_r18", deconv_channels=(128, 128, 128))`` or
    ``build_model("hrnet_w32", width=16, stage_modules=(1, 1, 1))``.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return MODELS[name](num_keypoints, **overrides)
