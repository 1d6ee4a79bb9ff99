"""A readable trainer for top-down heatmap models, driven by a flat YAML recipe.

Recipe keys (see ``configs/*.yaml``): ``name``, ``arch`` + ``arch_kwargs`` (a
``posekit.models.zoo`` builder), ``skeleton``, ``input_size``/``heatmap_size`` (w, h),
``codec``, ``data.train``/``data.val`` (either ``{ann_file, image_dir}`` or
``{synth: {mode, num, seed, size}}``, generated once into the cache), ``augment``,
``train`` (epochs, batch_size, lr, weight_decay, warmup_steps, seed, workers, threads,
eval_every, channels_last, autocast: bfloat16, device: cpu|cuda|auto, init_from: the weights
to fine-tune from, see ``init_weights_path``), ``loss`` (optional: ``partner_weight``, the
weight of ``posekit.models.losses.partner_difference_loss`` over the skeleton's left/right pairs).

Models follow the contract of ``posekit.models.zoo``: ``forward_train(x)`` (optional) returns
every supervised output, ``loss(outputs, target, target_weight)`` (optional) is the method's
own loss; the default is the heatmap MSE summed over the outputs.

Reproducibility: weights are initialised from ``train.seed``; the shuffle order of epoch
``e`` comes from ``(seed, e)``; augmentation from ``(seed, e, index)``. A checkpoint is
written atomically after every epoch (a new ``checkpoint_eNNN`` directory renamed into
place, then the ``latest`` pointer), so ``--resume`` continues exactly where it stopped.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from posekit.codecs import build_codec as _build_codec
from posekit.data.datasets import IMAGENET_MEAN, IMAGENET_STD, Augment, TopDownDataset
from posekit.data.readers.coco import read_coco_keypoints
from posekit.atomic import atomic_write_bytes, atomic_write_json
from posekit.engine.checkpoint import load_training_state, save_training_state
from posekit.models.checkpoints import load_checkpoint, save_safetensors
from posekit.models.losses import heatmap_mse_loss, partner_difference_loss
from posekit.models.zoo import build_model
from posekit.skeletons import get_skeleton

REQUIRED_KEYS = ("name", "arch", "skeleton", "input_size", "codec", "data", "train")  # + heatmap_size for heatmap codecs


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe with ``yaml.safe_load`` and check its required keys."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValueError(f"{path}: cannot read recipe ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: invalid YAML ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of keys")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ValueError(f"{path}: missing recipe key(s) {', '.join(missing)}")
    config["_path"] = str(path)
    return config


def cache_root() -> Path:
    return Path(os.environ.get("POSEKIT_CACHE", Path.home() / ".cache" / "posekit"))


def resolve_split(split: dict[str, Any]) -> tuple[Path, Path]:
    """``(annotation file, image directory)`` of a data split; synthetic splits are generated once."""
    if "synth" in split:
        from posekit.data.synth.scene import GENERATOR_VERSION
        from posekit.data.synth.writer import generate

        s = split["synth"]
        out = cache_root() / f"synth_v{GENERATOR_VERSION}_{s['mode']}_{s['size']}_seed{s['seed']}_n{s['num']}"
        if not (out / "annotations.json").is_file():
            generate(out, num=int(s["num"]), seed=int(s["seed"]), size=s["size"], mode=s["mode"],
                          workers=int(s.get("workers", 1)))
        return out / "annotations.json", out / "images"
    return Path(split["ann_file"]), Path(split["image_dir"])


def build_codec(config: dict[str, Any]):
    """The recipe's codec (heatmap or regression, see ``posekit.codecs``)."""
    heatmap_size = config.get("heatmap_size")
    return _build_codec(config["codec"], tuple(config["input_size"]),
                        tuple(heatmap_size) if heatmap_size is not None else None)


