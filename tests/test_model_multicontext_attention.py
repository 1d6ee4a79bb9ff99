"""Multi-Context Attention (Chu et al., CVPR 2017): shapes, attention blocks, bad arguments, bf16 /
channels_last, a tiny overfit with codec targets, checkpoint round trip, paper-scale size."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from posekit.codecs.heatmap import HeatmapCodec
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.flops import count_params
from posekit.models.losses import heatmap_mse_loss
from posekit.models.multicontext_attention import (
    ZOO,
    CRFAttention,
    Hourglass,
    HourglassResidualUnit,
    MultiContextAttention,
)

torch.set_num_threads(1)

MANIFESTS = Path(__file__).resolve().parents[1].parent / "shared" / "manifests"
# two stacks: the first holistic, the second with part attention (the later half)
TINY = {"stacks": 2, "features": 16, "depth": 2, "attention_resolutions": 2, "crf_iterations": 1, "crf_kernel": 3}


def _tiny(num_keypoints: int = 5, seed: int = 0, **overrides) -> MultiContextAttention:
    torch.manual_seed(seed)
    return ZOO["multicontext_attention_8"](num_keypoints=num_keypoints, **{**TINY, **overrides})


def test_forward_and_forward_train_shapes():
    model = _tiny().eval()
    assert model.stride == 4 and model.output_kind == "heatmap"
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        outputs = model.forward_train(x)
        final = model(x)
    assert [tuple(o.shape) for o in outputs] == [(2, 5, 16, 12)] * 2
    assert final.dtype == torch.float32
    torch.testing.assert_close(final, outputs[-1])


def test_part_attention_is_on_the_later_stacks():
    model = _tiny(stacks=4)
    assert [stack.part_attention is not None for stack in model.stacks] == [False, False, True, True]
    model = _tiny(stacks=3, part_attention_stacks=0)
    assert all(stack.part_attention is None for stack in model.stacks)


def test_part_heatmap_is_the_classifier_of_part_refined_features():
    # heatmap_k = w_k . (a_k * h) + b_k, computed without materialising the K refined tensors
    model = _tiny(num_keypoints=3).eval()
    stack = model.stacks[1]
    h = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        parts = stack.part_attention(h)
        stack.part_bias.copy_(torch.randn(3))
        fast = parts * stack.classifier(h) + stack.part_bias[:, None, None]
        explicit = torch.cat([
            F.conv2d(parts[:, k:k + 1] * h, stack.classifier.weight[k:k + 1]) + stack.part_bias[k] for k in range(3)
        ], dim=1)
    torch.testing.assert_close(fast, explicit)


def test_crf_attention_is_a_shared_mean_field_in_unit_interval():
    torch.manual_seed(0)
    crf = CRFAttention(8, maps=2, kernel_size=5, iterations=3)
    f = torch.randn(2, 8, 12, 12)
    with torch.no_grad():
        q = crf(f)
        unary = crf.unary(f)
        expected = torch.sigmoid(unary)
        for _ in range(3):
            expected = torch.sigmoid(unary + crf.pairwise(expected))
    assert q.shape == (2, 2, 12, 12) and bool(((q > 0) & (q < 1)).all())
    torch.testing.assert_close(q, expected)
    # iterations share one pairwise kernel; 0 iterations is plain sigmoid attention
    assert count_params(CRFAttention(8, 2, 5, 0)) == count_params(CRFAttention(8, 2, 5, 7))
    crf.iterations = 0
    with torch.no_grad():
        torch.testing.assert_close(crf(f), torch.sigmoid(unary))


def test_hru_adds_a_micro_hourglass_branch():
    torch.manual_seed(0)
    hru = HourglassResidualUnit(8).eval()
    x = torch.randn(1, 8, 6, 10)
    with torch.no_grad():
        assert torch.equal(hru(x), x + hru.branch(x) + hru.hourglass_branch(x))
        assert hru.hourglass_branch(x).shape == x.shape
    # the skips of a depth-4 hourglass hold 2, 1, 0, 0 HRUs from the finest level down
    hourglass, counts = Hourglass(4, 8), []
    while isinstance(hourglass, Hourglass):
        counts.append(sum(isinstance(m, HourglassResidualUnit) for m in hourglass.skip))
        hourglass = hourglass.inner
    assert counts == [2, 1, 0, 0]


def test_hourglass_returns_up_path_features_finest_first():
    with torch.no_grad():
        levels = Hourglass(3, 8).eval()(torch.randn(1, 8, 16, 8))
    assert [tuple(t.shape[-2:]) for t in levels] == [(16, 8), (8, 4), (4, 2)]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"stacks": 0}, "stacks"),
        ({"features": 18}, "features"),
        ({"depth": 0}, "depth"),
        ({"attention_resolutions": 3}, "attention_resolutions"),  # > depth 2
        ({"attention_resolutions": 0}, "attention_resolutions"),
        ({"crf_iterations": -1}, "crf_iterations"),
        ({"crf_kernel": 4}, "crf_kernel"),
        ({"part_attention_stacks": 3}, "part_attention_stacks"),  # > stacks 2
        ({"num_keypoints": 0}, "num_keypoints"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MultiContextAttention(**{**TINY, **kwargs})


def test_input_size_must_be_a_multiple_of_4_times_2_to_the_depth():
    model = _tiny().eval()  # depth 2 -> multiples of 16
    with pytest.raises(ValueError, match="multiple of 16"):
        model(torch.randn(1, 3, 64, 40))


def test_channels_last_bf16_autocast_and_batch_one_eval():
    model = _tiny().eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model_cl(x.to(memory_format=torch.channels_last))
    assert out.shape == (1, 5, 8, 8)
    torch.testing.assert_close(out.float(), reference, atol=0.1, rtol=0.1)


def test_overfitting_two_crops_with_codec_targets():
    codec = HeatmapCodec(input_size=(48, 48), heatmap_size=(12, 12), sigma=2.0, unbiased=True)
    gen = np.random.default_rng(0)
    keypoints = gen.uniform(6, 42, size=(2, 4, 2))
    heatmaps, weights = codec.encode(keypoints, np.full((2, 4), 2))
    target, target_weight = torch.from_numpy(heatmaps), torch.from_numpy(weights)
    model = _tiny(num_keypoints=4).train()
    images = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = sum(heatmap_mse_loss(out.float(), target, target_weight) for out in model.forward_train(images))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_safetensors_round_trip_reproduces_outputs(tmp_path):
    source = _tiny(seed=0).train()
    with torch.no_grad():  # move BN running statistics away from their initial values
        source(torch.randn(2, 3, 32, 32))
    source.eval()
    path = save_safetensors(source.state_dict(), tmp_path / "weights.safetensors", {"arch": "multicontext_attention_8"})
    target = load_checkpoint(_tiny(seed=1).eval(), path, strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def _manifest_params():
    paths = sorted(MANIFESTS.glob("multicontext_attention*.json")) if MANIFESTS.is_dir() else []
    if not paths:
        reason = f"no Multi-Context Attention manifest in {MANIFESTS}" if MANIFESTS.is_dir() else f"{MANIFESTS} absent"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(p, id=p.stem) for p in paths]


@pytest.mark.parametrize("manifest_path", _manifest_params())
def test_manifest_loads_strictly(manifest_path):
    manifest = json.loads(manifest_path.read_text())
    gen = torch.Generator().manual_seed(0)
    state = {
        name: torch.randint(0, 100, shape, generator=gen) if name.endswith("num_batches_tracked")
        else torch.rand(shape, generator=gen)
        for name, shape in ((n, tuple(s)) for n, s in manifest["keys"].items())
    }
    num_keypoints = state["stacks.0.classifier.weight"].shape[0]
    model = load_checkpoint(ZOO["multicontext_attention_8"](num_keypoints=num_keypoints), state, strict=True)
    assert count_params(model) == manifest["num_params"]


def test_paper_scale_size():
    # The paper states no parameter count; this pins the measured size of the 8-stack, 256-feature
    # model (MPII's 16 joints): 57,981,984 parameters, of which 24 HRUs (3 per stack) hold the
    # micro-hourglass branches (2 x 3x3 convs 256 -> 256 with biases, one BN).
    with torch.device("meta"):
        model = ZOO["multicontext_attention_8"](num_keypoints=16)
    hrus = [m for m in model.modules() if isinstance(m, HourglassResidualUnit)]
    assert len(hrus) == 24
    assert count_params(hrus[0].hourglass_branch) == 2 * (256 * 256 * 9 + 256) + 2 * 256 * 2
    assert sum(stack.part_attention is not None for stack in model.stacks) == 4
    assert count_params(model) == 57_981_984
