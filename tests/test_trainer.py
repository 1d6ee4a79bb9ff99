"""Trainer: seeded, logs per epoch, atomic checkpoints, --resume continues exactly."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch
import yaml

import posekit
from posekit.engine.trainer import load_config, lr_at, train
from posekit.models.checkpoints import read_state_dict


def tiny_coco(root, n_images=4, seed=0):
    """A few 64x64 images with one 'person' each: bright dots at the 17 keypoints."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(1, n_images + 1):
        img = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
        kps = rng.uniform(12, 52, (17, 2))
        for x, y in kps:
            cv2.circle(img, (int(round(x)), int(round(y))), 2, (255, 255, 255), -1)
        cv2.imwrite(str(root / "images" / f"{i:06d}.jpg"), img)
        images.append({"id": i, "file_name": f"{i:06d}.jpg", "width": 64, "height": 64})
        kp = np.concatenate([kps, np.full((17, 1), 2)], axis=1)
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [8, 8, 48, 48], "area": 48 * 48,
                     "iscrowd": 0, "num_keypoints": 17, "keypoints": kp.reshape(-1).round(2).tolist()})
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns,
                                               "categories": [{"id": 1, "name": "person"}]}))
    return root / "ann.json", root / "images"


def recipe(tmp_path, epochs):
    ann, img_dir = tiny_coco(tmp_path / "data")
    cfg = {"name": "tiny", "arch": "simplebaseline_r18", "arch_kwargs": {"deconv_channels": [16, 16, 16]},
           "skeleton": "coco17", "input_size": [64, 96], "heatmap_size": [16, 24],
           "codec": {"sigma": 2.0, "unbiased": True, "decode_mode": "dark"},
           "data": {"train": {"ann_file": str(ann), "image_dir": str(img_dir)},
                    "val": {"ann_file": str(ann), "image_dir": str(img_dir)}},
           "augment": {"scale": 0.2, "rotation": 20, "flip_prob": 0.5, "color": 0.2},
           "train": {"epochs": epochs, "batch_size": 2, "lr": 1e-3, "seed": 3, "workers": 0, "threads": 1}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_continues_exactly(tmp_path):
    cfg = load_config(recipe(tmp_path, epochs=2))
    straight = tmp_path / "straight"
    train(cfg, straight, progress=False)
    # a run that crashed during epoch 2: only the epoch-1 checkpoint and log line exist
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint_e000", resumed / "checkpoint_e000")
    (resumed / "latest").write_text("checkpoint_e000\n")
    (resumed / "log.jsonl").write_text((straight / "log.jsonl").read_text().splitlines()[0] + "\n")
    train(cfg, resumed, resume=True, progress=False)
    a = read_state_dict(straight / "checkpoint_e001" / "model.safetensors")
    b = read_state_dict(resumed / "checkpoint_e001" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = [json.loads(l) for l in (resumed / "log.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2]
    assert "AP" in lines[-1]["val"] and "PCK@0.1" in lines[-1]["val"]
    # the checkpoint directory is a loadable model
    est = posekit.load(str(resumed / "checkpoint_e001"))
    assert est(np.zeros((64, 64, 3), np.uint8)).keypoints.shape == (1, 17, 2)


def test_loss_decreases_when_overfitting(tmp_path):
    cfg = load_config(recipe(tmp_path, epochs=8))
    cfg["augment"] = {"scale": 0.0, "rotation": 0.0, "flip_prob": 0.0, "color": 0.0}
    cfg["train"]["lr"] = 3e-3
    del cfg["data"]["val"]
    train(cfg, tmp_path / "run", progress=False)
    losses = [json.loads(l)["loss"] for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.85 * losses[0]  # measured: 0.0156 -> 0.0113 in 8 epochs


def test_resume_without_checkpoint_is_an_error(tmp_path):
    cfg = load_config(recipe(tmp_path, epochs=1))
    with pytest.raises(ValueError, match="no checkpoint"):
        train(cfg, tmp_path / "empty", resume=True, progress=False)


def test_bad_recipe_names_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\narch: simplebaseline_r18\n")
    with pytest.raises(ValueError, match=r"bad.yaml: missing recipe key\(s\) skeleton"):
        load_config(path)


def test_lr_schedule_warms_up_then_decays():
    lrs = [lr_at(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] > 0.01


class _TwoStage(torch.nn.Module):
    """A model with intermediate supervision: two 1x1-conv 'stages' on a fixed input."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 2, 1)
        self.b = torch.nn.Conv2d(2, 2, 1)

    def forward_train(self, x):
        first = self.a(x)
        return [first, self.b(first)]

    def forward(self, x):
        return self.forward_train(x)[-1]


def test_training_loss_sums_heatmap_mse_over_forward_train_outputs():
    from posekit.engine.trainer import training_loss
    from posekit.models.losses import heatmap_mse_loss

    model = _TwoStage()
    x, target, weight = torch.randn(2, 3, 4, 4), torch.rand(2, 2, 4, 4), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    expected = sum(heatmap_mse_loss(o, target, weight) for o in model.forward_train(x))
    assert torch.allclose(training_loss(model, x, target, weight), expected)


def test_training_loss_uses_the_models_own_loss():
    from posekit.engine.trainer import training_loss

    model = _TwoStage()
    model.loss = lambda outputs, target, weight: torch.tensor(float(len(outputs)))
    assert training_loss(model, torch.randn(1, 3, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 2)).item() == 2.0


def test_codec_type_is_checked_and_device_must_exist():
    from posekit.codecs import build_codec
    from posekit.engine.trainer import resolve_device

    with pytest.raises(ValueError, match="'type'"):
        build_codec({"type": "paf"}, (64, 64), (16, 16))
    with pytest.raises(ValueError, match="heatmap_size"):
        build_codec({}, (64, 64), None)
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_init_from_starts_from_the_given_weights(tmp_path):
    cfg = load_config(recipe(tmp_path, epochs=1))
    del cfg["data"]["val"]
    train(cfg, tmp_path / "source", progress=False)
    source = read_state_dict(tmp_path / "source" / "checkpoint_e000" / "model.safetensors")
    cfg["train"]["lr"] = 0.0  # no step moves a parameter: the fine-tuned parameters are the source's
    cfg["train"]["seed"] = 4  # a different seed would otherwise initialise differently
    for spec in (tmp_path / "source", tmp_path / "source" / "checkpoint_e000" / "model.safetensors"):
        cfg["train"]["init_from"] = str(spec)
        shutil.rmtree(tmp_path / "tuned", ignore_errors=True)
        train(cfg, tmp_path / "tuned", progress=False)
        tuned = read_state_dict(tmp_path / "tuned" / "checkpoint_e000" / "model.safetensors")
        params = [k for k in source if "running_" not in k and "num_batches" not in k]
        assert all(torch.equal(source[k], tuned[k]) for k in params)
    del cfg["train"]["init_from"]
    train(cfg, tmp_path / "scratch", progress=False)
    scratch = read_state_dict(tmp_path / "scratch" / "checkpoint_e000" / "model.safetensors")
    assert not all(torch.equal(source[k], scratch[k]) for k in params)


def test_init_from_a_shipped_model_and_a_bad_spec(tmp_path):
    from posekit.engine.trainer import init_weights_path

    assert init_weights_path("posekit_synth_hrnet_w16s_192x144").suffix == ".safetensors"
    with pytest.raises(ValueError, match="train.init_from: 'no_such_model'"):
        init_weights_path("no_such_model")
