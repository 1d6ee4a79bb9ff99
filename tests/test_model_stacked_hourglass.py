"""Stacked Hourglass (Newell et al. ECCV 2016): shapes, intermediate supervision, training on a
codec target, checkpoint round trip, strict loading of the princeton-vl checkpoint manifests
(parameter counts equal theirs), the NHWC [0, 1] adapter, and equality with an independent
functional forward pass written from the reference's structure."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from posekit.codecs.heatmap import HeatmapCodec
from posekit.models.backbones.hourglass import Residual
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.flops import count_params
from posekit.models.losses import heatmap_mse_loss
from posekit.models.stacked_hourglass import (IMAGENET_MEAN, IMAGENET_STD, PRINCETON_RECORD, ZOO,
                                              StackedHourglass, princeton_forward)

torch.set_num_threads(1)

MANIFESTS = Path(__file__).resolve().parents[1].parent / "shared" / "manifests"
TINY = {"features": 16, "stem_width": 8, "depth": 2}


def _tiny(num_keypoints: int = 4, seed: int = 0, **kwargs) -> StackedHourglass:
    torch.manual_seed(seed)
    return ZOO["stacked_hourglass_2"](num_keypoints, **{**TINY, **kwargs})


def _settle_batchnorm(model: torch.nn.Module, size: int = 64) -> None:
    """Move BN running statistics away from their initial values, then switch to eval."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, size, size))
    model.eval()


def test_zoo_builds_the_paper_configurations():
    assert set(ZOO) == {"stacked_hourglass_2", "stacked_hourglass_8"}
    with torch.device("meta"):
        model = ZOO["stacked_hourglass_8"](16)
    assert (model.num_stacks, model.output_kind, model.stride) == (8, "heatmap", 4)
    assert len(model.hgs) == 8 and len(model.merge_preds) == 7


def test_forward_and_forward_train_shapes():
    model = _tiny(num_keypoints=5).eval()
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
                                          ({"depth": 0}, "depth"), ({"network_input": "bgr"}, "network_input")])
def test_bad_constructor_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        StackedHourglass(**kwargs)


def test_unused_skip_layers_receive_no_gradient():
    model = _tiny()
    sum(o.sum() for o in model.forward_train(torch.randn(2, 3, 64, 64))).backward()
    residuals = [m for m in model.modules() if isinstance(m, Residual)]
    assert any(m.need_skip for m in residuals) and any(not m.need_skip for m in residuals)
    for m in residuals:
        assert (m.skip_layer.conv.weight.grad is not None) == m.need_skip


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
    _settle_batchnorm(source)
    path = save_safetensors(source.state_dict(), tmp_path / "hg.safetensors")
    target = load_checkpoint(_tiny(seed=1).eval(), path, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


# --- princeton-vl/pytorch_stacked_hourglass compatibility -----------------------------------

def _manifest_params():
    names = ("stacked_hourglass_2_mpii_256_princeton", "stacked_hourglass_8_mpii_256_princeton")
    if not all((MANIFESTS / f"{n}.json").is_file() for n in names):
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"princeton manifests not in {MANIFESTS}"))]
    return [pytest.param(n, id=n) for n in names]


@pytest.mark.parametrize("stem", _manifest_params())
def test_princeton_checkpoint_loads_strictly(tmp_path, stem):
    manifest = json.loads((MANIFESTS / f"{stem}.json").read_text())
    # the 2-stack manifest's note is "as the 8-stack": released files are
    # checkpoint['state_dict'] with keys prefixed 'model.module.'
    note = json.loads((MANIFESTS / "stacked_hourglass_8_mpii_256_princeton.json").read_text())["note"]
    assert "['state_dict']" in note and "'model.module.'" in note
    gen = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in manifest["keys"].items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.randint(0, 1000, tuple(shape), generator=gen)
        else:
            state[name] = torch.rand(tuple(shape), generator=gen)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 100, "state_dict": {f"model.module.{k}": v for k, v in state.items()},
                "optimizer": {"param_groups": [{"lr": 1e-3}]}}, path)

    num_stacks = int(stem.split("_")[2])
    num_keypoints = manifest["keys"]["outs.0.conv.weight"][0]
    model = load_checkpoint(ZOO[f"stacked_hourglass_{num_stacks}"](num_keypoints), path, strict=True)
    assert count_params(model) == manifest["num_params"]
    loaded = model.state_dict()
    assert {k: list(v.shape) for k, v in loaded.items()} == manifest["keys"]
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_princeton_record_describes_the_released_models():
    assert PRINCETON_RECORD["skeleton"] == "mpii16" and PRINCETON_RECORD["num_keypoints"] == 16
    assert PRINCETON_RECORD["input_size"] == (256, 256) and PRINCETON_RECORD["heatmap_size"] == (64, 64)
    assert PRINCETON_RECORD["arch_kwargs"] == {"network_input": "unit"}
    model = _tiny(**PRINCETON_RECORD["arch_kwargs"])
    assert model.network_input == "unit"


