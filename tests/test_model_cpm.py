"""Convolutional Pose Machines (posekit.models.cpm): shapes, centre map, training, checkpoints, paper size.

No checkpoint manifest of a CPM exists in ../shared/manifests (the released Caffe model is not
among them), so there is no strict-loading test; the paper-scale parameter count is checked
against a count written out by hand from the paper's Fig. 2 layer list instead."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.engine.trainer import training_loss
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.cpm import ZOO, ConvolutionalPoseMachine, centre_map
from posekit.models.flops import count_params

torch.set_num_threads(1)

TINY = {"num_stages": 3, "width": 0.125}  # 16 / 4 / 64 channels


def _tiny(num_keypoints: int = 4, seed: int = 0, **overrides) -> ConvolutionalPoseMachine:
    torch.manual_seed(seed)
    return ZOO["cpm_6stage"](num_keypoints, **{**TINY, **overrides})


def test_forward_and_forward_train_shapes_at_stride_8():
    model = _tiny().eval()
    assert model.stride == 8 and model.output_kind == "heatmap"
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        stages = model.forward_train(x)
        final = model(x)
    assert len(stages) == 3
    assert all(s.shape == (2, 4, 8, 6) and s.dtype == torch.float32 for s in stages)
    assert torch.equal(final, stages[-1])


def test_single_stage_model_and_sizes_not_divisible_by_8():
    model = _tiny(num_stages=1).eval()
    with torch.no_grad():
        assert len(model.forward_train(torch.randn(1, 3, 64, 64))) == 1
        assert model(torch.randn(1, 3, 70, 50)).shape == (1, 4, 9, 7)  # ceil(H/8) x ceil(W/8)


def test_channels_last_bf16_autocast_and_batch_one_eval():
    model = _tiny().to(memory_format=torch.channels_last).eval()
    x = torch.randn(1, 3, 64, 48).to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (1, 4, 8, 6)
    assert torch.isfinite(out.float()).all()


def test_centre_map_is_a_unit_gaussian_at_the_crop_centre_and_not_a_parameter():
    like = torch.zeros(1)
    paper = centre_map(46, 46, like)[0, 0]
    assert paper.shape == (46, 46)
    # centre (22.5, 22.5): the four middle cells share the peak; sigma 2.625 cells (21 px / 8)
    assert paper[22, 22] == paper[23, 23] == paper.max()
    assert paper[22, 22].item() == pytest.approx(np.exp(-0.5 / (2 * 2.625**2)), rel=1e-5)  # d^2 = 0.5
    assert torch.equal(paper, paper.flip(0)) and torch.equal(paper, paper.T)
    odd = centre_map(9, 7, like)[0, 0]
    assert odd[4, 3] == 1 and odd.argmax() == 4 * 7 + 3
    assert not any("centre" in name for name in _tiny().state_dict())


def test_bad_constructor_arguments_name_the_argument():
    with pytest.raises(ValueError, match="num_stages"):
        ConvolutionalPoseMachine(num_stages=0)
    with pytest.raises(ValueError, match="width"):
        ConvolutionalPoseMachine(width=0.01)
    with pytest.raises(ValueError, match="num_keypoints"):
        ConvolutionalPoseMachine(num_keypoints=0)


def test_intermediate_supervision_loss_decreases_when_overfitting_two_crops():
    model = _tiny().train()
    codec = HeatmapCodec(input_size=(48, 64), heatmap_size=(6, 8), sigma=1.0, unbiased=True)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform([4, 4], [44, 60], size=(2, 4, 2))
    heatmaps, weights = codec.encode(keypoints, np.full((2, 4), 2))
    target, target_weight = torch.from_numpy(heatmaps), torch.from_numpy(weights)
    images = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = training_loss(model, images, target, target_weight)  # default: MSE summed over stages
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_safetensors_round_trip_reproduces_outputs(tmp_path):
    source = _tiny(seed=0).eval()
    path = save_safetensors(source.state_dict(), tmp_path / "cpm.safetensors", {"arch": "cpm_6stage"})
    target = load_checkpoint(_tiny(seed=1).eval(), path, strict=True)
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def _paper_parameter_count(num_keypoints: int, stages: int = 6) -> int:
    """Weights + biases of Fig. 2 (C = 128; stage 1 ends 5x5x32, 9x9x512, 1x1x512, 1x1xK; stages >= 2
    take a 5x5x32 conv of the shared features plus the K beliefs and the centre map into three 11x11x128,
    1x1x128, 1x1xK)."""
    def conv(cin: int, cout: int, k: int) -> int:
        return cin * cout * k * k + cout

    image_features = conv(3, 128, 9) + 2 * conv(128, 128, 9)
    stage1 = image_features + conv(128, 32, 5) + conv(32, 512, 9) + conv(512, 512, 1) + conv(512, num_keypoints, 1)
    later = (conv(128, 32, 5) + conv(32 + num_keypoints + 1, 128, 11) + 2 * conv(128, 128, 11)
             + conv(128, 128, 1) + conv(128, num_keypoints, 1))
    return stage1 + image_features + (stages - 1) * later


@pytest.mark.parametrize("num_keypoints", [17, 14])
def test_paper_scale_parameter_count(num_keypoints):
    with torch.device("meta"):
        model = ZOO["cpm_6stage"](num_keypoints)
    assert model.num_stages == 6
    assert count_params(model) == _paper_parameter_count(num_keypoints)
    if num_keypoints == 17:
        assert count_params(model) == 31_377_062
