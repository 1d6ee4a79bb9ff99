"""Pyramid Residual Module hourglass (Yang et al. ICCV 2017): the PRM-B module (pyramid scales,
plain residual when levels=0, conv shortcut, stochastic-in-training / deterministic-in-eval
fractional pooling), the multi-branch initialisation, network shapes, training on a codec
target, checkpoint round trip and the paper-scale parameter count."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.models.backbones.hourglass import Hourglass
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.flops import count_params
from posekit.models.losses import heatmap_mse_loss
from posekit.models.prm_hourglass import ZOO, PRMHourglass, PyramidResidualModule, multibranch_normal_

torch.set_num_threads(1)

TINY = {"num_stacks": 2, "features": 16, "stem_width": 8, "depth": 2, "levels": 2, "pyramid_divisor": 4}


def _tiny(num_keypoints: int = 4, seed: int = 0, **kwargs) -> PRMHourglass:
    torch.manual_seed(seed)
    return ZOO["prm_hourglass_8"](num_keypoints, **{**TINY, **kwargs})


def test_prm_b_pyramid_scales_and_widths():
    prm = PyramidResidualModule(256, 256)  # the paper's configuration: C = 4, M = 1, D = 256 // 9
    assert prm.scales == pytest.approx([2 ** -0.25, 2 ** -0.5, 2 ** -0.75, 0.5])
    assert prm.pyramid_reduce[-3].out_channels == 28 and len(prm.pyramid_convs) == 4
    assert prm.pyramid_expand[-1].in_channels == 28 and prm.pyramid_expand[-1].out_channels == 128
    assert isinstance(prm.shortcut, torch.nn.Identity)
    assert not isinstance(PyramidResidualModule(256, 256, conv_shortcut=True).shortcut, torch.nn.Identity)
    x = torch.randn(2, 256, 16, 16)
    assert prm(x).shape == (2, 256, 16, 16)
    assert PyramidResidualModule(64, 128, preact=False)(torch.randn(1, 64, 9, 13)).shape == (1, 128, 9, 13)


def test_zero_levels_is_the_plain_residual_unit():
    plain = PyramidResidualModule(32, 32, levels=0)
    assert not hasattr(plain, "pyramid_convs")
    assert count_params(plain) == sum(p.numel() for m in (plain.branch0, plain.fuse) for p in m.parameters())


def test_fractional_pooling_is_random_in_training_and_fixed_in_eval():
    torch.manual_seed(0)
    prm = PyramidResidualModule(16, 16, levels=3, pyramid_divisor=2)
    x = torch.randn(2, 16, 16, 16)
    with torch.no_grad():
        assert not torch.equal(prm(x), prm(x))
        prm.eval()
        assert torch.equal(prm(x), prm(x))
        torch.testing.assert_close(prm(x[:1]), prm(x)[:1])  # eval output does not depend on the batch


def test_multibranch_initialisation_divides_the_variance_by_the_branches():
    torch.manual_seed(0)
    model = PRMHourglass(num_keypoints=16, num_stacks=1, features=256, depth=1, stem_width=64)
    prm = model.stem[-1]  # PRM 128 -> 256, C = 4, D = 28
    expand, reduce_ = prm.pyramid_expand[-1], prm.pyramid_reduce[-3]
    assert expand.weight.std().item() == pytest.approx(math.sqrt(2 / (4 * 28)), rel=0.05)
    assert reduce_.weight.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.05)
    assert prm.branch0[-1].weight.std().item() == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.05)
    assert torch.count_nonzero(expand.bias) == 0
    conv = torch.nn.Conv2d(10, 40, 3)
    multibranch_normal_(conv, input_branches=5)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (5 * 90)), rel=0.1)


def test_prms_replace_residual_units_down_to_pyramid_depth():
    torch.manual_seed(0)
    model = PRMHourglass(num_stacks=1, features=16, stem_width=8, depth=4, levels=2, pyramid_divisor=4)
    hg = model.hourglasses[0]
    levels, inner = [], hg
    while isinstance(inner, Hourglass):
        levels.append((inner.up1.levels, inner.low1.levels, inner.low3.levels))
        inner = inner.low2
    # (up1, low1, low3) per hourglass level; up1 runs at the level's resolution, low1/low3 one
    # pooling below. PRMs at 0, 1, 2 poolings (64, 32, 16 px at a 256 input), plain units below
    assert levels == [(2, 2, 2), (2, 2, 2), (2, 0, 0), (0, 0, 0)] and inner.levels == 0
    assert not isinstance(hg.low3.shortcut, torch.nn.Identity)  # BN-ReLU-conv before each addition
    assert isinstance(hg.up1.shortcut, torch.nn.Identity)


def test_forward_and_forward_train_shapes():
    model = _tiny(num_keypoints=5).eval()
    assert (model.output_kind, model.stride) == ("heatmap", 4)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        out = model(x)
        outs = model.forward_train(x)
    assert out.shape == (2, 5, 16, 12) and out.dtype == torch.float32
    assert len(outs) == 2 and all(o.shape == (2, 5, 16, 12) for o in outs)
    assert torch.equal(outs[-1], out)


def test_channels_last_bfloat16_autocast_and_batch_one():
    model = _tiny().to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = model.forward_train(x)
    assert [o.shape for o in outs] == [(2, 4, 16, 16)] * 2
    sum(o.float().mean() for o in outs).backward()
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, 4, 16, 16)


@pytest.mark.parametrize("kwargs, name", [({"features": 15}, "features"), ({"num_stacks": 0}, "num_stacks"),
                                          ({"octaves": 0}, "octaves"), ({"levels": -1}, "levels"),
                                          ({"pyramid_divisor": 0}, "pyramid_divisor")])
def test_bad_constructor_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PRMHourglass(**kwargs)


def test_overfits_two_crops_with_codec_targets():
    codec = HeatmapCodec(input_size=(64, 64), heatmap_size=(16, 16), sigma=2.0, unbiased=True)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(8, 56, size=(2, 4, 2))
    target, weight = (torch.from_numpy(a) for a in codec.encode(keypoints, np.full((2, 4), 2)))
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    model = _tiny().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = sum(heatmap_mse_loss(o.float(), target, weight) for o in model.forward_train(images))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_safetensors_round_trip(tmp_path):
    source = _tiny(seed=0)
    with torch.no_grad():
        source(torch.randn(2, 3, 64, 64))  # BN running statistics away from their initial values
    source.eval()
    path = save_safetensors(source.state_dict(), tmp_path / "prm.safetensors")
    target = load_checkpoint(_tiny(seed=1).eval(), path, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def test_paper_scale_parameter_count():
    # 8 stacks, 256 features, C = 4, M = 1, D = 28, 16 MPII joints: 28.13 M parameters with this
    # implementation (convolutions with biases, as in the authors' Torch code)
    with torch.device("meta"):
        model = ZOO["prm_hourglass_8"](16)
    assert count_params(model) == 28_131_832
