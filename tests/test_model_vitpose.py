"""ViTPose: shapes of both decoders, position-embedding interpolation, bad arguments, a tiny
overfit on codec targets, the safetensors round trip, and strict loading of state dicts built
from the official checkpoint manifests (``../shared/manifests/vitpose_*_coco_256x192.json``)
with the manifests' parameter counts. Paper-scale models are built on the meta device, so
they cost no memory; only ViTPose-S is also loaded with real random weights from a file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.flops import count_params
from posekit.models.losses import heatmap_mse_loss
from posekit.models.vitpose import ZOO, ViTPose

torch.set_num_threads(1)

MANIFESTS = Path(__file__).resolve().parents[1].parent / "shared" / "manifests"
SIZES = ("small", "base", "large", "huge")
TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "image_size": (64, 48), "drop_path_rate": 0.0}


def _tiny(num_keypoints: int = 5, seed: int = 0, **overrides) -> ViTPose:
    torch.manual_seed(seed)
    return ZOO["vitpose_small"](num_keypoints, **{**TINY, **overrides})


def test_zoo_names():
    assert sorted(ZOO) == ["vitpose_base", "vitpose_huge", "vitpose_large", "vitpose_small"]


@pytest.mark.parametrize("decoder", ["classic", "simple"])
def test_forward_shape_is_quarter_resolution(decoder):
    model = _tiny(decoder=decoder).eval()
    assert model.stride == 4 and model.output_kind == "heatmap"
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 48))
        single = model(torch.randn(1, 3, 64, 48))
    assert out.shape == (2, 5, 16, 12) and out.dtype == torch.float32
    assert single.shape == (1, 5, 16, 12)


@pytest.mark.parametrize("decoder", ["classic", "simple"])
def test_channels_last_and_bfloat16_autocast(decoder):
    model = _tiny(decoder=decoder).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 48).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (2, 5, 16, 12)
    loss = heatmap_mse_loss(out.float(), torch.zeros(2, 5, 16, 12), torch.ones(2, 5))
    loss.backward()
    assert model.backbone.pos_embed.grad is not None


def test_position_table_is_resampled_for_another_input_size():
    model = _tiny().eval()
    backbone = model.backbone
    pos = backbone.pos_embed
    # trained grid: the patch rows plus the class-token row, added to every token
    assert torch.equal(backbone.position_embedding((4, 3)), pos[:, 1:] + pos[:, :1])
    assert backbone.position_embedding((6, 4)).shape == (1, 24, 32)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 64)).shape == (1, 5, 24, 16)


def test_patch_8_gives_stride_2():
    model = _tiny(patch_size=8, image_size=(32, 24)).eval()
    assert model.stride == 2
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 24)).shape == (1, 5, 16, 12)


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"image_size": (60, 48)}, "image_size"),
        ({"decoder": "fancy"}, "decoder"),
        ({"patch_size": 6, "image_size": (36, 24)}, "patch_size"),
        ({"num_heads": 3}, "num_heads"),
        ({"patch_padding": 8}, "patch_padding"),
        ({"deconv_channels": (64, 64, 64)}, "deconv_channels"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(overrides, name):
    with pytest.raises(ValueError, match=name):
        _tiny(**overrides)


def test_input_not_a_multiple_of_the_patch_is_refused():
    with pytest.raises(ValueError, match="patch_size"):
        _tiny()(torch.randn(1, 3, 60, 48))


@pytest.mark.parametrize("decoder", ["classic", "simple"])
def test_overfits_two_crops_on_codec_targets(decoder):
    codec = HeatmapCodec(input_size=(48, 64), heatmap_size=(12, 16), sigma=2.0, unbiased=True)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform([4, 4], [44, 60], size=(2, 5, 2))
    visibility = np.full((2, 5), 2)
    visibility[1, 4] = 0
    target, weight = (torch.from_numpy(a) for a in codec.encode(keypoints, visibility))
    model = _tiny(decoder=decoder).train()
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = heatmap_mse_loss(model(x), target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("decoder", ["classic", "simple"])
def test_safetensors_round_trip(tmp_path, decoder):
    model = _tiny(decoder=decoder, seed=1).eval()
    with torch.no_grad():
        for p in model.parameters():  # leave the near-zero head init so outputs differ per weight
            p.add_(0.05 * torch.randn_like(p))
    path = save_safetensors(model.state_dict(), tmp_path / "vitpose.safetensors")
    fresh = load_checkpoint(_tiny(decoder=decoder, seed=2).eval(), path, strict=True)
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


def _manifest(size: str) -> dict:
    path = MANIFESTS / f"vitpose_{size}_coco_256x192.json"
    if not path.is_file():
        pytest.skip(f"no ViTPose manifest at {path}")
    return json.loads(path.read_text())


def _meta_state(keys: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {
        k: torch.empty(shape, device="meta", dtype=torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
        for k, shape in keys.items()
    }


@pytest.mark.parametrize("size", SIZES)
def test_official_layout_loads_strictly_with_the_manifest_parameter_count(size):
    manifest = _manifest(size)
    assert "checkpoint['state_dict']" in manifest["note"]
    num_keypoints = manifest["keys"]["keypoint_head.final_layer.weight"][0]
    with torch.device("meta"):
        model = ZOO[f"vitpose_{size}"](num_keypoints)
    assert count_params(model) == manifest["num_params"]
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == manifest["keys"]
    load_checkpoint(model, {"state_dict": _meta_state(manifest["keys"]), "meta": {}}, strict=True)


def test_official_small_checkpoint_file_loads_strictly_with_its_values(tmp_path):
    manifest = _manifest("small")
    gen = torch.Generator().manual_seed(0)
    state = {
        k: torch.randint(0, 1000, shape, generator=gen) if k.endswith("num_batches_tracked")
        else torch.rand(shape, generator=gen)
        for k, shape in manifest["keys"].items()
    }
    path = tmp_path / "vitpose_small_coco_256x192.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 210}}, path)
    model = load_checkpoint(ZOO["vitpose_small"](17), path, strict=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 256, 192)).shape == (1, 17, 64, 48)
