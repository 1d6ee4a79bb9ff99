"""TFPose: shapes, layer-wise refinement, the auxiliary heatmap branch and loss, the sine
encoding, overfitting two crops, checkpoints, bf16/channels-last, and the paper-scale layer sizes.

No manifest test: TFPose's code and weights were never released (the authors continued it as
Poseur, aim-uofa/AdelaiDet issue #592), so ../shared/manifests has no TFPose file."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.codecs.regression import RegressionCodec
from posekit.models.backbones.resnet import ResNet
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.flops import count_params
from posekit.models.losses import coordinate_l1_loss
from posekit.models.tfpose import ZOO, TFPose, gaussian_heatmaps, sine_position_encoding

torch.set_num_threads(1)

TINY = {"depth": 18, "d_model": 32, "num_heads": 2, "num_encoder_layers": 1, "num_decoder_layers": 2,
        "ffn_channels": 64}


def _tiny(num_keypoints: int = 17, seed: int = 0, **overrides) -> TFPose:
    torch.manual_seed(seed)
    return ZOO["tfpose_r50"](num_keypoints, **{**TINY, **overrides})


def test_forward_and_forward_train_shapes():
    model = _tiny(num_keypoints=17).eval()
    assert model.output_kind == "regression"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        outputs = model.forward_train(x)
        single = model(x[:1])
    assert out.shape == (2, 17, 2) and out.dtype == torch.float32
    assert [o.shape for o in outputs] == [(2, 17, 8, 8), (2, 17, 2), (2, 17, 2)]
    torch.testing.assert_close(outputs[-1], out)
    assert single.shape == (1, 17, 2)
    assert ((out > 0) & (out < 1)).all()


def test_without_aux_heatmap_forward_train_is_the_decoder_layers():
    model = _tiny(num_keypoints=5, aux_heatmap=False, num_decoder_layers=3).eval()
    assert model.heatmap_head is None
    with torch.no_grad():
        outputs = model.forward_train(torch.randn(1, 3, 64, 32))
    assert [o.shape for o in outputs] == [(1, 5, 2)] * 3


def test_untrained_refinement_keeps_the_initial_reference():
    # zero-initialised offset heads: every decoder layer returns y_0 = sigmoid(Linear(query_pos))
    model = _tiny(num_keypoints=4).eval()
    with torch.no_grad():
        outputs = model.forward_train(torch.randn(2, 3, 64, 64))
        y0 = model.reference(model.query_pos.weight).sigmoid()
    for out in outputs[1:]:
        torch.testing.assert_close(out, y0.expand(2, -1, -1))


def test_refinement_adds_offsets_in_logit_space():
    model = _tiny(num_keypoints=3, num_decoder_layers=2).eval()
    with torch.no_grad():
        model.coord_heads[0].layers[-1].bias.copy_(torch.tensor([0.5, -1.0]))
        model.coord_heads[1].layers[-1].bias.copy_(torch.tensor([0.25, 0.0]))
        first, second = model.forward_train(torch.randn(1, 3, 64, 64))[1:]
        y0 = model.reference(model.query_pos.weight).sigmoid()
    logit = torch.logit(y0)
    torch.testing.assert_close(first[0], torch.sigmoid(logit + torch.tensor([0.5, -1.0])))
    torch.testing.assert_close(second[0], torch.sigmoid(logit + torch.tensor([0.75, -1.0])))


def test_sine_position_encoding():
    pos = sine_position_encoding(4, 6, 32, torch.device("cpu"))
    assert pos.shape == (24, 32)
    assert pos.abs().max() <= 1
    # first half encodes the row, second half the column
    assert torch.equal(pos[0, :16], pos[5, :16]) and not torch.equal(pos[0, 16:], pos[5, 16:])
    assert torch.equal(pos[0, 16:], pos[6, 16:]) and not torch.equal(pos[0, :16], pos[6, :16])
    torch.testing.assert_close(pos[0, 0], torch.tensor(math.sin(0.5 / 4 * 2 * math.pi)))
    assert len({tuple(row.tolist()) for row in pos}) == 24


def test_gaussian_heatmaps_peak_at_the_target_cell():
    # cell (j, i) of an 8x6 map has its centre at u = (j + 0.5) / 6, v = (i + 0.5) / 8
    coords = torch.tensor([[[2.5 / 6, 5.5 / 8], [0.5 / 6, 0.5 / 8]]])
    maps = gaussian_heatmaps(coords, 8, 6, sigma=1.0)
    assert maps.shape == (1, 2, 8, 6)
    assert maps[0, 0, 5, 2] == 1 and maps[0, 0].argmax() == 5 * 6 + 2
    assert maps[0, 1, 0, 0] == 1
    torch.testing.assert_close(maps[0, 0, 5, 3], torch.tensor(math.exp(-0.5)))


def test_loss_is_l1_per_decoder_layer_plus_weighted_heatmap_term():
    model = _tiny(num_keypoints=3, aux_heatmap_weight=2.0, heatmap_sigma=1.5)
    target = torch.rand(2, 3, 2)
    weight = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    coords = [torch.rand(2, 3, 2), torch.rand(2, 3, 2)]
    heatmaps = torch.rand(2, 3, 8, 6)
    l1 = sum(coordinate_l1_loss(c, target, weight) for c in coords)
    torch.testing.assert_close(model.loss(coords, target, weight), l1)
    gaussians = gaussian_heatmaps(target, 8, 6, 1.5)
    heat = 0.5 * (((heatmaps - gaussians) ** 2).sum(dim=(2, 3)) * weight).mean()
    torch.testing.assert_close(model.loss([heatmaps, *coords], target, weight), l1 + 2.0 * heat)


def test_overfits_two_crops_with_codec_targets():
    model = _tiny(num_keypoints=5, dropout=0.0).train()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, 32, 32, generator=gen)
    codec = RegressionCodec(input_size=(32, 32))
    keypoints = np.random.default_rng(2).uniform(2, 30, size=(2, 5, 2))
    coords, weights = codec.encode(keypoints, np.full((2, 5), 2))
    target, target_weight = torch.from_numpy(coords), torch.from_numpy(weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
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
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model.forward_train(x)
        loss = model.loss(outputs, torch.rand(2, 17, 2), torch.ones(2, 17))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert model.heatmap_head[0].weight.grad is not None and model.query_content.weight.grad is not None


def test_safetensors_round_trip_reproduces_outputs(tmp_path: Path):
    source = _tiny(seed=0)
    with torch.no_grad():  # non-zero offset heads, so that the comparison means something
        for head in source.coord_heads:
            head.layers[-1].weight.normal_(std=0.1)
    source.train()
    with torch.no_grad():  # move BN running statistics away from their initial values
        source(torch.randn(2, 3, 64, 64))
    source.eval()
    path = save_safetensors(source.state_dict(), tmp_path / "tfpose.safetensors")
    target = load_checkpoint(_tiny(seed=1).eval(), path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def test_paper_scale_layer_sizes():
    d, ffn, k, layers = 256, 1024, 17, 6
    with torch.device("meta"):
        model = ZOO["tfpose_r50"](k)
        resnet50 = ResNet(50)
    assert count_params(model.backbone) == count_params(resnet50) == 23_508_032  # torchvision minus fc
    attention = 4 * d * d + 4 * d  # q, k, v, out projections with biases
    feed_forward = d * ffn + ffn + ffn * d + d
    encoder_layer = attention + feed_forward + 2 * 2 * d
    decoder_layer = 2 * attention + feed_forward + 3 * 2 * d
    assert len(model.encoder) == len(model.decoder) == layers
    assert model.encoder[0].self_attn.num_heads == 8
    assert count_params(model.encoder) == layers * encoder_layer
    assert count_params(model.decoder) == layers * decoder_layer
    projections = sum(c * d + d + 2 * d for c in (512, 1024, 2048))  # 1x1 conv + GroupNorm
    queries = 2 * k * d + 3 * d + 2 * d + 2  # content, position, level embeddings, reference
    heads = layers * (2 * (d * d + d) + 2 * d + 2)
    heatmap = d * d * 9 + d + d * k + k
    assert count_params(model) == (23_508_032 + projections + queries + layers * (encoder_layer + decoder_layer)
                                   + heads + heatmap) == 36_884_063


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"d_model": 48}, "d_model"), ({"num_heads": 3}, "num_heads"),
     ({"num_decoder_layers": 0}, "num_decoder_layers"), ({"depth": 20}, "depth"), ({"dropout": 1.0}, "dropout"),
     ({"heatmap_sigma": 0}, "heatmap_sigma")],
)
def test_unusable_arguments_raise_value_error_naming_them(overrides, field):
    with pytest.raises(ValueError, match=field):
        TFPose(num_keypoints=17, **{**TINY, **overrides})
