"""Every recipe in configs/ builds its model, agrees with its codec, and its (untrained) checkpoint
directory runs through `posekit predict --model DIR` and `posekit.load(DIR)` (regression and heatmap
models alike). Also: every zoo name is listed, and architecture-name loading derives the codec from
the model."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import posekit
from posekit.atomic import atomic_write_json
from posekit.cli import main
from posekit.engine.trainer import build_codec, load_config, model_record
from posekit.models.checkpoints import save_safetensors
from posekit.models.zoo import build_model, list_models
from posekit.skeletons import get_skeleton

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
METHOD_ZOO_NAMES = ("deeppose_alexnet", "tfpose_r50", "cpm_6stage", "stacked_hourglass_8", "chained_prediction",
                    "multicontext_attention_8", "prm_hourglass_8", "vitpose_base", "simplebaseline_r50", "hrnet_w32")


def test_every_method_of_the_survey_has_a_zoo_name():
    names = set(list_models())
    assert set(METHOD_ZOO_NAMES) <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_recipe_checkpoint_predicts(path, tmp_path):
    torch.manual_seed(0)
    config = load_config(path)
    skeleton = get_skeleton(config["skeleton"])
    model = build_model(config["arch"], num_keypoints=skeleton.num_keypoints, **config.get("arch_kwargs", {}))
    codec = build_codec(config)
    w, h = config["input_size"]
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, h, w))
    if getattr(model, "output_kind", "heatmap") == "regression":
        assert out.shape == (1, skeleton.num_keypoints, 2)
    else:
        assert out.shape == (1, skeleton.num_keypoints, h // model.stride, w // model.stride)
        assert tuple(config["heatmap_size"]) == (w // model.stride, h // model.stride)
    keypoints, scores = codec.decode(out)
    assert keypoints.shape == (1, skeleton.num_keypoints, 2) and scores.shape == (1, skeleton.num_keypoints)

    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    save_safetensors(model.state_dict(), ckpt / "model.safetensors")
    atomic_write_json(ckpt / "record.json", model_record(config))
    image = np.random.default_rng(0).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "person.jpg"), image)
    assert main(["predict", str(tmp_path / "person.jpg"), "--model", str(ckpt), "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results) == 1 and len(results[0]["keypoints"]) == 3 * skeleton.num_keypoints
    result = posekit.load(ckpt)(image[..., ::-1].copy())
    assert result.keypoints.shape == (1, skeleton.num_keypoints, 2)
    assert np.isfinite(result.keypoints).all()


def test_architecture_name_loading_follows_the_models_output_kind():
    with pytest.warns(UserWarning, match="randomly initialised"):
        est = posekit.load("deeppose_alexnet")
    assert type(est.codec).__name__ == "RegressionCodec"
    with pytest.warns(UserWarning, match="randomly initialised"):
        est = posekit.load("cpm_6stage")
    assert est.codec.heatmap_size == (192 // est.model.stride, 256 // est.model.stride)
