"""SimpleBaseline / HRNet architectures, zoo builders, MAC counter, checkpoint save/load."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from posekit.models import checkpoints
from posekit.models.checkpoints import CheckpointError, load_checkpoint, save_safetensors
from posekit.models.flops import count_macs, count_params
from posekit.models.heads.heatmap import DeconvHead
from posekit.models.zoo import build_model, list_models

torch.set_num_threads(1)

TINY_SB = {"deconv_channels": (32, 32, 32)}
TINY_HRNET = {"width": 8, "stage1_planes": 16, "stage1_blocks": 1, "stage_modules": (1, 1, 1), "stage_blocks": (1, 1, 1)}


def _tiny(name: str, num_keypoints: int = 17, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    overrides = TINY_HRNET if name.startswith("hrnet") else TINY_SB
    return build_model(name, num_keypoints=num_keypoints, **overrides)


def test_list_models_names_the_families():
    names = list_models()
    for expected in ("simplebaseline_r18", "simplebaseline_r34", "simplebaseline_r50", "simplebaseline_r101",
                     "simplebaseline_r152", "hrnet_w32", "hrnet_w48", "hrnet_w16_small"):
        assert expected in names
    assert names == sorted(names)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(KeyError, match="hrnet_w32"):
        build_model("hrnet_w31")


@pytest.mark.parametrize("name", ["simplebaseline_r18", "simplebaseline_r50", "hrnet_w32"])
def test_forward_shape_is_quarter_resolution(name):
    # SimpleBaseline needs H, W divisible by 32 for an exact H/4 x W/4 output
    model = _tiny(name, num_keypoints=5).eval()
    assert model.stride == 4
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 32))
    assert out.shape == (2, 5, 16, 8)
    assert out.dtype == torch.float32


def test_hrnet_w16_small_forward_shape():
    torch.manual_seed(0)
    model = build_model("hrnet_w16_small", num_keypoints=17).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 48)).shape == (1, 17, 16, 12)


def test_hrnet_accepts_sizes_not_divisible_by_32():
    # 70x50 -> stem 18x13; lower branches 9x7, 5x4, 3x2 are upsampled back to exact sizes
    model = _tiny("hrnet_w32", num_keypoints=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 70, 50)).shape == (1, 3, 18, 13)


def test_simplebaseline_with_two_deconvolutions_has_stride_8():
    torch.manual_seed(0)
    model = build_model("simplebaseline_r18", num_keypoints=4, deconv_channels=(32, 32)).eval()
    assert model.stride == 8
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 32)).shape == (1, 4, 8, 4)


def test_deconv_head_upsamples_by_two_per_layer():
    head = DeconvHead(in_channels=24, num_keypoints=7, deconv_channels=(16, 16)).eval()
    assert head.upsample_factor == 4
    with torch.no_grad():
        assert head(torch.randn(2, 24, 8, 6)).shape == (2, 7, 32, 24)


def test_head_initialisation_is_small_and_backbone_is_kaiming():
    torch.manual_seed(0)
    model = build_model("simplebaseline_r18")
    assert model.final_layer.weight.std().item() == pytest.approx(0.001, rel=0.1)
    assert torch.count_nonzero(model.final_layer.bias) == 0
    assert model.deconv_layers[0].weight.std().item() == pytest.approx(0.001, rel=0.1)
    # Kaiming fan-out: std = sqrt(2 / (out_channels * k * k)) = sqrt(2 / (64 * 49))
    assert model.conv1.weight.std().item() == pytest.approx((2 / (64 * 49)) ** 0.5, rel=0.1)
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)


@pytest.mark.parametrize("name", ["simplebaseline_r18", "hrnet_w32"])
def test_a_few_gradient_steps_reduce_the_loss(name):
    model = _tiny(name, num_keypoints=4).train()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(4, 3, 64, 32, generator=gen)
    targets = torch.rand(4, 4, 16, 8, generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(images), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


@pytest.mark.parametrize("name", ["simplebaseline_r18", "hrnet_w32"])
def test_safetensors_round_trip_reproduces_outputs(tmp_path, name):
    source = _tiny(name, seed=0)
    source.train()
    with torch.no_grad():  # move BN running statistics away from their initial values
        source(torch.randn(2, 3, 64, 32))
    source.eval()
    path = save_safetensors(source.state_dict(), tmp_path / "weights.safetensors", {"arch": name})
    target = load_checkpoint(_tiny(name, seed=1).eval(), path)
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"arch": name}
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]


def test_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_safetensors({"a": torch.zeros(3)}, path)
    before = path.read_bytes()

    def broken_save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_safetensors({"a": torch.ones(3)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_save_rejects_non_string_metadata(tmp_path):
    with pytest.raises(TypeError, match="epoch"):
        save_safetensors({"a": torch.zeros(1)}, tmp_path / "w.safetensors", {"epoch": 3})


def test_save_copies_tensors_that_share_memory(tmp_path):
    base = torch.arange(6.0)
    path = save_safetensors({"a": base, "b": base[:3]}, tmp_path / "shared.safetensors")
    state = checkpoints.read_state_dict(path)
    assert torch.equal(state["a"], base) and torch.equal(state["b"], base[:3])


def test_mismatched_checkpoint_names_the_file_and_missing_key(tmp_path):
    model = _tiny("simplebaseline_r18")
    state = model.state_dict()
    del state["final_layer.bias"]
    path = save_safetensors(state, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_tiny("simplebaseline_r18"), path)
    message = str(info.value)
    assert "bad.safetensors" in message
    assert "1 missing key(s): final_layer.bias" in message


def test_mismatch_lists_unexpected_and_wrong_shapes_with_counts():
    model = _tiny("simplebaseline_r18", num_keypoints=17)
    state = _tiny("simplebaseline_r18", num_keypoints=16).state_dict()
    for i in range(7):
        state[f"extra.{i}"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, state)
    message = str(info.value)
    assert "7 unexpected key(s): extra.0" in message and "(2 more)" in message
    assert "2 shape mismatch key(s): final_layer.weight: checkpoint (16, 32, 1, 1) vs model (17, 32, 1, 1)" in message


def test_non_strict_load_warns_and_still_rejects_wrong_shapes():
    model = _tiny("simplebaseline_r18")
    state = {k: v.clone() + 1 for k, v in model.state_dict().items() if k != "final_layer.bias"}
    target = _tiny("simplebaseline_r18", seed=3)
    with pytest.warns(UserWarning, match="final_layer.bias"):
        load_checkpoint(target, state, strict=False)
    assert torch.equal(target.final_layer.weight, state["final_layer.weight"])
    state["final_layer.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(target, state, strict=False)


def test_count_macs_matches_torch_flop_counter():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=4),
        nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1, groups=2),
        nn.Flatten(), nn.Linear(6 * 20 * 12, 5),
    )
    macs = count_macs(model, (20, 12))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, 20, 12))
    assert macs == counter.get_total_flops() // 2
    # by hand: 8*10*6*27 + 8*10*6*(2*9) + (8*10*6)*(3*16) + 1440*5
    assert macs == 12960 + 8640 + 23040 + 7200


def test_simplebaseline_r50_macs_match_the_published_figure():
    # manifests README: 5.4 GMACs at 256x192 by torch's counter (paper: "8.9 GFLOPs")
    torch.manual_seed(0)
    model = build_model("simplebaseline_r50")
    assert model.training
    assert count_macs(model, (256, 192)) == pytest.approx(5.4e9, rel=0.02)
    assert model.training  # mode restored
    assert count_params(model) == 33_999_697


def test_count_params_trainable_only():
    model = _tiny("hrnet_w32")
    total = count_params(model)
    model.final_layer.weight.requires_grad_(False)
    assert count_params(model, trainable_only=True) == total - model.final_layer.weight.numel()
