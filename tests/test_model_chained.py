"""Chained Predictions (posekit.models.chained): chain order, conditioning, shapes, loss, checkpoints.

No checkpoint manifest of the paper's model exists in ../shared/manifests (no weights were
released), so there is no strict-loading test; the paper-scale parameter count is checked
against a count written out by hand from the layer list."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.engine.trainer import training_loss
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.chained import COCO17_CHAIN, ZOO, ChainedPredictions, resolve_chain_order
from posekit.models.flops import count_params
from posekit.skeletons import get_skeleton

torch.set_num_threads(1)

TINY = {"depth": 18, "hidden_channels": 8, "deception_channels": 4, "num_upsample": 3}


def _tiny(num_keypoints: int = 4, seed: int = 0, **overrides) -> ChainedPredictions:
    torch.manual_seed(seed)
    overrides.setdefault("chain_order", list(range(num_keypoints)))
    return ZOO["chained_prediction"](num_keypoints, **{**TINY, **overrides})


def test_coco17_chain_puts_every_limb_joint_after_its_parent():
    names = get_skeleton("coco17").names
    chain = [names[j] for j in COCO17_CHAIN]
    assert sorted(COCO17_CHAIN) == list(range(17))
    assert chain[:5] == ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]
    for side in ("left", "right"):
        for limb in (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle")):
            positions = [chain.index(f"{side}_{joint}") for joint in limb]
            assert positions == list(range(positions[0], positions[0] + 3))  # consecutive, root first
    assert resolve_chain_order("coco17", 17) == COCO17_CHAIN


@pytest.mark.parametrize("name", ["h36m17", "smpl24", "synth30"])
def test_chain_from_a_kinematic_tree_visits_parents_first_and_limbs_consecutively(name):
    parents = get_skeleton(name).parents
    order = resolve_chain_order(name, len(parents))
    assert sorted(order) == list(range(len(parents)))
    position = {joint: i for i, joint in enumerate(order)}
    assert all(p == -1 or position[p] < position[j] for j, p in enumerate(parents))
    if name == "h36m17":  # pelvis, right leg, left leg, spine/head, left arm, right arm
        assert order == tuple(range(17))


def test_bad_chain_orders_and_arguments_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="chain_order.*permutation"):
        resolve_chain_order([0, 1, 1], 3)
    with pytest.raises(ValueError, match="chain_order 'coco17'"):
        ChainedPredictions(num_keypoints=5)  # the default chain is COCO-17's
    with pytest.raises(ValueError, match="chain_order 'mpii16'.*no kinematic tree"):
        resolve_chain_order("mpii16", 16)
    for kwargs, name in [({"num_upsample": 6}, "num_upsample"),
                         ({"encoder_stages": 3, "num_upsample": 5}, "num_upsample"),
                         ({"encoder_stages": 2}, "encoder_stages"), ({"hidden_kernel": 4}, "hidden_kernel"),
                         ({"prediction_kernel": 0}, "prediction_kernel"), ({"hidden_channels": 0}, "hidden_channels")]:
        with pytest.raises(ValueError, match=name):
            _tiny(**kwargs)


def test_forward_returns_distributions_at_stride_4():
    model = _tiny().eval()
    assert model.stride == 4 and model.output_kind == "heatmap"
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 4, 16, 24) and out.dtype == torch.float32
    assert torch.allclose(out.sum(dim=(2, 3)), torch.ones(2, 4), atol=1e-5)
    assert (out >= 0).all()
    with torch.no_grad():
        assert _tiny(num_upsample=2).eval()(torch.randn(1, 3, 64, 64)).shape == (1, 4, 8, 8)


def test_three_stage_encoder_has_stride_16_and_no_layer4_parameters():
    model = _tiny(encoder_stages=3, num_upsample=2).eval()
    assert model.stride == 4 and model.encoder.out_channels == 256
    assert not any(name.startswith("encoder.layer4") for name in model.state_dict())
    with torch.no_grad():
        assert model(torch.randn(1, 3, 48, 32)).shape == (1, 4, 12, 8)  # hidden 3x2


def test_channels_last_bf16_autocast_and_batch_one_eval():
    model = _tiny().to(memory_format=torch.channels_last).eval()
    x = torch.randn(1, 3, 64, 64).to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (1, 4, 16, 16)
    assert torch.isfinite(out).all()


def _randomise(module: torch.nn.Module, std: float = 1.0) -> None:
    """Normal(0, std) parameters, so that the (otherwise near-uniform at init) maps are peaked."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=std)