def training_loss(model: torch.nn.Module, images: torch.Tensor, target: torch.Tensor,
                  target_weight: torch.Tensor, partner_pairs: torch.Tensor | None = None,
                  partner_weight: float = 0.0) -> torch.Tensor:
    """The model's training loss on one batch: its own ``loss`` over ``forward_train`` outputs, or the
    heatmap MSE summed over them (intermediate supervision), plus ``partner_weight`` times
    ``partner_difference_loss`` over ``partner_pairs`` ``(P, 2)`` (the recipe's ``loss.partner_weight``)."""
    outputs = model.forward_train(images) if hasattr(model, "forward_train") else [model(images)]
    if hasattr(model, "loss"):
        return model.loss(outputs, target, target_weight)
    loss = sum(heatmap_mse_loss(out.float(), target, target_weight) for out in outputs)
    if partner_weight:
        loss = loss + partner_weight * sum(partner_difference_loss(out.float(), target, target_weight, partner_pairs)
                                           for out in outputs)
    return loss


def partner_loss_settings(config: dict[str, Any], model: torch.nn.Module, skeleton) -> tuple[torch.Tensor, float]:
    """``(pairs (P, 2) int64, weight)`` of the recipe's optional ``loss: {partner_weight: W}``
    (default 0: plain heatmap MSE); the pairs are the skeleton's left/right ``flip_pairs``."""
    where = config.get("_path", "recipe")
    spec = config.get("loss") or {}
    unknown = set(spec) - {"partner_weight"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} in 'loss' (known: partner_weight)")
    weight = float(spec.get("partner_weight", 0.0))
    if weight < 0:
        raise ValueError(f"{where}: loss.partner_weight must be >= 0, got {weight}")
    if weight and hasattr(model, "loss"):
        raise ValueError(f"{where}: loss.partner_weight applies to heatmap models; {config['arch']} has its own loss")
    pairs = torch.tensor(skeleton.flip_pairs, dtype=torch.int64).reshape(-1, 2)
    return pairs, weight


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda[:N]`` or ``auto`` (CUDA when available) -> a torch device."""
    name = name or "cpu"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device {name!r}: CUDA is not available in this torch build")
    return device


def model_record(config: dict[str, Any], metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``posekit.load`` needs to rebuild and use the trained model."""
    record = {"name": config["name"], "arch": config["arch"], "arch_kwargs": config.get("arch_kwargs", {}),
            "skeleton": config["skeleton"], "input_size": list(config["input_size"]), "codec": config["codec"],
            "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "color": "RGB"},
            "box_padding": config.get("box_padding", 1.25), "recipe": config.get("_path"),
            "metrics": metrics or {}}
    if config.get("heatmap_size") is not None:
        record["heatmap_size"] = list(config["heatmap_size"])
    return record


def init_weights_path(spec: str) -> Path:
    """Resolve ``train.init_from``: a ``posekit train`` checkpoint directory or run directory
    (its ``latest`` checkpoint), a ``.safetensors`` file, or a shipped zoo name."""
    from posekit.estimators.topdown import WEIGHTS_DIR, read_record

    path = Path(spec)
    if path.is_dir():
        latest = _latest_checkpoint(path)
        path = (latest or path) / "model.safetensors"
    elif not path.exists() and (WEIGHTS_DIR / f"{spec}.json").is_file():
        path = WEIGHTS_DIR / read_record(WEIGHTS_DIR / f"{spec}.json")["weights"]
    if not path.is_file():
        raise ValueError(f"train.init_from: {spec!r} is not a checkpoint directory, weights file or shipped model")
    return path