def test_princeton_record_builds_an_estimator_with_their_decoding():
    from posekit.estimators.topdown import estimator_from_record

    est = estimator_from_record({**PRINCETON_RECORD, "arch": "stacked_hourglass_2"}, weights=None)
    assert est.input_size == (256, 256) and est.skeleton.name == "mpii16" and est.model.network_input == "unit"
    assert est.codec.heatmap_size == (64, 64) and est.codec.sigma == 1.0 and est.codec.input_offset == 1.5
    out = est(np.zeros((300, 200, 3), np.uint8))
    assert out.keypoints.shape == (1, 16, 2)


def test_nhwc_unit_input_gives_the_same_output_through_the_adapter():
    model = _tiny(network_input="unit")
    _settle_batchnorm(model)
    images = torch.rand(2, 64, 64, 3, generator=torch.Generator().manual_seed(2))  # NHWC RGB in [0, 1]
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    normalised = (images.permute(0, 3, 1, 2) - mean) / std  # what the posekit pipeline feeds
    with torch.no_grad():
        theirs = princeton_forward(model, images)
        ours = model.forward_train(normalised)
    assert theirs.shape == (2, 2, 4, 16, 16)
    for i, out in enumerate(ours):
        torch.testing.assert_close(out, theirs[:, i], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="network_input"):
        princeton_forward(_tiny(), images)


# An independent functional forward pass over a state dict, written from the structure of the
# princeton-vl network (models/posenet.py, models/layers.py): pre-activation residual units that
# use skip_layer only when the widths differ; hourglass up1 + upsample(low3(low2(low1(pool(x)))));
# features = Residual -> 1x1 conv-BN-ReLU; outs = 1x1 conv; x += merge_preds(pred) + merge_features(f).

def _bn(x, s, p):
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"])


def _conv(x, s, p, stride=1):
    w = s[f"{p}.conv.weight"]
    return F.conv2d(x, w, s[f"{p}.conv.bias"], stride, (w.shape[-1] - 1) // 2)


def _residual(x, s, p):
    out = _conv(F.relu(_bn(x, s, f"{p}.bn1")), s, f"{p}.conv1")
    out = _conv(F.relu(_bn(out, s, f"{p}.bn2")), s, f"{p}.conv2")
    out = _conv(F.relu(_bn(out, s, f"{p}.bn3")), s, f"{p}.conv3")
    return out + (_conv(x, s, f"{p}.skip_layer") if x.shape[1] != out.shape[1] else x)


def _hourglass(x, s, p, depth):
    low = _residual(F.max_pool2d(x, 2), s, f"{p}.low1")
    low = _hourglass(low, s, f"{p}.low2", depth - 1) if depth > 1 else _residual(low, s, f"{p}.low2")
    low = _residual(low, s, f"{p}.low3")
    return _residual(x, s, f"{p}.up1") + F.interpolate(low, scale_factor=2, mode="nearest")


def _reference_posenet(s, images_nhwc, num_stacks, depth):
    x = F.relu(_bn(_conv(images_nhwc.permute(0, 3, 1, 2), s, "pre.0", stride=2), s, "pre.0.bn"))
    x = _residual(F.max_pool2d(_residual(x, s, "pre.1"), 2), s, "pre.3")
    x = _residual(x, s, "pre.4")
    preds = []
    for i in range(num_stacks):
        f = _residual(_hourglass(x, s, f"hgs.{i}.0", depth), s, f"features.{i}.0")
        f = F.relu(_bn(_conv(f, s, f"features.{i}.1"), s, f"features.{i}.1.bn"))
        preds.append(_conv(f, s, f"outs.{i}"))
        if i < num_stacks - 1:
            x = x + _conv(preds[-1], s, f"merge_preds.{i}.conv") + _conv(f, s, f"merge_features.{i}.conv")
    return torch.stack(preds, 1)


def test_matches_a_functional_reference_of_the_princeton_network():
    model = _tiny(network_input="unit", num_stacks=3)
    _settle_batchnorm(model)
    images = torch.rand(2, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = _reference_posenet(model.state_dict(), images, num_stacks=3, depth=TINY["depth"])
        torch.testing.assert_close(princeton_forward(model, images), expected, rtol=1e-4, atol=1e-5)