def test_output_is_in_skeleton_order_not_chain_order():
    # only the first chain step's decoder has non-zero logits: its joint is the only non-uniform map
    model = _tiny(num_keypoints=3, chain_order=[2, 0, 1]).eval()
    _randomise(model.decoders)
    with torch.no_grad():
        for decoder in model.decoders[1:]:
            decoder[-1].weight.zero_()
            decoder[-1].bias.zero_()
        out = model(torch.randn(1, 3, 32, 32))
    uniform = torch.full_like(out[0, 0], 1 / 64)
    assert torch.allclose(out[0, 0], uniform) and torch.allclose(out[0, 1], uniform)
    assert not torch.allclose(out[0, 2], uniform)


def test_each_joint_is_conditioned_on_the_earlier_joints_only():
    # chain [0, 3, 1, 2]: changing the decoder of step 1 (joint 3) changes joint 3 and the joints
    # after it (through the prediction convolutions), never joint 0; step 3 (joint 2) only itself
    model = _tiny(num_keypoints=4, chain_order=[0, 3, 1, 2]).eval()
    _randomise(model.decoders, std=0.3)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        _randomise(model.decoders[1], std=0.3)
        after_step1 = model(x)
        _randomise(model.decoders[3], std=0.3)
        after_step3 = model(x)
    assert (after_step1 - before).abs().amax(dim=(0, 2, 3)).gt(0).tolist() == [False, True, True, True]
    assert (after_step3 - after_step1).abs().amax(dim=(0, 2, 3)).gt(0).tolist() == [False, False, True, False]


def test_kl_loss_is_zero_at_the_target_and_ignores_unweighted_joints():
    model = _tiny(num_keypoints=2)
    target = torch.rand(1, 2, 4, 4)
    perfect = target / target.sum(dim=(2, 3), keepdim=True)
    assert model.loss([perfect], target, torch.ones(1, 2)).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((1, 2, 4, 4), 1 / 16)
    assert model.loss([uniform], target, torch.ones(1, 2)).item() > 0
    wrong_second = torch.stack([perfect[:, 0], uniform[:, 1]], dim=1)
    assert model.loss([wrong_second], target, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)


def test_loss_decreases_when_overfitting_two_crops():
    model = _tiny(num_keypoints=3).train()
    codec = HeatmapCodec(input_size=(32, 32), heatmap_size=(8, 8), sigma=1.0, unbiased=True)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(4, 28, size=(2, 3, 2))
    heatmaps, weights = codec.encode(keypoints, np.full((2, 3), 2))
    target, target_weight = torch.from_numpy(heatmaps), torch.from_numpy(weights)
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, fused=True)  # fused: ResNet-18 has 11 M parameters
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = training_loss(model, images, target, target_weight)  # the trainer calls model.loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_safetensors_round_trip_reproduces_outputs(tmp_path):
    source = _tiny(seed=0).train()
    with torch.no_grad():  # move BN running statistics away from their initial values
        source(torch.randn(2, 3, 64, 64))
    source.eval()
    path = save_safetensors(source.state_dict(), tmp_path / "chained.safetensors", {"arch": "chained_prediction"})
    target = load_checkpoint(_tiny(seed=1).eval(), path, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def test_paper_scale_parameter_count():
    with torch.device("meta"):
        model = ZOO["chained_prediction"](17)
    k, c, d = 17, 128, 32
    encoder = 23_508_032  # ResNet-50 without its classifier (torchvision: 25,557,032 - 2,049,000)
    init_hidden = 2048 * c + 2 * c
    steps = sum(c * c * 9 + t * c * 49 + 2 * c for t in range(1, k))
    deception = c * d * (4 + 16 + 36) + 2 * 3 * d + 2 * (3 * d * d * (4 + 16 + 36) + 2 * 3 * d) + 3 * d + 1
    assert count_params(model.encoder) == encoder
    assert count_params(model) == encoder + init_hidden + steps + k * deception == 36_746_737