def lr_at(step: int, total_steps: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up then cosine decay to 1 % of ``base_lr``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _latest_checkpoint(work_dir: Path) -> Path | None:
    pointer = work_dir / "latest"
    if not pointer.is_file():
        return None
    return work_dir / pointer.read_text().strip()


def _save_checkpoint(work_dir: Path, epoch: int, model, optimizer, config, metrics, keep: int = 2) -> Path:
    name = f"checkpoint_e{epoch:03d}"
    final = work_dir / name
    tmp = work_dir / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_safetensors(model.state_dict(), tmp / "model.safetensors")
    save_training_state(tmp / "state.pt", {"epoch": epoch, "optimizer": optimizer.state_dict(),
                                           "torch_rng": torch.get_rng_state()})
    atomic_write_json(tmp / "record.json", model_record(config, metrics))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write_bytes(work_dir / "latest", (name + "\n").encode())
    old = sorted(p for p in work_dir.glob("checkpoint_e*") if p.is_dir())[:-keep]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return final


def train(config: dict[str, Any], work_dir: str | Path, resume: bool = False,
          progress: bool = True) -> dict[str, Any]:
    """Train the recipe ``config`` into ``work_dir``; returns the final validation metrics."""
    from posekit.estimators.topdown import TopDownEstimator
    from posekit.engine.evaluate import evaluate_topdown

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    tc = config["train"]
    seed = int(tc.get("seed", 0))
    torch.set_num_threads(int(tc.get("threads", os.cpu_count() or 1)))
    device = resolve_device(tc.get("device"))
    torch.manual_seed(seed)
    skeleton = get_skeleton(config["skeleton"])
    codec = build_codec(config)
    model = build_model(config["arch"], num_keypoints=skeleton.num_keypoints, **config.get("arch_kwargs", {}))
    # optional CPU speed-ups: channels-last tensors, bfloat16 autocast (fast where the CPU has AMX/AVX512-BF16)
    memory_format = torch.channels_last if tc.get("channels_last", False) else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    bf16 = tc.get("autocast") == "bfloat16"
    partner_pairs, partner_weight = partner_loss_settings(config, model, skeleton)
    partner_pairs = partner_pairs.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tc["lr"]),
                                  weight_decay=float(tc.get("weight_decay", 1e-4)))
    ann_file, image_dir = resolve_split(config["data"]["train"])
    train_set = TopDownDataset(read_coco_keypoints(ann_file, skeleton), image_dir, codec, skeleton,
                               tuple(config["input_size"]), train=True, seed=seed,
                               augment=Augment(**config.get("augment", {})),
                               box_padding=config.get("box_padding", 1.25))
    epochs, batch_size = int(tc["epochs"]), int(tc["batch_size"])
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total_steps = epochs * steps_per_epoch
    start_epoch = 0
    latest = _latest_checkpoint(work_dir) if resume else None
    if resume and latest is None:
        raise ValueError(f"{work_dir}: --resume given but no checkpoint found")
    if latest is not None:
        load_checkpoint(model, latest / "model.safetensors", strict=True)
        state = load_training_state(latest / "state.pt")
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"]) + 1
    elif tc.get("init_from"):
        load_checkpoint(model, init_weights_path(str(tc["init_from"])), strict=True)
    log_path = work_dir / "log.jsonl"
    metrics: dict[str, Any] = {}
    for epoch in range(start_epoch, epochs):
        model.train()
        train_set.set_epoch(epoch)
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(train_set, order.tolist()),
                                             batch_size=batch_size, shuffle=False, drop_last=False,
                                             num_workers=int(tc.get("workers", 0)),
                                             pin_memory=device.type == "cuda")
        t0, loss_sum, n_seen = time.time(), 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for it, batch in enumerate(bar):
            step = epoch * steps_per_epoch + it
            lr = lr_at(step, total_steps, float(tc["lr"]), int(tc.get("warmup_steps", 0)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            images = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
            target = batch["target"].to(device, non_blocking=True)
            target_weight = batch["target_weight"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = training_loss(model, images, target, target_weight, partner_pairs, partner_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch["image"])
            n_seen += len(batch["image"])
            bar.set_postfix(loss=f"{loss_sum / n_seen:.6f}", lr=f"{lr:.2e}")
        entry: dict[str, Any] = {"epoch": epoch + 1, "loss": loss_sum / max(n_seen, 1), "lr": lr,
                                 "seconds": round(time.time() - t0, 2), "device": device.type,
                                 "threads": torch.get_num_threads()}
        checkpoint = _save_checkpoint(work_dir, epoch, model, optimizer, config, {})
        eval_every = int(tc.get("eval_every", 0))
        last = epoch + 1 == epochs
        if "val" in config["data"] and (last or (eval_every and (epoch + 1) % eval_every == 0)):
            model.eval()
            val_ann, val_dir = resolve_split(config["data"]["val"])
            estimator = TopDownEstimator(model, codec, skeleton, tuple(config["input_size"]), IMAGENET_MEAN,
                                         IMAGENET_STD, box_padding=config.get("box_padding", 1.25))
            metrics = evaluate_topdown(estimator, val_ann, val_dir)
            entry["val"] = metrics
            atomic_write_json(checkpoint / "record.json", model_record(config, metrics))
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if progress:
            print(json.dumps(entry), flush=True)
    final = _latest_checkpoint(work_dir)
    return json.loads((final / "record.json").read_text())["metrics"] if final else metrics
