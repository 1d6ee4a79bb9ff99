"""DeepPose cascade: shapes, the sub-image geometry, the refinement arithmetic, the training-time
augmentation statistics, the loss (overfitting two crops), checkpoints, bf16/channels-last, and
the paper-scale AlexNet-like network's size.

No manifest test: DeepPose has no released PyTorch checkpoint (no file in ../shared/manifests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.codecs.regression import RegressionCodec
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.deeppose import ZOO, AlexNetRegressor, DeepPose
from posekit.models.flops import count_macs, count_params
from posekit.models.losses import coordinate_l2_loss

torch.set_num_threads(1)

TINY = {"width": 0.125, "fc_channels": 32, "pool_size": 2, "stage_input_size": 32}


def _tiny(num_keypoints: int = 17, seed: int = 0, **overrides) -> DeepPose:
    torch.manual_seed(seed)
    return ZOO["deeppose_alexnet"](num_keypoints, **{**TINY, **overrides})


def _set_stage1_pose(model: DeepPose, pose: torch.Tensor) -> None:
    """Make stage 1 output exactly ``pose (K, 2)`` (zero output weights, bias = pose)."""
    with torch.no_grad():
        model.stages[0].regressor[-1].bias.copy_(pose.flatten())


def test_forward_and_forward_train_shapes():
    model = _tiny(num_keypoints=17).eval()
    assert model.output_kind == "regression"
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        out = model(x)
        stages = model.forward_train(x)
        single = model(x[:1])
    assert out.shape == (2, 17, 2) and out.dtype == torch.float32
    assert [s.shape for s in stages] == [(2, 17, 2)] * 3
    assert torch.equal(stages[-1], out)
    assert single.shape == (1, 17, 2)


def test_untrained_cascade_predicts_the_crop_centre():
    with torch.no_grad():
        out = _tiny().eval()(torch.randn(1, 3, 64, 48))
    torch.testing.assert_close(out, torch.full((1, 17, 2), 0.5))


def test_sub_images_are_centred_squares_of_the_given_side():
    model = _tiny(num_keypoints=17, stage_input_size=33)
    height, width = 40, 60
    ramp_x = torch.arange(width, dtype=torch.float32).expand(height, width)  # pixel value = its x
    ramp_y = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    image = torch.stack([ramp_x, ramp_y, torch.zeros(height, width)])[None]
    centre_px = torch.tensor([20.0, 15.0])
    centre = ((centre_px + 0.5) / torch.tensor([width, height]))[None, None].expand(1, 17, 2)
    side = torch.tensor([16.0])
    crops = model._sub_images(image, centre, side)
    assert crops.shape == (17, 3, 33, 33)
    mid = crops[0, :2, 16, 16]
    torch.testing.assert_close(mid, centre_px)  # the central sample is the box centre
    # 33 samples over 16 px: neighbouring samples are 16/33 px apart, edges 0.5 sample inside
    torch.testing.assert_close(crops[0, 0, 16, 32] - crops[0, 0, 16, 0], torch.tensor(16.0 * 32 / 33))


def test_refinement_adds_the_box_frame_displacement():
    model = _tiny(num_keypoints=17, num_stages=2, sigma=1.5).eval()
    height, width = 64, 48
    pose = torch.rand(17, 2) * 0.5 + 0.25
    pose[5] = torch.tensor([0.25, 0.25])
    pose[12] = torch.tensor([0.75, 0.5])  # torso: (24, 16) px -> diameter 28.84 px
    _set_stage1_pose(model, pose)
    with torch.no_grad():
        model.stages[1].regressor[-1].bias.copy_(torch.tensor([0.1, -0.2]).repeat(17))
        out = model(torch.randn(1, 3, height, width))
    side = 1.5 * float(np.hypot(24, 16))
    expected = pose + torch.tensor([0.1 * side / width, -0.2 * side / height])
    torch.testing.assert_close(out[0], expected)


def test_box_side_is_clamped_for_degenerate_estimates():
    model = _tiny(min_box=0.25)
    collapsed = torch.full((3, 17, 2), 0.5)
    assert model._box_side(collapsed, torch.Size([64, 48])).tolist() == [12.0] * 3


def test_training_perturbs_stage_inputs_with_the_tracked_error_std():
    model = _tiny(num_keypoints=17, dropout=0.0)
    x = torch.randn(2, 3, 64, 48)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    with torch.no_grad():  # error_std is 0 before any loss: no perturbation yet
        first = model.forward_train(x)
        torch.manual_seed(1)
        model.error_std.fill_(0.05)
        second = model.forward_train(x)
    assert torch.equal(first[0], second[0])
    # an untrained refinement predicts zero displacement, so y_2 is the perturbed centre itself
    spread = (second[1] - second[0]).std().item()
    assert 0.03 < spread < 0.07


def test_loss_tracks_the_previous_stages_error_std_in_training_only():
    model = _tiny(num_keypoints=3, torso_joints=(0, 1), error_momentum=1.0)
    target = torch.rand(64, 3, 2)
    weight = torch.ones(64, 3)
    weight[:, 2] = 0  # unlabelled joint: no statistics
    outputs = [target + torch.randn(64, 3, 2) * 0.1, target + torch.randn(64, 3, 2) * 0.02, target]
    model.eval()
    model.loss(outputs, target, weight)
    assert torch.count_nonzero(model.error_std) == 0
    model.train()
    loss = model.loss(outputs, target, weight)
    torch.testing.assert_close(loss, sum(coordinate_l2_loss(o, target, weight) for o in outputs))
    assert model.error_std.shape == (2, 3, 2)
    assert ((model.error_std[0, :2] - 0.1).abs() < 0.03).all()
    assert ((model.error_std[1, :2] - 0.02).abs() < 0.006).all()
    assert (model.error_std[:, 2] == 0).all()


def test_overfits_two_crops_with_codec_targets():
    model = _tiny(num_keypoints=5, torso_joints=(1, 3), dropout=0.0).train()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, 64, 48, generator=gen)
    codec = RegressionCodec(input_size=(48, 64))
    keypoints = np.random.default_rng(2).uniform([4, 4], [44, 60], size=(2, 5, 2))
    coords, weights = codec.encode(keypoints, np.full((2, 5), 2))
    target, target_weight = torch.from_numpy(coords), torch.from_numpy(weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = model.loss(model.forward_train(images), target, target_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bf16_autocast_and_channels_last_training_step():
    model = _tiny(num_keypoints=17).to(memory_format=torch.channels_last).train()
    x = torch.randn(2, 3, 64, 48).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model.forward_train(x)
        loss = model.loss(outputs, torch.rand(2, 17, 2), torch.ones(2, 17))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.stages[1].parameters())


def test_stage_gradients_do_not_reach_earlier_stages():
    model = _tiny(num_keypoints=17).train()
    outputs = model.forward_train(torch.randn(2, 3, 64, 48))
    coordinate_l2_loss(outputs[-1], torch.rand(2, 17, 2), torch.ones(2, 17)).backward()
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert model.stages[2].regressor[-1].weight.grad is not None


def test_safetensors_round_trip_reproduces_outputs(tmp_path: Path):
    source = _tiny(seed=0)
    source.loss(source.forward_train(torch.randn(4, 3, 64, 48)), torch.rand(4, 17, 2), torch.ones(4, 17))
    with torch.no_grad():  # non-trivial output weights, so that the comparison means something
        for stage in source.stages:
            stage.regressor[-1].weight.normal_(std=0.01)
    source.eval()
    path = save_safetensors(source.state_dict(), tmp_path / "deeppose.safetensors")
    target = load_checkpoint(_tiny(seed=1).eval(), path)
    assert torch.equal(target.error_std, source.error_std) and source.error_std.abs().sum() > 0
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def test_paper_scale_network_matches_the_layer_table():
    # Sec. 3.1 at 220x220: C(55x55x96) LRN P C(27x27x256) LRN P C(13x13x384) C(13x13x384) C(13x13x256) P
    # F(4096) F(4096), filters 11, 5, 3, 3, 3; output F(2K).
    k = 17
    convs = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    fcs = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 2 * k)]
    per_stage = sum(o * (i * s * s + 1) for i, o, s in convs) + sum(o * (i + 1) for i, o in fcs)
    with torch.device("meta"):
        model = ZOO["deeppose_alexnet"](k)
    assert len(model.stages) == 3 and model.sigma == 2.0 and model.stage_input_size == 220
    assert count_params(model) == 3 * per_stage == 3 * 58_420_642
    net = AlexNetRegressor(2 * k)
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
             for m in net.features if isinstance(m, torch.nn.Conv2d)]
    macs = count_macs(net, (220, 220))
    for h in hooks:
        h.remove()
    assert sizes == [(96, 55, 55), (256, 27, 27), (384, 13, 13), (384, 13, 13), (256, 13, 13)]
    expected_macs = sum(o * h * w * i * s * s for (i, o, s), (_, h, w) in zip(convs, sizes)) + sum(
        i * o for i, o in fcs)
    assert macs == expected_macs == 1_131_299_360


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"num_stages": 1}, "num_stages"), ({"torso_joints": (5, 17)}, "torso_joints"),
     ({"torso_joints": (3, 3)}, "torso_joints"), ({"stage_input_size": 26}, "stage_input_size"),
     ({"sigma": 0}, "sigma"), ({"dropout": 1.0}, "dropout")],
)
def test_unusable_arguments_raise_value_error_naming_them(overrides, field):
    with pytest.raises(ValueError, match=field):
        DeepPose(num_keypoints=17, **overrides)


def test_smallest_stage_input_runs():
    model = _tiny(num_keypoints=4, torso_joints=(0, 3), stage_input_size=27).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 27, 27)).shape == (1, 4, 2)
